/*
 * router.h - the route table: which module answers (method, path), how the
 * caller is authenticated, and whether the route serves while draining.
 *
 * Adding a route is adding a row to the table in router.c and a file with
 * its callbacks (see route.h). For every route the router checks, in this
 * order: the path matches a row (else 404); local-only routes exist only in
 * local mode (cloud mode: 404) and answer loopback peers only (others: 404);
 * authentication by the row's policy (401/403/
 * 503), before anything else so an unauthenticated caller learns nothing;
 * the method (405; a GET row also answers HEAD); draining (503, except rows
 * served while draining); then the row's on_headers; then the body cap
 * (413); then the body and on_body. A row with ROUTE_OWN_CHECKS skips the
 * authentication, method, draining and cap checks: its handler does them in
 * the order its SPEC section needs (/jobs, §5.1).
 *
 * The result code → status map the router owns is in answer.h.
 */
#ifndef CJ_ROUTER_H
#define CJ_ROUTER_H

#include "answer.h"
#include "app.h"
#include "http_server.h"
#include "route.h"

enum route_auth {
	AUTH_NONE = 0, /* open, reveals no secrets: health and metrics */
	AUTH_JOBS_OIDC, /* Google OIDC token, email in OIDC_ALLOWED_EMAILS (§6) */
	AUTH_ENQUEUE_OIDC, /* Google OIDC token, email in ENQUEUE_ALLOWED_EMAILS */
	AUTH_ADMIN_OIDC, /* as AUTH_ENQUEUE_OIDC; aud may also be CONSOLE_OAUTH_CLIENT_ID */
	AUTH_CHANNEL_SECRET, /* X-Goog-Channel-ID/-Token of an active channel (§5.5) */
	AUTH_LOCAL_ONLY, /* local mode, loopback peers only (else 404); any token accepted */
};

/* Row flags. */
#define ROUTE_WHILE_DRAINING 1u /* served after SIGTERM (health, metrics) */
#define ROUTE_OWN_CHECKS 2u /* the handler authenticates and checks method and draining */

struct route {
	/* "/metrics" (fixed), "/jobs/{type}" (one segment, no '/'),
	 * "/admin/dead-letters/{id}/replay" (a segment between a prefix and a
	 * suffix), "/v2/{path...}" (the rest of the path, '/' included) or
	 * "/admin/users/{id}/contacts/{contactId}" (two parameters). At most
	 * ROUTE_MAX_PARAMS {param}s; one followed by another must be a whole
	 * segment ("/{a}/", not "/{a}:x/"), and only the last may be a
	 * {name...}. A parameter never matches an empty string. */
	const char *pattern;
	/* This row's one method (rows may share a pattern), or "*": every
	 * method, the handler tells them apart. */
	const char *method;
	enum route_auth auth;
	unsigned flags;
	route_headers_fn on_headers;
	route_body_fn on_body;
	route_done_fn on_done;
	size_t max_body; /* the body cap of this route; 0: MAX_BODY_BYTES */
};

struct route_match {
	const struct route *route; /* NULL: no row's pattern matches the path */
	int method_ok; /* 0: the path matches, but no row takes the method (405) */
	char allowed[64]; /* the methods of the rows matching the path: "GET, POST" */
	char param[1024];
	char param2[ROUTE_PARAM2_MAX];
};

/* Matches (method, path) against the route table. */
void router_match(const char *method, const char *path, struct route_match *out);

/* Matches one pattern (syntax at struct route) against a path; on a match
 * the {param} (or "") is copied into param. 1 on a match; 0 otherwise, also
 * when the parameter does not fit in paramlen. */
int router_pattern_match(const char *pattern, const char *path, char *param, size_t paramlen);
/* As router_pattern_match, for patterns with up to two parameters: the
 * second {param} (or "") is copied into param2. A pattern with two
 * parameters and no room for the second (param2 NULL) never matches. On no
 * match both are "". */
int router_pattern_match2(const char *pattern, const char *path, char *param, size_t paramlen,
                          char *param2, size_t param2len);

/* The route table (static storage), e.g. for tests and listings. */
const struct route *router_table(size_t *count);

/* The http_app callbacks; app is struct app. */
struct http_app router_http_app(struct app *app);

#endif
