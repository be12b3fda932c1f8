/*
 * scheduler.c - local mode's embedded Cloud Scheduler; see scheduler.h.
 *
 * One table, one lock, a few identical runner threads. The table holds,
 * per schedule, the slot it fires next and whether a runner is firing it
 * now (busy). A runner takes the due schedule with the earliest slot that
 * no other runner holds, fires that slot with the lock dropped, records the
 * answer, and moves the schedule on to its following slot. So a schedule
 * never has two runs in flight, its slots go out in order, and a slow
 * schedule holds one runner, not the others (there are as many runners as
 * schedules, up to SCHEDULER_MAX_RUNNERS).
 *
 * Wake-up condition of a runner with nothing due: the business clock
 * reaching the earliest slot of the idle schedules (a timed wait: between
 * advances the clock runs at real speed), the clock being advanced
 * (clock_subscribe()), a run ending (its schedule becomes idle again), or
 * scheduler_stop().
 *
 * Crash point: a slot is written to schedule_runs after its answer, never
 * before the POST. A process that dies between the two (kill -9 mid-run)
 * fires that slot again at its next start, when it is still the latest one
 * missed: at-least-once. That is safe because /jobs claims the key
 * JobName/ScheduleTime (SPEC §5.1), so a run that had completed answers
 * "duplicate", and every scheduled job is a scan that its next run repeats
 * anyway. Writing first would make the same crash lose the slot.
 */
#include "scheduler.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http_client.h"
#include "local_keys.h"
#include "log.h"
#include "queues.h"
#include "store.h"
#include "timeutil.h"

/* No slot: the schedule's cron never matches again (e.g. "0 0 31 2 *"). */
#define NO_SLOT INT64_MAX
/* The business clock is the wall clock plus an offset, and nothing signals
 * a step of the wall clock itself (NTP): an idle runner looks again after
 * at most this long. */
#define MAX_IDLE_WAIT_MS 60000
/* Missed slots are searched backwards from now in windows growing from
 * this, so a long downtime costs a few thousand cron_next() calls at most. */
#define MISSED_FIRST_WINDOW_S (2 * 86400)
#define ANSWER_EXCERPT 200

struct entry {
	const struct schedule_config *sc;
	char *url; /* base_url/jobs/{jobType} */
	char *body; /* the payload, compact JSON */
	int64_t next; /* the slot to fire next; guarded by lock */
	int64_t manual; /* scheduler_fire(): the run's schedule time, 0: none; guarded by lock */
	int busy; /* a runner is firing it; guarded by lock */
};

struct scheduler {
	struct scheduler_options o;
	struct entry *e;
	size_t n;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* on the monotonic clock */
	pthread_t runners[SCHEDULER_MAX_RUNNERS];
	int nrunners;
	int subscribed;
	atomic_int stopping; /* read without the lock by runs in flight */
};

/* ---- slots ---- */

static int64_t slot_after(const struct entry *e, int64_t t)
{
	int64_t next;

	if (cron_next(&e->sc->cron, e->sc->zone, t, &next))
		return NO_SLOT;
	return next;
}

/* The latest slot in (after, now], or -1 when there is none. */
static int64_t latest_missed(const struct entry *e, int64_t after, int64_t now)
{
	int64_t window = MISSED_FIRST_WINDOW_S, from, t, next, found;

	for (;;) {
		from = now - after <= window ? after : now - window;
		found = -1;
		for (t = from; (next = slot_after(e, t)) <= now; t = next)
			found = next;
		if (found >= 0 || from == after)
			return found;
		window = window > (INT64_MAX >> 5) ? INT64_MAX : window * 16;
	}
}

static const char *rfc3339(int64_t t, char *out, size_t outlen)
{
	return time_format_rfc3339((double)t, 0, out, outlen);
}

/* The first slot a schedule fires after a start. last: the slot recorded
 * in schedule_runs, or -1 without a row. */
static int64_t first_slot(const struct entry *e, int64_t last, int64_t now)
{
	char a[40], b[40];
	int64_t missed;

	if (last < 0)
		return slot_after(e, now);
	if (last > now) {
		log_msg(L_WARNING,
		        "schedule \"%s\": its last run (%s) is ahead of the clock (%s); starting "
		        "from now",
		        e->sc->name, rfc3339(last, a, sizeof(a)), rfc3339(now, b, sizeof(b)));
		return slot_after(e, now);
	}
	missed = latest_missed(e, last, now);
	if (missed < 0)
		return slot_after(e, last);
	log_msg(L_INFO,
	        "schedule \"%s\": slots were missed while the service was down; firing "
	        "the latest, %s, once",
	        e->sc->name, rfc3339(missed, a, sizeof(a)));
	return missed;
}

