/*
 * test_cron.c - unit tests for src/cron.c: numbers, ranges, steps, lists,
 * month and weekday names, 7 as Sunday, the day-of-month/day-of-week rule
 * (either one when both are restricted, both when one is "*"), and errors
 * that name the field at fault.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ckrun.h"
#include "cron.h"

static struct cron_spec parse(const char *text)
{
	struct cron_spec c;
	char err[256] = "";

	ck_assert_msg(cron_parse(text, &c, err, sizeof(err)) == CJ_OK, "\"%s\": %s", text, err);
	return c;
}

/* month 1-12, wday 0 = Sunday; the date need not exist. */
static int at(const struct cron_spec *c, int min, int hour, int mday, int month, int wday)
{
	struct tm tm = {0};

	tm.tm_min = min;
	tm.tm_hour = hour;
	tm.tm_mday = mday;
	tm.tm_mon = month - 1;
	tm.tm_wday = wday;
	return cron_matches(c, &tm);
}

START_TEST(stars_and_numbers)
{
	struct cron_spec c = parse("* * * * *");

	ck_assert(c.minutes == (1ull << 60) - 1);
	ck_assert_uint_eq(c.hours, (1u << 24) - 1);
	ck_assert_uint_eq(c.mdays, 0xfffffffeu);
	ck_assert_uint_eq(c.months, 0x1ffe);
	ck_assert_uint_eq(c.wdays, 0x7f);
	ck_assert(c.mday_any && c.wday_any);
	c = parse("59 23 31 12 6");
	ck_assert(c.minutes == 1ull << 59);
	ck_assert_uint_eq(c.hours, 1u << 23);
	ck_assert_uint_eq(c.mdays, 1u << 31);
	ck_assert_uint_eq(c.months, 1u << 12);
	ck_assert_uint_eq(c.wdays, 1u << 6);
	ck_assert(!c.mday_any && !c.wday_any);
	/* Blanks around and between fields are tabs or spaces, any number. */
	c = parse("  0\t\t9   1 1 1 ");
	ck_assert(c.minutes == 1 && c.hours == 1u << 9);
}
END_TEST

START_TEST(ranges_steps_lists)
{
	struct cron_spec c = parse("0-4 10-12 * * *");

	ck_assert(c.minutes == 0x1f);
	ck_assert_uint_eq(c.hours, 7u << 10);
	c = parse("1-10/3 */6 */10 */5 *");
	ck_assert(c.minutes == ((1ull << 1) | (1ull << 4) | (1ull << 7) | (1ull << 10)));
	ck_assert_uint_eq(c.hours, (1u << 0) | (1u << 6) | (1u << 12) | (1u << 18));
	ck_assert_uint_eq(c.mdays, (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31));
	ck_assert_uint_eq(c.months, (1u << 1) | (1u << 6) | (1u << 11));
	/* A stepped star restricts the field; "*\/1" does not. */
	ck_assert(!c.mday_any);
	ck_assert(parse("* * */1 * *").mday_any);
	c = parse("*/15 * * * *");
	ck_assert(c.minutes == ((1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45)));
	c = parse("1,5,10-12,5 0,23 1,15 * *");
	ck_assert(c.minutes == ((1ull << 1) | (1ull << 5) | (7ull << 10)));
	ck_assert_uint_eq(c.hours, 1u | (1u << 23));
	ck_assert_uint_eq(c.mdays, (1u << 1) | (1u << 15));
	c = parse("0 9-17/2 * * *");
	ck_assert_uint_eq(c.hours, (1u << 9) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 17));
	/* A step larger than the range leaves its start. */
	ck_assert(parse("5-10/59 * * * *").minutes == 1ull << 5);
}
END_TEST

START_TEST(month_and_day_names)
{
	static const char *const months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
	                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
	static const char *const days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
	char text[64];
	struct cron_spec c;
	int i;

	for (i = 0; i < 12; i++) {
		snprintf(text, sizeof(text), "0 0 1 %s *", months[i]);
		ck_assert_uint_eq(parse(text).months, 1u << (i + 1));
	}
	for (i = 0; i < 7; i++) {
		snprintf(text, sizeof(text), "0 0 * * %s", days[i]);
		ck_assert_uint_eq(parse(text).wdays, 1u << i);
	}
	/* Any case, in ranges and lists, mixed with numbers. */
	c = parse("0 9-17/2 * jan-MAR mon-fri");
	ck_assert_uint_eq(c.months, (1u << 1) | (1u << 2) | (1u << 3));
	ck_assert_uint_eq(c.wdays, 0x3e);
	c = parse("0 0 * Dec,1 sat,Sun");
	ck_assert_uint_eq(c.months, (1u << 12) | (1u << 1));
	ck_assert_uint_eq(c.wdays, (1u << 6) | 1u);
}
END_TEST

START_TEST(seven_is_sunday)
{
	struct cron_spec c = parse("0 0 * * 7");

	ck_assert(at(&c, 0, 0, 4, 1, 0));
	ck_assert(!at(&c, 0, 0, 5, 1, 1));
	ck_assert_uint_eq(parse("* * * * 7").wdays, 1u);
	ck_assert_uint_eq(parse("* * * * 0").wdays, 1u);
	ck_assert_uint_eq(parse("* * * * 0,7").wdays, 1u);
	/* Friday to Sunday. */
	ck_assert_uint_eq(parse("* * * * 5-7").wdays, (1u << 5) | (1u << 6) | 1u);
	ck_assert_uint_eq(parse("* * * * fri-7").wdays, (1u << 5) | (1u << 6) | 1u);
}
END_TEST

