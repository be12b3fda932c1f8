/*
 * test_google_contacts_sync.c - the google-contacts-sync job against the
 * Google fake, on SQLite and PostgreSQL: full then incremental syncs,
 * expired sync tokens, paging, revoked and missing accounts, and how
 * upstream failures map to RETRY or PERMANENT.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "clock.h"
#include "gfake.h"
#include "job_harness.h"

static struct gfake g;
static struct job_harness h;

static void setup(int backend)
{
	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	job_harness_open(&h, backend, g.url);
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"rt-1\"}"), 0);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
}

static void run_ok(const char *payload, const char *key, struct job_run *r)
{
	job_harness_run(&h, "google-contacts-sync", payload, key, 0, r);
	ck_assert_msg(r->outcome == JOB_OK, "%s: %s", r->error_code, r->error_msg);
}

START_TEST(full_then_incremental_keeps_user_fields)
{
	struct job_run r;
	char *s;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-1\",\"upsert\":["
	                               "{\"resourceName\":\"people/c1\",\"name\":\"Ann Lee\","
	                               "\"email\":\"Ann@Example.com\",\"phone\":\"+15550100\"},"
	                               "{\"resourceName\":\"people/c2\",\"name\":\"Bob\"},"
	                               "{\"resourceName\":\"people/c3\",\"name\":\"Cy\"}]}"),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 3);
	ck_assert_int_eq(job_run_int(&r, "deleted"), 0);
	ck_assert_int_eq(job_run_int(&r, "pages"), 1);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM contacts WHERE user_id = $1",
	                                 "u1", NULL),
	                 3);
	s = job_harness_text(&h, "SELECT email FROM contacts WHERE resource_name = $1", "people/c1",
	                     NULL);
	ck_assert_str_eq(s, "Ann@Example.com");
	free(s);
	/* What the user chose survives Google's edits. */
	job_harness_exec(&h,
	                 "UPDATE contacts SET catchup_frequency_days = 14, last_contacted_at = 100 "
	                 "WHERE resource_name = $1",
	                 "people/c1", NULL);
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-1\",\"upsert\":["
	                               "{\"resourceName\":\"people/c1\",\"name\":\"Ann Brook\","
	                               "\"email\":\"ann@example.com\"},"
	                               "{\"resourceName\":\"people/c4\",\"name\":\"Dee\"}],"
	                               "\"delete\":[\"people/c2\"]}"),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert(json_is_false(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 2);
	ck_assert_int_eq(job_run_int(&r, "deleted"), 1);
	job_run_release(&r);
	s = job_harness_text(&h, "SELECT name FROM contacts WHERE resource_name = $1", "people/c1",
	                     NULL);
	ck_assert_str_eq(s, "Ann Brook");
	free(s);
	ck_assert_int_eq(job_harness_int(&h,
	                                 "SELECT catchup_frequency_days * 1000 + last_contacted_at "
	                                 "FROM contacts WHERE resource_name = $1",
	                                 "people/c1", NULL),
	                 14100);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM contacts WHERE resource_name = $1",
	                                 "people/c2", NULL),
	                 0);
	ck_assert_int_eq(job_harness_int(&h, "SELECT last_change_count FROM sync_state WHERE "
	                                     "user_id = $1 AND kind = $2",
	                                 "u1", "contacts"),
	                 3);
	/* A run with nothing new changes nothing and says so. */
	run_ok("{\"userId\":\"u1\"}", "k3", &r);
	ck_assert_int_eq(job_run_int(&r, "upserted"), 0);
	ck_assert_int_eq(job_run_int(&r, "deleted"), 0);
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(expired_token_syncs_fully_and_deletes_the_rest)
{
	struct job_run r;
	char *before, *after;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-1\",\"generate\":{\"count\":5}}"),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	job_run_release(&r);
	before = job_harness_text(&h, "SELECT sync_token FROM sync_state WHERE user_id = $1", "u1",
	                          NULL);
	/* A contact Google no longer has and will never report deleted. */
	job_harness_exec(&h,
	                 "INSERT INTO contacts (id, user_id, resource_name, name, created_at, "
	                 "updated_at) VALUES ('stale1', $1, $2, 'Gone', 1, 1)",
	                 "u1", "people/stale");
	ck_assert_int_eq(gfake_control(&g, "expire-sync-tokens",
	                               "{\"refreshToken\":\"rt-1\",\"kind\":\"contacts\"}"),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 5);
	ck_assert_int_eq(job_run_int(&r, "deleted"), 1);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM contacts WHERE user_id = $1",
	                                 "u1", NULL),
	                 5);
	after = job_harness_text(&h, "SELECT sync_token FROM sync_state WHERE user_id = $1", "u1",
	                         NULL);
	ck_assert_ptr_nonnull(after);
	ck_assert_str_ne(before, after);
	free(before);
	free(after);
	/* full: true asks for the same without an expired token. */
	run_ok("{\"userId\":\"u1\",\"full\":true}", "k3", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 5);
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(pages_of_a_thousand_with_encoded_tokens)
{
	json_t *reqs, *q;
	struct job_run r;
	size_t i;
	int encoded = 0;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-1\",\"generate\":{\"count\":2500}}"),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	ck_assert_int_eq(job_run_int(&r, "pages"), 3);
	ck_assert_int_eq(job_run_int(&r, "upserted"), 2500);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM contacts WHERE user_id = $1",
	                                 "u1", NULL),
	                 2500);
	reqs = gfake_get(&g, "requests?target=people");
	ck_assert_int_eq(json_array_size(reqs), 3);
	json_array_foreach(reqs, i, q)
	{
		const char *query = json_string_value(json_object_get(q, "query"));
		const char *pt = strstr(query, "pageToken=");

		ck_assert_ptr_nonnull(strstr(query, "personFields=names,emailAddresses,"
		                                    "phoneNumbers,metadata"));
		ck_assert_ptr_nonnull(strstr(query, "pageSize=1000"));
		ck_assert_ptr_nonnull(strstr(query, "requestSyncToken=true"));
		if (pt) {
			size_t n = strcspn(pt, "&");

			ck_assert(!memchr(pt, '+', n) && !memchr(pt, '/', n) && !memchr(pt + 10, '=', n - 10));
			encoded += strstr(pt, "%2B") || strstr(pt, "%2F") || strstr(pt, "%3D");
		}
	}
	ck_assert_int_gt(encoded, 0);
	json_decref(reqs);
	/* The incremental run after it sends the token encoded too. */
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-1\",\"delete\":[\"people/g000007\"]}"),
	                 0);
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert_int_eq(job_run_int(&r, "deleted"), 1);
	ck_assert_int_eq(job_run_int(&r, "pages"), 1);
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(revoked_and_missing_accounts_complete_without_work)
{
	struct job_run r;
	char *s;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "revoke", "{\"refreshToken\":\"rt-1\"}"), 0);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "skipped")), "revoked");
	job_run_release(&r);
	s = job_harness_text(&h, "SELECT status FROM google_accounts WHERE user_id = $1", "u1", NULL);
	ck_assert_str_eq(s, "revoked");
	free(s);
	s = job_harness_text(&h, "SELECT last_error FROM google_accounts WHERE user_id = $1", "u1",
	                     NULL);
	ck_assert_ptr_nonnull(strstr(s, "invalid_grant"));
	free(s);
	/* Once revoked, no more calls to Google. */
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "skipped")), "revoked");
	job_run_release(&r);
	{
		json_t *st = gfake_get(&g, "stats");

		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st, "token"),
		                                                    "calls")),
		                 1);
		json_decref(st);
	}
	job_harness_add_user(&h, "u2", "u2@example.com", NULL);
	run_ok("{\"userId\":\"u2\"}", "k3", &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "skipped")),
	                 "no_google_account");
	job_run_release(&r);
	job_harness_run(&h, "google-contacts-sync", "{\"userId\":\"nobody\"}", "k4", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

/* One injected failure of target, then a run: its outcome and code. */
static void expect(const char *fail_json, enum job_outcome want, const char *code, int retry_after)
{
	struct job_run r;

	ck_assert_int_eq(gfake_control(&g, "fail", "%s", fail_json), 0);
	job_harness_run(&h, "google-contacts-sync", "{\"userId\":\"u1\"}", "k", 1500, &r);
	ck_assert_msg(r.outcome == want, "%s: outcome %d (%s: %s)", fail_json, r.outcome,
	              r.error_code, r.error_msg);
	if (code)
		ck_assert_str_eq(r.error_code, code);
	ck_assert_int_eq(r.retry_after_s, retry_after);
	job_run_release(&r);
	ck_assert_int_eq(gfake_control(&g, "fail", "{\"target\":\"people\",\"count\":0}"), 0);
	ck_assert_int_eq(gfake_control(&g, "fail", "{\"target\":\"token\",\"count\":0}"), 0);
}

START_TEST(upstream_failures_map_to_retry_or_permanent)
{
	setup(_i);
	expect("{\"target\":\"people\",\"count\":1,\"status\":503,\"retryAfter\":7}", JOB_RETRY,
	       "google_unavailable", 7);
	expect("{\"target\":\"people\",\"count\":1,\"status\":429}", JOB_RETRY,
	       "google_unavailable", 0);
	expect("{\"target\":\"people\",\"count\":1,\"status\":403,\"reason\":\"rateLimitExceeded\"}",
	       JOB_RETRY, "google_unavailable", 0);
	expect("{\"target\":\"people\",\"count\":1,\"status\":403,\"reason\":\"forbidden\"}",
	       JOB_PERMANENT, "google_error", 0);
	expect("{\"target\":\"people\",\"count\":1,\"status\":0,\"delayMs\":2000}", JOB_RETRY,
	       "google_timeout", 0);
	usleep(800 * 1000); /* the fake answers the abandoned call before going on */
	expect("{\"target\":\"people\",\"count\":2,\"drop\":true}", JOB_RETRY, "google_unavailable",
	       0);
	/* Token failures: the fake refuses the access token, so a refresh is due. */
	ck_assert_int_eq(gfake_control(&g, "expire-access", "{}"), 0);
	expect("{\"target\":\"token\",\"count\":1,\"status\":500}", JOB_RETRY, "google_unavailable",
	       0);
	ck_assert_int_eq(gfake_control(&g, "expire-access", "{}"), 0);
	expect("{\"target\":\"token\",\"count\":1,\"status\":401,\"reason\":\"invalid_client\"}",
	       JOB_RETRY, "google_config", 0);
	/* And it works again once the fault is gone. */
	expect("{\"target\":\"people\",\"count\":0}", JOB_OK, NULL, 0);
	job_harness_close(&h);
}
END_TEST

START_TEST(refused_access_token_is_refreshed_once)
{
	struct job_run r;
	json_t *st;

	setup(_i);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	job_run_release(&r);
	ck_assert_int_eq(gfake_control(&g, "expire-access", "{\"refreshToken\":\"rt-1\"}"), 0);
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	job_run_release(&r);
	st = gfake_get(&g, "stats");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(st, "token"), "granted")), 2);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(st, "people"), "unauthorized")), 1);
	json_decref(st);
	job_harness_close(&h);
}
END_TEST

