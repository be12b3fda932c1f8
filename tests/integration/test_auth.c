/*
 * test_auth.c - SPEC §6 against the real binary: every bad-token variant is
 * answered 401 or 403 as the spec splits them, valid tokens from either
 * published key pass, a rotated-in key is picked up, no keys means 503 in
 * cloud mode (local mode always has its own key), failures are counted by
 * reason, and tokens never reach the log.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "itest.h"
#include "timeutil.h"

static struct itest W;
static struct cj_server S;

static long push_status(const char *token, const char *authz_override)
{
	struct httpc_resp r;
	char url[128], auth[20000], task[64], tn[600];
	const char *h[] = {auth, "X-CloudTasks-QueueName: ping-queue", tn, NULL};
	long status;

	snprintf(url, sizeof(url), "%s/jobs/ping", S.base);
	snprintf(tn, sizeof(tn), "X-CloudTasks-TaskName: %s", itest_task_id(task, sizeof(task)));
	if (authz_override)
		snprintf(auth, sizeof(auth), "Authorization: %s", authz_override);
	else
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	if (httpc_request("POST", url, h, "{}", 2, 10000, &r))
		return -1;
	status = r.status;
	if (status == 401)
		ck_assert_str_eq(httpc_json_str(&r, "error"), "unauthenticated");
	if (status == 403)
		ck_assert_str_eq(httpc_json_str(&r, "error"), "forbidden");
	httpc_resp_free(&r);
	return status;
}

static json_t *claims(int64_t iat, int64_t exp)
{
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I}", "iss", "https://accounts.google.com", "aud",
	    ITEST_AUDIENCE, "azp", "104817265939473619425", "sub", "104817265939473619425", "email",
	    ITEST_TASKS_EMAIL, "email_verified", 1, "iat", (json_int_t)iat, "exp", (json_int_t)exp);
}

static long status_of_claims(json_t *c)
{
	char *tok = test_token_mint(W.keys[0], NULL, c);
	long st;

	ck_assert_ptr_nonnull(tok);
	st = push_status(tok, NULL);
	free(tok);
	json_decref(c);
	return st;
}

static long status_of_header(json_t *h)
{
	int64_t now = time_wall_s();
	json_t *c = claims(now, now + 3600);
	char *tok = test_token_mint(W.keys[0], h, c);
	long st;

	ck_assert_ptr_nonnull(tok);
	st = push_status(tok, NULL);
	free(tok);
	json_decref(c);
	json_decref(h);
	return st;
}

START_TEST(valid_tokens_from_both_keys_pass)
{
	char *t0 = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_TASKS_EMAIL);
	char *t1 = itest_token_for(&W, 1, ITEST_AUDIENCE, ITEST_TASKS_EMAIL);

	ck_assert_int_eq(push_status(t0, NULL), 200);
	ck_assert_int_eq(push_status(t1, NULL), 200);
	/* Verified again (from the cache): still fine. */
	ck_assert_int_eq(push_status(t0, NULL), 200);
	free(t0);
	free(t1);
}
END_TEST

START_TEST(time_rules)
{
	int64_t now = time_wall_s();
	json_t *c;

	ck_assert_int_eq(status_of_claims(claims(now - 7200, now - 301)), 401); /* expired */
	ck_assert_int_eq(status_of_claims(claims(now - 3600, now - 200)), 200); /* within skew */
	ck_assert_int_eq(status_of_claims(claims(now + 400, now + 3600)), 401); /* iat future */
	ck_assert_int_eq(status_of_claims(claims(now, now + 86401)), 401); /* lifetime */
	c = claims(now, now + 3600);
	json_object_set_new(c, "exp", json_string("9999999999"));
	ck_assert_int_eq(status_of_claims(c), 401);
	c = claims(now, now + 3600);
	json_object_set_new(c, "iat", json_real((double)now));
	ck_assert_int_eq(status_of_claims(c), 401);
}
END_TEST

START_TEST(identity_rules)
{
	int64_t now = time_wall_s();
	json_t *c;

	c = claims(now, now + 3600);
	json_object_set_new(c, "iss", json_string("https://evil.example.com"));
	ck_assert_int_eq(status_of_claims(c), 401);
	c = claims(now, now + 3600);
	json_object_set_new(c, "iss", json_string("accounts.google.com"));
	ck_assert_int_eq(status_of_claims(c), 200);
	c = claims(now, now + 3600);
	json_object_set_new(c, "aud", json_string("https://other.a.run.app"));
	ck_assert_int_eq(status_of_claims(c), 403);
	c = claims(now, now + 3600);
	json_object_set_new(c, "email", json_string("someone@example.com"));
	ck_assert_int_eq(status_of_claims(c), 403);
	c = claims(now, now + 3600);
	json_object_set_new(c, "email_verified", json_false());
	ck_assert_int_eq(status_of_claims(c), 403);
	/* Only the JSON boolean true: a string is a mistyped claim. */
	c = claims(now, now + 3600);
	json_object_set_new(c, "email_verified", json_string("true"));
	ck_assert_int_eq(status_of_claims(c), 403);
	c = claims(now, now + 3600);
	json_object_del(c, "email_verified");
	ck_assert_int_eq(status_of_claims(c), 403);
	/* The enqueue identity is not a push identity. */
	c = claims(now, now + 3600);
	json_object_set_new(c, "email", json_string(ITEST_ENQUEUE_EMAIL));
	ck_assert_int_eq(status_of_claims(c), 403);
}
END_TEST

