/*
 * slots.c - the free-slot finder; see slots.h for the rule and the choices
 * made around clock changes.
 *
 * The walk goes over local days, not over UTC instants: a boundary is a
 * wall-clock time ("10:30 in Berlin"), so candidates are built in wall time
 * and mapped to instants one by one, which is what makes gaps and repeated
 * hours come out right. Busy intervals are copied, sorted and merged once,
 * so each candidate is checked with one binary search.
 *
 * Never reads the process clock or the TZ variable: `now` and the zone are
 * arguments, so the same inputs give the same slot in any thread.
 */
#include "slots.h"
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_SEC 86400
#define DAY_MIN 1440

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_busy(const void *a, const void *b)
{
	const struct busy *x = a, *y = b;

	if (x->start != y->start)
		return (x->start > y->start) - (x->start < y->start);
	return (x->end > y->end) - (x->end < y->end);
}

static int rules_valid(const struct slot_rules *r)
{
	return r && r->zone && r->waking_start_min >= 0 &&
	    r->waking_start_min < r->waking_end_min && r->waking_end_min <= DAY_MIN &&
	    r->slot_min >= 1 && r->slot_min <= DAY_MIN && r->step_min >= 1 &&
	    r->step_min <= DAY_MIN && r->horizon_days >= 1 &&
	    r->horizon_days <= SLOTS_MAX_HORIZON_DAYS;
}

void slots_rules_init(struct slot_rules *r, const struct tz *zone, int waking_start_min,
                      int waking_end_min)
{
	*r = (struct slot_rules){
	    .zone = zone,
	    .waking_start_min = waking_start_min,
	    .waking_end_min = waking_end_min,
	    .slot_min = SLOTS_DEFAULT_SLOT_MIN,
	    .step_min = SLOTS_DEFAULT_STEP_MIN,
	    .horizon_days = SLOTS_DEFAULT_HORIZON_DAYS,
	};
}

/* ---- busy intervals ---- */

/* A sorted copy of the non-empty intervals, overlapping and touching ones
 * merged: disjoint, so both starts and ends ascend. *out is NULL when there
 * is nothing busy. */
static int busy_merge(const struct busy *busy, size_t n, struct busy **out, size_t *nout)
{
	struct busy *m;
	size_t i, k = 0;

	*out = NULL;
	*nout = 0;
	if (!n)
		return CJ_OK;
	if (!(m = malloc(n * sizeof(*m))))
		return CJ_ENOMEM;
	for (i = 0; i < n; i++)
		if (busy[i].end > busy[i].start)
			m[k++] = busy[i];
	if (!k) {
		free(m);
		return CJ_OK;
	}
	qsort(m, k, sizeof(*m), cmp_busy);
	n = k;
	k = 0;
	for (i = 1; i < n; i++) {
		if (m[i].start <= m[k].end) {
			if (m[i].end > m[k].end)
				m[k].end = m[i].end;
		} else {
			m[++k] = m[i];
		}
	}
	*out = m;
	*nout = k + 1;
	return CJ_OK;
}

/* Whether [s, e) overlaps the merged intervals: the first interval ending
 * after s is the only one that can. */
static int busy_hits(const struct busy *m, size_t n, int64_t s, int64_t e)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m[mid].end > s)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < n && m[lo].start < e;
}

int slots_overlaps(int64_t start, int64_t end, const struct busy *busy, size_t n)
{
	size_t i;

	if (end <= start)
		return 0;
	for (i = 0; i < n; i++)
		if (busy[i].start < busy[i].end && busy[i].start < end && start < busy[i].end)
			return 1;
	return 0;
}

/* ---- the wall clock ---- */

static int utc_offset(const struct tz *z, int64_t t, int32_t *off)
{
	struct tm tm;

	return tz_utc_to_local(z, t, &tm, off);
}

/* Whether every instant of [s, e) reads a wall time (counted like Unix time,
 * see tz_map_local()) within [lo, hi). The wall clock runs with one offset
 * up to a change at t and another after it; each piece is checked. */
static int inside_waking(const struct tz *z, int64_t s, int64_t e, int64_t lo, int64_t hi,
                         int *inside)
{
	int32_t off_a, off_b, off;
	int64_t a, b, mid;
	int rc;

	if ((rc = utc_offset(z, s, &off_a)) || (rc = utc_offset(z, e - 1, &off_b)))
		return rc;
	if (off_a == off_b) {
		*inside = s + off_a >= lo && e + off_a <= hi;
		return CJ_OK;
	}
	/* Find the change: off(a) == off_a, off(b) != off_a, b - a == 1. */
	a = s;
	b = e - 1;
	while (b - a > 1) {
		mid = a + (b - a) / 2;
		if ((rc = utc_offset(z, mid, &off)))
			return rc;
		if (off == off_a)
			a = mid;
		else
			b = mid;
	}
	*inside = s + off_a >= lo && b + off_a <= hi && b + off_b >= lo && e + off_b <= hi;
	return CJ_OK;
}

/* The instants of the day's boundaries inside waking hours, in UTC order:
 * none for a boundary in a gap, both for one in a repeated hour. cand holds
 * 2 * (DAY_MIN / step_min + 1) values. */
