/*
 * dead_letters.c - data access for dead letters; see dead_letters.h.
 *
 * Owns the SQL for the dead_letters table and the cursor format
 * (base64url of "failed_at:id", keyset pagination on (failed_at, id)
 * descending, which the dead_letters_failed and dead_letters_type_failed
 * indexes serve). Never drops a dead letter without logging it whole.
 */
#include "dead_letters.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "log.h"
#include "random.h"
#include "store.h"
#include "utf8.h"

#define MAX_TYPE 128
#define MAX_QUEUE 128
#define MAX_TASK 500
#define MAX_ERROR 2000

static const char *const COLUMNS = "id, type, queue, task_name, payload, attempts, last_error, "
                                   "failed_at, replayed_at";

/* A copy of s that the store accepts: invalid UTF-8 bytes become '?', and
 * it is cut (at a character boundary) to at most max bytes. NULL stays
 * NULL; *oom is set when the copy cannot be made. */
static char *clean_text(const char *s, size_t max, int *oom)
{
	size_t n, i = 0, o = 0;
	char *out;

	if (!s)
		return NULL;
	n = strlen(s);
	out = malloc((n < max ? n : max) + 1);
	if (!out) {
		*oom = 1;
		return NULL;
	}
	while (i < n) {
		size_t len = utf8_char_len(s + i, n - i);

		if (o + (len ? len : 1) > max)
			break;
		if (len) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* The current row (COLUMNS order) as §5.3's JSON object. */
static json_t *row_json(struct store_rows *r)
{
	json_t *o = json_object(), *payload = json_null();
	const char *text = store_rows_text(r, 4);

	if (!o)
		return NULL;
	if (text) {
		json_t *p = json_loads(text, JSON_REJECT_DUPLICATES, NULL);

		if (json_is_object(p)) {
			json_decref(payload);
			payload = p;
		} else {
			json_decref(p);
		}
	}
	if (json_object_set_new(o, "id", str_or_null(store_rows_text(r, 0))) ||
	    json_object_set_new(o, "type", str_or_null(store_rows_text(r, 1))) ||
	    json_object_set_new(o, "queue", str_or_null(store_rows_text(r, 2))) ||
	    json_object_set_new(o, "taskName", str_or_null(store_rows_text(r, 3))) ||
	    json_object_set_new(o, "payload", payload) ||
	    json_object_set_new(o, "attempts", json_integer(store_rows_int(r, 5))) ||
	    json_object_set_new(o, "lastError", str_or_null(store_rows_text(r, 6))) ||
	    json_object_set_new(o, "failedAt", json_integer(store_rows_int(r, 7))) ||
	    json_object_set_new(o, "replayedAt",
	                        store_rows_is_null(r, 8) ? json_null()
	                                                 : json_integer(store_rows_int(r, 8)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* 1 for an id we could have made: 32 lowercase hex digits. */
static int id_valid(const char *id)
{
	return id && strlen(id) == DEAD_LETTER_ID_LEN &&
	    strspn(id, "0123456789abcdef") == DEAD_LETTER_ID_LEN;
}

/* The ERROR line that stands in for a row the database did not take. The
 * strings are the cleaned ones, so the line is valid JSON. */
static void log_lost(const struct dead_letter *dl, const char *type, const char *queue,
                     const char *task, const char *last, const char *why)
{
	json_t *f =
	    json_pack("{s:{s:s?,s:s?,s:s?,s:O?,s:i,s:s?,s:I}}", "deadLetter", "type", type, "queue",
	              queue, "taskName", task, "payload", (json_t *)dl->payload, "attempts",
	              dl->attempts, "lastError", last, "failedAt", (json_int_t)dl->failed_at);

	log_fields(L_ERROR, f, "dead letter could not be stored: %s", why);
	json_decref(f);
}

int dead_letters_insert(struct store *s, const struct dead_letter *dl, char *id_out, char *err,
                        size_t errlen)
{
	char id[DEAD_LETTER_ID_LEN + 1], *payload = NULL, *type, *queue, *task, *last;
	int oom = 0, rc;

	if (id_out)
		id_out[0] = '\0';
	type = clean_text(dl->type && *dl->type ? dl->type : "unknown", MAX_TYPE, &oom);
	queue = clean_text(dl->queue, MAX_QUEUE, &oom);
	task = clean_text(dl->task_name, MAX_TASK, &oom);
	last = clean_text(dl->last_error, MAX_ERROR, &oom);
	if (dl->payload && json_is_object(dl->payload)) {
		payload = json_dumps(dl->payload, JSON_COMPACT);
		oom |= !payload;
	}
	if (dl->payload && !json_is_object(dl->payload)) {
		rc = CJ_EINVAL;
		snprintf(err, errlen, "dead letter payload must be a JSON object or null");
	} else if (oom) {
		rc = CJ_ENOMEM;
		snprintf(err, errlen, "out of memory");
	} else if (random_hex(id, sizeof(id), 16)) {
		rc = CJ_EINTERNAL;
		snprintf(err, errlen, "no randomness for a dead letter id");
	} else {
		struct store_param p[] = {
		    store_p_text(id),      store_p_text(type),
		    store_p_text(queue),   store_p_text(task),
		    store_p_text(payload), store_p_int(dl->attempts < 0 ? 0 : dl->attempts),
		    store_p_text(last),    store_p_int(dl->failed_at)};

		rc = store_exec(s,
		                "INSERT INTO dead_letters (id, type, queue, task_name, payload, "
		                "attempts, last_error, failed_at) "
		                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		                p, 8, NULL, err, errlen);
	}
	if (rc)
		log_lost(dl, type, queue, task, last, err);
	else if (id_out)
		memcpy(id_out, id, sizeof(id));
	free(type);
	free(queue);
	free(task);
	free(last);
	free(payload);
	return rc;
}

/* Cursor text: base64url("failed_at:id"). */
static char *cursor_make(int64_t failed_at, const char *id)
{
	char raw[64];
	int n = snprintf(raw, sizeof(raw), "%" PRId64 ":%s", failed_at, id);

	return b64url_encode(raw, (size_t)n);
}

static int cursor_parse(const char *cursor, int64_t *failed_at, char id[DEAD_LETTER_ID_LEN + 1])
{
	unsigned char *raw = NULL;
	size_t len = 0;
	char text[64], *colon, *end;
	long long v;
	int rc;

	if (strlen(cursor) > 88)
		return CJ_EINVAL;
	rc = b64url_decode(cursor, strlen(cursor), &raw, &len);
	if (rc)
		return rc;
	if (len >= sizeof(text) || memchr(raw, '\0', len)) {
		free(raw);
		return CJ_EINVAL;
	}
	memcpy(text, raw, len);
	text[len] = '\0';
	free(raw);
	colon = strchr(text, ':');
	if (!colon || colon == text || !id_valid(colon + 1))
		return CJ_EINVAL;
	*colon = '\0';
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || *end || !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
		return CJ_EINVAL;
	*failed_at = v;
	memcpy(id, colon + 1, DEAD_LETTER_ID_LEN + 1);
	return CJ_OK;
}

int dead_letters_list(struct store *s, const char *type, long limit, const char *cursor,
                      json_t **items, char **next, char *err, size_t errlen)
{
	return dead_letters_list_between(s, type, NULL, NULL, limit, cursor, items, next, err,
	                                 errlen);
}

/* Appends " AND cond" (or "WHERE cond") to where. */
static void where_and(char *where, size_t len, const char *cond)
{
	size_t w = strlen(where);

	snprintf(where + w, len - w, "%s %s", w ? " AND" : "WHERE", cond);
}

int dead_letters_list_between(struct store *s, const char *type, const int64_t *since,
                              const int64_t *until, long limit, const char *cursor,
                              json_t **items, char **next, char *err, size_t errlen)
{
	struct store_param p[6];
	struct store_rows *r = NULL;
	char sql[640], where[256] = "", cond[128], after_id[DEAD_LETTER_ID_LEN + 1];
	int64_t after_at = 0;
	size_t n = 0, shown;
	json_t *arr = NULL;
	int rc;

	*items = NULL;
	*next = NULL;
	if (limit < 1 || limit > DEAD_LETTERS_MAX_LIMIT) {
		snprintf(err, errlen, "limit must be between 1 and %d", DEAD_LETTERS_MAX_LIMIT);
		return CJ_EINVAL;
	}
	if (cursor && *cursor && cursor_parse(cursor, &after_at, after_id)) {
		snprintf(err, errlen, "cursor is not one this service gave out");
		return CJ_EINVAL;
	}
	if (type && *type) {
		p[n++] = store_p_text(type);
		snprintf(cond, sizeof(cond), "type = $%zu", n);
		where_and(where, sizeof(where), cond);
	}
	if (since) {
		p[n++] = store_p_int(*since);
		snprintf(cond, sizeof(cond), "failed_at >= $%zu", n);
		where_and(where, sizeof(where), cond);
	}
	if (until) {
		p[n++] = store_p_int(*until);
		snprintf(cond, sizeof(cond), "failed_at < $%zu", n);
		where_and(where, sizeof(where), cond);
	}
	if (cursor && *cursor) {
		p[n++] = store_p_int(after_at);
		p[n++] = store_p_text(after_id);
		snprintf(cond, sizeof(cond), "(failed_at < $%zu OR (failed_at = $%zu AND id < $%zu))",
		         n - 1, n - 1, n);
		where_and(where, sizeof(where), cond);
	}
	/* One row more than asked tells whether another page follows. */
	p[n++] = store_p_int(limit + 1);
	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM dead_letters %s ORDER BY failed_at DESC, id DESC LIMIT $%zu",
	         COLUMNS, where, n);
	rc = store_exec(s, sql, p, n, &r, err, errlen);
	if (rc)
		return rc;
	arr = json_array();
	if (!arr)
		goto nomem;
	shown = store_rows_count(r) > (size_t)limit ? (size_t)limit : store_rows_count(r);
	for (size_t i = 0; i < shown && store_rows_next(r); i++)
		if (json_array_append_new(arr, row_json(r)))
			goto nomem;
	if (store_rows_count(r) > (size_t)limit) {
		/* The cursor names the last row shown. */
		*next = cursor_make(store_rows_int(r, 7), store_rows_text(r, 0));
		if (!*next)
			goto nomem;
	}
	store_rows_free(r);
	*items = arr;
	return CJ_OK;
nomem:
	store_rows_free(r);
	json_decref(arr);
	snprintf(err, errlen, "out of memory");
	return CJ_ENOMEM;
}

int dead_letters_get(struct store *s, const char *id, json_t **out, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *r;
	char sql[256];
	int rc;

	*out = NULL;
	if (!id_valid(id)) {
		snprintf(err, errlen, "no such dead letter");
		return CJ_ENOTFOUND;
	}
	snprintf(sql, sizeof(sql), "SELECT %s FROM dead_letters WHERE id = $1", COLUMNS);
	rc = store_exec(s, sql, p, 1, &r, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(r)) {
		store_rows_free(r);
		snprintf(err, errlen, "no such dead letter");
		return CJ_ENOTFOUND;
	}
	*out = row_json(r);
	store_rows_free(r);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return CJ_ENOMEM;
	}
	return CJ_OK;
}

int dead_letters_mark_replayed(struct store *s, const char *id, int64_t replayed_at,
                               const char *replay_task, char *err, size_t errlen)
{
	int oom = 0;
	char *task = clean_text(replay_task, MAX_TASK, &oom);
	struct store_param p[] = {store_p_int(replayed_at), store_p_text(task), store_p_text(id)};
	struct store_rows *r;
	int rc;

	if (oom) {
		snprintf(err, errlen, "out of memory");
		return CJ_ENOMEM;
	}
	if (!id_valid(id)) {
		free(task);
		snprintf(err, errlen, "no such dead letter");
		return CJ_ENOTFOUND;
	}
	rc = store_exec(s,
	                "UPDATE dead_letters SET replayed_at = $1, replay_task = $2 WHERE id = $3",
	                p, 3, &r, err, errlen);
	free(task);
	if (rc)
		return rc;
	if (store_rows_changes(r) == 0) {
		snprintf(err, errlen, "no such dead letter");
		rc = CJ_ENOTFOUND;
	}
	store_rows_free(r);
	return rc;
}

int dead_letters_forget(struct store *s, const char *id, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *r;
	int rc;

	if (!id_valid(id)) {
		snprintf(err, errlen, "no such dead letter");
		return CJ_ENOTFOUND;
	}
	rc = store_exec(s, "DELETE FROM dead_letters WHERE id = $1", p, 1, &r, err, errlen);
	if (rc)
		return rc;
	if (store_rows_changes(r) == 0) {
		snprintf(err, errlen, "no such dead letter");
		rc = CJ_ENOTFOUND;
	}
	store_rows_free(r);
	return rc;
}
