/*
 * test_idempotency.c - the SPEC §8 claim / complete / release protocol, run
 * twice with the same test bodies: once on the in-process store, once on
 * real Redis behind the Upstash-compatible REST fixture. Redis-only cases:
 * the stored key and TTLs, Redis down or unreachable (CJ_EUNAVAIL), a wrong
 * token or a command error (CJ_ECONFIG).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "fixtures.h"
#include "http_client.h"
#include "idempotency.h"
#include "random.h"
#include "redis_rest.h"

#define DAY 86400L

/* Started by main() for the tests that leave Redis running. */
static struct redis_fixture fx;

struct backend {
	struct redis_rest *r;
	struct idem *s;
};

/* Loop index 0: in-process; 1: Redis. */
static void backend_open(int which, struct backend *b)
{
	b->r = NULL;
	if (which == 1) {
		b->r = redis_rest_new(fx.url, fx.token, NULL);
		ck_assert_ptr_nonnull(b->r);
		b->s = idem_new_redis(b->r);
		ck_assert_str_eq(idem_mode(b->s), "upstash");
	} else {
		b->s = idem_new_memory();
		ck_assert_str_eq(idem_mode(b->s), "in-process");
	}
	ck_assert_ptr_nonnull(b->s);
}

static void backend_close(struct backend *b)
{
	idem_free(b->s);
	redis_rest_free(b->r);
}

/* A key no other test (or earlier run against the same Redis) uses. */
static void fresh_key(char *out, size_t outlen, const char *what)
{
	char rnd[17];

	ck_assert_int_eq(random_hex(rnd, sizeof(rnd), 8), CJ_OK);
	snprintf(out, outlen, "%s-%s", what, rnd);
}

static void prepare(struct idem_claim *c, const char *key)
{
	ck_assert_int_eq(idem_prepare(c, "test", key), CJ_OK);
}

static enum idem_state claim(struct backend *b, const struct idem_claim *c, long lease)
{
	enum idem_state st = (enum idem_state) - 1;
	char err[256];
	int rc = idem_claim(b->s, c, lease, &st, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "claim: %s (%s)", cj_strerror(rc), err);
	return st;
}

static int complete(struct backend *b, const struct idem_claim *c, long ttl)
{
	char err[256];
	int lost = -1, rc = idem_complete(b->s, c, ttl, &lost, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "complete: %s (%s)", cj_strerror(rc), err);
	return lost;
}

static int release(struct backend *b, const struct idem_claim *c)
{
	char err[256];
	int lost = -1, rc = idem_release(b->s, c, &lost, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "release: %s (%s)", cj_strerror(rc), err);
	return lost;
}

/* Claims c until it is ours (the key expired); bounded at 15 s. */
static void claim_when_expired(struct backend *b, const struct idem_claim *c)
{
	int waited;

	for (waited = 0; waited < 15000; waited += 100) {
		if (claim(b, c, 60) == IDEM_CLAIMED)
			return;
		msleep(100);
	}
	ck_abort_msg("the key never expired");
}

START_TEST(prepare_builds_key_and_value)
{
	struct idem_claim a, b;
	char longkey[1100];
	const char *inst = idem_instance_id();
	char want[64];

	ck_assert_uint_eq(strlen(inst), 16);
	ck_assert_ptr_eq(idem_instance_id(), inst);
	ck_assert_int_eq(idem_prepare(&a, "token-refresh", "q/task-1"), CJ_OK);
	ck_assert_str_eq(a.key, "catchup:idem:token-refresh:q/task-1");
	snprintf(want, sizeof(want), "running:%s:", inst);
	ck_assert_int_eq(strncmp(a.value, want, strlen(want)), 0);
	ck_assert_uint_eq(strlen(a.value), strlen(want) + 16);
	ck_assert_int_eq(idem_prepare(&b, "token-refresh", "q/task-1"), CJ_OK);
	ck_assert_str_eq(a.key, b.key);
	ck_assert_str_ne(a.value, b.value); /* fresh nonce */
	ck_assert_int_eq(idem_prepare(&a, "t", "caf\xc3\xa9"), CJ_OK);

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	ck_assert_int_eq(idem_prepare(&a, "t", longkey), CJ_EINVAL);
	ck_assert_int_eq(idem_prepare(&a, "t", "bad\xff"), CJ_EINVAL);
	ck_assert_int_eq(idem_prepare(&a, "", "k"), CJ_EINVAL);
	ck_assert_int_eq(idem_prepare(&a, "t", ""), CJ_EINVAL);
}
END_TEST

