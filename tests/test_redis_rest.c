/*
 * test_redis_rest.c - src/redis_rest.c against a real redis-server behind
 * the Upstash-compatible REST fixture: round trips with awkward bytes,
 * pipelines with a failing item, EVALSHA falling back to EVAL, the mapping
 * of 401 / 5xx / 404 / refused connections, the bounded retry of network
 * failures (and no retry of timeouts), kept-alive connections, and 16
 * threads sharing one client.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckrun.h"
#include "fixtures.h"
#include "http_client.h"
#include "redis_rest.h"

/* Started by main() for every test that leaves Redis running. */
static struct redis_fixture fx;

static struct redis_rest *client_for(const char *url, const char *token, int attempts)
{
	struct redis_rest_options o = {5000, 1000, attempts};
	struct redis_rest *r = redis_rest_new(url, token, &o);

	ck_assert_ptr_nonnull(r);
	return r;
}

/* Runs a command that must get an answer; returns the reply. */
static struct redis_reply *run(struct redis_rest *r, int argc, const char *const *argv)
{
	struct redis_reply *rep = NULL;
	char err[512];
	int rc = redis_rest_command(r, "test", argc, argv, NULL, &rep, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "%s: %s (%s)", argv[0], cj_strerror(rc), err);
	ck_assert_ptr_nonnull(rep);
	return rep;
}

static void expect_string(struct redis_reply *rep, const char *want, size_t len)
{
	ck_assert_int_eq(rep->type, REDIS_STRING);
	ck_assert_uint_eq(rep->len, len);
	ck_assert_int_eq(memcmp(rep->str, want, len), 0);
	redis_reply_free(rep);
}

