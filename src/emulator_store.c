/*
 * emulator_store.c - the embedded Cloud Tasks' rows; see emulator_store.h.
 *
 * Every state change goes through emu_store_move(), whose table pairs each
 * transition with its one conditional UPDATE; nothing else writes
 * tasks.state, except creation (INSERT as QUEUED) and :purge (DELETE).
 * Claims and outcomes are single autocommit statements: on PostgreSQL a
 * concurrent UPDATE of the same row waits for the first and re-checks the
 * state, so only one of them moves it; on SQLite writers take turns.
 */
#include "emulator_store.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queues.h"
#include "store.h"
#include "timeutil.h"

/* The columns of struct emu_task, in read_task()'s order; the body is
 * column 6, read as NULL when the caller does not want it. */
#define COLS_BEFORE_BODY "name, queue, task_id, url, http_method, headers, "
#define COLS_AFTER_BODY                                                                            \
	", oidc_service_account, oidc_audience, schedule_time, created_at, "                       \
	"dispatch_deadline, dispatch_count, response_count, first_attempt, last_attempt, "         \
	"last_response_code, retry_reason, state"
#define TASK_COLS COLS_BEFORE_BODY "body_b64" COLS_AFTER_BODY
#define TASK_COLS_NO_BODY COLS_BEFORE_BODY "NULL" COLS_AFTER_BODY

static const char *const state_names[] = {"queued", "running", "done", "deleted"};

void emu_task_release(struct emu_task *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->queue);
	free(t->id);
	free(t->url);
	free(t->method);
	free(t->headers);
	free(t->body_b64);
	free(t->oidc_email);
	free(t->oidc_audience);
	free(t->first_attempt);
	free(t->last_attempt);
	free(t->retry_reason);
	memset(t, 0, sizeof(*t));
}

static int dup_member(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst;
}

int emu_task_copy(struct emu_task *dst, const struct emu_task *src)
{
	*dst = *src;
	if (dup_member(&dst->name, src->name) | dup_member(&dst->queue, src->queue) |
	    dup_member(&dst->id, src->id) | dup_member(&dst->url, src->url) |
	    dup_member(&dst->method, src->method) | dup_member(&dst->headers, src->headers) |
	    dup_member(&dst->body_b64, src->body_b64) |
	    dup_member(&dst->oidc_email, src->oidc_email) |
	    dup_member(&dst->oidc_audience, src->oidc_audience) |
	    dup_member(&dst->first_attempt, src->first_attempt) |
	    dup_member(&dst->last_attempt, src->last_attempt) |
	    dup_member(&dst->retry_reason, src->retry_reason)) {
		emu_task_release(dst);
		return CJ_ENOMEM;
	}
	return CJ_OK;
}

void emu_tasks_free(struct emu_task *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		emu_task_release(&v[i]);
	free(v);
}

void emu_due_free(struct emu_due *due, size_t n)
{
	if (!due)
		return;
	for (size_t i = 0; i < n; i++)
		free(due[i].name);
	free(due);
}

/* RFC 3339 with microseconds when the time has a fraction, as Google's
 * timestamps do. */
static void format_time(double t, char *out, size_t outlen)
{
	time_format_rfc3339(t, t == floor(t) ? 0 : 6, out, outlen);
}

static int set_time(json_t *o, const char *key, double t)
{
	char when[64];

	if (t <= 0)
		return 0;
	format_time(t, when, sizeof(when));
	return json_object_set_new(o, key, json_string(when));
}

char *emu_attempt_json(const struct emu_attempt *a)
{
	json_t *o = json_object();
	char *text = NULL;

	if (!o)
		return NULL;
	if (set_time(o, "scheduleTime", a->schedule_time) ||
	    set_time(o, "dispatchTime", a->dispatch_time) ||
	    set_time(o, "responseTime", a->response_time))
		goto out;
	if (a->has_status &&
	    json_object_set_new(
	        o, "responseStatus",
	        json_pack("{s:i, s:s}", "code", a->code, "message", a->message ? a->message : "")))
		goto out;
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(o);
	return text;
}

static char *dup_col(struct store_rows *r, size_t col)
{
	const char *s = store_rows_text(r, col);

	return s ? strdup(s) : NULL;
}

