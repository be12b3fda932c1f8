/*
 * test_tz.c - unit tests for src/tz.c: the calendar arithmetic; UTC
 * without zone files; Europe/Berlin and America/New_York across both 2026
 * switches; Australia/Lord_Howe's 30-minute DST; Asia/Kolkata's +05:30;
 * the footer rule after the last transition (2100 and 2400); Sao Paulo
 * after DST was abolished; wall times in gaps and overlaps; bad names and
 * malformed files; the shared cache under threads; and, for thousands of
 * instants in 1970-2100 in twenty zones and a dozen POSIX TZ strings, the
 * same answer as glibc.
 *
 * The glibc comparison sets TZ and calls localtime_r(), which is exactly
 * what tz.c exists to avoid in the threaded server. It is test-only and
 * happens in a forked child that exits right after, so no other test sees
 * the changed environment.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckrun.h"
#include "proc.h"
#include "tz.h"

/* ---- helpers ---- */

static const struct tz *zone(const char *name)
{
	char err[256] = "";
	const struct tz *z = tz_get(name, err, sizeof(err));

	ck_assert_msg(z, "%s: %s", name, err);
	return z;
}

static void format_local(const struct tz *z, int64_t t, char *out, size_t outlen)
{
	struct tm tm;
	int32_t off;

	ck_assert_int_eq(tz_utc_to_local(z, t, &tm, &off), CJ_OK);
	ck_assert_int_eq(off, tm.tm_gmtoff);
	snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d %s %+d%s", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_zone, (int)off,
	         tm.tm_isdst ? " dst" : "");
}

/* want: "2026-03-29 03:00:00 CEST +7200 dst" */
static void expect_local(const char *name, int64_t t, const char *want)
{
	char got[128];

	format_local(zone(name), t, got, sizeof(got));
	ck_assert_msg(!strcmp(got, want), "%s at %lld: got \"%s\", want \"%s\"", name, (long long)t,
	              got, want);
}

