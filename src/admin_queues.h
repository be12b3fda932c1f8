/*
 * admin_queues.h - the queues of config/queues.json for the operator
 * console and scripts: GET /admin/queues (every queue's job types, retry
 * policy, rate limits and deadline as the file says them; in local mode
 * also the embedded Cloud Tasks' depth, tasks in flight, paused and next
 * due time) and, in local mode, POST /admin/queues/{name}/pause, …/resume
 * and …/purge, which act as the emulator's :pause, :resume and :purge and
 * answer the queue object. Cloud mode: "state" is null and the actions are
 * 404 (Cloud Tasks' own console acts on real queues).
 *
 * Authentication is the router's (AUTH_ADMIN_OIDC). Thread-safe.
 */
#ifndef CJ_ADMIN_QUEUES_H
#define CJ_ADMIN_QUEUES_H

#include "app.h"
#include "http_server.h"
#include "route.h"

struct queue_config;

int admin_queues_list(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a);
/* on_body callbacks; rq->param is the queue's name. */
void admin_queues_pause(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a);
void admin_queues_resume(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a);
void admin_queues_purge(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a);

/* The queue called name, or NULL with a filled 404. */
const struct queue_config *admin_queue_find(struct app *app, const char *name,
                                            struct http_answer *a);

#endif
