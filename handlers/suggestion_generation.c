/*
 * suggestion_generation.c - the suggestion-generation job (SPEC §7).
 *
 * With userId: stores pending suggestions for the user's due contacts. A
 * contact is due when it has a catch-up frequency and either was never
 * contacted (due at once) or lastContactedAt + frequency days <= now, and
 * it has no open suggestion (pending or notified with its slot to come,
 * accepted with its slot not over; see migrations/0005_suggestions.sql). The most overdue
 * go first: never contacted, then by the time they fell due; among equals
 * the one suggested longest ago (or never), then by id, so contacts whose
 * suggestions went unanswered do not starve the others.
 * At most SUGGESTIONS_PER_DAY are created for a user per local day (every
 * suggestion created since midnight in the user's zone counts). Each gets
 * the first free slot (handlers/suggest.h): not overlapping calendar
 * events, the user's open suggestions or the ones this run made. When no
 * slot is free the run stops. Result {"created": N}. One transaction under
 * the user's row lock, so the same database and clock give the same slots,
 * and concurrent runs neither double up nor exceed the cap.
 *
 * Without userId (the daily schedule, or a follow-up with a cursor): a scan
 * (scan.h) over users with at least one due contact, enqueuing
 * suggestion-generation {userId} named from the user and the UTC day, so
 * every scan of one day enqueues each user once.
 */
#include <stdio.h>

#include "clock.h"
#include "handlers.h"
#include "scan.h"
#include "store.h"
#include "suggest.h"
#include "tz.h"

#define SUGGESTIONS_PER_DAY 3
#define DAY_S 86400

/* A contact's due rule, as SQL over contacts c with now as parameter NOW. */
#define DUE_CONTACT(NOW)                                                                           \
	"c.catchup_frequency_days IS NOT NULL AND (c.last_contacted_at IS NULL OR "                \
	"c.last_contacted_at + CAST(c.catchup_frequency_days AS BIGINT) * 86400 <= " NOW ") AND "  \
	"NOT EXISTS (SELECT 1 FROM suggestions s WHERE s.contact_id = c.id AND "                   \
	"((s.state IN ('pending', 'notified') AND s.slot_start > " NOW ") OR "                     \
	"(s.state = 'accepted' AND s.slot_end > " NOW ")))"

struct gen {
	const char *user_id;
	int64_t now;
	long created;
	int unusable;
};

/* Closes what time has passed, before anything is counted: pending and
 * notified suggestions whose slot started expire (nobody answered in time),
 * and accepted ones whose slot ended count as the last contact with that
 * person, never moving it back. Under the user's lock: one run at a time. */
static int close_past(struct store_conn *c, const struct suggest_user *u, char *err,
                      size_t errlen)
{
	struct store_param p[] = {store_p_text(u->id), store_p_int(u->now)};
	int rc;

	rc = store_conn_exec(c,
	                     "UPDATE suggestions SET state = 'expired', updated_at = $2 WHERE "
	                     "user_id = $1 AND state IN ('pending', 'notified') AND "
	                     "slot_start <= $2",
	                     p, 2, NULL, err, errlen);
	if (rc)
		return rc;
	return store_conn_exec(
	    c,
	    "UPDATE contacts SET last_contacted_at = (SELECT MAX(s.slot_end) FROM suggestions s "
	    "WHERE s.contact_id = contacts.id AND s.state = 'accepted' AND s.slot_end <= $2), "
	    "updated_at = $2 WHERE user_id = $1 AND EXISTS (SELECT 1 FROM suggestions s WHERE "
	    "s.contact_id = contacts.id AND s.state = 'accepted' AND s.slot_end <= $2 AND "
	    "(contacts.last_contacted_at IS NULL OR s.slot_end > contacts.last_contacted_at))",
	    p, 2, NULL, err, errlen);
}

/* Suggestions of the user created since local midnight. */
static int created_today(struct store_conn *c, const struct suggest_user *u, long *count, char *err,
                         size_t errlen)
{
	struct store_rows *rows = NULL;
	struct tm tm;
	int64_t midnight;
	int rc;

	if (tz_utc_to_local(u->zone, u->now, &tm, NULL))
		return cj_errorf(err, errlen, CJ_EINVAL, "now out of range");
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	if (tz_local_to_utc(u->zone, &tm, TZ_FOLD_EARLIER, &midnight))
		return cj_errorf(err, errlen, CJ_EINVAL, "now out of range");
	{
		struct store_param p[] = {store_p_text(u->id), store_p_int(midnight)};

		rc = store_conn_exec(c,
		                     "SELECT COUNT(*) FROM suggestions WHERE user_id = $1 AND "
		                     "created_at >= $2",
		                     p, 2, &rows, err, errlen);
	}
	if (rc)
		return rc;
	*count = store_rows_next(rows) ? (long)store_rows_int(rows, 0) : 0;
	store_rows_free(rows);
	return CJ_OK;
}

