/*
 * ops.h - the operations endpoints (SPEC §5.3): liveness, readiness with the
 * state of every dependency, and Prometheus metrics. Open to everyone, so
 * they reveal no secrets.
 */
#ifndef CJ_OPS_H
#define CJ_OPS_H

#include "app.h"
#include "http_server.h"
#include "route.h"

/* GET /health/live, /health/ready and /metrics: on_headers callbacks of the
 * route table (route.h); each answers at once and returns 1. */
int ops_live(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a);
int ops_ready(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a);
int ops_metrics(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a);

/* The readiness document; *ok is 1 when every dependency is usable. */
json_t *ops_readiness(struct app *app, int *ok);

#endif
