/*
 * tokens.c - test keys and ID tokens; see tokens.h.
 *
 * Signs with OpenSSL directly (RS256), except the HS256 confusion token,
 * which libjwt makes exactly as a real attacker's library would. Owns nothing
 * beyond what it returns; it must never be linked into the service.
 */
#include "tokens.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

struct test_key *test_key_new(const char *kid, int bits)
{
	struct test_key *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->pkey = EVP_RSA_gen((unsigned)bits);
	if (!k->pkey) {
		free(k);
		return NULL;
	}
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	k->bits = bits;
	return k;
}

void test_key_free(struct test_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* base64url of an RSA parameter (n or e), big-endian without leading zeros. */
static char *param_b64url(const struct test_key *k, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char *bytes;
	char *out = NULL;
	int len;

	if (!EVP_PKEY_get_bn_param(k->pkey, name, &bn))
		return NULL;
	len = BN_num_bytes(bn);
	bytes = malloc(len > 0 ? (size_t)len : 1);
	if (bytes) {
		BN_bn2bin(bn, bytes);
		out = b64url_encode(bytes, (size_t)len);
		free(bytes);
	}
	BN_free(bn);
	return out;
}

json_t *test_key_jwk(const struct test_key *k)
{
	char *n = param_b64url(k, OSSL_PKEY_PARAM_RSA_N);
	char *e = param_b64url(k, OSSL_PKEY_PARAM_RSA_E);
	json_t *jwk = NULL;

	if (n && e)
		jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", k->kid, "n",
		                n, "e", e, "alg", "RS256", "use", "sig");
	free(n);
	free(e);
	return jwk;
}

char *test_jwks_json(const struct test_key *const *keys, size_t n)
{
	json_t *arr = json_array(), *root;
	char *text;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(arr, test_key_jwk(keys[i]))) {
			json_decref(arr);
			return NULL;
		}
	}
	root = json_pack("{s:o}", "keys", arr);
	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

char *test_key_public_pem(const struct test_key *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long len;

	if (!bio)
		return NULL;
	if (PEM_write_bio_PUBKEY(bio, k->pkey) == 1) {
		len = BIO_get_mem_data(bio, &data);
		if (len > 0)
			out = strndup(data, (size_t)len);
	}
	BIO_free(bio);
	return out;
}

static char *json_b64url(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT), *out;

	if (!text)
		return NULL;
	out = b64url_encode(text, strlen(text));
	free(text);
	return out;
}

/* "a.b" from the two JSON parts. */
static char *signing_input(json_t *header, json_t *claims)
{
	char *h = json_b64url(header), *c = json_b64url(claims), *out = NULL;

	if (h && c && asprintf(&out, "%s.%s", h, c) < 0)
		out = NULL;
	free(h);
	free(c);
	return out;
}

static char *rs256_sign(EVP_PKEY *key, const char *input)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	char *out = NULL;

	if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, strlen(input)) == 1)
		out = b64url_encode(sig, sig_len);
	EVP_MD_CTX_free(md);
	return out;
}

char *test_token_mint(const struct test_key *k, json_t *header, json_t *claims)
{
	json_t *own = NULL;
	char *input, *sig, *out = NULL;

	if (!header) {
		own = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid", k->kid, "typ", "JWT");
		if (!own)
			return NULL;
		header = own;
	}
	input = signing_input(header, claims);
	json_decref(own);
	if (!input)
		return NULL;
	sig = rs256_sign(k->pkey, input);
	if (sig && asprintf(&out, "%s.%s", input, sig) < 0)
		out = NULL;
	free(sig);
	free(input);
	return out;
}

json_t *test_claims_google(const char *aud, const char *email, int64_t iat, int64_t exp)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I}", "iss",
	                 "https://accounts.google.com", "aud", aud, "azp", "107328291763746354422",
	                 "sub", "107328291763746354422", "email", email, "email_verified", 1, "iat",
	                 (json_int_t)iat, "exp", (json_int_t)exp);
}

char *test_token_google(const struct test_key *k, const char *aud, const char *email, int64_t iat,
                        int64_t exp)
{
	json_t *claims = test_claims_google(aud, email, iat, exp);
	char *tok;

	if (!claims)
		return NULL;
	tok = test_token_mint(k, NULL, claims);
	json_decref(claims);
	return tok;
}

char *test_token_hs256_with_pem(const struct test_key *k, json_t *claims)
{
	char *pem = test_key_public_pem(k), *grants = json_dumps(claims, JSON_COMPACT);
	char *tok = NULL, *out = NULL;
	jwt_t *jwt = NULL;

	if (!pem || !grants || jwt_new(&jwt))
		goto fail;
	if (jwt_add_grants_json(jwt, grants) || jwt_add_header(jwt, "kid", k->kid) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)pem, (int)strlen(pem)))
		goto fail;
	tok = jwt_encode_str(jwt);
	if (tok)
		out = strdup(tok);
fail:
	free(tok); /* libjwt 1.10 allocates with malloc */
	jwt_free(jwt);
	free(grants);
	free(pem);
	return out;
}

char *test_token_alg_none(const struct test_key *k, json_t *claims)
{
	json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "none", "kid", k->kid, "typ", "JWT");
	char *input, *out = NULL;

	if (!header)
		return NULL;
	input = signing_input(header, claims);
	json_decref(header);
	if (input && asprintf(&out, "%s.", input) < 0)
		out = NULL;
	free(input);
	return out;
}

char *test_bearer(const char *token)
{
	char *out;

	if (!token || asprintf(&out, "Bearer %s", token) < 0)
		return NULL;
	return out;
}
