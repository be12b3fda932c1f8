/*
 * google_api.h - the Google APIs a job calls as a user: the OAuth token
 * endpoint (refresh_token grant), People and Calendar, over http_client
 * (kept-alive connections shared by every thread).
 *
 * Base URLs come from GOOGLE_OAUTH_TOKEN_URL, GOOGLE_PEOPLE_API_URL and
 * GOOGLE_CALENDAR_API_URL, so tests point them at fakes. Every call takes
 * its timeout from the caller (a job's remaining deadline) and may be
 * cancelled (job_cancelled_cb).
 *
 * Google's answers are classified here, once, into a result code (cj.h)
 * and a struct google_error:
 *   CJ_OK          2xx with a JSON object (out receives it)
 *   CJ_EUNAVAIL    transient: 429, 5xx, 403 rateLimitExceeded /
 *                  userRateLimitExceeded / RESOURCE_EXHAUSTED, a broken
 *                  connection (retry_after_s from Retry-After when given)
 *   CJ_ETIMEOUT    timed out or cancelled
 *   CJ_EAUTH       kind GOOGLE_ERR_UNAUTHORIZED: 401 from an API (the access
 *                  token is not accepted: refresh once and call again), or
 *                  kind GOOGLE_ERR_REVOKED: invalid_grant from the token
 *                  endpoint (the user must reconnect)
 *   CJ_ECONFIG     our OAuth client is refused (invalid_client,
 *                  unauthorized_client, 401 from the token endpoint) or not
 *                  configured: an operator must fix it, retries then work
 *   CJ_ENOTFOUND   404 (e.g. an unknown calendar)
 *   CJ_EUPSTREAM   any other 4xx (message is Google's), or an answer that is
 *                  not the JSON object promised; kind GOOGLE_ERR_SYNC_EXPIRED
 *                  for People's 400 EXPIRED_SYNC_TOKEN and Calendar's 410
 *                  (the sync token is no longer valid: sync fully)
 *   CJ_ENOMEM, CJ_EINVAL (a URL that cannot be built)
 *
 * Ownership: google_api_new() borrows cfg (it must outlive the client).
 * JSON handed out belongs to the caller. Thread-safe; tokens, client
 * secrets and Authorization headers never reach a log or an error message.
 */
#ifndef CJ_GOOGLE_API_H
#define CJ_GOOGLE_API_H

#include <jansson.h>
#include <stdint.h>

#include "cj.h"

struct config;
struct google_api;

enum google_err_kind {
	GOOGLE_ERR_NONE = 0,
	GOOGLE_ERR_TRANSIENT, /* CJ_EUNAVAIL / CJ_ETIMEOUT */
	GOOGLE_ERR_UNAUTHORIZED, /* CJ_EAUTH: 401 from an API */
	GOOGLE_ERR_REVOKED, /* CJ_EAUTH: invalid_grant */
	GOOGLE_ERR_CONFIG, /* CJ_ECONFIG */
	GOOGLE_ERR_NOT_FOUND, /* CJ_ENOTFOUND */
	GOOGLE_ERR_SYNC_EXPIRED, /* CJ_EUPSTREAM: EXPIRED_SYNC_TOKEN, 410 */
	GOOGLE_ERR_PERMANENT, /* CJ_EUPSTREAM: other 4xx, unusable answer */
};

struct google_error {
	enum google_err_kind kind;
	long http_status; /* 0: no answer */
	int retry_after_s; /* from Retry-After; 0 when none */
	char reason[64]; /* Google's reason/error code, e.g. "rateLimitExceeded" */
	char message[256]; /* one line for logs and job answers (never a token) */
};

/* Until when calls may run and how they are cancelled: a job passes its
 * deadline (monotonic, time_mono_ms()) and job_cancelled_cb. */
struct google_call {
	int64_t deadline_ms; /* monotonic; each call's timeout is what is left */
	int (*cancelled)(void *arg); /* may be NULL */
	void *cancel_arg;
};

/* Milliseconds left before call->deadline_ms (0 when past). */
long google_call_left_ms(const struct google_call *call);

enum google_service { GOOGLE_PEOPLE, GOOGLE_CALENDAR };

/* A fresh access token from the token endpoint. */
struct google_token {
	char *access_token; /* malloc'd; google_token_release() wipes it */
	int64_t expires_in; /* seconds, from the answer */
	char *refresh_token; /* only when Google rotated it; else NULL */
};

int google_api_new(const struct config *cfg, struct google_api **out, char *err,
                   size_t errlen) CJ_WUR;
void google_api_free(struct google_api *g);

/* POSTs grant_type=refresh_token with GOOGLE_CLIENT_ID/SECRET. */
int google_oauth_refresh(struct google_api *g, const char *refresh_token,
                         const struct google_call *call, struct google_token *out,
                         struct google_error *gerr) CJ_WUR;
void google_token_release(struct google_token *t);

/* One authenticated call: method ("GET", "POST", ...), path_query appended
 * to the service's base URL (already URL-encoded; see google_url_escape),
 * body a JSON value to send (NULL: none). On CJ_OK *out receives the answer
 * object (an empty object for a 204 or an empty body). */
int google_api_call(struct google_api *g, enum google_service svc, const char *method,
                    const char *path_query, const json_t *body, const char *access_token,
                    const struct google_call *call, json_t **out,
                    struct google_error *gerr) CJ_WUR;

/* The classification above of an answer already received, without a call:
 * status, raw header block (hlen bytes; Retry-After is read from it) and
 * body, exactly as google_oauth_refresh() (the token endpoint, which also
 * reads the token into out) and google_api_call() (People or Calendar,
 * *out the JSON object on CJ_OK) treat what arrives. For tests and fuzzing
 * of the answer parsers; the calls themselves use the same code. */
int google_oauth_answer(long status, const char *headers, size_t hlen, const char *body, size_t len,
                        struct google_token *out, struct google_error *gerr) CJ_WUR;
int google_api_answer(enum google_service svc, long status, const char *headers, size_t hlen,
                      const char *body, size_t len, json_t **out, struct google_error *gerr) CJ_WUR;

/* Percent-encodes s for a URL path segment or query value (everything but
 * A-Z a-z 0-9 - . _ ~). Returns a malloc'd string, NULL on ENOMEM. */
char *google_url_escape(const char *s);

#endif
