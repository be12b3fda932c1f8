/*
 * app_api.h - the app-data endpoints of SPEC §5.3 for users and contacts:
 * GET /admin/users?limit=&cursor=, GET /admin/users/{id},
 * GET /admin/users/{id}/contacts?limit=&cursor= and
 * PATCH /admin/users/{id}/contacts/{contactId} {"catchupFrequencyDays":
 * 1-365 | null}. They do the reads and writes CatchUp's web app does, so
 * operators, local mode and tests can too. Authentication is the router's
 * (ENQUEUE_ALLOWED_EMAILS); the rows and their JSON are users.h's.
 *
 * Answers: lists {"users"|"contacts": [...], "next": cursor|null}; one user;
 * the contact after the change. 400 invalid_request (limit out of 1..500,
 * a cursor we did not make, a body member other than a valid
 * catchupFrequencyDays, named), 400 invalid_json, 404 not_found (unknown
 * user or contact, or a contact of another user), 413, 503 unavailable (no
 * database, or the database failed: logged).
 */
#ifndef CJ_APP_API_H
#define CJ_APP_API_H

#include "app.h"
#include "http_server.h"
#include "route.h"

/* Route callbacks (route.h). The GETs answer from the headers (rq->param
 * is the user id); the PATCH once the body is in (rq->param2 is the
 * contact id). */
int app_api_users_list(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a);
int app_api_user_get(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a);
int app_api_contacts_list(struct app *app, struct http_req *r, struct route_req *rq,
                          struct http_answer *a);
void app_api_contact_patch(struct app *app, struct http_req *r, struct route_req *rq,
                           struct http_answer *a);

#endif
