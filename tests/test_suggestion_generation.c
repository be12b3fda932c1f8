/*
 * test_suggestion_generation.c - the suggestion-generation job on SQLite
 * and PostgreSQL: exact slots for crafted calendars (UTC, Europe/Berlin,
 * the spring-forward day), the due rule and its order, open suggestions as
 * busy time, three a day, and the scan over users with due contacts in
 * pages with stable task ids.
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

/* Runs generation for user and returns `created`. */
static json_int_t generate(const char *user)
{
	char payload[160];
	struct job_run r;
	json_int_t n;

	snprintf(payload, sizeof(payload), "{\"userId\":\"%s\"}", user);
	job_harness_run(&h, "suggestion-generation", payload, NULL, 0, &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	n = job_run_int(&r, "created");
	job_run_release(&r);
	return n;
}

START_TEST(first_free_slots_most_overdue_first)
{
	struct job_run r;

	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0);
	add_user("u1", "Etc/UTC", 8 * 60, 21 * 60);
	add_event("u1", "e1", AT(8, 0), AT(9, 0), "confirmed");
	add_event("u1", "e2", AT(9, 30), AT(10, 0), "confirmed");
	add_event("u1", "e3", AT(9, 0), AT(9, 30), "cancelled");
	add_contact("u1", "c-overdue3d", 7, T0 - 10 * DAY);
	add_contact("u1", "c-overdue16d", 14, T0 - 30 * DAY);
	add_contact("u1", "c-never", 7, 0);
	add_contact("u1", "c-nofreq", 0, 0);
	add_contact("u1", "c-notdue", 7, T0 - DAY);
	add_contact("u1", "c-exactly-due", 1, T0 - DAY);
	ck_assert_int_eq(generate("u1"), 3);
	/* Never contacted first, then by due time; 09:30 is taken. */
	ck_assert_int_eq(pending_slot("c-never"), AT(9, 0));
	ck_assert_int_eq(pending_slot("c-overdue16d"), AT(10, 0));
	ck_assert_int_eq(pending_slot("c-overdue3d"), AT(10, 30));
	ck_assert_int_eq(pending_slot("c-exactly-due"), -1); /* the 4th: over the cap */
	ck_assert_int_eq(pending_slot("c-nofreq"), -1);
	ck_assert_int_eq(pending_slot("c-notdue"), -1);
	ck_assert_int_eq(
	    count("SELECT slot_end - slot_start FROM suggestions WHERE contact_id = $1", "c-never"),
	    1800);
	ck_assert_int_eq(
	    count("SELECT LENGTH(id) FROM suggestions WHERE contact_id = $1", "c-never"), 32);
	/* now: the clock runs on from T0 while the test does. */
	ck_assert_int_ge(
	    count("SELECT created_at FROM suggestions WHERE contact_id = $1", "c-never"), T0);
	ck_assert_int_lt(
	    count("SELECT created_at FROM suggestions WHERE contact_id = $1", "c-never"), T0 + 600);
	/* A rerun the same day creates nothing. */
	ck_assert_int_eq(generate("u1"), 0);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM suggestions WHERE user_id = $1", "u1"), 3);
	/* The next day yesterday's slots are over and went unanswered: they
	 * expire, and the most overdue get new ones, three again. */
	set_now(T0 + DAY);
	ck_assert_int_eq(generate("u1"), 3);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM suggestions WHERE user_id = $1 AND "
	                       "state = 'expired'",
	                       "u1"),
	                 3);
	ck_assert_int_eq(pending_slot("c-never"), AT(8, 0) + DAY);
	ck_assert_int_eq(pending_slot("c-exactly-due"), -1);
	ck_assert_int_eq(generate("u1"), 0);

	job_harness_run(&h, "suggestion-generation", "{\"userId\":\"nobody\"}", NULL, 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(three_a_day)
{
	char id[16];

	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0);
	add_user("u1", "Etc/UTC", 8 * 60, 21 * 60);
	for (int i = 1; i <= 5; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		add_contact("u1", id, 30, 0);
	}
	ck_assert_int_eq(generate("u1"), 3);
	ck_assert_int_eq(pending_slot("c1"), AT(8, 0));
	ck_assert_int_eq(pending_slot("c2"), AT(8, 30));
	ck_assert_int_eq(pending_slot("c3"), AT(9, 0));
	ck_assert_int_eq(generate("u1"), 0);
	/* Late the same day: still today. */
	set_now(AT(23, 50));
	ck_assert_int_eq(generate("u1"), 0);
	/* The next day yesterday's three are over unanswered and expire; the
	 * two never suggested go first, then the one suggested longest ago. */
	set_now(T0 + DAY);
	ck_assert_int_eq(generate("u1"), 3);
	ck_assert_int_eq(pending_slot("c4"), AT(8, 0) + DAY);
	ck_assert_int_eq(pending_slot("c5"), AT(8, 30) + DAY);
	ck_assert_int_eq(pending_slot("c1"), AT(9, 0) + DAY);
	ck_assert_int_eq(generate("u1"), 0);
	job_harness_close(&h);
}
END_TEST

