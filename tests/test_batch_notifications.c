/*
 * test_batch_notifications.c - the batch-notifications job (and
 * handlers/notify.c under it) against the Twilio/SendGrid fake and the SMS
 * limit in real Redis, on SQLite and PostgreSQL: one message listing up to
 * 5 suggestions, the channel and its fallback, quiet hours, never twice
 * (retries, a lost answer, a crash before the marking, a marking stopped
 * part way), refusals,
 * transient and configuration faults, 30 concurrent batches sharing one
 * phone under the 20-per-hour limit, and the scan.
 */
#include <check.h>
#include <openssl/evp.h>
#include <pthread.h>
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

#define PHONE "+15551230001"

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
}

/* User id with n pending suggestions "{id}-s{i}", awake now. */
static void user_with_pending(const char *id, const char *channel, const char *phone,
                              const char *email, int n)
{
	int s, e;

	notify_waking_now(1, &s, &e);
	notify_add_user(&h, id, channel, phone, email, s, e);
	for (int i = 0; i < n; i++) {
		char sid[64], name[64];

		snprintf(sid, sizeof(sid), "%s-s%d", id, i);
		snprintf(name, sizeof(name), "Friend %c", 'A' + i);
		/* Created in reverse slot order: the job orders by slot. */
		notify_add_suggestion(&h, id, sid, name, clock_now_s() + 86400 + (n - i) * 3600,
		                      "pending");
	}
}

static void run_user(const char *user, const char *key, struct job_run *r)
{
	char payload[200];

	snprintf(payload, sizeof(payload), "{\"userId\":\"%s\"}", user);
	job_harness_run(&h, "batch-notifications", payload, key, 0, r);
}

static long in_state(const char *user, const char *state)
{
	return (long)job_harness_int(&h,
	                             "SELECT COUNT(*) FROM suggestions WHERE user_id = $1 AND "
	                             "state = $2",
	                             user, state);
}

static const char *channel_of(const struct job_run *r)
{
	const json_t *c = json_object_get(r->result, "channel");

	return json_is_string(c) ? json_string_value(c) : NULL;
}

START_TEST(one_message_lists_five_and_leaves_the_rest_pending)
{
	struct job_run r;
	char *body;

	setup(_i);
	user_with_pending("u1", "sms", PHONE, "u1@example.com", 6);
	run_user("u1", "k1", &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	ck_assert_int_eq(job_run_int(&r, "deferred"), 0);
	ck_assert_int_eq(job_run_int(&r, "failed"), 0);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 0);
	ck_assert_int_eq(job_run_int(&r, "listed"), 5);
	ck_assert_str_eq(channel_of(&r), "sms");
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, "twilio"), 1);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	body = notify_message_body(&F, 0);
	/* The earliest five slots are B..F (A is the latest). */
	for (char c = 'B'; c <= 'F'; c++) {
		char name[16];

		snprintf(name, sizeof(name), "Friend %c", c);
		ck_assert_msg(strstr(body, name), "%s missing from %s", name, body);
	}
	ck_assert_ptr_null(strstr(body, "Friend A"));
	free(body);
	ck_assert_int_eq(in_state("u1", "notified"), 5);
	ck_assert_int_eq(in_state("u1", "pending"), 1);
	ck_assert_int_eq(notify_outbox_count(&h, "sent"), 1);
	/* The next batch is the one left. */
	run_user("u1", "k2", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	ck_assert_int_eq(job_run_int(&r, "listed"), 1);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 2);
	ck_assert_int_eq(in_state("u1", "pending"), 0);
	/* Nothing pending: nothing sent. */
	run_user("u1", "k3", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 2);
	run_user("nobody", "k4", &r);
	ck_assert_int_eq(r.outcome, JOB_PERMANENT);
	ck_assert_str_eq(r.error_code, "user_not_found");
	job_run_release(&r);
	job_harness_close(&h);
}
END_TEST

