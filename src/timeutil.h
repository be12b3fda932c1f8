/*
 * timeutil.h - clocks, RFC 3339 times and Google duration strings.
 *
 * Monotonic milliseconds for deadlines and latencies; wall-clock seconds for
 * anything stored or sent. Pure functions, thread-safe.
 */
#ifndef CJ_TIMEUTIL_H
#define CJ_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cj.h"

int64_t time_mono_ms(void); /* monotonic clock, milliseconds */
double time_wall(void); /* Unix time, seconds with fraction */
int64_t time_wall_s(void); /* Unix time, whole seconds */

/* Formats a Unix time as RFC 3339 UTC ("2026-11-22T19:43:00Z", or with
 * ".123456Z" when frac_digits is 3 or 6). Returns out. */
char *time_format_rfc3339(double t, int frac_digits, char *out, size_t outlen);
/* Parses an RFC 3339 date-time ("Z" or "+hh:mm" offset, optional fraction).
 * CJ_OK or CJ_EINVAL. */
int time_parse_rfc3339(const char *s, double *out) CJ_WUR;
/* Parses a Google duration string in seconds ("10s", "0.5s", "600s").
 * CJ_OK or CJ_EINVAL. */
int time_parse_duration(const char *s, double *out) CJ_WUR;

#endif
