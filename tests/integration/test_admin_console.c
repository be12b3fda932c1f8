/*
 * test_admin_console.c - the /admin endpoints of the operator console end
 * to end (issue 13, SPEC §5.3, §5.4), against the real binary:
 *
 * Local mode, on SQLite and on a real PostgreSQL: the overview (readiness,
 * the last hour's outcomes and dead letters), the queues with the embedded
 * Cloud Tasks' state, a queue paused through /admin dispatching nothing
 * while another queue runs, then resumed and its task run; tasks listed in
 * dispatch order with a cursor walk that shows every task once, run now and
 * deleted; a queue purged; a failed attempt's status; schedules with their
 * next fire times, one fired through /admin, the clock read and advanced
 * (and a schedule firing as it passes); dead letters filtered by time; the
 * sync health of every user with the problems the server finds.
 *
 * Cloud mode (Redis, a JWKS server): 401 without a token and 403 for an
 * e-mail that is not allowed on every new route; a Google ID token for the
 * console's OAuth client (CONSOLE_OAUTH_CLIENT_ID) accepted on /admin and
 * refused on /jobs and /enqueue; local-only routes 404; queues without a
 * state, schedules without a clock.
 *
 * Every wait polls a condition with a generous deadline.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckrun.h"
#include "itest.h"
#include "pgtest.h"
#include "store.h"
#include "timeutil.h"

#define ADMIN_EMAIL "admin@catchup-jobs.local"
#define OTHER_EMAIL "nobody@example.com"
#define DEAD_JWKS "http://127.0.0.1:1/certs" /* refused at once: nothing listens */
#define CONSOLE_CLIENT "123-console.apps.googleusercontent.com"
#define WAIT_MS 60000

static struct itest W; /* cloud mode's world, started in main() */

/* ---- the local-mode server ------------------------------------------------ */

static char *dir; /* the local test's directory: the server's ./data */
static char e_db[1024], e_config[1024];

