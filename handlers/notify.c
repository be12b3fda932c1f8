/*
 * notify.c - one message sent once, the channel choice and the user scan of
 * the notification jobs; see notify.h. The order limit → outbox row →
 * provider → mark is what makes a retried or concurrent job never send
 * twice; each write before the call says below what a death right after it
 * leaves.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "clock.h"
#include "log.h"
#include "messaging.h"
#include "metrics.h"
#include "ratelimit.h"
#include "store.h"
#include "tz.h"

#define SCAN_PAGE 200
#define SCAN_RESERVE_MS 15000 /* stop enqueuing when less is left */

static void count(struct notify_counts *c, enum notify_fate f)
{
	if (!c)
		return;
	switch (f) {
	case NOTIFY_SENT:
		c->sent++;
		break;
	case NOTIFY_DEFERRED:
		c->deferred++;
		break;
	case NOTIFY_FAILED:
		c->failed++;
		break;
	case NOTIFY_UNCONFIRMED:
		c->unconfirmed++;
		break;
	case NOTIFY_RETRY:
		break;
	}
}

static const char *provider_of(const struct outbox_message *m)
{
	return strcmp(m->channel, "sms") ? "sendgrid" : "twilio";
}

/* Gives the SMS slot of m back (the message did not go out). A failure
 * only leaves the slot taken until it leaves the window: fewer messages,
 * never more. */
static void slot_release(struct job_ctx *ctx, const struct outbox_message *m, const char *rl_key)
{
	char err[256] = "";

	if (!rl_key[0])
		return;
	if (ratelimit_release(ctx->svc->ratelimit, rl_key, m->key, err, sizeof(err)))
		log_msg(L_WARNING, "releasing the sms slot of outbox key \"%s\" failed: %s", m->key,
		        err);
}

/* The call certainly never left: the row goes so that the retried job
 * sends it. If this delete fails the row stays 'sending' for an operator
 * (a missed message, never a double one). */
static void row_forget(struct job_ctx *ctx, const char *id)
{
	char err[256] = "";

	if (outbox_forget(ctx->svc->store, id, err, sizeof(err)))
		log_msg(L_WARNING, "outbox row %s could not be forgotten (it stays sending): %s",
		        id, err);
}

static enum notify_fate unconfirmed(const struct outbox_message *m, const char *id, const char *why)
{
	log_msg(L_WARNING, "outbox row %s (key \"%s\") is unconfirmed: %s; an operator resolves it",
	        id, m->key, why);
	metrics_outbox_unconfirmed(m->kind);
	return NOTIFY_UNCONFIRMED;
}

/* Step 1: the SMS limit. NOTIFY_SENT here means "go on". */
static enum notify_fate take_slot(struct job_ctx *ctx, const struct outbox_message *m, char *rl_key,
                                  size_t rl_keylen)
{
	char err[256] = "";
	double retry_at = 0;
	int allowed = 0, rc;

	rl_key[0] = '\0';
	if (strcmp(m->channel, "sms"))
		return NOTIFY_SENT;
	if (!ctx->svc->ratelimit) {
		job_fail_rc(ctx, CJ_ECONFIG, "no_rate_limiter", "no sms rate limiter configured");
		return NOTIFY_RETRY;
	}
	snprintf(rl_key, rl_keylen, "sms:%s", m->to);
	/* A death after this take leaves one slot used for an hour by a
	 * message not sent: the limit errs towards fewer messages. The retried
	 * job takes for the same member and is not counted twice. */
	rc = ratelimit_take(ctx->svc->ratelimit, rl_key, NOTIFY_SMS_LIMIT, NOTIFY_SMS_WINDOW_S,
	                    clock_now(), m->key, &allowed, &retry_at, err, sizeof(err));
	if (rc) {
		rl_key[0] = '\0';
		job_fail_rc(ctx, rc, "rate_limit_unavailable", "asking the sms limit: %s", err);
		return NOTIFY_RETRY;
	}
	if (!allowed) {
		rl_key[0] = '\0';
		log_msg(L_INFO, "sms limit reached for outbox key \"%s\"; deferred %.0f s", m->key,
		        retry_at - clock_now());
		return NOTIFY_DEFERRED;
	}
	return NOTIFY_SENT;
}

static int provider_call(struct job_ctx *ctx, const struct outbox_message *m,
                         struct messaging_result *res)
{
	struct messaging_call call = {ctx->deadline_ms, job_cancelled_cb, ctx};

	if (!strcmp(m->channel, "sms"))
		return messaging_sms(ctx->svc->messaging, m->to, m->body, &call, res);
	return messaging_email(ctx->svc->messaging, m->to, m->subject ? m->subject : "CatchUp",
	                       m->body, &call, res);
}

