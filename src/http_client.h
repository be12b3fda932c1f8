/*
 * http_client.h - every outbound HTTP call goes through here (libcurl).
 *
 * A pool of curl easy handles (one is used by one thread at a time) shares a
 * connection cache, DNS cache and TLS sessions, so calls reuse kept-alive
 * connections whatever thread makes them: no new TCP/TLS handshake per call.
 * Each call is timed into catchup_jobs_upstream_duration_seconds with the
 * request's upstream/op labels.
 *
 * Thread-safe after http_client_global_init(). Signals are never used
 * (CURLOPT_NOSIGNAL); the process ignores SIGPIPE.
 */
#ifndef CJ_HTTP_CLIENT_H
#define CJ_HTTP_CLIENT_H

#include <stddef.h>

#include "buf.h"
#include "cj.h"

#define HTTP_DEFAULT_MAX_RESPONSE (4u << 20)

/* A client's fixed header lines, built once for all its requests (no list
 * built and freed per call). Immutable once made: any thread may use it. */
struct http_headers;

struct http_request {
	const char *method; /* "GET", "POST", "DELETE", ...; NULL = GET */
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
	const struct http_headers *prepared; /* used instead of headers when set */
	const char *body; /* may be NULL */
	size_t body_len;
	long timeout_ms; /* whole call; 0 = 30 s */
	long connect_timeout_ms; /* 0 = min(timeout, 5 s) */
	size_t max_response; /* body cap; 0 = HTTP_DEFAULT_MAX_RESPONSE */
	const char *upstream; /* metrics label, e.g. "redis" */
	const char *op; /* metrics label, e.g. "claim" */
	/* Optional: polled during the transfer; non-zero aborts it (CJ_ETIMEOUT). */
	int (*cancelled)(void *arg);
	void *cancel_arg;
	/* Opt-in: count in http_response.sends how many times the request went
	 * out. libcurl sends a request again, on a fresh connection and without
	 * telling us, when a kept-alive connection turns out dead before any
	 * answer byte arrives; a server may have acted on the first copy (a
	 * create that landed, its answer lost). Costs nothing when 0. */
	int count_sends;
	/* Opt-in: a new connection for this request, never a kept-alive one.
	 * libcurl's silent re-send above happens only on a reused connection,
	 * so a request that must never go out twice and carries no key the
	 * server could deduplicate by (a message to a provider) asks for it. */
	int fresh_connection;
};

struct http_response {
	long status; /* HTTP status; 0 when no answer */
	struct buf body;
	struct buf headers; /* raw header block of the final response */
	/* With http_request.count_sends: how many times the request headers were
	 * written to a connection (0: never sent; 2 or more: libcurl re-sent
	 * it). Set whatever http_do() returns. Always 0 otherwise. */
	int sends;
};

int http_client_global_init(void) CJ_WUR;

/* Makes the list of lines (NULL-terminated "Name: value"); NULL when out of
 * memory. The lines are copied. */
struct http_headers *http_headers_new(const char *const *lines);
/* Wipes every line (they may hold credentials) and frees the list. */
void http_headers_free(struct http_headers *h);
void http_client_global_cleanup(void);

/* Performs the request. CJ_OK whenever an HTTP answer arrived (any status);
 * CJ_ETIMEOUT (timed out or cancelled), CJ_EUNAVAIL (could not connect or
 * the connection broke), CJ_ETOOBIG (answer over max_response), CJ_ENOMEM,
 * CJ_EINVAL (bad URL). resp must be released with http_response_release()
 * whatever the result. errbuf (may be NULL) receives curl's explanation. */
int http_do(const struct http_request *req, struct http_response *resp, char *errbuf,
            size_t errlen) CJ_WUR;
void http_response_release(struct http_response *resp);

/* Fills resp as http_do() would for an answer that arrived: status, the
 * raw header block (hlen bytes of "Name: value" lines; may be 0) and the
 * body under max_response (0: HTTP_DEFAULT_MAX_RESPONSE). For tests and
 * fuzzing of the code that reads answers, without a connection. CJ_OK,
 * CJ_ETOOBIG (the body or the headers over their caps, as http_do()) or
 * CJ_ENOMEM; release resp with http_response_release() whatever the result. */
int http_response_fill(struct http_response *resp, long status, const char *headers, size_t hlen,
                       const char *body, size_t len, size_t max_response) CJ_WUR;

/* Value of the last header named name (case-insensitive) copied into out,
 * trimmed. Returns 1 when found, 0 otherwise. */
int http_response_header(const struct http_response *resp, const char *name, char *out,
                         size_t outlen);

#endif