START_TEST(matches_minute_hour_month)
{
	struct cron_spec c = parse("0 9-17/2 * jan-MAR mon-fri");

	/* Wednesday 2026-01-14 11:00 matches; Saturday, 12:00, 11:01 and April
	 * do not. */
	ck_assert(at(&c, 0, 11, 14, 1, 3));
	ck_assert(!at(&c, 0, 11, 17, 1, 6));
	ck_assert(!at(&c, 0, 12, 14, 1, 3));
	ck_assert(!at(&c, 1, 11, 14, 1, 3));
	ck_assert(!at(&c, 0, 11, 15, 4, 3));
	c = parse("*/10 * * * *");
	ck_assert(at(&c, 50, 23, 31, 12, 3));
	ck_assert(!at(&c, 55, 23, 31, 12, 3));
}
END_TEST

START_TEST(day_of_month_or_day_of_week)
{
	struct cron_spec c;

	/* Both restricted: either matches (1st, 15th, or a Sunday). */
	c = parse("30 4 1,15 * 7");
	ck_assert(at(&c, 30, 4, 15, 1, 2));
	ck_assert(at(&c, 30, 4, 9, 1, 0));
	ck_assert(!at(&c, 30, 4, 9, 1, 1));
	/* Only the day of month restricted: the weekday does not widen it. */
	c = parse("0 0 13 * *");
	ck_assert(at(&c, 0, 0, 13, 5, 2));
	ck_assert(!at(&c, 0, 0, 12, 5, 5));
	/* Only the weekday restricted. */
	c = parse("0 0 * * fri");
	ck_assert(at(&c, 0, 0, 12, 5, 5));
	ck_assert(!at(&c, 0, 0, 13, 5, 2));
	/* Friday the 13th is not an AND: the 13th or any Friday. */
	c = parse("0 0 13 * 5");
	ck_assert(at(&c, 0, 0, 13, 5, 2));
	ck_assert(at(&c, 0, 0, 12, 5, 5));
	ck_assert(!at(&c, 0, 0, 12, 5, 4));
	/* A stepped day of month counts as restricted. */
	c = parse("0 0 */10 * mon");
	ck_assert(at(&c, 0, 0, 11, 5, 3));
	ck_assert(at(&c, 0, 0, 12, 5, 1));
	ck_assert(!at(&c, 0, 0, 12, 5, 3));
}
END_TEST

START_TEST(errors_name_the_field)
{
	static const struct {
		const char *text, *field;
	} cases[] = {
	    {"a * * * *", "minute field \"a\""},
	    {"60 * * * *", "minute field \"60\""},
	    {"1-2-3 * * * *", "minute field \"1-2-3\""},
	    {"5-1 * * * *", "minute field \"5-1\""},
	    {"*/61 * * * *", "minute field \"*/61\""},
	    {"*/0 * * * *", "minute field \"*/0\""},
	    {"1,,2 * * * *", "minute field \"1,,2\""},
	    {"1, * * * *", "minute field \"1,\": empty list element"},
	    {",1 * * * *", "minute field \",1\""},
	    {"0001 * * * *", "minute field \"0001\""},
	    {"-1 * * * *", "minute field \"-1\""},
	    {"jan * * * *", "minute field \"jan\""},
	    {"* 24 * * *", "hour field \"24\""},
	    {"* 1-2/x * * *", "hour field \"1-2/x\""},
	    {"* * 0 * *", "day of month field \"0\""},
	    {"* * 32 * *", "day of month field \"32\""},
	    {"* * mon * *", "day of month field \"mon\""},
	    {"* * * 13 *", "month field \"13\""},
	    {"* * * 0 *", "month field \"0\""},
	    {"* * * FOO *", "month field \"FOO\""},
	    {"* * * january *", "month field \"january\""},
	    {"* * * mon *", "month field \"mon\""},
	    {"* * * * 8", "day of week field \"8\""},
	    {"* * * * jan", "day of week field \"jan\""},
	    {"* * * * sat-mon", "day of week field \"sat-mon\""},
	    {"* * * * L", "day of week field \"L\""},
	    {"* * * * ?", "day of week field \"?\""},
	    {"", "the minute field is missing"},
	    {"   ", "the minute field is missing"},
	    {"*", "the hour field is missing"},
	    {"* *", "the day of month field is missing"},
	    {"* * *", "the month field is missing"},
	    {"*/10 * * *", "the day of week field is missing"},
	    {"* * * * * *", "\"*\" follows the day of week field"},
	    {"0 0 * * * 2026", "\"2026\" follows the day of week field"},
	};
	struct cron_spec c;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(cron_parse(cases[i].text, &c, err, sizeof(err)) == CJ_EINVAL,
		              "accepted \"%s\"", cases[i].text);
		ck_assert_msg(strstr(err, cases[i].field), "\"%s\": error \"%s\" lacks \"%s\"",
		              cases[i].text, err, cases[i].field);
	}
	/* The count errors keep saying what the five fields are. */
	ck_assert_int_eq(cron_parse("* *", &c, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "must have 5 fields (minute hour day month weekday)"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cron");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, stars_and_numbers);
	tcase_add_test(tc, ranges_steps_lists);
	tcase_add_test(tc, month_and_day_names);
	tcase_add_test(tc, seven_is_sunday);
	tcase_add_test(tc, matches_minute_hour_month);
	tcase_add_test(tc, day_of_month_or_day_of_week);
	tcase_add_test(tc, errors_name_the_field);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
