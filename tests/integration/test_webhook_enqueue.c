/*
 * test_webhook_enqueue.c - a Calendar push's calendar-sync under Cloud
 * Tasks faults, in cloud mode (the real binary, Upstash over real Redis,
 * SQLite, the fake Cloud Tasks REST API): the promise checked is that every
 * change a push announces gets exactly one sync, and that a push is
 * answered 200 only once its sync is known to exist.
 *
 * Covered: the sync's task (name from user, calendar and 30-s bucket, due
 * at the end of the bucket); a refused create is a 503 and Google's retry
 * of the same message creates the task; a create that landed but whose
 * answer was lost (connection dropped, 503 after landing) is one task and a
 * 200; the server SIGKILLed while the create's answer is on its way: the
 * retry after the restart finds the task ("already exists") and answers
 * 200, still one task; killed while a create that never lands hangs: the
 * retry after the restart creates it; a push later in the same bucket
 * calls nothing.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64.h"
#include "ckrun.h"
#include "crypto.h"
#include "fake_cloud.h"
#include "itest.h"
#include "store.h"
#include "timeutil.h"

#define USER "push-user"
#define BUCKET_S 30

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

static void db_exec(const char *sql, const struct store_param *p, size_t n)
{
	char url[512], err[256] = "";
	struct store *st = NULL;

	snprintf(url, sizeof(url), "sqlite:%s/catchup.db", W.dir);
	ck_assert_msg(store_open(url, &st, err, sizeof(err)) == CJ_OK, "open: %s", err);
	ck_assert_msg(store_exec(st, sql, p, n, NULL, err, sizeof(err)) == CJ_OK, "%s: %s", sql,
	              err);
	store_close(st);
}

/* An active channel on calendar cal of USER, with token tok. */
static void add_channel(const char *id, const char *cal, const char *tok)
{
	char hash[65];
	int64_t now = (int64_t)time_wall();

	ck_assert_int_eq(crypto_sha256_hex(tok, hash), 0);
	{
		struct store_param p[] = {store_p_text(id),   store_p_text(USER),
		                          store_p_text(cal),  store_p_text(hash),
		                          store_p_int(now + 86400), store_p_int(now)};

		db_exec("INSERT INTO webhook_channels (id, user_id, calendar_id, resource_id, "
		        "token_hash, expiration, status, last_message_number, created_at, updated_at) "
		        "VALUES ($1, $2, $3, 'res-1', $4, $5, 'active', 1, $6, $6)",
		        p, 6);
	}
}

/* A push as Google sends it: empty body, the channel's headers. */
static long push(const char *id, const char *tok, long number, char **body)
{
	char url[256], h_id[160], h_tok[160], h_num[64];
	const char *h[] = {h_id, h_tok, "X-Goog-Resource-State: exists", h_num,
	                   "X-Goog-Resource-ID: res-1", NULL};
	struct httpc_resp r = {0};
	long status;

	snprintf(url, sizeof(url), "%s/webhooks/google-calendar", S.base);
	snprintf(h_id, sizeof(h_id), "X-Goog-Channel-ID: %s", id);
	snprintf(h_tok, sizeof(h_tok), "X-Goog-Channel-Token: %s", tok);
	snprintf(h_num, sizeof(h_num), "X-Goog-Message-Number: %ld", number);
	ck_assert_int_eq(httpc_request("POST", url, h, "", 0, 60000, &r), 0);
	status = r.status;
	if (body)
		*body = r.body ? strdup(r.body) : NULL;
	httpc_resp_free(&r);
	return status;
}

/* How many distinct tasks Cloud Tasks holds whose calendar-sync payload
 * names calendar cal (the fake keeps tasks in the basic view, without
 * their body, so the payload is read from the recorded create requests).
 * *all receives the fake's creates (the caller decrefs); *last the task
 * of the last such create, borrowed from *all. */
static int sync_tasks(const char *cal, json_t **all, json_t **last)
{
	json_t *creates = fake_cloud_get(&FC, "creates"), *tasks = fake_cloud_get(&FC, "tasks");
	json_t *seen = json_object(), *c;
	size_t i;
	int n;

	ck_assert_ptr_nonnull(creates);
	ck_assert_ptr_nonnull(tasks);
	*last = NULL;
	json_array_foreach(json_object_get(creates, "creates"), i, c)
	{
		json_t *req = json_loads(json_string_value(json_object_get(c, "body")), 0, NULL);
		json_t *task = json_object_get(req, "task");
		const char *name = json_string_value(json_object_get(task, "name"));
		const char *b64 = json_string_value(
		    json_object_get(json_object_get(task, "httpRequest"), "body"));
		unsigned char *dec = NULL;
		size_t len = 0;

		if (name && b64 && !b64_decode(b64, strlen(b64), &dec, &len) &&
		    memmem(dec, len, cal, strlen(cal)) &&
		    json_object_get(json_object_get(tasks, "tasks"), name)) {
			json_object_set(seen, name, json_true());
			json_object_set(creates, "last", task);
			*last = task;
		}
		free(dec);
		json_decref(req);
	}
	n = (int)json_object_size(seen);
	json_decref(seen);
	json_decref(tasks);
	*all = creates;
	return n;
}

