/*
 * console_web.h - serves the operator console (issue 13): the page embedded
 * in the binary (console_assets.h) under /console/, and GET /console/session,
 * which tells the page how to authenticate its /admin calls.
 *
 * Every route here is open (AUTH_NONE) and reveals nothing by itself: the
 * page holds no data, and a session token is handed out only in local mode,
 * to a loopback peer that named a loopback Host (so a web page of another
 * origin that resolves its name to 127.0.0.1 — DNS rebinding — gets none).
 * Everywhere else the page signs the operator in with Google and calls
 * the /admin endpoints with that ID token, which the router verifies like any other.
 *
 * Headers of the page and its assets: their content type,
 * X-Content-Type-Options: nosniff, CONSOLE_WEB_CSP, Cache-Control: no-cache
 * and the asset's ETag (If-None-Match → 304). Thread-safe: no state.
 */
#ifndef CJ_CONSOLE_WEB_H
#define CJ_CONSOLE_WEB_H

#include "app.h"
#include "console_assets.h"
#include "http_server.h"
#include "route.h"

#define CONSOLE_WEB_CSP                                                                        \
	"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "  \
	"form-action 'self'"

/* On_headers callbacks of the route table (route.h); each answers at once
 * and returns 1.
 *   console_web_redirect  GET /console: 308 to /console/
 *   console_web_asset     GET /console/ (index.html) and /console/{name}
 *                         (rq->param): the asset, 304 when If-None-Match
 *                         names its ETag, 404 JSON when there is none
 *   console_web_session   GET /console/session: {"mode":"local","email",
 *                         "token","expiresAt"} for a local operator (see
 *                         above), else {"mode","clientId","token":null} */
int console_web_redirect(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a);
int console_web_asset(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a);
int console_web_session(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a);

/* The embedded asset called name ("" is index.html), or NULL. Pure. */
const struct console_asset *console_web_find(const char *name);
/* 1 when an If-None-Match value (NULL: absent) names etag: "*", or a
 * comma-separated list holding etag, weak (W/"…") or not. Pure. */
int console_web_etag_matches(const char *if_none_match, const char *etag);
/* 1 when a Host header value names the loopback host: 127.0.0.1, localhost
 * (any case) or [::1], each with or without ":port". Pure. */
int console_web_host_is_loopback(const char *host);

#endif
