/*
 * test_cron.c - unit tests for src/cron.c: numbers, ranges, steps, lists,
 * month and weekday names, 7 as Sunday, the day-of-month/day-of-week rule
 * (either one when both are restricted, both when one is "*"), errors
 * that name the field at fault, and cron_next(): firing times in a zone,
 * across weekends, leap days and both DST switches (a skipped slot fires
 * at the end of the jump, a repeated one once), checked against a
 * minute-by-minute reference over a whole year.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ckrun.h"
#include "cron.h"
#include "tz.h"

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

/* ---- cron_next: when a schedule fires, DST included ---- */

static const struct tz *zone(const char *name)
{
	char err[256] = "";
	const struct tz *z = tz_get(name, err, sizeof(err));

	ck_assert_msg(z, "%s: %s", name, err);
	return z;
}

/* The instant of "YYYY-MM-DD hh:mm" in zone name (first occurrence). */
static int64_t when(const char *name, const char *local)
{
	struct tm tm = {0};
	int64_t t;

	ck_assert_int_eq(sscanf(local, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                        &tm.tm_hour, &tm.tm_min),
	                 5);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	ck_assert_int_eq(tz_local_to_utc(zone(name), &tm, TZ_FOLD_EARLIER, &t), CJ_OK);
	return t;
}

/* The next n firings of expr in zone name after `after`, as
 * "Mon 2026-03-30 09:00 CEST, ..." (the zone's own abbreviations). */
static void expect_firings(const char *expr, const char *name, int64_t after, int n,
                           const char *want)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	struct cron_spec c = parse(expr);
	char got[1024] = "";
	size_t len = 0;
	struct tm tm;
	int64_t t = after, prev;
	int i;

	for (i = 0; i < n; i++) {
		prev = t;
		ck_assert_int_eq(cron_next(&c, zone(name), prev, &t), CJ_OK);
		ck_assert_int_gt(t, prev);
		ck_assert_int_eq(tz_utc_to_local(zone(name), t, &tm, NULL), CJ_OK);
		len += (size_t)snprintf(got + len, sizeof(got) - len,
		                        "%s%s %04d-%02d-%02d %02d:%02d %s", i ? ", " : "",
		                        wd[tm.tm_wday], tm.tm_year + 1900, tm.tm_mon + 1,
		                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_zone);
	}
	ck_assert_msg(!strcmp(got, want), "\"%s\" in %s:\n got  %s\n want %s", expr, name, got,
	              want);
}

START_TEST(next_every_minute)
{
	struct cron_spec c = parse("* * * * *");
	int64_t t0 = when("UTC", "2026-01-01 00:00"), t;

	ck_assert_int_eq(cron_next(&c, zone("UTC"), t0 + 30, &t), CJ_OK);
	ck_assert_int_eq(t, t0 + 60);
	/* Strictly after: a minute boundary gives the next one. */
	ck_assert_int_eq(cron_next(&c, zone("UTC"), t0 + 60, &t), CJ_OK);
	ck_assert_int_eq(t, t0 + 120);
	ck_assert_int_eq(cron_next(&c, zone("UTC"), t0 + 59, &t), CJ_OK);
	ck_assert_int_eq(t, t0 + 60);
	/* NULL is UTC. */
	ck_assert_int_eq(cron_next(&c, NULL, t0, &t), CJ_OK);
	ck_assert_int_eq(t, t0 + 60);
	expect_firings("* * * * *", "UTC", when("UTC", "2026-12-31 23:58") + 1, 3,
	               "Thu 2026-12-31 23:59 UTC, Fri 2027-01-01 00:00 UTC, "
	               "Fri 2027-01-01 00:01 UTC");
	/* Kolkata's minutes are UTC's minutes; its midnight is 18:30 UTC. */
	expect_firings("0 0 * * *", "Asia/Kolkata", when("UTC", "2026-06-01 18:00"), 2,
	               "Tue 2026-06-02 00:00 IST, Wed 2026-06-03 00:00 IST");
	ck_assert_int_eq(when("Asia/Kolkata", "2026-06-02 00:00"), when("UTC", "2026-06-01 18:30"));
	/* Across the jumps: the skipped minutes all fire at 03:00; the repeated
	 * hour does not fire again. */
	expect_firings("* * * * *", "Europe/Berlin", when("Europe/Berlin", "2026-03-29 01:58"), 3,
	               "Sun 2026-03-29 01:59 CET, Sun 2026-03-29 03:00 CEST, "
	               "Sun 2026-03-29 03:01 CEST");
	expect_firings("* * * * *", "Europe/Berlin", when("Europe/Berlin", "2026-10-25 02:58"), 3,
	               "Sun 2026-10-25 02:59 CEST, Sun 2026-10-25 03:00 CET, "
	               "Sun 2026-10-25 03:01 CET");
}
END_TEST

