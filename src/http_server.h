/*
 * http_server.h - the HTTP/1.1 server (libmicrohttpd, thread per connection).
 *
 * Why thread per connection: job handlers block for seconds on upstream
 * calls; with a thread per connection a slow job stalls only its own
 * connection, and the code stays straight-line. Cloud Run sends at most 80
 * (max 1000) concurrent requests per instance; threads get small stacks
 * (256 KiB, mostly untouched), so 1,000+ open connections cost little.
 * Idle connections are closed after HTTP_IDLE_TIMEOUT_S (no slowloris).
 *
 * The server owns request plumbing only: it collects headers, enforces the
 * body cap (from Content-Length before reading, by counting for chunked
 * bodies), and calls the application twice per request: on_headers (may
 * answer from the headers alone, e.g. 401 or 404) and on_body (the complete
 * body). Answers are JSON built by the application.
 *
 * Connections are kept alive and pipelined requests are answered in order.
 * An answer from on_headers is sent once the body, if any, has been read and
 * dropped (up to HTTP_MAX_DISCARD), so the connection stays usable; only a
 * body over the cap or a client waiting for "100 Continue" gets its answer
 * at once, with "Connection: close". http_answer.close asks for a close.
 *
 * Thread-safety: callbacks run concurrently on connection threads.
 */
#ifndef CJ_HTTP_SERVER_H
#define CJ_HTTP_SERVER_H

#include <stdint.h>

#include "buf.h"
#include "cj.h"
#include "log.h"

#define HTTP_IDLE_TIMEOUT_S 60
#define HTTP_MAX_CONNECTIONS 4096
/* A chunked body over the cap, or the body of a request answered from its
 * headers, is read and dropped up to this many bytes before the answer;
 * beyond it the connection is closed without one. */
#define HTTP_MAX_DISCARD (64u << 20)

struct MHD_Connection;
struct sockaddr;
struct http_req_fields;

struct http_req {
	struct MHD_Connection *conn; /* NULL: built in process (http_request_run) */
	const struct http_req_fields *fields; /* with conn NULL: headers, query, peer */
	const char *method;
	const char *path;
	long long content_length; /* -1 when not given */
	struct buf body; /* capped at max_body */
	int body_too_big;
	size_t discarded; /* bytes dropped after the cap */
	int answered; /* an answer was given (by on_headers or on_body) */
	int64_t start_ms;
	void *app_state; /* the application's, freed in on_done */
	char trace_id[64];
	char span_id[32];
	struct log_ctx log; /* installed while callbacks run */
};

struct http_answer {
	int status;
	char *body; /* malloc'd; NULL = empty JSON object */
	size_t len;
	const char *content_type; /* NULL = application/json */
	int close; /* ask the client to close the connection */
	char retry_after[16]; /* "" = no header */
};

struct http_app {
	/* Return 1 when a filled in and the request is answered without reading
	 * the body; 0 to read the body. */
	int (*on_headers)(void *app, struct http_req *r, struct http_answer *a);
	/* The body is complete (or over the cap: r->body_too_big); fill a. */
	void (*on_body)(void *app, struct http_req *r, struct http_answer *a);
	/* After the answer was sent or the connection died: free app_state. */
	void (*on_done)(void *app, struct http_req *r);
	void *app;
};

struct http_server;

/* Starts listening on bind_address:port. NULL on failure (err says why). */
struct http_server *http_server_start(const char *bind_address, int port, size_t max_body,
                                      const struct http_app *app, char *err, size_t errlen);
/* Stops accepting new connections (listening socket closed). */
void http_server_quiesce(struct http_server *s);
/* Requests currently being processed. */
long http_server_active(const struct http_server *s);
/* Closes every connection and frees the server. */
void http_server_stop(struct http_server *s);

/* Header value (case-insensitive) or NULL. */
const char *http_request_header(const struct http_req *r, const char *name);
/* Query argument or NULL. Present but empty is "". */
const char *http_request_query(const struct http_req *r, const char *name);
/* Replaces the server's body cap for this one request (a route with a cap of
 * its own). Only from on_headers, before any body byte is read. */
void http_request_set_max_body(struct http_req *r, size_t max_body);

/* 1 when the request's peer is a loopback address (127.0.0.0/8, ::1,
 * ::ffff:127.0.0.0/104); 0 otherwise or when unknown. */
int http_request_peer_loopback(const struct http_req *r);
/* The address test of http_request_peer_loopback(). Pure. */
int http_addr_is_loopback(const struct sockaddr *sa);

/* ---- requests built in process (tests, fuzzing) ---- */

/* What a connection tells about a request built in process: headers and
 * query arguments as "name", "value", ... NULL-terminated arrays (NULL:
 * none; names are matched case-insensitively, as libmicrohttpd does; the
 * path and the arguments are already percent-decoded), and whether the
 * peer counts as loopback. Borrowed for the duration of the run. */
struct http_req_fields {
	const char *const *headers;
	const char *const *query;
	int peer_loopback;
};

/* Runs one request through app exactly as the server would, without a
 * socket: on_headers; the body_len bytes of body (if any) appended under
 * max_body, or dropped when the request was answered from its headers;
 * on_body; on_done. The caller gives a Content-Length header matching
 * body_len, or none (a chunked body: give Transfer-Encoding). *out
 * receives the answer; its body is malloc'd (NULL: "{}"), the caller frees
 * it; status 0 when the server would have closed the connection without
 * one (a body dropped beyond HTTP_MAX_DISCARD). Returns 0, or -1 on ENOMEM
 * (no application callback ran). For tests and fuzzing: no network, no
 * thread of its own. */
int http_request_run(const struct http_app *app, size_t max_body, const char *method,
                     const char *path, const struct http_req_fields *fields, const char *body,
                     size_t body_len, struct http_answer *out) CJ_WUR;

/* Fills a with {"error": code, "message": the printf-style fmt and its
 * arguments, cut to 511 bytes}. */
void http_answer_error(struct http_answer *a, int status, const char *code, const char *fmt, ...)
    CJ_PRINTF(4, 5);
/* Fills a with the compact serialisation of body (reference stolen). */
void http_answer_json(struct http_answer *a, int status, json_t *body);

#endif
