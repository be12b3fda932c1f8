/*
 * scan.h - the fan-out every scan job shares (SPEC §7 "Scans"): one page of
 * users, the work for each, and a follow-up task that carries on from where
 * the page ended.
 *
 * A scan walks users in id order from an opaque cursor (the last user id
 * fully processed by the previous page, base64url). By default, for each
 * user the page lists it enqueues the per-user task `{"userId": …}` under a
 * task id derived from the type, the user and a part the caller chooses
 * (the expiry it saw, the day…), so overlapping scans create each task
 * once: a 409 is not counted. A job may instead do its own work per user
 * (`each`) and say what its result holds (`result`). A full page, or a page
 * cut short because the job's time is running out, hands on to a follow-up
 * task of the job's own type carrying the cursor, named from ctx->key and
 * the cursor so a retried run that lists the same page hands on to the same
 * task. The result is `{"enqueued": N, "next": cursor or null}`, or the
 * job's own object with "next" added.
 *
 * Without `each` it never writes to the database; the only side effects
 * are task creates, each safe to repeat. With `each`, the side effects are
 * the job's; they must be as safe to repeat (a failed or retried page calls
 * `each` again for the same users).
 */
#ifndef CJ_SCAN_H
#define CJ_SCAN_H

#include <jansson.h>
#include <stddef.h>

#include "job.h"
#include "store.h"

#define SCAN_MAX_PARAMS 6

struct scan {
	/* The per-user task's type ("token-refresh"); also the task id prefix.
	 * Unused (may be NULL) when each is set. */
	const char *task_type;
	/* Names the users, for messages: "a due google account". */
	const char *what;
	/* Selects the page's users, user id in column 0 (further columns are
	 * for task_part or each). Its own parameters are $1..$nparams; the
	 * cursor is $(nparams+1) and the page size $(nparams+2):
	 * "… AND user_id > $2 ORDER BY user_id LIMIT $3". */
	const char *sql;
	struct store_param params[SCAN_MAX_PARAMS];
	size_t nparams;
	/* Writes the task id part besides type and user for the current row
	 * (NULL: none). arg is passed through. Unused when each is set. */
	void (*task_part)(struct store_rows *row, void *arg, char *out, size_t outlen);
	void *arg;
	/* Users per page; 0: SCAN_PAGE. */
	long page;
	/* Optional: the job's own work for one row instead of enqueuing the
	 * per-user task. A cj.h code (a failure stops the page like a failed
	 * enqueue does); *counted is what this row adds to the count.
	 *
	 * row is positioned on the user's row: read its columns, never move it
	 * (no store_rows_next/rewind); it is valid only during the call. arg is
	 * s->arg. Called once per listed row, in user id order, from the job's
	 * thread, only while more than the scan's reserve of the deadline is
	 * left (checked between rows, so one call must be short: a few
	 * statements and task creates). *counted starts at 0 for every call.
	 *
	 * A failure (err saying why, for the message) ends the run at once:
	 * no further rows, no follow-up task, no result callback; the job
	 * answers job_fail_rc(ctx, rc, "scan_failed", "{what} {user id}:
	 * {err}"), so transient codes retry the whole page. What earlier rows
	 * (and this one, before it failed) did stays done: each must be safe to
	 * run again for a user, e.g. create tasks under derived ids (job_task_id,
	 * job_enqueue's created == 0 counts nothing) and write with conditional
	 * statements. */
	int (*each)(struct job_ctx *ctx, struct store_rows *row, void *arg, long *counted,
	            char *err, size_t errlen);
	/* Optional: the result object for the page without "next" (scan_run adds
	 * "next"); NULL gives {"enqueued": count}. Called once, at the end. arg
	 * is s->arg and count the sum of the page's counts (each's *counted, or
	 * the tasks created). "At the end" is after the page's last handled row
	 * (all of them, or those before the deadline cut it short) and after
	 * the follow-up task (if any) was enqueued, only on the way to JOB_OK;
	 * it is not called when the run fails. It returns a new reference that
	 * scan_run takes; NULL from it (out of memory) fails the run with
	 * JOB_RETRY. It must not set "next" itself. */
	json_t *(*result)(void *arg, long count);
};

#define SCAN_PAGE 200

/* Runs one page of s for ctx, whose payload's optional `cursor` says where
 * to start, and sets the result. JOB_PERMANENT invalid_payload for a cursor
 * this job did not make; JOB_RETRY when the database or the enqueuer fails,
 * or when no user could be handled before the deadline; a failed `each`
 * as described there. */
enum job_outcome scan_run(struct job_ctx *ctx, const struct scan *s);

#endif
