/*
 * cli.c - the command line (SPEC §3): serve (default), enqueue, migrate,
 * queues, check, user add / user list (user_cmd.h), and in local mode token
 * and clock advance; --help, --version. Every error is one line on stderr
 * naming its subject; exit status 0 success, 1 runtime failure, 2 usage or
 * configuration error, 3 the task or the user already exists.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cmd.h"
#include "config.h"
#include "enqueue.h"
#include "gcloud.h"
#include "http_client.h"
#include "local_keys.h"
#include "log.h"
#include "migrate.h"
#include "queues.h"
#include "serve.h"
#include "store.h"
#include "timeutil.h"
#include "user_cmd.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: catchup-jobs [serve]            run the job server\n"
	        "       catchup-jobs enqueue TYPE [JSON] [--delay SECONDS] [--at RFC3339] [--id "
	        "TASK_ID]\n"
	        "                                       create a task; prints its name\n"
	        "       catchup-jobs migrate            apply database migrations\n"
	        "       catchup-jobs queues             print the gcloud commands that create or\n"
	        "                                       update every queue and scheduler job\n"
	        "       catchup-jobs check              check configuration and dependencies\n"
	        "       catchup-jobs token [--email E] [--audience A]\n"
	        "                                       local mode: print a token signed by the\n"
	        "                                       local key (SERVICE_ACCOUNT_EMAIL and\n"
	        "                                       the first OIDC_AUDIENCE by default)\n"
	        "       catchup-jobs clock advance SECONDS\n"
	        "                                       local mode: move the running server's\n"
	        "                                       clock forward; prints the new clock\n"
	        "       catchup-jobs user add --email E [--phone +E164] [--timezone IANA]\n"
	        "                [--notify sms|email] [--waking HH:MM-HH:MM]\n"
	        "                [--google-refresh-token T | --google-refresh-token-file PATH|-]\n"
	        "                [--id ID]\n"
	        "                                       create a user (defaults Etc/UTC, email,\n"
	        "                                       08:00-21:00, a random id); prints its id;\n"
	        "                                       with a token, enqueues its first syncs\n"
	        "       catchup-jobs user list          print every user, one JSON object a line\n"
	        "       catchup-jobs --help | --version\n"
	        "\n"
	        "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error,\n"
	        "3 the task (enqueue) or the user (user add) already exists.\n\n");
}

int cli_load_config(struct config *cfg)
{
	char err[512];
	int rc = config_load(cfg, NULL, NULL, err, sizeof(err));

	if (rc == CJ_ECONFIG) {
		fprintf(stderr, "catchup-jobs: %s\n", err);
		return EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "catchup-jobs: configuration: %s\n", cj_strerror(rc));
		return EXIT_RUNTIME;
	}
	log_init((enum log_level)cfg->log_level, cfg->gcp_project_id);
	return EXIT_OK;
}

static int no_extra_args(int argc, char **argv, int first)
{
	if (argc > first) {
		fprintf(stderr, "catchup-jobs: unexpected argument \"%s\" (see --help)\n",
		        argv[first]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

struct enqueue_args {
	const char *type;
	const char *json;
	struct enqueue_request req;
};

static int parse_enqueue_args(int argc, char **argv, struct enqueue_args *ea)
{
	char *end;
	int i;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--delay") || !strcmp(a, "--at") || !strcmp(a, "--id")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "catchup-jobs: %s needs a value\n", a);
				return EXIT_USAGE;
			}
			const char *v = argv[++i];

			if (!strcmp(a, "--delay")) {
				ea->req.delay_seconds = strtod(v, &end);
				if (end == v || *end || !isfinite(ea->req.delay_seconds) ||
				    ea->req.delay_seconds < 0) {
					fprintf(stderr,
					        "catchup-jobs: --delay: \"%s\" is not a "
					        "number of seconds\n",
					        v);
					return EXIT_USAGE;
				}
				ea->req.has_delay = 1;
			} else if (!strcmp(a, "--at")) {
				if (time_parse_rfc3339(v, &ea->req.schedule_time)) {
					fprintf(stderr,
					        "catchup-jobs: --at: \"%s\" is not an RFC 3339 "
					        "time\n",
					        v);
					return EXIT_USAGE;
				}
				ea->req.has_schedule_time = 1;
			} else {
				ea->req.task_id = v;
			}
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "catchup-jobs: unknown flag \"%s\" (see --help)\n", a);
			return EXIT_USAGE;
		} else if (!ea->type) {
			ea->type = a;
		} else if (!ea->json) {
			ea->json = a;
		} else {
			fprintf(stderr, "catchup-jobs: unexpected argument \"%s\"\n", a);
			return EXIT_USAGE;
		}
	}
	if (!ea->type) {
		fprintf(stderr, "catchup-jobs: enqueue needs a job TYPE (see --help)\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int cmd_enqueue(int argc, char **argv)
{
	struct enqueue_args ea = {NULL, NULL, ENQUEUE_REQUEST_INIT};
	struct enqueuer *enq = NULL;
	struct enqueue_result res;
	struct queues *q = NULL;
	struct config cfg;
	char err[512] = "";
	json_error_t jerr;
	json_t *payload;
	int rc;

	rc = parse_enqueue_args(argc, argv, &ea);
	if (rc)
		return rc;
	payload = json_loads(ea.json ? ea.json : "{}", JSON_REJECT_DUPLICATES, &jerr);
	if (!payload) {
		fprintf(stderr, "catchup-jobs: JSON payload: %s\n", jerr.text);
		return EXIT_USAGE;
	}
	rc = cli_load_config(&cfg);
	if (rc) {
		json_decref(payload);
		return rc;
	}
	if (http_client_global_init()) {
		fprintf(stderr, "catchup-jobs: cannot initialise libcurl\n");
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (queues_load(cfg.config_dir, &q, err, sizeof(err)) ||
	    enqueuer_new(&cfg, q, NULL, &enq, err, sizeof(err))) {
		fprintf(stderr, "catchup-jobs: %s\n", err);
		rc = EXIT_USAGE;
		goto out;
	}
	ea.req.type = ea.type;
	ea.req.payload = payload;
	if (!enqueue_job(enq, &ea.req, &res, err, sizeof(err))) {
		printf("%s\n", res.task);
		rc = EXIT_OK;
		goto out;
	}
	fprintf(stderr, "catchup-jobs: enqueue %s: %s\n", ea.type, err);
	switch (res.kind) {
	case ENQUEUE_EXISTS:
		rc = EXIT_EXISTS;
		break;
	case ENQUEUE_UNKNOWN_TYPE:
	case ENQUEUE_INVALID_PAYLOAD:
	case ENQUEUE_INVALID_REQUEST:
	case ENQUEUE_TOO_BIG:
		rc = EXIT_USAGE;
		break;
	default:
		rc = EXIT_RUNTIME;
		break;
	}
out:
	enqueuer_free(enq);
	queues_free(q);
	json_decref(payload);
	http_client_global_cleanup();
	config_release(&cfg);
	return rc;
}

static int cmd_queues(const struct config *cfg)
{
	struct queues *q = NULL;
	char err[512] = "";

	if (queues_load(cfg->config_dir, &q, err, sizeof(err))) {
		fprintf(stderr, "catchup-jobs: %s\n", err);
		return EXIT_USAGE;
	}
	if (gcloud_print_commands(q, cfg, stdout)) {
		fprintf(stderr, "catchup-jobs: queues: cannot print the commands\n");
		queues_free(q);
		return EXIT_RUNTIME;
	}
	queues_free(q);
	return EXIT_OK;
}

static int cmd_migrate(const struct config *cfg)
{
	struct store *s = NULL;
	char err[512] = "";
	int applied = 0, rc;

	rc = store_open(cfg->database_url, &s, err, sizeof(err));
	if (rc == CJ_EINVAL || rc == CJ_ECONFIG) {
		fprintf(stderr, "catchup-jobs: invalid DATABASE_URL: %s\n", err);
		return EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "catchup-jobs: database: %s\n", err);
		return EXIT_RUNTIME;
	}
	rc = migrate_run(s, &applied, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "catchup-jobs: migrate (%s): %s\n", store_url_redacted(s), err);
		store_close(s);
		return EXIT_RUNTIME;
	}
	printf("applied %d migrations to %s\n", applied, store_url_redacted(s));
	store_close(s);
	return EXIT_OK;
}

/* Loads the configuration for a local-mode-only command: cloud mode is a
 * usage error (exit 2). */
