/*
 * test_faults_providers.c - Google, Twilio and SendGrid failing under a
 * job (SPEC §7 "Rules the jobs share"), through the real binary with the
 * Google fake (gfake.h) and the Twilio/SendGrid fake (mfake.h).
 *
 * Promises: a provider's 429 or 5xx, or an answer lost before the provider
 * took the call, is a clear retry (503 {"status":"retry"}, passing on the
 * provider's Retry-After), and the redelivery completes with nothing
 * doubled - one message, no contact twice; a message whose answer was
 * lost after the provider accepted it is never sent again: its outbox row
 * stays 'sending', the job completes counting it "unconfirmed", and a
 * redelivery is a duplicate.
 *
 * The messages are token-health-reminder's (one "reconnect" message to a
 * user whose Google account is revoked: e-mail through SendGrid, or SMS
 * through Twilio); the Google job is google-contacts-sync.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ckrun.h"
#include "gfake.h"
#include "itest.h"
#include "mfake.h"
#include "store.h"

#define TOKEN_KEY "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define CLIENT_ID "faults-client.apps.googleusercontent.com"
#define CLIENT_SECRET "faults-client-secret"

static struct itest W;
static struct gfake G;
static struct mfake M;
static struct cj_server S;
static char *TOKEN;
static char E_DB[1100], E_TOKEN_URL[200], E_PEOPLE[200], E_CAL[200], E_TWILIO[200], E_SENDGRID[200];
static const char *ENV[] = {
    E_DB, TOKEN_KEY,
    /* Nothing here enqueues; if it did, not to CLOUD_RUN_URL. */
    "CLOUD_TASKS_API_URL=http://127.0.0.1:1", E_TOKEN_URL, E_PEOPLE, E_CAL,
    "GOOGLE_CLIENT_ID=" CLIENT_ID, "GOOGLE_CLIENT_SECRET=" CLIENT_SECRET, E_TWILIO, E_SENDGRID,
    "TWILIO_ACCOUNT_SID=" MFAKE_TWILIO_SID, "TWILIO_AUTH_TOKEN=" MFAKE_TWILIO_TOKEN,
    "TWILIO_FROM_NUMBER=+15005550006", "SENDGRID_API_KEY=" MFAKE_SENDGRID_KEY,
    "EMAIL_FROM=catchup@example.com", NULL};

/* One push of type as task (retry count retry); the answer in r. */
static long push(const char *type, const char *queue, const char *task, int retry, const char *body,
                 struct httpc_resp *r)
{
	ck_assert_int_eq(cj_push(&S, type, TOKEN, queue, task, retry, body, r), 0);
	return r->status;
}

static json_int_t result_int(const struct httpc_resp *r, const char *name)
{
	return json_integer_value(json_object_get(json_object_get(r->json, "result"), name));
}

/* `catchup-jobs user add` for id; sms: notify by SMS to phone, else by
 * e-mail. With refresh_token, a Google account. */
static void add_user(const char *id, const char *phone, const char *refresh_token)
{
	char email[128], *out = NULL, *err = NULL;
	char *args[16] = {"user", "add", "--id", (char *)id, "--email", email};
	int n = 6;

	snprintf(email, sizeof(email), "%s@example.com", id);
	if (phone) {
		args[n++] = "--phone";
		args[n++] = (char *)phone;
		args[n++] = "--notify";
		args[n++] = "sms";
	}
	if (refresh_token) {
		args[n++] = "--google-refresh-token";
		args[n++] = (char *)refresh_token;
	}
	args[n] = NULL;
	ck_assert_msg(cj_run(args, itest_env(&W, ENV), &out, &err) == 0, "user add: %s", err);
	free(out);
	free(err);
}

/* A user whose Google account is revoked: token-health-reminder sends it
 * one message (SMS when phone is given, else e-mail). */
