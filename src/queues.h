/*
 * queues.h - the queue and schedule configuration (SPEC §10): what
 * CONFIG_DIR/queues.json and CONFIG_DIR/schedules.json say, validated once at
 * start against Cloud Tasks' and Cloud Scheduler's limits and against the
 * job types (job_types.h), then served read-only to the router (deadlines,
 * maxAttempts), the enqueuer (dispatchDeadline), the local emulator
 * (backoff, rate limits, schedules) and the `queues` command (gcloud
 * commands).
 *
 * Ownership: queues_load() and queues_defaults() return a struct queues the
 * caller frees with queues_free(). Every pointer handed out by the lookups
 * (names, payloads, configs) belongs to that struct and lives until it is
 * freed. After construction the struct is immutable: thread-safe.
 */
#ifndef CJ_QUEUES_H
#define CJ_QUEUES_H

#include <jansson.h>
#include <stddef.h>

#include "cj.h"
#include "cron.h"

/* Cloud Tasks' limits (REFERENCE "Cloud Tasks REST API v2"). */
#define QUEUES_MAX_DISPATCHES_PER_SECOND 500
#define QUEUES_MAX_CONCURRENT_DISPATCHES 5000
#define QUEUES_MIN_DEADLINE 15.0 /* seconds, dispatchDeadline and attemptDeadline */
#define QUEUES_MAX_DEADLINE 1800.0

/* One Cloud Tasks queue. Durations are seconds. */
struct queue_config {
	const char *name;
	int max_attempts; /* -1: unlimited */
	double min_backoff;
	double max_backoff;
	int max_doublings;
	double max_dispatches_per_second;
	int max_concurrent_dispatches;
	double dispatch_deadline; /* 15 - 1800 */
};

/* One Cloud Scheduler job. */
struct schedule_config {
	const char *name;
	const char *schedule; /* the cron text as written */
	const char *time_zone;
	const struct tz *zone; /* time_zone loaded (tz.h): the cache owns it */
	const char *job_type;
	const json_t *payload; /* a JSON object, valid against the job's schema */
	double attempt_deadline; /* seconds, 15 - 1800 */
	struct cron_spec cron;
};

struct queues;

/* Reads and validates dir/queues.json and dir/schedules.json. CJ_OK;
 * CJ_ECONFIG with err naming file, entry and field, e.g.
 * `config/queues.json: "token-refresh-queue".retryConfig.maxAttempts: must be
 * an integer >= 1 or -1`; CJ_ENOMEM. On failure *out is NULL. */
int queues_load(const char *dir, struct queues **out, char *err, size_t errlen) CJ_WUR;

/* Every queue a job type names with Cloud Tasks' defaults (maxAttempts
 * 100, backoff 0.1 s - 3600 s, 16 doublings, 500/s, 1000 concurrent) and a
 * 600 s dispatchDeadline; no schedules. For tests and tools that run without
 * config files. NULL on allocation failure. */
struct queues *queues_defaults(void);

void queues_free(struct queues *q);

/* NULL when unknown. */
const struct queue_config *queues_find(const struct queues *q, const char *name);
const struct schedule_config *queues_find_schedule(const struct queues *q, const char *name);

/* Iteration, in file order: i from 0 to count - 1. */
size_t queues_count(const struct queues *q);
const struct queue_config *queues_at(const struct queues *q, size_t i);
size_t queues_schedule_count(const struct queues *q);
const struct schedule_config *queues_schedule_at(const struct queues *q, size_t i);

/* Cloud Tasks' wait before retry k (k >= 1: the first retry is k = 1), in
 * seconds: min(maxBackoff, minBackoff * 2^min(k-1, D) * max(1, k-D)). */
double queues_backoff(const struct queue_config *qc, int k);

/* The queue's retry window in seconds: the backoff waits before retries 1
 * ... maxAttempts - 1 added up (SPEC §8); -1 when maxAttempts is unlimited. */
double queues_retry_window(const struct queue_config *qc);

/* SPEC §8 "no task may be lost to a claim": every queue's retry window must
 * be at least 2 x lease_s, so that a dead holder's claim has expired before
 * the last attempt. CJ_OK, or CJ_ECONFIG with err naming the first queue
 * that breaks it, its window and 2 x lease. */
int queues_check_lease(const struct queues *q, long lease_s, char *err, size_t errlen) CJ_WUR;

#endif
