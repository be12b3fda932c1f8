/*
 * keyset.c - keyset pagination for the /admin lists; see keyset.h.
 */
#include "keyset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "utf8.h"

/* Every row of r as an array, through to_json; NULL on ENOMEM. At most
 * max rows (the page; a further one only tells that more follow). */
json_t *keyset_rows_array(struct store_rows *r, size_t max,
                          json_t *(*to_json)(struct store_rows *))
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < max && store_rows_next(r); i++)
		if (json_array_append_new(arr, to_json(r))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

char *keyset_cursor_make(char tag, const char *id)
{
	size_t n = strlen(id);
	char *raw = malloc(n + 3), *c;

	if (!raw)
		return NULL;
	raw[0] = tag;
	raw[1] = ':';
	memcpy(raw + 2, id, n + 1);
	c = b64url_encode(raw, n + 2);
	free(raw);
	return c;
}

char *keyset_cursor_parse(char tag, const char *cursor)
{
	unsigned char *raw = NULL;
	size_t len = 0, clen = strlen(cursor);
	char *id;

	if (clen > (KEYSET_ID_MAX + 2) * 4 / 3 + 4 || b64url_decode(cursor, clen, &raw, &len))
		return NULL;
	if (len < 3 || raw[0] != (unsigned char)tag || raw[1] != ':' || memchr(raw, '\0', len) ||
	    !utf8_valid((char *)raw + 2, len - 2)) {
		free(raw);
		return NULL;
	}
	id = strndup((char *)raw + 2, len - 2);
	free(raw);
	return id;
}

int keyset_page(struct store *s, struct keyset_query *q, long limit, const char *cursor,
                json_t **items, char **next, char *err, size_t errlen)
{
	struct store_rows *r = NULL;
	char *after = NULL;
	size_t n = q->fixed;
	int rc;

	*items = NULL;
	*next = NULL;
	if (limit < 1 || limit > KEYSET_MAX_LIMIT)
		return cj_errorf(err, errlen, CJ_EINVAL, "limit must be between 1 and %d",
		                 KEYSET_MAX_LIMIT);
	if (cursor && *cursor) {
		after = keyset_cursor_parse(q->tag, cursor);
		if (!after)
			return cj_errorf(err, errlen, CJ_EINVAL,
			                 "cursor is not one this service gave out");
		q->p[n++] = store_p_text(after);
	}
	/* One row more than asked tells whether another page follows. */
	q->p[n++] = store_p_int(limit + 1);
	rc = store_exec(s, after ? q->sql_after : q->sql_first, q->p, n, &r, err, errlen);
	free(after);
	if (rc)
		return rc;
	*items = keyset_rows_array(r, (size_t)limit, q->to_json);
	if (*items && store_rows_count(r) > (size_t)limit) {
		/* The cursor names the last row shown. */
		*next = keyset_cursor_make(q->tag, store_rows_text(r, 0));
		if (!*next) {
			json_decref(*items);
			*items = NULL;
		}
	}
	store_rows_free(r);
	return *items ? CJ_OK : cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
}

int keyset_parse_limit(const char *s, long def, long *out)
{
	char *end;
	long v;

	*out = def;
	if (!s)
		return CJ_OK;
	v = strtol(s, &end, 10);
	if (end == s || *end || v < 1 || v > KEYSET_MAX_LIMIT)
		return CJ_EINVAL;
	*out = v;
	return CJ_OK;
}
