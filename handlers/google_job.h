/*
 * google_job.h - what the Google data jobs (token-refresh,
 * google-contacts-sync, calendar-sync, and later the webhook jobs) share:
 * the call budget from the job's deadline, the token dependencies from the
 * job's services, and one mapping of a failed Google call to the job's
 * answer.
 */
#ifndef CJ_GOOGLE_JOB_H
#define CJ_GOOGLE_JOB_H

#include "google_api.h"
#include "job.h"
#include "user_tokens.h"

/* The deadline and cancellation of ctx, for google_api/user_tokens calls. */
void google_job_call(struct job_ctx *ctx, struct google_call *call);
/* The store, token key and Google client of ctx's services. */
void google_job_deps(const struct job_ctx *ctx, struct user_tokens_deps *d);

/* When rc/gerr (from user_token_get or user_api_call) says the user or the
 * account cannot be used, finishes the job and returns 1 with *outcome:
 * no such user → JOB_PERMANENT user_not_found; revoked → JOB_OK with
 * result {"skipped": "revoked"}; no Google account → {"skipped":
 * "no_google_account"}. 0 otherwise. */
int google_job_unusable(struct job_ctx *ctx, int rc, const struct google_error *gerr,
                        enum job_outcome *outcome);

/* Any other failure: the outcome job_fail_rc() gives rc, with Google's
 * Retry-After passed on and configuration faults logged at ERROR. */
enum job_outcome google_job_fail(struct job_ctx *ctx, int rc, const struct google_error *gerr);

/* A database failure inside a job: RETRY (or PERMANENT for a caller bug). */
enum job_outcome google_job_store_fail(struct job_ctx *ctx, int rc, const char *what,
                                       const char *err);

#endif