/* ---- schedule_runs ---- */

static const char SQL_SELECT[] = "SELECT name, last_slot FROM schedule_runs";

/* A schedule seen for the first time: "now" is its baseline (last_status
 * and last_fired_at NULL: nothing fired yet), so a first slot that passes
 * while the process is down still fires once at the next start. Written
 * before any run; dying right after it loses nothing (the row only says
 * where to start from). */
static const char SQL_BASELINE[] =
    "INSERT INTO schedule_runs (name, last_slot) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

/* A slot answered (last_status: its HTTP status, 0 for no answer) or given
 * up; last_fired_at: when it went out, on the business clock. */
static const char SQL_RECORD[] =
    "INSERT INTO schedule_runs (name, last_slot, last_status, last_fired_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET last_slot = excluded.last_slot, "
    "last_status = excluded.last_status, last_fired_at = excluded.last_fired_at";

/* A run an operator fired (scheduler_fire()): its answer is recorded, but
 * not as the last slot, which says which cron slots have fired. */
static const char SQL_RECORD_MANUAL[] =
    "INSERT INTO schedule_runs (name, last_slot, last_status, last_fired_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
    "last_status = excluded.last_status, last_fired_at = excluded.last_fired_at";

/* Each entry's recorded slot into last[] (-1: no row). CJ_OK or the
 * store's error. */
static int load_runs(struct scheduler *s, int64_t *last, char *err, size_t errlen)
{
	struct store_rows *rows = NULL;
	size_t i;
	int rc;

	for (i = 0; i < s->n; i++)
		last[i] = -1;
	if (!s->o.store)
		return CJ_OK;
	rc = store_exec(s->o.store, SQL_SELECT, NULL, 0, &rows, err, errlen);
	if (rc)
		return rc;
	while (store_rows_next(rows)) {
		const char *name = store_rows_text(rows, 0);

		for (i = 0; name && i < s->n; i++)
			if (!strcmp(name, s->e[i].sc->name))
				last[i] = store_rows_int(rows, 1);
	}
	store_rows_free(rows);
	return CJ_OK;
}

static void store_baseline(struct scheduler *s, const struct entry *e, int64_t now)
{
	struct store_param p[] = {store_p_text(e->sc->name), store_p_int(now)};
	char err[256] = "";
	int rc;

	if (!s->o.store)
		return;
	rc = store_exec(s->o.store, SQL_BASELINE, p, 2, NULL, err, sizeof(err));
	if (rc)
		log_msg(L_WARNING, "schedule \"%s\": cannot record its start: %s", e->sc->name,
		        err[0] ? err : cj_strerror(rc));
}

static void store_run(struct scheduler *s, const struct entry *e, int64_t slot, int manual,
                      long status, double fired_at)
{
	struct store_param p[] = {store_p_text(e->sc->name), store_p_int(slot), store_p_int(status),
	                          store_p_double(fired_at)};
	char err[256] = "";
	int rc;

	if (!s->o.store)
		return;
	rc = store_exec(s->o.store, manual ? SQL_RECORD_MANUAL : SQL_RECORD, p, 4, NULL, err,
	                sizeof(err));
	if (rc)
		log_msg(L_WARNING,
		        "schedule \"%s\": cannot record its run: %s (a restart may fire it again)",
		        e->sc->name, err[0] ? err : cj_strerror(rc));
}

/* ---- one run ---- */

static int stop_requested(void *arg)
{
	struct scheduler *s = arg;

	return atomic_load(&s->stopping);
}

/* One line per run: `scheduled run "NAME" for SLOT WHAT`, with the
 * schedule, slot, job type, outcome, duration and HTTP status as fields. */
