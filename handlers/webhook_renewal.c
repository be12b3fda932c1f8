/*
 * webhook_renewal.c - the webhook-renewal job (SPEC §7): Calendar watch
 * channels that expire within 24 hours are replaced before they do.
 *
 * With userId: for each calendar of the user with an active channel due
 * (expiring within RENEW_WITHIN_S, or already past its expiration), a new
 * channel is made first (channel_create, replacing the newest due one),
 * and only then are the due ones stopped. If a live channel that is not
 * due exists already (made by an earlier attempt that died before its
 * stops, or by webhook-health-check), no new one is made: the due ones are
 * only stopped. So a retry after a crash between the create and the stops
 * neither leaves the calendar without a channel nor makes a second one,
 * and channel_tidy first stops whatever a dead attempt left half made. A
 * calendar Google refuses to watch (404, another 4xx) gets no new channel;
 * its due ones are stopped all the same and the job goes on.
 * Result {"renewed": N, "stopped": N}.
 *
 * Without userId (every 6 hours): a scan (scan.h) over the users with a
 * due channel, one webhook-renewal {userId} each, named from the user and
 * the earliest expiration seen, so overlapping scans create each task once.
 */
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "google_job.h"
#include "handlers.h"
#include "log.h"
#include "scan.h"
#include "store.h"

#define RENEW_WITHIN_S 86400

/* Renews one calendar's due channels: rows holds the user's due channels
 * (id, calendar_id) ordered by calendar and newest expiration first,
 * positioned on the calendar's first; on return it is positioned past the
 * calendar's last (*more 0 when no row follows). */
static int renew_calendar(struct job_ctx *ctx, const char *user_id, struct store_rows *rows,
                          int *more, struct channel_counts *n, long *renewed,
                          struct google_error *gerr, char *err, size_t errlen)
{
	char cal[512], first[CHANNEL_ID_MAX + 1], new_id[CHANNEL_ID_MAX + 1];
	struct store_param p[3];
	struct store_rows *live = NULL;
	int rc, has_live;

	snprintf(cal, sizeof(cal), "%s", store_rows_text(rows, 1));
	snprintf(first, sizeof(first), "%s", store_rows_text(rows, 0));
	p[0] = store_p_text(user_id);
	p[1] = store_p_text(cal);
	p[2] = store_p_int(clock_now_s() + RENEW_WITHIN_S);
	rc = store_exec(ctx->svc->store,
	                "SELECT id FROM webhook_channels WHERE user_id = $1 AND calendar_id = $2 "
	                "AND status = 'active' AND expiration > $3 LIMIT 1",
	                p, 3, &live, err, errlen);
	if (rc)
		return rc;
	has_live = store_rows_count(live) > 0;
	store_rows_free(live);
	if (!has_live) {
		rc = channel_create(ctx, user_id, cal, first, new_id, n, gerr, err, errlen);
		if (rc == CJ_OK) {
			(*renewed)++;
		} else if (rc == CJ_ENOTFOUND || rc == CJ_EUPSTREAM) {
			/* Google refuses to watch this calendar (gone, no access):
			 * no new channel, but the due ones are still stopped. */
			log_msg(L_WARNING, "webhook-renewal: calendar %s of user %s not watched: %s",
			        cal, user_id, gerr->message[0] ? gerr->message : err);
			memset(gerr, 0, sizeof(*gerr));
		} else {
			return rc;
		}
	}
	/* Now stop every due channel of this calendar. */
	do {
		if (strcmp(store_rows_text(rows, 1), cal))
			return CJ_OK; /* the next calendar's first row */
		rc = channel_stop(ctx, user_id, store_rows_text(rows, 0), n, gerr, err, errlen);
		if (rc)
			return rc;
	} while ((*more = store_rows_next(rows)));
	return CJ_OK;
}

static enum job_outcome renew_user(struct job_ctx *ctx, const char *user_id)
{
	struct channel_counts n = {0, 0};
	struct user_tokens_deps d;
	struct google_call call;
	struct google_error gerr;
	struct user_token t;
	struct store_param p[2];
	struct store_rows *due = NULL;
	enum job_outcome outcome;
	char err[512] = "";
	long renewed = 0;
	int rc, more;

	/* An account that cannot be used completes here, as the sync jobs do. */
	google_job_deps(ctx, &d);
	google_job_call(ctx, &call);
	rc = user_token_get(&d, user_id, USER_TOKENS_MIN_VALID_S, 0, &call, &t, &gerr);
	user_token_release(&t);
	if (rc) {
		if (google_job_unusable(ctx, rc, &gerr, &outcome))
			return outcome;
		return google_job_fail(ctx, rc, &gerr);
	}
	rc = channel_tidy(ctx, user_id, &n, &gerr, err, sizeof(err));
	if (rc)
		return channel_fail(ctx, rc, &gerr, "tidying channels", err);
	p[0] = store_p_text(user_id);
	p[1] = store_p_int(clock_now_s() + RENEW_WITHIN_S);
	rc = store_exec(ctx->svc->store,
	                "SELECT id, calendar_id FROM webhook_channels WHERE user_id = $1 "
	                "AND status IN ('active', 'expired') "
	                "AND expiration <= $2 ORDER BY calendar_id, expiration DESC, id",
	                p, 2, &due, err, sizeof(err));
	if (rc)
		return google_job_store_fail(ctx, rc, "reading due channels", err);
	more = store_rows_next(due);
	while (!rc && more) {
		if (job_should_stop(ctx)) {
			rc = cj_errorf(err, sizeof(err), CJ_ETIMEOUT, "out of time");
			break;
		}
		rc = renew_calendar(ctx, user_id, due, &more, &n, &renewed, &gerr, err, sizeof(err));
	}
	store_rows_free(due);
	if (rc) {
		if (google_job_unusable(ctx, rc, &gerr, &outcome))
			return outcome;
		return channel_fail(ctx, rc, &gerr, "renewing channels", err);
	}
	job_set_result(ctx, json_pack("{s:I, s:I}", "renewed", (json_int_t)renewed, "stopped",
	                              (json_int_t)n.stopped));
	return JOB_OK;
}

static void expiry_part(struct store_rows *row, void *arg, char *out, size_t outlen)
{
	(void)arg;
	snprintf(out, outlen, "%lld", (long long)store_rows_int(row, 1));
}

static enum job_outcome scan(struct job_ctx *ctx)
{
	struct scan s = {
	    .task_type = "webhook-renewal",
	    .what = "user with a channel due for renewal",
	    .sql = "SELECT user_id, MIN(expiration) FROM webhook_channels "
	           "WHERE status = 'active' AND expiration <= $1 "
	           "AND user_id > $2 GROUP BY user_id ORDER BY user_id LIMIT $3",
	    .params = {store_p_int(clock_now_s() + RENEW_WITHIN_S)},
	    .nparams = 1,
	    .task_part = expiry_part,
	};

	return scan_run(ctx, &s);
}

enum job_outcome handle_webhook_renewal(struct job_ctx *ctx)
{
	const char *user_id = json_string_value(json_object_get(ctx->payload, "userId"));

	if (user_id)
		return renew_user(ctx, user_id);
	return scan(ctx);
}
