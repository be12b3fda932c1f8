/*
 * sync_state.h - the sync_state rows the sync jobs read and write (SPEC
 * §12): per user and kind ("contacts", "calendar:{calendarId}") the
 * incremental sync token, what the last sync did, and the adaptive
 * schedule.
 *
 * The schedule belongs to the sync that just ran: sync_state_record()
 * turns its outcome into interval_seconds (busy → shorter, quiet → longer,
 * SYNC_INTERVAL_MIN_S..SYNC_INTERVAL_MAX_S) and next_sync_at.
 * adaptive-sync only reads next_sync_at, enqueues the syncs that are due
 * and moves next_sync_at forward by the current interval, so that it does
 * not enqueue the same sync again before that sync has run; it never
 * changes the interval.
 */
#ifndef CJ_SYNC_STATE_H
#define CJ_SYNC_STATE_H

#include <stdint.h>

#include "cj.h"

/* The bounds of interval_seconds (the schema's CHECK) and a new row's
 * interval (the schema's default). */
#define SYNC_INTERVAL_MIN_S 900
#define SYNC_INTERVAL_MAX_S 86400
#define SYNC_INTERVAL_DEFAULT_S 3600
/* How long a calendar whose push channel is healthy waits between polls:
 * pushes announce its changes, polling is only the safety net. */
#define SYNC_PUSHED_POLL_S 86400

struct store;
struct store_conn;

/* The stored sync token of (user_id, kind) into *token (malloc'd, NULL when
 * none), and the last sync time into *last_sync_at (0 when never). */
int sync_state_read(struct store *s, const char *user_id, const char *kind, char **token,
                    int64_t *last_sync_at, char *err, size_t errlen) CJ_WUR;

/* Records a finished sync inside the caller's transaction c (the sync's
 * final one, so the schedule moves together with the token): the new token
 * (NULL keeps none), its time now, whether it was full, its change count
 * (last_change_count) and, of those, the local rows it removed.
 *
 * The schedule, for a row that exists or is new (a new row starts from
 * SYNC_INTERVAL_DEFAULT_S):
 *   incremental, changes > 0   interval = max(MIN, interval / 2),
 *                              last_changed_at = now
 *   incremental, changes == 0  interval = min(MAX, interval * 2)
 *   full                       interval unchanged: listing everything is
 *                              no evidence of change. last_changed_at = now
 *                              only when removed > 0 - rows stored before
 *                              this run that Google no longer has (callers
 *                              do not count rows they cleared themselves to
 *                              list again); whether listed items changed
 *                              cannot be told on a full sync.
 *   next_sync_at = now + the new interval, except for a kind
 *   "calendar:{id}" whose calendar has a healthy push channel (a
 *   webhook_channels row of this user and calendar, status 'active',
 *   expiration > now, silent_flagged_at NULL): now + SYNC_PUSHED_POLL_S.
 *   interval_seconds keeps its adaptive value either way.
 * Portable SQL; concurrent records of one row serialize on the row. */
int sync_state_record(struct store_conn *c, const char *user_id, const char *kind,
                      const char *token, int64_t now, int full, int64_t changes, int64_t removed,
                      char *err, size_t errlen) CJ_WUR;

#endif
