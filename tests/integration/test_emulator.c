/*
 * test_emulator.c - local mode's embedded Cloud Tasks end to end (SPEC
 * §5.4): the real binary without USE_CLOUD_TASKS, SQLite in a temporary
 * directory, its own signing key for the pushes' tokens, and an in-process
 * HTTP sink (tests/support/sink_server.h) as a target where a test needs to
 * see or time the pushes.
 *
 * Covered: every REST shape and error (locations, queues, tasks; unknown
 * project, location, queue, path and method; bad ids, JSON, depth, times,
 * deadlines, sizes; names reserved while a task lives and for an hour after,
 * forgotten by :purge); 2 MiB requests on /v2 while MAX_BODY_BYTES is
 * smaller; pushes with Cloud Tasks' headers and token, :run, :pause and
 * :resume; /enqueue and `catchup-jobs enqueue` landing in the emulator and
 * the ping job completing; retries at 0, 10, 30, 70, 110 s of the business
 * clock then a dead letter; a dispatch deadline as a failed attempt; rate
 * limits; and a kill -9 with tasks pending and in flight losing nothing and
 * running nothing twice. /v2 is 404 in cloud mode.
 *
 * Each test runs in its own temporary directory (the server's ./data and
 * config) with its own server; UPSTASH_* is given to some (Redis holds the
 * idempotency keys) and not to others (the local store).
 */
#include <arpa/inet.h>
#include <check.h>
#include <ifaddrs.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "ckrun.h"
#include "itest.h"
#include "queues.h"
#include "sink_server.h"
#include "timeutil.h"

#define TASKS_EMAIL "local-tasks@catchup-jobs.local" /* SERVICE_ACCOUNT_EMAIL's default */
#define PARENT "projects/local/locations/local"
#define PING_QUEUE PARENT "/queues/ping-queue"

static struct itest W;
static char *dir; /* this test's working directory */

struct emu {
	struct cj_server s;
	char v2[128]; /* http://127.0.0.1:PORT/v2/projects/local/locations/local */
	int live; /* started and not stopped: teardown stops it */
};

/* The servers of the running test (static: a failed assertion leaves the
 * test's frame, and teardown still finds them). */
static struct emu EMUS[3];
static int NEMUS;

/* ---- setup ---- */

/* A queue entry of queues.json. */
static json_t *queue_entry(int attempts, const char *min, const char *max, int doublings, int rate,
                           int conc, const char *deadline)
{
	return json_pack("{s:{s:i, s:s, s:s, s:i, s:s}, s:{s:i, s:i}, s:s}", "retryConfig",
	                 "maxAttempts", attempts, "minBackoff", min, "maxBackoff", max,
	                 "maxDoublings", doublings, "maxRetryDuration", "0s", "rateLimits",
	                 "maxDispatchesPerSecond", rate, "maxConcurrentDispatches", conc,
	                 "dispatchDeadline", deadline);
}

/* dir/config: the repository's queues with ping-queue replaced by ping
 * (stolen; NULL keeps it), and no schedules. */
static void write_config(json_t *ping)
{
	char path[1200], src[1200];
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
	json_t *q;
	FILE *f;

	snprintf(src, sizeof(src), "%s/config/queues.json", root);
	q = json_load_file(src, 0, NULL);
	ck_assert_ptr_nonnull(q);
	if (ping)
		json_object_set_new(q, "ping-queue", ping);
	snprintf(path, sizeof(path), "%s/config", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/config/queues.json", dir);
	ck_assert_int_eq(json_dump_file(q, path, 0), 0);
	json_decref(q);
	snprintf(path, sizeof(path), "%s/config/schedules.json", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"schedules\": []}\n", f);
	fclose(f);
}

static void setup(void)
{
	dir = make_temp_dir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
	write_config(NULL);
	memset(EMUS, 0, sizeof(EMUS));
	NEMUS = 0;
}

static void teardown(void)
{
	for (int i = 0; i < NEMUS; i++)
		if (EMUS[i].live)
			proc_stop(&EMUS[i].s.proc);
	NEMUS = 0;
	if (chdir("/") == 0)
		remove_tree(dir);
	free(dir);
}

/* The local-mode environment: SQLite and config in dir, the test JWKS for
 * producers' tokens, the local key for the pushes'. extra may be NULL. */
static char **local_env(const char *const *extra, int with_redis)
{
	static char db[1200], config[1200], jwks[512], redis_url[128], redis_token[128];
	static char *env[40];
	int n = 0;

	snprintf(db, sizeof(db), "DATABASE_URL=sqlite:%s/data/catchup.db", dir);
	snprintf(config, sizeof(config), "CONFIG_DIR=%s/config", dir);
	snprintf(jwks, sizeof(jwks), "OIDC_JWKS_URL=%s", jwks_server_url(W.jwks));
	env[n++] = db;
	env[n++] = config;
	env[n++] = jwks;
	env[n++] = "ENQUEUE_ALLOWED_EMAILS=" ITEST_ENQUEUE_EMAIL;
	env[n++] = "LOG_LEVEL=info";
	if (with_redis) {
		snprintf(redis_url, sizeof(redis_url), "UPSTASH_REDIS_REST_URL=%s", W.redis.url);
		snprintf(redis_token, sizeof(redis_token), "UPSTASH_REDIS_REST_TOKEN=%s",
		         W.redis.token);
		env[n++] = redis_url;
		env[n++] = redis_token;
	}
	for (int i = 0; extra && extra[i] && n < 38; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;
	return env;
}

/* e->v2 = the server's base URL + path. */
static void set_v2(struct emu *e, const char *path)
{
	char base[sizeof(e->s.base)];

	memcpy(base, e->s.base, sizeof(base));
	snprintf(e->v2, sizeof(e->v2), "%s%s", base, path);
}

static struct emu *start_env(char **env)
{
	struct emu *e;

	ck_assert_int_lt(NEMUS, (int)(sizeof(EMUS) / sizeof(EMUS[0])));
	e = &EMUS[NEMUS++];
	ck_assert_int_eq(cj_server_start(&e->s, env), 0);
	e->live = 1;
	set_v2(e, "/v2/" PARENT);
	return e;
}

static struct emu *start(const char *const *extra, int with_redis)
{
	return start_env(local_env(extra, with_redis));
}

static void stop(struct emu *e)
{
	e->live = 0;
	ck_assert_int_eq(cj_server_stop(&e->s), 0);
}

/* ---- calls ---- */

/* method e->v2 + path with body (may be NULL); the status. */
static long v2(struct emu *e, const char *method, const char *path, const char *body,
               struct httpc_resp *r)
{
	const char *h[] = {"Content-Type: application/json", "Authorization: Bearer anything",
	                   NULL};
	char url[2048];

	snprintf(url, sizeof(url), "%s%s", e->v2, path);
	ck_assert_int_eq(httpc_request(method, url, h, body, body ? strlen(body) : 0, 30000, r), 0);
	return r->status;
}

/* Google's error status name of an answer, or "". */
static const char *gstatus(const struct httpc_resp *r)
{
	json_t *e = json_object_get(r->json, "error");
	const char *s = json_string_value(json_object_get(e, "status"));

	/* Every error has Google's shape: code (the HTTP status), message. */
	if (e) {
		ck_assert_int_eq(json_integer_value(json_object_get(e, "code")), r->status);
		ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "message")));
	}
	return s ? s : "";
}

