/*
 * admin_schedules.h - the schedules of config/schedules.json and local
 * mode's business clock, for the operator console and scripts:
 *   GET /admin/schedules?count=5 (count 1-20): every schedule's name, job
 *     type, cron, zone and payload, its next `count` fire times (Unix
 *     seconds, from the cron and the business clock, in both modes), and in
 *     local mode its last run and the clock;
 *   POST /admin/schedules/{name}/fire (local): one run now through the
 *     embedded scheduler, 202 {"schedule", "scheduleTime"};
 *   GET /admin/clock and POST /admin/clock/advance {"seconds": N} (local):
 *     {"now", "offsetSeconds"}, the rules of /emulator/clock:advance.
 * Cloud mode answers the local ones 404 ("local mode only").
 *
 * Authentication is the router's (AUTH_ADMIN_OIDC). Thread-safe.
 */
#ifndef CJ_ADMIN_SCHEDULES_H
#define CJ_ADMIN_SCHEDULES_H

#include "app.h"
#include "http_server.h"
#include "route.h"

#define ADMIN_SCHEDULES_MAX_COUNT 20

int admin_schedules_list(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a);
/* on_body; rq->param is the schedule's name. */
void admin_schedules_fire(struct app *app, struct http_req *r, struct route_req *rq,
                          struct http_answer *a);
int admin_clock(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a);
void admin_clock_advance(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a);

#endif
