/*
 * auth.h - authentication of requests (SPEC §5.6): Google OIDC tokens for
 * /jobs, /enqueue and /admin (§6), channel secrets for Calendar push
 * notifications (§5.5). Every failure is counted by reason
 * (catchup_jobs_auth_failures_total) and logged without the credential; the
 * answer is filled for the caller to send.
 *
 * Thread-safe (the verifier, the store and the metrics are).
 */
#ifndef CJ_AUTH_H
#define CJ_AUTH_H

#include "app.h"
#include "http_server.h"
#include "oidc.h"

struct store;

/* Checks the Authorization header against the allowed emails (a list of the
 * configuration, borrowed). 0 when authenticated (who, may be NULL, filled);
 * otherwise fills a (401/403/503, 500 on allocation failure) and returns 1. */
int auth_check(struct app *app, struct http_req *r, const struct strlist *allowed,
               struct oidc_identity *who, struct http_answer *a);

/* As auth_check(), also accepting tokens whose aud is extra_aud (NULL:
 * none): /admin takes the operator console's OAuth client id
 * (CONSOLE_OAUTH_CLIENT_ID) besides OIDC_AUDIENCE. */
int auth_check_aud(struct app *app, struct http_req *r, const struct strlist *allowed,
                   const char *extra_aud, struct oidc_identity *who, struct http_answer *a);

/* Checks X-Goog-Channel-ID and X-Goog-Channel-Token against the active
 * channels of webhook_channels: 'active' ones before their expiration, and
 * 'pending' ones (Google sends a channel's first message while our
 * events.watch call is still returning; the secret proves it is ours). 0 when the channel is known and the token
 * matches (user_id receives the channel's user, truncated to len); otherwise
 * fills a and returns 1: 404 for anything that is not an active channel with
 * this token (the caller learns nothing), 503 when the database fails. */
int auth_channel(struct app *app, struct http_req *r, char *user_id, size_t len,
                 struct http_answer *a);

/* The check of auth_channel() without HTTP: CJ_OK (user_id filled),
 * CJ_ENOTFOUND (id or token missing, no store, no active channel with that
 * id, or the token's SHA-256 is not its token_hash; compared in constant
 * time), or the store's error (err says why). */
int auth_channel_verify(struct store *s, const char *id, const char *token, char *user_id,
                        size_t len, char *err, size_t errlen) CJ_WUR;

#endif
