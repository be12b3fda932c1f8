/*
 * test_webhook_jobs.c - webhook-renewal and webhook-health-check against
 * the Google fake's watch channels, on SQLite and PostgreSQL.
 *
 * Covered: the watch request (UUID id, web_hook, our address, a 256-bit
 * token stored only as its hash, ttl 604800) and the active row it leaves;
 * health-check making a missing channel once, stopping extras, replacing
 * expired and silent ones (silence alone is not enough: polling must have
 * found changes), skipping a user whose calendar Google refuses, and a
 * watch whose answer was lost (the half-made channel is stopped once a
 * sibling reveals its resourceId); renewal of due channels (new first,
 * then the stop), nothing for channels not due, a crash between the create
 * and the stop (the retry stops the old one and makes no third), a watch
 * answer lost mid-renewal (the retry stops the orphan with its sibling's
 * resourceId), revoked and unknown users, and the renewal scan's fan-out
 * once per due user.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ckrun.h"
#include "crypto.h"
#include "gfake.h"
#include "job_harness.h"

static struct gfake g;
static struct job_harness h;

static void setup(int backend)
{
	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	job_harness_open(&h, backend, g.url);
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"rt-1\"}"), 0);
	job_harness_add_user(&h, "u1", "me@example.com", "rt-1");
}

static void teardown_h(void)
{
	job_harness_close(&h);
}

static void run(const char *type, const char *payload, const char *key, struct job_run *r)
{
	job_harness_run(&h, type, payload, key, 0, r);
}

static void run_ok(const char *type, const char *payload, const char *key, struct job_run *r)
{
	run(type, payload, key, r);
	ck_assert_msg(r->outcome == JOB_OK, "%s: %s %s", type, r->error_code, r->error_msg);
}

static long rows(const char *status)
{
	return (long)job_harness_int(&h, "SELECT COUNT(*) FROM webhook_channels WHERE status = $1",
	                             status, NULL);
}

static long stat_calls(const char *target)
{
	json_t *st = gfake_get(&g, "stats");
	long v = (long)json_integer_value(json_object_get(json_object_get(st, target), "calls"));

	json_decref(st);
	return v;
}

/* Channels at the fake in state ("live", "stopped", "expired"). */
static long fake_count(const char *state)
{
	json_t *all = gfake_get(&g, "channels"), *c;
	size_t i;
	long n = 0;

	ck_assert_ptr_nonnull(all);
	json_array_foreach(json_object_get(all, "channels"), i, c)
	{
		if (!strcmp(json_string_value(json_object_get(c, "state")), state))
			n++;
	}
	json_decref(all);
	return n;
}

/* The id of the one active channel row (malloc'd). */
static char *active_id(void)
{
	char *id;

	ck_assert_int_eq(rows("active"), 1);
	id = job_harness_text(&h, "SELECT id FROM webhook_channels WHERE status = 'active'", NULL,
	                      NULL);
	ck_assert_ptr_nonnull(id);
	return id;
}

/* Moves business time and the fake's channel clock together. */
static long long offset_s;
static void advance(long long s)
{
	offset_s += s;
	clock_advance(s);
	ck_assert_int_eq(gfake_control(&g, "clock", "{\"offsetSeconds\":%lld}", offset_s), 0);
}