/* Expects method path body to fail with status and Google's status name. */
static void expect_error(struct emu *e, const char *method, const char *path, const char *body,
                         long status, const char *name)
{
	struct httpc_resp r;

	ck_assert_msg(v2(e, method, path, body, &r) == status, "%s %s: %ld %s", method, path,
	              r.status, r.body ? r.body : "");
	ck_assert_msg(!strcmp(gstatus(&r), name), "%s %s: %s", method, path, r.body);
	httpc_resp_free(&r);
}

/* A CreateTaskRequest of ping-queue: {"task": {"name": …/tasks/ID (unless
 * id is NULL), "httpRequest": {"url": url, …http}, …task}, …req}, where
 * task, http and req are JSON objects as text (or NULL). malloc'd. */
static char *make_create(const char *id, const char *url, const char *task, const char *http,
                         const char *req)
{
	json_t *t = task ? json_loads(task, 0, NULL) : json_object();
	json_t *h = http ? json_loads(http, 0, NULL) : json_object();
	json_t *q = req ? json_loads(req, 0, NULL) : json_object();
	char name[700], *out;

	ck_assert(t && h && q);
	json_object_set_new(h, "url", json_string(url));
	json_object_set_new(t, "httpRequest", h);
	if (id) {
		snprintf(name, sizeof(name), PING_QUEUE "/tasks/%s", id);
		json_object_set_new(t, "name", json_string(name));
	}
	json_object_set_new(q, "task", t);
	out = json_dumps(q, JSON_COMPACT);
	json_decref(q);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* {"scheduleTime": t} as text, in static storage. */
static const char *at(double t, int frac)
{
	static char buf[128];
	char when[64];

	time_format_rfc3339(t, frac, when, sizeof(when));
	snprintf(buf, sizeof(buf), "{\"scheduleTime\":\"%s\"}", when);
	return buf;
}

/* Creates task id with the given body; the status. */
static long create(struct emu *e, const char *body, struct httpc_resp *r)
{
	return v2(e, "POST", "/queues/ping-queue/tasks", body, r);
}

/* GET the task (a new reference), or NULL on 404. */
static json_t *task_get(struct emu *e, const char *id)
{
	struct httpc_resp r;
	char path[600];
	json_t *t = NULL;

	snprintf(path, sizeof(path), "/queues/ping-queue/tasks/%s", id);
	v2(e, "GET", path, NULL, &r);
	if (r.status == 200)
		t = json_incref(r.json);
	else
		ck_assert_int_eq(r.status, 404);
	httpc_resp_free(&r);
	return t;
}

static int dispatch_count(const json_t *t)
{
	return (int)json_integer_value(json_object_get(t, "dispatchCount"));
}

/* Waits until the task's dispatchCount reaches n (or it is gone). The task
 * then, or NULL when gone. */
static json_t *wait_dispatched(struct emu *e, const char *id, int n, int timeout_ms)
{
	int64_t t0 = time_mono_ms();
	json_t *t;

	for (;;) {
		t = task_get(e, id);
		if (!t ||
		    (dispatch_count(t) >= n && json_object_get(t, "lastAttempt") &&
		     json_object_get(json_object_get(t, "lastAttempt"), "responseStatus")))
			return t;
		ck_assert_msg(time_mono_ms() - t0 < timeout_ms, "task %s: still %d dispatches", id,
		              dispatch_count(t));
		json_decref(t);
		msleep(20);
	}
}

static void wait_gone(struct emu *e, const char *id, int timeout_ms)
{
	int64_t t0 = time_mono_ms();
	json_t *t;

	while ((t = task_get(e, id))) {
		json_decref(t);
		ck_assert_msg(time_mono_ms() - t0 < timeout_ms, "task %s still there", id);
		msleep(20);
	}
}

static void advance(struct emu *e, long seconds)
{
	char url[256], body[64];
	const char *h[] = {"Content-Type: application/json", NULL};
	struct httpc_resp r;

	snprintf(url, sizeof(url), "%s/emulator/clock:advance", e->s.base);
	snprintf(body, sizeof(body), "{\"seconds\":%ld}", seconds);
	ck_assert_int_eq(httpc_post(url, h, body, &r), 0);
	ck_assert_int_eq(r.status, 200);
	httpc_resp_free(&r);
}

/* POST /enqueue/TYPE as the producer identity. */
static long enqueue(struct emu *e, const char *type, const char *body, struct httpc_resp *r)
{
	char url[256], auth[4200];
	char *tok = itest_token_for(&W, 0, e->s.base, ITEST_ENQUEUE_EMAIL);
	const char *h[] = {auth, "Content-Type: application/json", NULL};

	snprintf(url, sizeof(url), "%s/enqueue/%s", e->s.base, type);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(httpc_post(url, h, body, r), 0);
	free(tok);
	return r->status;
}

static double rfc3339(const json_t *v)
{
	double t = 0;

	ck_assert_msg(json_is_string(v), "not a time");
	ck_assert_int_eq(time_parse_rfc3339(json_string_value(v), &t), CJ_OK);
	return t;
}

/* The claims of a JWT (a new reference). */
static json_t *jwt_part(const char *jwt, int part)
{
	const char *a = jwt, *b;
	unsigned char *raw = NULL;
	size_t n = 0;
	json_t *j;

	for (int i = 0; i < part; i++)
		a = strchr(a, '.') + 1;
	b = strchr(a, '.');
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b64url_decode(a, (size_t)(b - a), &raw, &n), CJ_OK);
	j = json_loadb((const char *)raw, n, 0, NULL);
	free(raw);
	ck_assert_ptr_nonnull(j);
	return j;
}

static const char *hdr(const json_t *req, const char *name)
{
	return json_string_value(json_object_get(json_object_get(req, "headers"), name));
}

/* How many dead letters name task id (NULL: all), as the producer
 * identity. */
