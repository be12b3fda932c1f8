/*
 * adaptive_sync.c - the adaptive-sync job (SPEC §7): every 15 minutes,
 * enqueue the contacts and calendar syncs that are due.
 *
 * A scan (scan.h, with its own per-user work) over the users whose Google
 * account is usable (google_accounts.status 'active'), in user id order,
 * one page and a follow-up task at a time. For each user the kinds are
 * "contacts" and every "calendar:{id}" the user has in sync_state, at
 * least "calendar:primary". A kind is due when it has no sync_state row or
 * its next_sync_at is NULL or has come (business clock). A due kind gets:
 *   1. its sync task, google-contacts-sync {userId} or calendar-sync
 *      {userId, calendarId}, named from the type, the user, the kind and
 *      the next_sync_at this run saw ("0" for none), so overlapping scans
 *      name the same task and only the first create counts;
 *   2. once the create landed or the task was there already, next_sync_at
 *      moved forward by the row's interval (a new row: the default
 *      interval), written only if next_sync_at is still what this run saw,
 *      so of overlapping scans only one moves it, and a sync that already
 *      ran and set its own next_sync_at is not overridden.
 * The interval itself belongs to the syncs: each records its change count
 * and the interval it gives (sync_state.h). The schedule written here only
 * keeps the next scans from enqueuing the same sync again before it has
 * run; when it runs it sets next_sync_at from what it found.
 *
 * A process that dies between 1 and 2 leaves the task created and the
 * schedule unmoved: the next scan sees the same due time, names the same
 * task, gets a 409 (not counted) and writes the schedule then. If the sync
 * ran meanwhile, next_sync_at has changed, and with it the task name and
 * the due test. So nothing is enqueued twice and nothing is lost.
 *
 * Never changes interval_seconds, never calls Google.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "handlers.h"
#include "log.h"
#include "scan.h"
#include "store.h"
#include "sync_state.h"

#define CALENDAR_PREFIX "calendar:"
#define CALENDAR_PREFIX_LEN 9
#define CALENDAR_ID_MAX 128 /* the calendar-sync payload's bound */

/* The run's state (struct scan's arg). */
struct adaptive {
	int64_t now; /* one "now" for the whole page */
};

/* Moves the schedule of a kind this run enqueued: only if it is still the
 * due time the run saw (seen, 0 for NULL), or, without a row, only if no
 * one made the row meanwhile. */
static int move_schedule(struct job_ctx *ctx, const char *user_id, const char *kind, int has_row,
                         int64_t seen, int64_t now, char *err, size_t errlen)
{
	int rc;

	if (has_row) {
		struct store_param p[] = {store_p_text(user_id), store_p_text(kind),
		                          store_p_int(seen), store_p_int(now)};

		rc = store_exec(ctx->svc->store,
		                "UPDATE sync_state SET next_sync_at = $4 + interval_seconds, "
		                "updated_at = $4 WHERE user_id = $1 AND kind = $2 AND "
		                "COALESCE(next_sync_at, 0) = $3",
		                p, 4, NULL, err, errlen);
	} else {
		struct store_param p[] = {store_p_text(user_id), store_p_text(kind),
		                          store_p_int(now + SYNC_INTERVAL_DEFAULT_S),
		                          store_p_int(now)};

		rc = store_exec(ctx->svc->store,
		                "INSERT INTO sync_state (user_id, kind, next_sync_at, updated_at) "
		                "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, kind) DO NOTHING",
		                p, 4, NULL, err, errlen);
	}
	/* The user was deleted since the page was listed: nothing to schedule. */
	if (rc == CJ_ESTORAGE && store_last_error() == STORE_ERR_FOREIGN_KEY)
		rc = CJ_OK;
	return rc;
}

/* One due kind: its sync task, then its schedule. *created is 1 when this
 * run made the task. */