START_TEST(round_trip_binary_safe)
{
	struct redis_rest *r = client_for(fx.url, fx.token, 0);
	/* NUL, controls, JSON metacharacters, 2- and 4-byte UTF-8, DEL. */
	static const char val[] = "a\0b\x01\n\t\"\\/\xc3\xa9\xf0\x9f\x98\x80\x7f}";
	const char *argv[] = {"SET", "rt:bin", val};
	size_t argl[] = {3, 6, sizeof(val) - 1};
	const char *bad[] = {"SET", "rt:bad", "\xff\xfe"};
	struct redis_reply *rep = NULL;
	char err[256];

	ck_assert_int_eq(redis_rest_command(r, "test", 3, argv, argl, &rep, err, sizeof(err)),
	                 CJ_OK);
	expect_string(rep, "OK", 2);
	expect_string(run(r, 2, (const char *[]){"GET", "rt:bin"}), val, sizeof(val) - 1);

	/* Bytes that are not UTF-8 come back exactly (Lua makes them). */
	expect_string(run(r, 3, (const char *[]){"EVAL", "return string.char(255, 0, 254)", "0"}),
	              "\xff\0\xfe", 3);
	/* ...but cannot be sent in a JSON body. */
	ck_assert_int_eq(redis_rest_command(r, "test", 3, bad, NULL, &rep, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_ptr_null(rep);
	ck_assert_ptr_nonnull(strstr(err, "UTF-8"));

	rep = run(r, 2, (const char *[]){"GET", "rt:missing"});
	ck_assert_int_eq(rep->type, REDIS_NIL);
	redis_reply_free(rep);
	rep = run(r, 2, (const char *[]){"INCR", "rt:n"});
	ck_assert_int_eq(rep->type, REDIS_INTEGER);
	ck_assert(rep->integer == 1);
	redis_reply_free(rep);
	/* A command error is an answer (HTTP 400), not a failure. */
	rep = run(r, 2, (const char *[]){"INCR", "rt:bin"});
	ck_assert_int_eq(rep->type, REDIS_ERROR);
	ck_assert_ptr_nonnull(strstr(rep->str, "not an integer"));
	redis_reply_free(rep);
	rep = run(r, 1, (const char *[]){"NOSUCHCOMMAND"});
	ck_assert_int_eq(rep->type, REDIS_ERROR);
	redis_reply_free(rep);
	rep = run(r, 2, (const char *[]){"EVAL", "return {1, 'x', {false}}"});
	ck_assert_int_eq(rep->type, REDIS_ERROR); /* wrong number of arguments */
	redis_reply_free(rep);
	rep = run(r, 3, (const char *[]){"EVAL", "return {1, 'x', {false}}", "0"});
	ck_assert_int_eq(rep->type, REDIS_ARRAY);
	ck_assert_uint_eq(rep->n, 3);
	ck_assert(rep->elems[0]->integer == 1);
	ck_assert_str_eq(rep->elems[1]->str, "x");
	ck_assert_int_eq(rep->elems[2]->elems[0]->type, REDIS_NIL);
	redis_reply_free(rep);
	redis_rest_free(r);
}
END_TEST

START_TEST(pipeline_with_a_failing_item)
{
	struct redis_rest *r = client_for(fx.url, fx.token, 0);
	const int argcs[] = {3, 2, 2, 2};
	const char *argv[] = {"SET", "pl:k", "text", "INCR", "pl:k", "GET", "pl:k", "DEL", "pl:k"};
	struct redis_reply **items = NULL;
	char err[256];
	int i;

	ck_assert_int_eq(redis_rest_pipeline(r, "test", 4, argcs, argv, &items, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_str_eq(items[0]->str, "OK");
	ck_assert_int_eq(items[1]->type, REDIS_ERROR);
	ck_assert_ptr_nonnull(strstr(items[1]->str, "not an integer"));
	ck_assert_str_eq(items[2]->str, "text");
	ck_assert(items[3]->integer == 1);
	for (i = 0; i < 4; i++)
		redis_reply_free(items[i]);
	free(items);
	redis_rest_free(r);
}
END_TEST

static void sha1_hex(const char *s, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0, i;

	ck_assert(EVP_Digest(s, strlen(s), md, &len, EVP_sha1(), NULL));
	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static long eval_calls(struct redis_rest *r)
{
	struct redis_reply *rep = run(r, 2, (const char *[]){"INFO", "commandstats"});
	const char *p;
	long n = 0;

	ck_assert_int_eq(rep->type, REDIS_STRING);
	p = strstr(rep->str, "cmdstat_eval:calls=");
	if (p)
		n = strtol(p + strlen("cmdstat_eval:calls="), NULL, 10);
	redis_reply_free(rep);
	return n;
}

/* Runs script with KEYS = {"ev:k"}, ARGV = {arg}; expects the string want. */
static void eval_expect(struct redis_rest *r, const char *script, const char *arg, const char *want)
{
	const char *keys[] = {"ev:k"};
	const char *args[] = {arg};
	struct redis_reply *rep = NULL;
	char err[256];

	ck_assert_int_eq(
	    redis_rest_eval(r, "test", script, 1, keys, 1, args, &rep, err, sizeof(err)), CJ_OK);
	ck_assert_ptr_nonnull(rep);
	expect_string(rep, want, strlen(want));
}

START_TEST(evalsha_falls_back_to_eval)
{
	struct redis_rest *r = client_for(fx.url, fx.token, 0);
	const char *script = "return KEYS[1] .. ':' .. ARGV[1]";
	char sha[41];
	struct redis_reply *rep;

	sha1_hex(script, sha);
	redis_reply_free(run(r, 2, (const char *[]){"SCRIPT", "FLUSH"}));
	redis_reply_free(run(r, 2, (const char *[]){"CONFIG", "RESETSTAT"}));
	eval_expect(r, script, "one", "ev:k:one"); /* NOSCRIPT, then EVAL */
	rep = run(r, 3, (const char *[]){"SCRIPT", "EXISTS", sha});
	ck_assert_int_eq(rep->type, REDIS_ARRAY);
	ck_assert(rep->elems[0]->integer == 1);
	redis_reply_free(rep);
	eval_expect(r, script, "two", "ev:k:two");
	/* The second call went through EVALSHA: EVAL ran only once. */
	ck_assert_int_eq(eval_calls(r), 1);
	/* After a flush the next calls still work (each reloads its script). */
	redis_reply_free(run(r, 2, (const char *[]){"SCRIPT", "FLUSH"}));
	eval_expect(r, "return ARGV[1]", "three", "three");
	eval_expect(r, script, "four", "ev:k:four");
	ck_assert_int_eq(eval_calls(r), 3);
	redis_rest_free(r);
}
END_TEST

START_TEST(wrong_token_is_a_config_fault)
{
	const char *token = "not-the-token-5b0c1e";
	struct redis_rest *r = client_for(fx.url, token, 0);
	const char *argv[] = {"PING"};
	const int argcs[] = {1};
	struct redis_reply *rep = NULL, **items = NULL;
	char err[256];

	ck_assert_int_eq(redis_rest_command(r, "test", 1, argv, NULL, &rep, err, sizeof(err)),
	                 CJ_ECONFIG);
	ck_assert_ptr_null(rep);
	ck_assert_ptr_nonnull(strstr(err, "HTTP 401"));
	ck_assert_ptr_null(strstr(err, token));
	ck_assert_int_eq(redis_rest_pipeline(r, "test", 1, argcs, argv, &items, err, sizeof(err)),
	                 CJ_ECONFIG);
	ck_assert_ptr_null(items);
	ck_assert_ptr_null(strstr(err, token));
	redis_rest_free(r);
}
END_TEST

START_TEST(unexpected_status_is_upstream_error)
{
	char url[128];
	struct redis_rest *r;
	const char *argv[] = {"PING"};
	struct redis_reply *rep = NULL;
	char err[256];

	snprintf(url, sizeof(url), "%s/no/such/path", fx.url);
	r = client_for(url, fx.token, 0);
	ck_assert_int_eq(redis_rest_command(r, "test", 1, argv, NULL, &rep, err, sizeof(err)),
	                 CJ_EUPSTREAM);
	ck_assert_ptr_nonnull(strstr(err, "HTTP 404"));
	redis_rest_free(r);
}
END_TEST

START_TEST(connection_refused_is_unavailable)
{
	char url[64];
	struct redis_rest *r;
	const char *argv[] = {"PING"};
	struct redis_reply *rep = NULL;
	char err[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", free_port());
	r = client_for(url, "t", 2);
	ck_assert_int_eq(redis_rest_command(r, "test", 1, argv, NULL, &rep, err, sizeof(err)),
	                 CJ_EUNAVAIL);
	ck_assert_ptr_null(rep);
	ck_assert_ptr_nonnull(strstr(err, "after 2 attempts"));
	redis_rest_free(r);
}
END_TEST

/* A TCP listener that hangs up on every connection (close) or keeps it open
 * without answering (hold), counting the connections it accepted. */
struct rude_server {
	int fd;
	int port;
	int hold;
	atomic_int accepted;
	atomic_int stop;
	int held[16];
	int nheld;
	pthread_t thread;
};

static void *rude_main(void *arg)
{
	struct rude_server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = {s->fd, POLLIN, 0};
		int c;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		if (s->hold && s->nheld < 16)
			s->held[s->nheld++] = c;
		else
			close(c);
	}
	return NULL;
}

static void rude_start(struct rude_server *s, int hold)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->hold = hold;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s->fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->fd, 16), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, rude_main, s), 0);
}

static void rude_stop(struct rude_server *s)
{
	int i;

	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	for (i = 0; i < s->nheld; i++)
		close(s->held[i]);
	close(s->fd);
}

START_TEST(broken_connections_are_retried_a_bounded_number_of_times)
{
	struct rude_server s;
	struct redis_rest *r;
	const char *argv[] = {"PING"};
	struct redis_reply *rep = NULL;
	char url[64], err[256];

	rude_start(&s, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
	r = client_for(url, "t", 3);
	ck_assert_int_eq(redis_rest_command(r, "test", 1, argv, NULL, &rep, err, sizeof(err)),
	                 CJ_EUNAVAIL);
	ck_assert_ptr_null(rep);
	redis_rest_free(r);
	rude_stop(&s);
	ck_assert_int_eq(atomic_load(&s.accepted), 3);
}
END_TEST

START_TEST(timeouts_are_not_retried)
{
	struct redis_rest_options o = {300, 1000, 3};
	struct rude_server s;
	struct redis_rest *r;
	const char *argv[] = {"PING"};
	struct redis_reply *rep = NULL;
	char url[64], err[256];

	rude_start(&s, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
	r = redis_rest_new(url, "t", &o);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(redis_rest_command(r, "test", 1, argv, NULL, &rep, err, sizeof(err)),
	                 CJ_ETIMEOUT);
	ck_assert_ptr_nonnull(strstr(err, "timed out"));
	redis_rest_free(r);
	rude_stop(&s);
	ck_assert_int_eq(atomic_load(&s.accepted), 1);
}
END_TEST

static long stats_requests(struct redis_fixture *f)
{
	struct httpc_resp h;
	char url[80];
	long n;

	snprintf(url, sizeof(url), "%s/__stats", f->url);
	ck_assert_int_eq(httpc_get(url, NULL, &h), 0);
	ck_assert(json_is_integer(json_object_get(h.json, "requests")));
	n = (long)json_integer_value(json_object_get(h.json, "requests"));
	httpc_resp_free(&h);
	return n;
}

START_TEST(redis_down_behind_the_server_is_unavailable)
{
	struct redis_fixture own;
	struct redis_rest *r;
	const char *argv[] = {"PING"};
	struct redis_reply *rep = NULL;
	char err[256];
	long before;

	ck_assert_int_eq(redis_fixture_start(&own), 0);
	r = client_for(own.url, own.token, 3);
	expect_string(run(r, 1, argv), "PONG", 4);
	redis_fixture_stop_redis(&own);
	before = stats_requests(&own);
	ck_assert_int_eq(redis_rest_command(r, "test", 1, argv, NULL, &rep, err, sizeof(err)),
	                 CJ_EUNAVAIL);
	ck_assert_ptr_null(rep);
	ck_assert_ptr_nonnull(strstr(err, "HTTP 500"));
	/* An HTTP answer is never retried: one PING plus the stats call itself. */
	ck_assert_int_eq(stats_requests(&own) - before, 2);
	ck_assert_int_eq(redis_fixture_start_redis(&own), 0);
	expect_string(run(r, 1, argv), "PONG", 4);
	redis_rest_free(r);
	redis_fixture_stop(&own);
}
END_TEST

START_TEST(connections_are_reused)
{
	struct redis_rest *r = client_for(fx.url, fx.token, 0);
	char key[32];
	long before, after;
	int i;

	before = redis_fixture_connections(&fx);
	ck_assert_int_ge(before, 0);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "reuse:%d", i);
		expect_string(run(r, 3, (const char *[]){"SET", key, "v"}), "OK", 2);
	}
	after = redis_fixture_connections(&fx);
	/* Minus the stats call's own connection. */
	ck_assert_int_le(after - before - 1, 2);
	redis_rest_free(r);
}
END_TEST

struct worker {
	struct redis_rest *r;
	int id;
	int failures;
	pthread_t thread;
};

#define WORKERS 16
#define ROUNDS 50

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char key[32], val[32], err[256];
	int i;

	snprintf(key, sizeof(key), "mt:%d", w->id);
	for (i = 0; i < ROUNDS; i++) {
		const char *incr[] = {"INCR", "mt:counter"};
		const char *set[] = {"SET", key, val};
		const char *get[] = {"GET", key};
		struct redis_reply *a = NULL, *b = NULL, *c = NULL;

		snprintf(val, sizeof(val), "%d-%d", w->id, i);
		if (redis_rest_command(w->r, "test", 2, incr, NULL, &a, err, sizeof(err)) ||
		    redis_rest_command(w->r, "test", 3, set, NULL, &b, err, sizeof(err)) ||
		    redis_rest_command(w->r, "test", 2, get, NULL, &c, err, sizeof(err)) ||
		    a->type != REDIS_INTEGER || c->type != REDIS_STRING || strcmp(c->str, val))
			w->failures++;
		redis_reply_free(a);
		redis_reply_free(b);
		redis_reply_free(c);
	}
	return NULL;
}

