/*
 * redis_rest.h - a client for the Upstash Redis REST API (HTTP Redis).
 *
 * Commands are JSON arrays POSTed to {url}/ (one command) or {url}/pipeline
 * (several, answered item by item) with `Authorization: Bearer {token}` and
 * `Upstash-Encoding: base64`; string replies are decoded from base64 (a
 * literal "OK" status is accepted as is). Calls go through http_client, so
 * kept-alive connections are reused. Network errors (no answer) are retried
 * a bounded number of times with backoff; HTTP answers are never retried.
 *
 * Result codes:
 *   CJ_OK        an answer arrived; for a single command *out holds the reply,
 *                which may itself be a REDIS_ERROR reply (e.g. NOSCRIPT).
 *   CJ_EUNAVAIL  could not connect, connection broke, or HTTP 5xx
 *   CJ_ETIMEOUT  timed out
 *   CJ_ECONFIG   HTTP 401 (wrong token) or 403: a configuration fault
 *   CJ_EUPSTREAM an answer we cannot parse
 *   CJ_ENOMEM
 * An HTTP 400 with {"error": "..."} is CJ_OK with a REDIS_ERROR reply.
 *
 * Thread-safe; the token never appears in errors or logs.
 */
#ifndef CJ_REDIS_REST_H
#define CJ_REDIS_REST_H

#include <stddef.h>

#include "cj.h"

enum redis_reply_type { REDIS_STRING, REDIS_INTEGER, REDIS_NIL, REDIS_ARRAY, REDIS_ERROR };

struct redis_reply {
	enum redis_reply_type type;
	char *str; /* REDIS_STRING (decoded bytes, NUL-terminated) and REDIS_ERROR */
	size_t len;
	long long integer;
	struct redis_reply **elems; /* REDIS_ARRAY */
	size_t n;
};

void redis_reply_free(struct redis_reply *r);

/* Parses one Upstash answer body (`{"result": ...}` or `{"error": "..."}`).
 * base64: strings were sent with Upstash-Encoding: base64. CJ_OK or
 * CJ_EUPSTREAM (err says why) / CJ_ENOMEM. */
int redis_reply_parse(const char *body, size_t len, int base64, struct redis_reply **out, char *err,
                      size_t errlen) CJ_WUR;
/* Parses a pipeline answer (a JSON array of such objects); exactly n items
 * expected. *out is an array of n replies (free each, then the array). */
int redis_reply_parse_pipeline(const char *body, size_t len, int base64, size_t n,
                               struct redis_reply ***out, char *err, size_t errlen) CJ_WUR;

struct redis_rest;

struct redis_rest_options {
	long timeout_ms; /* per HTTP call; 0 = 2000 */
	long connect_timeout_ms; /* 0 = 1000 */
	int max_attempts; /* network-error attempts; 0 = 3 */
};

/* url and token are copied. opts may be NULL. NULL on allocation failure. */
struct redis_rest *redis_rest_new(const char *url, const char *token,
                                  const struct redis_rest_options *opts);
void redis_rest_free(struct redis_rest *r);

/* One command; argv are byte strings (argl lengths; NULL argl = strlen).
 * op labels the call in metrics ("claim", "ping", ...). err gets a
 * human-readable reason on failure (never the token). Arguments travel in
 * a JSON body, so each must be well-formed UTF-8 (utf8_valid(), NUL
 * allowed): a command with other bytes fails with CJ_EINVAL, unsent. The
 * same holds for the pipeline and eval calls below. */
int redis_rest_command(struct redis_rest *r, const char *op, int argc, const char *const *argv,
                       const size_t *argl, struct redis_reply **out, char *err,
                       size_t errlen) CJ_WUR;
/* Several commands in one round trip; *out receives cmdc replies, each may
 * be a REDIS_ERROR. argcs[i] arguments for command i, all argv packed in order. */
int redis_rest_pipeline(struct redis_rest *r, const char *op, int cmdc, const int *argcs,
                        const char *const *argv, struct redis_reply ***out, char *err,
                        size_t errlen) CJ_WUR;
/* Runs a Lua script: EVALSHA first, EVAL when the answer is NOSCRIPT. */
int redis_rest_eval(struct redis_rest *r, const char *op, const char *script, int nkeys,
                    const char *const *keys, int nargs, const char *const *args,
                    struct redis_reply **out, char *err, size_t errlen) CJ_WUR;

#endif