/* The Unix time of "YYYY-MM-DD hh:mm:ss" read in zone name. */
static int64_t to_utc(const char *name, const char *local, enum tz_fold fold)
{
	struct tm tm = {0};
	int64_t t;

	ck_assert_int_eq(sscanf(local, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
	                 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	ck_assert_int_eq(tz_local_to_utc(zone(name), &tm, fold, &t), CJ_OK);
	return t;
}

/* ---- calendar ---- */

START_TEST(calendar_arithmetic)
{
	int64_t days, y;
	int m, d;

	ck_assert_int_eq(tz_days_from_civil(1970, 1, 1), 0);
	ck_assert_int_eq(tz_days_from_civil(2000, 3, 1), 11017);
	ck_assert_int_eq(tz_days_from_civil(1969, 12, 31), -1);
	ck_assert_int_eq(tz_days_from_civil(1600, 1, 1), -135140);
	ck_assert_int_eq(tz_days_from_civil(2026, 1, 32), tz_days_from_civil(2026, 2, 1));
	ck_assert_int_eq(tz_days_in_month(1900, 2), 28);
	ck_assert_int_eq(tz_days_in_month(2000, 2), 29);
	ck_assert_int_eq(tz_days_in_month(2100, 2), 28);
	ck_assert_int_eq(tz_days_in_month(2024, 2), 29);
	ck_assert_int_eq(tz_days_in_month(2026, 4), 30);
	/* Every day of four 400-year eras, both ways, in order. */
	for (days = -400000; days < 400000; days++) {
		tz_civil_from_days(days, &y, &m, &d);
		if (m < 1 || m > 12 || d < 1 || d > tz_days_in_month(y, m) ||
		    tz_days_from_civil(y, m, d) != days)
			ck_abort_msg("day %lld: %lld-%d-%d", (long long)days, (long long)y, m, d);
	}
}
END_TEST

/* ---- zones ---- */

START_TEST(utc_without_zone_files)
{
	char err[256] = "";
	struct tm tm;

	setenv("TZDIR", "/nonexistent", 1);
	tz_cache_free();
	expect_local("UTC", 0, "1970-01-01 00:00:00 UTC +0");
	expect_local("Etc/UTC", -1, "1969-12-31 23:59:59 UTC +0");
	expect_local("UTC", 951782400, "2000-02-29 00:00:00 UTC +0");
	ck_assert_int_eq(tz_utc_to_local(zone("UTC"), 0, &tm, NULL), CJ_OK);
	ck_assert_int_eq(tm.tm_wday, 4); /* a Thursday */
	ck_assert_int_eq(tm.tm_yday, 0);
	ck_assert_int_eq(tz_utc_to_local(zone("UTC"), 951782400, &tm, NULL), CJ_OK);
	ck_assert_int_eq(tm.tm_wday, 2);
	ck_assert_int_eq(tm.tm_yday, 59);
	ck_assert_str_eq(tz_name(zone("Etc/UTC")), "Etc/UTC");
	/* Real zones need the files. */
	ck_assert_ptr_null(tz_get("Europe/Berlin", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "\"Europe/Berlin\""));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent"));
	unsetenv("TZDIR");
	tz_cache_free();
}
END_TEST

START_TEST(berlin_2026)
{
	/* Spring: 02:00 CET becomes 03:00 CEST at 01:00 UTC on March 29. */
	expect_local("Europe/Berlin", 1774746000 - 1, "2026-03-29 01:59:59 CET +3600");
	expect_local("Europe/Berlin", 1774746000, "2026-03-29 03:00:00 CEST +7200 dst");
	/* Autumn: 03:00 CEST becomes 02:00 CET at 01:00 UTC on October 25. */
	expect_local("Europe/Berlin", 1792890000 - 1, "2026-10-25 02:59:59 CEST +7200 dst");
	expect_local("Europe/Berlin", 1792890000, "2026-10-25 02:00:00 CET +3600");
	expect_local("Europe/Berlin", 1792890000 + 3600, "2026-10-25 03:00:00 CET +3600");
}
END_TEST

START_TEST(new_york_2026)
{
	struct tm tm;

	expect_local("America/New_York", 1772953200 - 1, "2026-03-08 01:59:59 EST -18000");
	expect_local("America/New_York", 1772953200, "2026-03-08 03:00:00 EDT -14400 dst");
	expect_local("America/New_York", 1793512800 - 1, "2026-11-01 01:59:59 EDT -14400 dst");
	expect_local("America/New_York", 1793512800, "2026-11-01 01:00:00 EST -18000");
	/* Local midnight is still the previous day in UTC terms. */
	expect_local("America/New_York", 1780272000, "2026-05-31 20:00:00 EDT -14400 dst");
	ck_assert_int_eq(tz_utc_to_local(zone("America/New_York"), 1780272000, &tm, NULL), CJ_OK);
	ck_assert_int_eq(tm.tm_wday, 0); /* Sunday May 31 */
	ck_assert_int_eq(tm.tm_yday, 150);
}
END_TEST

START_TEST(lord_howe_half_hour_dst)
{
	expect_local("Australia/Lord_Howe", 1775314800 - 1, "2026-04-05 01:59:59 +11 +39600 dst");
	expect_local("Australia/Lord_Howe", 1775314800, "2026-04-05 01:30:00 +1030 +37800");
	expect_local("Australia/Lord_Howe", 1791041400 - 1, "2026-10-04 01:59:59 +1030 +37800");
	expect_local("Australia/Lord_Howe", 1791041400, "2026-10-04 02:30:00 +11 +39600 dst");
}
END_TEST

START_TEST(kolkata_half_hour_offset)
{
	expect_local("Asia/Kolkata", 1780272000, "2026-06-01 05:30:00 IST +19800");
	expect_local("Asia/Kolkata", 1780272000 - 19800 - 1, "2026-05-31 23:59:59 IST +19800");
	expect_local("Asia/Kolkata", 4102444800, "2100-01-01 05:30:00 IST +19800");
}
END_TEST

/* Zone files list transitions up to 2037; later ones come from the footer
 * rule ("CET-1CEST,M3.5.0,M10.5.0/3"). */
START_TEST(footer_rule_far_future)
{
	expect_local("Europe/Berlin", 4109878800 - 1, "2100-03-28 01:59:59 CET +3600");
	expect_local("Europe/Berlin", 4109878800, "2100-03-28 03:00:00 CEST +7200 dst");
	expect_local("Europe/Berlin", 4128627600 - 1, "2100-10-31 02:59:59 CEST +7200 dst");
	expect_local("Europe/Berlin", 4128627600, "2100-10-31 02:00:00 CET +3600");
	/* 2400-03-26 and 2400-10-29 are the last Sundays; 2400 is a leap year. */
	expect_local("Europe/Berlin", to_utc("UTC", "2400-03-26 01:00:00", TZ_FOLD_EARLIER),
	             "2400-03-26 03:00:00 CEST +7200 dst");
	expect_local("Europe/Berlin", to_utc("UTC", "2400-10-29 00:59:59", TZ_FOLD_EARLIER),
	             "2400-10-29 02:59:59 CEST +7200 dst");
	expect_local("Europe/Berlin", to_utc("UTC", "2400-10-29 01:00:00", TZ_FOLD_EARLIER),
	             "2400-10-29 02:00:00 CET +3600");
	expect_local("America/New_York", to_utc("UTC", "2100-07-04 16:00:00", TZ_FOLD_EARLIER),
	             "2100-07-04 12:00:00 EDT -14400 dst");
}
END_TEST

START_TEST(sao_paulo_dst_abolished)
{
	/* The last DST period: 2018-11-04 to 2019-02-17. */
	expect_local("America/Sao_Paulo", 1541300400 - 1, "2018-11-03 23:59:59 -03 -10800");
	expect_local("America/Sao_Paulo", 1541300400, "2018-11-04 01:00:00 -02 -7200 dst");
	expect_local("America/Sao_Paulo", 1550368800, "2019-02-16 23:00:00 -03 -10800");
	/* Since then: no DST in (what would have been) summer, now or in 2100. */
	expect_local("America/Sao_Paulo", to_utc("UTC", "2026-01-15 12:00:00", TZ_FOLD_EARLIER),
	             "2026-01-15 09:00:00 -03 -10800");
	expect_local("America/Sao_Paulo", to_utc("UTC", "2100-01-15 12:00:00", TZ_FOLD_EARLIER),
	             "2100-01-15 09:00:00 -03 -10800");
}
END_TEST

/* ---- local to UTC ---- */

START_TEST(local_to_utc_unique_gap_overlap)
{
	const char *b = "Europe/Berlin", *ny = "America/New_York", *lh = "Australia/Lord_Howe";
	struct tz_mapping map;

	/* Unique: both folds agree. */
	ck_assert_int_eq(to_utc(b, "2026-07-01 12:00:00", TZ_FOLD_EARLIER), 1782900000);
	ck_assert_int_eq(to_utc(b, "2026-07-01 12:00:00", TZ_FOLD_LATER), 1782900000);
	/* Gap: 02:30 does not exist; shifted forward by the hour: 03:30 CEST. */
	ck_assert_int_eq(to_utc(b, "2026-03-29 02:30:00", TZ_FOLD_EARLIER), 1774746000 + 1800);
	ck_assert_int_eq(to_utc(b, "2026-03-29 02:30:00", TZ_FOLD_LATER), 1774746000 + 1800);
	ck_assert_int_eq(to_utc(b, "2026-03-29 02:00:00", TZ_FOLD_EARLIER), 1774746000);
	ck_assert_int_eq(to_utc(b, "2026-03-29 01:59:59", TZ_FOLD_EARLIER), 1774746000 - 1);
	ck_assert_int_eq(to_utc(b, "2026-03-29 03:00:00", TZ_FOLD_EARLIER), 1774746000);
	/* Overlap: 02:30 happens in CEST, then again in CET. */
	ck_assert_int_eq(to_utc(b, "2026-10-25 02:30:00", TZ_FOLD_EARLIER), 1792890000 - 1800);
	ck_assert_int_eq(to_utc(b, "2026-10-25 02:30:00", TZ_FOLD_LATER), 1792890000 + 1800);
	ck_assert_int_eq(to_utc(b, "2026-10-25 03:00:00", TZ_FOLD_EARLIER), 1792890000 + 3600);
	ck_assert_int_eq(to_utc(b, "2026-10-25 01:59:59", TZ_FOLD_LATER), 1792890000 - 3601);
	/* New York: 02:30 on March 8 is 03:30 EDT; 01:30 on November 1 twice. */
	ck_assert_int_eq(to_utc(ny, "2026-03-08 02:30:00", TZ_FOLD_EARLIER), 1772953200 + 1800);
	ck_assert_int_eq(to_utc(ny, "2026-11-01 01:30:00", TZ_FOLD_EARLIER), 1793512800 - 1800);
	ck_assert_int_eq(to_utc(ny, "2026-11-01 01:30:00", TZ_FOLD_LATER), 1793512800 + 1800);
	/* Lord Howe: a 30-minute gap and a 30-minute overlap. */
	ck_assert_int_eq(to_utc(lh, "2026-10-04 02:15:00", TZ_FOLD_EARLIER), 1791041400 + 900);
	ck_assert_int_eq(to_utc(lh, "2026-04-05 01:45:00", TZ_FOLD_EARLIER), 1775314800 - 900);
	ck_assert_int_eq(to_utc(lh, "2026-04-05 01:45:00", TZ_FOLD_LATER), 1775314800 + 900);
	/* The lower-level answer. */
	ck_assert_int_eq(
	    tz_map_local(zone(b), tz_days_from_civil(2026, 3, 29) * 86400 + 9000, &map), CJ_OK);
	ck_assert_int_eq(map.count, 0);
	ck_assert_int_eq(map.gap_end, 1774746000);
	ck_assert_int_eq(map.gap_len, 3600);
	ck_assert_int_eq(
	    tz_map_local(zone(b), tz_days_from_civil(2026, 10, 25) * 86400 + 9000, &map), CJ_OK);
	ck_assert_int_eq(map.count, 2);
	ck_assert_int_eq(map.earliest, 1792890000 - 1800);
	ck_assert_int_eq(map.latest, 1792890000 + 1800);
	ck_assert_int_eq(tz_map_local(zone(b), 9000, &map), CJ_OK);
	ck_assert_int_eq(map.count, 1);
	ck_assert_int_eq(map.earliest, 9000 - 3600);
}
END_TEST

START_TEST(local_to_utc_normalises)
{
	struct tm tm = {0};
	int64_t t;

	/* 2026-01-32 25:61:61 is 2026-02-02 02:02:01. */
	tm.tm_year = 126;
	tm.tm_mon = 0;
	tm.tm_mday = 32;
	tm.tm_hour = 25;
	tm.tm_min = 61;
	tm.tm_sec = 61;
	ck_assert_int_eq(tz_local_to_utc(zone("UTC"), &tm, TZ_FOLD_EARLIER, &t), CJ_OK);
	ck_assert_int_eq(t, to_utc("UTC", "2026-02-02 02:02:01", TZ_FOLD_EARLIER));
	/* Month 13 is January of the next year; month -1 December before. */
	tm = (struct tm){.tm_year = 126, .tm_mon = 12, .tm_mday = 1};
	ck_assert_int_eq(tz_local_to_utc(zone("UTC"), &tm, TZ_FOLD_EARLIER, &t), CJ_OK);
	ck_assert_int_eq(t, to_utc("UTC", "2027-01-01 00:00:00", TZ_FOLD_EARLIER));
	tm = (struct tm){.tm_year = 126, .tm_mon = -1, .tm_mday = 1};
	ck_assert_int_eq(tz_local_to_utc(zone("UTC"), &tm, TZ_FOLD_EARLIER, &t), CJ_OK);
	ck_assert_int_eq(t, to_utc("UTC", "2025-12-01 00:00:00", TZ_FOLD_EARLIER));
	/* Out of range. */
	tm = (struct tm){.tm_year = 2000000000, .tm_mday = 1};
	ck_assert_int_eq(tz_local_to_utc(zone("UTC"), &tm, TZ_FOLD_EARLIER, &t), CJ_EINVAL);
	ck_assert_int_eq(tz_utc_to_local(zone("UTC"), INT64_MAX, &tm, NULL), CJ_EINVAL);
	ck_assert_int_eq(tz_utc_to_local(zone("UTC"), -2000000000000000LL, &tm, NULL), CJ_EINVAL);
}
END_TEST

/* ---- names, files and the cache ---- */

START_TEST(bad_names)
{
	static const char *const bad[] = {
	    "",
	    "../etc/passwd",
	    "/etc/localtime",
	    "Europe/../../etc/passwd",
	    "Europe/Berlin;rm",
	    "Europe/Berlin ",
	    "zone.tab",
	    "Europe\\Berlin",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 65 */
	};
	static const char *const missing[] = {"Europe/Nowhere", "Mars/Olympus_Mons", "Europe",
	                                      "Europe/Berlin/", "Europe//Berlin/x"};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(!tz_get(bad[i], err, sizeof(err)), "accepted \"%s\"", bad[i]);
		ck_assert_msg(strstr(err, "not an IANA zone name"), "\"%s\": %s", bad[i], err);
	}
	for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(!tz_get(missing[i], err, sizeof(err)), "accepted \"%s\"", missing[i]);
		ck_assert_msg(strstr(err, missing[i]) && strstr(err, "unknown time zone"),
		              "\"%s\": %s", missing[i], err);
	}
	ck_assert_ptr_null(tz_get(NULL, err, sizeof(err)));
	/* 64 characters is allowed (and then simply not found). */
	ck_assert_ptr_null(tz_get(bad[8] + 1, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "unknown time zone"));
	/* Names with '+', '-' and '_' are IANA names. */
	zone("Etc/GMT+5");
	zone("Etc/GMT-14");
	zone("America/Port-au-Prince");
	zone("America/Los_Angeles");
	expect_local("Etc/GMT+5", 0, "1969-12-31 19:00:00 -05 -18000");
}
END_TEST

