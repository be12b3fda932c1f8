/*
 * suggest.c - the user, busy list and insert the suggestion jobs share; see
 * suggest.h.
 */
#include "suggest.h"

#include <stdlib.h>

#include "random.h"
#include "store.h"
#include "tz.h"

#define DAY_S 86400

int suggest_user_lock(struct store_conn *c, const char *id, int64_t now, struct suggest_user *u,
                      char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *rows = NULL;
	char why[256];
	int rc, ws, we;

	*u = (struct suggest_user){.id = id, .now = now};
	/* A write that changes nothing: the portable row lock (PostgreSQL
	 * locks the row; SQLite's BEGIN IMMEDIATE already holds the database). */
	rc = store_conn_exec(c, "UPDATE users SET updated_at = updated_at WHERE id = $1", p, 1,
	                     &rows, err, errlen);
	if (rc)
		return rc;
	rc = store_rows_changes(rows) == 1 ? CJ_OK : CJ_ENOTFOUND;
	store_rows_free(rows);
	if (rc)
		return cj_errorf(err, errlen, rc, "no user \"%.128s\"", id);
	rc = store_conn_exec(c,
	                     "SELECT timezone, waking_start_minute, waking_end_minute FROM users "
	                     "WHERE id = $1",
	                     p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no user \"%.128s\"", id);
	}
	u->zone = tz_get(store_rows_text(rows, 0), why, sizeof(why));
	ws = (int)store_rows_int(rows, 1);
	we = (int)store_rows_int(rows, 2);
	store_rows_free(rows);
	if (!u->zone) {
		u->unusable = 1;
		return cj_errorf(err, errlen, CJ_EINVAL, "timezone: %s", why);
	}
	if (ws < 0 || ws >= we || we > 1440) {
		u->unusable = 1;
		return cj_errorf(err, errlen, CJ_EINVAL, "waking hours: start must be before end");
	}
	slots_rules_init(&u->rules, u->zone, ws, we);
	return CJ_OK;
}

void suggest_user_release(struct suggest_user *u)
{
	free(u->busy);
	u->busy = NULL;
	u->nbusy = u->cap = 0;
}

int suggest_busy_add(struct suggest_user *u, int64_t start, int64_t end)
{
	if (u->nbusy == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 32;
		struct busy *b = realloc(u->busy, cap * sizeof(*b));

		if (!b)
			return CJ_ENOMEM;
		u->busy = b;
		u->cap = cap;
	}
	u->busy[u->nbusy++] = (struct busy){start, end};
	return CJ_OK;
}

int suggest_busy_events(struct store_conn *c, struct suggest_user *u, char *err, size_t errlen)
{
	int64_t horizon = u->now + (int64_t)u->rules.horizon_days * DAY_S + u->rules.slot_min * 60;
	struct store_param p[] = {store_p_text(u->id), store_p_int(u->now), store_p_int(horizon)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_conn_exec(c,
	                     "SELECT start_at, end_at FROM calendar_events WHERE user_id = $1 AND "
	                     "status <> 'cancelled' AND end_at > $2 AND start_at < $3",
	                     p, 3, &rows, err, errlen);
	if (rc)
		return rc;
	while (!rc && store_rows_next(rows))
		rc = suggest_busy_add(u, store_rows_int(rows, 0), store_rows_int(rows, 1));
	store_rows_free(rows);
	return rc ? cj_errorf(err, errlen, rc, "out of memory") : CJ_OK;
}

int suggest_find(const struct suggest_user *u, int64_t *start, int64_t *end)
{
	return slots_find(&u->rules, u->now, u->busy, u->nbusy, start, end);
}

int suggest_insert(struct store_conn *c, const struct suggest_user *u, const char *contact_id,
                   int64_t start, int64_t end, int *inserted, char *err, size_t errlen)
{
	struct store_rows *rows = NULL;
	char id[33];
	int rc;

	*inserted = 0;
	if ((rc = random_hex(id, sizeof(id), 16)))
		return cj_errorf(err, errlen, rc, "no random id");
	{
		struct store_param p[] = {store_p_text(id),         store_p_text(u->id),
		                          store_p_text(contact_id), store_p_int(start),
		                          store_p_int(end),         store_p_int(u->now)};

		/* DO NOTHING rather than a unique violation, which would doom the
		 * transaction on both backends. */
		rc = store_conn_exec(
		    c,
		    "INSERT INTO suggestions (id, user_id, contact_id, slot_start, "
		    "slot_end, state, created_at, updated_at) VALUES ($1, $2, $3, $4, "
		    "$5, 'pending', $6, $6) ON CONFLICT DO NOTHING",
		    p, 6, &rows, err, errlen);
	}
	if (rc)
		return rc;
	*inserted = store_rows_changes(rows) == 1;
	store_rows_free(rows);
	return CJ_OK;
}
