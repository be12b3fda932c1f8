/*
 * route.h - what the router hands a route's handler (ops, admin_api,
 * enqueue_api, job_runner, …), and the callbacks a handler gives the route
 * table in router.c. Types only, so handler modules do not depend on the
 * table that lists them.
 *
 * The callbacks follow the http_app contract of http_server.h, one request
 * at a time per connection thread:
 *   on_headers  the route matched and passed the router's checks
 *               (authentication, method, draining); return 1 when a is
 *               filled and the request is answered from its headers, 0 to
 *               read the body. NULL: the body is read.
 *   on_body     the body is complete (or over the cap: r->body_too_big);
 *               fill a. NULL only on routes whose on_headers always answers.
 *   on_done     after the answer was sent or the connection died, on every
 *               path: free rq->state. NULL when there is none.
 */
#ifndef CJ_ROUTE_H
#define CJ_ROUTE_H

#include "app.h"
#include "http_server.h"
#include "oidc.h"

/* A pattern holds at most this many {param}s (router.h). */
#define ROUTE_MAX_PARAMS 2
/* Room for the second {param}: a 500-character task id
 * ("/admin/queues/{name}/tasks/{id}") and its NUL. */
#define ROUTE_PARAM2_MAX 512

/* One request on a route; owned by the router, zeroed before on_headers. */
struct route_req {
	char param[1024]; /* the first {param} (a /v2 path holds a 500-character task id) */
	/* the second {param} ("/admin/users/{id}/contacts/{contactId}"), or "" */
	char param2[ROUTE_PARAM2_MAX];
	struct oidc_identity who; /* the caller, on routes the router authenticated by OIDC */
	char channel_user[128]; /* the channel's user, on AUTH_CHANNEL_SECRET routes */
	void *state; /* the handler's own; freed by its on_done */
};

typedef int (*route_headers_fn)(struct app *app, struct http_req *r, struct route_req *rq,
                                struct http_answer *a);
typedef void (*route_body_fn)(struct app *app, struct http_req *r, struct route_req *rq,
                              struct http_answer *a);
typedef void (*route_done_fn)(struct app *app, struct http_req *r, struct route_req *rq);

#endif
