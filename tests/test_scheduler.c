/*
 * test_scheduler.c - unit tests for src/scheduler.c: the embedded Cloud
 * Scheduler driven in-process on the business clock (clock_advance()),
 * firing at a recording HTTP sink (support/http_sink), with schedule_runs
 * on SQLite and a real PostgreSQL.
 *
 * Checked: a run's request (path, body, Cloud Scheduler's headers, a token
 * the project's verifier accepts); slots on a zone's wall clock; a day of
 * the repository's schedules fired in order, each schedule its cron's count
 * of times, no run of a schedule overlapping its previous one; a slow
 * schedule holding up neither the others nor its own order; failures not
 * retried; attemptDeadline enforced; slots missed while stopped fired once;
 * a new schedule starting from now; a run cut off by stop (the crash point:
 * dying between the POST and the write) fired again at the next start; an
 * empty schedule list; a run an operator fires (scheduler_fire()).
 *
 * Every test first moves the clock to one second past a whole minute, so
 * the wall clock's own progress cannot reach the next slot while it runs.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckrun.h"
#include "clock.h"
#include "config.h"
#include "cron.h"
#include "http_client.h"
#include "http_sink.h"
#include "jwks.h"
#include "local_keys.h"
#include "migrate.h"
#include "oidc.h"
#include "pgtest.h"
#include "proc.h"
#include "queues.h"
#include "scheduler.h"
#include "store.h"
#include "timeutil.h"
#include "tz.h"

#define AUD "http://127.0.0.1:8080"
#define EMAIL "local-tasks@catchup-jobs.local"

/* Loaded once in main(), before the tests fork; immutable. */
static struct local_keys *KEYS;
static char *KEYS_DIR;

struct world {
	char *tmp; /* config/ */
	char *dbdir;
	char *url;
	struct store *store;
	struct queues *queues;
	struct http_sink *sink;
	struct scheduler *sched;
};

