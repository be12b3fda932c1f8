/*
 * webhook_health_check.c - the webhook-health-check job (SPEC §7): every
 * active Google account has exactly one live watch channel on each
 * calendar it syncs (primary, and every calendar in its sync state).
 *
 * An hourly scan (scan.h, the per-user work done inline) over active
 * accounts, in pages with a cursor. For each user:
 *   - channel_tidy, first and last: half-made channels of dead runs are
 *     stopped (at the end also those whose resourceId a channel made in
 *     this run revealed), channels past their expiration marked expired;
 *   - no live channel on a calendar: one is made (created);
 *   - more than one: the one expiring last stays, the others are stopped;
 *   - a channel silent for SILENT_S (no push since it was made or since
 *     its last push) while a sync found changes at least SILENT_MARGIN_S
 *     after that is flagged and replaced: a new one first, then the old
 *     one stopped (silentRecreated, and
 *     catchup_jobs_webhook_channels_total{event="silent_recreated"}).
 * A failure that is one user's alone (revoked, a refused or unknown
 * calendar) is logged and the scan goes on; anything else (Google or the
 * database unavailable) ends the page with a retry, the cursor having
 * moved only past users that are done.
 * Result {"created", "stopped", "silentRecreated", "next"}.
 */
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "google_job.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "scan.h"
#include "store.h"

#define SILENT_S 86400
#define SILENT_MARGIN_S 3600 /* a push-triggered sync runs well within this */

struct health {
	struct channel_counts n;
	long silent;
};

/* 1 when the channel (row: id, created_at, last_notification_at) has been
 * silent while polling found changes on its calendar. */
static int is_silent(struct job_ctx *ctx, const char *user_id, const char *cal,
                     struct store_rows *ch, int *silent, char *err, size_t errlen)
{
	int64_t now = clock_now_s();
	int64_t quiet_since = store_rows_is_null(ch, 2) ? store_rows_int(ch, 1)
	                                                : store_rows_int(ch, 2);
	char kind[600];
	struct store_param p[3];
	struct store_rows *r = NULL;
	int rc;

	*silent = 0;
	if (quiet_since > now - SILENT_S)
		return CJ_OK;
	snprintf(kind, sizeof(kind), "calendar:%s", cal);
	p[0] = store_p_text(user_id);
	p[1] = store_p_text(kind);
	p[2] = store_p_int(quiet_since + SILENT_MARGIN_S);
	rc = store_exec(ctx->svc->store,
	                "SELECT 1 FROM sync_state WHERE user_id = $1 AND kind = $2 "
	                "AND last_changed_at >= $3",
	                p, 3, &r, err, errlen);
	if (!rc)
		*silent = store_rows_count(r) > 0;
	store_rows_free(r);
	return rc;
}

static int check_calendar(struct job_ctx *ctx, const char *user_id, const char *cal,
                          struct health *h, struct google_error *gerr, char *err,
                          size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_text(cal),
	                          store_p_int(clock_now_s())};
	struct store_rows *live = NULL;
	char keep[CHANNEL_ID_MAX + 1], new_id[CHANNEL_ID_MAX + 1];
	int rc, silent = 0;

	rc = store_exec(ctx->svc->store,
	                "SELECT id, created_at, last_notification_at FROM webhook_channels "
	                "WHERE user_id = $1 AND calendar_id = $2 AND status = 'active' "
	                "AND expiration > $3 ORDER BY expiration DESC, id",
	                p, 3, &live, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(live)) {
		store_rows_free(live);
		return channel_create(ctx, user_id, cal, NULL, new_id, &h->n, gerr, err, errlen);
	}
	snprintf(keep, sizeof(keep), "%s", store_rows_text(live, 0));
	rc = is_silent(ctx, user_id, cal, live, &silent, err, errlen);
	while (!rc && store_rows_next(live))
		rc = channel_stop(ctx, user_id, store_rows_text(live, 0), &h->n, gerr, err, errlen);
	store_rows_free(live);
	if (rc || !silent)
		return rc;
	{
		struct store_param q[] = {store_p_text(keep), store_p_int(clock_now_s())};

		rc = store_exec(ctx->svc->store,
		                "UPDATE webhook_channels SET silent_flagged_at = $2, updated_at = $2 "
		                "WHERE id = $1",
		                q, 2, NULL, err, errlen);
	}
	if (rc)
		return rc;
	log_msg(L_WARNING,
	        "channel %s (user %s, calendar %s) sent nothing for a day while syncs found "
	        "changes: replacing it",
	        keep, user_id, cal);
	rc = channel_create(ctx, user_id, cal, keep, new_id, &h->n, gerr, err, errlen);
	if (rc)
		return rc;
	h->n.created--; /* counted as silentRecreated, not created */
	h->silent++;
	metrics_webhook_channel("silent_recreated");
	return channel_stop(ctx, user_id, keep, &h->n, gerr, err, errlen);
}

