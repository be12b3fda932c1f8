/*
 * enqueue_api.c - the /enqueue/{type} endpoint; see enqueue_api.h. It only
 * translates HTTP to struct enqueue_request and results back: validation of
 * payloads, times and ids is enqueue_job()'s, so the CLI and replay get the
 * same rules.
 */
#include "enqueue_api.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "enqueue.h"
#include "json_in.h"
#include "log.h"
#include "timeutil.h"

int enqueue_api_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n))
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int enqueue_api_headers(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a)
{
	(void)app;
	(void)rq;
	if (!enqueue_api_is_json(http_request_header(r, "Content-Type"))) {
		http_answer_error(a, 415, "unsupported_media_type",
		                  "send the request as Content-Type: application/json");
		return 1;
	}
	return 0;
}

/* Reads the optional members into req. 0, or 1 with a filled 400. */
static int read_request(const json_t *body, struct enqueue_request *req, struct http_answer *a)
{
	const json_t *delay = json_object_get(body, "delaySeconds");
	const json_t *at = json_object_get(body, "scheduleTime");
	const json_t *id = json_object_get(body, "taskId");

	req->payload = json_object_get(body, "payload");
	if (!req->payload || json_is_null(req->payload)) {
		http_answer_result(a, CJ_EINVAL, "payload: required");
		return 1;
	}
	if (!json_is_object(req->payload)) {
		http_answer_error(a, 400, "invalid_payload", "payload: must be a JSON object");
		return 1;
	}
	if (delay && !json_is_null(delay)) {
		if (!json_is_number(delay) || !isfinite(json_number_value(delay)) ||
		    json_number_value(delay) < 0) {
			http_answer_result(a, CJ_EINVAL,
			                   "delaySeconds: must be a number of seconds >= 0");
			return 1;
		}
		req->has_delay = 1;
		req->delay_seconds = json_number_value(delay);
	}
	if (at && !json_is_null(at)) {
		if (!json_is_string(at) ||
		    time_parse_rfc3339(json_string_value(at), &req->schedule_time)) {
			http_answer_result(a, CJ_EINVAL, "scheduleTime: must be an RFC 3339 time");
			return 1;
		}
		req->has_schedule_time = 1;
	}
	if (id && !json_is_null(id)) {
		if (!json_is_string(id)) {
			http_answer_result(a, CJ_EINVAL,
			                   "taskId: must be a string of [A-Za-z0-9_-]{1,500}");
			return 1;
		}
		req->task_id = json_string_value(id);
	}
	return 0;
}

void enqueue_api_answer_error(struct http_answer *a, enum enqueue_error_kind kind,
                              const char *context, const char *err)
{
	const char *sep = context ? ": " : "";

	if (!context)
		context = "";
	switch (kind) {
	case ENQUEUE_UNKNOWN_TYPE:
		http_answer_result(a, CJ_ENOTFOUND, "%s%s%s", context, sep, err);
		return;
	case ENQUEUE_INVALID_PAYLOAD:
		http_answer_error(a, 400, "invalid_payload", "%s%s%s", context, sep, err);
		return;
	case ENQUEUE_INVALID_REQUEST:
		http_answer_result(a, CJ_EINVAL, "%s%s%s", context, sep, err);
		return;
	case ENQUEUE_TOO_BIG:
		http_answer_result(a, CJ_ETOOBIG, "%s%s%s", context, sep, err);
		return;
	case ENQUEUE_EXISTS:
		http_answer_result(a, CJ_EEXISTS, "%s%s%s", context, sep, err);
		return;
	case ENQUEUE_OK: /* not a failure: treated as the upstream's */
	case ENQUEUE_UPSTREAM:
		break;
	}
	/* The request was fine; Cloud Tasks (or its configuration) was not. */
	http_answer_result(a, CJ_EUNAVAIL, "%s%sCloud Tasks: %s", context, sep, err);
	snprintf(a->retry_after, sizeof(a->retry_after), "5");
}

void enqueue_api_body(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a)
{
	struct enqueue_request req = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	const char *type = rq->param;
	char err[512] = "";
	char jerr[200] = "";
	json_t *body;
	int rc;

	if (r->body_too_big) {
		http_answer_result(a, CJ_ETOOBIG, "request body over MAX_BODY_BYTES");
		return;
	}
	body = json_in_parse(buf_str(&r->body), r->body.len, JSON_REJECT_DUPLICATES, NULL, jerr,
	                     sizeof(jerr));
	if (!body || !json_is_object(body)) {
		http_answer_error(a, 400, "invalid_json", "body must be a JSON object%s%s",
		                  body ? "" : ": ", body ? "" : jerr);
		json_decref(body);
		return;
	}
	req.type = type;
	if (read_request(body, &req, a)) {
		json_decref(body);
		return;
	}
	if (!app->enqueuer) {
		http_answer_result(a, CJ_EUNAVAIL, "enqueueing is not configured");
		json_decref(body);
		return;
	}
	rc = enqueue_job(app->enqueuer, &req, &res, err, sizeof(err));
	json_decref(body);
	if (rc == CJ_OK) {
		log_msg(L_INFO, "enqueued %s as %s", type, res.task);
		http_answer_json(
		    a, 202,
		    json_pack("{s:s, s:s}", "task", res.task, "scheduleTime", res.schedule_time));
		return;
	}
	if (res.kind == ENQUEUE_UPSTREAM)
		log_msg(rc == CJ_ECONFIG ? L_ERROR : L_WARNING, "enqueue %s failed: %s", type, err);
	enqueue_api_answer_error(a, res.kind, NULL, err);
}
