/*
 * recent.h - this instance's job outcomes and dead letters over the last
 * hour, for GET /admin/overview: a ring of 60 one-minute buckets kept beside
 * catchup_jobs_requests_total and catchup_jobs_dead_letters_total (metrics.c
 * feeds both from the same calls), so an operator sees what happened lately
 * without a Prometheus server.
 *
 * Minutes are counted on the monotonic clock, not business time: these are
 * the process's own operational counts, and an advance of local mode's
 * clock must not empty them. A bucket older than the window is reset when
 * its slot comes round again. Counts are per process: Cloud Run's other
 * instances keep their own.
 *
 * Job types are the rows of job_types.h; any other name counts as
 * "unknown" (as in the metrics). Thread-safe (one mutex; an update is an
 * index lookup and an add).
 */
#ifndef CJ_RECENT_H
#define CJ_RECENT_H

#include <stddef.h>
#include <stdint.h>

#define RECENT_WINDOW_S 3600
#define RECENT_BUCKETS 60 /* one per minute of the window */
#define RECENT_MAX_TYPES 16 /* the job types and "unknown" */

/* The outcomes of catchup_jobs_requests_total (SPEC §5.3), in this order. */
enum recent_outcome {
	RECENT_COMPLETED = 0,
	RECENT_DUPLICATE,
	RECENT_IN_PROGRESS,
	RECENT_RETRY,
	RECENT_FAILED,
	RECENT_REJECTED,
	RECENT_NOUTCOMES
};

/* "completed", "duplicate", "in_progress", "retry", "failed", "rejected". */
const char *recent_outcome_name(enum recent_outcome o);

/* One type's counts over the window. type points into static storage. */
struct recent_type {
	const char *type;
	unsigned long n[RECENT_NOUTCOMES];
};

/* The window's totals: only types with a non-zero count, sorted by name. */
struct recent_totals {
	size_t ntypes;
	struct recent_type types[RECENT_MAX_TYPES];
	unsigned long dead_letters;
};

/* A job push answered with outcome (one of the names above; others are
 * ignored). */
void recent_request(const char *type, const char *outcome);
/* A dead letter was written. */
void recent_dead_letter(void);
/* The last RECENT_WINDOW_S seconds (the current minute and the 59 before). */
void recent_totals(struct recent_totals *out);

/* The same at a given minute of the monotonic clock, for tests; and a reset
 * of every bucket. */
void recent_request_at(int64_t minute, const char *type, const char *outcome);
void recent_dead_letter_at(int64_t minute);
void recent_totals_at(int64_t minute, struct recent_totals *out);
void recent_reset(void);

#endif