static void *load_zones(void *arg)
{
	static const char *const names[] = {"Europe/Berlin", "America/New_York", "Asia/Kolkata",
	                                    "Australia/Lord_Howe", "UTC"};
	const struct tz **out = arg;
	struct tm tm;
	int i, round;

	for (round = 0; round < 200; round++) {
		for (i = 0; i < 5; i++) {
			const struct tz *z = tz_get(names[i], NULL, 0);

			if (!z || tz_utc_to_local(z, 1774746000 + round, &tm, NULL))
				return NULL;
			if (out[i] && out[i] != z)
				return NULL;
			out[i] = z;
		}
	}
	return arg;
}

START_TEST(cache_is_shared_across_threads)
{
	const struct tz *seen[8][5] = {{0}};
	pthread_t th[8];
	void *ret;
	int i, j;

	tz_cache_free();
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, load_zones, seen[i]), 0);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(pthread_join(th[i], &ret), 0);
		ck_assert_ptr_eq(ret, seen[i]);
	}
	for (i = 1; i < 8; i++)
		for (j = 0; j < 5; j++)
			ck_assert_ptr_eq(seen[i][j], seen[0][j]);
	ck_assert_ptr_eq(zone("Europe/Berlin"), seen[0][0]);
	ck_assert_str_eq(tz_name(seen[0][1]), "America/New_York");
	tz_cache_free();
	ck_assert_str_eq(tz_name(zone("Europe/Berlin")), "Europe/Berlin");
}
END_TEST

