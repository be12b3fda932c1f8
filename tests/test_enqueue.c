/*
 * test_enqueue.c - unit tests for src/enqueue.c against the fake Cloud
 * Tasks API: the job's queue, deadline and target; unknown types; payload
 * errors told apart from request errors; delays and schedule times (30-day
 * limit); task ids and duplicates; the 100,000-byte limit before any call;
 * upstream failures; local mode's placeholder token; the enqueue metric.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "buf.h"
#include "enqueue.h"
#include "fake_cloud.h"
#include "http_client.h"
#include "metrics.h"
#include "queues.h"
#include "timeutil.h"

#define PARENT "projects/" FAKE_PROJECT "/locations/" FAKE_REGION "/queues/"

static struct fake_cloud fc;

static struct ctx {
	struct config cfg;
	struct queues *q;
	struct enqueuer *e;
} t;

static void start_fake(void)
{
	ck_assert_int_eq(fake_cloud_start(&fc, NULL), 0);
}

static void stop_fake(void)
{
	fake_cloud_stop(&fc);
}

static void open_enqueuer(const char *const *extra, const char *api_url)
{
	char err[512] = "", dir[1024];
	const char *root = getenv("CJ_SOURCE_ROOT");

	snprintf(dir, sizeof(dir), "%s/config", root ? root : ".");
	ck_assert_int_eq(fake_cloud_config(&fc, extra, &t.cfg), 0);
	ck_assert_msg(queues_load(dir, &t.q, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_msg(enqueuer_new(&t.cfg, t.q, api_url, &t.e, err, sizeof(err)) == CJ_OK, "%s",
	              err);
	cloud_tasks_set_retry(enqueuer_cloud_tasks(t.e), 3, 20, 5000);
}

static void close_enqueuer(void)
{
	enqueuer_free(t.e);
	queues_free(t.q);
	config_release(&t.cfg);
	memset(&t, 0, sizeof(t));
}

static void setup(void)
{
	ck_assert_int_eq(fake_cloud_reset(&fc), 0);
	open_enqueuer(NULL, NULL);
}

static int enqueue(const char *type, const char *payload_json, struct enqueue_request *r,
                   struct enqueue_result *res, char *err, size_t errlen)
{
	json_t *p = payload_json ? json_loads(payload_json, JSON_DECODE_ANY, NULL) : NULL;
	int rc;

	r->type = type;
	r->payload = p;
	rc = enqueue_job(t.e, r, res, err, errlen);
	json_decref(p);
	return rc;
}

START_TEST(creates_task_in_job_queue)
{
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	char err[512] = "";
	json_t *body, *task, *http;
	double when;

	ck_assert_msg(enqueue("calendar-sync", "{\"userId\":\"u1\",\"calendarId\":\"work\"}", &r,
	                      &res, err, sizeof(err)) == CJ_OK,
	              "%s", err);
	ck_assert_int_eq(res.kind, ENQUEUE_OK);
	ck_assert_int_eq(strncmp(res.task, PARENT "calendar-sync-queue/tasks/",
	                         strlen(PARENT "calendar-sync-queue/tasks/")),
	                 0);
	ck_assert_int_eq(time_parse_rfc3339(res.schedule_time, &when), CJ_OK);
	body = fake_cloud_last_create(&fc);
	task = json_object_get(body, "task");
	http = json_object_get(task, "httpRequest");
	ck_assert_str_eq(json_string_value(json_object_get(task, "name")), res.task);
	/* calendar-sync-queue's dispatchDeadline from config/queues.json. */
	ck_assert_str_eq(json_string_value(json_object_get(task, "dispatchDeadline")), "600s");
	ck_assert_str_eq(json_string_value(json_object_get(http, "url")),
	                 FAKE_RUN_URL "/jobs/calendar-sync");
	ck_assert_ptr_null(json_object_get(task, "scheduleTime"));
	json_decref(body);

	ck_assert_int_eq(enqueue("ping", "{\"sleepMs\":10}", &r, &res, err, sizeof(err)), CJ_OK);
	body = fake_cloud_last_create(&fc);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(body, "task"), "dispatchDeadline")),
	    "60s");
	json_decref(body);
}
END_TEST

