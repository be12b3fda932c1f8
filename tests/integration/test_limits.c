/*
 * test_limits.c - connection limits of the real binary under attack, over
 * raw TCP sockets:
 *
 * - paths with an escaped NUL (or another control character, or a
 *   malformed escape) route nowhere: 404, never "/jobs/ping";
 * - an endless chunked body is answered (413, or the answer its headers
 *   earned) once the bytes read pass the cap, and the connection closed,
 *   long before 2 MB were sent;
 * - slowloris: connections that never finish their head, trickling or
 *   silent, are closed HTTP_HEAD_TIMEOUT_S after their accept, while
 *   /health/live keeps answering fresh connections;
 * - a full house: with every connection slot taken by silent clients, new
 *   clients are still served, and the connections that waited longest are
 *   the ones closed.
 *
 * Each attack prints /health/live's latency and the server's peak RSS
 * (VmHWM, reset before each attack) for bench/README.md. The assertions on
 * latency are generous (1 s): CI machines are shared.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ckrun.h"
#include "http_server.h"
#include "itest.h"
#include "rawhttp.h"
#include "timeutil.h"

#define MAX_BODY 65536
#define ENDLESS (100u << 20)
#define SENT_BEFORE_ANSWER_MAX (2u << 20)
#define LIVE_MAX_MS 1000

static struct itest W;
static struct cj_server S;
static char *JOBS_TOKEN, *ENQUEUE_TOKEN;

/* ---- the server's memory ---- */

/* Forgets the server's peak RSS, so the next reading is one attack's. */
static void peak_rss_reset(void)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)S.proc.pid);
	f = fopen(path, "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

/* The server's VmHWM in kB, or -1. */
static long peak_rss_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)S.proc.pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- /health/live from fresh connections, timed ---- */

struct latencies {
	long ms[4096];
	int n;
};

/* One GET /health/live on a new connection: connect to complete answer.
 * A connection the server had to refuse at once (every slot taken while
 * its evictions were still under way) is tried again, up to 5 times in
 * 250 ms; the time counts from the first try. */