/* ---- synthetic TZif files ---- */

struct tzif_spec {
	int version; /* 1, 2, 3 or 4 */
	int ntrans;
	const int64_t *times;
	const unsigned char *idx;
	int ntypes;
	const int32_t *utoff;
	const unsigned char *isdst, *abbrind;
	const char *chars; /* NUL-separated abbreviations */
	int nchars;
	int nleap;
	const char *footer; /* v2+ */
};

static void put_be(FILE *f, uint64_t v, int bytes)
{
	while (bytes--)
		fputc((int)(v >> (8 * bytes) & 0xff), f);
}

static void put_block(FILE *f, const struct tzif_spec *s, int tsize)
{
	int i;

	fwrite("TZif", 1, 4, f);
	fputc(s->version == 1 ? 0 : '0' + s->version, f);
	for (i = 0; i < 15; i++)
		fputc(0, f);
	put_be(f, 0, 4); /* isutcnt */
	put_be(f, 0, 4); /* isstdcnt */
	put_be(f, (uint64_t)s->nleap, 4);
	put_be(f, (uint64_t)s->ntrans, 4);
	put_be(f, (uint64_t)s->ntypes, 4);
	put_be(f, (uint64_t)s->nchars, 4);
	for (i = 0; i < s->ntrans; i++)
		put_be(f, (uint64_t)s->times[i], tsize);
	for (i = 0; i < s->ntrans; i++)
		fputc(s->idx[i], f);
	for (i = 0; i < s->ntypes; i++) {
		put_be(f, (uint32_t)s->utoff[i], 4);
		fputc(s->isdst[i], f);
		fputc(s->abbrind[i], f);
	}
	fwrite(s->chars, 1, (size_t)s->nchars, f);
	for (i = 0; i < s->nleap; i++)
		put_be(f, 0, tsize + 4);
}

