/*
 * test_http_server.c - unit tests for http_request_run(), the request
 * plumbing of src/http_server.c run in process (what the router fuzzer and
 * tests use): header and query lookups, the peer, the body under its cap,
 * an answer from the headers with the body dropped, an answer before the
 * body when Content-Length is over the cap, and on_done on every path.
 * Also the pure parts: percent-decoding that never yields a control
 * character, and the test of a raw path before it is routed. The server
 * over real sockets is tested by the integration tests (test_http.c,
 * test_limits.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "http_server.h"

/* What the test application saw. */
struct seen {
	int headers_calls, body_calls, done_calls;
	int answer_from_headers; /* on_headers answers 403 */
	int loopback;
	size_t body_len;
	int body_too_big;
	char body[64];
	char ctype[64];
	char limit[16];
	char trace[64];
};

static int on_headers(void *app, struct http_req *r, struct http_answer *a)
{
	struct seen *s = app;
	const char *v;

	s->headers_calls++;
	s->loopback = http_request_peer_loopback(r);
	v = http_request_header(r, "content-type");
	snprintf(s->ctype, sizeof(s->ctype), "%s", v ? v : "(none)");
	v = http_request_query(r, "LIMIT");
	snprintf(s->limit, sizeof(s->limit), "%s", v ? v : "(none)");
	snprintf(s->trace, sizeof(s->trace), "%s", r->trace_id);
	if (!s->answer_from_headers)
		return 0;
	http_answer_error(a, 403, "forbidden", "no");
	return 1;
}

static void on_body(void *app, struct http_req *r, struct http_answer *a)
{
	struct seen *s = app;

	s->body_calls++;
	s->body_len = r->body.len;
	s->body_too_big = r->body_too_big;
	snprintf(s->body, sizeof(s->body), "%s", buf_str(&r->body));
	http_answer_json(a, 200, json_pack("{s:s}", "status", "ok"));
}

static void on_done(void *app, struct http_req *r)
{
	struct seen *s = app;

	(void)r;
	s->done_calls++;
}

static int run(struct seen *s, size_t max_body, const char *const *headers, int loopback,
               const char *body, struct http_answer *a)
{
	static const char *const query[] = {"limit", "10", "cursor", "", NULL};
	struct http_app app = {on_headers, on_body, on_done, s};
	struct http_req_fields f = {headers, query, loopback};

	return http_request_run(&app, max_body, "POST", "/x", &f, body, body ? strlen(body) : 0, a);
}