static enum emu_task_state parse_state(const char *s)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (s && !strcmp(s, state_names[i]))
			return (enum emu_task_state)i;
	return EMU_DELETED; /* the CHECK constraint allows nothing else */
}

/* The current row of r (TASK_COLS order) into *t. CJ_OK or CJ_ENOMEM. */
static int read_task(struct store_rows *r, struct emu_task *t)
{
	memset(t, 0, sizeof(*t));
	t->name = dup_col(r, 0);
	t->queue = dup_col(r, 1);
	t->id = dup_col(r, 2);
	t->url = dup_col(r, 3);
	t->method = dup_col(r, 4);
	t->headers = dup_col(r, 5);
	t->body_b64 = dup_col(r, 6);
	t->oidc_email = dup_col(r, 7);
	t->oidc_audience = dup_col(r, 8);
	t->schedule_time = store_rows_double(r, 9);
	t->create_time = store_rows_double(r, 10);
	t->dispatch_deadline = store_rows_double(r, 11);
	t->dispatch_count = (int)store_rows_int(r, 12);
	t->response_count = (int)store_rows_int(r, 13);
	t->first_attempt = dup_col(r, 14);
	t->last_attempt = dup_col(r, 15);
	t->last_status = store_rows_is_null(r, 16) ? 0 : (int)store_rows_int(r, 16);
	t->retry_reason = dup_col(r, 17);
	t->state = parse_state(store_rows_text(r, 18));
	if (!t->name || !t->queue || !t->id || !t->url || !t->method || !t->headers ||
	    (!store_rows_is_null(r, 6) && !t->body_b64) ||
	    (!store_rows_is_null(r, 7) && !t->oidc_email) ||
	    (!store_rows_is_null(r, 8) && !t->oidc_audience) ||
	    (!store_rows_is_null(r, 14) && !t->first_attempt) ||
	    (!store_rows_is_null(r, 15) && !t->last_attempt) ||
	    (!store_rows_is_null(r, 17) && !t->retry_reason)) {
		emu_task_release(t);
		return CJ_ENOMEM;
	}
	return CJ_OK;
}

/* Every row of r into a new array. */
static int read_tasks(struct store_rows *r, struct emu_task **out, size_t *n, char *err,
                      size_t errlen)
{
	size_t count = store_rows_count(r), i = 0;
	struct emu_task *v;

	*out = NULL;
	*n = 0;
	if (!count)
		return CJ_OK;
	v = calloc(count, sizeof(*v));
	if (!v)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	while (store_rows_next(r)) {
		if (read_task(r, &v[i])) {
			emu_tasks_free(v, i);
			return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
		}
		i++;
	}
	*out = v;
	*n = i;
	return CJ_OK;
}

/* The SQL a tombstone's age is measured by. */
#define TOMBSTONE_TIME "COALESCE(completed_at, deleted_at)"

int emu_store_create(struct store *s, const struct emu_task *t, double now, int *tombstone,
                     char *err, size_t errlen)
{
	struct store_param old[] = {store_p_text(t->name), store_p_double(now - EMU_TOMBSTONE_S)};
	struct store_param p[] = {store_p_text(t->name),
	                          store_p_text(t->queue),
	                          store_p_text(t->id),
	                          store_p_text(t->url),
	                          store_p_text(t->method),
	                          store_p_text(t->headers ? t->headers : "{}"),
	                          store_p_text(t->body_b64),
	                          store_p_text(t->oidc_email),
	                          store_p_text(t->oidc_audience),
	                          store_p_double(t->schedule_time),
	                          store_p_double(t->create_time),
	                          store_p_double(t->dispatch_deadline)};
	struct store_rows *r = NULL;
	int rc;

	if (tombstone)
		*tombstone = 0;
	/* A tombstone past its hour no longer holds the name. Deleting it
	 * first is harmless if the insert then fails. */
	rc = store_exec(s,
	                "DELETE FROM tasks WHERE name = $1 AND state IN ('done', 'deleted') "
	                "AND " TOMBSTONE_TIME " <= $2",
	                old, 2, NULL, err, errlen);
	if (rc)
		return rc;
	rc = store_exec(s,
	                "INSERT INTO tasks (name, queue, task_id, url, http_method, headers, "
	                "body_b64, oidc_service_account, oidc_audience, schedule_time, "
	                "created_at, dispatch_deadline, state) VALUES ($1, $2, $3, $4, $5, $6, "
	                "$7, $8, $9, $10, $11, $12, 'queued')",
	                p, sizeof(p) / sizeof(p[0]), NULL, err, errlen);
	if (rc != CJ_EEXISTS)
		return rc;
	/* Which kind of holder, for the message only. */
	if (tombstone &&
	    !store_exec(s, "SELECT state FROM tasks WHERE name = $1", p, 1, &r, NULL, 0)) {
		if (store_rows_next(r))
			*tombstone = parse_state(store_rows_text(r, 0)) >= EMU_DONE;
		store_rows_free(r);
	}
	return cj_errorf(err, errlen, CJ_EEXISTS, "task %s exists or existed recently", t->name);
}

