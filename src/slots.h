/*
 * slots.h - the free-slot finder behind suggestion-generation and
 * suggestion-regeneration (SPEC §7): the first 30-minute slot in the next 7
 * days that lies inside the user's waking hours and overlaps nothing the
 * user is already busy with. Also parses and formats waking hours
 * ("08:00-21:00").
 *
 * The rule. A candidate slot starts on a step boundary of the wall clock in
 * the user's zone (step 30: :00 and :30 local, counted from local midnight),
 * at or after `now` (a boundary exactly at now counts), and before
 * now + horizon_days * 86400. It lasts slot_min real minutes. It must lie
 * inside the waking hours of its local day: every instant of the slot reads,
 * on the user's clock, a wall time of that day within [waking start, waking
 * end). It must not overlap a busy interval; intervals are half-open
 * [start, end), so a slot that touches an event is free. The answer is the
 * earliest such slot in UTC.
 *
 * Clock changes. Candidates are wall-clock times of each local day, mapped
 * to instants with tz_map_local():
 *   - Spring forward (Berlin 2026-03-29, 02:00 -> 03:00): boundaries in the
 *     gap (02:00, 02:30) do not exist and are skipped, never shifted, so no
 *     instant is offered twice under two names. A slot just before the gap
 *     still lasts 30 real minutes: 01:30 CET runs to the instant the clock
 *     jumps, which the clock reads as 03:00 CEST. It counts as inside
 *     waking hours ending at 02:00 or later, because while it runs the clock
 *     reads 01:30-01:59.
 *   - Fall back (Berlin 2026-10-25, 03:00 -> 02:00): a boundary in the
 *     repeated hour (02:00, 02:30) names two instants, and both are
 *     candidates, taken in UTC order (02:00 CEST, 02:30 CEST, 02:00 CET,
 *     02:30 CET). Each must pass the waking check on its own: 02:30 CEST
 *     (reading 02:30-02:59 CEST) is inside 02:30-05:00, 02:00 CET is not.
 * The waking check assumes at most one change of UTC offset within one
 * slot, which holds for every zone (changes are months apart).
 *
 * Owns nothing; pure, deterministic (same inputs, same slot) and
 * thread-safe. slots_find() allocates a sorted copy of the busy intervals
 * and frees it before returning.
 */
#ifndef CJ_SLOTS_H
#define CJ_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "cj.h"

struct tz;

#define SLOTS_DEFAULT_SLOT_MIN 30
#define SLOTS_DEFAULT_STEP_MIN 30
#define SLOTS_DEFAULT_HORIZON_DAYS 7
#define SLOTS_MAX_HORIZON_DAYS 366

/* "HH:MM-HH:MM" plus the terminating NUL. */
#define SLOTS_WAKING_SIZE 12

/* A half-open interval [start, end) of Unix seconds during which the user is
 * busy: a calendar event that is not cancelled, or another open suggestion.
 * An interval with end <= start blocks nothing. */
struct busy {
	int64_t start, end;
};

/* What a slot must satisfy. A plain value; the zone belongs to tz's cache. */
struct slot_rules {
	const struct tz *zone; /* the user's zone; required */
	/* Waking hours in minutes of the local day: 0 <= start < end <= 1440. */
	int waking_start_min, waking_end_min;
	int slot_min; /* slot length in real minutes, 1-1440 (30) */
	int step_min; /* candidate starts every step_min minutes of the local day, 1-1440 (30) */
	int horizon_days; /* starts before now + horizon_days days, 1-366 (7) */
};

/* Fills *r with the zone, the waking hours and the defaults above. */
void slots_rules_init(struct slot_rules *r, const struct tz *zone, int waking_start_min,
                      int waking_end_min);

/* The first free slot (see the rule above): CJ_OK with *start and *end (end
 * = start + slot_min * 60); CJ_ENOTFOUND when there is none within the
 * horizon (also when the waking hours are shorter than a slot); CJ_EINVAL
 * for rules out of range, a NULL zone, busy NULL with nbusy > 0, or a `now`
 * the zone cannot convert; CJ_ENOMEM. busy may be in any order and its
 * intervals may overlap; it is not modified. *start and *end are written only
 * on CJ_OK. */
int slots_find(const struct slot_rules *r, int64_t now, const struct busy *busy, size_t nbusy,
               int64_t *start, int64_t *end) CJ_WUR;

/* 1 when [start, end) overlaps one of the n busy intervals (touching is not
 * overlapping; an empty slot or interval overlaps nothing), else 0. Linear:
 * for re-checking one pending suggestion against the calendar. */
int slots_overlaps(int64_t start, int64_t end, const struct busy *busy, size_t n);

/* Parses waking hours "HH:MM-HH:MM": exactly two digits each, hours 00-24,
 * minutes 00-59, "24:00" only as the end, start < end (no window across
 * midnight). CJ_OK with the minutes of the day, else CJ_EINVAL and the
 * outputs untouched. */
int slots_parse_waking(const char *s, int *start_min, int *end_min) CJ_WUR;

/* Writes "HH:MM-HH:MM" to out. CJ_EINVAL (and out = "") unless
 * 0 <= start_min < end_min <= 1440. */
int slots_format_waking(int start_min, int end_min, char out[SLOTS_WAKING_SIZE]);

#endif
