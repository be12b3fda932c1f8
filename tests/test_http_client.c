/*
 * test_http_client.c - unit tests for src/http_client.c against the fake
 * Google services (tests/fixtures/fake_google): answers, headers, and the
 * opt-in count of how many times a request went out, including libcurl's
 * own re-send after a kept-alive connection died and a transfer whose every
 * copy got no answer. Also that one thread's handle, reused call after
 * call without a reset, sends each call's own method, body and headers.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ckrun.h"
#include "fake_cloud.h"
#include "http_client.h"
#include "http_sink.h"

static struct fake_cloud fc;
static char metadata_url[256], token_url[256];

static const char *const flavor[] = {"Metadata-Flavor: Google", NULL};

static void start_fake(void)
{
	ck_assert_int_eq(fake_cloud_start(&fc, NULL), 0);
	snprintf(metadata_url, sizeof(metadata_url),
	         "%s/computeMetadata/v1/instance/service-accounts/default/token", fc.url);
	snprintf(token_url, sizeof(token_url), "%s/token", fc.url);
}

static void stop_fake(void)
{
	fake_cloud_stop(&fc);
}

static void setup(void)
{
	ck_assert_int_eq(fake_cloud_reset(&fc), 0);
}

/* GET of the metadata token; *sends gets resp.sends. */
static int get_token(int count_sends, long *status, int *sends)
{
	struct http_request req = {
	    .url = metadata_url,
	    .headers = flavor,
	    .timeout_ms = 5000,
	    .count_sends = count_sends,
	};
	struct http_response resp;
	char err[256];
	int rc = http_do(&req, &resp, err, sizeof(err));

	*status = resp.status;
	*sends = resp.sends;
	http_response_release(&resp);
	return rc;
}

/* One thread, one kept handle: nothing of a call leaks into the next. */
START_TEST(methods_in_turn_on_one_handle)
{
	static const struct {
		const char *method, *body, *want_method, *want_body;
	} calls[] = {
	    {"POST", "{\"a\":1}", "POST", "{\"a\":1}"},
	    {NULL, NULL, "GET", ""},
	    {"HEAD", NULL, "HEAD", ""},
	    {"DELETE", NULL, "DELETE", ""},
	    {"POST", NULL, "POST", ""},
	    {"PATCH", "{\"b\":2}", "PATCH", "{\"b\":2}"},
	    {"GET", NULL, "GET", ""},
	    {"POST", "x", "POST", "x"},
	};
	const char *const ct[] = {"Content-Type: text/plain", NULL};
	struct http_sink *k = http_sink_start();
	struct sink_request *got;
	size_t n, i;

	ck_assert_ptr_nonnull(k);
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		char url[300];
		struct http_request req = {.method = calls[i].method, .url = url,
		                           .body = calls[i].body,
		                           .body_len = calls[i].body ? strlen(calls[i].body) : 0,
		                           .headers = i == 0 ? ct : NULL, .timeout_ms = 5000};
		struct http_response resp;

		snprintf(url, sizeof(url), "%s/call/%zu", http_sink_url(k), i);
		ck_assert_int_eq(http_do(&req, &resp, NULL, 0), CJ_OK);
		ck_assert_int_eq(resp.status, 200);
		/* A HEAD answer has no body; the others carry the sink's. */
		ck_assert_int_eq(resp.body.len == 0, !strcmp(calls[i].want_method, "HEAD"));
		http_response_release(&resp);
	}
	got = http_sink_requests(k, &n);
	ck_assert_uint_eq(n, sizeof(calls) / sizeof(calls[0]));
	for (i = 0; i < n; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/call/%zu", i);
		ck_assert_str_eq(got[i].path, path);
		ck_assert_str_eq(got[i].method, calls[i].want_method);
		ck_assert_str_eq(got[i].body, calls[i].want_body);
		/* The first call's header list does not stay on the handle. */
		ck_assert_int_eq(!strcmp(got[i].content_type, "text/plain"), i == 0);
		ck_assert_str_eq(got[i].user_agent, "catchup-jobs");
	}
	http_sink_requests_free(got, n);
	http_sink_stop(k);
}
END_TEST

