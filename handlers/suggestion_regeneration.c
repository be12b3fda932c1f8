/*
 * suggestion_regeneration.c - the suggestion-regeneration job (SPEC §7),
 * enqueued by calendar-sync when the user's events changed: re-checks the
 * user's open suggestions against the calendar.
 *
 *   - pending or notified whose slot has started (slot_start <= now):
 *     expired - it can no longer happen as offered;
 *   - pending that now overlaps an event that is not cancelled: moved to
 *     the first free slot (handlers/suggest.h; the busy list leaves the
 *     suggestion itself out), or expired when none is free. The user has
 *     not seen it yet, so moving it silently is fine;
 *   - notified that overlaps: the user was told that slot, so it is
 *     expired and a new pending suggestion for the same contact takes the
 *     first free slot (expired first: the one-open-per-contact index then
 *     lets the new one in); none free, only expired;
 *   - accepted: left alone, whatever the calendar says - the user agreed.
 * Conflicts are handled in slot order, and each new slot becomes busy for
 * the next. Result {"moved": N, "expired": N, "created": N}. One transaction
 * under the user's row lock, as suggestion-generation, so the two never
 * hand out one slot twice.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "handlers.h"
#include "store.h"
#include "suggest.h"
#include "suggestions.h"

/* One open suggestion; its busy interval is u->busy[nevents + i]. */
struct open_sugg {
	char id[64];
	char contact_id[256];
	int64_t start, end;
	enum suggestion_state state;
};

struct regen {
	const char *user_id;
	int64_t now;
	long moved, expired, created;
	int unusable;
};

static int load_open(struct store_conn *c, struct suggest_user *u, struct open_sugg **out,
                     size_t *n, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(u->id)};
	struct store_rows *rows = NULL;
	struct open_sugg *v;
	size_t i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = store_conn_exec(c,
	                     "SELECT id, contact_id, slot_start, slot_end, state FROM suggestions "
	                     "WHERE user_id = $1 AND state IN ('pending', 'notified', 'accepted') "
	                     "ORDER BY slot_start, id",
	                     p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	v = calloc(store_rows_count(rows) + 1, sizeof(*v));
	rc = v ? CJ_OK : CJ_ENOMEM;
	while (!rc && store_rows_next(rows)) {
		struct open_sugg *s = &v[i++];

		if (store_rows_len(rows, 0) >= sizeof(s->id) ||
		    store_rows_len(rows, 1) >= sizeof(s->contact_id)) {
			rc = CJ_EINTERNAL; /* ids we made are 32 characters */
			break;
		}
		snprintf(s->id, sizeof(s->id), "%s", store_rows_text(rows, 0));
		snprintf(s->contact_id, sizeof(s->contact_id), "%s", store_rows_text(rows, 1));
		s->start = store_rows_int(rows, 2);
		s->end = store_rows_int(rows, 3);
		if (suggestion_state_parse(store_rows_text(rows, 4), &s->state))
			rc = CJ_EINTERNAL;
		if (!rc)
			rc = suggest_busy_add(u, s->start, s->end);
	}
	store_rows_free(rows);
	if (rc) {
		free(v);
		return cj_errorf(err, errlen, rc, "reading open suggestions: %s", cj_strerror(rc));
	}
	*out = v;
	*n = i;
	return CJ_OK;
}

static int expire(struct store_conn *c, struct regen *r, struct open_sugg *s, struct busy *b,
                  char *err, size_t errlen)
{
	int moved, rc;

	rc = suggestions_move_conn(c, s->id, SUGGESTION_EXPIRED, r->now, &moved, err, errlen);
	if (rc)
		return rc;
	r->expired += moved;
	b->end = b->start; /* no longer busy */
	return CJ_OK;
}

