/*
 * test_conn_watch.c - unit tests for src/conn_watch.c on socket pairs, with
 * deadlines of a few hundred milliseconds: each phase's deadline is total
 * (not renewed by activity), a fresh connection's head is due by its
 * accept's deadline while a kept-alive one gets a new one at its request
 * line, a busy connection is never cut, the longest waiter is evicted when
 * the connections pass the limit, and a removed connection is never
 * touched again.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckrun.h"
#include "conn_watch.h"
#include "timeutil.h"

#define HEAD_MS 300
#define IDLE_MS 600
#define BODY_MS 400
#define LINGER_MS 200
/* The watch may act this late (its slack, plus a loaded machine). */
#define LATE_MS 400

static const struct conn_watch_limits LIMITS = {4, HEAD_MS, IDLE_MS, BODY_MS, LINGER_MS};

struct pair {
	int server; /* given to the watch */
	int client; /* sees the end of stream once the watch cuts */
	struct conn_watch_conn *c;
};

static void pair_open(struct conn_watch *w, struct pair *p)
{
	int fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	p->server = fds[0];
	p->client = fds[1];
	p->c = conn_watch_add(w, p->server);
	ck_assert_ptr_nonnull(p->c);
}

static void pair_close(struct conn_watch *w, struct pair *p)
{
	conn_watch_remove(w, p->c);
	close(p->server);
	close(p->client);
}

/* 1 when the client side has seen the end of stream by ms from now. */
static int cut_within(const struct pair *p, int ms)
{
	struct pollfd pfd = {p->client, POLLIN, 0};
	char c;

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	return recv(p->client, &c, 1, MSG_DONTWAIT) == 0;
}

/* Milliseconds from start until the client side sees the end of stream
 * (or -1 after limit_ms). */
static long cut_after(const struct pair *p, int64_t start, int limit_ms)
{
	int left = (int)(start + limit_ms - time_mono_ms());

	if (left < 0 || !cut_within(p, left))
		return -1;
	return (long)(time_mono_ms() - start);
}

START_TEST(head_deadline_is_total)
{
	struct conn_watch *w = conn_watch_new(&LIMITS);
	struct conn_watch_stats st;
	struct pair p;
	int64_t start = time_mono_ms();
	long at;
	int i;

	pair_open(w, &p);
	/* A trickle does not renew it. */
	for (i = 0; i < 4; i++) {
		ck_assert(!cut_within(&p, 50));
		ck_assert_int_eq(write(p.client, "G", 1), 1);
	}
	at = cut_after(&p, start, HEAD_MS + LATE_MS);
	ck_assert_msg(at >= HEAD_MS - 5, "cut after %ld ms", at);
	conn_watch_stats(w, &st);
	ck_assert_int_eq(st.closed_head, 1);
	ck_assert_int_eq(st.open, 1);
	pair_close(w, &p);
	conn_watch_stats(w, &st);
	ck_assert_int_eq(st.open, 0);
	conn_watch_free(w);
}
END_TEST

START_TEST(fresh_request_line_keeps_the_accept_deadline)
{
	struct conn_watch *w = conn_watch_new(&LIMITS);
	struct pair p;
	int64_t start = time_mono_ms();
	long at;

	pair_open(w, &p);
	ck_assert(!cut_within(&p, 150));
	conn_watch_enter(w, p.c, CONN_HEAD);
	at = cut_after(&p, start, HEAD_MS + LATE_MS);
	ck_assert_msg(at >= HEAD_MS - 5 && at < 150 + HEAD_MS, "cut after %ld ms", at);
	pair_close(w, &p);
	conn_watch_free(w);
}
END_TEST

/* Kept alive: the request line is due IDLE_MS after the answer, the rest of
 * the head HEAD_MS after the request line. */
START_TEST(kept_alive_head_deadline_starts_at_the_request_line)
{
	struct conn_watch *w = conn_watch_new(&LIMITS);
	struct conn_watch_stats st;
	struct pair p, q;
	int64_t start;
	long at;

	pair_open(w, &p);
	conn_watch_enter(w, p.c, CONN_HEAD);
	conn_watch_enter(w, p.c, CONN_BODY);
	conn_watch_enter(w, p.c, CONN_BUSY);
	conn_watch_enter(w, p.c, CONN_IDLE);
	start = time_mono_ms();
	ck_assert(!cut_within(&p, HEAD_MS + 100)); /* idle, not head, deadline */
	conn_watch_enter(w, p.c, CONN_HEAD);
	at = cut_after(&p, start, HEAD_MS + 100 + HEAD_MS + LATE_MS);
	ck_assert_msg(at >= HEAD_MS + 100 + HEAD_MS - 5, "cut after %ld ms", at);

	/* And with no request line at all: the idle deadline. */
	pair_open(w, &q);
	conn_watch_enter(w, q.c, CONN_BUSY);
	conn_watch_enter(w, q.c, CONN_IDLE);
	start = time_mono_ms();
	at = cut_after(&q, start, IDLE_MS + LATE_MS);
	ck_assert_msg(at >= IDLE_MS - 5, "cut after %ld ms", at);
	conn_watch_stats(w, &st);
	ck_assert_int_eq(st.closed_head, 1);
	ck_assert_int_eq(st.closed_idle, 1);
	pair_close(w, &p);
	pair_close(w, &q);
	conn_watch_free(w);
}
END_TEST