/* Step 3's answer, the row being ours and 'sending'. */
static enum notify_fate settle(struct job_ctx *ctx, const struct outbox_message *m, const char *id,
                               const char *rl_key, int rc, const struct messaging_result *res)
{
	char err[256] = "";
	int mrc;

	if (rc == CJ_OK) {
		mrc = outbox_move(ctx->svc->store, id, OUTBOX_SENDING, OUTBOX_SENT,
		                  res->provider_id, NULL, clock_now_s(), err, sizeof(err));
		if (mrc)
			return unconfirmed(m, id, "sent, but marking it failed");
		return NOTIFY_SENT;
	}
	if (rc == CJ_EUPSTREAM || rc == CJ_EINVAL) {
		/* Refused for good: this message, not the job. */
		mrc = outbox_move(ctx->svc->store, id, OUTBOX_SENDING, OUTBOX_FAILED, NULL,
		                  res->code[0] ? res->code : res->message, clock_now_s(), err,
		                  sizeof(err));
		if (mrc)
			log_msg(L_WARNING, "outbox row %s was refused but stays sending: %s", id,
			        err);
		log_msg(L_INFO, "%s refused outbox row %s: %s", provider_of(m), id, res->message);
		slot_release(ctx, m, rl_key);
		return NOTIFY_FAILED;
	}
	if (res->maybe_sent) {
		/* The provider may have it: never again by itself. */
		return unconfirmed(m, id, res->message[0] ? res->message : cj_strerror(rc));
	}
	row_forget(ctx, id);
	slot_release(ctx, m, rl_key);
	if (rc == CJ_ECONFIG) {
		log_msg(L_ERROR, "%s: %s", provider_of(m), res->message);
		job_fail_rc(ctx, rc, "provider_config", "%s: %s", provider_of(m), res->message);
		return NOTIFY_RETRY;
	}
	if (res->retry_after_s > 0)
		ctx->retry_after_s = res->retry_after_s;
	job_fail_rc(ctx, rc == CJ_EINTERNAL ? CJ_EUNAVAIL : rc, "provider_unavailable", "%s: %s",
	            provider_of(m), res->message[0] ? res->message : cj_strerror(rc));
	return NOTIFY_RETRY;
}

static enum notify_fate send_once(struct job_ctx *ctx, const struct outbox_message *m)
{
	char rl_key[300], id[33] = "", err[256] = "";
	struct messaging_result res;
	enum outbox_state existing = OUTBOX_SENDING;
	enum notify_fate f;
	int rc;

	if (!ctx->svc->store || !ctx->svc->messaging) {
		job_fail_rc(ctx, CJ_ECONFIG, "not_configured",
		            "no database or messaging configured");
		return NOTIFY_RETRY;
	}
	f = take_slot(ctx, m, rl_key, sizeof(rl_key));
	if (f != NOTIFY_SENT)
		return f;
	/* A death after this insert leaves the row 'sending' with nothing sent:
	 * the retried job finds the key and counts it unconfirmed; an operator
	 * resends it. A missed message beats a double one. */
	rc = outbox_begin(ctx->svc->store, m, clock_now_s(), id, &existing, err, sizeof(err));
	if (rc == CJ_EEXISTS) {
		/* Seen before: its SMS slot (same member) stays as it was taken,
		 * except for a refused message, which never used one. */
		if (existing == OUTBOX_SENT)
			return NOTIFY_SENT;
		if (existing == OUTBOX_FAILED) {
			slot_release(ctx, m, rl_key);
			return NOTIFY_FAILED;
		}
		return unconfirmed(m, id, "found in sending (a crash or a lost answer before)");
	}
	if (rc) {
		slot_release(ctx, m, rl_key);
		notify_store_fail(ctx, rc, "writing the outbox row", err);
		return NOTIFY_RETRY;
	}
	memset(&res, 0, sizeof(res));
	/* A death during or right after this call leaves the row 'sending':
	 * perhaps sent, never sent again automatically. */
	rc = provider_call(ctx, m, &res);
	return settle(ctx, m, id, rl_key, rc, &res);
}

enum notify_fate notify_send(struct job_ctx *ctx, const struct outbox_message *m,
                             struct notify_counts *c)
{
	enum notify_fate f = send_once(ctx, m);

	count(c, f);
	return f;
}

const char *notify_channel_pick(const char *pref, const char *phone, const char *email,
                                const char **to)
{
	int has_phone = phone && *phone, has_email = email && *email;

	*to = NULL;
	if (!pref || !strcmp(pref, "none"))
		return NULL;
	if (!strcmp(pref, "sms") && has_phone) {
		*to = phone;
		return "sms";
	}
	if (has_email) {
		*to = email;
		return "email";
	}
	if (has_phone) {
		*to = phone;
		return "sms";
	}
	return NULL;
}

