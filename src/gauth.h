/*
 * gauth.h - OAuth access tokens for calling Google APIs (Cloud Tasks) as the
 * service's own account.
 *
 * Two sources, chosen from the configuration:
 * - GOOGLE_APPLICATION_CREDENTIALS names a service-account key file: the
 *   JWT-bearer grant (an RS256 assertion signed with the key) to the key's
 *   token_uri;
 * - otherwise the metadata server (GCE_METADATA_HOST), as on Cloud Run.
 *
 * A token is cached until 5 minutes before it expires. Refreshes are single
 * flight: when many threads need a token at once, one fetches it and the
 * others wait for that result (success or failure) instead of fetching too.
 * Tokens and the private key are never logged nor put in error messages.
 *
 * Ownership: gauth_new() returns a handle freed with gauth_free(); it
 * borrows nothing from the config after construction. Thread-safe.
 */
#ifndef CJ_GAUTH_H
#define CJ_GAUTH_H

#include <stddef.h>

#include "cj.h"

/* Room for any Google access token plus its NUL. */
#define GAUTH_TOKEN_MAX 4096

#define GAUTH_SCOPE "https://www.googleapis.com/auth/cloud-platform"

struct config;
struct gauth;

/* Builds the token source. With a key file, the file is read and checked
 * now: CJ_ECONFIG with err naming the file and the field (type
 * service_account, private_key_id, private_key a PEM RSA key, client_email,
 * token_uri an http(s) URL). CJ_ENOMEM. On failure *out is NULL. */
int gauth_new(const struct config *cfg, struct gauth **out, char *err, size_t errlen) CJ_WUR;
void gauth_free(struct gauth *g);

/* Copies a valid access token into out (outlen >= GAUTH_TOKEN_MAX is always
 * enough). CJ_OK; CJ_EUNAVAIL (token endpoint or metadata server
 * unreachable, timed out, 5xx/429); CJ_ECONFIG (it refused us: no account,
 * invalid_grant, 4xx); CJ_ETOOBIG (outlen too small); CJ_ENOMEM. err never
 * contains a token. */
int gauth_token(struct gauth *g, char *out, size_t outlen, char *err, size_t errlen) CJ_WUR;

/* Drops the cached token (an API answered 401 with it): the next call
 * fetches a new one. */
void gauth_invalidate(struct gauth *g);

/* The account the tokens belong to, for messages: the key's client_email,
 * or NULL for the metadata server's default account. */
const char *gauth_account(const struct gauth *g);

/* Per-fetch timeout in milliseconds (default 10000). Call before sharing
 * the handle between threads. */
void gauth_set_timeout(struct gauth *g, long timeout_ms);

#endif