START_TEST(health_check_makes_one_channel_as_google_wants_it)
{
	struct job_run r;
	json_t *reqs, *body, *chans, *c;
	const char *id, *token;
	char hash[65], *stored, *sql_id;
	long long now;

	setup(_i);
	offset_s = 0;
	now = (long long)clock_now_s();
	run_ok("webhook-health-check", "{}", "hc-1", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 1);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 0);
	ck_assert_int_eq(job_run_int(&r, "silentRecreated"), 0);
	ck_assert(json_is_null(json_object_get(r.result, "next")));
	job_run_release(&r);

	reqs = gfake_get(&g, "requests?target=watch");
	ck_assert_int_eq(json_array_size(reqs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
	                 "/calendar/v3/calendars/primary/events/watch");
	body = json_object_get(json_array_get(reqs, 0), "body");
	if (json_is_string(body))
		body = json_loads(json_string_value(body), 0, NULL);
	else
		json_incref(body);
	ck_assert_ptr_nonnull(body);
	id = json_string_value(json_object_get(body, "id"));
	token = json_string_value(json_object_get(body, "token"));
	ck_assert_int_eq(strlen(id), 36);
	ck_assert_int_eq(id[14], '4');
	ck_assert_str_eq(json_string_value(json_object_get(body, "type")), "web_hook");
	ck_assert_str_eq(json_string_value(json_object_get(body, "address")),
	                 FAKE_RUN_URL "/webhooks/google-calendar");
	ck_assert_int_ge(strlen(token), 43);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "params"), "ttl")),
	                 "604800");

	/* The row: active, Google's resourceId and expiration, the token's
	 * hash and never the token. */
	ck_assert_int_eq(crypto_sha256_hex(token, hash), CJ_OK);
	stored = job_harness_text(&h, "SELECT token_hash FROM webhook_channels WHERE id = $1", id,
	                          NULL);
	ck_assert_str_eq(stored, hash);
	free(stored);
	sql_id = active_id();
	ck_assert_str_eq(sql_id, id);
	free(sql_id);
	chans = gfake_get(&g, "channels");
	c = json_array_get(json_object_get(chans, "channels"), 0);
	stored = job_harness_text(&h, "SELECT resource_id FROM webhook_channels WHERE id = $1", id,
	                          NULL);
	ck_assert_str_eq(stored, json_string_value(json_object_get(c, "resourceId")));
	free(stored);
	ck_assert_int_eq(job_harness_int(&h, "SELECT expiration FROM webhook_channels WHERE id = $1",
	                                 id, NULL),
	                 (long long)(json_integer_value(json_object_get(c, "expiration")) / 1000));
	ck_assert_int_ge(job_harness_int(&h, "SELECT expiration FROM webhook_channels WHERE id = $1",
	                                 id, NULL),
	                 now + 604800 - 5);
	json_decref(chans);
	json_decref(body);
	json_decref(reqs);

	/* Once there is one, the check leaves it. */
	run_ok("webhook-health-check", "{}", "hc-2", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 0);
	job_run_release(&r);
	ck_assert_int_eq(stat_calls("watch"), 1);
	teardown_h();
}
END_TEST

START_TEST(health_check_repairs)
{
	struct job_run r;
	char *first, *second;

	setup(_i);
	offset_s = 0;
	/* Two live channels (e.g. two runs raced): the one expiring last stays. */
	run_ok("webhook-health-check", "{}", "hc-a", &r);
	job_run_release(&r);
	first = active_id();
	job_harness_exec(&h, "UPDATE webhook_channels SET status = 'expired'", NULL, NULL);
	run_ok("webhook-health-check", "{}", "hc-b", &r);
	job_run_release(&r);
	second = active_id();
	job_harness_exec(&h, "UPDATE webhook_channels SET status = 'active' WHERE id = $1", first,
	                 NULL);
	job_harness_exec(&h, "UPDATE webhook_channels SET expiration = expiration - 60 WHERE id = $1",
	                 first, NULL);
	run_ok("webhook-health-check", "{}", "hc-c", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 0);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 1);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM webhook_channels WHERE id = $1 "
	                                 "AND status = 'stopped'",
	                                 first, NULL),
	                 1);
	free(first);
	first = active_id();
	ck_assert_str_eq(first, second);
	ck_assert_int_eq(fake_count("live"), 1);
	free(first);
	free(second);

	/* Silent for a day, but polling found nothing: left alone. */
	advance(86400 + 3600);
	job_harness_exec(&h,
	                 "INSERT INTO sync_state (user_id, kind, last_sync_at, updated_at) "
	                 "VALUES ('u1', 'calendar:primary', 1, 1)",
	                 NULL, NULL);
	run_ok("webhook-health-check", "{}", "hc-d", &r);
	ck_assert_int_eq(job_run_int(&r, "silentRecreated"), 0);
	job_run_release(&r);
	/* Polling found changes well after the last message: replaced. */
	job_harness_exec(&h,
	                 "UPDATE sync_state SET last_changed_at = (SELECT created_at + 7200 FROM "
	                 "webhook_channels WHERE status = 'active') WHERE user_id = 'u1'",
	                 NULL, NULL);
	second = active_id();
	run_ok("webhook-health-check", "{}", "hc-e", &r);
	ck_assert_int_eq(job_run_int(&r, "silentRecreated"), 1);
	ck_assert_int_eq(job_run_int(&r, "created"), 0);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 1);
	job_run_release(&r);
	first = active_id();
	ck_assert_str_ne(first, second);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM webhook_channels WHERE id = $1 "
	                                 "AND status = 'stopped' AND silent_flagged_at IS NOT NULL",
	                                 second, NULL),
	                 1);
	ck_assert_int_eq(fake_count("live"), 1);
	free(first);
	free(second);

	/* A week later the channel has expired at Google and here: a new one. */
	advance(8 * 86400);
	run_ok("webhook-health-check", "{}", "hc-f", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 1);
	job_run_release(&r);
	ck_assert_int_eq(rows("active"), 1);
	ck_assert_int_ge(rows("expired"), 1);
	ck_assert_int_eq(fake_count("live"), 1);
	teardown_h();
}
END_TEST