START_TEST(open_suggestions_are_busy_and_skipped)
{
	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0);
	add_user("u1", "Etc/UTC", 8 * 60, 21 * 60);
	add_contact("u1", "c-open", 7, 0);
	add_contact("u1", "c-accepted", 7, 0);
	add_contact("u1", "c-b", 7, 0);
	add_contact("u1", "c-c", 7, T0 - 8 * DAY);
	/* Made days ago, so they do not count towards today's three. */
	add_suggestion("u1", "s-open", "c-open", AT(8, 0), "notified", T0 - 2 * DAY);
	add_suggestion("u1", "s-acc", "c-accepted", AT(9, 0), "accepted", T0 - 2 * DAY);
	add_suggestion("u1", "s-old", "c-c", AT(8, 30), "dismissed", T0 - 2 * DAY);
	ck_assert_int_eq(generate("u1"), 2);
	/* 08:00 and 09:00 are taken by open suggestions; a dismissed one is
	 * neither busy nor blocking its contact. */
	ck_assert_int_eq(pending_slot("c-b"), AT(8, 30));
	ck_assert_int_eq(pending_slot("c-c"), AT(9, 30));
	ck_assert_int_eq(pending_slot("c-open"), -1);
	ck_assert_int_eq(pending_slot("c-accepted"), -1);
	ck_assert_int_eq(generate("u1"), 0);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM suggestions WHERE user_id = $1", "u1"), 5);

	/* A week with no free slot: nothing created. */
	add_user("u2", "Etc/UTC", 8 * 60, 21 * 60);
	add_contact("u2", "c-u2", 7, 0);
	add_event("u2", "busy-week", T0 - DAY, T0 + 8 * DAY, "confirmed");
	ck_assert_int_eq(generate("u2"), 0);
	job_harness_close(&h);
}
END_TEST

/* Time passes: an unanswered suggestion whose slot started expires and its
 * contact gets a new one; an accepted one whose slot ended counts as the
 * last contact, so that contact is due again only a frequency later. */
START_TEST(past_suggestions_close_and_contacts_come_due_again)
{
	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0);
	add_user("u1", "Etc/UTC", 8 * 60, 21 * 60);
	add_contact("u1", "c-n", 7, 0);
	add_contact("u1", "c-a", 7, 0);
	add_suggestion("u1", "s-n", "c-n", AT(8, 0), "notified", T0 - 2 * DAY);
	add_suggestion("u1", "s-a", "c-a", AT(8, 30), "accepted", T0 - 2 * DAY);
	ck_assert_int_eq(generate("u1"), 0);
	/* 10:00: both slots are over. */
	set_now(AT(10, 0));
	ck_assert_int_eq(generate("u1"), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM suggestions WHERE id = $1 AND "
	                       "state = 'expired'",
	                       "s-n"),
	                 1);
	ck_assert_int_eq(pending_slot("c-n"), AT(10, 0));
	ck_assert_int_eq(count("SELECT last_contacted_at FROM contacts WHERE id = $1", "c-a"),
	                 AT(9, 0));
	ck_assert_int_eq(pending_slot("c-a"), -1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM suggestions WHERE id = $1 AND "
	                       "state = 'accepted'",
	                       "s-a"),
	                 1);
	/* A week after the meeting it is due again. */
	set_now(AT(9, 0) + 7 * DAY + 60);
	ck_assert_int_ge(generate("u1"), 1);
	ck_assert_int_gt(pending_slot("c-a"), AT(9, 0) + 7 * DAY);
	job_harness_close(&h);
}
END_TEST

START_TEST(zones_and_waking_hours)
{
	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0); /* 08:10 in Berlin (CET, UTC+1) */
	add_user("berlin", "Europe/Berlin", 8 * 60, 21 * 60);
	add_contact("berlin", "c-b1", 7, 0);
	add_contact("berlin", "c-b2", 7, 0);
	add_event("berlin", "e1", AT(7, 30), AT(8, 0), "confirmed"); /* 08:30-09:00 CET */
	ck_assert_int_eq(generate("berlin"), 2);
	ck_assert_int_eq(pending_slot("c-b1"), AT(8, 0)); /* 09:00 CET */
	ck_assert_int_eq(pending_slot("c-b2"), AT(8, 30));
	/* Waking hours already over today: tomorrow's first slot. */
	add_user("early", "Etc/UTC", 6 * 60, 7 * 60);
	add_contact("early", "c-e", 7, 0);
	ck_assert_int_eq(generate("early"), 1);
	ck_assert_int_eq(pending_slot("c-e"), AT(6, 0) + DAY);
	/* Waking hours till 08:00: 07:30 is the only slot today. */
	add_user("late", "Etc/UTC", 7 * 60, 8 * 60);
	add_contact("late", "c-l1", 7, 0);
	add_contact("late", "c-l2", 7, 0);
	ck_assert_int_eq(generate("late"), 2);
	ck_assert_int_eq(pending_slot("c-l1"), AT(7, 30));
	ck_assert_int_eq(pending_slot("c-l2"), AT(7, 0) + DAY);
	job_harness_close(&h);
}
END_TEST

