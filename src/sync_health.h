/*
 * sync_health.h - every user's sync health, for GET /admin/sync-health:
 * the answer to "why did this user's calendar stop syncing?". Per user its
 * Google account (users.h's google object), its sync_state rows (as GET
 * /admin/users/{id} shows them), its calendar watch channels that are not
 * stopped, and the problems the server finds, by these rules at `now`:
 *
 *   token_revoked    the Google account is revoked (the user must reconnect)
 *   token_error      the last refresh of its token was refused
 *   no_token         the user has no Google account
 * and, for an account that is ok (the others explain everything else):
 *   never_synced     no sync has completed yet: no sync_state row, or a row
 *                    without lastSyncAt
 *   sync_overdue     nextSyncAt is more than one interval in the past
 *   channel_missing  a synced calendar has no active channel (and none that
 *                    expired)
 *   channel_expired  a synced calendar's channels have all run out
 *                    (expired, or active past their expiration)
 *   channel_silent   an active channel is flagged silent (no push for 24 h
 *                    while polling found changes)
 * each code at most once, in this order.
 *
 * Item: {"id", "email", "google": {"status", "expiresAt", "lastError"},
 * "sync": [{"kind", "calendarId", "lastSyncAt", "lastChanges",
 * "intervalSeconds", "nextSyncAt"}], "channels": [{"id", "calendarId",
 * "state", "expiration", "lastMessageAt", "flagged"}], "problems": [codes]}.
 *
 * Paging: users by id, keyset (keyset.h, tag 'h'). With problems_only a
 * page holds the users with problems among those scanned: the scan stops
 * when the page is full or after SYNC_HEALTH_SCAN_MAX users, so a page may
 * be shorter than limit (even empty) while *next continues the scan. Users
 * are read in chunks, each with one query for their sync rows and one for
 * their channels.
 *
 * Returned JSON and strings belong to the caller. Errors: CJ_EINVAL (limit
 * out of 1..500, a cursor we did not make), CJ_ENOMEM, the store's codes.
 * Thread-safe (the store is).
 */
#ifndef CJ_SYNC_HEALTH_H
#define CJ_SYNC_HEALTH_H

#include <jansson.h>
#include <stdint.h>

#include "cj.h"

struct store;

#define SYNC_HEALTH_SCAN_MAX 2000 /* users looked at per page with problems_only */

/* One page of users after cursor (NULL or "": from the first) at business
 * time now. *items receives the JSON array; *next a malloc'd cursor, or
 * NULL when the scan reached the last user. */
int sync_health_page(struct store *s, long limit, const char *cursor, int problems_only,
                     int64_t now, json_t **items, char **next, char *err, size_t errlen) CJ_WUR;

#endif
