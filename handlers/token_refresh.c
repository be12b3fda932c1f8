/*
 * token_refresh.c - the token-refresh job (SPEC §7).
 *
 * With userId: refresh that user's Google access token when it expires
 * within 15 minutes (user_tokens.c makes concurrent runs refresh once).
 * invalid_grant marks the account revoked and completes: only the user can
 * fix it, and token-health-reminder tells them.
 *
 * Without userId (the 10-minute schedule): a scan. It walks the due
 * accounts in pages by user id and enqueues one token-refresh {userId} each,
 * named from the user and the expiry it saw, so overlapping scans create
 * each task once. A page that ends the run's time, or a full page, hands
 * on to a follow-up task carrying the cursor, named from this run's key so
 * a retried run hands on to the same task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "clock.h"
#include "google_job.h"
#include "handlers.h"
#include "store.h"

#define DUE_WITHIN_S 900
#define SCAN_PAGE 200
#define SCAN_RESERVE_MS 15000 /* stop enqueuing when less is left */

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
		job_set_result(ctx, json_pack("{s:b, s:I, s:s}", "refreshed", t.refreshed,
		                              "expiresAt", (json_int_t)t.expires_at, "status", "ok"));
		user_token_release(&t);
		return JOB_OK;
	}
	user_token_release(&t);
	if (rc == CJ_ENOTFOUND && gerr.kind == GOOGLE_ERR_NONE)
		return job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
	if (rc == CJ_EAUTH || rc == CJ_EUPSTREAM) {
		/* Revoked, no account, or refused for good (stored as 'error'):
		 * retrying cannot help. */
		const char *status = rc == CJ_EUPSTREAM             ? "error"
		                     : gerr.kind == GOOGLE_ERR_REVOKED ? "revoked"
		                                                       : "none";
		json_t *res = json_pack("{s:b, s:n, s:s}", "refreshed", 0, "expiresAt", "status",
		                        status);

		if (res && rc == CJ_EUPSTREAM)
			json_object_set_new(res, "error", json_string(gerr.message));
		job_set_result(ctx, res);
		return JOB_OK;
	}
	outcome = google_job_fail(ctx, rc, &gerr);
	return outcome;
}

/* The cursor is the last user id of the page, in base64url (opaque). */
static int cursor_decode(const char *cursor, char *out, size_t outlen)
{
	unsigned char *raw = NULL;
	size_t len = 0;

	if (b64url_decode(cursor, strlen(cursor), &raw, &len) || len == 0 || len >= outlen ||
	    memchr(raw, '\0', len)) {
		free(raw);
		return -1;
	}
	memcpy(out, raw, len);
	out[len] = '\0';
	free(raw);
	return 0;
}

static enum job_outcome scan(struct job_ctx *ctx, const char *cursor)
{
	char after[256] = "", err[512] = "", task[JOB_TASK_ID_MAX], expiry[32], last[256] = "";
	struct store_rows *rows = NULL;
	long enqueued = 0;
	size_t seen = 0;
	int64_t now = clock_now_s();
	char *next = NULL;
	int rc, more;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	if (cursor && cursor_decode(cursor, after, sizeof(after)))
		return job_fail(ctx, JOB_PERMANENT, "invalid_payload",
		                "cursor: not a cursor this job made");
	{
		struct store_param p[] = {store_p_int(now + DUE_WITHIN_S), store_p_text(after),
		                          store_p_int(SCAN_PAGE)};

		rc = store_exec(ctx->svc->store,
		                "SELECT user_id, COALESCE(token_expires_at, 0) FROM google_accounts "
		                "WHERE status = 'active' AND refresh_token_enc IS NOT NULL "
		                "AND (token_expires_at IS NULL OR token_expires_at <= $1) "
		                "AND user_id > $2 ORDER BY user_id LIMIT $3",
		                p, 3, &rows, err, sizeof(err));
	}
	if (rc)
		return google_job_store_fail(ctx, rc, "listing due google accounts", err);
	more = store_rows_count(rows) == SCAN_PAGE;
	while (store_rows_next(rows)) {
		const char *uid = store_rows_text(rows, 0);
		json_t *payload;
		int created;

		if (job_remaining_ms(ctx) < SCAN_RESERVE_MS || job_should_stop(ctx)) {
			more = 1; /* the rest goes to the follow-up */
			break;
		}
		snprintf(expiry, sizeof(expiry), "%lld", (long long)store_rows_int(rows, 1));
		job_task_id(task, sizeof(task), "token-refresh", uid, expiry, NULL);
		payload = json_pack("{s:s}", "userId", uid);
		rc = payload ? job_enqueue(ctx, "token-refresh", payload, task, &created, err,
		                           sizeof(err))
		             : CJ_ENOMEM;
		json_decref(payload);
		if (rc) {
			store_rows_free(rows);
			return job_fail_rc(ctx, rc, "enqueue_failed",
			                   "enqueuing token-refresh for a due account: %s", err);
		}
		enqueued += created;
		seen++;
		snprintf(last, sizeof(last), "%s", uid);
	}
	store_rows_free(rows);
	if (more && seen) {
		json_t *payload;
		int created;

		next = b64url_encode(last, strlen(last));
		payload = next ? json_pack("{s:s}", "cursor", next) : NULL;
		job_task_id(task, sizeof(task), "token-refresh-scan", ctx->key, next, NULL);
		rc = payload ? job_enqueue(ctx, "token-refresh", payload, ctx->key[0] ? task : NULL,
		                           &created, err, sizeof(err))
		             : CJ_ENOMEM;
		json_decref(payload);
		if (rc) {
			free(next);
			return job_fail_rc(ctx, rc, "enqueue_failed",
			                   "enqueuing the next page of the scan: %s", err);
		}
	} else if (more) {
		return job_fail(ctx, JOB_RETRY, "deadline_exceeded",
		                "no time left to enqueue any due account");
	}
	job_set_result(ctx, json_pack("{s:I, s:o}", "enqueued", (json_int_t)enqueued, "next",
	                              next ? json_string(next) : json_null()));
	free(next);
	return JOB_OK;
}

enum job_outcome handle_token_refresh(struct job_ctx *ctx)
{
	const char *user_id = json_string_value(json_object_get(ctx->payload, "userId"));

	if (user_id)
		return refresh_one(ctx, user_id);
	return scan(ctx, json_string_value(json_object_get(ctx->payload, "cursor")));
}
