/*
 * test_jwks.c - unit tests for src/jwks.c against a real HTTP server on
 * loopback (tests/support/jwks_server.c): fetching, Cache-Control max-age,
 * staleness by age and the background refetch it starts (without making the
 * lookup wait), the unknown-kid refetch limit, rotation, failures keeping
 * the old keys, static keys, unusable keys skipped, and single-flight
 * fetching.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "http_client.h"
#include "jwks.h"
#include "jwks_server.h"
#include "log.h"
#include "proc.h"
#include "timeutil.h"
#include "tokens.h"

/* Made once in main(), before check forks for each test. */
static struct test_key *key_a, *key_b, *key_small;

/* Each test's server and cache (created in the forked test process). */
static struct jwks_server *srv;
static struct jwks *jw;

static void setup(void)
{
	srv = jwks_server_start();
	ck_assert_ptr_nonnull(srv);
	jw = jwks_new(jwks_server_url(srv));
	ck_assert_ptr_nonnull(jw);
}

static void teardown(void)
{
	jwks_free(jw);
	jwks_server_stop(srv);
}

/* Serves the given keys with max_age and status 200. */
static void serve(const struct test_key *k1, const struct test_key *k2, int max_age)
{
	const struct test_key *keys[2] = {k1, k2};
	char *body = test_jwks_json(keys, k2 ? 2 : 1);

	ck_assert_ptr_nonnull(body);
	jwks_server_set(srv, body, max_age, 200);
	free(body);
}

/* Asserts that kid resolves to want's public key. */
static void assert_key(const char *kid, const struct test_key *want)
{
	int never = -1;
	EVP_PKEY *got = jwks_get(jw, kid, &never);

	ck_assert_msg(got != NULL, "kid %s not found", kid);
	ck_assert_int_eq(never, 0);
	ck_assert_int_eq(EVP_PKEY_eq(got, want->pkey), 1);
	EVP_PKEY_free(got);
}

static void assert_no_key(const char *kid, int want_never_loaded)
{
	int never = -1;
	EVP_PKEY *got = jwks_get(jw, kid, &never);

	ck_assert_ptr_null(got);
	ck_assert_int_eq(never, want_never_loaded);
}

static void refresh_ok(void)
{
	char err[256];

	ck_assert_int_eq(jwks_refresh(jw, err, sizeof(err)), CJ_OK);
}

START_TEST(fetch_and_lookup)
{
	struct jwks_status st;

	serve(key_a, key_b, 3600);
	refresh_ok();
	ck_assert_int_eq(jwks_server_fetches(srv), 1);
	assert_key("a", key_a);
	assert_key("b", key_b);
	ck_assert_int_eq(jwks_server_fetches(srv), 1);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.keys, 2);
	ck_assert_int_eq(st.loaded, 1);
	ck_assert_int_eq(st.stale, 0);
	ck_assert_int_ge(st.age_seconds, 0);
}
END_TEST

START_TEST(max_age_parsing)
{
	ck_assert_int_eq(jwks_parse_max_age(NULL), 300);
	ck_assert_int_eq(jwks_parse_max_age(""), 300);
	ck_assert_int_eq(jwks_parse_max_age("public, max-age=19653, must-revalidate, no-transform"),
	                 19653);
	ck_assert_int_eq(jwks_parse_max_age("max-age=0"), 0);
	ck_assert_int_eq(jwks_parse_max_age("Max-Age = 120"), 120);
	ck_assert_int_eq(jwks_parse_max_age("max-age=\"60\""), 60);
	ck_assert_int_eq(jwks_parse_max_age("max-age=99999999999999999999999"), 86400);
	ck_assert_int_eq(jwks_parse_max_age("max-age=172800"), 86400);
	ck_assert_int_eq(jwks_parse_max_age("max-age=abc"), 300);
	ck_assert_int_eq(jwks_parse_max_age("max-age=10x"), 300);
	ck_assert_int_eq(jwks_parse_max_age("max-age="), 300);
	ck_assert_int_eq(jwks_parse_max_age("s-maxage=100"), 300);
	ck_assert_int_eq(jwks_parse_max_age("private,max-age=45"), 45);
	ck_assert_int_eq(jwks_parse_max_age("max-age=100, no-cache"), 0);
	ck_assert_int_eq(jwks_parse_max_age("no-store"), 0);
}
END_TEST

