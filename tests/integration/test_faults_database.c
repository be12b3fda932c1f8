/*
 * test_faults_database.c - PostgreSQL stopped and restarted while a job
 * with database effects is in flight (SPEC §5.1 step 7, §5.3, §7), with a
 * real server (pgtest.h) that the test stops and starts.
 *
 * Promises: the job in flight is answered a clear retry (503
 * {"status":"retry"}), never completed with half its writes; readiness is
 * down while the database is; after the restart the same server, without a
 * restart of its own, reconnects and the redelivery completes; nothing is
 * doubled - no contact stored twice, no message sent twice.
 *
 * The jobs: google-contacts-sync, its People call held 6 s by the Google
 * fake while the database goes away; and token-health-reminder, whose
 * e-mail SendGrid accepts (held 6 s) while the database goes away, so the
 * row that would record "sent" cannot be written.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "gfake.h"
#include "itest.h"
#include "mfake.h"
#include "pgtest.h"
#include "store.h"
#include "timeutil.h"

#define TOKEN_KEY "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define CLIENT_ID "faults-client.apps.googleusercontent.com"
#define CLIENT_SECRET "faults-client-secret"

static struct itest W;
static struct gfake G;
static struct mfake M;
static struct cj_server S;
static char *TOKEN, *DB_URL;
static char E_DB[600], E_TOKEN_URL[200], E_PEOPLE[200], E_CAL[200], E_SENDGRID[200];
static const char *ENV[] = {E_DB,
                            TOKEN_KEY,
                            "CLOUD_TASKS_API_URL=http://127.0.0.1:1",
                            E_TOKEN_URL,
                            E_PEOPLE,
                            E_CAL,
                            "GOOGLE_CLIENT_ID=" CLIENT_ID,
                            "GOOGLE_CLIENT_SECRET=" CLIENT_SECRET,
                            E_SENDGRID,
                            "SENDGRID_API_KEY=" MFAKE_SENDGRID_KEY,
                            "EMAIL_FROM=catchup@example.com",
                            NULL};

struct call {
	const char *type, *queue, *task, *body;
	int retry;
	long status;
	char outcome[32];
	json_t *result;
};

/* Pushes c; runs in its own thread (no check assertions here). */
static void *push_main(void *arg)
{
	struct call *c = arg;
	struct httpc_resp r;

	if (!cj_push(&S, c->type, TOKEN, c->queue, c->task, c->retry, c->body, &r)) {
		c->status = r.status;
		snprintf(c->outcome, sizeof(c->outcome), "%s",
		         httpc_json_str(&r, "status") ? httpc_json_str(&r, "status") : "");
		c->result = json_incref(json_object_get(r.json, "result"));
		httpc_resp_free(&r);
	}
	return NULL;
}

static void push_now(struct call *c)
{
	push_main(c);
	ck_assert_msg(c->status > 0, "no answer to %s", c->task);
}

/* /health/ready's code and database.status, polled until code is want
 * (up to 60 s). */
static long ready_until(long want, char *db, size_t dblen)
{
	int64_t until = time_mono_ms() + 60000;
	char url[128];
	long code = 0;

	snprintf(url, sizeof(url), "%s/health/ready", S.base);
	for (;;) {
		struct httpc_resp r;

		ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
		code = r.status;
		snprintf(db, dblen, "%s",
		         json_string_value(
		             json_object_get(json_object_get(r.json, "database"), "status")));
		httpc_resp_free(&r);
		if (code == want || time_mono_ms() >= until)
			return code;
		msleep(200);
	}
}

static void add_user(const char *id, const char *refresh_token)
{
	char email[128], *out = NULL, *err = NULL;
	char *args[] = {"user",
	                "add",
	                "--id",
	                (char *)id,
	                "--email",
	                email,
	                "--google-refresh-token",
	                (char *)refresh_token,
	                NULL};

	snprintf(email, sizeof(email), "%s@example.com", id);
	ck_assert_msg(cj_run(args, itest_env(&W, ENV), &out, &err) == 0, "user add: %s", err);
	free(out);
	free(err);
}

