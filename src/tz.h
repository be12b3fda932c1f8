/*
 * tz.h - IANA time zones ("Europe/Berlin") for a threaded server: the
 * schedules' `timeZone` (SPEC §10) and the users' zones (waking and quiet
 * hours, SPEC §7).
 *
 * Zones are read from the TZif files (RFC 8536, versions 1-4) under $TZDIR
 * or /usr/share/zoneinfo, including the POSIX TZ rule in the file's footer
 * that gives local time after the last listed transition. Nothing here
 * touches the process-wide TZ variable, tzset() or localtime_r(): every
 * conversion takes its zone as an argument, so two threads can work in two
 * zones at once.
 *
 * Ownership and threads: tz_get() returns a pointer into a process-wide
 * cache, guarded by a mutex. A zone is immutable once loaded and stays valid
 * until tz_cache_free(), which the process calls once at exit, after every
 * thread that might hold a zone has stopped. Every other function is pure
 * and thread-safe.
 */
#ifndef CJ_TZ_H
#define CJ_TZ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cj.h"

#define TZ_NAME_MAX 64

struct tz;

/* The zone called name ("Europe/Berlin", "Etc/UTC"), loaded on first use
 * from $TZDIR/name (TZDIR read then; default /usr/share/zoneinfo). "UTC" and
 * "Etc/UTC" are built in and work without any zone files. NULL, with err
 * naming the zone, when the name is not IANA-shaped (1-64 characters of
 * [A-Za-z0-9_+-/], no leading '/', no ".."), when there is no such file, or
 * when the file is not a valid TZif file. The zone belongs to the cache:
 * never free it. Thread-safe. */
const struct tz *tz_get(const char *name, char *err, size_t errlen) CJ_WUR;

/* The name the zone was loaded under. */
const char *tz_name(const struct tz *z);

/* Frees every cached zone; pointers from tz_get() are invalid afterwards.
 * For process exit and tests; no other thread may use a zone meanwhile. */
void tz_cache_free(void);

/* The wall-clock time in zone z at Unix time t: every field of *out
 * including tm_wday, tm_yday, tm_isdst and (glibc) tm_gmtoff and tm_zone,
 * which points into the zone. *utc_offset (may be NULL) gets local minus
 * UTC in seconds. CJ_OK, or CJ_EINVAL when t is beyond +-10^15 s. */
int tz_utc_to_local(const struct tz *z, int64_t t, struct tm *out, int32_t *utc_offset) CJ_WUR;

/* Which instant to pick for a wall-clock time that occurs twice (the hour
 * repeated when clocks go back). */
enum tz_fold {
	TZ_FOLD_EARLIER, /* the first occurrence (the offset before the change) */
	TZ_FOLD_LATER, /* the second occurrence (the offset after the change) */
};

/* The Unix time of a wall-clock time in zone z. Reads tm_year, tm_mon,
 * tm_mday, tm_hour, tm_min and tm_sec, normalised as mktime() does (the
 * 32nd of January is the 1st of February); ignores tm_isdst, tm_wday and
 * tm_yday. A time that occurs twice gives the occurrence fold names. A time
 * that does not exist (in the gap when clocks go forward) is shifted forward
 * by the length of the gap, whatever fold says: 02:30 on the day Berlin
 * moves from 02:00 to 03:00 gives 03:30 CEST, as java.time and most
 * schedulers do. CJ_OK, or CJ_EINVAL for a date beyond +-10^15 s. */
int tz_local_to_utc(const struct tz *z, const struct tm *local, enum tz_fold fold,
                    int64_t *out) CJ_WUR;

/* How one wall-clock time maps to instants: the lower-level answer behind
 * tz_local_to_utc(), for callers (cron) that treat gaps their own way.
 * `wall` is the wall-clock time counted like Unix time, as if the zone were
 * UTC: tz_days_from_civil(y, m, d) * 86400 + seconds into the day. */
struct tz_mapping {
	int count; /* instants with this wall time: 0 in a gap, 2 in an overlap */
	int64_t earliest, latest; /* count >= 1: first and last of them */
	int64_t gap_end; /* count == 0: the instant the clock jumped over it */
	int32_t gap_len; /* count == 0: how far it jumped, seconds */
};
int tz_map_local(const struct tz *z, int64_t wall, struct tz_mapping *out) CJ_WUR;

/* Proleptic Gregorian calendar arithmetic, independent of any zone: days
 * since 1970-01-01 of year y, month m (1-12), day d (1-31; larger or
 * smaller days roll over), and back. Weekday of a day count: (days + 4)
 * mod 7, 0 = Sunday. */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int tz_days_in_month(int64_t y, int m);

#endif