START_TEST(refetch_after_max_age)
{
	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, NULL, 0);
	refresh_ok();
	/* max-age 0: the set is past its age at once, so a lookup refetches
	 * (in the background). */
	assert_key("a", key_a);
	jwks_wait_idle(jw);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
	serve(key_a, NULL, 3600);
	assert_key("a", key_a);
	jwks_wait_idle(jw);
	ck_assert_int_eq(jwks_server_fetches(srv), 3);
	/* Now fresh for an hour: no more fetches. */
	assert_key("a", key_a);
	assert_key("a", key_a);
	ck_assert_int_eq(jwks_server_fetches(srv), 3);
}
END_TEST

START_TEST(default_max_age_when_header_absent)
{
	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, NULL, -1);
	refresh_ok();
	assert_key("a", key_a);
	ck_assert_int_eq(jwks_server_fetches(srv), 1);
}
END_TEST

START_TEST(unknown_kid_refetch_rate_limited)
{
	serve(key_a, NULL, 3600);
	refresh_ok();
	/* The last fetch was under 30 s ago: no refetch for an unknown kid. */
	assert_no_key("nope", 0);
	assert_no_key("nope", 0);
	ck_assert_int_eq(jwks_server_fetches(srv), 1);
	jwks_set_min_refetch_interval(jw, 0);
	assert_no_key("nope", 0);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
	jwks_set_min_refetch_interval(jw, 30000);
	assert_no_key("nope", 0);
	assert_no_key("other", 0);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
	assert_key("a", key_a);
}
END_TEST

START_TEST(rotation_new_kid_found_after_refetch)
{
	serve(key_a, NULL, 3600);
	refresh_ok();
	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, key_b, 3600);
	assert_key("b", key_b);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
	assert_key("a", key_a);
	/* Google drops the old key later: it is gone after the next fetch. */
	serve(key_b, NULL, 0);
	refresh_ok();
	assert_no_key("a", 0);
	assert_key("b", key_b);
}
END_TEST

START_TEST(failed_refetch_keeps_old_keys_and_reports_stale)
{
	struct jwks_status st;
	char err[256] = "";

	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, NULL, 0);
	refresh_ok();
	jwks_server_set(srv, "{\"error\":\"backend\"}", -1, 500);
	assert_key("a", key_a);
	jwks_wait_idle(jw);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 1);
	ck_assert_int_eq(st.loaded, 1);
	ck_assert_int_eq(st.keys, 1);
	ck_assert_int_eq(jwks_refresh(jw, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(err, "500"));
	/* A set with no usable key is a failure too, and keeps the old one. */
	jwks_server_set(srv, "{\"keys\":[]}", 3600, 200);
	ck_assert_int_eq(jwks_refresh(jw, err, sizeof(err)), CJ_EUPSTREAM);
	jwks_server_set(srv, "<html>", 3600, 200);
	ck_assert_int_eq(jwks_refresh(jw, err, sizeof(err)), CJ_EUPSTREAM);
	assert_key("a", key_a);
	jwks_wait_idle(jw); /* the refetch that lookup started fails too */
	serve(key_a, NULL, 3600);
	assert_key("a", key_a);
	jwks_wait_idle(jw);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 0);
}
END_TEST

/* Stale is judged by age alone: a set past its max-age is stale at once,
 * before any refetch was tried (here the 30 s refetch limit holds it back),
 * and still serves. */
START_TEST(stale_by_age_alone)
{
	struct jwks_status st;

	serve(key_a, NULL, 1);
	refresh_ok();
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 0);
	msleep(1100);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 1);
	ck_assert_int_eq(st.loaded, 1);
	assert_key("a", key_a);
	jwks_wait_idle(jw);
	ck_assert_int_eq(jwks_server_fetches(srv), 1);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 1);
}
END_TEST

/* The lookup that finds a set past its max-age gets its key at once; the
 * refetch runs in the background and makes the set fresh again. */
START_TEST(background_refetch_does_not_block_the_lookup)
{
	struct jwks_status st;
	int64_t start;

	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, NULL, 0);
	refresh_ok();
	serve(key_a, key_b, 3600);
	jwks_server_set_delay(srv, 1000);
	start = time_mono_ms();
	assert_key("a", key_a);
	ck_assert_int_lt(time_mono_ms() - start, 500);
	/* In flight: still stale, still serving, not fetched a second time. */
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 1);
	assert_key("a", key_a);
	jwks_wait_idle(jw);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 0);
	ck_assert_int_eq(st.keys, 2);
	assert_key("b", key_b);
}
END_TEST

/* The status query alone starts the background refetch: a failing one keeps
 * the old keys serving and the set stale; a later one that works makes it
 * fresh. */
