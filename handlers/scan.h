/*
 * scan.h - the fan-out every scan job shares (SPEC §7 "Scans"): one page of
 * due users, one per-user task each, and a follow-up task that carries on
 * from where the page ended.
 *
 * A scan walks users in id order from an opaque cursor (the last user id of
 * the previous page, base64url). For each due user it enqueues the per-user
 * task `{"userId": …}` under a task id derived from the type, the user and
 * a part the caller chooses (the expiry it saw, the day…), so overlapping
 * scans create each task once: a 409 is not counted. A full page, or a page
 * cut short because the job's time is running out, hands on to a follow-up
 * task of the job's own type carrying the cursor, named from ctx->key so a
 * retried run hands on to the same task. The result is `{"enqueued": N,
 * "next": cursor or null}`.
 *
 * Never writes to the database; the only side effects are task creates,
 * each safe to repeat.
 */
#ifndef CJ_SCAN_H
#define CJ_SCAN_H

#include <stddef.h>

#include "job.h"
#include "store.h"

#define SCAN_MAX_PARAMS 6

struct scan {
	/* The per-user task's type ("token-refresh"); also the task id prefix. */
	const char *task_type;
	/* Names the users, for messages: "a due google account". */
	const char *what;
	/* Selects the due users, user id in column 0. Its own parameters are
	 * $1..$nparams; the cursor is $(nparams+1) and the page size
	 * $(nparams+2): "… AND user_id > $2 ORDER BY user_id LIMIT $3". */
	const char *sql;
	struct store_param params[SCAN_MAX_PARAMS];
	size_t nparams;
	/* Writes the task id part besides type and user for the current row
	 * (NULL: none). arg is passed through. */
	void (*task_part)(struct store_rows *row, void *arg, char *out, size_t outlen);
	void *arg;
	/* Users per page; 0: SCAN_PAGE. */
	long page;
};

#define SCAN_PAGE 200

/* Runs one page of s for ctx, whose payload's optional `cursor` says where
 * to start, and sets the result. JOB_PERMANENT invalid_payload for a cursor
 * this job did not make; JOB_RETRY when the database or the enqueuer fails,
 * or when no user could be enqueued before the deadline. */
enum job_outcome scan_run(struct job_ctx *ctx, const struct scan *s);

#endif
