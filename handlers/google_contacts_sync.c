/*
 * google_contacts_sync.c - the google-contacts-sync job (SPEC §7): the
 * user's Google Contacts into `contacts`.
 *
 * People connections.list pages through every contact (a full sync) or the
 * changes since the stored sync token (incremental). Each page is written
 * in one transaction: upserts by resource name keep the user's own fields
 * (catch-up frequency, last contacted), deletions follow
 * metadata.deleted. An expired token (400 EXPIRED_SYNC_TOKEN) turns the run
 * into a full sync, and a full sync ends by deleting the contacts Google no
 * longer has (rows this run did not see). The new sync token is stored
 * last, with the change count, so a run that dies anywhere before is
 * simply done again from the old token: every write here is idempotent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "google_job.h"
#include "handlers.h"
#include "random.h"
#include "store.h"
#include "sync_state.h"

#define KIND "contacts"
#define PERSON_FIELDS "names,emailAddresses,phoneNumbers,metadata"

struct run {
	struct job_ctx *ctx;
	const char *user_id;
	const char *run_id; /* marks rows this run saw (contacts.sync_run) */
	int full;
	long upserted, deleted, pages;
};

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

/* One page's changes, in the caller's transaction. */
struct page {
	struct run *run;
	const json_t *people;
	long upserted, deleted;
};

