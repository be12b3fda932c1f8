/*
 * test_http_server.c - unit tests for the pure parts of src/http_server.c:
 * percent-decoding that never yields a control character, and the test of
 * a raw path before it is routed. (The server itself is tested on the real
 * binary: tests/integration/test_http.c and test_limits.c.)
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ckrun.h"
#include "http_server.h"

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
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, unescape_decodes_but_never_control_characters);
	tcase_add_test(tc, path_acceptable);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
