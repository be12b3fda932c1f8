/*
 * test_jobs.c - POST /jobs/{type} end to end against the real binary, real
 * Redis behind the Upstash-compatible server, and minted Google-shaped
 * tokens: outcomes, duplicates, exactly-once under 50 concurrent deliveries,
 * retries releasing the key, permanent failures and dead letters, and every
 * request-level rejection (404, 405, 413, 400); every job type is served.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "itest.h"
#include "job_types.h"
#include "registry.h"

static struct itest W;
static struct cj_server S;
static char *TOKEN;

static int ping_max_attempts(void)
{
	char path[1024];
	json_t *q;
	int n = 100;

	snprintf(path, sizeof(path), "%s/config/queues.json",
	         getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".");
	q = json_load_file(path, 0, NULL);
	if (q) {
		json_t *m = json_object_get(
		    json_object_get(json_object_get(q, "ping-queue"), "retryConfig"),
		    "maxAttempts");

		if (json_is_integer(m))
			n = (int)json_integer_value(m);
		json_decref(q);
	}
	return n;
}

START_TEST(ping_completes_with_its_payload)
{
	struct httpc_resp r;
	char task[64];

	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", itest_task_id(task, sizeof(task)),
	                         0, "{\"hello\":\"world\",\"n\":3}", &r),
	                 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "result"), "hello")),
	    "world");
	httpc_resp_free(&r);
}
END_TEST

START_TEST(same_task_twice_is_a_duplicate)
{
	struct httpc_resp r;
	char task[64];

	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", task, 0, "{}", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", task, 1, "{}", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
}
END_TEST

START_TEST(payload_idempotency_key_wins)
{
	struct httpc_resp r;
	char t1[64], t2[64], body[128];

	snprintf(body, sizeof(body), "{\"idempotencyKey\":\"%s\"}", itest_task_id(t1, sizeof(t1)));
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", t1, 0, body, &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
	/* Another task name, same key: the job already ran. */
	ck_assert_int_eq(
	    cj_push(&S, "ping", TOKEN, "ping-queue", itest_task_id(t2, sizeof(t2)), 0, body, &r),
	    0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
}
END_TEST

struct delivery {
	const char *task;
	long status;
	char outcome[32];
};

static void *deliver(void *arg)
{
	struct delivery *d = arg;
	struct httpc_resp r;

	if (!cj_push(&S, "ping", TOKEN, "ping-queue", d->task, 0, "{\"sleepMs\":300}", &r)) {
		d->status = r.status;
		snprintf(d->outcome, sizeof(d->outcome), "%s",
		         httpc_json_str(&r, "status") ? httpc_json_str(&r, "status")
		                                      : httpc_json_str(&r, "error"));
	}
	httpc_resp_free(&r);
	return NULL;
}

START_TEST(fifty_concurrent_deliveries_run_once)
{
	struct delivery d[50];
	pthread_t th[50];
	char task[64];
	int i, completed = 0, duplicate = 0, busy = 0;

	itest_task_id(task, sizeof(task));
	for (i = 0; i < 50; i++) {
		d[i] = (struct delivery){task, 0, ""};
		ck_assert_int_eq(pthread_create(&th[i], NULL, deliver, &d[i]), 0);
	}
	for (i = 0; i < 50; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 50; i++) {
		if (d[i].status == 200 && !strcmp(d[i].outcome, "completed"))
			completed++;
		else if (d[i].status == 200 && !strcmp(d[i].outcome, "duplicate"))
			duplicate++;
		else if (d[i].status == 409 && !strcmp(d[i].outcome, "in_progress"))
			busy++;
	}
	ck_assert_int_eq(completed, 1);
	ck_assert_int_eq(completed + duplicate + busy, 50);
}
END_TEST

