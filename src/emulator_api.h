/*
 * emulator_api.h - local mode's Cloud Tasks REST API v2 (SPEC §5.4): the
 * subset producers and operators use, under /v2/, answered from the
 * emulator's store (emulator_store.h) and dispatcher (dispatcher.h).
 *
 *   GET    /v2/projects/P/locations                      locations.list
 *   GET    /v2/projects/P/locations/L                    locations.get
 *   GET    /v2/projects/P/locations/L/queues             queues.list
 *   GET    …/queues/Q                                    queues.get
 *   POST   …/queues/Q:purge | :pause | :resume           the Queue
 *   GET    …/queues/Q/tasks                              tasks.list
 *   POST   …/queues/Q/tasks                              tasks.create
 *   GET    …/queues/Q/tasks/T                            tasks.get
 *   DELETE …/queues/Q/tasks/T                            tasks.delete ({})
 *   POST   …/queues/Q/tasks/T:run                        tasks.run
 *
 * P and L must be GCP_PROJECT_ID and GCP_REGION; queues are those of
 * config/queues.json. Every error, also for an unknown path or method, bad
 * JSON or the depth cap, is Google's {"error": {code, message, status}}.
 * Any bearer token is accepted (clients always send one).
 *
 * The router serves one "*" row for /v2/{path...}, local mode and loopback
 * peers only, with its own body cap (EMULATOR_API_MAX_BODY) and its own
 * checks: it keeps serving while the server drains, so jobs finishing in the
 * grace period can still enqueue.
 */
#ifndef CJ_EMULATOR_API_H
#define CJ_EMULATOR_API_H

#include "route.h"

/* Requests to /v2 may carry up to 2 MiB, whatever MAX_BODY_BYTES says: a
 * task of 1 MB is larger once base64-encoded in JSON. */
#define EMULATOR_API_MAX_BODY (2u * 1024 * 1024)

int emulator_api_headers(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a);
void emulator_api_body(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a);

#endif
