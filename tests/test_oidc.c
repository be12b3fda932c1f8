/*
 * test_oidc.c - unit tests for src/oidc.c: every rule of SPEC §6 with
 * tokens signed by test keys served from a real loopback JWKS server, the
 * hostile tokens (alg none, HS256 keyed with the public key PEM, forbidden
 * header members, tampering, oversize), and the verified-token cache.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "b64.h"
#include "config.h"
#include "http_client.h"
#include "jwks.h"
#include "jwks_server.h"
#include "log.h"
#include "oidc.h"
#include "tokens.h"

#define NOW ((int64_t)1800000000)
#define AUD "https://catchup-jobs-abc123-uc.a.run.app"
#define EMAIL "tasks@catchup-prod.iam.gserviceaccount.com"

static char *iss_items[] = {"https://accounts.google.com", "accounts.google.com"};
static char *aud_items[] = {AUD, "https://jobs.example.com"};
static char *allowed_items[] = {"someone@example.com", EMAIL};
static char *other_items[] = {"someone@example.com"};
static const struct strlist issuers = {iss_items, 2};
static const struct strlist audiences = {aud_items, 2};
static const struct strlist allowed = {allowed_items, 2};
static const struct strlist others_only = {other_items, 1};

/* Made once in main(), before check forks for each test. */
static struct test_key *key_a, *key_b;

/* Each test's server, keys and verifier (in the forked test process). */
static struct jwks_server *srv;
static struct jwks *jw;
static struct oidc *vf;

static void setup(void)
{
	const struct test_key *keys[1] = {key_a};
	char *body = test_jwks_json(keys, 1);
	char err[256];

	srv = jwks_server_start();
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(body);
	jwks_server_set(srv, body, 3600, 200);
	free(body);
	jw = jwks_new(jwks_server_url(srv));
	ck_assert_ptr_nonnull(jw);
	ck_assert_int_eq(jwks_refresh(jw, err, sizeof(err)), CJ_OK);
	jwks_set_min_refetch_interval(jw, 0);
	vf = oidc_new(jw, &issuers, &audiences);
	ck_assert_ptr_nonnull(vf);
}

static void teardown(void)
{
	oidc_free(vf);
	jwks_free(jw);
	jwks_server_stop(srv);
}

/* "Bearer <tok>"; tok is freed. */
static char *bearer_of(char *tok)
{
	char *auth;

	ck_assert_ptr_nonnull(tok);
	auth = test_bearer(tok);
	ck_assert_ptr_nonnull(auth);
	free(tok);
	return auth;
}

/* Verifies "Bearer <tok>" (tok freed) at now; returns the result, *reason. */
static int verify_tok(char *tok, int64_t now, const char **reason)
{
	char *auth = bearer_of(tok);
	int rc = oidc_verify(vf, auth, &allowed, now, NULL, reason);

	free(auth);
	return rc;
}

static void expect(char *tok, int64_t now, int want_rc, const char *want_reason)
{
	const char *reason = NULL;
	int rc = verify_tok(tok, now, &reason);

	ck_assert_msg(rc == want_rc, "result %s (%s), wanted %s (%s)", cj_strerror(rc),
	              reason ? reason : "-", cj_strerror(want_rc), want_reason);
	ck_assert_str_eq(reason, want_reason);
}

static json_t *claims_now(void)
{
	json_t *c = test_claims_google(AUD, EMAIL, NOW - 10, NOW - 10 + 3600);

	ck_assert_ptr_nonnull(c);
	return c;
}

/* Mints claims (stolen) with key_a and the default header. */
static char *mint(json_t *claims)
{
	char *tok = test_token_mint(key_a, NULL, claims);

	json_decref(claims);
	return tok;
}

/* Mints with header and claims (both stolen), signed by key_a. */
static char *mint_with_header(json_t *header, json_t *claims)
{
	char *tok = test_token_mint(key_a, header, claims);

	json_decref(header);
	json_decref(claims);
	return tok;
}

static char *google(int64_t iat, int64_t exp)
{
	return test_token_google(key_a, AUD, EMAIL, iat, exp);
}

