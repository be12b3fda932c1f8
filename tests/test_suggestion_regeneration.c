/*
 * test_suggestion_regeneration.c - the suggestion-regeneration job on
 * SQLite and PostgreSQL: a pending suggestion that meets a new event moves
 * to the exact next free slot, a notified one is expired and replaced, an
 * accepted one stays, one with no free slot left or whose slot has started
 * is expired, and the counts say so.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "clock.h"
#include "job_harness.h"
#include "store.h"

#define DAY 86400
/* Monday 2026-12-07T00:00:00Z, and now in most tests: 07:10 that day. */
#define D0 INT64_C(1796601600)
#define T0 (D0 + 7 * 3600 + 600)
#define AT(h, m) (D0 + (h)*3600 + (m)*60)

static struct job_harness h;

static void set_now(int64_t t)
{
	int64_t now = clock_now_s();

	ck_assert_int_gt(t, now);
	ck_assert_int_ge(clock_advance(t - now), 0);
}

static void exec(const char *fmt, ...) CJ_PRINTF(1, 2);
static void exec(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	job_harness_exec(&h, sql, NULL, NULL);
}

static void add_user(const char *id, const char *zone, int wake_start, int wake_end)
{
	job_harness_add_user(&h, id, NULL, NULL);
	exec("UPDATE users SET timezone = '%s', waking_start_minute = %d, waking_end_minute = %d "
	     "WHERE id = '%s'",
	     zone, wake_start, wake_end, id);
}

/* freq 0: no frequency; last 0: never contacted. */
static void add_contact(const char *user, const char *id, int freq, int64_t last)
{
	char f[16] = "NULL", l[24] = "NULL";

	if (freq)
		snprintf(f, sizeof(f), "%d", freq);
	if (last)
		snprintf(l, sizeof(l), "%lld", (long long)last);
	exec("INSERT INTO contacts (id, user_id, resource_name, name, catchup_frequency_days, "
	     "last_contacted_at, created_at, updated_at) VALUES ('%s', '%s', 'people/%s', '%s', "
	     "%s, %s, 1, 1)",
	     id, user, id, id, f, l);
}

static void add_event(const char *user, const char *id, int64_t start, int64_t end,
                      const char *status)
{
	exec("INSERT INTO calendar_events (id, user_id, calendar_id, event_id, start_at, end_at, "
	     "status, created_at, updated_at) VALUES ('%s', '%s', 'primary', '%s', %lld, %lld, "
	     "'%s', 1, 1)",
	     id, user, id, (long long)start, (long long)end, status);
}

static void add_suggestion(const char *user, const char *id, const char *contact, int64_t start,
                           const char *state, int64_t created)
{
	exec("INSERT INTO suggestions (id, user_id, contact_id, slot_start, slot_end, state, "
	     "created_at, updated_at) VALUES ('%s', '%s', '%s', %lld, %lld, '%s', %lld, %lld)",
	     id, user, contact, (long long)start, (long long)(start + 1800), state,
	     (long long)created, (long long)created);
}

/* The start of contact's pending suggestion, -1 when it has none. */
static int64_t pending_slot(const char *contact)
{
	return job_harness_int(&h,
	                       "SELECT slot_start FROM suggestions WHERE contact_id = $1 AND "
	                       "state = 'pending'",
	                       contact, NULL);
}

static int64_t count(const char *sql, const char *p1)
{
	return job_harness_int(&h, sql, p1, NULL);
}

static int64_t state_of_count(const char *contact, const char *state)
{
	return job_harness_int(&h,
	                       "SELECT COUNT(*) FROM suggestions WHERE contact_id = $1 AND "
	                       "state = $2",
	                       contact, state);
}

static char *state(const char *id)
{
	return job_harness_text(&h, "SELECT state FROM suggestions WHERE id = $1", id, NULL);
}

static void assert_state(const char *id, const char *want)
{
	char *s = state(id);

	ck_assert_msg(s && !strcmp(s, want), "%s is %s, not %s", id, s ? s : "(none)", want);
	free(s);
}

static void regenerate(const char *user, long moved, long expired, long created)
{
	char payload[160];
	struct job_run r;

	snprintf(payload, sizeof(payload), "{\"userId\":\"%s\"}", user);
	job_harness_run(&h, "suggestion-regeneration", payload, NULL, 0, &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "moved"), moved);
	ck_assert_int_eq(job_run_int(&r, "expired"), expired);
	ck_assert_int_eq(job_run_int(&r, "created"), created);
	job_run_release(&r);
}

