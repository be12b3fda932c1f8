/*
 * google_sync.h - the incremental-sync loop the Google sync jobs share
 * (google-contacts-sync, calendar-sync): read the stored sync token, page
 * through the list call as the user, write each page in one transaction,
 * fall back to a full sync when Google says the token expired, and store
 * the new token last, with the change count and the schedule it gives the
 * next sync (sync_state.h), in one final transaction.
 *
 * What a run that dies anywhere leaves: pages written so far (upserts and
 * deletes by Google's ids, so a second run writes the same), and the old
 * token, from which the retried task starts again. Nothing that happens
 * before the token moves can be skipped by the retry.
 *
 * The job gives the parts that differ as callbacks; see struct google_sync.
 */
#ifndef CJ_GOOGLE_SYNC_H
#define CJ_GOOGLE_SYNC_H

#include <jansson.h>
#include <stdint.h>

#include "buf.h"
#include "google_api.h"
#include "job.h"

struct store_conn;

enum sync_item { SYNC_ITEM_SKIPPED, SYNC_ITEM_UPSERTED, SYNC_ITEM_DELETED };

struct google_sync {
	/* Set by the job before google_sync_run(). */
	struct job_ctx *ctx;
	const char *user_id;
	const char *kind; /* sync_state.kind */
	enum google_service service;
	const char *items_field; /* the answer's array: "connections", "items" */
	int full; /* in: a full sync was asked for; out: the run was one */
	void *arg; /* the job's own state */
	/* The list call's path and query for one page (tokens URL-encoded;
	 * sync_token NULL on a full sync). */
	int (*query)(struct google_sync *s, struct buf *q, const char *sync_token,
	             const char *page_token);
	/* Writes one item in the page's transaction and says what it did. */
	int (*write_item)(struct store_conn *c, struct google_sync *s, const json_t *item,
	                  enum sync_item *did, char *err, size_t errlen);
	/* In the final transaction of a full sync: delete the rows this run did
	 * not see (rows carry s->run_id) and that no run wrote since
	 * s->started_at, adding to *deleted. The second condition keeps what a
	 * concurrent full sync of the same user (another task: a retried first
	 * sync and adaptive-sync's, say) wrote meanwhile: those rows were at
	 * Google too, and deleting them would lose them for good, as the
	 * incremental syncs after it never report them again. */
	int (*delete_unseen)(struct store_conn *c, struct google_sync *s, long *deleted, char *err,
	                     size_t errlen);
	/* Optional: the token expired; runs before the full sync starts (e.g.
	 * clears the local copy), adding what it removed to s->deleted. */
	int (*on_expired)(struct google_sync *s, char *err, size_t errlen);
	/* Optional: after the last page, before the final transaction, outside
	 * any transaction (e.g. enqueue a follow-up task). A failure is the
	 * job's, mapped by job_fail_rc() with code "enqueue_failed". */
	int (*before_finish)(struct google_sync *s, char *err, size_t errlen);
	/* Optional: in the final transaction, before the token is stored. */
	int (*finish_tx)(struct store_conn *c, struct google_sync *s, char *err, size_t errlen);

	/* Set by google_sync_run(). */
	const char *run_id; /* ctx->key, or a random id when the job has none */
	int64_t started_at; /* business time the run began */
	int64_t prev_sync_at; /* the last sync's time; 0 when never */
	long upserted, deleted, pages;
	long cleared; /* of deleted: what on_expired removed to list it all again */
	int skipped; /* the account could not be used: the result is already set */
	char run_id_buf[33];
};

/* Runs the sync. JOB_OK without s->skipped when the token was stored (the
 * job then sets its result from the counts); otherwise the job's answer is
 * already recorded in ctx (an unusable account completes, s->skipped set,
 * with {"skipped": …} as google_job.h says). */
enum job_outcome google_sync_run(struct google_sync *s);

#endif