START_TEST(valid_token_accepted)
{
	struct oidc_identity who;
	const char *reason = NULL;
	char *auth = bearer_of(google(NOW - 10, NOW + 3590));

	memset(&who, 0, sizeof(who));
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, &who, &reason), CJ_OK);
	ck_assert_str_eq(reason, "ok");
	ck_assert_str_eq(who.email, EMAIL);
	ck_assert_str_eq(who.sub, "107328291763746354422");
	ck_assert_int_eq(who.exp, NOW + 3590);
	free(auth);
}
END_TEST

START_TEST(expiry_with_skew)
{
	expect(google(NOW - 4000, NOW - 400), NOW, CJ_EAUTH, "expired");
	expect(google(NOW - 3900, NOW - 300), NOW, CJ_EAUTH, "expired");
	expect(google(NOW - 3899, NOW - 299), NOW, CJ_OK, "ok");
	expect(google(NOW - 3600, NOW), NOW, CJ_OK, "ok");
}
END_TEST

START_TEST(issued_in_future_with_skew)
{
	expect(google(NOW + 301, NOW + 3901), NOW, CJ_EAUTH, "issued_in_future");
	expect(google(NOW + 300, NOW + 3900), NOW, CJ_OK, "ok");
}
END_TEST

START_TEST(lifetime_at_most_a_day)
{
	expect(google(NOW - 10, NOW - 10 + 86401), NOW, CJ_EAUTH, "lifetime_too_long");
	expect(google(NOW - 10, NOW - 10 + 86400), NOW, CJ_OK, "ok");
	expect(google(NOW + 100, NOW + 100), NOW, CJ_EAUTH, "bad_claims");
	expect(google(NOW - 10, INT64_MAX), NOW, CJ_EAUTH, "lifetime_too_long");
	expect(google(INT64_MIN, NOW + 10), NOW, CJ_EAUTH, "lifetime_too_long");
}
END_TEST

START_TEST(audience_rules)
{
	json_t *c;

	expect(test_token_google(key_a, "https://other.run.app", EMAIL, NOW, NOW + 3600), NOW,
	       CJ_EFORBIDDEN, "wrong_audience");
	c = claims_now();
	json_object_set_new(c, "aud", json_pack("[s, s]", "https://x.example", AUD));
	expect(mint(c), NOW, CJ_OK, "ok");
	c = claims_now();
	json_object_set_new(c, "aud", json_pack("[s, i]", "https://x.example", 7));
	expect(mint(c), NOW, CJ_EFORBIDDEN, "wrong_audience");
	c = claims_now();
	json_object_del(c, "aud");
	expect(mint(c), NOW, CJ_EFORBIDDEN, "wrong_audience");
	c = claims_now();
	json_object_set_new(c, "aud", json_integer(1));
	expect(mint(c), NOW, CJ_EFORBIDDEN, "wrong_audience");
}
END_TEST

START_TEST(issuer_rules)
{
	json_t *c = claims_now();

	json_object_set_new(c, "iss", json_string("https://evil.example.com"));
	expect(mint(c), NOW, CJ_EAUTH, "bad_issuer");
	c = claims_now();
	json_object_set_new(c, "iss", json_string("accounts.google.com"));
	expect(mint(c), NOW, CJ_OK, "ok");
	c = claims_now();
	json_object_del(c, "iss");
	expect(mint(c), NOW, CJ_EAUTH, "bad_issuer");
	c = claims_now();
	json_object_set_new(c, "iss", json_pack("[s]", "accounts.google.com"));
	expect(mint(c), NOW, CJ_EAUTH, "bad_issuer");
}
END_TEST

