/*
 * test_notify_local.c - a week of local mode with the embedded scheduler
 * running the repository's schedules: the real binary, SQLite, the
 * Twilio/SendGrid fake. One user with two contacts due gets suggestions
 * (suggestion-generation, daily), one SMS listing them inside waking hours
 * (batch-notifications, hourly; deferred before 08:00), and after accepting
 * both, one reminder for the one still to come (notification-reminder,
 * every 5 minutes) - the meetings then count as the last contact, so
 * nobody is due again that week; a user whose
 * Google account is revoked gets one "reconnect" e-mail, and one more a week
 * later (token-health-reminder, daily). However often the jobs run in that
 * week - the clock is moved in steps, every missed slot fires once - the fake
 * receives exactly those four messages, and the outbox holds them as sent.
 * Then an operator resends a row a crash left 'sending': it goes out once.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cjserver.h"
#include "ckrun.h"
#include "localmode.h"
#include "mfake.h"
#include "store.h"
#include "timeutil.h"

#define ADMIN_EMAIL LOCAL_ADMIN_EMAIL

static char *dir;
static struct mfake m;
static struct local_opts O;
static char db_url[512];

static char **local_env_(const char *const *extra)
{
	return local_env(&O, extra);
}

static int run_cli(const struct cj_server *s, char *const args[], char **out)
{
	char *err = NULL;
	int rc = local_cli(s, &O, args, out, &err);

	if (rc)
		fprintf(stderr, "%s: %s\n", args[0], err ? err : "");
	free(err);
	return rc;
}

static void sql(const char *text)
{
	struct store *st;
	char err[256];

	ck_assert_int_eq(store_open(db_url, &st, err, sizeof(err)), CJ_OK);
	ck_assert_msg(store_exec(st, text, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	store_close(st);
}

static int64_t scalar(const char *text)
{
	struct store_rows *rows = NULL;
	struct store *st;
	char err[256];
	int64_t v = -1;

	ck_assert_int_eq(store_open(db_url, &st, err, sizeof(err)), CJ_OK);
	ck_assert_msg(store_exec(st, text, NULL, 0, &rows, err, sizeof(err)) == CJ_OK, "%s", err);
	if (store_rows_next(rows))
		v = store_rows_int(rows, 0);
	store_rows_free(rows);
	store_close(st);
	return v;
}

static int64_t business_now(const struct cj_server *s)
{
	return local_business_now(s);
}

/* Moves the server's clock to target (Unix seconds) and lets the jobs the
 * scheduler fires settle. */
static void advance_to(const struct cj_server *s, int64_t target)
{
	char secs[32], *args[] = {"clock", "advance", secs, NULL};
	int64_t by = target - business_now(s);

	if (by <= 0)
		return;
	snprintf(secs, sizeof(secs), "%lld", (long long)by);
	ck_assert_int_eq(run_cli(s, args, NULL), 0);
	usleep(1500 * 1000);
}

static long count_messages(const char *provider)
{
	json_t *msgs = mfake_get(&m, "messages"), *x;
	long n = 0;
	size_t i;

	json_array_foreach(msgs, i, x)
	{
		n += !strcmp(json_string_value(json_object_get(x, "provider")), provider);
	}
	json_decref(msgs);
	return n;
}

static void wait_for(const char *provider, long n, int seconds)
{
	int64_t deadline = time_mono_ms() + seconds * 1000L;

	while (count_messages(provider) < n && time_mono_ms() < deadline)
		usleep(100 * 1000);
	ck_assert_int_eq(count_messages(provider), n);
}