/* dir/config: the repository's queues.json and one hourly ping schedule. */
static void write_config(void)
{
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
	char path[1200];
	json_t *q, *sched;

	snprintf(path, sizeof(path), "%s/config", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/config/queues.json", root);
	q = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(q);
	snprintf(path, sizeof(path), "%s/config/queues.json", dir);
	ck_assert_int_eq(json_dump_file(q, path, 0), 0);
	json_decref(q);
	sched =
	    json_pack("{s:[{s:s, s:s, s:s, s:s, s:{s:s}, s:s}]}", "schedules", "name",
	              "ping-hourly", "schedule", "0 * * * *", "timeZone", "Europe/Paris", "jobType",
	              "ping", "payload", "from", "schedule", "attemptDeadline", "60s");
	snprintf(path, sizeof(path), "%s/config/schedules.json", dir);
	ck_assert_int_eq(json_dump_file(sched, path, 0), 0);
	json_decref(sched);
}

static void local_setup(void)
{
	dir = make_temp_dir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
	write_config();
}

static void local_teardown(void)
{
	if (chdir("/") == 0)
		remove_tree(dir);
	free(dir);
}

/* The local-mode environment on database_url; extra appended. Static. */
static char **local_env(const char *database_url, const char *const *extra)
{
	static char *env[32];
	int n = 0;

	snprintf(e_db, sizeof(e_db), "DATABASE_URL=%s", database_url);
	snprintf(e_config, sizeof(e_config), "CONFIG_DIR=%s/config", dir);
	env[n++] = e_db;
	env[n++] = e_config;
	env[n++] = "OIDC_JWKS_URL=" DEAD_JWKS;
	env[n++] = "ENQUEUE_ALLOWED_EMAILS=" ADMIN_EMAIL;
	env[n++] = "LOG_LEVEL=info";
	for (int i = 0; extra && extra[i] && n < 30; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;
	return env;
}

/* `catchup-jobs token --email email` against s (malloc'd, one line). */
static char *local_token(const struct cj_server *s, const char *database_url, const char *email)
{
	char port[32], *args[] = {"token", "--email", (char *)email, NULL}, *out = NULL,
	               *err = NULL;
	const char *extra[] = {port, NULL};
	int rc;

	snprintf(port, sizeof(port), "PORT=%d", s->port);
	rc = cj_run(args, local_env(database_url, extra), &out, &err);
	ck_assert_msg(rc == 0, "token: %d %s", rc, err ? err : "");
	out[strcspn(out, "\n")] = '\0';
	free(err);
	return out;
}

/* ---- HTTP ------------------------------------------------------------------ */

/* method path [body] with tok (NULL: no token); the status. */
static long call(const struct cj_server *s, const char *tok, const char *method, const char *path,
                 const char *body, struct httpc_resp *r)
{
	char url[2048], auth[8300];
	const char *h[3] = {NULL, NULL, NULL};
	int n = 0;

	snprintf(url, sizeof(url), "%s%s", s->base, path);
	if (tok) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		h[n++] = auth;
	}
	if (body)
		h[n++] = "Content-Type: application/json";
	ck_assert_int_eq(httpc_request(method, url, h, body, body ? strlen(body) : 0, 20000, r), 0);
	return r->status;
}

/* 200 (or want) and the answer's JSON (a new reference). */
static json_t *call_json(const struct cj_server *s, const char *tok, const char *method,
                         const char *path, const char *body, long want)
{
	struct httpc_resp r;
	json_t *doc;

	call(s, tok, method, path, body, &r);
	ck_assert_msg(r.status == want, "%s %s: %ld %s", method, path, r.status,
	              r.body ? r.body : "");
	ck_assert_ptr_nonnull(r.json);
	doc = json_incref(r.json);
	httpc_resp_free(&r);
	return doc;
}

static json_t *get_json(const struct cj_server *s, const char *tok, const char *path)
{
	return call_json(s, tok, "GET", path, NULL, 200);
}

/* The call answers status with {"error": code, "message": … in_message …}. */
static void expect_error(const struct cj_server *s, const char *tok, const char *method,
                         const char *path, const char *body, long status, const char *code,
                         const char *in_message)
{
	struct httpc_resp r;

	call(s, tok, method, path, body, &r);
	ck_assert_msg(r.status == status, "%s %s: %ld %s", method, path, r.status,
	              r.body ? r.body : "");
	ck_assert_str_eq(httpc_json_str(&r, "error"), code);
	ck_assert_ptr_nonnull(httpc_json_str(&r, "message"));
	if (in_message)
		ck_assert_msg(strstr(httpc_json_str(&r, "message"), in_message), "%s: %s", path,
		              httpc_json_str(&r, "message"));
	httpc_resp_free(&r);
}

/* The object's keys in order, comma-separated (static). */
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

static json_int_t int_at(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

/* Enqueues a job through /enqueue with payload, as task task_id, due at
 * the business time at (0: now). */
static void enqueue(const struct cj_server *s, const char *tok, const char *type,
                    const char *payload, const char *task_id, int64_t at)
{
	char path[128], body[1024], when[64] = "";
	json_t *doc;

	if (at)
		time_format_rfc3339((double)at, 0, when, sizeof(when));
	snprintf(path, sizeof(path), "/enqueue/%s", type);
	snprintf(body, sizeof(body), "{\"payload\":%s,\"taskId\":\"%s\"%s%s%s}", payload, task_id,
	         at ? ",\"scheduleTime\":\"" : "", when, at ? "\"" : "");
	doc = call_json(s, tok, "POST", path, body, 202);
	json_decref(doc);
}

/* The server's business time: /admin/clock. */
static int64_t business_now(const struct cj_server *s, const char *tok)
{
	json_t *doc = get_json(s, tok, "/admin/clock");
	int64_t now = (int64_t)json_integer_value(json_object_get(doc, "now"));

	json_decref(doc);
	return now;
}

/* Polls cond(s, tok, arg) every 50 ms until it holds or WAIT_MS pass. */
typedef int (*cond_fn)(const struct cj_server *s, const char *tok, const void *arg);

static int wait_until(const struct cj_server *s, const char *tok, cond_fn cond, const void *arg)
{
	int64_t end = time_mono_ms() + WAIT_MS;

	while (time_mono_ms() < end) {
		if (cond(s, tok, arg))
			return 1;
		msleep(50);
	}
	return cond(s, tok, arg);
}

/* wait_until(), or a failure showing the end of the server's log. */
#define WAIT(s, tok, cond, arg)                                                                    \
	do {                                                                                       \
		if (!wait_until((s), (tok), (cond), (arg))) {                                      \
			char *log_ = cj_server_log(s);                                             \
			size_t len_ = log_ ? strlen(log_) : 0;                                     \
			ck_abort_msg("%s never held; the log ends:\n%s", #cond,                    \
			             log_ ? log_ + (len_ > 4000 ? len_ - 4000 : 0) : "");          \
		}                                                                                  \
	} while (0)

/* The task of queue called id in /admin's list (a new reference) or NULL. */
static json_t *find_task(const struct cj_server *s, const char *tok, const char *queue,
                         const char *id)
{
	char path[256];
	json_t *doc, *found = NULL;
	size_t i;

	snprintf(path, sizeof(path), "/admin/queues/%s/tasks?limit=500", queue);
	doc = get_json(s, tok, path);
	for (i = 0; i < json_array_size(json_object_get(doc, "tasks")); i++) {
		json_t *t = json_array_get(json_object_get(doc, "tasks"), i);

		if (!strcmp(json_string_value(json_object_get(t, "id")), id))
			found = json_incref(t);
	}
	json_decref(doc);
	return found;
}

struct task_ref {
	const char *queue, *id;
};

static int task_gone(const struct cj_server *s, const char *tok, const void *arg)
{
	const struct task_ref *t = arg;
	json_t *task = find_task(s, tok, t->queue, t->id);

	json_decref(task);
	return !task;
}

/* The log has a line with every needle (NULL-terminated). */
static int log_has(const struct cj_server *s, const char *tok, const void *arg)
{
	char *log = cj_server_log(s);
	int n = log_count(log, arg);

	(void)tok;
	free(log);
	return n > 0;
}

static int log_lines(const struct cj_server *s, const char *const *needles)
{
	char *log = cj_server_log(s);
	int n = log_count(log, needles);

	free(log);
	return n;
}

/* ---- local mode: overview and queues --------------------------------------- */

static const json_t *queue_in(const json_t *doc, const char *name)
{
	const json_t *qs = json_object_get(doc, "queues");

	for (size_t i = 0; i < json_array_size(qs); i++)
		if (!strcmp(json_string_value(json_object_get(json_array_get(qs, i), "name")),
		            name))
			return json_array_get(qs, i);
	return NULL;
}

static void check_overview(const struct cj_server *s, const char *tok)
{
	json_t *doc = get_json(s, tok, "/admin/overview");
	const json_t *ready = json_object_get(doc, "ready");

	ck_assert_str_eq(keys(doc), "mode,version,now,ready,window,outcomes,deadLetters");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "mode")), "local");
	ck_assert(json_is_string(json_object_get(doc, "version")));
	ck_assert_int_ge(int_at(doc, "now"), time_wall_s() - 5);
	ck_assert_str_eq(json_string_value(json_object_get(ready, "status")), "ok");
	ck_assert(json_is_object(json_object_get(ready, "database")));
	ck_assert(json_is_object(json_object_get(ready, "redis")));
	ck_assert(json_is_object(json_object_get(ready, "jwks")));
	ck_assert_int_eq(int_at(doc, "window"), 3600);
	ck_assert(json_is_array(json_object_get(doc, "outcomes")));
	ck_assert_int_ge(int_at(doc, "deadLetters"), 0);
	json_decref(doc);
}