START_TEST(email_rules)
{
	json_t *c;

	expect(test_token_google(key_a, AUD, "intruder@evil.example", NOW, NOW + 3600), NOW,
	       CJ_EFORBIDDEN, "email_not_allowed");
	c = claims_now();
	json_object_set_new(c, "email_verified", json_false());
	expect(mint(c), NOW, CJ_EFORBIDDEN, "email_unverified");
	c = claims_now();
	json_object_del(c, "email_verified");
	expect(mint(c), NOW, CJ_EFORBIDDEN, "email_unverified");
	c = claims_now();
	json_object_set_new(c, "email_verified", json_string("false"));
	expect(mint(c), NOW, CJ_EFORBIDDEN, "email_unverified");
	/* Only the JSON boolean true: the string "true" is a mistyped claim. */
	c = claims_now();
	json_object_set_new(c, "email_verified", json_string("true"));
	expect(mint(c), NOW, CJ_EFORBIDDEN, "email_unverified");
	c = claims_now();
	json_object_set_new(c, "email_verified", json_integer(1));
	expect(mint(c), NOW, CJ_EFORBIDDEN, "email_unverified");
	c = claims_now();
	json_object_set_new(c, "email_verified", json_true());
	expect(mint(c), NOW, CJ_OK, "ok");
	c = claims_now();
	json_object_del(c, "email");
	expect(mint(c), NOW, CJ_EFORBIDDEN, "email_not_allowed");
	c = claims_now();
	json_object_set_new(c, "email", json_integer(5));
	expect(mint(c), NOW, CJ_EFORBIDDEN, "email_not_allowed");
}
END_TEST

START_TEST(allowed_list_is_per_call)
{
	char *auth = bearer_of(google(NOW, NOW + 3600));
	const char *reason;

	ck_assert_int_eq(oidc_verify(vf, auth, &others_only, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_str_eq(reason, "email_not_allowed");
	ck_assert_int_eq(oidc_verify(vf, auth, NULL, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, NULL), CJ_OK);
	free(auth);
}
END_TEST

START_TEST(algorithm_confusion_rejected)
{
	json_t *h, *c = claims_now();

	expect(test_token_alg_none(key_a, c), NOW, CJ_EAUTH, "bad_algorithm");
	expect(test_token_hs256_with_pem(key_a, c), NOW, CJ_EAUTH, "bad_algorithm");
	json_decref(c);
	h = json_pack("{s:s, s:s}", "alg", "rs256", "kid", "a");
	expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "bad_algorithm");
	h = json_pack("{s:s, s:s}", "alg", "RS512", "kid", "a");
	expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "bad_algorithm");
	h = json_pack("{s:s}", "kid", "a");
	expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "bad_algorithm");
	/* typ is ignored. */
	h = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid", "a", "typ", "whatever");
	expect(mint_with_header(h, claims_now()), NOW, CJ_OK, "ok");
}
END_TEST

START_TEST(kid_rules)
{
	int before = jwks_server_fetches(srv);
	json_t *h;
	char long_kid[130];

	h = json_pack("{s:s, s:s}", "alg", "RS256", "kid", "rotated-away");
	expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "unknown_kid");
	ck_assert_int_eq(jwks_server_fetches(srv), before + 1);
	h = json_pack("{s:s}", "alg", "RS256");
	expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "malformed");
	h = json_pack("{s:s, s:i}", "alg", "RS256", "kid", 1);
	expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "malformed");
	memset(long_kid, 'k', sizeof(long_kid) - 1);
	long_kid[sizeof(long_kid) - 1] = '\0';
	h = json_pack("{s:s, s:s}", "alg", "RS256", "kid", long_kid);
	expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "malformed");
	ck_assert_int_eq(jwks_server_fetches(srv), before + 1);
}
END_TEST

START_TEST(forbidden_header_members)
{
	static const char *const names[] = {"jku", "x5u", "jwk", "crit"};

	for (int i = 0; i < 4; i++) {
		json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid", "a", names[i],
		                      "https://evil.example/keys");

		expect(mint_with_header(h, claims_now()), NOW, CJ_EAUTH, "forbidden_header");
	}
}
END_TEST

START_TEST(rotation_new_kid_verifies)
{
	const struct test_key *keys[2] = {key_a, key_b};
	char *body = test_jwks_json(keys, 2);

	ck_assert_ptr_nonnull(body);
	jwks_server_set(srv, body, 3600, 200);
	free(body);
	expect(test_token_google(key_b, AUD, EMAIL, NOW, NOW + 3600), NOW, CJ_OK, "ok");
	expect(google(NOW, NOW + 3600), NOW, CJ_OK, "ok");
}
END_TEST

/* Replaces character i of tok with another base64url character. */
static void flip(char *tok, size_t i)
{
	tok[i] = tok[i] == 'A' ? 'B' : 'A';
}

