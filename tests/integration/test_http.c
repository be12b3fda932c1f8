/*
 * test_http.c - HTTP/1.1 connection handling of the real binary over a raw
 * TCP socket: pipelined requests, written in one write before any answer is
 * read, are all answered, in order, on a connection that stays open —
 * whether the answers come from a handler after the body (pushes), at once
 * (health, metrics) or from the headers alone on a request that carries a
 * body (401, 403, 404, 405, 415). Only an answer to a body over the cap
 * closes the connection.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ckrun.h"
#include "itest.h"
#include "rawhttp.h"

#define MAX_BODY 4096
#define MAX_REQUESTS 32

static struct itest W;
static struct cj_server S;
static char *JOBS_TOKEN, *ENQUEUE_TOKEN, *STRANGER_TOKEN;

/* A batch of requests written at once, and what each answer must be. */
struct batch {
	struct buf out;
	int n;
	const char *method[MAX_REQUESTS];
	int want[MAX_REQUESTS];
	const char *want_text[MAX_REQUESTS]; /* in the answer's body, or NULL */
};

static void batch_init(struct batch *b)
{
	memset(b, 0, sizeof(*b));
	buf_init(&b->out, 1u << 20);
}

static void add(struct batch *b, const char *method, int want, const char *fmt, ...)
    CJ_PRINTF(4, 5);

static void add(struct batch *b, const char *method, int want, const char *fmt, ...)
{
	va_list ap;

	ck_assert_int_lt(b->n, MAX_REQUESTS);
	va_start(ap, fmt);
	ck_assert_int_eq(buf_vappendf(&b->out, fmt, ap), CJ_OK);
	va_end(ap);
	b->method[b->n] = method;
	b->want[b->n++] = want;
}

static void add_get(struct batch *b, const char *method, const char *path, int want)
{
	add(b, method, want, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, path);
}

/* A Cloud Tasks push of ping (token NULL: none), with a Content-Length. */
static void add_push(struct batch *b, const char *token, int want)
{
	char task[64], body[128], auth[4200] = "";

	itest_task_id(task, sizeof(task));
	snprintf(body, sizeof(body), "{\"pipelined\":\"%s\"}", task);
	if (token)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	add(b, "POST", want,
	    "POST /jobs/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n%sX-CloudTasks-QueueName: "
	    "ping-queue\r\nX-CloudTasks-TaskName: %s\r\nX-CloudTasks-TaskRetryCount: "
	    "0\r\nContent-Length: %zu\r\n\r\n%s",
	    auth, task, strlen(body), body);
	/* The job ran with this very body: the answer carries it back. */
	if (want == 200)
		b->want_text[b->n - 1] = strdup(task);
}

/* POST path with a body of len bytes of JSON, sent chunked or not. */
static void add_post(struct batch *b, const char *path, const char *token, const char *type,
                     size_t len, int chunked, int want)
{
	char auth[4200] = "";
	size_t i;

	if (token)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	if (chunked)
		add(b, "POST", want,
		    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: %s\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
		    path, auth, type, len);
	else
		add(b, "POST", want,
		    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: %s\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    path, auth, type, len);
	ck_assert_int_eq(buf_appends(&b->out, "{"), CJ_OK);
	for (i = 2; i < len; i++)
		ck_assert_int_eq(buf_appends(&b->out, " "), CJ_OK);
	ck_assert_int_eq(buf_appends(&b->out, "}"), CJ_OK);
	if (chunked)
		ck_assert_int_eq(buf_appends(&b->out, "\r\n0\r\n\r\n"), CJ_OK);
}

/* Writes the batch in one write and checks every answer in order; the
 * connection must stay open unless the last answer is expected to close it.
 * Returns the socket (still open) for more requests. */
