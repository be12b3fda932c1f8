/*
 * calendar_sync.c - the calendar-sync job (SPEC §7): one of the user's
 * Google calendars into `calendar_events`, and what the events say about
 * whom the user met; through the shared sync loop (google_sync.h).
 *
 * events.list pages through the changes since the stored sync token
 * (incremental) or, for a full sync, every event ending after 90 days ago
 * (singleEvents, showDeleted). A 410 means Google forgot the token: the
 * calendar's rows are cleared and the run syncs fully. Each page is one
 * transaction (cancelled events deleted, others upserted). A full sync
 * ends by deleting the rows it did not see (and no overlapping run wrote
 * since it began: google_sync.h).
 *
 * Then, in this order, so that a run dying anywhere is done again from the
 * old token without losing anything:
 *   1. when events changed, one suggestion-regeneration for the user is
 *      enqueued (task id from user and minute: bursts coalesce, a retry in
 *      the same minute is a 409);
 *   2. one transaction moves contacts' last_contacted_at forward (never
 *      back) from events that have ended - those this run received and
 *      stored ones that ended since the last sync - matching attendees'
 *      e-mails to contacts case-insensitively, and stores the new token.
 * Attendees are kept lowercased, without the user and without those who
 * declined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "contact_touch.h"
#include "google_job.h"
#include "google_sync.h"
#include "handlers.h"
#include "random.h"
#include "store.h"
#include "timeutil.h"
#include "tz.h"

#define FULL_SYNC_DAYS 90
#define KIND_MAX (9 + 128 + 1)

/* The job's own part of the sync (google_sync.arg). */
struct cal {
	const char *calendar_id;
	char kind[KIND_MAX];
	const struct tz *zone; /* the user's, for all-day events */
	long touched;
	int regenerated;
};

/* A start or end: dateTime, or an all-day date at local midnight. */
static int event_time(const struct cal *cal, const json_t *when, int64_t *out, int *all_day)
{
	const char *dt = json_string_value(json_object_get(when, "dateTime"));
	const char *date = json_string_value(json_object_get(when, "date"));
	double t;

	if (dt) {
		if (time_parse_rfc3339(dt, &t))
			return -1;
		*out = (int64_t)t;
		*all_day = 0;
		return 0;
	}
	if (date && strlen(date) == 10 && date[4] == '-' && date[7] == '-') {
		struct tm tm = {0};
		char *end;

		tm.tm_year = (int)strtol(date, &end, 10) - 1900;
		tm.tm_mon = (int)strtol(date + 5, &end, 10) - 1;
		tm.tm_mday = (int)strtol(date + 8, &end, 10);
		if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
		    tm.tm_mday > 31 || tz_local_to_utc(cal->zone, &tm, TZ_FOLD_EARLIER, out))
			return -1;
		*all_day = 1;
		return 0;
	}
	return -1;
}

/* The attendees worth matching, as a JSON array text (malloc'd). */
static char *attendee_emails(const json_t *event)
{
	const json_t *a;
	json_t *out = json_array();
	size_t i;
	char *text;

	if (!out)
		return NULL;
	json_array_foreach(json_object_get(event, "attendees"), i, a)
	{
		const char *email = json_string_value(json_object_get(a, "email"));
		const char *resp = json_string_value(json_object_get(a, "responseStatus"));
		char lower[320];
		size_t n;

		if (!email || !email[0] || json_is_true(json_object_get(a, "self")) ||
		    (resp && !strcmp(resp, "declined")) || (n = strlen(email)) >= sizeof(lower))
			continue;
		for (size_t k = 0; k <= n; k++)
			lower[k] = (email[k] >= 'A' && email[k] <= 'Z') ? (char)(email[k] + 32) : email[k];
		json_array_append_new(out, json_string(lower));
	}
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return text;
}

static int write_event(struct store_conn *c, struct google_sync *s, const json_t *ev,
                       enum sync_item *did, char *err, size_t errlen)
{
	const struct cal *cal = s->arg;
	const char *eid = json_string_value(json_object_get(ev, "id"));
	const char *status = json_string_value(json_object_get(ev, "status"));
	const char *updated = json_string_value(json_object_get(ev, "updated"));
	int64_t start, end, now = clock_now_s(), gupd = 0;
	struct store_rows *rows = NULL;
	int all_day = 0, all_day_end = 0, rc;
	char id[33], *attendees;
	double t;

