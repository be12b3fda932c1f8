/*
 * scan.c - one page of a scan job; see scan.h.
 */
#include "scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "job_types.h"

#define SCAN_RESERVE_MS 15000 /* stop enqueuing when less is left */

/* The cursor is the last user id of the page, in base64url (opaque). */
static int cursor_decode(const char *cursor, char *out, size_t outlen)
{
	unsigned char *raw = NULL;
	size_t len = 0;

	if (b64url_decode(cursor, strlen(cursor), &raw, &len) || len == 0 || len >= outlen ||
	    memchr(raw, '\0', len)) {
		free(raw);
		return -1;
	}
	memcpy(out, raw, len);
	out[len] = '\0';
	free(raw);
	return 0;
}

static int enqueue_user(struct job_ctx *ctx, const struct scan *s, struct store_rows *row,
                        int *created, char *err, size_t errlen)
{
	const char *uid = store_rows_text(row, 0);
	char task[JOB_TASK_ID_MAX], part[128] = "";
	json_t *payload;
	int rc;

	if (s->task_part)
		s->task_part(row, s->arg, part, sizeof(part));
	job_task_id(task, sizeof(task), s->task_type, uid, s->task_part ? part : NULL, NULL);
	payload = json_pack("{s:s}", "userId", uid);
	rc = payload ? job_enqueue(ctx, s->task_type, payload, task, created, err, errlen)
	             : CJ_ENOMEM;
	json_decref(payload);
	return rc;
}

/* One row: the job's own work, or the per-user task. *count grows by what
 * the row adds; on failure *code names the answer's error. */
static int handle_row(struct job_ctx *ctx, const struct scan *s, struct store_rows *row,
                      long *count, const char **code, char *err, size_t errlen)
{
	long counted = 0;
	int created = 0, rc;

	if (s->each) {
		*code = "scan_failed";
		rc = s->each(ctx, row, s->arg, &counted, err, errlen);
	} else {
		*code = "enqueue_failed";
		rc = enqueue_user(ctx, s, row, &created, err, errlen);
		counted = created;
	}
	if (rc == CJ_OK)
		*count += counted;
	return rc;
}

/* The result: the job's object or {"enqueued": count}, with "next". */
static json_t *page_result(const struct scan *s, long count, const char *next)
{
	json_t *res = s->result ? s->result(s->arg, count)
	                        : json_pack("{s:I}", "enqueued", (json_int_t)count);

	if (res && json_object_set_new(res, "next", next ? json_string(next) : json_null())) {
		json_decref(res);
		res = NULL;
	}
	return res;
}

/* The follow-up task of this run, carrying next. */
static int hand_on(struct job_ctx *ctx, const char *next, char *err, size_t errlen)
{
	char task[JOB_TASK_ID_MAX], prefix[64];
	json_t *payload = json_pack("{s:s}", "cursor", next);
	int created, rc;

	snprintf(prefix, sizeof(prefix), "%s-scan", ctx->type->name);
	job_task_id(task, sizeof(task), prefix, ctx->key, next, NULL);
	rc = payload ? job_enqueue(ctx, ctx->type->name, payload, ctx->key[0] ? task : NULL,
	                           &created, err, errlen)
	             : CJ_ENOMEM;
	json_decref(payload);
	return rc;
}

static int select_page(struct job_ctx *ctx, const struct scan *s, const char *after, long page,
                       struct store_rows **rows, char *err, size_t errlen)
{
	struct store_param p[SCAN_MAX_PARAMS + 2];

	if (s->nparams > SCAN_MAX_PARAMS)
		return cj_errorf(err, errlen, CJ_EINTERNAL, "too many scan parameters");
	memcpy(p, s->params, s->nparams * sizeof(p[0]));
	p[s->nparams] = store_p_text(after);
	p[s->nparams + 1] = store_p_int(page);
	return store_exec(ctx->svc->store, s->sql, p, s->nparams + 2, rows, err, errlen);
}

enum job_outcome scan_run(struct job_ctx *ctx, const struct scan *s)
{
	const char *cursor = json_string_value(json_object_get(ctx->payload, "cursor"));
	char after[256] = "", err[512] = "", last[256] = "";
	struct store_rows *rows = NULL;
	long page = s->page > 0 ? s->page : SCAN_PAGE, count = 0;
	size_t seen = 0;
	char *next = NULL;
	json_t *res;
	int rc, more;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	if (cursor && cursor_decode(cursor, after, sizeof(after)))
		return job_fail(ctx, JOB_PERMANENT, "invalid_payload",
		                "cursor: not a cursor this job made");
	rc = select_page(ctx, s, after, page, &rows, err, sizeof(err));
	if (rc)
		return job_fail_rc(ctx, rc == CJ_EINVAL ? CJ_EINTERNAL : rc, "database_unavailable",
		                   "listing %ss: %s", s->what, err[0] ? err : cj_strerror(rc));
	more = (long)store_rows_count(rows) == page;
	while (store_rows_next(rows)) {
		const char *code;

		if (job_remaining_ms(ctx) < SCAN_RESERVE_MS || job_should_stop(ctx)) {
			more = 1; /* the rest goes to the follow-up */
			break;
		}
		rc = handle_row(ctx, s, rows, &count, &code, err, sizeof(err));
		if (rc) {
			enum job_outcome failed = s->each
			    ? job_fail_rc(ctx, rc, code, "%s %s: %s", s->what,
			                  store_rows_text(rows, 0), err)
			    : job_fail_rc(ctx, rc, code, "enqueuing %s for %s: %s", s->task_type,
			                  s->what, err);

			store_rows_free(rows);
			return failed;
		}
		seen++;
		snprintf(last, sizeof(last), "%s", store_rows_text(rows, 0));
	}
	store_rows_free(rows);
	if (more && !seen)
		return job_fail(ctx, JOB_RETRY, "deadline_exceeded", "no time left to %s any %s",
		                s->each ? "handle" : "enqueue", s->what);
	if (more) {
		next = b64url_encode(last, strlen(last));
		rc = next ? hand_on(ctx, next, err, sizeof(err)) : CJ_ENOMEM;
		if (rc) {
			free(next);
			return job_fail_rc(ctx, rc, "enqueue_failed",
			                   "enqueuing the next page of the scan: %s", err);
		}
	}
	res = page_result(s, count, next);
	free(next);
	if (!res)
		return job_fail_rc(ctx, CJ_ENOMEM, "out_of_memory", "out of memory");
	job_set_result(ctx, res);
	return JOB_OK;
}
