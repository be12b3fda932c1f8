/*
 * sync_state.h - the sync_state rows the sync jobs read and write (SPEC
 * §12): per user and kind ("contacts", "calendar:{calendarId}") the
 * incremental sync token and what the last sync did. adaptive-sync owns
 * the interval and next_sync_at columns; the sync jobs never touch them.
 */
#ifndef CJ_SYNC_STATE_H
#define CJ_SYNC_STATE_H

#include <stdint.h>

#include "cj.h"

struct store;
struct store_conn;

/* The stored sync token of (user_id, kind) into *token (malloc'd, NULL when
 * none), and the last sync time into *last_sync_at (0 when never). */
int sync_state_read(struct store *s, const char *user_id, const char *kind, char **token,
                    int64_t *last_sync_at, char *err, size_t errlen) CJ_WUR;

/* Records a finished sync inside the caller's transaction: the new token
 * (NULL keeps none), its time, whether it was full, and its change count. */
int sync_state_record(struct store_conn *c, const char *user_id, const char *kind,
                      const char *token, int64_t now, int full, int64_t changes, char *err,
                      size_t errlen) CJ_WUR;

#endif
