/*
 * test_recent.c - unit tests for src/recent.c: outcomes per type over the
 * last 60 minutes, only non-zero types, sorted by name; unknown types and
 * outcomes; buckets leaving the window and being reused a lap later; dead
 * letters; concurrent updates; and the feed from metrics.c.
 */
#include <check.h>
#include <pthread.h>
#include <string.h>

#include "ckrun.h"
#include "metrics.h"
#include "recent.h"

static const struct recent_type *find(const struct recent_totals *t, const char *type)
{
	for (size_t i = 0; i < t->ntypes; i++)
		if (!strcmp(t->types[i].type, type))
			return &t->types[i];
	return NULL;
}

START_TEST(counts_by_type_and_outcome)
{
	struct recent_totals t;
	const struct recent_type *p;

	recent_reset();
	recent_totals_at(1000, &t);
	ck_assert_uint_eq(t.ntypes, 0);
	ck_assert_uint_eq(t.dead_letters, 0);
	recent_request_at(1000, "ping", "completed");
	recent_request_at(1000, "ping", "completed");
	recent_request_at(990, "ping", "retry");
	recent_request_at(1000, "calendar-sync", "failed");
	recent_request_at(1000, "token-refresh", "duplicate");
	recent_request_at(1000, "no-such-job", "rejected");
	recent_request_at(1000, NULL, "rejected");
	recent_request_at(1000, "ping", "exploded"); /* not an outcome: ignored */
	recent_dead_letter_at(1000);
	recent_dead_letter_at(999);
	recent_totals_at(1000, &t);
	ck_assert_uint_eq(t.ntypes, 4);
	/* Sorted by name. */
	ck_assert_str_eq(t.types[0].type, "calendar-sync");
	ck_assert_str_eq(t.types[1].type, "ping");
	ck_assert_str_eq(t.types[2].type, "token-refresh");
	ck_assert_str_eq(t.types[3].type, "unknown");
	p = find(&t, "ping");
	ck_assert_uint_eq(p->n[RECENT_COMPLETED], 2);
	ck_assert_uint_eq(p->n[RECENT_RETRY], 1);
	ck_assert_uint_eq(p->n[RECENT_FAILED], 0);
	ck_assert_uint_eq(find(&t, "unknown")->n[RECENT_REJECTED], 2);
	ck_assert_uint_eq(find(&t, "calendar-sync")->n[RECENT_FAILED], 1);
	ck_assert_uint_eq(find(&t, "token-refresh")->n[RECENT_DUPLICATE], 1);
	ck_assert_uint_eq(t.dead_letters, 2);
	ck_assert_str_eq(recent_outcome_name(RECENT_IN_PROGRESS), "in_progress");
	ck_assert_str_eq(recent_outcome_name(RECENT_REJECTED), "rejected");
}
END_TEST

START_TEST(the_window_is_sixty_minutes)
{
	struct recent_totals t;

	recent_reset();
	recent_request_at(100, "ping", "completed"); /* leaves the window at 160 */
	recent_request_at(159, "ping", "retry");
	recent_dead_letter_at(100);
	recent_totals_at(159, &t);
	ck_assert_uint_eq(t.ntypes, 1);
	ck_assert_uint_eq(t.types[0].n[RECENT_COMPLETED], 1);
	ck_assert_uint_eq(t.types[0].n[RECENT_RETRY], 1);
	ck_assert_uint_eq(t.dead_letters, 1);
	recent_totals_at(160, &t);
	ck_assert_uint_eq(t.types[0].n[RECENT_COMPLETED], 0);
	ck_assert_uint_eq(t.types[0].n[RECENT_RETRY], 1);
	ck_assert_uint_eq(t.dead_letters, 0);
	/* Minute 160 reuses minute 100's bucket: it starts from zero. */
	recent_request_at(160, "ping", "failed");
	recent_totals_at(160, &t);
	ck_assert_uint_eq(t.types[0].n[RECENT_COMPLETED], 0);
	ck_assert_uint_eq(t.types[0].n[RECENT_FAILED], 1);
	/* An hour of silence later, nothing is left. */
	recent_totals_at(300, &t);
	ck_assert_uint_eq(t.ntypes, 0);
	/* A bucket ahead of the asked minute is not counted. */
	recent_totals_at(150, &t);
	ck_assert_uint_eq(t.types[0].n[RECENT_RETRY], 0);
	ck_assert_uint_eq(t.types[0].n[RECENT_FAILED], 0);
}
END_TEST

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10000; i++)
		recent_request_at(5000, "ping", "completed");
	return NULL;
}

START_TEST(concurrent_updates_add_up)
{
	pthread_t th[4];
	struct recent_totals t;

	recent_reset();
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	recent_totals_at(5000, &t);
	ck_assert_uint_eq(t.types[0].n[RECENT_COMPLETED], 40000);
}
END_TEST

/* The metrics' calls feed the ring at the current minute. */
START_TEST(metrics_feed_the_ring)
{
	struct recent_totals t;

	recent_reset();
	metrics_request("ping", "completed");
	metrics_request("ping", "in_progress");
	metrics_dead_letter("ping");
	recent_totals(&t);
	ck_assert_uint_eq(t.ntypes, 1);
	ck_assert_str_eq(t.types[0].type, "ping");
	ck_assert_uint_eq(t.types[0].n[RECENT_COMPLETED], 1);
	ck_assert_uint_eq(t.types[0].n[RECENT_IN_PROGRESS], 1);
	ck_assert_uint_eq(t.dead_letters, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("recent");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, counts_by_type_and_outcome);
	tcase_add_test(tc, the_window_is_sixty_minutes);
	tcase_add_test(tc, concurrent_updates_add_up);
	tcase_add_test(tc, metrics_feed_the_ring);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