START_TEST(tampering_detected)
{
	char *tok = google(NOW, NOW + 3600), *dot1, *dot2, *forged, *claims_b64, *text;
	json_t *c;

	ck_assert_ptr_nonnull(tok);
	dot2 = strrchr(tok, '.');
	flip(tok, (size_t)(dot2 - tok) + 20);
	expect(tok, NOW, CJ_EAUTH, "bad_signature");

	/* Same signature, claims changed to another e-mail. */
	tok = google(NOW, NOW + 3600);
	dot1 = strchr(tok, '.');
	dot2 = strrchr(tok, '.');
	c = claims_now();
	json_object_set_new(c, "email", json_string("someone@example.com"));
	text = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	claims_b64 = b64url_encode(text, strlen(text));
	ck_assert_int_ge(asprintf(&forged, "%.*s.%s%s", (int)(dot1 - tok), tok, claims_b64, dot2),
	                 0);
	free(text);
	free(claims_b64);
	free(tok);
	expect(forged, NOW, CJ_EAUTH, "bad_signature");

	/* Signed by another key under key_a's kid. */
	c = claims_now();
	{
		json_t *h = json_pack("{s:s, s:s}", "alg", "RS256", "kid", "a");

		expect(test_token_mint(key_b, h, c), NOW, CJ_EAUTH, "bad_signature");
		json_decref(h);
	}
	json_decref(c);

	/* A truncated signature (252 bytes: still canonical base64url). */
	tok = google(NOW, NOW + 3600);
	tok[strlen(tok) - 6] = '\0';
	expect(tok, NOW, CJ_EAUTH, "bad_signature");
}
END_TEST

START_TEST(oversized_token_rejected_unparsed)
{
	size_t n = OIDC_MAX_TOKEN + 1;
	char *tok = malloc(n + 1);
	int fetches = jwks_server_fetches(srv);

	ck_assert_ptr_nonnull(tok);
	memset(tok, 'A', n);
	tok[n] = '\0';
	/* It even looks like a header that would name an unknown kid. */
	memcpy(tok, "eyJhbGciOiJSUzI1NiIsImtpZCI6Ingi.", 33);
	expect(tok, NOW, CJ_EAUTH, "token_too_long");
	ck_assert_int_eq(oidc_signature_checks(vf), 0);
	ck_assert_int_eq(jwks_server_fetches(srv), fetches);
	tok = malloc(OIDC_MAX_TOKEN + 1);
	ck_assert_ptr_nonnull(tok);
	memset(tok, 'A', OIDC_MAX_TOKEN);
	tok[OIDC_MAX_TOKEN] = '\0';
	expect(tok, NOW, CJ_EAUTH, "malformed");
}
END_TEST

/* "<b64url(header_text)>.<b64url(claims)>.AAAA" */
static char *raw_token(const char *header_text, const char *claims_text)
{
	char *h = b64url_encode(header_text, strlen(header_text));
	char *c = b64url_encode(claims_text, strlen(claims_text));
	char *out = NULL;

	ck_assert_int_ge(asprintf(&out, "%s.%s.AAAA", h, c), 0);
	free(h);
	free(c);
	return out;
}

START_TEST(malformed_tokens_rejected)
{
	char *tok = google(NOW, NOW + 3600), *dot;

	expect(strdup("garbage"), NOW, CJ_EAUTH, "malformed");
	expect(strdup("!!!.@@@.###"), NOW, CJ_EAUTH, "malformed");
	expect(strdup("a.b"), NOW, CJ_EAUTH, "malformed");
	expect(strdup("a.b.c.d"), NOW, CJ_EAUTH, "malformed");
	expect(strdup(".."), NOW, CJ_EAUTH, "malformed");
	expect(raw_token("hello", "{}"), NOW, CJ_EAUTH, "malformed");
	expect(raw_token("[\"RS256\"]", "{}"), NOW, CJ_EAUTH, "malformed");
	expect(raw_token("{\"alg\":\"RS256\",\"kid\":\"a\",\"alg\":\"none\"}", "{}"), NOW, CJ_EAUTH,
	       "malformed");
	expect(raw_token("{\"alg\":\"RS256\",\"kid\":\"a\"} x", "{}"), NOW, CJ_EAUTH, "malformed");
	/* A valid token with a fourth segment, or padding. */
	ck_assert_ptr_nonnull(tok);
	{
		char *four = NULL;

		ck_assert_int_ge(asprintf(&four, "%s.AAAA", tok), 0);
		expect(four, NOW, CJ_EAUTH, "malformed");
	}
	dot = strchr(tok, '.');
	{
		char *padded = NULL;

		ck_assert_int_ge(asprintf(&padded, "%.*s=%s", (int)(dot - tok), tok, dot), 0);
		expect(padded, NOW, CJ_EAUTH, "malformed");
	}
	free(tok);
}
END_TEST

