/*
 * test_adaptive_sync.c - the adaptive-sync job and the schedule the syncs
 * record (handlers/adaptive_sync.c, handlers/sync_state.c), on SQLite and
 * PostgreSQL: new users synced at once and once, the interval over a
 * simulated week (halving, doubling, its bounds, last_changed_at) with the
 * scan enqueuing exactly when a kind is due, healthy push channels holding
 * a calendar at 24 h, the real sync jobs against the Google fake, 2,000
 * users in pages, concurrent scans, a scan dying between its enqueue and
 * its schedule write, and a sync running in between.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "clock.h"
#include "gfake.h"
#include "job_harness.h"
#include "store.h"
#include "sync_state.h"

#define DAY 86400

static struct gfake g;
static struct job_harness h;

static void setup(int backend)
{
	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	job_harness_open(&h, backend, g.url);
}

/* Moves business time to at least t. */
static void advance_to(int64_t t)
{
	int64_t now = clock_now_s();

	if (t > now)
		ck_assert_int_ge(clock_advance(t - now), 0);
}

/* Runs adaptive-sync with payload under key; it must complete. The count
 * it enqueued; *next (when not NULL) receives "next" (malloc'd or NULL). */
static long scan(const char *payload, const char *key, char **next)
{
	struct job_run r;
	const json_t *n;
	long enqueued;

	job_harness_run(&h, "adaptive-sync", payload, key, 0, &r);
	ck_assert_msg(r.outcome == JOB_OK, "%s: %s", r.error_code, r.error_msg);
	enqueued = (long)job_run_int(&r, "enqueued");
	n = json_object_get(r.result, "next");
	ck_assert_msg(json_is_null(n) || json_is_string(n), "next is neither null nor a string");
	if (next)
		*next = json_is_string(n) ? strdup(json_string_value(n)) : NULL;
	job_run_release(&r);
	return enqueued;
}

static long ncreates(const char *type)
{
	json_t *c = job_harness_creates(&h, type);
	long n = (long)json_array_size(c);

	json_decref(c);
	return n;
}

/* A column of (user, kind)'s sync_state row; -1 for NULL, -2 without a
 * row. */
static int64_t state(const char *user, const char *kind, const char *column)
{
	char sql[160];

	if (job_harness_int(&h, "SELECT COUNT(*) FROM sync_state WHERE user_id = $1 AND kind = $2",
	                    user, kind) == 0)
		return -2;
	snprintf(sql, sizeof(sql),
	         "SELECT COALESCE(%s, -1) FROM sync_state WHERE user_id = $1 AND kind = $2",
	         column);
	return job_harness_int(&h, sql, user, kind);
}

struct rec {
	const char *user, *kind;
	int64_t now;
	int full;
	int64_t changes, removed;
};

static int record_tx(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	const struct rec *r = arg;

	return sync_state_record(c, r->user, r->kind, "tok", r->now, r->full, r->changes,
	                         r->removed, err, errlen);
}

/* What a finished sync records, in a transaction as google_sync.c does;
 * returns the time it recorded. */
static int64_t record(const char *user, const char *kind, int full, int64_t changes,
                      int64_t removed)
{
	struct rec r = {user, kind, clock_now_s(), full, changes, removed};
	char err[256] = "";

	ck_assert_msg(store_transact(h.db.s, record_tx, &r, err, sizeof(err)) == CJ_OK, "%s", err);
	return r.now;
}

static void set_status(const char *user, const char *status)
{
	job_harness_exec(&h, "UPDATE google_accounts SET status = $2 WHERE user_id = $1", user,
	                 status);
}