START_TEST(channel_choice_and_fallback)
{
	static const struct {
		const char *id, *pref, *phone, *email, *channel, *to;
	} cases[] = {
	    {"sms-phone", "sms", "+15550000001", "a@example.com", "sms", "+15550000001"},
	    {"sms-nophone", "sms", NULL, "b@example.com", "email", "b@example.com"},
	    {"email-email", "email", "+15550000003", "c@example.com", "email", "c@example.com"},
	    {"email-noaddr", "email", "+15550000004", NULL, "sms", "+15550000004"},
	    {"neither", "sms", NULL, NULL, NULL, NULL},
	    {"none", "none", "+15550000006", "f@example.com", NULL, NULL},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	json_t *msgs;
	struct job_run r;

	setup(_i);
	for (size_t i = 0; i < n; i++) {
		user_with_pending(cases[i].id, cases[i].pref, cases[i].phone, cases[i].email, 1);
		run_user(cases[i].id, cases[i].id, &r);
		ck_assert_int_eq(r.outcome, JOB_OK);
		if (cases[i].channel) {
			ck_assert_str_eq(channel_of(&r), cases[i].channel);
			ck_assert_int_eq(job_run_int(&r, "sent"), 1);
		} else {
			ck_assert_ptr_null(channel_of(&r));
			ck_assert_int_eq(job_run_int(&r, "sent"), 0);
			ck_assert_int_eq(in_state(cases[i].id, "pending"), 1);
		}
		job_run_release(&r);
	}
	msgs = mfake_get(&F, "messages");
	ck_assert_int_eq(json_array_size(msgs), 4);
	for (size_t i = 0, j = 0; i < n; i++) {
		json_t *m;

		if (!cases[i].channel)
			continue;
		m = json_array_get(msgs, j++);
		ck_assert_str_eq(json_string_value(json_object_get(m, "provider")),
		                 !strcmp(cases[i].channel, "sms") ? "twilio" : "sendgrid");
		ck_assert_str_eq(json_string_value(json_object_get(m, "to")), cases[i].to);
	}
	json_decref(msgs);
	job_harness_close(&h);
}
END_TEST

START_TEST(quiet_hours_defer_and_send_nothing)
{
	struct job_run r;
	int s, e;

	setup(_i);
	notify_waking_now(0, &s, &e);
	notify_add_user(&h, "q", "sms", PHONE, "q@example.com", s, e);
	for (int i = 0; i < 3; i++) {
		char sid[16];

		snprintf(sid, sizeof(sid), "q-%d", i);
		notify_add_suggestion(&h, "q", sid, "Pat", clock_now_s() + 86400 + i * 3600,
		                      "pending");
	}
	run_user("q", "k1", &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert_int_eq(job_run_int(&r, "deferred"), 3);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 0);
	ck_assert_int_eq(in_state("q", "pending"), 3);
	ck_assert_int_eq(notify_outbox_count(&h, "sending"), 0);
	job_harness_close(&h);
}
END_TEST

START_TEST(a_retried_batch_is_never_sent_twice)
{
	struct job_run r;

	setup(_i);
	user_with_pending("u1", "email", NULL, "u1@example.com", 2);
	run_user("u1", "k1", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	/* A death after the send, before the suggestions moved: the retry
	 * finds the batch's key sent and only does the marking. */
	job_harness_exec(&h, "UPDATE suggestions SET state = 'pending' WHERE user_id = $1", "u1",
	                 NULL);
	run_user("u1", "k1", &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	ck_assert_int_eq(in_state("u1", "notified"), 2);
	job_harness_close(&h);
}
END_TEST

START_TEST(a_lost_answer_is_unconfirmed_and_never_resent)
{
	struct job_run r;

	setup(_i);
	user_with_pending("u1", "sms", PHONE, NULL, 2);
	ck_assert_int_eq(mfake_control(&F, "fail",
	                               "{\"target\":\"twilio\",\"count\":1,\"drop\":true,"
	                               "\"accept\":true}"),
	                 0);
	run_user("u1", "k1", &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 1);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	ck_assert_int_eq(notify_outbox_count(&h, "sending"), 1);
	ck_assert_int_eq(in_state("u1", "notified"), 2);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	/* Rerun with the batch pending again: still unconfirmed, not resent. */
	job_harness_exec(&h, "UPDATE suggestions SET state = 'pending' WHERE user_id = $1", "u1",
	                 NULL);
	run_user("u1", "k2", &r);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 1);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	ck_assert_int_eq(notify_outbox_count(&h, "sending"), 1);
	job_harness_close(&h);
}
END_TEST

START_TEST(a_refused_number_fails_and_the_job_completes)
{
	struct job_run r;
	char *e;

	setup(_i);
	user_with_pending("u1", "sms", PHONE, NULL, 1);
	ck_assert_int_eq(mfake_control(&F, "invalid", "{\"to\":\"" PHONE "\"}"), 0);
	run_user("u1", "k1", &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert_int_eq(job_run_int(&r, "failed"), 1);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	e = job_harness_text(&h, "SELECT error FROM outbox WHERE state = 'failed'", NULL, NULL);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, "21211");
	free(e);
	ck_assert_int_eq(in_state("u1", "pending"), 1);
	/* Not tried again: the refusal stands. */
	run_user("u1", "k2", &r);
	ck_assert_int_eq(job_run_int(&r, "failed"), 1);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 0);
	job_harness_close(&h);
}
END_TEST

START_TEST(transient_and_configuration_faults_retry_then_send_once)
{
	struct job_run r;

	setup(_i);
	user_with_pending("u1", "sms", PHONE, NULL, 1);
	ck_assert_int_eq(mfake_control(&F, "fail",
	                               "{\"target\":\"twilio\",\"count\":1,\"status\":503,"
	                               "\"retryAfter\":7}"),
	                 0);
	run_user("u1", "k1", &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	ck_assert_int_eq(r.retry_after_s, 7);
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM outbox", NULL, NULL), 0);
	ck_assert_int_eq(in_state("u1", "pending"), 1);
	/* Credentials refused: a configuration fault, retried. */
	ck_assert_int_eq(
	    mfake_control(&F, "fail", "{\"target\":\"twilio\",\"count\":1,\"status\":401}"), 0);
	run_user("u1", "k1", &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	ck_assert_str_eq(r.error_code, "provider_config");
	job_run_release(&r);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM outbox", NULL, NULL), 0);
	run_user("u1", "k1", &r);
	ck_assert_int_eq(r.outcome, JOB_OK);
	ck_assert_int_eq(job_run_int(&r, "sent"), 1);
	job_run_release(&r);
	run_user("u1", "k1", &r);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	job_harness_close(&h);
}
END_TEST

static void *run_thread(void *arg)
{
	struct job_run *r = arg;
	char user[32];

	snprintf(user, sizeof(user), "p%02d", (int)r->retry_after_s);
	run_user(user, user, r);
	return NULL;
}

START_TEST(thirty_batches_sharing_a_phone_send_at_most_twenty)
{
	pthread_t th[30];
	struct job_run r[30];
	long sent = 0, deferred = 0;

	setup(_i);
	for (int i = 0; i < 30; i++) {
		char id[32];

		snprintf(id, sizeof(id), "p%02d", i);
		user_with_pending(id, "sms", PHONE, NULL, 1);
	}
	for (int i = 0; i < 30; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].retry_after_s = i; /* which user: read before the run overwrites it */
		ck_assert_int_eq(pthread_create(&th[i], NULL, run_thread, &r[i]), 0);
	}
	for (int i = 0; i < 30; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 30; i++) {
		ck_assert_msg(r[i].outcome == JOB_OK, "%s: %s", r[i].error_code, r[i].error_msg);
		sent += job_run_int(&r[i], "sent");
		deferred += job_run_int(&r[i], "deferred");
		job_run_release(&r[i]);
	}
	ck_assert_int_eq(notify_messages(&F, "twilio"), 20);
	ck_assert_int_eq(sent, 20);
	ck_assert_int_eq(deferred, 10);
	ck_assert_int_eq(job_harness_int(&h,
	                                 "SELECT COUNT(*) FROM suggestions WHERE state = 'pending'",
	                                 NULL, NULL),
	                 10);
	/* Later within the hour: still none. An hour on: the rest go. */
	{
		struct job_run one;
		char id[8] = "";
		char *pending =
		    job_harness_text(&h,
		                     "SELECT MIN(user_id) FROM suggestions WHERE state = "
		                     "'pending'",
		                     NULL, NULL);

		snprintf(id, sizeof(id), "%s", pending);
		free(pending);
		clock_advance(1800);
		run_user(id, "later", &one);
		ck_assert_int_eq(job_run_int(&one, "deferred"), 1);
		job_run_release(&one);
		clock_advance(1801);
		run_user(id, "hour-on", &one);
		ck_assert_int_eq(job_run_int(&one, "sent"), 1);
		job_run_release(&one);
		clock_advance(-3601);
	}
	ck_assert_int_eq(notify_messages(&F, "twilio"), 21);
	job_harness_close(&h);
}
END_TEST

/* The batch key the job derives for these suggestion ids. */
static void batch_key(const char *user, const char **ids, size_t n, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	char hex[33];

	ck_assert(EVP_DigestInit_ex(c, EVP_sha256(), NULL));
	for (size_t i = 0; i < n; i++) /* sorted by the caller */
		ck_assert(EVP_DigestUpdate(c, ids[i], strlen(ids[i])) &&
		          EVP_DigestUpdate(c, "\n", 1));
	ck_assert(EVP_DigestFinal_ex(c, md, &len));
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(out, outlen, "batch:%s:%s", user, hex);
}

START_TEST(a_crash_before_the_marking_is_never_resent)
{
	const char *ids[] = {"u1-s0", "u1-s1"};
	char key[200];
	struct job_run r;

	setup(_i);
	user_with_pending("u1", "sms", PHONE, NULL, 2);
	batch_key("u1", ids, 2, key, sizeof(key));
	/* What a death between the provider call and the marking leaves. */
	job_harness_exec(&h,
	                 "INSERT INTO outbox (id, dedupe_key, kind, user_id, channel, recipient, "
	                 "body, state, created_at, updated_at) VALUES ('row1', $1, 'batch', 'u1', "
	                 "'sms', '" PHONE "', 'x', 'sending', 1, 1)",
	                 key, NULL);
	run_user("u1", "k1", &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "unconfirmed"), 1);
	ck_assert_int_eq(job_run_int(&r, "sent"), 0);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 0);
	ck_assert_int_eq(notify_outbox_count(&h, "sending"), 1);
	ck_assert_int_eq(in_state("u1", "notified"), 2);
	job_harness_close(&h);
}
END_TEST