START_TEST(claims_must_be_well_typed)
{
	json_t *c = claims_now();

	json_object_set_new(c, "exp", json_string("1800003600"));
	expect(mint(c), NOW, CJ_EAUTH, "bad_claims");
	c = claims_now();
	json_object_set_new(c, "exp", json_real(1800003600.0));
	expect(mint(c), NOW, CJ_EAUTH, "bad_claims");
	c = claims_now();
	json_object_set_new(c, "iat", json_real(1800000000.5));
	expect(mint(c), NOW, CJ_EAUTH, "bad_claims");
	c = claims_now();
	json_object_del(c, "iat");
	expect(mint(c), NOW, CJ_EAUTH, "bad_claims");
	c = claims_now();
	json_object_del(c, "exp");
	expect(mint(c), NOW, CJ_EAUTH, "bad_claims");
	c = claims_now();
	json_object_set_new(c, "sub", json_integer(1));
	expect(mint(c), NOW, CJ_EAUTH, "bad_claims");
	/* Claims that are not an object, validly signed. */
	expect(mint(json_pack("[i]", 1)), NOW, CJ_EAUTH, "malformed");
}
END_TEST

START_TEST(authorization_scheme_rules)
{
	char *tok = google(NOW, NOW + 3600), *auth = NULL;
	const char *reason;

	ck_assert_int_eq(oidc_verify(vf, NULL, &allowed, NOW, NULL, &reason), CJ_EAUTH);
	ck_assert_str_eq(reason, "missing_token");
	ck_assert_int_eq(oidc_verify(vf, "", &allowed, NOW, NULL, &reason), CJ_EAUTH);
	ck_assert_str_eq(reason, "missing_token");
	ck_assert_int_eq(oidc_verify(vf, "Bearer ", &allowed, NOW, NULL, &reason), CJ_EAUTH);
	ck_assert_str_eq(reason, "missing_token");
	ck_assert_int_eq(oidc_verify(vf, tok, &allowed, NOW, NULL, &reason), CJ_EAUTH);
	ck_assert_str_eq(reason, "missing_token");
	ck_assert_int_ge(asprintf(&auth, "Basic %s", tok), 0);
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_EAUTH);
	ck_assert_str_eq(reason, "missing_token");
	free(auth);
	ck_assert_int_ge(asprintf(&auth, "Bearer%s", tok), 0);
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_EAUTH);
	free(auth);
	/* The scheme is case-insensitive (RFC 7235). */
	ck_assert_int_ge(asprintf(&auth, "bearer %s", tok), 0);
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_OK);
	free(auth);
	free(tok);
}
END_TEST

START_TEST(no_keys_ever_loaded)
{
	struct jwks *empty;
	struct oidc *o;
	char *auth = bearer_of(google(NOW, NOW + 3600));
	const char *reason;

	jwks_server_set(srv, "unavailable", -1, 503);
	empty = jwks_new(jwks_server_url(srv));
	ck_assert_ptr_nonnull(empty);
	o = oidc_new(empty, &issuers, &audiences);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(oidc_verify(o, auth, &allowed, NOW, NULL, &reason), CJ_ENOKEYS);
	ck_assert_str_eq(reason, "no_keys");
	oidc_free(o);
	jwks_free(empty);
	free(auth);
}
END_TEST