START_TEST(claim_complete_release_state_machine)
{
	struct backend b;
	struct idem_claim a, other, c, d;
	char key[64], key2[64];

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "sm");
	prepare(&a, key);
	prepare(&other, key);
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_CLAIMED);
	ck_assert_int_eq(claim(&b, &other, 60), IDEM_IN_PROGRESS);
	/* Our own claim read back (a network retry of a claim that landed). */
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_CLAIMED);
	ck_assert_int_eq(complete(&b, &a, DAY), 0);
	ck_assert_int_eq(claim(&b, &other, 60), IDEM_DUPLICATE);
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_DUPLICATE);
	/* Completed keys are not ours to release. */
	ck_assert_int_eq(release(&b, &a), 1);
	ck_assert_int_eq(claim(&b, &other, 60), IDEM_DUPLICATE);

	fresh_key(key2, sizeof(key2), "rel");
	prepare(&c, key2);
	prepare(&d, key2);
	ck_assert_int_eq(claim(&b, &c, 60), IDEM_CLAIMED);
	ck_assert_int_eq(release(&b, &c), 0);
	ck_assert_int_eq(claim(&b, &d, 60), IDEM_CLAIMED);
	ck_assert_int_eq(claim(&b, &c, 60), IDEM_IN_PROGRESS);
	/* Neither a release nor a complete by a stranger touches the key. */
	ck_assert_int_eq(release(&b, &c), 1);
	ck_assert_int_eq(complete(&b, &c, DAY), 1);
	ck_assert_int_eq(claim(&b, &d, 60), IDEM_CLAIMED);
	backend_close(&b);
}
END_TEST

START_TEST(lost_claim_leaves_the_new_holder_alone)
{
	struct backend b;
	struct idem_claim a, other;
	char key[64];

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "lost");
	prepare(&a, key);
	prepare(&other, key);
	ck_assert_int_eq(claim(&b, &a, 1), IDEM_CLAIMED);
	/* The lease runs out; another delivery takes the key. */
	claim_when_expired(&b, &other);
	ck_assert_int_eq(complete(&b, &a, DAY), 1);
	ck_assert_int_eq(claim(&b, &other, 60), IDEM_CLAIMED);
	ck_assert_int_eq(release(&b, &a), 1);
	ck_assert_int_eq(claim(&b, &other, 60), IDEM_CLAIMED);
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_IN_PROGRESS);
	ck_assert_int_eq(complete(&b, &other, DAY), 0);
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_DUPLICATE);
	backend_close(&b);
}
END_TEST

START_TEST(done_keys_expire_after_their_ttl)
{
	struct backend b;
	struct idem_claim a, later;
	char key[64];

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "ttl");
	prepare(&a, key);
	prepare(&later, key);
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_CLAIMED);
	ck_assert_int_eq(complete(&b, &a, 1), 0);
	claim_when_expired(&b, &later);
	backend_close(&b);
}
END_TEST

struct racer {
	struct backend *b;
	const char *key;
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

	r->rc = idem_prepare(&c, "test", r->key);
	pthread_barrier_wait(r->start);
	if (!r->rc)
		r->rc = idem_claim(r->b->s, &c, 60, &r->state, err, sizeof(err));
	return NULL;
}

#define RACERS 50

START_TEST(fifty_concurrent_claims_one_winner)
{
	struct racer racers[RACERS];
	pthread_barrier_t start;
	struct backend b;
	char key[64];
	int i, claimed = 0, in_progress = 0;

	backend_open(_i, &b);
	fresh_key(key, sizeof(key), "race");
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, RACERS), 0);
	for (i = 0; i < RACERS; i++) {
		racers[i].b = &b;
		racers[i].key = key;
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
	backend_close(&b);
}
END_TEST

