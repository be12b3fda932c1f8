/*
 * metrics.h - process-wide counters, gauges and histograms, rendered in the
 * Prometheus text format for GET /metrics.
 *
 * Series are created on first use and live for the process. Label values
 * must come from bounded sets (job types from src/job_types.c, fixed reasons):
 * callers map anything a client chose (an unknown job type) to "unknown".
 * At most METRICS_MAX_SERIES series exist; beyond that updates are dropped.
 *
 * Thread-safe (one mutex; every update is a few hashes and adds).
 */
#ifndef CJ_METRICS_H
#define CJ_METRICS_H

#include "buf.h"
#include "cj.h"

#define METRICS_MAX_SERIES 1024

/* outcome: completed, duplicate, in_progress, retry, failed, rejected */
void metrics_request(const char *type, const char *outcome);
void metrics_job_duration(const char *type, double seconds);
void metrics_auth_failure(const char *reason);
void metrics_inflight_add(int delta);
long metrics_inflight(void);
/* upstream: redis, database, jwks, cloudtasks, google, twilio, sendgrid,
 * metadata; op: what was asked (claim, fetch, create, token, ...) */
void metrics_upstream(const char *upstream, const char *op, double seconds);
/* result: created, duplicate, invalid, error */
void metrics_enqueue(const char *type, const char *result);
void metrics_dead_letter(const char *type);
/* catchup_jobs_provider_errors_total{provider,reason}: provider is google,
 * twilio or sendgrid; reason a short code (e.g. "invalid_client"). */
void metrics_provider_error(const char *provider, const char *reason);
/* catchup_jobs_outbox_unconfirmed_total{kind}: a message left or found in
 * outbox state 'sending' (kind: "batch", "reminder", "token-health"). */
void metrics_outbox_unconfirmed(const char *kind);
/* catchup_jobs_webhook_pushes_total{result}: an authenticated Calendar push
 * and what it did: enqueued (a calendar-sync create), coalesced (its 30-s
 * bucket was enqueued already), sync (a channel's first message), stale (an
 * older message number than one seen). */
void metrics_webhook_push(const char *result);
/* catchup_jobs_webhook_channels_total{event}: created, stopped,
 * silent_recreated (silent for 24 h while polling found changes), leaked (a
 * channel Google may still run that cannot be stopped yet). */
void metrics_webhook_channel(const char *event);
void metrics_claim_lost(void);
void metrics_last_attempt_in_progress(void);
/* Local mode's Cloud Tasks: one attempt of queue ended; result: 2xx, 4xx,
 * 5xx (the class of the answer), timeout (no answer within the dispatch
 * deadline), error (no answer: connection refused, stopped). */
void metrics_emulator_dispatch(const char *queue, const char *result);

/* Appends the whole exposition to out. CJ_OK or CJ_ENOMEM/CJ_ETOOBIG. */
int metrics_render(struct buf *out) CJ_WUR;

#endif