START_TEST(spring_forward_in_berlin)
{
	/* Sunday 2027-03-28: Berlin's clocks jump from 02:00 CET to 03:00 CEST. */
	const int64_t midnight_utc = INT64_C(1806192000); /* 01:00 CET */

	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(midnight_utc);
	add_user("u1", "Europe/Berlin", 60, 4 * 60);
	add_contact("u1", "c1", 7, 0);
	add_contact("u1", "c2", 7, 0);
	add_event("u1", "e1", midnight_utc, midnight_utc + 3600, "confirmed"); /* 01:00-02:00 CET */
	ck_assert_int_eq(generate("u1"), 2);
	/* 02:00 and 02:30 do not exist: 03:00 CEST, then 03:30 CEST. */
	ck_assert_int_eq(pending_slot("c1"), midnight_utc + 3600);
	ck_assert_int_eq(pending_slot("c2"), midnight_utc + 5400);
	job_harness_close(&h);
}
END_TEST

/* 450 users with a due contact, 10 without. */
static int add_many(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	(void)arg;
	for (int i = 0; i < 460; i++) {
		char id[32], cid[32];
		int rc;

		snprintf(id, sizeof(id), "user-%03d", i);
		snprintf(cid, sizeof(cid), "contact-%03d", i);
		struct store_param p[] = {store_p_text(id), store_p_text(cid),
		                          store_p_int(i < 450 ? 0 : clock_now_s())};
		rc = store_conn_exec(
		    c, "INSERT INTO users (id, created_at, updated_at) VALUES ($1, 1, 1)", p, 1,
		    NULL, err, errlen);
		if (!rc)
			rc = store_conn_exec(
			    c,
			    "INSERT INTO contacts (id, user_id, resource_name, "
			    "catchup_frequency_days, last_contacted_at, created_at, "
			    "updated_at) VALUES ($2, $1, $2, 7, NULLIF($3, 0), 1, 1)",
			    p, 3, NULL, err, errlen);
		if (rc)
			return rc;
	}
	return CJ_OK;
}

static long scan_all(const char *key_prefix, long *pages)
{
	char *cur = NULL, key[32], payload[700];
	long total = 0;
	struct job_run r;

	*pages = 0;
	do {
		snprintf(key, sizeof(key), "%s-%ld", key_prefix, *pages);
		if (cur)
			snprintf(payload, sizeof(payload), "{\"cursor\":\"%s\"}", cur);
		else
			snprintf(payload, sizeof(payload), "{}");
		job_harness_run(&h, "suggestion-generation", payload, key, 0, &r);
		ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
		total += job_run_int(&r, "enqueued");
		free(cur);
		cur = json_is_string(json_object_get(r.result, "next"))
		    ? strdup(json_string_value(json_object_get(r.result, "next")))
		    : NULL;
		ck_assert(json_object_get(r.result, "next") != NULL);
		job_run_release(&r);
		(*pages)++;
	} while (cur && *pages < 20);
	free(cur);
	return total;
}

START_TEST(scan_enqueues_users_with_due_contacts_once_a_day)
{
	char err[256] = "";
	json_t *creates, *c;
	long pages, users = 0, follow_ups = 0;
	struct job_run r;
	size_t i;

	job_harness_open(&h, _i, "http://127.0.0.1:9");
	set_now(T0);
	ck_assert_msg(store_transact(h.db.s, add_many, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	/* A user whose only due contact has an open suggestion is not due. */
	add_user("user-200x", "Etc/UTC", 480, 1260);
	add_contact("user-200x", "c-x", 7, 0);
	add_suggestion("user-200x", "s-x", "c-x", AT(9, 0), "pending", T0);
	ck_assert_int_eq(scan_all("scan", &pages), 450);
	ck_assert_int_eq(pages, 3);
	creates = job_harness_creates(&h, "suggestion-generation");
	json_array_foreach(creates, i, c)
	{
		const json_t *p = json_object_get(c, "payload");
		const char *uid = json_string_value(json_object_get(p, "userId"));

		if (json_object_get(p, "cursor"))
			follow_ups++;
		else if (uid) {
			users++;
			ck_assert_msg(strcmp(uid, "user-450") < 0, "%s is not due", uid);
		}
	}
	json_decref(creates);
	ck_assert_int_eq(users, 450);
	ck_assert_int_eq(follow_ups, 2);
	/* An overlapping scan the same day enqueues nothing again. */
	ck_assert_int_eq(scan_all("again", &pages), 0);
	ck_assert_int_eq(pages, 3);
	/* The next day every due user gets a new task. */
	set_now(T0 + DAY);
	job_harness_run(&h, "suggestion-generation", "{}", "day2", 0, &r);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 200);
	job_run_release(&r);
	job_harness_run(&h, "suggestion-generation", "{\"cursor\":\"!!\"}", "bad", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "invalid_payload");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("suggestion_generation");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, first_free_slots_most_overdue_first, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, three_a_day, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, open_suggestions_are_busy_and_skipped, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, past_suggestions_close_and_contacts_come_due_again, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, zones_and_waking_hours, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, spring_forward_in_berlin, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, scan_enqueues_users_with_due_contacts_once_a_day, 0,
	                    PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
