/*
 * dispatcher.h - local mode's Cloud Tasks dispatcher (SPEC §5.4): pushes
 * the emulator's due tasks to their targets as Cloud Tasks does, with each
 * queue's rate limits and retry policy, on the business clock (clock.h).
 *
 * Threads. One loop thread claims due tasks (emulator_store.h's CLAIM: a
 * conditional UPDATE, so nothing is taken twice) of RUNNING queues in
 * schedule order, as many as each queue may start now: a token bucket of
 * maxDispatchesPerSecond (burst dispatcher_burst_size(), on real time) and
 * at most maxConcurrentDispatches in flight. Worker threads, created on
 * demand up to DISPATCHER_MAX_WORKERS, run one attempt each at a time
 * (emulator_push.h: the task's request as Cloud Tasks sends it, with the
 * task's dispatchDeadline as its timeout). A 2xx answer completes the task; anything else, or no answer in
 * time, is a failed attempt retried after queues_backoff() counted from its
 * end on the business clock, until maxAttempts, then the task is deleted.
 * The HTTP server's threads never wait for a push.
 *
 * Wake-up. The loop sleeps on a condition variable until the earliest of:
 * the next task of a running queue is due; a token of a queue with due
 * tasks refills; a worker finishes; a task is created or run
 * (dispatcher_task_created(), dispatcher_run_now()); a queue is paused,
 * resumed or purged (dispatcher_queues_changed()); the business clock moves
 * (clock_subscribe()); a tombstone sweep is due; or the dispatcher stops.
 *
 * Shutdown, in serve.c's order: dispatcher_quiesce() before the HTTP server
 * drains, so no new attempt starts while pushes in flight (to this server:
 * they are HTTP requests the drain waits for) finish; dispatcher_stop()
 * after the drain cancels attempts still unanswered, records them as
 * attempts without an answer, joins every thread and frees the dispatcher.
 * A process killed without either leaves its attempts RUNNING in the store,
 * and the next start recovers them the same way (emu_store_recover()).
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef CJ_DISPATCHER_H
#define CJ_DISPATCHER_H

#include <stddef.h>

#include "cj.h"
#include "emulator_push.h"
#include "emulator_store.h"

#define DISPATCHER_MAX_WORKERS 256

struct store;
struct queues;
struct dispatcher;

/* Mints the OIDC token of a push for (audience, email): *token malloc'd.
 * CJ_OK or an error (the push then goes without a token). */
typedef int (*dispatcher_mint_fn)(void *arg, const char *audience, const char *email, char **token);

struct dispatcher_options {
	struct store *store; /* borrowed; outlives the dispatcher */
	const struct queues *queues; /* borrowed; the queues dispatched */
	emu_mint_fn mint; /* NULL: pushes carry no token (emulator_push.h) */
	void *mint_arg;
	int max_workers; /* 0: DISPATCHER_MAX_WORKERS */
};

/* Recovers what a killed process left running (emu_store_recover()) and
 * prepares the dispatcher; nothing is pushed before dispatcher_start().
 * CJ_OK (*out owned by the caller, freed by dispatcher_stop()), store
 * errors, CJ_ENOMEM. */
int dispatcher_new(const struct dispatcher_options *o, struct dispatcher **out, char *err,
                   size_t errlen) CJ_WUR;
/* Starts the loop thread, once the targets can be reached (serve.c: after
 * the HTTP server listens). CJ_OK or CJ_EINTERNAL. */
int dispatcher_start(struct dispatcher *d, char *err, size_t errlen) CJ_WUR;

/* A task of queue due at schedule_time was created. */
void dispatcher_task_created(struct dispatcher *d, const char *queue, double schedule_time);
/* A queue was paused, resumed or purged: re-read the queues' state. */
void dispatcher_queues_changed(struct dispatcher *d);

/* tasks.run: claims the live task named name at once, whatever its
 * schedule, its queue's state and rate limits, and hands it to a worker.
 * *claimed (release it) receives the task as dispatched. A task already in
 * an attempt is returned as it is, without a second push. CJ_OK,
 * CJ_ENOTFOUND (no live task of a dispatched queue), store errors. */
int dispatcher_run_now(struct dispatcher *d, const char *name, struct emu_task *claimed, char *err,
                       size_t errlen) CJ_WUR;

/* No new attempt starts; attempts in flight go on. Idempotent. */
void dispatcher_quiesce(struct dispatcher *d);
/* Quiesces, cancels the attempts still in flight (recorded as attempts
 * without an answer), joins every thread and frees d. NULL is a no-op. */
void dispatcher_stop(struct dispatcher *d);

/* The token bucket's burst for a rate: the rate, at least 1. */
int dispatcher_burst_size(double max_dispatches_per_second);

#endif
