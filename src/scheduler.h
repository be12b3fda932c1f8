/*
 * scheduler.h - local mode's embedded Cloud Scheduler (SPEC §5.4): fires the
 * schedules of config/schedules.json at CLOUD_RUN_URL/jobs/{jobType} the way
 * Cloud Scheduler does (REFERENCE "Cloud Scheduler → our server"). Never
 * started in cloud mode, where Google's scheduler does this.
 *
 * What a run is: one POST of the schedule's payload with Content-Type
 * application/json, X-CloudScheduler: true, X-CloudScheduler-JobName (the
 * schedule's name), X-CloudScheduler-ScheduleTime (the slot, RFC 3339 UTC),
 * User-Agent Google-Cloud-Scheduler and a bearer token from the local signer
 * (local_keys.h), with attemptDeadline as its timeout (real time). Only a
 * 2xx answer is a success; nothing is retried (Cloud Scheduler's default
 * retryCount is 0). Every run is logged with its schedule, slot, HTTP
 * status and duration.
 *
 * When runs happen: slots come from cron_next() in the schedule's zone on
 * the business clock (clock.h). Every slot the clock passes fires, in order
 * (advancing the clock by a day fires a day of slots as fast as they are
 * answered); a schedule's next run never starts while its previous one is
 * unanswered; schedules run independently of each other. The last answered
 * slot of each schedule is kept in the table schedule_runs, so that after a
 * restart the slots missed while the process was down fire once (the latest
 * of them), not once per slot; a schedule without a row starts from now.
 *
 * An operator may also fire a schedule once, now (scheduler_fire(), POST
 * /admin/schedules/{name}/fire): the same request with the current
 * business time as its X-CloudScheduler-ScheduleTime, taken by a runner
 * like a due slot (so never while the schedule's previous run is
 * unanswered). Its answer is recorded as the schedule's last run, but not
 * as its last slot: the cron slots go on as before.
 *
 * Ownership: scheduler_start() returns a struct the caller frees with
 * scheduler_free(); it borrows everything in its options, which must
 * outlive it. Threads: scheduler_stop() and scheduler_free() are called by
 * the thread that started it (serve.c's main thread); scheduler_fire() may
 * be called from any thread until scheduler_free().
 */
#ifndef CJ_SCHEDULER_H
#define CJ_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "cj.h"

/* At most this many runs are in flight at once (one thread each); with
 * more schedules than that, a due schedule waits for a free runner. */
#define SCHEDULER_MAX_RUNNERS 16

struct queues;
struct store;
struct local_keys;
struct scheduler;

struct scheduler_options {
	const struct queues *queues; /* the schedules */
	struct store *store; /* schedule_runs; NULL: nothing survives a restart */
	const struct local_keys *keys; /* signs the runs' tokens */
	const char *base_url; /* CLOUD_RUN_URL, no trailing slash */
	const char *audience; /* the tokens' aud: the first OIDC_AUDIENCE */
	const char *email; /* the tokens' email: SERVICE_ACCOUNT_EMAIL */
};

/* Reads schedule_runs, decides each schedule's first slot (the latest one
 * missed while the process was down, else the next one), and starts the
 * runner threads (none for an empty schedule list). CJ_OK; CJ_ENOMEM or
 * CJ_EINTERNAL (a thread could not be started) with err saying so. A
 * database that cannot be read is logged and each schedule starts from
 * now. */
int scheduler_start(const struct scheduler_options *o, struct scheduler **out, char *err,
                    size_t errlen) CJ_WUR;

/* Asks for one run of the schedule called name now. *schedule_time gets
 * its X-CloudScheduler-ScheduleTime (Unix seconds, business time); a run
 * asked for earlier that has not started yet is that run. CJ_OK;
 * CJ_ENOTFOUND (no such schedule); CJ_EUNAVAIL (stopping). */
int scheduler_fire(struct scheduler *s, const char *name, int64_t *schedule_time, char *err,
                   size_t errlen) CJ_WUR;

/* The last run of a schedule as schedule_runs keeps it. */
struct scheduler_last_run {
	int fired; /* 0: never fired since it was first seen */
	int64_t at; /* when it went out, business time */
	long status; /* its HTTP status; 0: no answer */
};

/* The last run of every schedule of q, in q's order, into out (an array of
 * queues_schedule_count(q)). CJ_OK or the store's error. */
int scheduler_last_runs(struct store *st, const struct queues *q, struct scheduler_last_run *out,
                        char *err, size_t errlen) CJ_WUR;

/* Starts no new run, cuts off the runs in flight (not recorded: their slots
 * fire again at the next start) and joins the threads; returns within about
 * a second. Idempotent. NULL is a no-op. */
void scheduler_stop(struct scheduler *s);

/* scheduler_stop(), then frees. NULL is a no-op. */
void scheduler_free(struct scheduler *s);

#endif
