/*
 * local_api.h - local mode's own endpoints besides the Cloud Tasks emulator
 * (SPEC §5.4): GET /emulator/certs (the local signing key as a JWK set),
 * GET /emulator/clock and POST /emulator/clock:advance.
 *
 * The router serves them only in local mode and only to loopback peers
 * (AUTH_LOCAL_ONLY rows); cloud mode answers 404. Thread-safe.
 */
#ifndef CJ_LOCAL_API_H
#define CJ_LOCAL_API_H

#include "app.h"
#include "http_server.h"
#include "route.h"

/* on_headers callbacks: answer at once, return 1. */
int local_api_certs(struct app *app, struct http_req *r, struct route_req *rq,
                    struct http_answer *a);
int local_api_clock(struct app *app, struct http_req *r, struct route_req *rq,
                    struct http_answer *a);
/* on_body: {"seconds": N}, N a positive integer; anything else 400
 * invalid_request (invalid_json when the body is not a JSON object). */
void local_api_clock_advance(struct app *app, struct http_req *r, struct route_req *rq,
                             struct http_answer *a);

/* The move of local_api_clock_advance() without its answer, shared with
 * POST /admin/clock/advance: reads {"seconds": N} from r's body and moves
 * the clock (stored first). 0 when it moved; otherwise 1 with a filled
 * answer (400 invalid_json or invalid_request, 503). */
int local_api_advance(struct app *app, struct http_req *r, struct http_answer *a);

/* {"now": RFC 3339 of the business clock, "offsetSeconds": N}; NULL on
 * ENOMEM. */
json_t *local_api_clock_doc(void);

#endif