START_TEST(a_week_sends_exactly_the_messages_the_data_calls_for)
{
	struct cj_server s;
	char *add_a[] = {"user", "add", "--email", "a@example.com", "--phone", "+15550000001",
	                 "--notify", "sms", "--waking", "08:00-21:00", "--id", "user-a", NULL};
	char *add_b[] = {"user", "add", "--email", "b@example.com", "--id", "user-b", NULL};
	char *tok_args[] = {"token", "--email", ADMIN_EMAIL, NULL};
	char *tok = NULL, url[256], auth[2048];
	const char *headers[] = {auth, NULL};
	struct httpc_resp r;
	int64_t d1;
	json_t *msgs;

	ck_assert_int_eq(mfake_control(&m, "reset", "{}"), 0);
	ck_assert_int_eq(cj_server_start(&s, local_env_(NULL)), 0);
	ck_assert_int_eq(run_cli(&s, add_a, NULL), 0);
	ck_assert_int_eq(run_cli(&s, add_b, NULL), 0);
	sql("INSERT INTO contacts (id, user_id, resource_name, name, email, catchup_frequency_days, "
	    "created_at, updated_at) VALUES ('ann', 'user-a', 'people/ann', 'Ann', "
	    "'ann@example.com', 10, 1, 1), ('bob', 'user-a', 'people/bob', 'Bob', NULL, 14, 1, 1)");
	sql("INSERT INTO google_accounts (user_id, refresh_token_enc, status, last_error, "
	    "created_at, updated_at) VALUES ('user-b', 'v1:x', 'revoked', 'invalid_grant', 1, 1)");
	ck_assert_int_eq(run_cli(&s, tok_args, &tok), 0);
	tok[strcspn(tok, "\n")] = '\0';
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);

	/* Day 1, 06:05 UTC: the daily suggestion-generation has run; the
	 * hourly batch found the user asleep. */
	d1 = (business_now(&s) / 86400 + 1) * 86400;
	advance_to(&s, d1 + 6 * 3600 + 300);
	{
		int64_t deadline = time_mono_ms() + 20000;

		while (scalar("SELECT COUNT(*) FROM suggestions WHERE user_id = 'user-a'") < 2 &&
		       time_mono_ms() < deadline)
			usleep(100 * 1000);
	}
	ck_assert_int_eq(scalar("SELECT COUNT(*) FROM suggestions WHERE user_id = 'user-a' AND "
	                        "state = 'pending'"),
	                 2);
	ck_assert_int_eq(scalar("SELECT MIN(slot_start) FROM suggestions"), d1 + 8 * 3600);
	advance_to(&s, d1 + 7 * 3600 + 3540);
	ck_assert_int_eq(count_messages("twilio"), 0);

	/* 08:00: awake, one SMS listing both. */
	advance_to(&s, d1 + 8 * 3600);
	wait_for("twilio", 1, 20);
	msgs = mfake_get(&m, "messages");
	{
		const json_t *sms = NULL, *x;
		size_t i;

		json_array_foreach(msgs, i, x)
		{
			if (!strcmp(json_string_value(json_object_get(x, "provider")), "twilio"))
				sms = x;
		}
		ck_assert_ptr_nonnull(sms);
		ck_assert_str_eq(json_string_value(json_object_get(sms, "to")), "+15550000001");
		ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(sms, "body")), "Ann"));
		ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(sms, "body")), "Bob"));
	}
	json_decref(msgs);

	/* The user accepts both; the 5-minute reminder run tells them once
	 * about the one still to come (08:30). Once over, the meetings count
	 * as the last contact: nobody is due again this week. */
	{
		struct store_rows *rows = NULL;
		struct store *st;
		char err[256];

		ck_assert_int_eq(store_open(db_url, &st, err, sizeof(err)), CJ_OK);
		ck_assert_int_eq(store_exec(st, "SELECT id FROM suggestions ORDER BY slot_start",
		                            NULL, 0, &rows, err, sizeof(err)),
		                 CJ_OK);
		while (store_rows_next(rows)) {
			snprintf(url, sizeof(url), "%s/admin/suggestions/%s/accept", s.base,
			         store_rows_text(rows, 0));
			ck_assert_int_eq(httpc_post(url, headers, "", &r), 0);
			ck_assert_int_eq(r.status, 200);
			httpc_resp_free(&r);
		}
		store_rows_free(rows);
		store_close(st);
	}
	advance_to(&s, d1 + 8 * 3600 + 360);
	wait_for("twilio", 2, 20);

	/* 17:30 that day and a week later: the revoked account's reminders. */
	advance_to(&s, d1 + 17 * 3600 + 1800);
	wait_for("sendgrid", 1, 20);
	advance_to(&s, d1 + 3 * 86400 + 17 * 3600 + 1800);
	advance_to(&s, d1 + 7 * 86400 + 17 * 3600 + 1800);
	wait_for("sendgrid", 2, 20);
	usleep(1500 * 1000);

	/* Exactly these four, all sent. */
	ck_assert_int_eq(count_messages("twilio"), 2);
	ck_assert_int_eq(count_messages("sendgrid"), 2);
	ck_assert_int_eq(scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'"), 4);
	ck_assert_int_eq(scalar("SELECT COUNT(*) FROM outbox"), 4);

	/* An operator resends a row a crash left sending: it goes out once. */
	sql("INSERT INTO outbox (id, dedupe_key, kind, user_id, channel, recipient, body, state, "
	    "created_at, updated_at) VALUES ('ob-left', 'reminder:lost', 'reminder', 'user-a', "
	    "'sms', '+15550000001', 'See you soon', 'sending', 1, 1)");
	snprintf(url, sizeof(url), "%s/admin/outbox/ob-left/resend", s.base);
	ck_assert_int_eq(httpc_post(url, headers, "", &r), 0);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body ? r.body : "");
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "sent");
	httpc_resp_free(&r);
	ck_assert_int_eq(httpc_post(url, headers, "", &r), 0);
	ck_assert_int_eq(r.status, 400);
	httpc_resp_free(&r);
	ck_assert_int_eq(count_messages("twilio"), 3);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
}
END_TEST

static void setup(void)
{
	dir = make_temp_dir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
	O.dir = dir;
	O.messaging_url = m.url;
	snprintf(db_url, sizeof(db_url), "sqlite:%s/data/catchup.db", dir);
}

static void teardown(void)
{
	if (chdir("/") == 0)
		remove_tree(dir);
	free(dir);
}

int main(void)
{
	Suite *su = suite_create("notify_local");
	TCase *tc = tcase_create("core");
	int failed;

	if (mfake_start(&m))
		return 1;
	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_week_sends_exactly_the_messages_the_data_calls_for);
	suite_add_tcase(su, tc);
	failed = ck_run(su, CK_FORK);
	mfake_stop(&m);
	return failed ? 1 : 0;
}
