/*
 * tokens.h - test keys and Google-shaped ID tokens for unit and integration
 * tests: RSA keys, their JWK set JSON and public-key PEM, RS256 tokens signed
 * with OpenSSL, and the hostile tokens the verifier must refuse (alg "none",
 * HS256 keyed with the RSA public key PEM).
 *
 * Ownership: every returned char * is malloc'd and freed by the caller with
 * free(); every returned json_t * is a new reference (json_decref()). json_t
 * arguments are borrowed, never stolen. A struct test_key is freed with
 * test_key_free(). Functions return NULL only on allocation or OpenSSL
 * failure. Thread-safe (no shared state).
 */
#ifndef CJ_TEST_TOKENS_H
#define CJ_TEST_TOKENS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

struct test_key {
	EVP_PKEY *pkey; /* private + public; owned */
	char kid[64];
	int bits;
};

/* A fresh RSA key (EVP_RSA_gen) with kid; bits 2048 normally, 1024 for the
 * "too small" tests. */
struct test_key *test_key_new(const char *kid, int bits);
void test_key_free(struct test_key *k);

/* The public key as a JWK: {kty RSA, kid, n, e, alg RS256, use sig}. */
json_t *test_key_jwk(const struct test_key *k);
/* {"keys": [...]} for n keys, as compact JSON text. */
char *test_jwks_json(const struct test_key *const *keys, size_t n);
/* "-----BEGIN PUBLIC KEY-----..." of the key. */
char *test_key_public_pem(const struct test_key *k);

/* header.claims.signature, RS256-signed with k, whatever the header says.
 * header NULL = {"alg":"RS256","kid":k->kid,"typ":"JWT"}. */
char *test_token_mint(const struct test_key *k, json_t *header, json_t *claims);
/* Claims as Google puts them in a Cloud Tasks ID token: iss
 * https://accounts.google.com, aud, azp and sub numeric strings, email,
 * email_verified true, iat, exp. */
json_t *test_claims_google(const char *aud, const char *email, int64_t iat, int64_t exp);
/* test_token_mint(k, NULL, test_claims_google(...)). */
char *test_token_google(const struct test_key *k, const char *aud, const char *email, int64_t iat,
                        int64_t exp);
/* The algorithm-confusion attack: header {"alg":"HS256","kid":k->kid}, signed
 * (by libjwt) with HMAC-SHA256 keyed with k's public key PEM. */
char *test_token_hs256_with_pem(const struct test_key *k, json_t *claims);
/* header {"alg":"none","kid":k->kid,"typ":"JWT"}, empty signature
 * ("header.claims."). */
char *test_token_alg_none(const struct test_key *k, json_t *claims);

/* "Bearer <token>". */
char *test_bearer(const char *token);

#endif
