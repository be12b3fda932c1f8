/*
 * emulator_store.h - the durable state of local mode's embedded Cloud Tasks
 * (SPEC §5.4): the `tasks` table (migration 0001) and `emulator_queues`
 * (0002), on SQLite or PostgreSQL through store.h. Times are business time
 * (clock.h) passed in by the caller, so every rule here can be tested at any
 * "now".
 *
 * A task row moves through the states of enum emu_task_state, and only
 * through emu_store_move() (one conditional UPDATE … WHERE state = … per
 * transition), so two dispatcher threads or two processes sharing a database
 * can never both take one task, and an attempt's outcome is never written
 * onto a task that was deleted, purged or taken again meanwhile:
 *
 *   (create) ──> QUEUED ──claim──> RUNNING ──retry──> QUEUED
 *                  │                  │ 2xx / attempts exhausted
 *                  │ delete           ├─────────────> DONE
 *                  └────> DELETED <───┘ delete
 *
 * DONE and DELETED rows are name tombstones: the name is refused (409) for
 * EMU_TOMBSTONE_S after completed_at/deleted_at, as Cloud Tasks does, then
 * swept. `:purge` deletes every row of a queue, tombstones included.
 *
 * Recovery: local mode runs one instance per database, so a RUNNING row found
 * at start belongs to a process that died mid-attempt (kill -9): it counts as
 * an attempt without an answer and is rescheduled after its queue's backoff
 * counted from the restart (emu_store_recover()).
 *
 * Ownership: struct emu_task members are malloc'd and freed by
 * emu_task_release(); arrays from the list and claim calls by
 * emu_tasks_free(). Thread-safe as struct store is.
 */
#ifndef CJ_EMULATOR_STORE_H
#define CJ_EMULATOR_STORE_H

#include <stddef.h>

#include "cj.h"

struct store;
struct queues;

/* How long a completed or deleted task's name stays reserved. */
#define EMU_TOMBSTONE_S 3600.0

enum emu_task_state { EMU_QUEUED = 0, EMU_RUNNING, EMU_DONE, EMU_DELETED };

/* One row of `tasks`. */
struct emu_task {
	char *name; /* projects/P/locations/L/queues/Q/tasks/ID */
	char *queue; /* short queue id */
	char *id; /* short task id */
	char *url;
	char *method; /* "POST", "GET", … */
	char *headers; /* JSON object text */
	char *body_b64; /* NULL: no body (or not read: BASIC view) */
	char *oidc_email; /* NULL: no oidcToken */
	char *oidc_audience; /* NULL: the URL */
	double schedule_time;
	double create_time;
	double dispatch_deadline; /* seconds */
	int dispatch_count; /* attempts dispatched */
	int response_count; /* attempts that got an answer */
	char *first_attempt; /* Attempt JSON, or NULL */
	char *last_attempt; /* Attempt JSON, or NULL */
	int last_status; /* HTTP status of the last attempt; 0: it got no answer */
	char *retry_reason; /* why the last attempt failed, or NULL */
	enum emu_task_state state;
};

void emu_task_release(struct emu_task *t);
/* A deep copy of src into *dst (release it). CJ_OK or CJ_ENOMEM (nothing to
 * release). */
int emu_task_copy(struct emu_task *dst, const struct emu_task *src) CJ_WUR;
/* Releases n tasks and frees the array. NULL is a no-op. */
void emu_tasks_free(struct emu_task *v, size_t n);

/* One attempt as Cloud Tasks' API shows it; a zero time is left out. */
struct emu_attempt {
	double schedule_time;
	double dispatch_time;
	double response_time;
	int has_status;
	int code; /* google.rpc.Code */
	const char *message;
};

/* The Attempt JSON {scheduleTime, dispatchTime, responseTime, responseStatus
 * {code, message}} (malloc'd), or NULL on ENOMEM. */
char *emu_attempt_json(const struct emu_attempt *a);

/* Creates the task (state QUEUED; every emu_task member but the counters,
 * attempts and state is taken from t). CJ_OK; CJ_EEXISTS when the name is
 * held by a live task or by a tombstone younger than EMU_TOMBSTONE_S at now
 * (*tombstone tells which; may be NULL); store errors. */
int emu_store_create(struct store *s, const struct emu_task *t, double now, int *tombstone,
                     char *err, size_t errlen) CJ_WUR;

/* The live (QUEUED or RUNNING) task named name, into *out (release it);
 * with_body: also read body_b64. CJ_OK, CJ_ENOTFOUND, store errors. */
int emu_store_get(struct store *s, const char *name, int with_body, struct emu_task *out, char *err,
                  size_t errlen) CJ_WUR;

/* Live tasks of queue with names after `after` ("" or NULL: from the start),
 * in name order, at most limit. *out (emu_tasks_free()) and *n. */
int emu_store_list(struct store *s, const char *queue, const char *after, size_t limit,
                   int with_body, struct emu_task **out, size_t *n, char *err,
                   size_t errlen) CJ_WUR;

/* Where a page of emu_store_list_by_time() starts: after the task with
 * this schedule time and short id. */