START_TEST(ping_answers)
{
	struct backend b;
	int64_t latency = -1;
	char err[256];

	backend_open(_i, &b);
	ck_assert_int_eq(idem_ping(b.s, &latency, err, sizeof(err)), CJ_OK);
	ck_assert_int_ge(latency, 0);
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

START_TEST(redis_key_value_and_ttls)
{
	struct backend b;
	struct idem_claim a;
	char key[64], cmd[700];
	json_t *j;

	backend_open(1, &b);
	fresh_key(key, sizeof(key), "stored");
	prepare(&a, key);
	ck_assert_int_eq(claim(&b, &a, 120), IDEM_CLAIMED);
	snprintf(cmd, sizeof(cmd), "[\"GET\",\"%s\"]", a.key);
	j = fixture_command(&fx, cmd);
	ck_assert_str_eq(json_string_value(j), a.value);
	json_decref(j);
	snprintf(cmd, sizeof(cmd), "[\"PTTL\",\"%s\"]", a.key);
	j = fixture_command(&fx, cmd);
	ck_assert_int_gt(json_integer_value(j), 0);
	ck_assert_int_le(json_integer_value(j), 120000);
	json_decref(j);

	ck_assert_int_eq(complete(&b, &a, DAY), 0);
	snprintf(cmd, sizeof(cmd), "[\"GET\",\"%s\"]", a.key);
	j = fixture_command(&fx, cmd);
	ck_assert_int_eq(strncmp(json_string_value(j), "done:", 5), 0);
	json_decref(j);
	snprintf(cmd, sizeof(cmd), "[\"PTTL\",\"%s\"]", a.key);
	j = fixture_command(&fx, cmd);
	/* The done TTL replaced the lease. */
	ck_assert_int_gt(json_integer_value(j), 120000);
	ck_assert_int_le(json_integer_value(j), DAY * 1000);
	json_decref(j);
	backend_close(&b);
}
END_TEST

START_TEST(redis_command_errors_are_config_faults)
{
	struct backend b;
	struct idem_claim a, w;
	enum idem_state st;
	char key[64], cmd[700], err[256];
	int lost;
	json_t *j;

	backend_open(1, &b);
	/* A key of the wrong type: GET inside the script fails (WRONGTYPE). */
	fresh_key(key, sizeof(key), "wrongtype");
	prepare(&a, key);
	snprintf(cmd, sizeof(cmd), "[\"LPUSH\",\"%s\",\"x\"]", a.key);
	json_decref(fixture_command(&fx, cmd));
	ck_assert_int_eq(idem_claim(b.s, &a, 60, &st, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "WRONGTYPE"));
	ck_assert_int_eq(idem_complete(b.s, &a, DAY, &lost, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(idem_release(b.s, &a, &lost, err, sizeof(err)), CJ_ECONFIG);
	/* A value this protocol never writes. */
	fresh_key(key, sizeof(key), "foreign");
	prepare(&w, key);
	snprintf(cmd, sizeof(cmd), "[\"SET\",\"%s\",\"something else\"]", w.key);
	j = fixture_command(&fx, cmd);
	json_decref(j);
	ck_assert_int_eq(idem_claim(b.s, &w, 60, &st, err, sizeof(err)), CJ_ECONFIG);
	backend_close(&b);
}
END_TEST

START_TEST(redis_wrong_token_is_a_config_fault)
{
	struct redis_rest *r = redis_rest_new(fx.url, "wrong-token", NULL);
	struct idem *s = idem_new_redis(r);
	struct idem_claim a;
	enum idem_state st;
	int64_t latency;
	char err[256];
	int lost;

	ck_assert_ptr_nonnull(s);
	prepare(&a, "wrong-token");
	ck_assert_int_eq(idem_claim(s, &a, 60, &st, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "401"));
	ck_assert_int_eq(idem_complete(s, &a, DAY, &lost, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(idem_release(s, &a, &lost, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(idem_ping(s, &latency, err, sizeof(err)), CJ_ECONFIG);
	idem_free(s);
	redis_rest_free(r);
}
END_TEST

static void expect_all_unavailable(struct idem *s, const struct idem_claim *a)
{
	enum idem_state st;
	int64_t latency;
	char err[256];
	int lost;

	ck_assert_int_eq(idem_claim(s, a, 60, &st, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(idem_complete(s, a, DAY, &lost, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(idem_release(s, a, &lost, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(idem_ping(s, &latency, err, sizeof(err)), CJ_EUNAVAIL);
}

START_TEST(redis_down_is_unavailable)
{
	struct redis_fixture own;
	struct backend b;
	struct idem_claim a;

	ck_assert_int_eq(redis_fixture_start(&own), 0);
	b.r = redis_rest_new(own.url, own.token, NULL);
	b.s = idem_new_redis(b.r);
	ck_assert_ptr_nonnull(b.s);
	prepare(&a, "down");
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_CLAIMED);
	/* Redis gone behind the REST server: HTTP 500. */
	redis_fixture_stop_redis(&own);
	expect_all_unavailable(b.s, &a);
	/* Back again (empty): the claim works again. */
	ck_assert_int_eq(redis_fixture_start_redis(&own), 0);
	ck_assert_int_eq(claim(&b, &a, 60), IDEM_CLAIMED);
	/* The REST server itself gone: connection refused. */
	redis_fixture_stop(&own);
	expect_all_unavailable(b.s, &a);
	backend_close(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("idempotency");
	TCase *both = tcase_create("both backends");
	TCase *redis = tcase_create("redis");
	int failed;

	if (http_client_global_init() || redis_fixture_start(&fx)) {
		fprintf(stderr, "cannot set up the redis fixture\n");
		return 1;
	}
	tcase_set_timeout(both, 120);
	tcase_set_timeout(redis, 120);
	tcase_add_test(both, prepare_builds_key_and_value);
	tcase_add_loop_test(both, claim_complete_release_state_machine, 0, 2);
	tcase_add_loop_test(both, lost_claim_leaves_the_new_holder_alone, 0, 2);
	tcase_add_loop_test(both, done_keys_expire_after_their_ttl, 0, 2);
	tcase_add_loop_test(both, fifty_concurrent_claims_one_winner, 0, 2);
	tcase_add_loop_test(both, ping_answers, 0, 2);
	tcase_add_test(redis, redis_key_value_and_ttls);
	tcase_add_test(redis, redis_command_errors_are_config_faults);
	tcase_add_test(redis, redis_wrong_token_is_a_config_fault);
	tcase_add_test(redis, redis_down_is_unavailable);
	suite_add_tcase(s, both);
	suite_add_tcase(s, redis);
	failed = ck_run(s, CK_FORK);
	redis_fixture_stop(&fx);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
