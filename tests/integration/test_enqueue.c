/*
 * test_enqueue.c - POST /enqueue/{type} and the enqueue/queues commands
 * against the real binary in cloud mode, with the fake Cloud Tasks REST API
 * and metadata server: the exact task each create sends, names, delays,
 * validation, auth, 409/413/415, Cloud Tasks outages, exit codes.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "b64.h"
#include "fake_cloud.h"
#include "itest.h"
#include "timeutil.h"

static struct itest W;
static struct fake_cloud FC;
static struct cj_server S;
static char E_API[128], E_META[128];
static const char *CLOUD_ENV[] = {
    "USE_CLOUD_TASKS=true",
    "GCP_PROJECT_ID=" FAKE_PROJECT,
    "GCP_REGION=" FAKE_REGION,
    "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    E_API,
    E_META,
    NULL};

static long enqueue(const char *type, const char *body, const char *email, const char *ctype,
                    struct httpc_resp *r)
{
	char url[256], auth[4096], ct[128], *tok = NULL;
	const char *h[3] = {NULL, NULL, NULL};
	int n = 0;

	snprintf(url, sizeof(url), "%s/enqueue/%s", S.base, type);
	if (email) {
		tok = itest_token_for(&W, 0, ITEST_AUDIENCE, email);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		h[n++] = auth;
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
	h[n++] = ct;
	ck_assert_int_eq(httpc_request("POST", url, h, body, strlen(body), 30000, r), 0);
	free(tok);
	return r->status;
}

START_TEST(creates_the_exact_task)
{
	struct httpc_resp r;
	json_t *c, *task, *http;
	unsigned char *decoded;
	size_t n;
	const char *name;

	ck_assert_int_eq(
	    enqueue("calendar-sync",
	            "{\"payload\":{\"userId\":\"u-1\",\"full\":true},\"delaySeconds\":60}",
	            ITEST_ENQUEUE_EMAIL, NULL, &r),
	    202);
	name = httpc_json_str(&r, "task");
	ck_assert_ptr_nonnull(name);
	ck_assert_int_eq(strncmp(name,
	                         "projects/" FAKE_PROJECT "/locations/" FAKE_REGION
	                         "/queues/calendar-sync-queue/tasks/",
	                         strlen("projects/" FAKE_PROJECT "/locations/" FAKE_REGION
	                                "/queues/calendar-sync-queue/tasks/")),
	                 0);
	ck_assert_uint_eq(strlen(strrchr(name, '/') + 1), 32); /* random 128-bit hex */
	ck_assert_ptr_nonnull(httpc_json_str(&r, "scheduleTime"));
	c = fake_cloud_last_create(&FC);
	ck_assert_ptr_nonnull(c);
	task = json_object_get(c, "task");
	http = json_object_get(task, "httpRequest");
	ck_assert_str_eq(json_string_value(json_object_get(task, "name")), name);
	ck_assert_str_eq(json_string_value(json_object_get(http, "url")),
	                 ITEST_AUDIENCE "/jobs/calendar-sync");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(http, "oidcToken"),
	                                                   "serviceAccountEmail")),
	                 ITEST_TASKS_EMAIL);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(http, "oidcToken"), "audience")),
	    ITEST_AUDIENCE);
	ck_assert_int_eq(b64_decode(json_string_value(json_object_get(http, "body")),
	                            strlen(json_string_value(json_object_get(http, "body"))),
	                            &decoded, &n),
	                 CJ_OK);
	ck_assert_str_eq((char *)decoded, "{\"userId\":\"u-1\",\"full\":true}");
	free(decoded);
	{
		double at;

		ck_assert_int_eq(time_parse_rfc3339(
		                     json_string_value(json_object_get(task, "scheduleTime")), &at),
		                 CJ_OK);
		ck_assert(at > time_wall() + 30 && at < time_wall() + 90);
	}
	json_decref(c);
	httpc_resp_free(&r);
}
END_TEST

