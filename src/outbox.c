/*
 * outbox.c - the once-only message ledger; see outbox.h. Owns the SQL of
 * the outbox table and its state machine (outbox_move()).
 */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"
#include "random.h"
#include "store.h"

static const char *const names[] = {"sending", "sent", "failed"};

#define COLUMNS                                                                                    \
	"id, dedupe_key, user_id, channel, recipient, state, provider_id, error, created_at, "     \
	"sent_at, subject, body"

const char *outbox_state_name(enum outbox_state s)
{
	return (unsigned)s < 3 ? names[s] : "unknown";
}

int outbox_state_parse(const char *name, enum outbox_state *out)
{
	for (int i = 0; name && i < 3; i++) {
		if (!strcmp(name, names[i])) {
			*out = (enum outbox_state)i;
			return CJ_OK;
		}
	}
	return CJ_EINVAL;
}

static json_t *text_or_null(struct store_rows *r, size_t col)
{
	const char *t = store_rows_text(r, col);

	return t ? json_string(t) : json_null();
}

static json_t *int_or_null(struct store_rows *r, size_t col)
{
	return store_rows_is_null(r, col) ? json_null() : json_integer(store_rows_int(r, col));
}

/* The current row (COLUMNS) as §5.3's item. */
static json_t *row_json(struct store_rows *r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
	                 text_or_null(r, 0), "key", text_or_null(r, 1), "userId", text_or_null(r, 2),
	                 "channel", text_or_null(r, 3), "to", text_or_null(r, 4), "state",
	                 text_or_null(r, 5), "providerId", text_or_null(r, 6), "error",
	                 text_or_null(r, 7), "createdAt", int_or_null(r, 8), "sentAt",
	                 int_or_null(r, 9));
}

int outbox_begin(struct store *s, const struct outbox_message *msg, int64_t now, char *id_out,
                 enum outbox_state *existing, char *err, size_t errlen)
{
	struct store_rows *rows = NULL;
	char id[33];
	int rc;

	if (random_hex(id, sizeof(id), 16))
		return cj_errorf(err, errlen, CJ_EINTERNAL, "no randomness for an outbox id");
	{
		struct store_param p[] = {store_p_text(id),          store_p_text(msg->key),
		                          store_p_text(msg->kind),   store_p_text(msg->user_id),
		                          store_p_text(msg->channel), store_p_text(msg->to),
		                          store_p_text(msg->subject), store_p_text(msg->body),
		                          store_p_int(now)};

		rc = store_exec(s,
		                "INSERT INTO outbox (id, dedupe_key, kind, user_id, channel, recipient, "
		                "subject, body, state, created_at, updated_at) VALUES ($1, $2, $3, $4, "
		                "$5, $6, $7, $8, 'sending', $9, $9)",
		                p, 9, NULL, err, errlen);
	}
	if (rc == CJ_OK) {
		memcpy(id_out, id, sizeof(id));
		return CJ_OK;
	}
	if (rc != CJ_EEXISTS)
		return rc;
	/* Seen before: which row, in which state. The insert may have landed
	 * on a connection that then died (the store retries once): that row
	 * is ours, but we cannot know it, so it counts as 'sending' - never
	 * sent twice. */
	{
		struct store_param p[] = {store_p_text(msg->key)};

		rc = store_exec(s, "SELECT id, state FROM outbox WHERE dedupe_key = $1", p, 1, &rows,
		                err, errlen);
	}
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return cj_errorf(err, errlen, CJ_ECONFLICT, "outbox key taken and gone again");
	}
	snprintf(id_out, 33, "%s", store_rows_text(rows, 0));
	if (outbox_state_parse(store_rows_text(rows, 1), existing))
		*existing = OUTBOX_SENDING;
	store_rows_free(rows);
	return CJ_EEXISTS;
}