START_TEST(answers_and_headers)
{
	struct http_request req = {.url = metadata_url, .headers = flavor};
	struct http_response resp;
	char v[128];

	ck_assert_int_eq(http_do(&req, &resp, NULL, 0), CJ_OK);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_nonnull(strstr(resp.body.data, "access_token"));
	ck_assert_int_eq(http_response_header(&resp, "content-type", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "application/json; charset=UTF-8");
	ck_assert_int_eq(http_response_header(&resp, "X-Nothing", v, sizeof(v)), 0);
	/* Not asked to count: nothing counted. */
	ck_assert_int_eq(resp.sends, 0);
	http_response_release(&resp);
}
END_TEST

START_TEST(sends_are_counted_when_asked)
{
	struct http_request post = {
	    .method = "POST", .url = token_url, .body = "x=1", .body_len = 3, .count_sends = 1};
	struct http_request del = {.method = "DELETE", .url = token_url, .count_sends = 1};
	struct http_response resp;
	long status;
	int sends;

	ck_assert_int_eq(get_token(1, &status, &sends), CJ_OK);
	ck_assert_int_eq(status, 200);
	ck_assert_int_eq(sends, 1);
	ck_assert_int_eq(get_token(0, &status, &sends), CJ_OK);
	ck_assert_int_eq(sends, 0);
	ck_assert_int_eq(http_do(&post, &resp, NULL, 0), CJ_OK);
	ck_assert_int_eq(resp.status, 400);
	ck_assert_int_eq(resp.sends, 1);
	http_response_release(&resp);
	ck_assert_int_eq(http_do(&del, &resp, NULL, 0), CJ_OK);
	ck_assert_int_eq(resp.status, 405);
	ck_assert_int_eq(resp.sends, 1);
	http_response_release(&resp);
}
END_TEST

/* The fake closes a kept-alive connection on the next request without a
 * word: libcurl sends the request again on a fresh connection by itself,
 * and only the count tells the caller so. */
START_TEST(libcurl_resend_on_a_dead_connection_is_counted)
{
	long status;
	int sends;

	ck_assert_int_eq(get_token(1, &status, &sends), CJ_OK); /* keeps a connection */
	ck_assert_int_eq(fake_cloud_drop(&fc, "metadata", 1, 1, 0), 0);
	ck_assert_int_eq(get_token(1, &status, &sends), CJ_OK);
	ck_assert_int_eq(status, 200);
	ck_assert_int_eq(sends, 2);
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 3);
}
END_TEST

/* A request on a fresh connection is never sent again by libcurl: the
 * kept-alive connection the fake would drop is not used, and when the
 * fresh one is dropped the call fails after one send. */
START_TEST(fresh_connection_is_never_resent)
{
	struct http_request req = {.url = metadata_url,
	                           .headers = flavor,
	                           .timeout_ms = 5000,
	                           .count_sends = 1,
	                           .fresh_connection = 1};
	struct http_response resp;
	char err[256];
	long status;
	int sends;

	ck_assert_int_eq(get_token(1, &status, &sends), CJ_OK); /* keeps a connection */
	ck_assert_int_eq(fake_cloud_drop(&fc, "metadata", 1, 1, 0), 0);
	ck_assert_int_eq(http_do(&req, &resp, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_int_eq(resp.sends, 1);
	http_response_release(&resp);
	ck_assert_int_eq(fake_cloud_reset(&fc), 0);
	ck_assert_int_eq(fake_cloud_drop(&fc, "metadata", 2, 0, 0), 0);
	ck_assert_int_eq(http_do(&req, &resp, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(resp.sends, 1);
	http_response_release(&resp);
	ck_assert_int_eq(fake_cloud_reset(&fc), 0);
}
END_TEST

START_TEST(no_answer_at_all)
{
	struct http_request refused = {.url = "http://127.0.0.1:1/", .count_sends = 1};
	struct http_response resp;
	char err[256];
	long status;
	int sends;

	/* Every copy dropped: a failure, after the request went out twice. */
	ck_assert_int_eq(get_token(1, &status, &sends), CJ_OK);
	ck_assert_int_eq(fake_cloud_drop(&fc, "metadata", 2, 0, 0), 0);
	ck_assert_int_eq(get_token(1, &status, &sends), CJ_EUNAVAIL);
	ck_assert_int_eq(status, 0);
	ck_assert_int_eq(sends, 2);
	/* Nothing listening: the request never went out. */
	ck_assert_int_eq(http_do(&refused, &resp, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(resp.sends, 0);
	ck_assert(err[0]);
	http_response_release(&resp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_client");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init())
		return 1;
	tcase_add_unchecked_fixture(tc, start_fake, stop_fake);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, answers_and_headers);
	tcase_add_test(tc, methods_in_turn_on_one_handle);
	tcase_add_test(tc, sends_are_counted_when_asked);
	tcase_add_test(tc, libcurl_resend_on_a_dead_connection_is_counted);
	tcase_add_test(tc, fresh_connection_is_never_resent);
	tcase_add_test(tc, no_answer_at_all);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