static void check_queues(const struct cj_server *s, const char *tok)
{
	json_t *doc = get_json(s, tok, "/admin/queues"), *want;
	const json_t *q = queue_in(doc, "ping-queue"), *st;

	ck_assert_str_eq(keys(doc), "queues");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "queues")), 12);
	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(keys(q), "name,types,retryConfig,rateLimits,dispatchDeadline,state");
	want = json_pack("[s]", "ping");
	ck_assert(json_equal(json_object_get(q, "types"), want));
	json_decref(want);
	/* As config/queues.json says it. */
	want = json_pack("{s:i, s:s, s:s, s:i, s:s}", "maxAttempts", 5, "minBackoff", "10s",
	                 "maxBackoff", "60s", "maxDoublings", 3, "maxRetryDuration", "0s");
	ck_assert(json_equal(json_object_get(q, "retryConfig"), want));
	json_decref(want);
	want = json_pack("{s:i, s:i}", "maxDispatchesPerSecond", 10, "maxConcurrentDispatches", 10);
	ck_assert(json_equal(json_object_get(q, "rateLimits"), want));
	json_decref(want);
	ck_assert_str_eq(json_string_value(json_object_get(q, "dispatchDeadline")), "60s");
	st = json_object_get(q, "state");
	ck_assert_str_eq(keys(st), "depth,inFlight,paused,nextDue");
	ck_assert_int_eq(int_at(st, "depth"), 0);
	ck_assert_int_eq(int_at(st, "inFlight"), 0);
	ck_assert(json_is_false(json_object_get(st, "paused")));
	ck_assert(json_is_null(json_object_get(st, "nextDue")));
	q = queue_in(doc, "calendar-sync-queue");
	want = json_pack("[s]", "calendar-sync");
	ck_assert(json_equal(json_object_get(q, "types"), want));
	json_decref(want);
	json_decref(doc);
	expect_error(s, tok, "POST", "/admin/queues/no-such-queue/pause", NULL, 404, "not_found",
	             "no-such-queue");
	expect_error(s, tok, "GET", "/admin/queues/no-such-queue/tasks", NULL, 404, "not_found",
	             NULL);
	expect_error(s, tok, "GET", "/admin/queues/ping-queue/pause", NULL, 405,
	             "method_not_allowed", NULL);
}

/* Paused through /admin: a ping waits while another queue's task runs and
 * completes (so the dispatcher has looked since); resumed, it runs. */
static void pause_and_resume(const struct cj_server *s, const char *tok)
{
	static const char *const ran_probe[] = {
	    "POST /jobs/suggestion-generation answered: completed", NULL};
	static const char *const ran_ping[] = {"POST /jobs/ping answered: completed",
	                                       "\"taskName\":\"held-1\"", NULL};
	struct task_ref probe = {"suggestion-generation-queue", "probe-1"};
	struct task_ref held = {"ping-queue", "held-1"};
	json_t *doc, *task;

	doc = call_json(s, tok, "POST", "/admin/queues/ping-queue/pause", NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "name")), "ping-queue");
	ck_assert(json_is_true(json_object_get(json_object_get(doc, "state"), "paused")));
	json_decref(doc);
	enqueue(s, tok, "ping", "{\"held\":true}", "held-1", 0);
	enqueue(s, tok, "suggestion-generation", "{}", "probe-1", 0);
	WAIT(s, tok, task_gone, &probe);
	WAIT(s, tok, log_has, ran_probe);
	/* The dispatcher ran a task queued after the ping: the ping's queue
	 * was skipped, not merely slow. */
	task = find_task(s, tok, "ping-queue", "held-1");
	ck_assert_ptr_nonnull(task);
	ck_assert_int_eq(int_at(task, "attempts"), 0);
	ck_assert(json_is_false(json_object_get(task, "running")));
	json_decref(task);
	ck_assert_int_eq(log_lines(s, ran_ping), 0);
	doc = get_json(s, tok, "/admin/queues");
	ck_assert_int_eq(int_at(json_object_get(queue_in(doc, "ping-queue"), "state"), "depth"), 1);
	ck_assert(json_is_integer(
	    json_object_get(json_object_get(queue_in(doc, "ping-queue"), "state"), "nextDue")));
	json_decref(doc);
	doc = call_json(s, tok, "POST", "/admin/queues/ping-queue/resume", NULL, 200);
	ck_assert(json_is_false(json_object_get(json_object_get(doc, "state"), "paused")));
	json_decref(doc);
	WAIT(s, tok, task_gone, &held);
	WAIT(s, tok, log_has, ran_ping);
}

/* ---- local mode: tasks ------------------------------------------------------- */

/* Walks /admin/queues/ping-queue/tasks?limit=limit; every task once. */
static json_t *walk_tasks(const struct cj_server *s, const char *tok, int limit, int *pages)
{
	json_t *all = json_array();
	char path[2048];

	snprintf(path, sizeof(path), "/admin/queues/ping-queue/tasks?limit=%d", limit);
	for (*pages = 1; *pages < 100; ++*pages) {
		json_t *doc = get_json(s, tok, path);
		const json_t *next = json_object_get(doc, "next");

		ck_assert_str_eq(keys(doc), "tasks,next");
		ck_assert_int_le((int)json_array_size(json_object_get(doc, "tasks")), limit);
		json_array_extend(all, json_object_get(doc, "tasks"));
		if (json_is_null(next)) {
			json_decref(doc);
			return all;
		}
		ck_assert(json_is_string(next));
		snprintf(path, sizeof(path), "/admin/queues/ping-queue/tasks?limit=%d&cursor=%s",
		         limit, json_string_value(next));
		json_decref(doc);
	}
	ck_abort_msg("the task list does not end");
	return NULL;
}

