/*
 * enqueue.c - validates an enqueue request and creates its Cloud Task; see
 * enqueue.h.
 *
 * Every check that does not need Google happens before any call, so a bad
 * request costs nothing upstream and gets a precise reason. Owns the token
 * source and the Cloud Tasks client; never logs payloads or tokens.
 */
#include "enqueue.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "gauth.h"
#include "job_types.h"
#include "log.h"
#include "metrics.h"
#include "queues.h"
#include "schema.h"
#include "timeutil.h"

struct enqueuer {
	const struct config *cfg;
	const struct queues *q;
	struct gauth *auth; /* NULL in local mode */
	struct cloud_tasks *ct;
};

int enqueuer_new(const struct config *cfg, const struct queues *q, const char *api_url,
                 struct enqueuer **out, char *err, size_t errlen)
{
	struct enqueuer *e;
	int rc;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	e->cfg = cfg;
	e->q = q;
	if (cfg->cloud_mode && (rc = gauth_new(cfg, &e->auth, err, errlen)))
		goto fail;
	if ((rc = cloud_tasks_new(cfg, api_url, e->auth, &e->ct, err, errlen)))
		goto fail;
	*out = e;
	return CJ_OK;
fail:
	enqueuer_free(e);
	return rc;
}

void enqueuer_free(struct enqueuer *e)
{
	if (!e)
		return;
	cloud_tasks_free(e->ct);
	gauth_free(e->auth);
	free(e);
}

struct cloud_tasks *enqueuer_cloud_tasks(struct enqueuer *e)
{
	return e->ct;
}

/* Sets kind, counts the outcome, returns rc. */
static int done(struct enqueue_result *res, const char *label, enum enqueue_error_kind kind,
                const char *result, int rc)
{
	res->kind = kind;
	metrics_enqueue(label, result);
	return rc;
}

/* Turns delay/scheduleTime into an absolute time (0: now). */
static int check_timing(const struct enqueue_request *req, double *when, char *err, size_t errlen)
{
	double now = clock_now();

	*when = 0;
	if (req->has_delay && req->has_schedule_time)
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "delaySeconds and scheduleTime: give one or the other, not both");
	if (req->has_delay) {
		if (!isfinite(req->delay_seconds) || req->delay_seconds < 0)
			return cj_errorf(err, errlen, CJ_EINVAL,
			                 "delaySeconds: must be a number >= 0");
		if (req->delay_seconds > CLOUD_TASKS_MAX_AHEAD_S)
			return cj_errorf(err, errlen, CJ_EINVAL,
			                 "delaySeconds: more than 30 days ahead");
		if (req->delay_seconds > 0)
			*when = now + req->delay_seconds;
	}
	if (req->has_schedule_time) {
		if (!isfinite(req->schedule_time) || req->schedule_time <= 0)
			return cj_errorf(err, errlen, CJ_EINVAL, "scheduleTime: not a valid time");
		if (req->schedule_time > now + CLOUD_TASKS_MAX_AHEAD_S)
			return cj_errorf(err, errlen, CJ_EINVAL,
			                 "scheduleTime: more than 30 days ahead");
		*when = req->schedule_time;
	}
	return CJ_OK;
}

int enqueue_job(struct enqueuer *e, const struct enqueue_request *req, struct enqueue_result *res,
                char *err, size_t errlen)
{
	struct cloud_task_request ctr = {0};
	const struct queue_config *qc;
	const struct job_type *jt;
	struct cloud_task task;
	char why[256];
	char *body = NULL;
	size_t len;
	int rc;

	memset(res, 0, sizeof(*res));
	jt = req->type ? job_types_find(req->type) : NULL;
	if (!jt)
		return done(res, "unknown", ENQUEUE_UNKNOWN_TYPE, "invalid",
		            cj_errorf(err, errlen, CJ_ENOTFOUND, "unknown job type \"%.100s\"",
		                      req->type ? req->type : ""));
	if (!req->payload)
		return done(res, jt->name, ENQUEUE_INVALID_REQUEST, "invalid",
		            cj_errorf(err, errlen, CJ_EINVAL, "payload: required"));
	if (!json_is_object(req->payload))
		return done(res, jt->name, ENQUEUE_INVALID_PAYLOAD, "invalid",
		            cj_errorf(err, errlen, CJ_EINVAL, "payload: must be a JSON object"));
	if (schema_validate(jt->fields, req->payload, why, sizeof(why)))
		return done(res, jt->name, ENQUEUE_INVALID_PAYLOAD, "invalid",
		            cj_errorf(err, errlen, CJ_EINVAL, "%s", why));
	if ((rc = check_timing(req, &ctr.schedule_time, err, errlen)))
		return done(res, jt->name, ENQUEUE_INVALID_REQUEST, "invalid", rc);
	if (req->task_id && !cloud_tasks_valid_task_id(req->task_id))
		return done(
		    res, jt->name, ENQUEUE_INVALID_REQUEST, "invalid",
		    cj_errorf(err, errlen, CJ_EINVAL, "taskId: must match [A-Za-z0-9_-]{1,500}"));
	qc = queues_find(e->q, jt->queue);
	if (!qc)
		return done(res, jt->name, ENQUEUE_UPSTREAM, "error",
		            cj_errorf(err, errlen, CJ_ECONFIG,
		                      "queue %s of job type %s is not in the queue configuration",
		                      jt->queue, jt->name));
	body = json_dumps(req->payload, JSON_COMPACT);
	if (!body)
		return done(
		    res, jt->name, ENQUEUE_UPSTREAM, "error",
		    cj_errorf(err, errlen, CJ_ENOMEM, "out of memory serializing the payload"));
	len = strlen(body);
	if (len > CLOUD_TASKS_MAX_PAYLOAD) {
		free(body);
		return done(res, jt->name, ENQUEUE_TOO_BIG, "invalid",
		            cj_errorf(err, errlen, CJ_ETOOBIG,
		                      "payload: %zu bytes of JSON, over the limit of %d", len,
		                      CLOUD_TASKS_MAX_PAYLOAD));
	}
	ctr.queue = jt->queue;
	ctr.job_type = jt->name;
	ctr.task_id = req->task_id;
	ctr.body = body;
	ctr.body_len = len;
	ctr.dispatch_deadline = qc->dispatch_deadline;
	rc = cloud_tasks_create(e->ct, &ctr, &task, err, errlen);
	free(body);
	switch (rc) {
	case CJ_OK:
		snprintf(res->task, sizeof(res->task), "%s", task.name);
		snprintf(res->schedule_time, sizeof(res->schedule_time), "%s", task.schedule_time);
		log_msg(L_DEBUG, "enqueued %s as %s for %s", jt->name, res->task,
		        res->schedule_time);
		return done(res, jt->name, ENQUEUE_OK, "created", CJ_OK);
	case CJ_EEXISTS:
		return done(res, jt->name, ENQUEUE_EXISTS, "duplicate", rc);
	case CJ_EINVAL:
		return done(res, jt->name, ENQUEUE_INVALID_REQUEST, "invalid", rc);
	case CJ_ENOTFOUND:
		/* The queue is missing in Cloud Tasks: a deployment fault. */
		return done(res, jt->name, ENQUEUE_UPSTREAM, "error", CJ_ECONFIG);
	default:
		log_msg(L_WARNING, "enqueue of %s into %s failed: %s", jt->name, jt->queue,
		        err && errlen ? err : cj_strerror(rc));
		return done(res, jt->name, ENQUEUE_UPSTREAM, "error", rc);
	}
}