int outbox_move(struct store *s, const char *id, enum outbox_state from, enum outbox_state to,
                const char *provider_id, const char *error, int64_t now, char *err,
                size_t errlen)
{
	struct store_param p[] = {store_p_text(id),          store_p_text(names[from]),
	                          store_p_text(names[to]),   store_p_text(provider_id),
	                          store_p_text(error),       store_p_int(now)};
	struct store_rows *rows = NULL;
	const char *sql;
	int rc;

	if (from != OUTBOX_SENDING || (unsigned)to > OUTBOX_FAILED)
		return cj_errorf(err, errlen, CJ_EINVAL, "no outbox move from %s to %s",
		                 outbox_state_name(from), outbox_state_name(to));
	if (to == OUTBOX_SENT)
		sql = "UPDATE outbox SET state = $3, provider_id = $4, error = $5, sent_at = $6, "
		      "updated_at = $6 WHERE id = $1 AND state = $2";
	else if (to == OUTBOX_FAILED)
		sql = "UPDATE outbox SET state = $3, provider_id = $4, error = $5, updated_at = $6 "
		      "WHERE id = $1 AND state = $2";
	else /* a resend: still sending, one more attempt */
		sql = "UPDATE outbox SET state = $3, attempts = attempts + 1, provider_id = "
		      "COALESCE($4, provider_id), error = $5, updated_at = $6 WHERE id = $1 AND "
		      "state = $2";
	rc = store_exec(s, sql, p, 6, &rows, err, errlen);
	if (rc)
		return rc;
	if (store_rows_changes(rows) == 1) {
		store_rows_free(rows);
		return CJ_OK;
	}
	store_rows_free(rows);
	{
		struct store_param q[] = {store_p_text(id)};

		rc = store_exec(s, "SELECT state FROM outbox WHERE id = $1", q, 1, &rows, err, errlen);
	}
	if (rc)
		return rc;
	rc = store_rows_next(rows) ? CJ_ECONFLICT : CJ_ENOTFOUND;
	if (rc == CJ_ECONFLICT)
		snprintf(err, errlen, "outbox row %.40s is %s, not %s", id, store_rows_text(rows, 0),
		         names[from]);
	else
		snprintf(err, errlen, "no outbox row %.40s", id);
	store_rows_free(rows);
	return rc;
}

int outbox_forget(struct store *s, const char *id, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *rows = NULL;
	int rc, gone;

	rc = store_exec(s, "DELETE FROM outbox WHERE id = $1 AND state = 'sending'", p, 1, &rows,
	                err, errlen);
	if (rc)
		return rc;
	gone = store_rows_changes(rows) == 1;
	store_rows_free(rows);
	if (gone)
		return CJ_OK;
	rc = store_exec(s, "SELECT state FROM outbox WHERE id = $1", p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	rc = store_rows_next(rows) ? CJ_ECONFLICT : CJ_ENOTFOUND;
	store_rows_free(rows);
	return cj_errorf(err, errlen, rc, rc == CJ_ECONFLICT ? "outbox row %.40s moved on"
	                                                     : "no outbox row %.40s",
	                 id);
}

int outbox_get(struct store *s, const char *id, json_t **item, char **subject, char **body,
               char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *rows = NULL;
	int rc;

	*item = NULL;
	if (subject)
		*subject = NULL;
	if (body)
		*body = NULL;
	rc = store_exec(s, "SELECT " COLUMNS " FROM outbox WHERE id = $1", p, 1, &rows, err,
	                errlen);
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no outbox row %.40s", id);
	}
	*item = row_json(rows);
	if (subject && store_rows_text(rows, 10))
		*subject = strdup(store_rows_text(rows, 10));
	if (body && store_rows_text(rows, 11))
		*body = strdup(store_rows_text(rows, 11));
	store_rows_free(rows);
	if (!*item || (body && !*body)) {
		json_decref(*item);
		*item = NULL;
		if (subject) {
			free(*subject);
			*subject = NULL;
		}
		if (body) {
			free(*body);
			*body = NULL;
		}
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	}
	return CJ_OK;
}

int outbox_list(struct store *s, const enum outbox_state *state, long limit, const char *cursor,
                json_t **items, char **next, char *err, size_t errlen)
{
	struct keyset_query q = {'o', NULL, NULL, {{0}}, 0, row_json};

	if (state) {
		q.sql_first = "SELECT " COLUMNS " FROM outbox WHERE state = $1 ORDER BY id LIMIT $2";
		q.sql_after = "SELECT " COLUMNS " FROM outbox WHERE state = $1 AND id > $2 "
		              "ORDER BY id LIMIT $3";
		q.p[0] = store_p_text(names[*state]);
		q.fixed = 1;
	} else {
		q.sql_first = "SELECT " COLUMNS " FROM outbox ORDER BY id LIMIT $1";
		q.sql_after = "SELECT " COLUMNS " FROM outbox WHERE id > $1 ORDER BY id LIMIT $2";
	}
	return keyset_page(s, &q, limit, cursor, items, next, err, errlen);
}