START_TEST(new_users_are_synced_once_and_only_active_accounts)
{
	json_t *c, *want;
	char task[JOB_TASK_ID_MAX], *next = NULL;

	setup(_i);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
	job_harness_add_user(&h, "u2", "u2@example.com", "rt-2");
	job_harness_add_user(&h, "u3", "u3@example.com", NULL);
	job_harness_add_user(&h, "u4", "u4@example.com", "rt-4");
	set_status("u2", "revoked");
	set_status("u4", "error");

	ck_assert_int_eq(scan("{}", "k1", &next), 2);
	ck_assert_ptr_null(next);
	c = job_harness_creates(&h, "google-contacts-sync");
	ck_assert_int_eq(json_array_size(c), 1);
	want = json_pack("{s:s}", "userId", "u1");
	ck_assert(json_equal(json_object_get(json_array_get(c, 0), "payload"), want));
	json_decref(want);
	job_task_id(task, sizeof(task), "google-contacts-sync", "u1", "contacts", "0");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "taskId")), task);
	json_decref(c);
	c = job_harness_creates(&h, "calendar-sync");
	ck_assert_int_eq(json_array_size(c), 1);
	want = json_pack("{s:s, s:s}", "userId", "u1", "calendarId", "primary");
	ck_assert(json_equal(json_object_get(json_array_get(c, 0), "payload"), want));
	json_decref(want);
	json_decref(c);
	/* The scan scheduled both an hour ahead, leaving the interval alone. */
	ck_assert_int_eq(state("u1", "contacts", "next_sync_at") -
	                     state("u1", "contacts", "updated_at"),
	                 SYNC_INTERVAL_DEFAULT_S);
	ck_assert_int_eq(state("u1", "calendar:primary", "next_sync_at") -
	                     state("u1", "calendar:primary", "updated_at"),
	                 SYNC_INTERVAL_DEFAULT_S);
	ck_assert_int_eq(state("u1", "contacts", "interval_seconds"), SYNC_INTERVAL_DEFAULT_S);
	ck_assert_int_eq(state("u1", "contacts", "last_changed_at"), -1);
	/* Nothing for the others: no rows, no tasks. */
	ck_assert_int_eq(
	    job_harness_int(&h, "SELECT COUNT(*) FROM sync_state WHERE user_id <> $1", "u1", NULL),
	    0);

	/* At once again: nothing is due. */
	ck_assert_int_eq(scan("{}", "k2", NULL), 0);
	ck_assert_int_eq(ncreates("google-contacts-sync"), 1);
	ck_assert_int_eq(ncreates("calendar-sync"), 1);
	/* A reconnected account is scanned from then on. */
	set_status("u2", "active");
	ck_assert_int_eq(scan("{}", "k3", NULL), 2);
	ck_assert_int_eq(ncreates("google-contacts-sync"), 2);
	job_harness_close(&h);
}
END_TEST

/* One kind's history in the week: the syncs' outcomes in turn (after the
 * list, quiet incremental syncs) and the interval the test expects. */
struct outcome {
	int full;
	int changes, removed;
};

struct track {
	const char *kind, *type;
	const struct outcome *seq;
	size_t n, done;
	int64_t interval, changed, next;
	long creates;
};

static void expect_after_sync(struct track *t, const struct outcome *o, int64_t at)
{
	if (!o->full && o->changes > 0)
		t->interval = t->interval / 2 < 900 ? 900 : t->interval / 2;
	else if (!o->full)
		t->interval = t->interval * 2 > DAY ? DAY : t->interval * 2;
	if (o->full ? o->removed > 0 : o->changes > 0)
		t->changed = at;
	ck_assert_int_eq(state("u1", t->kind, "interval_seconds"), t->interval);
	ck_assert_int_eq(state("u1", t->kind, "next_sync_at"), at + t->interval);
	ck_assert_int_eq(state("u1", t->kind, "last_changed_at"), t->changed);
	ck_assert_int_eq(state("u1", t->kind, "last_sync_at"), at);
	t->next = at + t->interval;
}

/* The sync that the scan enqueued runs with its next outcome. */
static void run_sync(struct track *t, int *at_min, int *at_max)
{
	static const struct outcome quiet = {0, 0, 0};
	const struct outcome *o = t->done < t->n ? &t->seq[t->done] : &quiet;
	int64_t before = t->interval, at;

	t->done++;
	at = record("u1", t->kind, o->full, o->changes, o->removed);
	expect_after_sync(t, o, at);
	*at_min += before == 900 && t->interval == 900;
	*at_max += before == DAY && t->interval == DAY;
}

