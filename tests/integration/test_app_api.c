/*
 * test_app_api.c - the app data end to end (SPEC §3, §5.3, §7): users made
 * with the real binary's `user add` (flags, defaults, the token from a
 * flag, a file or standard input, sealed under the key `serve` uses,
 * duplicates, usage errors, the initial syncs enqueued into the fake Cloud
 * Tasks or a warning when nothing listens), listed with `user list`, and
 * read and changed over GET /admin/users, /admin/users/{id},
 * /admin/users/{id}/contacts and PATCH /admin/users/{id}/contacts/{cid}:
 * authentication, exact shapes, paging, 400s, 404s and 405, on SQLite and
 * on a real PostgreSQL.
 */
#include <check.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckrun.h"
#include "crypto.h"
#include "fake_cloud.h"
#include "itest.h"
#include "pgtest.h"
#include "store.h"

#define KEY_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define TOKEN "1//0gTEST-refresh.token_Zq9"

static struct itest W;
static struct fake_cloud FC;
static char E_API[128], E_META[128], E_DB[1024];
static const char *CLOUD_ENV[] = {"USE_CLOUD_TASKS=true",
                                  "GCP_PROJECT_ID=" FAKE_PROJECT,
                                  "GCP_REGION=" FAKE_REGION,
                                  "TOKEN_ENCRYPTION_KEY=" KEY_B64,
                                  E_API,
                                  E_META,
                                  E_DB,
                                  NULL};

/* --- Running the command line -------------------------------------------- */

struct run {
	int status;
	char *out, *err;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data = calloc(1, 1 << 20);
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(data, 1, (1 << 20) - 1, f);
	data[n] = '\0';
	fclose(f);
	unlink(path);
	return data;
}

/* Runs the binary with args in a clean environment (PATH and env), in cwd
 * (NULL: ours), with stdin_text (NULL: /dev/null) on its standard input. */