START_TEST(header_rules)
{
	ck_assert_int_eq(
	    status_of_header(json_pack("{s:s, s:s}", "alg", "RS512", "kid", "key-one")), 401);
	ck_assert_int_eq(
	    status_of_header(json_pack("{s:s, s:s}", "alg", "rs256", "kid", "key-one")), 401);
	ck_assert_int_eq(status_of_header(json_pack("{s:s, s:s}", "alg", "RS256", "kid", "nope")),
	                 401);
	ck_assert_int_eq(status_of_header(json_pack("{s:s}", "alg", "RS256")), 401);
	ck_assert_int_eq(status_of_header(json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid",
	                                            "key-one", "jku", "https://evil.example/k")),
	                 401);
	ck_assert_int_eq(status_of_header(json_pack("{s:s, s:s, s:[s]}", "alg", "RS256", "kid",
	                                            "key-one", "crit", "exp")),
	                 401);
	ck_assert_int_eq(status_of_header(json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid",
	                                            "key-one", "x5u", "https://evil.example/c")),
	                 401);
}
END_TEST

START_TEST(forged_tokens)
{
	int64_t now = time_wall_s();
	json_t *c = claims(now, now + 3600);
	char *tok, *none, *hs;
	size_t n;

	none = test_token_alg_none(W.keys[0], c);
	ck_assert_int_eq(push_status(none, NULL), 401);
	hs = test_token_hs256_with_pem(W.keys[0], c);
	ck_assert_ptr_nonnull(hs);
	ck_assert_int_eq(push_status(hs, NULL), 401);
	tok = test_token_mint(W.keys[0], NULL, c);
	n = strlen(tok);
	tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A'; /* tampered signature */
	ck_assert_int_eq(push_status(tok, NULL), 401);
	free(tok);
	tok = test_token_mint(W.keys[0], NULL, c);
	{
		/* Tampered claims: same signature, one claim byte changed. */
		char *dot = strchr(tok, '.');

		dot[5] = dot[5] == 'A' ? 'B' : 'A';
	}
	ck_assert_int_eq(push_status(tok, NULL), 401);
	free(tok);
	free(none);
	free(hs);
	json_decref(c);
}
END_TEST

START_TEST(malformed_tokens)
{
	char *huge = malloc(8193 + 1);

	ck_assert_int_eq(push_status(NULL, "Bearer garbage"), 401);
	ck_assert_int_eq(push_status(NULL, "Bearer a.b"), 401);
	ck_assert_int_eq(push_status(NULL, "Bearer a.b.c.d"), 401);
	ck_assert_int_eq(push_status(NULL, "Bearer ..."), 401);
	ck_assert_int_eq(push_status(NULL, "Basic dXNlcjpwYXNz"), 401);
	ck_assert_int_eq(push_status(NULL, "Bearer"), 401);
	memset(huge, 'a', 8193);
	huge[100] = '.';
	huge[200] = '.';
	huge[8193] = '\0';
	ck_assert_int_eq(push_status(huge, NULL), 401);
	free(huge);
}
END_TEST

START_TEST(missing_token_is_401_even_for_unknown_jobs)
{
	struct httpc_resp r;

	ck_assert_int_eq(cj_push(&S, "no-such-job", NULL, NULL, NULL, -1, "{}", &r), 0);
	ck_assert_int_eq(r.status, 401);
	httpc_resp_free(&r);
}
END_TEST

