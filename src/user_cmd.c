/*
 * user_cmd.c - `user add` and `user list`; see user_cmd.h.
 *
 * Flags are checked before the configuration is read, so a bad value is a
 * usage error whatever the environment. The refresh token lives in one
 * malloc'd buffer from the moment it is read until it is sealed, and is
 * wiped when freed; it never reaches an error message or a log line.
 */
#include "user_cmd.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "enqueue.h"
#include "http_client.h"
#include "log.h"
#include "queues.h"
#include "random.h"
#include "serve.h"
#include "store.h"
#include "tz.h"
#include "users.h"

#define TOKEN_MAX (64 * 1024) /* a Google refresh token is ~100 bytes */

struct add_args {
	const char *email, *phone, *timezone, *notify, *waking, *id;
	const char *token_flag, *token_file;
	int waking_start, waking_end;
	char *token; /* malloc'd copy; wiped by crypto_secret_free() */
};

static int usage_error(const char *what, const char *why)
{
	fprintf(stderr, "catchup-jobs: user add: %s: %s (see --help)\n", what, why);
	return EXIT_USAGE;
}

/* Reads a file (or standard input for "-") into *out, the trailing newline
 * stripped. EXIT_OK or EXIT_USAGE after the error line. */
static int read_token_file(const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *buf = malloc(TOKEN_MAX + 1);
	size_t n = 0, got;
	int failed;

	*out = NULL;
	if (!f || !buf) {
		free(buf);
		if (f && f != stdin)
			fclose(f);
		fprintf(stderr, "catchup-jobs: user add: --google-refresh-token-file: %s: %s\n",
		        path, f ? "out of memory" : strerror(errno));
		return EXIT_USAGE;
	}
	while (n <= TOKEN_MAX && (got = fread(buf + n, 1, TOKEN_MAX + 1 - n, f)) > 0)
		n += got;
	failed = ferror(f);
	if (f != stdin)
		fclose(f);
	if (failed || n > TOKEN_MAX) {
		crypto_secret_free(buf, TOKEN_MAX + 1);
		fprintf(stderr, "catchup-jobs: user add: --google-refresh-token-file: %s: %s\n",
		        path, failed ? "cannot be read" : "larger than 64 KiB");
		return EXIT_USAGE;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return EXIT_OK;
}

/* 1 when the token is one line of printable text. */
static int token_ok(const char *t, size_t len)
{
	if (!len || strlen(t) != len)
		return 0;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static int take_token(struct add_args *a)
{
	const char *what = a->token_flag ? "--google-refresh-token" : "--google-refresh-token-file";
	size_t len = 0;
	int rc;

	if (a->token_flag) {
		len = strlen(a->token_flag);
		a->token = strdup(a->token_flag);
		if (!a->token)
			return usage_error(what, "out of memory");
	} else {
		rc = read_token_file(a->token_file, &a->token, &len);
		if (rc)
			return rc;
	}
	if (!token_ok(a->token, len))
		return usage_error(what,
		                   len ? "the token must be one line of printable text"
		                       : "the token is empty");
	return EXIT_OK;
}

/* The value slot of a flag, or NULL when it is not one of ours. */
static const char **flag_slot(struct add_args *a, const char *flag)
{
	static const char *const names[] = {"--email",
	                                    "--phone",
	                                    "--timezone",
	                                    "--notify",
	                                    "--waking",
	                                    "--id",
	                                    "--google-refresh-token",
	                                    "--google-refresh-token-file"};
	const char **slots[] = {&a->email,  &a->phone, &a->timezone,   &a->notify,
	                        &a->waking, &a->id,    &a->token_flag, &a->token_file};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(flag, names[i]))
			return slots[i];
	return NULL;
}

static int parse_add(int argc, char **argv, struct add_args *a)
{
	char why[160];

	for (int i = 3; i < argc; i++) {
		const char **slot = flag_slot(a, argv[i]);

		if (!slot)
			return usage_error(
			    argv[i], argv[i][0] == '-' ? "unknown flag" : "unexpected argument");
		if (i + 1 >= argc)
			return usage_error(argv[i], "needs a value");
		if (*slot)
			return usage_error(argv[i], "given twice");
		*slot = argv[++i];
	}
	if (!a->email)
		return usage_error("--email", "required");
	if (!users_email_valid(a->email))
		return usage_error("--email",
		                   "not an e-mail address (one @, no spaces, at most "
		                   "254 characters)");
	if (a->phone && !users_phone_valid(a->phone))
		return usage_error("--phone",
		                   "must be E.164: + and 2-15 digits, e.g. +14155550123");
	if (!a->timezone)
		a->timezone = "Etc/UTC";
	if (!tz_get(a->timezone, why, sizeof(why)))
		return usage_error("--timezone", why);
	if (!a->notify)
		a->notify = "email";
	if (strcmp(a->notify, "sms") && strcmp(a->notify, "email"))
		return usage_error("--notify", "must be sms or email");
	if (!a->waking)
		a->waking = "08:00-21:00";
	if (users_waking_parse(a->waking, &a->waking_start, &a->waking_end))
		return usage_error("--waking",
		                   "must be HH:MM-HH:MM with start before end within one day");
	if (a->id && !users_id_valid(a->id))
		return usage_error("--id", "must be 1-128 characters of [A-Za-z0-9._~:@+-]");
	if (a->token_flag && a->token_file)
		return usage_error("--google-refresh-token-file",
		                   "give the token by flag or by file, not both");
	if (a->token_flag || a->token_file)
		return take_token(a);
	return EXIT_OK;
}

/* A task id of the user's initial sync: prefix + the first 32 hex digits of
 * SHA-256(user id), so running `user add` for one user never enqueues
 * twice and any id makes a valid task id. */
static int initial_task_id(const char *prefix, const char *user_id, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n;

	if (!EVP_Digest(user_id, strlen(user_id), md, &mdlen, EVP_sha256(), NULL) || mdlen < 16)
		return -1;
	n = (size_t)snprintf(out, outlen, "%s", prefix);
	for (unsigned i = 0; i < 16 && n + 3 <= outlen; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%02x", md[i]);
	return 0;
}

/* Enqueues the user's first contacts and calendar syncs. A task that exists
 * already counts as enqueued. CJ_OK, or the first failure with err. */
static int enqueue_initial_syncs(const struct config *cfg, const char *user_id, char *err,
                                 size_t errlen)
{
	static const struct {
		const char *type, *prefix;
	} syncs[] = {{"google-contacts-sync", "initial-contacts-"},
	             {"calendar-sync", "initial-calendar-"}};
	struct enqueuer *enq = NULL;
	struct queues *q = NULL;
	json_t *payload = json_pack("{s:s}", "userId", user_id);
	int rc;

	if (!payload)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	rc = http_client_global_init()
	    ? cj_errorf(err, errlen, CJ_EINTERNAL, "cannot initialise libcurl")
	    : CJ_OK;
	if (!rc)
		rc = queues_load(cfg->config_dir, &q, err, errlen);
	if (!rc)
		rc = enqueuer_new(cfg, q, NULL, &enq, err, errlen);
	for (size_t i = 0; !rc && i < sizeof(syncs) / sizeof(syncs[0]); i++) {
		struct enqueue_request req = ENQUEUE_REQUEST_INIT;
		struct enqueue_result res;
		char task[64], why[512] = "";

		if (initial_task_id(syncs[i].prefix, user_id, task, sizeof(task))) {
			rc = cj_errorf(err, errlen, CJ_EINTERNAL, "cannot hash the user id");
			break;
		}
		req.type = syncs[i].type;
		req.payload = payload;
		req.task_id = task;
		rc = enqueue_job(enq, &req, &res, why, sizeof(why));
		if (rc == CJ_EEXISTS)
			rc = CJ_OK;
		else if (rc)
			cj_errorf(err, errlen, rc, "%s: %s", syncs[i].type, why);
	}
	enqueuer_free(enq);
	queues_free(q);
	http_client_global_cleanup();
	json_decref(payload);
	return rc;
}

/* The configuration. Logging (on stderr) drops the INFO lines of opening
 * the database: the command's own lines say what happened. LOG_LEVEL=debug
 * still shows everything. */
static int load_config(struct config *cfg)
{
	int rc = cli_load_config(cfg);

	if (!rc && cfg->log_level == L_INFO)
		log_init(L_WARNING, cfg->gcp_project_id);
	return rc;
}

/* Opens the database as serve does; EXIT_OK or the exit status after the
 * error line. */
static int open_store(const struct config *cfg, const char *cmd, struct store **s)
{
	char err[512] = "";
	int rc = app_open_database(cfg, s, err, sizeof(err));

	if (!rc)
		return EXIT_OK;
	fprintf(stderr, "catchup-jobs: %s: %s\n", cmd, err);
	return rc == CJ_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
}

static int create(const struct config *cfg, struct add_args *a, const char *id)
{
	struct user_new u = {id,        a->email,        a->phone,      a->timezone,
	                     a->notify, a->waking_start, a->waking_end, a->token};
	struct crypto_key *key = NULL;
	struct store *s = NULL;
	char err[512] = "";
	int generated = 0, rc;

	rc = a->token ? app_token_key_load(cfg, &key, &generated, err, sizeof(err)) : CJ_OK;
	if (rc) {
		fprintf(stderr, "catchup-jobs: user add: token key: %s\n", err);
		return rc == CJ_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if (generated)
		fprintf(stderr,
		        "catchup-jobs: user add: generated a token encryption key in "
		        "./data (local mode)\n");
	rc = open_store(cfg, "user add", &s);
	if (!rc) {
		rc = users_create(s, key, &u, clock_now_s(), err, sizeof(err));
		if (rc)
			fprintf(stderr, "catchup-jobs: user add: %s\n", err);
		rc = rc == CJ_OK       ? EXIT_OK
		    : rc == CJ_EEXISTS ? EXIT_EXISTS
		    : rc == CJ_EINVAL  ? EXIT_USAGE
		                       : EXIT_RUNTIME;
	}
	store_close(s);
	crypto_key_free(key);
	return rc;
}

static int cmd_add(int argc, char **argv)
{
	struct add_args a;
	struct config cfg;
	char id[USER_ID_MAX + 1], err[512] = "";
	int rc;

	memset(&a, 0, sizeof(a));
	rc = parse_add(argc, argv, &a);
	if (!rc)
		rc = load_config(&cfg);
	if (rc)
		goto out;
	if (a.id) {
		snprintf(id, sizeof(id), "%s", a.id);
	} else if (random_hex(id, sizeof(id), 16)) {
		fprintf(stderr, "catchup-jobs: user add: no randomness for an id\n");
		rc = EXIT_RUNTIME;
	}
	if (!rc)
		rc = create(&cfg, &a, id);
	if (!rc) {
		printf("%s\n", id);
		fflush(stdout);
		if (a.token && enqueue_initial_syncs(&cfg, id, err, sizeof(err)))
			fprintf(
			    stderr,
			    "catchup-jobs: user add: warning: the initial syncs of user %s were "
			    "not enqueued (%s); adaptive-sync will start them\n",
			    id, err);
	}
	config_release(&cfg);
out:
	if (a.token)
		crypto_secret_free(a.token, strlen(a.token));
	tz_cache_free();
	return rc;
}

static int cmd_list(int argc, char **argv)
{
	struct config cfg;
	struct store *s = NULL;
	char err[512] = "", *cursor = NULL, *next = NULL;
	int rc;

	if (argc > 3) {
		fprintf(stderr,
		        "catchup-jobs: user list: unexpected argument \"%s\" (see --help)\n",
		        argv[3]);
		return EXIT_USAGE;
	}
	rc = load_config(&cfg);
	if (rc)
		return rc;
	rc = open_store(&cfg, "user list", &s);
	while (!rc) {
		json_t *items, *u;
		size_t i;

		if (users_list(s, USERS_MAX_LIMIT, cursor, &items, &next, err, sizeof(err))) {
			fprintf(stderr, "catchup-jobs: user list: %s\n", err);
			rc = EXIT_RUNTIME;
			break;
		}
		json_array_foreach(items, i, u)
		{
			char *line = json_dumps(u, JSON_COMPACT);

			if (!line) {
				fprintf(stderr, "catchup-jobs: user list: out of memory\n");
				rc = EXIT_RUNTIME;
				break;
			}
			printf("%s\n", line);
			free(line);
		}
		json_decref(items);
		free(cursor);
		cursor = next;
		if (!cursor || rc)
			break;
	}
	free(cursor);
	if (fflush(stdout) && !rc) {
		fprintf(stderr, "catchup-jobs: user list: cannot write: %s\n", strerror(errno));
		rc = EXIT_RUNTIME;
	}
	store_close(s);
	config_release(&cfg);
	return rc;
}

int user_cmd_run(int argc, char **argv)
{
	/* stdout carries the command's output alone. */
	log_set_fd(STDERR_FILENO);
	if (argc >= 3 && !strcmp(argv[2], "add"))
		return cmd_add(argc, argv);
	if (argc >= 3 && !strcmp(argv[2], "list"))
		return cmd_list(argc, argv);
	fprintf(stderr,
	        "catchup-jobs: user: usage: user add --email E [...] | user list (see "
	        "--help)\n");
	return EXIT_USAGE;
}
