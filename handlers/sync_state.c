/*
 * sync_state.c - reading and recording sync_state rows; see sync_state.h.
 */
#include "sync_state.h"

#include <stdlib.h>
#include <string.h>

#include "store.h"

int sync_state_read(struct store *s, const char *user_id, const char *kind, char **token,
                    int64_t *last_sync_at, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_text(kind)};
	struct store_rows *rows = NULL;
	int rc;

	*token = NULL;
	*last_sync_at = 0;
	rc = store_exec(s,
	                "SELECT sync_token, COALESCE(last_sync_at, 0) FROM sync_state "
	                "WHERE user_id = $1 AND kind = $2",
	                p, 2, &rows, err, errlen);
	if (rc)
		return rc;
	if (store_rows_next(rows)) {
		const char *t = store_rows_text(rows, 0);

		*last_sync_at = store_rows_int(rows, 1);
		if (t && t[0]) {
			*token = strdup(t);
			if (!*token)
				rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
		}
	}
	store_rows_free(rows);
	return rc;
}

/* The interval after this sync ($6 changes, $8 full, $9 and $10 the
 * bounds), from the row's current one: written once, used for
 * interval_seconds and next_sync_at, which in one UPDATE both read the old
 * value. */
#define NEW_INTERVAL                                                                               \
	"CASE WHEN $8 <> 0 THEN interval_seconds "                                                 \
	"WHEN $6 > 0 THEN CASE WHEN interval_seconds / 2 < $9 THEN $9 "                            \
	"ELSE interval_seconds / 2 END "                                                           \
	"WHEN interval_seconds * 2 > $10 THEN $10 ELSE interval_seconds * 2 END"

/* A push channel that Google confirmed, still running and not found silent
 * ($1 user, $11 calendar id or NULL, $4 now). */
#define HEALTHY_CHANNEL                                                                            \
	"EXISTS (SELECT 1 FROM webhook_channels w WHERE w.user_id = $1 AND "                       \
	"w.calendar_id = $11 AND w.status = 'active' AND w.expiration > $4 AND "                   \
	"w.silent_flagged_at IS NULL)"

int sync_state_record(struct store_conn *c, const char *user_id, const char *kind,
                      const char *token, int64_t now, int full, int64_t changes, int64_t removed,
                      char *err, size_t errlen)
{
	int changed = full ? removed > 0 : changes > 0;
	const char *calendar = strncmp(kind, "calendar:", 9) ? NULL : kind + 9;
	struct store_param ins[] = {store_p_text(user_id), store_p_text(kind),
	                            store_p_int(SYNC_INTERVAL_DEFAULT_S), store_p_int(now)};
	struct store_param p[] = {
	    store_p_text(user_id),
	    store_p_text(kind),
	    store_p_text(token),
	    store_p_int(now),
	    full ? store_p_int(now) : store_p_null(),
	    store_p_int(changes),
	    changed ? store_p_int(now) : store_p_null(),
	    store_p_int(full != 0),
	    store_p_int(SYNC_INTERVAL_MIN_S),
	    store_p_int(SYNC_INTERVAL_MAX_S),
	    store_p_text(calendar),
	    store_p_int(SYNC_PUSHED_POLL_S),
	};
	int rc;

	/* A first sync makes the row with the default interval, so that the
	 * one UPDATE below applies the rule to new and old rows alike. */
	rc = store_conn_exec(c,
	                     "INSERT INTO sync_state (user_id, kind, interval_seconds, updated_at) "
	                     "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind) DO NOTHING",
	                     ins, 4, NULL, err, errlen);
	if (rc)
		return rc;
	return store_conn_exec(
	    c,
	    "UPDATE sync_state SET sync_token = $3, last_sync_at = $4, "
	    "last_full_sync_at = COALESCE($5, last_full_sync_at), last_change_count = $6, "
	    "last_changed_at = COALESCE($7, last_changed_at), last_error = NULL, "
	    "interval_seconds = " NEW_INTERVAL ", "
	    "next_sync_at = CASE WHEN " HEALTHY_CHANNEL " THEN $4 + $12 "
	    "ELSE $4 + (" NEW_INTERVAL ") END, "
	    "updated_at = $4 WHERE user_id = $1 AND kind = $2",
	    p, 12, NULL, err, errlen);
}
