/*
 * oidc.h - verification of Google-signed OIDC ID tokens (SPEC §6).
 *
 * oidc_verify() takes the raw Authorization header value and checks, in
 * order: "Bearer " prefix; token ≤ 8 KiB (longer is rejected unparsed); three
 * base64url segments; the header parsed with jansson (duplicate keys
 * rejected): alg exactly RS256, no crit/jku/x5u/jwk, kid a bounded string
 * naming a key in the JWK set; the RS256 signature (OpenSSL EVP, never
 * libjwt's header-chosen algorithm); iss ∈ issuers; exp in the future and iat
 * not in the future (300 s skew each; both integers); exp - iat ≤ 86400;
 * then aud ∈ audiences, email ∈ allowed, email_verified == true.
 *
 * Results: CJ_OK; CJ_EAUTH (401: not a valid Google token for us);
 * CJ_EFORBIDDEN (403: a valid token, identity not allowed here); CJ_ENOKEYS
 * (503: no signing key was ever loaded). *reason receives a static
 * snake_case reason for metrics and logs ("ok" on success; reason may be
 * NULL). Tokens are never logged.
 *
 * Verified tokens are cached (by SHA-256 of the token) until their exp, so a
 * repeat delivery skips the signature check; aud/email are checked on every
 * call because routes allow different identities. Thread-safe.
 */
#ifndef CJ_OIDC_H
#define CJ_OIDC_H

#include <stdint.h>

#include "cj.h"

struct jwks;
struct strlist;

#define OIDC_MAX_TOKEN 8192

struct oidc_identity {
	char email[256];
	char sub[128];
	int64_t exp;
};

struct oidc;

/* keys is borrowed (must outlive the verifier); issuers and audiences are
 * borrowed lists from the config. NULL on allocation failure. */
struct oidc *oidc_new(struct jwks *keys, const struct strlist *issuers,
                      const struct strlist *audiences);
void oidc_free(struct oidc *o);

/* authorization: the header value (may be NULL); allowed: emails allowed on
 * this route (NULL allows none). now: Unix seconds (time_wall_s() in
 * production). who may be NULL. An allocation failure is CJ_ENOMEM with
 * reason "internal". */
int oidc_verify(struct oidc *o, const char *authorization, const struct strlist *allowed,
                int64_t now, struct oidc_identity *who, const char **reason) CJ_WUR;

/* As oidc_verify(), but a token whose aud is extra_aud (NULL: none) is
 * accepted too, besides the configured audiences: the operator console's
 * OAuth client id on /admin (CONSOLE_OAUTH_CLIENT_ID). Every other rule is
 * unchanged. */
int oidc_verify_aud(struct oidc *o, const char *authorization, const struct strlist *allowed,
                    const char *extra_aud, int64_t now, struct oidc_identity *who,
                    const char **reason) CJ_WUR;

/* How many RS256 signatures this verifier has checked (cache misses that got
 * that far). For tests and diagnostics. */
unsigned long oidc_signature_checks(struct oidc *o);

#endif
