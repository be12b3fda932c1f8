/*
 * admin_api.h - the dead-letter endpoints of SPEC §5.3:
 * GET /admin/dead-letters?type=&since=&until=&limit=50&cursor= (since and
 * until: Unix seconds on failedAt, inclusive and exclusive) and
 * POST /admin/dead-letters/{id}/replay. Authentication is the router's
 * (ENQUEUE_ALLOWED_EMAILS).
 */
#ifndef CJ_ADMIN_API_H
#define CJ_ADMIN_API_H

#include "app.h"
#include "http_server.h"
#include "route.h"

/* The routes' callbacks (route.h): the list answers from the headers; the
 * replay (rq->param is the dead letter's id) once the body is in. */
int admin_api_list(struct app *app, struct http_req *r, struct route_req *rq,
                   struct http_answer *a);
void admin_api_replay(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a);

#endif