static void log_run(const struct entry *e, const char *when, const char *outcome, long status,
                    int64_t ms, const char *what)
{
	enum log_level level =
	    strcmp(outcome, "completed") && strcmp(outcome, "cut_off") ? L_ERROR : L_INFO;
	json_t *f =
	    json_pack("{s:s, s:s, s:s, s:s, s:I}", "schedule", e->sc->name, "scheduleTime", when,
	              "jobType", e->sc->job_type, "outcome", outcome, "durationMs", (json_int_t)ms);

	if (f && status)
		json_object_set_new(f, "httpStatus", json_integer(status));
	log_fields(level, f, "scheduled run \"%s\" for %s %s", e->sc->name, when, what);
	json_decref(f);
}

/* The answer's outcome, and what the log line says about it. */
static const char *describe(const struct entry *e, int rc, const struct http_response *resp,
                            const char *cerr, int64_t ms, char *what, size_t whatlen)
{
	if (rc == CJ_OK && resp->status >= 200 && resp->status < 300) {
		snprintf(what, whatlen, "answered HTTP %ld in %lld ms", resp->status,
		         (long long)ms);
		return "completed";
	}
	if (rc == CJ_OK) {
		snprintf(what, whatlen, "failed: HTTP %ld in %lld ms: %.*s", resp->status,
		         (long long)ms, ANSWER_EXCERPT, buf_str(&resp->body));
		return "failed";
	}
	if (rc == CJ_ETIMEOUT)
		snprintf(what, whatlen, "failed: no answer within its attemptDeadline (%.0f s)",
		         e->sc->attempt_deadline);
	else
		snprintf(what, whatlen, "failed after %lld ms: %s%s%s", (long long)ms,
		         cj_strerror(rc), cerr[0] ? ": " : "", cerr);
	return "no_answer";
}

/* The request's headers and token, then the call. */
static int post_slot(struct scheduler *s, const struct entry *e, const char *when,
                     struct http_response *resp, char *cerr, size_t cerrlen)
{
	char jobname[600], stime[80], *token = NULL, *auth = NULL;
	struct http_request req = {0};
	int rc;

	/* Issued on real time, never the business clock: a token's lifetime is
	 * judged by real clocks. */
	rc = local_keys_mint_cached(s->o.keys, s->o.audience, s->o.email, &token);
	if (rc) {
		snprintf(cerr, cerrlen, "cannot sign its token");
		return rc;
	}
	if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
		free(token);
		return CJ_ENOMEM;
	}
	free(token);
	snprintf(jobname, sizeof(jobname), "X-CloudScheduler-JobName: %s", e->sc->name);
	snprintf(stime, sizeof(stime), "X-CloudScheduler-ScheduleTime: %s", when);
	{
		const char *headers[] = {"Content-Type: application/json",
		                         "X-CloudScheduler: true",
		                         jobname,
		                         stime,
		                         "User-Agent: Google-Cloud-Scheduler",
		                         auth,
		                         NULL};

		req.method = "POST";
		req.url = e->url;
		req.headers = headers;
		req.body = e->body;
		req.body_len = strlen(e->body);
		req.timeout_ms = (long)(e->sc->attempt_deadline * 1000);
		req.upstream = "scheduler";
		req.op = e->sc->job_type;
		req.cancelled = stop_requested;
		req.cancel_arg = s;
		rc = http_do(&req, resp, cerr, cerrlen);
	}
	free(auth);
	return rc;
}

/* Fires one slot (manual: one an operator asked for) and records its
 * answer. 1 when the slot is done (whatever the answer: nothing is
 * retried), 0 when scheduler_stop() cut it off (not recorded, so the next
 * start fires a cron slot again; a manual run is dropped). */
static int run_slot(struct scheduler *s, const struct entry *e, int64_t slot, int manual)
{
	char when[40], what[ANSWER_EXCERPT + 160], cerr[256] = "";
	struct http_response resp = {0};
	double fired_at = clock_now();
	int64_t start = time_mono_ms(), ms;
	const char *outcome;
	long status;
	int rc;

	rfc3339(slot, when, sizeof(when));
	if (manual)
		log_msg(L_INFO, "schedule \"%s\" fired by an operator, for %s", e->sc->name, when);
	rc = post_slot(s, e, when, &resp, cerr, sizeof(cerr));
	ms = time_mono_ms() - start;
	status = rc == CJ_OK ? resp.status : 0;
	if (rc == CJ_ETIMEOUT && atomic_load(&s->stopping)) {
		http_response_release(&resp);
		log_run(e, when, "cut_off", 0, ms,
		        "cut off by shutdown; it fires again at the next start");
		return 0;
	}
	outcome = describe(e, rc, &resp, cerr, ms, what, sizeof(what));
	log_run(e, when, outcome, status, ms, what);
	http_response_release(&resp);
	/* After the answer: see the crash point at the top of this file. */
	store_run(s, e, slot, manual, status, fired_at);
	return 1;
}

