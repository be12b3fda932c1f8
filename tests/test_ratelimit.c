/*
 * test_ratelimit.c - the sliding-window-log rate limiter, run twice with the
 * same test bodies: once in process, once on real Redis behind the
 * Upstash-compatible REST fixture. Redis-only cases: the stored key, scores
 * and TTL, a command error (CJ_ECONFIG), Redis down (CJ_EUNAVAIL). Memory-
 * only: the key cap.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "fixtures.h"
#include "http_client.h"
#include "random.h"
#include "ratelimit.h"
#include "redis_rest.h"

#define HOUR 3600
#define T0 1700000000.25 /* business time the tests start at */

/* Started by main() for the tests that leave Redis running. */
static struct redis_fixture fx;

struct backend {
	struct redis_rest *r;
	struct ratelimit *rl;
};

/* Loop index 0: in-process; 1: Redis. */
static void backend_open(int which, struct backend *b)
{
	b->r = NULL;
	if (which == 1) {
		b->r = redis_rest_new(fx.url, fx.token, NULL);
		ck_assert_ptr_nonnull(b->r);
		b->rl = ratelimit_new_redis(b->r);
		ck_assert_ptr_nonnull(b->rl);
		ck_assert_str_eq(ratelimit_mode(b->rl), "upstash");
	} else {
		b->rl = ratelimit_new_memory();
		ck_assert_ptr_nonnull(b->rl);
		ck_assert_str_eq(ratelimit_mode(b->rl), "in-process");
	}
}

static void backend_close(struct backend *b)
{
	ratelimit_free(b->rl);
	redis_rest_free(b->r);
}

/* A key no other test (or earlier run against the same Redis) uses. */
static void fresh_key(char *out, size_t outlen, const char *what)
{
	char rnd[17];

	ck_assert_int_eq(random_hex(rnd, sizeof(rnd), 8), CJ_OK);
	snprintf(out, outlen, "%s-%s", what, rnd);
}

/* One take that must succeed; returns allowed, *retry_at when asked. */
static int take_at(struct backend *b, const char *key, int limit, int window, double now,
                   const char *member, double *retry_at)
{
	char err[256];
	double at = -1;
	int allowed = -1;
	int rc =
	    ratelimit_take(b->rl, key, limit, window, now, member, &allowed, &at, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "take %s/%s: %s (%s)", key, member, cj_strerror(rc), err);
	ck_assert(allowed == 0 || allowed == 1);
	ck_assert(at >= now);
	if (retry_at)
		*retry_at = at;
	return allowed;
}

static int take(struct backend *b, const char *key, double now, const char *member)
{
	return take_at(b, key, 20, HOUR, now, member, NULL);
}

static void release(struct backend *b, const char *key, const char *member)
{
	char err[256];
	int rc = ratelimit_release(b->rl, key, member, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "release: %s (%s)", cj_strerror(rc), err);
}

/* New members "<prefix>-<n>" taken at now until one is refused; how many
 * were allowed (bounded). */
static int take_until_refused(struct backend *b, const char *key, double now, const char *prefix)
{
	char m[64];
	int n;

	for (n = 0; n < 100; n++) {
		snprintf(m, sizeof(m), "%s-%d", prefix, n);
		if (!take(b, key, now, m))
			return n;
	}
	ck_abort_msg("never refused");
	return -1;
}

/* The time an entry at score leaves a window of w seconds, as the limiter
 * computes it: the least t with t - w >= score. */
static double leaves(double score, int w)
{
	double t = score + w, lower;

	while (t - w < score)
		t = nextafter(t, INFINITY);
	while ((lower = nextafter(t, -INFINITY)) - w >= score)
		t = lower;
	return t;
}

