/*
 * test_faults_cloud_tasks.c - the Cloud Tasks API failing under an enqueue
 * (SPEC §5.2), in cloud mode against the fake Cloud Tasks
 * (tests/fixtures/fake_google.c). Promises: a create that landed but was
 * answered 429 or 503, or not answered before our timeout, is one task and
 * a success to the caller - our retry's 409 ALREADY_EXISTS is our own task
 * - whether we named it or the caller gave taskId; a create refused before
 * landing is retried and makes one task. The fake keys tasks by name, so
 * "one task" is: the tasks it holds grew by exactly one, and every attempt
 * of the call carried the same name.
 *
 * Covered elsewhere: answers lost after landing (test_enqueue.c
 * create_whose_answer_is_lost_is_202) and an outage past the retries
 * (test_enqueue.c cloud_tasks_outage_is_503_after_retries).
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "fake_cloud.h"
#include "itest.h"

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

/* POST /enqueue/ping with body as the producer; the status, the task name
 * answered (or "") into task. */
static long enqueue(const char *body, char *task, size_t tasklen)
{
	char url[256], auth[4096],
	    *tok = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	struct httpc_resp r;
	long code;

	snprintf(url, sizeof(url), "%s/enqueue/ping", S.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(httpc_request("POST", url, h, body, strlen(body), 60000, &r), 0);
	code = r.status;
	snprintf(task, tasklen, "%s", httpc_json_str(&r, "task") ? httpc_json_str(&r, "task") : "");
	httpc_resp_free(&r);
	free(tok);
	return code;
}

/* The creates the fake recorded from index from on: their statuses
 * ("503,409") into statuses, and whether they all named the same task. */
static int creates_since(size_t from, char *statuses, size_t len)
{
	json_t *all = fake_cloud_creates(&FC);
	const char *first = NULL;
	size_t pos = 0;
	int same = 1;

	statuses[0] = '\0';
	for (size_t i = from; i < json_array_size(all); i++) {
		json_t *c = json_array_get(all, i);
		json_t *body = json_loads(json_string_value(json_object_get(c, "body")), 0, NULL);
		const char *name =
		    json_string_value(json_object_get(json_object_get(body, "task"), "name"));

		pos += (size_t)snprintf(statuses + pos, len - pos, "%s%lld", pos ? "," : "",
		                        json_integer_value(json_object_get(c, "status")));
		if (!first && name)
			first = strdup(name);
		else if (!name || strcmp(first, name))
			same = 0;
		json_decref(body);
	}
	free((char *)first);
	json_decref(all);
	return same;
}

static size_t ncreates(void)
{
	json_t *all = fake_cloud_creates(&FC);
	size_t n = json_array_size(all);

	json_decref(all);
	return n;
}

/* One /enqueue after the fault was set: 202, exactly one more task, every
 * attempt naming it, and the fake's answers as expected. */
static void expect_one_task(const char *body, const char *id, const char *want_statuses)
{
	size_t from = ncreates();
	long tasks = fake_cloud_stat(&FC, "tasks");
	char task[600], statuses[128];
	long code = enqueue(body, task, sizeof(task));

	ck_assert_msg(code == 202, "%s: %ld", body, code);
	if (id)
		ck_assert_ptr_nonnull(strstr(task, id));
	ck_assert_int_eq(fake_cloud_stat(&FC, "tasks"), tasks + 1);
	ck_assert_msg(creates_since(from, statuses, sizeof(statuses)), "attempts named two tasks");
	ck_assert_msg(!strcmp(statuses, want_statuses), "%s: the fake answered %s, not %s", body,
	              statuses, want_statuses);
}

/* Promise: a create that landed and was answered 429 or 503 is a success
 * (202) and one task, with or without the caller's taskId, from /enqueue
 * and from the CLI (exit 0, not 3). */
START_TEST(create_answered_429_or_503_after_landing_is_202_and_one_task)
{
	static const int statuses[] = {429, 503};
	char id[64], body[256], want[32];

	for (size_t i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "%d,409", statuses[i]);
		ck_assert_int_eq(fake_cloud_fail_after_landing(&FC, 1, statuses[i]), 0);
		expect_one_task("{\"payload\":{}}", NULL, want);
		itest_task_id(id, sizeof(id));
		snprintf(body, sizeof(body), "{\"payload\":{},\"taskId\":\"%s\"}", id);
		ck_assert_int_eq(fake_cloud_fail_after_landing(&FC, 1, statuses[i]), 0);
		expect_one_task(body, id, want);
	}
	{
		char *args[] = {"enqueue", "ping", "{}", "--id", id, NULL}, *out = NULL,
		     *err = NULL;
		long tasks;

		itest_task_id(id, sizeof(id));
		ck_assert_int_eq(fake_cloud_fail_after_landing(&FC, 1, 503), 0);
		tasks = fake_cloud_stat(&FC, "tasks");
		ck_assert_msg(cj_run(args, itest_env(&W, CLOUD_ENV), &out, &err) == 0, "%s", err);
		ck_assert_ptr_nonnull(strstr(out, id));
		ck_assert_int_eq(fake_cloud_stat(&FC, "tasks"), tasks + 1);
		free(out);
		free(err);
	}
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
}
END_TEST

/* Promise: a create refused with 429 or 503 before it landed is retried
 * with the same name: 202 and one task. */
START_TEST(create_refused_before_landing_is_retried_and_one_task)
{
	char id[64], body[256];

	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 1, 429, 0), 0);
	expect_one_task("{\"payload\":{}}", NULL, "429,200");
	itest_task_id(id, sizeof(id));
	snprintf(body, sizeof(body), "{\"payload\":{},\"taskId\":\"%s\"}", id);
	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 1, 503, 0), 0);
	expect_one_task(body, id, "503,200");
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
}
END_TEST

struct call {
	const char *body;
	long code;
	char task[600];
};

/* The attempt that timed out is recorded when its answer goes, after the
 * fake's delay: the statuses are not checked here. Checked by the test's
 * thread: check's assertions belong to it. */
static void *timed_out_call(void *arg)
{
	struct call *c = arg;

	c->code = enqueue(c->body, c->task, sizeof(c->task));
	return NULL;
}

/* Promise: a create that landed but was not answered before our 10 s
 * timeout is a success (202) and one task, with or without taskId. The
 * two calls run at once. */
START_TEST(create_timing_out_after_landing_is_202_and_one_task)
{
	char id[64], body[256];
	struct call calls[2] = {{"{\"payload\":{}}", 0, ""}, {body, 0, ""}};
	pthread_t th[2];
	long tasks = fake_cloud_stat(&FC, "tasks");

	itest_task_id(id, sizeof(id));
	snprintf(body, sizeof(body), "{\"payload\":{},\"taskId\":\"%s\"}", id);
	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 2, 0, 11000), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, timed_out_call, &calls[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(calls[0].code, 202);
	ck_assert_int_eq(calls[1].code, 202);
	ck_assert_ptr_nonnull(strstr(calls[1].task, id));
	ck_assert_int_eq(fake_cloud_stat(&FC, "tasks"), tasks + 2);
	ck_assert_int_eq(fake_cloud_reset(&FC), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-cloud-tasks");
	TCase *tc = tcase_create("faults-cloud-tasks");
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
	tcase_add_test(tc, create_answered_429_or_503_after_landing_is_202_and_one_task);
	tcase_add_test(tc, create_refused_before_landing_is_retried_and_one_task);
	tcase_add_test(tc, create_timing_out_after_landing_is_202_and_one_task);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	fake_cloud_stop(&FC);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
