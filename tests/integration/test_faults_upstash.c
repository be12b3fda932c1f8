/*
 * test_faults_upstash.c - what HTTP Redis (Upstash) can do to a delivery,
 * and the promises that hold through it (SPEC §5.1, §8): no job lost, no
 * effect doubled, a clear status.
 *
 * The server talks to the Upstash test server through a fault proxy
 * (tests/support/faultproxy.h) that, per idempotency command, answers 503
 * without executing, holds the request or its answer past the client's
 * 2 s timeout, executes it and loses the answer, or refuses connections.
 * Deliveries are made the way Cloud Tasks makes them (tests/support/
 * ctdriver.h): ping-queue with a short schedule (1 s doubling to 8 s, 8
 * attempts: a 39 s retry window, over 2 x the 15 s lease).
 *
 * Which command a rule hits is told from its body: every idempotency
 * command names the key (…/TASK_ID); a complete carries "done:"; a claim
 * and a renewal end with the lease ("15"]), a claim first; a release has
 * neither. A task's handler "ran" when the log says "job ping completed"
 * with its task name: each must say so exactly once.
 *
 * Lost claim replies together with lost complete replies are
 * test_delivery.c's lost_redis_replies_lose_no_task; Redis itself down is
 * test_idempotency.c's redis_down_closed_and_open.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckrun.h"
#include "ctdriver.h"
#include "faultproxy.h"
#include "itest.h"
#include "timeutil.h"

#define LEASE "15"
#define LEASE_ARG "\"" LEASE "\"]"

static struct itest W;
static struct faultproxy *P;
static struct cj_server S;
static struct ctdriver *D;
static char *TOKEN;
static struct queue_config PING_QUEUE = {"ping-queue", 8, 1, 8, 3, 10, 10, 60};

/* A task id unique to this run, with a readable prefix. */
static void task_id(char *out, size_t outlen, const char *prefix)
{
	char id[64];

	snprintf(out, outlen, "%s-%s", prefix, itest_task_id(id, sizeof(id)));
}

/* The task ended completed, and its handler ran exactly once. */
static void expect_ran_once(const struct ct_task *t)
{
	char story[512], *log = cj_server_log(&S);
	int runs = ct_task_runs(t, &log, 1);

	free(log);
	if (getenv("CJ_TEST_VERBOSE"))
		fprintf(stderr, "%s: %s\n", t->id, ct_task_story(t, story, sizeof(story)));
	ck_assert_msg(!strcmp(t->final, "completed"), "task %s: %s", t->id,
	              ct_task_story(t, story, sizeof(story)));
	ck_assert_msg(runs == 1, "task %s ran %d times: %s", t->id, runs,
	              ct_task_story(t, story, sizeof(story)));
}

/* One push of the task outside the driver (a delivery of Cloud Tasks'
 * own, e.g. a duplicate); the answer's "status" into st. */
static long push(const char *id, int retry, const char *body, char *st, size_t stlen)
{
	struct httpc_resp r;
	long code;

	ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", id, retry, body, &r), 0);
	code = r.status;
	snprintf(st, stlen, "%s", httpc_json_str(&r, "status") ? httpc_json_str(&r, "status") : "");
	httpc_resp_free(&r);
	return code;
}

/* Promise: a claim Upstash answers 503 (not executed) is a clear retry -
 * 503 {"status":"retry"} - and the redelivery runs the job once. */
