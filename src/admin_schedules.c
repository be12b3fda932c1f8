/*
 * admin_schedules.c - schedules and the business clock for the operator
 * console; see admin_schedules.h. Slots are cron.c's, runs scheduler.c's,
 * the clock clock.c's (its move local_api.c's): this file shapes them for
 * /admin.
 */
#include "admin_schedules.h"

#include <stdlib.h>
#include <string.h>

#include "admin_list.h"
#include "answer.h"
#include "clock.h"
#include "local_api.h"
#include "log.h"
#include "queues.h"
#include "scheduler.h"

/* The clock at now (business time, read once by the caller, so a list's
 * fire times and its clock agree). */
static json_t *clock_json(int64_t now)
{
	return json_pack("{s:I, s:I}", "now", (json_int_t)now, "offsetSeconds",
	                 (json_int_t)clock_offset_s());
}

/* The next count fire times after now; fewer when the cron stops. */
static json_t *next_times(const struct schedule_config *sc, int64_t now, long count)
{
	json_t *arr = json_array();
	int64_t t = now, next;

	for (long i = 0; arr && i < count; i++) {
		if (cron_next(&sc->cron, sc->zone, t, &next))
			break; /* never again (e.g. "0 0 31 2 *") */
		if (json_array_append_new(arr, json_integer((json_int_t)next))) {
			json_decref(arr);
			return NULL;
		}
		t = next;
	}
	return arr;
}

static json_t *last_run_json(const struct scheduler_last_run *run)
{
	if (!run || !run->fired)
		return json_null();
	return json_pack("{s:I, s:o}", "at", (json_int_t)run->at, "status",
	                 run->status > 0 ? json_integer(run->status) : json_null());
}

static json_t *schedule_json(const struct schedule_config *sc, int64_t now, long count,
                             const struct scheduler_last_run *run)
{
	/* A copy: the configuration's payload is shared by every thread. */
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "name", sc->name, "jobType",
	                 sc->job_type, "cron", sc->schedule, "timeZone", sc->time_zone, "payload",
	                 json_deep_copy(sc->payload), "next", next_times(sc, now, count), "lastRun",
	                 last_run_json(run));
}

/* ?count= (default 5). 0, or 1 with a filled 400. */
static int read_count(struct http_req *r, long *count, struct http_answer *a)
{
	const char *s = http_request_query(r, "count");
	char *end;

	*count = 5;
	if (!s)
		return 0;
	*count = strtol(s, &end, 10);
	if (end == s || *end || *count < 1 || *count > ADMIN_SCHEDULES_MAX_COUNT) {
		http_answer_result(a, CJ_EINVAL, "count: must be an integer from 1 to %d",
		                   ADMIN_SCHEDULES_MAX_COUNT);
		return 1;
	}
	return 0;
}

int admin_schedules_list(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a)
{
	size_t n = queues_schedule_count(app->queues), i;
	struct scheduler_last_run *runs = NULL;
	int local = !app->cfg->cloud_mode && app->store;
	int64_t now = clock_now_s();
	json_t *list, *doc;
	char err[256] = "";
	long count;
	int rc;

	(void)rq;
	if (read_count(r, &count, a))
		return 1;
	if (local) {
		runs = calloc(n + 1, sizeof(*runs));
		if (!runs) {
			http_answer_result(a, CJ_ENOMEM, "out of memory");
			return 1;
		}
		rc = scheduler_last_runs(app->store, app->queues, runs, err, sizeof(err));
		if (rc) {
			free(runs);
			admin_answer_failure(a, rc, "reading the schedules' runs", err);
			return 1;
		}
	}
	list = json_array();
	for (i = 0; list && i < n; i++)
		if (json_array_append_new(list,
		                          schedule_json(queues_schedule_at(app->queues, i), now,
		                                        count, runs ? &runs[i] : NULL))) {
			json_decref(list);
			list = NULL;
		}
	free(runs);
	doc = list ? json_pack("{s:o, s:o}", "schedules", list, "clock",
	                       local ? clock_json(now) : json_null())
	           : NULL;
	if (!doc)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	else
		http_answer_json(a, 200, doc);
	return 1;
}

void admin_schedules_fire(struct app *app, struct http_req *r, struct route_req *rq,
                          struct http_answer *a)
{
	struct scheduler *sched;
	int64_t when = 0;
	char err[256] = "";
	int rc;

	(void)r;
	if (admin_need_local(app, a))
		return;
	if (!queues_find_schedule(app->queues, rq->param)) {
		http_answer_result(a, CJ_ENOTFOUND, "no schedule \"%.100s\" in schedules.json",
		                   rq->param);
		return;
	}
	sched = atomic_load(&app->scheduler);
	if (!sched) {
		http_answer_result(a, CJ_EUNAVAIL, "the local scheduler is not running yet");
		return;
	}
	rc = scheduler_fire(sched, rq->param, &when, err, sizeof(err));
	if (rc) {
		http_answer_result(a, rc == CJ_ENOTFOUND ? rc : CJ_EUNAVAIL, "%s", err);
		return;
	}
	log_msg(L_INFO, "schedule %s fired by %s", rq->param,
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	http_answer_json(
	    a, 202,
	    json_pack("{s:s, s:I}", "schedule", rq->param, "scheduleTime", (json_int_t)when));
}

static void answer_clock(struct http_answer *a)
{
	json_t *doc = clock_json(clock_now_s());

	if (!doc)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	else
		http_answer_json(a, 200, doc);
}

int admin_clock(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a)
{
	(void)r;
	(void)rq;
	if (!admin_need_local(app, a))
		answer_clock(a);
	return 1;
}

void admin_clock_advance(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a)
{
	if (admin_need_local(app, a) || local_api_advance(app, r, a))
		return;
	log_msg(L_INFO, "clock advanced by %s", rq->who.email[0] ? rq->who.email : "(unknown)");
	answer_clock(a);
}
