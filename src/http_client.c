/*
 * http_client.c - curl easy handles kept per thread, pooled between threads.
 *
 * Each handle keeps its own kept-alive connections. A thread keeps the
 * handle it used last, so a job's calls take no lock at all; when the
 * thread ends (libmicrohttpd runs a thread per connection, so threads come
 * and go) its handle, with its live connections, goes to a pool the next
 * thread takes it from. Only the DNS cache and TLS sessions are shared
 * between handles: sharing the connection cache too would take a lock
 * several times per request, and under 64 concurrent jobs those locks were
 * a quarter of the futex calls of the ping path.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"
#include "timeutil.h"

#define POOL_MAX 64
/* Idle connections one handle keeps: one per upstream it talks to. */
#define HTTP_MAX_CACHED_CONNECTIONS 8

/* Guarded by pool_lock. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[POOL_MAX];
static int pool_n;
static int pool_closed;

/* The calling thread's idle handle; NULL while it is in use. */
static pthread_key_t thread_handle;

/* One lock per curl_lock_data kind that the share object protects. */
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static CURLSH *share;

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
	(void)h;
	(void)access;
	(void)u;
	pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u)
{
	(void)h;
	(void)u;
	pthread_mutex_unlock(&share_locks[data]);
}

/* Into the pool, live connections and all; freed when it is full or
 * closed. */
static void pool_put(CURL *h)
{
	pthread_mutex_lock(&pool_lock);
	if (!pool_closed && pool_n < POOL_MAX) {
		pool[pool_n++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* A thread ended: its handle goes to the pool. */
static void thread_handle_free(void *p)
{
	pool_put(p);
}

static pthread_once_t thread_handle_once = PTHREAD_ONCE_INIT;
static int thread_handle_ok;

static void thread_handle_key(void)
{
	thread_handle_ok = !pthread_key_create(&thread_handle, thread_handle_free);
}

/* The thread-handle key, made on first use (callers need not have called
 * http_client_global_init()); 0 when it could not be made. */
static int thread_handle_ready(void)
{
	return !pthread_once(&thread_handle_once, thread_handle_key) && thread_handle_ok;
}

int http_client_global_init(void)
{
	int i;

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return CJ_EINTERNAL;
	if (!thread_handle_ready())
		return CJ_EINTERNAL;
	pthread_mutex_lock(&pool_lock);
	pool_closed = 0;
	pthread_mutex_unlock(&pool_lock);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_locks[i], NULL);
	share = curl_share_init();
	if (!share)
		return CJ_ENOMEM;
	if (curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION))
		return CJ_EINTERNAL;
	return CJ_OK;
}

void http_client_global_cleanup(void)
{
	CURL *own = thread_handle_ready() ? pthread_getspecific(thread_handle) : NULL;

	if (own) {
		pthread_setspecific(thread_handle, NULL);
		curl_easy_cleanup(own);
	}
	pthread_mutex_lock(&pool_lock);
	pool_closed = 1;
	while (pool_n > 0)
		curl_easy_cleanup(pool[--pool_n]);
	pthread_mutex_unlock(&pool_lock);
	if (share) {
		curl_share_cleanup(share);
		share = NULL;
	}
	curl_global_cleanup();
}

struct sink {
	struct buf *b;
	int too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
	struct sink *s = u;

	if (buf_append(s->b, p, size * n)) {
		s->too_big = 1;
		return 0;
	}
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
	struct buf *h = u;

	/* A new status line starts a new header block (100 Continue, proxies). */
	if (size * n >= 5 && !strncmp(p, "HTTP/", 5))
		buf_reset(h);
	if (buf_append(h, p, size * n))
		return 0;
	return size * n;
}

struct send_counter {
	const char *method; /* the request line starts with it */
	size_t method_len;
	int *sends;
};

/* CURLOPT_DEBUGFUNCTION: counts the request header blocks written out. Only
 * installed for requests that ask (it needs CURLOPT_VERBOSE, which routes
 * every trace line through here instead of stderr). */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *u)
{
	struct send_counter *c = u;

	(void)h;
	if (type == CURLINFO_HEADER_OUT && size > c->method_len &&
	    !memcmp(data, c->method, c->method_len) && data[c->method_len] == ' ')
		(*c->sends)++;
	return 0;
}

static int on_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct http_request *req = u;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return req->cancelled(req->cancel_arg) ? 1 : 0;
}

/* The options every call of ours shares, set once when a handle is made:
 * handles are never reset (a reset frees and rebuilds a handle's settings,
 * several allocations per call), so http_do() sets every option that
 * differs between calls, on every call. */
static CURL *handle_new(void)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_SHARE, share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)HTTP_MAX_CACHED_CONNECTIONS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "catchup-jobs");
	return h;
}

static CURL *handle_get(void)
{
	CURL *h = thread_handle_ready() ? pthread_getspecific(thread_handle) : NULL;

	if (h) {
		pthread_setspecific(thread_handle, NULL);
		return h;
	}
	pthread_mutex_lock(&pool_lock);
	if (pool_n > 0)
		h = pool[--pool_n];
	pthread_mutex_unlock(&pool_lock);
	return h ? h : handle_new();
}

static void handle_put(CURL *h)
{
	if (thread_handle_ready() && !pthread_getspecific(thread_handle) &&
	    !pthread_setspecific(thread_handle, h))
		return;
	pool_put(h);
}

static int translate(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return CJ_OK;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_ABORTED_BY_CALLBACK:
		return CJ_ETIMEOUT;
	case CURLE_OUT_OF_MEMORY:
		return CJ_ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return CJ_EINVAL;
	default:
		return CJ_EUNAVAIL;
	}
}