START_TEST(twenty_allowed_then_refused)
{
	struct backend b;
	char key[64], m[32];
	double at;
	int i;

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "phone");
	for (i = 0; i < 20; i++) {
		snprintf(m, sizeof(m), "msg-%d", i);
		ck_assert_int_eq(take_at(&b, key, 20, HOUR, T0 + i, m, &at), 1);
		/* A slot stays free until the 20th; then the oldest frees the next. */
		if (i < 19)
			ck_assert_double_eq(at, T0 + i);
		else
			ck_assert_double_eq(at, leaves(T0, HOUR));
	}
	ck_assert_int_eq(take_at(&b, key, 20, HOUR, T0 + 30, "msg-20", &at), 0);
	ck_assert_double_eq(at, leaves(T0, HOUR));
	ck_assert_int_eq(take_at(&b, key, 20, HOUR, T0 + 31, "msg-21", &at), 0);
	/* Just before the oldest leaves: still full. */
	ck_assert_int_eq(take(&b, key, nextafter(at, 0), "msg-22"), 0);
	/* At retry_at exactly the slot is free, and then the next is msg-1's. */
	ck_assert_int_eq(take_at(&b, key, 20, HOUR, at, "msg-23", &at), 1);
	ck_assert_double_eq(at, leaves(T0 + 1, HOUR));
	ck_assert_int_eq(take(&b, key, T0 + HOUR + 0.5, "msg-24"), 0);
	backend_close(&b);
}
END_TEST

START_TEST(the_window_slides)
{
	struct backend b;
	char key[64], m[32];
	double at;
	int i;

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "slide");
	/* 20 entries spread over the hour: T0, T0+180, ..., T0+3420. */
	for (i = 0; i < 20; i++) {
		snprintf(m, sizeof(m), "spread-%d", i);
		ck_assert_int_eq(take(&b, key, T0 + i * 180, m), 1);
	}
	ck_assert_int_eq(take_until_refused(&b, key, T0 + 3421, "full"), 0);
	/* Half a window after the last: cutoff T0+1620 drops entries 0..9. */
	ck_assert_int_eq(take_until_refused(&b, key, T0 + 3420 + HOUR / 2, "half"), 10);
	ck_assert_int_eq(take_at(&b, key, 20, HOUR, T0 + 3420 + HOUR / 2, "half-x", &at), 0);
	ck_assert_double_eq(at, leaves(T0 + 10 * 180, HOUR)); /* entry 10 is now the oldest */
	/* A window after the last take: everything has left, 20 again. */
	ck_assert_int_eq(take_until_refused(&b, key, T0 + 3420 + HOUR / 2 + HOUR, "later"), 20);
	backend_close(&b);
}
END_TEST

START_TEST(same_member_counts_once)
{
	struct backend b;
	char key[64];
	double at;

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "same");
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0, "m1", NULL), 1);
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 1, "m1", NULL), 1); /* a retried job */
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 2, "m2", NULL), 1);
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 3, "m3", &at), 1);
	/* m1 kept its first time: it frees the next slot at T0+60. */
	ck_assert_double_eq(at, leaves(T0, 60));
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 4, "m4", NULL), 0);
	/* Full, but a member already in is still allowed (and not added). */
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 5, "m2", NULL), 1);
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 6, "m4", NULL), 0);
	/* Once m1 has left the window it counts as new again: m2, m3 remain. */
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 60, "m1", NULL), 1);
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 60, "m4", NULL), 0);
	backend_close(&b);
}
END_TEST

START_TEST(a_lowered_limit_waits_for_enough_to_leave)
{
	struct backend b;
	char key[64], m[16];
	double at;
	int i;

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "lowered");
	for (i = 0; i < 5; i++) {
		snprintf(m, sizeof(m), "m%d", i);
		ck_assert_int_eq(take_at(&b, key, 5, 60, T0 + i, m, NULL), 1);
	}
	/* Five in the log, limit now three: three must leave, the third at T0+2. */
	ck_assert_int_eq(take_at(&b, key, 3, 60, T0 + 10, "new", &at), 0);
	ck_assert_double_eq(at, leaves(T0 + 2, 60));
	ck_assert_int_eq(take_at(&b, key, 3, 60, nextafter(at, 0), "new", NULL), 0);
	ck_assert_int_eq(take_at(&b, key, 3, 60, at, "new", NULL), 1);
	backend_close(&b);
}
END_TEST