struct emu_list_after {
	double schedule_time;
	const char *id;
};

/* Live tasks of queue in dispatch order (schedule_time, then short task
 * id), after `after` (NULL: from the start), at most limit; for the
 * operator console. Bodies are read up to max_body base64 characters (a
 * longer one reads as NULL; 0: none), so a page stays small whatever the
 * tasks carry. *out (emu_tasks_free()) and *n. */
int emu_store_list_by_time(struct store *s, const char *queue, const struct emu_list_after *after,
                           size_t limit, size_t max_body, struct emu_task **out, size_t *n,
                           char *err, size_t errlen) CJ_WUR;

/* How many live tasks queue holds (*depth: queued and running) and how
 * many of them are in an attempt (*in_flight). */
int emu_store_queue_counts(struct store *s, const char *queue, long *depth, long *in_flight,
                           char *err, size_t errlen) CJ_WUR;

/* The transitions of a task row (see the diagram above). */
enum emu_move {
	EMU_MOVE_CLAIM, /* QUEUED -> RUNNING: an attempt starts */
	EMU_MOVE_RETRY, /* RUNNING -> QUEUED: the attempt failed, retry later */
	EMU_MOVE_COMPLETE, /* RUNNING -> DONE: 2xx, or attempts exhausted */
	EMU_MOVE_DELETE_QUEUED, /* QUEUED -> DELETED: tasks.delete */
	EMU_MOVE_DELETE_RUNNING, /* RUNNING -> DELETED: tasks.delete mid-attempt */
};

/* What a transition writes; each move reads only its own members. */
struct emu_move_args {
	const char *name;
	double now;
	/* CLAIM */
	int due_only; /* only when schedule_time <= now (the dispatcher; :run is not) */
	const char *first_attempt; /* kept when one is already set */
	const char *last_attempt;
	/* RETRY and COMPLETE: the attempt being ended, named by what the claim
	 * returned, so a task deleted or re-created meanwhile is left alone */
	int dispatch_count;
	double create_time;
	int answered; /* the target answered (counts in response_count) */
	int status; /* its HTTP status */
	const char *retry_reason;
	double schedule_time; /* RETRY: the next attempt */
};

/* Runs one transition as a single conditional UPDATE. CJ_OK (moved; with
 * claimed not NULL, a CLAIM fills it with the whole row, body included),
 * CJ_ENOTFOUND (the row is not in the move's source state: someone else
 * moved it, or it does not exist), store errors. */
int emu_store_move(struct store *s, enum emu_move move, const struct emu_move_args *a,
                   struct emu_task *claimed, char *err, size_t errlen) CJ_WUR;

/* tasks.delete: the live task named name becomes a tombstone, whether it
 * is queued or in an attempt (the attempt's outcome is then dropped).
 * CJ_OK, CJ_ENOTFOUND (no live task of that name), store errors. */
int emu_store_delete(struct store *s, const char *name, double now, char *err,
                     size_t errlen) CJ_WUR;

/* A task due for dispatch: its name and schedule_time. */
struct emu_due {
	char *name;
	double schedule_time;
};

/* Up to limit QUEUED tasks of queue due at now (schedule_time <= now),
 * earliest first: the candidates of the dispatcher's claims. *due is an
 * array of n (emu_due_free()). */
int emu_store_due(struct store *s, const char *queue, double now, size_t limit,
                  struct emu_due **due, size_t *n, char *err, size_t errlen) CJ_WUR;
void emu_due_free(struct emu_due *due, size_t n);

/* The earliest schedule_time of queue's QUEUED tasks; *found 0 when none. */
int emu_store_next_due(struct store *s, const char *queue, double *when, int *found, char *err,
                       size_t errlen) CJ_WUR;

/* Deletes tombstones older than EMU_TOMBSTONE_S at now; *n (may be NULL)
 * receives how many. */
int emu_store_sweep(struct store *s, double now, long *n, char *err, size_t errlen) CJ_WUR;

/* Recovery at start: every RUNNING row counts as an attempt without an
 * answer (UNAVAILABLE) and moves to QUEUED at now + its queue's backoff for
 * the next retry, or to DONE when that was its last attempt (maxAttempts of
 * queues; a queue missing from q keeps its tasks QUEUED at now). *requeued
 * and *ended (may be NULL) count them. */
int emu_store_recover(struct store *s, const struct queues *q, double now, int *requeued,
                      int *ended, char *err, size_t errlen) CJ_WUR;

/* Queue state (emulator_queues): a queue without a row is RUNNING and was
 * never purged (*purge_time 0). */
int emu_store_queue_get(struct store *s, const char *queue, int *paused, double *purge_time,
                        char *err, size_t errlen) CJ_WUR;
int emu_store_queue_set_paused(struct store *s, const char *queue, int paused, char *err,
                               size_t errlen) CJ_WUR;
/* Deletes every task of queue (live ones and tombstones) and records
 * purge_time = now, in one transaction. *n (may be NULL) gets the count. */
int emu_store_purge(struct store *s, const char *queue, double now, long *n, char *err,
                    size_t errlen) CJ_WUR;

#endif