void notify_format_local(int64_t t, const char *zone_name, char *out, size_t outlen)
{
	char err[128];
	const struct tz *z = tz_get(zone_name && *zone_name ? zone_name : "Etc/UTC", err, sizeof(err));
	struct tm tm;
	int32_t off;

	if (!z)
		z = tz_get("Etc/UTC", err, sizeof(err));
	if (!z || tz_utc_to_local(z, t, &tm, &off) || !strftime(out, outlen, "%a %d %b %H:%M", &tm))
		snprintf(out, outlen, "%lld", (long long)t);
}

int notify_cursor_decode(const char *cursor, char *out, size_t outlen)
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

enum job_outcome notify_store_fail(struct job_ctx *ctx, int rc, const char *what, const char *err)
{
	return job_fail_rc(ctx, rc == CJ_EINVAL ? CJ_EINTERNAL : rc, "database_unavailable",
	                   "%s: %s", what, err && err[0] ? err : cj_strerror(rc));
}

/* Hands the rest of the scan to a follow-up task, named from this run's
 * key so a retried run hands on to the same task. */
static int scan_follow_up(struct job_ctx *ctx, const char *type, const char *next, char *err,
                          size_t errlen)
{
	char task[JOB_TASK_ID_MAX], prefix[64];
	json_t *payload = json_pack("{s:s}", "cursor", next);
	int created, rc;

	snprintf(prefix, sizeof(prefix), "%s-scan", type);
	job_task_id(task, sizeof(task), prefix, ctx->key, next, NULL);
	rc = payload
	    ? job_enqueue(ctx, type, payload, ctx->key[0] ? task : NULL, &created, err, errlen)
	    : CJ_ENOMEM;
	json_decref(payload);
	return rc;
}

enum job_outcome notify_scan(struct job_ctx *ctx, const char *type, const char *cursor,
                             const char *sql, int has_now, int64_t now_param, const char *bucket)
{
	char after[256] = "", err[512] = "", task[JOB_TASK_ID_MAX], last[256] = "";
	struct store_rows *rows = NULL;
	long enqueued = 0;
	size_t seen = 0;
	char *next = NULL;
	int rc, more;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	if (cursor && notify_cursor_decode(cursor, after, sizeof(after)))
		return job_fail(ctx, JOB_PERMANENT, "invalid_payload",
		                "cursor: not a cursor this job made");
	{
		struct store_param p[] = {store_p_text(after), store_p_int(SCAN_PAGE),
		                          store_p_int(now_param)};

		rc = store_exec(ctx->svc->store, sql, p, has_now ? 3 : 2, &rows, err, sizeof(err));
	}
	if (rc)
		return notify_store_fail(ctx, rc, "listing users to notify", err);
	more = store_rows_count(rows) == SCAN_PAGE;
	while (store_rows_next(rows)) {
		const char *uid = store_rows_text(rows, 0);
		json_t *payload;
		int created;

		if (job_remaining_ms(ctx) < SCAN_RESERVE_MS || job_should_stop(ctx)) {
			more = 1; /* the rest goes to the follow-up */
			break;
		}
		job_task_id(task, sizeof(task), type, uid, bucket, NULL);
		payload = json_pack("{s:s}", "userId", uid);
		rc = payload ? job_enqueue(ctx, type, payload, task, &created, err, sizeof(err))
		             : CJ_ENOMEM;
		json_decref(payload);
		if (rc) {
			store_rows_free(rows);
			return job_fail_rc(ctx, rc, "enqueue_failed", "enqueuing %s for a user: %s",
			                   type, err);
		}
		enqueued += created;
		seen++;
		snprintf(last, sizeof(last), "%s", uid);
	}
	store_rows_free(rows);
	if (more && seen) {
		next = b64url_encode(last, strlen(last));
		rc = next ? scan_follow_up(ctx, type, next, err, sizeof(err)) : CJ_ENOMEM;
		if (rc) {
			free(next);
			return job_fail_rc(ctx, rc, "enqueue_failed",
			                   "enqueuing the next page of the scan: %s", err);
		}
	} else if (more) {
		return job_fail(ctx, JOB_RETRY, "deadline_exceeded",
		                "no time left to enqueue a user");
	}
	job_set_result(ctx,
	               json_pack("{s:I, s:o}", "enqueued", (json_int_t)enqueued, "next",
	                         next ? json_string(next) : json_null()));
	free(next);
	return JOB_OK;
}