static const char *source_root(void)
{
	return getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* A config dir with the repository's queues.json and the given schedules
 * (NULL: the repository's schedules.json too). */
static char *config_dir(const char *tmp, const char *schedules)
{
	char *dir, src[1024], path[1200];
	json_t *j;

	ck_assert_int_ne(asprintf(&dir, "%s/config", tmp), -1);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(src, sizeof(src), "%s/config/queues.json", source_root());
	j = json_load_file(src, 0, NULL);
	ck_assert_ptr_nonnull(j);
	snprintf(path, sizeof(path), "%s/queues.json", dir);
	ck_assert_int_eq(json_dump_file(j, path, 0), 0);
	json_decref(j);
	snprintf(path, sizeof(path), "%s/schedules.json", dir);
	if (schedules) {
		write_file(path, schedules);
	} else {
		snprintf(src, sizeof(src), "%s/config/schedules.json", source_root());
		j = json_load_file(src, 0, NULL);
		ck_assert_ptr_nonnull(j);
		ck_assert_int_eq(json_dump_file(j, path, 0), 0);
		json_decref(j);
	}
	return dir;
}

static void world_open(struct world *w, int backend, const char *schedules)
{
	char err[512] = "", *dir;

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(http_client_global_init(), CJ_OK);
	w->tmp = make_temp_dir();
	dir = config_dir(w->tmp, schedules);
	ck_assert_msg(queues_load(dir, &w->queues, err, sizeof(err)) == CJ_OK, "%s", err);
	free(dir);
	w->url = pgtest_backend_url(backend, &w->dbdir);
	ck_assert_ptr_nonnull(w->url);
	ck_assert_msg(store_open(w->url, &w->store, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_msg(migrate_run(w->store, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	w->sink = http_sink_start();
	ck_assert_ptr_nonnull(w->sink);
}

static void world_start(struct world *w)
{
	struct scheduler_options o = {w->queues, w->store, KEYS, http_sink_url(w->sink),
	                              AUD,       EMAIL};
	char err[256] = "";

	ck_assert_msg(scheduler_start(&o, &w->sched, err, sizeof(err)) == CJ_OK, "%s", err);
}

static void world_close(struct world *w)
{
	scheduler_free(w->sched);
	http_sink_stop(w->sink);
	store_close(w->store);
	queues_free(w->queues);
	if (w->dbdir) {
		remove_tree(w->dbdir);
		free(w->dbdir);
	}
	remove_tree(w->tmp);
	free(w->tmp);
	free(w->url);
	http_client_global_cleanup();
}

/* Moves the business clock forward to t (no-op when it is there). */
static void advance_to(int64_t t)
{
	int64_t d = t - clock_now_s();

	if (d > 0)
		ck_assert_int_ge(clock_advance(d), 0);
}

/* Moves the clock to one second past the next whole minute; returns that
 * minute. */
static int64_t align(void)
{
	int64_t m = (clock_now_s() / 60 + 1) * 60;

	advance_to(m + 1);
	return m;
}

static const char *rfc3339(int64_t t, char *out, size_t n)
{
	return time_format_rfc3339((double)t, 0, out, n);
}

static int64_t parse_time(const char *s)
{
	double t = 0;

	ck_assert_msg(time_parse_rfc3339(s, &t) == CJ_OK, "not RFC 3339: \"%s\"", s);
	return (int64_t)t;
}

/* Waits for exactly n requests: n arrive, and no more within settle_ms. */
static struct sink_request *exactly(struct world *w, size_t n, int answered, int timeout_ms,
                                    int settle_ms)
{
	struct sink_request *r;
	size_t got;

	ck_assert_msg(http_sink_wait(w->sink, n, answered, timeout_ms) == 0,
	              "expected %zu requests, got %zu", n, http_sink_count(w->sink));
	msleep(settle_ms);
	r = http_sink_requests(w->sink, &got);
	ck_assert_msg(got == n, "expected %zu requests, got %zu", n, got);
	return r;
}

struct run_row {
	int found;
	int64_t last_slot;
	int status_null;
	int64_t status;
	int fired_null;
};

static struct run_row row(struct world *w, const char *name)
{
	struct store_param p[] = {store_p_text(name)};
	struct store_rows *rows = NULL;
	struct run_row out = {0};
	char err[256] = "";

	ck_assert_msg(store_exec(w->store,
	                         "SELECT last_slot, last_status, last_fired_at FROM schedule_runs "
	                         "WHERE name = $1",
	                         p, 1, &rows, err, sizeof(err)) == CJ_OK,
	              "%s", err);
	if (store_rows_next(rows)) {
		out.found = 1;
		out.last_slot = store_rows_int(rows, 0);
		out.status_null = store_rows_is_null(rows, 1);
		out.status = store_rows_int(rows, 1);
		out.fired_null = store_rows_is_null(rows, 2);
	}
	store_rows_free(rows);
	return out;
}

static void verify_token(const char *authorization)
{
	static char *iss[] = {"https://accounts.google.com"};
	static char *aud[] = {AUD};
	static char *allowed[] = {EMAIL};
	const struct strlist issuers = {iss, 1}, audiences = {aud, 1}, emails = {allowed, 1};
	struct jwks *jw = jwks_new(NULL);
	struct oidc *o;
	struct oidc_identity who;
	const char *reason = "";

	ck_assert_ptr_nonnull(authorization);
	ck_assert_ptr_nonnull(jw);
	ck_assert_int_eq(local_keys_trust(KEYS, jw), CJ_OK);
	o = oidc_new(jw, &issuers, &audiences);
	ck_assert_ptr_nonnull(o);
	/* On real time: a token's lifetime is judged by real clocks. */
	ck_assert_msg(oidc_verify(o, authorization, &emails, time_wall_s(), &who, &reason) == CJ_OK,
	              "token refused: %s", reason);
	ck_assert_str_eq(who.email, EMAIL);
	oidc_free(o);
	jwks_free(jw);
}

#define EVERY_MINUTE                                                                               \
	"{\"schedules\": [{\"name\": \"ping-every-minute\", \"schedule\": \"* * * * *\", "         \
	"\"timeZone\": \"Etc/UTC\", \"jobType\": \"ping\", \"payload\": {\"hello\": \"world\"}, "  \
	"\"attemptDeadline\": \"30s\"}]}"

START_TEST(a_slot_fires_like_cloud_scheduler)
{
	struct world w;
	struct sink_request *r;
	char when[40];
	int64_t m;

	world_open(&w, PGTEST_SQLITE, EVERY_MINUTE);
	m = align() + 60;
	world_start(&w);
	msleep(300);
	ck_assert_int_eq(http_sink_count(w.sink), 0); /* a new schedule starts from now */
	advance_to(m);
	r = exactly(&w, 1, 1, 5000, 300);
	ck_assert_str_eq(r[0].method, "POST");
	ck_assert_str_eq(r[0].path, "/jobs/ping");
	ck_assert_str_eq(r[0].body, "{\"hello\":\"world\"}");
	ck_assert_str_eq(r[0].content_type, "application/json");
	ck_assert_str_eq(r[0].scheduler, "true");
	ck_assert_str_eq(r[0].job_name, "ping-every-minute");
	ck_assert_str_eq(r[0].schedule_time, rfc3339(m, when, sizeof(when)));
	ck_assert_str_eq(r[0].user_agent, "Google-Cloud-Scheduler");
	ck_assert_int_eq(strncmp(r[0].authorization, "Bearer ", 7), 0);
	verify_token(r[0].authorization);
	http_sink_requests_free(r, 1);
	/* The answered slot is recorded with its status. */
	{
		struct run_row rr = row(&w, "ping-every-minute");

		ck_assert(rr.found);
		ck_assert_int_eq(rr.last_slot, m);
		ck_assert_int_eq(rr.status, 200);
		ck_assert(!rr.fired_null);
	}
	world_close(&w);
}
END_TEST

/* 09:00 in New York is 13:00Z in summer and 14:00Z in winter: slots are
 * wall-clock times of the schedule's zone. */
START_TEST(slots_are_wall_clock_times_of_the_zone)
{
	static const char sched[] =
	    "{\"schedules\": [{\"name\": \"ny-nine\", \"schedule\": \"0 9 * * *\", "
	    "\"timeZone\": \"America/New_York\", \"jobType\": \"ping\", \"payload\": {}, "
	    "\"attemptDeadline\": \"30s\"}]}";
	const struct tz *ny;
	struct sink_request *r;
	struct world w;
	char err[128];
	int64_t t0;
	size_t i;

	world_open(&w, PGTEST_SQLITE, sched);
	ny = tz_get("America/New_York", err, sizeof(err));
	ck_assert_msg(ny != NULL, "%s", err);
	t0 = align() + 1;
	world_start(&w);
	advance_to(t0 + 3 * 86400);
	r = exactly(&w, 3, 1, 5000, 300);
	for (i = 0; i < 3; i++) {
		int64_t t = parse_time(r[i].schedule_time);
		struct tm tm;

		ck_assert_int_eq(tz_utc_to_local(ny, t, &tm, NULL), CJ_OK);
		ck_assert_msg(tm.tm_hour == 9 && tm.tm_min == 0, "%s is %02d:%02d in New York",
		              r[i].schedule_time, tm.tm_hour, tm.tm_min);
		ck_assert(t > t0 && t <= t0 + 3 * 86400);
		if (i)
			ck_assert(t > parse_time(r[i - 1].schedule_time));
	}
	http_sink_requests_free(r, 3);
	world_close(&w);
}
END_TEST

/* Checks, per schedule of q, that the runs are exactly its cron's slots in
 * (from, to], in order, none started before the previous one's answer. */
static void check_runs(const struct queues *q, const struct sink_request *r, size_t n, int64_t from,
                       int64_t to)
{
	size_t i, j, total = 0;

	for (i = 0; i < queues_schedule_count(q); i++) {
		const struct schedule_config *sc = queues_schedule_at(q, i);
		const struct sink_request *prev = NULL;
		int64_t slot = from;
		char want[40], path[300];

		snprintf(path, sizeof(path), "/jobs/%s", sc->job_type);
		for (j = 0; j < n; j++) {
			if (strcmp(r[j].job_name, sc->name))
				continue;
			ck_assert_int_eq(cron_next(&sc->cron, sc->zone, slot, &slot), CJ_OK);
			ck_assert_msg(slot <= to, "%s fired past the end: %s", sc->name,
			              r[j].schedule_time);
			ck_assert_msg(
			    !strcmp(r[j].schedule_time, rfc3339(slot, want, sizeof(want))),
			    "%s: run %s, expected slot %s", sc->name, r[j].schedule_time, want);
			ck_assert_str_eq(r[j].path, path);
			if (prev)
				ck_assert_msg(r[j].arrived_ms >= prev->answered_ms,
				              "%s: run %s started before %s was answered", sc->name,
				              r[j].schedule_time, prev->schedule_time);
			prev = &r[j];
			total++;
		}
		/* Nothing left over: the next slot is past the end. */
		ck_assert_int_eq(cron_next(&sc->cron, sc->zone, slot, &slot), CJ_OK);
		ck_assert_msg(slot > to, "%s did not fire %s", sc->name,
		              rfc3339(slot, want, sizeof(want)));
	}
	ck_assert_int_eq(total, n);
}

START_TEST(a_day_of_the_repository_schedules_fires_in_order)
{
	struct sink_request *r;
	struct world w;
	int64_t t0;
	size_t n = 0, i;

	world_open(&w, PGTEST_SQLITE, NULL);
	t0 = align() + 1;
	world_start(&w);
	advance_to(t0 + 86400);
	/* How many the crons say, counted independently of the scheduler. */
	for (i = 0; i < queues_schedule_count(w.queues); i++) {
		const struct schedule_config *sc = queues_schedule_at(w.queues, i);
		int64_t t = t0;

		while (!cron_next(&sc->cron, sc->zone, t, &t) && t <= t0 + 86400)
			n++;
	}
	ck_assert_int_gt(n, 500); /* 582 with the repository's schedules */
	r = exactly(&w, n, 1, 120000, 500);
	check_runs(w.queues, r, n, t0, t0 + 86400);
	http_sink_requests_free(r, n);
	world_close(&w);
}
END_TEST

START_TEST(a_slow_schedule_holds_up_no_other)
{
	static const char sched[] =
	    "{\"schedules\": ["
	    "{\"name\": \"slow\", \"schedule\": \"* * * * *\", \"timeZone\": \"Etc/UTC\", "
	    "\"jobType\": \"ping\", \"payload\": {\"sleepMs\": 400}, \"attemptDeadline\": \"30s\"},"
	    "{\"name\": \"fast\", \"schedule\": \"* * * * *\", \"timeZone\": \"Etc/UTC\", "
	    "\"jobType\": \"ping\", \"payload\": {}, \"attemptDeadline\": \"30s\"}]}";
	struct sink_request *r;
	struct world w;
	int64_t t0, fast_done = 0, slow_second = 0;
	int fast = 0, slow = 0;
	size_t i;

	world_open(&w, PGTEST_SQLITE, sched);
	t0 = align() + 1;
	world_start(&w);
	advance_to(t0 + 300);
	r = exactly(&w, 10, 1, 10000, 300);
	check_runs(w.queues, r, 10, t0, t0 + 300);
	for (i = 0; i < 10; i++) {
		if (!strcmp(r[i].job_name, "fast") && ++fast == 5)
			fast_done = r[i].answered_ms;
		if (!strcmp(r[i].job_name, "slow") && ++slow == 2)
			slow_second = r[i].answered_ms;
	}
	ck_assert_msg(fast_done < slow_second,
	              "the fast schedule waited for the slow one (%lld ms vs %lld ms)",
	              (long long)fast_done, (long long)slow_second);
	http_sink_requests_free(r, 10);
	world_close(&w);
}
END_TEST

START_TEST(a_failed_run_is_not_retried)
{
	struct sink_request *r;
	struct world w;
	int64_t t0;

	world_open(&w, PGTEST_SQLITE, EVERY_MINUTE);
	http_sink_answer(w.sink, 503);
	t0 = align() + 1;
	world_start(&w);
	advance_to(t0 + 180);
	r = exactly(&w, 3, 1, 5000, 500);
	check_runs(w.queues, r, 3, t0, t0 + 180);
	http_sink_requests_free(r, 3);
	ck_assert_int_eq(row(&w, "ping-every-minute").status, 503);
	world_close(&w);
}
END_TEST

/* A run unanswered after attemptDeadline (15 s, the least allowed) is
 * given up: the schedule's next slot goes out then, not before. */
START_TEST(attempt_deadline_is_enforced)
{
	static const char sched[] =
	    "{\"schedules\": [{\"name\": \"short\", \"schedule\": \"* * * * *\", "
	    "\"timeZone\": \"Etc/UTC\", \"jobType\": \"ping\", \"payload\": {}, "
	    "\"attemptDeadline\": \"15s\"}]}";
	struct sink_request *r;
	struct world w;
	int64_t t0, gap;
	size_t n;

	world_open(&w, PGTEST_SQLITE, sched);
	http_sink_hold(w.sink, 1);
	t0 = align() + 1;
	world_start(&w);
	advance_to(t0 + 120);
	ck_assert_int_eq(http_sink_wait(w.sink, 1, 0, 5000), 0);
	ck_assert_int_eq(http_sink_wait(w.sink, 2, 0, 20000), 0);
	r = http_sink_requests(w.sink, &n);
	gap = r[1].arrived_ms - r[0].arrived_ms;
	ck_assert_msg(gap >= 14900 && gap < 18000, "second run %lld ms after the first",
	              (long long)gap);
	ck_assert_int_eq(row(&w, "short").status, 0); /* no answer */
	http_sink_requests_free(r, n);
	http_sink_hold(w.sink, 0);
	world_close(&w);
}
END_TEST

/* Slots missed while the scheduler was down fire once at the next start:
 * the latest of them. */
START_TEST(missed_slots_fire_once_at_start)
{
	struct sink_request *r;
	struct world w;
	char want[40];
	int64_t t0, latest;

	world_open(&w, _i, EVERY_MINUTE);
	t0 = align() + 1;
	world_start(&w);
	advance_to(t0 + 60);
	r = exactly(&w, 1, 1, 5000, 100);
	http_sink_requests_free(r, 1);
	scheduler_free(w.sched);
	w.sched = NULL;
	http_sink_reset(w.sink);
	/* Three hours down. */
	advance_to(t0 + 60 + 3 * 3600);
	latest = (clock_now_s() / 60) * 60;
	world_start(&w);
	r = exactly(&w, 1, 1, 5000, 500);
	ck_assert_str_eq(r[0].schedule_time, rfc3339(latest, want, sizeof(want)));
	http_sink_requests_free(r, 1);
	ck_assert_int_eq(row(&w, "ping-every-minute").last_slot, latest);
	/* Then every slot again. */
	http_sink_reset(w.sink);
	advance_to(latest + 120);
	r = exactly(&w, 2, 1, 5000, 300);
	check_runs(w.queues, r, 2, latest, latest + 120);
	http_sink_requests_free(r, 2);
	world_close(&w);
}
END_TEST

/* A schedule without a row starts from now, and that start is recorded: a
 * first slot passing while the scheduler is down fires at the next start. */
START_TEST(a_new_schedule_starts_from_now)
{
	struct sink_request *r;
	struct run_row rr;
	struct world w;
	char want[40];
	int64_t t0;

	world_open(&w, _i, EVERY_MINUTE);
	t0 = align();
	world_start(&w);
	msleep(300);
	ck_assert_int_eq(http_sink_count(w.sink), 0);
	rr = row(&w, "ping-every-minute");
	ck_assert(rr.found);
	ck_assert(rr.status_null && rr.fired_null); /* a baseline, not a run */
	ck_assert_int_eq(rr.last_slot, t0 + 1);
	scheduler_free(w.sched);
	w.sched = NULL;
	advance_to(t0 + 60 + 30);
	world_start(&w);
	r = exactly(&w, 1, 1, 5000, 300);
	ck_assert_str_eq(r[0].schedule_time, rfc3339(t0 + 60, want, sizeof(want)));
	http_sink_requests_free(r, 1);
	world_close(&w);
}
END_TEST

/* The crash point: a run in flight when the process goes away (here
 * scheduler_stop() cutting it off, as kill -9 would) is not recorded, so
 * the next start fires the same slot again (at-least-once; /jobs
 * deduplicates by JobName/ScheduleTime). */
START_TEST(a_run_cut_off_fires_again_at_the_next_start)
{
	struct sink_request *r;
	struct world w;
	char want[40];
	int64_t t0, t;

	world_open(&w, _i, EVERY_MINUTE);
	http_sink_hold(w.sink, 1);
	t0 = align() + 1;
	world_start(&w);
	advance_to(t0 + 60);
	ck_assert_int_eq(http_sink_wait(w.sink, 1, 0, 5000), 0);
	t = time_mono_ms();
	scheduler_stop(w.sched);
	ck_assert_msg(time_mono_ms() - t < 2500, "stop took %lld ms",
	              (long long)(time_mono_ms() - t));
	ck_assert_int_eq(row(&w, "ping-every-minute").last_slot, t0); /* the baseline */
	scheduler_free(w.sched);
	w.sched = NULL;
	http_sink_hold(w.sink, 0);
	http_sink_reset(w.sink);
	world_start(&w);
	r = exactly(&w, 1, 1, 5000, 300);
	ck_assert_str_eq(r[0].schedule_time, rfc3339(t0 - 1 + 60, want, sizeof(want)));
	http_sink_requests_free(r, 1);
	ck_assert_int_eq(row(&w, "ping-every-minute").last_slot, t0 - 1 + 60);
	world_close(&w);
}
END_TEST

START_TEST(an_empty_schedule_list_is_valid)
{
	struct world w;

	world_open(&w, PGTEST_SQLITE, "{\"schedules\": []}");
	align();
	world_start(&w);
	advance_to(clock_now_s() + 86400);
	msleep(200);
	ck_assert_int_eq(http_sink_count(w.sink), 0);
	scheduler_stop(w.sched);
	world_close(&w);
}
END_TEST

#define HOURLY                                                                                     \
	"{\"schedules\": [{\"name\": \"ping-hourly\", \"schedule\": \"0 * * * *\", "               \
	"\"timeZone\": \"Etc/UTC\", \"jobType\": \"ping\", \"payload\": {\"n\": 1}, "              \
	"\"attemptDeadline\": \"30s\"}]}"

/* An operator's run (POST /admin/schedules/{name}/fire): the request of a
 * slot, now; never beside the schedule's run in flight; asked twice before
 * it starts, one run; recorded as the last run, not as the last slot. */
START_TEST(a_fire_runs_once_now)
{
	struct scheduler_last_run runs[1];
	struct sink_request *r;
	struct run_row before, after;
	int64_t t1, t2, t3, t4;
	char when[40], err[256];
	struct world w;

	world_open(&w, _i, HOURLY);
	align();
	world_start(&w);
	before = row(&w, "ping-hourly");
	ck_assert(before.found && before.fired_null);
	ck_assert_int_eq(scheduler_last_runs(w.store, w.queues, runs, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(runs[0].fired, 0);
	ck_assert_int_eq(scheduler_fire(w.sched, "ping-hourly", &t1, err, sizeof(err)), CJ_OK);
	ck_assert_int_ge(t1, clock_now_s() - 1);
	ck_assert_int_le(t1, clock_now_s());
	r = exactly(&w, 1, 1, 5000, 300);
	ck_assert_str_eq(r[0].path, "/jobs/ping");
	ck_assert_str_eq(r[0].body, "{\"n\":1}");
	ck_assert_str_eq(r[0].job_name, "ping-hourly");
	ck_assert_str_eq(r[0].schedule_time, rfc3339(t1, when, sizeof(when)));
	verify_token(r[0].authorization);
	http_sink_requests_free(r, 1);
	after = row(&w, "ping-hourly");
	ck_assert_int_eq(after.last_slot, before.last_slot);
	ck_assert_int_eq(after.status, 200);
	ck_assert_int_eq(scheduler_last_runs(w.store, w.queues, runs, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(runs[0].fired, 1);
	ck_assert_int_eq(runs[0].status, 200);
	ck_assert_int_ge(runs[0].at, t1);
	/* While a run is unanswered, the next one waits; two asks are one. */
	http_sink_hold(w.sink, 1);
	ck_assert_int_eq(scheduler_fire(w.sched, "ping-hourly", &t2, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(http_sink_wait(w.sink, 2, 0, 5000), 0);
	ck_assert_int_eq(scheduler_fire(w.sched, "ping-hourly", &t3, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(scheduler_fire(w.sched, "ping-hourly", &t4, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(t4, t3);
	http_sink_hold(w.sink, 0);
	r = exactly(&w, 3, 1, 5000, 300);
	ck_assert_int_ge(r[2].arrived_ms, r[1].answered_ms);
	ck_assert_str_eq(r[2].schedule_time, rfc3339(t3, when, sizeof(when)));
	http_sink_requests_free(r, 3);
	ck_assert_int_eq(scheduler_fire(w.sched, "no-such", &t1, err, sizeof(err)), CJ_ENOTFOUND);
	scheduler_stop(w.sched);
	ck_assert_int_eq(scheduler_fire(w.sched, "ping-hourly", &t1, err, sizeof(err)),
	                 CJ_EUNAVAIL);
	world_close(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scheduler");
	TCase *tc = tcase_create("scheduler");
	char err[512] = "";
	int failed;

	if (pgtest_start())
		return 1;
	KEYS_DIR = make_temp_dir();
	if (local_keys_load_or_generate(KEYS_DIR, &KEYS, err, sizeof(err))) {
		fprintf(stderr, "cannot make a signing key: %s\n", err);
		return 1;
	}
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, a_slot_fires_like_cloud_scheduler);
	tcase_add_test(tc, slots_are_wall_clock_times_of_the_zone);
	tcase_add_test(tc, a_day_of_the_repository_schedules_fires_in_order);
	tcase_add_test(tc, a_slow_schedule_holds_up_no_other);
	tcase_add_test(tc, a_failed_run_is_not_retried);
	tcase_add_test(tc, attempt_deadline_is_enforced);
	tcase_add_loop_test(tc, missed_slots_fire_once_at_start, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_new_schedule_starts_from_now, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_run_cut_off_fires_again_at_the_next_start, 0, PGTEST_NBACKENDS);
	tcase_add_test(tc, an_empty_schedule_list_is_valid);
	tcase_add_loop_test(tc, a_fire_runs_once_now, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	local_keys_free(KEYS);
	remove_tree(KEYS_DIR);
	free(KEYS_DIR);
	pgtest_stop();
	return failed ? 1 : 0;
}