START_TEST(the_interval_over_a_simulated_week)
{
	/* Contacts: a first full sync, a busy spell down to the floor, a quiet
	 * spell up to the ceiling, a full resync that found deletions. */
	static const struct outcome contacts[] = {
	    {1, 40, 0}, {0, 5, 0},  {0, 3, 0}, {0, 1, 0}, {0, 2, 0}, {0, 0, 0},
	    {0, 0, 0},  {0, 0, 0},  {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0},
	    {0, 0, 0},  {1, 38, 2}, {0, 7, 0}, {0, 0, 0},
	};
	/* Calendar: a full sync without deletions is no change; steady small
	 * changes; then quiet. */
	static const struct outcome calendar[] = {
	    {1, 12, 0}, {0, 0, 0}, {0, 1, 0}, {0, 1, 0}, {0, 0, 0}, {0, 1, 0},
	    {1, 12, 0}, {0, 4, 0}, {0, 4, 0}, {0, 4, 0}, {0, 4, 0},
	};
	struct track t[2] = {
	    {"contacts", "google-contacts-sync", contacts, sizeof(contacts) / sizeof(contacts[0]),
	     0, SYNC_INTERVAL_DEFAULT_S, -1, 0, 0},
	    {"calendar:primary", "calendar-sync", calendar, sizeof(calendar) / sizeof(calendar[0]),
	     0, SYNC_INTERVAL_DEFAULT_S, -1, 0, 0},
	};
	int at_min = 0, at_max = 0, rounds = 0;
	int64_t end;

	setup(_i);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
	end = clock_now_s() + 7 * DAY;
	/* New: both due at once. */
	ck_assert_int_eq(scan("{}", "start", NULL), 2);
	for (int k = 0; k < 2; k++) {
		t[k].creates = 1;
		run_sync(&t[k], &at_min, &at_max);
	}
	while (clock_now_s() < end) {
		int64_t due = t[0].next < t[1].next ? t[0].next : t[1].next;
		int64_t other = t[0].next < t[1].next ? t[1].next : t[0].next;
		int want = 0;
		char key[32];

		ck_assert_int_lt(++rounds, 400);
		if (other - due <= 5)
			due = other; /* not a second apart: both at once */
		/* A minute early nothing is due. */
		advance_to(due - 60);
		snprintf(key, sizeof(key), "early-%d", rounds);
		ck_assert_int_eq(scan("{}", key, NULL), 0);
		for (int k = 0; k < 2; k++)
			ck_assert_int_eq(ncreates(t[k].type), t[k].creates);
		/* At the due time exactly the due kinds are enqueued, once. */
		advance_to(due);
		for (int k = 0; k < 2; k++)
			want += t[k].next <= due;
		snprintf(key, sizeof(key), "due-%d", rounds);
		ck_assert_int_eq(scan("{}", key, NULL), want);
		for (int k = 0; k < 2; k++) {
			int is_due = t[k].next <= due;

			t[k].creates += is_due;
			ck_assert_int_eq(ncreates(t[k].type), t[k].creates);
			if (!is_due)
				continue;
			/* The scan moved next_sync_at on by the interval, which it left alone. */
			ck_assert_int_eq(state("u1", t[k].kind, "next_sync_at") -
			                     state("u1", t[k].kind, "updated_at"),
			                 t[k].interval);
			ck_assert_int_eq(state("u1", t[k].kind, "interval_seconds"), t[k].interval);
			run_sync(&t[k], &at_min, &at_max);
		}
	}
	/* Both bounds were reached and held, and every sequence ran out. */
	ck_assert_int_ge(at_min, 1);
	ck_assert_int_ge(at_max, 1);
	ck_assert_uint_ge(t[0].done, t[0].n);
	ck_assert_uint_ge(t[1].done, t[1].n);
	/* One sync per enqueued task: the scan never enqueued one twice. */
	ck_assert_int_eq(t[0].creates, (long)t[0].done);
	ck_assert_int_eq(t[1].creates, (long)t[1].done);
	job_harness_close(&h);
}
END_TEST

static void add_channel(const char *id, const char *user, const char *calendar, const char *status,
                        int64_t expiration, int64_t silent_at)
{
	struct store_param p[] = {
	    store_p_text(id),          store_p_text(user),
	    store_p_text(calendar),    store_p_text(status),
	    store_p_int(expiration),   silent_at ? store_p_int(silent_at) : store_p_null(),
	    store_p_int(clock_now_s())};
	char err[256] = "";

	ck_assert_msg(
	    store_exec(h.db.s,
	               "INSERT INTO webhook_channels (id, user_id, calendar_id, "
	               "resource_id, token_hash, expiration, status, silent_flagged_at, "
	               "created_at, updated_at) VALUES ($1, $2, $3, 'res', 'hash', $5, $4, "
	               "$6, $7, $7)",
	               p, 7, NULL, err, sizeof(err)) == CJ_OK,
	    "%s", err);
}

/* How many calendar-sync tasks were created for user's calendar. */
static long creates_for(const char *user, const char *calendar)
{
	json_t *c = job_harness_creates(&h, "calendar-sync"), *e;
	long n = 0;
	size_t i;

	json_array_foreach(c, i, e)
	{
		const json_t *p = json_object_get(e, "payload");

		n += !strcmp(json_string_value(json_object_get(p, "userId")), user) &&
		    !strcmp(json_string_value(json_object_get(p, "calendarId")), calendar);
	}
	json_decref(c);
	return n;
}