static void sql(const char *text, const char *p1)
{
	struct store_param p[] = {store_p_text(p1)};
	struct store *db;
	char err[256];

	ck_assert_msg(store_open(DB_URL, &db, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_msg(store_exec(db, text, p, 1, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	store_close(db);
}

static long json_int(const json_t *o, const char *name)
{
	return (long)json_integer_value(json_object_get(o, name));
}

/* Stops PostgreSQL once cond() holds (polled up to 20 s), checks that
 * readiness goes down, and returns once the call c has been answered;
 * then starts PostgreSQL again and waits for readiness. */
static void database_outage_during(struct call *c, int (*cond)(void))
{
	int64_t until = time_mono_ms() + 20000;
	pthread_t th;
	char db[32];

	ck_assert_int_eq(pthread_create(&th, NULL, push_main, c), 0);
	while (!cond() && time_mono_ms() < until)
		msleep(20);
	ck_assert_msg(cond(), "the job never reached its upstream call");
	ck_assert_int_eq(pgtest_server_stop(), 0);
	ck_assert_int_eq(ready_until(503, db, sizeof(db)), 503);
	ck_assert_str_eq(db, "down");
	pthread_join(th, NULL);
	ck_assert_int_eq(pgtest_server_start(), 0);
	ck_assert_int_eq(ready_until(200, db, sizeof(db)), 200);
	ck_assert_str_eq(db, "ok");
}

static int people_called(void)
{
	json_t *st = gfake_get(&G, "stats");
	int n = (int)json_integer_value(json_object_get(json_object_get(st, "people"), "calls"));

	json_decref(st);
	return n >= 1;
}

/* Promise: a contacts sync whose database goes away while it waits on
 * Google is answered 503 retry, readiness is down meanwhile, and after the
 * restart the redelivery syncs every contact once - also after a second,
 * full sync. */
START_TEST(database_restarted_mid_sync_is_a_retry_and_no_row_doubled)
{
	const char *rt = "1//faults-db-refresh-token";
	char task[64], again[64], url[256], auth[4096], *tok;
	const char *h[] = {auth, NULL};
	struct call c = {"google-contacts-sync",
	                 "google-contacts-sync-queue",
	                 task,
	                 "{\"userId\":\"db-user\"}",
	                 0,
	                 0,
	                 "",
	                 NULL};
	struct call full = {"google-contacts-sync",
	                    "google-contacts-sync-queue",
	                    again,
	                    "{\"userId\":\"db-user\",\"full\":true}",
	                    0,
	                    0,
	                    "",
	                    NULL};
	struct httpc_resp r;

	ck_assert_int_eq(gfake_control(&G, "accounts", "{\"refreshToken\":\"%s\"}", rt), 0);
	ck_assert_int_eq(gfake_control(&G, "contacts",
	                               "{\"refreshToken\":\"%s\",\"generate\":{\"count\":40}}", rt),
	                 0);
	add_user("db-user", rt);
	ck_assert_int_eq(
	    gfake_control(&G, "fail", "{\"target\":\"people\",\"count\":1,\"delayMs\":6000}"), 0);
	itest_task_id(task, sizeof(task));
	database_outage_during(&c, people_called);
	ck_assert_msg(c.status == 503 && !strcmp(c.outcome, "retry"), "%ld %s", c.status,
	              c.outcome);
	json_decref(c.result);

	c.retry = 1;
	push_now(&c);
	ck_assert_int_eq(c.status, 200);
	ck_assert_str_eq(c.outcome, "completed");
	ck_assert_int_eq(json_int(c.result, "upserted"), 40);
	json_decref(c.result);
	itest_task_id(again, sizeof(again));
	push_now(&full);
	ck_assert_int_eq(full.status, 200);
	json_decref(full.result);

	tok = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	snprintf(url, sizeof(url), "%s/admin/users/db-user/contacts?limit=500", S.base);
	ck_assert_int_eq(httpc_get(url, h, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "contacts")), 40);
	httpc_resp_free(&r);
	free(tok);
}
END_TEST

static int sendgrid_took_it(void)
{
	json_t *all = mfake_get(&M, "messages");
	int n = (int)json_array_size(all);

	json_decref(all);
	return n >= 1;
}

/* Promise: an e-mail SendGrid took while the database went away is never
 * sent again: the job is answered 503 retry (its writes failed), and after
 * the restart the redelivery finds the message's outbox row still
 * 'sending' and completes counting it unconfirmed - one message in all. */
START_TEST(database_down_after_a_message_was_accepted_never_sends_it_twice)
{
	char task[64];
	struct call c = {"token-health-reminder",
	                 "token-health-reminder-queue",
	                 task,
	                 "{\"userId\":\"db-mail\"}",
	                 0,
	                 0,
	                 "",
	                 NULL};
	json_t *all;

	add_user("db-mail", "1//faults-db-revoked");
	sql("UPDATE google_accounts SET status = 'revoked' WHERE user_id = $1", "db-mail");
	ck_assert_int_eq(mfake_control(&M, "reset", "{}"), 0);
	ck_assert_int_eq(mfake_control(&M, "fail",
	                               "{\"target\":\"sendgrid\",\"count\":1,\"status\":0,"
	                               "\"accept\":true,\"delayMs\":6000}"),
	                 0);
	itest_task_id(task, sizeof(task));
	database_outage_during(&c, sendgrid_took_it);
	ck_assert_msg(c.status == 503 && !strcmp(c.outcome, "retry"), "%ld %s", c.status,
	              c.outcome);
	json_decref(c.result);

	c.retry = 1;
	push_now(&c);
	ck_assert_int_eq(c.status, 200);
	ck_assert_str_eq(c.outcome, "completed");
	ck_assert_int_eq(json_int(c.result, "unconfirmed"), 1);
	ck_assert_int_eq(json_int(c.result, "sent"), 0);
	json_decref(c.result);
	all = mfake_get(&M, "messages");
	ck_assert_int_eq(json_array_size(all), 1);
	json_decref(all);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-database");
	TCase *tc = tcase_create("faults-database");
	int failed;

	itest_setup(&W);
	if (pgtest_start()) {
		fprintf(stderr, "cannot start PostgreSQL\n");
		return 1;
	}
	if (!pgtest_owned()) {
		fprintf(stderr,
		        "PostgreSQL is someone else's (CJ_TEST_DATABASE_URL): it cannot be "
		        "stopped; skipped\n");
		itest_teardown(&W);
		return 77;
	}
	DB_URL = pgtest_new_database();
	if (!DB_URL || gfake_start(&G, CLIENT_ID, CLIENT_SECRET) || mfake_start(&M)) {
		fprintf(stderr, "cannot create the database or start the fakes\n");
		return 1;
	}
	snprintf(E_DB, sizeof(E_DB), "DATABASE_URL=%s", DB_URL);
	snprintf(E_TOKEN_URL, sizeof(E_TOKEN_URL), "GOOGLE_OAUTH_TOKEN_URL=%s/token", G.url);
	snprintf(E_PEOPLE, sizeof(E_PEOPLE), "GOOGLE_PEOPLE_API_URL=%s", G.url);
	snprintf(E_CAL, sizeof(E_CAL), "GOOGLE_CALENDAR_API_URL=%s", G.url);
	snprintf(E_SENDGRID, sizeof(E_SENDGRID), "SENDGRID_API_URL=%s", M.url);
	itest_server(&W, &S, ENV);
	TOKEN = itest_token(&W);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, database_restarted_mid_sync_is_a_retry_and_no_row_doubled);
	tcase_add_test(tc, database_down_after_a_message_was_accepted_never_sends_it_twice);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	free(TOKEN);
	free(DB_URL);
	gfake_stop(&G);
	mfake_stop(&M);
	pgtest_stop();
	itest_teardown(&W);
	return failed ? 1 : 0;
}
