/*
 * admin_queues.c - the queues for the operator console; see
 * admin_queues.h. The queue configuration is queues.c's, the job → queue
 * map job_types.c's, the emulator's rows emulator_store.c's; this file
 * shapes them for /admin and wakes the dispatcher after a change, as the
 * /v2 queue verbs do.
 */
#include "admin_queues.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "admin_list.h"
#include "answer.h"
#include "clock.h"
#include "dispatcher.h"
#include "emulator_store.h"
#include "job_types.h"
#include "log.h"
#include "queues.h"

/* A duration as queues.json writes it ("10s", "0.5s"). */
static json_t *duration(double s)
{
	char text[40];

	snprintf(text, sizeof(text), "%.9gs", s);
	return json_string(text);
}

/* A rate as queues.json writes it: an integer when it is one. */
static json_t *number(double v)
{
	return v == floor(v) && fabs(v) < 1e15 ? json_integer((json_int_t)v) : json_real(v);
}

static json_t *types_of(const char *queue)
{
	json_t *arr = json_array();
	size_t n, i;
	const struct job_type *all = job_types_all(&n);

	for (i = 0; arr && i < n; i++)
		if (!strcmp(all[i].queue, queue) &&
		    json_array_append_new(arr, json_string(all[i].name))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* The embedded Cloud Tasks' view of the queue, or NULL with *rc set. */
static json_t *state_of(struct app *app, const char *queue, int *rc, char *err, size_t errlen)
{
	long depth = 0, in_flight = 0;
	double purge = 0, next = 0;
	int paused = 0, found = 0;

	*rc = emu_store_queue_get(app->store, queue, &paused, &purge, err, errlen);
	if (!*rc)
		*rc = emu_store_queue_counts(app->store, queue, &depth, &in_flight, err, errlen);
	if (!*rc)
		*rc = emu_store_next_due(app->store, queue, &next, &found, err, errlen);
	if (*rc)
		return NULL;
	return json_pack("{s:I, s:I, s:b, s:o}", "depth", (json_int_t)depth, "inFlight",
	                 (json_int_t)in_flight, "paused", paused, "nextDue",
	                 found ? json_integer((json_int_t)floor(next)) : json_null());
}

/* The queue object; NULL with *rc set (CJ_ENOMEM or the store's). */
static json_t *queue_json(struct app *app, const struct queue_config *qc, int *rc, char *err,
                          size_t errlen)
{
	json_t *state = json_null(), *o;

	*rc = CJ_OK;
	if (!app->cfg->cloud_mode && app->store) {
		state = state_of(app, qc->name, rc, err, errlen);
		if (!state)
			return NULL;
	}
	o = json_pack("{s:s, s:o, s:{s:i, s:o, s:o, s:i, s:o}, s:{s:o, s:i}, s:o, s:o}", "name",
	              qc->name, "types", types_of(qc->name), "retryConfig", "maxAttempts",
	              qc->max_attempts, "minBackoff", duration(qc->min_backoff), "maxBackoff",
	              duration(qc->max_backoff), "maxDoublings", qc->max_doublings,
	              "maxRetryDuration", duration(0), "rateLimits", "maxDispatchesPerSecond",
	              number(qc->max_dispatches_per_second), "maxConcurrentDispatches",
	              qc->max_concurrent_dispatches, "dispatchDeadline",
	              duration(qc->dispatch_deadline), "state", state);
	if (!o)
		*rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	return o;
}

int admin_queues_list(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a)
{
	json_t *list = json_array(), *q;
	char err[256] = "";
	int rc = CJ_OK;

	(void)r;
	(void)rq;
	for (size_t i = 0; list && i < queues_count(app->queues); i++) {
		q = queue_json(app, queues_at(app->queues, i), &rc, err, sizeof(err));
		if (!q || json_array_append_new(list, q)) {
			json_decref(list);
			admin_answer_failure(a, q ? CJ_ENOMEM : rc, "listing the queues", err);
			return 1;
		}
	}
	if (!list)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	else
		http_answer_json(a, 200, json_pack("{s:o}", "queues", list));
	return 1;
}

const struct queue_config *admin_queue_find(struct app *app, const char *name,
                                            struct http_answer *a)
{
	const struct queue_config *qc = queues_find(app->queues, name);

	if (!qc)
		http_answer_result(a, CJ_ENOTFOUND, "no queue \"%.100s\" in queues.json", name);
	return qc;
}

enum verb { PAUSE, RESUME, PURGE };

static void queue_verb(struct app *app, struct route_req *rq, enum verb v, struct http_answer *a)
{
	static const char *const done[] = {"paused", "resumed", "purged"};
	const struct queue_config *qc;
	char err[256] = "";
	long purged = 0;
	json_t *o;
	int rc;

	if (admin_need_local(app, a) || !(qc = admin_queue_find(app, rq->param, a)))
		return;
	if (v == PURGE)
		rc = emu_store_purge(app->store, qc->name, clock_now(), &purged, err, sizeof(err));
	else
		rc = emu_store_queue_set_paused(app->store, qc->name, v == PAUSE, err, sizeof(err));
	if (rc) {
		admin_answer_failure(a, rc, "changing a queue", err);
		return;
	}
	dispatcher_queues_changed(app->dispatcher);
	if (v == PURGE)
		log_msg(L_INFO, "queue %s purged (%ld tasks and tombstones) by %s", qc->name,
		        purged, rq->who.email[0] ? rq->who.email : "(unknown)");
	else
		log_msg(L_INFO, "queue %s %s by %s", qc->name, done[v],
		        rq->who.email[0] ? rq->who.email : "(unknown)");
	o = queue_json(app, qc, &rc, err, sizeof(err));
	if (!o)
		admin_answer_failure(a, rc, "reading a queue", err);
	else
		http_answer_json(a, 200, o);
}

void admin_queues_pause(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a)
{
	(void)r;
	queue_verb(app, rq, PAUSE, a);
}

void admin_queues_resume(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a)
{
	(void)r;
	queue_verb(app, rq, RESUME, a);
}

void admin_queues_purge(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a)
{
	(void)r;
	queue_verb(app, rq, PURGE, a);
}
