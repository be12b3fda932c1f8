/*
 * tz.c - IANA time zones read straight from TZif files; see tz.h.
 *
 * Owns the process-wide zone cache and the only TZif and POSIX TZ string
 * parsers of the program. It must never call setenv("TZ"), tzset(),
 * localtime_r() or mktime(): glibc keeps one zone per process, read from
 * TZ, so a thread converting for Berlin would change what every other
 * thread sees. Instead each struct tz holds its own transition table and
 * footer rule, and the calendar arithmetic below is ours (Howard Hinnant's
 * days-from-civil), so no libc time function is involved at all.
 *
 * A zone is three things, in the order RFC 8536 gives them precedence: the
 * local time types (offset, DST flag, abbreviation), the table of
 * transitions between them (zic writes them up to 2037 in "fat" files, or
 * only the irregular ones in "slim" files), and the footer's POSIX TZ rule
 * ("CET-1CEST,M3.5.0,M10.5.0/3") for every instant after the last
 * transition.
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_FILE_MAX (1024 * 1024) /* real files are < 4 KiB */
#define TZ_ABBR_MAX 15
#define TZ_LIMIT 1000000000000000LL /* +-10^15 s: tens of millions of years */
/* RFC 8536 3.2: UT offsets SHOULD lie in -89999 .. 93599 s; we take the
 * symmetric bound so that every wall time lies within TZ_SPAN of its
 * instants. */
#define TZ_SPAN (26 * 3600)
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* One local time type. */
struct tz_type {
	int32_t utoff; /* local minus UTC, seconds */
	int isdst;
	const char *abbr; /* into the zone's own storage */
};

/* A POSIX TZ rule date: "Jn", "n" or "Mm.w.d", then "/time". */
struct tz_rule_date {
	char kind; /* 'J', 'N' or 'M' */
	int n, m, w, d;
	int32_t secs; /* local time of day; -167 h .. 167 h (RFC 8536 v3) */
};

/* The footer's rule. */
struct tz_posix {
	int present; /* the footer is non-empty */
	int has_dst;
	struct tz_type std, dst;
	char std_abbr[TZ_ABBR_MAX + 1], dst_abbr[TZ_ABBR_MAX + 1];
	struct tz_rule_date start, end; /* start: std -> dst; end: dst -> std */
};

struct tz {
	struct tz *next; /* the cache's list; guarded by tz_lock */
	char name[TZ_NAME_MAX + 1];
	size_t ntrans, ntypes;
	int64_t *trans; /* ascending Unix times */
	unsigned char *trans_type; /* index into types, per transition */
	struct tz_type *types;
	char *abbrs; /* NUL-terminated designations */
	struct tz_posix rule;
};

/* The cache: a list of immutable zones, appended under tz_lock, freed only
 * by tz_cache_free(). */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *tz_cache;

/* ---- calendar ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a % b < 0) != (b < 0));
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tz_days_in_month(int64_t y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 ? 28 + is_leap(y) : days[m - 1];
}

/* Hinnant, "chrono-Compatible Low-Level Date Algorithms": eras of 400
 * years, with March as the first month so that leap days end the year. */
int64_t tz_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468 + (d - 1);
}

void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468, era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ---- the footer: POSIX TZ strings with RFC 8536's extensions ---- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* 1 to max_digits digits; -1 when none or too many. */
static int posix_number(const char **p, int max_digits)
{
	const char *s = *p;
	int v = 0, n = 0;

	while (is_digit(s[n]) && n < max_digits)
		v = v * 10 + (s[n++] - '0');
	if (!n || is_digit(s[n]))
		return -1;
	*p = s + n;
	return v;
}

