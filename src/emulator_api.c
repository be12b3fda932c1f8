/*
 * emulator_api.c - the Cloud Tasks REST v2 subset of local mode; see
 * emulator_api.h.
 *
 * One route row takes every method under /v2/; parse_target() turns (method,
 * path) into one operation or a Google-shaped error, the same way from
 * on_headers (operations without a body are answered there) and on_body.
 * The JSON shapes are emulator_json.c's, the rows emulator_store.c's; this
 * file only checks names, maps results to Google's errors and wakes the
 * dispatcher when something it waits for changed.
 */
#include "emulator_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "b64.h"
#include "clock.h"
#include "cloud_tasks.h"
#include "dispatcher.h"
#include "emulator_json.h"
#include "emulator_store.h"
#include "json_in.h"
#include "log.h"
#include "queues.h"

/* tasks.list answers at most this many tasks (Google's maximum page). */
#define LIST_MAX_PAGE 1000
/* ... and stops early when the bodies of a FULL view pass this size. */
#define LIST_MAX_BODY_BYTES (32u << 20)

enum op {
	OP_NONE, /* an error answer */
	OP_LOCATIONS,
	OP_LOCATION,
	OP_QUEUES,
	OP_QUEUE,
	OP_PURGE,
	OP_PAUSE,
	OP_RESUME,
	OP_LIST,
	OP_CREATE,
	OP_GET,
	OP_DELETE,
	OP_RUN,
};

/* What a request asks for. */
struct target {
	enum op op;
	int enum_int; /* $alt=json;enum-encoding=int */
	const struct queue_config *qc;
	char parent[256]; /* projects/P/locations/L */
	char queue[400]; /* parent/queues/Q */
	char task[1000]; /* queue/tasks/T */
};

static const char *google_status(int code)
{
	switch (code) {
	case 400:
		return "INVALID_ARGUMENT";
	case 401:
		return "UNAUTHENTICATED";
	case 403:
		return "PERMISSION_DENIED";
	case 404:
		return "NOT_FOUND";
	case 409:
		return "ALREADY_EXISTS";
	case 429:
		return "RESOURCE_EXHAUSTED";
	case 501:
		return "UNIMPLEMENTED";
	case 503:
		return "UNAVAILABLE";
	case 504:
		return "DEADLINE_EXCEEDED";
	case 500:
		return "INTERNAL";
	default:
		return "UNKNOWN";
	}
}

/* Google's error body {"error": {"code", "message", "status"}}. */
static void gerror(struct http_answer *a, int code, const char *fmt, ...) CJ_PRINTF(3, 4);
static void gerror(struct http_answer *a, int code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_answer_json(a, code,
	                 json_pack("{s:{s:i, s:s, s:s}}", "error", "code", code, "message", msg,
	                           "status", google_status(code)));
}

/* A failure result of our modules as Google's error (status from the one
 * map of results to statuses). */
static void gerror_result(struct http_answer *a, int rc, const char *msg)
{
	gerror(a, router_status(rc), "%s", msg && *msg ? msg : cj_strerror(rc));
}

/* The answer for a JSON object; a NULL object is our fault (ENOMEM). */
static void answer_json(struct http_answer *a, json_t *o)
{
	if (!o) {
		gerror(a, 500, "out of memory");
		return;
	}
	http_answer_json(a, 200, o);
}

/* Splits "id:verb" in place; returns the verb or NULL. */
static char *split_verb(char *seg)
{
	char *colon = strchr(seg, ':');

	if (!colon)
		return NULL;
	*colon = '\0';
	return colon + 1;
}

/* Which operation (method, path) names. 0, or 1 with a filled error. */
static int parse_target(struct app *app, struct http_req *r, const char *path, struct target *t,
                        struct http_answer *a)
{
	const char *m = !strcmp(r->method, "HEAD") ? "GET" : r->method;
	const char *alt = http_request_query(r, "$alt");
	char buf[1100], *seg[9], *verb = NULL, *p;
	int n = 0, get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");

