/*
 * token_refresh.c - the token-refresh job (SPEC §7).
 *
 * With userId: refresh that user's Google access token when it expires
 * within 15 minutes (user_tokens.c makes concurrent runs refresh once).
 * invalid_grant marks the account revoked and completes: only the user can
 * fix it, and token-health-reminder tells them.
 *
 * Without userId (the 10-minute schedule): a scan (scan.h) over the due
 * accounts, enqueuing one token-refresh {userId} each, named from the user
 * and the expiry it saw, so overlapping scans create each task once.
 */
#include <stdio.h>

#include "clock.h"
#include "google_job.h"
#include "handlers.h"
#include "scan.h"
#include "store.h"

#define DUE_WITHIN_S 900

static enum job_outcome refresh_one(struct job_ctx *ctx, const char *user_id)
{
	struct user_tokens_deps d;
	struct google_call call;
	struct google_error gerr;
	struct user_token t;
	enum job_outcome outcome;
	int rc;

	google_job_deps(ctx, &d);
	google_job_call(ctx, &call);
	rc = user_token_get(&d, user_id, DUE_WITHIN_S, 0, &call, &t, &gerr);
	if (rc == CJ_OK) {
		job_set_result(ctx,
		               json_pack("{s:b, s:I, s:s}", "refreshed", t.refreshed, "expiresAt",
		                         (json_int_t)t.expires_at, "status", "ok"));
		user_token_release(&t);
		return JOB_OK;
	}
	user_token_release(&t);
	if (rc == CJ_ENOTFOUND && gerr.kind == GOOGLE_ERR_NONE)
		return job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
	if (rc == CJ_EAUTH || rc == CJ_EUPSTREAM) {
		/* Revoked, no account, or refused for good (stored as 'error'):
		 * retrying cannot help. */
		const char *status = rc == CJ_EUPSTREAM ? "error"
		    : gerr.kind == GOOGLE_ERR_REVOKED   ? "revoked"
		                                        : "none";
		json_t *res =
		    json_pack("{s:b, s:n, s:s}", "refreshed", 0, "expiresAt", "status", status);

		if (res && rc == CJ_EUPSTREAM)
			json_object_set_new(res, "error", json_string(gerr.message));
		job_set_result(ctx, res);
		return JOB_OK;
	}
	outcome = google_job_fail(ctx, rc, &gerr);
	return outcome;
}

static void expiry_part(struct store_rows *row, void *arg, char *out, size_t outlen)
{
	(void)arg;
	snprintf(out, outlen, "%lld", (long long)store_rows_int(row, 1));
}

/* Accounts due for a refresh, named by the expiry the scan saw, so the next
 * scan after a refresh enqueues the account again. */
static enum job_outcome scan(struct job_ctx *ctx)
{
	struct scan s = {
	    .task_type = "token-refresh",
	    .what = "due google account",
	    .sql = "SELECT user_id, COALESCE(token_expires_at, 0) FROM google_accounts "
	           "WHERE status = 'active' AND refresh_token_enc IS NOT NULL "
	           "AND (token_expires_at IS NULL OR token_expires_at <= $1) "
	           "AND user_id > $2 ORDER BY user_id LIMIT $3",
	    .params = {store_p_int(clock_now_s() + DUE_WITHIN_S)},
	    .nparams = 1,
	    .task_part = expiry_part,
	};

	return scan_run(ctx, &s);
}

enum job_outcome handle_token_refresh(struct job_ctx *ctx)
{
	const char *user_id = json_string_value(json_object_get(ctx->payload, "userId"));

	if (user_id)
		return refresh_one(ctx, user_id);
	return scan(ctx);
}