/* Writes dir/name; cut > 0 cuts the file to that many bytes. */
static void write_tzif(const char *dir, const char *name, const struct tzif_spec *s, long cut)
{
	char path[1200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	put_block(f, s, 4);
	if (s->version >= 2) {
		put_block(f, s, 8);
		fprintf(f, "\n%s\n", s->footer);
	}
	ck_assert_int_eq(fclose(f), 0);
	if (cut > 0)
		ck_assert_int_eq(truncate(path, cut), 0);
}

/* A zone with no transitions: one type and the footer. */
static void write_footer_zone(const char *dir, const char *name, const char *footer)
{
	static const int32_t utoff[] = {0};
	static const unsigned char zero[] = {0};
	struct tzif_spec s = {2, 0, NULL, NULL, 1, utoff, zero, zero, "LMT", 4, 0, footer};

	write_tzif(dir, name, &s, 0);
}

START_TEST(synthetic_files)
{
	static const int64_t times[] = {1000000000, 1100000000};
	static const unsigned char idx[] = {2, 1};
	static const int32_t utoff[] = {1000, 3600, 7200};
	static const unsigned char isdst[] = {0, 0, 1};
	static const unsigned char abbrind[] = {0, 4, 8};
	static const char chars[] = "AAA\0BBB\0CCC";
	static const unsigned char bad_idx[] = {2, 3};
	static const int64_t bad_times[] = {1100000000, 1000000000};
	struct tzif_spec v1 = {1, 2, times, idx, 3, utoff, isdst, abbrind, chars, 12, 0, NULL};
	struct tzif_spec s;
	char *dir = make_temp_dir(), err[512], path[1200];
	FILE *f;
	static const struct {
		const char *name, *why;
	} broken[] = {
	    {"Bad/Magic", "not a TZif file"},
	    {"Bad/Truncated", "truncated TZif file"},
	    {"Bad/Footer", "bad TZ rule in TZif footer"},
	    {"Bad/NoFooter", "no footer"},
	    {"Bad/Leap", "leap-second zones"},
	    {"Bad/Index", "bad transition"},
	    {"Bad/Order", "bad transition"},
	    {"Bad/Empty", "not a TZif file"},
	};
	size_t i;

	ck_assert_ptr_nonnull(dir);
	setenv("TZDIR", dir, 1);
	tz_cache_free();
	snprintf(err, sizeof(err), "%s/Bad", dir);
	ck_assert_int_eq(mkdir(err, 0700), 0);
	/* Version 1: 32-bit times, no footer: the last type stays forever. */
	write_tzif(dir, "V1", &v1, 0);
	expect_local("V1", 999999999, "2001-09-09 02:03:19 AAA +1000");
	expect_local("V1", 1000000000, "2001-09-09 03:46:40 CCC +7200 dst");
	expect_local("V1", 1100000000, "2004-11-09 12:33:20 BBB +3600");
	expect_local("V1", 4102444800, "2100-01-01 01:00:00 BBB +3600");
	/* Version 3 with a footer that takes over after the last transition. */
	s = v1;
	s.version = 3;
	s.footer = "CET-1CEST,M3.5.0,M10.5.0/3";
	write_tzif(dir, "V3", &s, 0);
	expect_local("V3", 1000000000, "2001-09-09 03:46:40 CCC +7200 dst");
	expect_local("V3", 1774746000, "2026-03-29 03:00:00 CEST +7200 dst");
	expect_local("V3", 1774746000 - 1, "2026-03-29 01:59:59 CET +3600");
	/* Version 2 with an empty footer: like version 1. */
	s.version = 2;
	s.footer = "";
	write_tzif(dir, "V2", &s, 0);
	expect_local("V2", 4102444800, "2100-01-01 01:00:00 BBB +3600");
	/* A footer alone (how "slim" files describe regular zones). */
	write_footer_zone(dir, "Slim", "<+0530>-5:30");
	expect_local("Slim", 0, "1970-01-01 05:30:00 +0530 +19800");
	/* DST all year (RFC 8536 3.3.1): from January 1 00:00 to December 31
	 * 24:00 + 1 h, so the first hours of a UTC year are DST too. (glibc
	 * 2.36 gets those hours wrong, hence no comparison with it here.) */
	write_footer_zone(dir, "AllYear", "EST5EDT,0/0,J365/25");
	expect_local("AllYear", 725863577, "1993-01-01 00:46:17 EDT -14400 dst");
	expect_local("AllYear", 725846400, "1992-12-31 20:00:00 EDT -14400 dst");
	expect_local("AllYear", 1782900000, "2026-07-01 06:00:00 EDT -14400 dst");
	expect_local("AllYear", 4102444800, "2099-12-31 20:00:00 EDT -14400 dst");

	/* Broken files: the error names the zone and says what is wrong. */
	s = v1;
	s.version = 2;
	s.footer = "";
	write_tzif(dir, "Bad/Truncated", &s, 100);
	write_footer_zone(dir, "Bad/Footer", "EST5EDT");
	/* A v2 file cut right after its 64-bit block: no footer line. */
	write_tzif(dir, "Bad/NoFooter", &s, 0);
	snprintf(path, sizeof(path), "%s/Bad/NoFooter", dir);
	ck_assert_int_eq(
	    truncate(path, (44 + 2 * 4 + 2 + 3 * 6 + 12) + (44 + 2 * 8 + 2 + 3 * 6 + 12)), 0);
	snprintf(path, sizeof(path), "%s/Bad/Magic", dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fputs("TZxf2 not really a zone file at all, but long enough to hold a header", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/Bad/Empty", dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	s = v1;
	s.nleap = 1;
	write_tzif(dir, "Bad/Leap", &s, 0);
	s = v1;
	s.idx = bad_idx;
	write_tzif(dir, "Bad/Index", &s, 0);
	s = v1;
	s.times = bad_times;
	write_tzif(dir, "Bad/Order", &s, 0);
	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(!tz_get(broken[i].name, err, sizeof(err)), "loaded %s",
		              broken[i].name);
		ck_assert_msg(strstr(err, broken[i].name) && strstr(err, broken[i].why),
		              "%s: \"%s\" lacks \"%s\"", broken[i].name, err, broken[i].why);
	}
	/* Footers that are not POSIX TZ strings. */
	{
		static const char *const footers[] = {
		    "E5",
		    "EST",
		    "EST25",
		    "<EST5",
		    "EST5EDT,M3.2.0",
		    "EST5EDT,M13.1.0,M11.1.0",
		    "EST5EDT,M3.6.0,M11.1.0",
		    "EST5EDT,M3.2.7,M11.1.0",
		    "EST5EDT,J0,J365",
		    "EST5EDT,366,J365",
		    "EST5EDT,M3.2.0/168,M11.1.0",
		    "EST5EDT,M3.2.0,M11.1.0x",
		    "EST5:60",
		    "EST5EDT4:00:60,M3.2.0,M11.1.0",
		};
		char name[32];

		for (i = 0; i < sizeof(footers) / sizeof(footers[0]); i++) {
			snprintf(name, sizeof(name), "Bad/F%zu", i);
			write_footer_zone(dir, name, footers[i]);
			ck_assert_msg(!tz_get(name, err, sizeof(err)), "accepted footer \"%s\"",
			              footers[i]);
			ck_assert_ptr_nonnull(strstr(err, "bad TZ rule"));
		}
	}
	unsetenv("TZDIR");
	tz_cache_free();
	remove_tree(dir);
	free(dir);
}
END_TEST

/* ---- the same answers as glibc ---- */

/* Compares our view of z with glibc's (TZ already set) at t; prints the
 * first differences. 1 when they differ. */
static int differs(const struct tz *z, int64_t t, int *printed)
{
	struct tm ours, theirs;
	time_t tt = (time_t)t;
	int64_t early, late;
	int bad;

	if (tz_utc_to_local(z, t, &ours, NULL) || !localtime_r(&tt, &theirs))
		return 1;
	bad = ours.tm_year != theirs.tm_year || ours.tm_mon != theirs.tm_mon ||
	    ours.tm_mday != theirs.tm_mday || ours.tm_hour != theirs.tm_hour ||
	    ours.tm_min != theirs.tm_min || ours.tm_sec != theirs.tm_sec ||
	    ours.tm_wday != theirs.tm_wday || ours.tm_yday != theirs.tm_yday ||
	    ours.tm_isdst != theirs.tm_isdst || ours.tm_gmtoff != theirs.tm_gmtoff ||
	    strcmp(ours.tm_zone, theirs.tm_zone);
	/* And back: one of the two folds gives t again. */
	if (tz_local_to_utc(z, &ours, TZ_FOLD_EARLIER, &early) ||
	    tz_local_to_utc(z, &ours, TZ_FOLD_LATER, &late) || (early != t && late != t) ||
	    early > late)
		bad = 1;
	if (bad && (*printed)++ < 5)
		fprintf(stderr,
		        "%s at %lld: ours %04d-%02d-%02d %02d:%02d:%02d %s %ld dst=%d wday=%d "
		        "yday=%d (back %lld/%lld), glibc %04d-%02d-%02d %02d:%02d:%02d %s %ld "
		        "dst=%d wday=%d yday=%d\n",
		        tz_name(z), (long long)t, ours.tm_year + 1900, ours.tm_mon + 1,
		        ours.tm_mday, ours.tm_hour, ours.tm_min, ours.tm_sec, ours.tm_zone,
		        ours.tm_gmtoff, ours.tm_isdst, ours.tm_wday, ours.tm_yday, (long long)early,
		        (long long)late, theirs.tm_year + 1900, theirs.tm_mon + 1, theirs.tm_mday,
		        theirs.tm_hour, theirs.tm_min, theirs.tm_sec, theirs.tm_zone,
		        theirs.tm_gmtoff, theirs.tm_isdst, theirs.tm_wday, theirs.tm_yday);
	return bad;
}

static int same_type(const struct tz *z, int64_t a, int64_t b)
{
	struct tm x, y;

	return !tz_utc_to_local(z, a, &x, NULL) && !tz_utc_to_local(z, b, &y, NULL) &&
	    x.tm_gmtoff == y.tm_gmtoff && x.tm_isdst == y.tm_isdst && !strcmp(x.tm_zone, y.tm_zone);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* In a child: TZ=glibc_tz, then every day of 1970-2100 at a random second,
 * both sides of every change found between two days, and 3000 random
 * instants. The number of differences (0-255). */
static int compare_in_child(const char *name, const char *glibc_tz)
{
	const int64_t first = 0, last = 4133980800; /* 2101-01-01 */
	const struct tz *z = tz_get(name, NULL, 0);
	int64_t t, lo, hi, mid;
	int bad = 0, printed = 0, i, changes = 0;

	if (!z || setenv("TZ", glibc_tz, 1))
		return 255;
	tzset();
	for (t = first; t < last; t += 86400) {
		bad += differs(z, t + (int64_t)(rng() % 86400), &printed);
		if (!same_type(z, t, t + 86400)) {
			for (lo = t, hi = t + 86400; hi - lo > 1;) {
				mid = lo + (hi - lo) / 2;
				if (same_type(z, lo, mid))
					lo = mid;
				else
					hi = mid;
			}
			bad += differs(z, hi - 1, &printed) + differs(z, hi, &printed);
			changes++;
		}
	}
	for (i = 0; i < 3000; i++)
		bad += differs(z, first + (int64_t)(rng() % (uint64_t)(last - first)), &printed);
	if (bad)
		fprintf(stderr, "%s (TZ=%s): %d differences, %d changes\n", name, glibc_tz, bad,
		        changes);
	return bad > 255 ? 255 : bad;
}

static void compare_with_glibc(const char *name, const char *glibc_tz)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(compare_in_child(name, glibc_tz));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "%s differs from glibc with TZ=%s (status %d)", name, glibc_tz, status);
}

START_TEST(real_zones_match_glibc)
{
	static const char *const zones[] = {
	    "UTC",
	    "Europe/Berlin",
	    "America/New_York",
	    "Australia/Lord_Howe",
	    "Asia/Kolkata",
	    "America/Sao_Paulo",
	    "Europe/Dublin",
	    "America/Nuuk",
	    "Asia/Jerusalem",
	    "Antarctica/Troll",
	    "Africa/Casablanca",
	    "Pacific/Apia",
	    "America/St_Johns",
	    "Asia/Kathmandu",
	    "Pacific/Chatham",
	    "Europe/London",
	    "Australia/Sydney",
	    "America/Los_Angeles",
	    "Asia/Tokyo",
	    "Etc/GMT+5",
	};
	char tzval[80];
	size_t i;

	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		snprintf(tzval, sizeof(tzval), ":%s", zones[i]);
		compare_with_glibc(zones[i], tzval);
	}
}
END_TEST

