/*
 * router.c - the route table and the checks every route gets; see router.h.
 *
 * Routes (SPEC §5): /jobs/{type}, /enqueue/{type}, /admin/dead-letters,
 * /admin/dead-letters/{id}/replay, /admin/outbox[/{id}/done|resend] (outbox_api.h),
 * /admin/users/{id}/suggestions, /admin/suggestions/{id}/accept|dismiss
 * (suggestions_api.h),
 * /admin/users[/{id}[/contacts[/{contactId}]]]
 * (app data, app_api.h), the operator console's /admin/overview
 * (admin_overview.h), /admin/queues[/{name}/pause|resume|purge]
 * (admin_queues.h), /admin/queues/{name}/tasks[/{id}[/run]] (admin_tasks.h),
 * /admin/schedules[/{name}/fire] and /admin/clock[/advance]
 * (admin_schedules.h), /admin/sync-health (admin_sync_health.h),
 * /health/live, /health/ready, /metrics, /webhooks/google-calendar, the
 * operator console /console[/…] and /console/session (console_web.h), and
 * in local mode /emulator/certs, /emulator/clock, /emulator/clock:advance
 * and /v2/... (the Cloud Tasks API, emulator_api.h). The router owns no
 * route's logic: each row
 * names the module that answers it.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "admin_api.h"
#include "admin_overview.h"
#include "admin_queues.h"
#include "admin_schedules.h"
#include "admin_sync_health.h"
#include "admin_tasks.h"
#include "outbox_api.h"
#include "suggestions_api.h"
#include "webhook_api.h"
#include "app_api.h"
#include "auth.h"
#include "console_web.h"
#include "emulator_api.h"
#include "enqueue_api.h"
#include "job_runner.h"
#include "local_api.h"
#include "log.h"
#include "ops.h"

/* /jobs/{type}: job_runner keeps its own per-request state. */
static int jobs_headers(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a)
{
	struct job_request *job = NULL;
	int answered = job_runner_headers(app, r, rq->param, &job, a);

	rq->state = job;
	return answered;
}

static void jobs_body(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a)
{
	job_runner_body(app, r, rq->state, a);
}

static void jobs_done(struct app *app, struct http_req *r, struct route_req *rq)
{
	job_runner_done(app, r, rq->state);
}

