/*
 * admin_tasks.c - local mode's tasks for the operator console; see
 * admin_tasks.h. The rows are emulator_store.c's and a run is the
 * dispatcher's; this file shapes tasks for /admin and owns the list's
 * cursor: base64url of "q:" + the last task's schedule time (%.17g, so it
 * reads back to the same double) + ":" + its short id.
 */
#include "admin_tasks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_list.h"
#include "admin_queues.h"
#include "answer.h"
#include "b64.h"
#include "clock.h"
#include "cloud_tasks.h"
#include "dispatcher.h"
#include "json_in.h"
#include "log.h"
#include "queues.h"
#include "timeutil.h"

/* A task's payload is shown up to this many base64 characters (every
 * payload /enqueue takes: 100,000 bytes); a larger body shows as null, so a
 * page of 500 stays a few tens of megabytes at worst. */
#define MAX_BODY_B64 140000

/* The job type of a task aimed at .../jobs/{type}, else NULL. */
static json_t *type_of(const char *url)
{
	const char *p = url ? strstr(url, "/jobs/") : NULL;
	json_t *type;
	size_t n;

	if (!p)
		return json_null();
	p += 6;
	n = strcspn(p, "/?#");
	if (!n || (p[n] && p[n] != '?' && p[n] != '#'))
		return json_null();
	type = json_stringn(p, n);
	return type ? type : json_null(); /* not UTF-8: no job type of ours */
}

/* The task's body as a JSON object, else null (no body, not JSON). */
static json_t *payload_of(const char *body_b64)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	json_t *o;

	if (!body_b64 || b64_decode(body_b64, strlen(body_b64), &raw, &len))
		return json_null();
	o = json_in_parse((const char *)raw, len, 0, NULL, NULL, 0);
	free(raw);
	if (!json_is_object(o)) {
		json_decref(o);
		return json_null();
	}
	return o;
}

/* {"at", "status", "error"} of the latest attempt, or null before the
 * first. An attempt under way has no answer yet. */
static json_t *last_attempt_of(const struct emu_task *t)
{
	json_t *att = t->last_attempt ? json_loads(t->last_attempt, 0, NULL) : NULL;
	const char *when = json_string_value(json_object_get(att, "dispatchTime"));
	double at = t->schedule_time;
	int running = t->state == EMU_RUNNING;
	json_t *o;

	if (t->dispatch_count <= 0) {
		json_decref(att);
		return json_null();
	}
	if (when && time_parse_rfc3339(when, &at))
		at = t->schedule_time;
	json_decref(att);
	o = json_pack("{s:I, s:o, s:o}", "at", (json_int_t)floor(at), "status",
	              !running && t->last_status > 0 ? json_integer(t->last_status) : json_null(),
	              "error",
	              !running && t->retry_reason ? json_string(t->retry_reason) : json_null());
	return o;
}

json_t *admin_task_json(const struct emu_task *t)
{
	return json_pack("{s:s, s:s, s:o, s:I, s:I, s:i, s:o, s:b, s:o}", "id", t->id, "queue",
	                 t->queue, "type", type_of(t->url), "createTime",
	                 (json_int_t)floor(t->create_time), "scheduleTime",
	                 (json_int_t)floor(t->schedule_time), "attempts", t->dispatch_count,
	                 "lastAttempt", last_attempt_of(t), "running", t->state == EMU_RUNNING,
	                 "payload", payload_of(t->body_b64));
}

static char *cursor_make(const struct emu_task *t)
{
	char *raw, *c;

	if (asprintf(&raw, "q:%.17g:%s", t->schedule_time, t->id) < 0)
		return NULL;
	c = b64url_encode(raw, strlen(raw));
	free(raw);
	return c;
}

/* A cursor this list gave out into *after (its id malloc'd into *id). */
static int cursor_parse(const char *cursor, struct emu_list_after *after, char **id)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	char *text, *colon, *end;
	int ok;

	*id = NULL;
	if (strlen(cursor) > 1024 || b64url_decode(cursor, strlen(cursor), &raw, &len))
		return -1;
	text = strndup((const char *)raw, len);
	free(raw);
	if (!text)
		return -1;
	colon = strncmp(text, "q:", 2) ? NULL : strchr(text + 2, ':');
	ok = colon && strlen(text) == len;
	if (ok) {
		*colon = '\0';
		after->schedule_time = strtod(text + 2, &end);
		ok = end != text + 2 && !*end && isfinite(after->schedule_time) &&
		    cloud_tasks_valid_task_id(colon + 1);
	}
	if (ok)
		*id = strdup(colon + 1);
	free(text);
	after->id = *id;
	return *id ? 0 : -1;
}