START_TEST(a_healthy_push_channel_holds_its_calendar_at_a_day)
{
	static const char *const unhealthy[] = {"calendar:expired", "calendar:silent",
	                                        "calendar:stopped", "calendar:pending",
	                                        "calendar:theirs",  NULL};
	int64_t now, at;
	size_t i;

	setup(_i);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
	job_harness_add_user(&h, "u2", "u2@example.com", "rt-2");
	now = clock_now_s();
	add_channel("ch-ok", "u1", "primary", "active", now + 7 * DAY, 0);
	add_channel("ch-exp", "u1", "expired", "active", now - 1, 0);
	add_channel("ch-sil", "u1", "silent", "active", now + 7 * DAY, now - 60);
	add_channel("ch-stop", "u1", "stopped", "stopped", now + 7 * DAY, 0);
	add_channel("ch-pend", "u1", "pending", "pending", now + 7 * DAY, 0);
	add_channel("ch-u2", "u2", "theirs", "active", now + 7 * DAY, 0);

	at = record("u1", "contacts", 0, 4, 0);
	ck_assert_int_eq(state("u1", "contacts", "interval_seconds"), 1800);
	ck_assert_int_eq(state("u1", "contacts", "next_sync_at"), at + 1800);
	at = record("u1", "calendar:primary", 0, 4, 0);
	ck_assert_int_eq(state("u1", "calendar:primary", "interval_seconds"), 1800);
	ck_assert_int_eq(state("u1", "calendar:primary", "next_sync_at"), at + DAY);
	ck_assert_int_eq(state("u1", "calendar:primary", "last_changed_at"), at);
	/* Quiet: the interval still adapts, the poll stays at a day. */
	at = record("u1", "calendar:primary", 0, 0, 0);
	ck_assert_int_eq(state("u1", "calendar:primary", "interval_seconds"), 3600);
	ck_assert_int_eq(state("u1", "calendar:primary", "next_sync_at"), at + DAY);
	for (i = 0; unhealthy[i]; i++) {
		at = record("u1", unhealthy[i], 0, 4, 0);
		ck_assert_int_eq(state("u1", unhealthy[i], "interval_seconds"), 1800);
		ck_assert_msg(state("u1", unhealthy[i], "next_sync_at") == at + 1800, "%s",
		              unhealthy[i]);
	}

	/* Half an hour on: contacts and the unpushed calendars are due (u2's
	 * first syncs too), the pushed one is not. */
	advance_to(at + 1800);
	ck_assert_int_eq(scan("{}", "k1", NULL), 1 + 5 + 2);
	ck_assert_int_eq(ncreates("calendar-sync"), 6);
	for (i = 0; unhealthy[i]; i++)
		ck_assert_int_eq(creates_for("u1", unhealthy[i] + 9), 1);
	ck_assert_int_eq(creates_for("u2", "primary"), 1);
	ck_assert_int_eq(creates_for("u1", "primary"), 0);
	/* A day on, the pushed calendar is polled too. */
	advance_to(state("u1", "calendar:primary", "next_sync_at"));
	ck_assert_int_ge(scan("{}", "k2", NULL), 1);
	ck_assert_int_eq(creates_for("u1", "primary"), 1);
	ck_assert_int_gt(state("u1", "calendar:primary", "next_sync_at"), at + DAY);
	/* When the channel stops being healthy, the interval rules again. */
	job_harness_exec(&h, "UPDATE webhook_channels SET silent_flagged_at = 1 WHERE id = $1",
	                 "ch-ok", NULL);
	at = record("u1", "calendar:primary", 0, 0, 0);
	ck_assert_int_eq(state("u1", "calendar:primary", "next_sync_at"), at + 7200);
	job_harness_close(&h);
}
END_TEST

/* Runs the sync an adaptive-sync run enqueued for type (its latest create)
 * through the harness, under the task's id as the server would. */
static void run_enqueued(const char *type, struct job_run *r)
{
	json_t *c = job_harness_creates(&h, type), *last;
	char *payload;

	ck_assert_int_gt(json_array_size(c), 0);
	last = json_array_get(c, json_array_size(c) - 1);
	payload = json_dumps(json_object_get(last, "payload"), JSON_COMPACT);
	job_harness_run(&h, type, payload, json_string_value(json_object_get(last, "taskId")), 0,
	                r);
	ck_assert_msg(r->outcome == JOB_OK, "%s: %s", r->error_code, r->error_msg);
	free(payload);
	json_decref(c);
}

static void run_sync_job(const char *type, const char *payload, const char *key, struct job_run *r)
{
	job_harness_run(&h, type, payload, key, 0, r);
	ck_assert_msg(r->outcome == JOB_OK, "%s: %s", r->error_code, r->error_msg);
}

/* The schedule a real sync left: interval, and next = last sync + it. */
static void expect_schedule(const char *kind, int64_t interval)
{
	ck_assert_int_eq(state("u1", kind, "interval_seconds"), interval);
	ck_assert_int_eq(state("u1", kind, "next_sync_at") - state("u1", kind, "last_sync_at"),
	                 interval);
}