static void tasks_listed_run_and_deleted(const struct cj_server *s, const char *tok)
{
	/* Two share a schedule time (an --at); the id orders them. */
	static const char *const ids[] = {"t-c", "t-a", "t-b", "t-e", "t-d", "t-g", "t-f"};
	static const long delays[] = {7200, 3600, 3600, 600, 9000, 600, 5000};
	static const char *const order[] = {"t-e", "t-g", "t-a", "t-b", "t-f", "t-c", "t-d"};
	static const char *const ran[] = {"POST /jobs/ping answered: completed",
	                                  "\"taskName\":\"t-a\"", NULL};
	struct task_ref a = {"ping-queue", "t-a"};
	int64_t base = business_now(s, tok);
	char body[128];
	json_t *all, *t, *doc;
	int pages;

	doc = call_json(s, tok, "POST", "/admin/queues/ping-queue/pause", NULL, 200);
	json_decref(doc);
	for (size_t i = 0; i < 7; i++) {
		snprintf(body, sizeof(body), "{\"n\":%zu}", i);
		enqueue(s, tok, "ping", body, ids[i], base + delays[i]);
	}
	all = walk_tasks(s, tok, 3, &pages);
	ck_assert_int_eq(pages, 3);
	ck_assert_uint_eq(json_array_size(all), 7);
	for (size_t i = 0; i < 7; i++) {
		t = json_array_get(all, i);
		ck_assert_str_eq(json_string_value(json_object_get(t, "id")), order[i]);
		if (i)
			ck_assert_int_ge(int_at(t, "scheduleTime"),
			                 int_at(json_array_get(all, i - 1), "scheduleTime"));
	}
	t = json_array_get(all, 2); /* t-a: {"n":1} */
	ck_assert_str_eq(keys(t),
	                 "id,queue,type,createTime,scheduleTime,attempts,lastAttempt,"
	                 "running,payload");
	ck_assert_str_eq(json_string_value(json_object_get(t, "queue")), "ping-queue");
	ck_assert_str_eq(json_string_value(json_object_get(t, "type")), "ping");
	ck_assert_int_eq(int_at(t, "attempts"), 0);
	ck_assert(json_is_null(json_object_get(t, "lastAttempt")));
	ck_assert(json_is_false(json_object_get(t, "running")));
	ck_assert_int_eq(int_at(json_object_get(t, "payload"), "n"), 1);
	ck_assert_int_eq(int_at(t, "scheduleTime"), base + 3600);
	ck_assert_int_ge(int_at(t, "createTime"), base - 1);
	ck_assert_int_le(int_at(t, "createTime"), base + 60);
	json_decref(all);
	/* One page of all, and the default limit. */
	all = walk_tasks(s, tok, 500, &pages);
	ck_assert_int_eq(pages, 1);
	ck_assert_uint_eq(json_array_size(all), 7);
	json_decref(all);
	doc = get_json(s, tok, "/admin/queues/ping-queue/tasks");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "tasks")), 7);
	json_decref(doc);
	expect_error(s, tok, "GET", "/admin/queues/ping-queue/tasks?limit=0", NULL, 400,
	             "invalid_request", "limit");
	expect_error(s, tok, "GET", "/admin/queues/ping-queue/tasks?limit=501", NULL, 400,
	             "invalid_request", "limit");
	expect_error(s, tok, "GET", "/admin/queues/ping-queue/tasks?limit=x", NULL, 400,
	             "invalid_request", "limit");
	expect_error(s, tok, "GET", "/admin/queues/ping-queue/tasks?cursor=bm90LW91cnM", NULL, 400,
	             "invalid_request", "cursor");
	expect_error(s, tok, "GET", "/admin/queues/ping-queue/tasks?cursor=%21", NULL, 400,
	             "invalid_request", "cursor");

	/* Run one now, queue paused or not: answered as dispatched. */
	doc = call_json(s, tok, "POST", "/admin/queues/ping-queue/tasks/t-a/run", NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), "t-a");
	ck_assert_int_eq(int_at(doc, "attempts"), 1);
	ck_assert(json_is_object(json_object_get(doc, "lastAttempt")));
	json_decref(doc);
	WAIT(s, tok, task_gone, &a);
	WAIT(s, tok, log_has, ran);
	expect_error(s, tok, "POST", "/admin/queues/ping-queue/tasks/t-a/run", NULL, 404,
	             "not_found", "t-a");

	/* Delete one: gone from the list, a second delete is 404. */
	doc = call_json(s, tok, "DELETE", "/admin/queues/ping-queue/tasks/t-b", NULL, 200);
	ck_assert_str_eq(keys(doc), "id,deleted");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), "t-b");
	ck_assert(json_is_true(json_object_get(doc, "deleted")));
	json_decref(doc);
	t = find_task(s, tok, "ping-queue", "t-b");
	ck_assert_ptr_null(t);
	expect_error(s, tok, "DELETE", "/admin/queues/ping-queue/tasks/t-b", NULL, 404, "not_found",
	             NULL);
	expect_error(s, tok, "DELETE", "/admin/queues/ping-queue/tasks/no-such-task", NULL, 404,
	             "not_found", NULL);
	expect_error(s, tok, "DELETE", "/admin/queues/ping-queue/tasks/bad%20id", NULL, 404,
	             "not_found", NULL);
	expect_error(s, tok, "DELETE", "/admin/queues/other-queue/tasks/t-c", NULL, 404,
	             "not_found", NULL);
	/* Another queue's task is not this queue's. */
	expect_error(s, tok, "DELETE", "/admin/queues/calendar-sync-queue/tasks/t-c", NULL, 404,
	             "not_found", NULL);

	/* Purge: every task of the queue goes. */
	doc = call_json(s, tok, "POST", "/admin/queues/ping-queue/purge", NULL, 200);
	ck_assert_int_eq(int_at(json_object_get(doc, "state"), "depth"), 0);
	ck_assert(json_is_true(json_object_get(json_object_get(doc, "state"), "paused")));
	json_decref(doc);
	doc = get_json(s, tok, "/admin/queues/ping-queue/tasks");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "tasks")), 0);
	ck_assert(json_is_null(json_object_get(doc, "next")));
	json_decref(doc);
	doc = call_json(s, tok, "POST", "/admin/queues/ping-queue/resume", NULL, 200);
	json_decref(doc);
}

/* The task read by the last failed_once() that held (a reference), so the
 * checks look at the very answer that showed the failure. */
static json_t *failed_task;

static int failed_once(const struct cj_server *s, const char *tok, const void *arg)
{
	json_t *t = find_task(s, tok, "ping-queue", arg);
	const json_t *last = json_object_get(t, "lastAttempt");

	if (!t || !json_is_integer(json_object_get(last, "status"))) {
		json_decref(t);
		return 0;
	}
	json_decref(failed_task);
	failed_task = t;
	return 1;
}

