/*
 * test_token_refresh.c - the token-refresh job and the user token it
 * keeps (src/user_tokens.c), against the Google fake, on SQLite and
 * PostgreSQL: one refresh for twenty concurrent runs, revoked, refused and
 * missing accounts, the sealed storage, and the scan over 2,000 users in
 * pages of tasks.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ckrun.h"
#include "gfake.h"
#include "job_harness.h"
#include "store.h"
#include "user_tokens.h"

static struct gfake g;
static struct job_harness h;

static void setup(int backend)
{
	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	job_harness_open(&h, backend, g.url);
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"rt-1\"}"), 0);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
}

static long token_stat(const char *name)
{
	json_t *st = gfake_get(&g, "stats");
	long v = (long)json_integer_value(json_object_get(json_object_get(st, "token"), name));

	json_decref(st);
	return v;
}

START_TEST(refreshes_when_due_and_stores_it_sealed)
{
	struct job_run r;
	json_int_t expires;
	char *enc;

	setup(_i);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u1\"}", "k1", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert(json_is_true(json_object_get(r.result, "refreshed")));
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "status")), "ok");
	expires = json_integer_value(json_object_get(r.result, "expiresAt"));
	ck_assert_int_ge(expires, clock_now_s() + 3500);
	job_run_release(&r);
	enc = job_harness_text(&h, "SELECT access_token_enc FROM google_accounts WHERE user_id = $1",
	                       "u1", NULL);
	ck_assert(strncmp(enc, "v1:", 3) == 0);
	ck_assert_ptr_null(strstr(enc, "ya29."));
	free(enc);
	/* Not due again for an hour. */
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u1\"}", "k2", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert(json_is_false(json_object_get(r.result, "refreshed")));
	ck_assert_int_eq(json_integer_value(json_object_get(r.result, "expiresAt")), expires);
	job_run_release(&r);
	ck_assert_int_eq(token_stat("granted"), 1);
	/* Within 15 minutes of expiry it is due. */
	clock_advance(3000);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u1\"}", "k3", 0, &r);
	ck_assert(json_is_true(json_object_get(r.result, "refreshed")));
	job_run_release(&r);
	clock_advance(-3000);
	ck_assert_int_eq(token_stat("granted"), 2);
	{
		/* The refresh call carries our client and the user's token, form-encoded. */
		json_t *reqs = gfake_get(&g, "requests?target=token");
		const char *body = json_string_value(json_object_get(json_array_get(reqs, 0), "body"));

		ck_assert_ptr_nonnull(strstr(body, "grant_type=refresh_token"));
		ck_assert_ptr_nonnull(strstr(body, "refresh_token=rt-1"));
		ck_assert_ptr_nonnull(strstr(body, "client_id=" HARNESS_CLIENT_ID));
		json_decref(reqs);
	}
	job_harness_close(&h);
}
END_TEST

static void *run_one(void *arg)
{
	struct job_run *r = arg;

	job_harness_run(&h, "token-refresh", "{\"userId\":\"u1\"}", "k", 20000, r);
	return NULL;
}

START_TEST(twenty_concurrent_runs_refresh_once)
{
	pthread_t th[20];
	struct job_run r[20];
	int ok = 0, refreshed = 0;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"token\",\"count\":1,\"status\":0,"
	                               "\"delayMs\":500}"),
	                 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, run_one, &r[i]), 0);
	for (int i = 0; i < 20; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 20; i++) {
		if (r[i].outcome == JOB_OK) {
			ok++;
			refreshed += json_is_true(json_object_get(r[i].result, "refreshed"));
		} else {
			ck_assert_int_eq(r[i].outcome, JOB_RETRY);
		}
		job_run_release(&r[i]);
	}
	ck_assert_int_eq(token_stat("calls"), 1);
	ck_assert_int_eq(refreshed, 1);
	ck_assert_int_ge(ok, 19);
	job_harness_close(&h);
}
END_TEST

START_TEST(revoked_refused_and_missing_accounts)
{
	struct job_run r;
	char *s;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "revoke", "{\"refreshToken\":\"rt-1\"}"), 0);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u1\"}", "k1", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert(json_is_false(json_object_get(r.result, "refreshed")));
	ck_assert(json_is_null(json_object_get(r.result, "expiresAt")));
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "status")), "revoked");
	job_run_release(&r);
	s = job_harness_text(&h, "SELECT status || ':' || last_error FROM google_accounts WHERE "
	                         "user_id = $1",
	                     "u1", NULL);
	ck_assert_msg(strncmp(s, "revoked:", 8) == 0 && strstr(s, "invalid_grant"), "%s", s);
	free(s);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u1\"}", "k2", 0, &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "status")), "revoked");
	job_run_release(&r);
	ck_assert_int_eq(token_stat("calls"), 1);

	/* Another permanent refusal: the account is 'error', the job done. */
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"rt-2\"}"), 0);
	job_harness_add_user(&h, "u2", "u2@example.com", "rt-2");
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"token\",\"count\":1,\"status\":400,"
	                               "\"reason\":\"invalid_scope\"}"),
	                 0);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u2\"}", "k3", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "status")), "error");
	job_run_release(&r);
	s = job_harness_text(&h, "SELECT status FROM google_accounts WHERE user_id = $1", "u2",
	                     NULL);
	ck_assert_str_eq(s, "error");
	free(s);
	/* ... and a later refresh that works makes it ok again. */
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u2\"}", "k4", 0, &r);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "status")), "ok");
	job_run_release(&r);

	job_harness_add_user(&h, "u3", "u3@example.com", NULL);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u3\"}", "k5", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert_str_eq(json_string_value(json_object_get(r.result, "status")), "none");
	ck_assert(json_is_null(json_object_get(r.result, "expiresAt")));
	job_run_release(&r);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"nobody\"}", "k6", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	/* Transient failures leave the account as it was and retry. */
	ck_assert_int_eq(gfake_control(&g, "expire-access", "{}"), 0);
	clock_advance(4000);
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"token\",\"count\":1,\"status\":503,"
	                               "\"retryAfter\":12}"),
	                 0);
	job_harness_run(&h, "token-refresh", "{\"userId\":\"u2\"}", "k7", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	ck_assert_int_eq(r.retry_after_s, 12);
	job_run_release(&r);
	clock_advance(-4000);
	s = job_harness_text(&h, "SELECT status FROM google_accounts WHERE user_id = $1", "u2",
	                     NULL);
	ck_assert_str_eq(s, "active");
	free(s);
	job_harness_close(&h);
}
END_TEST

