/*
 * http_server.c - libmicrohttpd plumbing; see http_server.h.
 *
 * Life of a connection: NOTIFY_CONNECTION registers it with the connection
 * watch (conn_watch.h) when accepted and forgets it before libmicrohttpd
 * closes its socket; each request reports its phases there (request line,
 * head, body, answer), which set its deadlines.
 *
 * Life of a request: the URI log callback, called once the request line is
 * in, creates struct request and judges the raw path; the first
 * access-handler call fills it from the headers and runs on_headers; upload
 * calls append to the capped body; the final call runs on_body and queues
 * the answer; the completion callback runs on_done and frees everything, on
 * every path (including dropped connections and requests whose head never
 * completed).
 *
 * http_request_run() makes the same calls in a row for a request built in
 * process (tests, fuzzing), with no connection and no watch.
 *
 * Keep-alive and pipelining: libmicrohttpd (0.9.75, connection.c) treats an
 * answer queued in the first call, before the upload is consumed, as a
 * refusal of the body: it sets discard_request, answers with "Connection:
 * close", closes, and drops whatever the client pipelined behind the request
 * — even for a GET without a body. So an answer on_headers gives is held and
 * queued by the final call, after the body (if any) is read and dropped up
 * to the body cap; the connection then carries the next request. Only an
 * answer that must not wait for the body is queued at once and closes: a
 * body over the cap by its Content-Length, or a client waiting for "100
 * Continue" (it has not sent the body).
 *
 * Answers in the middle of a body: MHD_queue_response() refuses while a
 * body is being read (it wants the headers-processed or full-request
 * state), and reading a 100 MB chunked body to its end to refuse it is what
 * an attacker wants. So when the bytes read pass the cap (a chunked body
 * over it, or the dropped body of an answer held from the headers), the
 * answer is written to the socket directly: nothing of this request's
 * answer has gone out (libmicrohttpd answers a request only once it is
 * read, and answers in order), so those bytes are the connection's next.
 * Then the write side is shut, what the client still sends is dropped for a
 * short while (HTTP_LINGER_*: closing a socket with unread input resets the
 * connection, which can destroy the answer before the client reads it), and
 * the connection is closed; libmicrohttpd never queues an answer for it.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn_watch.h"
#include "timeutil.h"

/* How long writing an answer straight to the socket may take. */
#define HTTP_WRITE_NOW_MS 1000

struct http_server {
	struct MHD_Daemon *daemon;
	struct conn_watch *watch;
	struct http_app app;
	size_t max_body;
	atomic_long active;
};

/* A request as the server keeps it (libmicrohttpd's per-request pointer),
 * from its request line to its completion. */
struct request {
	struct http_req pub; /* what the application sees */
	struct http_answer held; /* given by on_headers, queued after the body */
	struct conn_watch_conn *watch; /* its connection's; may be NULL */
	int started; /* the head is in: pub is filled and counted in active */
	int closing; /* answered before the end of the body; lingering */
	size_t lingered; /* bytes dropped while closing */
	struct http_answer *sink; /* built in process: the answer goes here */
	int sent; /* the answer went out (or into sink) */
};

/* The value of name in a "name", "value", ... NULL list, as
 * libmicrohttpd's lookup (case-insensitive, the first one). */
static const char *fields_lookup(const char *const *list, const char *name)
{
	for (size_t i = 0; list && list[i] && list[i + 1]; i += 2)
		if (!strcasecmp(list[i], name))
			return list[i + 1];
	return NULL;
}

