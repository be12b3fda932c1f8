/*
 * test_dead_letters.c - dead letters end to end (SPEC §5.3, §9): recorded by
 * the server for permanent failures and failed last attempts (also one cut
 * off by a SIGKILL), listed newest
 * first with paging and a type filter, replayed through Cloud Tasks (the
 * fake) with the idempotencyKey suffixed, on SQLite and on a real PostgreSQL.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "b64.h"
#include "fake_cloud.h"
#include "itest.h"
#include "pgtest.h"
#include "rawhttp.h"

static struct itest W;
static struct fake_cloud FC;
static char E_API[128], E_META[128], E_DB[1024];
static const char *CLOUD_ENV[] = {
    "USE_CLOUD_TASKS=true",
    "GCP_PROJECT_ID=" FAKE_PROJECT,
    "GCP_REGION=" FAKE_REGION,
    "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    E_API,
    E_META,
    E_DB,
    NULL};

static long admin_post(const struct cj_server *s, const char *path, struct httpc_resp *r)
{
	char url[512], auth[4096],
	    *tok = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	const char *h[] = {auth, NULL};

	snprintf(url, sizeof(url), "%s%s", s->base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(httpc_post(url, h, "", r), 0);
	free(tok);
	return r->status;
}

static void fail_permanently(const struct cj_server *s, const char *task, const char *payload)
{
	struct httpc_resp r;
	char *tok = itest_token(&W);

	ck_assert_int_eq(cj_push(s, "ping", tok, "ping-queue", task, 0, payload, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "failed");
	httpc_resp_free(&r);
	free(tok);
}

/* Everything an operator does with dead letters, on the given database. */
static void exercise(const char *database_url)
{
	char tasks[3][64], body[256], path[256];
	struct cj_server s;
	struct httpc_resp r;
	json_t *doc, *dl, *create;
	const char *id, *next;
	unsigned char *decoded;
	size_t n;
	int i;

	snprintf(E_DB, sizeof(E_DB), "DATABASE_URL=%s", database_url);
	itest_server(&W, &s, CLOUD_ENV);
	for (i = 0; i < 3; i++) {
		snprintf(body, sizeof(body),
		         "{\"fail\":\"permanent\",\"idempotencyKey\":\"%s\",\"n\":%d}",
		         itest_task_id(tasks[i], sizeof(tasks[i])), i);
		fail_permanently(&s, tasks[i], body);
	}
	/* Newest first, paged one at a time until next is null: every dead
	 * letter once, failedAt never increasing. */
	{
		int seen[3] = {0, 0, 0}, pages = 0;
		long long last_at = -1;
		char q[512] = "limit=1";

		for (;;) {
			doc = itest_dead_letters(&W, &s, q);
			ck_assert_ptr_nonnull(doc);
			ck_assert_uint_le(json_array_size(json_object_get(doc, "deadLetters")), 1);
			dl = json_array_get(json_object_get(doc, "deadLetters"), 0);
			if (dl) {
				const char *t = json_string_value(json_object_get(dl, "taskName"));
				long long at = json_integer_value(json_object_get(dl, "failedAt"));

				ck_assert(last_at < 0 || at <= last_at);
				last_at = at;
				for (i = 0; i < 3; i++)
					seen[i] += !strcmp(t, tasks[i]);
				pages++;
			}
			next = json_string_value(json_object_get(doc, "next"));
			if (!next) {
				json_decref(doc);
				break;
			}
			snprintf(q, sizeof(q), "limit=1&cursor=%s", next);
			json_decref(doc);
			ck_assert_int_lt(pages, 10);
		}
		ck_assert_int_eq(pages, 3);
		for (i = 0; i < 3; i++)
			ck_assert_int_eq(seen[i], 1);
	}
	doc = itest_dead_letters(&W, &s, "type=ping&limit=3");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "deadLetters")), 3);
	ck_assert(json_is_null(json_object_get(doc, "next")));
	json_decref(doc);
	doc = itest_dead_letters(&W, &s, "type=calendar-sync");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "deadLetters")), 0);
	json_decref(doc);
	ck_assert_ptr_null(itest_dead_letters(&W, &s, "limit=0"));
	ck_assert_ptr_null(itest_dead_letters(&W, &s, "limit=501"));
	ck_assert_ptr_null(itest_dead_letters(&W, &s, "cursor=not-a-cursor"));

	/* Replay the oldest: a new task with the key suffixed. */
	dl = itest_dead_letter_for(&W, &s, tasks[0]);
	ck_assert_ptr_nonnull(dl);
	id = json_string_value(json_object_get(dl, "id"));
	snprintf(path, sizeof(path), "/admin/dead-letters/%s/replay", id);
	ck_assert_int_eq(admin_post(&s, path, &r), 202);
	ck_assert_ptr_nonnull(strstr(httpc_json_str(&r, "task"), "/queues/ping-queue/tasks/"));
	httpc_resp_free(&r);
	create = fake_cloud_last_create(&FC);
	ck_assert_ptr_nonnull(create);
	{
		const char *b64 = json_string_value(json_object_get(
		    json_object_get(json_object_get(create, "task"), "httpRequest"), "body"));
		json_t *payload;
		char want[256];

		ck_assert_int_eq(b64_decode(b64, strlen(b64), &decoded, &n), CJ_OK);
		payload = json_loadb((char *)decoded, n, 0, NULL);
		snprintf(want, sizeof(want), "%s:replay:%s", tasks[0], id);
		ck_assert_str_eq(json_string_value(json_object_get(payload, "idempotencyKey")),
		                 want);
		ck_assert_str_eq(json_string_value(json_object_get(payload, "fail")), "permanent");
		json_decref(payload);
		free(decoded);
	}
	json_decref(create);
	json_decref(dl);
	dl = itest_dead_letter_for(&W, &s, tasks[0]);
	ck_assert(json_is_integer(json_object_get(dl, "replayedAt")));
	json_decref(dl);
	ck_assert_int_eq(
	    admin_post(&s, "/admin/dead-letters/0123456789abcdef0123456789abcdef/replay", &r), 404);
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s), 0);
}