/* 2,000 due users in one transaction, plus 5 that are not due. */
static int add_many(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	(void)arg;
	for (int i = 0; i < 2005; i++) {
		char id[32], email[64];
		int rc;

		snprintf(id, sizeof(id), "user-%05d", i);
		snprintf(email, sizeof(email), "user%d@example.com", i);
		struct store_param p[] = {store_p_text(id), store_p_text(email),
		                          store_p_int(i < 2000 ? 0 : clock_now_s() + 7200)};
		rc = store_conn_exec(c,
		                     "INSERT INTO users (id, email, created_at, updated_at) VALUES "
		                     "($1, $2, 1, 1)",
		                     p, 2, NULL, err, errlen);
		if (!rc)
			rc = store_conn_exec(c,
			                     "INSERT INTO google_accounts (user_id, refresh_token_enc, "
			                     "token_expires_at, created_at, updated_at) VALUES ($1, "
			                     "'v1:x', NULLIF($2, 0), 1, 1)",
			                     (struct store_param[]){p[0], p[2]}, 2, NULL, err, errlen);
		if (rc)
			return rc;
	}
	return CJ_OK;
}

START_TEST(scan_walks_two_thousand_users_in_pages)
{
	char err[256] = "", key[32];
	json_t *creates, *c;
	const char *cursor = NULL;
	long total = 0, pages = 0, follow_ups = 0, users = 0;
	char *cur = NULL;
	struct job_run r;
	size_t i;

	setup(_i);
	ck_assert_msg(store_transact(h.db.s, add_many, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	do {
		char payload[700];

		snprintf(key, sizeof(key), "scan-%ld", pages);
		if (cursor)
			snprintf(payload, sizeof(payload), "{\"cursor\":\"%s\"}", cursor);
		else
			snprintf(payload, sizeof(payload), "{}");
		job_harness_run(&h, "token-refresh", payload, key, 0, &r);
		ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
		total += json_integer_value(json_object_get(r.result, "enqueued"));
		free(cur);
		cur = json_is_string(json_object_get(r.result, "next"))
		          ? strdup(json_string_value(json_object_get(r.result, "next")))
		          : NULL;
		cursor = cur;
		job_run_release(&r);
		pages++;
	} while (cursor && pages < 50);
	/* u1 (no access token yet) and the 2,000; not the 5 that expire later. */
	ck_assert_int_eq(total, 2001);
	ck_assert_int_eq(pages, 11);
	creates = job_harness_creates(&h, "token-refresh");
	json_array_foreach(creates, i, c)
	{
		const json_t *p = json_object_get(c, "payload");

		if (json_object_get(p, "cursor"))
			follow_ups++;
		else if (json_object_get(p, "userId"))
			users++;

	}
	ck_assert_int_eq(users, 2001);
	ck_assert_int_eq(follow_ups, 10);
	json_decref(creates);
	/* An overlapping scan enqueues nothing twice. */
	job_harness_run(&h, "token-refresh", "{}", "scan-again", 0, &r);
	ck_assert_int_eq(json_integer_value(json_object_get(r.result, "enqueued")), 0);
	job_run_release(&r);
	/* A retried page hands on to the same follow-up task (only the
	 * overlapping scan's own follow-up is new). */
	job_harness_run(&h, "token-refresh", "{}", "scan-0", 0, &r);
	job_run_release(&r);
	creates = job_harness_creates(&h, "token-refresh");
	ck_assert_int_eq(json_array_size(creates), 2001 + 10 + 1);
	json_decref(creates);
	job_harness_run(&h, "token-refresh", "{\"cursor\":\"!!not-ours\"}", "bad", 0, &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("token_refresh");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start() || gfake_start(&g, HARNESS_CLIENT_ID, HARNESS_CLIENT_SECRET))
		return 1;
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, refreshes_when_due_and_stores_it_sealed, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, twenty_concurrent_runs_refresh_once, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, revoked_refused_and_missing_accounts, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, scan_walks_two_thousand_users_in_pages, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	gfake_stop(&g);
	pgtest_stop();
	return failed ? 1 : 0;
}
