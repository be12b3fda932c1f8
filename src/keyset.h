/*
 * keyset.h - keyset pagination for the /admin lists (SPEC §5.3): pages
 * ordered by a text id, `limit` 1..500, and an opaque cursor naming the
 * last row shown (base64url of a one-letter list tag, ':' and the id), so
 * a cursor of one list is refused by another.
 *
 * Pure helpers over the store: thread-safe as the store is.
 */
#ifndef CJ_KEYSET_H
#define CJ_KEYSET_H

#include <jansson.h>
#include <stddef.h>

#include "cj.h"
#include "store.h"

#define KEYSET_MAX_LIMIT 500
#define KEYSET_ID_MAX 512 /* bytes of an id in a cursor */

/* One page of a keyset list: sql_first is the query from the start,
 * sql_after the one after the cursor's id; both take params p[0..fixed)
 * then (after only) the id, then the row limit, and select the id as
 * column 0. to_json turns the current row into an item. */
struct keyset_query {
	char tag;
	const char *sql_first, *sql_after;
	struct store_param p[4];
	size_t fixed;
	json_t *(*to_json)(struct store_rows *);
};

/* Runs q for limit rows after cursor (NULL or "": the first page).
 * *items receives the JSON array; *next a malloc'd cursor, or NULL on the
 * last page. CJ_EINVAL (err says why: limit out of range, a cursor this
 * list did not make), CJ_ENOMEM, the store's codes. */
int keyset_page(struct store *s, struct keyset_query *q, long limit, const char *cursor,
                json_t **items, char **next, char *err, size_t errlen) CJ_WUR;

/* Every row of r (at most max) as an array through to_json; NULL on ENOMEM. */
json_t *keyset_rows_array(struct store_rows *r, size_t max,
                          json_t *(*to_json)(struct store_rows *));

/* The cursor naming id in list tag (malloc'd), or NULL on ENOMEM; and the
 * id in a cursor of list tag (malloc'd), or NULL when it is not one (or on
 * ENOMEM). For lists that page themselves (sync_health.c). */
char *keyset_cursor_make(char tag, const char *id);
char *keyset_cursor_parse(char tag, const char *cursor);

/* Parses an optional ?limit= value (NULL: def). CJ_EINVAL unless an
 * integer from 1 to KEYSET_MAX_LIMIT. */
int keyset_parse_limit(const char *s, long def, long *out);

#endif