struct http_headers {
	struct curl_slist *list; /* the lines, then "Expect:" */
};

/* Appends line to *hl; CJ_OK or CJ_ENOMEM (then *hl is freed and NULL). */
static int append_line(struct curl_slist **hl, const char *line)
{
	struct curl_slist *tmp = curl_slist_append(*hl, line);

	if (!tmp) {
		curl_slist_free_all(*hl);
		*hl = NULL;
		return CJ_ENOMEM;
	}
	*hl = tmp;
	return CJ_OK;
}

/* The request's header lines, and no "Expect: 100-continue" round trip on
 * larger bodies. */
static int build_list(const char *const *lines, struct curl_slist **hl)
{
	*hl = NULL;
	for (const char *const *hp = lines; hp && *hp; hp++)
		if (append_line(hl, *hp))
			return CJ_ENOMEM;
	return append_line(hl, "Expect:");
}

struct http_headers *http_headers_new(const char *const *lines)
{
	struct http_headers *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (build_list(lines, &h->list)) {
		free(h);
		return NULL;
	}
	return h;
}

void http_headers_free(struct http_headers *h)
{
	if (!h)
		return;
	for (struct curl_slist *l = h->list; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(h->list);
	free(h);
}

int http_do(const struct http_request *req, struct http_response *resp, char *errbuf, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL;
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
	long ctimeout = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
	                                            : (timeout < 5000 ? timeout : 5000);
	struct sink sink;
	struct send_counter counter;
	int64_t start;
	CURLcode cc;
	CURL *h;
	int rc;

	resp->status = 0;
	resp->sends = 0;
	buf_init(&resp->body, req->max_response ? req->max_response : HTTP_DEFAULT_MAX_RESPONSE);
	buf_init(&resp->headers, 64 * 1024);
	if (errbuf && errlen)
		errbuf[0] = '\0';
	sink.b = &resp->body;
	sink.too_big = 0;
	if (req->prepared)
		hl = req->prepared->list;
	else if (build_list(req->headers, &hl))
		return CJ_ENOMEM;
	h = handle_get();
	if (!h) {
		if (!req->prepared)
			curl_slist_free_all(hl);
		return CJ_ENOMEM;
	}
	/* Every option a call may change, set on every call (see handle_new). */
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp->headers);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)req);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, req->cancelled ? 0L : 1L);
	/* The method that goes on the request line: the body first (POSTFIELDS
	 * makes it a POST, HTTPGET a GET), then NOBODY (HTTPGET clears it), then
	 * a custom verb. */
	counter.method = req->body ? "POST" : "GET";
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else if (req->method && !strcmp(req->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		counter.method = "POST";
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	/* HEAD: no body follows the answer. */
	curl_easy_setopt(h, CURLOPT_NOBODY, req->method && !strcmp(req->method, "HEAD") ? 1L : 0L);
	if (req->method && strcmp(req->method, "GET") && strcmp(req->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		counter.method = req->method;
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	}
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, req->fresh_connection ? 1L : 0L);
	if (req->count_sends) {
		counter.method_len = strlen(counter.method);
		counter.sends = &resp->sends;
		curl_easy_setopt(h, CURLOPT_DEBUGDATA, &counter);
		curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	}

	start = time_mono_ms();
	cc = curl_easy_perform(h);
	if (req->upstream)
		metrics_upstream(req->upstream, req->op ? req->op : "call",
		                 (double)(time_mono_ms() - start) / 1000.0);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (sink.too_big)
		rc = CJ_ETOOBIG;
	else
		rc = translate(cc);
	if (rc && errbuf && errlen)
		snprintf(errbuf, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
	/* Nothing of this call's stack stays reachable from the handle. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
	if (req->count_sends) {
		curl_easy_setopt(h, CURLOPT_VERBOSE, 0L);
		curl_easy_setopt(h, CURLOPT_DEBUGDATA, NULL);
	}
	handle_put(h);
	if (!req->prepared)
		curl_slist_free_all(hl);
	return rc;
}

void http_response_release(struct http_response *resp)
{
	buf_release(&resp->body);
	buf_release(&resp->headers);
}

int http_response_fill(struct http_response *resp, long status, const char *headers, size_t hlen,
                       const char *body, size_t len, size_t max_response)
{
	int rc;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, max_response ? max_response : HTTP_DEFAULT_MAX_RESPONSE);
	buf_init(&resp->headers, 64 * 1024);
	rc = hlen ? buf_append(&resp->headers, headers, hlen) : CJ_OK;
	if (!rc && len)
		rc = buf_append(&resp->body, body, len);
	if (!rc)
		resp->status = status;
	return rc;
}

int http_response_header(const struct http_response *resp, const char *name, char *out,
                         size_t outlen)
{
	const char *p = buf_str(&resp->headers), *found = NULL;
	size_t nlen = strlen(name), vlen;
	const char *eol;

	while (*p) {
		eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > nlen && !strncasecmp(p, name, nlen) && p[nlen] == ':')
			found = p + nlen + 1;
		p = *eol ? eol + 1 : eol;
	}
	if (!found)
		return 0;
	while (*found == ' ' || *found == '\t')
		found++;
	eol = strchr(found, '\n');
	vlen = eol ? (size_t)(eol - found) : strlen(found);
	while (vlen && (found[vlen - 1] == '\r' || found[vlen - 1] == ' '))
		vlen--;
	snprintf(out, outlen, "%.*s", (int)vlen, found);
	return 1;
}