START_TEST(the_real_syncs_record_their_interval)
{
	struct job_run r;
	int64_t changed;

	setup(_i);
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"rt-1\"}"), 0);
	ck_assert_int_eq(
	    gfake_control(&g, "contacts", "{\"refreshToken\":\"rt-1\",\"generate\":{\"count\":3}}"),
	    0);
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"rt-1\",\"generate\":{\"count\":3,"
	                               "\"start\":%lld}}",
	                               (long long)clock_now_s() + DAY),
	                 0);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
	ck_assert_int_eq(scan("{}", "k1", NULL), 2);

	/* Contacts: the first, full sync is no evidence of change. */
	run_enqueued("google-contacts-sync", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 3);
	job_run_release(&r);
	expect_schedule("contacts", 3600);
	ck_assert_int_eq(state("u1", "contacts", "last_changed_at"), -1);
	/* An incremental sync with a change halves it... */
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-1\",\"upsert\":[{\"resourceName\":"
	                               "\"people/c9\",\"name\":\"Nine\"}]}"),
	                 0);
	run_sync_job("google-contacts-sync", "{\"userId\":\"u1\"}", "c2", &r);
	ck_assert(json_is_false(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 1);
	job_run_release(&r);
	expect_schedule("contacts", 1800);
	changed = state("u1", "contacts", "last_changed_at");
	ck_assert_int_eq(changed, state("u1", "contacts", "last_sync_at"));
	/* ... one without doubles it and leaves last_changed_at. */
	clock_advance(1800);
	run_sync_job("google-contacts-sync", "{\"userId\":\"u1\"}", "c3", &r);
	ck_assert_int_eq(job_run_int(&r, "upserted") + job_run_int(&r, "deleted"), 0);
	job_run_release(&r);
	expect_schedule("contacts", 3600);
	ck_assert_int_eq(state("u1", "contacts", "last_changed_at"), changed);
	/* A full resync that found a contact gone: changed, interval kept. */
	job_harness_exec(&h,
	                 "INSERT INTO contacts (id, user_id, resource_name, name, created_at, "
	                 "updated_at) VALUES ('stale1', $1, $2, 'Gone', 1, 1)",
	                 "u1", "people/stale");
	ck_assert_int_eq(gfake_control(&g, "expire-sync-tokens",
	                               "{\"refreshToken\":\"rt-1\",\"kind\":\"contacts\"}"),
	                 0);
	clock_advance(600);
	run_sync_job("google-contacts-sync", "{\"userId\":\"u1\"}", "c4", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "deleted"), 1);
	job_run_release(&r);
	expect_schedule("contacts", 3600);
	ck_assert_int_eq(state("u1", "contacts", "last_changed_at"),
	                 state("u1", "contacts", "last_sync_at"));
	ck_assert_int_gt(state("u1", "contacts", "last_changed_at"), changed);

	/* Calendar: full, then a 410 whose clearing is not a change, then a
	 * real deletion. */
	run_enqueued("calendar-sync", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 3);
	job_run_release(&r);
	expect_schedule("calendar:primary", 3600);
	ck_assert_int_eq(gfake_control(&g, "expire-sync-tokens",
	                               "{\"refreshToken\":\"rt-1\",\"kind\":\"calendar\"}"),
	                 0);
	run_sync_job("calendar-sync", "{\"userId\":\"u1\"}", "e2", &r);
	ck_assert(json_is_true(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "upserted"), 3);
	job_run_release(&r);
	expect_schedule("calendar:primary", 3600);
	ck_assert_int_eq(state("u1", "calendar:primary", "last_changed_at"), -1);
	ck_assert_int_eq(
	    gfake_control(&g, "events", "{\"refreshToken\":\"rt-1\",\"delete\":[\"g000001\"]}"), 0);
	run_sync_job("calendar-sync", "{\"userId\":\"u1\"}", "e3", &r);
	ck_assert(json_is_false(json_object_get(r.result, "full")));
	ck_assert_int_eq(job_run_int(&r, "deleted"), 1);
	job_run_release(&r);
	expect_schedule("calendar:primary", 1800);
	ck_assert_int_eq(state("u1", "calendar:primary", "last_changed_at"),
	                 state("u1", "calendar:primary", "last_sync_at"));
	/* The scan follows the syncs' schedule: nothing due until it comes. */
	ck_assert_int_eq(scan("{}", "k2", NULL), 0);
	advance_to(state("u1", "calendar:primary", "next_sync_at"));
	ck_assert_int_eq(scan("{}", "k3", NULL), 1);
	ck_assert_int_eq(ncreates("calendar-sync"), 2);
	job_harness_close(&h);
}
END_TEST