static void run_cli(const char *const *args, char *const *env, const char *cwd,
                    const char *stdin_text, struct run *res)
{
	char outp[] = "/tmp/cjapp-out-XXXXXX", errp[] = "/tmp/cjapp-err-XXXXXX";
	char *argv[32], path_env[1024], *full[72];
	int fo = mkstemp(outp), fe = mkstemp(errp), in[2], n = 0, st;
	pid_t pid;

	ck_assert(fo >= 0 && fe >= 0 && !pipe(in));
	argv[n++] = getenv("CJ_BIN");
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	n = 0;
	snprintf(path_env, sizeof(path_env), "PATH=%s",
	         getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	full[n++] = path_env;
	/* A later NAME=… replaces an earlier one, as the server's start does. */
	for (int i = 0; env && env[i] && n < 71; i++) {
		size_t len = strcspn(env[i], "=") + 1;
		int j = 0;

		while (j < n && strncmp(full[j], env[i], len))
			j++;
		full[j] = env[i];
		n += j == n;
	}
	full[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(fo, 1);
		dup2(fe, 2);
		close(in[1]);
		if (cwd && chdir(cwd))
			_exit(126);
		execve(argv[0], argv, full);
		_exit(127);
	}
	close(in[0]);
	if (stdin_text)
		ck_assert_int_eq(write(in[1], stdin_text, strlen(stdin_text)),
		                 (ssize_t)strlen(stdin_text));
	close(in[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	close(fo);
	close(fe);
	res->out = slurp(outp);
	res->err = slurp(errp);
}

static void run_free(struct run *r)
{
	/* No output of any command carries the token. */
	ck_assert_ptr_null(strstr(r->out, TOKEN));
	ck_assert_ptr_null(strstr(r->err, TOKEN));
	free(r->out);
	free(r->err);
}

/* The environment of a command: local mode on database_url, the token key
 * set, and Cloud Tasks at a port where nothing listens; extra appended. */
static char **local_env(const char *database_url, const char *const *extra)
{
	static char db[1024], cfg[1024], port[32];
	static char *env[32];
	int n = 0;

	snprintf(db, sizeof(db), "DATABASE_URL=%s", database_url);
	snprintf(cfg, sizeof(cfg), "CONFIG_DIR=%s/config", W.dir);
	snprintf(port, sizeof(port), "PORT=%d", free_port());
	env[n++] = db;
	env[n++] = cfg;
	env[n++] = port;
	env[n++] = "TOKEN_ENCRYPTION_KEY=" KEY_B64;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;
	return env;
}

/* "initial-<kind>-" + 32 hex digits of SHA-256(user id). */
static void initial_task(const char *kind, const char *user_id, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	size_t n;

	ck_assert(EVP_Digest(user_id, strlen(user_id), md, &len, EVP_sha256(), NULL));
	n = (size_t)snprintf(out, outlen, "initial-%s-", kind);
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%02x", md[i]);
}

/* The refresh token stored for user_id, decrypted with key (malloc'd). */
static char *stored_token(const char *database_url, struct crypto_key *key, const char *user_id)
{
	struct store_param p[] = {store_p_text(user_id)};
	struct store_rows *r;
	struct store *s;
	char err[256], aad[256], *plain = NULL;

	ck_assert_int_eq(store_open(database_url, &s, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(
	    store_exec(s, "SELECT refresh_token_enc FROM google_accounts WHERE user_id = $1", p, 1,
	               &r, err, sizeof(err)),
	    CJ_OK);
	ck_assert(store_rows_next(r));
	ck_assert_ptr_null(strstr(store_rows_text(r, 0), TOKEN));
	snprintf(aad, sizeof(aad), "google_accounts:refresh:%s", user_id);
	ck_assert_int_eq(crypto_decrypt(key, store_rows_text(r, 0), aad, &plain, NULL), CJ_OK);
	store_rows_free(r);
	store_close(s);
	return plain;
}

/* --- HTTP ------------------------------------------------------------- */

/* method path [body] as email (NULL: no token); the status. */
static long call_as(const struct cj_server *s, const char *email, const char *method,
                    const char *path, const char *body, struct httpc_resp *r)
{
	char url[1024], auth[4096], *tok = NULL;
	const char *h[3] = {NULL, NULL, NULL};
	int n = 0;

	snprintf(url, sizeof(url), "%s%s", s->base, path);
	if (email) {
		tok = itest_token_for(&W, 0, ITEST_AUDIENCE, email);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		h[n++] = auth;
	}
	if (body)
		h[n++] = "Content-Type: application/json";
	ck_assert_int_eq(httpc_request(method, url, h, body, body ? strlen(body) : 0, 10000, r), 0);
	free(tok);
	return r->status;
}

static long call(const struct cj_server *s, const char *method, const char *path, const char *body,
                 struct httpc_resp *r)
{
	return call_as(s, ITEST_ENQUEUE_EMAIL, method, path, body, r);
}

/* GET path as the operator: 200 and its JSON (new reference). */
static json_t *get_json(const struct cj_server *s, const char *path)
{
	struct httpc_resp r;
	json_t *doc;

	ck_assert_int_eq(call(s, "GET", path, NULL, &r), 200);
	ck_assert_ptr_nonnull(r.json);
	ck_assert_ptr_null(strstr(r.body, TOKEN));
	doc = json_incref(r.json);
	httpc_resp_free(&r);
	return doc;
}

/* The status of a call, and that its answer is {"error": code, "message"}. */
static void expect_error(const struct cj_server *s, const char *method, const char *path,
                         const char *body, long status, const char *code, const char *in_message)
{
	struct httpc_resp r;

	ck_assert_int_eq(call(s, method, path, body, &r), status);
	ck_assert_str_eq(httpc_json_str(&r, "error"), code);
	ck_assert_ptr_nonnull(httpc_json_str(&r, "message"));
	if (in_message)
		ck_assert_msg(strstr(httpc_json_str(&r, "message"), in_message), "%s: %s", path,
		              httpc_json_str(&r, "message"));
	httpc_resp_free(&r);
}

static const char *keys(const json_t *o)
{
	static char out[512];
	const char *k;
	json_t *v;
	size_t n = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)o, k, v)
	{
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", n ? "," : "", k);
	}
	return out;
}

/* Pages through list path ("…?limit=N") collecting items[name]. */
static json_t *walk(const struct cj_server *s, const char *path, const char *name, int *pages)
{
	json_t *all = json_array();
	char p[2048];

	snprintf(p, sizeof(p), "%s", path);
	for (*pages = 0; *pages < 50; ++*pages) {
		json_t *doc = get_json(s, p);
		const json_t *next = json_object_get(doc, "next");

		ck_assert_str_eq(keys(doc), name[0] == 'u' ? "users,next" : "contacts,next");
		json_array_extend(all, json_object_get(doc, name));
		if (json_is_null(next)) {
			json_decref(doc);
			++*pages;
			return all;
		}
		ck_assert(json_is_string(next));
		snprintf(p, sizeof(p), "%s&cursor=%s", path, json_string_value(next));
		json_decref(doc);
	}
	ck_abort_msg("no end of %s", path);
	return NULL;
}

/* --- Data the tests read --------------------------------------------------- */

static void seed_rows(const char *database_url)
{
	static const char *const sql[] = {
	    "INSERT INTO contacts (id, user_id, resource_name, name, email, phone, "
	    "catchup_frequency_days, last_contacted_at, created_at, updated_at) VALUES "
	    "('c1', 'app-0', 'people/c1', 'Ada', 'ada@example.com', '+442071838750', 7, "
	    "1700000000, 1, 1), "
	    "('c2', 'app-0', 'people/c2', NULL, NULL, NULL, NULL, NULL, 1, 1), "
	    "('c3', 'app-0', 'people/c3', 'Cy', 'cy@example.com', NULL, NULL, 1690000000, 1, 1), "
	    "('c4', 'app-0', 'people/c4', 'Di', NULL, NULL, 30, NULL, 1, 1), "
	    "('c5', 'app-0', 'people/c5', 'Ed', NULL, NULL, NULL, NULL, 1, 1), "
	    "('other', 'app-1', 'people/o1', 'Olga', NULL, NULL, NULL, NULL, 1, 1)",
	    "INSERT INTO sync_state (user_id, kind, sync_token, last_sync_at, last_change_count, "
	    "interval_seconds, next_sync_at, updated_at) VALUES "
	    "('app-0', 'contacts', 'stok', 1700000000, 3, 1800, 1700001800, 1), "
	    "('app-0', 'calendar:primary', NULL, NULL, 0, 3600, NULL, 1)",
	    "INSERT INTO webhook_channels (id, user_id, calendar_id, resource_id, token_hash, "
	    "expiration, status, last_notification_at, created_at, updated_at) VALUES "
	    "('chan-1', 'app-0', 'primary', 'res', 'hash', 1700600000, 'active', 1700000042, 1, 1)",
	};
	struct store *s;
	char err[256];

	ck_assert_int_eq(store_open(database_url, &s, err, sizeof(err)), CJ_OK);
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		ck_assert_msg(store_exec(s, sql[i], NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s",
		              err);
	store_close(s);
}

/* --- Tests ------------------------------------------------------------------ */

START_TEST(authentication)
{
	static const char *const paths[][2] = {{"GET", "/admin/users"},
	                                       {"GET", "/admin/users/x"},
	                                       {"GET", "/admin/users/x/contacts"},
	                                       {"PATCH", "/admin/users/x/contacts/y"},
	                                       {"GET", "/admin/outbox"},
	                                       {"POST", "/admin/outbox/x/done"},
	                                       {"GET", "/admin/users/x/suggestions"},
	                                       {"POST", "/admin/suggestions/x/accept"},
	                                       {"POST", "/admin/suggestions/x/dismiss"}};
	struct cj_server s;
	struct httpc_resp r;

	itest_server(&W, &s, NULL);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *body = paths[i][0][0] == 'P' ? "{\"catchupFrequencyDays\":1}" : NULL;

		ck_assert_int_eq(call_as(&s, NULL, paths[i][0], paths[i][1], body, &r), 401);
		ck_assert_str_eq(httpc_json_str(&r, "error"), "unauthenticated");
		httpc_resp_free(&r);
		/* A real identity that may push jobs, not read app data. */
		ck_assert_int_eq(call_as(&s, ITEST_TASKS_EMAIL, paths[i][0], paths[i][1], body, &r),
		                 403);
		ck_assert_str_eq(httpc_json_str(&r, "error"), "forbidden");
		httpc_resp_free(&r);
	}
	ck_assert_int_eq(cj_server_stop(&s), 0);
}
END_TEST

/* What the web app does when a user answers a suggestion. */
static void exercise_suggestions(const struct cj_server *srv, const char *database_url)
{
	static const char *const sql =
	    "INSERT INTO suggestions (id, user_id, contact_id, slot_start, slot_end, state, "
	    "created_at, updated_at) VALUES "
	    "('sg1', 'app-0', 'c1', 1800000000, 1800001800, 'pending', 5, 5), "
	    "('sg2', 'app-0', 'c3', 1800003600, 1800005400, 'notified', 6, 6), "
	    "('sg3', 'app-0', 'c4', 1800007200, 1800009000, 'accepted', 7, 7), "
	    "('sg4', 'app-0', 'c5', 1700000000, 1700001800, 'expired', 8, 8)";
	struct httpc_resp r;
	struct store *st;
	char err[256];
	json_t *doc, *items;

	ck_assert_int_eq(store_open(database_url, &st, err, sizeof(err)), CJ_OK);
	ck_assert_msg(store_exec(st, sql, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	store_close(st);
	doc = get_json(srv, "/admin/users/app-0/suggestions?state=pending");
	items = json_object_get(doc, "suggestions");
	ck_assert_int_eq(json_array_size(items), 1);
	ck_assert_str_eq(keys(json_array_get(items, 0)),
	                 "id,contactId,contactName,start,end,state,createdAt");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0),
	                                                   "contactName")),
	                 "Ada");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 0), "start")),
	                 1800000000);
	json_decref(doc);
	doc = get_json(srv, "/admin/users/app-0/suggestions");
	ck_assert_int_eq(json_array_size(json_object_get(doc, "suggestions")), 4);
	json_decref(doc);
	ck_assert_int_eq(call(srv, "POST", "/admin/suggestions/sg1/accept", NULL, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "state"), "accepted");
	httpc_resp_free(&r);
	ck_assert_int_eq(call(srv, "POST", "/admin/suggestions/sg2/accept", NULL, &r), 200);
	httpc_resp_free(&r);
	expect_error(srv, "POST", "/admin/suggestions/sg1/accept", NULL, 400, "invalid_request",
	             "accepted");
	ck_assert_int_eq(call(srv, "POST", "/admin/suggestions/sg3/dismiss", NULL, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "state"), "dismissed");
	httpc_resp_free(&r);
	expect_error(srv, "POST", "/admin/suggestions/sg4/dismiss", NULL, 400, "invalid_request",
	             "expired");
	expect_error(srv, "POST", "/admin/suggestions/nope/accept", NULL, 404, "not_found", NULL);
	expect_error(srv, "GET", "/admin/users/app-0/suggestions?state=open", NULL, 400,
	             "invalid_request", "state");
	expect_error(srv, "GET", "/admin/users/ghost/suggestions", NULL, 404, "not_found", NULL);
	doc = get_json(srv, "/admin/users/app-0/suggestions?state=accepted");
	ck_assert_int_eq(json_array_size(json_object_get(doc, "suggestions")), 2);
	json_decref(doc);
}

