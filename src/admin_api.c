/*
 * admin_api.c - listing and replaying dead letters; see admin_api.h.
 *
 * Replay enqueues the original payload as a new task (a new random name),
 * with ":replay:{id}" appended to an idempotencyKey in it, so the completed
 * key of the failed run does not swallow the replay; then it sets
 * replayedAt.
 */
#include "admin_api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "clock.h"
#include "dead_letters.h"
#include "enqueue.h"
#include "enqueue_api.h"
#include "log.h"
#include "timeutil.h"

/* An optional Unix-seconds bound (?since=, ?until=): 0 with *set telling
 * whether it was given, or 1 with a filled 400. */
static int time_bound(struct http_req *r, const char *name, int64_t *v, int *set,
                      struct http_answer *a)
{
	const char *s = http_request_query(r, name);
	char *end;
	long long n;

	*set = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end) {
		http_answer_result(a, CJ_EINVAL, "%s: must be an integer (Unix seconds)", name);
		return 1;
	}
	*v = (int64_t)n;
	*set = 1;
	return 0;
}

int admin_api_list(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a)
{
	const char *type = http_request_query(r, "type");
	const char *limit_s = http_request_query(r, "limit");
	const char *cursor = http_request_query(r, "cursor");
	char err[256] = "", *next = NULL, *end;
	json_t *items = NULL;
	int64_t since = 0, until = 0;
	int has_since, has_until;
	long limit = 50;
	int rc;

	(void)rq;
	if (!app->store) {
		http_answer_result(a, CJ_EUNAVAIL, "no database configured");
		return 1;
	}
	if (limit_s) {
		limit = strtol(limit_s, &end, 10);
		if (end == limit_s || *end || limit < 1 || limit > 500) {
			http_answer_result(a, CJ_EINVAL, "limit: must be an integer from 1 to 500");
			return 1;
		}
	}
	if (time_bound(r, "since", &since, &has_since, a) ||
	    time_bound(r, "until", &until, &has_until, a))
		return 1;
	if (type && !*type)
		type = NULL;
	if (cursor && !*cursor)
		cursor = NULL;
	rc = dead_letters_list_between(app->store, type, has_since ? &since : NULL,
	                               has_until ? &until : NULL, limit, cursor, &items, &next, err,
	                               sizeof(err));
	if (rc == CJ_EINVAL) {
		http_answer_result(a, rc, "%s", err);
		return 1;
	}
	if (rc) {
		log_msg(L_ERROR, "listing dead letters failed: %s", err);
		http_answer_result(a, CJ_EUNAVAIL, "database: %s", err);
		return 1;
	}
	http_answer_json(a, 200,
	                 json_pack("{s:o, s:o}", "deadLetters", items, "next",
	                           next ? json_string(next) : json_null()));
	free(next);
	return 1;
}

/* The payload to enqueue again: a copy with the idempotency key suffixed. */
static json_t *replay_payload(const json_t *payload, const char *id)
{
	json_t *copy = json_deep_copy(payload);
	const json_t *key = json_object_get(copy, "idempotencyKey");
	char *suffixed;

	if (!copy || !json_is_string(key))
		return copy;
	if (asprintf(&suffixed, "%s:replay:%s", json_string_value(key), id) < 0) {
		json_decref(copy);
		return NULL;
	}
	json_object_set_new(copy, "idempotencyKey", json_string(suffixed));
	free(suffixed);
	return copy;
}

void admin_api_replay(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a)
{
	struct enqueue_request req = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	const char *id = rq->param;
	json_t *dl = NULL, *payload;
	char err[512] = "", context[96];
	int rc;

	(void)r;
	if (!app->store || !app->enqueuer) {
		http_answer_result(a, CJ_EUNAVAIL, "no database or enqueuer configured");
		return;
	}
	rc = dead_letters_get(app->store, id, &dl, err, sizeof(err));
	if (rc == CJ_ENOTFOUND || rc == CJ_EINVAL) {
		http_answer_result(a, CJ_ENOTFOUND, "no dead letter \"%.64s\"", id);
		return;
	}
	if (rc) {
		http_answer_result(a, CJ_EUNAVAIL, "database: %s", err);
		return;
	}
	if (!json_is_object(json_object_get(dl, "payload"))) {
		http_answer_result(a, CJ_EINVAL, "dead letter %.64s has no payload to replay (%s)",
		                   id, json_string_value(json_object_get(dl, "lastError")));
		json_decref(dl);
		return;
	}
	payload = replay_payload(json_object_get(dl, "payload"), id);
	if (!payload) {
		http_answer_result(a, CJ_ENOMEM, "out of memory");
		json_decref(dl);
		return;
	}
	req.type = json_string_value(json_object_get(dl, "type"));
	req.payload = payload;
	rc = enqueue_job(app->enqueuer, &req, &res, err, sizeof(err));
	json_decref(payload);
	if (rc) {
		if (res.kind == ENQUEUE_UPSTREAM)
			log_msg(rc == CJ_ECONFIG ? L_ERROR : L_WARNING,
			        "replay of dead letter %s failed: %s", id, err);
		snprintf(context, sizeof(context), "replay of %.64s", id);
		enqueue_api_answer_error(a, res.kind, context, err);
		json_decref(dl);
		return;
	}
	json_decref(dl);
	rc = dead_letters_mark_replayed(app->store, id, clock_now_s(), res.task, err, sizeof(err));
	if (rc)
		log_msg(L_ERROR, "dead letter %s replayed as %s but not marked: %s", id, res.task,
		        err);
	log_msg(L_INFO, "dead letter %s replayed as %s by %s", id, res.task,
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	http_answer_json(
	    a, 202, json_pack("{s:s, s:s}", "task", res.task, "scheduleTime", res.schedule_time));
}