	if (!eid || !eid[0])
		return CJ_OK;
	if (status && !strcmp(status, "cancelled")) {
		struct store_param p[] = {store_p_text(s->user_id), store_p_text(cal->calendar_id),
		                          store_p_text(eid)};

		rc = store_conn_exec(c,
		                     "DELETE FROM calendar_events WHERE user_id = $1 AND "
		                     "calendar_id = $2 AND event_id = $3",
		                     p, 3, &rows, err, errlen);
		if (!rc && store_rows_changes(rows))
			*did = SYNC_ITEM_DELETED;
		store_rows_free(rows);
		return rc;
	}
	if (event_time(cal, json_object_get(ev, "start"), &start, &all_day) ||
	    event_time(cal, json_object_get(ev, "end"), &end, &all_day_end) || end < start)
		return CJ_OK; /* an event without usable times cannot block or prove a meeting */
	if (updated && !time_parse_rfc3339(updated, &t))
		gupd = (int64_t)t;
	if (random_hex(id, sizeof(id), 16))
		return cj_errorf(err, errlen, CJ_EINTERNAL, "no randomness for an event id");
	attendees = attendee_emails(ev);
	if (!attendees)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	{
		struct store_param p[] = {
		    store_p_text(id),
		    store_p_text(s->user_id),
		    store_p_text(cal->calendar_id),
		    store_p_text(eid),
		    store_p_text(json_string_value(json_object_get(ev, "summary"))),
		    store_p_int(start),
		    store_p_int(end),
		    store_p_int(all_day),
		    store_p_text(status ? status : "confirmed"),
		    store_p_text(attendees),
		    store_p_text(json_string_value(json_object_get(ev, "etag"))),
		    gupd ? store_p_int(gupd) : store_p_null(),
		    store_p_text(s->run_id),
		    store_p_int(now),
		};

		rc = store_conn_exec(
		    c,
		    "INSERT INTO calendar_events (id, user_id, calendar_id, event_id, summary, "
		    "start_at, end_at, all_day, status, attendee_emails, etag, google_updated_at, "
		    "sync_run, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
		    "$10, $11, $12, $13, $14, $14) ON CONFLICT (user_id, calendar_id, event_id) DO "
		    "UPDATE SET summary = excluded.summary, start_at = excluded.start_at, "
		    "end_at = excluded.end_at, all_day = excluded.all_day, status = excluded.status, "
		    "attendee_emails = excluded.attendee_emails, etag = excluded.etag, "
		    "google_updated_at = excluded.google_updated_at, sync_run = excluded.sync_run, "
		    "updated_at = excluded.updated_at",
		    p, 14, NULL, err, errlen);
	}
	free(attendees);
	if (!rc)
		*did = SYNC_ITEM_UPSERTED;
	return rc;
}

/* 410: the calendar's rows go; the full sync that follows brings back
 * what Google still has. */