START_TEST(moves_replaces_and_expires)
{
	char id[16];

	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0);
	add_user("u1", "Etc/UTC", 8 * 60, 21 * 60);
	for (int i = 1; i <= 8; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		add_contact("u1", id, 7, 0);
	}
	add_suggestion("u1", "s-pending", "c1", AT(8, 0), "pending", T0 - DAY);
	add_suggestion("u1", "s-notified", "c2", AT(9, 0), "notified", T0 - DAY);
	add_suggestion("u1", "s-accepted", "c3", AT(10, 0), "accepted", T0 - DAY);
	add_suggestion("u1", "s-clear", "c4", AT(11, 0), "pending", T0 - DAY);
	/* Started or past: 07:00 began before now (07:10). */
	add_suggestion("u1", "s-started", "c5", AT(7, 0), "pending", T0 - DAY);
	add_suggestion("u1", "s-past", "c6", AT(6, 0), "notified", T0 - DAY);
	add_suggestion("u1", "s-acc-started", "c7", AT(7, 0), "accepted", T0 - DAY);
	add_suggestion("u1", "s-done", "c8", AT(8, 0), "dismissed", T0 - DAY);
	/* New events over the first three; a cancelled one over the fourth. */
	add_event("u1", "e1", AT(8, 0), AT(9, 0), "confirmed");
	add_event("u1", "e2", AT(9, 0), AT(9, 15), "confirmed");
	add_event("u1", "e3", AT(10, 0), AT(11, 0), "tentative");
	add_event("u1", "e4", AT(11, 0), AT(11, 30), "cancelled");
	regenerate("u1", 1, 3, 1);
	/* The pending one, first in slot order, takes 09:30 (09:00 is an
	 * event, and the notified one is still open while it is looked at). */
	assert_state("s-pending", "pending");
	ck_assert_int_eq(pending_slot("c1"), AT(9, 30));
	ck_assert_int_eq(count("SELECT slot_end FROM suggestions WHERE id = $1", "s-pending"),
	                 AT(10, 0));
	/* The notified one: expired, and a new pending one at the next free
	 * slot: 10:00-11:00 is an event, 11:00 is taken by s-clear. */
	assert_state("s-notified", "expired");
	ck_assert_int_eq(state_of_count("c2", "pending"), 1);
	ck_assert_int_eq(pending_slot("c2"), AT(11, 30));
	assert_state("s-accepted", "accepted");
	ck_assert_int_eq(count("SELECT slot_start FROM suggestions WHERE id = $1", "s-accepted"),
	                 AT(10, 0));
	assert_state("s-clear", "pending");
	ck_assert_int_eq(pending_slot("c4"), AT(11, 0));
	assert_state("s-started", "expired");
	assert_state("s-past", "expired");
	assert_state("s-acc-started", "accepted");
	assert_state("s-done", "dismissed");
	/* Nothing left to do. */
	regenerate("u1", 0, 0, 0);
	job_harness_close(&h);
}
END_TEST

START_TEST(no_free_slot_expires)
{
	struct job_run r;

	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0);
	add_user("u1", "Etc/UTC", 8 * 60, 21 * 60);
	add_contact("u1", "c1", 7, 0);
	add_contact("u1", "c2", 7, 0);
	add_contact("u1", "c3", 7, 0);
	add_suggestion("u1", "s1", "c1", AT(12, 0), "pending", T0);
	add_suggestion("u1", "s2", "c2", AT(13, 0), "notified", T0);
	add_suggestion("u1", "s3", "c3", AT(14, 0), "accepted", T0);
	add_event("u1", "week", T0 - DAY, T0 + 8 * DAY, "confirmed");
	regenerate("u1", 0, 2, 0);
	assert_state("s1", "expired");
	assert_state("s2", "expired");
	assert_state("s3", "accepted");
	ck_assert_int_eq(count("SELECT COUNT(*) FROM suggestions WHERE user_id = $1", "u1"), 3);

	job_harness_run(&h, "suggestion-regeneration", "{\"userId\":\"nobody\"}", NULL, 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(moves_within_waking_hours_in_berlin)
{
	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0); /* 08:10 CET */
	add_user("u1", "Europe/Berlin", 8 * 60, 21 * 60);
	add_contact("u1", "c1", 7, 0);
	add_contact("u1", "c2", 7, 0);
	/* 20:00 and 20:30 CET, the last two slots of the day. */
	add_suggestion("u1", "s1", "c1", AT(19, 0), "pending", T0);
	add_suggestion("u1", "s2", "c2", AT(19, 30), "pending", T0);
	/* Busy from now until 20:30 CET: s1 overlaps, s2 just touches it. */
	add_event("u1", "e1", T0, AT(19, 30), "confirmed");
	regenerate("u1", 1, 0, 0);
	/* Nothing left today (20:30 CET is s2's): 08:00 CET tomorrow. */
	ck_assert_int_eq(pending_slot("c1"), AT(7, 0) + DAY);
	ck_assert_int_eq(pending_slot("c2"), AT(19, 30));
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("suggestion_regeneration");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, moves_replaces_and_expires, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, no_free_slot_expires, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, moves_within_waking_hours_in_berlin, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