static int dead_letters_of(struct emu *e, const char *id, int *attempts)
{
	char url[256], auth[4200];
	char *tok = itest_token_for(&W, 0, e->s.base, ITEST_ENQUEUE_EMAIL);
	const char *h[] = {auth, NULL};
	struct httpc_resp r;
	json_t *item;
	size_t i;
	int found = 0;

	snprintf(url, sizeof(url), "%s/admin/dead-letters?limit=500", e->s.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(httpc_get(url, h, &r), 0);
	ck_assert_int_eq(r.status, 200);
	json_array_foreach(json_object_get(r.json, "deadLetters"), i, item)
	{
		const char *t = json_string_value(json_object_get(item, "taskName"));

		if (!id || (t && !strcmp(t, id))) {
			found++;
			if (attempts)
				*attempts =
				    (int)json_integer_value(json_object_get(item, "attempts"));
		}
	}
	httpc_resp_free(&r);
	free(tok);
	return found;
}

/* ---- tests ---- */

START_TEST(locations_and_queues)
{
	struct emu *e;
	struct httpc_resp r;
	json_t *q;

	e = start(NULL, 0);
	set_v2(e, "/v2/projects/local");
	ck_assert_int_eq(v2(e, "GET", "/locations?alt=json", NULL, &r), 200);
	q = json_array_get(json_object_get(r.json, "locations"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(q, "name")), PARENT);
	ck_assert_str_eq(json_string_value(json_object_get(q, "locationId")), "local");
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "locations")), 1);
	httpc_resp_free(&r);
	set_v2(e, "/v2/" PARENT);
	ck_assert_int_eq(v2(e, "GET", "", NULL, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "name"), PARENT);
	httpc_resp_free(&r);

	ck_assert_int_eq(v2(e, "GET", "/queues", NULL, &r), 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "queues")), 12);
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "GET", "/queues/ping-queue", NULL, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "name"), PING_QUEUE);
	ck_assert_str_eq(httpc_json_str(&r, "state"), "RUNNING");
	q = json_object_get(r.json, "retryConfig");
	ck_assert_int_eq(json_integer_value(json_object_get(q, "maxAttempts")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(q, "minBackoff")), "10s");
	ck_assert_str_eq(json_string_value(json_object_get(q, "maxRetryDuration")), "0s");
	q = json_object_get(r.json, "rateLimits");
	ck_assert(json_number_value(json_object_get(q, "maxDispatchesPerSecond")) == 10);
	ck_assert_int_eq(json_integer_value(json_object_get(q, "maxConcurrentDispatches")), 10);
	ck_assert_ptr_null(json_object_get(r.json, "purgeTime"));
	httpc_resp_free(&r);

	/* Verbs answer the Queue; enums as numbers when asked. */
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:pause", "{}", &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "state"), "PAUSED");
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "GET", "/queues/ping-queue?$alt=json;enum-encoding=int", NULL, &r),
	                 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "state")), 2);
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:resume", NULL, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "state"), "RUNNING");
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:purge", "{}", &r), 200);
	ck_assert(fabs(rfc3339(json_object_get(r.json, "purgeTime")) - time_wall()) < 5);
	httpc_resp_free(&r);

	/* Errors, all in Google's shape. */
	set_v2(e, "/v2");
	expect_error(e, "GET", "/projects/other/locations", NULL, 404, "NOT_FOUND");
	expect_error(e, "GET", "/projects/local/locations/elsewhere/queues", NULL, 404,
	             "NOT_FOUND");
	expect_error(e, "GET", "/projects/local/locations/local/queues/nope", NULL, 404,
	             "NOT_FOUND");
	expect_error(e, "GET", "/projects/local/locations/local/queues/bad_id", NULL, 400,
	             "INVALID_ARGUMENT");
	expect_error(e, "GET", "/whatever", NULL, 404, "NOT_FOUND");
	expect_error(e, "GET", "/projects/local/locations/local/queues/ping-queue/things", NULL,
	             404, "NOT_FOUND");
	expect_error(e, "PUT", "/projects/local/locations/local/queues/ping-queue", "{}", 404,
	             "NOT_FOUND");
	expect_error(e, "PATCH", "/projects/local/locations/local/queues/ping-queue/tasks", "{}",
	             404, "NOT_FOUND");
	expect_error(e, "POST", "/projects/local/locations/local/queues/ping-queue:frobnicate",
	             "{}", 404, "NOT_FOUND");
	expect_error(e, "POST", "/projects/local/locations/local/queues/ping-queue:pause", "{", 400,
	             "INVALID_ARGUMENT");
	stop(e);
}
END_TEST

/* A create nesting depth levels deep: its request object is level 1 and
 * an ignored member "x" holds depth - 1 nested arrays. */
static char *nested_create(int depth)
{
	char id[32], *req = malloc((size_t)depth * 2 + 16), *p = req, *out;

	p += snprintf(p, 8, "{\"x\":");
	for (int i = 0; i < depth - 1; i++)
		*p++ = '[';
	for (int i = 0; i < depth - 1; i++)
		*p++ = ']';
	*p++ = '}';
	*p = '\0';
	snprintf(id, sizeof(id), "deep-%d", depth);
	/* make_create() parses req: jansson takes 65 levels, the server 64. */
	out = make_create(id, "http://127.0.0.1:1/x", at(time_wall() + 86400, 0), NULL, req);
	free(req);
	return out;
}