START_TEST(failures_are_counted_and_tokens_never_logged)
{
	struct httpc_resp r;
	char url[128], *log, *tok = itest_token(&W);
	const char *sig;

	ck_assert_int_eq(push_status(NULL, "Bearer garbage"), 401);
	snprintf(url, sizeof(url), "%s/metrics", S.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_ptr_nonnull(strstr(r.body, "catchup_jobs_auth_failures_total{reason=\""));
	httpc_resp_free(&r);
	ck_assert_int_eq(push_status(tok, NULL), 200);
	log = cj_server_log(&S);
	sig = strrchr(tok, '.') + 1;
	ck_assert_ptr_null(strstr(log, sig));
	ck_assert_ptr_null(strstr(log, "garbage"));
	free(log);
	free(tok);
}
END_TEST

START_TEST(rotated_key_is_picked_up)
{
	struct jwks_server *js = jwks_server_start();
	char *one = test_jwks_json((const struct test_key *const *)W.keys, 1);
	char *both = test_jwks_json((const struct test_key *const *)W.keys, 2);
	char env_url[512];
	const char *extra[] = {env_url, NULL};
	struct cj_server s2;
	struct cj_server saved = S;
	char *t1 = itest_token_for(&W, 1, ITEST_AUDIENCE, ITEST_TASKS_EMAIL);

	jwks_server_set(js, one, 1, 200);
	snprintf(env_url, sizeof(env_url), "OIDC_JWKS_URL=%s", jwks_server_url(js));
	itest_server(&W, &s2, extra);
	S = s2;
	ck_assert_int_eq(push_status(t1, NULL), 401);
	jwks_server_set(js, both, 1, 200);
	/* Refetches start at most once per 30 s: the next lookup after that
	 * finds the new key. */
	msleep(31000);
	ck_assert_int_eq(push_status(t1, NULL), 200);
	S = saved;
	ck_assert_int_eq(cj_server_stop(&s2), 0);
	jwks_server_stop(js);
	free(one);
	free(both);
	free(t1);
}
END_TEST

/* Cloud mode trusts only OIDC_JWKS_URL: with no set ever loaded, 503. */
START_TEST(no_keys_ever_loaded_is_503)
{
	struct jwks_server *js = jwks_server_start();
	char env_url[512], url[128];
	const char *extra[] = {env_url,
	                       "USE_CLOUD_TASKS=true",
	                       "GCP_PROJECT_ID=p",
	                       "GCP_REGION=r",
	                       "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	                       NULL};
	struct cj_server s2, saved = S;
	struct httpc_resp r;
	char *tok = itest_token(&W);

	jwks_server_set(js, "{\"error\":\"down\"}", 0, 500);
	snprintf(env_url, sizeof(env_url), "OIDC_JWKS_URL=%s", jwks_server_url(js));
	itest_server(&W, &s2, extra);
	S = s2;
	ck_assert_int_eq(push_status(tok, NULL), 503);
	snprintf(url, sizeof(url), "%s/health/ready", s2.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "jwks"), "status")), "down");
	httpc_resp_free(&r);
	S = saved;
	ck_assert_int_eq(cj_server_stop(&s2), 0);
	jwks_server_stop(js);
	free(tok);
}
END_TEST

/* Local mode always has its own key (SPEC §5.4): with OIDC_JWKS_URL down it
 * stays ready, and a token of another key is 401 (unknown kid), not 503. */
START_TEST(local_mode_without_jwks_keeps_its_own_key)
{
	struct jwks_server *js = jwks_server_start();
	char env_url[512], url[128];
	const char *extra[] = {env_url, NULL};
	struct cj_server s2, saved = S;
	struct httpc_resp r;
	json_t *jw;
	char *tok = itest_token(&W);

	jwks_server_set(js, "{\"error\":\"down\"}", 0, 500);
	snprintf(env_url, sizeof(env_url), "OIDC_JWKS_URL=%s", jwks_server_url(js));
	itest_server(&W, &s2, extra);
	S = s2;
	ck_assert_int_eq(push_status(tok, NULL), 401);
	snprintf(url, sizeof(url), "%s/health/ready", s2.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	jw = json_object_get(r.json, "jwks");
	ck_assert_str_eq(json_string_value(json_object_get(jw, "status")), "ok");
	ck_assert(json_is_true(json_object_get(jw, "localKey")));
	ck_assert_int_eq(json_integer_value(json_object_get(jw, "keys")), 0);
	httpc_resp_free(&r);
	S = saved;
	ck_assert_int_eq(cj_server_stop(&s2), 0);
	jwks_server_stop(js);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	int failed;

	itest_setup(&W);
	itest_server(&W, &S, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, valid_tokens_from_both_keys_pass);
	tcase_add_test(tc, time_rules);
	tcase_add_test(tc, identity_rules);
	tcase_add_test(tc, header_rules);
	tcase_add_test(tc, forged_tokens);
	tcase_add_test(tc, malformed_tokens);
	tcase_add_test(tc, missing_token_is_401_even_for_unknown_jobs);
	tcase_add_test(tc, failures_are_counted_and_tokens_never_logged);
	tcase_add_test(tc, rotated_key_is_picked_up);
	tcase_add_test(tc, no_keys_ever_loaded_is_503);
	tcase_add_test(tc, local_mode_without_jwks_keeps_its_own_key);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	itest_teardown(&W);
	return failed ? 1 : 0;
}