START_TEST(task_ids_are_used_once)
{
	struct httpc_resp r;
	char id[64], body[256];

	snprintf(body, sizeof(body), "{\"payload\":{},\"taskId\":\"%s\"}",
	         itest_task_id(id, sizeof(id)));
	ck_assert_int_eq(enqueue("ping", body, ITEST_ENQUEUE_EMAIL, NULL, &r), 202);
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "task"), id));
	httpc_resp_free(&r);
	ck_assert_int_eq(enqueue("ping", body, ITEST_ENQUEUE_EMAIL, NULL, &r), 409);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "already_exists");
	httpc_resp_free(&r);
}
END_TEST

/* The statuses the fake answered to the last n creates, e.g. "0,409". */
static void last_create_statuses(size_t n, char *out, size_t outlen)
{
	json_t *creates = fake_cloud_creates(&FC);
	size_t total = json_array_size(creates), pos = 0;

	out[0] = '\0';
	for (size_t i = total > n ? total - n : 0; i < total; i++)
		pos += (size_t)snprintf(
		    out + pos, outlen - pos, "%s%lld", pos ? "," : "",
		    json_integer_value(json_object_get(json_array_get(creates, i), "status")));
	json_decref(creates);
}

/* A create that lands but whose answer is lost is still 202: the fake
 * stores the task and closes the connection without answering. On a
 * kept-alive connection libcurl re-sends the create by itself and meets the
 * task (409 within our first attempt); when that copy is dropped too, our
 * own retry meets it. Either way it is our task, named by us or by the
 * caller's taskId. */
START_TEST(create_whose_answer_is_lost_is_202)
{
	static const struct {
		int drops, reused;
		const char *statuses;
	} modes[] = {{1, 1, "0,409"}, {2, 0, "0,0,409"}};
	struct httpc_resp r;
	char id[64], body[256], statuses[64];

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (int with_id = 0; with_id < 2; with_id++) {
			if (with_id)
				snprintf(body, sizeof(body), "{\"payload\":{},\"taskId\":\"%s\"}",
				         itest_task_id(id, sizeof(id)));
			else
				snprintf(body, sizeof(body), "{\"payload\":{}}");
			/* Keep a connection to the fake alive for the next create. */
			ck_assert_int_eq(
			    enqueue("ping", "{\"payload\":{}}", ITEST_ENQUEUE_EMAIL, NULL, &r),
			    202);
			httpc_resp_free(&r);
			ck_assert_int_eq(
			    fake_cloud_drop(&FC, "create", modes[m].drops, modes[m].reused, 1), 0);
			ck_assert_msg(enqueue("ping", body, ITEST_ENQUEUE_EMAIL, NULL, &r) == 202,
			              "mode %zu, %s: %ld %s", m, body, r.status, r.body);
			ck_assert_ptr_nonnull(httpc_json_str(&r, "scheduleTime"));
			if (with_id)
				ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "task"), id));
			httpc_resp_free(&r);
			last_create_statuses(modes[m].drops + 1, statuses, sizeof(statuses));
			ck_assert_str_eq(statuses, modes[m].statuses);
		}
	}
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
}
END_TEST

/* A taskId that was used before is 409 already_exists. (After a 503 our
 * first attempt may have landed - a front end can answer so after applying
 * the create - so a retry's 409 then counts as ours: 202; see
 * test_faults_cloud_tasks.c.) */
START_TEST(task_id_taken_before_is_409)
{
	struct httpc_resp r;
	char id[64], body[256];

	snprintf(body, sizeof(body), "{\"payload\":{},\"taskId\":\"%s\"}",
	         itest_task_id(id, sizeof(id)));
	ck_assert_int_eq(enqueue("ping", body, ITEST_ENQUEUE_EMAIL, NULL, &r), 202);
	httpc_resp_free(&r);
	ck_assert_int_eq(enqueue("ping", body, ITEST_ENQUEUE_EMAIL, NULL, &r), 409);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "already_exists");
	httpc_resp_free(&r);
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
}
END_TEST