static int run(struct batch *b, int last_closes)
{
	struct buf in = BUF_INIT(8u << 20);
	struct rawhttp_answer a;
	int fd = rawhttp_connect(S.port), i;

	rawhttp_write_all(fd, b->out.data, b->out.len);
	for (i = 0; i < b->n; i++) {
		ck_assert_msg(!rawhttp_read_answer(fd, &in, b->method[i], &a),
		              "request %d of %d (%s, want %d) got no answer", i + 1, b->n,
		              b->method[i], b->want[i]);
		ck_assert_msg(a.status == b->want[i], "request %d: HTTP %d, want %d: %s", i + 1,
		              a.status, b->want[i], a.body);
		if (b->want_text[i]) {
			ck_assert_msg(strstr(a.body, "\"completed\"") &&
			                  strstr(a.body, b->want_text[i]),
			              "request %d: %s", i + 1, a.body);
			free((char *)b->want_text[i]);
		}
		if (i < b->n - 1 || !last_closes)
			ck_assert_msg(!a.close, "request %d (HTTP %d) closed the connection", i + 1,
			              a.status);
		else
			ck_assert_msg(a.close, "the last answer did not say Connection: close");
		free(a.body);
	}
	if (last_closes) {
		ck_assert(rawhttp_closed_by_server(fd, &in));
		close(fd);
		fd = -1;
	} else {
		/* Still open and usable. */
		rawhttp_write_all(fd, "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 46);
		ck_assert_int_eq(rawhttp_read_answer(fd, &in, "GET", &a), 0);
		ck_assert_int_eq(a.status, 200);
		free(a.body);
	}
	buf_release(&in);
	buf_release(&b->out);
	return fd;
}

START_TEST(liveness_then_a_push)
{
	struct batch b;

	batch_init(&b);
	add_get(&b, "GET", "/health/live", 200);
	add_push(&b, JOBS_TOKEN, 200);
	close(run(&b, 0));
}
END_TEST

START_TEST(two_pushes)
{
	struct batch b;

	batch_init(&b);
	add_push(&b, JOBS_TOKEN, 200);
	add_push(&b, JOBS_TOKEN, 200);
	close(run(&b, 0));
}
END_TEST

START_TEST(metrics_then_a_push)
{
	struct batch b;

	batch_init(&b);
	add_get(&b, "GET", "/metrics", 200);
	add_get(&b, "GET", "/health/ready", 200);
	add_push(&b, JOBS_TOKEN, 200);
	close(run(&b, 0));
}
END_TEST

/* Answers decided from the headers of a request that has a body: the body
 * is read and dropped, and the next request is served. */
START_TEST(early_answers_keep_the_connection)
{
	struct batch b;

	batch_init(&b);
	add_push(&b, NULL, 401);
	add_get(&b, "GET", "/health/live", 200);
	add_push(&b, STRANGER_TOKEN, 403);
	add_push(&b, JOBS_TOKEN, 200);
	add_post(&b, "/jobs/ping", NULL, "application/json", 600, 1, 401);
	add_get(&b, "GET", "/nowhere", 404);
	add_get(&b, "GET", "/health/live", 200);
	add_post(&b, "/nowhere", NULL, "application/json", 300, 0, 404);
	/* The webhook authenticates by channel before anything else: 404. */
	add_get(&b, "GET", "/webhooks/google-calendar", 404);
	add_post(&b, "/enqueue/ping", ENQUEUE_TOKEN, "text/plain", 200, 0, 415);
	add_post(&b, "/enqueue/ping", ENQUEUE_TOKEN, "text/plain", 200, 1, 415);
	add_post(&b, "/admin/dead-letters", ENQUEUE_TOKEN, "application/json", 100, 0, 405);
	add_post(&b, "/enqueue/ping", NULL, "application/json", 100, 0, 401);
	add_get(&b, "HEAD", "/health/live", 200);
	add_push(&b, JOBS_TOKEN, 200);
	close(run(&b, 0));
}
END_TEST

START_TEST(everything_in_one_write)
{
	struct batch b;

	batch_init(&b);
	add_get(&b, "GET", "/health/live", 200);
	add_push(&b, JOBS_TOKEN, 200);
	add_push(&b, JOBS_TOKEN, 200);
	add_push(&b, JOBS_TOKEN, 200);
	add_get(&b, "GET", "/metrics", 200);
	add_push(&b, JOBS_TOKEN, 200);
	add_push(&b, NULL, 401);
	add_get(&b, "GET", "/health/live", 200);
	add_get(&b, "GET", "/no/such/route", 404);
	add_get(&b, "GET", "/health/live", 200);
	close(run(&b, 0));
}
END_TEST

/* A body over the cap is refused without being read: that answer closes. */
START_TEST(bodies_over_the_cap_close)
{
	struct batch b;

	batch_init(&b);
	add_get(&b, "GET", "/health/live", 200);
	add_post(&b, "/jobs/ping", JOBS_TOKEN, "application/json", MAX_BODY + 1, 0, 413);
	add_get(&b, "GET", "/health/live", 200); /* never answered */
	b.n--;
	run(&b, 1);

	batch_init(&b);
	add_post(&b, "/enqueue/ping", ENQUEUE_TOKEN, "application/json", MAX_BODY + 1, 0, 413);
	add_get(&b, "GET", "/health/live", 200);
	b.n--;
	run(&b, 1);

	/* Chunked: refused once the bytes read pass the cap (here the rest
	 * came in the same write). */
	batch_init(&b);
	add_post(&b, "/jobs/ping", JOBS_TOKEN, "application/json", MAX_BODY + 1, 1, 413);
	run(&b, 1);
}
END_TEST

/* A client that waits for "100 Continue" before sending its body is
 * answered at once instead, and the connection closes: the body it still
 * holds would otherwise be taken for the next request. */
START_TEST(expect_continue_is_answered_at_once)
{
	struct batch b;

	batch_init(&b);
	add(&b, "POST", 401,
	    "POST /jobs/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
	    "Content-Length: 2\r\n\r\n");
	run(&b, 1);
}
END_TEST

int main(void)
{
	char max[64];
	const char *extra[] = {max, NULL};
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");
	int failed;

	snprintf(max, sizeof(max), "MAX_BODY_BYTES=%d", MAX_BODY);
	itest_setup(&W);
	itest_server(&W, &S, extra);
	JOBS_TOKEN = itest_token(&W);
	ENQUEUE_TOKEN = itest_token_for(&W, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	STRANGER_TOKEN = itest_token_for(&W, 0, ITEST_AUDIENCE, "stranger@example.com");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, liveness_then_a_push);
	tcase_add_test(tc, two_pushes);
	tcase_add_test(tc, metrics_then_a_push);
	tcase_add_test(tc, early_answers_keep_the_connection);
	tcase_add_test(tc, everything_in_one_write);
	tcase_add_test(tc, bodies_over_the_cap_close);
	tcase_add_test(tc, expect_continue_is_answered_at_once);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	free(JOBS_TOKEN);
	free(ENQUEUE_TOKEN);
	free(STRANGER_TOKEN);
	if (cj_server_stop(&S) != 0)
		failed++;
	itest_teardown(&W);
	return failed ? 1 : 0;
}