const char *http_request_header(const struct http_req *r, const char *name)
{
	if (!r->conn)
		return fields_lookup(r->fields ? r->fields->headers : NULL, name);
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_request_query(const struct http_req *r, const char *name)
{
	if (!r->conn)
		return fields_lookup(r->fields ? r->fields->query : NULL, name);
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int http_addr_is_loopback(const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;

	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
		return 1;
	/* ::ffff:127.x.y.z, as a dual-stack listener reports IPv4 loopback. */
	return !memcmp(v6->sin6_addr.s6_addr, mapped, sizeof(mapped)) &&
	    v6->sin6_addr.s6_addr[12] == 127;
}

int http_request_peer_loopback(const struct http_req *r)
{
	const union MHD_ConnectionInfo *ci;

	if (!r->conn)
		return r->fields && r->fields->peer_loopback;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci && http_addr_is_loopback(ci->client_addr);
}

void http_request_set_max_body(struct http_req *r, size_t max_body)
{
	r->body.max = max_body;
	r->body_too_big =
	    r->content_length >= 0 && (unsigned long long)r->content_length > max_body;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_control(int byte)
{
	return byte < 0x20 || byte == 0x7f;
}

/* The byte %XX at p encodes, or -1 when p is no escape of two hex digits. */
static int escaped_byte(const char *p)
{
	int hi, lo;

	if (p[0] != '%' || (hi = hex_value(p[1])) < 0 || (lo = hex_value(p[2])) < 0)
		return -1;
	return hi * 16 + lo;
}

size_t http_unescape(char *s)
{
	char *w = s;
	const char *p = s;
	int byte;

	while (*p) {
		byte = *p == '%' ? escaped_byte(p) : -1;
		if (byte >= 0 && !is_control(byte)) {
			*w++ = (char)byte;
			p += 3;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

int http_path_acceptable(const char *uri)
{
	const char *p;
	int byte;

	if (!uri)
		return 0;
	for (p = uri; *p && *p != '?'; p++) {
		if (is_control((unsigned char)*p))
			return 0;
		if (*p != '%')
			continue;
		byte = escaped_byte(p);
		if (byte < 0 || is_control(byte))
			return 0;
		p += 2;
	}
	return 1;
}

int http_answer_header(struct http_answer *a, const char *name, const char *value)
{
	for (size_t i = 0; i < HTTP_ANSWER_MAX_HEADERS; i++) {
		if (!a->headers[i].name) {
			a->headers[i].name = name;
			a->headers[i].value = value;
			return 0;
		}
	}
	log_msg(L_ERROR, "answer header %s left out: more than %d headers", name,
	        HTTP_ANSWER_MAX_HEADERS);
	return -1;
}

/* The answer's Cache-Control: one of its own headers, else "no-store". */
static const char *answer_cache_control(const struct http_answer *a)
{
	for (size_t i = 0; i < HTTP_ANSWER_MAX_HEADERS && a->headers[i].name; i++) {
		if (!strcasecmp(a->headers[i].name, "Cache-Control"))
			return a->headers[i].value;
	}
	return "no-store";
}

void http_answer_json(struct http_answer *a, int status, json_t *body)
{
	a->status = status;
	a->body = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	a->len = a->body ? strlen(a->body) : 0;
	json_decref(body);
	if (!a->body && body) {
		a->status = 500;
		a->body = strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}");
		a->len = a->body ? strlen(a->body) : 0;
	}
}

void http_answer_error(struct http_answer *a, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_answer_json(a, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

/* Trace ids from X-Cloud-Trace-Context ("TRACE/SPAN;o=1") or W3C traceparent
 * ("00-TRACE-SPAN-01"), kept only when they look like ids. */
static void read_trace(struct http_req *r)
{
	const char *h = http_request_header(r, "X-Cloud-Trace-Context");
	size_t n;

	if (h) {
		n = strspn(h, "0123456789abcdefABCDEF");
		if (n > 0 && n < sizeof(r->trace_id)) {
			memcpy(r->trace_id, h, n);
			r->trace_id[n] = '\0';
			if (h[n] == '/') {
				size_t m = strspn(h + n + 1, "0123456789");

				if (m > 0 && m < sizeof(r->span_id)) {
					memcpy(r->span_id, h + n + 1, m);
					r->span_id[m] = '\0';
				}
			}
		}
		return;
	}
	h = http_request_header(r, "traceparent");
	if (h && strlen(h) >= 55 && h[2] == '-' && h[35] == '-' &&
	    strspn(h + 3, "0123456789abcdef") == 32 && strspn(h + 36, "0123456789abcdef") == 16) {
		memcpy(r->trace_id, h + 3, 32);
		r->trace_id[32] = '\0';
		memcpy(r->span_id, h + 36, 16);
		r->span_id[16] = '\0';
	}
}

static enum MHD_Result send_answer(struct request *q, struct http_answer *a)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body = a->body;
	size_t len = a->len;

	q->sent = 1;
	if (q->sink) { /* built in process: the caller takes the answer */
		*q->sink = *a;
		a->body = NULL;
		return MHD_YES;
	}
	if (!body) {
		body = strdup("{}");
		len = 2;
		if (!body)
			return MHD_NO;
	}
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	a->body = NULL;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        a->content_type ? a->content_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, answer_cache_control(a));
	for (size_t i = 0; i < HTTP_ANSWER_MAX_HEADERS && a->headers[i].name; i++) {
		if (strcasecmp(a->headers[i].name, "Cache-Control"))
			MHD_add_response_header(resp, a->headers[i].name, a->headers[i].value);
	}
	if (a->retry_after[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, a->retry_after);
	if (a->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(q->pub.conn, (unsigned)a->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Sends n bytes on a non-blocking socket by deadline_ms. 0 or -1. */
static int send_all(int fd, const char *p, size_t n, int64_t deadline_ms)
{
	struct pollfd pfd = {fd, POLLOUT, 0};
	ssize_t w;
	int64_t left;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		left = deadline_ms - time_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
	}
	return 0;
}

/* Writes a as a complete answer with "Connection: close" straight to the
 * request's socket (see the top of this file for when and why). 0 or -1. */
static int write_answer_now(const struct http_req *r, const struct http_answer *a)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	const char *reason = MHD_get_reason_phrase_for((unsigned)a->status);
	const char *body = a->body ? a->body : "{}";
	size_t len = a->body ? a->len : 2;
	int64_t deadline = time_mono_ms() + HTTP_WRITE_NOW_MS;
	/* The Date header libmicrohttpd puts on its answers: real time. */
	time_t now = (time_t)time_wall_s();
	char head[2048], date[64];
	struct tm tm;
	size_t used;
	int n;

	if (!ci)
		return -1;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\nContent-Type: %s\r\n"
	             "Cache-Control: %s\r\n%s%s%s",
	             a->status, reason && *reason ? reason : "Unknown", date,
	             a->content_type ? a->content_type : "application/json",
	             answer_cache_control(a), a->retry_after[0] ? "Retry-After: " : "",
	             a->retry_after, a->retry_after[0] ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	used = (size_t)n;
	for (size_t i = 0; i < HTTP_ANSWER_MAX_HEADERS && a->headers[i].name; i++) {
		if (!strcasecmp(a->headers[i].name, "Cache-Control"))
			continue;
		n = snprintf(head + used, sizeof(head) - used, "%s: %s\r\n", a->headers[i].name,
		             a->headers[i].value);
		if (n < 0 || (size_t)n >= sizeof(head) - used)
			return -1;
		used += (size_t)n;
	}
	n = snprintf(head + used, sizeof(head) - used, "Content-Length: %zu\r\n\r\n", len);
	if (n < 0 || (size_t)n >= sizeof(head) - used)
		return -1;
	used += (size_t)n;
	if (send_all(ci->connect_fd, head, used, deadline))
		return -1;
	if (!strcmp(r->method, "HEAD"))
		return 0;
	return send_all(ci->connect_fd, body, len, deadline);
}

static long long parse_content_length(const char *v)
{
	long long n = 0;

	if (!v || !*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (1LL << 50))
			return -2; /* malformed: MHD itself rejects these, but be strict */
		n = n * 10 + (*v - '0');
	}
	return n;
}

/* Whether the request carries a body: a Content-Length over 0, or chunked. */
static int has_body(const struct http_req *r)
{
	return r->content_length > 0 ||
	    (r->content_length < 0 && http_request_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING));
}

/* Whether an answer given from the headers goes out before the body is read
 * (closing the connection, see the top of this file) instead of after it. */
static int answer_before_body(const struct http_req *r)
{
	const char *expect = http_request_header(r, MHD_HTTP_HEADER_EXPECT);

	if (!has_body(r))
		return 0;
	if (r->body_too_big)
		return 1;
	return expect && !strcasecmp(expect, "100-continue");
}

/* The head is in: fills q from it (conn NULL: built in process, fields
 * saying what a connection would). */
static void request_start(struct http_server *s, struct request *q, struct MHD_Connection *conn,
                          const struct http_req_fields *fields, const char *url,
                          const char *method)
{
	struct http_req *r = &q->pub;

	q->started = 1;
	atomic_fetch_add(&s->active, 1);
	conn_watch_enter(s->watch, q->watch, CONN_BODY);
	r->conn = conn;
	r->fields = fields;
	r->method = method;
	r->path = url;
	r->start_ms = time_mono_ms();
	buf_init(&r->body, s->max_body);
	r->content_length =
	    parse_content_length(http_request_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH));
	read_trace(r);
	r->log = (struct log_ctx)LOG_CTX_INIT;
	r->log.trace_id = r->trace_id[0] ? r->trace_id : NULL;
	r->log.span_id = r->span_id[0] ? r->span_id : NULL;
	if (r->content_length >= 0 && (unsigned long long)r->content_length > s->max_body)
		r->body_too_big = 1;
}

/* The first call: headers are in, nothing of the body is read. */
static enum MHD_Result on_request_headers(struct http_server *s, struct request *q)
{
	struct http_req *r = &q->pub;
	struct http_answer a = {0};
	enum MHD_Result ret = MHD_YES;

	log_ctx_set(&r->log);
	if (s->app.on_headers(s->app.app, r, &a)) {
		r->answered = 1;
		if (answer_before_body(r)) {
			a.close = 1;
			ret = send_answer(q, &a);
			free(a.body);
		} else {
			q->held = a; /* queued by the final call */
		}
	}
	log_ctx_set(NULL);
	return ret;
}

/* The bytes read passed the cap: answers now (the answer held from the
 * headers, or on_body's to a body over the cap), straight to the socket,
 * and starts closing. See the top of this file. */
static enum MHD_Result answer_mid_body(struct http_server *s, struct request *q)
{
	struct http_req *r = &q->pub;
	struct http_answer a = {0};
	int failed;

	log_ctx_set(&r->log);
	if (r->answered) {
		a = q->held;
		q->held.body = NULL;
	} else {
		s->app.on_body(s->app.app, r, &a);
		r->answered = 1;
	}
	a.close = 1;
	if (q->sink) { /* built in process: the caller takes the answer */
		(void)send_answer(q, &a);
		failed = 0;
	} else {
		failed = write_answer_now(r, &a);
	}
	free(a.body);
	log_msg(L_INFO, "%s %.200s: body past %zu bytes; answered %d %s, closing", r->method,
	        r->path, r->body.max, a.status,
	        failed ? "(the write failed)" : "before reading the rest");
	log_ctx_set(NULL);
	if (failed)
		return MHD_NO;
	q->closing = 1;
	conn_watch_enter(s->watch, q->watch, CONN_CLOSING);
	if (r->conn) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (ci)
			shutdown(ci->connect_fd, SHUT_WR);
	}
	return MHD_YES;
}

/* Upload calls: body bytes, appended under the cap or dropped. */
static enum MHD_Result on_request_upload(struct http_server *s, struct request *q,
                                         const char *upload, size_t size)
{
	struct http_req *r = &q->pub;

	if (q->closing) {
		q->lingered += size;
		return q->lingered > HTTP_LINGER_BYTES ? MHD_NO : MHD_YES;
	}
	if (!r->answered && !r->body_too_big && buf_append(&r->body, upload, size))
		r->body_too_big = 1;
	if (!r->answered && !r->body_too_big)
		return MHD_YES;
	/* The body of an answer held from the headers is dropped up to the
	 * cap, so the connection stays usable; past the cap, or for a body
	 * over the cap, the answer goes out now. */
	r->discarded += size;
	if (!r->body_too_big && r->discarded <= r->body.max)
		return MHD_YES;
	return answer_mid_body(s, q);
}

/* The final call: the whole request is in. */
static enum MHD_Result on_request_complete(struct http_server *s, struct request *q)
{
	struct http_req *r = &q->pub;
	struct http_answer a = {0};
	enum MHD_Result ret;

	if (q->closing)
		return MHD_NO; /* answered already: close */
	conn_watch_enter(s->watch, q->watch, CONN_BUSY);
	log_ctx_set(&r->log);
	if (r->answered) {
		ret = send_answer(q, &q->held);
		free(q->held.body);
		q->held.body = NULL;
		log_ctx_set(NULL);
		return ret;
	}
	s->app.on_body(s->app.app, r, &a);
	r->answered = 1;
	if (r->body_too_big)
		a.close = 1;
	ret = send_answer(q, &a);
	free(a.body);
	log_ctx_set(NULL);
	return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
	struct http_server *s = cls;
	struct request *q = *con_cls;
	enum MHD_Result ret;

	(void)version;
	if (!q)
		return MHD_NO; /* on_request_line() was out of memory */
	if (!q->started) {
		request_start(s, q, conn, NULL, url, method);
		return on_request_headers(s, q);
	}
	if (*upload_size) {
		ret = on_request_upload(s, q, upload, *upload_size);
		*upload_size = 0;
		return ret;
	}
	return on_request_complete(s, q);
}

/* The request line is in (libmicrohttpd's URI log callback, given the raw
 * URI before it decodes it): the request begins. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *s = cls;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_watch_conn *watch = ci ? ci->socket_context : NULL;
	struct request *q = calloc(1, sizeof(*q));

	conn_watch_enter(s->watch, watch, CONN_HEAD);
	if (!q)
		return NULL;
	q->watch = watch;
	q->pub.path_invalid = !http_path_acceptable(uri);
	return q;
}

/* After the answer was sent or the connection died: on_done (when the
 * head had come in), then free. */
static void request_finish(struct http_server *s, struct request *q)
{
	struct http_req *r = &q->pub;

	if (q->started) {
		log_ctx_set(&r->log);
		s->app.on_done(s->app.app, r);
		log_ctx_set(NULL);
		atomic_fetch_sub(&s->active, 1);
	}
	buf_release(&r->body);
	free(q->held.body);
	free(q);
}

/* Connections come and go (libmicrohttpd's daemon thread): the watch learns
 * of each one before it is served and forgets it before its socket is
 * closed. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = ci ? conn_watch_add(s->watch, ci->connect_fd) : NULL;
		return;
	}
	conn_watch_remove(s->watch, *socket_context);
	*socket_context = NULL;
}

/* Query arguments and the path are decoded keeping escapes of control
 * characters: "?type=ping%00x" must not read as "ping". */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return http_unescape(s);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct request *q = *con_cls;

	(void)conn;
	(void)toe;
	if (!q)
		return;
	*con_cls = NULL;
	/* A kept-alive connection now waits for its next request. */
	conn_watch_enter(s->watch, q->watch, CONN_IDLE);
	request_finish(s, q);
}

/* The calls libmicrohttpd makes for one request (on_access, then
 * on_completed), made in a row on one thread. */
int http_request_run(const struct http_app *app, size_t max_body, const char *method,
                     const char *path, const struct http_req_fields *fields, const char *body,
                     size_t body_len, struct http_answer *out)
{
	struct http_server s;
	struct request *q;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	s.app = *app;
	s.max_body = max_body;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -1;
	q->pub.path_invalid = !http_path_acceptable(path);
	request_start(&s, q, NULL, fields, path, method);
	q->sink = out;
	(void)on_request_headers(&s, q);
	/* An answer that went out before the body ends the request, as does
	 * one given when the body passed the cap (then the connection would
	 * close). */
	if (!q->sent && (!body_len || on_request_upload(&s, q, body, body_len) == MHD_YES) &&
	    !q->sent)
		(void)on_request_complete(&s, q);
	request_finish(&s, q);
	return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_msg(L_DEBUG, "http server: %s", msg);
}

struct http_server *http_server_start(const char *bind_address, int port, size_t max_body,
                                      const struct http_app *app, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	const struct conn_watch_limits limits = {
	    HTTP_MAX_CONNECTIONS - HTTP_SPARE_CONNECTIONS, HTTP_HEAD_TIMEOUT_S * 1000,
	    HTTP_IDLE_TIMEOUT_S * 1000, HTTP_BODY_TIMEOUT_S * 1000, HTTP_LINGER_MS};
	struct http_server *s;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, bind_address, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((unsigned short)port);
	} else if (inet_pton(AF_INET6, bind_address, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((unsigned short)port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "invalid BIND_ADDRESS: \"%s\" is not an IP address",
		         bind_address);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->app = *app;
	s->max_body = max_body;
	s->watch = conn_watch_new(&limits);
	if (!s->watch) {
		snprintf(err, errlen, "cannot start the connection watch (out of memory)");
		free(s);
		return NULL;
	}
	s->daemon = MHD_start_daemon(
	    flags, (uint16_t)port, NULL, NULL, on_access, s, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_URI_LOG_CALLBACK,
	    on_request_line, s, MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
	    (unsigned)1024, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot listen on %s:%d (address in use or not available)",
		         bind_address, port);
		conn_watch_free(s->watch);
		free(s);
		return NULL;
	}
	return s;
}

void http_server_quiesce(struct http_server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

long http_server_active(const struct http_server *s)
{
	return atomic_load(&((struct http_server *)s)->active);
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	/* The daemon forgets every connection (on_connection) as it stops. */
	MHD_stop_daemon(s->daemon);
	conn_watch_free(s->watch);
	free(s);
}
