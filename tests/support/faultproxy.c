/*
 * faultproxy.c - the loopback fault proxy; see faultproxy.h.
 *
 * One acceptor thread and one thread per client connection. A connection
 * thread reads one request, asks the rules what to do (under the lock),
 * and does it without the lock: every upstream exchange is a fresh
 * connection with "Connection: close", read to its end, so the answer can be
 * re-framed for the client's kept-alive connection. Every blocking wait
 * (accept, reads, delays) is sliced or on the condition variable, so
 * faultproxy_stop() finishes promptly whatever is in flight.
 */
#include "faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "timeutil.h"

#define FP_MAX_RULES 256
#define FP_MAX_HEAD (64u << 10)
#define FP_MAX_BODY (16u << 20)
#define FP_MAX_ANSWER (32u << 20)
#define FP_UPSTREAM_WAIT_MS 120000
#define FP_SLICE_MS 100

struct rule {
	int id;
	int active;
	char *match[FP_MAX_MATCH], *except, *body, *retry_after;
	int skip, count;
	enum fp_action action;
	long delay_ms, answer_delay_ms;
	int status;
	long matched; /* requests that matched, skipped ones included */
	long hits; /* requests that took the action */
};

/* What a connection thread was told to do with one request. */
struct decision {
	enum fp_action action;
	long delay_ms, answer_delay_ms;
	int status;
	char *body, *retry_after; /* copies, freed by the connection thread */
};

struct conn {
	struct conn *next;
	struct faultproxy *p;
	int fd;
	int done; /* the thread has finished; guarded by p->lock */
	pthread_t thread;
};

struct faultproxy {
	int lfd;
	int up_port;
	char url[64];
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* broadcast on stop, so delays end */
	/* Guarded by lock. */
	int stopping;
	int refusing;
	struct conn *conns;
	struct rule rules[FP_MAX_RULES];
	int nrules;
	int next_id;
	long requests;
};

static int stopping(struct faultproxy *p)
{
	int s;

	pthread_mutex_lock(&p->lock);
	s = p->stopping;
	pthread_mutex_unlock(&p->lock);
	return s;
}

/* Waits ms, or less when the proxy stops. 1 when it stopped. */
static int pause_ms(struct faultproxy *p, long ms)
{
	struct timespec ts;
	int s;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	while (!p->stopping && pthread_cond_timedwait(&p->wake, &p->lock, &ts) != ETIMEDOUT)
		;
	s = p->stopping;
	pthread_mutex_unlock(&p->lock);
	return s;
}