START_TEST(next_weekdays_across_weekend)
{
	/* From Friday morning: Monday, across the weekend (and Berlin's switch
	 * to summer time on Sunday). */
	expect_firings("0 9 * * MON-FRI", "Europe/Berlin",
	               when("Europe/Berlin", "2026-03-27 10:00"), 4,
	               "Mon 2026-03-30 09:00 CEST, Tue 2026-03-31 09:00 CEST, "
	               "Wed 2026-04-01 09:00 CEST, Thu 2026-04-02 09:00 CEST");
	expect_firings("0 9 * * MON-FRI", "America/New_York",
	               when("America/New_York", "2026-05-29 09:00"), 2,
	               "Mon 2026-06-01 09:00 EDT, Tue 2026-06-02 09:00 EDT");
	/* Both day fields restricted: the 1st or a Monday. */
	expect_firings("0 0 1 * MON", "UTC", when("UTC", "2026-06-28 00:00"), 3,
	               "Mon 2026-06-29 00:00 UTC, Wed 2026-07-01 00:00 UTC, "
	               "Mon 2026-07-06 00:00 UTC");
}
END_TEST

START_TEST(next_every_15_minutes_across_dst)
{
	int64_t t;

	/* Spring in Berlin: 02:00-02:45 do not exist; they fire once at 03:00,
	 * which is the 03:00 slot too: every 15 minutes of real time. */
	expect_firings("*/15 * * * *", "Europe/Berlin", when("Europe/Berlin", "2026-03-29 01:30"),
	               4,
	               "Sun 2026-03-29 01:45 CET, Sun 2026-03-29 03:00 CEST, "
	               "Sun 2026-03-29 03:15 CEST, Sun 2026-03-29 03:30 CEST");
	/* Autumn in Berlin: 02:00-02:45 happen twice and fire the first time. */
	expect_firings("*/15 * * * *", "Europe/Berlin", when("Europe/Berlin", "2026-10-25 01:50"),
	               6,
	               "Sun 2026-10-25 02:00 CEST, Sun 2026-10-25 02:15 CEST, "
	               "Sun 2026-10-25 02:30 CEST, Sun 2026-10-25 02:45 CEST, "
	               "Sun 2026-10-25 03:00 CET, Sun 2026-10-25 03:15 CET");
	/* Asked from inside the repeated hour: nothing until 03:00 CET. */
	t = when("Europe/Berlin", "2026-10-25 02:00") + 3600 + 600; /* 02:10 CET */
	expect_firings("*/15 * * * *", "Europe/Berlin", t, 1, "Sun 2026-10-25 03:00 CET");
	/* New York switches at 02:00 local both times. */
	expect_firings("*/15 * * * *", "America/New_York",
	               when("America/New_York", "2026-03-08 01:30"), 3,
	               "Sun 2026-03-08 01:45 EST, Sun 2026-03-08 03:00 EDT, "
	               "Sun 2026-03-08 03:15 EDT");
	expect_firings("*/15 * * * *", "America/New_York",
	               when("America/New_York", "2026-11-01 00:50"), 6,
	               "Sun 2026-11-01 01:00 EDT, Sun 2026-11-01 01:15 EDT, "
	               "Sun 2026-11-01 01:30 EDT, Sun 2026-11-01 01:45 EDT, "
	               "Sun 2026-11-01 02:00 EST, Sun 2026-11-01 02:15 EST");
}
END_TEST