static int write_person(struct store_conn *c, struct page *pg, const json_t *person, char *err,
                        size_t errlen)
{
	const char *rn = json_string_value(json_object_get(person, "resourceName"));
	int64_t now = clock_now_s();
	struct store_rows *rows = NULL;
	char id[33];
	int rc;

	if (!rn || !rn[0])
		return CJ_OK; /* nothing to key it by: not a contact we can keep */
	if (json_is_true(json_object_get(json_object_get(person, "metadata"), "deleted"))) {
		struct store_param p[] = {store_p_text(pg->run->user_id), store_p_text(rn)};

		rc = store_conn_exec(c, "DELETE FROM contacts WHERE user_id = $1 AND resource_name = $2",
		                     p, 2, &rows, err, errlen);
		if (!rc)
			pg->deleted += store_rows_changes(rows);
		store_rows_free(rows);
		return rc;
	}
	if (random_hex(id, sizeof(id), 16))
		return cj_errorf(err, errlen, CJ_EINTERNAL, "no randomness for a contact id");
	{
		const json_t *name = primary_item(person, "names");
		const json_t *email = primary_item(person, "emailAddresses");
		const json_t *phone = primary_item(person, "phoneNumbers");
		struct store_param p[] = {
		    store_p_text(id),
		    store_p_text(pg->run->user_id),
		    store_p_text(rn),
		    store_p_text(item_string(name, "displayName", "unstructuredName")),
		    store_p_text(item_string(email, "value", NULL)),
		    store_p_text(item_string(phone, "canonicalForm", "value")),
		    store_p_text(json_string_value(json_object_get(person, "etag"))),
		    store_p_text(pg->run->run_id),
		    store_p_int(now),
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
		pg->upserted++;
	return rc;
}

static int write_page(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct page *pg = arg;
	const json_t *person;
	size_t i;

	pg->upserted = pg->deleted = 0; /* a conflict runs the whole page again */
	json_array_foreach(pg->people, i, person)
	{
		int rc = write_person(c, pg, person, err, errlen);

		if (rc)
			return rc;
	}
	return CJ_OK;
}

/* The end of the sync: a full sync's deletions, then the token. */
struct finish {
	struct run *run;
	const char *token;
	long deleted;
};

static int write_finish(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct finish *f = arg;
	struct run *run = f->run;
	int rc;

	f->deleted = 0;
	if (run->full) {
		struct store_param p[] = {store_p_text(run->user_id), store_p_text(run->run_id)};
		struct store_rows *rows = NULL;

		rc = store_conn_exec(c,
		                     "DELETE FROM contacts WHERE user_id = $1 AND "
		                     "(sync_run IS NULL OR sync_run <> $2)",
		                     p, 2, &rows, err, errlen);
		if (rc)
			return rc;
		f->deleted = store_rows_changes(rows);
		store_rows_free(rows);
	}
	return sync_state_record(c, run->user_id, KIND, f->token, clock_now_s(), run->full,
	                         run->upserted + run->deleted + f->deleted, err, errlen);
}

/* connections.list's path and query for one page. */
static int page_query(struct buf *q, const char *sync_token, const char *page_token)
{
	char *st = sync_token ? google_url_escape(sync_token) : NULL;
	char *pt = page_token ? google_url_escape(page_token) : NULL;
	int rc = CJ_ENOMEM;

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
	struct run run = {0};
	struct user_tokens_deps d;
	struct google_call call;
	struct google_error gerr;
	struct buf q;
	char *sync_token = NULL, *page_token = NULL, err[512] = "", run_id[33];
	enum job_outcome outcome;
	int64_t last_sync_at;
	int rc;

	run.ctx = ctx;
	run.user_id = json_string_value(json_object_get(ctx->payload, "userId"));
	run.full = json_is_true(json_object_get(ctx->payload, "full"));
	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	if (ctx->key[0])
		run.run_id = ctx->key;
	else if (random_hex(run_id, sizeof(run_id), 16) == CJ_OK)
		run.run_id = run_id;
	else
		return job_fail_rc(ctx, CJ_EINTERNAL, "internal", "no randomness for a run id");
	rc = sync_state_read(ctx->svc->store, run.user_id, KIND, &sync_token, &last_sync_at, err,
	                     sizeof(err));
	if (rc)
		return google_job_store_fail(ctx, rc, "reading the contacts sync state", err);
	if (run.full || !sync_token) {
		run.full = 1;
		free(sync_token);
		sync_token = NULL;
	}
	google_job_deps(ctx, &d);
	google_job_call(ctx, &call);
	buf_init(&q, 64 * 1024);
	for (;;) {
		json_t *answer = NULL;
		const char *next_page, *next_sync;
		struct page pg = {0};

		rc = page_query(&q, sync_token, page_token);
		if (!rc)
			rc = user_api_call(&d, run.user_id, GOOGLE_PEOPLE, "GET", buf_str(&q), NULL,
			                   &call, &answer, &gerr);
		else
			snprintf(gerr.message, sizeof(gerr.message), "out of memory");
		if (rc == CJ_EUPSTREAM && gerr.kind == GOOGLE_ERR_SYNC_EXPIRED && !run.full) {
			/* Google forgot our place: start over, in full. */
			run.full = 1;
			run.upserted = run.deleted = 0;
			free(sync_token);
			free(page_token);
			sync_token = page_token = NULL;
			continue;
		}
		if (rc) {
			if (!google_job_unusable(ctx, rc, &gerr, &outcome))
				outcome = google_job_fail(ctx, rc, &gerr);
			goto out;
		}
		run.pages++;
		pg.run = &run;
		pg.people = json_object_get(answer, "connections");
		rc = store_transact(ctx->svc->store, write_page, &pg, err, sizeof(err));
		if (rc) {
			json_decref(answer);
			outcome = google_job_store_fail(ctx, rc, "writing a page of contacts", err);
			goto out;
		}
		run.upserted += pg.upserted;
		run.deleted += pg.deleted;
		next_page = json_string_value(json_object_get(answer, "nextPageToken"));
		next_sync = json_string_value(json_object_get(answer, "nextSyncToken"));
		free(page_token);
		page_token = next_page && next_page[0] ? strdup(next_page) : NULL;
		if (next_page && next_page[0] && !page_token) {
			json_decref(answer);
			outcome = job_fail_rc(ctx, CJ_ENOMEM, "out_of_memory", "out of memory");
			goto out;
		}
		if (!page_token) {
			struct finish f = {&run, next_sync && next_sync[0] ? next_sync : NULL, 0};

			rc = store_transact(ctx->svc->store, write_finish, &f, err, sizeof(err));
			json_decref(answer);
			if (rc) {
				outcome = google_job_store_fail(ctx, rc, "finishing the contacts sync",
				                                err);
				goto out;
			}
			run.deleted += f.deleted;
			break;
		}
		json_decref(answer);
		if (job_should_stop(ctx)) {
			outcome = job_fail(ctx, JOB_RETRY, "deadline_exceeded",
			                   "stopped after %ld pages of contacts", run.pages);
			goto out;
		}
	}
	job_set_result(ctx, json_pack("{s:b, s:I, s:I, s:I}", "full", run.full, "upserted",
	                              (json_int_t)run.upserted, "deleted", (json_int_t)run.deleted,
	                              "pages", (json_int_t)run.pages));
	outcome = JOB_OK;
out:
	buf_release(&q);
	free(sync_token);
	free(page_token);
	return outcome;
}