/* The marking stops part way (a trigger refuses the second row, as a death
 * or a lost database would stop it): the retry must find the same batch and
 * its key, not list the rest as a new batch and send it a second time. Found
 * by the scale-out soak (bench/soak), where two tasks for one user ran at
 * once on two instances and the second listed what the first had not yet
 * marked. */
START_TEST(a_marking_stopped_part_way_never_sends_the_rest_again)
{
	struct job_run r;

	setup(_i);
	/* Slots by time: u1-s2, u1-s1, u1-s0; the marking follows that order. */
	user_with_pending("u1", "email", NULL, "u1@example.com", 3);
	if (_i == PGTEST_SQLITE) {
		struct store_conn *c = NULL;
		char err[256] = "";

		ck_assert_int_eq(store_acquire(h.db.s, &c, err, sizeof(err)), CJ_OK);
		ck_assert_msg(store_conn_exec_script(
		                  c,
		                  "CREATE TRIGGER stop_marking BEFORE UPDATE ON suggestions FOR "
		                  "EACH ROW WHEN NEW.id = 'u1-s1' AND NEW.state = 'notified' BEGIN "
		                  "SELECT RAISE(ABORT, 'marking stopped'); END;",
		                  err, sizeof(err)) == CJ_OK,
		              "%s", err);
		store_release(c);
	} else {
		job_harness_exec(
		    &h,
		    "CREATE FUNCTION stop_marking() RETURNS trigger LANGUAGE plpgsql AS "
		    "'BEGIN RAISE EXCEPTION ''marking stopped''; END'",
		    NULL, NULL);
		job_harness_exec(
		    &h,
		    "CREATE TRIGGER stop_marking BEFORE UPDATE ON suggestions FOR EACH "
		    "ROW WHEN (NEW.id = 'u1-s1' AND NEW.state = 'notified') EXECUTE "
		    "FUNCTION stop_marking()",
		    NULL, NULL);
	}
	run_user("u1", "k1", &r);
	ck_assert_int_eq(r.outcome, JOB_RETRY);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	job_harness_exec(&h,
	                 _i == PGTEST_SQLITE ? "DROP TRIGGER stop_marking"
	                                     : "DROP TRIGGER stop_marking ON suggestions",
	                 NULL, NULL);
	run_user("u1", "k1", &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	job_run_release(&r);
	ck_assert_int_eq(notify_messages(&F, NULL), 1);
	ck_assert_int_eq(in_state("u1", "notified"), 3);
	ck_assert_int_eq(notify_outbox_count(&h, "sent"), 1);
	job_harness_close(&h);
}
END_TEST

START_TEST(the_scan_enqueues_users_with_pending_suggestions_once_an_hour)
{
	struct job_run r;
	json_t *creates;

	setup(_i);
	user_with_pending("a", "email", NULL, "a@example.com", 2);
	user_with_pending("b", "email", NULL, "b@example.com", 1);
	user_with_pending("c", "email", NULL, "c@example.com", 0);
	job_harness_run(&h, "batch-notifications", "{}", "scan-1", 0, &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 2);
	ck_assert(json_is_null(json_object_get(r.result, "next")));
	job_run_release(&r);
	job_harness_run(&h, "batch-notifications", "{}", "scan-2", 0, &r);
	ck_assert_int_eq(job_run_int(&r, "enqueued"), 0);
	job_run_release(&r);
	creates = job_harness_creates(&h, "batch-notifications");
	ck_assert_int_eq(json_array_size(creates), 2);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(json_array_get(creates, 0), "payload"), "userId")),
	                 "a");
	json_decref(creates);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("batch_notifications");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init() || pgtest_start() || mfake_start(&F) ||
	    redis_fixture_start(&R))
		return 1;
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, one_message_lists_five_and_leaves_the_rest_pending, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, channel_choice_and_fallback, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, quiet_hours_defer_and_send_nothing, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_retried_batch_is_never_sent_twice, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_lost_answer_is_unconfirmed_and_never_resent, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_refused_number_fails_and_the_job_completes, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, transient_and_configuration_faults_retry_then_send_once, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, thirty_batches_sharing_a_phone_send_at_most_twenty, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_crash_before_the_marking_is_never_resent, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_marking_stopped_part_way_never_sends_the_rest_again, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, the_scan_enqueues_users_with_pending_suggestions_once_an_hour, 0,
	                    PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	redis_fixture_stop(&R);
	mfake_stop(&F);
	pgtest_stop();
	return failed ? 1 : 0;
}
