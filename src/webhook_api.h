/*
 * webhook_api.h - POST /webhooks/google-calendar (SPEC §5.5): Google
 * Calendar's push notifications from the watch channels the webhook jobs
 * make. The router authenticates them (AUTH_CHANNEL_SECRET: an active
 * channel's id and its token, else 404 without detail); this answers them.
 */
#ifndef CJ_WEBHOOK_API_H
#define CJ_WEBHOOK_API_H

#include "route.h"

/* Answers from the headers (the notifications carry no body). */
int webhook_api_calendar(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a);

#endif