	memset(t, 0, sizeof(*t));
	t->enum_int = alt && strstr(alt, "enum-encoding=int");
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		goto not_found;
	for (p = buf; n < 9; n++) {
		seg[n] = p;
		p = strchr(p, '/');
		if (!p) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (n < 3 || n > 8 || strcmp(seg[0], "projects") || strcmp(seg[2], "locations") ||
	    (n >= 5 && strcmp(seg[4], "queues")) || (n >= 7 && strcmp(seg[6], "tasks")))
		goto not_found;
	if (strcmp(seg[1], app->cfg->gcp_project_id)) {
		gerror(a, 404, "project %.100s not found: the local Cloud Tasks serves project %s",
		       seg[1], app->cfg->gcp_project_id);
		return 1;
	}
	if (n == 3) {
		t->op = get ? OP_LOCATIONS : OP_NONE;
		goto method;
	}
	if (strcmp(seg[3], app->cfg->gcp_region)) {
		gerror(a, 404,
		       "location %.100s not found: the local Cloud Tasks serves location %s",
		       seg[3], app->cfg->gcp_region);
		return 1;
	}
	snprintf(t->parent, sizeof(t->parent), "projects/%s/locations/%s", seg[1], seg[3]);
	if (n == 4 || n == 5) {
		t->op = !get ? OP_NONE : n == 4 ? OP_LOCATION : OP_QUEUES;
		goto method;
	}
	if (n == 6)
		verb = split_verb(seg[5]);
	if (!cloud_tasks_valid_queue_id(seg[5])) {
		gerror(a, 400, "queue id \"%.100s\" is invalid: it must match [A-Za-z0-9-]{1,100}",
		       seg[5]);
		return 1;
	}
	snprintf(t->queue, sizeof(t->queue), "%s/queues/%s", t->parent, seg[5]);
	t->qc = queues_find(app->queues, seg[5]);
	if (!t->qc) {
		gerror(a, 404,
		       "queue %s does not exist (the local queues are those of queues.json)",
		       t->queue);
		return 1;
	}
	if (n == 6) {
		if (!verb)
			t->op = get ? OP_QUEUE : OP_NONE;
		else if (post && !strcmp(verb, "purge"))
			t->op = OP_PURGE;
		else if (post && !strcmp(verb, "pause"))
			t->op = OP_PAUSE;
		else if (post && !strcmp(verb, "resume"))
			t->op = OP_RESUME;
		goto method;
	}
	if (n == 7) {
		t->op = get ? OP_LIST : post ? OP_CREATE : OP_NONE;
		goto method;
	}
	verb = split_verb(seg[7]);
	if (!cloud_tasks_valid_task_id(seg[7])) {
		gerror(a, 400, "task id \"%.100s\" is invalid: it must match [A-Za-z0-9_-]{1,500}",
		       seg[7]);
		return 1;
	}
	snprintf(t->task, sizeof(t->task), "%s/tasks/%s", t->queue, seg[7]);
	if (!verb)
		t->op = get ? OP_GET : del ? OP_DELETE : OP_NONE;
	else if (post && !strcmp(verb, "run"))
		t->op = OP_RUN;
method:
	if (t->op != OP_NONE)
		return 0;
	gerror(a, 404, "%s /v2/%.300s is not a method of the Cloud Tasks API", r->method, path);
	return 1;
not_found:
	gerror(a, 404, "/v2/%.300s is not a resource of the Cloud Tasks API", path);
	return 1;
}

/* ---- queues and locations ---- */

static json_t *queue_json(struct app *app, const struct target *t, const struct queue_config *qc,
                          char *err, size_t errlen, int *rc)
{
	double purge = 0;
	int paused = 0;

	*rc = emu_store_queue_get(app->store, qc->name, &paused, &purge, err, errlen);
	if (*rc)
		return NULL;
	return emu_json_queue(t->parent, qc, paused, purge, t->enum_int);
}

static void answer_queue(struct app *app, const struct target *t, struct http_answer *a)
{
	char err[256] = "";
	int rc;
	json_t *o = queue_json(app, t, t->qc, err, sizeof(err), &rc);

	if (rc)
		gerror_result(a, rc, err);
	else
		answer_json(a, o);
}

static void list_queues(struct app *app, const struct target *t, struct http_answer *a)
{
	json_t *list = json_array(), *q;
	char err[256] = "";
	int rc = CJ_OK;

	for (size_t i = 0; list && i < queues_count(app->queues); i++) {
		q = queue_json(app, t, queues_at(app->queues, i), err, sizeof(err), &rc);
		if (rc || json_array_append_new(list, q)) {
			json_decref(list);
			if (rc)
				gerror_result(a, rc, err);
			else
				gerror(a, 500, "out of memory");
			return;
		}
	}
	answer_json(a, list ? json_pack("{s:o}", "queues", list) : NULL);
}

static json_t *location_json(const struct target *t, struct app *app)
{
	char name[256];

	snprintf(name, sizeof(name), "projects/%s/locations/%s", app->cfg->gcp_project_id,
	         app->cfg->gcp_region);
	(void)t;
	return json_pack("{s:s, s:s, s:{s:s}}", "name", name, "locationId", app->cfg->gcp_region,
	                 "labels", "cloud.googleapis.com/region", app->cfg->gcp_region);
}

static void queue_verb(struct app *app, const struct target *t, struct http_answer *a)
{
	char err[256] = "";
	long purged = 0;
	int rc;

	if (t->op == OP_PURGE)
		rc = emu_store_purge(app->store, t->qc->name, clock_now(), &purged, err,
		                     sizeof(err));
	else
		rc = emu_store_queue_set_paused(app->store, t->qc->name, t->op == OP_PAUSE, err,
		                                sizeof(err));
	if (rc) {
		gerror_result(a, rc, err);
		return;
	}
	if (t->op == OP_PURGE)
		log_msg(L_INFO, "cloud tasks emulator: queue %s purged (%ld tasks and tombstones)",
		        t->qc->name, purged);
	else
		log_msg(L_INFO, "cloud tasks emulator: queue %s %s", t->qc->name,
		        t->op == OP_PAUSE ? "paused" : "resumed");
	dispatcher_queues_changed(app->dispatcher);
	answer_queue(app, t, a);
}

/* ---- tasks ---- */

static int view_query(struct http_req *r, enum emu_view *view, struct http_answer *a)
{
	if (!emu_json_view_text(http_request_query(r, "responseView"), view))
		return 0;
	gerror(a, 400, "responseView: must be BASIC or FULL");
	return 1;
}

static void get_task(struct app *app, struct http_req *r, const struct target *t,
                     struct http_answer *a)
{
	enum emu_view view;
	struct emu_task task;
	char err[256] = "";
	int rc;