START_TEST(sqlite)
{
	char url[512];

	snprintf(url, sizeof(url), "sqlite:%s/dl.db", W.dir);
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

/* POST /enqueue/ping {"payload": payload} as the producer; the status, and
 * the error code into code. */
static long enqueue_payload(const struct cj_server *s, const char *type, const char *payload,
                            char *code, size_t codelen)
{
	char url[256], auth[4096],
	    *tok = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	const char *h[] = {auth, "Content-Type: application/json", NULL};
	struct httpc_resp r;
	size_t n = strlen(payload) + 32;
	char *body = malloc(n);
	long status;

	snprintf(body, n, "{\"payload\":%s}", payload);
	snprintf(url, sizeof(url), "%s/enqueue/%s", s->base, type);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(httpc_post(url, h, body, &r), 0);
	snprintf(code, codelen, "%s",
	         httpc_json_str(&r, "error") ? httpc_json_str(&r, "error") : "");
	status = r.status;
	httpc_resp_free(&r);
	free(body);
	free(tok);
	return status;
}

static long replay(const struct cj_server *s, const char *id, char *code, size_t codelen)
{
	struct httpc_resp r;
	char path[256];
	long status;

	snprintf(path, sizeof(path), "/admin/dead-letters/%s/replay", id);
	status = admin_post(s, path, &r);
	snprintf(code, codelen, "%s",
	         httpc_json_str(&r, "error") ? httpc_json_str(&r, "error") : "");
	httpc_resp_free(&r);
	return status;
}

/* The id of the dead letter of task (static storage). */
static const char *dead_letter_id(const struct cj_server *s, const char *task)
{
	static char id[128];
	json_t *dl = itest_dead_letter_for(&W, s, task);

	ck_assert_ptr_nonnull(dl);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(dl, "id")));
	json_decref(dl);
	return id;
}

/* /enqueue and replay both go through enqueue_job(); a failure of a kind is
 * answered the same by both (SPEC §5.2, §5.3). */