static void probe_live(struct latencies *l)
{
	struct buf in = BUF_INIT(1u << 20);
	struct rawhttp_answer a;
	int64_t start = time_mono_ms();
	static const char req[] = "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	int fd = -1, rc = -1;

	for (int tries = 0; tries < 5 && rc != 0; tries++) {
		if (tries) {
			close(fd);
			buf_reset(&in);
			msleep(50);
		}
		fd = rawhttp_connect(S.port);
		rawhttp_write_all(fd, req, sizeof(req) - 1);
		rc = rawhttp_read_answer(fd, &in, "GET", &a);
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(a.status, 200);
	if (l->n < (int)(sizeof(l->ms) / sizeof(l->ms[0])))
		l->ms[l->n++] = (long)(time_mono_ms() - start);
	free(a.body);
	buf_release(&in);
	close(fd);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* Prints the figures and checks the slowest. */
static void latencies_check(struct latencies *l, const char *during)
{
	ck_assert_int_gt(l->n, 0);
	qsort(l->ms, (size_t)l->n, sizeof(l->ms[0]), cmp_long);
	printf("limits: /health/live during %s: %d probes, p50 %ld ms, p99 %ld ms, max %ld ms; "
	       "server peak RSS %ld kB\n",
	       during, l->n, l->ms[l->n / 2], l->ms[l->n * 99 / 100], l->ms[l->n - 1],
	       peak_rss_kb());
	fflush(stdout);
	ck_assert_msg(l->ms[l->n - 1] < LIVE_MAX_MS, "/health/live took %ld ms during %s",
	              l->ms[l->n - 1], during);
}

/* ---- requests ---- */

/* Sends req on a new connection and reads the answer into a. */
static void exchange(const char *req, struct rawhttp_answer *a)
{
	struct buf in = BUF_INIT(1u << 20);
	int fd = rawhttp_connect(S.port);

	rawhttp_write_all(fd, req, strlen(req));
	ck_assert_msg(!rawhttp_read_answer(fd, &in, "GET", a), "no answer to %.80s", req);
	buf_release(&in);
	close(fd);
}

static void expect(const char *req, int status, const char *text)
{
	struct rawhttp_answer a;

	exchange(req, &a);
	ck_assert_msg(a.status == status, "HTTP %d, want %d, to %.80s: %s", a.status, status, req,
	              a.body);
	if (text)
		ck_assert_msg(strstr(a.body, text), "%s not in %s", text, a.body);
	free(a.body);
}

/* A push of ping to path (token NULL: none). */
static void expect_push(const char *path, const char *token, int status, const char *text)
{
	char task[64], req[8192];

	itest_task_id(task, sizeof(task));
	snprintf(req, sizeof(req),
	         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
	         "X-CloudTasks-QueueName: ping-queue\r\nX-CloudTasks-TaskName: %s\r\n"
	         "X-CloudTasks-TaskRetryCount: 0\r\nContent-Length: 2\r\n\r\n{}",
	         path, token, task);
	expect(req, status, text);
}

START_TEST(escaped_nul_routes_nowhere)
{
	char req[8192];

	expect_push("/jobs/ping", JOBS_TOKEN, 200, "\"completed\"");
	expect_push("/jobs/ping%00x", JOBS_TOKEN, 404, "\"not_found\"");
	expect_push("/jobs/ping%00", JOBS_TOKEN, 404, "\"not_found\"");
	expect_push("/jobs/ping%0d%0a", JOBS_TOKEN, 404, "\"not_found\"");
	expect_push("/jobs/ping%zz", JOBS_TOKEN, 404, "\"not_found\"");
	expect_push("/jobs/ping%", JOBS_TOKEN, 404, "\"not_found\"");
	/* Decided before authentication: a bad token, still 404. */
	expect_push("/jobs/ping%00x", "none", 404, "\"not_found\"");
	expect("GET /health/live%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404, "\"not_found\"");
	/* Escapes of ordinary characters are decoded as before. */
	expect("GET /health%2Flive HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200, "\"ok\"");
	expect("GET /health/l%69ve HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200, "\"ok\"");
	/* In a query argument an escaped NUL stays escaped: "5%00" is no
	 * limit, where it used to read as "5". */
	snprintf(req, sizeof(req),
	         "GET /admin/dead-letters?limit=5%%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	         "Authorization: Bearer %s\r\n\r\n",
	         ENQUEUE_TOKEN);
	expect(req, 400, "\"invalid_request\"");
	snprintf(req, sizeof(req),
	         "GET /admin/dead-letters?limit=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	         "Authorization: Bearer %s\r\n\r\n",
	         ENQUEUE_TOKEN);
	expect(req, 200, "\"deadLetters\"");
}
END_TEST

/* Sends head, then an endless chunked body (64 KiB chunks, a small send
 * buffer) until an answer arrives; returns the bytes of body sent by then. */
static size_t endless_chunked(const char *head, struct rawhttp_answer *a, long *ms)
{
	static char chunk[65536 + 16];
	struct buf in = BUF_INIT(1u << 20);
	int fd = rawhttp_connect(S.port), sndbuf = 65536;
	size_t sent = 0, off = 0, clen;
	int64_t start = time_mono_ms();

	clen = (size_t)snprintf(chunk, 16, "%x\r\n", 65536);
	memset(chunk + clen, ' ', 65536);
	memcpy(chunk + clen + 65536, "\r\n", 2);
	clen += 65536 + 2;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	rawhttp_write_all(fd, head, strlen(head));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (sent < ENDLESS) {
		struct pollfd p = {fd, POLLIN | POLLOUT, 0};
		ssize_t w;

		ck_assert_int_gt(poll(&p, 1, 10000), 0);
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			break;
		w = send(fd, chunk + off, clen - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			break; /* reset: the answer, if any, is still readable */
		sent += (size_t)w;
		off = (off + (size_t)w) % clen;
	}
	*ms = (long)(time_mono_ms() - start);
	ck_assert_msg(!rawhttp_read_answer(fd, &in, "POST", a), "no answer after %zu bytes", sent);
	ck_assert_msg(a->close, "the answer did not say Connection: close");
	ck_assert(rawhttp_closed_by_server(fd, &in));
	buf_release(&in);
	close(fd);
	return sent;
}

static void expect_endless(const char *path, const char *auth, const char *type, int status,
                           const char *text)
{
	char head[8192];
	struct rawhttp_answer a;
	size_t sent;
	long ms;

	snprintf(head, sizeof(head),
	         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%sContent-Type: %s\r\n"
	         "Transfer-Encoding: chunked\r\n\r\n",
	         path, auth ? "Authorization: Bearer " : "", auth ? auth : "", auth ? "\r\n" : "",
	         strcmp(path, "/jobs/ping") ? ""
	                                    : "X-CloudTasks-QueueName: ping-queue\r\n"
	                                      "X-CloudTasks-TaskName: endless\r\n",
	         type);
	sent = endless_chunked(head, &a, &ms);
	printf("limits: endless chunked POST %s: HTTP %d after %zu bytes sent, %ld ms (cap %d)\n",
	       path, a.status, sent, ms, MAX_BODY);
	fflush(stdout);
	ck_assert_msg(a.status == status, "HTTP %d, want %d: %s", a.status, status, a.body);
	ck_assert_msg(strstr(a.body, text), "%s not in %s", text, a.body);
	ck_assert_msg(sent < SENT_BEFORE_ANSWER_MAX, "%zu bytes sent before the answer", sent);
	free(a.body);
}

START_TEST(endless_chunked_body_is_refused_at_the_cap)
{
	struct latencies l = {{0}, 0};

	peak_rss_reset();
	expect_endless("/jobs/ping", JOBS_TOKEN, "application/json", 413, "\"payload_too_large\"");
	expect_endless("/enqueue/ping", ENQUEUE_TOKEN, "application/json", 413,
	               "\"payload_too_large\"");
	/* An answer the headers earned (no token: 401) waits for no body
	 * past the cap either. */
	expect_endless("/jobs/ping", NULL, "application/json", 401, "\"unauthenticated\"");
	expect_endless("/nowhere", NULL, "application/json", 404, "\"not_found\"");
	probe_live(&l);
	latencies_check(&l, "endless chunked bodies");
}
END_TEST

/* ---- slow clients ---- */

#define SLOW_CONNS 300

struct slow {
	int fd;
	int64_t opened_ms;
	long closed_after_ms; /* -1 while open */
};

/* 1 when the server closed it (end of stream or reset). */
static int server_closed(int fd)
{
	char c[256];
	ssize_t n = recv(fd, c, sizeof(c), MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Notes which of the n slow connections the server closed by now. */
static int note_closed(struct slow *c, int n)
{
	struct pollfd p[SLOW_CONNS];
	int i, open = 0;

	for (i = 0; i < n; i++) {
		p[i].fd = c[i].closed_after_ms < 0 ? c[i].fd : -1;
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	poll(p, (nfds_t)n, 0);
	for (i = 0; i < n; i++) {
		if (c[i].closed_after_ms < 0 && p[i].revents && server_closed(c[i].fd))
			c[i].closed_after_ms = (long)(time_mono_ms() - c[i].opened_ms);
		open += c[i].closed_after_ms < 0;
	}
	return open;
}

/* Three kinds of slow clients, a third each: silent after connecting;
 * trickling the request line; trickling a header after a request line. All
 * trickle a byte a second, and none ever ends its head: each must be closed
 * HTTP_HEAD_TIMEOUT_S after its accept. */
START_TEST(slowloris_is_closed_at_the_head_deadline)
{
	static struct slow c[SLOW_CONNS];
	static const char *opening[3] = {"", "GET /health/li",
	                                 "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: "};
	static struct latencies l;
	int64_t start = time_mono_ms(), last_trickle = start, deadline;
	long head_ms = HTTP_HEAD_TIMEOUT_S * 1000L, first = -1, last = -1;
	int i, open = SLOW_CONNS;

	peak_rss_reset();
	for (i = 0; i < SLOW_CONNS; i++) {
		c[i].fd = rawhttp_connect(S.port);
		c[i].opened_ms = time_mono_ms();
		c[i].closed_after_ms = -1;
		if (opening[i % 3][0])
			rawhttp_write_all(c[i].fd, opening[i % 3], strlen(opening[i % 3]));
	}
	deadline = start + head_ms + 3000;
	while (open && time_mono_ms() < deadline) {
		if (time_mono_ms() - last_trickle >= 1000) {
			last_trickle = time_mono_ms();
			for (i = 0; i < SLOW_CONNS; i++)
				if (i % 3 && c[i].closed_after_ms < 0)
					(void)send(c[i].fd, "v", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		probe_live(&l);
		open = note_closed(c, SLOW_CONNS);
		msleep(50);
	}
	for (i = 0; i < SLOW_CONNS; i++) {
		ck_assert_msg(c[i].closed_after_ms >= 0, "slow connection %d (kind %d) still open",
		              i, i % 3);
		/* Not before its deadline (the server's clock starts at its
		 * accept, after our connect), and not much after. */
		ck_assert_msg(c[i].closed_after_ms >= head_ms - 50 &&
		                  c[i].closed_after_ms < head_ms + 1500,
		              "slow connection %d (kind %d) closed after %ld ms", i, i % 3,
		              c[i].closed_after_ms);
		close(c[i].fd);
		if (first < 0 || c[i].closed_after_ms < first)
			first = c[i].closed_after_ms;
		if (c[i].closed_after_ms > last)
			last = c[i].closed_after_ms;
	}
	printf("limits: %d slow heads closed %ld..%ld ms after their connect\n", SLOW_CONNS, first,
	       last);
	latencies_check(&l, "slowloris");
}
END_TEST

/* Every slot taken: HTTP_MAX_CONNECTIONS + 300 silent clients. The ones
 * past the limit (less the spare) make the server close the longest
 * waiters, so new clients keep being served. Quick enough to end before
 * the first head deadline. */
START_TEST(a_full_house_keeps_room_for_new_clients)
{
	enum { N = HTTP_MAX_CONNECTIONS + 300 };
	static int fd[N];
	static struct latencies l;
	struct rlimit rl;
	int64_t start;
	long took;
	int i, first_closed = 0, last_closed = 0;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < N + 100) {
		printf("limits: full house skipped: open-file limit %lu\n",
		       (unsigned long)rl.rlim_cur);
		return;
	}
	peak_rss_reset();
	start = time_mono_ms();
	for (i = 0; i < N; i++) {
		fd[i] = rawhttp_connect(S.port);
		if (i % 256 == 255)
			probe_live(&l);
	}
	for (i = 0; i < 10; i++)
		probe_live(&l);
	took = (long)(time_mono_ms() - start);
	printf("limits: %d connections opened in %ld ms\n", N, took);
	msleep(500); /* evictions are shutdowns: give them a moment */
	for (i = 0; i < 200; i++)
		first_closed += server_closed(fd[i]);
	for (i = N - 2000; i < N; i++)
		last_closed += server_closed(fd[i]);
	took = (long)(time_mono_ms() - start);
	printf("limits: full house: %d of the first 200 closed, %d of the last 2000 (at %ld ms)\n",
	       first_closed, last_closed, took);
	ck_assert_int_eq(first_closed, 200);
	if (took < HTTP_HEAD_TIMEOUT_S * 1000L - 500)
		ck_assert_int_eq(last_closed, 0);
	for (i = 0; i < N; i++)
		close(fd[i]);
	latencies_check(&l, "a full house");
	/* The server is not left worse for it. */
	msleep(500);
	l.n = 0;
	probe_live(&l);
}
END_TEST

int main(void)
{
	char max[64];
	const char *extra[] = {max, NULL};
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");
	int failed;

	snprintf(max, sizeof(max), "MAX_BODY_BYTES=%d", MAX_BODY);
	itest_setup(&W);
	itest_server(&W, &S, extra);
	JOBS_TOKEN = itest_token(&W);
	ENQUEUE_TOKEN = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, escaped_nul_routes_nowhere);
	tcase_add_test(tc, endless_chunked_body_is_refused_at_the_cap);
	tcase_add_test(tc, slowloris_is_closed_at_the_head_deadline);
	tcase_add_test(tc, a_full_house_keeps_room_for_new_clients);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	free(JOBS_TOKEN);
	free(ENQUEUE_TOKEN);
	if (cj_server_stop(&S) != 0)
		failed++;
	itest_teardown(&W);
	return failed ? 1 : 0;
}