START_TEST(validation)
{
	static const struct {
		const char *type, *body;
		long status;
		const char *code, *mention;
	} cases[] = {
	    {"google-contacts-sync", "{\"payload\":{}}", 400, "invalid_payload", "userId"},
	    {"ping", "{\"payload\":{\"sleepMs\":\"x\"}}", 400, "invalid_payload", "sleepMs"},
	    {"ping", "{}", 400, "invalid_request", "payload"},
	    {"ping", "{\"payload\":[]}", 400, "invalid_payload", "payload"},
	    {"ping", "{\"payload\":{},\"taskId\":\"bad id!\"}", 400, "invalid_request", "taskId"},
	    {"ping", "{\"payload\":{},\"delaySeconds\":-3}", 400, "invalid_request",
	     "delaySeconds"},
	    {"ping", "{\"payload\":{},\"scheduleTime\":\"tomorrow\"}", 400, "invalid_request",
	     "scheduleTime"},
	    {"ping", "{\"payload\":{},\"scheduleTime\":\"2099-01-01T00:00:00Z\"}", 400,
	     "invalid_request", "30 days"},
	    {"ping", "not json", 400, "invalid_json", "JSON"},
	    {"no-such-job", "{\"payload\":{}}", 404, "not_found", "no-such-job"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct httpc_resp r;

		ck_assert_int_eq(
		    enqueue(cases[i].type, cases[i].body, ITEST_ENQUEUE_EMAIL, NULL, &r),
		    cases[i].status);
		ck_assert_str_eq(httpc_json_str(&r, "error"), cases[i].code);
		ck_assert_msg(strstr(httpc_json_str(&r, "message"), cases[i].mention) != NULL,
		              "case %zu: %s", i, httpc_json_str(&r, "message"));
		httpc_resp_free(&r);
	}
}
END_TEST

START_TEST(size_media_type_and_auth)
{
	struct httpc_resp r;
	size_t n = 100100;
	char *big = malloc(n + 64);

	ck_assert_ptr_nonnull(big);
	memcpy(big, "{\"payload\":{\"pad\":\"", 19);
	memset(big + 19, 'x', n);
	memcpy(big + 19 + n, "\"}}", 4);
	ck_assert_int_eq(enqueue("ping", big, ITEST_ENQUEUE_EMAIL, NULL, &r), 413);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "payload_too_large");
	httpc_resp_free(&r);
	free(big);
	ck_assert_int_eq(enqueue("ping", "{\"payload\":{}}", ITEST_ENQUEUE_EMAIL, "text/plain", &r),
	                 415);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "unsupported_media_type");
	httpc_resp_free(&r);
	ck_assert_int_eq(enqueue("ping", "{\"payload\":{}}", ITEST_ENQUEUE_EMAIL,
	                         "application/json; charset=utf-8", &r),
	                 202);
	httpc_resp_free(&r);
	ck_assert_int_eq(enqueue("ping", "{\"payload\":{}}", NULL, NULL, &r), 401);
	httpc_resp_free(&r);
	/* The push identity may not enqueue (ENQUEUE_ALLOWED_EMAILS differs). */
	ck_assert_int_eq(enqueue("ping", "{\"payload\":{}}", ITEST_TASKS_EMAIL, NULL, &r), 403);
	httpc_resp_free(&r);
}
END_TEST

/* SPEC §5: /enqueue bodies nested deeper than 64 levels are 400
 * invalid_json (the payload is level 2 of the body); 64 levels pass. */
START_TEST(deep_json_is_refused)
{
	static const int depths[] = {64, 65, 830, 2047};
	struct httpc_resp r;
	size_t i;

	for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		int d = depths[i], k;
		size_t len = 0;
		char *b = malloc((size_t)d * 2 + 64);

		ck_assert_ptr_nonnull(b);
		len += (size_t)snprintf(b, 32, "{\"payload\":{\"a\":");
		for (k = 0; k < d - 2; k++)
			b[len++] = '[';
		b[len++] = '1';
		for (k = 0; k < d - 2; k++)
			b[len++] = ']';
		memcpy(b + len, "}}", 3);
		if (d <= 64) {
			ck_assert_int_eq(enqueue("ping", b, ITEST_ENQUEUE_EMAIL, NULL, &r), 202);
		} else {
			ck_assert_int_eq(enqueue("ping", b, ITEST_ENQUEUE_EMAIL, NULL, &r), 400);
			ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_json");
			ck_assert_ptr_nonnull(
			    strstr(httpc_json_str(&r, "message"), "deeper than 64 levels"));
		}
		httpc_resp_free(&r);
		free(b);
	}
	ck_assert_int_eq(enqueue("ping", "{\"payload\":{}}", ITEST_ENQUEUE_EMAIL, NULL, &r), 202);
	httpc_resp_free(&r);
}
END_TEST

