/*
 * ops.h - the operations endpoints (SPEC §5.3): liveness, readiness with the
 * state of every dependency, and Prometheus metrics. Open to everyone, so
 * they reveal no secrets.
 */
#ifndef CJ_OPS_H
#define CJ_OPS_H

#include "app.h"
#include "http_server.h"

void ops_live(struct app *app, struct http_req *r, struct http_answer *a);
void ops_ready(struct app *app, struct http_req *r, struct http_answer *a);
void ops_metrics(struct app *app, struct http_req *r, struct http_answer *a);

/* The readiness document; *ok is 1 when every dependency is usable. */
json_t *ops_readiness(struct app *app, int *ok);

#endif