START_TEST(replay_and_enqueue_answer_failures_alike)
{
	static const int cloud_status[] = {409, 400, 503};
	char task[64], id[128], url[512], e_code[64], r_code[64], *tok = itest_token(&W);
	char *big = malloc(120000);
	struct cj_server s;
	struct httpc_resp r;
	long e, rp;
	size_t i;

	snprintf(url, sizeof(url), "sqlite:%s/agree.db", W.dir);
	snprintf(E_DB, sizeof(E_DB), "DATABASE_URL=%s", url);
	itest_server(&W, &s, CLOUD_ENV);

	/* Cloud Tasks answers: the name exists, the task is invalid, it is down. */
	fail_permanently(&s, itest_task_id(task, sizeof(task)), "{\"fail\":\"permanent\"}");
	snprintf(id, sizeof(id), "%s", dead_letter_id(&s, task));
	for (i = 0; i < sizeof(cloud_status) / sizeof(cloud_status[0]); i++) {
		int count = cloud_status[i] == 503 ? 10 : 1;

		ck_assert_int_eq(fake_cloud_fail(&FC, "create", count, cloud_status[i], 0), 0);
		e = enqueue_payload(&s, "ping", "{}", e_code, sizeof(e_code));
		ck_assert_int_eq(fake_cloud_reset(&FC), 0);
		ck_assert_int_eq(fake_cloud_fail(&FC, "create", count, cloud_status[i], 0), 0);
		rp = replay(&s, id, r_code, sizeof(r_code));
		ck_assert_int_eq(fake_cloud_reset(&FC), 0);
		ck_assert_msg(e == rp && !strcmp(e_code, r_code),
		              "Cloud Tasks %d: /enqueue %ld %s, replay %ld %s", cloud_status[i], e,
		              e_code, rp, r_code);
		/* Both create under a random name of ours, which only our own
		 * create can hold: its 409 means the task landed (SPEC §5.2). */
		ck_assert_int_eq(e, cloud_status[i] == 409 ? 202 : cloud_status[i]);
	}

	/* The payload fails the job's schema. */
	fail_permanently(&s, itest_task_id(task, sizeof(task)), "{\"sleepMs\":-1}");
	e = enqueue_payload(&s, "ping", "{\"sleepMs\":-1}", e_code, sizeof(e_code));
	rp = replay(&s, dead_letter_id(&s, task), r_code, sizeof(r_code));
	ck_assert_int_eq(e, 400);
	ck_assert_int_eq(rp, 400);
	ck_assert_str_eq(e_code, "invalid_payload");
	ck_assert_str_eq(r_code, "invalid_payload");

	/* The payload is over the 100,000-byte task limit. */
	{
		const char *head = "{\"fail\":\"permanent\",\"pad\":\"";

		memset(big, 'x', 110000);
		memcpy(big, head, strlen(head));
		memcpy(big + 110000, "\"}", 3);
	}
	fail_permanently(&s, itest_task_id(task, sizeof(task)), big);
	e = enqueue_payload(&s, "ping", big, e_code, sizeof(e_code));
	rp = replay(&s, dead_letter_id(&s, task), r_code, sizeof(r_code));
	ck_assert_int_eq(e, 413);
	ck_assert_int_eq(rp, 413);
	ck_assert_str_eq(e_code, r_code);

	/* The job type is unknown (a dead letter of a push nobody handles). */
	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(cj_push(&s, "no-such-job", tok, "ping-queue", task, 99, "{\"x\":1}", &r),
	                 0);
	ck_assert_int_eq(r.status, 404);
	httpc_resp_free(&r);
	e = enqueue_payload(&s, "no-such-job", "{\"x\":1}", e_code, sizeof(e_code));
	rp = replay(&s, dead_letter_id(&s, task), r_code, sizeof(r_code));
	ck_assert_int_eq(e, 404);
	ck_assert_int_eq(rp, 404);
	ck_assert_str_eq(e_code, "not_found");
	ck_assert_str_eq(r_code, "not_found");
	/* Its metric is labelled "unknown", never with the caller's name. */
	{
		char murl[128];

		snprintf(murl, sizeof(murl), "%s/metrics", s.base);
		ck_assert_int_eq(httpc_get(murl, NULL, &r), 0);
		ck_assert_ptr_nonnull(
		    strstr(r.body, "catchup_jobs_dead_letters_total{type=\"unknown\"} 1"));
		ck_assert_ptr_null(strstr(r.body, "no-such-job"));
		httpc_resp_free(&r);
	}

	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(big);
	free(tok);
}
END_TEST

START_TEST(unusable_bodies_leave_a_null_payload_that_cannot_be_replayed)
{
	const char *extra[] = {"MAX_BODY_BYTES=1024", NULL};
	struct cj_server s;
	struct httpc_resp r;
	char task[64], path[256], *tok = itest_token(&W), *big = malloc(2001);
	json_t *dl;

	memset(big, ' ', 2000);
	big[0] = '{';
	big[1999] = '}';
	big[2000] = '\0';
	itest_server(&W, &s, extra);
	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(cj_push(&s, "ping", tok, "ping-queue", task, 4, big, &r), 0);
	ck_assert_int_eq(r.status, 413);
	httpc_resp_free(&r);
	dl = itest_dead_letter_for(&W, &s, task);
	ck_assert_ptr_nonnull(dl);
	ck_assert(json_is_null(json_object_get(dl, "payload")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(dl, "lastError")), "413"));
	snprintf(path, sizeof(path), "/admin/dead-letters/%s/replay",
	         json_string_value(json_object_get(dl, "id")));
	ck_assert_int_eq(admin_post(&s, path, &r), 400);
	httpc_resp_free(&r);
	json_decref(dl);
	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(cj_push(&s, "ping", tok, "ping-queue", task, 4, "{broken", &r), 0);
	ck_assert_int_eq(r.status, 400);
	httpc_resp_free(&r);
	dl = itest_dead_letter_for(&W, &s, task);
	ck_assert_ptr_nonnull(dl);
	ck_assert(json_is_null(json_object_get(dl, "payload")));
	json_decref(dl);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(big);
	free(tok);
}
END_TEST

