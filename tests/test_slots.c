/*
 * test_slots.c - unit tests for src/slots.c: exact slots on an empty
 * calendar in UTC, Berlin, New York and Kathmandu (+05:45, where local :00
 * and :30 are :15 and :45 UTC); events that block, touch and overlap; open
 * suggestions as busy; all-day waking hours; windows too short for a slot;
 * the 7-day horizon; both 2026 clock changes in Berlin (and the spring one
 * in New York, and a zone whose clocks go back across midnight); waking-hours parsing and formatting; bad rules; and, for
 * random calendars, the same answer as a brute-force walk over every
 * boundary.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "slots.h"
#include "tz.h"

/* ---- helpers ---- */

static const struct tz *zone(const char *name)
{
	char err[256] = "";
	const struct tz *z = tz_get(name, err, sizeof(err));

	ck_assert_msg(z, "%s: %s", name, err);
	return z;
}

/* "2026-05-04T10:00:00Z" */
static int64_t utc(const char *iso)
{
	int y, mo, d, h, mi, s;

	ck_assert_int_eq(sscanf(iso, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s), 6);
	return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static void iso(int64_t t, char *out, size_t outlen)
{
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), y;
	int64_t sec = t - days * 86400;
	int m, d;

	tz_civil_from_days(days, &y, &m, &d);
	snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
	         (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
}

/* "2026-03-29 03:00 CEST": what the user's clock reads at t. */
static void local(const struct tz *z, int64_t t, char *out, size_t outlen)
{
	struct tm tm;

	ck_assert_int_eq(tz_utc_to_local(z, t, &tm, NULL), CJ_OK);
	snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d %s", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_zone);
}

static struct slot_rules rules(const char *zone_name, const char *waking)
{
	struct slot_rules r;
	int a, b;

	ck_assert_int_eq(slots_parse_waking(waking, &a, &b), CJ_OK);
	slots_rules_init(&r, zone(zone_name), a, b);
	return r;
}

static int64_t find(const struct slot_rules *r, int64_t now, const struct busy *busy, size_t n)
{
	int64_t s = -1, e = -1;

	ck_assert_int_eq(slots_find(r, now, busy, n, &s, &e), CJ_OK);
	ck_assert_int_eq(e - s, r->slot_min * 60);
	return s;
}

/* The slot found at now (ISO, UTC) is want (ISO, UTC). */
static void expect_at(const struct slot_rules *r, const char *now, const struct busy *busy,
                      size_t n, const char *want)
{
	char got[32];

	iso(find(r, utc(now), busy, n), got, sizeof(got));
	ck_assert_msg(!strcmp(got, want), "%s at %s: got %s, want %s", tz_name(r->zone), now, got,
	              want);
}

static void expect_none(const struct slot_rules *r, int64_t now, const struct busy *busy, size_t n)
{
	int64_t s = -1, e = -1;

	ck_assert_int_eq(slots_find(r, now, busy, n, &s, &e), CJ_ENOTFOUND);
	ck_assert_int_eq(s, -1);
	ck_assert_int_eq(e, -1);
}

/* Finds slots one after another from now, each found slot becoming busy as
 * a stored suggestion would, on top of busy[]; checks what the user's clock
 * reads at each start against want[]. */
static void expect_sequence(const struct slot_rules *r, const char *now, const struct busy *busy,
                            size_t nbusy, const char *const *want, size_t nwant)
{
	struct busy taken[64];
	char got[64];
	size_t i;

	ck_assert_uint_le(nbusy + nwant, 64);
	if (nbusy)
		memcpy(taken, busy, nbusy * sizeof(*busy));
	for (i = 0; i < nwant; i++) {
		int64_t s = find(r, utc(now), taken, nbusy + i);

		local(r->zone, s, got, sizeof(got));
		ck_assert_msg(!strcmp(got, want[i]), "slot %zu: got %s, want %s", i, got, want[i]);
		taken[nbusy + i] = (struct busy){s, s + r->slot_min * 60};
	}
}

/* ---- empty calendar ---- */

START_TEST(utc_empty_calendar)
{
	struct slot_rules r = rules("UTC", "08:00-21:00");

	expect_at(&r, "2026-05-04T10:00:00Z", NULL, 0, "2026-05-04T10:00:00Z"); /* on a boundary */
	expect_at(&r, "2026-05-04T10:00:01Z", NULL, 0, "2026-05-04T10:30:00Z");
	expect_at(&r, "2026-05-04T10:29:59Z", NULL, 0, "2026-05-04T10:30:00Z");
	expect_at(&r, "2026-05-04T03:00:00Z", NULL, 0, "2026-05-04T08:00:00Z");
	expect_at(&r, "2026-05-04T20:30:00Z", NULL, 0, "2026-05-04T20:30:00Z"); /* ends at 21:00 */
	expect_at(&r, "2026-05-04T20:30:01Z", NULL, 0, "2026-05-05T08:00:00Z");
	expect_at(&r, "2026-05-04T23:59:59Z", NULL, 0, "2026-05-05T08:00:00Z");
	expect_at(&r, "2026-12-31T22:00:00Z", NULL, 0, "2027-01-01T08:00:00Z");
	expect_at(&r, "1969-12-31T22:00:00Z", NULL, 0, "1970-01-01T08:00:00Z");
}
END_TEST

START_TEST(zones_empty_calendar)
{
	struct slot_rules berlin = rules("Europe/Berlin", "08:00-21:00");
	struct slot_rules ny = rules("America/New_York", "08:00-21:00");
	struct slot_rules ktm = rules("Asia/Kathmandu", "08:00-21:00");
	struct slot_rules ktm_all = rules("Asia/Kathmandu", "00:00-24:00");

	/* Berlin in summer is UTC+2, in winter UTC+1. */
	expect_at(&berlin, "2026-05-04T00:00:00Z", NULL, 0, "2026-05-04T06:00:00Z");
	expect_at(&berlin, "2026-05-04T18:30:00Z", NULL, 0, "2026-05-04T18:30:00Z");
	expect_at(&berlin, "2026-05-04T18:30:01Z", NULL, 0, "2026-05-05T06:00:00Z");
	expect_at(&berlin, "2026-01-15T12:10:00Z", NULL, 0, "2026-01-15T12:30:00Z");
	expect_at(&berlin, "2026-01-15T19:30:01Z", NULL, 0, "2026-01-16T07:00:00Z");
	/* New York: UTC-4 in summer, UTC-5 in winter; the local day lags. */
	expect_at(&ny, "2026-05-04T00:00:00Z", NULL, 0, "2026-05-04T00:00:00Z"); /* 20:00 EDT */
	expect_at(&ny, "2026-05-04T00:30:01Z", NULL, 0, "2026-05-04T12:00:00Z");
	expect_at(&ny, "2026-01-15T12:00:00Z", NULL, 0, "2026-01-15T13:00:00Z");
	/* Kathmandu, UTC+05:45: boundaries are wall-clock :00 and :30. */
	expect_at(&ktm, "2026-05-04T00:00:00Z", NULL, 0, "2026-05-04T02:15:00Z");
	expect_at(&ktm_all, "2026-05-04T00:00:00Z", NULL, 0, "2026-05-04T00:15:00Z");
	expect_at(&ktm_all, "2026-05-04T00:15:00Z", NULL, 0, "2026-05-04T00:15:00Z");
	expect_at(&ktm_all, "2026-05-04T00:15:01Z", NULL, 0, "2026-05-04T00:45:00Z");
}
END_TEST

/* ---- busy intervals ---- */

START_TEST(events_block)
{
	struct slot_rules r = rules("UTC", "08:00-21:00");
	const char *now = "2026-05-04T08:00:00Z";
	struct busy partial[] = {{utc("2026-05-04T08:10:00Z"), utc("2026-05-04T08:20:00Z")}};
	struct busy before[] = {{utc("2026-05-04T07:00:00Z"), utc("2026-05-04T08:00:00Z")}};
	struct busy after[] = {{utc("2026-05-04T08:30:00Z"), utc("2026-05-04T09:00:00Z")}};
	struct busy long_tail[] = {{utc("2026-05-04T06:00:00Z"), utc("2026-05-04T08:30:01Z")}};
	struct busy merged[] = {
	    {utc("2026-05-04T09:50:00Z"), utc("2026-05-04T10:10:00Z")},
	    {utc("2026-05-04T08:00:00Z"), utc("2026-05-04T09:15:00Z")},
	    {utc("2026-05-04T10:10:00Z"), utc("2026-05-04T10:30:00Z")}, /* touches the one above */
	    {utc("2026-05-04T09:00:00Z"), utc("2026-05-04T10:00:00Z")},
	    {utc("2026-05-04T08:20:00Z"), utc("2026-05-04T08:40:00Z")}, /* inside the second */
	};
	struct busy all_day[] = {{utc("2026-05-04T00:00:00Z"), utc("2026-05-05T00:00:00Z")}};
	struct busy empty[] = {{utc("2026-05-04T09:00:00Z"), utc("2026-05-04T08:00:00Z")},
	                       {utc("2026-05-04T08:10:00Z"), utc("2026-05-04T08:10:00Z")}};

	expect_at(&r, now, partial, 1, "2026-05-04T08:30:00Z");
	expect_at(&r, now, before, 1, "2026-05-04T08:00:00Z"); /* touching is free */
	expect_at(&r, now, after, 1, "2026-05-04T08:00:00Z");
	expect_at(&r, now, long_tail, 1, "2026-05-04T09:00:00Z");
	expect_at(&r, now, merged, 5, "2026-05-04T10:30:00Z");
	expect_at(&r, now, all_day, 1, "2026-05-05T08:00:00Z");
	expect_at(&r, now, empty, 2, "2026-05-04T08:00:00Z"); /* empty intervals block nothing */
}
END_TEST

START_TEST(suggestions_are_busy)
{
	struct slot_rules r = rules("Europe/Berlin", "08:00-21:00");
	static const char *const want[] = {
	    "2026-05-04 20:30 CEST",
	    "2026-05-05 09:30 CEST",
	    "2026-05-05 10:00 CEST",
	    "2026-05-05 10:30 CEST",
	};
	struct busy b[] = {
	    {utc("2026-05-04T18:00:00Z"), utc("2026-05-04T18:30:00Z")}, /* a suggestion */
	    {utc("2026-05-05T06:30:00Z"), utc("2026-05-05T07:30:00Z")}, /* an event */
	    {utc("2026-05-05T06:00:00Z"), utc("2026-05-05T06:30:00Z")}, /* another suggestion */
	};

	/* 19:40 CEST; each slot found becomes a suggestion the next must avoid. */
	expect_sequence(&r, "2026-05-04T17:40:00Z", b, 3, want, 4);
}
END_TEST

/* ---- waking hours ---- */

START_TEST(whole_day_waking)
{
	struct slot_rules r = rules("UTC", "00:00-24:00");
	struct slot_rules berlin = rules("Europe/Berlin", "00:00-24:00");

	expect_at(&r, "2026-05-04T23:30:00Z", NULL, 0, "2026-05-04T23:30:00Z"); /* ends at 24:00 */
	expect_at(&r, "2026-05-04T23:30:01Z", NULL, 0, "2026-05-05T00:00:00Z");
	expect_at(&berlin, "2026-05-04T21:40:00Z", NULL, 0, "2026-05-04T22:00:00Z");
}
END_TEST

START_TEST(window_too_short)
{
	struct slot_rules r = rules("UTC", "08:00-08:20");
	int64_t now = utc("2026-05-04T00:00:00Z");

	expect_none(&r, now, NULL, 0);
	r = rules("UTC", "08:15-08:45"); /* 30 minutes, but no boundary fits */
	expect_none(&r, now, NULL, 0);
	r = rules("UTC", "08:15-09:00");
	expect_at(&r, "2026-05-04T00:00:00Z", NULL, 0, "2026-05-04T08:30:00Z");
	r = rules("UTC", "23:59-24:00");
	expect_none(&r, now, NULL, 0);
}
END_TEST

START_TEST(horizon)
{
	struct slot_rules r = rules("UTC", "08:00-21:00");
	int64_t now = utc("2026-05-04T10:00:00Z");
	struct busy week[] = {{now, now + 7 * 86400}};
	struct busy almost[] = {{now, utc("2026-05-11T09:30:00Z")}};
	struct busy exactly[] = {{now, utc("2026-05-11T10:00:00Z")}};

	expect_none(&r, now, week, 1);
	/* The last start the horizon allows is just before now + 7 days. */
	expect_at(&r, "2026-05-04T10:00:00Z", almost, 1, "2026-05-11T09:30:00Z");
	expect_none(&r, now, exactly, 1);
	r.horizon_days = 1;
	almost[0].end = utc("2026-05-05T09:30:00Z");
	exactly[0].end = utc("2026-05-05T10:00:00Z");
	expect_at(&r, "2026-05-04T10:00:00Z", almost, 1, "2026-05-05T09:30:00Z");
	expect_none(&r, now, exactly, 1);
}
END_TEST

/* ---- clock changes ---- */

/* Berlin, 2026-03-29: at 01:00 UTC clocks jump from 02:00 CET to 03:00 CEST. */
START_TEST(spring_forward_berlin)
{
	struct slot_rules r = rules("Europe/Berlin", "01:00-05:00");
	static const char *const want[] = {
	    "2026-03-29 01:00 CET",  "2026-03-29 01:30 CET",  "2026-03-29 03:00 CEST",
	    "2026-03-29 03:30 CEST", "2026-03-29 04:00 CEST", "2026-03-29 04:30 CEST",
	    "2026-03-30 01:00 CEST",
	};
	struct busy first[] = {{utc("2026-03-29T00:00:00Z"), utc("2026-03-29T00:30:00Z")}};
	struct busy both[] = {{utc("2026-03-29T00:00:00Z"), utc("2026-03-29T01:00:00Z")}};
	char got[64];

	/* 00:50 CET: the day's slots, none of them in the gap, each once. */
	expect_sequence(&r, "2026-03-28T23:50:00Z", NULL, 0, want, 7);

	/* The 01:30 slot lasts 30 real minutes: it ends when the clock jumps,
	 * which the clock reads as 03:00 CEST. */
	expect_at(&r, "2026-03-28T23:50:00Z", first, 1, "2026-03-29T00:30:00Z");
	local(r.zone, utc("2026-03-29T01:00:00Z"), got, sizeof(got));
	ck_assert_str_eq(got, "2026-03-29 03:00 CEST");
	expect_at(&r, "2026-03-28T23:50:00Z", both, 1, "2026-03-29T01:00:00Z"); /* 03:00 CEST */

	/* While it runs the clock reads 01:30-01:59, so it fits waking hours
	 * ending at 02:00. */
	r = rules("Europe/Berlin", "01:00-02:00");
	expect_at(&r, "2026-03-28T23:50:00Z", first, 1, "2026-03-29T00:30:00Z");

	/* Waking hours entirely in the gap have no slot that day. */
	r = rules("Europe/Berlin", "02:00-03:00");
	expect_at(&r, "2026-03-28T23:50:00Z", NULL, 0, "2026-03-30T00:00:00Z"); /* 02:00 CEST */
	r = rules("Europe/Berlin", "02:30-03:30");
	expect_at(&r, "2026-03-28T23:50:00Z", NULL, 0, "2026-03-29T01:00:00Z"); /* 03:00 CEST */
	/* now in the gap's instant: the boundary 03:00 CEST is exactly now. */
	r = rules("Europe/Berlin", "00:00-24:00");
	expect_at(&r, "2026-03-29T00:30:01Z", NULL, 0, "2026-03-29T01:00:00Z");
	/* Every 40 minutes the boundaries are 01:20, [02:00, 02:40,] 03:20: the
	 * nonexistent 02:00 is skipped, not moved to 03:00 CEST. */
	r.step_min = 40;
	expect_at(&r, "2026-03-29T00:20:01Z", NULL, 0, "2026-03-29T01:20:00Z"); /* 03:20 CEST */
}
END_TEST

/* New York, 2026-03-08: at 07:00 UTC clocks jump from 02:00 EST to 03:00 EDT. */
START_TEST(spring_forward_new_york)
{
	struct slot_rules r = rules("America/New_York", "01:00-04:00");
	static const char *const want[] = {
	    "2026-03-08 01:00 EST", "2026-03-08 01:30 EST", "2026-03-08 03:00 EDT",
	    "2026-03-08 03:30 EDT", "2026-03-09 01:00 EDT",
	};

	expect_sequence(&r, "2026-03-08T05:00:00Z", NULL, 0, want, 5);
}
END_TEST

/* Berlin, 2026-10-25: at 01:00 UTC clocks go back from 03:00 CEST to 02:00
 * CET, so 02:00-02:59 happens twice. */
START_TEST(fall_back_berlin)
{
	struct slot_rules r = rules("Europe/Berlin", "01:00-05:00");
	static const char *const want[] = {
	    "2026-10-25 01:00 CEST", "2026-10-25 01:30 CEST", "2026-10-25 02:00 CEST",
	    "2026-10-25 02:30 CEST", "2026-10-25 02:00 CET",  "2026-10-25 02:30 CET",
	    "2026-10-25 03:00 CET",  "2026-10-25 03:30 CET",  "2026-10-25 04:00 CET",
	    "2026-10-25 04:30 CET",  "2026-10-26 01:00 CET",
	};
	static const char *const repeated[] = {
	    "2026-10-25 02:00 CEST", "2026-10-25 02:30 CEST", "2026-10-25 02:00 CET",
	    "2026-10-25 02:30 CET",  "2026-10-26 02:00 CET",
	};
	struct busy first_half[] = {{utc("2026-10-25T00:30:00Z"), utc("2026-10-25T01:00:00Z")}};

	/* 00:50 CEST: both occurrences of 02:00 and 02:30, in UTC order. */
	expect_sequence(&r, "2026-10-24T22:50:00Z", NULL, 0, want, 11);
	expect_at(&r, "2026-10-24T22:50:00Z", NULL, 0, "2026-10-24T23:00:00Z");
	expect_at(&r, "2026-10-25T00:30:01Z", NULL, 0, "2026-10-25T01:00:00Z"); /* 02:00 CET */

	r = rules("Europe/Berlin", "02:00-03:00");
	expect_sequence(&r, "2026-10-24T22:50:00Z", NULL, 0, repeated, 5);

	/* 02:30 CEST reads 02:30-02:59 while it runs: inside 02:30-05:00, though
	 * its end reads 02:00 CET. 02:00 CET reads 02:00-02:29: outside. */
	r = rules("Europe/Berlin", "02:30-05:00");
	expect_at(&r, "2026-10-24T22:50:00Z", NULL, 0, "2026-10-25T00:30:00Z");
	expect_at(&r, "2026-10-24T22:50:00Z", first_half, 1, "2026-10-25T01:30:00Z");
}
END_TEST

/* A version-2 TZif file with no transitions: the POSIX rule in its footer
 * gives every offset. */
static void write_rule_zone(const char *dir, const char *name, const char *rule)
{
	/* "TZif", version '2', 15 reserved bytes; then the counts isutcnt,
	 * isstdcnt, leapcnt, timecnt (0), typecnt (1), charcnt (4); one type
	 * (utoff 0, isdst 0, abbreviation 0) and "LMT". */
	static const unsigned char block[] = {
	    'T', 'Z', 'i', 'f', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   0,   0,   0,
	    0,   0,   0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   0,   0,   0,
	    0,   0,   0,   1,   0,   0, 0, 4, 0, 0, 0, 0, 0, 0, 'L', 'M', 'T', 0,
	};
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "wb"));
	fwrite(block, 1, sizeof(block), f); /* the 32-bit block */
	fwrite(block, 1, sizeof(block), f); /* the 64-bit block: no times either */
	fprintf(f, "\n%s\n", rule);
	ck_assert_int_eq(fclose(f), 0);
}