/* The operator's outbox: rows left sending are listed and resolved. */
static void exercise_outbox(const struct cj_server *srv, const char *database_url)
{
	static const char *const sql =
	    "INSERT INTO outbox (id, dedupe_key, kind, user_id, channel, recipient, body, state, "
	    "provider_id, created_at, updated_at, sent_at) VALUES "
	    "('ob1', 'batch:app-0:1', 'batch', 'app-0', 'sms', '+14155550123', 'hi', 'sending', "
	    "NULL, 10, 10, NULL), "
	    "('ob2', 'reminder:s1', 'reminder', 'app-0', 'email', 'ada@example.com', 'soon', "
	    "'sending', NULL, 11, 11, NULL), "
	    "('ob3', 'batch:app-0:0', 'batch', 'app-0', 'sms', '+14155550123', 'hi', 'sent', "
	    "'SM1', 9, 9, 9)";
	struct httpc_resp r;
	struct store *st;
	char err[256];
	json_t *doc, *items;

	ck_assert_int_eq(store_open(database_url, &st, err, sizeof(err)), CJ_OK);
	ck_assert_msg(store_exec(st, sql, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	store_close(st);
	doc = get_json(srv, "/admin/outbox?state=sending");
	items = json_object_get(doc, "outbox");
	ck_assert_int_eq(json_array_size(items), 2);
	ck_assert_str_eq(keys(json_array_get(items, 0)),
	                 "id,key,userId,channel,to,state,providerId,error,createdAt,sentAt");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "key")),
	                 "batch:app-0:1");
	ck_assert(json_is_null(json_object_get(doc, "next")));
	json_decref(doc);
	doc = get_json(srv, "/admin/outbox?limit=1");
	ck_assert_int_eq(json_array_size(json_object_get(doc, "outbox")), 1);
	ck_assert(json_is_string(json_object_get(doc, "next")));
	json_decref(doc);
	ck_assert_int_eq(call(srv, "POST", "/admin/outbox/ob1/done", NULL, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "state"), "sent");
	ck_assert_str_eq(httpc_json_str(&r, "id"), "ob1");
	httpc_resp_free(&r);
	expect_error(srv, "POST", "/admin/outbox/ob1/done", NULL, 400, "invalid_request",
	             "sending");
	expect_error(srv, "POST", "/admin/outbox/nope/done", NULL, 404, "not_found", NULL);
	/* Resend: no provider is configured here, so 503 and the row as it was
	 * (still sending, no attempt counted); a row not sending is 400. */
	expect_error(srv, "POST", "/admin/outbox/ob2/resend", NULL, 503, "unavailable",
	             "sendgrid");
	expect_error(srv, "POST", "/admin/outbox/ob1/resend", NULL, 400, "invalid_request",
	             "sending");
	expect_error(srv, "POST", "/admin/outbox/nope/resend", NULL, 404, "not_found", NULL);
	ck_assert_int_eq(store_open(database_url, &st, err, sizeof(err)), CJ_OK);
	{
		struct store_rows *rows = NULL;

		ck_assert_int_eq(store_exec(st, "SELECT state, attempts FROM outbox WHERE id = 'ob2'",
		                            NULL, 0, &rows, err, sizeof(err)),
		                 CJ_OK);
		ck_assert(store_rows_next(rows));
		ck_assert_str_eq(store_rows_text(rows, 0), "sending");
		ck_assert_int_eq(store_rows_int(rows, 1), 1);
		store_rows_free(rows);
	}
	store_close(st);
	expect_error(srv, "GET", "/admin/outbox?state=pending", NULL, 400, "invalid_request",
	             "state");
	expect_error(srv, "GET", "/admin/outbox?limit=0", NULL, 400, "invalid_request", "limit");
	doc = get_json(srv, "/admin/outbox?state=sending");
	ck_assert_int_eq(json_array_size(json_object_get(doc, "outbox")), 1);
	json_decref(doc);
}