static int day_candidates(const struct slot_rules *r, int64_t day, int64_t *cand, size_t *n)
{
	struct tz_mapping map;
	int m, rc;

	*n = 0;
	m = (r->waking_start_min + r->step_min - 1) / r->step_min * r->step_min;
	for (; m < r->waking_end_min; m += r->step_min) {
		if ((rc = tz_map_local(r->zone, day * DAY_SEC + m * 60LL, &map)))
			return rc;
		if (map.count >= 1)
			cand[(*n)++] = map.earliest;
		if (map.count >= 2 && map.latest != map.earliest)
			cand[(*n)++] = map.latest;
	}
	qsort(cand, *n, sizeof(*cand), cmp_i64);
	return CJ_OK;
}

/* The local day (days since 1970-01-01 on the user's calendar) of t. */
static int local_day(const struct tz *z, int64_t t, int64_t *day)
{
	int32_t off;
	int rc;

	if ((rc = utc_offset(z, t, &off)))
		return rc;
	*day = floor_div(t + off, DAY_SEC);
	return CJ_OK;
}

/* The earliest free slot of local day `day` in [now, limit), or 0 in *found. */
static int day_first(const struct slot_rules *r, int64_t day, int64_t now, int64_t limit,
                     const struct busy *m, size_t nm, int64_t *cand, int *found, int64_t *start)
{
	int64_t lo = day * DAY_SEC + r->waking_start_min * 60LL;
	int64_t hi = day * DAY_SEC + r->waking_end_min * 60LL;
	size_t i, n;
	int rc, inside;

	*found = 0;
	if ((rc = day_candidates(r, day, cand, &n)))
		return rc;
	for (i = 0; i < n && cand[i] < limit; i++) {
		int64_t s = cand[i], e = s + r->slot_min * 60LL;

		if (s < now)
			continue;
		if ((rc = inside_waking(r->zone, s, e, lo, hi, &inside)))
			return rc;
		if (inside && !busy_hits(m, nm, s, e)) {
			*found = 1;
			*start = s;
			return CJ_OK;
		}
	}
	return CJ_OK;
}

int slots_find(const struct slot_rules *r, int64_t now, const struct busy *busy, size_t nbusy,
               int64_t *start, int64_t *end)
{
	struct busy *m = NULL;
	int64_t *cand = NULL;
	int64_t limit, day, first_day, last_day, best = 0, s;
	size_t nm;
	int rc, found, have = 0;

	if (!rules_valid(r) || (nbusy && !busy))
		return CJ_EINVAL;
	/* tz refuses instants beyond +-10^15 s, so limit cannot overflow. */
	if (local_day(r->zone, now, &first_day))
		return CJ_EINVAL;
	limit = now + r->horizon_days * (int64_t)DAY_SEC;
	if (local_day(r->zone, limit, &last_day))
		return CJ_EINVAL;
	if ((rc = busy_merge(busy, nbusy, &m, &nm)))
		return rc;
	if (!(cand = malloc(2 * (DAY_MIN / r->step_min + 1) * sizeof(*cand)))) {
		rc = CJ_ENOMEM;
		goto out;
	}
	/* Start a day early and, once a slot is found, look at one more day:
	 * where clocks go back across midnight, the end of one local day comes
	 * after the start of the next. Elsewhere those days add nothing. */
	for (day = first_day - 1; day <= last_day; day++) {
		if ((rc = day_first(r, day, now, limit, m, nm, cand, &found, &s)))
			goto out;
		if (found && (!have || s < best))
			best = s;
		if (have)
			break;
		have = found;
	}
	if (!have) {
		rc = CJ_ENOTFOUND;
		goto out;
	}
	*start = best;
	*end = best + r->slot_min * 60LL;
	rc = CJ_OK;
out:
	free(cand);
	free(m);
	return rc;
}

/* ---- waking hours ---- */

/* "HH:MM" at s: minutes of the day (0-1440, 24 only as 24:00) or -1. */
static int parse_hhmm(const char *s)
{
	int i, h, m;

	for (i = 0; i < 5; i++)
		if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
			return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || m > 59 || (h == 24 && m))
		return -1;
	return h * 60 + m;
}

int slots_parse_waking(const char *s, int *start_min, int *end_min)
{
	int a, b;

	if (!s || strlen(s) != 11 || s[5] != '-')
		return CJ_EINVAL;
	a = parse_hhmm(s);
	b = parse_hhmm(s + 6);
	/* a < b also refuses "24:00" as the start. */
	if (a < 0 || b < 0 || a >= b)
		return CJ_EINVAL;
	*start_min = a;
	*end_min = b;
	return CJ_OK;
}

int slots_format_waking(int start_min, int end_min, char out[SLOTS_WAKING_SIZE])
{
	if (start_min < 0 || start_min >= end_min || end_min > DAY_MIN) {
		out[0] = '\0';
		return CJ_EINVAL;
	}
	snprintf(out, SLOTS_WAKING_SIZE, "%02d:%02d-%02d:%02d", start_min / 60, start_min % 60,
	         end_min / 60, end_min % 60);
	return CJ_OK;
}
