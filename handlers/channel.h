/*
 * channel.h - Calendar push channels (events.watch / channels.stop, SPEC
 * §5.5, §7), as webhook-renewal and webhook-health-check manage them:
 * making one, stopping one, and finishing what a run that died left.
 * The rows are webhook_channels; migrations/0006_webhook_channels.sql
 * names the states.
 *
 * Every Google call is preceded by the row that names its effect: a
 * 'pending' row, carrying the job key that wrote it, before events.watch;
 * a 'stopping' row before channels.stop. A run killed anywhere leaves rows
 * that the next run turns into stop calls (channel_tidy): the retry of the
 * same task at once, any other run once the row is CHANNEL_PENDING_STALE_S
 * old. So no channel is leaked silently and a task never makes two.
 *
 * Google's resourceId is the same for every channel on one calendar, so a
 * channel whose watch answer was lost is stopped with the resourceId of a
 * sibling. Until a sibling exists it cannot be stopped: it stays
 * 'stopping', counted as leaked in /metrics and logged, and becomes
 * 'expired' at its expiration; its pushes get 404 meanwhile.
 *
 * Errors: every function returns a cj.h code. A Google failure fills gerr
 * (kind not GOOGLE_ERR_NONE, or http_status set); a database failure
 * leaves gerr zeroed and says why in err.
 */
#ifndef CJ_CHANNEL_H
#define CJ_CHANNEL_H

#include <stdint.h>

#include "google_api.h"
#include "job.h"

#define CHANNEL_TTL_S 604800 /* params.ttl of every watch: 7 days */
#define CHANNEL_PENDING_STALE_S 1800 /* a pending row this old was abandoned */
#define CHANNEL_ID_MAX 64

/* What a run did to a user's channels. */
struct channel_counts {
	long created; /* watched and confirmed */
	long stopped; /* moved to 'stopped' (Google stopped it or had no such channel) */
};

/* The path of the push receiver on this service. */
#define CHANNEL_WEBHOOK_PATH "/webhooks/google-calendar"

/* Finishes what earlier runs left for user_id: pending rows this job's key
 * wrote, or older than CHANNEL_PENDING_STALE_S, become 'stopping'; active
 * rows past their expiration become 'expired'; every 'stopping' row is
 * stopped (or expired, when it has ended and no resourceId is known). */
int channel_tidy(struct job_ctx *ctx, const char *user_id, struct channel_counts *n,
                 struct google_error *gerr, char *err, size_t errlen) CJ_WUR;

/* Watches calendar_id for user_id: a pending row, events.watch, then the
 * row made active with Google's resourceId and expiration. replaces (NULL:
 * none) names the channel this one takes over from (its replaced_by is
 * set). On CJ_OK new_id (CHANNEL_ID_MAX + 1 bytes) names the channel. A
 * refusal leaves no row; a call whose outcome is unknown (timeout, 5xx)
 * leaves the pending row for channel_tidy. */
int channel_create(struct job_ctx *ctx, const char *user_id, const char *calendar_id,
                   const char *replaces, char *new_id, struct channel_counts *n,
                   struct google_error *gerr, char *err, size_t errlen) CJ_WUR;

/* Stops channel id of user_id: 'stopping', channels.stop, 'stopped' (a 404
 * means Google has no such channel any more: stopped too). */
int channel_stop(struct job_ctx *ctx, const char *user_id, const char *id,
                 struct channel_counts *n, struct google_error *gerr, char *err,
                 size_t errlen) CJ_WUR;

/* A failure of the functions above as the job's answer: Google's mapped
 * by google_job_fail(), the database's by google_job_store_fail(). */
enum job_outcome channel_fail(struct job_ctx *ctx, int rc, const struct google_error *gerr,
                              const char *what, const char *err);

/* 1 when rc/gerr is a failure of one user's account or calendar that other
 * users do not share (revoked, no account, a refused or unknown calendar):
 * a scan logs it and goes on with the next user. */
int channel_user_fault(int rc, const struct google_error *gerr);

#endif