START_TEST(health_check_failures)
{
	struct job_run r;

	setup(_i);
	offset_s = 0;
	/* A refusal of one user's watch: logged, skipped, no row left. */
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"watch\",\"count\":1,\"status\":403,"
	                               "\"reason\":\"forbidden\"}"),
	                 0);
	run_ok("webhook-health-check", "{}", "hf-1", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 0);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM webhook_channels", NULL, NULL),
	                 0);

	/* Google unavailable: retry, and a 5xx leaves the pending row (the
	 * channel may exist). */
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"watch\",\"count\":1,\"status\":503}"),
	                 0);
	run("webhook-health-check", "{}", "hf-2", &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	job_run_release(&r);
	ck_assert_int_eq(rows("pending"), 1);

	/* Its retry treats that row as a channel that may be live: it cannot
	 * be stopped until a sibling reveals the calendar's resourceId, so the
	 * new channel is made and then the orphan stopped (Google answers 404:
	 * it never existed, and the row is stopped all the same). */
	run_ok("webhook-health-check", "{}", "hf-2", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 1);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 1);
	job_run_release(&r);
	ck_assert_int_eq(rows("active"), 1);
	ck_assert_int_eq(rows("stopped"), 1);
	ck_assert_int_eq(rows("pending") + rows("stopping"), 0);
	ck_assert_int_eq(fake_count("live"), 1);
	ck_assert_int_eq(stat_calls("stop"), 1);

	/* Revoked accounts are not checked. */
	job_harness_exec(&h, "UPDATE google_accounts SET status = 'revoked'", NULL, NULL);
	job_harness_exec(&h, "UPDATE webhook_channels SET status = 'expired'", NULL, NULL);
	run_ok("webhook-health-check", "{}", "hf-4", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 0);
	job_run_release(&r);
	teardown_h();
}
END_TEST

START_TEST(renewal_replaces_due_channels)
{
	struct job_run r;
	char *old, *new_id;

	setup(_i);
	offset_s = 0;
	run_ok("webhook-health-check", "{}", "rn-0", &r);
	job_run_release(&r);
	old = active_id();

	/* Not due yet: nothing. */
	run_ok("webhook-renewal", "{\"userId\":\"u1\"}", "rn-1", &r);
	ck_assert_int_eq(job_run_int(&r, "renewed"), 0);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 0);
	job_run_release(&r);
	run_ok("webhook-renewal", "{}", "rn-scan-1", &r);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 0);
	job_run_release(&r);

	/* Six and a half days on it expires within 24 h: renewed. */
	advance(6 * 86400 + 12 * 3600);
	run_ok("webhook-renewal", "{}", "rn-scan-2", &r);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 1);
	job_run_release(&r);
	run_ok("webhook-renewal", "{}", "rn-scan-3", &r);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 0); /* the same task: 409 */
	job_run_release(&r);
	run_ok("webhook-renewal", "{\"userId\":\"u1\"}", "rn-2", &r);
	ck_assert_int_eq(job_run_int(&r, "renewed"), 1);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 1);
	job_run_release(&r);
	new_id = active_id();
	ck_assert_str_ne(new_id, old);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM webhook_channels WHERE id = $1 "
	                                 "AND status = 'stopped' AND replaced_by = $2",
	                                 old, new_id),
	                 1);
	ck_assert_int_eq(fake_count("live"), 1);
	ck_assert_int_eq(fake_count("stopped"), 1);
	/* New first, then the stop. */
	{
		json_t *w = gfake_get(&g, "requests?target=watch");

		ck_assert_int_eq(json_array_size(w), 2);
		json_decref(w);
	}
	free(old);
	free(new_id);

	/* A week on Google refuses to watch the calendar: no new channel, the
	 * due one is stopped all the same; the next health check makes one. */
	advance(6 * 86400 + 12 * 3600);
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"watch\",\"count\":1,\"status\":404}"),
	                 0);
	run_ok("webhook-renewal", "{\"userId\":\"u1\"}", "rn-2b", &r);
	ck_assert_int_eq(job_run_int(&r, "renewed"), 0);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 1);
	job_run_release(&r);
	ck_assert_int_eq(rows("active"), 0);
	ck_assert_int_eq(fake_count("live"), 0);
	run_ok("webhook-health-check", "{}", "rn-hc", &r);
	ck_assert_int_eq(job_run_int(&r, "created"), 1);
	job_run_release(&r);
	ck_assert_int_eq(fake_count("live"), 1);

	/* Unknown and revoked users. */
	run("webhook-renewal", "{\"userId\":\"nobody\"}", "rn-3", &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	job_harness_exec(&h, "UPDATE google_accounts SET status = 'revoked'", NULL, NULL);
	run_ok("webhook-renewal", "{\"userId\":\"u1\"}", "rn-4", &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "skipped")), "revoked");
	job_run_release(&r);
	teardown_h();
}
END_TEST