/* ---- runners ---- */

/* The due idle schedule with the earliest slot (file order breaks ties),
 * or NULL; *earliest gets the earliest slot of all idle schedules, and
 * *manual whether the slot to fire is a run an operator asked for (which
 * goes before a cron slot only when it is earlier). Caller holds the lock. */
static struct entry *take_due(struct scheduler *s, int64_t now, int64_t *earliest, int *manual)
{
	struct entry *best = NULL;
	int64_t due;
	size_t i;

	*earliest = NO_SLOT;
	*manual = 0;
	for (i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];

		if (e->busy)
			continue;
		due = e->manual && e->manual < e->next ? e->manual : e->next;
		if (due >= *earliest)
			continue;
		*earliest = due;
		if (due <= now) {
			best = e;
			*manual = due != e->next;
		}
	}
	return best;
}

/* Waits until the business clock may have reached due (NO_SLOT: until
 * woken). Caller holds the lock. */
static void wait_for_slot(struct scheduler *s, int64_t due)
{
	struct timespec ts;
	double left_ms;
	int64_t until;

	if (due == NO_SLOT) {
		pthread_cond_wait(&s->wake, &s->lock);
		return;
	}
	left_ms = ((double)due - clock_now()) * 1000.0 + 1.0;
	if (left_ms <= 0)
		return;
	until = time_mono_ms() + (left_ms > MAX_IDLE_WAIT_MS ? MAX_IDLE_WAIT_MS : (int64_t)left_ms);
	ts.tv_sec = until / 1000;
	ts.tv_nsec = (long)(until % 1000) * 1000000L;
	pthread_cond_timedwait(&s->wake, &s->lock, &ts);
}

static void *runner_main(void *arg)
{
	struct scheduler *s = arg;
	struct entry *e;
	int64_t slot, earliest;
	int done, manual;

	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stopping)) {
		e = take_due(s, clock_now_s(), &earliest, &manual);
		if (!e) {
			wait_for_slot(s, earliest);
			continue;
		}
		e->busy = 1;
		slot = manual ? e->manual : e->next;
		if (manual)
			e->manual = 0;
		pthread_mutex_unlock(&s->lock);
		done = run_slot(s, e, slot, manual);
		pthread_mutex_lock(&s->lock);
		if (done && !manual)
			e->next = slot_after(e, slot);
		e->busy = 0;
		pthread_cond_broadcast(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* clock_subscribe() callback: the clock moved, slots may be due. */
static void on_clock_moved(void *arg)
{
	struct scheduler *s = arg;

	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* ---- life cycle ---- */

static int prepare_entries(struct scheduler *s, char *err, size_t errlen)
{
	int64_t now = clock_now_s(), *last;
	char why[256] = "";
	size_t i;
	int rc;

	s->n = queues_schedule_count(s->o.queues);
	s->e = calloc(s->n + 1, sizeof(*s->e));
	last = calloc(s->n + 1, sizeof(*last));
	if (!s->e || !last) {
		free(last);
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory starting the scheduler");
	}
	for (i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];

		e->sc = queues_schedule_at(s->o.queues, i);
		e->body = json_dumps(e->sc->payload, JSON_COMPACT);
		if (!e->body ||
		    asprintf(&e->url, "%s/jobs/%s", s->o.base_url, e->sc->job_type) < 0) {
			e->url = NULL;
			free(last);
			return cj_errorf(err, errlen, CJ_ENOMEM,
			                 "out of memory starting the scheduler");
		}
	}
	rc = load_runs(s, last, why, sizeof(why));
	if (rc)
		log_msg(L_WARNING,
		        "cannot read the schedules' last runs: %s; every schedule starts from now",
		        why[0] ? why : cj_strerror(rc));
	for (i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];
		char when[40];

		if (last[i] < 0 && !rc)
			store_baseline(s, e, now);
		e->next = first_slot(e, last[i], now);
		if (e->next == NO_SLOT)
			log_msg(L_WARNING, "schedule \"%s\" (\"%s\") never fires", e->sc->name,
			        e->sc->schedule);
		else
			log_msg(L_DEBUG, "schedule \"%s\" fires next at %s", e->sc->name,
			        rfc3339(e->next, when, sizeof(when)));
	}
	free(last);
	return CJ_OK;
}

int scheduler_start(const struct scheduler_options *o, struct scheduler **out, char *err,
                    size_t errlen)
{
	struct scheduler *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int rc, want;

	*out = NULL;
	if (!s)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory starting the scheduler");
	s->o = *o;
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		return cj_errorf(err, errlen, CJ_EINTERNAL, "scheduler: cannot create a mutex");
	}
	if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&s->wake, &ca)) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return cj_errorf(err, errlen, CJ_EINTERNAL, "scheduler: cannot create a condition");
	}
	pthread_condattr_destroy(&ca);
	rc = prepare_entries(s, err, errlen);
	if (rc)
		goto fail;
	if (s->n == 0) {
		log_msg(L_INFO, "scheduler: no schedules");
		*out = s;
		return CJ_OK;
	}
	if (clock_subscribe(on_clock_moved, s)) {
		rc = cj_errorf(err, errlen, CJ_EINTERNAL, "scheduler: too many clock subscribers");
		goto fail;
	}
	s->subscribed = 1;
	want = s->n < SCHEDULER_MAX_RUNNERS ? (int)s->n : SCHEDULER_MAX_RUNNERS;
	for (; s->nrunners < want; s->nrunners++) {
		if (pthread_create(&s->runners[s->nrunners], NULL, runner_main, s)) {
			rc = cj_errorf(err, errlen, CJ_EINTERNAL,
			               "scheduler: cannot start a thread: %s", strerror(errno));
			goto fail;
		}
	}
	log_msg(L_INFO, "scheduler: %zu schedules, %d runners", s->n, s->nrunners);
	*out = s;
	return CJ_OK;