START_TEST(status_starts_background_refetch)
{
	struct jwks_status st;

	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, NULL, 0);
	refresh_ok();
	jwks_server_set(srv, "down", -1, 503);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 1);
	jwks_wait_idle(jw);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 1);
	ck_assert_int_eq(st.keys, 1);
	assert_key("a", key_a);
	jwks_wait_idle(jw);
	serve(key_a, NULL, 3600);
	jwks_status(jw, &st);
	jwks_wait_idle(jw);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.stale, 0);
}
END_TEST

/* Freeing the cache while a background refetch waits on a slow server does
 * not wait for the fetch's timeout. */
START_TEST(free_cancels_a_background_refetch)
{
	int64_t start;

	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, NULL, 0);
	refresh_ok();
	jwks_server_set_delay(srv, 4000);
	assert_key("a", key_a);
	msleep(200);
	start = time_mono_ms();
	jwks_free(jw);
	jw = NULL;
	ck_assert_int_lt(time_mono_ms() - start, 2500);
}
END_TEST

/* The first fetch runs in the background: start returns at once, a lookup
 * meanwhile waits for it, and a first fetch that failed is retried by the
 * readiness query alone. */
START_TEST(start_fetches_in_the_background)
{
	struct jwks_status st;
	int64_t start;

	serve(key_a, NULL, 3600);
	jwks_server_set_delay(srv, 1500);
	start = time_mono_ms();
	ck_assert_int_eq(jwks_start(jw), CJ_OK);
	ck_assert_int_lt(time_mono_ms() - start, 300);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.loaded, 0);
	assert_key("a", key_a);
	ck_assert_int_ge(time_mono_ms() - start, 1000);
	ck_assert_int_eq(jwks_server_fetches(srv), 1);

	/* A failed first fetch: the status query retries it after 1 s. */
	jwks_free(jw);
	jw = jwks_new(jwks_server_url(srv));
	ck_assert_ptr_nonnull(jw);
	jwks_server_set_delay(srv, 0);
	jwks_server_set(srv, "down", -1, 503);
	ck_assert_int_eq(jwks_start(jw), CJ_OK);
	jwks_wait_idle(jw);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.loaded, 0);
	serve(key_a, NULL, 3600);
	msleep(1100);
	jwks_status(jw, &st);
	jwks_wait_idle(jw);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.loaded, 1);
	assert_key("a", key_a);
}
END_TEST

START_TEST(never_loaded_is_reported)
{
	struct jwks_status st;
	struct jwks *down;
	char err[256];

	jwks_server_set(srv, "oops", -1, 500);
	assert_no_key("a", 1);
	ck_assert_int_eq(jwks_server_fetches(srv), 1);
	jwks_status(jw, &st);
	ck_assert_int_eq(st.loaded, 0);
	ck_assert_int_eq(st.keys, 0);
	ck_assert_int_eq(st.age_seconds, -1);
	ck_assert_int_eq(jwks_refresh(jw, err, sizeof(err)), CJ_EUNAVAIL);
	/* Nothing listening at all. */
	down = jwks_new("http://127.0.0.1:1/certs");
	ck_assert_ptr_nonnull(down);
	ck_assert_int_eq(jwks_refresh(down, err, sizeof(err)), CJ_EUNAVAIL);
	jwks_free(down);
}
END_TEST

START_TEST(unusable_keys_are_skipped)
{
	json_t *keys = json_array(), *bad;
	char *body;
	struct jwks_status st;

	json_array_append_new(
	    keys,
	    json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "kid", "ec", "x", "AAAA", "y", "AAAA"));
	bad = test_key_jwk(key_a);
	json_object_del(bad, "kid");
	json_array_append_new(keys, bad);
	json_array_append_new(keys, test_key_jwk(key_small));
	json_array_append_new(keys, test_key_jwk(key_a));
	bad = test_key_jwk(key_b);
	json_object_set_new(bad, "kid", json_string("a")); /* a second "a" */
	json_array_append_new(keys, bad);
	json_array_append_new(keys, json_string("not a key"));
	body = json_dumps(keys, JSON_COMPACT);
	json_decref(keys);
	ck_assert_ptr_nonnull(body);
	{
		char *wrapped = NULL;

		ck_assert_int_ge(asprintf(&wrapped, "{\"keys\":%s}", body), 0);
		jwks_server_set(srv, wrapped, 3600, 200);
		free(wrapped);
	}
	free(body);
	refresh_ok();
	jwks_status(jw, &st);
	ck_assert_int_eq(st.keys, 1);
	assert_key("a", key_a);
	assert_no_key("ec", 0);
	assert_no_key("small", 0);
}
END_TEST