/* pattern, method, authentication, flags, on_headers, on_body, on_done, body cap */
static const struct route routes[] = {
    {"/jobs/{type}", "POST", AUTH_JOBS_OIDC, ROUTE_OWN_CHECKS, jobs_headers, jobs_body, jobs_done,
     0},
    {"/enqueue/{type}", "POST", AUTH_ENQUEUE_OIDC, 0, enqueue_api_headers, enqueue_api_body, NULL,
     0},
    {"/admin/dead-letters", "GET", AUTH_ADMIN_OIDC, 0, admin_api_list, NULL, NULL, 0},
    {"/admin/dead-letters/{id}/replay", "POST", AUTH_ADMIN_OIDC, 0, NULL, admin_api_replay, NULL,
     0},
    {"/admin/outbox", "GET", AUTH_ADMIN_OIDC, 0, outbox_api_list, NULL, NULL, 0},
    {"/admin/outbox/{id}/done", "POST", AUTH_ADMIN_OIDC, 0, NULL, outbox_api_done, NULL, 0},
    {"/admin/outbox/{id}/resend", "POST", AUTH_ADMIN_OIDC, 0, NULL, outbox_api_resend, NULL,
     0},
    {"/admin/users/{id}/suggestions", "GET", AUTH_ADMIN_OIDC, 0, suggestions_api_list, NULL,
     NULL, 0},
    {"/admin/suggestions/{id}/accept", "POST", AUTH_ADMIN_OIDC, 0, NULL, suggestions_api_accept,
     NULL, 0},
    {"/admin/suggestions/{id}/dismiss", "POST", AUTH_ADMIN_OIDC, 0, NULL,
     suggestions_api_dismiss, NULL, 0},
    {"/admin/users", "GET", AUTH_ADMIN_OIDC, 0, app_api_users_list, NULL, NULL, 0},
    {"/admin/users/{id}", "GET", AUTH_ADMIN_OIDC, 0, app_api_user_get, NULL, NULL, 0},
    {"/admin/users/{id}/contacts", "GET", AUTH_ADMIN_OIDC, 0, app_api_contacts_list, NULL, NULL,
     0},
    {"/admin/users/{id}/contacts/{contactId}", "PATCH", AUTH_ADMIN_OIDC, 0, NULL,
     app_api_contact_patch, NULL, 0},
    {"/admin/overview", "GET", AUTH_ADMIN_OIDC, 0, admin_overview, NULL, NULL, 0},
    {"/admin/queues", "GET", AUTH_ADMIN_OIDC, 0, admin_queues_list, NULL, NULL, 0},
    {"/admin/queues/{name}/pause", "POST", AUTH_ADMIN_OIDC, 0, NULL, admin_queues_pause, NULL, 0},
    {"/admin/queues/{name}/resume", "POST", AUTH_ADMIN_OIDC, 0, NULL, admin_queues_resume, NULL,
     0},
    {"/admin/queues/{name}/purge", "POST", AUTH_ADMIN_OIDC, 0, NULL, admin_queues_purge, NULL, 0},
    {"/admin/queues/{name}/tasks", "GET", AUTH_ADMIN_OIDC, 0, admin_tasks_list, NULL, NULL, 0},
    {"/admin/queues/{name}/tasks/{id}/run", "POST", AUTH_ADMIN_OIDC, 0, NULL, admin_tasks_run,
     NULL, 0},
    {"/admin/queues/{name}/tasks/{id}", "DELETE", AUTH_ADMIN_OIDC, 0, admin_tasks_delete, NULL,
     NULL, 0},
    {"/admin/schedules", "GET", AUTH_ADMIN_OIDC, 0, admin_schedules_list, NULL, NULL, 0},
    {"/admin/schedules/{name}/fire", "POST", AUTH_ADMIN_OIDC, 0, NULL, admin_schedules_fire,
     NULL, 0},
    {"/admin/clock", "GET", AUTH_ADMIN_OIDC, 0, admin_clock, NULL, NULL, 0},
    {"/admin/clock/advance", "POST", AUTH_ADMIN_OIDC, 0, NULL, admin_clock_advance, NULL, 0},
    {"/admin/sync-health", "GET", AUTH_ADMIN_OIDC, 0, admin_sync_health, NULL, NULL, 0},
    {"/health/live", "GET", AUTH_NONE, ROUTE_WHILE_DRAINING, ops_live, NULL, NULL, 0},
    {"/health/ready", "GET", AUTH_NONE, ROUTE_WHILE_DRAINING, ops_ready, NULL, NULL, 0},
    {"/metrics", "GET", AUTH_NONE, ROUTE_WHILE_DRAINING, ops_metrics, NULL, NULL, 0},
    {"/webhooks/google-calendar", "POST", AUTH_CHANNEL_SECRET, 0, webhook_api_calendar, NULL,
     NULL, 0},
    {"/v2/{path...}", "*", AUTH_LOCAL_ONLY, ROUTE_OWN_CHECKS, emulator_api_headers,
     emulator_api_body, NULL, EMULATOR_API_MAX_BODY},
    {"/console", "GET", AUTH_NONE, 0, console_web_redirect, NULL, NULL, 0},
    {"/console/", "GET", AUTH_NONE, 0, console_web_asset, NULL, NULL, 0},
    {"/console/session", "GET", AUTH_NONE, 0, console_web_session, NULL, NULL, 0},
    {"/console/{asset}", "GET", AUTH_NONE, 0, console_web_asset, NULL, NULL, 0},
    {"/emulator/certs", "GET", AUTH_LOCAL_ONLY, 0, local_api_certs, NULL, NULL, 0},
    {"/emulator/clock", "GET", AUTH_LOCAL_ONLY, 0, local_api_clock, NULL, NULL, 0},
    {"/emulator/clock:advance", "POST", AUTH_LOCAL_ONLY, 0, NULL, local_api_clock_advance, NULL, 0},
};