START_TEST(contacts_arriving_after_the_calendar_meet_it)
{
	long long now = (long long)clock_now_s();
	struct job_run r;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"rt-1\",\"upsert\":[{\"id\":\"lunch\","
	                               "\"start\":%lld,\"end\":%lld,\"attendees\":[{\"email\":"
	                               "\"ann@example.com\"}]}]}",
	                               now - 7200, now - 3600),
	                 0);
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-1\",\"upsert\":[{\"resourceName\":"
	                               "\"people/ann\",\"name\":\"Ann\",\"email\":"
	                               "\"Ann@Example.COM\"}]}"),
	                 0);
	/* The calendar first: nobody to credit yet. */
	job_harness_run(&h, "calendar-sync", "{\"userId\":\"u1\"}", "cal-1", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert_int_eq(job_run_int(&r, "contactsTouched"), 0);
	job_run_release(&r);
	run_ok("{\"userId\":\"u1\"}", "k1", &r);
	ck_assert_int_eq(job_run_int(&r, "contactsTouched"), 1);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT last_contacted_at FROM contacts WHERE "
	                                     "resource_name = $1",
	                                 "people/ann", NULL),
	                 now - 3600);
	/* Nothing new: nothing to do. */
	run_ok("{\"userId\":\"u1\"}", "k2", &r);
	ck_assert_int_eq(job_run_int(&r, "contactsTouched"), 0);
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("google_contacts_sync");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start() || gfake_start(&g, HARNESS_CLIENT_ID, HARNESS_CLIENT_SECRET))
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, full_then_incremental_keeps_user_fields, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, expired_token_syncs_fully_and_deletes_the_rest, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, pages_of_a_thousand_with_encoded_tokens, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, revoked_and_missing_accounts_complete_without_work, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, upstream_failures_map_to_retry_or_permanent, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, refused_access_token_is_refreshed_once, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, contacts_arriving_after_the_calendar_meet_it, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	gfake_stop(&g);
	pgtest_stop();
	return failed ? 1 : 0;
}
