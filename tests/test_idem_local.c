/*
 * test_idem_local.c - unit tests for src/idem_local.c on SQLite and a real
 * PostgreSQL (schema from the embedded migrations): the SPEC §8 protocol,
 * completed keys surviving a new process (a new store on the same database)
 * while claims do not, rows expiring on the wall clock, the bounded sweep of
 * expired rows, a complete whose row could not be written being retried,
 * and database failures reported as CJ_EUNAVAIL.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "idempotency.h"
#include "log.h"
#include "migrate.h"
#include "pgtest.h"
#include "proc.h"
#include "random.h"
#include "store.h"
#include "timeutil.h"

#define DAY 86400L

static void sql(struct store *s, const char *q)
{
	char err[512];

	ck_assert_msg(store_exec(s, q, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s: %s", q, err);
}

static int64_t count(struct store *s, const char *q)
{
	struct store_rows *rows = NULL;
	char err[512];
	int64_t n;

	ck_assert_msg(store_exec(s, q, NULL, 0, &rows, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert(store_rows_next(rows));
	n = store_rows_int(rows, 0);
	store_rows_free(rows);
	return n;
}

static struct idem *open_idem(struct pgtest_db *t)
{
	struct idem *s = idem_new_local(t->s);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(idem_mode(s), "in-process");
	return s;
}

static void prepare(struct idem_claim *c, const char *key)
{
	ck_assert_int_eq(idem_prepare(c, "test", key), CJ_OK);
}

static enum idem_state claim(struct idem *s, const struct idem_claim *c, long lease)
{
	enum idem_state st = (enum idem_state) - 1;
	char err[256];
	int rc = idem_claim(s, c, lease, &st, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "claim: %s (%s)", cj_strerror(rc), err);
	return st;
}

static int complete(struct idem *s, const struct idem_claim *c, long ttl)
{
	char err[256];
	int lost = -1, rc = idem_complete(s, c, ttl, &lost, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "complete: %s (%s)", cj_strerror(rc), err);
	return lost;
}

static int release(struct idem *s, const struct idem_claim *c)
{
	char err[256];
	int lost = -1, rc = idem_release(s, c, &lost, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "release: %s (%s)", cj_strerror(rc), err);
	return lost;
}

START_TEST(protocol_state_machine)
{
	struct pgtest_db t;
	struct idem *s;
	struct idem_claim a, other, c, d;
	int lost = -1;
	char err[256];

	pgtest_db_open(&t, _i);
	s = open_idem(&t);
	prepare(&a, "sm");
	prepare(&other, "sm");
	ck_assert_int_eq(claim(s, &a, 60), IDEM_CLAIMED);
	ck_assert_int_eq(claim(s, &other, 60), IDEM_IN_PROGRESS);
	ck_assert_int_eq(claim(s, &a, 60), IDEM_CLAIMED);
	/* Renewal is the claim's: memory. */
	ck_assert_int_eq(idem_renew(s, &a, 60, &lost, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(lost, 0);
	ck_assert_int_eq(idem_renew(s, &other, 60, &lost, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(lost, 1);
	ck_assert_int_eq(complete(s, &a, DAY), 0);
	ck_assert_int_eq(claim(s, &other, 60), IDEM_DUPLICATE);
	ck_assert_int_eq(claim(s, &a, 60), IDEM_DUPLICATE);
	ck_assert_int_eq(release(s, &a), 1);
	ck_assert_int_eq(claim(s, &other, 60), IDEM_DUPLICATE);

	prepare(&c, "rel");
	prepare(&d, "rel");
	ck_assert_int_eq(claim(s, &c, 60), IDEM_CLAIMED);
	ck_assert_int_eq(release(s, &c), 0);
	ck_assert_int_eq(claim(s, &d, 60), IDEM_CLAIMED);
	ck_assert_int_eq(claim(s, &c, 60), IDEM_IN_PROGRESS);
	ck_assert_int_eq(release(s, &c), 1);
	/* A stranger's complete writes nothing, in memory or in the table. */
	ck_assert_int_eq(complete(s, &c, DAY), 1);
	ck_assert_int_eq(count(t.s, "SELECT COUNT(*) FROM idempotency_keys WHERE key LIKE '%:rel'"),
	                 0);
	ck_assert_int_eq(claim(s, &d, 60), IDEM_CLAIMED);
	ck_assert_int_eq(idem_ping(s, &(int64_t){0}, err, sizeof(err)), CJ_OK);
	idem_free(s);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(completed_keys_survive_a_new_process)
{
	struct pgtest_db t;
	struct idem *first, *second;
	struct idem_claim done, running, again, again2;
	struct store_rows *rows = NULL;
	char err[256];
	int64_t before = time_wall_s();

	pgtest_db_open(&t, _i);
	first = open_idem(&t);
	prepare(&done, "q/finished");
	prepare(&running, "q/cut-off");
	ck_assert_int_eq(claim(first, &done, 60), IDEM_CLAIMED);
	ck_assert_int_eq(complete(first, &done, 3600), 0);
	ck_assert_int_eq(claim(first, &running, 60), IDEM_CLAIMED);

	/* The row: done:{unix}, expiring TTL seconds from now (wall clock). */
	ck_assert_int_eq(store_exec(t.s,
	                            "SELECT value, expires_at FROM idempotency_keys WHERE key = "
	                            "'catchup:idem:test:q/finished'",
	                            NULL, 0, &rows, err, sizeof(err)),
	                 CJ_OK);
	ck_assert(store_rows_next(rows));
	ck_assert_int_eq(strncmp(store_rows_text(rows, 0), "done:", 5), 0);
	ck_assert_int_ge(store_rows_int(rows, 1), before + 3600);
	ck_assert_int_le(store_rows_int(rows, 1), time_wall_s() + 3600);
	store_rows_free(rows);
	ck_assert_int_eq(count(t.s, "SELECT COUNT(*) FROM idempotency_keys"), 1);

	/* kill -9: the process's memory is gone, the database is not. */
	idem_free(first);
	second = open_idem(&t);
	prepare(&again, "q/finished");
	prepare(&again2, "q/cut-off");
	ck_assert_int_eq(claim(second, &again, 60), IDEM_DUPLICATE);
	/* A claim held by the dead process does not outlive it. */
	ck_assert_int_eq(claim(second, &again2, 60), IDEM_CLAIMED);
	idem_free(second);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(expired_rows_do_not_count)
{
	struct pgtest_db t;
	struct idem *s, *s2;
	struct idem_claim a, b;

	pgtest_db_open(&t, _i);
	s = open_idem(&t);
	prepare(&a, "ttl");
	ck_assert_int_eq(claim(s, &a, 60), IDEM_CLAIMED);
	ck_assert_int_eq(complete(s, &a, DAY), 0);
	idem_free(s);
	/* As if the TTL had passed. */
	sql(t.s, "UPDATE idempotency_keys SET expires_at = 1000");
	s2 = open_idem(&t);
	prepare(&b, "ttl");
	ck_assert_int_eq(claim(s2, &b, 60), IDEM_CLAIMED);
	ck_assert_int_eq(complete(s2, &b, DAY), 0);
	/* The upsert replaced the expired row. */
	ck_assert_int_eq(
	    count(t.s, "SELECT COUNT(*) FROM idempotency_keys WHERE expires_at > 1000"), 1);
	idem_free(s2);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(expired_rows_swept_in_bounded_batches)
{
	struct pgtest_db t;
	struct idem *s;
	int64_t latency;
	char err[256];

	pgtest_db_open(&t, _i);
	/* 1500 expired rows and one live one. */
	sql(t.s,
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) "
	    "INSERT INTO idempotency_keys (key, value, expires_at) "
	    "SELECT 'old-' || CAST(i AS TEXT), 'done:1', 1000 FROM n");
	sql(t.s,
	    "INSERT INTO idempotency_keys (key, value, expires_at) "
	    "VALUES ('live', 'done:1', 99999999999)");
	s = open_idem(&t);
	ck_assert_int_eq(idem_ping(s, &latency, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(count(t.s, "SELECT COUNT(*) FROM idempotency_keys"), 501);
	/* At most one batch a minute. */
	ck_assert_int_eq(idem_ping(s, &latency, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(count(t.s, "SELECT COUNT(*) FROM idempotency_keys"), 501);
	ck_assert_int_eq(count(t.s, "SELECT COUNT(*) FROM idempotency_keys WHERE key = 'live'"), 1);
	idem_free(s);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(complete_retried_after_the_row_failed)
{
	struct pgtest_db t;
	struct idem *s, *s2;
	struct idem_claim a, b, stranger;
	enum idem_state st;
	int lost = -1, rc;
	char err[256];

	pgtest_db_open(&t, _i);
	s = open_idem(&t);
	prepare(&a, "retry");
	ck_assert_int_eq(claim(s, &a, 60), IDEM_CLAIMED);
	sql(t.s, "ALTER TABLE idempotency_keys RENAME TO idempotency_keys_away");
	rc = idem_complete(s, &a, DAY, &lost, err, sizeof(err));
	ck_assert_int_eq(rc, CJ_EUNAVAIL);
	/* Claims cannot read the table either: unavailable, never a free key. */
	prepare(&stranger, "retry");
	ck_assert_int_eq(idem_claim(s, &stranger, 60, &st, err, sizeof(err)), CJ_EUNAVAIL);
	sql(t.s, "ALTER TABLE idempotency_keys_away RENAME TO idempotency_keys");
	/* The lease keeper's retry: memory already says done; the row lands. */
	ck_assert_int_eq(complete(s, &a, DAY), 0);
	idem_free(s);
	s2 = open_idem(&t);
	prepare(&b, "retry");
	ck_assert_int_eq(claim(s2, &b, 60), IDEM_DUPLICATE);
	idem_free(s2);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(database_down_is_unavailable)
{
	struct pgtest_db t;
	struct idem *s;
	struct idem_claim a;
	enum idem_state st;
	int64_t latency;
	char err[256];

	if (!pgtest_owned())
		return; /* someone else's server: not ours to stop */
	pgtest_db_open(&t, PGTEST_POSTGRES);
	s = open_idem(&t);
	prepare(&a, "down");
	ck_assert_int_eq(pgtest_server_stop(), 0);
	ck_assert_int_eq(idem_claim(s, &a, 60, &st, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(idem_ping(s, &latency, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(pgtest_server_start(), 0);
	ck_assert_int_eq(claim(s, &a, 60), IDEM_CLAIMED);
	idem_free(s);
	pgtest_db_close(&t);
}
END_TEST

struct racer {
	struct idem *s;
	pthread_barrier_t *start;
	enum idem_state state;
	int rc;
	pthread_t thread;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	struct idem_claim c;
	char err[256];

	r->rc = idem_prepare(&c, "test", "race");
	pthread_barrier_wait(r->start);
	if (!r->rc)
		r->rc = idem_claim(r->s, &c, 60, &r->state, err, sizeof(err));
	return NULL;
}

#define RACERS 20

START_TEST(concurrent_claims_one_winner)
{
	struct racer racers[RACERS];
	pthread_barrier_t start;
	struct pgtest_db t;
	struct idem *s;
	int i, claimed = 0, in_progress = 0;

	pgtest_db_open(&t, _i);
	s = open_idem(&t);
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, RACERS), 0);
	for (i = 0; i < RACERS; i++) {
		racers[i].s = s;
		racers[i].start = &start;
		racers[i].rc = -1;
		ck_assert_int_eq(pthread_create(&racers[i].thread, NULL, racer_main, &racers[i]),
		                 0);
	}
	for (i = 0; i < RACERS; i++) {
		pthread_join(racers[i].thread, NULL);
		ck_assert_int_eq(racers[i].rc, CJ_OK);
		claimed += racers[i].state == IDEM_CLAIMED;
		in_progress += racers[i].state == IDEM_IN_PROGRESS;
	}
	pthread_barrier_destroy(&start);
	ck_assert_int_eq(claimed, 1);
	ck_assert_int_eq(in_progress, RACERS - 1);
	idem_free(s);
	pgtest_db_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("idem_local");
	TCase *tc = tcase_create("core");

	log_init(L_ERROR, "test");
	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, protocol_state_machine, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, completed_keys_survive_a_new_process, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, expired_rows_do_not_count, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, expired_rows_swept_in_bounded_batches, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, complete_retried_after_the_row_failed, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, concurrent_claims_one_winner, 0, PGTEST_NBACKENDS);
	tcase_add_test(tc, database_down_is_unavailable);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