static int busy_open_suggestions(struct store_conn *c, struct suggest_user *u, char *err,
                                 size_t errlen)
{
	struct store_param p[] = {store_p_text(u->id)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_conn_exec(c,
	                     "SELECT slot_start, slot_end FROM suggestions WHERE user_id = $1 AND "
	                     "state IN ('pending', 'notified', 'accepted')",
	                     p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	while (!rc && store_rows_next(rows))
		rc = suggest_busy_add(u, store_rows_int(rows, 0), store_rows_int(rows, 1));
	store_rows_free(rows);
	return rc ? cj_errorf(err, errlen, rc, "out of memory") : CJ_OK;
}

/* Slots for the due contacts, most overdue first, up to `room`. */
static int suggest_due(struct store_conn *c, struct suggest_user *u, long room, long *created,
                       char *err, size_t errlen)
{
	/* A few more than room: a contact another run just served is skipped. */
	struct store_param p[] = {store_p_text(u->id), store_p_int(u->now), store_p_int(room + 20)};
	struct store_rows *rows = NULL;
	int64_t start, end;
	int rc, inserted;

	rc = store_conn_exec(
	    c,
	    "SELECT c.id FROM contacts c WHERE c.user_id = $1 AND " DUE_CONTACT(
	        "$2") " ORDER BY CASE WHEN c.last_contacted_at IS NULL THEN 0 ELSE 1 END, "
	              "c.last_contacted_at + CAST(c.catchup_frequency_days AS BIGINT) * "
	              "86400, COALESCE((SELECT MAX(s.created_at) FROM suggestions s WHERE "
	              "s.contact_id = c.id), 0), c.id LIMIT $3",
	    p, 3, &rows, err, errlen);
	if (rc)
		return rc;
	while (*created < room && store_rows_next(rows)) {
		rc = suggest_find(u, &start, &end);
		if (rc == CJ_ENOTFOUND) {
			rc = CJ_OK; /* the week is full: nothing more to offer */
			break;
		}
		if (rc) {
			cj_errorf(err, errlen, rc, "finding a free slot: %s", cj_strerror(rc));
			break;
		}
		rc = suggest_insert(c, u, store_rows_text(rows, 0), start, end, &inserted, err,
		                    errlen);
		if (!rc && inserted)
			rc = suggest_busy_add(u, start, end);
		if (rc)
			break;
		*created += inserted;
	}
	store_rows_free(rows);
	return rc;
}

static int generate_tx(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct gen *g = arg;
	struct suggest_user u;
	long today = 0;
	int rc;

	g->created = 0;
	rc = suggest_user_lock(c, g->user_id, g->now, &u, err, errlen);
	g->unusable = u.unusable;
	if (!rc)
		rc = close_past(c, &u, err, errlen);
	if (!rc)
		rc = created_today(c, &u, &today, err, errlen);
	if (!rc && today < SUGGESTIONS_PER_DAY) {
		if (!(rc = suggest_busy_events(c, &u, err, errlen)))
			rc = busy_open_suggestions(c, &u, err, errlen);
		if (!rc)
			rc = suggest_due(c, &u, SUGGESTIONS_PER_DAY - today, &g->created, err,
			                 errlen);
	}
	suggest_user_release(&u);
	return rc;
}

static enum job_outcome generate(struct job_ctx *ctx, const char *user_id)
{
	struct gen g = {.user_id = user_id, .now = clock_now_s()};
	char err[512] = "";
	int rc;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	rc = store_transact(ctx->svc->store, generate_tx, &g, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		return job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
	if (rc && g.unusable)
		return job_fail(ctx, JOB_PERMANENT, "invalid_user_settings", "%s", err);
	if (rc)
		return job_fail_rc(ctx, rc == CJ_EINVAL ? CJ_EINTERNAL : rc, "database_unavailable",
		                   "generating suggestions: %s", err[0] ? err : cj_strerror(rc));
	job_set_result(ctx, json_pack("{s:I}", "created", (json_int_t)g.created));
	return JOB_OK;
}

static void day_part(struct store_rows *row, void *arg, char *out, size_t outlen)
{
	(void)row;
	snprintf(out, outlen, "%lld", (long long)*(const int64_t *)arg);
}

static enum job_outcome scan(struct job_ctx *ctx)
{
	int64_t now = clock_now_s(), day = now / DAY_S;
	struct scan s = {
	    .task_type = "suggestion-generation",
	    .what = "user with due contacts",
	    .sql =
	        "SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM contacts c WHERE "
	        "c.user_id = u.id AND " DUE_CONTACT("$1") ") AND u.id > $2 ORDER BY u.id LIMIT $3",
	    .params = {store_p_int(now)},
	    .nparams = 1,
	    .task_part = day_part,
	    .arg = &day,
	};

	return scan_run(ctx, &s);
}

enum job_outcome handle_suggestion_generation(struct job_ctx *ctx)
{
	const char *user_id = json_string_value(json_object_get(ctx->payload, "userId"));

	return user_id ? generate(ctx, user_id) : scan(ctx);
}