int emu_store_get(struct store *s, const char *name, int with_body, struct emu_task *out, char *err,
                  size_t errlen)
{
	struct store_param p[] = {store_p_text(name)};
	struct store_rows *r = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_exec(s,
	                with_body ? "SELECT " TASK_COLS " FROM tasks WHERE name = $1 AND state IN "
	                            "('queued', 'running')"
	                          : "SELECT " TASK_COLS_NO_BODY " FROM tasks WHERE name = $1 AND "
	                            "state IN ('queued', 'running')",
	                p, 1, &r, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(r))
		rc = cj_errorf(err, errlen, CJ_ENOTFOUND, "no task %s", name);
	else if (read_task(r, out))
		rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	store_rows_free(r);
	return rc;
}

int emu_store_list(struct store *s, const char *queue, const char *after, size_t limit,
                   int with_body, struct emu_task **out, size_t *n, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(queue), store_p_text(after ? after : ""),
	                          store_p_int((int64_t)limit)};
	struct store_rows *r = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	rc = store_exec(s,
	                with_body ? "SELECT " TASK_COLS " FROM tasks WHERE queue = $1 AND state IN "
	                            "('queued', 'running') AND name > $2 ORDER BY name LIMIT $3"
	                          : "SELECT " TASK_COLS_NO_BODY " FROM tasks WHERE queue = $1 AND "
	                            "state IN ('queued', 'running') AND name > $2 ORDER BY name "
	                            "LIMIT $3",
	                p, 3, &r, err, errlen);
	if (rc)
		return rc;
	rc = read_tasks(r, out, n, err, errlen);
	store_rows_free(r);
	return rc;
}

int emu_store_list_by_time(struct store *s, const char *queue, const struct emu_list_after *after,
                           size_t limit, size_t max_body, struct emu_task **out, size_t *n,
                           char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(queue), store_p_int((int64_t)limit),
	                          store_p_int((int64_t)max_body),
	                          store_p_double(after ? after->schedule_time : 0),
	                          store_p_text(after ? after->id : NULL)};
	struct store_rows *r = NULL;
	char sql[1024];
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(sql, sizeof(sql),
	         "SELECT " COLS_BEFORE_BODY "CASE WHEN LENGTH(body_b64) <= $3 THEN body_b64 END"
	         COLS_AFTER_BODY " FROM tasks WHERE queue = $1 AND state IN ('queued', 'running')%s "
	         "ORDER BY schedule_time, task_id LIMIT $2",
	         after ? " AND (schedule_time > $4 OR (schedule_time = $4 AND task_id > $5))" : "");
	rc = store_exec(s, sql, p, after ? 5 : 3, &r, err, errlen);
	if (rc)
		return rc;
	rc = read_tasks(r, out, n, err, errlen);
	store_rows_free(r);
	return rc;
}

int emu_store_queue_counts(struct store *s, const char *queue, long *depth, long *in_flight,
                           char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(queue)};
	struct store_rows *r = NULL;
	int rc;

	*depth = 0;
	*in_flight = 0;
	rc = store_exec(s,
	                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 "
	                "END), 0) FROM tasks WHERE queue = $1 AND state IN ('queued', 'running')",
	                p, 1, &r, err, errlen);
	if (rc)
		return rc;
	if (store_rows_next(r)) {
		*depth = (long)store_rows_int(r, 0);
		*in_flight = (long)store_rows_int(r, 1);
	}
	store_rows_free(r);
	return CJ_OK;
}