/* A transient failure: the task waits for its retry and shows the answer. */
static void failed_attempt_is_shown(const struct cj_server *s, const char *tok)
{
	const json_t *last;
	json_t *t, *doc;

	enqueue(s, tok, "ping", "{\"fail\":\"transient\"}", "flaky-1", 0);
	WAIT(s, tok, failed_once, "flaky-1");
	t = failed_task;
	failed_task = NULL;
	last = json_object_get(t, "lastAttempt");
	ck_assert_str_eq(keys(last), "at,status,error");
	ck_assert_int_eq(int_at(last, "status"), 503);
	ck_assert_str_eq(json_string_value(json_object_get(last, "error")), "HTTP 503");
	ck_assert_int_ge(int_at(last, "at"), int_at(t, "createTime"));
	ck_assert_int_ge(int_at(t, "attempts"), 1);
	ck_assert(json_is_false(json_object_get(t, "running")));
	ck_assert_int_gt(int_at(t, "scheduleTime"), int_at(last, "at"));
	json_decref(t);
	doc = call_json(s, tok, "DELETE", "/admin/queues/ping-queue/tasks/flaky-1", NULL, 200);
	json_decref(doc);
}

/* ---- local mode: schedules and the clock ------------------------------------ */

static int fired_twice(const struct cj_server *s, const char *tok, const void *arg)
{
	static const char *const runs[] = {"scheduled run", "ping-hourly", "answered HTTP 200",
	                                   NULL};

	(void)tok;
	(void)arg;
	return log_lines(s, runs) >= 2;
}

/* The last run went out at or after *arg and was answered 200. */
static int ran_since(const struct cj_server *s, const char *tok, const void *arg)
{
	json_t *doc = get_json(s, tok, "/admin/schedules?count=1");
	const json_t *last =
	    json_object_get(json_array_get(json_object_get(doc, "schedules"), 0), "lastRun");
	int done = json_is_object(last) &&
	    json_integer_value(json_object_get(last, "status")) == 200 &&
	    json_integer_value(json_object_get(last, "at")) >= *(const int64_t *)arg;

	json_decref(doc);
	return done;
}

static void schedules_and_clock(const struct cj_server *s, const char *tok)
{
	/* (Log lines are JSON: the quotes around the name are escaped.) */
	static const char *const fired[] = {"scheduled run", "ping-hourly", "answered HTTP 200",
	                                    NULL};
	static const char *const by_operator[] = {"ping-hourly", "fired by an operator, for", NULL};
	json_t *doc, *sc, *want, *clk;
	int64_t now, at, offset;

	doc = get_json(s, tok, "/admin/schedules?count=3");
	ck_assert_str_eq(keys(doc), "schedules,clock");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "schedules")), 1);
	sc = json_array_get(json_object_get(doc, "schedules"), 0);
	ck_assert_str_eq(keys(sc), "name,jobType,cron,timeZone,payload,next,lastRun");
	ck_assert_str_eq(json_string_value(json_object_get(sc, "name")), "ping-hourly");
	ck_assert_str_eq(json_string_value(json_object_get(sc, "jobType")), "ping");
	ck_assert_str_eq(json_string_value(json_object_get(sc, "cron")), "0 * * * *");
	ck_assert_str_eq(json_string_value(json_object_get(sc, "timeZone")), "Europe/Paris");
	want = json_pack("{s:s}", "from", "schedule");
	ck_assert(json_equal(json_object_get(sc, "payload"), want));
	json_decref(want);
	ck_assert(json_is_null(json_object_get(sc, "lastRun")));
	clk = json_object_get(doc, "clock");
	ck_assert_str_eq(keys(clk), "now,offsetSeconds");
	now = int_at(clk, "now");
	offset = int_at(clk, "offsetSeconds");
	/* Three whole hours (Paris is a whole number of hours off UTC). */
	ck_assert_uint_eq(json_array_size(json_object_get(sc, "next")), 3);
	at = json_integer_value(json_array_get(json_object_get(sc, "next"), 0));
	ck_assert_int_gt(at, now);
	ck_assert_int_le(at, now + 3600);
	ck_assert_int_eq(at % 3600, 0);
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(sc, "next"), 1)),
	                 at + 3600);
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(sc, "next"), 2)),
	                 at + 7200);
	json_decref(doc);
	doc = get_json(s, tok, "/admin/schedules");
	ck_assert_uint_eq(json_array_size(json_object_get(
	                      json_array_get(json_object_get(doc, "schedules"), 0), "next")),
	                  5);
	json_decref(doc);
	doc = get_json(s, tok, "/admin/schedules?count=20");
	json_decref(doc);
	expect_error(s, tok, "GET", "/admin/schedules?count=0", NULL, 400, "invalid_request",
	             "count");
	expect_error(s, tok, "GET", "/admin/schedules?count=21", NULL, 400, "invalid_request",
	             "count");
	expect_error(s, tok, "GET", "/admin/schedules?count=two", NULL, 400, "invalid_request",
	             "count");

	/* Fire now: 202, then the run, then its last run. */
	doc = call_json(s, tok, "POST", "/admin/schedules/ping-hourly/fire", NULL, 202);
	ck_assert_str_eq(keys(doc), "schedule,scheduleTime");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "schedule")), "ping-hourly");
	at = int_at(doc, "scheduleTime");
	ck_assert_int_ge(at, now);
	json_decref(doc);
	WAIT(s, tok, log_has, fired);
	WAIT(s, tok, ran_since, &at);
	ck_assert_int_eq(log_lines(s, by_operator), 1);
	doc = get_json(s, tok, "/admin/schedules?count=1");
	sc = json_array_get(json_object_get(doc, "schedules"), 0);
	ck_assert_int_ge(int_at(json_object_get(sc, "lastRun"), "at"), at);
	ck_assert_str_eq(keys(json_object_get(sc, "lastRun")), "at,status");
	json_decref(doc);
	expect_error(s, tok, "POST", "/admin/schedules/no-such/fire", NULL, 404, "not_found",
	             "no-such");

	/* The clock: read, advanced by an hour (the hourly slot passes and
	 * fires), refused values. */
	doc = get_json(s, tok, "/admin/clock");
	ck_assert_str_eq(keys(doc), "now,offsetSeconds");
	ck_assert_int_eq(int_at(doc, "offsetSeconds"), offset);
	json_decref(doc);
	doc = call_json(s, tok, "POST", "/admin/clock/advance", "{\"seconds\":3600}", 200);
	ck_assert_int_eq(int_at(doc, "offsetSeconds"), offset + 3600);
	ck_assert_int_ge(int_at(doc, "now"), now + 3600);
	json_decref(doc);
	WAIT(s, tok, fired_twice, NULL);
	doc = get_json(s, tok, "/emulator/clock");
	ck_assert_int_eq(int_at(doc, "offsetSeconds"), offset + 3600);
	json_decref(doc);
	expect_error(s, tok, "POST", "/admin/clock/advance", "{\"seconds\":0}", 400,
	             "invalid_request", "seconds");
	expect_error(s, tok, "POST", "/admin/clock/advance", "{\"seconds\":1.5}", 400,
	             "invalid_request", "seconds");
	expect_error(s, tok, "POST", "/admin/clock/advance", "{\"seconds\":\"60\"}", 400,
	             "invalid_request", "seconds");
	expect_error(s, tok, "POST", "/admin/clock/advance", "{}", 400, "invalid_request",
	             "seconds");
	expect_error(s, tok, "POST", "/admin/clock/advance", "60", 400, "invalid_json", NULL);
	expect_error(s, tok, "GET", "/admin/clock/advance", NULL, 405, "method_not_allowed", NULL);
}

