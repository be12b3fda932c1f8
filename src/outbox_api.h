/*
 * outbox_api.h - the outbox endpoints of SPEC §5.3, for the operator who
 * resolves messages left 'sending' (a crash, or an answer lost after the
 * provider may have accepted them):
 *   GET  /admin/outbox?state=sending|sent|failed&limit=&cursor=
 *        → {"outbox": [{id, key, userId, channel, to, state, providerId,
 *          error, createdAt, sentAt}], "next": cursor|null}
 *   POST /admin/outbox/{id}/done  → the row, moved sending → sent (the
 *        operator knows it arrived, or chose not to send it again)
 *   POST /admin/outbox/{id}/resend → the row after sending it again
 *        (sending → sending, attempts + 1, then → sent or → failed by the
 *        provider's answer); the SMS limit still applies. 503 unavailable
 *        when the provider is not configured or not reachable, or the limit
 *        is reached: the row stays 'sending'.
 * 400 invalid_request (a state that does not exist, limit, cursor, a row
 * not in 'sending'), 404 not_found, 503 unavailable. Authentication is
 * the router's (ENQUEUE_ALLOWED_EMAILS).
 */
#ifndef CJ_OUTBOX_API_H
#define CJ_OUTBOX_API_H

#include "app.h"
#include "http_server.h"
#include "route.h"

int outbox_api_list(struct app *app, struct http_req *r, struct route_req *rq,
                    struct http_answer *a);
void outbox_api_resend(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a);
void outbox_api_done(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a);

#endif