fail:
	scheduler_free(s);
	return rc;
}

int scheduler_fire(struct scheduler *s, const char *name, int64_t *schedule_time, char *err,
                   size_t errlen)
{
	struct entry *e = NULL;
	size_t i;
	int rc = CJ_OK;

	*schedule_time = 0;
	pthread_mutex_lock(&s->lock);
	for (i = 0; name && i < s->n && !e; i++)
		if (!strcmp(s->e[i].sc->name, name))
			e = &s->e[i];
	if (!e)
		rc = cj_errorf(err, errlen, CJ_ENOTFOUND, "no schedule \"%.100s\"", name);
	else if (atomic_load(&s->stopping))
		rc = cj_errorf(err, errlen, CJ_EUNAVAIL, "the scheduler is stopping");
	if (!rc) {
		/* A run already asked for and not started yet is that run. */
		if (!e->manual)
			e->manual = clock_now_s();
		*schedule_time = e->manual;
		pthread_cond_broadcast(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int scheduler_last_runs(struct store *st, const struct queues *q, struct scheduler_last_run *out,
                        char *err, size_t errlen)
{
	size_t n = queues_schedule_count(q), i;
	struct store_rows *rows = NULL;
	int rc;

	for (i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	rc = store_exec(st, "SELECT name, last_fired_at, last_status FROM schedule_runs", NULL, 0,
	                &rows, err, errlen);
	if (rc)
		return rc;
	while (store_rows_next(rows)) {
		const char *name = store_rows_text(rows, 0);

		if (!name || store_rows_is_null(rows, 1))
			continue; /* a baseline: nothing fired yet */
		for (i = 0; i < n; i++) {
			if (strcmp(name, queues_schedule_at(q, i)->name))
				continue;
			out[i].fired = 1;
			out[i].at = (int64_t)store_rows_double(rows, 1);
			out[i].status = store_rows_is_null(rows, 2) ? 0 : (long)store_rows_int(rows, 2);
		}
	}
	store_rows_free(rows);
	return CJ_OK;
}

void scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stopping, 1);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	for (; s->nrunners > 0; s->nrunners--)
		pthread_join(s->runners[s->nrunners - 1], NULL);
	if (s->subscribed) {
		clock_unsubscribe(on_clock_moved, s);
		s->subscribed = 0;
	}
}

void scheduler_free(struct scheduler *s)
{
	size_t i;

	if (!s)
		return;
	scheduler_stop(s);
	for (i = 0; s->e && i < s->n; i++) {
		free(s->e[i].url);
		free(s->e[i].body);
	}
	free(s->e);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
