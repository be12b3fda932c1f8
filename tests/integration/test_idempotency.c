/*
 * test_idempotency.c - the server's behaviour when HTTP Redis fails: Redis
 * down answers 503 with IDEMPOTENCY_FAIL_MODE=closed and runs the job with
 * =open; a wrong Upstash token is a configuration fault answered 503 in both
 * modes (never run unclaimed) and fails readiness.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "itest.h"

static struct itest W;

static long push(struct cj_server *s, const char *tok, const char **status)
{
	static char st[32];
	struct httpc_resp r;
	char task[64];
	long code;

	ck_assert_int_eq(
	    cj_push(s, "ping", tok, "ping-queue", itest_task_id(task, sizeof(task)), 0, "{}", &r),
	    0);
	code = r.status;
	snprintf(st, sizeof(st), "%s",
	         httpc_json_str(&r, "status") ? httpc_json_str(&r, "status") : "");
	*status = st;
	httpc_resp_free(&r);
	return code;
}

START_TEST(redis_down_closed_and_open)
{
	const char *open_mode[] = {"IDEMPOTENCY_FAIL_MODE=open", NULL};
	struct cj_server closed, open;
	char *tok = itest_token(&W), *log;
	const char *status;
	const char *warn[] = {"running without a claim", "IDEMPOTENCY_FAIL_MODE=open", NULL};

	itest_server(&W, &closed, NULL);
	itest_server(&W, &open, open_mode);
	ck_assert_int_eq(push(&closed, tok, &status), 200);
	redis_fixture_stop_redis(&W.redis);
	ck_assert_int_eq(push(&closed, tok, &status), 503);
	ck_assert_str_eq(status, "retry"); /* SPEC §5.1 step 7 shape */
	ck_assert_int_eq(push(&open, tok, &status), 200);
	ck_assert_str_eq(status, "completed");
	log = cj_server_log(&open);
	ck_assert_int_ge(log_count(log, warn), 1);
	free(log);
	ck_assert_int_eq(redis_fixture_start_redis(&W.redis), 0);
	ck_assert_int_eq(push(&closed, tok, &status), 200);
	ck_assert_int_eq(cj_server_stop(&closed), 0);
	ck_assert_int_eq(cj_server_stop(&open), 0);
	free(tok);
}
END_TEST

START_TEST(wrong_upstash_token_is_503_in_both_modes)
{
	const char *closed_env[] = {"UPSTASH_REDIS_REST_TOKEN=not-the-token", NULL};
	const char *open_env[] = {"UPSTASH_REDIS_REST_TOKEN=not-the-token",
	                          "IDEMPOTENCY_FAIL_MODE=open", NULL};
	struct cj_server closed, open;
	struct httpc_resp r;
	char *tok = itest_token(&W), url[128], *log;
	const char *status;

	itest_server(&W, &closed, closed_env);
	itest_server(&W, &open, open_env);
	ck_assert_int_eq(push(&closed, tok, &status), 503);
	ck_assert_int_eq(push(&open, tok, &status), 503);
	snprintf(url, sizeof(url), "%s/health/ready", open.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "redis"), "status")), "down");
	httpc_resp_free(&r);
	log = cj_server_log(&open);
	ck_assert_ptr_null(strstr(log, "not-the-token"));
	free(log);
	ck_assert_int_eq(cj_server_stop(&closed), 0);
	ck_assert_int_eq(cj_server_stop(&open), 0);
	free(tok);
}
END_TEST

START_TEST(local_mode_without_upstash_uses_the_in_process_store)
{
	const char *env[] = {"UPSTASH_REDIS_REST_URL=", "UPSTASH_REDIS_REST_TOKEN=", NULL};
	struct cj_server s;
	struct httpc_resp r;
	char *tok = itest_token(&W), task[64], url[128];

	itest_server(&W, &s, env);
	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(cj_push(&s, "ping", tok, "ping-queue", task, 0, "{}", &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_push(&s, "ping", tok, "ping-queue", task, 1, "{}", &r), 0);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
	snprintf(url, sizeof(url), "%s/health/ready", s.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "redis"), "mode")),
	    "in-process");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("idempotency-integration");
	TCase *tc = tcase_create("idempotency");
	int failed;

	itest_setup(&W);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, redis_down_closed_and_open);
	tcase_add_test(tc, wrong_upstash_token_is_503_in_both_modes);
	tcase_add_test(tc, local_mode_without_upstash_uses_the_in_process_store);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