START_TEST(unknown_type_and_bad_payloads)
{
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	char err[512];

	ck_assert_int_eq(enqueue("no-such-job", "{}", &r, &res, err, sizeof(err)), CJ_ENOTFOUND);
	ck_assert_int_eq(res.kind, ENQUEUE_UNKNOWN_TYPE);
	ck_assert_ptr_nonnull(strstr(err, "no-such-job"));

	ck_assert_int_eq(enqueue("calendar-sync", "{}", &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_PAYLOAD);
	ck_assert_str_eq(err, "userId: required");

	ck_assert_int_eq(enqueue("ping", "{\"fail\":\"sometimes\"}", &r, &res, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_PAYLOAD);
	ck_assert_ptr_nonnull(strstr(err, "fail"));

	ck_assert_int_eq(enqueue("ping", "[1,2]", &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_PAYLOAD);

	ck_assert_int_eq(enqueue("ping", NULL, &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_REQUEST);
	ck_assert_str_eq(err, "payload: required");
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 0);
}
END_TEST

START_TEST(delay_and_schedule_time)
{
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	double sent, now = time_wall();
	char err[512];
	json_t *body;

	r.has_delay = 1;
	r.delay_seconds = 120;
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_OK);
	body = fake_cloud_last_create(&fc);
	ck_assert_int_eq(time_parse_rfc3339(json_string_value(json_object_get(
	                                        json_object_get(body, "task"), "scheduleTime")),
	                                    &sent),
	                 CJ_OK);
	ck_assert(sent >= now + 119 && sent <= now + 300);
	json_decref(body);

	r.has_schedule_time = 1;
	r.schedule_time = now + 60;
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_REQUEST);
	ck_assert_ptr_nonnull(strstr(err, "not both"));

	r.has_delay = 0;
	r.schedule_time = now + 31 * 86400.0;
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_str_eq(err, "scheduleTime: more than 30 days ahead");
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_REQUEST);

	r.has_schedule_time = 0;
	r.has_delay = 1;
	r.delay_seconds = 31 * 86400.0;
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_str_eq(err, "delaySeconds: more than 30 days ahead");
	r.delay_seconds = -1;
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_REQUEST);
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 1);

	/* An absolute time within 30 days is sent as is and answered back. */
	r.has_delay = 0;
	r.has_schedule_time = 1;
	r.schedule_time = (double)(time_wall_s() + 29 * 86400);
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(time_parse_rfc3339(res.schedule_time, &sent), CJ_OK);
	ck_assert(sent == r.schedule_time);
}
END_TEST