/* Users made by the command, read and changed over HTTP, on database_url. */
static void exercise(const char *database_url)
{
	const char *add0[] = {"user",
	                      "add",
	                      "--email",
	                      "Ada@Example.com",
	                      "--phone",
	                      "+14155550123",
	                      "--timezone",
	                      "America/New_York",
	                      "--notify",
	                      "sms",
	                      "--waking",
	                      "07:30-22:00",
	                      "--google-refresh-token",
	                      TOKEN,
	                      "--id",
	                      "app-0",
	                      NULL};
	const char *list[] = {"user", "list", NULL};
	char task[128], path[256], email[64], id[16];
	struct cj_server s;
	struct httpc_resp r;
	struct run res;
	json_t *all, *one, *doc, *u, *g, *creates;
	size_t before;
	int pages;

	snprintf(E_DB, sizeof(E_DB), "DATABASE_URL=%s", database_url);
	/* user add in cloud mode: the user, and its two initial syncs in Cloud
	 * Tasks under task ids from the user id. */
	creates = fake_cloud_creates(&FC);
	before = json_array_size(creates);
	json_decref(creates);
	run_cli(add0, itest_env(&W, CLOUD_ENV), NULL, NULL, &res);
	ck_assert_msg(res.status == 0, "%s", res.err);
	ck_assert_str_eq(res.out, "app-0\n");
	ck_assert_ptr_null(strstr(res.err, "not enqueued"));
	run_free(&res);
	creates = fake_cloud_creates(&FC);
	ck_assert_uint_eq(json_array_size(creates), before + 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *c = json_array_get(creates, before + i);
		json_t *body = json_loads(json_string_value(json_object_get(c, "body")), 0, NULL);
		const char *name =
		    json_string_value(json_object_get(json_object_get(body, "task"), "name"));

		initial_task(i ? "calendar" : "contacts", "app-0", task, sizeof(task));
		ck_assert_msg(name && strlen(name) > strlen(task) &&
		                  !strcmp(name + strlen(name) - strlen(task), task),
		              "%s", name);
		ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(c, "path")),
		                             i ? "/queues/calendar-sync-queue/"
		                               : "/queues/google-contacts-sync-queue/"));
		json_decref(body);
	}
	json_decref(creates);
	for (int i = 1; i < 7; i++) {
		const char *add[] = {"user", "add", "--email", email, "--id", id, NULL};

		snprintf(email, sizeof(email), "person%d@example.com", i);
		snprintf(id, sizeof(id), "app-%d", i);
		run_cli(add, itest_env(&W, CLOUD_ENV), NULL, NULL, &res);
		ck_assert_msg(res.status == 0, "%s", res.err);
		run_free(&res);
	}
	seed_rows(database_url);
	itest_server(&W, &s, CLOUD_ENV);

	/* Users, three to a page: 3, 3, 1, in id order, exact shapes. */
	all = walk(&s, "/admin/users?limit=3", "users", &pages);
	ck_assert_int_eq(pages, 3);
	ck_assert_uint_eq(json_array_size(all), 7);
	for (int i = 0; i < 7; i++) {
		u = json_array_get(all, i);
		snprintf(id, sizeof(id), "app-%d", i);
		ck_assert_str_eq(json_string_value(json_object_get(u, "id")), id);
		ck_assert_str_eq(keys(u), "id,email,phone,timezone,notify,waking,google");
		ck_assert_str_eq(keys(json_object_get(u, "google")), "status,expiresAt,lastError");
	}
	u = json_array_get(all, 0);
	ck_assert_str_eq(json_string_value(json_object_get(u, "email")), "Ada@Example.com");
	ck_assert_str_eq(json_string_value(json_object_get(u, "phone")), "+14155550123");
	ck_assert_str_eq(json_string_value(json_object_get(u, "timezone")), "America/New_York");
	ck_assert_str_eq(json_string_value(json_object_get(u, "notify")), "sms");
	ck_assert_str_eq(json_string_value(json_object_get(u, "waking")), "07:30-22:00");
	g = json_object_get(u, "google");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")), "ok");
	ck_assert(json_is_null(json_object_get(g, "expiresAt")));
	ck_assert(json_is_null(json_object_get(g, "lastError")));
	/* The defaults of user add. */
	u = json_array_get(all, 1);
	ck_assert(json_is_null(json_object_get(u, "phone")));
	ck_assert_str_eq(json_string_value(json_object_get(u, "timezone")), "Etc/UTC");
	ck_assert_str_eq(json_string_value(json_object_get(u, "notify")), "email");
	ck_assert_str_eq(json_string_value(json_object_get(u, "waking")), "08:00-21:00");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(u, "google"), "status")),
	                 "none");
	one = get_json(&s, "/admin/users?limit=500");
	ck_assert(json_equal(json_object_get(one, "users"), all));
	ck_assert(json_is_null(json_object_get(one, "next")));
	json_decref(one);
	doc = get_json(&s, "/admin/users"); /* default limit */
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "users")), 7);
	json_decref(doc);

	/* user list prints the same items, one per line. */
	run_cli(list, itest_env(&W, CLOUD_ENV), NULL, NULL, &res);
	ck_assert_msg(res.status == 0, "%s", res.err);
	{
		char *line = res.out, *eol;
		size_t n = 0;

		while ((eol = strchr(line, '\n'))) {
			json_t *item;

			*eol = '\0';
			item = json_loads(line, 0, NULL);
			ck_assert_msg(item && json_equal(item, json_array_get(all, n)), "%s", line);
			json_decref(item);
			n++;
			line = eol + 1;
		}
		ck_assert_str_eq(line, "");
		ck_assert_uint_eq(n, 7);
	}
	run_free(&res);
	json_decref(all);

	/* Bad limits and cursors. */
	expect_error(&s, "GET", "/admin/users?limit=0", NULL, 400, "invalid_request", "limit");
	expect_error(&s, "GET", "/admin/users?limit=501", NULL, 400, "invalid_request", "limit");
	expect_error(&s, "GET", "/admin/users?limit=ten", NULL, 400, "invalid_request", "limit");
	expect_error(&s, "GET", "/admin/users?cursor=bm90LW91cnM", NULL, 400, "invalid_request",
	             "cursor");
	expect_error(&s, "GET", "/admin/users?cursor=%21%21", NULL, 400, "invalid_request",
	             "cursor");
	expect_error(&s, "GET", "/admin/users/app-0/contacts?limit=501", NULL, 400,
	             "invalid_request", "limit");

	/* One user: the item plus sync state and channels. */
	u = get_json(&s, "/admin/users/app-0");
	ck_assert_str_eq(keys(u), "id,email,phone,timezone,notify,waking,google,sync,channels");
	ck_assert_uint_eq(json_array_size(json_object_get(u, "sync")), 2);
	doc = json_pack("[{s:s,s:s,s:n,s:i,s:i,s:n},{s:s,s:n,s:I,s:i,s:i,s:I}]", "kind", "calendar",
	                "calendarId", "primary", "lastSyncAt", "lastChanges", 0, "intervalSeconds",
	                3600, "nextSyncAt", "kind", "contacts", "calendarId", "lastSyncAt",
	                (json_int_t)1700000000, "lastChanges", 3, "intervalSeconds", 1800,
	                "nextSyncAt", (json_int_t)1700001800);
	ck_assert(json_equal(json_object_get(u, "sync"), doc));
	json_decref(doc);
	doc = json_pack("[{s:s,s:s,s:I,s:I,s:s}]", "id", "chan-1", "calendarId", "primary",
	                "expiration", (json_int_t)1700600000, "lastMessageAt",
	                (json_int_t)1700000042, "state", "active");
	ck_assert(json_equal(json_object_get(u, "channels"), doc));
	json_decref(doc);
	json_decref(u);
	u = get_json(&s, "/admin/users/app-6");
	ck_assert_uint_eq(json_array_size(json_object_get(u, "sync")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(u, "channels")), 0);
	json_decref(u);
	expect_error(&s, "GET", "/admin/users/nobody", NULL, 404, "not_found", "nobody");
	expect_error(&s, "GET", "/admin/users/nobody/contacts", NULL, 404, "not_found", NULL);

	/* Contacts, two to a page. */
	all = walk(&s, "/admin/users/app-0/contacts?limit=2", "contacts", &pages);
	ck_assert_int_eq(pages, 3);
	ck_assert_uint_eq(json_array_size(all), 5);
	doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I}", "id", "c1", "resourceName", "people/c1",
	                "name", "Ada", "email", "ada@example.com", "phone", "+442071838750",
	                "catchupFrequencyDays", 7, "lastContactedAt", (json_int_t)1700000000);
	ck_assert(json_equal(json_array_get(all, 0), doc));
	ck_assert_str_eq(keys(json_array_get(all, 0)),
	                 "id,resourceName,name,email,phone,catchupFrequencyDays,lastContactedAt");
	json_decref(doc);
	doc = json_pack("{s:s,s:s,s:n,s:n,s:n,s:n,s:n}", "id", "c2", "resourceName", "people/c2",
	                "name", "email", "phone", "catchupFrequencyDays", "lastContactedAt");
	ck_assert(json_equal(json_array_get(all, 1), doc));
	json_decref(doc);
	json_decref(all);
	doc = get_json(&s, "/admin/users/app-6/contacts");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "contacts")), 0);
	ck_assert(json_is_null(json_object_get(doc, "next")));
	json_decref(doc);
	{
		/* A users cursor is not a contacts cursor. */
		json_t *page = get_json(&s, "/admin/users?limit=1");

		snprintf(path, sizeof(path), "/admin/users/app-0/contacts?cursor=%s",
		         json_string_value(json_object_get(page, "next")));
		expect_error(&s, "GET", path, NULL, 400, "invalid_request", "cursor");
		json_decref(page);
	}

	/* PATCH a frequency; GET shows it; clear it. */
	ck_assert_int_eq(call(&s, "PATCH", "/admin/users/app-0/contacts/c3",
	                      "{\"catchupFrequencyDays\":14}", &r),
	                 200);
	ck_assert_str_eq(keys(r.json),
	                 "id,resourceName,name,email,phone,catchupFrequencyDays,lastContactedAt");
	ck_assert_str_eq(httpc_json_str(&r, "id"), "c3");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "catchupFrequencyDays")), 14);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "lastContactedAt")),
	                 1690000000);
	httpc_resp_free(&r);
	doc = get_json(&s, "/admin/users/app-0/contacts");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(json_object_get(doc, "contacts"), 2),
	                                       "catchupFrequencyDays")),
	    14);
	json_decref(doc);
	ck_assert_int_eq(call(&s, "PATCH", "/admin/users/app-0/contacts/c3",
	                      "{\"catchupFrequencyDays\":null}", &r),
	                 200);
	ck_assert(json_is_null(json_object_get(r.json, "catchupFrequencyDays")));
	httpc_resp_free(&r);
	ck_assert_int_eq(call(&s, "PATCH", "/admin/users/app-0/contacts/c3",
	                      "{\"catchupFrequencyDays\":365}", &r),
	                 200);
	httpc_resp_free(&r);

	/* What the PATCH refuses, naming the field. */
	{
		static const char *const bad[] = {"{\"catchupFrequencyDays\":0}",
		                                  "{\"catchupFrequencyDays\":366}",
		                                  "{\"catchupFrequencyDays\":-3}",
		                                  "{\"catchupFrequencyDays\":\"7\"}",
		                                  "{\"catchupFrequencyDays\":7.5}",
		                                  "{\"catchupFrequencyDays\":true}",
		                                  "{}"};
		char deep[200];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			expect_error(&s, "PATCH", "/admin/users/app-0/contacts/c3", bad[i], 400,
			             "invalid_request", "catchupFrequencyDays");
		expect_error(&s, "PATCH", "/admin/users/app-0/contacts/c3",
		             "{\"catchupFrequencyDays\":7,\"name\":\"x\"}", 400, "invalid_request",
		             "name");
		expect_error(&s, "PATCH", "/admin/users/app-0/contacts/c3", "not json", 400,
		             "invalid_json", NULL);
		expect_error(&s, "PATCH", "/admin/users/app-0/contacts/c3", "[7]", 400,
		             "invalid_json", NULL);
		memset(deep, '[', 65);
		memset(deep + 65, ']', 65);
		deep[130] = '\0';
		expect_error(&s, "PATCH", "/admin/users/app-0/contacts/c3", deep, 400,
		             "invalid_json", NULL);
	}
	/* Another user's contact, and contacts or users that do not exist. */
	expect_error(&s, "PATCH", "/admin/users/app-0/contacts/other",
	             "{\"catchupFrequencyDays\":3}", 404, "not_found", NULL);
	expect_error(&s, "PATCH", "/admin/users/app-0/contacts/c99", "{\"catchupFrequencyDays\":3}",
	             404, "not_found", NULL);
	expect_error(&s, "PATCH", "/admin/users/nobody/contacts/c1", "{\"catchupFrequencyDays\":3}",
	             404, "not_found", NULL);
	doc = get_json(&s, "/admin/users/app-1/contacts");
	ck_assert(json_is_null(json_object_get(json_array_get(json_object_get(doc, "contacts"), 0),
	                                       "catchupFrequencyDays")));
	json_decref(doc);
	expect_error(&s, "GET", "/admin/users/app-0/contacts/c3", NULL, 405, "method_not_allowed",
	             "PATCH");
	expect_error(&s, "DELETE", "/admin/users/app-0", NULL, 405, "method_not_allowed", NULL);
	exercise_outbox(&s, database_url);
	exercise_suggestions(&s, database_url);
	ck_assert_int_eq(cj_server_stop(&s), 0);
}

