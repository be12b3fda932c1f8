/*
 * cron.c - the 5-field cron expressions of schedules.json; see cron.h.
 *
 * A field becomes a bit set of its allowed values, so matching a time is a
 * handful of bit tests. Parsing is strict (unix-cron only: no "?", "L",
 * "W", "#" or seconds field) and every error names the field, so an
 * operator can fix the file without reading this code.
 */
#include "cron.h"
#include "tz.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define FIVE_FIELDS "must have 5 fields (minute hour day month weekday)"

struct cron_field {
	const char *what;
	int lo, hi;
	const char *const *names; /* names[i] stands for lo + i, or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct cron_field cron_fields[5] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day of week", 0, 7, day_names},
};

/* Reads up to 3 digits at *p; advances *p. -1 when there are none or more. */
static int cron_number(const char **p)
{
	const char *s = *p;
	int v = 0, n = 0;

	while (isdigit((unsigned char)s[n]) && n < 3)
		v = v * 10 + (s[n++] - '0');
	if (!n || isdigit((unsigned char)s[n]))
		return -1;
	*p = s + n;
	return v;
}

/* Reads a number or a name at *p; advances *p. -1 when neither. */
static int cron_value(const struct cron_field *f, const char **p)
{
	const char *s = *p;
	int i;

	if (isdigit((unsigned char)*s))
		return cron_number(p);
	for (i = 0; f->names && f->names[i]; i++) {
		if (!strncasecmp(s, f->names[i], 3) && !isalpha((unsigned char)s[3])) {
			*p = s + 3;
			return f->lo + i;
		}
	}
	return -1;
}

/* One comma-separated element: "*", "*\/n", "a", "a-b", "a-b/n". */
static int cron_element(const struct cron_field *f, const char *s, size_t len, uint64_t *bits,
                        int *star)
{
	const char *p = s, *end = s + len;
	int a, b, step = 1, v;

	if (*p == '*') {
		a = f->lo;
		b = f->hi;
		p++;
		*star = 1;
	} else {
		if ((a = cron_value(f, &p)) < 0)
			return -1;
		b = a;
		if (p < end && *p == '-') {
			p++;
			if ((b = cron_value(f, &p)) < 0)
				return -1;
		}
	}
	if (p < end && *p == '/') {
		p++;
		step = cron_number(&p);
		if (step < 1 || step > f->hi)
			return -1;
		if (step > 1)
			*star = 0;
	}
	if (p != end || a < f->lo || b > f->hi || a > b)
		return -1;
	for (v = a; v <= b; v += step)
		*bits |= (uint64_t)1 << v;
	return 0;
}

int cron_parse(const char *text, struct cron_spec *out, char *err, size_t errlen)
{
	const char *p = text, *start, *el;
	uint64_t bits[5] = {0};
	int star[5] = {0};
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < 5; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return cj_errorf(err, errlen, CJ_EINVAL,
			                 FIVE_FIELDS ": the %s field is missing",
			                 cron_fields[i].what);
		start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		for (el = start; el < p;) {
			const char *comma = memchr(el, ',', (size_t)(p - el));
			size_t len = comma ? (size_t)(comma - el) : (size_t)(p - el);
			int elstar = 0;

			if (!len || cron_element(&cron_fields[i], el, len, &bits[i], &elstar))
				return cj_errorf(err, errlen, CJ_EINVAL,
				                 "%s field \"%.*s\": expected *, */n, a, a-b, "
				                 "a-b/n or a list of them within %d-%d",
				                 cron_fields[i].what, (int)(p - start), start,
				                 cron_fields[i].lo, cron_fields[i].hi);
			star[i] |= elstar;
			el += len + (comma ? 1 : 0);
			if (comma && el == p)
				return cj_errorf(err, errlen, CJ_EINVAL,
				                 "%s field \"%.*s\": empty list element",
				                 cron_fields[i].what, (int)(p - start), start);
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 FIVE_FIELDS ": \"%.40s\" follows the day of week field", p);
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->mdays = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	/* Sunday is 0 or 7. */
	out->wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	out->mday_any = star[2];
	out->wday_any = star[4];
	return CJ_OK;
}

int cron_matches(const struct cron_spec *c, const struct tm *tm)
{
	int mday_ok, wday_ok;

	if (!(c->minutes & ((uint64_t)1 << tm->tm_min)) || !(c->hours & (1u << tm->tm_hour)) ||
	    !(c->months & (1u << (tm->tm_mon + 1))))
		return 0;
	mday_ok = (c->mdays >> tm->tm_mday) & 1;
	wday_ok = (c->wdays >> tm->tm_wday) & 1;
	if (c->mday_any || c->wday_any)
		return mday_ok && wday_ok;
	return mday_ok || wday_ok;
}

/* ---- cron_next: walking the wall clock ---- */

/* A wall-clock minute being considered. */
struct cron_cursor {
	int64_t y;
	int m, d, h, min;
};

static void cursor_next_month(struct cron_cursor *k)
{
	if (++k->m > 12) {
		k->m = 1;
		k->y++;
	}
	k->d = 1;
	k->h = k->min = 0;
}

static void cursor_next_day(struct cron_cursor *k)
{
	k->d++; /* past the month's end: the month check moves on */
	k->h = k->min = 0;
}

static void cursor_next_hour(struct cron_cursor *k)
{
	k->min = 0;
	if (++k->h == 24)
		cursor_next_day(k);
}

/* Whether the day can fire at all: cron_matches() at the first allowed hour
 * and minute, so that the day-of-month / day-of-week rule stays in one
 * place. */
static int cron_day_allowed(const struct cron_spec *c, const struct cron_cursor *k, int wday)
{
	struct tm tm = {0};

	tm.tm_min = __builtin_ctzll(c->minutes);
	tm.tm_hour = __builtin_ctz(c->hours);
	tm.tm_mday = k->d;
	tm.tm_mon = k->m - 1;
	tm.tm_wday = wday;
	return cron_matches(c, &tm);
}

/* The instant a matching wall-clock minute fires: its first occurrence, or,
 * when the clock jumps over it, the first whole minute after the jump. */
static int cron_fire_at(const struct tz *zone, int64_t wall, int64_t *at)
{
	struct tz_mapping map;
	struct tm tm;
	int32_t off;
	int rc;

	if ((rc = tz_map_local(zone, wall, &map)))
		return rc;
	if (map.count) {
		*at = map.earliest;
		return CJ_OK;
	}
	if ((rc = tz_utc_to_local(zone, map.gap_end, &tm, &off)))
		return rc;
	*at = map.gap_end + (60 - tm.tm_sec) % 60;
	return CJ_OK;
}

/* Walks matching wall-clock minutes in order, skipping whole months, days
 * and hours that cannot match. Reading wall times in order gives their
 * firing instants in order too (a skipped minute fires at the end of the
 * jump, a repeated one at its first occurrence), so the first candidate
 * that fires after `after` is the answer. Starting at the minute `after`
 * shows is early enough: an earlier wall time fires no later than it. */
int cron_next(const struct cron_spec *c, const struct tz *zone, int64_t after, int64_t *next)
{
	struct cron_cursor k;
	int64_t days, wall, at, last_year;
	uint64_t mins;
	struct tm tm;
	int rc;

	if (!c->minutes || !c->hours || !c->mdays || !c->months || !c->wdays)
		return CJ_EINVAL;
	if (!zone && !(zone = tz_get("UTC", NULL, 0)))
		return CJ_ENOMEM;
	if ((rc = tz_utc_to_local(zone, after, &tm, NULL)))
		return rc;
	k = (struct cron_cursor){tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	                         tm.tm_min};
	last_year = k.y + CRON_SEARCH_YEARS;
	while (k.y <= last_year) {
		if (!(c->months >> k.m & 1) || k.d > tz_days_in_month(k.y, k.m)) {
			cursor_next_month(&k);
			continue;
		}
		days = tz_days_from_civil(k.y, k.m, k.d);
		if (!cron_day_allowed(c, &k, (int)(((days + 4) % 7 + 7) % 7))) {
			cursor_next_day(&k);
			continue;
		}
		mins = k.min < 60 ? c->minutes >> k.min << k.min : 0;
		if (!(c->hours >> k.h & 1) || !mins) {
			cursor_next_hour(&k);
			continue;
		}
		k.min = __builtin_ctzll(mins);
		wall = days * 86400 + k.h * 3600LL + k.min * 60LL;
		if ((rc = cron_fire_at(zone, wall, &at)))
			return rc;
		if (at > after) {
			*next = at;
			return CJ_OK;
		}
		k.min++;
	}
	return CJ_ENOTFOUND;
}
