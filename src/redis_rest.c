/*
 * redis_rest.c - the Upstash Redis REST client (see redis_rest.h).
 *
 * Owns: the request bodies (JSON arrays of strings), the HTTP status to
 * result-code mapping, the bounded retry of network failures, and a small
 * cache of Lua script SHA-1s for EVALSHA. Every call goes through http_do(),
 * so connections are pooled and kept alive by http_client.
 *
 * Retry policy: only CJ_EUNAVAIL from http_do (could not connect, the
 * connection broke, an empty reply) is retried, up to max_attempts with
 * 20 ms, 60 ms, 180 ms... between attempts. A timeout is not retried: it has
 * already used the whole per-call budget, which a job's deadline sized, and
 * Cloud Tasks will redeliver anyway. HTTP answers are never retried. A retry
 * of a command that did land is harmless for our callers: the idempotency
 * scripts recognise their own earlier effect.
 *
 * Never: put the token anywhere but the Authorization header (not in URLs,
 * errors or logs); log request or answer bodies.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "http_client.h"
#include "json_in.h"
#include "log.h"
#include "redis_rest.h"
#include "utf8.h"

#define REST_DEFAULT_TIMEOUT_MS 2000
#define REST_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define REST_DEFAULT_ATTEMPTS 3
#define REST_MAX_ATTEMPTS 10
#define REST_FIRST_BACKOFF_MS 20
#define REST_MAX_BACKOFF_MS 1000
/* Upstash refuses requests over 10 MB. */
#define REST_MAX_REQUEST (10u << 20)
#define REST_MAX_ANSWER (8u << 20)
/* Scripts are a few fixed strings; more than this are hashed every call. */
#define REST_MAX_CACHED_SCRIPTS 64

/* Immutable once on the list; the list only grows until redis_rest_free. */
struct script_sha {
	const char *given; /* the caller's pointer: scripts are static strings */
	char *text;
	char sha[41];
	struct script_sha *next;
};

struct redis_rest {
	/* Immutable after redis_rest_new(). */
	char *url_command;
	char *url_pipeline;
	char *auth_header; /* "Authorization: Bearer <token>": wiped on free */
	struct http_headers *headers; /* the same and the fixed lines, for every call */
	long timeout_ms;
	long connect_timeout_ms;
	int max_attempts;
	/* The script cache: lock guards adding to it. */
	pthread_mutex_t lock;
	_Atomic(struct script_sha *) scripts; /* read without lock, added under it */
	size_t nscripts; /* guarded by lock */
};

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 1);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	memcpy(p + la, b, lb + 1);
	return p;
}

struct redis_rest *redis_rest_new(const char *url, const char *token,
                                  const struct redis_rest_options *opts)
{
	struct redis_rest *r = calloc(1, sizeof(*r));
	char *base = NULL;
	size_t blen;

	if (!r || !url || !token)
		goto fail;
	base = strdup(url);
	if (!base)
		goto fail;
	blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		base[--blen] = '\0';
	r->url_command = join(base, "/");
	r->url_pipeline = join(base, "/pipeline");
	r->auth_header = join("Authorization: Bearer ", token);
	if (!r->url_command || !r->url_pipeline || !r->auth_header)
		goto fail;
	{
		const char *lines[] = {r->auth_header, "Content-Type: application/json",
		                       "Upstash-Encoding: base64", NULL};

		r->headers = http_headers_new(lines);
		if (!r->headers)
			goto fail;
	}
	r->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : REST_DEFAULT_TIMEOUT_MS;
	r->connect_timeout_ms = opts && opts->connect_timeout_ms > 0
	    ? opts->connect_timeout_ms
	    : REST_DEFAULT_CONNECT_TIMEOUT_MS;
	r->max_attempts =
	    opts && opts->max_attempts > 0 ? opts->max_attempts : REST_DEFAULT_ATTEMPTS;
	if (r->max_attempts > REST_MAX_ATTEMPTS)
		r->max_attempts = REST_MAX_ATTEMPTS;
	if (pthread_mutex_init(&r->lock, NULL))
		goto fail;
	free(base);
	return r;
fail:
	free(base);
	if (r) {
		free(r->url_command);
		free(r->url_pipeline);
		http_headers_free(r->headers);
		if (r->auth_header)
			explicit_bzero(r->auth_header, strlen(r->auth_header));
		free(r->auth_header);
		free(r);
	}
	return NULL;
}

