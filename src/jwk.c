/*
 * jwk.c - one JSON Web Key (RSA, n/e) to an OpenSSL public key; see jwk.h.
 *
 * Owns nothing beyond the key it returns. It accepts only what RS256 token
 * verification can use: an RSA public key of 2048 to 8192 bits marked (if
 * at all) for signatures with RS256. It must never accept a key type or size
 * it was not asked for, and never trust "alg" or "use" values it does not
 * recognise.
 */
#include "jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

#define JWK_MIN_BITS 2048
/* Larger moduli only cost verification time; Google uses 2048. */
#define JWK_MAX_BITS 8192
/* e is 65537 in practice; anything wider than 64 bits is not a real key. */
#define JWK_MAX_E_BITS 64

/* An optional string member: absent is fine, present must equal want. */
static int check_optional(const json_t *jwk, const char *name, const char *want, char *err,
                          size_t errlen)
{
	const json_t *v = json_object_get(jwk, name);

	if (!v)
		return CJ_OK;
	if (!json_is_string(v) || strcmp(json_string_value(v), want))
		return cj_errorf(err, errlen, CJ_EINVAL, "\"%s\" is not \"%s\"", name, want);
	return CJ_OK;
}

/* Decodes the base64url member name into a new BIGNUM. */
static int get_bignum(const json_t *jwk, const char *name, BIGNUM **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(jwk, name);
	unsigned char *bytes = NULL;
	size_t len = 0;
	int rc;

	if (!json_is_string(v))
		return cj_errorf(err, errlen, CJ_EINVAL, "\"%s\" is missing or not a string", name);
	rc = b64url_decode(json_string_value(v), json_string_length(v), &bytes, &len);
	if (rc == CJ_ENOMEM)
		return CJ_ENOMEM;
	if (rc)
		return cj_errorf(err, errlen, CJ_EINVAL, "\"%s\" is not base64url", name);
	if (len == 0) {
		free(bytes);
		return cj_errorf(err, errlen, CJ_EINVAL, "\"%s\" is empty", name);
	}
	*out = BN_bin2bn(bytes, (int)len, NULL);
	free(bytes);
	if (!*out)
		return CJ_ENOMEM;
	return CJ_OK;
}

static int check_numbers(const BIGNUM *n, const BIGNUM *e, char *err, size_t errlen)
{
	int bits = BN_num_bits(n);

	if (bits < JWK_MIN_BITS)
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "RSA key has %d bits, at least %d required", bits, JWK_MIN_BITS);
	if (bits > JWK_MAX_BITS)
		return cj_errorf(err, errlen, CJ_EINVAL, "RSA key has %d bits, at most %d accepted",
		                 bits, JWK_MAX_BITS);
	if (!BN_is_odd(n))
		return cj_errorf(err, errlen, CJ_EINVAL, "RSA modulus is even");
	if (!BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > JWK_MAX_E_BITS)
		return cj_errorf(err, errlen, CJ_EINVAL, "RSA exponent is not usable");
	return CJ_OK;
}

static int build_key(const BIGNUM *n, const BIGNUM *e, EVP_PKEY **out, char *err, size_t errlen)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = CJ_ENOMEM;

	if (!bld)
		goto fail;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto fail;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!params)
		goto fail;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!ctx)
		goto fail;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		rc = cj_errorf(err, errlen, CJ_EINVAL, "OpenSSL rejected the RSA key");
		goto fail;
	}
	*out = pkey;
	rc = CJ_OK;
fail:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int jwk_to_pkey(const json_t *jwk, EVP_PKEY **out, char *err, size_t errlen)
{
	const json_t *kty;
	BIGNUM *n = NULL, *e = NULL;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!json_is_object(jwk))
		return cj_errorf(err, errlen, CJ_EINVAL, "key is not a JSON object");
	kty = json_object_get(jwk, "kty");
	if (!json_is_string(kty))
		return cj_errorf(err, errlen, CJ_EINVAL, "\"kty\" is missing or not a string");
	if (strcmp(json_string_value(kty), "RSA"))
		return cj_errorf(err, errlen, CJ_EINVAL, "\"kty\" is not \"RSA\"");
	rc = check_optional(jwk, "use", "sig", err, errlen);
	if (rc)
		return rc;
	rc = check_optional(jwk, "alg", "RS256", err, errlen);
	if (rc)
		return rc;
	rc = get_bignum(jwk, "n", &n, err, errlen);
	if (rc)
		goto fail;
	rc = get_bignum(jwk, "e", &e, err, errlen);
	if (rc)
		goto fail;
	rc = check_numbers(n, e, err, errlen);
	if (rc)
		goto fail;
	rc = build_key(n, e, out, err, errlen);
fail:
	BN_free(n);
	BN_free(e);
	return rc;
}