START_TEST(sqlite)
{
	char url[512];

	snprintf(url, sizeof(url), "sqlite:%s/app.db", W.dir);
	exercise(url);
}
END_TEST

START_TEST(postgresql)
{
	char *url = pgtest_new_database();

	ck_assert_ptr_nonnull(url);
	exercise(url);
	free(url);
}
END_TEST

START_TEST(user_add_on_the_command_line)
{
	char url[512], file[600], *plain;
	struct crypto_key *key;
	struct run res;
	char err[256];
	FILE *f;

	snprintf(url, sizeof(url), "sqlite:%s/cli.db", W.dir);
	ck_assert_int_eq(crypto_key_from_base64(KEY_B64, &key, err, sizeof(err)), CJ_OK);

	/* The token from a file (its newline stripped), and nothing listening
	 * to enqueue to: the id alone, one warning, success. */
	snprintf(file, sizeof(file), "%s/token.txt", W.dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", TOKEN);
	fclose(f);
	{
		const char *args[] = {"user",
		                      "add",
		                      "--email",
		                      "file@example.com",
		                      "--id",
		                      "from-file",
		                      "--google-refresh-token-file",
		                      file,
		                      NULL};

		run_cli(args, local_env(url, NULL), NULL, NULL, &res);
		ck_assert_msg(res.status == 0, "%s", res.err);
		ck_assert_str_eq(res.out, "from-file\n");
		ck_assert_msg(strstr(res.err, "warning") && strstr(res.err, "not enqueued"), "%s",
		              res.err);
		run_free(&res);
		plain = stored_token(url, key, "from-file");
		ck_assert_str_eq(plain, TOKEN);
		free(plain);
	}
	/* From standard input; a random 128-bit hex id; no token in any log
	 * line even at debug level (run_free checks every output). */
	{
		const char *args[] = {
		    "user", "add", "--email", "stdin@example.com", "--google-refresh-token-file",
		    "-",    NULL};
		const char *debug[] = {"LOG_LEVEL=debug", NULL};
		char id[64];

		run_cli(args, local_env(url, debug), NULL, TOKEN "\r\n", &res);
		ck_assert_msg(res.status == 0, "%s", res.err);
		ck_assert_uint_eq(strlen(res.out), 33);
		ck_assert_uint_eq(strspn(res.out, "0123456789abcdef"), 32);
		snprintf(id, sizeof(id), "%.32s", res.out);
		run_free(&res);
		plain = stored_token(url, key, id);
		ck_assert_str_eq(plain, TOKEN);
		free(plain);
	}
	/* Duplicates: exit 3, nothing on stdout. */
	{
		const char *same_email[] = {"user", "add", "--email", "FILE@Example.COM", NULL};
		const char *same_id[] = {"user", "add",       "--email", "new@example.com",
		                         "--id", "from-file", NULL};

		run_cli(same_email, local_env(url, NULL), NULL, NULL, &res);
		ck_assert_int_eq(res.status, 3);
		ck_assert_str_eq(res.out, "");
		ck_assert_ptr_nonnull(strstr(res.err, "already exists"));
		run_free(&res);
		run_cli(same_id, local_env(url, NULL), NULL, NULL, &res);
		ck_assert_int_eq(res.status, 3);
		ck_assert_str_eq(res.out, "");
		run_free(&res);
	}
	/* Usage errors: exit 2, the flag named. */
	{
		static const char *const cases[][4] = {
		    {"--phone", "4155550123", "--phone", NULL},
		    {"--phone", "+0123", "--phone", NULL},
		    {"--waking", "22:00-06:00", "--waking", NULL},
		    {"--waking", "8-21", "--waking", NULL},
		    {"--timezone", "Mars/Olympus_Mons", "--timezone", NULL},
		    {"--notify", "pager", "--notify", NULL},
		    {"--bogus", "x", "--bogus", NULL},
		    {"--id", "has space", "--id", NULL},
		    {"--google-refresh-token", "", "--google-refresh-token", NULL},
		    {"--google-refresh-token-file", "/nonexistent/token", "/nonexistent/token",
		     NULL},
		};
		char empty[600];

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *args[] = {"user",      "add",       "--email", "u2@example.com",
			                      cases[i][0], cases[i][1], NULL};

			run_cli(args, local_env(url, NULL), NULL, NULL, &res);
			ck_assert_msg(res.status == 2, "%s %s: %d %s", cases[i][0], cases[i][1],
			              res.status, res.err);
			ck_assert_msg(strstr(res.err, cases[i][2]), "%s", res.err);
			ck_assert_str_eq(res.out, "");
			run_free(&res);
		}
		snprintf(empty, sizeof(empty), "%s/empty.txt", W.dir);
		f = fopen(empty, "w");
		fputs("\n", f);
		fclose(f);
		{
			const char *args[] = {"user",
			                      "add",
			                      "--email",
			                      "u2@example.com",
			                      "--google-refresh-token-file",
			                      empty,
			                      NULL};
			const char *both[] = {"user",
			                      "add",
			                      "--email",
			                      "u2@example.com",
			                      "--google-refresh-token",
			                      "t",
			                      "--google-refresh-token-file",
			                      empty,
			                      NULL};
			const char *no_email[] = {"user", "add", NULL};
			const char *bad_email[] = {"user", "add", "--email", "two@@example.com",
			                           NULL};
			const char *extra[] = {"user", "list", "more", NULL};

			run_cli(args, local_env(url, NULL), NULL, NULL, &res);
			ck_assert_int_eq(res.status, 2);
			ck_assert_ptr_nonnull(strstr(res.err, "empty"));
			run_free(&res);
			run_cli(both, local_env(url, NULL), NULL, NULL, &res);
			ck_assert_int_eq(res.status, 2);
			run_free(&res);
			run_cli(no_email, local_env(url, NULL), NULL, NULL, &res);
			ck_assert_int_eq(res.status, 2);
			ck_assert_ptr_nonnull(strstr(res.err, "--email"));
			run_free(&res);
			run_cli(bad_email, local_env(url, NULL), NULL, NULL, &res);
			ck_assert_int_eq(res.status, 2);
			ck_assert_ptr_nonnull(strstr(res.err, "--email"));
			run_free(&res);
			run_cli(extra, local_env(url, NULL), NULL, NULL, &res);
			ck_assert_int_eq(res.status, 2);
			run_free(&res);
		}
	}
	/* user list: every user, no token anywhere. */
	{
		const char *args[] = {"user", "list", NULL};
		size_t lines = 0;

		run_cli(args, local_env(url, NULL), NULL, NULL, &res);
		ck_assert_int_eq(res.status, 0);
		for (const char *p = res.out; (p = strchr(p, '\n')); p++)
			lines++;
		ck_assert_uint_eq(lines, 2);
		ck_assert_ptr_nonnull(strstr(res.out, "\"id\":\"from-file\""));
		ck_assert_ptr_nonnull(strstr(res.out, "\"status\":\"ok\""));
		ck_assert_ptr_null(strstr(res.out, "v1:"));
		run_free(&res);
	}
	/* The database unreachable: exit 1. */
	{
		const char *args[] = {"user", "add", "--email", "down@example.com", NULL};
		const char *list[] = {"user", "list", NULL};

		run_cli(args, local_env("postgresql://u:pw@127.0.0.1:1/db", NULL), NULL, NULL,
		        &res);
		ck_assert_int_eq(res.status, 1);
		ck_assert_str_eq(res.out, "");
		run_free(&res);
		run_cli(list, local_env("postgresql://u:pw@127.0.0.1:1/db", NULL), NULL, NULL,
		        &res);
		ck_assert_int_eq(res.status, 1);
		run_free(&res);
	}
	crypto_key_free(key);
}
END_TEST