	if (view_query(r, &view, a))
		return;
	rc = emu_store_get(app->store, t->task, view == EMU_VIEW_FULL, &task, err, sizeof(err));
	if (rc == CJ_ENOTFOUND) {
		gerror(a, 404, "task %s does not exist", t->task);
		return;
	}
	if (rc) {
		gerror_result(a, rc, err);
		return;
	}
	answer_json(a, emu_json_task(&task, view, t->enum_int));
	emu_task_release(&task);
}

static void delete_task(struct app *app, const struct target *t, struct http_answer *a)
{
	char err[256] = "";
	int rc = emu_store_delete(app->store, t->task, clock_now(), err, sizeof(err));

	if (rc == CJ_ENOTFOUND)
		gerror(a, 404, "task %s does not exist", t->task);
	else if (rc)
		gerror_result(a, rc, err);
	else
		http_answer_json(a, 200, json_object());
}

/* The page token: the last name of the page, base64url (opaque to
 * clients). */
static int read_page_token(const char *token, const struct target *t, char *after, size_t len)
{
	unsigned char *raw = NULL;
	size_t n = 0, qlen = strlen(t->queue);
	int ok;

	after[0] = '\0';
	if (!token || !*token)
		return 0;
	if (b64url_decode(token, strlen(token), &raw, &n))
		return -1;
	ok = n < len && n > qlen + 7 && !memcmp(raw, t->queue, qlen) &&
	    !memcmp(raw + qlen, "/tasks/", 7) && !memchr(raw, '\0', n);
	if (ok) {
		memcpy(after, raw, n);
		after[n] = '\0';
	}
	free(raw);
	return ok ? 0 : -1;
}

static int read_page_size(const char *s, long *size)
{
	char *end;

	*size = LIST_MAX_PAGE;
	if (!s || !*s)
		return 0;
	*size = strtol(s, &end, 10);
	if (*end || *size < 0)
		return -1;
	if (*size == 0 || *size > LIST_MAX_PAGE)
		*size = LIST_MAX_PAGE; /* fewer than asked is allowed, as at Google */
	return 0;
}

static void list_tasks(struct app *app, struct http_req *r, const struct target *t,
                       struct http_answer *a)
{
	struct emu_task *v = NULL;
	json_t *out, *tasks, *tj;
	char after[1100], err[256] = "";
	enum emu_view view;
	size_t n = 0, i, bytes = 0;
	long size;
	int rc;