/* The calendars user_id syncs: primary and those of its sync state. */
static int calendars(struct job_ctx *ctx, const char *user_id, struct store_rows **out,
                     char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id)};

	return store_exec(ctx->svc->store,
	                  "SELECT 'primary' UNION SELECT SUBSTR(kind, 10) FROM sync_state "
	                  "WHERE user_id = $1 AND kind LIKE 'calendar:%' AND LENGTH(kind) > 9",
	                  p, 1, out, err, errlen);
}

static int check_user(struct job_ctx *ctx, struct store_rows *row, void *arg, long *counted,
                      char *err, size_t errlen)
{
	struct health *h = arg;
	const char *user_id = store_rows_text(row, 0);
	struct google_error gerr;
	struct store_rows *cals = NULL;
	int rc;

	*counted = 0;
	rc = channel_tidy(ctx, user_id, &h->n, &gerr, err, errlen);
	if (!rc)
		rc = calendars(ctx, user_id, &cals, err, errlen);
	while (!rc && store_rows_next(cals))
		rc = check_calendar(ctx, user_id, store_rows_text(cals, 0), h, &gerr, err, errlen);
	store_rows_free(cals);
	/* A half-made channel whose resourceId a new sibling just revealed. */
	if (!rc)
		rc = channel_tidy(ctx, user_id, &h->n, &gerr, err, errlen);
	if (rc && channel_user_fault(rc, &gerr)) {
		log_msg(L_WARNING, "webhook-health-check: user %s skipped: %s", user_id,
		        gerr.message[0] ? gerr.message : err);
		return CJ_OK;
	}
	if (rc && (gerr.kind != GOOGLE_ERR_NONE || gerr.http_status)) {
		if (gerr.retry_after_s > 0)
			ctx->retry_after_s = gerr.retry_after_s;
		if (rc == CJ_ECONFIG)
			log_msg(L_ERROR, "google: %s", gerr.message);
		snprintf(err, errlen, "google: %s", gerr.message[0] ? gerr.message : cj_strerror(rc));
	}
	return rc;
}

static json_t *result(void *arg, long count)
{
	struct health *h = arg;

	(void)count;
	return json_pack("{s:I, s:I, s:I}", "created", (json_int_t)h->n.created, "stopped",
	                 (json_int_t)h->n.stopped, "silentRecreated", (json_int_t)h->silent);
}

enum job_outcome handle_webhook_health_check(struct job_ctx *ctx)
{
	struct health h;
	struct scan s = {
	    .task_type = "webhook-health-check",
	    .what = "active google account",
	    .sql = "SELECT user_id FROM google_accounts WHERE status = 'active' "
	           "AND refresh_token_enc IS NOT NULL AND user_id > $1 ORDER BY user_id LIMIT $2",
	    .nparams = 0,
	    .each = check_user,
	    .result = result,
	    .arg = &h,
	    .page = 50,
	};

	memset(&h, 0, sizeof(h));
	return scan_run(ctx, &s);
}
