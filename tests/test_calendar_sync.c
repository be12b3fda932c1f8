/*
 * test_calendar_sync.c - the calendar-sync job against the Google fake, on
 * SQLite and PostgreSQL: full then incremental syncs, 410 and a full
 * resync, attendees moving contacts' last-contacted time (forward only,
 * case-insensitively, not for declined or future meetings), the
 * suggestion-regeneration it enqueues, paging and other calendars, and two
 * full syncs at once keeping every event.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ckrun.h"
#include "gfake.h"
#include "job_harness.h"

static struct gfake g;
static struct job_harness h;
static long long now;

static void add_contact(const char *id, const char *email)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO contacts (id, user_id, resource_name, name, email, created_at, "
	         "updated_at) VALUES ('%s', 'u1', 'people/%s', '%s', $1, 1, 1)",
	         id, id, id);
	job_harness_exec(&h, sql, email, NULL);
}

static void setup(int backend)
{
	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	job_harness_open(&h, backend, g.url);
	ck_assert_int_eq(gfake_control(&g, "accounts",
	                               "{\"refreshToken\":\"rt-1\",\"calendars\":[\"primary\","
	                               "\"team@group.calendar.google.com\"]}"),
	                 0);
	job_harness_add_user(&h, "u1", "me@example.com", "rt-1");
	add_contact("ann", "Ann@Example.com");
	add_contact("bob", "bob@example.com");
	add_contact("cy", "cy@example.com");
	now = (long long)clock_now_s();
}

static void run_ok(const char *payload, const char *key, struct job_run *r)
{
	job_harness_run(&h, "calendar-sync", payload, key, 0, r);
	ck_assert_msg(r->outcome == JOB_OK, "%s: %s", r->error_code, r->error_msg);
}

static int64_t last_contacted(const char *id)
{
	return job_harness_int(&h, "SELECT COALESCE(last_contacted_at, 0) FROM contacts WHERE id = $1",
	                       id, NULL);
}

START_TEST(full_then_incremental_moves_last_contacted)
{
	struct job_run r;
	json_t *creates;

	setup(_i);
	ck_assert_int_eq(
	    gfake_control(&g, "events",
	                  "{\"refreshToken\":\"rt-1\",\"upsert\":["
	                  "{\"id\":\"past\",\"summary\":\"Lunch\",\"start\":%lld,\"end\":%lld,"
	                  "\"attendees\":[{\"email\":\"ANN@example.COM\",\"responseStatus\":"
	                  "\"accepted\"},{\"email\":\"me@example.com\",\"self\":true}]},"
	                  "{\"id\":\"declined\",\"start\":%lld,\"end\":%lld,\"attendees\":[{"
	                  "\"email\":\"cy@example.com\",\"responseStatus\":\"declined\"}]},"
	                  "{\"id\":\"soon\",\"start\":%lld,\"end\":%lld,\"attendees\":[{"
	                  "\"email\":\"bob@example.com\"}]},"
	                  "{\"id\":\"old\",\"start\":%lld,\"end\":%lld,\"attendees\":[{"
	                  "\"email\":\"bob@example.com\"}]}]}",
	                  now - 7200, now - 3600, now - 7200, now - 3600, now + 3600, now + 7200,
	                  now - 200 * 86400LL, now - 200 * 86400LL + 3600),
	    0);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "calendarId")), "primary");
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	/* The one from 200 days ago is outside the 90-day window. */
	ck_assert_int_eq(job_run_int(&r, "upserted"), 3);
	ck_assert_int_eq(job_run_int(&r, "contactsTouched"), 1);
	ck_assert(json_is_true(json_object_get(r.result, "regenerationEnqueued")));
	job_run_release(&r);
	ck_assert_int_eq(last_contacted("ann"), now - 3600);
	ck_assert_int_eq(last_contacted("bob"), 0);
	ck_assert_int_eq(last_contacted("cy"), 0);
	creates = job_harness_creates(&h, "suggestion-regeneration");
	ck_assert_int_eq(json_array_size(creates), 1);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(json_array_get(creates, 0), "payload"), "userId")),
	                 "u1");
	json_decref(creates);

	/* Incremental: one cancelled, one new; still the same minute, so the
	 * regeneration is the one already there. */
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"rt-1\",\"delete\":[\"declined\"],"
	                               "\"upsert\":[{\"id\":\"new\",\"start\":%lld,\"end\":%lld}]}",
	                               now + 86400, now + 90000),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert(json_is_false(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 1);
	ck_assert_int_eq(job_run_int(&r, "deleted"), 1);
	ck_assert(json_is_true(json_object_get(r.result, "regenerationEnqueued")));
	job_run_release(&r);
	/* One task per user and minute: 2 only when the minute turned. */
	creates = job_harness_creates(&h, "suggestion-regeneration");
	ck_assert_int_ge(json_array_size(creates), 1);
	ck_assert_int_le(json_array_size(creates), 2);
	json_decref(creates);

	/* Nothing changes at Google, but "soon" has ended by now: Bob moves. */
	clock_advance(3 * 3600);
	run_ok("{\"userId\":\"u1\"}", "k3", &r);
	ck_assert_int_eq(job_run_int(&r, "upserted"), 0);
	ck_assert_int_eq(job_run_int(&r, "contactsTouched"), 1);
	ck_assert(json_is_false(json_object_get(r.result, "regenerationEnqueued")));
	job_run_release(&r);
	ck_assert_int_eq(last_contacted("bob"), now + 7200);
	/* Never backwards. */
	job_harness_exec(&h, "UPDATE contacts SET last_contacted_at = last_contacted_at + 100000 "
	                     "WHERE id = $1",
	                 "ann", NULL);
	run_ok("{\"userId\":\"u1\",\"full\":true}", "k4", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "contactsTouched"), 0);
	job_run_release(&r);
	ck_assert_int_eq(last_contacted("ann"), now - 3600 + 100000);
	clock_advance(-3 * 3600);
	job_harness_close(&h);
}
END_TEST