START_TEST(task_shapes_and_errors)
{
	const char *extra[] = {"MAX_BODY_BYTES=65536", NULL};
	char *body, path[256];
	struct emu *e;
	struct httpc_resp r;
	json_t *t, *h;
	double later;

	e = start(extra, 0);
	/* Due in a day: nothing is pushed during this test. */
	later = floor(time_wall()) + 86400;
	body = make_create("crud-1", "http://127.0.0.1:1/x", at(later, 0),
	                   "{\"httpMethod\":1,\"headers\":{\"X-Custom\":\"yes\"},\"body\":"
	                   "\"aGVsbG8=\",\"oidcToken\":{\"serviceAccountEmail\":\"" TASKS_EMAIL
	                   "\",\"audience\":\"aud\"}}",
	                   "{\"responseView\":\"BASIC\"}");
	ck_assert_int_eq(create(e, body, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "name"), PING_QUEUE "/tasks/crud-1");
	h = json_object_get(r.json, "httpRequest");
	ck_assert_str_eq(json_string_value(json_object_get(h, "url")), "http://127.0.0.1:1/x");
	ck_assert_str_eq(json_string_value(json_object_get(h, "httpMethod")), "POST");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(h, "headers"), "X-Custom")), "yes");
	ck_assert_ptr_null(json_object_get(h, "body")); /* BASIC view */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(h, "oidcToken"),
	                                                   "serviceAccountEmail")),
	                 TASKS_EMAIL);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(h, "oidcToken"), "audience")), "aud");
	ck_assert(rfc3339(json_object_get(r.json, "scheduleTime")) == later);
	ck_assert(fabs(rfc3339(json_object_get(r.json, "createTime")) - time_wall()) < 5);
	ck_assert_str_eq(httpc_json_str(&r, "dispatchDeadline"), "600s");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "dispatchCount")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "responseCount")), 0);
	ck_assert_ptr_null(json_object_get(r.json, "firstAttempt"));
	ck_assert_ptr_null(json_object_get(r.json, "lastAttempt"));
	ck_assert_str_eq(httpc_json_str(&r, "view"), "BASIC");
	httpc_resp_free(&r);
	/* The same name again: 409 while it exists. */
	ck_assert_int_eq(create(e, body, &r), 409);
	ck_assert_str_eq(gstatus(&r), "ALREADY_EXISTS");
	httpc_resp_free(&r);
	free(body);

	/* Numbers for enums, a time with a fraction, a deadline; the FULL view;
	 * numbers back with enum-encoding=int; unknown members ignored. */
	{
		char task[256], when[64];

		time_format_rfc3339(later + 0.25, 6, when, sizeof(when));
		snprintf(task, sizeof(task),
		         "{\"scheduleTime\":\"%s\",\"dispatchDeadline\":\"15s\",\"x\":{}}", when);
		body = make_create("crud-2", "http://127.0.0.1:1/y", task,
		                   "{\"httpMethod\":4,\"body\":\"aGk=\"}", "{\"responseView\":2}");
	}
	v2(e, "POST", "/queues/ping-queue/tasks?$alt=json;enum-encoding=int", body, &r);
	ck_assert_msg(r.status == 200, "%s", r.body);
	h = json_object_get(r.json, "httpRequest");
	ck_assert_int_eq(json_integer_value(json_object_get(h, "httpMethod")), 4);
	ck_assert_str_eq(json_string_value(json_object_get(h, "body")), "aGk=");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "view")), 2);
	ck_assert_str_eq(httpc_json_str(&r, "dispatchDeadline"), "15s");
	ck_assert(fabs(rfc3339(json_object_get(r.json, "scheduleTime")) - (later + 0.25)) < 1e-3);
	httpc_resp_free(&r);
	free(body);

	/* An unnamed task gets an id of its own. */
	body = make_create(NULL, "http://127.0.0.1:1/z", at(later, 0), NULL, NULL);
	ck_assert_int_eq(create(e, body, &r), 200);
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "name"), PING_QUEUE "/tasks/"));
	ck_assert_uint_gt(strlen(httpc_json_str(&r, "name")), strlen(PING_QUEUE "/tasks/"));
	httpc_resp_free(&r);
	free(body);

	/* get, FULL view, list by pages. */
	ck_assert_int_eq(
	    v2(e, "GET", "/queues/ping-queue/tasks/crud-1?responseView=FULL", NULL, &r), 200);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "httpRequest"), "body")),
	    "aGVsbG8=");
	ck_assert_str_eq(httpc_json_str(&r, "view"), "FULL");
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "GET", "/queues/ping-queue/tasks?pageSize=2", NULL, &r), 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "tasks")), 2);
	ck_assert_ptr_nonnull(httpc_json_str(&r, "nextPageToken"));
	snprintf(path, sizeof(path), "/queues/ping-queue/tasks?pageSize=2&pageToken=%s",
	         httpc_json_str(&r, "nextPageToken"));
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "GET", path, NULL, &r), 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "tasks")), 1);
	ck_assert_ptr_null(httpc_json_str(&r, "nextPageToken"));
	httpc_resp_free(&r);
	expect_error(e, "GET", "/queues/ping-queue/tasks?pageToken=bogus", NULL, 400,
	             "INVALID_ARGUMENT");
	expect_error(e, "GET", "/queues/ping-queue/tasks?pageSize=-1", NULL, 400,
	             "INVALID_ARGUMENT");
	expect_error(e, "GET", "/queues/ping-queue/tasks/crud-1?responseView=HUGE", NULL, 400,
	             "INVALID_ARGUMENT");

	/* Refusals. */
	{
		static const char *const bad[] = {
		    "{\"task\":{\"name\":\"" PING_QUEUE "/tasks/bad id\",\"httpRequest\":{\"url\":"
		    "\"http://h/\"}}}",
		    "{\"task\":{\"name\":\"" PARENT
		    "/queues/other-queue/tasks/t1\",\"httpRequest\":"
		    "{\"url\":\"http://h/\"}}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/"
		    "\"},\"dispatchDeadline\":\"14s\"}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/"
		    "\"},\"dispatchDeadline\":\"1801s\"}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"ftp://h/\"}}}",
		    "{\"task\":{}}",
		    "{}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"httpMethod\":99}}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"body\":\"%%%\"}}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"httpMethod\":\"GET\","
		    "\"body\":\"aGk=\"}}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"headers\":{\"Bad "
		    "Name\":\"x\"}}}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/"
		    "\"},\"scheduleTime\":\"yesterday\"}}",
		    "{\"task\":{\"appEngineHttpRequest\":{\"relativeUri\":\"/x\"}}}",
		    "{\"task\":{\"httpRequest\":{\"url\":\"http://h/"
		    "\"}},\"responseView\":\"HUGE\"}",
		    "{",
		    "[]",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			expect_error(e, "POST", "/queues/ping-queue/tasks", bad[i], 400,
			             "INVALID_ARGUMENT");
		body = make_create("far", "http://h/", at(time_wall() + 31 * 86400, 0), NULL, NULL);
		expect_error(e, "POST", "/queues/ping-queue/tasks", body, 400, "INVALID_ARGUMENT");
		free(body);
		expect_error(e, "GET", "/queues/ping-queue/tasks/bad$id", NULL, 400,
		             "INVALID_ARGUMENT");
		expect_error(e, "GET", "/queues/ping-queue/tasks/nope", NULL, 404, "NOT_FOUND");
		expect_error(e, "DELETE", "/queues/ping-queue/tasks/nope", NULL, 404, "NOT_FOUND");
		expect_error(e, "POST", "/queues/ping-queue/tasks/nope:run", "{}", 404,
		             "NOT_FOUND");
		expect_error(e, "POST", "/queues/nope/tasks", "{}", 404, "NOT_FOUND");
	}
	/* JSON depth: 64 levels accepted, 65 refused, in Google's shape. */
	body = nested_create(64);
	ck_assert_int_eq(create(e, body, &r), 200);
	httpc_resp_free(&r);
	free(body);
	body = nested_create(65);
	expect_error(e, "POST", "/queues/ping-queue/tasks", body, 400, "INVALID_ARGUMENT");
	free(body);

	/* Delete; the name stays reserved for an hour, :purge forgets it. */
	ck_assert_int_eq(v2(e, "DELETE", "/queues/ping-queue/tasks/crud-1", NULL, &r), 200);
	ck_assert_str_eq(r.body, "{}");
	httpc_resp_free(&r);
	t = task_get(e, "crud-1");
	ck_assert_ptr_null(t);
	expect_error(e, "DELETE", "/queues/ping-queue/tasks/crud-1", NULL, 404, "NOT_FOUND");
	body = make_create("crud-1", "http://127.0.0.1:1/x", at(later, 0), NULL, NULL);
	expect_error(e, "POST", "/queues/ping-queue/tasks", body, 409, "ALREADY_EXISTS");
	advance(e, 1800);
	expect_error(e, "POST", "/queues/ping-queue/tasks", body, 409, "ALREADY_EXISTS");
	advance(e, 1801);
	ck_assert_int_eq(create(e, body, &r), 200); /* an hour later */
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "DELETE", "/queues/ping-queue/tasks/crud-1", NULL, &r), 200);
	httpc_resp_free(&r);
	expect_error(e, "POST", "/queues/ping-queue/tasks", body, 409, "ALREADY_EXISTS");
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:purge", "{}", &r), 200);
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "GET", "/queues/ping-queue/tasks", NULL, &r), 200);
	ck_assert_ptr_null(json_object_get(r.json, "tasks"));
	httpc_resp_free(&r);
	ck_assert_int_eq(create(e, body, &r), 200); /* the purge forgot the name */
	httpc_resp_free(&r);
	free(body);
	stop(e);
}
END_TEST