/* 2,000 active accounts, and 5 revoked ones among them. */
static int add_many(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	(void)arg;
	for (int i = 0; i < 2005; i++) {
		char id[32];
		int rc;

		snprintf(id, sizeof(id), "user-%05d", i < 2000 ? i : (i - 2000) * 400 + 7);
		if (i >= 2000)
			snprintf(id + strlen(id), sizeof(id) - strlen(id), "-r");
		struct store_param p[] = {store_p_text(id),
		                          store_p_text(i < 2000 ? "active" : "revoked")};
		rc = store_conn_exec(
		    c, "INSERT INTO users (id, created_at, updated_at) VALUES ($1, 1, 1)", p, 1,
		    NULL, err, errlen);
		if (!rc)
			rc = store_conn_exec(
			    c,
			    "INSERT INTO google_accounts (user_id, refresh_token_enc, "
			    "status, created_at, updated_at) VALUES ($1, 'v1:x', $2, 1, 1)",
			    p, 2, NULL, err, errlen);
		if (rc)
			return rc;
	}
	return CJ_OK;
}

/* The adaptive-sync follow-up create that carries cursor. */
static json_t *follow_up(const char *cursor)
{
	json_t *c = job_harness_creates(&h, "adaptive-sync"), *e, *found = NULL;
	size_t i;

	json_array_foreach(c, i, e)
	{
		const char *cur =
		    json_string_value(json_object_get(json_object_get(e, "payload"), "cursor"));

		if (cur && !strcmp(cur, cursor)) {
			ck_assert_ptr_null(found);
			found = json_incref(e);
		}
	}
	json_decref(c);
	ck_assert_msg(found != NULL, "no follow-up carries %s", cursor);
	return found;
}

/* Every user of the creates of type appears once, and only active ones. */
static void expect_each_user_once(const char *type, size_t users)
{
	json_t *c = job_harness_creates(&h, type), *seen = json_object(), *e;
	size_t i;

	ck_assert_uint_eq(json_array_size(c), users);
	json_array_foreach(c, i, e)
	{
		const char *uid =
		    json_string_value(json_object_get(json_object_get(e, "payload"), "userId"));

		ck_assert_ptr_nonnull(uid);
		ck_assert_msg(!json_object_get(seen, uid), "%s enqueued twice", uid);
		ck_assert_msg(!strstr(uid, "-r"), "%s is revoked", uid);
		json_object_set_new(seen, uid, json_true());
	}
	ck_assert_uint_eq(json_object_size(seen), users);
	json_decref(seen);
	json_decref(c);
}