/* ---- local mode: dead letters by time, and the overview's counts ------------ */

static int has_dead_letter(const struct cj_server *s, const char *tok, const void *arg)
{
	json_t *doc = get_json(s, tok, "/admin/dead-letters?type=ping");
	int found = 0;

	for (size_t i = 0; i < json_array_size(json_object_get(doc, "deadLetters")); i++)
		found |= !strcmp(
		    json_string_value(json_object_get(
		        json_array_get(json_object_get(doc, "deadLetters"), i), "taskName")),
		    (const char *)arg);
	json_decref(doc);
	return found;
}

/* The size of /admin/dead-letters?QUERY's page. */
static size_t dead_letters_count(const struct cj_server *s, const char *tok, const char *query)
{
	char path[256];
	json_t *doc;
	size_t n;

	snprintf(path, sizeof(path), "/admin/dead-letters?%s", query);
	doc = get_json(s, tok, path);
	n = json_array_size(json_object_get(doc, "deadLetters"));
	json_decref(doc);
	return n;
}

static void dead_letters_by_time(const struct cj_server *s, const char *tok)
{
	char q[128];
	json_t *doc, *dl;
	const json_t *mine = NULL;
	int64_t at;

	enqueue(s, tok, "ping", "{\"fail\":\"permanent\"}", "doomed-1", 0);
	WAIT(s, tok, has_dead_letter, "doomed-1");
	doc = get_json(s, tok, "/admin/dead-letters?type=ping");
	for (size_t i = 0; i < json_array_size(json_object_get(doc, "deadLetters")); i++) {
		dl = json_array_get(json_object_get(doc, "deadLetters"), i);
		if (!strcmp(json_string_value(json_object_get(dl, "taskName")), "doomed-1"))
			mine = dl;
	}
	ck_assert_ptr_nonnull(mine);
	at = int_at(mine, "failedAt");
	json_decref(doc);
	/* since is inclusive, until exclusive. */
	snprintf(q, sizeof(q), "type=ping&since=%lld", (long long)at);
	ck_assert_uint_eq(dead_letters_count(s, tok, q), 1);
	snprintf(q, sizeof(q), "since=%lld", (long long)at + 1);
	ck_assert_uint_eq(dead_letters_count(s, tok, q), 0);
	snprintf(q, sizeof(q), "since=%lld&until=%lld", (long long)at, (long long)at);
	ck_assert_uint_eq(dead_letters_count(s, tok, q), 0);
	snprintf(q, sizeof(q), "since=%lld&until=%lld&limit=1", (long long)at - 10,
	         (long long)at + 1);
	ck_assert_uint_eq(dead_letters_count(s, tok, q), 1);
	snprintf(q, sizeof(q), "until=%lld", (long long)at);
	ck_assert_uint_eq(dead_letters_count(s, tok, q), 0);
	expect_error(s, tok, "GET", "/admin/dead-letters?since=yesterday", NULL, 400,
	             "invalid_request", "since");
	expect_error(s, tok, "GET", "/admin/dead-letters?until=1.5", NULL, 400, "invalid_request",
	             "until");
	expect_error(s, tok, "GET", "/admin/dead-letters?since=99999999999999999999", NULL, 400,
	             "invalid_request", "since");
}

/* What this instance did in the last hour, per type. */
static void overview_counts(const struct cj_server *s, const char *tok)
{
	json_t *doc = get_json(s, tok, "/admin/overview");
	const json_t *outs = json_object_get(doc, "outcomes"), *ping = NULL;
	const char *prev = "";

	for (size_t i = 0; i < json_array_size(outs); i++) {
		const json_t *o = json_array_get(outs, i);
		const char *type = json_string_value(json_object_get(o, "type"));

		ck_assert_str_eq(keys(o),
		                 "type,completed,duplicate,in_progress,retry,failed,rejected");
		ck_assert_msg(strcmp(prev, type) < 0, "%s before %s", prev, type);
		prev = type;
		if (!strcmp(type, "ping"))
			ping = o;
	}
	ck_assert_ptr_nonnull(ping);
	/* held-1, t-a, the fired schedule and the one the clock passed. */
	ck_assert_int_ge(int_at(ping, "completed"), 4);
	ck_assert_int_ge(int_at(ping, "retry"), 1);
	ck_assert_int_ge(int_at(ping, "failed"), 1);
	ck_assert_int_ge(int_at(doc, "deadLetters"), 1);
	json_decref(doc);
}

/* ---- sync health ------------------------------------------------------------- */