/* A task with a body of n bytes ('a'), base64 in the request, due in a
 * day. */
static char *sized_create(const char *id, size_t n)
{
	char *raw = malloc(n + 1), *b64, *http, *out;

	memset(raw, 'a', n);
	raw[n] = '\0';
	b64 = b64_encode(raw, n);
	ck_assert_int_ge(asprintf(&http, "{\"body\":\"%s\"}", b64), 0);
	out = make_create(id, "http://h/", at(time_wall() + 86400, 0), http, NULL);
	free(raw);
	free(b64);
	free(http);
	return out;
}

START_TEST(sizes)
{
	const char *extra[] = {"MAX_BODY_BYTES=65536", NULL};
	struct emu *e;
	struct httpc_resp r;
	char *body, *big;
	size_t n = 3u << 20;

	e = start(extra, 0);
	/* A 1 MiB task: a 1.4 MB request, over MAX_BODY_BYTES, fine on /v2. */
	body = sized_create("big-ok", 1024 * 1024);
	ck_assert_uint_gt(strlen(body), 65536);
	ck_assert_msg(create(e, body, &r) == 200, "%s", r.body);
	httpc_resp_free(&r);
	free(body);
	/* Padded to exactly 2 MiB of request: still accepted. */
	body = sized_create("big-padded", 1024 * 1024);
	{
		size_t len = strlen(body), want = 2u << 20;
		char *padded = malloc(want + 1);

		memcpy(padded, body, len - 1);
		memset(padded + len - 1, ' ', want - len);
		padded[want - 1] = '}';
		padded[want] = '\0';
		ck_assert_msg(create(e, padded, &r) == 200, "%s", r.body);
		httpc_resp_free(&r);
		padded[want - 1] = ' ';
		padded[want] = '\0';
		free(body);
		ck_assert_int_ge(asprintf(&body, "%s}", padded), 0); /* 2 MiB + 1 */
		free(padded);
	}
	expect_error(e, "POST", "/queues/ping-queue/tasks", body, 400, "INVALID_ARGUMENT");
	free(body);
	/* One byte more: over Cloud Tasks' task size. */
	body = sized_create("big-no", 1024 * 1024 + 1);
	expect_error(e, "POST", "/queues/ping-queue/tasks", body, 400, "INVALID_ARGUMENT");
	free(body);
	/* Over 2 MiB of request. */
	big = malloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	expect_error(e, "POST", "/queues/ping-queue/tasks", big, 400, "INVALID_ARGUMENT");
	free(big);
	/* Other routes keep MAX_BODY_BYTES. */
	big = malloc(100001);
	memset(big, ' ', 100000);
	big[0] = '{';
	big[99999] = '}';
	big[100000] = '\0';
	ck_assert_int_eq(enqueue(e, "ping", big, &r), 413);
	httpc_resp_free(&r);
	free(big);
	stop(e);
}
END_TEST

START_TEST(pushes_carry_cloud_tasks_headers)
{
	struct sink_server *sink = sink_server_start();
	const int first[] = {500};
	char body[1024];
	struct emu *e;
	struct httpc_resp r;
	json_t *req, *t, *claims, *head;
	const char *auth;
	char aud[256];

	ck_assert_ptr_nonnull(sink);
	e = start(NULL, 0);
	sink_server_queue(sink, first, 1);
	snprintf(aud, sizeof(aud), "%s/path?q=1", sink_server_url(sink));
	snprintf(body, sizeof(body),
	         "{\"task\":{\"name\":\"" PING_QUEUE "/tasks/hdr-1\",\"httpRequest\":{\"url\":"
	         "\"%s\",\"httpMethod\":\"PUT\",\"headers\":{\"X-Custom\":\"v\",\"User-Agent\":"
	         "\"spoof\",\"X-CloudTasks-QueueName\":\"spoof\"},\"body\":\"cGF5bG9hZA==\","
	         "\"oidcToken\":{\"serviceAccountEmail\":\"" TASKS_EMAIL "\"}}}}",
	         aud);
	ck_assert_int_eq(create(e, body, &r), 200);
	httpc_resp_free(&r);
	ck_assert_int_eq(sink_server_wait(sink, 1, 5000), 0);
	req = sink_server_request(sink, 0);
	ck_assert_str_eq(json_string_value(json_object_get(req, "method")), "PUT");
	ck_assert_str_eq(json_string_value(json_object_get(req, "path")), "/path");
	ck_assert_str_eq(json_string_value(json_object_get(req, "body")), "payload");
	ck_assert_str_eq(hdr(req, "x-custom"), "v");
	ck_assert_str_eq(hdr(req, "user-agent"), "Google-Cloud-Tasks");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-queuename"), "ping-queue");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskname"), "hdr-1");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskretrycount"), "0");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskexecutioncount"), "0");
	ck_assert(fabs(strtod(hdr(req, "x-cloudtasks-tasketa"), NULL) - time_wall()) < 10);
	ck_assert_ptr_null(hdr(req, "x-cloudtasks-taskpreviousresponse"));
	ck_assert_ptr_null(hdr(req, "x-cloudtasks-taskretryreason"));
	ck_assert_ptr_null(hdr(req, "content-type")); /* the task set none */
	auth = hdr(req, "authorization");
	ck_assert_ptr_nonnull(auth);
	ck_assert(!strncmp(auth, "Bearer ", 7));
	head = jwt_part(auth + 7, 0);
	claims = jwt_part(auth + 7, 1);
	ck_assert_str_eq(json_string_value(json_object_get(head, "alg")), "RS256");
	ck_assert_ptr_nonnull(json_string_value(json_object_get(head, "kid")));
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")), aud); /* the URL */
	ck_assert_str_eq(json_string_value(json_object_get(claims, "email")), TASKS_EMAIL);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")),
	                 "https://accounts.google.com");
	ck_assert(json_is_true(json_object_get(claims, "email_verified")));
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")) -
	                     json_integer_value(json_object_get(claims, "iat")),
	                 3600);
	json_decref(head);
	json_decref(claims);
	json_decref(req);

	/* The 500 is a failed attempt, retried after ping-queue's 10 s. */
	t = wait_dispatched(e, "hdr-1", 1, 5000);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "responseCount")), 1);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(t, "lastAttempt"), "responseStatus"), "code")),
	    13);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(t, "firstAttempt"), "dispatchTime"));
	ck_assert(rfc3339(json_object_get(t, "scheduleTime")) -
	              rfc3339(json_object_get(json_object_get(t, "lastAttempt"), "dispatchTime")) >=
	          9.9);
	json_decref(t);
	msleep(500);
	ck_assert_int_eq(sink_server_count(sink), 1);
	advance(e, 10);
	ck_assert_int_eq(sink_server_wait(sink, 2, 5000), 0);
	req = sink_server_request(sink, 1);
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskretrycount"), "1");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskexecutioncount"), "1");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskpreviousresponse"), "500");
	ck_assert_ptr_nonnull(hdr(req, "x-cloudtasks-taskretryreason"));
	json_decref(req);
	/* Answered 200: the task is gone. */
	wait_gone(e, "hdr-1", 5000);
	{
		char url[256];

		snprintf(url, sizeof(url), "%s/metrics", e->s.base);
		ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
		ck_assert_ptr_nonnull(strstr(r.body,
		                             "catchup_jobs_emulator_dispatches_total{queue="
		                             "\"ping-queue\",result=\"5xx\"} 1"));
		ck_assert_ptr_nonnull(strstr(r.body,
		                             "catchup_jobs_emulator_dispatches_total{queue="
		                             "\"ping-queue\",result=\"2xx\"} 1"));
		httpc_resp_free(&r);
	}
	stop(e);
	sink_server_stop(sink);
}
END_TEST