/* Closes with a reset, as a refused or broken upstream looks. */
static void close_reset(int fd)
{
	struct linger lg = {1, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads what is there into b, waiting in slices up to wait_ms. 1 bytes
 * came, 0 end of stream or error, -1 timed out or stopping. */
static int read_some(struct faultproxy *p, int fd, struct buf *b, long wait_ms)
{
	int64_t until = time_mono_ms() + wait_ms;
	char chunk[16384];

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int rc = poll(&pfd, 1, FP_SLICE_MS);
		ssize_t n;

		if (rc < 0 && errno != EINTR)
			return 0;
		if (rc > 0) {
			n = recv(fd, chunk, sizeof(chunk), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0;
			return buf_append(b, chunk, (size_t)n) ? 0 : 1;
		}
		if (stopping(p) || time_mono_ms() >= until)
			return -1;
	}
}

/* The value of header name in the head [start, end), or NULL; *len its
 * length (surrounding blanks trimmed). */
static const char *header_value(const char *head, size_t hlen, const char *name, size_t *len)
{
	const char *line = memchr(head, '\n', hlen), *end = head + hlen;
	size_t nlen = strlen(name);

	while (line && line < end) {
		const char *eol;

		line++;
		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nlen && !strncasecmp(line, name, nlen) &&
		    line[nlen] == ':') {
			const char *v = line + nlen + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*len = (size_t)(ve - v);
			return v;
		}
		line = eol < end ? eol : NULL;
	}
	return NULL;
}

static int header_is(const char *head, size_t hlen, const char *name, const char *value)
{
	size_t n;
	const char *v = header_value(head, hlen, name, &n);

	return v && n == strlen(value) && !strncasecmp(v, value, n);
}

/* Copies the header lines of head (after its first line) to out, leaving
 * out the hop-by-hop ones and those in drop (NULL-terminated). */
static int copy_headers(struct buf *out, const char *head, size_t hlen, const char *const *drop)
{
	const char *line = memchr(head, '\n', hlen), *end = head + hlen;

	while (line && ++line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		size_t n = eol ? (size_t)(eol - line + 1) : (size_t)(end - line);
		int keep = n > 2;

		for (const char *const *d = drop; keep && *d; d++) {
			size_t dl = strlen(*d);

			keep = !(n > dl && !strncasecmp(line, *d, dl) && line[dl] == ':');
		}
		if (keep && buf_append(out, line, n))
			return -1;
		line = eol;
	}
	return 0;
}

/* One request from the client, whole: *head_len bytes of head (with its
 * blank line) then *body_len bytes of body, at the front of in. 1 read,
 * 0 the connection ended, -1 a request we cannot handle (answered). */
static int read_request(struct faultproxy *p, int fd, struct buf *in, size_t *head_len,
                        size_t *body_len)
{
	const char *h, *v;
	size_t n;
	int continued = 0;

	for (;;) {
		h = in->len ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
		if (h)
			break;
		if (in->len > FP_MAX_HEAD || read_some(p, fd, in, 24L * 3600 * 1000) != 1)
			return 0;
	}
	*head_len = (size_t)(h - in->data) + 4;
	if (header_is(in->data, *head_len, "Transfer-Encoding", "chunked")) {
		static const char no[] = "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n"
		                         "Connection: close\r\n\r\n";

		write_all(fd, no, sizeof(no) - 1);
		return -1;
	}
	v = header_value(in->data, *head_len, "Content-Length", &n);
	*body_len = v ? strtoul(v, NULL, 10) : 0;
	if (*body_len > FP_MAX_BODY)
		return 0;
	while (in->len < *head_len + *body_len) {
		if (!continued && header_is(in->data, *head_len, "Expect", "100-continue")) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			continued = 1;
			if (write_all(fd, cont, sizeof(cont) - 1))
				return 0;
		}
		if (read_some(p, fd, in, 60000) != 1)
			return 0;
	}
	return 1;
}

