/*
 * notification_reminder.c - the notification-reminder job (SPEC §7): every
 * 5 minutes, one message per accepted suggestion starting within the next
 * hour that was not reminded yet.
 *
 * Suggestions are paged by id (100 a page); a full page, or a run short of
 * time, hands the rest to a follow-up task carrying the cursor. Each
 * message goes through the outbox under "reminder:{suggestionId}", so a
 * retried or overlapping run never sends it twice; reminded_at is then set
 * by one conditional UPDATE (WHERE reminded_at IS NULL). A reminder held
 * back by the SMS limit keeps reminded_at NULL and is tried again by the
 * next run while its start is still ahead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "clock.h"
#include "handlers.h"
#include "notify.h"
#include "store.h"

#define REMINDER_PAGE 100
#define REMINDER_AHEAD_S 3600
#define REMINDER_RESERVE_MS 15000 /* hand on when less is left */

static int mark_reminded(struct job_ctx *ctx, const char *id, char *err, size_t errlen)
{
	int64_t now = clock_now_s();
	struct store_param p[] = {store_p_text(id), store_p_int(now)};

	return store_exec(ctx->svc->store,
	                  "UPDATE suggestions SET reminded_at = $2, updated_at = $2 WHERE id = $1 "
	                  "AND reminded_at IS NULL",
	                  p, 2, NULL, err, errlen);
}

/* One reminder; JOB_OK to go on. */
static enum job_outcome remind_one(struct job_ctx *ctx, struct store_rows *rows,
                                   struct notify_counts *c)
{
	const char *id = store_rows_text(rows, 0), *user_id = store_rows_text(rows, 1);
	const char *channel, *to;
	char key[200], when[64], body[600], err[256] = "";
	enum notify_fate f;
	int rc;

	channel = notify_channel_pick(store_rows_text(rows, 4), store_rows_text(rows, 5),
	                              store_rows_text(rows, 6), &to);
	if (!channel)
		return JOB_OK; /* no way to reach them: nothing to send */
	notify_format_local(store_rows_int(rows, 2), store_rows_text(rows, 7), when, sizeof(when));
	snprintf(key, sizeof(key), "reminder:%s", id);
	snprintf(body, sizeof(body), "CatchUp reminder: your catch-up with %s starts at %s.",
	         store_rows_text(rows, 3), when);
	{
		struct outbox_message m = {key, "reminder",          user_id, channel,
		                           to,  "Catch-up reminder", body};

		f = notify_send(ctx, &m, c);
	}
	if (f == NOTIFY_RETRY)
		return JOB_RETRY;
	if (f == NOTIFY_DEFERRED)
		return JOB_OK;
	/* Sent, refused for good, or perhaps sent: never again. */
	rc = mark_reminded(ctx, id, err, sizeof(err));
	if (rc)
		return notify_store_fail(ctx, rc, "marking a suggestion reminded", err);
	return JOB_OK;
}

static int follow_up(struct job_ctx *ctx, const char *next, char *err, size_t errlen)
{
	char task[JOB_TASK_ID_MAX];
	json_t *payload = json_pack("{s:s}", "cursor", next);
	int created, rc;

	job_task_id(task, sizeof(task), "notification-reminder-page", ctx->key, next, NULL);
	rc = payload ? job_enqueue(ctx, "notification-reminder", payload, ctx->key[0] ? task : NULL,
	                           &created, err, errlen)
	             : CJ_ENOMEM;
	json_decref(payload);
	return rc;
}

static void set_result(struct job_ctx *ctx, const struct notify_counts *c, const char *next)
{
	job_set_result(ctx,
	               json_pack("{s:I, s:I, s:I, s:o, s:I}", "sent", (json_int_t)c->sent, "failed",
	                         (json_int_t)c->failed, "unconfirmed", (json_int_t)c->unconfirmed,
	                         "next", next ? json_string(next) : json_null(), "deferred",
	                         (json_int_t)c->deferred));
}

enum job_outcome handle_notification_reminder(struct job_ctx *ctx)
{
	const char *cursor = json_string_value(json_object_get(ctx->payload, "cursor"));
	struct notify_counts c = {0, 0, 0, 0};
	char after[256] = "", last[256] = "", err[512] = "";
	struct store_rows *rows = NULL;
	int64_t now = clock_now_s();
	char *next = NULL;
	int rc, more;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	if (cursor && notify_cursor_decode(cursor, after, sizeof(after)))
		return job_fail(ctx, JOB_PERMANENT, "invalid_payload",
		                "cursor: not a cursor this job made");
	{
		struct store_param p[] = {store_p_int(now), store_p_int(now + REMINDER_AHEAD_S),
		                          store_p_text(after), store_p_int(REMINDER_PAGE)};

		rc = store_exec(
		    ctx->svc->store,
		    "SELECT s.id, s.user_id, s.slot_start, COALESCE(c.name, c.email, "
		    "'your contact'), u.notify_channel, COALESCE(u.phone, ''), "
		    "COALESCE(u.email, ''), u.timezone FROM suggestions s JOIN users u ON "
		    "u.id = s.user_id LEFT JOIN contacts c ON c.id = s.contact_id WHERE "
		    "s.state = 'accepted' AND s.reminded_at IS NULL AND s.slot_start >= $1 "
		    "AND s.slot_start <= $2 AND s.id > $3 ORDER BY s.id LIMIT $4",
		    p, 4, &rows, err, sizeof(err));
	}
	if (rc)
		return notify_store_fail(ctx, rc, "listing accepted suggestions", err);
	more = store_rows_count(rows) == REMINDER_PAGE;
	while (store_rows_next(rows)) {
		enum job_outcome o;

		if (job_remaining_ms(ctx) < REMINDER_RESERVE_MS || job_should_stop(ctx)) {
			more = 1;
			break;
		}
		o = remind_one(ctx, rows, &c);
		if (o != JOB_OK) {
			store_rows_free(rows);
			return o;
		}
		snprintf(last, sizeof(last), "%s", store_rows_text(rows, 0));
	}
	store_rows_free(rows);
	if (more && last[0]) {
		next = b64url_encode(last, strlen(last));
		rc = next ? follow_up(ctx, next, err, sizeof(err)) : CJ_ENOMEM;
		if (rc) {
			free(next);
			return job_fail_rc(ctx, rc, "enqueue_failed",
			                   "enqueuing the next page of reminders: %s", err);
		}
	} else if (more) {
		return job_fail(ctx, JOB_RETRY, "deadline_exceeded",
		                "no time left for any reminder");
	}
	set_result(ctx, &c, next);
	free(next);
	return JOB_OK;
}