START_TEST(transient_failure_releases_the_key)
{
	struct httpc_resp r;
	char task[64];

	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(
	    cj_push(&S, "ping", TOKEN, "ping-queue", task, 0, "{\"fail\":\"transient\"}", &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "retry");
	ck_assert_str_eq(httpc_json_str(&r, "error"), "unavailable");
	httpc_resp_free(&r);
	/* The retry of the same task runs again (key released, not duplicate). */
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", task, 1, "{}", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
}
END_TEST

START_TEST(permanent_failure_is_acknowledged_and_dead_lettered)
{
	struct httpc_resp r;
	char task[64];
	json_t *dl;

	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(
	    cj_push(&S, "ping", TOKEN, "ping-queue", task, 0, "{\"fail\":\"permanent\"}", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "failed");
	ck_assert(json_is_false(json_object_get(r.json, "retry")));
	ck_assert_str_eq(httpc_json_str(&r, "error"), "ping_permanent");
	httpc_resp_free(&r);
	dl = itest_dead_letter_for(&W, &S, task);
	ck_assert_ptr_nonnull(dl);
	ck_assert_str_eq(json_string_value(json_object_get(dl, "type")), "ping");
	ck_assert_str_eq(json_string_value(json_object_get(dl, "queue")), "ping-queue");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dl, "payload"), "fail")),
	                 "permanent");
	ck_assert_int_eq(json_integer_value(json_object_get(dl, "attempts")), 1);
	ck_assert(json_is_null(json_object_get(dl, "replayedAt")));
	json_decref(dl);
	/* Acknowledged: a redelivery is a duplicate, not a second failure. */
	ck_assert_int_eq(
	    cj_push(&S, "ping", TOKEN, "ping-queue", task, 1, "{\"fail\":\"permanent\"}", &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
}
END_TEST

START_TEST(invalid_payload_is_a_permanent_failure)
{
	struct httpc_resp r;
	char task[64];
	json_t *dl;

	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", task, 0, "{\"sleepMs\":-1}", &r),
	                 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "failed");
	ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_payload");
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "message"), "sleepMs"));
	httpc_resp_free(&r);
	dl = itest_dead_letter_for(&W, &S, task);
	ck_assert_ptr_nonnull(dl);
	ck_assert_ptr_nonnull(
	    strstr(json_string_value(json_object_get(dl, "lastError")), "sleepMs"));
	json_decref(dl);
}
END_TEST

START_TEST(failed_last_attempt_leaves_a_dead_letter)
{
	struct httpc_resp r;
	char task[64];
	int last = ping_max_attempts() - 1;
	json_t *dl;

	itest_task_id(task, sizeof(task));
	/* Not the last attempt: no dead letter. */
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", task, last - 1,
	                         "{\"fail\":\"transient\"}", &r),
	                 0);
	ck_assert_int_eq(r.status, 503);
	httpc_resp_free(&r);
	ck_assert_ptr_null(itest_dead_letter_for(&W, &S, task));
	ck_assert_int_eq(
	    cj_push(&S, "ping", TOKEN, "ping-queue", task, last, "{\"fail\":\"transient\"}", &r),
	    0);
	ck_assert_int_eq(r.status, 503);
	httpc_resp_free(&r);
	dl = itest_dead_letter_for(&W, &S, task);
	ck_assert_ptr_nonnull(dl);
	ck_assert_int_eq(json_integer_value(json_object_get(dl, "attempts")), last + 1);
	ck_assert_ptr_nonnull(
	    strstr(json_string_value(json_object_get(dl, "lastError")), "on the last attempt"));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dl, "payload"), "fail")),
	                 "transient");
	json_decref(dl);
}
END_TEST

START_TEST(unknown_type_is_404_and_dead_lettered_on_last_attempt)
{
	struct httpc_resp r;
	char task[64];
	json_t *dl;

	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(cj_push(&S, "no-such-job", TOKEN, "ping-queue", task, 0, "{}", &r), 0);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "not_found");
	httpc_resp_free(&r);
	ck_assert_ptr_null(itest_dead_letter_for(&W, &S, task));
	ck_assert_int_eq(cj_push(&S, "no-such-job", TOKEN, "ping-queue", task,
	                         ping_max_attempts() - 1, "{\"x\":1}", &r),
	                 0);
	ck_assert_int_eq(r.status, 404);
	httpc_resp_free(&r);
	dl = itest_dead_letter_for(&W, &S, task);
	ck_assert_ptr_nonnull(dl);
	/* The body was usable: the dead letter keeps it for a replay. */
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(dl, "payload"), "x")),
	                 1);
	ck_assert_str_eq(json_string_value(json_object_get(dl, "type")), "no-such-job");
	json_decref(dl);
}
END_TEST