struct req_state {
	const struct route *route; /* set once the route's handler is called */
	struct route_req rq;
};

const struct route *router_table(size_t *count)
{
	*count = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* Matches path against pattern from its k-th {param} on; see router.h. A
 * parameter followed by another one is one whole segment, so the pattern
 * must go on with '/' after it; the last one is the text between the
 * pattern's prefix and suffix. */
static int match_from(const char *pattern, const char *path, char *const out[ROUTE_MAX_PARAMS],
                      const size_t lens[ROUTE_MAX_PARAMS], int k)
{
	const char *open = strchr(pattern, '{'), *close = open ? strchr(open, '}') : NULL;
	size_t pre, suf, len, n;
	int rest;

	if (!open)
		return !strcmp(pattern, path);
	if (!close || k >= ROUTE_MAX_PARAMS || !lens[k])
		return 0;
	pre = (size_t)(open - pattern);
	if (strncmp(path, pattern, pre))
		return 0;
	path += pre;
	if (strchr(close + 1, '{')) {
		n = strcspn(path, "/");
		if (close[1] != '/' || !n || n >= lens[k])
			return 0;
		memcpy(out[k], path, n);
		out[k][n] = '\0';
		return match_from(close + 1, path + n, out, lens, k + 1);
	}
	rest = close - open > 4 && !strncmp(close - 3, "...", 3);
	len = strlen(path);
	suf = strlen(close + 1);
	if (len < suf + 1 || strcmp(path + len - suf, close + 1))
		return 0;
	n = len - suf;
	if ((!rest && memchr(path, '/', n)) || n >= lens[k])
		return 0;
	memcpy(out[k], path, n);
	out[k][n] = '\0';
	return 1;
}

int router_pattern_match2(const char *pattern, const char *path, char *param, size_t paramlen,
                          char *param2, size_t param2len)
{
	char *const out[ROUTE_MAX_PARAMS] = {param, param2};
	const size_t lens[ROUTE_MAX_PARAMS] = {param ? paramlen : 0, param2 ? param2len : 0};
	int ok;

	if (lens[0])
		param[0] = '\0';
	if (lens[1])
		param2[0] = '\0';
	ok = match_from(pattern, path, out, lens, 0);
	if (!ok && lens[0])
		param[0] = '\0';
	if (!ok && lens[1])
		param2[0] = '\0';
	return ok;
}

int router_pattern_match(const char *pattern, const char *path, char *param, size_t paramlen)
{
	return router_pattern_match2(pattern, path, param, paramlen, NULL, 0);
}

/* A GET row also answers HEAD (libmicrohttpd leaves the body out); a "*"
 * row answers every method. */
static int method_fits(const char *method, const char *row)
{
	return !strcmp(row, "*") || !strcmp(method, row) ||
	    (!strcmp(method, "HEAD") && !strcmp(row, "GET"));
}

void router_match(const char *method, const char *path, struct route_match *out)
{
	char param[sizeof(out->param)], param2[sizeof(out->param2)];
	size_t i, used;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];

		if (!router_pattern_match2(rt->pattern, path, param, sizeof(param), param2,
		                           sizeof(param2)))
			continue;
		used = strlen(out->allowed);
		snprintf(out->allowed + used, sizeof(out->allowed) - used, "%s%s", used ? ", " : "",
		         rt->method);
		if (out->method_ok || (out->route && !method_fits(method, rt->method)))
			continue;
		out->route = rt;
		out->method_ok = method_fits(method, rt->method);
		memcpy(out->param, param, sizeof(param));
		memcpy(out->param2, param2, sizeof(param2));
	}
}

/* Local-only rows exist in local mode, for loopback peers only. */
static int local_route_visible(struct app *app, struct http_req *r)
{
	if (app->cfg->cloud_mode)
		return 0;
	if (http_request_peer_loopback(r))
		return 1;
	log_msg(L_WARNING, "%s %.200s refused: local-only route, peer is not loopback", r->method,
	        r->path);
	return 0;
}

