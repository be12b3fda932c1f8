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

int sync_state_record(struct store_conn *c, const char *user_id, const char *kind,
                      const char *token, int64_t now, int full, int64_t changes, char *err,
                      size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_text(kind), store_p_text(token),
	                          store_p_int(now),
	                          full ? store_p_int(now) : store_p_null(),
	                          store_p_int(changes)};

	return store_conn_exec(
	    c,
	    "INSERT INTO sync_state (user_id, kind, sync_token, last_sync_at, last_full_sync_at, "
	    "last_change_count, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $4) "
	    "ON CONFLICT (user_id, kind) DO UPDATE SET sync_token = excluded.sync_token, "
	    "last_sync_at = excluded.last_sync_at, "
	    "last_full_sync_at = COALESCE(excluded.last_full_sync_at, sync_state.last_full_sync_at), "
	    "last_change_count = excluded.last_change_count, last_error = NULL, "
	    "updated_at = excluded.updated_at",
	    p, 6, NULL, err, errlen);
}
