/*
 * http_server.h - the HTTP/1.1 server (libmicrohttpd, thread per connection).
 *
 * Why thread per connection: job handlers block for seconds on upstream
 * calls; with a thread per connection a slow job stalls only its own
 * connection, and the code stays straight-line. Cloud Run sends at most 80
 * (max 1000) concurrent requests per instance; threads get small stacks
 * (256 KiB, mostly untouched), so 1,000+ open connections cost little.
 *
 * Connection limits (conn_watch.h enforces the totals, whatever a client's
 * trickle rate): a request's head (request line and headers) must arrive
 * within HTTP_HEAD_TIMEOUT_S of the accept, or, on a kept-alive connection,
 * of its request line, which must come within HTTP_IDLE_TIMEOUT_S of the
 * last answer; its body within HTTP_BODY_TIMEOUT_S of the head. Past that
 * the connection is closed without an answer. At most HTTP_MAX_CONNECTIONS
 * are open; above HTTP_MAX_CONNECTIONS - HTTP_SPARE_CONNECTIONS each new one
 * closes the connection that has waited longest for a head, so slow clients
 * cannot lock new ones out.
 *
 * The server owns request plumbing only: it collects headers, enforces the
 * body cap (from Content-Length before reading, by counting for chunked
 * bodies), and calls the application twice per request: on_headers (may
 * answer from the headers alone, e.g. 401 or 404) and on_body (the complete
 * body, or a body over the cap). Answers are JSON built by the application;
 * only answers libmicrohttpd 0.9.75 gives itself (400 for a malformed head
 * or chunk framing, 413 for a Content-Length or chunk size beyond 64 bits,
 * 414/431 for a head over 64 KiB, 505) carry its own HTML: that version
 * lets no application change them.
 *
 * Paths: the path the application sees is percent-decoded, but a path with
 * a malformed escape or one that decodes to a control character (%00
 * included: "/jobs/ping%00x" is not "/jobs/ping") is flagged path_invalid,
 * and query arguments keep such escapes undecoded.
 *
 * Connections are kept alive and pipelined requests are answered in order.
 * An answer from on_headers is sent once the body, if any, has been read and
 * dropped (up to the body cap), so the connection stays usable. A body over
 * the cap is answered as soon as that is known, with "Connection: close":
 * from its Content-Length before it is read, or, chunked, once the bytes
 * read pass the cap (then the rest is not read). A client waiting for
 * "100 Continue" also gets its answer at once, and a close.
 * http_answer.close asks for a close.
 *
 * Thread-safety: callbacks run concurrently on connection threads.
 */
#ifndef CJ_HTTP_SERVER_H
#define CJ_HTTP_SERVER_H

#include <stdint.h>

#include "buf.h"
#include "cj.h"
#include "log.h"

#define HTTP_HEAD_TIMEOUT_S 10
#define HTTP_IDLE_TIMEOUT_S 60
#define HTTP_BODY_TIMEOUT_S 60
#define HTTP_MAX_CONNECTIONS 4096
#define HTTP_SPARE_CONNECTIONS 64
/* After an answer given before the end of the body, what the client still
 * sends is read and dropped for at most this long and this much, so that
 * closing does not reset the connection before the client has read the
 * answer. */
#define HTTP_LINGER_MS 2000
#define HTTP_LINGER_BYTES (256u << 10)

/* Extra headers an answer may carry (struct http_answer). */
#define HTTP_ANSWER_MAX_HEADERS 8

struct MHD_Connection;
struct sockaddr;
struct http_req_fields;

struct http_req {
	struct MHD_Connection *conn; /* NULL: built in process (http_request_run) */
	const struct http_req_fields *fields; /* with conn NULL: headers, query, peer */
	const char *method;
	const char *path; /* percent-decoded */
	int path_invalid; /* path had an escape that is malformed or decodes to a
	                   * control character: route nothing (404) */
	long long content_length; /* -1 when not given */
	struct buf body; /* capped at max_body */
	int body_too_big;
	size_t discarded; /* body bytes dropped: over the cap, or after an answer
	                   * from the headers */
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
	/* Extra headers, in order until the first NULL name; names and values
	 * in static storage (or outliving the answer). A Cache-Control here
	 * replaces the default "no-store". Added with http_answer_header(). */
	struct http_header {
		const char *name, *value;
	} headers[HTTP_ANSWER_MAX_HEADERS];
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

/* Decodes %XX escapes in s in place, except those that are malformed or
 * decode to a control character (0x00-0x1F, 0x7F), which stay as they are.
 * Returns the new length. Pure. */
size_t http_unescape(char *s);
/* 1 when the path of uri (up to '?') may be routed: no control character,
 * and every '%' starts an escape of two hex digits that does not decode to
 * one. Pure. */
int http_path_acceptable(const char *uri);

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
/* Adds the header name: value to a (both in static storage, or outliving
 * the answer). 0, or -1 when a has HTTP_ANSWER_MAX_HEADERS already (a bug of
 * the caller; the header is left out). */
int http_answer_header(struct http_answer *a, const char *name, const char *value);
/* Fills a with the compact serialisation of body (reference stolen). */
void http_answer_json(struct http_answer *a, int status, json_t *body);

#endif