/* How many dead letters task has. */
static int dead_letters_of(const struct cj_server *s, const char *task)
{
	json_t *doc = itest_dead_letters(&W, s, "limit=500"), *dl;
	size_t i;
	int n = 0;

	ck_assert_ptr_nonnull(doc);
	json_array_foreach(json_object_get(doc, "deadLetters"), i, dl)
	{
		const char *t = json_string_value(json_object_get(dl, "taskName"));

		n += t && !strcmp(t, task);
	}
	json_decref(doc);
	return n;
}

/* SPEC §5.1 step 8 when the last attempt never answers: an instance
 * SIGKILLed while the handler runs leaves Cloud Tasks a 5xx from its front
 * end, and the task must not disappear silently. The last attempt's dead
 * letter is written before the handler runs and removed once the attempt
 * is answered: one that completes leaves none, one that fails leaves one. */
START_TEST(a_last_attempt_killed_mid_job_leaves_its_dead_letter)
{
	char ok[64], failed[64], killed[64], req[8192], *tok = itest_token(&W);
	const char *body = "{\"sleepMs\":20000}";
	struct cj_server s;
	struct httpc_resp r;
	json_t *dl = NULL;
	int fd, waited;

	itest_server(&W, &s, NULL);
	itest_task_id(ok, sizeof(ok));
	ck_assert_int_eq(cj_push(&s, "ping", tok, "ping-queue", ok, 4, "{}", &r), 0);
	ck_assert_int_eq(r.status, 200);
	httpc_resp_free(&r);
	ck_assert_int_eq(dead_letters_of(&s, ok), 0);
	itest_task_id(failed, sizeof(failed));
	ck_assert_int_eq(
	    cj_push(&s, "ping", tok, "ping-queue", failed, 4, "{\"fail\":\"transient\"}", &r), 0);
	ck_assert_int_eq(r.status, 503);
	httpc_resp_free(&r);
	ck_assert_int_eq(dead_letters_of(&s, failed), 1);

	/* A last attempt that runs for 20 s; the instance dies meanwhile. */
	itest_task_id(killed, sizeof(killed));
	snprintf(req, sizeof(req),
	         "POST /jobs/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
	         "X-CloudTasks-QueueName: ping-queue\r\nX-CloudTasks-TaskName: %s\r\n"
	         "X-CloudTasks-TaskRetryCount: 4\r\nContent-Length: %zu\r\n\r\n%s",
	         tok, killed, strlen(body), body);
	fd = rawhttp_connect(s.port);
	rawhttp_write_all(fd, req, strlen(req));
	for (waited = 0; waited < 15000 && !(dl = itest_dead_letter_for(&W, &s, killed));
	     waited += 50)
		msleep(50);
	ck_assert_msg(dl, "no dead letter while the last attempt runs");
	json_decref(dl);
	proc_signal(&s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&s.proc, 10000), 0);
	close(fd);
	ck_assert_int_eq(cj_server_restart(&s, itest_env(&W, NULL)), 0);
	dl = itest_dead_letter_for(&W, &s, killed);
	ck_assert_ptr_nonnull(dl);
	ck_assert_int_eq(json_integer_value(json_object_get(dl, "attempts")), 5);
	ck_assert_ptr_nonnull(
	    strstr(json_string_value(json_object_get(dl, "lastError")), "did not finish"));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(dl, "payload"), "sleepMs")), 20000);
	json_decref(dl);
	ck_assert_int_eq(dead_letters_of(&s, killed), 1);
	ck_assert_int_eq(dead_letters_of(&s, ok), 0);
	ck_assert_int_eq(dead_letters_of(&s, failed), 1);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dead-letters");
	TCase *tc = tcase_create("dead-letters");
	int failed;

	itest_setup(&W);
	if (pgtest_start() || fake_cloud_start(&FC, NULL)) {
		fprintf(stderr, "cannot start PostgreSQL or the fake Google services\n");
		return 1;
	}
	snprintf(E_API, sizeof(E_API), "CLOUD_TASKS_API_URL=%s", FC.url);
	snprintf(E_META, sizeof(E_META), "GCE_METADATA_HOST=%s", FC.metadata_host);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, sqlite);
	tcase_add_test(tc, postgresql);
	tcase_add_test(tc, unusable_bodies_leave_a_null_payload_that_cannot_be_replayed);
	tcase_add_test(tc, replay_and_enqueue_answer_failures_alike);
	tcase_add_test(tc, a_last_attempt_killed_mid_job_leaves_its_dead_letter);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	fake_cloud_stop(&FC);
	pgtest_stop();
	itest_teardown(&W);
	return failed ? 1 : 0;
}