START_TEST(cloud_tasks_outage_is_503_after_retries)
{
	struct httpc_resp r;
	long before = fake_cloud_stat(&FC, "createCalls");

	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 10, 503, 0), 0);
	ck_assert_int_eq(enqueue("ping", "{\"payload\":{}}", ITEST_ENQUEUE_EMAIL, NULL, &r), 503);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "unavailable");
	httpc_resp_free(&r);
	ck_assert_int_gt(fake_cloud_stat(&FC, "createCalls") - before, 1); /* retried */
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
	ck_assert_int_eq(enqueue("ping", "{\"payload\":{}}", ITEST_ENQUEUE_EMAIL, NULL, &r), 202);
	httpc_resp_free(&r);
}
END_TEST

struct enq_call {
	long status;
};

static void *enqueue_one(void *arg)
{
	struct enq_call *c = arg;
	struct httpc_resp r;

	c->status = enqueue("ping", "{\"payload\":{}}", ITEST_ENQUEUE_EMAIL, NULL, &r);
	httpc_resp_free(&r);
	return NULL;
}

START_TEST(one_access_token_for_twenty_concurrent_enqueues)
{
	struct cj_server saved = S, fresh;
	struct enq_call calls[20];
	pthread_t th[20];
	long before;
	int i;

	/* A fresh instance has no access token yet. */
	itest_server(&W, &fresh, CLOUD_ENV);
	S = fresh;
	before = fake_cloud_stat(&FC, "metadataCalls");
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, enqueue_one, &calls[i]), 0);
	for (i = 0; i < 20; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(calls[i].status, 202);
	ck_assert_int_eq(fake_cloud_stat(&FC, "metadataCalls") - before, 1);
	S = saved;
	ck_assert_int_eq(cj_server_stop(&fresh), 0);
}
END_TEST

START_TEST(enqueues_are_counted)
{
	struct httpc_resp r;
	char url[128];

	snprintf(url, sizeof(url), "%s/metrics", S.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_ptr_nonnull(
	    strstr(r.body, "catchup_jobs_enqueue_total{type=\"ping\",result=\"created\"}"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "catchup_jobs_upstream_duration_seconds_count{upstream=\"cloudtasks\""));
	httpc_resp_free(&r);
}
END_TEST

START_TEST(cli_enqueue_and_exit_codes)
{
	char id[64], *out = NULL, *err = NULL;
	char *ok[] = {"enqueue", "ping", "{\"n\":1}", "--id", id, "--delay", "5", NULL};
	char *bad_payload[] = {"enqueue", "google-contacts-sync", "{}", NULL};
	char *bad_json[] = {"enqueue", "ping", "{nope", NULL};
	char *bad_flag[] = {"enqueue", "ping", "--soon", NULL};
	char *unknown[] = {"enqueue", "no-such-job", NULL};
	char **env = itest_env(&W, CLOUD_ENV);

	itest_task_id(id, sizeof(id));
	ck_assert_int_eq(cj_run(ok, env, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "/queues/ping-queue/tasks/"));
	ck_assert_ptr_nonnull(strstr(out, id));
	free(out);
	free(err);
	ck_assert_int_eq(cj_run(ok, env, &out, &err), 3);
	ck_assert_ptr_nonnull(strstr(err, id));
	free(out);
	free(err);
	/* The CLI fetches its access token, then creates on the same connection:
	 * the fake stores the task and drops that connection, libcurl re-sends,
	 * 409 - our own task, exit 0. */
	itest_task_id(id, sizeof(id));
	ck_assert_int_eq(fake_cloud_drop(&FC, "create", 1, 1, 1), 0);
	ck_assert_int_eq(cj_run(ok, env, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, id));
	free(out);
	free(err);
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
	ck_assert_int_eq(cj_run(bad_payload, env, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "userId"));
	free(out);
	free(err);
	ck_assert_int_eq(cj_run(bad_json, env, &out, &err), 2);
	free(out);
	free(err);
	ck_assert_int_eq(cj_run(bad_flag, env, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "--soon"));
	free(out);
	free(err);
	ck_assert_int_eq(cj_run(unknown, env, &out, &err), 2);
	free(out);
	free(err);
	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 10, 503, 0), 0);
	itest_task_id(id, sizeof(id));
	ck_assert_int_eq(cj_run(ok, env, &out, &err), 1);
	free(out);
	free(err);
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
}
END_TEST