START_TEST(run_pause_and_resume)
{
	struct sink_server *sink = sink_server_start();
	char body[1024], when[64];
	struct emu *e;
	struct httpc_resp r;

	ck_assert_ptr_nonnull(sink);
	e = start(NULL, 0);
	/* :run pushes a task due in an hour at once. */
	time_format_rfc3339(time_wall() + 3600, 0, when, sizeof(when));
	snprintf(body, sizeof(body),
	         "{\"task\":{\"name\":\"" PING_QUEUE "/tasks/run-1\",\"scheduleTime\":\"%s\","
	         "\"httpRequest\":{\"url\":\"%s/run\"}}}",
	         when, sink_server_url(sink));
	ck_assert_int_eq(create(e, body, &r), 200);
	httpc_resp_free(&r);
	msleep(300);
	ck_assert_int_eq(sink_server_count(sink), 0);
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue/tasks/run-1:run", "{}", &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "name"), PING_QUEUE "/tasks/run-1");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "dispatchCount")), 1);
	ck_assert_ptr_nonnull(
	    json_object_get(json_object_get(r.json, "lastAttempt"), "dispatchTime"));
	httpc_resp_free(&r);
	ck_assert_int_eq(sink_server_wait(sink, 1, 3000), 0);
	wait_gone(e, "run-1", 3000);

	/* A paused queue pushes nothing until resumed. */
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:pause", "{}", &r), 200);
	httpc_resp_free(&r);
	snprintf(body, sizeof(body),
	         "{\"task\":{\"name\":\"" PING_QUEUE "/tasks/paused-1\",\"httpRequest\":{\"url\":"
	         "\"%s/paused\"}}}",
	         sink_server_url(sink));
	ck_assert_int_eq(create(e, body, &r), 200);
	httpc_resp_free(&r);
	msleep(1500);
	ck_assert_int_eq(sink_server_count(sink), 1);
	ck_assert_int_eq(v2(e, "GET", "/queues/ping-queue", NULL, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "state"), "PAUSED");
	httpc_resp_free(&r);
	/* The pause survives a restart. */
	stop(e);
	e = start(NULL, 0);
	msleep(1000);
	ck_assert_int_eq(sink_server_count(sink), 1);
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:resume", "{}", &r), 200);
	httpc_resp_free(&r);
	ck_assert_int_eq(sink_server_wait(sink, 2, 3000), 0);
	wait_gone(e, "paused-1", 3000);
	stop(e);
	sink_server_stop(sink);
}
END_TEST

START_TEST(enqueue_and_cli_land_in_the_emulator)
{
	const char *done1[] = {"answered: completed", "\"enq-1\"", NULL};
	const char *done2[] = {"answered: completed", "\"cli-1\"", NULL};
	char port[32], *out = NULL, *err = NULL;
	struct emu *e;
	struct httpc_resp r;
	json_t *t;

	e = start(NULL, 1);
	ck_assert_int_eq(enqueue(e, "ping", "{\"payload\":{},\"taskId\":\"enq-1\"}", &r), 202);
	ck_assert_str_eq(httpc_json_str(&r, "task"), PING_QUEUE "/tasks/enq-1");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_log_wait(&e->s, done1, 10000), 1);
	wait_gone(e, "enq-1", 3000);
	/* Its name is reserved: the producer learns it existed. */
	ck_assert_int_eq(enqueue(e, "ping", "{\"payload\":{},\"taskId\":\"enq-1\"}", &r), 409);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "already_exists");
	httpc_resp_free(&r);
	/* A delayed task waits in the emulator. */
	ck_assert_int_eq(enqueue(e, "ping",
	                         "{\"payload\":{},\"taskId\":\"enq-later\",\"delaySeconds\":3600}",
	                         &r),
	                 202);
	httpc_resp_free(&r);
	t = task_get(e, "enq-later");
	ck_assert_ptr_nonnull(t);
	ck_assert(fabs(rfc3339(json_object_get(t, "scheduleTime")) - (time_wall() + 3600)) < 10);
	{
		char url[128];

		snprintf(url, sizeof(url), "%s/jobs/ping", e->s.base);
		ck_assert_str_eq(
		    json_string_value(json_object_get(json_object_get(t, "httpRequest"), "url")),
		    url);
	}
	json_decref(t);

	/* The CLI reaches the same emulator (PORT is the server's). */
	snprintf(port, sizeof(port), "PORT=%d", e->s.port);
	{
		const char *extra[] = {port, NULL};
		char *args[] = {"enqueue", "ping", "{}", "--id", "cli-1", NULL};

		ck_assert_int_eq(cj_run(args, local_env(extra, 1), &out, &err), 0);
		ck_assert_ptr_nonnull(strstr(out, PING_QUEUE "/tasks/cli-1"));
		free(out);
		free(err);
		ck_assert_int_eq(cj_server_log_wait(&e->s, done2, 10000), 1);
		out = err = NULL;
		ck_assert_int_eq(cj_run(args, local_env(extra, 1), &out, &err), 3);
		free(out);
		free(err);
	}
	stop(e);
}
END_TEST

/* ping-queue as the retry test wants it: 5 attempts, 10 s doubling twice,
 * at most 40 s. Waits 10, 20, 40, 40: attempts at 0, 10, 30, 70, 110. */