/* The transition table: each move, its source and target state, and its one
 * UPDATE. $1 is always the task's name; the WHERE clause always names the
 * source state. */
static const struct {
	enum emu_task_state from, to;
	const char *sql;
} moves[] = {
    [EMU_MOVE_CLAIM] =
        {EMU_QUEUED, EMU_RUNNING,
         "UPDATE tasks SET state = 'running', dispatch_count = dispatch_count + 1, "
         "lease_until = $2 + dispatch_deadline, first_attempt = "
         "COALESCE(first_attempt, $3), last_attempt = $4 WHERE name = $1 AND "
         "state = 'queued' AND ($5 = 0 OR schedule_time <= $2) RETURNING " TASK_COLS},
    [EMU_MOVE_RETRY] = {EMU_RUNNING, EMU_QUEUED,
                        "UPDATE tasks SET state = 'queued', schedule_time = $5, lease_until = "
                        "NULL, response_count = response_count + $6, last_response_code = "
                        "$7, last_attempt = $8, retry_reason = "
                        "$9 WHERE name = $1 AND state = 'running' AND dispatch_count = $3 AND "
                        "created_at = $4"},
    [EMU_MOVE_COMPLETE] = {EMU_RUNNING, EMU_DONE,
                           "UPDATE tasks SET state = 'done', completed_at = $2, lease_until = "
                           "NULL, response_count = response_count + $5, last_response_code = "
                           "$6, last_attempt = $7, body_b64 = "
                           "NULL WHERE name = $1 AND state = 'running' AND dispatch_count = $3 "
                           "AND created_at = $4"},
    [EMU_MOVE_DELETE_QUEUED] = {EMU_QUEUED, EMU_DELETED,
                                "UPDATE tasks SET state = 'deleted', deleted_at = $2, body_b64 = "
                                "NULL WHERE name = $1 AND state = 'queued'"},
    [EMU_MOVE_DELETE_RUNNING] = {EMU_RUNNING, EMU_DELETED,
                                 "UPDATE tasks SET state = 'deleted', deleted_at = $2, "
                                 "lease_until = NULL, body_b64 = NULL WHERE name = $1 AND "
                                 "state = 'running'"},
};

int emu_store_move(struct store *s, enum emu_move move, const struct emu_move_args *a,
                   struct emu_task *claimed, char *err, size_t errlen)
{
	struct store_param p[9];
	struct store_rows *r = NULL;
	const char *attempt;
	size_t n = 0;
	int rc;

	if ((size_t)move >= sizeof(moves) / sizeof(moves[0]) || !moves[move].sql)
		BUG("unknown task transition");
	p[n++] = store_p_text(a->name);
	p[n++] = store_p_double(a->now);
	switch (move) {
	case EMU_MOVE_CLAIM:
		p[n++] = store_p_text(a->first_attempt);
		p[n++] = store_p_text(a->last_attempt);
		p[n++] = store_p_int(a->due_only ? 1 : 0);
		break;
	case EMU_MOVE_RETRY:
	case EMU_MOVE_COMPLETE:
		attempt = a->last_attempt;
		p[n++] = store_p_int(a->dispatch_count);
		p[n++] = store_p_double(a->create_time);
		if (move == EMU_MOVE_RETRY)
			p[n++] = store_p_double(a->schedule_time);
		p[n++] = store_p_int(a->answered ? 1 : 0);
		p[n++] = a->answered ? store_p_int(a->status) : store_p_null();
		p[n++] = store_p_text(attempt);
		if (move == EMU_MOVE_RETRY)
			p[n++] = store_p_text(a->retry_reason);
		break;
	case EMU_MOVE_DELETE_QUEUED:
	case EMU_MOVE_DELETE_RUNNING:
		break;
	}
	rc = store_exec(s, moves[move].sql, p, n, &r, err, errlen);
	if (rc)
		return rc;
	if (move == EMU_MOVE_CLAIM ? !store_rows_next(r) : store_rows_changes(r) != 1) {
		store_rows_free(r);
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "task %s is not %s", a->name,
		                 state_names[moves[move].from]);
	}
	if (claimed && move == EMU_MOVE_CLAIM && read_task(r, claimed))
		rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	store_rows_free(r);
	return rc;
}

