/*
 * job_runner.h - POST /jobs/{type}: the push target of Cloud Tasks and Cloud
 * Scheduler (SPEC §5.1). Authenticates, finds the job, claims the
 * idempotency key, runs the handler within its deadline and answers so that
 * Cloud Tasks retries exactly what should be retried. The one place that maps
 * job outcomes (OK, RETRY, PERMANENT) to answers, and that records dead
 * letters for permanent failures and failed last attempts.
 */
#ifndef CJ_JOB_RUNNER_H
#define CJ_JOB_RUNNER_H

#include "app.h"
#include "http_server.h"

struct job_request;

/* Called by the router for ROUTE_JOB. Same contract as the http_app
 * callbacks; *state is the runner's per-request state (freed by done). */
int job_runner_headers(struct app *app, struct http_req *r, const char *type,
                       struct job_request **state, struct http_answer *a);
void job_runner_body(struct app *app, struct http_req *r, struct job_request *st,
                     struct http_answer *a);
void job_runner_done(struct app *app, struct http_req *r, struct job_request *st);

/* Records a dead letter (database row, or an ERROR log line carrying the
 * whole payload when there is no database or it fails). payload may be NULL. */
void job_runner_dead_letter(struct app *app, const char *type, const char *queue, const char *task,
                            const json_t *payload, int attempts, const char *last_error);

#endif
