/*
 * admin_overview.h - GET /admin/overview: what the operator console's
 * header shows (mode, version, business time, readiness of each
 * dependency as /health/ready reports it) and this instance's job outcomes
 * per type and dead letters over the last hour (recent.h). Authentication
 * is the router's (AUTH_ADMIN_OIDC). Thread-safe.
 */
#ifndef CJ_ADMIN_OVERVIEW_H
#define CJ_ADMIN_OVERVIEW_H

#include "app.h"
#include "http_server.h"
#include "route.h"

/* on_headers callback: answers at once, returns 1. */
int admin_overview(struct app *app, struct http_req *r, struct route_req *rq,
                   struct http_answer *a);

/* {"mode", "version", "now", "ready", "window", "outcomes", "deadLetters"};
 * NULL on ENOMEM. */
json_t *admin_overview_doc(struct app *app);

#endif