START_TEST(a_request_with_its_body)
{
	static const char *const headers[] = {"Content-Type",
	                                      "application/json",
	                                      "Content-Length",
	                                      "11",
	                                      "X-Cloud-Trace-Context",
	                                      "105445aa7843bc8bf206b12000100000/1;o=1",
	                                      NULL};
	struct seen s = {0};
	struct http_answer a;

	ck_assert_int_eq(run(&s, 1024, headers, 1, "{\"a\":\"b c\"}", &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.body, "{\"status\":\"ok\"}");
	ck_assert_int_eq(a.close, 0);
	free(a.body);
	ck_assert_int_eq(s.headers_calls, 1);
	ck_assert_int_eq(s.body_calls, 1);
	ck_assert_int_eq(s.done_calls, 1);
	/* Names match case-insensitively, as libmicrohttpd's lookup. */
	ck_assert_str_eq(s.ctype, "application/json");
	ck_assert_str_eq(s.limit, "10");
	ck_assert_str_eq(s.trace, "105445aa7843bc8bf206b12000100000");
	ck_assert_int_eq(s.loopback, 1);
	ck_assert_str_eq(s.body, "{\"a\":\"b c\"}");
	ck_assert_int_eq(s.body_too_big, 0);
}
END_TEST

START_TEST(no_headers_no_body)
{
	struct seen s = {0};
	struct http_answer a;

	ck_assert_int_eq(run(&s, 1024, NULL, 0, NULL, &a), 0);
	ck_assert_int_eq(a.status, 200);
	free(a.body);
	ck_assert_str_eq(s.ctype, "(none)");
	ck_assert_int_eq(s.loopback, 0);
	ck_assert_int_eq(s.body_len, 0);
	ck_assert_int_eq(s.done_calls, 1);
}
END_TEST

/* Answered from the headers: the body is read and dropped, on_body never
 * runs, the connection stays usable. */
START_TEST(an_answer_from_the_headers)
{
	static const char *const headers[] = {"Content-Length", "4", NULL};
	struct seen s = {0};
	struct http_answer a;

	s.answer_from_headers = 1;
	ck_assert_int_eq(run(&s, 1024, headers, 1, "body", &a), 0);
	ck_assert_int_eq(a.status, 403);
	ck_assert_int_eq(a.close, 0);
	ck_assert_ptr_nonnull(strstr(a.body, "\"forbidden\""));
	free(a.body);
	ck_assert_int_eq(s.body_calls, 0);
	ck_assert_int_eq(s.done_calls, 1);
}
END_TEST

/* Over the cap by Content-Length: answered at once, closing. */
START_TEST(over_the_cap_by_its_length)
{
	static const char *const headers[] = {"Content-Length", "5000", NULL};
	struct seen s = {0};
	struct http_answer a;

	s.answer_from_headers = 1;
	ck_assert_int_eq(run(&s, 1024, headers, 1, "", &a), 0);
	ck_assert_int_eq(a.status, 403);
	ck_assert_int_eq(a.close, 1);
	free(a.body);
	ck_assert_int_eq(s.done_calls, 1);
}
END_TEST

/* A chunked body over the cap reaches on_body flagged, and closes. */
START_TEST(a_chunked_body_over_the_cap)
{
	static const char *const headers[] = {"Transfer-Encoding", "chunked", NULL};
	struct seen s = {0};
	struct http_answer a;

	ck_assert_int_eq(run(&s, 8, headers, 1, "0123456789", &a), 0);
	ck_assert_int_eq(a.status, 200);
	ck_assert_int_eq(a.close, 1);
	free(a.body);
	ck_assert_int_eq(s.body_calls, 1);
	ck_assert_int_eq(s.body_too_big, 1);
	ck_assert_int_eq(s.body_len, 0);
	ck_assert_int_eq(s.done_calls, 1);
}
END_TEST

static void check_unescape(const char *in, const char *want)
{
	char s[256];
	size_t n;

	snprintf(s, sizeof(s), "%s", in);
	n = http_unescape(s);
	ck_assert_str_eq(s, want);
	ck_assert_uint_eq(n, strlen(want));
}

START_TEST(unescape_decodes_but_never_control_characters)
{
	check_unescape("/jobs/ping", "/jobs/ping");
	check_unescape("/a%20b%2Fc%3a", "/a b/c:");
	check_unescape("%41%42%43", "ABC");
	check_unescape("%e2%82%ac", "\xe2\x82\xac");
	/* NUL and other control characters stay escaped: never a cut string. */
	check_unescape("ping%00x", "ping%00x");
	check_unescape("a%0d%0Ab%09c%7f", "a%0d%0Ab%09c%7f");
	/* Malformed escapes stay as they are. */
	check_unescape("%", "%");
	check_unescape("%4", "%4");
	check_unescape("%zz%4g", "%zz%4g");
	check_unescape("100%%41", "100%A");
	check_unescape("", "");
}
END_TEST

START_TEST(path_acceptable)
{
	ck_assert(http_path_acceptable("/jobs/ping"));
	ck_assert(http_path_acceptable("/health%2Flive"));
	ck_assert(http_path_acceptable("/v2/projects/p/locations/l/queues/q/tasks/t%3Arun"));
	ck_assert(http_path_acceptable("/admin/dead-letters?limit=5%00"));
	ck_assert(http_path_acceptable("/x?%zz"));
	ck_assert(http_path_acceptable("/caf%C3%A9"));
	ck_assert(!http_path_acceptable("/jobs/ping%00x"));
	ck_assert(!http_path_acceptable("/jobs/ping%00"));
	ck_assert(!http_path_acceptable("/jobs/%0aping"));
	ck_assert(!http_path_acceptable("/jobs/%7F"));
	ck_assert(!http_path_acceptable("/jobs/ping%zz"));
	ck_assert(!http_path_acceptable("/jobs/ping%4"));
	ck_assert(!http_path_acceptable("/jobs/ping%"));
	ck_assert(!http_path_acceptable("/jobs/\tping"));
	ck_assert(!http_path_acceptable(NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_server");
	TCase *tc = tcase_create("in_process");
	int failed;

	tcase_add_test(tc, a_request_with_its_body);
	tcase_add_test(tc, no_headers_no_body);
	tcase_add_test(tc, an_answer_from_the_headers);
	tcase_add_test(tc, over_the_cap_by_its_length);
	tcase_add_test(tc, a_chunked_body_over_the_cap);
	tcase_add_test(tc, unescape_decodes_but_never_control_characters);
	tcase_add_test(tc, path_acceptable);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