START_TEST(no_database_means_the_log_carries_the_dead_letter)
{
	const char *env[] = {"DATABASE_URL=sqlite:/proc/no-such-dir/x.db", NULL};
	struct cj_server s;
	char *out = NULL, *err = NULL;
	char *args[] = {"serve", NULL};

	/* A database that cannot be opened stops start-up (exit 1, one line). */
	ck_assert_int_eq(cj_run(args, itest_env(&W, env), &out, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "database"));
	free(out);
	free(err);
	(void)s;
}
END_TEST

START_TEST(malformed_delivery_headers_are_400_after_auth)
{
	const char *bad[] = {"X-CloudTasks-TaskRetryCount: many", NULL};
	struct httpc_resp r;

	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", "has spaces", 0, "{}", &r), 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_request");
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "message"), "X-CloudTasks-TaskName"));
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, "ping-queue", "t1", -1, "{}", bad, &r), 0);
	ck_assert_int_eq(r.status, 400);
	httpc_resp_free(&r);
	/* Queue ids are letters, digits and hyphens (Cloud Tasks' rule). */
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping_queue", "t2", 0, "{}", &r), 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "message"), "X-CloudTasks-QueueName"));
	httpc_resp_free(&r);
	/* Without a token the answer is 401 whatever the headers. */
	ck_assert_int_eq(cj_push(&S, "ping", NULL, "ping-queue", "has spaces", 0, "{}", &r), 0);
	ck_assert_int_eq(r.status, 401);
	httpc_resp_free(&r);
}
END_TEST

START_TEST(wrong_method_is_405)
{
	struct httpc_resp r;
	char url[128], auth[4096];
	const char *h[] = {auth, NULL};

	snprintf(url, sizeof(url), "%s/jobs/ping", S.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", TOKEN);
	ck_assert_int_eq(httpc_request("GET", url, h, NULL, 0, 10000, &r), 0);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "method_not_allowed");
	httpc_resp_free(&r);
}
END_TEST

START_TEST(oversized_bodies_are_413)
{
	struct httpc_resp r;
	char url[128], auth[4096], *big;
	const char *h[] = {auth, NULL};
	size_t n = 5000;

	big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	snprintf(url, sizeof(url), "%s/jobs/ping", S.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", TOKEN);
	/* With Content-Length: refused before the body is read. */
	ck_assert_int_eq(httpc_request("POST", url, h, big, n, 10000, &r), 0);
	ck_assert_int_eq(r.status, 413);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "payload_too_large");
	httpc_resp_free(&r);
	/* Chunked: counted as it arrives. */
	ck_assert_int_eq(httpc_post_chunked(url, h, big, n, &r), 0);
	ck_assert_int_eq(r.status, 413);
	httpc_resp_free(&r);
	/* A chunked body under the cap is fine. */
	ck_assert_int_eq(httpc_post_chunked(url, h, "{\"x\":1}", 7, &r), 0);
	ck_assert_int_eq(r.status, 200);
	httpc_resp_free(&r);
	free(big);
}
END_TEST

START_TEST(bodies_that_are_not_json_objects_are_400)
{
	struct httpc_resp r;
	char task[64];

	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", itest_task_id(task, sizeof(task)),
	                         0, "not json", &r),
	                 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_json");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", itest_task_id(task, sizeof(task)),
	                         0, "[1,2]", &r),
	                 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_json");
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "message"), "(not an array)"));
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", itest_task_id(task, sizeof(task)),
	                         0, "\"text\"", &r),
	                 0);
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "message"), "(not a string)"));
	httpc_resp_free(&r);
}
END_TEST