START_TEST(static_keys_always_trusted)
{
	struct jwks *local = jwks_new(NULL);
	struct jwks_status st;
	EVP_PKEY *got;
	int never = -1;

	ck_assert_ptr_nonnull(local);
	ck_assert_int_eq(jwks_add_static(local, "local", key_a->pkey), CJ_OK);
	ck_assert_int_eq(jwks_add_static(local, "local", key_b->pkey), CJ_EEXISTS);
	ck_assert_int_eq(jwks_add_static(local, "small", key_small->pkey), CJ_EINVAL);
	ck_assert_int_eq(jwks_add_static(local, "", key_b->pkey), CJ_EINVAL);
	got = jwks_get(local, "local", &never);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(EVP_PKEY_eq(got, key_a->pkey), 1);
	EVP_PKEY_free(got);
	ck_assert_ptr_null(jwks_get(local, "other", &never));
	ck_assert_int_eq(never, 0);
	jwks_status(local, &st);
	ck_assert_int_eq(st.loaded, 1);
	ck_assert_int_eq(st.keys, 1);
	jwks_free(local);

	/* Alongside a JWKS URL that is down: the static key serves, no fetch. */
	jwks_server_set(srv, "down", -1, 503);
	ck_assert_int_eq(jwks_add_static(jw, "local", key_b->pkey), CJ_OK);
	assert_key("local", key_b);
	ck_assert_int_eq(jwks_server_fetches(srv), 0);
}
END_TEST

struct lookup_arg {
	const char *kid;
	EVP_PKEY *got;
};

static void *lookup_thread(void *p)
{
	struct lookup_arg *a = p;
	int never;

	a->got = jwks_get(jw, a->kid, &never);
	return NULL;
}

/* Runs 8 concurrent lookups of kid; all must find want. */
static void concurrent_lookups(const char *kid, const struct test_key *want)
{
	pthread_t th[8];
	struct lookup_arg args[8];

	for (int i = 0; i < 8; i++) {
		args[i].kid = kid;
		args[i].got = NULL;
		ck_assert_int_eq(pthread_create(&th[i], NULL, lookup_thread, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_ptr_nonnull(args[i].got);
		ck_assert_int_eq(EVP_PKEY_eq(args[i].got, want->pkey), 1);
		EVP_PKEY_free(args[i].got);
	}
}

START_TEST(single_flight_first_load)
{
	/* Nothing loaded yet: one thread fetches, the others wait for it. */
	serve(key_a, NULL, 3600);
	jwks_server_set_delay(srv, 300);
	concurrent_lookups("a", key_a);
	ck_assert_int_eq(jwks_server_fetches(srv), 1);
}
END_TEST

START_TEST(single_flight_refetch)
{
	/* A set past its max-age: one refetch, however many lookups. */
	serve(key_a, NULL, 0);
	refresh_ok();
	jwks_set_min_refetch_interval(jw, 0);
	serve(key_a, NULL, 3600);
	jwks_server_set_delay(srv, 300);
	concurrent_lookups("a", key_a);
	jwks_wait_idle(jw);
	ck_assert_int_eq(jwks_server_fetches(srv), 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jwks");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init())
		return 1;
	log_init(L_ERROR, "test");
	key_a = test_key_new("a", 2048);
	key_b = test_key_new("b", 2048);
	key_small = test_key_new("small", 1024);
	if (!key_a || !key_b || !key_small)
		return 1;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fetch_and_lookup);
	tcase_add_test(tc, max_age_parsing);
	tcase_add_test(tc, refetch_after_max_age);
	tcase_add_test(tc, default_max_age_when_header_absent);
	tcase_add_test(tc, unknown_kid_refetch_rate_limited);
	tcase_add_test(tc, rotation_new_kid_found_after_refetch);
	tcase_add_test(tc, failed_refetch_keeps_old_keys_and_reports_stale);
	tcase_add_test(tc, stale_by_age_alone);
	tcase_add_test(tc, background_refetch_does_not_block_the_lookup);
	tcase_add_test(tc, status_starts_background_refetch);
	tcase_add_test(tc, free_cancels_a_background_refetch);
	tcase_add_test(tc, never_loaded_is_reported);
	tcase_add_test(tc, unusable_keys_are_skipped);
	tcase_add_test(tc, static_keys_always_trusted);
	tcase_add_test(tc, single_flight_first_load);
	tcase_add_test(tc, single_flight_refetch);
	tcase_add_test(tc, start_fetches_in_the_background);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	test_key_free(key_a);
	test_key_free(key_b);
	test_key_free(key_small);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
