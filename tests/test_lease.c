/*
 * test_lease.c - the claim keeper of src/lease.c: renewals keep a held claim
 * past its lease, an unrenewed claim frees within one, a job is told to stop
 * before its claim can lapse, and settlements or claims whose replies were
 * lost are written in the background. On the in-process store and on real
 * Redis behind the Upstash-compatible fixture (whose fault injection drops
 * replies after executing, or answers 503).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckrun.h"
#include "fixtures.h"
#include "http_client.h"
#include "idempotency.h"
#include "lease.h"
#include "random.h"
#include "redis_rest.h"
#include "timeutil.h"

#define LEASE_S 3L
#define TTL_S 86400L

static struct redis_fixture fx;

struct world {
	struct redis_rest *r;
	struct idem *idem;
	struct lease_keeper *k;
};

static void open_world(int redis, long lease_s, struct world *w)
{
	struct lease_keeper_options o = {lease_s, TTL_S, 1};
	struct redis_rest_options ro = {500, 500, 2};

	w->r = NULL;
	if (redis) {
		w->r = redis_rest_new(fx.url, fx.token, &ro);
		ck_assert_ptr_nonnull(w->r);
		w->idem = idem_new_redis(w->r);
	} else {
		w->idem = idem_new_memory();
	}
	ck_assert_ptr_nonnull(w->idem);
	w->k = lease_keeper_new(w->idem, &o);
	ck_assert_ptr_nonnull(w->k);
}

static void close_world(struct world *w)
{
	lease_keeper_free(w->k);
	idem_free(w->idem);
	redis_rest_free(w->r);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void fresh_claim(struct idem_claim *c, const char *what)
{
	char key[64], rnd[17];

	ck_assert_int_eq(random_hex(rnd, sizeof(rnd), 8), CJ_OK);
	snprintf(key, sizeof(key), "%s-%s", what, rnd);
	ck_assert_int_eq(idem_prepare(c, "ping", key), CJ_OK);
}

/* What a second delivery (a new nonce, same key) finds. */
static enum idem_state other_delivery(struct world *w, const struct idem_claim *c, long lease_s)
{
	struct idem_claim other;
	enum idem_state st;
	const char *key = c->key + strlen("catchup:idem:ping:");

	ck_assert_int_eq(idem_prepare(&other, "ping", key), CJ_OK);
	ck_assert_int_eq(idem_claim(w->idem, &other, lease_s, &st, NULL, 0), CJ_OK);
	return st;
}

static void claim_now(struct world *w, const struct idem_claim *c, long lease_s)
{
	enum idem_state st;

	ck_assert_int_eq(idem_claim(w->idem, c, lease_s, &st, NULL, 0), CJ_OK);
	ck_assert_int_eq(st, IDEM_CLAIMED);
}

/* Loop index 0: in-process; 1: Redis. */
START_TEST(renewal_outlives_the_lease)
{
	struct world w;
	struct idem_claim c;
	struct lease *l;
	int64_t t0;
	int lost = 1;

	open_world(_i, LEASE_S, &w);
	fresh_claim(&c, "renew");
	t0 = time_mono_ms();
	claim_now(&w, &c, LEASE_S);
	ck_assert_int_eq(lease_hold(w.k, &c, t0, &l), CJ_OK);
	/* Past one and a half leases: renewals kept it ours. */
	while (time_mono_ms() - t0 < LEASE_S * 1500) {
		ck_assert_int_gt(atomic_load(lease_stop_at(l)), time_mono_ms());
		sleep_ms(250);
	}
	ck_assert_int_eq(other_delivery(&w, &c, LEASE_S), IDEM_IN_PROGRESS);
	ck_assert_int_eq(lease_end(w.k, l, LEASE_COMPLETE, &lost, NULL, 0), CJ_OK);
	ck_assert_int_eq(lost, 0);
	ck_assert_int_eq(other_delivery(&w, &c, LEASE_S), IDEM_DUPLICATE);
	close_world(&w);
}
END_TEST

/* The claim of a holder that died is nobody's after one lease. */
START_TEST(unrenewed_claim_frees_within_a_lease)
{
	struct world w;
	struct idem_claim c;

	open_world(_i, LEASE_S, &w);
	fresh_claim(&c, "dead");
	claim_now(&w, &c, LEASE_S);
	ck_assert_int_eq(other_delivery(&w, &c, LEASE_S), IDEM_IN_PROGRESS);
	sleep_ms(LEASE_S * 1000 + 300);
	ck_assert_int_eq(other_delivery(&w, &c, LEASE_S), IDEM_CLAIMED);
	close_world(&w);
}
END_TEST

/* Redis answers 503 to every renewal: the job is told to stop while at
 * least lease/3 of its claim is left, never after it may have lapsed. */
START_TEST(failing_renewals_stop_the_job_before_the_lease_lapses)
{
	struct world w;
	struct idem_claim c;
	struct lease *l;
	int64_t t0, stop;
	int lost;

	open_world(1, LEASE_S, &w);
	fresh_claim(&c, "outage");
	t0 = time_mono_ms();
	claim_now(&w, &c, LEASE_S);
	ck_assert_int_eq(lease_hold(w.k, &c, t0, &l), CJ_OK);
	ck_assert_int_eq(redis_fixture_fault(&fx, "error", 30, c.key), 0);
	while (time_mono_ms() < atomic_load(lease_stop_at(l)))
		sleep_ms(50);
	stop = time_mono_ms();
	/* Claimed at t0 with no renewal landing: it expires at t0 + lease. */
	ck_assert_int_le(stop, t0 + LEASE_S * 1000 - LEASE_S * 1000 / 3 + 100);
	ck_assert_int_eq(redis_fixture_fault(&fx, "none", 0, NULL), 0);
	ck_assert_int_eq(lease_end(w.k, l, LEASE_RELEASE, &lost, NULL, 0), CJ_OK);
	close_world(&w);
}
END_TEST

