/*
 * test_token_health_reminder.c - the token-health-reminder job against the
 * Twilio/SendGrid fake, on SQLite and PostgreSQL: revoked and error
 * accounts are told to reconnect at most once per 7 days (active ones
 * never), a retried run does not send twice, and the scan enqueues each due
 * user once per 7-day bucket.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "clock.h"
#include "fixtures.h"
#include "http_client.h"
#include "job_harness.h"
#include "mfake.h"
#include "notify_data.h"
#include "store.h"

static struct mfake F;
static struct redis_fixture R;
static struct job_harness h;

static void setup(int backend)
{
	ck_assert_int_eq(mfake_control(&F, "reset", "{}"), 0);
	ck_assert_int_eq(redis_fixture_flushall(&R), 0);
	job_harness_open_with(&h, backend,
	                      &(struct job_harness_opts){.messaging_url = F.url,
	                                                 .redis_url = R.url,
	                                                 .redis_token = R.token});
}

/* A user reached by SMS with a Google account in status. */
static void account(const char *id, const char *status)
{
	char phone[32];

	snprintf(phone, sizeof(phone), "+1555%07d", (int)strlen(id) * 1000 + id[0]);
	notify_add_user(&h, id, "sms", phone, NULL, 0, 1440);
	job_harness_exec(&h,
	                 "INSERT INTO google_accounts (user_id, status, created_at, updated_at) "
	                 "VALUES ($1, $2, 1, 1)",
	                 id, status);
}

static void run_user(const char *user, const char *key, struct job_run *r)
{
	char payload[200];

	snprintf(payload, sizeof(payload), "{\"userId\":\"%s\"}", user);
	job_harness_run(&h, "token-health-reminder", payload, key, 0, r);
}

START_TEST(reminds_at_most_once_per_seven_days)
{
	struct job_run r;
	int64_t at;

	setup(_i);
	account("rev", "revoked");
	account("err", "error");
	account("ok", "active");
	run_user("rev", "k1", &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	ck_assert_int_eq(job_run_int(&r, "failed"), 0);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 0);
	job_run_release(&r);
	run_user("err", "k2", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	run_user("ok", "k3", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, "twilio"), 2);
	at = job_harness_int(
	    &h, "SELECT health_reminded_at FROM google_accounts WHERE user_id = $1", "rev", NULL);
	ck_assert_int_ge(at, clock_now_s() - 5);
	/* Within the 7 days: nothing, however often it runs. */
	clock_advance(6 * 86400);
	run_user("rev", "k4", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	/* 7 days on: once more. */
	clock_advance(86400);
	run_user("rev", "k5", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	run_user("rev", "k6", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	clock_advance(-7 * 86400);
	ck_assert_int_eq(notify_messages(&F, "twilio"), 3);
	run_user("nobody", "k7", &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(a_retry_after_the_send_does_not_send_again)
{
	struct job_run r;

	setup(_i);
	account("rev", "revoked");
	run_user("rev", "k1", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	/* A death after the send, before health_reminded_at moved. */
	job_harness_exec(&h,
	                 "UPDATE google_accounts SET health_reminded_at = NULL WHERE user_id = $1",
	                 "rev", NULL);
	run_user("rev", "k1", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	ck_assert_int_gt(job_harness_int(&h,
	                                 "SELECT COALESCE(health_reminded_at, 0) FROM "
	                                 "google_accounts WHERE user_id = $1",
	                                 "rev", NULL),
	                 0);
	job_harness_close(&h);
}
END_TEST

START_TEST(the_scan_enqueues_due_accounts_once_per_bucket)
{
	struct job_run r;
	json_t *creates;

	setup(_i);
	account("a", "revoked");
	account("b", "error");
	account("c", "active");
	account("d", "revoked");
	job_harness_exec(&h, "UPDATE google_accounts SET health_reminded_at = 1 WHERE user_id = $1",
	                 "d", NULL);
	account("e", "revoked");
	{
		char recent[32];

		snprintf(recent, sizeof(recent), "%lld", (long long)clock_now_s() - 3600);
		job_harness_exec(
		    &h,
		    "UPDATE google_accounts SET health_reminded_at = CAST($2 AS BIGINT) "
		    "WHERE user_id = $1",
		    "e", recent);
	}
	job_harness_run(&h, "token-health-reminder", "{}", "scan-1", 0, &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 3); /* a, b, d */
	ck_assert(json_is_null(json_object_get(r.result, "next")));
	job_run_release(&r);
	job_harness_run(&h, "token-health-reminder", "{}", "scan-2", 0, &r);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 0);
	job_run_release(&r);
	creates = job_harness_creates(&h, "token-health-reminder");
	ck_assert_int_eq(json_array_size(creates), 3);
	json_decref(creates);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("token_health_reminder");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init() || pgtest_start() || mfake_start(&F) ||
	    redis_fixture_start(&R))
		return 1;
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, reminds_at_most_once_per_seven_days, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_retry_after_the_send_does_not_send_again, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, the_scan_enqueues_due_accounts_once_per_bucket, 0,
	                    PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	redis_fixture_stop(&R);
	mfake_stop(&F);
	pgtest_stop();
	return failed ? 1 : 0;
}