static void add_revoked_user(const char *id, const char *phone)
{
	struct store_param p[] = {store_p_text(id)};
	struct store *db;
	char err[256];

	add_user(id, phone, "1//revoked-refresh-token");
	ck_assert_msg(store_open(E_DB + strlen("DATABASE_URL="), &db, err, sizeof(err)) == CJ_OK,
	              "%s", err);
	ck_assert_msg(store_exec(db,
	                         "UPDATE google_accounts SET status = 'revoked' WHERE user_id = $1",
	                         p, 1, NULL, err, sizeof(err)) == CJ_OK,
	              "%s", err);
	store_close(db);
}

/* Messages the fake took for recipient to. */
static int messages_to(const char *to)
{
	json_t *all = mfake_get(&M, "messages"), *m;
	size_t i;
	int n = 0;

	json_array_foreach(all, i, m)
	{
		const char *t = json_string_value(json_object_get(m, "to"));

		n += t && !strcmp(t, to);
	}
	json_decref(all);
	return n;
}

/* Outbox rows of user in state ("sending", "sent", "failed"). */
static int outbox_rows(const char *user, const char *state)
{
	char url[256], auth[4096],
	    *tok = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	const char *h[] = {auth, NULL};
	struct httpc_resp r;
	json_t *row;
	size_t i;
	int n = 0;

	snprintf(url, sizeof(url), "%s/admin/outbox?state=%s&limit=500", S.base, state);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(httpc_get(url, h, &r), 0);
	ck_assert_int_eq(r.status, 200);
	json_array_foreach(json_object_get(r.json, "outbox"), i, row)
	{
		const char *u = json_string_value(json_object_get(row, "userId"));

		n += u && !strcmp(u, user);
	}
	httpc_resp_free(&r);
	free(tok);
	return n;
}

/* The value of header name in r's headers (static storage), or NULL. */
static const char *header(const struct httpc_resp *r, const char *name)
{
	static char v[64];
	const char *p = r->headers;
	size_t n = strlen(name);

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			snprintf(v, sizeof(v), "%.*s", (int)strcspn(p, "\r\n"), p);
			return v;
		}
	}
	return NULL;
}

struct refusal {
	const char *provider; /* mfake target */
	int status; /* its answer */
	int retry_after; /* 0: none */
	const char *phone; /* the user's: SMS; NULL: e-mail */
};

/* token-health-reminder for a new revoked user, its first delivery meeting
 * f: 503 retry (with f's Retry-After), nothing sent and no outbox row
 * left; the redelivery sends one message; a duplicate delivery sends none. */
