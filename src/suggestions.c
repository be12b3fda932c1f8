/*
 * suggestions.c - suggestion rows and their one state machine; see
 * suggestions.h.
 */
#include "suggestions.h"

#include <stdio.h>
#include <string.h>

#include "keyset.h"
#include "store.h"

static const char *const names[] = {"pending", "notified", "accepted", "expired", "dismissed"};
#define NSTATES 5

/* The states each state may be reached from, as SQL. */
static const char *const from_sql[NSTATES] = {
    [SUGGESTION_PENDING] = NULL, /* only ever inserted */
    [SUGGESTION_NOTIFIED] = "('pending')",
    [SUGGESTION_ACCEPTED] = "('pending', 'notified')",
    [SUGGESTION_EXPIRED] = "('pending', 'notified')",
    [SUGGESTION_DISMISSED] = "('pending', 'notified', 'accepted')",
};

#define COLUMNS "s.id, s.contact_id, c.name, s.slot_start, s.slot_end, s.state, s.created_at"
#define FROM " FROM suggestions s JOIN contacts c ON c.id = s.contact_id "

const char *suggestion_state_name(enum suggestion_state s)
{
	return (unsigned)s < NSTATES ? names[s] : "unknown";
}

int suggestion_state_parse(const char *name, enum suggestion_state *out)
{
	for (int i = 0; name && i < NSTATES; i++) {
		if (!strcmp(name, names[i])) {
			*out = (enum suggestion_state)i;
			return CJ_OK;
		}
	}
	return CJ_EINVAL;
}

static json_t *row_json(struct store_rows *r)
{
	const char *name = store_rows_text(r, 2);

	return json_pack(
	    "{s:s, s:s, s:o, s:I, s:I, s:s, s:I}", "id", store_rows_text(r, 0), "contactId",
	    store_rows_text(r, 1), "contactName", name ? json_string(name) : json_null(), "start",
	    (json_int_t)store_rows_int(r, 3), "end", (json_int_t)store_rows_int(r, 4), "state",
	    store_rows_text(r, 5), "createdAt", (json_int_t)store_rows_int(r, 6));
}

static int get_one(struct store *s, const char *id, json_t **item, char *state, size_t slen,
                   char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_exec(s, "SELECT " COLUMNS FROM "WHERE s.id = $1", p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no suggestion \"%.64s\"", id);
	}
	if (state)
		snprintf(state, slen, "%s", store_rows_text(rows, 5));
	if (item) {
		*item = row_json(rows);
		if (!*item)
			rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	}
	store_rows_free(rows);
	return rc;
}

/* The conditional UPDATE that moves a row to `to`: CJ_EINVAL when no state
 * may move there. */
static int move_sql(enum suggestion_state to, char *sql, size_t len, char *err, size_t errlen)
{
	if ((unsigned)to >= NSTATES || !from_sql[to])
		return cj_errorf(err, errlen, CJ_EINVAL, "no move to %s",
		                 suggestion_state_name(to));
	snprintf(sql, len,
	         "UPDATE suggestions SET state = $2, updated_at = $3%s WHERE id = $1 AND "
	         "state IN %s",
	         to == SUGGESTION_ACCEPTED       ? ", accepted_at = $3"
	             : to == SUGGESTION_NOTIFIED ? ", notified_at = $3"
	                                         : "",
	         from_sql[to]);
	return CJ_OK;
}

int suggestions_move(struct store *s, const char *id, enum suggestion_state to, int64_t now,
                     json_t **item, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id), store_p_text(suggestion_state_name(to)),
	                          store_p_int(now)};
	struct store_rows *rows = NULL;
	char sql[320], state[32] = "";
	int rc;

	if (item)
		*item = NULL;
	if ((rc = move_sql(to, sql, sizeof(sql), err, errlen)))
		return rc;
	rc = store_exec(s, sql, p, 3, &rows, err, errlen);
	if (rc)
		return rc;
	rc = store_rows_changes(rows) == 1 ? CJ_OK : CJ_ECONFLICT;
	store_rows_free(rows);
	if (rc == CJ_OK)
		return item ? get_one(s, id, item, NULL, 0, err, errlen) : CJ_OK;
	rc = get_one(s, id, NULL, state, sizeof(state), err, errlen);
	if (rc)
		return rc;
	return cj_errorf(err, errlen, CJ_ECONFLICT, "suggestion %.64s is %s and cannot become %s",
	                 id, state, suggestion_state_name(to));
}

int suggestions_move_conn(struct store_conn *c, const char *id, enum suggestion_state to,
                          int64_t now, int *moved, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id), store_p_text(suggestion_state_name(to)),
	                          store_p_int(now)};
	struct store_rows *rows = NULL;
	char sql[320];
	int rc;

	*moved = 0;
	if ((rc = move_sql(to, sql, sizeof(sql), err, errlen)))
		return rc;
	rc = store_conn_exec(c, sql, p, 3, &rows, err, errlen);
	if (rc)
		return rc;
	*moved = store_rows_changes(rows) == 1;
	store_rows_free(rows);
	return CJ_OK;
}

int suggestions_list(struct store *s, const char *user_id, const enum suggestion_state *state,
                     long limit, const char *cursor, json_t **items, char **next, char *err,
                     size_t errlen)
{
	struct keyset_query q = {'s', NULL, NULL, {{0}}, 1, row_json};
	struct store_param p[] = {store_p_text(user_id)};
	struct store_rows *rows = NULL;
	int rc, found;

	*items = NULL;
	*next = NULL;
	rc = store_exec(s, "SELECT id FROM users WHERE id = $1", p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	found = store_rows_next(rows);
	store_rows_free(rows);
	if (!found)
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no user \"%.128s\"", user_id);
	q.p[0] = store_p_text(user_id);
	if (state) {
		q.sql_first = "SELECT " COLUMNS FROM "WHERE s.user_id = $1 AND s.state = $2 "
		              "ORDER BY s.id LIMIT $3";
		q.sql_after = "SELECT " COLUMNS FROM "WHERE s.user_id = $1 AND s.state = $2 AND "
		              "s.id > $3 ORDER BY s.id LIMIT $4";
		q.p[1] = store_p_text(suggestion_state_name(*state));
		q.fixed = 2;
	} else {
		q.sql_first = "SELECT " COLUMNS FROM "WHERE s.user_id = $1 ORDER BY s.id LIMIT $2";
		q.sql_after = "SELECT " COLUMNS FROM "WHERE s.user_id = $1 AND s.id > $2 "
		              "ORDER BY s.id LIMIT $3";
	}
	return keyset_page(s, &q, limit, cursor, items, next, err, errlen);
}
