/*
 * admin_sync_health.h - GET /admin/sync-health?limit=&cursor=&filter=
 * all|problems: every user's Google account, sync state, calendar channels
 * and the problems the server finds in them (sync_health.h), so an
 * operator sees why a user's calendar stopped syncing. With
 * filter=problems only users with problems are listed; a page may then be
 * shorter than limit while "next" continues the scan. Authentication is
 * the router's (AUTH_ADMIN_OIDC). Thread-safe.
 */
#ifndef CJ_ADMIN_SYNC_HEALTH_H
#define CJ_ADMIN_SYNC_HEALTH_H

#include "app.h"
#include "http_server.h"
#include "route.h"

int admin_sync_health(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a);

#endif