static void refused_then_sent_once(const struct refusal *f, const char *user)
{
	char task[64], body[160], email[160];
	const char *to = f->phone;
	struct httpc_resp r;

	add_revoked_user(user, f->phone);
	snprintf(email, sizeof(email), "%s@example.com", user);
	if (!to)
		to = email;
	itest_task_id(task, sizeof(task));
	snprintf(body, sizeof(body), "{\"userId\":\"%s\"}", user);
	if (f->retry_after)
		ck_assert_int_eq(mfake_control(&M, "fail",
		                               "{\"target\":\"%s\",\"count\":1,\"status\":%d,"
		                               "\"retryAfter\":%d}",
		                               f->provider, f->status, f->retry_after),
		                 0);
	else
		ck_assert_int_eq(mfake_control(&M, "fail",
		                               "{\"target\":\"%s\",\"count\":1,\"status\":%d}",
		                               f->provider, f->status),
		                 0);
	ck_assert_int_eq(
	    push("token-health-reminder", "token-health-reminder-queue", task, 0, body, &r), 503);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "retry");
	if (f->retry_after) {
		char want[16];

		snprintf(want, sizeof(want), "%d", f->retry_after);
		ck_assert_ptr_nonnull(header(&r, "Retry-After"));
		ck_assert_str_eq(header(&r, "Retry-After"), want);
	}
	httpc_resp_free(&r);
	ck_assert_int_eq(messages_to(to), 0);
	ck_assert_int_eq(outbox_rows(user, "sending"), 0);

	ck_assert_int_eq(
	    push("token-health-reminder", "token-health-reminder-queue", task, 1, body, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	ck_assert_int_eq(result_int(&r, "sent"), 1);
	httpc_resp_free(&r);
	ck_assert_int_eq(
	    push("token-health-reminder", "token-health-reminder-queue", task, 2, body, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
	ck_assert_int_eq(messages_to(to), 1);
	ck_assert_int_eq(outbox_rows(user, "sent"), 1);
}

/* Promise: Twilio or SendGrid answering 429 is a retry that passes on
 * their Retry-After; the redelivery sends the message once. */
START_TEST(messaging_429_is_a_retry_with_retry_after_and_sends_once)
{
	const struct refusal sms = {"twilio", 429, 9, "+15551230001"};
	const struct refusal mail = {"sendgrid", 429, 7, NULL};

	refused_then_sent_once(&sms, "ra-sms");
	refused_then_sent_once(&mail, "ra-mail");
}
END_TEST

/* Promise: Twilio or SendGrid answering 5xx is a retry; the redelivery
 * sends the message once. */
START_TEST(messaging_5xx_is_a_retry_and_sends_once)
{
	const struct refusal sms = {"twilio", 500, 0, "+15551230002"};
	const struct refusal mail = {"sendgrid", 503, 0, NULL};

	refused_then_sent_once(&sms, "x5-sms");
	refused_then_sent_once(&mail, "x5-mail");
}
END_TEST

/* The provider accepts the message, then its answer is lost. */
static void accepted_then_lost(const char *provider, const char *user, const char *phone)
{
	char task[64], again[64], body[160], email[160];
	const char *to = phone;
	struct httpc_resp r;

	add_revoked_user(user, phone);
	snprintf(email, sizeof(email), "%s@example.com", user);
	if (!to)
		to = email;
	snprintf(body, sizeof(body), "{\"userId\":\"%s\"}", user);
	ck_assert_int_eq(mfake_control(&M, "fail",
	                               "{\"target\":\"%s\",\"count\":1,\"status\":0,"
	                               "\"accept\":true,\"drop\":true}",
	                               provider),
	                 0);
	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(
	    push("token-health-reminder", "token-health-reminder-queue", task, 0, body, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	ck_assert_int_eq(result_int(&r, "unconfirmed"), 1);
	ck_assert_int_eq(result_int(&r, "sent"), 0);
	httpc_resp_free(&r);
	ck_assert_int_eq(messages_to(to), 1);
	ck_assert_int_eq(outbox_rows(user, "sending"), 1);
	/* Cloud Tasks delivering it again, and a new task for the same user. */
	ck_assert_int_eq(
	    push("token-health-reminder", "token-health-reminder-queue", task, 1, body, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
	httpc_resp_free(&r);
	itest_task_id(again, sizeof(again));
	ck_assert_int_eq(
	    push("token-health-reminder", "token-health-reminder-queue", again, 0, body, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	ck_assert_int_eq(result_int(&r, "sent"), 0);
	httpc_resp_free(&r);
	ck_assert_int_eq(messages_to(to), 1);
	ck_assert_int_eq(outbox_rows(user, "sending"), 1);
}

/* Promise: a message whose answer was lost after Twilio or SendGrid
 * accepted it is never sent again: the job completes with it unconfirmed,
 * its outbox row waits in 'sending' for an operator, and neither a
 * redelivery nor a new task for the user sends it again. */
START_TEST(message_accepted_then_answer_lost_is_unconfirmed_never_resent)
{
	accepted_then_lost("twilio", "lost-sms", "+15551230003");
	accepted_then_lost("sendgrid", "lost-mail", NULL);
}
END_TEST

/* Promise: Google's token endpoint answering 503, and People answering
 * 429 (with Retry-After, passed on), 500 or nothing (the connection
 * closed), are each a retry; the redelivery syncs, and no contact is
 * stored twice - also after a second, full sync. */
START_TEST(google_429_5xx_and_lost_answers_are_retries_and_no_contact_doubled)
{
	static const char *const faults[] = {
	    "{\"target\":\"token\",\"count\":1,\"status\":503}",
	    "{\"target\":\"people\",\"count\":1,\"status\":429,\"retryAfter\":11}",
	    "{\"target\":\"people\",\"count\":1,\"status\":500}",
	    /* Two: libcurl re-sends a GET by itself when a kept-alive
	     * connection dies under it; both copies are lost. */
	    "{\"target\":\"people\",\"count\":2,\"status\":0,\"drop\":true}",
	};
	const char *rt = "1//faults-google-refresh-token";
	const char *body = "{\"userId\":\"g-user\"}";
	char task[64], url[256], auth[4096], *tok;
	const char *h[] = {auth, NULL};
	struct httpc_resp r;
	int k;

	ck_assert_int_eq(gfake_control(&G, "accounts", "{\"refreshToken\":\"%s\"}", rt), 0);
	ck_assert_int_eq(gfake_control(&G, "contacts",
	                               "{\"refreshToken\":\"%s\",\"generate\":{\"count\":30}}", rt),
	                 0);
	add_user("g-user", NULL, rt);
	itest_task_id(task, sizeof(task));
	for (k = 0; k < 4; k++) {
		ck_assert_int_eq(gfake_control(&G, "fail", "%s", faults[k]), 0);
		ck_assert_msg(push("google-contacts-sync", "google-contacts-sync-queue", task, k,
		                   body, &r) == 503,
		              "fault %s: %ld %s", faults[k], r.status, r.body);
		ck_assert_str_eq(httpc_json_str(&r, "status"), "retry");
		if (k == 1) {
			ck_assert_ptr_nonnull(header(&r, "Retry-After"));
			ck_assert_str_eq(header(&r, "Retry-After"), "11");
		}
		httpc_resp_free(&r);
		/* A drop left over (the request went on a fresh connection). */
		ck_assert_int_eq(gfake_control(&G, "fail", "{\"target\":\"people\",\"count\":0}"),
		                 0);
	}
	ck_assert_int_eq(
	    push("google-contacts-sync", "google-contacts-sync-queue", task, k, body, &r), 200);
	ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
	ck_assert_int_eq(result_int(&r, "upserted"), 30);
	httpc_resp_free(&r);
	itest_task_id(task, sizeof(task));
	ck_assert_int_eq(push("google-contacts-sync", "google-contacts-sync-queue", task, 0,
	                      "{\"userId\":\"g-user\",\"full\":true}", &r),
	                 200);
	httpc_resp_free(&r);

	tok = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	snprintf(url, sizeof(url), "%s/admin/users/g-user/contacts?limit=500", S.base);
	ck_assert_int_eq(httpc_get(url, h, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "contacts")), 30);
	httpc_resp_free(&r);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-providers");
	TCase *tc = tcase_create("faults-providers");
	int failed;

	itest_setup(&W);
	if (gfake_start(&G, CLIENT_ID, CLIENT_SECRET) || mfake_start(&M)) {
		fprintf(stderr, "cannot start the fakes\n");
		return 1;
	}
	snprintf(E_DB, sizeof(E_DB), "DATABASE_URL=sqlite:%s/catchup.db", W.dir);
	snprintf(E_TOKEN_URL, sizeof(E_TOKEN_URL), "GOOGLE_OAUTH_TOKEN_URL=%s/token", G.url);
	snprintf(E_PEOPLE, sizeof(E_PEOPLE), "GOOGLE_PEOPLE_API_URL=%s", G.url);
	snprintf(E_CAL, sizeof(E_CAL), "GOOGLE_CALENDAR_API_URL=%s", G.url);
	snprintf(E_TWILIO, sizeof(E_TWILIO), "TWILIO_API_URL=%s", M.url);
	snprintf(E_SENDGRID, sizeof(E_SENDGRID), "SENDGRID_API_URL=%s", M.url);
	itest_server(&W, &S, ENV);
	TOKEN = itest_token(&W);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, messaging_429_is_a_retry_with_retry_after_and_sends_once);
	tcase_add_test(tc, messaging_5xx_is_a_retry_and_sends_once);
	tcase_add_test(tc, message_accepted_then_answer_lost_is_unconfirmed_never_resent);
	tcase_add_test(tc, google_429_5xx_and_lost_answers_are_retries_and_no_contact_doubled);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	free(TOKEN);
	gfake_stop(&G);
	mfake_stop(&M);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