/* "CET", or the quoted form "<+0530>", "<-03>": 3 to 15 characters. */
static int posix_name(const char **p, char *out)
{
	const char *s = *p;
	size_t n = 0;

	if (*s == '<') {
		s++;
		while (is_alpha(s[n]) || is_digit(s[n]) || s[n] == '+' || s[n] == '-')
			n++;
		if (s[n] != '>')
			return -1;
		*p = s + n + 1;
	} else {
		while (is_alpha(s[n]))
			n++;
		*p = s + n;
	}
	if (n < 3 || n > TZ_ABBR_MAX)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h, in seconds. */
static int posix_hms(const char **p, int max_h, int32_t *out)
{
	const char *s = *p;
	int sign = 1, h, m = 0, sec = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if ((h = posix_number(&s, 3)) < 0 || h > max_h)
		return -1;
	if (*s == ':') {
		s++;
		if ((m = posix_number(&s, 2)) < 0 || m > 59)
			return -1;
		if (*s == ':') {
			s++;
			if ((sec = posix_number(&s, 2)) < 0 || sec > 59)
				return -1;
		}
	}
	*out = sign * (h * 3600 + m * 60 + sec);
	*p = s;
	return 0;
}

static int posix_date(const char **p, struct tz_rule_date *r)
{
	const char *s = *p;

	if (*s == 'J') {
		s++;
		r->kind = 'J';
		if ((r->n = posix_number(&s, 3)) < 1 || r->n > 365)
			return -1;
	} else if (*s == 'M') {
		s++;
		r->kind = 'M';
		if ((r->m = posix_number(&s, 2)) < 1 || r->m > 12 || *s++ != '.' ||
		    (r->w = posix_number(&s, 1)) < 1 || r->w > 5 || *s++ != '.' ||
		    (r->d = posix_number(&s, 1)) < 0 || r->d > 6)
			return -1;
	} else {
		r->kind = 'N';
		if ((r->n = posix_number(&s, 3)) < 0 || r->n > 365)
			return -1;
	}
	r->secs = 2 * 3600;
	if (*s == '/') {
		s++;
		/* RFC 8536 3.3.1: hours from -167 to 167. */
		if (posix_hms(&s, 167, &r->secs))
			return -1;
	}
	*p = s;
	return 0;
}

/* "std offset [dst [offset] ,start[/time],end[/time]]". An empty string is
 * valid and says nothing (RFC 8536 3.3). Note POSIX's sign: "EST5" is five
 * hours *behind* UTC. */
static int posix_parse(const char *s, struct tz_posix *r)
{
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (!*s)
		return 0;
	if (posix_name(&s, r->std_abbr) || posix_hms(&s, 24, &off))
		return -1;
	r->present = 1;
	r->std = (struct tz_type){-off, 0, r->std_abbr};
	if (!*s)
		return 0;
	if (posix_name(&s, r->dst_abbr))
		return -1;
	r->has_dst = 1;
	r->dst = (struct tz_type){r->std.utoff + 3600, 1, r->dst_abbr};
	if (*s != ',') {
		if (posix_hms(&s, 24, &off))
			return -1;
		r->dst.utoff = -off;
	}
	/* zic always writes the rule; POSIX's implementation-defined default
	 * has no place in a TZif file. */
	if (*s++ != ',' || posix_date(&s, &r->start) || *s++ != ',' || posix_date(&s, &r->end) ||
	    *s)
		return -1;
	return 0;
}

/* The local time (as if UTC) at which rule date r falls in year y. */
static int64_t posix_rule_local(const struct tz_rule_date *r, int64_t y)
{
	int64_t day, first;

	if (r->kind == 'J') /* 1-365, February 29 never counted */
		day = tz_days_from_civil(y, 1, 1) + r->n - 1 + (is_leap(y) && r->n >= 60);
	else if (r->kind == 'N') /* 0-365, February 29 counted */
		day = tz_days_from_civil(y, 1, 1) + r->n;
	else { /* day d of week w (5 = last) of month m */
		first = tz_days_from_civil(y, r->m, 1);
		day = first + floor_mod(r->d - floor_mod(first + 4, 7), 7) + 7 * (r->w - 1);
		while (day >= first + tz_days_in_month(y, r->m))
			day -= 7;
	}
	return day * 86400 + r->secs;
}

struct tz_event {
	int64_t at; /* Unix time */
	int dst; /* DST in effect from then on */
};

/* The rule's changes in years y0 .. y0 + n - 1, sorted. The sort is stable,
 * so when a year's end and the next year's start coincide (DST all year,
 * RFC 8536 3.3.1) the start comes last and wins. */
static void posix_events(const struct tz_posix *r, int64_t y0, int n, struct tz_event *ev)
{
	struct tz_event e;
	int i, j, k = 0;

	for (i = 0; i < n; i++) {
		/* Each change's time is read on the clock in effect before it. */
		ev[k++] = (struct tz_event){posix_rule_local(&r->start, y0 + i) - r->std.utoff, 1};
		ev[k++] = (struct tz_event){posix_rule_local(&r->end, y0 + i) - r->dst.utoff, 0};
	}
	for (i = 1; i < k; i++) {
		e = ev[i];
		for (j = i; j > 0 && ev[j - 1].at > e.at; j--)
			ev[j] = ev[j - 1];
		ev[j] = e;
	}
}

static int64_t posix_year(const struct tz_posix *r, int64_t t)
{
	int64_t y;
	int m, d;

	tz_civil_from_days(floor_div(t + r->std.utoff, 86400), &y, &m, &d);
	return y;
}

static const struct tz_type *posix_type_at(const struct tz_posix *r, int64_t t)
{
	struct tz_event ev[6];
	int i, dst;

	if (!r->has_dst)
		return &r->std;
	posix_events(r, posix_year(r, t) - 1, 3, ev);
	dst = !ev[0].dst;
	for (i = 0; i < 6 && ev[i].at <= t; i++)
		dst = ev[i].dst;
	return dst ? &r->dst : &r->std;
}

static int64_t posix_next_change(const struct tz_posix *r, int64_t t)
{
	struct tz_event ev[8];
	int i;

	if (!r->has_dst)
		return INT64_MAX;
	posix_events(r, posix_year(r, t) - 1, 4, ev);
	for (i = 0; i < 8; i++)
		if (ev[i].at > t)
			return ev[i].at;
	return INT64_MAX;
}

/* ---- lookups ---- */

/* The index of the last transition at or before t; -1 when before all. */
static ptrdiff_t tz_find(const struct tz *z, int64_t t)
{
	size_t lo = 0, hi = z->ntrans;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (z->trans[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

/* RFC 8536 3.2: type 0 before the first transition; the footer, when
 * there is one, from the last transition on (or everywhere when there are
 * none). */
static const struct tz_type *tz_type_at(const struct tz *z, int64_t t)
{
	ptrdiff_t i;

	if (z->rule.present && (!z->ntrans || t >= z->trans[z->ntrans - 1]))
		return posix_type_at(&z->rule, t);
	i = tz_find(z, t);
	return &z->types[i < 0 ? 0 : z->trans_type[i]];
}

/* The first instant after t at which the local time type may change. */
static int64_t tz_next_change(const struct tz *z, int64_t t)
{
	if (z->ntrans && t < z->trans[z->ntrans - 1])
		return z->trans[tz_find(z, t) + 1];
	return z->rule.present ? posix_next_change(&z->rule, t) : INT64_MAX;
}

const char *tz_name(const struct tz *z)
{
	return z->name;
}

int tz_utc_to_local(const struct tz *z, int64_t t, struct tm *out, int32_t *utc_offset)
{
	const struct tz_type *ty;
	int64_t local, days, sod, y;
	int m, d;

	if (t < -TZ_LIMIT || t > TZ_LIMIT)
		return CJ_EINVAL;
	ty = tz_type_at(z, t);
	local = t + ty->utoff;
	days = floor_div(local, 86400);
	sod = local - days * 86400;
	tz_civil_from_days(days, &y, &m, &d);
	memset(out, 0, sizeof(*out));
	out->tm_year = (int)(y - 1900);
	out->tm_mon = m - 1;
	out->tm_mday = d;
	out->tm_hour = (int)(sod / 3600);
	out->tm_min = (int)(sod / 60 % 60);
	out->tm_sec = (int)(sod % 60);
	out->tm_wday = (int)floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */
	out->tm_yday = (int)(days - tz_days_from_civil(y, 1, 1));
	out->tm_isdst = ty->isdst;
#if defined(_GNU_SOURCE) || defined(_DEFAULT_SOURCE)
	out->tm_gmtoff = ty->utoff;
	out->tm_zone = ty->abbr;
#endif
	if (utc_offset)
		*utc_offset = ty->utoff;
	return CJ_OK;
}

/* Walks the offsets in effect from TZ_SPAN before to TZ_SPAN after the wall
 * time: any instant showing that wall time lies in that window. Each span
 * [from, to) of one offset holds at most one of them, wall - offset. */
int tz_map_local(const struct tz *z, int64_t wall, struct tz_mapping *out)
{
	int64_t from = wall - TZ_SPAN, to, at;
	int32_t off, prev_off = 0;
	int have_prev = 0;

	memset(out, 0, sizeof(*out));
	if (wall < -TZ_LIMIT || wall > TZ_LIMIT)
		return CJ_EINVAL;
	while (from <= wall + TZ_SPAN) {
		off = tz_type_at(z, from)->utoff;
		to = tz_next_change(z, from);
		at = wall - off;
		if (at >= from && at < to) {
			if (!out->count++)
				out->earliest = at;
			out->latest = at;
		} else if (have_prev && off > prev_off && wall >= from + prev_off &&
		           wall < from + off) {
			/* The clock jumped from from + prev_off to from + off. */
			out->gap_end = from;
			out->gap_len = off - prev_off;
		}
		prev_off = off;
		have_prev = 1;
		from = to;
	}
	/* The wall clock runs from below wall to above it across the window,
	 * so it either shows wall at some instant or jumps over it. */
	return out->count || out->gap_len ? CJ_OK : CJ_EINTERNAL;
}

int tz_local_to_utc(const struct tz *z, const struct tm *local, enum tz_fold fold, int64_t *out)
{
	int64_t y = (int64_t)local->tm_year + 1900 + floor_div(local->tm_mon, 12);
	int m = (int)floor_mod(local->tm_mon, 12) + 1;
	int64_t wall, days;
	struct tz_mapping map;
	int rc;

	days = tz_days_from_civil(y, m, 1) + local->tm_mday - 1;
	wall = days * 86400 + local->tm_hour * 3600LL + local->tm_min * 60LL + local->tm_sec;
	if ((rc = tz_map_local(z, wall, &map)))
		return rc;
	if (map.count)
		*out = fold == TZ_FOLD_LATER ? map.latest : map.earliest;
	else /* read it on the clock before the jump: it lands after it */
		*out = wall - (tz_type_at(z, map.gap_end)->utoff - map.gap_len);
	return CJ_OK;
}

/* ---- TZif files ---- */

struct tzif_reader {
	const unsigned char *p;
	size_t left;
};

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static const unsigned char *tzif_take(struct tzif_reader *r, size_t n)
{
	const unsigned char *p = r->p;

	if (n > r->left)
		return NULL;
	r->p += n;
	r->left -= n;
	return p;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be_time(const unsigned char *p, size_t size)
{
	if (size == 4)
		return (int32_t)be32(p);
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The 44-byte header: magic, version, six counts. *version is 1, 2, ... */
static const char *tzif_header(struct tzif_reader *r, int *version, struct tzif_counts *c)
{
	const unsigned char *h = tzif_take(r, 44);

	if (!h)
		return "truncated TZif file";
	if (memcmp(h, "TZif", 4))
		return "not a TZif file";
	if (h[4] != 0 && (h[4] < '2' || h[4] > '9'))
		return "unknown TZif version";
	*version = h[4] ? h[4] - '0' : 1;
	c->isut = be32(h + 20);
	c->isstd = be32(h + 24);
	c->leap = be32(h + 28);
	c->time = be32(h + 32);
	c->type = be32(h + 36);
	c->chars = be32(h + 40);
	/* Caps against overflow only: v2+ readers skip the v1 block unchecked. */
	if (c->isut > 256 || c->isstd > 256 || c->leap > TZ_FILE_MAX || c->time > TZ_FILE_MAX ||
	    c->type > 256 || c->chars > TZ_FILE_MAX)
		return "bad counts in TZif header";
	return NULL;
}

/* One data block with times of tsize bytes (4 in v1, 8 after). */
static const char *tzif_block(struct tzif_reader *r, const struct tzif_counts *c, size_t tsize,
                              struct tz *z)
{
	const unsigned char *times, *idx, *info, *chars;
	size_t i;

	if (!c->type || !c->chars || (c->isut && c->isut != c->type) ||
	    (c->isstd && c->isstd != c->type))
		return "bad counts in TZif header";
	if (c->leap)
		return "leap-second zones (\"right/...\") are not supported";
	times = tzif_take(r, c->time * tsize);
	idx = tzif_take(r, c->time);
	info = tzif_take(r, c->type * 6);
	chars = tzif_take(r, c->chars);
	if (!times || !idx || !info || !chars || !tzif_take(r, (size_t)c->isstd + c->isut))
		return "truncated TZif file";
	z->ntrans = c->time;
	z->ntypes = c->type;
	z->trans = calloc(c->time + 1, sizeof(*z->trans));
	z->trans_type = calloc(c->time + 1, 1);
	z->types = calloc(c->type, sizeof(*z->types));
	z->abbrs = calloc(c->chars + 1, 1);
	if (!z->trans || !z->trans_type || !z->types || !z->abbrs)
		return "out of memory";
	memcpy(z->abbrs, chars, c->chars);
	for (i = 0; i < c->time; i++) {
		z->trans[i] = be_time(times + i * tsize, tsize);
		z->trans_type[i] = idx[i];
		if (idx[i] >= c->type || (i && z->trans[i] <= z->trans[i - 1]))
			return "bad transition in TZif file";
	}
	for (i = 0; i < c->type; i++) {
		const unsigned char *t = info + i * 6;
		int32_t off = (int32_t)be32(t);

		if (off <= -TZ_SPAN || off >= TZ_SPAN || t[4] > 1 || t[5] >= c->chars)
			return "bad local time type in TZif file";
		z->types[i] = (struct tz_type){off, t[4], z->abbrs + t[5]};
	}
	return NULL;
}

/* Fills z from a whole file; NULL or what is wrong with it. */
static const char *tzif_parse(const unsigned char *data, size_t len, struct tz *z)
{
	struct tzif_reader r = {data, len};
	struct tzif_counts c;
	const unsigned char *nl;
	char footer[128];
	const char *why;
	int version;

	if (len < 4 || memcmp(data, "TZif", 4))
		return "not a TZif file";
	if ((why = tzif_header(&r, &version, &c)))
		return why;
	if (version == 1)
		return tzif_block(&r, &c, 4, z);
	/* v2+: skip the 32-bit block, read the 64-bit one and the footer. */
	if (!tzif_take(&r,
	               (size_t)c.time * 5 + c.type * 6 + c.chars + (size_t)c.leap * 8 + c.isstd +
	                   c.isut))
		return "truncated TZif file";
	if ((why = tzif_header(&r, &version, &c)) || (why = tzif_block(&r, &c, 8, z)))
		return why;
	if (!r.left || *r.p != '\n')
		return "TZif file has no footer";
	nl = memchr(r.p + 1, '\n', r.left - 1);
	if (!nl || (size_t)(nl - r.p - 1) >= sizeof(footer))
		return "bad TZif footer";
	memcpy(footer, r.p + 1, (size_t)(nl - r.p - 1));
	footer[nl - r.p - 1] = '\0';
	/* Parsed in place: the rule's types point at its own abbreviations. */
	if (posix_parse(footer, &z->rule))
		return "bad TZ rule in TZif footer";
	return NULL;
}

static void tz_free(struct tz *z)
{
	if (!z)
		return;
	free(z->trans);
	free(z->trans_type);
	free(z->types);
	free(z->abbrs);
	free(z);
}

static struct tz *tz_new_utc(const char *name)
{
	struct tz *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	snprintf(z->name, sizeof(z->name), "%s", name);
	z->types = calloc(1, sizeof(*z->types));
	z->abbrs = strdup("UTC");
	if (!z->types || !z->abbrs) {
		tz_free(z);
		return NULL;
	}
	z->ntypes = 1;
	z->types[0] = (struct tz_type){0, 0, z->abbrs};
	return z;
}

/* IANA names: "Europe/Berlin", "Etc/GMT+5", "America/Port-au-Prince". The
 * character set alone keeps the path inside TZDIR: no '.', so no "..". */
static int tz_valid_name(const char *name)
{
	size_t i, n = strlen(name);

	if (!n || n > TZ_NAME_MAX || name[0] == '/')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' && c != '/')
			return 0;
	}
	return 1;
}

static struct tz *tz_load(const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	unsigned char *data = NULL;
	struct tz *z = NULL;
	const char *why;
	struct stat st;
	char path[4096];
	ssize_t got;
	size_t len = 0;
	int fd;

	if (!dir || !*dir)
		dir = TZ_DEFAULT_DIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		cj_errorf(err, errlen, CJ_EINVAL, "time zone \"%s\": TZDIR is too long", name);
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
			cj_errorf(err, errlen, CJ_EINVAL, "time zone \"%s\": cannot open %s: %s",
			          name, path, strerror(errno));
		else
			cj_errorf(err, errlen, CJ_ENOTFOUND,
			          "unknown time zone \"%s\" (no such zone in %s)", name, dir);
		goto fail;
	}
	if (st.st_size > TZ_FILE_MAX || !(data = malloc((size_t)st.st_size + 1))) {
		cj_errorf(err, errlen, CJ_EINVAL, "time zone \"%s\": %s is too large", name, path);
		goto fail;
	}
	while (len < (size_t)st.st_size &&
	       (got = read(fd, data + len, (size_t)st.st_size - len)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			cj_errorf(err, errlen, CJ_EINVAL, "time zone \"%s\": cannot read %s: %s",
			          name, path, strerror(errno));
			goto fail;
		}
		len += (size_t)got;
	}
	if (!(z = calloc(1, sizeof(*z)))) {
		cj_errorf(err, errlen, CJ_ENOMEM, "time zone \"%s\": out of memory", name);
		goto fail;
	}
	snprintf(z->name, sizeof(z->name), "%s", name);
	if ((why = tzif_parse(data, len, z))) {
		cj_errorf(err, errlen, CJ_EINVAL, "time zone \"%s\": %s: %s", name, path, why);
		goto fail;
	}
	free(data);
	close(fd);
	return z;
fail:
	tz_free(z);
	free(data);
	if (fd >= 0)
		close(fd);
	return NULL;
}

const struct tz *tz_get(const char *name, char *err, size_t errlen)
{
	struct tz *z;

	if (!name || !tz_valid_name(name)) {
		cj_errorf(err, errlen, CJ_EINVAL,
		          "time zone \"%.80s\": not an IANA zone name such as \"Europe/Berlin\"",
		          name ? name : "(null)");
		return NULL;
	}
	pthread_mutex_lock(&tz_lock);
	for (z = tz_cache; z; z = z->next)
		if (!strcmp(z->name, name))
			goto out;
	if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")) {
		if (!(z = tz_new_utc(name)))
			cj_errorf(err, errlen, CJ_ENOMEM, "time zone \"%s\": out of memory", name);
	} else {
		z = tz_load(name, err, errlen);
	}
	if (z) {
		z->next = tz_cache;
		tz_cache = z;
	}
out:
	pthread_mutex_unlock(&tz_lock);
	return z;
}

void tz_cache_free(void)
{
	struct tz *z, *next;

	pthread_mutex_lock(&tz_lock);
	for (z = tz_cache; z; z = next) {
		next = z->next;
		tz_free(z);
	}
	tz_cache = NULL;
	pthread_mutex_unlock(&tz_lock);
}