	if (view_query(r, &view, a))
		return;
	if (read_page_size(http_request_query(r, "pageSize"), &size)) {
		gerror(a, 400, "pageSize: must be an integer from 0 to %d", LIST_MAX_PAGE);
		return;
	}
	if (read_page_token(http_request_query(r, "pageToken"), t, after, sizeof(after))) {
		gerror(a, 400, "pageToken: not a page token of this queue");
		return;
	}
	/* One more than the page tells whether there is a next one. */
	rc = emu_store_list(app->store, t->qc->name, after, (size_t)size + 1, view == EMU_VIEW_FULL,
	                    &v, &n, err, sizeof(err));
	if (rc) {
		gerror_result(a, rc, err);
		return;
	}
	out = json_object();
	tasks = json_array();
	for (i = 0; out && tasks && i < n && i < (size_t)size; i++) {
		if (i && bytes > LIST_MAX_BODY_BYTES)
			break;
		bytes += v[i].body_b64 ? strlen(v[i].body_b64) : 0;
		tj = emu_json_task(&v[i], view, t->enum_int);
		if (!tj || json_array_append_new(tasks, tj))
			break;
	}
	if (out && tasks && json_array_size(tasks) &&
	    json_object_set_new(out, "tasks", json_incref(tasks)))
		json_decref(out), out = NULL;
	if (out && i < n) {
		char *tok = b64url_encode(v[i - 1].name, strlen(v[i - 1].name));

		if (!tok || json_object_set_new(out, "nextPageToken", json_string(tok)))
			json_decref(out), out = NULL;
		free(tok);
	}
	json_decref(tasks);
	emu_tasks_free(v, n);
	answer_json(a, out);
}

static void create_task(struct app *app, const json_t *body, const struct target *t,
                        struct http_answer *a)
{
	struct emu_task task;
	enum emu_view view;
	char err[512] = "";
	int tomb = 0, rc;

	rc = emu_json_read_create(body, t->queue, t->qc->name, clock_now(), &task, &view, err,
	                          sizeof(err));
	if (rc) {
		gerror_result(a, rc, err);
		return;
	}
	rc = emu_store_create(app->store, &task, task.create_time, &tomb, err, sizeof(err));
	if (rc == CJ_EEXISTS)
		gerror(a, 409,
		       tomb ? "task %s existed too recently: a name is reserved for one hour after "
		              "its task completed or was deleted"
		            : "task %s already exists",
		       task.name);
	else if (rc)
		gerror_result(a, rc, err);
	if (!rc) {
		log_msg(L_DEBUG, "cloud tasks emulator: created %s", task.name);
		dispatcher_task_created(app->dispatcher, t->qc->name, task.schedule_time);
		answer_json(a, emu_json_task(&task, view, t->enum_int));
	}
	emu_task_release(&task);
}

static void run_task(struct app *app, const json_t *body, const struct target *t,
                     struct http_answer *a)
{
	struct emu_task task;
	enum emu_view view;
	char err[256] = "";
	int rc;