START_TEST(queues_command_prints_every_queue_and_schedule)
{
	char path[1024], *out = NULL, *err = NULL, needle[256];
	char *args[] = {"queues", NULL};
	json_t *q, *s, *v;
	const char *name;
	size_t i;

	snprintf(path, sizeof(path), "%s/config/queues.json", getenv("CJ_SOURCE_ROOT"));
	q = json_load_file(path, 0, NULL);
	snprintf(path, sizeof(path), "%s/config/schedules.json", getenv("CJ_SOURCE_ROOT"));
	s = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_nonnull(s);
	{
		/* The repository's files, schedules included. */
		const char *env[64];
		char cfg[1100];
		size_t n = 0;

		for (; CLOUD_ENV[n] && n < 62; n++)
			env[n] = CLOUD_ENV[n];
		snprintf(cfg, sizeof(cfg), "CONFIG_DIR=%s/config", getenv("CJ_SOURCE_ROOT"));
		env[n++] = cfg;
		env[n] = NULL;
		ck_assert_int_eq(cj_run(args, itest_env(&W, env), &out, &err), 0);
	}
	json_object_foreach(q, name, v)
	{
		snprintf(needle, sizeof(needle), "gcloud tasks queues create '%s'", name);
		ck_assert_msg(strstr(out, needle) != NULL, "missing %s", needle);
		snprintf(needle, sizeof(needle), "--max-attempts='%lld'",
		         json_integer_value(
		             json_object_get(json_object_get(v, "retryConfig"), "maxAttempts")));
		ck_assert_ptr_nonnull(strstr(out, needle));
	}
	json_array_foreach(json_object_get(s, "schedules"), i, v)
	{
		ck_assert_ptr_nonnull(strstr(out, json_string_value(json_object_get(v, "name"))));
	}
	ck_assert_ptr_nonnull(strstr(out, "--oidc-token-audience"));
	free(out);
	free(err);
	json_decref(q);
	json_decref(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enqueue-integration");
	TCase *tc = tcase_create("enqueue");
	int failed;

	itest_setup(&W);
	if (fake_cloud_start(&FC, NULL)) {
		fprintf(stderr, "cannot start the fake Google services\n");
		return 1;
	}
	snprintf(E_API, sizeof(E_API), "CLOUD_TASKS_API_URL=%s", FC.url);
	snprintf(E_META, sizeof(E_META), "GCE_METADATA_HOST=%s", FC.metadata_host);
	itest_server(&W, &S, CLOUD_ENV);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, creates_the_exact_task);
	tcase_add_test(tc, task_ids_are_used_once);
	tcase_add_test(tc, create_whose_answer_is_lost_is_202);
	tcase_add_test(tc, task_id_taken_before_is_409);
	tcase_add_test(tc, validation);
	tcase_add_test(tc, size_media_type_and_auth);
	tcase_add_test(tc, deep_json_is_refused);
	tcase_add_test(tc, cloud_tasks_outage_is_503_after_retries);
	tcase_add_test(tc, one_access_token_for_twenty_concurrent_enqueues);
	tcase_add_test(tc, enqueues_are_counted);
	tcase_add_test(tc, cli_enqueue_and_exit_codes);
	tcase_add_test(tc, queues_command_prints_every_queue_and_schedule);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	fake_cloud_stop(&FC);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
