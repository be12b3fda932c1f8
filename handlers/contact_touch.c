/*
 * contact_touch.c - last_contacted_at from ended meetings; see
 * contact_touch.h.
 */
#include "contact_touch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* One attendee and the end of an ended event they were at. */
struct met {
	char *email;
	int64_t end;
};

/* By e-mail, latest end first. */
static int met_cmp(const void *a, const void *b)
{
	const struct met *x = a, *y = b;
	int c = strcmp(x->email, y->email);

	return c ? c : (x->end < y->end ? 1 : x->end > y->end ? -1 : 0);
}

static int collect(struct store_rows *rows, struct met **out, size_t *count)
{
	struct met *met = NULL;
	size_t n = 0, cap = 0;
	int rc = CJ_OK;

	while (!rc && store_rows_next(rows)) {
		const char *text = store_rows_text(rows, 0);
		json_t *arr = text ? json_loads(text, 0, NULL) : NULL;
		const json_t *e;
		size_t i;

		json_array_foreach(arr, i, e)
		{
			if (!json_is_string(e))
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct met *m = realloc(met, ncap * sizeof(*m));

				if (!m) {
					rc = CJ_ENOMEM;
					break;
				}
				met = m;
				cap = ncap;
			}
			met[n].email = strdup(json_string_value(e));
			met[n].end = store_rows_int(rows, 1);
			if (!met[n].email) {
				rc = CJ_ENOMEM;
				break;
			}
			n++;
		}
		json_decref(arr);
	}
	*out = met;
	*count = n;
	return rc;
}

int contact_touch_rows(struct store_conn *c, const char *user_id, struct store_rows *rows,
                       int64_t now, long *touched, char *err, size_t errlen)
{
	struct met *met = NULL;
	size_t n = 0;
	int rc;

	*touched = 0;
	rc = collect(rows, &met, &n);
	if (!rc && n)
		qsort(met, n, sizeof(*met), met_cmp);
	/* Sorted by e-mail, latest end first: one UPDATE per person. */
	for (size_t i = 0; !rc && i < n; i++) {
		struct store_param u[] = {store_p_text(user_id), store_p_text(met[i].email),
		                          store_p_int(met[i].end), store_p_int(now)};
		struct store_rows *r = NULL;

		if (i && !strcmp(met[i].email, met[i - 1].email))
			continue;
		rc = store_conn_exec(c,
		                     "UPDATE contacts SET last_contacted_at = $3, updated_at = $4 "
		                     "WHERE user_id = $1 AND LOWER(email) = $2 AND "
		                     "(last_contacted_at IS NULL OR last_contacted_at < $3)",
		                     u, 4, &r, err, errlen);
		if (!rc)
			*touched += store_rows_changes(r);
		store_rows_free(r);
	}
	for (size_t i = 0; i < n; i++)
		free(met[i].email);
	free(met);
	if (rc == CJ_ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int contact_touch_all(struct store_conn *c, const char *user_id, int64_t now, long *touched,
                      char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_int(now)};
	struct store_rows *rows = NULL;
	int rc;

	*touched = 0;
	rc = store_conn_exec(c,
	                     "SELECT attendee_emails, end_at FROM calendar_events WHERE "
	                     "user_id = $1 AND end_at <= $2 AND attendee_emails <> '[]'",
	                     p, 2, &rows, err, errlen);
	if (rc)
		return rc;
	rc = contact_touch_rows(c, user_id, rows, now, touched, err, errlen);
	store_rows_free(rows);
	return rc;
}