static int clear_calendar(struct google_sync *s, char *err, size_t errlen)
{
	const struct cal *cal = s->arg;
	struct store_param p[] = {store_p_text(s->user_id), store_p_text(cal->calendar_id)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_exec(s->ctx->svc->store,
	                "DELETE FROM calendar_events WHERE user_id = $1 AND calendar_id = $2", p, 2,
	                &rows, err, errlen);
	if (!rc)
		s->deleted += store_rows_changes(rows);
	store_rows_free(rows);
	return rc;
}

/* Moves last_contacted_at forward for the attendees of ended events: those
 * this run received, and stored ones that ended since the last sync. */
static int touch_contacts(struct store_conn *c, struct google_sync *s, char *err, size_t errlen)
{
	struct cal *cal = s->arg;
	int64_t now = clock_now_s();
	struct store_param p[] = {store_p_text(s->user_id), store_p_text(cal->calendar_id),
	                          store_p_int(now), store_p_text(s->run_id),
	                          store_p_int(s->prev_sync_at)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_conn_exec(c,
	                     "SELECT attendee_emails, end_at FROM calendar_events WHERE "
	                     "user_id = $1 AND calendar_id = $2 AND end_at <= $3 AND "
	                     "attendee_emails <> '[]' AND (sync_run = $4 OR end_at > $5)",
	                     p, 5, &rows, err, errlen);
	if (rc)
		return rc;
	rc = contact_touch_rows(c, s->user_id, rows, now, &cal->touched, err, errlen);
	store_rows_free(rows);
	return rc;
}

static int delete_unseen(struct store_conn *c, struct google_sync *s, long *deleted, char *err,
                         size_t errlen)
{
	const struct cal *cal = s->arg;
	struct store_param p[] = {store_p_text(s->user_id), store_p_text(cal->calendar_id),
	                          store_p_text(s->run_id), store_p_int(s->started_at)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_conn_exec(c,
	                     "DELETE FROM calendar_events WHERE user_id = $1 AND "
	                     "calendar_id = $2 AND (sync_run IS NULL OR sync_run <> $3) AND "
	                     "updated_at < $4",
	                     p, 4, &rows, err, errlen);
	if (!rc)
		*deleted += store_rows_changes(rows);
	store_rows_free(rows);
	return rc;
}

static int page_query(struct google_sync *s, struct buf *q, const char *sync_token,
                      const char *page_token)
{
	char *cal = google_url_escape(((const struct cal *)s->arg)->calendar_id);
	char *st = sync_token ? google_url_escape(sync_token) : NULL;
	char *pt = page_token ? google_url_escape(page_token) : NULL;
	char since[40] = "";
	int rc = CJ_ENOMEM;

	buf_reset(q);
	if (!sync_token)
		time_format_rfc3339((double)(clock_now_s() - FULL_SYNC_DAYS * 86400LL), 0, since,
		                    sizeof(since));
	if (cal && (!sync_token || st) && (!page_token || pt))
		rc = buf_appendf(q,
		                 "/calendar/v3/calendars/%s/events?maxResults=2500&singleEvents=true"
		                 "&showDeleted=true%s%s%s%s%s",
		                 cal, st ? "&syncToken=" : "&timeMin=", st ? st : since,
		                 pt ? "&pageToken=" : "", pt ? pt : "", "");
	free(cal);
	free(st);
	free(pt);
	return rc;
}

/* The user's zone, for all-day events; CJ_ENOTFOUND without the user. */
static int load_zone(struct job_ctx *ctx, const char *user_id, struct cal *cal, char *err,
                     size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id)};
	struct store_rows *rows = NULL;
	char zerr[128];
	int rc;

	rc = store_exec(ctx->svc->store, "SELECT timezone FROM users WHERE id = $1", p, 1,
	                &rows, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return CJ_ENOTFOUND;
	}
	cal->zone = store_rows_text(rows, 0) ? tz_get(store_rows_text(rows, 0), zerr, sizeof(zerr))
	                                     : NULL;
	if (!cal->zone)
		cal->zone = tz_get("Etc/UTC", zerr, sizeof(zerr));
	store_rows_free(rows);
	return cal->zone ? CJ_OK : cj_errorf(err, errlen, CJ_EINTERNAL, "no UTC zone");
}

/* Step 1: when events changed, one suggestion-regeneration per user and
 * minute. */
static int enqueue_regeneration(struct google_sync *s, char *err, size_t errlen)
{
	struct cal *cal = s->arg;
	char bucket[32], task[JOB_TASK_ID_MAX];
	json_t *payload;
	int created, rc;

	if (s->upserted + s->deleted == 0)
		return CJ_OK;
	payload = json_pack("{s:s}", "userId", s->user_id);
	if (!payload)
		return CJ_ENOMEM;
	snprintf(bucket, sizeof(bucket), "%lld", (long long)(clock_now_s() / 60));
	job_task_id(task, sizeof(task), "suggestion-regeneration", s->user_id, bucket, NULL);
	rc = job_enqueue(s->ctx, "suggestion-regeneration", payload, task, &created, err, errlen);
	json_decref(payload);
	cal->regenerated = rc == CJ_OK;
	if (rc)
		snprintf(err + strlen(err), errlen - strlen(err), " (suggestion-regeneration)");
	return rc;
}

enum job_outcome handle_calendar_sync(struct job_ctx *ctx)
{
	const char *cal_id = json_string_value(json_object_get(ctx->payload, "calendarId"));
	struct google_sync s = {0};
	struct cal cal = {0};
	enum job_outcome outcome;
	char err[512] = "";
	int rc;

	cal.calendar_id = cal_id ? cal_id : "primary";
	snprintf(cal.kind, sizeof(cal.kind), "calendar:%s", cal.calendar_id);
	s.ctx = ctx;
	s.user_id = json_string_value(json_object_get(ctx->payload, "userId"));
	s.kind = cal.kind;
	s.service = GOOGLE_CALENDAR;
	s.items_field = "items";
	s.full = json_is_true(json_object_get(ctx->payload, "full"));
	s.arg = &cal;
	s.query = page_query;
	s.write_item = write_event;
	s.delete_unseen = delete_unseen;
	s.on_expired = clear_calendar;
	s.before_finish = enqueue_regeneration;
	s.finish_tx = touch_contacts;
	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	rc = load_zone(ctx, s.user_id, &cal, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		return job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
	if (rc)
		return google_job_store_fail(ctx, rc, "reading the user's time zone", err);
	outcome = google_sync_run(&s);
	if (outcome == JOB_OK && !s.skipped)
		job_set_result(ctx, json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:b}", "calendarId",
		                              cal.calendar_id, "full", s.full, "upserted",
		                              (json_int_t)s.upserted, "deleted", (json_int_t)s.deleted,
		                              "pages", (json_int_t)s.pages, "contactsTouched",
		                              (json_int_t)cal.touched, "regenerationEnqueued",
		                              cal.regenerated));
	return outcome;
}
