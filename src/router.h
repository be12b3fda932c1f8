/*
 * router.h - maps (method, path) to a route, authenticates, and is the one
 * place that turns result codes into HTTP statuses and error codes.
 */
#ifndef CJ_ROUTER_H
#define CJ_ROUTER_H

#include "app.h"
#include "http_server.h"
#include "oidc.h"

enum route_id {
	ROUTE_NONE = 0,
	ROUTE_JOB, /* /jobs/{type} */
	ROUTE_ENQUEUE, /* /enqueue/{type} */
	ROUTE_DEAD_LETTERS, /* /admin/dead-letters */
	ROUTE_DL_REPLAY, /* /admin/dead-letters/{id}/replay */
	ROUTE_HEALTH_LIVE, /* /health/live */
	ROUTE_HEALTH_READY, /* /health/ready */
	ROUTE_METRICS, /* /metrics */
	ROUTE_CALENDAR_HOOK, /* /webhooks/google-calendar */
};

struct route {
	enum route_id id;
	const char *method; /* the one method the route answers */
	char param[512]; /* {type} or {id}, percent-decoding not applied */
};

/* Fills out; ROUTE_NONE when nothing matches. */
void router_match(const char *path, struct route *out);

/* The HTTP status for a result code, and the error code of a status. */
int router_status(int cj_code);
const char *router_error_code(int status);

/* Checks the Authorization header against the route's allowed emails. 0 when
 * authenticated (who filled); otherwise fills a (401/403/503), counts and
 * logs the failure (never the token) and returns 1. */
int router_authenticate(struct app *app, struct http_req *r, const struct strlist *allowed,
                        struct oidc_identity *who, struct http_answer *a);

/* The http_app callbacks; app is struct app. */
struct http_app router_http_app(struct app *app);

#endif