int emu_store_delete(struct store *s, const char *name, double now, char *err, size_t errlen)
{
	struct emu_move_args m = {0};
	struct emu_task task;
	int rc = CJ_ENOTFOUND, tries;

	m.name = name;
	m.now = now;
	/* Queued or mid-attempt; the state may change between the read and the
	 * move, so the move is tried again from the new state. */
	for (tries = 0; tries < 3; tries++) {
		rc = emu_store_get(s, name, 0, &task, err, errlen);
		if (rc)
			break;
		rc = emu_store_move(s,
		                    task.state == EMU_RUNNING ? EMU_MOVE_DELETE_RUNNING
		                                              : EMU_MOVE_DELETE_QUEUED,
		                    &m, NULL, err, errlen);
		emu_task_release(&task);
		if (rc != CJ_ENOTFOUND)
			break;
	}
	return rc;
}

int emu_store_due(struct store *s, const char *queue, double now, size_t limit,
                  struct emu_due **due, size_t *n, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(queue), store_p_double(now),
	                          store_p_int((int64_t)limit)};
	struct store_rows *r = NULL;
	struct emu_due *v = NULL;
	size_t i = 0;
	int rc;

	*due = NULL;
	*n = 0;
	rc = store_exec(s,
	                "SELECT name, schedule_time FROM tasks WHERE state = 'queued' AND queue = "
	                "$1 AND schedule_time <= $2 ORDER BY schedule_time, name LIMIT $3",
	                p, 3, &r, err, errlen);
	if (rc)
		return rc;
	if (store_rows_count(r) && !(v = calloc(store_rows_count(r), sizeof(*v)))) {
		store_rows_free(r);
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	}
	while (store_rows_next(r)) {
		v[i].name = dup_col(r, 0);
		v[i].schedule_time = store_rows_double(r, 1);
		if (!v[i].name) {
			emu_due_free(v, i);
			store_rows_free(r);
			return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
		}
		i++;
	}
	store_rows_free(r);
	*due = v;
	*n = i;
	return CJ_OK;
}

int emu_store_next_due(struct store *s, const char *queue, double *when, int *found, char *err,
                       size_t errlen)
{
	struct store_param p[] = {store_p_text(queue)};
	struct store_rows *r = NULL;
	int rc;

	*found = 0;
	*when = 0;
	rc = store_exec(
	    s, "SELECT MIN(schedule_time) FROM tasks WHERE state = 'queued' AND queue = $1", p, 1,
	    &r, err, errlen);
	if (rc)
		return rc;
	if (store_rows_next(r) && !store_rows_is_null(r, 0)) {
		*found = 1;
		*when = store_rows_double(r, 0);
	}
	store_rows_free(r);
	return CJ_OK;
}

int emu_store_sweep(struct store *s, double now, long *n, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_double(now - EMU_TOMBSTONE_S)};
	struct store_rows *r = NULL;
	int rc;

	rc = store_exec(
	    s, "DELETE FROM tasks WHERE state IN ('done', 'deleted') AND " TOMBSTONE_TIME " <= $1",
	    p, 1, &r, err, errlen);
	if (!rc && n)
		*n = (long)store_rows_changes(r);
	store_rows_free(r);
	return rc;
}

/* The attempt a dead process left unanswered: what the claim recorded, plus
 * UNAVAILABLE. NULL on ENOMEM. */