START_TEST(release_frees_a_slot)
{
	struct backend b;
	char key[64], other[64];

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "release");
	fresh_key(other, sizeof(other), "release-none");
	ck_assert_int_eq(take_until_refused(&b, key, T0, "r"), 20);
	release(&b, key, "r-7");
	ck_assert_int_eq(take(&b, key, T0 + 1, "new-1"), 1);
	ck_assert_int_eq(take(&b, key, T0 + 1, "new-2"), 0);
	/* Releasing what is not there changes nothing. */
	release(&b, key, "r-7");
	release(&b, key, "never-taken");
	release(&b, other, "x");
	ck_assert_int_eq(take(&b, key, T0 + 2, "new-3"), 0);
	/* Releasing the only member leaves an empty log that works as new. */
	release(&b, other, "x");
	ck_assert_int_eq(take_at(&b, other, 1, 60, T0, "only", NULL), 1);
	release(&b, other, "only");
	ck_assert_int_eq(take_at(&b, other, 1, 60, T0, "second", NULL), 1);
	ck_assert_int_eq(take_at(&b, other, 1, 60, T0, "third", NULL), 0);
	backend_close(&b);
}
END_TEST

START_TEST(keys_are_independent)
{
	struct backend b;
	char a[64], c[64];

	backend_open(_i, &b);
	fresh_key(a, sizeof(a), "phone-a");
	fresh_key(c, sizeof(c), "phone-b");
	ck_assert_int_eq(take_until_refused(&b, a, T0, "x"), 20);
	/* The same member names under another key are other events. */
	ck_assert_int_eq(take_until_refused(&b, c, T0, "x"), 20);
	ck_assert_int_eq(take(&b, a, T0 + 1, "y"), 0);
	release(&b, c, "x-0");
	ck_assert_int_eq(take(&b, a, T0 + 1, "y"), 0);
	ck_assert_int_eq(take(&b, c, T0 + 1, "y"), 1);
	backend_close(&b);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	struct backend b;
	char err[256], longkey[RATELIMIT_KEY_MAX + 2];
	double at;
	int allowed;

	backend_open(_i, &b);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
#define TAKE(k, lim, w, now, m)                                                                    \
	ratelimit_take(b.rl, (k), (lim), (w), (now), (m), &allowed, &at, err, sizeof(err))
	ck_assert_int_eq(TAKE("k", 0, 60, T0, "m"), CJ_EINVAL);
	ck_assert_int_eq(allowed, 0);
	ck_assert_int_eq(TAKE("k", RATELIMIT_LIMIT_MAX + 1, 60, T0, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE("k", 20, 0, T0, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE("k", 20, RATELIMIT_WINDOW_MAX + 1, T0, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE("k", 20, 60, NAN, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE("k", 20, 60, INFINITY, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE("", 20, 60, T0, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE(NULL, 20, 60, T0, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE(longkey, 20, 60, T0, "m"), CJ_EINVAL);
	ck_assert_int_eq(TAKE("k", 20, 60, T0, ""), CJ_EINVAL);
	ck_assert_int_eq(TAKE("k", 20, 60, T0, "bad\xff"), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "member"));
	ck_assert_int_eq(ratelimit_release(b.rl, "", "m", err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(ratelimit_release(b.rl, "k", "bad\xff", err, sizeof(err)), CJ_EINVAL);
	/* err may be left out. */
	ck_assert_int_eq(ratelimit_take(b.rl, "k", 0, 60, T0, "m", &allowed, &at, NULL, 0),
	                 CJ_EINVAL);
#undef TAKE
	ratelimit_free(NULL);
	ck_assert_ptr_null(ratelimit_new_redis(NULL));
	backend_close(&b);
}
END_TEST

struct racer {
	pthread_t thread;
	struct backend *b;
	const char *key;
	pthread_barrier_t *start;
	char member[32];
	int rc, allowed;
	char err[256];
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	double at;

	pthread_barrier_wait(r->start);
	r->rc = ratelimit_take(r->b->rl, r->key, 20, HOUR, T0, r->member, &r->allowed, &at, r->err,
	                       sizeof(r->err));
	return NULL;
}

#define RACERS 30
#define ROUNDS 4

START_TEST(thirty_concurrent_takes_twenty_allowed)
{
	struct racer racers[RACERS];
	pthread_barrier_t start;
	struct backend b;
	char key[64];
	int i, round, allowed;

	backend_open(_i, &b);
	for (round = 0; round < ROUNDS; round++) {
		fresh_key(key, sizeof(key), "race");
		ck_assert_int_eq(pthread_barrier_init(&start, NULL, RACERS), 0);
		for (i = 0; i < RACERS; i++) {
			racers[i].b = &b;
			racers[i].key = key;
			racers[i].start = &start;
			racers[i].rc = -1;
			racers[i].allowed = -1;
			snprintf(racers[i].member, sizeof(racers[i].member), "outbox-%d", i);
			ck_assert_int_eq(
			    pthread_create(&racers[i].thread, NULL, racer_main, &racers[i]), 0);
		}
		allowed = 0;
		for (i = 0; i < RACERS; i++) {
			pthread_join(racers[i].thread, NULL);
			ck_assert_msg(racers[i].rc == CJ_OK, "racer %d: %s (%s)", i,
			              cj_strerror(racers[i].rc), racers[i].err);
			allowed += racers[i].allowed;
		}
		pthread_barrier_destroy(&start);
		ck_assert_int_eq(allowed, 20);
		ck_assert_int_eq(take_until_refused(&b, key, T0 + 1, "after"), 0);
	}
	backend_close(&b);
}
END_TEST

/* Sends one raw command through the fixture; returns the answer's JSON. */
static json_t *fixture_command(struct redis_fixture *f, const char *json)
{
	struct httpc_resp h;
	json_t *j;

	ck_assert_int_eq(redis_fixture_command(f, json, &h), 0);
	ck_assert_msg(h.status == 200, "%s: HTTP %ld", json, h.status);
	j = json_incref(json_object_get(h.json, "result"));
	httpc_resp_free(&h);
	ck_assert_ptr_nonnull(j);
	return j;
}

START_TEST(redis_key_scores_and_ttl)
{
	struct backend b;
	char key[64], cmd[256];
	json_t *j;

	backend_open(1, &b);
	fresh_key(key, sizeof(key), "stored");
	ck_assert_int_eq(take(&b, key, T0, "outbox-1"), 1);
	ck_assert_int_eq(take(&b, key, T0 + 1.5, "outbox-2"), 1);
	snprintf(cmd, sizeof(cmd), "[\"ZCARD\",\"catchup:ratelimit:%s\"]", key);
	j = fixture_command(&fx, cmd);
	ck_assert_int_eq(json_integer_value(j), 2);
	json_decref(j);
	snprintf(cmd, sizeof(cmd), "[\"ZSCORE\",\"catchup:ratelimit:%s\",\"outbox-2\"]", key);
	j = fixture_command(&fx, cmd);
	ck_assert_double_eq(strtod(json_string_value(j), NULL), T0 + 1.5);
	json_decref(j);
	snprintf(cmd, sizeof(cmd), "[\"PTTL\",\"catchup:ratelimit:%s\"]", key);
	j = fixture_command(&fx, cmd);
	ck_assert_int_gt(json_integer_value(j), (HOUR - 60) * 1000);
	ck_assert_int_le(json_integer_value(j), HOUR * 1000);
	json_decref(j);
	/* Releasing both leaves no key behind. */
	release(&b, key, "outbox-1");
	release(&b, key, "outbox-2");
	snprintf(cmd, sizeof(cmd), "[\"EXISTS\",\"catchup:ratelimit:%s\"]", key);
	j = fixture_command(&fx, cmd);
	ck_assert_int_eq(json_integer_value(j), 0);
	json_decref(j);
	backend_close(&b);
}
END_TEST

START_TEST(redis_command_error_is_a_config_fault)
{
	struct backend b;
	char key[64], cmd[256], err[256];
	double at;
	int allowed = -1;

	backend_open(1, &b);
	fresh_key(key, sizeof(key), "wrongtype");
	snprintf(cmd, sizeof(cmd), "[\"SET\",\"catchup:ratelimit:%s\",\"x\"]", key);
	json_decref(fixture_command(&fx, cmd));
	ck_assert_int_eq(
	    ratelimit_take(b.rl, key, 20, HOUR, T0, "m", &allowed, &at, err, sizeof(err)),
	    CJ_ECONFIG);
	ck_assert_int_eq(allowed, 0);
	ck_assert_ptr_nonnull(strstr(err, "WRONGTYPE"));
	ck_assert_int_eq(ratelimit_release(b.rl, key, "m", err, sizeof(err)), CJ_ECONFIG);
	backend_close(&b);
}
END_TEST

static void expect_unavailable(struct ratelimit *rl, const char *key)
{
	char err[256];
	double at;
	int allowed = -1;

	ck_assert_int_eq(
	    ratelimit_take(rl, key, 20, HOUR, T0, "m2", &allowed, &at, err, sizeof(err)),
	    CJ_EUNAVAIL);
	ck_assert_int_eq(allowed, 0);
	ck_assert_double_eq(at, T0);
	ck_assert_int_eq(ratelimit_release(rl, key, "m1", err, sizeof(err)), CJ_EUNAVAIL);
}

START_TEST(redis_down_is_unavailable)
{
	struct redis_fixture own;
	struct backend b;

	ck_assert_int_eq(redis_fixture_start(&own), 0);
	b.r = redis_rest_new(own.url, own.token, NULL);
	b.rl = ratelimit_new_redis(b.r);
	ck_assert_ptr_nonnull(b.rl);
	ck_assert_int_eq(take(&b, "down", T0, "m1"), 1);
	/* Redis gone behind the REST server: HTTP 500. */
	redis_fixture_stop_redis(&own);
	expect_unavailable(b.rl, "down");
	/* Back again (empty, the script must be loaded again): works again. */
	ck_assert_int_eq(redis_fixture_start_redis(&own), 0);
	ck_assert_int_eq(take(&b, "down", T0, "m1"), 1);
	/* The REST server itself gone: connection refused. */
	redis_fixture_stop(&own);
	expect_unavailable(b.rl, "down");
	backend_close(&b);
}
END_TEST

START_TEST(memory_keys_are_capped_and_expire)
{
	struct backend b;
	char key[32], err[256];
	double at;
	unsigned i;
	int allowed;

	backend_open(0, &b);
	for (i = 0; i < RATELIMIT_MEM_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		ck_assert_int_eq(take_at(&b, key, 1, 60, T0, "m", NULL), 1);
	}
	/* Full: a new key is refused rather than an old one forgotten... */
	ck_assert_int_eq(
	    ratelimit_take(b.rl, "one-more", 1, 60, T0 + 1, "m", &allowed, &at, err, sizeof(err)),
	    CJ_EUNAVAIL);
	ck_assert_int_eq(allowed, 0);
	/* ...while known keys still answer. */
	ck_assert_int_eq(take_at(&b, "k7", 1, 60, T0 + 1, "m", NULL), 1);
	ck_assert_int_eq(take_at(&b, "k7", 1, 60, T0 + 1, "other", NULL), 0);
	/* Once the window has passed the expired keys make room. */
	ck_assert_int_eq(take_at(&b, "one-more", 1, 60, T0 + 61, "m", NULL), 1);
	backend_close(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *both = tcase_create("both backends");
	TCase *one = tcase_create("one backend");
	int failed;

	if (http_client_global_init() || redis_fixture_start(&fx)) {
		fprintf(stderr, "cannot set up the redis fixture\n");
		return 1;
	}
	tcase_set_timeout(both, 120);
	tcase_set_timeout(one, 120);
	tcase_add_loop_test(both, twenty_allowed_then_refused, 0, 2);
	tcase_add_loop_test(both, the_window_slides, 0, 2);
	tcase_add_loop_test(both, same_member_counts_once, 0, 2);
	tcase_add_loop_test(both, a_lowered_limit_waits_for_enough_to_leave, 0, 2);
	tcase_add_loop_test(both, release_frees_a_slot, 0, 2);
	tcase_add_loop_test(both, keys_are_independent, 0, 2);
	tcase_add_loop_test(both, bad_arguments_are_refused, 0, 2);
	tcase_add_loop_test(both, thirty_concurrent_takes_twenty_allowed, 0, 2);
	tcase_add_test(one, redis_key_scores_and_ttl);
	tcase_add_test(one, redis_command_error_is_a_config_fault);
	tcase_add_test(one, redis_down_is_unavailable);
	tcase_add_test(one, memory_keys_are_capped_and_expire);
	suite_add_tcase(s, both);
	suite_add_tcase(s, one);
	failed = ck_run(s, CK_FORK);
	redis_fixture_stop(&fx);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