static int load_local_config(struct config *cfg, const char *what)
{
	int rc = cli_load_config(cfg);

	if (rc)
		return rc;
	if (cfg->cloud_mode) {
		fprintf(stderr, "catchup-jobs: %s is for local mode only (USE_CLOUD_TASKS=true)\n",
		        what);
		config_release(cfg);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int cmd_token(int argc, char **argv)
{
	const char *email = NULL, *audience = NULL;
	struct local_keys *k = NULL;
	struct config cfg;
	char err[512] = "", *tok = NULL;
	int i, rc;

	for (i = 2; i < argc; i++) {
		const char **dst = !strcmp(argv[i], "--email") ? &email
		    : !strcmp(argv[i], "--audience")           ? &audience
		                                               : NULL;

		if (!dst) {
			fprintf(stderr,
			        "catchup-jobs: token: unexpected argument \"%s\" (see --help)\n",
			        argv[i]);
			return EXIT_USAGE;
		}
		if (i + 1 >= argc || !argv[i + 1][0]) {
			fprintf(stderr, "catchup-jobs: token: %s needs a value\n", argv[i]);
			return EXIT_USAGE;
		}
		*dst = argv[++i];
	}
	rc = load_local_config(&cfg, "token");
	if (rc)
		return rc;
	if (!email)
		email = cfg.service_account_email;
	if (!audience)
		audience = cfg.oidc_audience.n ? cfg.oidc_audience.items[0] : cfg.cloud_run_url;
	rc = local_keys_load_or_generate("./data", &k, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "catchup-jobs: token: %s\n", err[0] ? err : cj_strerror(rc));
		rc = rc == CJ_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
		goto out;
	}
	rc = local_keys_mint_now(k, audience, email, &tok);
	if (rc) {
		fprintf(stderr, "catchup-jobs: token: cannot sign: %s\n", cj_strerror(rc));
		rc = EXIT_RUNTIME;
		goto out;
	}
	printf("%s\n", tok);
	rc = EXIT_OK;
out:
	free(tok);
	local_keys_free(k);
	config_release(&cfg);
	return rc;
}

/* The running server's base URL: BIND_ADDRESS, or loopback when it listens
 * on every address. */
static void server_base(const struct config *cfg, char *out, size_t outlen)
{
	const char *host = cfg->bind_address;

	if (!strcmp(host, "0.0.0.0"))
		host = "127.0.0.1";
	else if (!strcmp(host, "::"))
		host = "::1";
	snprintf(out, outlen, strchr(host, ':') ? "http://[%s]:%ld" : "http://%s:%ld", host,
	         cfg->port);
}

static int cmd_clock(int argc, char **argv)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct http_response resp = {0};
	struct http_request req = {0};
	char url[256], body[64], err[256] = "", *end;
	struct config cfg;
	long long seconds;
	int rc;

	if (argc < 3 || strcmp(argv[2], "advance")) {
		fprintf(stderr, "catchup-jobs: clock: usage: clock advance SECONDS\n");
		return EXIT_USAGE;
	}
	if (argc != 4) {
		fprintf(stderr, "catchup-jobs: clock advance needs exactly one SECONDS argument\n");
		return EXIT_USAGE;
	}
	errno = 0;
	seconds = strtoll(argv[3], &end, 10);
	if (argv[3][0] < '0' || argv[3][0] > '9' || *end || errno || seconds <= 0) {
		fprintf(stderr,
		        "catchup-jobs: clock advance: \"%s\" is not a positive whole number of "
		        "seconds\n",
		        argv[3]);
		return EXIT_USAGE;
	}
	rc = load_local_config(&cfg, "clock advance");
	if (rc)
		return rc;
	server_base(&cfg, url, sizeof(url));
	snprintf(url + strlen(url), sizeof(url) - strlen(url), "/emulator/clock:advance");
	snprintf(body, sizeof(body), "{\"seconds\":%lld}", seconds);
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = 10000;
	req.upstream = "catchup-jobs";
	req.op = "clock";
	if (http_client_global_init()) {
		fprintf(stderr, "catchup-jobs: cannot initialise libcurl\n");
		config_release(&cfg);
		return EXIT_RUNTIME;
	}
	rc = http_do(&req, &resp, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "catchup-jobs: clock advance: server at %s unreachable: %s\n", url,
		        err[0] ? err : cj_strerror(rc));
		rc = EXIT_RUNTIME;
	} else if (resp.status != 200) {
		fprintf(stderr, "catchup-jobs: clock advance: %s answered %ld: %.300s\n", url,
		        resp.status, buf_str(&resp.body));
		rc = resp.status == 400 ? EXIT_USAGE : EXIT_RUNTIME;
	} else {
		printf("%s\n", buf_str(&resp.body));
		rc = EXIT_OK;
	}
	http_response_release(&resp);
	http_client_global_cleanup();
	config_release(&cfg);
	return rc;
}