/* depth levels: an object holding arrays, or bare arrays when bare. */
static char *nested_body(int depth, int bare)
{
	size_t cap = (size_t)depth * 2 + 16, len = 0;
	char *b = malloc(cap);
	int i, arrays = bare ? depth : depth - 1;

	ck_assert_ptr_nonnull(b);
	if (!bare)
		len += (size_t)snprintf(b, cap, "{\"a\":");
	for (i = 0; i < arrays; i++)
		b[len++] = '[';
	b[len++] = '1';
	for (i = 0; i < arrays; i++)
		b[len++] = ']';
	if (!bare)
		b[len++] = '}';
	b[len] = '\0';
	return b;
}

/* SPEC §5: a body nested deeper than 64 levels is 400 invalid_json before
 * anything recursive touches it; the instance lives on and serves. */
START_TEST(deep_json_is_refused_and_the_server_lives)
{
	static const struct {
		int depth, bare, status;
	} cases[] = {{64, 0, 200}, {65, 0, 400}, {830, 1, 400}, {2047, 1, 400}};
	struct httpc_resp r;
	char task[64], url[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = nested_body(cases[i].depth, cases[i].bare);

		ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue",
		                         itest_task_id(task, sizeof(task)), 0, body, &r),
		                 0);
		ck_assert_msg(r.status == cases[i].status, "depth %d: HTTP %ld", cases[i].depth,
		              r.status);
		if (cases[i].status == 400) {
			ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_json");
			ck_assert_ptr_nonnull(
			    strstr(httpc_json_str(&r, "message"), "deeper than 64 levels"));
		} else {
			ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
		}
		httpc_resp_free(&r);
		free(body);
	}
	snprintf(url, sizeof(url), "%s/health/live", S.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	httpc_resp_free(&r);
}
END_TEST

START_TEST(content_type_does_not_matter)
{
	const char *octet[] = {"Content-Type: application/octet-stream", NULL};
	struct httpc_resp r;
	char task[64];

	/* No Content-Type (Cloud Tasks' default). */
	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", itest_task_id(task, sizeof(task)),
	                         0, "{\"a\":1}", &r),
	                 0);
	ck_assert_int_eq(r.status, 200);
	httpc_resp_free(&r);
	/* Cloud Scheduler's default. */
	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, "ping-queue",
	                            itest_task_id(task, sizeof(task)), 0, "{\"a\":1}", octet, &r),
	                 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
}
END_TEST

START_TEST(scheduler_pushes_are_keyed_by_job_and_time)
{
	const char *h[] = {"X-CloudScheduler: true", "X-CloudScheduler-JobName: ping-every-minute",
	                   "X-CloudScheduler-ScheduleTime: 2026-11-22T20:00:00Z",
	                   "User-Agent: Google-Cloud-Scheduler", NULL};
	struct httpc_resp r;

	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, NULL, NULL, -1, "{}", h, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, NULL, NULL, -1, "{}", h, &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
}
END_TEST

/* SPEC §5.1 step 4: the key is the JobName header as sent, so the full
 * resource name and the short name are different keys; the attempt deadline
 * is still found by the last segment. */
START_TEST(scheduler_key_uses_the_job_name_as_sent)
{
	const char *full[] = {"X-CloudScheduler: true",
	                      "X-CloudScheduler-JobName: projects/p/locations/l/jobs/ping-hourly",
	                      "X-CloudScheduler-ScheduleTime: 2026-11-22T21:00:00Z", NULL};
	const char *shrt[] = {"X-CloudScheduler: true", "X-CloudScheduler-JobName: ping-hourly",
	                      "X-CloudScheduler-ScheduleTime: 2026-11-22T21:00:00Z", NULL};
	struct httpc_resp r;

	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, NULL, NULL, -1, "{}", full, &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, NULL, NULL, -1, "{}", shrt, &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, NULL, NULL, -1, "{}", full, &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
}
END_TEST

