/*
 * token_health_reminder.c - the token-health-reminder job (SPEC §7): tells
 * a user whose Google account is 'revoked' or 'error' to reconnect it, at
 * most once per 7 days.
 *
 * With userId: when the account needs it and health_reminded_at is NULL
 * or at least 7 days old, one message under the outbox key
 * "token-health:{userId}:{health_reminded_at or 0}" (a retried run finds
 * the key; the next week's reminder has a new one), then health_reminded_at
 * = now, conditional on the value read so two runs cannot both move it.
 *
 * Without userId (the daily schedule): a scan over those accounts, one
 * task per user and 7-day bucket.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "handlers.h"
#include "notify.h"
#include "store.h"

#define HEALTH_EVERY_S (7 * 86400)

struct health_user {
	char phone[64], email[320], pref[16], status[16];
	int has_account;
	int64_t reminded_at; /* 0: never */
};

static int load(struct job_ctx *ctx, const char *user_id, struct health_user *u, char *err,
                size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_exec(ctx->svc->store,
	                "SELECT COALESCE(u.phone, ''), COALESCE(u.email, ''), u.notify_channel, "
	                "COALESCE(g.status, ''), COALESCE(g.health_reminded_at, 0) FROM users u "
	                "LEFT JOIN google_accounts g ON g.user_id = u.id WHERE u.id = $1",
	                p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return CJ_ENOTFOUND;
	}
	snprintf(u->phone, sizeof(u->phone), "%s", store_rows_text(rows, 0));
	snprintf(u->email, sizeof(u->email), "%s", store_rows_text(rows, 1));
	snprintf(u->pref, sizeof(u->pref), "%s", store_rows_text(rows, 2));
	snprintf(u->status, sizeof(u->status), "%s", store_rows_text(rows, 3));
	u->has_account = u->status[0] != '\0';
	u->reminded_at = store_rows_int(rows, 4);
	store_rows_free(rows);
	return CJ_OK;
}

static void set_result(struct job_ctx *ctx, const struct notify_counts *c, const char *skipped)
{
	json_t *r = json_pack("{s:I, s:I, s:I}", "sent", (json_int_t)c->sent, "failed",
	                      (json_int_t)c->failed, "unconfirmed", (json_int_t)c->unconfirmed);

	if (r && c->deferred)
		json_object_set_new(r, "deferred", json_integer(c->deferred));
	if (r && skipped)
		json_object_set_new(r, "skipped", json_string(skipped));
	job_set_result(ctx, r);
}

static enum job_outcome remind_user(struct job_ctx *ctx, const char *user_id)
{
	struct notify_counts c = {0, 0, 0, 0};
	struct health_user u;
	char err[512] = "", key[300];
	const char *channel, *to;
	int64_t now = clock_now_s();
	enum notify_fate f;
	int rc;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	rc = load(ctx, user_id, &u, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		return job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
	if (rc)
		return notify_store_fail(ctx, rc, "reading the user", err);
	if (!u.has_account || (strcmp(u.status, "revoked") && strcmp(u.status, "error"))) {
		set_result(ctx, &c, u.has_account ? "healthy" : "no_google_account");
		return JOB_OK;
	}
	if (u.reminded_at && u.reminded_at > now - HEALTH_EVERY_S) {
		set_result(ctx, &c, "reminded_recently");
		return JOB_OK;
	}
	channel = notify_channel_pick(u.pref, u.phone, u.email, &to);
	if (!channel) {
		set_result(ctx, &c, "no_channel");
		return JOB_OK;
	}
	snprintf(key, sizeof(key), "token-health:%s:%lld", user_id, (long long)u.reminded_at);
	{
		struct outbox_message m = {
		    key,
		    "token-health",
		    user_id,
		    channel,
		    to,
		    "Reconnect your Google account",
		    "CatchUp can no longer reach your Google account. Please open CatchUp and "
		    "reconnect it so your suggestions stay up to date."};

		f = notify_send(ctx, &m, &c);
	}
	if (f == NOTIFY_RETRY)
		return JOB_RETRY;
	if (f != NOTIFY_DEFERRED) {
		/* Sent, refused, or perhaps sent: the next one in 7 days. */
		struct store_param p[] = {store_p_text(user_id), store_p_int(now),
		                          store_p_int(u.reminded_at)};

		rc = store_exec(
		    ctx->svc->store,
		    "UPDATE google_accounts SET health_reminded_at = $2, updated_at = $2 "
		    "WHERE user_id = $1 AND COALESCE(health_reminded_at, 0) = $3",
		    p, 3, NULL, err, sizeof(err));
		if (rc)
			return notify_store_fail(ctx, rc, "recording the reminder", err);
	}
	set_result(ctx, &c, NULL);
	return JOB_OK;
}

enum job_outcome handle_token_health_reminder(struct job_ctx *ctx)
{
	const char *user_id = json_string_value(json_object_get(ctx->payload, "userId"));
	int64_t now = clock_now_s();
	char bucket[32];

	if (user_id)
		return remind_user(ctx, user_id);
	snprintf(bucket, sizeof(bucket), "%lld", (long long)(now / HEALTH_EVERY_S));
	return notify_scan(ctx, "token-health-reminder",
	                   json_string_value(json_object_get(ctx->payload, "cursor")),
	                   "SELECT user_id FROM google_accounts WHERE status IN ('revoked', "
	                   "'error') AND (health_reminded_at IS NULL OR health_reminded_at <= $3) "
	                   "AND user_id > $1 ORDER BY user_id LIMIT $2",
	                   1, now - HEALTH_EVERY_S, bucket);
}