/* Our footer parser against glibc's parser of the same TZ strings, RFC 8536
 * extensions included (hours beyond 24 and negative, DST all year). */
START_TEST(posix_rules_match_glibc)
{
	static const char *const rules[] = {
	    "<+05>-5",
	    "EST5EDT,M3.2.0,M11.1.0",
	    "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
	    "IST-2IDT,M3.4.4/26,M10.5.0",
	    "AAA3BBB,J60/2,J300/2",
	    "AAA3BBB,59/2,299/2",
	    "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
	    "IST-1GMT0,M10.5.0,M3.5.0/1",
	    "XXX3YYY,M3.2.0/167,M11.1.0/-100",
	    "ABC-3:30:15DEF-4:45:30,M2.5.6/23:59:59,M11.5.1/0:00:01",
	    "<-0330>3:30<-0230>,M3.2.0,M11.1.0",
	    "NZST-12NZDT,M9.5.0,M4.1.0/3",
	    "<+00>0<+02>-2,M3.5.0/1,M10.5.0/3",
	};
	char *dir = make_temp_dir(), name[32];
	size_t i;

	ck_assert_ptr_nonnull(dir);
	setenv("TZDIR", dir, 1);
	tz_cache_free();
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		snprintf(name, sizeof(name), "Rule%zu", i);
		write_footer_zone(dir, name, rules[i]);
		compare_with_glibc(name, rules[i]);
	}
	unsetenv("TZDIR");
	tz_cache_free();
	remove_tree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tz");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, calendar_arithmetic);
	tcase_add_test(tc, utc_without_zone_files);
	tcase_add_test(tc, berlin_2026);
	tcase_add_test(tc, new_york_2026);
	tcase_add_test(tc, lord_howe_half_hour_dst);
	tcase_add_test(tc, kolkata_half_hour_offset);
	tcase_add_test(tc, footer_rule_far_future);
	tcase_add_test(tc, sao_paulo_dst_abolished);
	tcase_add_test(tc, local_to_utc_unique_gap_overlap);
	tcase_add_test(tc, local_to_utc_normalises);
	tcase_add_test(tc, bad_names);
	tcase_add_test(tc, cache_is_shared_across_threads);
	tcase_add_test(tc, synthetic_files);
	tcase_add_test(tc, real_zones_match_glibc);
	tcase_add_test(tc, posix_rules_match_glibc);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	tz_cache_free();
	return failed ? 1 : 0;
}