START_TEST(body_and_linger_deadlines)
{
	struct conn_watch *w = conn_watch_new(&LIMITS);
	struct conn_watch_stats st;
	struct pair p, q;
	int64_t start;
	long at;

	pair_open(w, &p);
	pair_open(w, &q);
	start = time_mono_ms();
	conn_watch_enter(w, p.c, CONN_BODY);
	conn_watch_enter(w, q.c, CONN_CLOSING);
	at = cut_after(&q, start, LINGER_MS + LATE_MS);
	ck_assert_msg(at >= LINGER_MS - 5, "lingering cut after %ld ms", at);
	at = cut_after(&p, start, BODY_MS + LATE_MS);
	ck_assert_msg(at >= BODY_MS - 5, "body cut after %ld ms", at);
	conn_watch_stats(w, &st);
	ck_assert_int_eq(st.closed_body, 1);
	ck_assert_int_eq(st.closed_linger, 1);
	pair_close(w, &p);
	pair_close(w, &q);
	conn_watch_free(w);
}
END_TEST

START_TEST(busy_is_never_cut)
{
	struct conn_watch *w = conn_watch_new(&LIMITS);
	struct pair p;

	pair_open(w, &p);
	conn_watch_enter(w, p.c, CONN_HEAD);
	conn_watch_enter(w, p.c, CONN_BODY);
	conn_watch_enter(w, p.c, CONN_BUSY);
	ck_assert(!cut_within(&p, IDLE_MS + BODY_MS + HEAD_MS));
	pair_close(w, &p);
	conn_watch_free(w);
}
END_TEST

/* Over the limit (4), each new connection closes the one that has waited
 * longest for a head: a busy one never, a kept-alive one by the end of its
 * last answer. */
START_TEST(longest_waiter_is_evicted)
{
	struct conn_watch *w = conn_watch_new(&LIMITS);
	struct conn_watch_stats st;
	struct pair p[7];
	int i;

	for (i = 0; i < 4; i++) {
		pair_open(w, &p[i]);
		usleep(5000);
	}
	/* 0 answered and waits again (now the shortest waiter), 1 is busy. */
	conn_watch_enter(w, p[0].c, CONN_BUSY);
	conn_watch_enter(w, p[0].c, CONN_IDLE);
	conn_watch_enter(w, p[1].c, CONN_BODY);
	conn_watch_enter(w, p[1].c, CONN_BUSY);
	usleep(5000);
	pair_open(w, &p[4]); /* evicts 2 */
	ck_assert(cut_within(&p[2], 100));
	pair_open(w, &p[5]); /* evicts 3 */
	ck_assert(cut_within(&p[3], 100));
	pair_open(w, &p[6]); /* evicts 0 */
	ck_assert(cut_within(&p[0], 100));
	for (i = 0; i < 7; i++)
		if (i != 0 && i != 2 && i != 3)
			ck_assert_msg(!cut_within(&p[i], 0), "%d was cut", i);
	conn_watch_stats(w, &st);
	ck_assert_int_eq(st.evicted, 3);
	ck_assert_int_eq(st.open, 7);
	for (i = 0; i < 7; i++)
		pair_close(w, &p[i]);
	conn_watch_free(w);
}
END_TEST

/* Once removed, the descriptor is no longer the watch's (libmicrohttpd
 * closes it and may reuse the number): its deadline passes unnoticed. */
START_TEST(removed_connection_is_left_alone)
{
	struct conn_watch *w = conn_watch_new(&LIMITS);
	struct conn_watch_stats st;
	struct pair p;

	pair_open(w, &p);
	conn_watch_remove(w, p.c);
	ck_assert(!cut_within(&p, HEAD_MS + LATE_MS));
	conn_watch_stats(w, &st);
	ck_assert_int_eq(st.closed_head, 0);
	ck_assert_int_eq(st.open, 0);
	close(p.server);
	close(p.client);
	conn_watch_enter(w, NULL, CONN_BODY); /* unwatched: nothing */
	conn_watch_remove(w, NULL);
	conn_watch_free(w);
	conn_watch_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conn_watch");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, head_deadline_is_total);
	tcase_add_test(tc, fresh_request_line_keeps_the_accept_deadline);
	tcase_add_test(tc, kept_alive_head_deadline_starts_at_the_request_line);
	tcase_add_test(tc, body_and_linger_deadlines);
	tcase_add_test(tc, busy_is_never_cut);
	tcase_add_test(tc, longest_waiter_is_evicted);
	tcase_add_test(tc, removed_connection_is_left_alone);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