static void sync_health_over_http(const struct cj_server *s, const char *tok,
                                  const char *database_url)
{
	static const char *const sql[] = {
	    "INSERT INTO users (id, email, created_at, updated_at) VALUES "
	    "('sh-1', 'one@example.com', 1, 1), ('sh-2', 'two@example.com', 1, 1), "
	    "('sh-3', 'three@example.com', 1, 1)",
	    "INSERT INTO google_accounts (user_id, status, last_error, created_at, updated_at) "
	    "VALUES ('sh-2', 'active', NULL, 1, 1), ('sh-3', 'revoked', 'invalid_grant', 1, 1)",
	    "INSERT INTO sync_state (user_id, kind, last_sync_at, interval_seconds, next_sync_at, "
	    "updated_at) VALUES ('sh-2', 'contacts', 1, 86400, 99999999999, 1)",
	};
	struct store *st;
	char err[256], path[512];
	json_t *doc, *u;
	const char *next;

	ck_assert_int_eq(store_open(database_url, &st, err, sizeof(err)), CJ_OK);
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		ck_assert_msg(store_exec(st, sql[i], NULL, 0, NULL, err, sizeof(err)) == CJ_OK,
		              "%s", err);
	store_close(st);
	doc = get_json(s, tok, "/admin/sync-health");
	ck_assert_str_eq(keys(doc), "users,next");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "users")), 3);
	ck_assert(json_is_null(json_object_get(doc, "next")));
	u = json_array_get(json_object_get(doc, "users"), 0);
	ck_assert_str_eq(keys(u), "id,email,google,sync,channels,problems");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(u, "problems"), 0)),
	                 "no_token");
	u = json_array_get(json_object_get(doc, "users"), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(u, "problems")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(u, "sync")), 1);
	json_decref(doc);
	doc = get_json(s, tok, "/admin/sync-health?filter=problems&limit=500");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "users")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(doc, "users"), 1), "id")),
	                 "sh-3");
	json_decref(doc);
	/* One a page: three pages, every user once. */
	doc = get_json(s, tok, "/admin/sync-health?limit=1&filter=all");
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(doc, "users"), 0), "id")),
	                 "sh-1");
	next = json_string_value(json_object_get(doc, "next"));
	ck_assert_ptr_nonnull(next);
	snprintf(path, sizeof(path), "/admin/sync-health?limit=2&cursor=%s", next);
	json_decref(doc);
	doc = get_json(s, tok, path);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "users")), 2);
	ck_assert(json_is_null(json_object_get(doc, "next")));
	json_decref(doc);
	expect_error(s, tok, "GET", "/admin/sync-health?filter=broken", NULL, 400,
	             "invalid_request", "filter");
	expect_error(s, tok, "GET", "/admin/sync-health?limit=0", NULL, 400, "invalid_request",
	             "limit");
	expect_error(s, tok, "GET", "/admin/sync-health?cursor=bm9wZQ", NULL, 400,
	             "invalid_request", "cursor");
}

static void exercise_local(const char *database_url)
{
	struct cj_server s;
	char *tok, *other;

	ck_assert_int_eq(cj_server_start(&s, local_env(database_url, NULL)), 0);
	tok = local_token(&s, database_url, ADMIN_EMAIL);
	other = local_token(&s, database_url, OTHER_EMAIL);
	expect_error(&s, NULL, "GET", "/admin/overview", NULL, 401, "unauthenticated", NULL);
	expect_error(&s, other, "GET", "/admin/queues", NULL, 403, "forbidden", NULL);
	check_overview(&s, tok);
	check_queues(&s, tok);
	pause_and_resume(&s, tok);
	tasks_listed_run_and_deleted(&s, tok);
	failed_attempt_is_shown(&s, tok);
	schedules_and_clock(&s, tok);
	dead_letters_by_time(&s, tok);
	overview_counts(&s, tok);
	sync_health_over_http(&s, tok, database_url);
	free(other);
	free(tok);
	ck_assert_int_eq(cj_server_stop(&s), 0);
}

START_TEST(local_sqlite)
{
	char url[1200];

	snprintf(url, sizeof(url), "sqlite:%s/data/catchup.db", dir);
	exercise_local(url);
}
END_TEST

START_TEST(local_postgresql)
{
	char *url = pgtest_new_database();

	ck_assert_ptr_nonnull(url);
	exercise_local(url);
	free(url);
}
END_TEST

/* ---- cloud mode -------------------------------------------------------------- */

#define KEY_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

/* Every route this work added: method, path. */
static const char *const new_routes[][2] = {
    {"GET", "/admin/overview"},
    {"GET", "/admin/queues"},
    {"POST", "/admin/queues/ping-queue/pause"},
    {"POST", "/admin/queues/ping-queue/resume"},
    {"POST", "/admin/queues/ping-queue/purge"},
    {"GET", "/admin/queues/ping-queue/tasks"},
    {"POST", "/admin/queues/ping-queue/tasks/t1/run"},
    {"DELETE", "/admin/queues/ping-queue/tasks/t1"},
    {"GET", "/admin/schedules"},
    {"POST", "/admin/schedules/ping-hourly/fire"},
    {"GET", "/admin/clock"},
    {"POST", "/admin/clock/advance"},
    {"GET", "/admin/sync-health"},
    {"GET", "/admin/dead-letters?since=1&until=2"},
};

/* The local-only ones among them. */
static int local_only(const char *path)
{
	return strstr(path, "/pause") || strstr(path, "/resume") || strstr(path, "/purge") ||
	    strstr(path, "/tasks") || strstr(path, "/fire") || strstr(path, "/clock");
}

/* Cloud mode, nothing reachable outside loopback; W.dir/console-config has
 * the ping schedule. extra (may be NULL) appended. Static. */
static char **cloud_env(const char *const *extra)
{
	static char cfg[1200];
	static const char *env[32];
	int n = 0;

	snprintf(cfg, sizeof(cfg), "CONFIG_DIR=%s/console-config", W.dir);
	env[n++] = "USE_CLOUD_TASKS=true";
	env[n++] = "GCP_PROJECT_ID=console-test";
	env[n++] = "GCP_REGION=europe-west1";
	env[n++] = "TOKEN_ENCRYPTION_KEY=" KEY_B64;
	env[n++] = "CLOUD_TASKS_API_URL=http://127.0.0.1:1";
	env[n++] = "GCE_METADATA_HOST=127.0.0.1:1";
	env[n++] = cfg;
	for (int i = 0; extra && extra[i] && n < 30; i++)
		env[n++] = extra[i];
	env[n] = NULL;
	return (char **)env;
}

