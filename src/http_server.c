/*
 * http_server.c - libmicrohttpd plumbing; see http_server.h.
 *
 * Life of a request: the first access-handler call sets up struct
 * http_request and runs on_headers; upload calls append to the capped body;
 * the final call runs on_body and queues the answer; the completion callback
 * runs on_done and frees everything, on every path (including dropped
 * connections). http_request_run() makes the same calls in a row for a
 * request built in process (tests, fuzzing), with no connection.
 *
 * Keep-alive and pipelining: libmicrohttpd (0.9.75, connection.c) treats an
 * answer queued in the first call, before the upload is consumed, as a
 * refusal of the body: it sets discard_request, answers with "Connection:
 * close", closes, and drops whatever the client pipelined behind the request
 * — even for a GET without a body. So an answer on_headers gives is held and
 * queued by the final call, after the body (if any) is read and dropped up
 * to HTTP_MAX_DISCARD; the connection then carries the next request. Only an
 * answer that must not wait for the body is queued at once and closes: a
 * body over the cap by its Content-Length, one over HTTP_MAX_DISCARD, or a
 * client waiting for "100 Continue" (it has not sent the body).
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timeutil.h"

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_app app;
	size_t max_body;
	atomic_long active;
};

/* A request as the server keeps it (libmicrohttpd's per-request pointer). */
struct request {
	struct http_req pub; /* what the application sees */
	struct http_answer held; /* given by on_headers, queued after the body */
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
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (a->retry_after[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, a->retry_after);
	if (a->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(q->pub.conn, (unsigned)a->status, resp);
	MHD_destroy_response(resp);
	return ret;
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
	if (r->body_too_big || r->content_length > (long long)HTTP_MAX_DISCARD)
		return 1;
	return expect && !strcasecmp(expect, "100-continue");
}

static struct request *request_new(struct http_server *s, struct MHD_Connection *conn,
                                   const struct http_req_fields *fields, const char *url,
                                   const char *method)
{
	struct request *q = calloc(1, sizeof(*q));
	struct http_req *r;

	if (!q)
		return NULL;
	atomic_fetch_add(&s->active, 1);
	r = &q->pub;
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
	return q;
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

/* Upload calls: body bytes, appended under the cap or dropped. */
static enum MHD_Result on_request_upload(struct http_req *r, const char *upload, size_t size)
{
	if (!r->answered && !r->body_too_big && buf_append(&r->body, upload, size))
		r->body_too_big = 1;
	if (r->answered || r->body_too_big) {
		/* libmicrohttpd cannot answer in the middle of an upload, so
		 * the rest is read and dropped, up to a bound. */
		r->discarded += size;
		if (r->discarded > HTTP_MAX_DISCARD) {
			log_ctx_set(&r->log);
			log_msg(L_WARNING, "%s %.200s: over %u bytes of body dropped; closing",
			        r->method, r->path, HTTP_MAX_DISCARD);
			log_ctx_set(NULL);
			return MHD_NO;
		}
	}
	return MHD_YES;
}

/* The final call: the whole request is in. */
static enum MHD_Result on_request_complete(struct http_server *s, struct request *q)
{
	struct http_req *r = &q->pub;
	struct http_answer a = {0};
	enum MHD_Result ret;

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
	if (!q) {
		q = request_new(s, conn, NULL, url, method);
		if (!q)
			return MHD_NO;
		*con_cls = q;
		return on_request_headers(s, q);
	}
	if (*upload_size) {
		ret = on_request_upload(&q->pub, upload, *upload_size);
		*upload_size = 0;
		return ret;
	}
	return on_request_complete(s, q);
}

/* After the answer was sent or the connection died: on_done, then free. */
static void request_finish(struct http_server *s, struct request *q)
{
	struct http_req *r = &q->pub;

	log_ctx_set(&r->log);
	s->app.on_done(s->app.app, r);
	log_ctx_set(NULL);
	buf_release(&r->body);
	free(q->held.body);
	free(q);
	atomic_fetch_sub(&s->active, 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *q = *con_cls;

	(void)conn;
	(void)toe;
	if (!q)
		return;
	request_finish(cls, q);
	*con_cls = NULL;
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
	q = request_new(&s, NULL, fields, path, method);
	if (!q)
		return -1;
	q->sink = out;
	(void)on_request_headers(&s, q);
	/* An answer that went out before the body ends the request, as does a
	 * body dropped beyond HTTP_MAX_DISCARD (closed without an answer). */
	if (!q->sent && (!body_len || on_request_upload(&q->pub, body, body_len) == MHD_YES))
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
	s->daemon = MHD_start_daemon(
	    flags, (uint16_t)port, NULL, NULL, on_access, s, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
	    (unsigned)1024, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot listen on %s:%d (address in use or not available)",
		         bind_address, port);
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
	MHD_stop_daemon(s->daemon);
	free(s);
}