START_TEST(claims_answered_5xx_are_retried_and_run_once)
{
	enum { N = 6 };
	static struct ct_task ts[N];
	char prefix[64], id[128];
	struct fp_rule rule = {.except = "done:", .count = N, .action = FP_STATUS, .status = 503};
	int rid, retries = 0;

	task_id(prefix, sizeof(prefix), "c5xx");
	rule.match[0] = prefix;
	rid = faultproxy_add(P, &rule);
	ck_assert_int_ge(rid, 0);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%s-%d", prefix, i);
		ct_task_start(D, &ts[i], "ping", id, "{}");
	}
	for (int i = 0; i < N; i++) {
		ct_task_join(&ts[i]);
		expect_ran_once(&ts[i]);
		for (int k = 0; k < ts[i].attempts; k++)
			retries += ts[i].statuses[k] == 503 && !strcmp(ts[i].outcomes[k], "retry");
		ct_task_release(&ts[i]);
	}
	ck_assert_int_eq(faultproxy_hits(P, rid), N);
	ck_assert_int_ge(retries, 1);
	faultproxy_remove(P, rid);
}
END_TEST

/* Promise: Upstash slower than the client's 2 s timeout loses no task and
 * runs none twice. A claim held before it reaches Redis (it lands after
 * we gave up), a claim whose answer is held (it landed at once), and a
 * complete whose answer is held: the first two answer 503 retry and run
 * on a later delivery (at worst after the late claim's lease); the third
 * is answered completed at once, its complete confirmed in the
 * background. */
START_TEST(upstash_slower_than_its_timeout_loses_no_task_and_runs_none_twice)
{
	enum { N = 6 };
	static struct ct_task ts[N];
	static const char *const kinds[N] = {"slowreq", "slowreq",  "slowans",
	                                     "slowans", "slowdone", "slowdone"};
	char ids[N][128], story[512];
	int rids[N];

	for (int i = 0; i < N; i++) {
		struct fp_rule rule = {.count = 1, .action = FP_FORWARD};

		task_id(ids[i], sizeof(ids[i]), kinds[i]);
		rule.match[0] = ids[i];
		if (!strcmp(kinds[i], "slowdone")) {
			rule.match[1] = "done:";
			rule.answer_delay_ms = 3000;
		} else {
			rule.except = "done:";
			if (!strcmp(kinds[i], "slowreq"))
				rule.delay_ms = 3000;
			else
				rule.answer_delay_ms = 3000;
		}
		rids[i] = faultproxy_add(P, &rule);
		ck_assert_int_ge(rids[i], 0);
		ct_task_start(D, &ts[i], "ping", ids[i], "{}");
	}
	for (int i = 0; i < N; i++) {
		ct_task_join(&ts[i]);
		expect_ran_once(&ts[i]);
		ck_assert_int_eq(faultproxy_hits(P, rids[i]), 1);
		if (!strcmp(kinds[i], "slowdone"))
			ck_assert_msg(ts[i].statuses[0] == 200, "%s: %s", ts[i].id,
			              ct_task_story(&ts[i], story, sizeof(story)));
		else
			ck_assert_msg(
			    ts[i].statuses[0] == 503 && !strcmp(ts[i].outcomes[0], "retry"),
			    "%s: %s", ts[i].id, ct_task_story(&ts[i], story, sizeof(story)));
		faultproxy_remove(P, rids[i]);
		ct_task_release(&ts[i]);
	}
}
END_TEST

/* Promise: a complete whose answer is lost (executed) or refused (503,
 * not executed) does not hold up the answer - the job is answered
 * completed - and a duplicate delivery never runs it again: it finds the
 * key done, or still claimed (409) until the background retry of the
 * complete lands, and then done. */
