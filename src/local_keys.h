/*
 * local_keys.h - local mode's token signer (SPEC §5.4): an RSA key generated
 * once into ./data/ (mode 0600) that signs OIDC tokens shaped like Google's
 * for the embedded Cloud Tasks' and Cloud Scheduler's pushes and for
 * `catchup-jobs token`; local mode's verifier trusts its public key besides
 * OIDC_JWKS_URL, and GET /emulator/certs serves it as a JWK set.
 *
 * Tokens: RS256 with `kid`; claims iss "https://accounts.google.com", aud,
 * azp and sub (a stable numeric id derived from the e-mail), email,
 * email_verified true, iat, exp = iat + 3600 — on real time, never on the
 * business clock (a token's lifetime is judged by real clocks).
 *
 * Ownership: local_keys_load_or_generate() returns a struct the caller frees
 * with local_keys_free(). The key is immutable after load; the cache of
 * recently minted tokens has its own lock: thread-safe.
 */
#ifndef CJ_LOCAL_KEYS_H
#define CJ_LOCAL_KEYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cj.h"

struct local_keys;
struct jwks;

/* Loads dir/local-signing-key.pem, or generates it (RSA 2048, 0600) when
 * absent. CJ_OK, CJ_ECONFIG (unreadable or not an RSA key: err names the
 * file), CJ_ENOMEM, CJ_EINTERNAL. */
int local_keys_load_or_generate(const char *dir, struct local_keys **out, char *err,
                                size_t errlen) CJ_WUR;
void local_keys_free(struct local_keys *k);

/* The key id put in tokens' headers and in the JWK set. */
const char *local_keys_kid(const struct local_keys *k);

/* Mints a token for (audience, email) issued at iat (Unix seconds, real
 * time). *out is malloc'd (free()); CJ_OK, CJ_ENOMEM, CJ_EINTERNAL. */
int local_keys_mint(const struct local_keys *k, const char *audience, const char *email,
                    int64_t iat, char **out) CJ_WUR;
/* local_keys_mint() issued now, on the wall clock (a token's lifetime is
 * real time, never the business clock). */
int local_keys_mint_now(const struct local_keys *k, const char *audience, const char *email,
                        char **out) CJ_WUR;

/* local_keys_mint_now(), also telling the token's exp (Unix seconds, real
 * time) in *exp: for a page that must fetch a new one before it expires. */
int local_keys_mint_expiring(const struct local_keys *k, const char *audience, const char *email,
                             char **out, int64_t *exp) CJ_WUR;
/* As local_keys_mint on real time, reusing a token minted for the same
 * (audience, email) within the last 5 minutes (still valid for 55 more):
 * for the embedded dispatcher and scheduler, which push many times a second.
 * Thread-safe (the cache has its own lock). *out is malloc'd. */
int local_keys_mint_cached(const struct local_keys *k, const char *audience, const char *email,
                           char **out) CJ_WUR;

/* The public key as a JWK set {"keys":[{kty, alg, use, kid, n, e}]} (a new
 * reference), or NULL on ENOMEM. */
json_t *local_keys_jwks(const struct local_keys *k);

/* Adds the public key to keys' static (always trusted) set under its kid.
 * Local mode only. CJ_OK, CJ_EEXISTS (already there), CJ_ENOMEM,
 * CJ_EINTERNAL. */
int local_keys_trust(const struct local_keys *k, struct jwks *keys) CJ_WUR;

#endif
