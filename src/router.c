/*
 * router.c - routes, authentication, and the result → HTTP status mapping.
 *
 * Route table (SPEC §5): /jobs/{type}, /enqueue/{type}, /admin/dead-letters,
 * /admin/dead-letters/{id}/replay, /health/live, /health/ready, /metrics,
 * /webhooks/google-calendar. Authenticated routes check the token before
 * anything else, so an unauthenticated caller learns nothing (not even 404).
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "admin_api.h"
#include "enqueue_api.h"
#include "job_runner.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "timeutil.h"

struct req_state {
	struct route route;
	struct job_request *job;
};

static int segment_ok(const char *s)
{
	return *s && !strchr(s, '/') && strlen(s) < sizeof(((struct route *)0)->param);
}

void router_match(const char *path, struct route *out)
{
	static const struct {
		const char *path;
		enum route_id id;
		const char *method;
	} fixed[] = {
	    {"/health/live", ROUTE_HEALTH_LIVE, "GET"},
	    {"/health/ready", ROUTE_HEALTH_READY, "GET"},
	    {"/metrics", ROUTE_METRICS, "GET"},
	    {"/admin/dead-letters", ROUTE_DEAD_LETTERS, "GET"},
	    {"/webhooks/google-calendar", ROUTE_CALENDAR_HOOK, "POST"},
	};
	const char *rest;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!strcmp(path, fixed[i].path)) {
			out->id = fixed[i].id;
			out->method = fixed[i].method;
			return;
		}
	}
	if (!strncmp(path, "/jobs/", 6) && segment_ok(path + 6)) {
		out->id = ROUTE_JOB;
		out->method = "POST";
		snprintf(out->param, sizeof(out->param), "%s", path + 6);
		return;
	}
	if (!strncmp(path, "/enqueue/", 9) && segment_ok(path + 9)) {
		out->id = ROUTE_ENQUEUE;
		out->method = "POST";
		snprintf(out->param, sizeof(out->param), "%s", path + 9);
		return;
	}
	rest = path + strlen("/admin/dead-letters/");
	if (!strncmp(path, "/admin/dead-letters/", 20)) {
		const char *slash = strchr(rest, '/');

		if (slash && slash > rest && !strcmp(slash, "/replay") &&
		    (size_t)(slash - rest) < sizeof(out->param)) {
			out->id = ROUTE_DL_REPLAY;
			out->method = "POST";
			snprintf(out->param, sizeof(out->param), "%.*s", (int)(slash - rest), rest);
		}
	}
}

int router_status(int code)
{
	switch (code) {
	case CJ_OK:
		return 200;
	case CJ_EINVAL:
		return 400;
	case CJ_EAUTH:
		return 401;
	case CJ_EFORBIDDEN:
		return 403;
	case CJ_ENOTFOUND:
		return 404;
	case CJ_EEXISTS:
	case CJ_ECONFLICT:
		return 409;
	case CJ_ETOOBIG:
		return 413;
	case CJ_EUNAVAIL:
	case CJ_ETIMEOUT:
	case CJ_ENOKEYS:
	case CJ_ECONFIG:
	case CJ_ESTORAGE:
	case CJ_EUPSTREAM:
		return 503;
	default:
		return 500;
	}
}

const char *router_error_code(int status)
{
	switch (status) {
	case 400:
		return "invalid_request";
	case 401:
		return "unauthenticated";
	case 403:
		return "forbidden";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	case 409:
		return "already_exists";
	case 413:
		return "payload_too_large";
	case 415:
		return "unsupported_media_type";
	case 501:
		return "not_implemented";
	case 503:
		return "unavailable";
	default:
		return "internal";
	}
}

int router_authenticate(struct app *app, struct http_req *r, const struct strlist *allowed,
                        struct oidc_identity *who, struct http_answer *a)
{
	const char *reason = "unknown";
	struct oidc_identity id;
	int rc;

	rc = oidc_verify(app->oidc, http_request_header(r, "Authorization"), allowed, time_wall_s(),
	                 who ? who : &id, &reason);
	if (rc == CJ_OK)
		return 0;
	metrics_auth_failure(reason);
	log_msg(L_WARNING, "%s %s: authentication failed: %s", r->method, r->path, reason);
	switch (rc) {
	case CJ_EFORBIDDEN:
		http_answer_error(a, 403, "forbidden", "caller is not allowed here (%s)", reason);
		break;
	case CJ_ENOKEYS:
		http_answer_error(a, 503, "unavailable",
		                  "token signing keys not loaded yet; retry later");
		break;
	case CJ_EAUTH:
		http_answer_error(a, 401, "unauthenticated",
		                  "a valid Google-signed OIDC token is required (%s)", reason);
		break;
	default:
		http_answer_error(a, 500, "internal", "authentication failed: %s", cj_strerror(rc));
		break;
	}
	return 1;
}

static int on_headers(void *ctx, struct http_req *r, struct http_answer *a)
{
	struct app *app = ctx;
	struct req_state *st = calloc(1, sizeof(*st));

	r->app_state = st;
	if (!st) {
		http_answer_error(a, 500, "internal", "out of memory");
		return 1;
	}
	router_match(r->path, &st->route);
	switch (st->route.id) {
	case ROUTE_JOB:
		return job_runner_headers(app, r, st->route.param, &st->job, a);
	case ROUTE_NONE:
		http_answer_error(a, 404, "not_found", "no route for %s %.200s", r->method,
		                  r->path);
		return 1;
	case ROUTE_ENQUEUE:
	case ROUTE_DEAD_LETTERS:
	case ROUTE_DL_REPLAY:
		/* Producers and operators: authenticated before anything else. */
		if (router_authenticate(app, r, &app->cfg->enqueue_allowed_emails, NULL, a))
			return 1;
		break;
	default:
		break;
	}
	if (strcmp(r->method, st->route.method) &&
	    !(!strcmp(r->method, "HEAD") && !strcmp(st->route.method, "GET"))) {
		http_answer_error(a, 405, "method_not_allowed", "%s takes %s", r->path,
		                  st->route.method);
		return 1;
	}
	if (atomic_load(&app->draining) && st->route.id != ROUTE_HEALTH_LIVE &&
	    st->route.id != ROUTE_HEALTH_READY && st->route.id != ROUTE_METRICS) {
		http_answer_error(a, 503, "unavailable", "shutting down; retry later");
		a->close = 1;
		return 1;
	}
	switch (st->route.id) {
	case ROUTE_HEALTH_LIVE:
		ops_live(app, r, a);
		return 1;
	case ROUTE_HEALTH_READY:
		ops_ready(app, r, a);
		return 1;
	case ROUTE_METRICS:
		ops_metrics(app, r, a);
		return 1;
	case ROUTE_DEAD_LETTERS:
		admin_api_list(app, r, a);
		return 1;
	case ROUTE_ENQUEUE:
		if (enqueue_api_headers(app, r, a))
			return 1;
		break;
	default:
		break;
	}
	if (r->body_too_big) {
		http_answer_error(a, 413, "payload_too_large", "request body over MAX_BODY_BYTES");
		a->close = 1;
		return 1;
	}
	if (st->route.id == ROUTE_ENQUEUE || st->route.id == ROUTE_DL_REPLAY)
		return 0; /* answered once the body is in */
	http_answer_error(a, 501, "not_implemented", "%s is not implemented in this revision",
	                  r->path);
	return 1;
}

static void on_body(void *ctx, struct http_req *r, struct http_answer *a)
{
	struct app *app = ctx;
	struct req_state *st = r->app_state;

	if (st && st->route.id == ROUTE_JOB) {
		job_runner_body(app, r, st->job, a);
		return;
	}
	if (st && st->route.id == ROUTE_ENQUEUE) {
		enqueue_api_body(app, r, st->route.param, a);
		return;
	}
	if (st && st->route.id == ROUTE_DL_REPLAY) {
		admin_api_replay(app, r, st->route.param, a);
		return;
	}
	http_answer_error(a, 500, "internal", "unexpected request body");
}

static void on_done(void *ctx, struct http_req *r)
{
	struct app *app = ctx;
	struct req_state *st = r->app_state;

	if (!st)
		return;
	if (st->route.id == ROUTE_JOB)
		job_runner_done(app, r, st->job);
	free(st);
	r->app_state = NULL;
}

struct http_app router_http_app(struct app *app)
{
	struct http_app h = {on_headers, on_body, on_done, app};

	return h;
}