START_TEST(lost_or_refused_completes_never_let_a_duplicate_run_again)
{
	char lost[128], refused[128], st[32];
	struct fp_rule rule = {.count = -1};
	int rid_lost, rid_refused, retry = 1;
	int64_t until;
	long code;

	task_id(lost, sizeof(lost), "lostdone");
	task_id(refused, sizeof(refused), "refdone");
	rule.match[0] = lost;
	rule.match[1] = "done:";
	rule.action = FP_LOSE_ANSWER;
	rid_lost = faultproxy_add(P, &rule);
	rule.match[0] = refused;
	rule.action = FP_STATUS;
	rule.status = 503;
	rid_refused = faultproxy_add(P, &rule);
	ck_assert_int_ge(rid_lost, 0);
	ck_assert_int_ge(rid_refused, 0);

	ck_assert_int_eq(push(lost, 0, "{}", st, sizeof(st)), 200);
	ck_assert_str_eq(st, "completed");
	ck_assert_int_ge(faultproxy_hits(P, rid_lost), 1);
	ck_assert_int_eq(push(lost, 1, "{}", st, sizeof(st)), 200);
	ck_assert_str_eq(st, "duplicate");

	ck_assert_int_eq(push(refused, 0, "{}", st, sizeof(st)), 200);
	ck_assert_str_eq(st, "completed");
	ck_assert_int_ge(faultproxy_hits(P, rid_refused), 1);
	code = push(refused, retry++, "{}", st, sizeof(st));
	ck_assert_msg(code == 409, "a duplicate while the complete is refused: %ld %s", code, st);
	faultproxy_remove(P, rid_lost);
	faultproxy_remove(P, rid_refused);
	/* The background retry lands (within its 2 s backoff); until then a
	 * duplicate is told the job is in progress, never run. */
	until = time_mono_ms() + 20000;
	while ((code = push(refused, retry++, "{}", st, sizeof(st))) == 409 &&
	       time_mono_ms() < until)
		msleep(300);
	ck_assert_msg(code == 200 && !strcmp(st, "duplicate"), "%ld %s", code, st);
	{
		char *log = cj_server_log(&S);
		struct ct_task a = {.type = "ping"}, b = {.type = "ping"};

		snprintf(a.id, sizeof(a.id), "%s", lost);
		snprintf(b.id, sizeof(b.id), "%s", refused);
		ck_assert_int_eq(ct_task_runs(&a, &log, 1), 1);
		ck_assert_int_eq(ct_task_runs(&b, &log, 1), 1);
		free(log);
	}
}
END_TEST

/* Promise: when renewals of a running job's claim are lost (executed,
 * answer lost), slow past the timeout, or refused (503), the job is
 * stopped before its claim can lapse - answered 503 retry, so no other
 * delivery can run it at the same time - and a later delivery runs it
 * once. The job sleeps 11 s; the 15 s lease is renewed every 5 s, and a
 * job whose claim was not confirmed for 10 s must stop. */
START_TEST(failing_renewals_stop_the_job_before_its_claim_can_lapse)
{
	enum { N = 3 };
	static struct ct_task ts[N];
	static const char *const kinds[N] = {"renlost", "renslow", "renref"};
	char ids[N][128], story[512];
	int rids[N];

	for (int i = 0; i < N; i++) {
		struct fp_rule rule = {.skip = 1, .count = -1};

		task_id(ids[i], sizeof(ids[i]), kinds[i]);
		rule.match[0] = ids[i];
		rule.match[1] = LEASE_ARG; /* the claim (skipped) and renewals */
		if (i == 0) {
			rule.action = FP_LOSE_ANSWER;
		} else if (i == 1) {
			rule.action = FP_FORWARD;
			rule.delay_ms = 3000;
		} else {
			rule.action = FP_STATUS;
			rule.status = 503;
		}
		rids[i] = faultproxy_add(P, &rule);
		ck_assert_int_ge(rids[i], 0);
		ct_task_start(D, &ts[i], "ping", ids[i], "{\"sleepMs\":11000}");
	}
	/* Renewals work again once the first delivery was answered. */
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(ct_task_wait_attempts(&ts[i], 1, 60000), 0);
		faultproxy_remove(P, rids[i]);
	}
	for (int i = 0; i < N; i++) {
		ct_task_join(&ts[i]);
		ck_assert_int_ge(faultproxy_hits(P, rids[i]), 1);
		ck_assert_msg(ts[i].statuses[0] == 503 && !strcmp(ts[i].outcomes[0], "retry"),
		              "%s: %s", ts[i].id, ct_task_story(&ts[i], story, sizeof(story)));
		expect_ran_once(&ts[i]);
		ct_task_release(&ts[i]);
	}
}
END_TEST

