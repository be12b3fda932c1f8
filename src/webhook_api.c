/*
 * webhook_api.c - Calendar push notifications; see webhook_api.h.
 *
 * X-Goog-Resource-State "sync" (a channel's first message) is recorded
 * only. "exists" (and "not_exists") means the calendar changed: one
 * calendar-sync for the channel's user and calendar is enqueued per
 * 30-second bucket aligned to the Unix epoch (task id from user, calendar
 * and floor(unix/30)), scheduled at the end of its bucket, and the push is
 * answered 200 at once. A sync that starts after its bucket ended sees
 * every change announced during the bucket, the last push's included.
 *
 * A flood stays a trickle: the channel row's sync_bucket holds the newest
 * bucket whose calendar-sync Cloud Tasks confirmed, so the pushes after
 * the first of a bucket answer "coalesced" from the database without
 * calling Cloud Tasks. Instances racing on one bucket name the same task,
 * so Cloud Tasks keeps one. A message number not above the newest one seen
 * is a replay: answered 200 and ignored.
 *
 * Order for a crash or a failed create: the task is created, then the
 * bucket marked, then the message number recorded. A failed create marks
 * nothing and answers 503, so Google's retry of the same message does the
 * work; a crash between the create and the mark leaves the bucket
 * unmarked, and the next push of the bucket (Google's retry or another)
 * creates again, which Cloud Tasks answers "already exists": no push of a
 * bucket is answered before its sync is known to exist.
 */
#include "webhook_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "clock.h"
#include "enqueue.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define BUCKET_S 30

/* X-Goog-Message-Number: a decimal integer >= 1. */
static int message_number(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (!s || !*s || strlen(s) > 18 || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 1)
		return -1;
	*out = v;
	return 0;
}

static int exec_changes(struct store *s, const char *sql, const struct store_param *p, size_t n,
                        int64_t *changed, char *err, size_t errlen)
{
	struct store_rows *r = NULL;
	int rc = store_exec(s, sql, p, n, &r, err, errlen);

	*changed = rc ? 0 : store_rows_changes(r);
	store_rows_free(r);
	return rc;
}

/* Records message number msg on channel id (when it is the newest). */
static int record(struct store *s, const char *id, int64_t msg, int64_t now, char *err,
                  size_t errlen)
{
	struct store_param p[] = {store_p_text(id), store_p_int(msg), store_p_int(now)};
	int64_t changed;

	return exec_changes(s,
	                    "UPDATE webhook_channels SET last_message_number = $2, "
	                    "last_notification_at = $3, updated_at = $3 WHERE id = $1 "
	                    "AND (last_message_number IS NULL OR last_message_number < $2)",
	                    p, 3, &changed, err, errlen);
}

/* Creates the bucket's calendar-sync, due at the end of the bucket. CJ_OK
 * when created, CJ_EEXISTS when Cloud Tasks has it already. */
static int enqueue_sync(struct app *app, const char *user_id, const char *calendar_id,
                        int64_t bucket, char *err, size_t errlen)
{
	struct enqueue_request req = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	char task[JOB_TASK_ID_MAX], b[24];
	json_t *payload;
	int rc;

	if (!app->enqueuer)
		return cj_errorf(err, errlen, CJ_ECONFIG, "no enqueuer configured");
	snprintf(b, sizeof(b), "%lld", (long long)bucket);
	job_task_id(task, sizeof(task), "calendar-sync-push", user_id, calendar_id, b);
	payload = json_pack("{s:s, s:s}", "userId", user_id, "calendarId", calendar_id);
	if (!payload)
		return CJ_ENOMEM;
	req.type = "calendar-sync";
	req.payload = payload;
	req.task_id = task;
	req.has_schedule_time = 1;
	req.schedule_time = (double)((bucket + 1) * BUCKET_S);
	rc = enqueue_job(app->enqueuer, &req, &res, err, errlen);
	json_decref(payload);
	return rc;
}

static void answer(struct http_answer *a, const char *status)
{
	http_answer_json(a, 200, json_pack("{s:s}", "status", status));
}

int webhook_api_calendar(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a)
{
	const char *id = http_request_header(r, "X-Goog-Channel-ID");
	const char *state = http_request_header(r, "X-Goog-Resource-State");
	struct store_param p[3];
	struct store_rows *row = NULL;
	int64_t msg = 0, now = clock_now_s(), bucket = now / BUCKET_S, last, marked, changed;
	int created = 0;
	char err[256] = "", calendar_id[512];
	int rc;

	if (message_number(http_request_header(r, "X-Goog-Message-Number"), &msg)) {
		http_answer_result(a, CJ_EINVAL, "X-Goog-Message-Number: must be a positive integer");
		return 1;
	}
	if (!state || (strcmp(state, "sync") && strcmp(state, "exists") &&
	               strcmp(state, "not_exists"))) {
		http_answer_result(a, CJ_EINVAL,
		                   "X-Goog-Resource-State: must be sync, exists or not_exists");
		return 1;
	}
	p[0] = store_p_text(id);
	rc = store_exec(app->store,
	                "SELECT calendar_id, COALESCE(last_message_number, 0), "
	                "COALESCE(sync_bucket, 0) FROM webhook_channels WHERE id = $1",
	                p, 1, &row, err, sizeof(err));
	if (!rc && !store_rows_next(row))
		rc = cj_errorf(err, sizeof(err), CJ_ENOTFOUND, "the channel is gone");
	if (rc) {
		store_rows_free(row);
		http_answer_result(a, rc == CJ_ENOTFOUND ? rc : CJ_EUNAVAIL, "%s",
		                   rc == CJ_ENOTFOUND ? "not found" : "channel lookup failed; retry");
		return 1;
	}
	snprintf(calendar_id, sizeof(calendar_id), "%s", store_rows_text(row, 0));
	last = store_rows_int(row, 1);
	marked = store_rows_int(row, 2);
	store_rows_free(row);
	if (msg <= last) {
		metrics_webhook_push("stale");
		answer(a, "ignored");
		return 1;
	}
	if (!strcmp(state, "sync")) {
		rc = record(app->store, id, msg, now, err, sizeof(err));
		if (rc) {
			http_answer_result(a, CJ_EUNAVAIL, "recording the push failed; retry");
			return 1;
		}
		metrics_webhook_push("sync");
		answer(a, "recorded");
		return 1;
	}
	if (marked < bucket) {
		rc = enqueue_sync(app, rq->channel_user, calendar_id, bucket, err, sizeof(err));
		if (rc && rc != CJ_EEXISTS) {
			log_msg(L_ERROR, "calendar push on channel %s: enqueuing calendar-sync failed: %s",
			        id, err);
			http_answer_result(a, CJ_EUNAVAIL, "enqueuing calendar-sync failed; retry");
			return 1;
		}
		created = rc == CJ_OK;
		p[1] = store_p_int(bucket);
		rc = exec_changes(app->store,
		                  "UPDATE webhook_channels SET sync_bucket = $2 WHERE id = $1 "
		                  "AND (sync_bucket IS NULL OR sync_bucket < $2)",
		                  p, 2, &changed, err, sizeof(err));
	}
	if (!rc)
		rc = record(app->store, id, msg, now, err, sizeof(err));
	if (rc) {
		log_msg(L_ERROR, "calendar push on channel %s: %s", id, err);
		http_answer_result(a, CJ_EUNAVAIL, "recording the push failed; retry");
		return 1;
	}
	metrics_webhook_push(created ? "enqueued" : "coalesced");
	answer(a, created ? "enqueued" : "coalesced");
	return 1;
}