START_TEST(retries_follow_the_backoff_on_the_business_clock)
{
	static const long expect[] = {0, 10, 30, 70, 110};
	const char *extra[] = {"IDEMPOTENCY_LEASE_SECONDS=15", NULL};
	struct queue_config qc = {"ping-queue", 5, 10, 40, 2, 10, 10, 60};
	struct emu *e;
	struct httpc_resp r;
	double t0 = 0;
	json_t *t;
	char *log;

	write_config(queue_entry(5, "10s", "40s", 2, 10, 10, "60s"));
	e = start(extra, 1);
	ck_assert_int_eq(
	    enqueue(e, "ping", "{\"payload\":{\"fail\":\"transient\"},\"taskId\":\"retry-1\"}", &r),
	    202);
	httpc_resp_free(&r);
	for (int k = 0; k < 5; k++) {
		if (k > 0) {
			long wait = (long)queues_backoff(&qc, k);

			ck_assert_int_eq(wait, expect[k] - expect[k - 1]);
			/* Two seconds short: nothing. */
			advance(e, wait - 2);
			msleep(400);
			t = task_get(e, "retry-1");
			ck_assert_ptr_nonnull(t);
			ck_assert_int_eq(dispatch_count(t), k);
			json_decref(t);
			advance(e, 2);
		}
		if (k == 4)
			break;
		t = wait_dispatched(e, "retry-1", k + 1, 5000);
		ck_assert_ptr_nonnull(t);
		if (!k)
			t0 = rfc3339(
			    json_object_get(json_object_get(t, "firstAttempt"), "dispatchTime"));
		{
			double at = rfc3339(
			    json_object_get(json_object_get(t, "lastAttempt"), "dispatchTime"));

			ck_assert_msg(at - t0 >= expect[k] && at - t0 < expect[k] + 2,
			              "attempt %d at %.3f s, expected %ld s", k, at - t0,
			              expect[k]);
		}
		json_decref(t);
	}
	/* The fifth attempt is the last: then the task is gone, dead-lettered. */
	wait_gone(e, "retry-1", 5000);
	log = cj_server_log(&e->s);
	for (int k = 0; k < 5; k++) {
		char attempt[32];
		const char *needles[] = {"answered: retry", "\"retry-1\"", attempt, NULL};

		snprintf(attempt, sizeof(attempt), "\"attempt\":%d", k);
		ck_assert_msg(log_count(log, needles) == 1,
		              "attempt %d (RetryCount %d) seen %d times", k + 1, k,
		              log_count(log, needles));
	}
	free(log);
	{
		int attempts = 0;

		ck_assert_int_eq(dead_letters_of(e, "retry-1", &attempts), 1);
		ck_assert_int_eq(attempts, 5);
	}
	stop(e);
}
END_TEST

START_TEST(dispatch_deadline_is_a_failed_attempt)
{
	const char *extra[] = {"SHUTDOWN_GRACE_SECONDS=1", NULL};
	char body[1024];
	struct emu *e;
	struct httpc_resp r;
	int64_t t0;
	json_t *t, *st;

	e = start(extra, 0);
	/* {"sleepMs":20000} */
	snprintf(body, sizeof(body),
	         "{\"task\":{\"name\":\"" PING_QUEUE "/tasks/slow-1\",\"dispatchDeadline\":\"15s\","
	         "\"httpRequest\":{\"url\":\"%s/jobs/ping\",\"headers\":{\"Content-Type\":"
	         "\"application/json\"},\"body\":\"eyJzbGVlcE1zIjoyMDAwMH0=\",\"oidcToken\":{"
	         "\"serviceAccountEmail\":\"" TASKS_EMAIL "\",\"audience\":\"%s\"}}}}",
	         e->s.base, e->s.base);
	t0 = time_mono_ms();
	ck_assert_int_eq(create(e, body, &r), 200);
	httpc_resp_free(&r);
	t = wait_dispatched(e, "slow-1", 1, 25000);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_ge(time_mono_ms() - t0, 14500);
	st = json_object_get(json_object_get(t, "lastAttempt"), "responseStatus");
	ck_assert_int_eq(json_integer_value(json_object_get(st, "code")),
	                 4); /* DEADLINE_EXCEEDED */
	ck_assert_int_eq(json_integer_value(json_object_get(t, "responseCount")), 0);
	ck_assert_ptr_null(json_object_get(json_object_get(t, "lastAttempt"), "responseTime"));
	json_decref(t);
	stop(e);
}
END_TEST

#define NRATE 200

START_TEST(rate_limits_hold)
{
	struct sink_server *sink = sink_server_start();
	char body[1024];
	struct emu *e;
	struct httpc_resp r;
	int64_t t0, last;
	json_t *req;

	ck_assert_ptr_nonnull(sink);
	write_config(queue_entry(10, "10s", "40s", 2, 20, 5, "60s"));
	sink_server_set(sink, 200, 200);
	e = start(NULL, 0);
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:pause", "{}", &r), 200);
	httpc_resp_free(&r);
	for (int i = 0; i < NRATE; i++) {
		snprintf(body, sizeof(body),
		         "{\"task\":{\"name\":\"" PING_QUEUE "/tasks/rate-%03d\",\"httpRequest\":{"
		         "\"url\":\"%s/rate\"}}}",
		         i, sink_server_url(sink));
		ck_assert_int_eq(create(e, body, &r), 200);
		httpc_resp_free(&r);
	}
	t0 = time_mono_ms();
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue:resume", "{}", &r), 200);
	httpc_resp_free(&r);
	ck_assert_int_eq(sink_server_wait(sink, NRATE, 30000), 0);
	req = sink_server_request(sink, NRATE - 1);
	last = json_integer_value(json_object_get(req, "atMs"));
	json_decref(req);
	fprintf(stderr, "rate limits: %d pushes in %lld ms, at most %d at once\n", NRATE,
	        (long long)(last - t0), sink_server_max_inflight(sink));
	/* 20/s with a burst of 20: the last push near 9 s; never over 5 at once. */
	ck_assert_int_le(sink_server_max_inflight(sink), 5);
	ck_assert_int_ge(sink_server_max_inflight(sink), 4);
	ck_assert_int_ge(last - t0, 8500);
	ck_assert_int_le(last - t0, 13000);
	/* No one-second window saw more than the bucket allows. */
	for (int i = 0; i + 40 < NRATE; i++) {
		json_t *a = sink_server_request(sink, i), *b = sink_server_request(sink, i + 40);

		ck_assert_int_ge(json_integer_value(json_object_get(b, "atMs")) -
		                     json_integer_value(json_object_get(a, "atMs")),
		                 1000);
		json_decref(a);
		json_decref(b);
	}
	msleep(500);
	ck_assert_int_eq(v2(e, "GET", "/queues/ping-queue/tasks", NULL, &r), 200);
	ck_assert_ptr_null(json_object_get(r.json, "tasks"));
	httpc_resp_free(&r);
	stop(e);
	sink_server_stop(sink);
}
END_TEST