START_TEST(verified_tokens_are_cached)
{
	char *auth = bearer_of(google(NOW - 10, NOW + 3590));
	struct oidc_identity who;
	const char *reason;

	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_OK);
	ck_assert_int_eq(oidc_signature_checks(vf), 1);
	/* Even with the key gone from the JWK set, the cached token verifies. */
	jwks_server_set(srv, "{\"keys\":[]}", 0, 200);
	memset(&who, 0, sizeof(who));
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW + 60, &who, &reason), CJ_OK);
	ck_assert_str_eq(who.email, EMAIL);
	ck_assert_int_eq(who.exp, NOW + 3590);
	ck_assert_int_eq(oidc_signature_checks(vf), 1);
	/* Another route's list still applies to a cached token. */
	ck_assert_int_eq(oidc_verify(vf, auth, &others_only, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_str_eq(reason, "email_not_allowed");
	/* And it expires. */
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW + 3590 + 300, NULL, &reason),
	                 CJ_EAUTH);
	ck_assert_str_eq(reason, "expired");
	ck_assert_int_eq(oidc_signature_checks(vf), 1);
	/* Before its iat (minus skew) it is not valid either. */
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW - 400, NULL, &reason), CJ_EAUTH);
	free(auth);
}
END_TEST

START_TEST(cached_token_still_checks_audience)
{
	char *auth =
	    bearer_of(test_token_google(key_a, "https://other.run.app", EMAIL, NOW, NOW + 3600));
	struct oidc *strict;
	const char *reason;
	static char *one[] = {"https://jobs.example.com"};
	static char *two[] = {"https://jobs.example.com", "https://other.run.app"};
	const struct strlist strict_aud = {one, 1}, loose_aud = {two, 2};
	struct oidc *loose;

	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_str_eq(reason, "wrong_audience");
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_str_eq(reason, "wrong_audience");
	ck_assert_int_eq(oidc_signature_checks(vf), 1);
	/* Verifiers with other audience lists decide for themselves. */
	strict = oidc_new(jw, &issuers, &strict_aud);
	loose = oidc_new(jw, &issuers, &loose_aud);
	ck_assert_ptr_nonnull(strict);
	ck_assert_ptr_nonnull(loose);
	ck_assert_int_eq(oidc_verify(loose, auth, &allowed, NOW, NULL, &reason), CJ_OK);
	ck_assert_int_eq(oidc_verify(loose, auth, &allowed, NOW, NULL, &reason), CJ_OK);
	ck_assert_int_eq(oidc_verify(strict, auth, &allowed, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_int_eq(oidc_signature_checks(loose), 1);
	oidc_free(strict);
	oidc_free(loose);
	free(auth);
}
END_TEST

/* The operator console's client id is one more audience where a route asks
 * for it (/admin), and only there; every other rule is the same. */
START_TEST(extra_audience_per_call)
{
	static const char *const client = "123-console.apps.googleusercontent.com";
	char *auth = bearer_of(test_token_google(key_a, client, EMAIL, NOW - 10, NOW + 3590));
	char *plain = bearer_of(google(NOW - 10, NOW + 3590));
	struct oidc_identity who;
	const char *reason = NULL;
	json_t *c;
	char *arr;

	memset(&who, 0, sizeof(who));
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_str_eq(reason, "wrong_audience");
	ck_assert_int_eq(oidc_verify_aud(vf, auth, &allowed, client, NOW, &who, &reason), CJ_OK);
	ck_assert_str_eq(reason, "ok");
	ck_assert_str_eq(who.email, EMAIL);
	/* From the cache now: still per call. */
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, NOW, NULL, &reason), CJ_EFORBIDDEN);
	ck_assert_int_eq(oidc_verify_aud(vf, auth, &allowed, "other-client", NOW, NULL, &reason),
	                 CJ_EFORBIDDEN);
	ck_assert_int_eq(oidc_verify_aud(vf, auth, &others_only, client, NOW, NULL, &reason),
	                 CJ_EFORBIDDEN);
	ck_assert_str_eq(reason, "email_not_allowed");
	ck_assert_int_eq(oidc_verify_aud(vf, auth, &allowed, client, NOW + 4000, NULL, &reason),
	                 CJ_EAUTH);
	ck_assert_str_eq(reason, "expired");
	/* The configured audiences still pass with an extra one, or none. */
	ck_assert_int_eq(oidc_verify_aud(vf, plain, &allowed, client, NOW, NULL, &reason), CJ_OK);
	ck_assert_int_eq(oidc_verify_aud(vf, plain, &allowed, NULL, NOW, NULL, &reason), CJ_OK);
	/* An aud array naming the client; an unverified e-mail is refused. */
	c = test_claims_google(client, EMAIL, NOW - 10, NOW + 3590);
	json_object_set_new(c, "aud", json_pack("[s, s]", "https://x.example", client));
	arr = bearer_of(mint(c));
	ck_assert_int_eq(oidc_verify_aud(vf, arr, &allowed, client, NOW, NULL, &reason), CJ_OK);
	free(arr);
	c = test_claims_google(client, EMAIL, NOW - 10, NOW + 3590);
	json_object_set_new(c, "email_verified", json_false());
	arr = bearer_of(mint(c));
	ck_assert_int_eq(oidc_verify_aud(vf, arr, &allowed, client, NOW, NULL, &reason),
	                 CJ_EFORBIDDEN);
	ck_assert_str_eq(reason, "email_unverified");
	free(arr);
	free(auth);
	free(plain);
}
END_TEST