/* Someone else's value in the key: the renewal finds it and stops the job
 * at once. */
START_TEST(lost_claim_stops_the_job_at_once)
{
	struct world w;
	struct idem_claim c;
	struct httpc_resp r;
	struct lease *l;
	char cmd[1200];
	int64_t t0;
	int lost = 0;

	open_world(1, LEASE_S, &w);
	fresh_claim(&c, "lost");
	t0 = time_mono_ms();
	claim_now(&w, &c, LEASE_S);
	ck_assert_int_eq(lease_hold(w.k, &c, t0, &l), CJ_OK);
	snprintf(cmd, sizeof(cmd), "[\"SET\",\"%s\",\"running:other:1\"]", c.key);
	ck_assert_int_eq(redis_fixture_command(&fx, cmd, &r), 0);
	httpc_resp_free(&r);
	while (atomic_load(lease_stop_at(l)) != 0 && time_mono_ms() - t0 < 3000)
		sleep_ms(50);
	ck_assert_int_eq(atomic_load(lease_stop_at(l)), 0);
	ck_assert_int_eq(lease_end(w.k, l, LEASE_RELEASE, &lost, NULL, 0), CJ_OK);
	ck_assert_int_eq(lost, 1);
	ck_assert_int_eq(other_delivery(&w, &c, LEASE_S), IDEM_IN_PROGRESS);
	close_world(&w);
}
END_TEST

/* The complete executes but its reply is lost: it is retried in the
 * background with the same done value, recognised as landed, and the task
 * stays done (a redelivery is a duplicate, not a second run). */
START_TEST(lost_complete_reply_lands_in_the_background)
{
	struct world w;
	struct idem_claim c;
	struct lease *l;
	int64_t t0;
	int lost;

	open_world(1, 30, &w);
	fresh_claim(&c, "complete");
	t0 = time_mono_ms();
	claim_now(&w, &c, 30);
	ck_assert_int_eq(lease_hold(w.k, &c, t0, &l), CJ_OK);
	ck_assert_int_eq(redis_fixture_fault(&fx, "drop", 2, c.key), 0);
	ck_assert_int_eq(lease_end(w.k, l, LEASE_COMPLETE, &lost, NULL, 0), CJ_EUNAVAIL);
	ck_assert_uint_eq(lease_pending(w.k), 1);
	while (lease_pending(w.k) && time_mono_ms() - t0 < 10000)
		sleep_ms(100);
	ck_assert_uint_eq(lease_pending(w.k), 0);
	ck_assert_int_eq(other_delivery(&w, &c, 30), IDEM_DUPLICATE);
	close_world(&w);
}
END_TEST

/* A claim lands but its reply is lost (the delivery was answered 503): it
 * is released in the background, so the next delivery runs at once instead
 * of meeting 409 for a whole lease. */
START_TEST(claim_with_lost_reply_is_released_in_the_background)
{
	struct world w;
	struct idem_claim c;
	enum idem_state st;
	int64_t t0 = time_mono_ms();

	open_world(1, 30, &w);
	fresh_claim(&c, "abandon");
	ck_assert_int_eq(redis_fixture_fault(&fx, "drop", 2, c.key), 0);
	ck_assert_int_eq(idem_claim(w.idem, &c, 30, &st, NULL, 0), CJ_EUNAVAIL);
	lease_abandon(w.k, &c);
	while (lease_pending(w.k) && time_mono_ms() - t0 < 10000)
		sleep_ms(100);
	ck_assert_uint_eq(lease_pending(w.k), 0);
	ck_assert_int_lt(time_mono_ms() - t0, 10000); /* well within the 30 s lease */
	ck_assert_int_eq(other_delivery(&w, &c, 30), IDEM_CLAIMED);
	close_world(&w);
}
END_TEST

/* Settlements still waiting at shutdown get one last try. */
START_TEST(keeper_flushes_pending_settlements_when_freed)
{
	struct world w;
	struct idem_claim c;
	struct lease *l;
	struct world check;
	int lost;

	open_world(1, 30, &w);
	fresh_claim(&c, "flush");
	claim_now(&w, &c, 30);
	ck_assert_int_eq(lease_hold(w.k, &c, time_mono_ms(), &l), CJ_OK);
	ck_assert_int_eq(redis_fixture_fault(&fx, "error", 1, c.key), 0);
	ck_assert_int_eq(lease_end(w.k, l, LEASE_RELEASE, &lost, NULL, 0), CJ_EUNAVAIL);
	sleep_ms(1100);
	close_world(&w); /* the last try lands: the fault is over */
	open_world(1, 30, &check);
	ck_assert_int_eq(other_delivery(&check, &c, 30), IDEM_CLAIMED);
	close_world(&check);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lease");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init() || redis_fixture_start(&fx)) {
		fprintf(stderr, "cannot start the Redis fixture\n");
		return 1;
	}
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, renewal_outlives_the_lease, 0, 2);
	tcase_add_loop_test(tc, unrenewed_claim_frees_within_a_lease, 0, 2);
	tcase_add_test(tc, failing_renewals_stop_the_job_before_the_lease_lapses);
	tcase_add_test(tc, lost_claim_stops_the_job_at_once);
	tcase_add_test(tc, lost_complete_reply_lands_in_the_background);
	tcase_add_test(tc, claim_with_lost_reply_is_released_in_the_background);
	tcase_add_test(tc, keeper_flushes_pending_settlements_when_freed);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	redis_fixture_stop(&fx);
	http_client_global_cleanup();
	return failed;
}