START_TEST(cloud_authentication_and_console_client)
{
	const char *with_client[] = {"CONSOLE_OAUTH_CLIENT_ID=" CONSOLE_CLIENT, NULL};
	char *admin = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	char *pusher = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_TASKS_EMAIL);
	char *console = itest_token_for(&W, 1, CONSOLE_CLIENT, ITEST_ENQUEUE_EMAIL);
	char *console_other = itest_token_for(&W, 0, CONSOLE_CLIENT, OTHER_EMAIL);
	char *console_pusher = itest_token_for(&W, 0, CONSOLE_CLIENT, ITEST_TASKS_EMAIL);
	char *wrong_client =
	    itest_token_for(&W, 0, "999-other.apps.googleusercontent.com", ITEST_ENQUEUE_EMAIL);
	struct cj_server s;
	struct httpc_resp r;
	json_t *doc;

	itest_server(&W, &s, (const char *const *)cloud_env(with_client));
	for (size_t i = 0; i < sizeof(new_routes) / sizeof(new_routes[0]); i++) {
		const char *m = new_routes[i][0], *p = new_routes[i][1];

		expect_error(&s, NULL, m, p, NULL, 401, "unauthenticated", NULL);
		expect_error(&s, pusher, m, p, NULL, 403, "forbidden", NULL);
		expect_error(&s, console_other, m, p, NULL, 403, "forbidden", NULL);
		expect_error(&s, wrong_client, m, p, NULL, 403, "forbidden", "wrong_audience");
		/* Cloud mode has no embedded Cloud Tasks, scheduler or clock. */
		if (local_only(p)) {
			expect_error(&s, admin, m, p, strcmp(m, "POST") ? NULL : "{\"seconds\":1}",
			             404, "not_found", "local mode only");
			expect_error(&s, console, m, p, NULL, 404, "not_found", "local mode only");
		}
	}
	/* The console's token: /admin, old and new routes alike ... */
	doc = get_json(&s, console, "/admin/overview");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "mode")), "cloud");
	ck_assert(json_is_object(json_object_get(doc, "ready")));
	json_decref(doc);
	doc = get_json(&s, console, "/admin/dead-letters");
	json_decref(doc);
	doc = get_json(&s, console, "/admin/users");
	json_decref(doc);
	/* ... but neither /enqueue nor /jobs, whatever its e-mail. */
	expect_error(&s, console, "POST", "/enqueue/ping", "{\"payload\":{}}", 403, "forbidden",
	             "wrong_audience");
	ck_assert_int_eq(cj_push(&s, "ping", console_pusher, "ping-queue", "c1", 0, "{}", &r), 0);
	ck_assert_int_eq(r.status, 403);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "forbidden");
	httpc_resp_free(&r);
	/* Queues without a state; schedules with next times and no clock. */
	doc = get_json(&s, admin, "/admin/queues");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "queues")), 12);
	for (size_t i = 0; i < 12; i++)
		ck_assert(json_is_null(
		    json_object_get(json_array_get(json_object_get(doc, "queues"), i), "state")));
	json_decref(doc);
	doc = get_json(&s, console, "/admin/schedules?count=2");
	ck_assert(json_is_null(json_object_get(doc, "clock")));
	ck_assert(json_is_null(
	    json_object_get(json_array_get(json_object_get(doc, "schedules"), 0), "lastRun")));
	ck_assert_uint_eq(json_array_size(json_object_get(
	                      json_array_get(json_object_get(doc, "schedules"), 0), "next")),
	                  2);
	json_decref(doc);
	expect_error(&s, admin, "GET", "/admin/schedules?count=21", NULL, 400, "invalid_request",
	             "count");
	ck_assert_int_eq(cj_server_stop(&s), 0);

	/* Without CONSOLE_OAUTH_CLIENT_ID the console's token is no good. */
	itest_server(&W, &s, (const char *const *)cloud_env(NULL));
	expect_error(&s, console, "GET", "/admin/overview", NULL, 403, "forbidden",
	             "wrong_audience");
	doc = get_json(&s, admin, "/admin/overview");
	json_decref(doc);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(admin);
	free(pusher);
	free(console);
	free(console_other);
	free(console_pusher);
	free(wrong_client);
}
END_TEST

/* W.dir/console-config: the repository's queues.json and the ping schedule. */
static int write_cloud_config(void)
{
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
	char path[1200];
	json_t *q, *sched;
	int rc;

	snprintf(path, sizeof(path), "%s/console-config", W.dir);
	if (mkdir(path, 0700))
		return -1;
	snprintf(path, sizeof(path), "%s/config/queues.json", root);
	q = json_load_file(path, 0, NULL);
	snprintf(path, sizeof(path), "%s/console-config/queues.json", W.dir);
	rc = q ? json_dump_file(q, path, 0) : -1;
	json_decref(q);
	sched = json_pack("{s:[{s:s, s:s, s:s, s:s, s:{}, s:s}]}", "schedules", "name",
	                  "ping-hourly", "schedule", "0 * * * *", "timeZone", "Etc/UTC", "jobType",
	                  "ping", "payload", "attemptDeadline", "60s");
	snprintf(path, sizeof(path), "%s/console-config/schedules.json", W.dir);
	if (!rc)
		rc = sched ? json_dump_file(sched, path, 0) : -1;
	json_decref(sched);
	return rc;
}

int main(void)
{
	Suite *s = suite_create("admin-console");
	TCase *local = tcase_create("local");
	TCase *cloud = tcase_create("cloud");
	int failed;

	itest_setup(&W);
	if (pgtest_start() || write_cloud_config()) {
		fprintf(stderr, "cannot start PostgreSQL or write the configuration\n");
		return 1;
	}
	tcase_set_timeout(cloud, 300);
	tcase_add_test(cloud, cloud_authentication_and_console_client);
	suite_add_tcase(s, cloud);
	tcase_add_checked_fixture(local, local_setup, local_teardown);
	tcase_set_timeout(local, 400);
	tcase_add_test(local, local_sqlite);
	tcase_add_test(local, local_postgresql);
	suite_add_tcase(s, local);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	itest_teardown(&W);
	return failed ? 1 : 0;
}
