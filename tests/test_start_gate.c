/*
 * test_start_gate.c - unit tests for src/start_gate.c over a real server
 * on loopback: a request that arrives before the service is built waits
 * and is then answered by it; a failed start answers 503 with Retry-After;
 * a start slower than the wait answers 503; once open, requests go
 * straight through and their on_done runs. Readiness never waits: not
 * ready until the gate opens.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "http_server.h"
#include "httpc.h"
#include "proc.h"
#include "start_gate.h"
#include "timeutil.h"

static atomic_int inner_requests, inner_done;

static int inner_headers(void *app, struct http_req *r, struct http_answer *a)
{
	(void)app, (void)r;
	atomic_fetch_add(&inner_requests, 1);
	http_answer_json(a, 200, json_pack("{s:s}", "from", "inner"));
	return 1;
}

static void inner_body(void *app, struct http_req *r, struct http_answer *a)
{
	(void)app, (void)r, (void)a;
}

static void inner_on_done(void *app, struct http_req *r)
{
	(void)app, (void)r;
	atomic_fetch_add(&inner_done, 1);
}

static const struct http_app inner = {inner_headers, inner_body, inner_on_done, NULL};

struct fixture {
	struct start_gate *gate;
	struct http_server *srv;
	char url[64];
};

static void start(struct fixture *f, long wait_ms)
{
	char err[256] = "";
	struct http_app app;

	atomic_store(&inner_requests, 0);
	atomic_store(&inner_done, 0);
	f->gate = start_gate_new(wait_ms);
	ck_assert_ptr_nonnull(f->gate);
	app = start_gate_app(f->gate);
	for (int tries = 0; tries < 5 && !f->srv; tries++) {
		int port = free_port();

		f->srv = http_server_start("127.0.0.1", port, 1024, &app, err, sizeof(err));
		snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/x", port);
	}
	ck_assert_msg(f->srv != NULL, "%s", err);
}

static void stop(struct fixture *f)
{
	http_server_stop(f->srv);
	start_gate_free(f->gate);
}

struct call {
	const char *url;
	struct httpc_resp r;
	int64_t took_ms;
	pthread_t t;
};

static void *call_main(void *arg)
{
	struct call *c = arg;
	int64_t t0 = time_mono_ms();

	httpc_get(c->url, NULL, &c->r);
	c->took_ms = time_mono_ms() - t0;
	return NULL;
}

START_TEST(waiting_request_goes_through_once_open)
{
	struct fixture f = {0};
	struct call c = {0};

	start(&f, 10000);
	c.url = f.url;
	ck_assert_int_eq(pthread_create(&c.t, NULL, call_main, &c), 0);
	usleep(300 * 1000);
	ck_assert_int_eq(atomic_load(&inner_requests), 0); /* still at the gate */
	start_gate_open(f.gate, &inner);
	pthread_join(c.t, NULL);
	ck_assert_int_eq(c.r.status, 200);
	ck_assert_ptr_nonnull(strstr(c.r.body, "inner"));
	ck_assert_int_ge(c.took_ms, 250);
	httpc_resp_free(&c.r);
	/* Open: straight through. */
	ck_assert_int_eq(httpc_get(f.url, NULL, &c.r), 0);
	ck_assert_int_eq(c.r.status, 200);
	httpc_resp_free(&c.r);
	ck_assert_int_eq(atomic_load(&inner_requests), 2);
	stop(&f);
	ck_assert_int_eq(atomic_load(&inner_done), 2);
}
END_TEST

START_TEST(failed_start_answers_503)
{
	struct fixture f = {0};
	struct call c = {0};

	start(&f, 10000);
	c.url = f.url;
	ck_assert_int_eq(pthread_create(&c.t, NULL, call_main, &c), 0);
	usleep(200 * 1000);
	start_gate_fail(f.gate);
	pthread_join(c.t, NULL);
	ck_assert_int_eq(c.r.status, 503);
	ck_assert_ptr_nonnull(c.r.json);
	ck_assert_str_eq(json_string_value(json_object_get(c.r.json, "error")), "unavailable");
	ck_assert_ptr_nonnull(strcasestr(c.r.headers, "Retry-After: 1"));
	httpc_resp_free(&c.r);
	ck_assert_int_eq(atomic_load(&inner_requests), 0);
	stop(&f);
	ck_assert_int_eq(atomic_load(&inner_done), 0);
}
END_TEST

START_TEST(slow_start_answers_503_after_the_wait)
{
	struct fixture f = {0};
	struct call c = {0};

	start(&f, 200);
	c.url = f.url;
	call_main(&c);
	ck_assert_int_eq(c.r.status, 503);
	ck_assert_int_ge(c.took_ms, 150);
	ck_assert_int_lt(c.took_ms, 5000);
	httpc_resp_free(&c.r);
	start_gate_open(f.gate, &inner);
	ck_assert_int_eq(httpc_get(f.url, NULL, &c.r), 0);
	ck_assert_int_eq(c.r.status, 200);
	httpc_resp_free(&c.r);
	stop(&f);
}
END_TEST

START_TEST(readiness_answers_at_once_while_starting)
{
	struct fixture f = {0};
	struct httpc_resp r;
	char ready[80];
	int64_t t0;

	start(&f, 10000);
	/* f.url ends in "/x": the same server's readiness path. */
	snprintf(ready, sizeof(ready), "%.*s/health/ready", (int)(strlen(f.url) - 2), f.url);
	t0 = time_mono_ms();
	ck_assert_int_eq(httpc_get(ready, NULL, &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "down");
	ck_assert(json_is_true(json_object_get(r.json, "starting")));
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "jwks"), "status")), "down");
	httpc_resp_free(&r);
	ck_assert_int_lt(time_mono_ms() - t0, 5000); /* it did not wait for the gate */
	ck_assert_int_eq(atomic_load(&inner_requests), 0);
	/* Open: the service's own answers. */
	start_gate_open(f.gate, &inner);
	ck_assert_int_eq(httpc_get(ready, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "inner"));
	httpc_resp_free(&r);
	stop(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("start_gate");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, waiting_request_goes_through_once_open);
	tcase_add_test(tc, failed_start_answers_503);
	tcase_add_test(tc, slow_start_answers_503_after_the_wait);
	tcase_add_test(tc, readiness_answers_at_once_while_starting);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