START_TEST(sixteen_threads_share_one_client)
{
	struct redis_rest *r = client_for(fx.url, fx.token, 0);
	struct worker w[WORKERS];
	struct redis_reply *rep;
	int i;

	redis_reply_free(run(r, 2, (const char *[]){"DEL", "mt:counter"}));
	for (i = 0; i < WORKERS; i++) {
		w[i].r = r;
		w[i].id = i;
		w[i].failures = 0;
		ck_assert_int_eq(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < WORKERS; i++) {
		pthread_join(w[i].thread, NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	rep = run(r, 2, (const char *[]){"GET", "mt:counter"});
	expect_string(rep, "800", 3);
	redis_rest_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("redis_rest");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init() || redis_fixture_start(&fx)) {
		fprintf(stderr, "cannot set up the redis fixture\n");
		return 1;
	}
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, round_trip_binary_safe);
	tcase_add_test(tc, pipeline_with_a_failing_item);
	tcase_add_test(tc, evalsha_falls_back_to_eval);
	tcase_add_test(tc, wrong_token_is_a_config_fault);
	tcase_add_test(tc, unexpected_status_is_upstream_error);
	tcase_add_test(tc, connection_refused_is_unavailable);
	tcase_add_test(tc, broken_connections_are_retried_a_bounded_number_of_times);
	tcase_add_test(tc, timeouts_are_not_retried);
	tcase_add_test(tc, redis_down_behind_the_server_is_unavailable);
	tcase_add_test(tc, connections_are_reused);
	tcase_add_test(tc, sixteen_threads_share_one_client);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	redis_fixture_stop(&fx);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