static int sync_due(struct job_ctx *ctx, const char *user_id, const char *kind, int has_row,
                    int64_t seen, int64_t now, int *created, char *err, size_t errlen)
{
	int calendar = !strncmp(kind, CALENDAR_PREFIX, CALENDAR_PREFIX_LEN);
	const char *type = calendar ? "calendar-sync" : "google-contacts-sync";
	char task[JOB_TASK_ID_MAX], due[24];
	json_t *payload;
	int rc;

	*created = 0;
	payload = calendar
	    ? json_pack("{s:s, s:s}", "userId", user_id, "calendarId", kind + CALENDAR_PREFIX_LEN)
	    : json_pack("{s:s}", "userId", user_id);
	if (!payload)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	snprintf(due, sizeof(due), "%lld", (long long)seen);
	job_task_id(task, sizeof(task), type, user_id, kind, due);
	rc = job_enqueue(ctx, type, payload, task, created, err, errlen);
	json_decref(payload);
	if (rc)
		return rc;
	/* Dying here: see the file comment (the next scan's create is a 409). */
	return move_schedule(ctx, user_id, kind, has_row, seen, now, err, errlen);
}

/* A kind the calendar-sync payload can carry ("calendar:" and 1-128
 * characters); others cannot come from calendar-sync and are left alone. */
static int kind_usable(const char *kind)
{
	size_t n;

	if (!strcmp(kind, "contacts"))
		return 1;
	n = strlen(kind);
	return !strncmp(kind, CALENDAR_PREFIX, CALENDAR_PREFIX_LEN) && n > CALENDAR_PREFIX_LEN &&
	    n <= CALENDAR_PREFIX_LEN + CALENDAR_ID_MAX;
}

/* scan.h's each: the user's due kinds. */
static int sync_user(struct job_ctx *ctx, struct store_rows *row, void *arg, long *counted,
                     char *err, size_t errlen)
{
	const struct adaptive *a = arg;
	const char *user_id = store_rows_text(row, 0);
	struct store_param p[] = {store_p_text(user_id)};
	struct store_rows *kinds = NULL;
	int has_contacts = 0, has_primary = 0, created, rc;

	rc = store_exec(ctx->svc->store,
	                "SELECT kind, COALESCE(next_sync_at, 0) FROM sync_state WHERE user_id = $1 "
	                "AND (kind = 'contacts' OR kind LIKE 'calendar:%') ORDER BY kind",
	                p, 1, &kinds, err, errlen);
	if (rc)
		return rc;
	while (store_rows_next(kinds)) {
		const char *kind = store_rows_text(kinds, 0);
		int64_t next = store_rows_int(kinds, 1);

		has_contacts |= !strcmp(kind, "contacts");
		has_primary |= !strcmp(kind, CALENDAR_PREFIX "primary");
		if (next > a->now)
			continue;
		if (!kind_usable(kind)) {
			log_msg(L_WARNING,
			        "adaptive-sync: sync_state kind \"%.60s\" of user %s names no "
			        "calendar a sync can take; skipped",
			        kind, user_id);
			continue;
		}
		rc = sync_due(ctx, user_id, kind, 1, next, a->now, &created, err, errlen);
		if (rc)
			break;
		*counted += created;
	}
	store_rows_free(kinds);
	if (!rc && !has_contacts) {
		rc = sync_due(ctx, user_id, "contacts", 0, 0, a->now, &created, err, errlen);
		*counted += rc ? 0 : created;
	}
	if (!rc && !has_primary) {
		rc = sync_due(ctx, user_id, CALENDAR_PREFIX "primary", 0, 0, a->now, &created, err,
		              errlen);
		*counted += rc ? 0 : created;
	}
	return rc;
}

enum job_outcome handle_adaptive_sync(struct job_ctx *ctx)
{
	struct adaptive a = {clock_now_s()};
	struct scan s = {
	    .what = "active google account",
	    .sql = "SELECT user_id FROM google_accounts WHERE status = 'active' "
	           "AND user_id > $1 ORDER BY user_id LIMIT $2",
	    .nparams = 0,
	    .arg = &a,
	    .each = sync_user,
	};

	return scan_run(ctx, &s);
}
