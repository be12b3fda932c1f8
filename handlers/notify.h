/*
 * notify.h - what the notification jobs (batch-notifications,
 * notification-reminder, token-health-reminder) share: sending one message
 * exactly once through the outbox (SPEC §7 "Rules the jobs share"), the
 * choice of channel, and the scan that fans a job out over users.
 *
 * notify_send() is the only path from a job to a provider. For one message
 * it does, in this order:
 *   1. SMS only: takes the SMS limit (20 per phone per rolling hour, key
 *      "sms:" + phone, member = the outbox key, so a retried job re-taking
 *      for the same message is not counted twice). Not allowed: DEFERRED,
 *      nothing written, nothing sent.
 *   2. outbox_begin(): a key seen before is not sent again (sent → SENT,
 *      failed → FAILED, sending → UNCONFIRMED: a crash or a lost answer,
 *      logged and counted in catchup_jobs_outbox_unconfirmed_total).
 *   3. the provider call, then outbox_move() to sent or failed; a call that
 *      certainly never left is forgotten (outbox_forget) and its SMS slot
 *      released, so the retried job sends it.
 * It never sends a message twice: a row left 'sending' waits for an
 * operator (/admin/outbox).
 *
 * Thread-safe as the job services are.
 */
#ifndef CJ_NOTIFY_H
#define CJ_NOTIFY_H

#include <stdint.h>

#include "job.h"
#include "outbox.h"

#define NOTIFY_SMS_LIMIT 20
#define NOTIFY_SMS_WINDOW_S 3600

/* Messages per fate in one job run. */
struct notify_counts {
	long sent, deferred, failed, unconfirmed;
};

enum notify_fate {
	NOTIFY_SENT, /* accepted now, or accepted by an earlier run */
	NOTIFY_DEFERRED, /* held back by the SMS limit: nothing written */
	NOTIFY_FAILED, /* refused for good (the row is 'failed' with the code) */
	NOTIFY_UNCONFIRMED, /* the row is 'sending': it may have arrived */
	NOTIFY_RETRY, /* the job must answer RETRY now: job_fail() was called,
	               * ctx->retry_after_s set when the provider said */
};

/* Sends m (its key, kind, channel, to, subject (e-mail) and body are
 * required) at most once, counting its fate in *c (NULL: not counted). */
enum notify_fate notify_send(struct job_ctx *ctx, const struct outbox_message *m,
                             struct notify_counts *c);

/* The channel a user is reached on: the preference ("sms", "email" or
 * "none") when its address is there, else the other one; "none", or
 * neither address, gives NULL. *to points into phone or email. */
const char *notify_channel_pick(const char *pref, const char *phone, const char *email,
                                const char **to);

/* Formats t in the zone named tz (UTC when unknown) as "Tue 14 Jan 10:30". */
void notify_format_local(int64_t t, const char *tz, char *out, size_t outlen);

/* A fan-out page over users: runs sql with $1 = the cursor's user id (""
 * at the start), $2 = the page size and, when has_now, $3 = now_param; it
 * must select user ids in order, > $1. Enqueues `type` {userId} for each,
 * named from the user and bucket, and a follow-up `type` {cursor} when the
 * page was full or time ran short. Sets the result {"enqueued", "next"}. */
enum job_outcome notify_scan(struct job_ctx *ctx, const char *type, const char *cursor,
                             const char *sql, int has_now, int64_t now_param, const char *bucket);

/* Cursors are an id in base64url: 0 and out, or -1 for a cursor this job
 * did not make. */
int notify_cursor_decode(const char *cursor, char *out, size_t outlen);

/* A database failure inside a job: RETRY (PERMANENT for a caller bug). */
enum job_outcome notify_store_fail(struct job_ctx *ctx, int rc, const char *what, const char *err);

#endif
