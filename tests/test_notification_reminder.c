/*
 * test_notification_reminder.c - the notification-reminder job against the
 * Twilio/SendGrid fake, on SQLite and PostgreSQL: accepted suggestions
 * starting within the next hour are reminded once (not pending ones, not
 * later ones, not past ones), a lost answer is not resent, and 250 due
 * reminders go out in pages of 100 handed on by cursor.
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
	notify_add_user(&h, "u1", "email", NULL, "u1@example.com", 0, 1440);
}

static int64_t reminded(const char *id)
{
	return job_harness_int(&h, "SELECT COALESCE(reminded_at, 0) FROM suggestions WHERE id = $1",
	                       id, NULL);
}

START_TEST(reminds_accepted_catch_ups_within_the_hour_once)
{
	int64_t now = clock_now_s();
	struct job_run r;
	char *body;

	setup(_i);
	notify_add_suggestion(&h, "u1", "soon", "Ann", now + 1800, "accepted");
	notify_add_suggestion(&h, "u1", "edge", "Bea", now + 3600, "accepted");
	notify_add_suggestion(&h, "u1", "later", "Cy", now + 3700, "accepted");
	notify_add_suggestion(&h, "u1", "past", "Di", now - 60, "accepted");
	notify_add_suggestion(&h, "u1", "pend", "Ed", now + 600, "pending");
	job_harness_run(&h, "notification-reminder", "{}", "k1", 0, &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "sent"), 2);
	ck_assert_int_eq(job_run_int(&r, "failed"), 0);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 0);
	ck_assert(json_is_null(json_object_get(r.result, "next")));
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, "sendgrid"), 2);
	body = notify_message_body(&F, 0);
	ck_assert_msg(strstr(body, "Ann") || strstr(body, "Bea"), "%s", body);
	free(body);
	ck_assert_int_ge(reminded("soon"), now);
	ck_assert_int_ge(reminded("edge"), now);
	ck_assert_int_eq(reminded("later"), 0);
	ck_assert_int_eq(reminded("past"), 0);
	ck_assert_int_eq(reminded("pend"), 0);
	/* Once only: the next run, and a retried one, send nothing. */
	job_harness_run(&h, "notification-reminder", "{}", "k2", 0, &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	job_harness_exec(&h, "UPDATE suggestions SET reminded_at = NULL WHERE id = $1", "soon",
	                 NULL);
	job_harness_run(&h, "notification-reminder", "{}", "k1", 0, &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1); /* found sent in the outbox */
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 2);
	ck_assert_int_ge(reminded("soon"), now);
	/* Ten minutes on, "later" is within the hour. */
	clock_advance(600);
	job_harness_run(&h, "notification-reminder", "{}", "k3", 0, &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	clock_advance(-600);
	ck_assert_int_eq(notify_messages(&F, NULL), 3);
	job_harness_close(&h);
}
END_TEST

START_TEST(a_lost_answer_is_unconfirmed_and_not_resent)
{
	int64_t now = clock_now_s();
	struct job_run r;

	setup(_i);
	notify_add_suggestion(&h, "u1", "soon", "Ann", now + 1800, "accepted");
	ck_assert_int_eq(mfake_control(&F, "fail",
	                               "{\"target\":\"sendgrid\",\"count\":1,\"drop\":true,"
	                               "\"accept\":true}"),
	                 0);
	job_harness_run(&h, "notification-reminder", "{}", "k1", 0, &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 1);
	job_run_release(&r);
	ck_assert_int_eq(notify_outbox_count(&h, "sending"), 1);
	ck_assert_int_ge(reminded("soon"), now);
	job_harness_exec(&h, "UPDATE suggestions SET reminded_at = NULL WHERE id = $1", "soon",
	                 NULL);
	job_harness_run(&h, "notification-reminder", "{}", "k2", 0, &r);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 1);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	job_harness_close(&h);
}
END_TEST

START_TEST(pages_of_one_hundred_handed_on_by_cursor)
{
	int64_t now = clock_now_s();
	long sent = 0, pages = 0;
	char *cursor = NULL;
	struct job_run r;
	json_t *creates;

	setup(_i);
	for (int i = 0; i < 250; i++) {
		char id[32];

		snprintf(id, sizeof(id), "s%03d", i);
		/* One user per suggestion: the open-suggestion index is per contact. */
		notify_add_suggestion(&h, "u1", id, "Friend", now + 60 + i, "accepted");
	}
	do {
		char payload[700], key[32];

		snprintf(key, sizeof(key), "page-%ld", pages);
		if (cursor)
			snprintf(payload, sizeof(payload), "{\"cursor\":\"%s\"}", cursor);
		else
			snprintf(payload, sizeof(payload), "{}");
		job_harness_run(&h, "notification-reminder", payload, key, 0, &r);
		ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
		sent += job_run_int(&r, "sent");
		free(cursor);
		cursor = json_is_string(json_object_get(r.result, "next"))
		    ? strdup(json_string_value(json_object_get(r.result, "next")))
		    : NULL;
		job_run_release(&r);
		pages++;
	} while (cursor && pages < 10);
	ck_assert_int_eq(sent, 250);
	ck_assert_int_eq(pages, 3);
	ck_assert_int_eq(notify_messages(&F, NULL), 250);
	creates = job_harness_creates(&h, "notification-reminder");
	ck_assert_int_eq(json_array_size(creates), 2);
	json_decref(creates);
	job_harness_run(&h, "notification-reminder", "{\"cursor\":\"!!\"}", "bad", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notification_reminder");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init() || pgtest_start() || mfake_start(&F) ||
	    redis_fixture_start(&R))
		return 1;
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, reminds_accepted_catch_ups_within_the_hour_once, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_lost_answer_is_unconfirmed_and_not_resent, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, pages_of_one_hundred_handed_on_by_cursor, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	redis_fixture_stop(&R);
	mfake_stop(&F);
	pgtest_stop();
	return failed ? 1 : 0;
}