START_TEST(next_in_nonexistent_hour)
{
	/* New York has no 02:00 on 2026-03-08: the job runs at 03:00 EDT. */
	expect_firings("0 2 * * *", "America/New_York",
	               when("America/New_York", "2026-03-07 03:00"), 3,
	               "Sun 2026-03-08 03:00 EDT, Mon 2026-03-09 02:00 EDT, "
	               "Tue 2026-03-10 02:00 EDT");
	expect_firings("30 2 * * *", "Europe/Berlin", when("Europe/Berlin", "2026-03-28 12:00"), 2,
	               "Sun 2026-03-29 03:00 CEST, Mon 2026-03-30 02:30 CEST");
	/* Lord Howe skips 02:00-02:29 only: 02:15 runs at 02:30, 02:45 as usual. */
	expect_firings("15,45 2 * * *", "Australia/Lord_Howe",
	               when("Australia/Lord_Howe", "2026-10-03 12:00"), 4,
	               "Sun 2026-10-04 02:30 +11, Sun 2026-10-04 02:45 +11, "
	               "Mon 2026-10-05 02:15 +11, Mon 2026-10-05 02:45 +11");
}
END_TEST

START_TEST(next_in_repeated_hour)
{
	int64_t first = when("America/New_York", "2026-11-01 01:30");

	/* 01:30 happens twice on 2026-11-01 in New York: the job runs once. */
	expect_firings("30 1 * * *", "America/New_York",
	               when("America/New_York", "2026-10-31 02:00"), 3,
	               "Sun 2026-11-01 01:30 EDT, Mon 2026-11-02 01:30 EST, "
	               "Tue 2026-11-03 01:30 EST");
	/* Right after the first run, and from inside the repeated hour. */
	expect_firings("30 1 * * *", "America/New_York", first, 1, "Mon 2026-11-02 01:30 EST");
	expect_firings("30 1 * * *", "America/New_York", first + 3600 - 60, 1,
	               "Mon 2026-11-02 01:30 EST");
	expect_firings("30 2 * * *", "Europe/Berlin", when("Europe/Berlin", "2026-10-24 12:00"), 2,
	               "Sun 2026-10-25 02:30 CEST, Mon 2026-10-26 02:30 CET");
}
END_TEST

START_TEST(next_leap_day)
{
	expect_firings("0 0 29 2 *", "UTC", when("UTC", "2026-01-01 00:00"), 3,
	               "Tue 2028-02-29 00:00 UTC, Sun 2032-02-29 00:00 UTC, "
	               "Fri 2036-02-29 00:00 UTC");
	/* 2100 is not a leap year: eight years from 2096 to 2104. */
	expect_firings("0 0 29 2 *", "Europe/Berlin", when("Europe/Berlin", "2096-03-01 00:00"), 1,
	               "Fri 2104-02-29 00:00 CET");
}
END_TEST

START_TEST(next_impossible)
{
	static const char *const never[] = {"0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *",
	                                    "* * 30,31 feb *"};
	struct cron_spec c, empty = {0};
	int64_t t = 0, after = when("UTC", "2026-06-01 00:00");
	size_t i;

	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		c = parse(never[i]);
		ck_assert_msg(cron_next(&c, zone("Europe/Berlin"), after, &t) == CJ_ENOTFOUND,
		              "\"%s\" fired", never[i]);
	}
	/* With a weekday restricted too, a day matches when either does. */
	expect_firings("0 0 31 2 MON", "UTC", after, 1, "Mon 2027-02-01 00:00 UTC");
	ck_assert_int_eq(cron_next(&empty, NULL, after, &t), CJ_EINVAL);
	c = parse("* * * * *");
	ck_assert_int_eq(cron_next(&c, NULL, INT64_MAX, &t), CJ_EINVAL);
}
END_TEST