START_TEST(task_ids_and_duplicates)
{
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	char err[512];

	r.task_id = "user-7_sync";
	ck_assert_int_eq(enqueue("token-refresh", "{\"userId\":\"7\"}", &r, &res, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_str_eq(res.task, PARENT "token-refresh-queue/tasks/user-7_sync");
	ck_assert_int_eq(enqueue("token-refresh", "{\"userId\":\"7\"}", &r, &res, err, sizeof(err)),
	                 CJ_EEXISTS);
	ck_assert_int_eq(res.kind, ENQUEUE_EXISTS);

	r.task_id = "no spaces";
	ck_assert_int_eq(enqueue("token-refresh", "{}", &r, &res, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(res.kind, ENQUEUE_INVALID_REQUEST);
	ck_assert_ptr_nonnull(strstr(err, "taskId"));
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 2);
}
END_TEST

START_TEST(payload_size_limit)
{
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	char err[512], *blob;
	json_t *p;
	int rc;

	/* {"blob":"x…"} is 11 bytes of JSON around the string. */
	blob = malloc(CLOUD_TASKS_MAX_PAYLOAD);
	memset(blob, 'x', CLOUD_TASKS_MAX_PAYLOAD - 11);
	blob[CLOUD_TASKS_MAX_PAYLOAD - 11] = '\0';
	p = json_pack("{s:s}", "blob", blob);
	r.type = "ping";
	r.payload = p;
	rc = enqueue_job(t.e, &r, &res, err, sizeof(err));
	ck_assert_msg(rc == CJ_OK, "%s", err);
	json_object_set_new(p, "blob", json_sprintf("%sx", blob));
	ck_assert_int_eq(enqueue_job(t.e, &r, &res, err, sizeof(err)), CJ_ETOOBIG);
	ck_assert_int_eq(res.kind, ENQUEUE_TOO_BIG);
	ck_assert_ptr_nonnull(strstr(err, "100001 bytes"));
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 1);
	json_decref(p);
	free(blob);
}
END_TEST

START_TEST(upstream_failures)
{
	const char *other_project[] = {"GCP_PROJECT_ID=other-project", NULL};
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	char err[512];

	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 3, 503, 0), 0);
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(res.kind, ENQUEUE_UPSTREAM);
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 3);

	/* The queue does not exist there: a deployment fault, not a 404. */
	close_enqueuer();
	open_enqueuer(other_project, NULL);
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(res.kind, ENQUEUE_UPSTREAM);
	ck_assert_ptr_nonnull(strstr(err, "ping-queue not found in projects/other-project"));
}
END_TEST

START_TEST(local_mode_sends_placeholder_token)
{
	const char *local[] = {"USE_CLOUD_TASKS=false", NULL};
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	char err[512];

	/* The fake, unlike the embedded emulator, insists on its own tokens:
	 * the 401 proves the placeholder was sent and no metadata call made. */
	close_enqueuer();
	open_enqueuer(local, fc.url);
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "UNAUTHENTICATED"));
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 0);
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 1);
}
END_TEST

START_TEST(defaults_and_metrics)
{
	struct enqueue_request r = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	struct buf m = BUF_INIT(1 << 20);
	char err[512];
	json_t *body;

	/* Without config files every queue has a 600 s deadline. */
	queues_free(t.q);
	enqueuer_free(t.e);
	t.q = queues_defaults();
	ck_assert_int_eq(enqueuer_new(&t.cfg, t.q, NULL, &t.e, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(enqueue("ping", "{}", &r, &res, err, sizeof(err)), CJ_OK);
	body = fake_cloud_last_create(&fc);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(body, "task"), "dispatchDeadline")),
	    "600s");
	json_decref(body);
	ck_assert_int_eq(enqueue("ping", "{\"sleepMs\":-1}", &r, &res, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(enqueue("nope", "{}", &r, &res, err, sizeof(err)), CJ_ENOTFOUND);
	ck_assert_int_eq(metrics_render(&m), CJ_OK);
	ck_assert_ptr_nonnull(
	    strstr(buf_str(&m), "catchup_jobs_enqueue_total{type=\"ping\",result=\"created\"} 1"));
	ck_assert_ptr_nonnull(
	    strstr(buf_str(&m), "catchup_jobs_enqueue_total{type=\"ping\",result=\"invalid\"} 1"));
	ck_assert_ptr_nonnull(strstr(
	    buf_str(&m), "catchup_jobs_enqueue_total{type=\"unknown\",result=\"invalid\"} 1"));
	buf_release(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enqueue");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init())
		return 1;
	tcase_add_unchecked_fixture(tc, start_fake, stop_fake);
	tcase_add_checked_fixture(tc, setup, close_enqueuer);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, creates_task_in_job_queue);
	tcase_add_test(tc, unknown_type_and_bad_payloads);
	tcase_add_test(tc, delay_and_schedule_time);
	tcase_add_test(tc, task_ids_and_duplicates);
	tcase_add_test(tc, payload_size_limit);
	tcase_add_test(tc, upstream_failures);
	tcase_add_test(tc, local_mode_sends_placeholder_token);
	tcase_add_test(tc, defaults_and_metrics);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