/* The page's items; *next a cursor when more follow. NULL on ENOMEM. */
static json_t *page_json(struct emu_task *v, size_t n, long limit, char **next)
{
	json_t *items = json_array();
	size_t i, shown = n > (size_t)limit ? (size_t)limit : n;

	*next = NULL;
	for (i = 0; items && i < shown; i++)
		if (json_array_append_new(items, admin_task_json(&v[i]))) {
			json_decref(items);
			return NULL;
		}
	if (items && n > shown && !(*next = cursor_make(&v[shown - 1]))) {
		json_decref(items);
		return NULL;
	}
	return items;
}

int admin_tasks_list(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a)
{
	const struct queue_config *qc;
	struct emu_list_after after;
	struct emu_task *v = NULL;
	const char *cursor;
	char err[256] = "", *id = NULL, *next = NULL;
	json_t *items;
	size_t n = 0;
	long limit;
	int rc;

	if (admin_need_local(app, a) || !(qc = admin_queue_find(app, rq->param, a)) ||
	    admin_page_params(r, &limit, &cursor, a))
		return 1;
	if (cursor && cursor_parse(cursor, &after, &id)) {
		http_answer_result(a, CJ_EINVAL, "cursor is not one this list gave out");
		return 1;
	}
	/* One row more than the page tells whether another follows. */
	rc = emu_store_list_by_time(app->store, qc->name, cursor ? &after : NULL, (size_t)limit + 1,
	                            MAX_BODY_B64, &v, &n, err, sizeof(err));
	free(id);
	if (rc) {
		admin_answer_failure(a, rc, "listing tasks", err);
		return 1;
	}
	items = page_json(v, n, limit, &next);
	emu_tasks_free(v, n);
	if (!items)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	else
		admin_answer_page(a, "tasks", items, next);
	return 1;
}

/* The task's full name, or 1 with a filled 404 (unknown queue or an id
 * that cannot name a task). */
static int task_name(struct app *app, struct route_req *rq, char *out, size_t outlen,
                     struct http_answer *a)
{
	const struct queue_config *qc = admin_queue_find(app, rq->param, a);

	if (!qc)
		return 1;
	if (!cloud_tasks_valid_task_id(rq->param2)) {
		http_answer_result(a, CJ_ENOTFOUND, "no task \"%.100s\" in queue %s", rq->param2,
		                   qc->name);
		return 1;
	}
	snprintf(out, outlen, "projects/%s/locations/%s/queues/%s/tasks/%s",
	         app->cfg->gcp_project_id, app->cfg->gcp_region, qc->name, rq->param2);
	return 0;
}

void admin_tasks_run(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a)
{
	char name[1200], err[256] = "";
	struct emu_task task;
	json_t *o;
	int rc;

	(void)r;
	if (admin_need_local(app, a) || task_name(app, rq, name, sizeof(name), a))
		return;
	if (!app->dispatcher) {
		http_answer_result(a, CJ_EUNAVAIL,
		                   "the local Cloud Tasks dispatcher is not running");
		return;
	}
	rc = dispatcher_run_now(app->dispatcher, name, &task, err, sizeof(err));
	if (rc == CJ_ENOTFOUND) {
		http_answer_result(a, rc, "no task \"%.100s\" in queue %s", rq->param2, rq->param);
		return;
	}
	if (rc) {
		admin_answer_failure(a, rc, "running a task", err);
		return;
	}
	log_msg(L_INFO, "task %s run now by %s", name,
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	o = admin_task_json(&task);
	emu_task_release(&task);
	if (!o)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	else
		http_answer_json(a, 200, o);
}

int admin_tasks_delete(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a)
{
	char name[1200], err[256] = "";
	int rc;

	(void)r;
	if (admin_need_local(app, a) || task_name(app, rq, name, sizeof(name), a))
		return 1;
	rc = emu_store_delete(app->store, name, clock_now(), err, sizeof(err));
	if (rc == CJ_ENOTFOUND) {
		http_answer_result(a, rc, "no task \"%.100s\" in queue %s", rq->param2, rq->param);
		return 1;
	}
	if (rc) {
		admin_answer_failure(a, rc, "deleting a task", err);
		return 1;
	}
	log_msg(L_INFO, "task %s deleted by %s", name,
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	http_answer_json(a, 200, json_pack("{s:s, s:b}", "id", rq->param2, "deleted", 1));
	return 1;
}
