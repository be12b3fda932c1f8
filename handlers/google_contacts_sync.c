/*
 * google_contacts_sync.c - the google-contacts-sync job (SPEC §7): the
 * user's Google Contacts into `contacts`, through the shared sync loop
 * (google_sync.h).
 *
 * People connections.list pages through every contact (a full sync) or the
 * changes since the stored sync token (incremental); an expired token (400
 * EXPIRED_SYNC_TOKEN) turns the run into a full sync. Upserts by resource
 * name keep the user's own columns (catch-up frequency, last contacted);
 * metadata.deleted deletes. A full sync ends by deleting the contacts
 * Google no longer has: the rows this run did not mark as seen and no
 * overlapping run wrote since this one began (google_sync.h). When
 * contacts arrived, the stored meetings that have ended set their last
 * contact (contact_touch.h), whichever of the two syncs ran first.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contact_touch.h"
#include "google_sync.h"
#include "handlers.h"
#include "random.h"
#include "store.h"

#define PERSON_FIELDS "names,emailAddresses,phoneNumbers,metadata"

/* The primary item of a People field (its first when none is marked). */
static const json_t *primary_item(const json_t *person, const char *field)
{
	const json_t *arr = json_object_get(person, field), *item;
	size_t i;

	json_array_foreach(arr, i, item)
	{
		if (json_is_true(json_object_get(json_object_get(item, "metadata"), "primary")))
			return item;
	}
	return json_array_get(arr, 0);
}

static const char *item_string(const json_t *item, const char *a, const char *b)
{
	const char *v = json_string_value(json_object_get(item, a));

	if ((!v || !v[0]) && b)
		v = json_string_value(json_object_get(item, b));
	return v && v[0] ? v : NULL;
}

static int write_person(struct store_conn *c, struct google_sync *s, const json_t *person,
                        enum sync_item *did, char *err, size_t errlen)
{
	const char *rn = json_string_value(json_object_get(person, "resourceName"));
	const json_t *name, *email, *phone;
	struct store_rows *rows = NULL;
	char id[33];
	int rc;

	if (!rn || !rn[0])
		return CJ_OK; /* nothing to key it by: not a contact we can keep */
	if (json_is_true(json_object_get(json_object_get(person, "metadata"), "deleted"))) {
		struct store_param p[] = {store_p_text(s->user_id), store_p_text(rn)};

		rc = store_conn_exec(c, "DELETE FROM contacts WHERE user_id = $1 AND resource_name = $2",
		                     p, 2, &rows, err, errlen);
		if (!rc && store_rows_changes(rows))
			*did = SYNC_ITEM_DELETED;
		store_rows_free(rows);
		return rc;
	}
	if (random_hex(id, sizeof(id), 16))
		return cj_errorf(err, errlen, CJ_EINTERNAL, "no randomness for a contact id");
	name = primary_item(person, "names");
	email = primary_item(person, "emailAddresses");
	phone = primary_item(person, "phoneNumbers");
	{
		struct store_param p[] = {
		    store_p_text(id),
		    store_p_text(s->user_id),
		    store_p_text(rn),
		    store_p_text(item_string(name, "displayName", "unstructuredName")),
		    store_p_text(item_string(email, "value", NULL)),
		    store_p_text(item_string(phone, "canonicalForm", "value")),
		    store_p_text(json_string_value(json_object_get(person, "etag"))),
		    store_p_text(s->run_id),
		    store_p_int(clock_now_s()),
		};

		/* The user's own columns (catchup_frequency_days,
		 * last_contacted_at) are not in the update: they survive. */
		rc = store_conn_exec(
		    c,
		    "INSERT INTO contacts (id, user_id, resource_name, name, email, phone, etag, "
		    "sync_run, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) "
		    "ON CONFLICT (user_id, resource_name) DO UPDATE SET name = excluded.name, "
		    "email = excluded.email, phone = excluded.phone, etag = excluded.etag, "
		    "sync_run = excluded.sync_run, updated_at = excluded.updated_at",
		    p, 9, NULL, err, errlen);
	}
	if (!rc)
		*did = SYNC_ITEM_UPSERTED;
	return rc;
}

static int delete_unseen(struct store_conn *c, struct google_sync *s, long *deleted, char *err,
                         size_t errlen)
{
	struct store_param p[] = {store_p_text(s->user_id), store_p_text(s->run_id),
	                          store_p_int(s->started_at)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_conn_exec(c,
	                     "DELETE FROM contacts WHERE user_id = $1 AND "
	                     "(sync_run IS NULL OR sync_run <> $2) AND updated_at < $3",
	                     p, 3, &rows, err, errlen);
	if (!rc)
		*deleted += store_rows_changes(rows);
	store_rows_free(rows);
	return rc;
}

/* In the final transaction: contacts that arrived meet the calendar. */
static int touch_new_contacts(struct store_conn *c, struct google_sync *s, char *err,
                              size_t errlen)
{
	long *touched = s->arg;

	*touched = 0;
	if (s->upserted == 0)
		return CJ_OK;
	return contact_touch_all(c, s->user_id, clock_now_s(), touched, err, errlen);
}

static int page_query(struct google_sync *s, struct buf *q, const char *sync_token,
                      const char *page_token)
{
	char *st = sync_token ? google_url_escape(sync_token) : NULL;
	char *pt = page_token ? google_url_escape(page_token) : NULL;
	int rc = CJ_ENOMEM;

	(void)s;
	buf_reset(q);
	if ((!sync_token || st) && (!page_token || pt))
		rc = buf_appendf(q,
		                 "/v1/people/me/connections?personFields=" PERSON_FIELDS
		                 "&pageSize=1000&requestSyncToken=true%s%s%s%s",
		                 st ? "&syncToken=" : "", st ? st : "", pt ? "&pageToken=" : "",
		                 pt ? pt : "");
	free(st);
	free(pt);
	return rc;
}

enum job_outcome handle_google_contacts_sync(struct job_ctx *ctx)
{
	struct google_sync s = {0};
	enum job_outcome outcome;
	long touched = 0;

	s.ctx = ctx;
	s.user_id = json_string_value(json_object_get(ctx->payload, "userId"));
	s.kind = "contacts";
	s.service = GOOGLE_PEOPLE;
	s.items_field = "connections";
	s.full = json_is_true(json_object_get(ctx->payload, "full"));
	s.query = page_query;
	s.write_item = write_person;
	s.delete_unseen = delete_unseen;
	s.finish_tx = touch_new_contacts;
	s.arg = &touched;
	outcome = google_sync_run(&s);
	if (outcome == JOB_OK && !s.skipped)
		job_set_result(ctx, json_pack("{s:b, s:I, s:I, s:I, s:I}", "full", s.full, "upserted",
		                              (json_int_t)s.upserted, "deleted", (json_int_t)s.deleted,
		                              "pages", (json_int_t)s.pages, "contactsTouched",
		                              (json_int_t)touched));
	return outcome;
}
