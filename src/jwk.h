/*
 * jwk.h - turns a JSON Web Key into an OpenSSL public key.
 *
 * Only RSA keys (kty "RSA", n and e base64url, unpadded) of at least 2048
 * bits are accepted; "use", when present, must be "sig"; "alg", when present,
 * must be "RS256". Built with OSSL_PARAM_BLD + EVP_PKEY_fromdata (OpenSSL 3).
 */
#ifndef CJ_JWK_H
#define CJ_JWK_H

#include <jansson.h>
#include <openssl/evp.h>

#include "cj.h"

/* CJ_OK with *out (caller EVP_PKEY_free()s), or CJ_EINVAL (err says why),
 * CJ_ENOMEM. */
int jwk_to_pkey(const json_t *jwk, EVP_PKEY **out, char *err, size_t errlen) CJ_WUR;

#endif