void redis_rest_free(struct redis_rest *r)
{
	struct script_sha *s, *next;

	if (!r)
		return;
	for (s = atomic_load(&r->scripts); s; s = next) {
		next = s->next;
		free(s->text);
		free(s);
	}
	pthread_mutex_destroy(&r->lock);
	free(r->url_command);
	free(r->url_pipeline);
	http_headers_free(r->headers);
	explicit_bzero(r->auth_header, strlen(r->auth_header));
	free(r->auth_header);
	free(r);
}

/* Appends s as a JSON string. The caller has checked that s is UTF-8. */
static int append_json_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	int rc;

	if ((rc = buf_append(b, "\"", 1)))
		return rc;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
		size_t elen = 6;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if ((rc = buf_append(b, s + run, i - run)))
			return rc;
		run = i + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			elen = 2;
		} else if (c == '\n') {
			esc[1] = 'n';
			elen = 2;
		} else if (c == '\t') {
			esc[1] = 't';
			elen = 2;
		} else if (c == '\r') {
			esc[1] = 'r';
			elen = 2;
		}
		if ((rc = buf_append(b, esc, elen)))
			return rc;
	}
	if ((rc = buf_append(b, s + run, len - run)))
		return rc;
	return buf_append(b, "\"", 1);
}

/* Appends one command as a JSON array of strings. */
static int append_command(struct buf *b, int argc, const char *const *argv, const size_t *argl,
                          char *err, size_t errlen)
{
	int i, rc;

	if (argc < 1) {
		snprintf(err, errlen, "empty redis command");
		return CJ_EINVAL;
	}
	if ((rc = buf_append(b, "[", 1)))
		goto fail;
	for (i = 0; i < argc; i++) {
		size_t len;

		if (!argv[i]) {
			snprintf(err, errlen, "redis command argument %d is NULL", i);
			return CJ_EINVAL;
		}
		len = argl ? argl[i] : strlen(argv[i]);
		/* JSON text cannot carry arbitrary bytes; ours are ASCII. */
		if (!utf8_valid(argv[i], len)) {
			snprintf(err, errlen, "redis command argument %d is not valid UTF-8", i);
			return CJ_EINVAL;
		}
		if ((i && (rc = buf_append(b, ",", 1))) ||
		    (rc = append_json_string(b, argv[i], len)))
			goto fail;
	}
	if ((rc = buf_append(b, "]", 1)))
		goto fail;
	return CJ_OK;
fail:
	if (rc == CJ_ETOOBIG) {
		snprintf(err, errlen, "redis request over %u bytes", REST_MAX_REQUEST);
		return CJ_EINVAL;
	}
	snprintf(err, errlen, "out of memory");
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Copies the {"error": "..."} text of an answer, printable ASCII only. */
static void answer_error_text(const struct http_response *resp, char *out, size_t outlen)
{
	json_t *j = json_in_parse(buf_str(&resp->body), resp->body.len, 0, NULL, NULL, 0);
	const char *e = json_string_value(json_object_get(j, "error"));
	size_t i, o = 0;

	if (!outlen)
		return;
	for (i = 0; e && e[i] && o + 1 < outlen && i < 200; i++)
		out[o++] = e[i] >= 0x20 && e[i] < 0x7f ? e[i] : '?';
	out[o] = '\0';
	json_decref(j);
}

/*
 * POSTs body to url, retrying network failures. CJ_OK when an HTTP answer
 * with status 200 or 400 arrived (the caller parses it; resp must be
 * released in every case); otherwise the mapped error.
 */
static int post(struct redis_rest *r, const char *url, const char *op, const struct buf *body,
                struct http_response *resp, char *err, size_t errlen)
{
	struct http_request req = {0};
	char cerr[256], etext[210];
	long backoff = REST_FIRST_BACKOFF_MS;
	int attempt, rc = CJ_EUNAVAIL;

	req.method = "POST";
	req.url = url;
	req.prepared = r->headers;
	req.body = buf_str(body);
	req.body_len = body->len;
	req.timeout_ms = r->timeout_ms;
	req.connect_timeout_ms = r->connect_timeout_ms;
	req.max_response = REST_MAX_ANSWER;
	req.upstream = "redis";
	req.op = op ? op : "command";
	for (attempt = 1; attempt <= r->max_attempts; attempt++) {
		if (attempt > 1) {
			http_response_release(resp);
			log_msg(L_DEBUG, "redis %s attempt %d failed: %s; retrying", req.op,
			        attempt - 1, cerr);
			sleep_ms(backoff);
			backoff =
			    backoff * 3 > REST_MAX_BACKOFF_MS ? REST_MAX_BACKOFF_MS : backoff * 3;
		}
		rc = http_do(&req, resp, cerr, sizeof(cerr));
		if (rc != CJ_EUNAVAIL)
			break;
	}
	switch (rc) {
	case CJ_OK:
		break;
	case CJ_EUNAVAIL:
		snprintf(err, errlen, "upstash unreachable after %d attempts: %s", r->max_attempts,
		         cerr);
		return CJ_EUNAVAIL;
	case CJ_ETIMEOUT:
		snprintf(err, errlen, "upstash timed out after %ld ms", r->timeout_ms);
		return CJ_ETIMEOUT;
	case CJ_ETOOBIG:
		snprintf(err, errlen, "upstash answer over %u bytes", REST_MAX_ANSWER);
		return CJ_EUPSTREAM;
	case CJ_EINVAL:
		snprintf(err, errlen, "invalid upstash url: %s", cerr);
		return CJ_ECONFIG;
	case CJ_ENOMEM:
		snprintf(err, errlen, "out of memory");
		return CJ_ENOMEM;
	default:
		snprintf(err, errlen, "upstash call failed: %s", cerr);
		return CJ_EUPSTREAM;
	}
	if (resp->status == 200 || resp->status == 400)
		return CJ_OK;
	if (resp->status == 401 || resp->status == 403) {
		snprintf(err, errlen, "upstash rejected the token (HTTP %ld)", resp->status);
		return CJ_ECONFIG;
	}
	answer_error_text(resp, etext, sizeof(etext));
	snprintf(err, errlen, "upstash answered HTTP %ld%s%s", resp->status, etext[0] ? ": " : "",
	         etext);
	if (resp->status >= 500 || resp->status == 429)
		return CJ_EUNAVAIL;
	return CJ_EUPSTREAM;
}

int redis_rest_command(struct redis_rest *r, const char *op, int argc, const char *const *argv,
                       const size_t *argl, struct redis_reply **out, char *err, size_t errlen)
{
	struct buf body = BUF_INIT(REST_MAX_REQUEST);
	struct http_response resp = {0};
	char spare[256];
	int rc;

	*out = NULL;
	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	err[0] = '\0';
	rc = append_command(&body, argc, argv, argl, err, errlen);
	if (rc)
		goto done;
	rc = post(r, r->url_command, op, &body, &resp, err, errlen);
	if (rc)
		goto done;
	rc = redis_reply_parse(buf_str(&resp.body), resp.body.len, 1, out, err, errlen);
	if (!rc && resp.status == 400 && (*out)->type != REDIS_ERROR) {
		redis_reply_free(*out);
		*out = NULL;
		snprintf(err, errlen, "invalid upstash answer: HTTP 400 without an error");
		rc = CJ_EUPSTREAM;
	}
done:
	http_response_release(&resp);
	buf_release(&body);
	return rc;
}

/* A whole pipeline refused with 400: every command gets that error. */
static int spread_error(const struct http_response *resp, int cmdc, struct redis_reply ***out,
                        char *err, size_t errlen)
{
	struct redis_reply *e, **items;
	int i, rc;

	rc = redis_reply_parse(buf_str(&resp->body), resp->body.len, 1, &e, err, errlen);
	if (rc)
		return rc;
	if (e->type != REDIS_ERROR) {
		redis_reply_free(e);
		snprintf(err, errlen, "invalid upstash answer: HTTP 400 without an error");
		return CJ_EUPSTREAM;
	}
	items = calloc((size_t)cmdc, sizeof(*items));
	if (!items)
		goto nomem;
	for (i = 0; i < cmdc; i++) {
		items[i] = calloc(1, sizeof(**items));
		if (!items[i])
			goto nomem;
		items[i]->type = REDIS_ERROR;
		items[i]->len = e->len;
		items[i]->str = malloc(e->len + 1);
		if (!items[i]->str)
			goto nomem;
		memcpy(items[i]->str, e->str, e->len + 1);
	}
	redis_reply_free(e);
	*out = items;
	return CJ_OK;
nomem:
	for (i = 0; items && i < cmdc; i++)
		redis_reply_free(items[i]);
	free(items);
	redis_reply_free(e);
	snprintf(err, errlen, "out of memory");
	return CJ_ENOMEM;
}

int redis_rest_pipeline(struct redis_rest *r, const char *op, int cmdc, const int *argcs,
                        const char *const *argv, struct redis_reply ***out, char *err,
                        size_t errlen)
{
	struct buf body = BUF_INIT(REST_MAX_REQUEST);
	struct http_response resp = {0};
	char spare[256];
	int i, rc;

	*out = NULL;
	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	err[0] = '\0';
	if (cmdc < 1) {
		snprintf(err, errlen, "empty redis pipeline");
		return CJ_EINVAL;
	}
	rc = buf_append(&body, "[", 1);
	for (i = 0; !rc && i < cmdc; i++) {
		if (i)
			rc = buf_append(&body, ",", 1);
		if (!rc)
			rc = append_command(&body, argcs[i], argv, NULL, err, errlen);
		argv += argcs[i] > 0 ? argcs[i] : 0;
	}
	if (!rc)
		rc = buf_append(&body, "]", 1);
	if (rc) {
		if (rc == CJ_ETOOBIG)
			rc = CJ_EINVAL;
		if (!err[0])
			snprintf(err, errlen, "cannot build the redis pipeline: %s",
			         cj_strerror(rc));
		goto done;
	}
	rc = post(r, r->url_pipeline, op, &body, &resp, err, errlen);
	if (rc)
		goto done;
	if (resp.status == 400)
		rc = spread_error(&resp, cmdc, out, err, errlen);
	else
		rc = redis_reply_parse_pipeline(buf_str(&resp.body), resp.body.len, 1, (size_t)cmdc,
		                                out, err, errlen);
done:
	http_response_release(&resp);
	buf_release(&body);
	return rc;
}

/* The lowercase hex SHA-1 of script, from the cache or computed (and cached). */
static int script_sha(struct redis_rest *r, const char *script, char sha[41])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	struct script_sha *s;

	/* Read without the lock: entries are published whole, never changed. */
	for (s = atomic_load_explicit(&r->scripts, memory_order_acquire); s; s = s->next) {
		if (s->given == script || !strcmp(s->text, script)) {
			memcpy(sha, s->sha, 41);
			return CJ_OK;
		}
	}
	if (!EVP_Digest(script, strlen(script), md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return CJ_EINTERNAL;
	for (i = 0; i < mdlen; i++) {
		sha[2 * i] = hex[md[i] >> 4];
		sha[2 * i + 1] = hex[md[i] & 15];
	}
	sha[40] = '\0';
	s = calloc(1, sizeof(*s));
	if (!s)
		return CJ_OK; /* uncached is fine */
	s->given = script;
	s->text = strdup(script);
	memcpy(s->sha, sha, 41);
	pthread_mutex_lock(&r->lock);
	/* Two threads may race to add the same script: one entry is enough. */
	if (s->text && r->nscripts < REST_MAX_CACHED_SCRIPTS) {
		struct script_sha *t;

		for (t = atomic_load_explicit(&r->scripts, memory_order_relaxed);
		     t && strcmp(t->text, script); t = t->next)
			;
		if (!t) {
			s->next = atomic_load_explicit(&r->scripts, memory_order_relaxed);
			atomic_store_explicit(&r->scripts, s, memory_order_release);
			r->nscripts++;
			s = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (s) {
		free(s->text);
		free(s);
	}
	return CJ_OK;
}

int redis_rest_eval(struct redis_rest *r, const char *op, const char *script, int nkeys,
                    const char *const *keys, int nargs, const char *const *args,
                    struct redis_reply **out, char *err, size_t errlen)
{
	char sha[41], numkeys[16], spare[256];
	const char **argv;
	int i, rc, argc;

	*out = NULL;
	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	err[0] = '\0';
	if (!script || nkeys < 0 || nargs < 0 || nkeys > 10000 || nargs > 10000) {
		snprintf(err, errlen, "invalid script call");
		return CJ_EINVAL;
	}
	rc = script_sha(r, script, sha);
	if (rc) {
		snprintf(err, errlen, "cannot hash the script");
		return rc;
	}
	argc = 3 + nkeys + nargs;
	argv = calloc((size_t)argc, sizeof(*argv));
	if (!argv) {
		snprintf(err, errlen, "out of memory");
		return CJ_ENOMEM;
	}
	snprintf(numkeys, sizeof(numkeys), "%d", nkeys);
	argv[0] = "EVALSHA";
	argv[1] = sha;
	argv[2] = numkeys;
	for (i = 0; i < nkeys; i++)
		argv[3 + i] = keys[i];
	for (i = 0; i < nargs; i++)
		argv[3 + nkeys + i] = args[i];
	rc = redis_rest_command(r, op, argc, argv, NULL, out, err, errlen);
	if (!rc && (*out)->type == REDIS_ERROR && !strncmp((*out)->str, "NOSCRIPT", 8)) {
		/* This Redis has not seen the script yet (or flushed it): send it. */
		redis_reply_free(*out);
		*out = NULL;
		argv[0] = "EVAL";
		argv[1] = script;
		rc = redis_rest_command(r, op, argc, argv, NULL, out, err, errlen);
	}
	free(argv);
	return rc;
}