START_TEST(cache_stays_bounded)
{
	enum { N = 1500 };
	char **auths = calloc(N, sizeof(*auths));
	unsigned long checks;

	/* 1500 tokens over 1024 buckets of 4: some buckets overflow and evict,
	 * so a second pass re-checks some signatures, but far from all. */
	ck_assert_ptr_nonnull(auths);
	for (int i = 0; i < N; i++) {
		json_t *c = claims_now();

		json_object_set_new(c, "n", json_integer(i));
		auths[i] = bearer_of(mint(c));
		ck_assert_int_eq(oidc_verify(vf, auths[i], &allowed, NOW, NULL, NULL), CJ_OK);
	}
	ck_assert_int_eq(oidc_signature_checks(vf), N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(oidc_verify(vf, auths[i], &allowed, NOW, NULL, NULL), CJ_OK);
		free(auths[i]);
	}
	free(auths);
	checks = oidc_signature_checks(vf);
	ck_assert_uint_gt(checks, N);
	ck_assert_uint_lt(checks, N + N / 4);
}
END_TEST

static void *verify_thread(void *p)
{
	const char *auth = p;
	long ok = 1;

	for (int i = 0; i < 50; i++)
		ok &= oidc_verify(vf, auth, &allowed, NOW, NULL, NULL) == CJ_OK;
	return (void *)ok;
}

START_TEST(concurrent_verification)
{
	pthread_t th[8];
	char *auths[8];
	void *ok;

	for (int i = 0; i < 8; i++) {
		auths[i] = bearer_of(google(NOW - i, NOW + 3600 - i));
		ck_assert_ptr_nonnull(auths[i]);
		ck_assert_int_eq(pthread_create(&th[i], NULL, verify_thread, auths[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], &ok);
		ck_assert_int_eq((long)ok, 1);
		free(auths[i]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("oidc");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init())
		return 1;
	log_init(L_ERROR, "test");
	key_a = test_key_new("a", 2048);
	key_b = test_key_new("b", 2048);
	if (!key_a || !key_b)
		return 1;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, valid_token_accepted);
	tcase_add_test(tc, expiry_with_skew);
	tcase_add_test(tc, issued_in_future_with_skew);
	tcase_add_test(tc, lifetime_at_most_a_day);
	tcase_add_test(tc, audience_rules);
	tcase_add_test(tc, issuer_rules);
	tcase_add_test(tc, email_rules);
	tcase_add_test(tc, allowed_list_is_per_call);
	tcase_add_test(tc, algorithm_confusion_rejected);
	tcase_add_test(tc, kid_rules);
	tcase_add_test(tc, forbidden_header_members);
	tcase_add_test(tc, rotation_new_kid_verifies);
	tcase_add_test(tc, tampering_detected);
	tcase_add_test(tc, oversized_token_rejected_unparsed);
	tcase_add_test(tc, malformed_tokens_rejected);
	tcase_add_test(tc, claims_must_be_well_typed);
	tcase_add_test(tc, authorization_scheme_rules);
	tcase_add_test(tc, no_keys_ever_loaded);
	tcase_add_test(tc, verified_tokens_are_cached);
	tcase_add_test(tc, cached_token_still_checks_audience);
	tcase_add_test(tc, extra_audience_per_call);
	tcase_add_test(tc, cache_stays_bounded);
	tcase_add_test(tc, concurrent_verification);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	test_key_free(key_a);
	test_key_free(key_b);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