/* A zone whose clocks go back across midnight: at 00:30 XDT (UTC+1) on the
 * last Sunday of October they show 23:30 XST (UTC+0) of Saturday again, so
 * the start of Sunday (00:00 XDT) comes before the end of Saturday (23:30
 * XST). The first slot in UTC can belong to the day after or before now's. */
START_TEST(fall_back_across_midnight)
{
	char dir[] = "/tmp/test_slots.XXXXXX", path[600];
	struct slot_rules r;
	char got[64];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_rule_zone(dir, "Midnight", "XST0XDT,M3.5.0,M10.5.0/0:30");
	setenv("TZDIR", dir, 1); /* this test runs in its own process */
	r = rules("Midnight", "00:00-24:00");
	local(r.zone, utc("2026-10-24T23:30:00Z"), got, sizeof(got));
	ck_assert_str_eq(got, "2026-10-24 23:30 XST");

	/* Saturday 23:50 XDT: Sunday 00:00 XDT beats Saturday's second 23:30. */
	expect_at(&r, "2026-10-24T22:50:00Z", NULL, 0, "2026-10-24T23:00:00Z");
	/* Sunday 00:10 XDT: Saturday's second 23:30 comes next. */
	expect_at(&r, "2026-10-24T23:10:00Z", NULL, 0, "2026-10-24T23:30:00Z");

	snprintf(path, sizeof(path), "%s/Midnight", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- parsing, formatting, rules ---- */

START_TEST(waking_parse_and_format)
{
	static const struct {
		const char *s;
		int start, end;
	} good[] = {
	    {"08:00-21:00", 480, 1260}, {"00:00-24:00", 0, 1440},   {"23:59-24:00", 1439, 1440},
	    {"00:00-00:01", 0, 1},      {"07:30-22:45", 450, 1365},
	};
	static const char *const bad[] = {
	    "8:00-21:00",  "21:00-08:00",  "00:00-24:01", "24:00-24:00",  "08:00-08:00",
	    "08:00-25:00", "08:60-21:00",  "08:00 21:00", "08:00-21:00 ", " 08:00-21:00",
	    "08:00-21:0",  "08:00-21:000", "+8:00-21:00", "08:00-2a:00",  "",
	    "08-21",       "08:00-",       "08.00-21.00", "-8:00-21:00",
	};
	char out[SLOTS_WAKING_SIZE];
	size_t i;
	int a, b;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(slots_parse_waking(good[i].s, &a, &b), CJ_OK);
		ck_assert_int_eq(a, good[i].start);
		ck_assert_int_eq(b, good[i].end);
		ck_assert_int_eq(slots_format_waking(a, b, out), CJ_OK);
		ck_assert_str_eq(out, good[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = b = -7;
		ck_assert_msg(slots_parse_waking(bad[i], &a, &b) == CJ_EINVAL, "\"%s\"", bad[i]);
		ck_assert_int_eq(a, -7);
		ck_assert_int_eq(b, -7);
	}
	ck_assert_int_eq(slots_parse_waking(NULL, &a, &b), CJ_EINVAL);
	ck_assert_int_eq(slots_format_waking(600, 600, out), CJ_EINVAL);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(slots_format_waking(-1, 600, out), CJ_EINVAL);
	ck_assert_int_eq(slots_format_waking(0, 1441, out), CJ_EINVAL);
}
END_TEST

START_TEST(bad_rules)
{
	struct slot_rules ok = rules("UTC", "08:00-21:00"), r;
	struct busy b[] = {{0, 1}};
	int64_t s = -1, e = -1, now = utc("2026-05-04T10:00:00Z");

#define EXPECT_EINVAL(field, value)                                                                \
	do {                                                                                       \
		r = ok;                                                                            \
		r.field = value;                                                                   \
		ck_assert_int_eq(slots_find(&r, now, NULL, 0, &s, &e), CJ_EINVAL);                 \
	} while (0)
	EXPECT_EINVAL(zone, NULL);
	EXPECT_EINVAL(waking_start_min, -1);
	EXPECT_EINVAL(waking_start_min, 1260);
	EXPECT_EINVAL(waking_end_min, 1441);
	EXPECT_EINVAL(slot_min, 0);
	EXPECT_EINVAL(slot_min, 1441);
	EXPECT_EINVAL(step_min, 0);
	EXPECT_EINVAL(step_min, -30);
	EXPECT_EINVAL(horizon_days, 0);
	EXPECT_EINVAL(horizon_days, SLOTS_MAX_HORIZON_DAYS + 1);
#undef EXPECT_EINVAL
	ck_assert_int_eq(slots_find(NULL, now, NULL, 0, &s, &e), CJ_EINVAL);
	ck_assert_int_eq(slots_find(&ok, now, NULL, 1, &s, &e), CJ_EINVAL);
	ck_assert_int_eq(slots_find(&ok, INT64_MAX, b, 1, &s, &e), CJ_EINVAL);
	ck_assert_int_eq(slots_find(&ok, INT64_MIN, b, 1, &s, &e), CJ_EINVAL);
	ck_assert_int_eq(s, -1);
	ck_assert_int_eq(e, -1);
}
END_TEST

START_TEST(other_lengths_and_steps)
{
	struct slot_rules r = rules("UTC", "08:00-21:00");

	r.slot_min = 60;
	r.step_min = 15;
	expect_at(&r, "2026-05-04T20:00:01Z", NULL, 0, "2026-05-05T08:00:00Z");
	expect_at(&r, "2026-05-04T19:50:00Z", NULL, 0, "2026-05-04T20:00:00Z");
	expect_at(&r, "2026-05-04T19:40:00Z", NULL, 0, "2026-05-04T19:45:00Z");
}
END_TEST

START_TEST(overlaps)
{
	struct busy b[] = {
	    {100, 200},
	    {300, 300}, /* empty */
	    {500, 400}, /* backwards */
	};

	ck_assert_int_eq(slots_overlaps(150, 160, b, 3), 1);
	ck_assert_int_eq(slots_overlaps(50, 101, b, 3), 1);
	ck_assert_int_eq(slots_overlaps(199, 250, b, 3), 1);
	ck_assert_int_eq(slots_overlaps(0, 300, b, 3), 1);
	ck_assert_int_eq(slots_overlaps(50, 100, b, 3), 0); /* touching */
	ck_assert_int_eq(slots_overlaps(200, 250, b, 3), 0);
	ck_assert_int_eq(slots_overlaps(250, 350, b, 3), 0);
	ck_assert_int_eq(slots_overlaps(420, 480, b, 3), 0);
	ck_assert_int_eq(slots_overlaps(150, 150, b, 3), 0); /* empty slot */
	ck_assert_int_eq(slots_overlaps(150, 160, NULL, 0), 0);
}
END_TEST

/* ---- against a brute-force walk ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* In a zone with a fixed offset, every boundary instant in the horizon,
 * checked directly. */
static int brute_force(int32_t off, int ws, int we, int64_t now, const struct busy *b, size_t n,
                       int64_t *start)
{
	int64_t t = now + off, first = (t + 1799) / 1800 * 1800 - off;

	for (t = first; t < now + 7 * 86400; t += 1800) {
		int64_t wall = t + off, day = wall / 86400 * 86400;

		if (wall - day < ws * 60 || wall + 1800 - day > we * 60)
			continue;
		if (!slots_overlaps(t, t + 1800, b, n)) {
			*start = t;
			return CJ_OK;
		}
	}
	return CJ_ENOTFOUND;
}

START_TEST(agrees_with_brute_force)
{
	static const struct {
		const char *zone;
		int32_t off;
	} zones[] = {{"UTC", 0}, {"Asia/Kathmandu", 20700}, {"Asia/Kolkata", 19800}};
	struct busy b[200], shuffled[200];
	int iter, rc, want_rc, a, c;
	size_t n, i, j;
	int64_t now, got, want, e;

	for (iter = 0; iter < 3000; iter++) {
		struct slot_rules r;
		size_t zi = (size_t)(rng() % 3);

		a = (int)(rng() % 1440);
		c = a + 1 + (int)(rng() % (size_t)(1440 - a));
		slots_rules_init(&r, zone(zones[zi].zone), a, c);
		now = utc("2026-05-04T00:00:00Z") + (int64_t)(rng() % (30 * 86400));
		if (rng() % 4 == 0)
			now = now / 1800 * 1800 - zones[zi].off % 1800; /* on a boundary */
		n = (size_t)(rng() % 200);
		for (i = 0; i < n; i++) {
			int64_t s = now - 86400 + (int64_t)(rng() % (9 * 86400));
			int64_t len =
			    rng() % 8 ? (int64_t)(rng() % 7200) : (int64_t)(rng() % 172800);

			if (rng() % 3 == 0)
				s = s / 900 * 900; /* touching edges are common in calendars */
			if (rng() % 3 == 0)
				len = len / 900 * 900;
			b[i] = (struct busy){s, s + len};
		}
		want_rc = brute_force(zones[zi].off, a, c, now, b, n, &want);
		rc = slots_find(&r, now, b, n, &got, &e);
		ck_assert_msg(rc == want_rc, "iteration %d: rc %d, want %d", iter, rc, want_rc);
		if (rc == CJ_OK)
			ck_assert_msg(got == want, "iteration %d: %lld, want %lld", iter,
			              (long long)got, (long long)want);
		/* Same slot whatever the order of the busy intervals. */
		memcpy(shuffled, b, n * sizeof(*b));
		for (i = n; i > 1; i--) {
			struct busy tmp;

			j = (size_t)(rng() % i);
			tmp = shuffled[i - 1];
			shuffled[i - 1] = shuffled[j];
			shuffled[j] = tmp;
		}
		if (rc == CJ_OK) {
			int64_t again, e2;

			ck_assert_int_eq(slots_find(&r, now, shuffled, n, &again, &e2), CJ_OK);
			ck_assert_int_eq(again, got);
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slots");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, utc_empty_calendar);
	tcase_add_test(tc, zones_empty_calendar);
	tcase_add_test(tc, events_block);
	tcase_add_test(tc, suggestions_are_busy);
	tcase_add_test(tc, whole_day_waking);
	tcase_add_test(tc, window_too_short);
	tcase_add_test(tc, horizon);
	tcase_add_test(tc, spring_forward_berlin);
	tcase_add_test(tc, spring_forward_new_york);
	tcase_add_test(tc, fall_back_berlin);
	tcase_add_test(tc, fall_back_across_midnight);
	tcase_add_test(tc, waking_parse_and_format);
	tcase_add_test(tc, bad_rules);
	tcase_add_test(tc, other_lengths_and_steps);
	tcase_add_test(tc, overlaps);
	tcase_add_test(tc, agrees_with_brute_force);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	tz_cache_free();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