int cli_main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "serve";
	struct config cfg;
	int rc;

	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("catchup-jobs %s\n", CJ_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		config_print_help(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "enqueue"))
		return cmd_enqueue(argc, argv);
	if (!strcmp(cmd, "token"))
		return cmd_token(argc, argv);
	if (!strcmp(cmd, "clock"))
		return cmd_clock(argc, argv);
	if (!strcmp(cmd, "user"))
		return user_cmd_run(argc, argv);
	if (!strcmp(cmd, "serve") || !strcmp(cmd, "check") || !strcmp(cmd, "queues") ||
	    !strcmp(cmd, "migrate")) {
		rc = no_extra_args(argc, argv, 2);
		if (rc)
			return rc;
		rc = cli_load_config(&cfg);
		if (rc)
			return rc;
		if (!strcmp(cmd, "serve"))
			rc = serve_run(&cfg);
		else if (!strcmp(cmd, "check"))
			rc = check_run(&cfg, stdout);
		else if (!strcmp(cmd, "queues"))
			rc = cmd_queues(&cfg);
		else
			rc = cmd_migrate(&cfg);
		config_release(&cfg);
		return rc;
	}
	fprintf(stderr, "catchup-jobs: unknown command or flag \"%s\" (see --help)\n", cmd);
	return EXIT_USAGE;
}
