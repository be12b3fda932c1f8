/*
 * dead_letters.h - the dead_letters table (SPEC §9, §5.3): record a task that
 * failed for good, list them newest first for GET /admin/dead-letters, fetch
 * one and mark it replayed for POST /admin/dead-letters/{id}/replay.
 *
 * Recording never refuses a row for its content: text that is not UTF-8 is
 * repaired and over-long fields are cut, because nothing may be dropped
 * silently. When the row cannot be written (database down), insert logs one
 * ERROR line carrying the whole dead letter, payload included, and returns
 * the store's error. Counting metrics_dead_letter() is the caller's job (it
 * knows whether the type is a real one).
 *
 * JSON returned is exactly §5.3's item shape: {"id", "type", "queue",
 * "taskName", "payload", "attempts", "lastError", "failedAt", "replayedAt"}
 * with payload an object or null, times Unix seconds, replayedAt null until
 * replayed. Returned json_t references and strings belong to the caller.
 *
 * Errors: CJ_EINVAL (limit out of 1..500, a cursor we did not make),
 * CJ_ENOTFOUND, CJ_ENOMEM, and the store's codes. Thread-safe (the store is).
 */
#ifndef CJ_DEAD_LETTERS_H
#define CJ_DEAD_LETTERS_H

#include <jansson.h>
#include <stdint.h>

#include "cj.h"

struct store;

#define DEAD_LETTERS_MAX_LIMIT 500
#define DEAD_LETTER_ID_LEN 32 /* hex characters */

struct dead_letter {
	const char *type; /* job type from the URL (NULL: "unknown") */
	const char *queue; /* X-CloudTasks-QueueName; NULL when unknown */
	const char *task_name; /* short task id; NULL when unknown */
	const json_t *payload; /* the payload object, or NULL (no usable body) */
	int attempts; /* X-CloudTasks-TaskRetryCount + 1 */
	const char *last_error; /* why it failed; NULL allowed */
	int64_t failed_at; /* Unix seconds */
};

/* Records dl under a new random 128-bit hex id, written to id_out (33
 * bytes) when not NULL. */
int dead_letters_insert(struct store *s, const struct dead_letter *dl, char *id_out, char *err,
                        size_t errlen) CJ_WUR;

/* Lists up to limit (1..500) dead letters, newest first (failed_at, then id,
 * descending), of one type when type is not NULL or empty, after cursor
 * (NULL or empty: from the newest). *items receives a JSON array; *next a
 * malloc'd opaque cursor for the following page, or NULL when this page
 * is the last. */
int dead_letters_list(struct store *s, const char *type, long limit, const char *cursor,
                      json_t **items, char **next, char *err, size_t errlen) CJ_WUR;

/* As dead_letters_list(), only those whose failure time is at or after
 * *since and before *until (either NULL: no bound). */
int dead_letters_list_between(struct store *s, const char *type, const int64_t *since,
                              const int64_t *until, long limit, const char *cursor,
                              json_t **items, char **next, char *err, size_t errlen) CJ_WUR;

/* One dead letter as a JSON object. CJ_ENOTFOUND for an unknown id. */
int dead_letters_get(struct store *s, const char *id, json_t **out, char *err,
                     size_t errlen) CJ_WUR;

/* Removes dead letter id (one written ahead of a last attempt that was then
 * answered). CJ_ENOTFOUND for an unknown id. */
int dead_letters_forget(struct store *s, const char *id, char *err, size_t errlen) CJ_WUR;

/* Sets replayedAt (and remembers the new task's name, may be NULL).
 * CJ_ENOTFOUND for an unknown id. */
int dead_letters_mark_replayed(struct store *s, const char *id, int64_t replayed_at,
                               const char *replay_task, char *err, size_t errlen) CJ_WUR;

#endif