static void decision_release(struct decision *d)
{
	free(d->body);
	free(d->retry_after);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int matches(const struct rule *r, const char *req, size_t len)
{
	for (int i = 0; i < FP_MAX_MATCH; i++)
		if (r->match[i] && !memmem(req, len, r->match[i], strlen(r->match[i])))
			return 0;
	return 1;
}

/* The rules' verdict on a request. Caller holds no lock. */
static void decide(struct faultproxy *p, const char *req, size_t len, struct decision *d)
{
	memset(d, 0, sizeof(*d));
	d->action = FP_FORWARD;
	pthread_mutex_lock(&p->lock);
	p->requests++;
	for (int i = 0; i < p->nrules; i++) {
		struct rule *r = &p->rules[i];

		if (!r->active || (r->count >= 0 && r->hits >= r->count))
			continue;
		if (!matches(r, req, len))
			continue;
		if (r->except && memmem(req, len, r->except, strlen(r->except)))
			continue;
		if (++r->matched <= r->skip)
			break;
		r->hits++;
		d->action = r->action;
		d->delay_ms = r->delay_ms;
		d->answer_delay_ms = r->answer_delay_ms;
		d->status = r->status;
		d->body = dup_or_null(r->body);
		d->retry_after = dup_or_null(r->retry_after);
		break;
	}
	pthread_mutex_unlock(&p->lock);
}

static int connect_upstream(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Removes chunked framing from body (in place). 0 or -1. */
static int dechunk(struct buf *body)
{
	struct buf out = BUF_INIT(FP_MAX_ANSWER);
	const char *s = body->data, *end = body->data + body->len;

	while (s < end) {
		char *e;
		unsigned long n = strtoul(s, &e, 16);
		const char *crlf = memmem(s, (size_t)(end - s), "\r\n", 2);

		if (!crlf || e == s)
			goto fail;
		s = crlf + 2;
		if (n == 0)
			break;
		if ((size_t)(end - s) < n || buf_append(&out, s, n))
			goto fail;
		s += n + 2;
	}
	buf_release(body);
	*body = out;
	return 0;
fail:
	buf_release(&out);
	return -1;
}

/* Sends the request upstream and reads its answer, re-framed for the
 * client, into answer. 0, or -1 when the upstream could not be reached or
 * its answer could not be read. */
static int exchange(struct faultproxy *p, const char *req, size_t head_len, size_t body_len,
                    int client_close, struct buf *answer)
{
	static const char *const drop_req[] = {"Connection", "Keep-Alive", "Proxy-Connection",
	                                       "Expect", NULL};
	static const char *const drop_ans[] = {"Connection", "Keep-Alive", "Transfer-Encoding",
	                                       "Content-Length", NULL};
	struct buf out = BUF_INIT(FP_MAX_BODY + FP_MAX_HEAD), in = BUF_INIT(FP_MAX_ANSWER);
	struct buf body = BUF_INIT(FP_MAX_ANSWER);
	const char *eol = memchr(req, '\n', head_len), *ah;
	size_t alen, clen;
	const char *cl;
	int fd = -1, rc = -1, r;

	if (!eol || buf_append(&out, req, (size_t)(eol - req + 1)) ||
	    copy_headers(&out, req, head_len, drop_req) ||
	    buf_appends(&out, "Connection: close\r\n\r\n") ||
	    buf_append(&out, req + head_len, body_len))
		goto done;
	fd = connect_upstream(p->up_port);
	if (fd < 0 || write_all(fd, out.data, out.len))
		goto done;
	while ((r = read_some(p, fd, &in, FP_UPSTREAM_WAIT_MS)) == 1)
		;
	if (r < 0 || !in.len)
		goto done;
	ah = memmem(in.data, in.len, "\r\n\r\n", 4);
	if (!ah)
		goto done;
	alen = (size_t)(ah - in.data) + 4;
	if (buf_append(&body, in.data + alen, in.len - alen))
		goto done;
	if (header_is(in.data, alen, "Transfer-Encoding", "chunked") && dechunk(&body))
		goto done;
	cl = header_value(in.data, alen, "Content-Length", &clen);
	if (cl && strtoul(cl, NULL, 10) < body.len)
		body.len = strtoul(cl, NULL, 10);
	eol = memchr(in.data, '\n', alen);
	if (buf_append(answer, in.data, (size_t)(eol - in.data + 1)) ||
	    copy_headers(answer, in.data, alen, drop_ans) ||
	    buf_appendf(answer, "Content-Length: %zu\r\n%s\r\n", body.len,
	                client_close ? "Connection: close\r\n" : "") ||
	    buf_append(answer, body.data ? body.data : "", body.len))
		goto done;
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	buf_release(&out);
	buf_release(&in);
	buf_release(&body);
	return rc;
}

static int answer_status(int fd, const struct decision *d, int client_close)
{
	static const char def[] = "{\"error\":\"injected fault\"}";
	const char *body = d->body ? d->body : def;
	struct buf out = BUF_INIT(FP_MAX_HEAD + strlen(body));
	int rc = -1;

	if (!buf_appendf(&out,
	                 "HTTP/1.1 %d Injected\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n",
	                 d->status, strlen(body)) &&
	    (!d->retry_after || !buf_appendf(&out, "Retry-After: %s\r\n", d->retry_after)) &&
	    (!client_close || !buf_appends(&out, "Connection: close\r\n")) &&
	    !buf_appends(&out, "\r\n") && !buf_appends(&out, body))
		rc = write_all(fd, out.data, out.len);
	buf_release(&out);
	return rc;
}

/* Serves one request; 0 to read the next one, -1 to close, -2 to reset. */
static int serve_one(struct faultproxy *p, int fd, const char *req, size_t head_len,
                     size_t body_len)
{
	struct decision d;
	struct buf answer = BUF_INIT(FP_MAX_ANSWER + FP_MAX_HEAD);
	int client_close = header_is(req, head_len, "Connection", "close");
	int rc = -1, refusing;

	pthread_mutex_lock(&p->lock);
	refusing = p->refusing;
	pthread_mutex_unlock(&p->lock);
	if (refusing)
		return -2;
	decide(p, req, head_len + body_len, &d);
	switch (d.action) {
	case FP_CLOSE:
		break;
	case FP_STATUS:
		if (!answer_status(fd, &d, client_close))
			rc = client_close ? -1 : 0;
		break;
	case FP_LOSE_ANSWER:
		/* The upstream acts on it; its answer goes nowhere. */
		exchange(p, req, head_len, body_len, client_close, &answer);
		break;
	case FP_FORWARD:
		if (d.delay_ms > 0 && pause_ms(p, d.delay_ms))
			break;
		if (exchange(p, req, head_len, body_len, client_close, &answer))
			break;
		if (d.answer_delay_ms > 0 && pause_ms(p, d.answer_delay_ms))
			break;
		if (!write_all(fd, answer.data, answer.len))
			rc = client_close ? -1 : 0;
		break;
	}
	buf_release(&answer);
	decision_release(&d);
	return rc;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct faultproxy *p = c->p;
	struct buf in = BUF_INIT(FP_MAX_HEAD + FP_MAX_BODY);
	size_t head_len, body_len;
	int reset = 0;

	for (;;) {
		int r = read_request(p, c->fd, &in, &head_len, &body_len);

		if (r != 1)
			break;
		r = serve_one(p, c->fd, in.data, head_len, body_len);
		if (r) {
			reset = r == -2;
			break;
		}
		/* Keep what the client pipelined after this request. */
		memmove(in.data, in.data + head_len + body_len, in.len - head_len - body_len);
		in.len -= head_len + body_len;
		in.data[in.len] = '\0';
	}
	buf_release(&in);
	pthread_mutex_lock(&p->lock);
	if (reset)
		close_reset(c->fd);
	else
		close(c->fd);
	c->fd = -1;
	c->done = 1;
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Joins and frees the connections whose threads have finished. Caller
 * holds the lock. */
static void reap_locked(struct faultproxy *p)
{
	struct conn **pp = &p->conns;

	while (*pp) {
		struct conn *c = *pp;

		if (c->done) {
			*pp = c->next;
			pthread_join(c->thread, NULL);
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

static void *acceptor_main(void *arg)
{
	struct faultproxy *p = arg;

	while (!stopping(p)) {
		struct pollfd pfd = {p->lfd, POLLIN, 0};
		struct conn *c;
		int fd;

		if (poll(&pfd, 1, FP_SLICE_MS) <= 0)
			continue;
		fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&p->lock);
		reap_locked(p);
		if (p->refusing || p->stopping) {
			pthread_mutex_unlock(&p->lock);
			close_reset(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			pthread_mutex_unlock(&p->lock);
			close_reset(fd);
			continue;
		}
		c->p = p;
		c->fd = fd;
		if (pthread_create(&c->thread, NULL, conn_main, c)) {
			pthread_mutex_unlock(&p->lock);
			close_reset(fd);
			free(c);
			continue;
		}
		c->next = p->conns;
		p->conns = c;
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

struct faultproxy *faultproxy_start(const char *upstream)
{
	struct faultproxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	pthread_condattr_t ca;
	const char *colon = upstream ? strrchr(upstream, ':') : NULL;
	int one = 1;

	if (!p || !colon || strncmp(upstream, "http://127.0.0.1:", 17)) {
		fprintf(stderr, "faultproxy: upstream must be http://127.0.0.1:PORT\n");
		free(p);
		return NULL;
	}
	p->up_port = (int)strtol(colon + 1, NULL, 10);
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (p->lfd < 0 || setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(p->lfd, 512) ||
	    getsockname(p->lfd, (struct sockaddr *)&a, &alen)) {
		fprintf(stderr, "faultproxy: cannot listen: %s\n", strerror(errno));
		if (p->lfd >= 0)
			close(p->lfd);
		free(p);
		return NULL;
	}
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->acceptor, NULL, acceptor_main, p)) {
		fprintf(stderr, "faultproxy: no thread\n");
		close(p->lfd);
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

static void rule_free(struct rule *r)
{
	for (int i = 0; i < FP_MAX_MATCH; i++)
		free(r->match[i]);
	free(r->except);
	free(r->body);
	free(r->retry_after);
	memset(r, 0, sizeof(*r));
}

void faultproxy_stop(struct faultproxy *p)
{
	struct conn *c;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->acceptor, NULL);
	close(p->lfd);
	pthread_mutex_lock(&p->lock);
	for (c = p->conns; c; c = c->next)
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&p->lock);
	/* Threads end within a read slice; none takes the lock to finish
	 * but for marking itself done. */
	while ((c = p->conns)) {
		pthread_join(c->thread, NULL);
		p->conns = c->next;
		free(c);
	}
	for (int i = 0; i < p->nrules; i++)
		rule_free(&p->rules[i]);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

const char *faultproxy_url(const struct faultproxy *p)
{
	return p->url;
}

int faultproxy_add(struct faultproxy *p, const struct fp_rule *r)
{
	struct rule *slot = NULL;
	int id = -1;

	pthread_mutex_lock(&p->lock);
	/* New rules go last; when the table is full, a removed rule's slot
	 * (and its count) is reused. */
	if (p->nrules < FP_MAX_RULES)
		slot = &p->rules[p->nrules++];
	for (int i = 0; i < p->nrules && !slot; i++)
		if (!p->rules[i].active)
			slot = &p->rules[i];
	if (slot) {
		rule_free(slot);
		int bad = 0;

		for (int i = 0; i < FP_MAX_MATCH; i++) {
			slot->match[i] = dup_or_null(r->match[i]);
			bad |= r->match[i] && !slot->match[i];
		}
		slot->except = dup_or_null(r->except);
		slot->body = dup_or_null(r->body);
		slot->retry_after = dup_or_null(r->retry_after);
		if (bad || (r->except && !slot->except) || (r->body && !slot->body) ||
		    (r->retry_after && !slot->retry_after)) {
			rule_free(slot);
		} else {
			slot->skip = r->skip;
			slot->count = r->count;
			slot->action = r->action;
			slot->delay_ms = r->delay_ms;
			slot->answer_delay_ms = r->answer_delay_ms;
			slot->status = r->status;
			slot->id = id = ++p->next_id;
			slot->active = 1;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return id;
}

void faultproxy_remove(struct faultproxy *p, int id)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->nrules; i++)
		if (p->rules[i].id == id)
			p->rules[i].active = 0;
	pthread_mutex_unlock(&p->lock);
}

void faultproxy_clear(struct faultproxy *p)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->nrules; i++)
		p->rules[i].active = 0;
	pthread_mutex_unlock(&p->lock);
}

long faultproxy_hits(struct faultproxy *p, int id)
{
	long n = -1;

	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->nrules; i++)
		if (p->rules[i].id == id)
			n = p->rules[i].hits;
	pthread_mutex_unlock(&p->lock);
	return n;
}

long faultproxy_requests(struct faultproxy *p)
{
	long n;

	pthread_mutex_lock(&p->lock);
	n = p->requests;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void faultproxy_refuse(struct faultproxy *p, int on)
{
	pthread_mutex_lock(&p->lock);
	p->refusing = on;
	pthread_mutex_unlock(&p->lock);
}