/* Waits until at least room seconds of the current bucket are left, so
 * that the test's pushes share one bucket. */
static void wait_bucket_room(int room)
{
	while ((int64_t)time_wall() % BUCKET_S > BUCKET_S - room)
		usleep(200 * 1000);
}

START_TEST(the_sync_is_named_by_bucket_and_due_at_its_end)
{
	json_t *all, *t;
	char *body = NULL;
	int64_t bucket;
	double at;
	long creates;

	add_channel("ch-a", "cal-a@example.com", "tok-a");
	wait_bucket_room(10);
	bucket = (int64_t)time_wall() / BUCKET_S;
	ck_assert_int_eq(push("ch-a", "tok-a", 2, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"enqueued\""));
	free(body);
	ck_assert_int_eq(sync_tasks("cal-a@example.com", &all, &t), 1);
	ck_assert_msg(json_is_string(json_object_get(t, "scheduleTime")),
	              "the sync has no scheduleTime");
	ck_assert_int_eq(time_parse_rfc3339(json_string_value(json_object_get(t, "scheduleTime")),
	                                    &at),
	                 CJ_OK);
	ck_assert_int_eq((int64_t)at, (bucket + 1) * BUCKET_S);
	json_decref(all);

	/* Later pushes of the bucket call nothing. */
	creates = fake_cloud_stat(&FC, "createCalls");
	ck_assert_int_eq(push("ch-a", "tok-a", 3, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"coalesced\""));
	free(body);
	ck_assert_int_eq(fake_cloud_stat(&FC, "createCalls"), creates);
}
END_TEST

START_TEST(a_refused_create_is_503_and_googles_retry_creates_it)
{
	json_t *all, *t;
	char *body = NULL;

	add_channel("ch-b", "cal-b@example.com", "tok-b");
	wait_bucket_room(10);
	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 10, 503, 0), 0);
	ck_assert_int_eq(push("ch-b", "tok-b", 2, &body), 503);
	ck_assert_ptr_nonnull(strstr(body, "\"unavailable\""));
	free(body);
	ck_assert_int_eq(sync_tasks("cal-b@example.com", &all, &t), 0);
	json_decref(all);
	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 0, 0, 0), 0);

	/* Google retries the same message: the sync is created now. */
	ck_assert_int_eq(push("ch-b", "tok-b", 2, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"enqueued\""));
	free(body);
	ck_assert_int_eq(sync_tasks("cal-b@example.com", &all, &t), 1);
	json_decref(all);
}
END_TEST

START_TEST(a_create_whose_answer_is_lost_is_one_task)
{
	json_t *all, *t;
	char *body = NULL;

	add_channel("ch-c", "cal-c@example.com", "tok-c");
	wait_bucket_room(10);
	/* The connection closes after the task landed. */
	ck_assert_int_eq(fake_cloud_drop(&FC, "create", 1, 0, 1), 0);
	ck_assert_int_eq(push("ch-c", "tok-c", 2, &body), 200);
	free(body);
	ck_assert_int_eq(sync_tasks("cal-c@example.com", &all, &t), 1);
	json_decref(all);
}
END_TEST

START_TEST(a_503_after_landing_is_one_task)
{
	json_t *all, *t;
	char *body = NULL;

	add_channel("ch-d", "cal-d@example.com", "tok-d");
	wait_bucket_room(10);
	ck_assert_int_eq(fake_cloud_fail_after_landing(&FC, 1, 503), 0);
	ck_assert_int_eq(push("ch-d", "tok-d", 2, &body), 200);
	free(body);
	ck_assert_int_eq(sync_tasks("cal-d@example.com", &all, &t), 1);
	json_decref(all);
}
END_TEST

struct pusher {
	pthread_t thread;
	const char *id, *tok;
	long status;
};

static void *push_main(void *arg)
{
	struct pusher *p = arg;
	char url[256], h_id[160], h_tok[160];
	const char *h[] = {h_id, h_tok, "X-Goog-Resource-State: exists",
	                   "X-Goog-Message-Number: 2", NULL};
	struct httpc_resp r = {0};

	snprintf(url, sizeof(url), "%s/webhooks/google-calendar", S.base);
	snprintf(h_id, sizeof(h_id), "X-Goog-Channel-ID: %s", p->id);
	snprintf(h_tok, sizeof(h_tok), "X-Goog-Channel-Token: %s", p->tok);
	p->status = httpc_request("POST", url, h, "", 0, 30000, &r) ? 0 : r.status;
	httpc_resp_free(&r);
	return NULL;
}

