/*
 * suggestions_api.h - the suggestion endpoints of SPEC §5.3, doing what the
 * web app does when a user answers a suggestion:
 *   GET  /admin/users/{id}/suggestions?state=pending|notified|accepted|
 *        expired|dismissed&limit=&cursor= → {"suggestions": [{id, contactId,
 *        contactName, start, end, state, createdAt}], "next": cursor|null}
 *   POST /admin/suggestions/{id}/accept, POST /admin/suggestions/{id}/dismiss
 *        → the suggestion after the move
 * 400 invalid_request (a state that does not exist, limit, cursor, a
 * suggestion whose state cannot move so), 404 not_found, 503 unavailable.
 * Authentication is the router's (ENQUEUE_ALLOWED_EMAILS); the rows and
 * their states are suggestions.h's.
 */
#ifndef CJ_SUGGESTIONS_API_H
#define CJ_SUGGESTIONS_API_H

#include "app.h"
#include "http_server.h"
#include "route.h"

int suggestions_api_list(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a);
void suggestions_api_accept(struct app *app, struct http_req *r, struct route_req *rq,
                            struct http_answer *a);
void suggestions_api_dismiss(struct app *app, struct http_req *r, struct route_req *rq,
                             struct http_answer *a);

#endif