/* The row's authentication: 0, or 1 with a filled answer. */
static int authenticate(struct app *app, struct http_req *r, const struct route *rt,
                        struct route_req *rq, struct http_answer *a)
{
	switch (rt->auth) {
	case AUTH_NONE:
	case AUTH_LOCAL_ONLY:
		return 0;
	case AUTH_JOBS_OIDC:
		return auth_check(app, r, &app->cfg->oidc_allowed_emails, &rq->who, a);
	case AUTH_ENQUEUE_OIDC:
		return auth_check(app, r, &app->cfg->enqueue_allowed_emails, &rq->who, a);
	case AUTH_ADMIN_OIDC:
		/* The operator console signs in with its own OAuth client: its ID
		 * tokens carry that client id as aud, and count here only. */
		return auth_check_aud(app, r, &app->cfg->enqueue_allowed_emails,
		                      app->cfg->console_oauth_client_id, &rq->who, a);
	case AUTH_CHANNEL_SECRET:
		return auth_channel(app, r, rq->channel_user, sizeof(rq->channel_user), a);
	}
	BUG("route with an unknown authentication");
}

static int on_headers(void *ctx, struct http_req *r, struct http_answer *a)
{
	struct app *app = ctx;
	struct req_state *st = calloc(1, sizeof(*st));
	const struct route *rt;
	struct route_match m;

	r->app_state = st;
	if (!st) {
		http_answer_result(a, CJ_ENOMEM, "out of memory");
		return 1;
	}
	router_match(r->method, r->path, &m);
	rt = m.route;
	if (r->path_invalid || !rt ||
	    (rt->auth == AUTH_LOCAL_ONLY && !local_route_visible(app, r))) {
		http_answer_result(a, CJ_ENOTFOUND, "no route for %s %.200s", r->method, r->path);
		return 1;
	}
	if (rt->max_body)
		http_request_set_max_body(r, rt->max_body);
	memcpy(st->rq.param, m.param, sizeof(st->rq.param));
	memcpy(st->rq.param2, m.param2, sizeof(st->rq.param2));
	if (!(rt->flags & ROUTE_OWN_CHECKS)) {
		if (authenticate(app, r, rt, &st->rq, a))
			return 1;
		if (!m.method_ok) {
			http_answer_error(a, 405, "method_not_allowed", "%s takes %s", r->path,
			                  m.allowed);
			return 1;
		}
		if (atomic_load(&app->draining) && !(rt->flags & ROUTE_WHILE_DRAINING)) {
			http_answer_result(a, CJ_EUNAVAIL, "shutting down; retry later");
			a->close = 1;
			return 1;
		}
	}
	st->route = rt;
	if (rt->on_headers && rt->on_headers(app, r, &st->rq, a))
		return 1;
	if (!(rt->flags & ROUTE_OWN_CHECKS) && r->body_too_big) {
		http_answer_result(a, CJ_ETOOBIG, "request body over MAX_BODY_BYTES");
		a->close = 1;
		return 1;
	}
	if (!rt->on_body) {
		http_answer_result(a, CJ_EINTERNAL, "route %s answers nothing", rt->pattern);
		return 1;
	}
	return 0; /* answered once the body is in */
}

static void on_body(void *ctx, struct http_req *r, struct http_answer *a)
{
	struct req_state *st = r->app_state;

	if (!st || !st->route || !st->route->on_body) {
		http_answer_result(a, CJ_EINTERNAL, "unexpected request body");
		return;
	}
	st->route->on_body(ctx, r, &st->rq, a);
}

static void on_done(void *ctx, struct http_req *r)
{
	struct req_state *st = r->app_state;

	if (!st)
		return;
	if (st->route && st->route->on_done)
		st->route->on_done(ctx, r, &st->rq);
	free(st);
	r->app_state = NULL;
}

struct http_app router_http_app(struct app *app)
{
	struct http_app h = {on_headers, on_body, on_done, app};

	return h;
}