static char *unanswered_attempt(const char *claimed_json)
{
	json_t *o = claimed_json ? json_loads(claimed_json, 0, NULL) : NULL;
	char *text;

	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	json_object_set_new(o, "responseStatus",
	                    json_pack("{s:i, s:s}", "code", 14, "message",
	                              "the emulator stopped before the attempt was answered"));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

/* Recovers one RUNNING row (name, queue, dispatch_count, created_at,
 * last_attempt): *what becomes 1 (requeued), 2 (ended) or 0 (someone else
 * moved it). CJ_OK or the error. */
static int recover_one(struct store *s, const struct queues *q, double now, struct store_rows *r,
                       int *what, char *err, size_t errlen)
{
	const struct queue_config *qc = q ? queues_find(q, store_rows_text(r, 1)) : NULL;
	struct emu_move_args a = {0};
	int attempts = (int)store_rows_int(r, 2), last, rc;
	char *attempt = unanswered_attempt(store_rows_text(r, 4));

	*what = 0;
	if (!attempt)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	a.name = store_rows_text(r, 0);
	a.now = now;
	a.dispatch_count = attempts;
	a.create_time = store_rows_double(r, 3);
	a.last_attempt = attempt;
	a.retry_reason = "the emulator stopped during the attempt";
	last = qc && qc->max_attempts >= 0 && attempts >= qc->max_attempts;
	a.schedule_time = now + (qc ? queues_backoff(qc, attempts) : 0);
	rc = emu_store_move(s, last ? EMU_MOVE_COMPLETE : EMU_MOVE_RETRY, &a, NULL, err, errlen);
	free(attempt);
	if (rc == CJ_ENOTFOUND)
		return CJ_OK;
	if (rc)
		return rc;
	if (last)
		log_msg(L_WARNING,
		        "task %s was on its last attempt (%d of %d) when the emulator stopped; "
		        "deleted as Cloud Tasks deletes a task out of attempts",
		        a.name, attempts, qc->max_attempts);
	*what = last ? 2 : 1;
	return CJ_OK;
}

int emu_store_recover(struct store *s, const struct queues *q, double now, int *requeued,
                      int *ended, char *err, size_t errlen)
{
	struct store_rows *r = NULL;
	int nq = 0, ne = 0, what, rc;

	rc = store_exec(s,
	                "SELECT name, queue, dispatch_count, created_at, last_attempt FROM tasks "
	                "WHERE state = 'running' ORDER BY schedule_time, name",
	                NULL, 0, &r, err, errlen);
	if (rc)
		return rc;
	while (!rc && store_rows_next(r)) {
		rc = recover_one(s, q, now, r, &what, err, errlen);
		nq += what == 1;
		ne += what == 2;
	}
	store_rows_free(r);
	if (requeued)
		*requeued = nq;
	if (ended)
		*ended = ne;
	return rc;
}

int emu_store_queue_get(struct store *s, const char *queue, int *paused, double *purge_time,
                        char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(queue)};
	struct store_rows *r = NULL;
	int rc;

	*paused = 0;
	*purge_time = 0;
	rc = store_exec(s, "SELECT state, purge_time FROM emulator_queues WHERE name = $1", p, 1,
	                &r, err, errlen);
	if (rc)
		return rc;
	if (store_rows_next(r)) {
		*paused = !strcmp(store_rows_text(r, 0), "PAUSED");
		*purge_time = store_rows_is_null(r, 1) ? 0 : store_rows_double(r, 1);
	}
	store_rows_free(r);
	return CJ_OK;
}

int emu_store_queue_set_paused(struct store *s, const char *queue, int paused, char *err,
                               size_t errlen)
{
	struct store_param p[] = {store_p_text(queue), store_p_text(paused ? "PAUSED" : "RUNNING")};

	return store_exec(s,
	                  "INSERT INTO emulator_queues (name, state) VALUES ($1, $2) ON CONFLICT "
	                  "(name) DO UPDATE SET state = excluded.state",
	                  p, 2, NULL, err, errlen);
}

struct purge_arg {
	const char *queue;
	double now;
	long deleted;
};

static int purge_tx(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct purge_arg *pa = arg;
	struct store_param p[] = {store_p_text(pa->queue), store_p_double(pa->now)};
	struct store_rows *r = NULL;
	int rc;

	rc = store_conn_exec(c, "DELETE FROM tasks WHERE queue = $1", p, 1, &r, err, errlen);
	if (rc)
		return rc;
	pa->deleted = (long)store_rows_changes(r);
	store_rows_free(r);
	return store_conn_exec(c,
	                       "INSERT INTO emulator_queues (name, purge_time) VALUES ($1, $2) ON "
	                       "CONFLICT (name) DO UPDATE SET purge_time = excluded.purge_time",
	                       p, 2, NULL, err, errlen);
}

int emu_store_purge(struct store *s, const char *queue, double now, long *n, char *err,
                    size_t errlen)
{
	struct purge_arg pa = {queue, now, 0};
	int rc = store_transact(s, purge_tx, &pa, err, errlen);

	if (!rc && n)
		*n = pa.deleted;
	return rc;
}