START_TEST(a_server_killed_after_the_create_landed_answers_the_retry_once)
{
	struct pusher p = {.id = "ch-e", .tok = "tok-e"};
	json_t *all, *t;
	char *body = NULL;
	int64_t deadline;

	add_channel("ch-e", "cal-e@example.com", "tok-e");
	wait_bucket_room(25);
	/* The create lands at once; its answer takes 5 s, and the server
	 * dies meanwhile: Google sees no answer and will retry. */
	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 1, 0, 5000), 0);
	ck_assert_int_eq(pthread_create(&p.thread, NULL, push_main, &p), 0);
	deadline = time_mono_ms() + 10000;
	while (time_mono_ms() < deadline) {
		int n = sync_tasks("cal-e@example.com", &all, &t);

		json_decref(all);
		if (n == 1)
			break;
		usleep(20 * 1000);
	}
	proc_signal(&S.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&S.proc, 10000), 0);
	pthread_join(p.thread, NULL);
	ck_assert_int_ne(p.status, 200);

	ck_assert_int_eq(cj_server_restart(&S, itest_env(&W, CLOUD_ENV)), 0);
	ck_assert_int_eq(push("ch-e", "tok-e", 2, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"coalesced\""));
	free(body);
	ck_assert_int_eq(sync_tasks("cal-e@example.com", &all, &t), 1);
	json_decref(all);
}
END_TEST

START_TEST(a_server_killed_before_the_create_landed_creates_on_the_retry)
{
	struct pusher p = {.id = "ch-f", .tok = "tok-f"};
	json_t *all, *t;
	char *body = NULL;
	long calls = fake_cloud_stat(&FC, "createCalls");
	int64_t deadline;

	add_channel("ch-f", "cal-f@example.com", "tok-f");
	wait_bucket_room(25);
	/* The create hangs and never lands; the server dies while waiting. */
	ck_assert_int_eq(fake_cloud_fail(&FC, "create", 1, 503, 5000), 0);
	ck_assert_int_eq(pthread_create(&p.thread, NULL, push_main, &p), 0);
	deadline = time_mono_ms() + 10000;
	while (fake_cloud_stat(&FC, "createCalls") == calls && time_mono_ms() < deadline)
		usleep(20 * 1000);
	ck_assert_int_gt(fake_cloud_stat(&FC, "createCalls"), calls);
	proc_signal(&S.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&S.proc, 10000), 0);
	pthread_join(p.thread, NULL);
	ck_assert_int_ne(p.status, 200);
	ck_assert_int_eq(sync_tasks("cal-f@example.com", &all, &t), 0);
	json_decref(all);

	/* Google's retry after the restart creates the sync. */
	ck_assert_int_eq(cj_server_restart(&S, itest_env(&W, CLOUD_ENV)), 0);
	ck_assert_int_eq(push("ch-f", "tok-f", 2, &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"enqueued\""));
	free(body);
	ck_assert_int_eq(sync_tasks("cal-f@example.com", &all, &t), 1);
	json_decref(all);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("webhook-enqueue");
	TCase *tc = tcase_create("faults");
	char *args[] = {"user", "add", "--email", "push@example.com", "--id", USER, NULL};
	char *out = NULL, *err = NULL;
	int failed;

	itest_setup(&W);
	if (fake_cloud_start(&FC, NULL)) {
		fprintf(stderr, "cannot start the fake Google services\n");
		return 1;
	}
	snprintf(E_API, sizeof(E_API), "CLOUD_TASKS_API_URL=%s", FC.url);
	snprintf(E_META, sizeof(E_META), "GCE_METADATA_HOST=%s", FC.metadata_host);
	itest_server(&W, &S, CLOUD_ENV);
	if (cj_run(args, itest_env(&W, CLOUD_ENV), &out, &err) != 0) {
		fprintf(stderr, "user add failed: %s\n", err ? err : "");
		return 1;
	}
	free(out);
	free(err);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, the_sync_is_named_by_bucket_and_due_at_its_end);
	tcase_add_test(tc, a_refused_create_is_503_and_googles_retry_creates_it);
	tcase_add_test(tc, a_create_whose_answer_is_lost_is_one_task);
	tcase_add_test(tc, a_503_after_landing_is_one_task);
	tcase_add_test(tc, a_server_killed_after_the_create_landed_answers_the_retry_once);
	tcase_add_test(tc, a_server_killed_before_the_create_landed_creates_on_the_retry);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	fake_cloud_stop(&FC);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