START_TEST(two_thousand_users_in_pages_of_tasks)
{
	char err[256] = "", *next = NULL, *first_next, *payload = NULL, *key = NULL;
	long total, pages = 1;

	setup(_i);
	ck_assert_msg(store_transact(h.db.s, add_many, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	total = scan("{}", "page-0", &next);
	ck_assert_int_eq(total, 400);
	ck_assert_ptr_nonnull(next);
	ck_assert_int_eq(ncreates("google-contacts-sync"), 200);
	ck_assert_int_eq(ncreates("calendar-sync"), 200);
	ck_assert_int_eq(ncreates("adaptive-sync"), 1);
	first_next = strdup(next);
	/* Follow the chain, each follow-up run as its task. */
	while (next) {
		json_t *f = follow_up(next);

		free(payload);
		free(key);
		payload = json_dumps(json_object_get(f, "payload"), JSON_COMPACT);
		key = strdup(json_string_value(json_object_get(f, "taskId")));
		json_decref(f);
		free(next);
		total += scan(payload, key, &next);
		ck_assert_int_lt(++pages, 30);
	}
	ck_assert_int_eq(total, 4000);
	ck_assert_int_eq(pages, 11); /* ten full pages, and the empty one that ends it */
	expect_each_user_once("google-contacts-sync", 2000);
	expect_each_user_once("calendar-sync", 2000);
	ck_assert_int_eq(ncreates("adaptive-sync"), 10);
	/* A retried page lists the same users and hands on to the same task
	 * (a 409); it has nothing left to enqueue. Likewise the last page. */
	ck_assert_int_eq(scan("{}", "page-0", &next), 0);
	ck_assert_str_eq(next, first_next);
	free(next);
	ck_assert_int_eq(scan(payload, key, &next), 0);
	ck_assert_ptr_null(next);
	ck_assert_int_eq(ncreates("adaptive-sync"), 10);
	ck_assert_int_eq(ncreates("google-contacts-sync"), 2000);
	free(first_next);
	free(payload);
	free(key);
	job_harness_close(&h);
}
END_TEST

#define NTHREADS 6
#define NUSERS 60

struct conc {
	char key[16];
	struct job_run r;
};

static void *run_concurrently(void *arg)
{
	struct conc *c = arg;

	job_harness_run(&h, "adaptive-sync", "{}", c->key, 0, &c->r);
	return NULL;
}

START_TEST(concurrent_scans_create_each_task_once)
{
	pthread_t th[NTHREADS];
	struct conc c[NTHREADS];
	long total = 0;

	setup(_i);
	for (int i = 0; i < NUSERS; i++) {
		char id[16];

		snprintf(id, sizeof(id), "u%02d", i);
		job_harness_add_user(&h, id, NULL, "rt");
	}
	/* Half of them with schedules that are due, the rest new. */
	for (int i = 0; i < NUSERS / 2; i++) {
		char id[16];

		snprintf(id, sizeof(id), "u%02d", i);
		record(id, "contacts", 0, 1, 0);
		record(id, "calendar:primary", 0, 0, 0);
	}
	advance_to(clock_now_s() + 2 * 3600 + 1);
	for (int i = 0; i < NTHREADS; i++) {
		snprintf(c[i].key, sizeof(c[i].key), "c%d", i);
		ck_assert_int_eq(pthread_create(&th[i], NULL, run_concurrently, &c[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NTHREADS; i++) {
		ck_assert_msg(c[i].r.outcome == JOB_OK, "%s: %s", c[i].r.error_code,
		              c[i].r.error_msg);
		total += (long)job_run_int(&c[i].r, "enqueued");
		job_run_release(&c[i].r);
	}
	ck_assert_int_eq(total, 2 * NUSERS);
	expect_each_user_once("google-contacts-sync", NUSERS);
	expect_each_user_once("calendar-sync", NUSERS);
	/* Every schedule was moved by the interval from a scan's time, and
	 * nothing is due any more. */
	ck_assert_int_eq(job_harness_int(&h,
	                                 "SELECT COUNT(*) FROM sync_state WHERE next_sync_at IS "
	                                 "NULL OR next_sync_at <> updated_at + interval_seconds",
	                                 NULL, NULL),
	                 0);
	ck_assert_int_eq(scan("{}", "after", NULL), 0);
	ck_assert_int_eq(job_harness_int(&h, "SELECT COUNT(*) FROM sync_state", NULL, NULL),
	                 2 * NUSERS);
	job_harness_close(&h);
}
END_TEST

/* Puts u1's next_sync_at of kind back to t: the scan's write never
 * happened. */
static void reset_next(const char *kind, int64_t t)
{
	char v[24];

	snprintf(v, sizeof(v), "%lld", (long long)t);
	job_harness_exec(&h,
	                 "UPDATE sync_state SET next_sync_at = CAST($2 AS BIGINT) WHERE "
	                 "user_id = 'u1' AND kind = $1",
	                 kind, v);
	ck_assert_int_eq(state("u1", kind, "next_sync_at"), t);
}

START_TEST(dying_between_enqueue_and_schedule_write)
{
	int64_t seen;

	setup(_i);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
	/* New user: the tasks were created, the rows never written. */
	ck_assert_int_eq(scan("{}", "k1", NULL), 2);
	job_harness_exec(&h, "DELETE FROM sync_state WHERE user_id = $1", "u1", NULL);
	ck_assert_int_eq(scan("{}", "k2", NULL), 0);
	ck_assert_int_eq(ncreates("google-contacts-sync"), 1);
	ck_assert_int_eq(ncreates("calendar-sync"), 1);
	ck_assert_int_eq(
	    state("u1", "contacts", "next_sync_at") - state("u1", "contacts", "updated_at"), 3600);
	ck_assert_int_eq(state("u1", "calendar:primary", "next_sync_at") -
	                     state("u1", "calendar:primary", "updated_at"),
	                 3600);

	/* A synced kind: due, enqueued, and the schedule write lost (the
	 * calendar synced quietly, not due for two hours). */
	record("u1", "calendar:primary", 0, 0, 0);
	record("u1", "contacts", 0, 2, 0);
	seen = state("u1", "contacts", "next_sync_at");
	advance_to(seen);
	ck_assert_int_eq(scan("{}", "k3", NULL), 1);
	ck_assert_int_gt(state("u1", "contacts", "next_sync_at"), seen);
	reset_next("contacts", seen);
	/* The next scan names the same task (a 409, not counted) and writes. */
	ck_assert_int_eq(scan("{}", "k4", NULL), 0);
	ck_assert_int_eq(ncreates("google-contacts-sync"), 2);
	ck_assert_int_gt(state("u1", "contacts", "next_sync_at"), seen);
	ck_assert_int_eq(
	    state("u1", "contacts", "next_sync_at") - state("u1", "contacts", "updated_at"), 1800);
	ck_assert_int_eq(scan("{}", "k5", NULL), 0);

	/* Lost write, but the sync ran before the next scan: its schedule
	 * stands and nothing more is enqueued. */
	advance_to(state("u1", "contacts", "next_sync_at"));
	seen = state("u1", "contacts", "next_sync_at");
	ck_assert_int_eq(scan("{}", "k6", NULL), 1);
	reset_next("contacts", seen);
	record("u1", "contacts", 0, 0, 0);
	ck_assert_int_eq(scan("{}", "k7", NULL), 0);
	ck_assert_int_eq(state("u1", "contacts", "next_sync_at") -
	                     state("u1", "contacts", "last_sync_at"),
	                 3600);
	ck_assert_int_eq(ncreates("google-contacts-sync"), 3);
	job_harness_close(&h);
}
END_TEST

struct bg_scan {
	struct job_run r;
};

static void *scan_in_background(void *arg)
{
	struct bg_scan *b = arg;

	job_harness_run(&h, "adaptive-sync", "{}", "bg", 0, &b->r);
	return NULL;
}

/* Starts a scan whose first task create lands at once and is answered 3 s
 * later, and waits until that create (of type) has landed. */
static void start_slow_scan(pthread_t *th, struct bg_scan *b, const char *type, long before)
{
	ck_assert_int_eq(fake_cloud_fail(&h.fc, "create", 1, 0, 3000), 0);
	ck_assert_int_eq(pthread_create(th, NULL, scan_in_background, b), 0);
	for (int i = 0; i < 1000 && ncreates(type) == before; i++)
		usleep(10000);
	ck_assert_int_eq(ncreates(type), before + 1);
}

static void finish_scan(pthread_t th, struct bg_scan *b, long enqueued)
{
	pthread_join(th, NULL);
	ck_assert_msg(b->r.outcome == JOB_OK, "%s: %s", b->r.error_code, b->r.error_msg);
	ck_assert_int_eq(job_run_int(&b->r, "enqueued"), enqueued);
	job_run_release(&b->r);
}

START_TEST(a_sync_between_enqueue_and_schedule_write_keeps_its_schedule)
{
	struct bg_scan b;
	pthread_t th;
	int64_t at;

	setup(_i);
	job_harness_add_user(&h, "u1", "u1@example.com", "rt-1");
	/* A new user: the contacts sync runs (quietly: two hours) while the
	 * scan waits for its create's answer; the scan's row is not made. */
	start_slow_scan(&th, &b, "google-contacts-sync", 0);
	at = record("u1", "contacts", 0, 0, 0);
	finish_scan(th, &b, 2);
	ck_assert_int_eq(state("u1", "contacts", "next_sync_at"), at + 7200);
	ck_assert_int_eq(state("u1", "contacts", "updated_at"), at);

	/* A synced calendar, due: its sync runs meanwhile with its channel now
	 * healthy (a day ahead); the scan's write finds another due time. */
	record("u1", "calendar:primary", 0, 4, 0);
	add_channel("ch", "u1", "primary", "active", clock_now_s() + 7 * DAY, 0);
	advance_to(state("u1", "calendar:primary", "next_sync_at"));
	start_slow_scan(&th, &b, "calendar-sync", 1);
	at = record("u1", "calendar:primary", 0, 0, 0);
	finish_scan(th, &b, 1);
	ck_assert_int_eq(state("u1", "calendar:primary", "next_sync_at"), at + DAY);
	ck_assert_int_eq(state("u1", "calendar:primary", "updated_at"), at);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("adaptive_sync");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start() || gfake_start(&g, HARNESS_CLIENT_ID, HARNESS_CLIENT_SECRET))
		return 1;
	tcase_set_timeout(tc, 280);
	tcase_add_loop_test(tc, new_users_are_synced_once_and_only_active_accounts, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, the_interval_over_a_simulated_week, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_healthy_push_channel_holds_its_calendar_at_a_day, 0,
	                    PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, the_real_syncs_record_their_interval, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, two_thousand_users_in_pages_of_tasks, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, concurrent_scans_create_each_task_once, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, dying_between_enqueue_and_schedule_write, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_sync_between_enqueue_and_schedule_write_keeps_its_schedule, 0,
	                    PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	gfake_stop(&g);
	pgtest_stop();
	return failed ? 1 : 0;
}
