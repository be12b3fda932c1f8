/*
 * test_shutdown.c - SIGTERM as SPEC §8 says: a job that finishes within
 * SHUTDOWN_GRACE_SECONDS completes and is answered; one still running at the
 * grace limit is answered 503 with its claim released (so its retry runs),
 * and the process exits 0 either way.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "itest.h"

static struct itest W;

struct call {
	struct cj_server *s;
	const char *token;
	const char *task;
	const char *body;
	long status;
	char outcome[32];
};

static void *do_push(void *arg)
{
	struct call *c = arg;
	struct httpc_resp r;

	if (!cj_push(c->s, "ping", c->token, "ping-queue", c->task, 0, c->body, &r)) {
		c->status = r.status;
		snprintf(c->outcome, sizeof(c->outcome), "%s",
		         httpc_json_str(&r, "status") ? httpc_json_str(&r, "status") : "");
	}
	httpc_resp_free(&r);
	return NULL;
}

static void wait_inflight(struct cj_server *s, long want)
{
	char url[128];
	int i;

	snprintf(url, sizeof(url), "%s/metrics", s->base);
	for (i = 0; i < 500; i++) {
		struct httpc_resp r;
		long v = -1;

		if (!httpc_get(url, NULL, &r)) {
			const char *p = strstr(r.body, "\ncatchup_jobs_inflight_jobs ");

			if (p)
				v = strtol(p + strlen("\ncatchup_jobs_inflight_jobs "), NULL, 10);
		}
		httpc_resp_free(&r);
		if (v == want)
			return;
		msleep(10);
	}
	ck_abort_msg("in-flight gauge never reached %ld", want);
}

START_TEST(job_within_grace_finishes)
{
	const char *env[] = {"SHUTDOWN_GRACE_SECONDS=8", NULL};
	struct cj_server s;
	char task[64], *tok = itest_token(&W);
	struct call c = {&s, tok, itest_task_id(task, sizeof(task)), "{\"sleepMs\":1500}", 0, ""};
	pthread_t th;

	itest_server(&W, &s, env);
	ck_assert_int_eq(pthread_create(&th, NULL, do_push, &c), 0);
	wait_inflight(&s, 1);
	proc_signal(&s.proc, SIGTERM);
	pthread_join(th, NULL);
	ck_assert_int_eq(c.status, 200);
	ck_assert_str_eq(c.outcome, "completed");
	ck_assert_int_eq(proc_wait(&s.proc, 15000), 0);
	ck_assert_int_eq(s.proc.exit_status, 0);
	free(tok);
}
END_TEST

START_TEST(job_past_grace_is_cut_off_and_released)
{
	const char *env[] = {"SHUTDOWN_GRACE_SECONDS=1", NULL};
	struct cj_server s, again;
	struct httpc_resp r;
	char task[64], *tok = itest_token(&W);
	struct call c = {&s, tok, itest_task_id(task, sizeof(task)), "{\"sleepMs\":20000}", 0, ""};
	pthread_t th;

	itest_server(&W, &s, env);
	ck_assert_int_eq(pthread_create(&th, NULL, do_push, &c), 0);
	wait_inflight(&s, 1);
	proc_signal(&s.proc, SIGTERM);
	pthread_join(th, NULL);
	ck_assert_int_eq(c.status, 503);
	ck_assert_str_eq(c.outcome, "retry");
	ck_assert_int_eq(proc_wait(&s.proc, 15000), 0);
	ck_assert_int_eq(s.proc.exit_status, 0);
	/* The claim was released: the retry runs instead of answering 409. */
	itest_server(&W, &again, NULL);
	ck_assert_int_eq(cj_push(&again, "ping", tok, "ping-queue", task, 1, "{}", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&again), 0);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shutdown");
	TCase *tc = tcase_create("shutdown");
	int failed;

	itest_setup(&W);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, job_within_grace_finishes);
	tcase_add_test(tc, job_past_grace_is_cut_off_and_released);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