static const char *ready_redis(long *code)
{
	static char st[16];
	struct httpc_resp r;
	char url[128];

	snprintf(url, sizeof(url), "%s/health/ready", S.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	*code = r.status;
	snprintf(st, sizeof(st), "%s",
	         json_string_value(json_object_get(json_object_get(r.json, "redis"), "status")));
	httpc_resp_free(&r);
	return st;
}

/* Promise: Upstash refusing connections is a clear retry (503, closed
 * mode) and readiness down; once it answers again the redelivery runs the
 * job once. */
START_TEST(upstash_refusing_connections_is_a_retry_and_not_ready)
{
	char id[128], st[32];
	long code;
	int64_t until;

	task_id(id, sizeof(id), "refuse");
	faultproxy_refuse(P, 1);
	{
		struct httpc_resp r;

		ck_assert_int_eq(cj_push(&S, "ping", TOKEN, "ping-queue", id, 0, "{}", &r), 0);
		ck_assert_int_eq(r.status, 503);
		ck_assert_str_eq(httpc_json_str(&r, "status"), "retry");
		/* Cloud Tasks considers it: not before 5 s. */
		ck_assert_ptr_nonnull(strstr(r.headers, "Retry-After: 5\r\n"));
		httpc_resp_free(&r);
	}
	ck_assert_str_eq(ready_redis(&code), "down");
	ck_assert_int_eq(code, 503);
	faultproxy_refuse(P, 0);
	until = time_mono_ms() + 20000;
	while (strcmp(ready_redis(&code), "ok") && time_mono_ms() < until)
		msleep(200);
	ck_assert_int_eq(code, 200);
	ck_assert_int_eq(push(id, 1, "{}", st, sizeof(st)), 200);
	ck_assert_str_eq(st, "completed");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-upstash");
	TCase *tc = tcase_create("faults-upstash");
	char dir[1100], e_config[1200], e_url[160], warm[128];
	struct httpc_resp r;
	const char *extra[] = {e_url, e_config, "IDEMPOTENCY_LEASE_SECONDS=" LEASE, NULL};
	int failed;

	itest_setup(&W);
	snprintf(dir, sizeof(dir), "%s/faults-config", W.dir);
	P = faultproxy_start(W.redis.url);
	if (!P || mkdir(dir, 0700) || ctdriver_write_config(dir, &PING_QUEUE)) {
		fprintf(stderr, "cannot start the fault proxy or write the configuration\n");
		return 1;
	}
	snprintf(e_config, sizeof(e_config), "CONFIG_DIR=%s", dir);
	snprintf(e_url, sizeof(e_url), "UPSTASH_REDIS_REST_URL=%s", faultproxy_url(P));
	itest_server(&W, &S, extra);
	TOKEN = itest_token(&W);
	D = ctdriver_new(&PING_QUEUE, TOKEN);
	ctdriver_target(D, &S);
	/* Loads the claim and complete scripts into Redis, so that each
	 * command below is one EVALSHA. */
	task_id(warm, sizeof(warm), "warm");
	if (cj_push(&S, "ping", TOKEN, "ping-queue", warm, 0, "{}", &r) || r.status != 200) {
		fprintf(stderr, "the first push did not complete\n");
		return 1;
	}
	httpc_resp_free(&r);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, claims_answered_5xx_are_retried_and_run_once);
	tcase_add_test(tc, upstash_slower_than_its_timeout_loses_no_task_and_runs_none_twice);
	tcase_add_test(tc, lost_or_refused_completes_never_let_a_duplicate_run_again);
	tcase_add_test(tc, failing_renewals_stop_the_job_before_its_claim_can_lapse);
	tcase_add_test(tc, upstash_refusing_connections_is_a_retry_and_not_ready);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	ctdriver_free(D);
	free(TOKEN);
	faultproxy_stop(P);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
