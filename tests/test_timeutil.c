/*
 * test_timeutil.c - unit tests for src/timeutil.c: RFC 3339 round trips and
 * offsets, rejection of impossible dates, Google duration strings.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "timeutil.h"

START_TEST(rfc3339)
{
	char out[64];
	double t;

	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T19:43:00Z", &t), CJ_OK);
	ck_assert_int_eq((long long)t, 1795376580LL);
	ck_assert_str_eq(time_format_rfc3339(t, 0, out, sizeof(out)), "2026-11-22T19:43:00Z");
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T20:43:00.250+01:00", &t), CJ_OK);
	ck_assert(t > 1795376580.2 && t < 1795376580.3);
	ck_assert_str_eq(time_format_rfc3339(t, 3, out, sizeof(out)), "2026-11-22T19:43:00.250Z");
	ck_assert_int_eq(time_parse_rfc3339("2026-02-30T00:00:00Z", &t), CJ_EINVAL);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22 19:43:00Z", &t), CJ_EINVAL);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T19:43:00", &t), CJ_EINVAL);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-22T19:43:00Zjunk", &t), CJ_EINVAL);
	ck_assert_int_eq(time_parse_rfc3339("", &t), CJ_EINVAL);
	ck_assert_int_eq(time_parse_rfc3339("2024-02-29T23:59:59.999999999Z", &t), CJ_OK);
}
END_TEST

START_TEST(durations)
{
	double d;

	ck_assert_int_eq(time_parse_duration("10s", &d), CJ_OK);
	ck_assert(d == 10);
	ck_assert_int_eq(time_parse_duration("0.5s", &d), CJ_OK);
	ck_assert(d == 0.5);
	ck_assert_int_eq(time_parse_duration("0s", &d), CJ_OK);
	ck_assert_int_eq(time_parse_duration("10", &d), CJ_EINVAL);
	ck_assert_int_eq(time_parse_duration("s", &d), CJ_EINVAL);
	ck_assert_int_eq(time_parse_duration("-1s", &d), CJ_EINVAL);
	ck_assert_int_eq(time_parse_duration("1ms", &d), CJ_EINVAL);
	ck_assert_int_eq(time_parse_duration("1e3s", &d), CJ_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timeutil");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, rfc3339);
	tcase_add_test(tc, durations);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