/* Local mode without TOKEN_ENCRYPTION_KEY: the key serve would use, made
 * once in ./data of the working directory. */
START_TEST(local_key_in_the_working_directory)
{
	char dir[600], data[700], url[700], *plain;
	const char *args[] = {"user",
	                      "add",
	                      "--email",
	                      "local@example.com",
	                      "--id",
	                      "local-1",
	                      "--google-refresh-token",
	                      TOKEN,
	                      NULL};
	char db[800], cfg[800], port[32];
	char *env[] = {db, cfg, port, NULL};
	struct crypto_key *key = NULL;
	struct run res;
	char err[256];
	int generated = 1;

	snprintf(dir, sizeof(dir), "%s/cwd", W.dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(url, sizeof(url), "sqlite:%s/local.db", dir);
	snprintf(db, sizeof(db), "DATABASE_URL=%s", url);
	snprintf(cfg, sizeof(cfg), "CONFIG_DIR=%s/config", W.dir);
	snprintf(port, sizeof(port), "PORT=%d", free_port());
	run_cli(args, env, dir, NULL, &res);
	ck_assert_msg(res.status == 0, "%s", res.err);
	ck_assert_str_eq(res.out, "local-1\n");
	run_free(&res);
	snprintf(data, sizeof(data), "%s/data", dir);
	ck_assert_int_eq(crypto_key_load_or_generate(data, &key, &generated, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(generated, 0);
	plain = stored_token(url, key, "local-1");
	ck_assert_str_eq(plain, TOKEN);
	free(plain);
	crypto_key_free(key);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("app-api");
	TCase *tc = tcase_create("app-api");
	int failed;

	itest_setup(&W);
	if (pgtest_start() || fake_cloud_start(&FC, NULL)) {
		fprintf(stderr, "cannot start PostgreSQL or the fake Google services\n");
		return 1;
	}
	snprintf(E_API, sizeof(E_API), "CLOUD_TASKS_API_URL=%s", FC.url);
	snprintf(E_META, sizeof(E_META), "GCE_METADATA_HOST=%s", FC.metadata_host);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, authentication);
	tcase_add_test(tc, sqlite);
	tcase_add_test(tc, postgresql);
	tcase_add_test(tc, user_add_on_the_command_line);
	tcase_add_test(tc, local_key_in_the_working_directory);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	fake_cloud_stop(&FC);
	pgtest_stop();
	itest_teardown(&W);
	return failed ? 1 : 0;
}
