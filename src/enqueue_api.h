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
#include "http_server.h"

/* 1 when the request is answered before its body (415), else 0. */
int enqueue_api_headers(struct app *app, struct http_req *r, struct http_answer *a);
void enqueue_api_body(struct app *app, struct http_req *r, const char *type, struct http_answer *a);

/* True when the media type is application/json (parameters allowed). */
int enqueue_api_is_json(const char *content_type);

#endif
