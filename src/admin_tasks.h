/*
 * admin_tasks.h - local mode's tasks for the operator console and scripts:
 * GET /admin/queues/{name}/tasks?limit=&cursor= (the embedded Cloud Tasks'
 * live tasks of a queue in dispatch order: schedule time, then id),
 * POST /admin/queues/{name}/tasks/{id}/run (dispatch now, as the
 * emulator's :run) and DELETE /admin/queues/{name}/tasks/{id}. Each task is
 * {"id", "queue", "type", "createTime", "scheduleTime", "attempts",
 * "lastAttempt": {"at", "status", "error"} | null, "running", "payload"}.
 * Cloud mode answers 404 ("local mode only"); an unknown queue or task is
 * 404 too.
 *
 * Authentication is the router's (AUTH_ADMIN_OIDC). Thread-safe.
 */
#ifndef CJ_ADMIN_TASKS_H
#define CJ_ADMIN_TASKS_H

#include "app.h"
#include "emulator_store.h"
#include "http_server.h"
#include "route.h"

/* rq->param is the queue; rq->param2 the short task id. */
int admin_tasks_list(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a);
void admin_tasks_run(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a);
int admin_tasks_delete(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a);

/* One task as the list shows it; NULL on ENOMEM. */
json_t *admin_task_json(const struct emu_task *t);

#endif