#define NDUR 100

static int completions(const char *id, char *const *logs, int nlogs)
{
	char quoted[64];
	const char *needles[] = {"answered: completed", quoted, NULL};
	int n = 0;

	snprintf(quoted, sizeof(quoted), "\"%s\"", id);
	for (int i = 0; i < nlogs; i++)
		n += log_count(logs[i], needles);
	return n;
}

/* kill -9 with tasks pending and in flight: after the restart every task
 * completes, and none twice. Idempotency in the local store (claims in
 * memory, completed keys in the database). */
START_TEST(sigkill_loses_no_task_and_runs_none_twice)
{
	const char *extra[] = {"IDEMPOTENCY_LEASE_SECONDS=15", NULL};
	const char *any_done[] = {"answered: completed", "\"dur-", NULL};
	struct emu *e;
	struct httpc_resp r;
	char body[256], *logs[2];
	int64_t t0;
	int inflight = 0, done_before;

	write_config(queue_entry(8, "1s", "8s", 3, 10, 10, "60s"));
	e = start(extra, 0);
	for (int i = 0; i < NDUR; i++) {
		snprintf(body, sizeof(body),
		         "{\"payload\":{\"sleepMs\":1500},\"taskId\":\"dur-%03d\"}", i);
		ck_assert_int_eq(enqueue(e, "ping", body, &r), 202);
		httpc_resp_free(&r);
	}
	/* Some done, ten in their handlers. */
	t0 = time_mono_ms();
	for (;;) {
		char url[256], *log;
		const char *p;

		snprintf(url, sizeof(url), "%s/metrics", e->s.base);
		ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
		p = strstr(r.body, "\ncatchup_jobs_inflight_jobs ");
		inflight = p ? atoi(p + strlen("\ncatchup_jobs_inflight_jobs ")) : 0;
		httpc_resp_free(&r);
		log = cj_server_log(&e->s);
		done_before = log_count(log, any_done);
		free(log);
		if (inflight >= 5 && done_before >= 10)
			break;
		ck_assert_msg(time_mono_ms() - t0 < 20000, "%d in flight, %d done", inflight,
		              done_before);
		msleep(50);
	}
	proc_signal(&e->s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&e->s.proc, 5000), 0);
	logs[0] = cj_server_log(&e->s);
	/* The same port: the tasks' URLs and tokens name it. */
	ck_assert_int_eq(cj_server_restart(&e->s, local_env(extra, 0)), 0);
	t0 = time_mono_ms();
	for (;;) {
		ck_assert_int_eq(v2(e, "GET", "/queues/ping-queue/tasks", NULL, &r), 200);
		if (!json_object_get(r.json, "tasks")) {
			httpc_resp_free(&r);
			break;
		}
		httpc_resp_free(&r);
		ck_assert_msg(time_mono_ms() - t0 < 90000, "tasks left after 90 s");
		msleep(200);
	}
	logs[1] = cj_server_log(&e->s);
	ck_assert_ptr_nonnull(strstr(logs[1], "count as unanswered"));
	fprintf(stderr,
	        "sigkill: %d done and %d in flight at the kill; all %d done %.1f s after the "
	        "restart\n",
	        done_before, inflight, NDUR, (double)(time_mono_ms() - t0) / 1000);
	for (int i = 0; i < NDUR; i++) {
		char id[16];

		snprintf(id, sizeof(id), "dur-%03d", i);
		ck_assert_msg(completions(id, logs, 2) == 1, "%s completed %d times", id,
		              completions(id, logs, 2));
	}
	ck_assert_int_eq(dead_letters_of(e, NULL, NULL), 0);
	stop(e);
	free(logs[0]);
	free(logs[1]);
}
END_TEST

/* A non-loopback IPv4 address of this host into out, or 0 when none. */
static int outside_address(char *out, size_t len)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (getifaddrs(&ifs))
		return 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		const struct sockaddr_in *sa = (const struct sockaddr_in *)i->ifa_addr;

		if (!sa || sa->sin_family != AF_INET || (ntohl(sa->sin_addr.s_addr) >> 24) == 127)
			continue;
		found = inet_ntop(AF_INET, &sa->sin_addr, out, (socklen_t)len) != NULL;
	}
	freeifaddrs(ifs);
	return found;
}

START_TEST(v2_is_local_and_loopback_only)
{
	static const char *const cloud[] = {
	    "USE_CLOUD_TASKS=true",
	    "GCP_PROJECT_ID=local",
	    "GCP_REGION=local",
	    "CLOUD_RUN_URL=https://jobs.example.com",
	    "SERVICE_ACCOUNT_EMAIL=" TASKS_EMAIL,
	    "UPSTASH_REDIS_REST_URL=http://127.0.0.1:1",
	    "UPSTASH_REDIS_REST_TOKEN=t",
	    "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	    "GCE_METADATA_HOST=127.0.0.1:1",
	    NULL};
	struct emu *e;
	struct httpc_resp r;

	const char *everywhere[] = {"BIND_ADDRESS=0.0.0.0", NULL};
	char addr[64], url[256];

	/* Local mode listening on every address: other peers get 404. */
	if (outside_address(addr, sizeof(addr))) {
		e = start(everywhere, 0);
		snprintf(url, sizeof(url), "http://%s:%d/v2/" PARENT "/queues", addr, e->s.port);
		ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
		ck_assert_int_eq(r.status, 404);
		httpc_resp_free(&r);
		ck_assert_int_eq(v2(e, "GET", "/queues", NULL, &r), 200);
		httpc_resp_free(&r);
		stop(e);
	}
	e = start_env(local_env(cloud, 0));
	ck_assert_int_eq(v2(e, "GET", "/queues", NULL, &r), 404);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "not_found");
	httpc_resp_free(&r);
	ck_assert_int_eq(v2(e, "POST", "/queues/ping-queue/tasks", "{}", &r), 404);
	httpc_resp_free(&r);
	stop(e);
}
END_TEST

/* One test case per test, so that CK_RUN_CASE=name runs one. */
static void add(Suite *s, const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

#define ADD(s, t) add(s, #t, t)

int main(void)
{
	Suite *s = suite_create("emulator");
	int failed;

	itest_setup(&W);
	ADD(s, locations_and_queues);
	ADD(s, task_shapes_and_errors);
	ADD(s, sizes);
	ADD(s, pushes_carry_cloud_tasks_headers);
	ADD(s, run_pause_and_resume);
	ADD(s, enqueue_and_cli_land_in_the_emulator);
	ADD(s, retries_follow_the_backoff_on_the_business_clock);
	ADD(s, dispatch_deadline_is_a_failed_attempt);
	ADD(s, rate_limits_hold);
	ADD(s, sigkill_loses_no_task_and_runs_none_twice);
	ADD(s, v2_is_local_and_loopback_only);
	failed = ck_run(s, CK_NOFORK);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
