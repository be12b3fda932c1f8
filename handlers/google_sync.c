/*
 * google_sync.c - the shared incremental-sync loop; see google_sync.h.
 */
#include "google_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "google_job.h"
#include "random.h"
#include "store.h"
#include "sync_state.h"
#include "user_tokens.h"

struct page {
	struct google_sync *s;
	const json_t *items;
	long upserted, deleted;
};

static int write_page(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct page *pg = arg;
	const json_t *item;
	size_t i;

	pg->upserted = pg->deleted = 0; /* a conflict runs the whole page again */
	json_array_foreach(pg->items, i, item)
	{
		enum sync_item did = SYNC_ITEM_SKIPPED;
		int rc = pg->s->write_item(c, pg->s, item, &did, err, errlen);

		if (rc)
			return rc;
		pg->upserted += did == SYNC_ITEM_UPSERTED;
		pg->deleted += did == SYNC_ITEM_DELETED;
	}
	return CJ_OK;
}

struct finish {
	struct google_sync *s;
	const char *token;
	long deleted;
};

static int write_finish(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct finish *f = arg;
	struct google_sync *s = f->s;
	int rc;

	f->deleted = 0;
	if (s->full) {
		rc = s->delete_unseen(c, s, &f->deleted, err, errlen);
		if (rc)
			return rc;
	}
	if (s->finish_tx) {
		rc = s->finish_tx(c, s, err, errlen);
		if (rc)
			return rc;
	}
	/* Removed: rows this run found gone at Google, not those on_expired
	 * cleared only to list them again. */
	return sync_state_record(c, s->user_id, s->kind, f->token, clock_now_s(), s->full,
	                         s->upserted + s->deleted + f->deleted,
	                         s->deleted - s->cleared + f->deleted, err, errlen);
}

/* The last page is written: the follow-up, then the token. */
static enum job_outcome finish(struct google_sync *s, const char *next_sync)
{
	struct finish f = {s, next_sync && next_sync[0] ? next_sync : NULL, 0};
	char err[512] = "";
	int rc;

	if (s->before_finish) {
		rc = s->before_finish(s, err, sizeof(err));
		if (rc)
			return job_fail_rc(s->ctx, rc, "enqueue_failed", "%s", err);
	}
	rc = store_transact(s->ctx->svc->store, write_finish, &f, err, sizeof(err));
	if (rc)
		return google_job_store_fail(s->ctx, rc, "finishing the sync", err);
	s->deleted += f.deleted;
	return JOB_OK;
}

/* One list call and its page written. *answer is the caller's. */
static enum job_outcome one_page(struct google_sync *s, const char *sync_token,
                                 const char *page_token, struct buf *q, json_t **answer,
                                 struct google_error *gerr, int *expired)
{
	struct user_tokens_deps d;
	struct google_call call;
	struct page pg = {s, NULL, 0, 0};
	enum job_outcome outcome;
	char err[512] = "";
	int rc;

	*expired = 0;
	google_job_deps(s->ctx, &d);
	google_job_call(s->ctx, &call);
	rc = s->query(s, q, sync_token, page_token);
	if (rc)
		return job_fail_rc(s->ctx, rc, "out_of_memory", "out of memory");
	rc = user_api_call(&d, s->user_id, s->service, "GET", buf_str(q), NULL, &call, answer, gerr);
	if (rc == CJ_EUPSTREAM && gerr->kind == GOOGLE_ERR_SYNC_EXPIRED && sync_token) {
		*expired = 1;
		return JOB_OK;
	}
	if (rc) {
		if (google_job_unusable(s->ctx, rc, gerr, &outcome))
			s->skipped = outcome == JOB_OK;
		else
			outcome = google_job_fail(s->ctx, rc, gerr);
		return outcome;
	}
	s->pages++;
	pg.items = json_object_get(*answer, s->items_field);
	rc = store_transact(s->ctx->svc->store, write_page, &pg, err, sizeof(err));
	if (rc)
		return google_job_store_fail(s->ctx, rc, "writing a page", err);
	s->upserted += pg.upserted;
	s->deleted += pg.deleted;
	return JOB_OK;
}

enum job_outcome google_sync_run(struct google_sync *s)
{
	char *sync_token = NULL, *page_token = NULL, err[512] = "";
	struct google_error gerr;
	enum job_outcome outcome;
	struct buf q;
	int rc;

	s->upserted = s->deleted = s->pages = s->cleared = 0;
	s->skipped = 0;
	s->started_at = clock_now_s();
	if (!s->ctx->svc->store)
		return job_fail_rc(s->ctx, CJ_ECONFIG, "no_database", "no database configured");
	if (s->ctx->key[0])
		s->run_id = s->ctx->key;
	else if (random_hex(s->run_id_buf, sizeof(s->run_id_buf), 16) == CJ_OK)
		s->run_id = s->run_id_buf;
	else
		return job_fail_rc(s->ctx, CJ_EINTERNAL, "internal", "no randomness for a run id");
	rc = sync_state_read(s->ctx->svc->store, s->user_id, s->kind, &sync_token,
	                     &s->prev_sync_at, err, sizeof(err));
	if (rc)
		return google_job_store_fail(s->ctx, rc, "reading the sync state", err);
	if (s->full || !sync_token) {
		s->full = 1;
		free(sync_token);
		sync_token = NULL;
	}
	buf_init(&q, 64 * 1024);
	memset(&gerr, 0, sizeof(gerr));
	for (;;) {
		json_t *answer = NULL;
		const char *next_page;
		int expired;

		outcome = one_page(s, sync_token, page_token, &q, &answer, &gerr, &expired);
		if (outcome == JOB_OK && expired) {
			/* Google forgot our place: start over, in full. */
			s->full = 1;
			s->upserted = s->deleted = 0;
			free(sync_token);
			free(page_token);
			sync_token = page_token = NULL;
			rc = s->on_expired ? s->on_expired(s, err, sizeof(err)) : CJ_OK;
			s->cleared = s->deleted;
			if (rc) {
				outcome = google_job_store_fail(s->ctx, rc, "starting a full sync", err);
				break;
			}
			continue;
		}
		if (outcome != JOB_OK) {
			json_decref(answer);
			break;
		}
		next_page = json_string_value(json_object_get(answer, "nextPageToken"));
		free(page_token);
		page_token = next_page && next_page[0] ? strdup(next_page) : NULL;
		if (next_page && next_page[0] && !page_token) {
			json_decref(answer);
			outcome = job_fail_rc(s->ctx, CJ_ENOMEM, "out_of_memory", "out of memory");
			break;
		}
		if (!page_token) {
			outcome = finish(s, json_string_value(json_object_get(answer, "nextSyncToken")));
			json_decref(answer);
			break;
		}
		json_decref(answer);
		if (job_should_stop(s->ctx)) {
			outcome = job_fail(s->ctx, JOB_RETRY, "deadline_exceeded",
			                   "stopped after %ld pages", s->pages);
			break;
		}
	}
	buf_release(&q);
	free(sync_token);
	free(page_token);
	return outcome;
}