START_TEST(renewal_after_crashes)
{
	struct job_run r;
	char *old, *fresh;

	setup(_i);
	offset_s = 0;
	run_ok("webhook-health-check", "{}", "rc-0", &r);
	job_run_release(&r);
	old = active_id();
	advance(6 * 86400 + 12 * 3600);

	/* The stop fails after the new channel was made (as a crash there
	 * would leave it): the retry stops the old one and makes no third. */
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"stop\",\"count\":1,\"status\":503}"),
	                 0);
	run("webhook-renewal", "{\"userId\":\"u1\"}", "rc-1", &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	job_run_release(&r);
	ck_assert_int_eq(stat_calls("watch"), 2);
	ck_assert_int_eq(fake_count("live"), 2);
	run_ok("webhook-renewal", "{\"userId\":\"u1\"}", "rc-1", &r);
	ck_assert_int_eq(job_run_int(&r, "renewed"), 0);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 1);
	job_run_release(&r);
	ck_assert_int_eq(stat_calls("watch"), 2);
	ck_assert_int_eq(fake_count("live"), 1);
	fresh = active_id();
	ck_assert_str_ne(fresh, old);
	free(old);
	old = fresh;

	/* A week on, the renewal's watch answer is lost (Google made the
	 * channel). The retry stops that orphan with its sibling's resourceId,
	 * makes one more, and stops the old one: one live channel at the end. */
	advance(6 * 86400 + 12 * 3600);
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"watch\",\"count\":1,\"status\":0,"
	                               "\"delayMs\":2500}"),
	                 0);
	job_harness_run(&h, "webhook-renewal", "{\"userId\":\"u1\"}", "rc-2", 1000, &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	job_run_release(&r);
	ck_assert_int_eq(rows("pending"), 1);
	usleep(2500 * 1000);
	ck_assert_int_eq(fake_count("live"), 2);
	run_ok("webhook-renewal", "{\"userId\":\"u1\"}", "rc-2", &r);
	ck_assert_int_eq(job_run_int(&r, "renewed"), 1);
	ck_assert_int_eq(job_run_int(&r, "stopped"), 2);
	job_run_release(&r);
	ck_assert_int_eq(fake_count("live"), 1);
	ck_assert_int_eq(rows("active"), 1);
	ck_assert_int_eq(rows("pending") + rows("stopping"), 0);
	fresh = active_id();
	ck_assert_str_ne(fresh, old);
	free(fresh);
	free(old);
	teardown_h();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("webhook_jobs");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start() || gfake_start(&g, HARNESS_CLIENT_ID, HARNESS_CLIENT_SECRET))
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, health_check_makes_one_channel_as_google_wants_it, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, health_check_repairs, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, health_check_failures, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, renewal_replaces_due_channels, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, renewal_after_crashes, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	gfake_stop(&g);
	pgtest_stop();
	return failed ? 1 : 0;
}
