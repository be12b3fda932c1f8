/*
 * google_job.c - the shared parts of the Google data jobs; see
 * google_job.h.
 */
#include "google_job.h"

#include <string.h>

#include "log.h"

void google_job_call(struct job_ctx *ctx, struct google_call *call)
{
	memset(call, 0, sizeof(*call));
	call->deadline_ms = ctx->deadline_ms;
	call->cancelled = job_cancelled_cb;
	call->cancel_arg = ctx;
}

void google_job_deps(const struct job_ctx *ctx, struct user_tokens_deps *d)
{
	d->store = ctx->svc->store;
	d->key = ctx->svc->token_key;
	d->google = ctx->svc->google;
}

int google_job_unusable(struct job_ctx *ctx, int rc, const struct google_error *gerr,
                        enum job_outcome *outcome)
{
	if (rc == CJ_ENOTFOUND && gerr->kind == GOOGLE_ERR_NONE) {
		*outcome = job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
		return 1;
	}
	if (rc != CJ_EAUTH || gerr->kind == GOOGLE_ERR_UNAUTHORIZED)
		return 0;
	job_set_result(ctx, json_pack("{s:s}", "skipped",
	                              gerr->kind == GOOGLE_ERR_REVOKED ? "revoked"
	                                                               : "no_google_account"));
	*outcome = JOB_OK;
	return 1;
}

static const char *failure_code(int rc, const struct google_error *gerr)
{
	switch (rc) {
	case CJ_EUNAVAIL:
		return "google_unavailable";
	case CJ_ETIMEOUT:
		return "google_timeout";
	case CJ_ECONFIG:
		return "google_config";
	case CJ_ECONFLICT:
		return "token_refresh_in_progress";
	case CJ_ENOTFOUND:
		return "google_not_found";
	case CJ_EAUTH:
		return "google_unauthorized";
	case CJ_ENOMEM:
		return "out_of_memory";
	default:
		return gerr->http_status ? "google_error" : "internal";
	}
}

enum job_outcome google_job_fail(struct job_ctx *ctx, int rc, const struct google_error *gerr)
{
	if (rc == CJ_ECONFIG)
		log_msg(L_ERROR, "google: %s", gerr->message);
	if (gerr->retry_after_s > 0)
		ctx->retry_after_s = gerr->retry_after_s;
	return job_fail_rc(ctx, rc, failure_code(rc, gerr), "%s",
	                   gerr->message[0] ? gerr->message : cj_strerror(rc));
}

enum job_outcome google_job_store_fail(struct job_ctx *ctx, int rc, const char *what,
                                       const char *err)
{
	return job_fail_rc(ctx, rc == CJ_EINVAL ? CJ_EINTERNAL : rc, "database_unavailable",
	                   "%s: %s", what, err && err[0] ? err : cj_strerror(rc));
}
