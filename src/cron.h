/*
 * cron.h - 5-field cron expressions as Cloud Scheduler reads them (the
 * `schedule` of schedules.json, SPEC §10): parsing, with errors that name
 * the field, matching a broken-down time, and the next firing time in a
 * time zone (cron_next()).
 *
 * The syntax: minute (0-59), hour (0-23), day of month (1-31), month (1-12
 * or JAN-DEC), day of week (0-7 or SUN-SAT, 0 and 7 both Sunday); each field
 * "*", "*\/n", "a", "a-b", "a-b/n" or a comma list of them; names in any
 * case. As in cron, when both day fields are restricted a day matches when
 * either one does; when one of them is "*", both must.
 *
 * Owns nothing: a struct cron_spec is a plain value. Thread-safe.
 */
#ifndef CJ_CRON_H
#define CJ_CRON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cj.h"

/* A parsed expression: one bit per allowed value. */
struct cron_spec {
	uint64_t minutes; /* bits 0-59 */
	uint32_t hours; /* bits 0-23 */
	uint32_t mdays; /* bits 1-31 */
	uint16_t months; /* bits 1-12 */
	uint8_t wdays; /* bits 0-6, 0 = Sunday (7 is folded into 0) */
	int mday_any; /* day-of-month field was "*" (or "*" with a step of 1) */
	int wday_any; /* day-of-week field was "*" */
};

/* Parses text into *out. CJ_OK, or CJ_EINVAL with err naming the field
 * ("day of week field \"8\": expected ..."; "must have 5 fields (...): the
 * month field is missing"). */
int cron_parse(const char *text, struct cron_spec *out, char *err, size_t errlen) CJ_WUR;

/* 1 when the broken-down time matches (tm_min, tm_hour, tm_mday, tm_mon,
 * tm_wday are read; the caller chose the time zone), else 0. */
int cron_matches(const struct cron_spec *c, const struct tm *tm);

/* ---- when a schedule fires ---- */

struct tz;

/* Years cron_next() looks ahead: a February 29 is at most 8 years away
 * (2096 -> 2104). */
#define CRON_SEARCH_YEARS 8

/* *next = the first instant strictly after `after` (Unix seconds) at which
 * the schedule fires on the wall clock of zone (tz.h; NULL: UTC), at whole
 * minutes of that clock. Daylight saving time, as Cloud Scheduler's wall
 * clock has it:
 *  - a slot the clock skips (02:30 when 02:00 jumps to 03:00) fires once,
 *    at the first minute after the jump (03:00), together with any other
 *    skipped slot of that jump and with a 03:00 slot of its own;
 *  - a slot the clock shows twice (01:30 when 02:00 goes back to 01:00)
 *    fires once, at its first occurrence.
 * So every slot fires exactly once and in order. CJ_OK; CJ_ENOTFOUND when
 * nothing matches within CRON_SEARCH_YEARS ("0 0 31 2 *"); CJ_EINVAL for an
 * empty spec or a time beyond tz.h's range; CJ_ENOMEM. Thread-safe. */
int cron_next(const struct cron_spec *c, const struct tz *zone, int64_t after,
              int64_t *next) CJ_WUR;

#endif
