/*
 * cron.h - 5-field cron expressions as Cloud Scheduler reads them (the
 * `schedule` of schedules.json, SPEC §10): parsing, with errors that name
 * the field, and matching a broken-down time.
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

#endif