static int move_pending(struct store_conn *c, struct regen *r, struct open_sugg *s, int64_t start,
                        int64_t end, struct busy *b, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(s->id), store_p_int(start), store_p_int(end),
	                          store_p_int(r->now)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_conn_exec(
	    c,
	    "UPDATE suggestions SET slot_start = $2, slot_end = $3, updated_at = $4 "
	    "WHERE id = $1 AND state = 'pending'",
	    p, 4, &rows, err, errlen);
	if (rc)
		return rc;
	if (store_rows_changes(rows) == 1) {
		r->moved++;
		*b = (struct busy){start, end};
	}
	store_rows_free(rows);
	return CJ_OK;
}

/* s overlaps an event: move it, or expire it and offer a new one. */
static int resolve(struct store_conn *c, struct suggest_user *u, struct regen *r,
                   struct open_sugg *s, struct busy *b, char *err, size_t errlen)
{
	int64_t start, end;
	int rc, found, inserted;

	b->end = b->start; /* the suggestion does not block itself */
	rc = suggest_find(u, &start, &end);
	if (rc && rc != CJ_ENOTFOUND)
		return cj_errorf(err, errlen, rc, "finding a free slot: %s", cj_strerror(rc));
	found = rc == CJ_OK;
	if (s->state == SUGGESTION_PENDING && found)
		return move_pending(c, r, s, start, end, b, err, errlen);
	if ((rc = expire(c, r, s, b, err, errlen)) || !found || s->state != SUGGESTION_NOTIFIED)
		return rc;
	rc = suggest_insert(c, u, s->contact_id, start, end, &inserted, err, errlen);
	if (rc || !inserted)
		return rc;
	r->created++;
	*b = (struct busy){start, end};
	return CJ_OK;
}

static int regenerate_tx(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct regen *r = arg;
	struct suggest_user u;
	struct open_sugg *open = NULL;
	size_t nopen = 0, nevents = 0, i;
	int rc;

	r->moved = r->expired = r->created = 0;
	rc = suggest_user_lock(c, r->user_id, r->now, &u, err, errlen);
	r->unusable = u.unusable;
	if (!rc)
		rc = suggest_busy_events(c, &u, err, errlen);
	nevents = u.nbusy;
	if (!rc)
		rc = load_open(c, &u, &open, &nopen, err, errlen);
	/* Started ones first, so their time is free for the moves. */
	for (i = 0; !rc && i < nopen; i++) {
		if (open[i].state != SUGGESTION_ACCEPTED && open[i].start <= r->now)
			rc = expire(c, r, &open[i], &u.busy[nevents + i], err, errlen);
	}
	for (i = 0; !rc && i < nopen; i++) {
		struct busy *b = &u.busy[nevents + i];

		if (open[i].state == SUGGESTION_ACCEPTED || open[i].start <= r->now ||
		    !slots_overlaps(open[i].start, open[i].end, u.busy, nevents))
			continue;
		rc = resolve(c, &u, r, &open[i], b, err, errlen);
	}
	free(open);
	suggest_user_release(&u);
	return rc;
}

enum job_outcome handle_suggestion_regeneration(struct job_ctx *ctx)
{
	struct regen r = {
	    .user_id = json_string_value(json_object_get(ctx->payload, "userId")),
	    .now = clock_now_s(),
	};
	char err[512] = "";
	int rc;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	rc = store_transact(ctx->svc->store, regenerate_tx, &r, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		return job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
	if (rc && r.unusable)
		return job_fail(ctx, JOB_PERMANENT, "invalid_user_settings", "%s", err);
	if (rc)
		return job_fail_rc(ctx, rc == CJ_EINVAL ? CJ_EINTERNAL : rc, "database_unavailable",
		                   "regenerating suggestions: %s", err[0] ? err : cj_strerror(rc));
	job_set_result(ctx,
	               json_pack("{s:I, s:I, s:I}", "moved", (json_int_t)r.moved, "expired",
	                         (json_int_t)r.expired, "created", (json_int_t)r.created));
	return JOB_OK;
}