	if (emu_json_view(json_object_get(body, "responseView"), &view)) {
		gerror(a, 400, "responseView: must be BASIC or FULL");
		return;
	}
	if (!app->dispatcher) {
		gerror(a, 503, "the local Cloud Tasks dispatcher is not running");
		return;
	}
	rc = dispatcher_run_now(app->dispatcher, t->task, &task, err, sizeof(err));
	if (rc == CJ_ENOTFOUND) {
		gerror(a, 404, "task %s does not exist", t->task);
		return;
	}
	if (rc) {
		gerror_result(a, rc, err);
		return;
	}
	if (view != EMU_VIEW_FULL) {
		free(task.body_b64);
		task.body_b64 = NULL;
	}
	answer_json(a, emu_json_task(&task, view, t->enum_int));
	emu_task_release(&task);
}

/* ---- the route ---- */

/* Operations answered from the headers (no body). */
static void run_bodyless(struct app *app, struct http_req *r, const struct target *t,
                         struct http_answer *a)
{
	switch (t->op) {
	case OP_LOCATIONS: {
		json_t *loc = location_json(t, app);

		answer_json(a, loc ? json_pack("{s:[o]}", "locations", loc) : NULL);
		return;
	}
	case OP_LOCATION:
		answer_json(a, location_json(t, app));
		return;
	case OP_QUEUES:
		list_queues(app, t, a);
		return;
	case OP_QUEUE:
		answer_queue(app, t, a);
		return;
	case OP_LIST:
		list_tasks(app, r, t, a);
		return;
	case OP_GET:
		get_task(app, r, t, a);
		return;
	case OP_DELETE:
		delete_task(app, t, a);
		return;
	default:
		BUG("an operation with a body answered from the headers");
	}
}

static int has_body_op(enum op op)
{
	return op == OP_CREATE || op == OP_RUN || op == OP_PURGE || op == OP_PAUSE ||
	    op == OP_RESUME;
}

int emulator_api_headers(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a)
{
	struct target t;

	if (parse_target(app, r, rq->param, &t, a))
		return 1;
	if (!app->store) {
		gerror(a, 503, "the local Cloud Tasks has no database");
		return 1;
	}
	if (r->body_too_big) {
		gerror(a, 400, "Request payload size exceeds the limit: %u bytes.",
		       EMULATOR_API_MAX_BODY);
		a->close = 1;
		return 1;
	}
	if (has_body_op(t.op))
		return 0;
	run_bodyless(app, r, &t, a);
	return 1;
}

void emulator_api_body(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a)
{
	char jerr[200] = "";
	struct target t;
	json_t *body = NULL;
	int too_deep = 0;

	if (parse_target(app, r, rq->param, &t, a))
		return;
	if (r->body_too_big) {
		gerror(a, 400, "Request payload size exceeds the limit: %u bytes.",
		       EMULATOR_API_MAX_BODY);
		return;
	}
	if (r->body.len) {
		body =
		    json_in_parse(buf_str(&r->body), r->body.len, 0, &too_deep, jerr, sizeof(jerr));
		if (!body || !json_is_object(body)) {
			gerror(a, 400, "Invalid JSON payload received. %s",
			       body ? "The body must be a JSON object." : jerr);
			json_decref(body);
			return;
		}
	}
	switch (t.op) {
	case OP_CREATE:
		create_task(app, body, &t, a);
		break;
	case OP_RUN:
		run_task(app, body, &t, a);
		break;
	default:
		queue_verb(app, &t, a);
		break;
	}
	json_decref(body);
}
