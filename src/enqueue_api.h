/*
 * enqueue_api.h - POST /enqueue/{type} (SPEC §5.2): other services enqueue a
 * job over HTTP. Body {"payload": {...}, "delaySeconds": N, "scheduleTime":
 * "RFC3339", "taskId": "..."}; answers 202 {"task", "scheduleTime"}, 400
 * invalid_payload / invalid_request / invalid_json, 404 unknown type, 409
 * already_exists, 413 payload over 100,000 bytes, 415 not JSON, 503 Cloud
 * Tasks unavailable. Authentication is the router's (ENQUEUE_ALLOWED_EMAILS).
 */
#ifndef CJ_ENQUEUE_API_H
#define CJ_ENQUEUE_API_H

#include "app.h"
#include "enqueue.h"
#include "http_server.h"
#include "route.h"

/* The route's callbacks (route.h); rq->param is the job type. The headers
 * callback answers 415 at once when the body is not JSON. */
int enqueue_api_headers(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a);
void enqueue_api_body(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a);

/* The answer to a failed enqueue_job(), for every HTTP caller of it (this
 * endpoint and dead-letter replay), so a kind means one answer: unknown type
 * 404 not_found, invalid payload 400 invalid_payload, invalid request 400
 * invalid_request, too big 413, existing name 409 already_exists, Cloud Tasks
 * failing 503 unavailable with Retry-After. The message is err, after
 * "context: " when context is not NULL. */
void enqueue_api_answer_error(struct http_answer *a, enum enqueue_error_kind kind,
                              const char *context, const char *err);

/* True when the media type is application/json (parameters allowed). */
int enqueue_api_is_json(const char *content_type);

#endif