START_TEST(gone_token_clears_and_resyncs)
{
	struct job_run r;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"rt-1\",\"generate\":{\"count\":4,"
	                               "\"start\":%lld}}",
	                               now + 3600),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	ck_assert_int_eq(job_run_int(&r, "upserted"), 4);
	job_run_release(&r);
	job_harness_exec(&h,
	                 "INSERT INTO calendar_events (id, user_id, calendar_id, event_id, start_at, "
	                 "end_at, created_at, updated_at) VALUES ('x', $1, $2, 'ghost', 1, 2, 1, 1)",
	                 "u1", "primary");
	ck_assert_int_eq(gfake_control(&g, "expire-sync-tokens",
	                               "{\"refreshToken\":\"rt-1\",\"kind\":\"calendar\"}"),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 4);
	ck_assert_int_eq(job_run_int(&r, "deleted"), 5);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM calendar_events WHERE "
	                                     "user_id = $1 AND calendar_id = $2",
	                                 "u1", "primary"),
	                 4);
	job_harness_close(&h);
}
END_TEST

START_TEST(other_calendars_pages_and_all_day_events)
{
	struct job_run r;
	json_t *reqs;
	const char *path;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"rt-1\",\"calendarId\":"
	                               "\"team@group.calendar.google.com\",\"generate\":{\"count\":"
	                               "3000,\"start\":%lld,\"step\":600},\"upsert\":[{\"id\":\"day\","
	                               "\"allDay\":true,\"start\":%lld,\"end\":%lld}]}",
	                               now - 86400 * 30, (now / 86400) * 86400 + 86400 * 2,
	                               (now / 86400) * 86400 + 86400 * 3),
	                 0);
	run_ok("{\"userId\":\"u1\",\"calendarId\":\"team@group.calendar.google.com\"}", "k1", &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "calendarId")),
	                 "team@group.calendar.google.com");
	ck_assert_int_eq(job_run_int(&r, "pages"), 2);
	ck_assert_int_eq(job_run_int(&r, "upserted"), 3001);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT all_day * 1000000000000 + start_at FROM "
	                                     "calendar_events WHERE event_id = $1",
	                                 "day", NULL),
	                 1000000000000LL + (now / 86400) * 86400 + 86400 * 2);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM sync_state WHERE user_id = $1 "
	                                     "AND kind = $2",
	                                 "u1", "calendar:team@group.calendar.google.com"),
	                 1);
	reqs = gfake_get(&g, "requests?target=calendar");
	path = json_string_value(json_object_get(json_array_get(reqs, 0), "path"));
	ck_assert_str_eq(path, "/calendar/v3/calendars/team%40group.calendar.google.com/events");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(reqs, 0),
	                                                               "query")),
	                             "singleEvents=true"));
	json_decref(reqs);
	/* An unknown calendar is a permanent failure. */
	job_harness_run(&h, "calendar-sync", "{\"userId\":\"u1\",\"calendarId\":\"nope\"}", "k2", 0,
	                &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "google_not_found");
	job_run_release(&r);
	job_harness_run(&h, "calendar-sync", "{\"userId\":\"ghost\"}", "k3", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(failures_retry_and_revoked_skips)
{
	struct job_run r;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"calendar\",\"count\":1,\"status\":403,"
	                               "\"reason\":\"userRateLimitExceeded\",\"retryAfter\":30}"),
	                 0);
	job_harness_run(&h, "calendar-sync", "{\"userId\":\"u1\"}", "k1", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	ck_assert_int_eq(r.retry_after_s, 30);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM sync_state WHERE user_id = $1",
	                                 "u1", NULL),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	job_run_release(&r);
	ck_assert_int_eq(gfake_control(&g, "revoke", "{\"refreshToken\":\"rt-1\"}"), 0);
	ck_assert_int_eq(gfake_control(&g, "expire-access", "{}"), 0);
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "skipped")), "revoked");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