/* A reference for cron_next, minute by minute over real time: a minute
 * fires when its wall time matches and shows for the first time, or when
 * the clock jumped into it over a matching wall time. */
static int reference_fires(const struct cron_spec *c, const struct tz *z, int64_t t)
{
	struct tm now, before, probe;
	int64_t wall_now, wall_before, w, first;

	if (tz_utc_to_local(z, t, &now, NULL) || tz_utc_to_local(z, t - 60, &before, NULL))
		return -1;
	wall_now = t + now.tm_gmtoff;
	wall_before = t - 60 + before.tm_gmtoff;
	if (wall_now - wall_before > 60) {
		for (w = wall_before + 60; w <= wall_now; w += 60)
			if (tz_utc_to_local(tz_get("UTC", NULL, 0), w, &probe, NULL) ||
			    cron_matches(c, &probe))
				return 1;
		return 0;
	}
	if (!cron_matches(c, &now) || tz_local_to_utc(z, &now, TZ_FOLD_EARLIER, &first))
		return 0;
	return first == t;
}

START_TEST(next_agrees_with_minute_by_minute)
{
	static const char *const zones[] = {"Europe/Berlin", "America/New_York",
	                                    "Australia/Lord_Howe", "Asia/Kolkata"};
	static const char *const exprs[] = {"*/15 * * * *",    "30 1 * * *", "0 2 * * *",
	                                    "15,45 2 * * SUN", "* 2 * * *",  "0 9 * * MON-FRI"};
	int64_t from = when("UTC", "2026-01-01 00:00"), to = when("UTC", "2027-01-01 00:00");
	int64_t t, next, count;
	size_t zi, ei;

	for (zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
		const struct tz *z = zone(zones[zi]);

		for (ei = 0; ei < sizeof(exprs) / sizeof(exprs[0]); ei++) {
			struct cron_spec c = parse(exprs[ei]);

			count = 0;
			ck_assert_int_eq(cron_next(&c, z, from - 1, &next), CJ_OK);
			/* Plain ifs: a check assertion per minute would be slow. */
			for (t = from; t < to; t += 60) {
				int want = reference_fires(&c, z, t);

				if (want < 0 || want != (next == t))
					ck_abort_msg("\"%s\" in %s at %lld: reference %d, "
					             "cron_next %lld",
					             exprs[ei], zones[zi], (long long)t, want,
					             (long long)next);
				if (next == t) {
					count++;
					if (cron_next(&c, z, t, &next))
						ck_abort_msg("cron_next failed");
				}
			}
			ck_assert_int_gt(count, 0);
		}
	}
	/* A year of "*\/15" in Berlin: 365 x 96 slots, less the four spring
	 * slots that fire together with 03:00. */
	{
		struct cron_spec c = parse("*/15 * * * *");

		count = 0;
		for (t = from - 1;
		     cron_next(&c, zone("Europe/Berlin"), t, &next) == CJ_OK && next < to; t = next)
			count++;
		ck_assert_int_eq(count, 365 * 96 - 4);
	}
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
	tcase_add_test(tc, next_every_minute);
	tcase_add_test(tc, next_weekdays_across_weekend);
	tcase_add_test(tc, next_every_15_minutes_across_dst);
	tcase_add_test(tc, next_in_nonexistent_hour);
	tcase_add_test(tc, next_in_repeated_hour);
	tcase_add_test(tc, next_leap_day);
	tcase_add_test(tc, next_impossible);
	tcase_add_test(tc, next_agrees_with_minute_by_minute);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