/* A failed scheduled run is not dead-lettered: one ERROR line names the
 * job, the slot and the status and carries the payload. */
START_TEST(failed_scheduled_run_is_logged_with_its_payload)
{
	const char *h[] = {"X-CloudScheduler: true", "X-CloudScheduler-JobName: ping-failing",
	                   "X-CloudScheduler-ScheduleTime: 2026-11-22T22:00:00Z", NULL};
	const char *needles[] = {"\"severity\":\"ERROR\"",  "ping-failing",
	                         "2026-11-22T22:00:00Z",    "HTTP 503",
	                         "\"marker\":\"sched-77\"", NULL};
	struct httpc_resp r;

	ck_assert_int_eq(cj_push_ex(&S, "ping", TOKEN, NULL, NULL, -1,
	                            "{\"fail\":\"transient\",\"marker\":\"sched-77\"}", h, &r),
	                 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "retry");
	httpc_resp_free(&r);
	ck_assert_int_ge(cj_server_log_wait(&S, needles, 5000), 1);
}
END_TEST

/* Every job type without a handler (while any is left unbuilt). */
START_TEST(every_type_is_served)
{
	const struct job_type *all;
	size_t n;

	/* All eleven jobs and ping have a handler: none answers 501. A
	 * payload without its required fields is refused by the handler's
	 * schema (200 failed) or run (a scan), never not_implemented. */
	all = job_types_all(&n);
	ck_assert_int_eq(n, 12);
	for (size_t i = 0; i < n; i++) {
		struct httpc_resp r;
		char task[64];

		ck_assert_ptr_nonnull(registry_handler(&all[i]));
		ck_assert_int_eq(cj_push(&S, all[i].name, TOKEN, all[i].queue,
		                         itest_task_id(task, sizeof(task)), 0, "{}", &r),
		                 0);
		ck_assert_msg(r.status != 501, "%s: %ld", all[i].name, (long)r.status);
		ck_assert_ptr_nonnull(r.json);
		httpc_resp_free(&r);
	}
}
END_TEST

int main(void)
{
	const char *extra[] = {"MAX_BODY_BYTES=4096", NULL};
	Suite *s = suite_create("jobs");
	TCase *tc = tcase_create("jobs");
	int failed;

	itest_setup(&W);
	itest_server(&W, &S, extra);
	TOKEN = itest_token(&W);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, ping_completes_with_its_payload);
	tcase_add_test(tc, same_task_twice_is_a_duplicate);
	tcase_add_test(tc, payload_idempotency_key_wins);
	tcase_add_test(tc, fifty_concurrent_deliveries_run_once);
	tcase_add_test(tc, transient_failure_releases_the_key);
	tcase_add_test(tc, permanent_failure_is_acknowledged_and_dead_lettered);
	tcase_add_test(tc, invalid_payload_is_a_permanent_failure);
	tcase_add_test(tc, failed_last_attempt_leaves_a_dead_letter);
	tcase_add_test(tc, unknown_type_is_404_and_dead_lettered_on_last_attempt);
	tcase_add_test(tc, no_database_means_the_log_carries_the_dead_letter);
	tcase_add_test(tc, malformed_delivery_headers_are_400_after_auth);
	tcase_add_test(tc, wrong_method_is_405);
	tcase_add_test(tc, oversized_bodies_are_413);
	tcase_add_test(tc, bodies_that_are_not_json_objects_are_400);
	tcase_add_test(tc, content_type_does_not_matter);
	tcase_add_test(tc, scheduler_pushes_are_keyed_by_job_and_time);
	tcase_add_test(tc, scheduler_key_uses_the_job_name_as_sent);
	tcase_add_test(tc, failed_scheduled_run_is_logged_with_its_payload);
	tcase_add_test(tc, deep_json_is_refused_and_the_server_lives);
	tcase_add_test(tc, every_type_is_served);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	free(TOKEN);
	if (cj_server_stop(&S) != 0)
		failed++;
	itest_teardown(&W);
	return failed ? 1 : 0;
}