static void *first_sync(void *arg)
{
	job_harness_run(&h, "calendar-sync", "{\"userId\":\"u1\"}", "first-a", 0, arg);
	return NULL;
}

/* Two first (full) syncs of one calendar at once - a retried initial sync
 * and adaptive-sync's, say: the one that finishes last must not delete
 * what the other wrote after it began. */
START_TEST(overlapping_full_syncs_keep_every_event)
{
	struct job_run a, b;
	pthread_t th;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"rt-1\",\"generate\":{\"count\":5,"
	                               "\"start\":%lld}}",
	                               now + 86400),
	                 0);
	/* A has written its page; its regeneration create lands and is answered
	 * 3 s later, before A stores its token. */
	ck_assert_int_eq(fake_cloud_fail(&h.fc, "create", 1, 0, 3000), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, first_sync, &a), 0);
	for (int i = 0; i < 1000; i++) {
		json_t *c = job_harness_creates(&h, "suggestion-regeneration");
		size_t n = json_array_size(c);

		json_decref(c);
		if (n)
			break;
		usleep(10000);
	}
	/* Meanwhile B syncs the whole calendar again, start to end. */
	run_ok("{\"userId\":\"u1\"}", "first-b", &b);
	ck_assert(json_is_true(json_object_get(b.result, "full")));
	ck_assert_int_eq(job_run_int(&b, "upserted"), 5);
	job_run_release(&b);
	pthread_join(th, NULL);
	ck_assert_msg(a.outcome == JOB_OK, "%s: %s", a.error_code, a.error_msg);
	ck_assert_int_eq(job_run_int(&a, "deleted"), 0);
	job_run_release(&a);
	ck_assert_int_eq(
	    job_harness_int(&h, "SELECT COUNT(*) FROM calendar_events WHERE user_id = $1", "u1", NULL),
	    5);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("calendar_sync");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start() || gfake_start(&g, HARNESS_CLIENT_ID, HARNESS_CLIENT_SECRET))
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, full_then_incremental_moves_last_contacted, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, gone_token_clears_and_resyncs, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, other_calendars_pages_and_all_day_events, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, failures_retry_and_revoked_skips, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, overlapping_full_syncs_keep_every_event, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	gfake_stop(&g);
	pgtest_stop();
	return failed ? 1 : 0;
}
