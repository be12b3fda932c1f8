/*
 * test_scheduler.c - local mode's embedded Cloud Scheduler end to end (SPEC
 * §5.4): the real binary fires its CONFIG_DIR's schedules.json at a
 * recording HTTP sink in this process (CLOUD_RUN_URL), or at itself.
 *
 * Checked: a run goes out on the minute with Cloud Scheduler's headers and
 * a token of the local key; after `POST /emulator/clock:advance
 * {"seconds":86400}` each schedule of the repository's schedules.json fires
 * its cron's count of times that day, in order, none overlapping its
 * previous run; a schedule in America/New_York fires at 09:00 of New York; a
 * slow schedule holds up no other; after a downtime the missed slots fire
 * once; a run in flight at a SIGKILL fires again after the restart (the
 * crash point); runs at the server itself complete through /jobs; a bad
 * schedules.json stops start-up with exit 2 naming the field.
 *
 * Each test runs in its own temporary directory (the server's ./data).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckrun.h"
#include "cjserver.h"
#include "config.h"
#include "cron.h"
#include "http_sink.h"
#include "jwks.h"
#include "local_keys.h"
#include "oidc.h"
#include "queues.h"
#include "store.h"
#include "timeutil.h"
#include "tz.h"

#define TASKS_EMAIL "local-tasks@catchup-jobs.local" /* SERVICE_ACCOUNT_EMAIL's default */
#define DEAD_JWKS "http://127.0.0.1:1/certs" /* only the local key verifies */

#define PING(name, cron, zone, payload)                                                            \
	"{\"name\": \"" name "\", \"schedule\": \"" cron "\", \"timeZone\": \"" zone "\", "        \
	"\"jobType\": \"ping\", \"payload\": " payload ", \"attemptDeadline\": \"30s\"}"

static char *dir; /* this test's working directory */
static char e_db[600], e_config[600], e_run[128];

static const char *source_root(void)
{
	return getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
}

static void setup(void)
{
	dir = make_temp_dir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
}

static void teardown(void)
{
	if (chdir("/") == 0)
		remove_tree(dir);
	free(dir);
}

/* DIR/config with the repository's queues.json and the given schedules
 * (NULL: the repository's schedules.json). */
static void write_config(const char *schedules)
{
	char src[1024], path[700];
	json_t *j;

	snprintf(path, sizeof(path), "%s/config", dir);
	mkdir(path, 0700);
	snprintf(src, sizeof(src), "%s/config/queues.json", source_root());
	j = json_load_file(src, 0, NULL);
	ck_assert_ptr_nonnull(j);
	snprintf(path, sizeof(path), "%s/config/queues.json", dir);
	ck_assert_int_eq(json_dump_file(j, path, 0), 0);
	json_decref(j);
	if (schedules)
		j = json_loads(schedules, 0, NULL);
	else {
		snprintf(src, sizeof(src), "%s/config/schedules.json", source_root());
		j = json_load_file(src, 0, NULL);
	}
	ck_assert_ptr_nonnull(j);
	snprintf(path, sizeof(path), "%s/config/schedules.json", dir);
	ck_assert_int_eq(json_dump_file(j, path, 0), 0);
	json_decref(j);
}

/* Local mode in DIR; runs go to sink (NULL: to the server itself). */
static char **local_env(const struct http_sink *sink)
{
	static char *env[16];
	int n = 0;

	snprintf(e_db, sizeof(e_db), "DATABASE_URL=sqlite:%s/data/catchup.db", dir);
	snprintf(e_config, sizeof(e_config), "CONFIG_DIR=%s/config", dir);
	env[n++] = e_db;
	env[n++] = e_config;
	env[n++] = "OIDC_JWKS_URL=" DEAD_JWKS;
	env[n++] = "LOG_LEVEL=info";
	if (sink) {
		snprintf(e_run, sizeof(e_run), "CLOUD_RUN_URL=%s", http_sink_url(sink));
		env[n++] = e_run;
	}
	env[n] = NULL;
	return env;
}

static void start(struct cj_server *s, const struct http_sink *sink)
{
	ck_assert_int_eq(cj_server_start(s, local_env(sink)), 0);
}

static void stop(struct cj_server *s)
{
	ck_assert_int_eq(cj_server_stop(s), 0);
}

/* POST /emulator/clock:advance; the business time after the move. */
static int64_t advance(const struct cj_server *s, int64_t seconds)
{
	const char *h[] = {"Content-Type: application/json", NULL};
	char url[256], body[64];
	struct httpc_resp r;
	double now = 0;

	snprintf(url, sizeof(url), "%s/emulator/clock:advance", s->base);
	snprintf(body, sizeof(body), "{\"seconds\":%lld}", (long long)seconds);
	ck_assert_int_eq(httpc_post(url, h, body, &r), 0);
	ck_assert_msg(r.status == 200, "clock:advance: %ld %s", r.status, r.body);
	ck_assert_int_eq(time_parse_rfc3339(httpc_json_str(&r, "now"), &now), CJ_OK);
	httpc_resp_free(&r);
	return (int64_t)now;
}

/* The server's business time. */
static int64_t server_now(const struct cj_server *s)
{
	char url[256];
	struct httpc_resp r;
	double now = 0;

	snprintf(url, sizeof(url), "%s/emulator/clock", s->base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_int_eq(time_parse_rfc3339(httpc_json_str(&r, "now"), &now), CJ_OK);
	httpc_resp_free(&r);
	return (int64_t)now;
}

/* Moves the server's clock to its next whole minute; returns it. */
static int64_t advance_to_next_minute(const struct cj_server *s)
{
	int64_t now = server_now(s), m = (now / 60 + 1) * 60;

	advance(s, m - now);
	return m;
}

/* Waits until the wall clock is at most 20 s into its minute, so that a
 * test has 40 s before the wall clock itself reaches a new slot. */
static void early_in_the_minute(void)
{
	while (time_wall_s() % 60 > 20)
		msleep(250);
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

/* n requests arrive (and are answered), and no more within settle_ms. */
static struct sink_request *exactly(struct http_sink *k, size_t n, int timeout_ms, int settle_ms)
{
	struct sink_request *r;
	size_t got;

	ck_assert_msg(http_sink_wait(k, n, 1, timeout_ms) == 0, "expected %zu runs, got %zu", n,
	              http_sink_count(k));
	msleep(settle_ms);
	r = http_sink_requests(k, &got);
	ck_assert_msg(got == n, "expected %zu runs, got %zu", n, got);
	return r;
}

/* The token verifies against the server's local key (this test's ./data)
 * for the audience CLOUD_RUN_URL and SERVICE_ACCOUNT_EMAIL. */
static void verify_token(const char *authorization, const char *audience)
{
	static char *iss[] = {"https://accounts.google.com"};
	static char *allowed[] = {TASKS_EMAIL};
	char *aud[] = {(char *)audience}, err[256] = "";
	const struct strlist issuers = {iss, 1}, audiences = {aud, 1}, emails = {allowed, 1};
	struct local_keys *keys = NULL;
	struct jwks *jw = jwks_new(NULL);
	struct oidc_identity who;
	const char *reason = "";
	struct oidc *o;

	ck_assert_ptr_nonnull(authorization);
	ck_assert_msg(local_keys_load_or_generate("./data", &keys, err, sizeof(err)) == CJ_OK, "%s",
	              err);
	ck_assert_int_eq(local_keys_trust(keys, jw), CJ_OK);
	o = oidc_new(jw, &issuers, &audiences);
	ck_assert_msg(oidc_verify(o, authorization, &emails, time_wall_s(), &who, &reason) == CJ_OK,
	              "token refused: %s", reason);
	ck_assert_str_eq(who.email, TASKS_EMAIL);
	oidc_free(o);
	jwks_free(jw);
	local_keys_free(keys);
}

START_TEST(fires_on_the_minute_with_cloud_scheduler_headers)
{
	struct http_sink *sink = http_sink_start();
	struct sink_request *r;
	struct cj_server s;
	char want[40];
	int64_t slot;
	double late;

	write_config("{\"schedules\": [" PING("ping-every-minute", "* * * * *", "Etc/UTC",
	                                      "{\"from\": \"scheduler\"}") "]}");
	start(&s, sink);
	/* The wall clock's next minute, at most 60 s away. */
	if (http_sink_wait(sink, 1, 1, 75000)) {
		char *log = cj_server_log(&s);

		ck_abort_msg("no run within 75 s; the server's log:\n%s", log);
	}
	r = exactly(sink, 1, 0, 0);
	slot = parse_time(r[0].schedule_time);
	late = r[0].arrived_wall - (double)slot;
	ck_assert_str_eq(r[0].schedule_time, rfc3339(slot / 60 * 60, want, sizeof(want)));
	ck_assert_msg(late >= -0.01 && late < 2.5, "run arrived %.3f s after its slot", late);
	ck_assert_str_eq(r[0].method, "POST");
	ck_assert_str_eq(r[0].path, "/jobs/ping");
	ck_assert_str_eq(r[0].body, "{\"from\":\"scheduler\"}");
	ck_assert_str_eq(r[0].content_type, "application/json");
	ck_assert_str_eq(r[0].scheduler, "true");
	ck_assert_str_eq(r[0].job_name, "ping-every-minute");
	ck_assert_str_eq(r[0].user_agent, "Google-Cloud-Scheduler");
	verify_token(r[0].authorization, http_sink_url(sink));
	http_sink_requests_free(r, 1);
	stop(&s);
	http_sink_stop(sink);
}
END_TEST

/* Per schedule of the config: the runs are exactly its cron's slots in
 * (from, to], in order, each started after its previous one's answer. */
static void check_runs(const struct sink_request *r, size_t n, int64_t from, int64_t to)
{
	char path[700], err[512] = "", want[40];
	struct queues *q = NULL;
	size_t i, j, total = 0;

	snprintf(path, sizeof(path), "%s/config", dir);
	ck_assert_msg(queues_load(path, &q, err, sizeof(err)) == CJ_OK, "%s", err);
	for (i = 0; i < queues_schedule_count(q); i++) {
		const struct schedule_config *sc = queues_schedule_at(q, i);
		const struct sink_request *prev = NULL;
		int64_t slot = from;

		for (j = 0; j < n; j++) {
			if (strcmp(r[j].job_name, sc->name))
				continue;
			ck_assert_int_eq(cron_next(&sc->cron, sc->zone, slot, &slot), CJ_OK);
			ck_assert_msg(
			    !strcmp(r[j].schedule_time, rfc3339(slot, want, sizeof(want))),
			    "%s: run for %s, expected %s", sc->name, r[j].schedule_time, want);
			ck_assert_msg(!prev || r[j].arrived_ms >= prev->answered_ms,
			              "%s: run for %s started before %s was answered", sc->name,
			              r[j].schedule_time, prev ? prev->schedule_time : "");
			prev = &r[j];
			total++;
		}
		ck_assert_int_eq(cron_next(&sc->cron, sc->zone, slot, &slot), CJ_OK);
		ck_assert_msg(slot > to, "%s did not fire %s", sc->name,
		              rfc3339(slot, want, sizeof(want)));
	}
	ck_assert_int_eq(total, n);
	queues_free(q);
}

/* How many slots the config's crons have in (from, to]. */
static size_t slots_between(int64_t from, int64_t to)
{
	char path[700], err[512] = "";
	struct queues *q = NULL;
	size_t i, n = 0;

	snprintf(path, sizeof(path), "%s/config", dir);
	ck_assert_msg(queues_load(path, &q, err, sizeof(err)) == CJ_OK, "%s", err);
	for (i = 0; i < queues_schedule_count(q); i++) {
		const struct schedule_config *sc = queues_schedule_at(q, i);
		int64_t t = from;

		while (!cron_next(&sc->cron, sc->zone, t, &t) && t <= to)
			n++;
	}
	queues_free(q);
	return n;
}

START_TEST(a_day_of_the_repository_schedules)
{
	struct http_sink *sink = http_sink_start();
	struct sink_request *r;
	struct cj_server s;
	int64_t t0;
	size_t n;

	write_config(NULL);
	early_in_the_minute();
	start(&s, sink);
	t0 = server_now(&s);
	advance(&s, 86400);
	n = slots_between(t0, t0 + 86400);
	ck_assert_int_gt(n, 500); /* 582 with the repository's schedules */
	r = exactly(sink, n, 60000, 1000);
	check_runs(r, n, t0, t0 + 86400);
	http_sink_requests_free(r, n);
	stop(&s);
	http_sink_stop(sink);
}
END_TEST

START_TEST(a_slow_schedule_holds_up_no_other)
{
	struct http_sink *sink = http_sink_start();
	int64_t t0, fast_done = 0, slow_second = 0;
	struct sink_request *r;
	struct cj_server s;
	int fast = 0, slow = 0;
	size_t n, i;

	write_config("{\"schedules\": [" PING(
	    "ping-slow", "*/30 * * * *", "Etc/UTC",
	    "{\"sleepMs\": 1000}") ", " PING("ping-fast", "*/10 * * * *", "Etc/UTC", "{}") "]}");
	early_in_the_minute();
	start(&s, sink);
	t0 = server_now(&s);
	advance(&s, 3 * 3600); /* 6 slow runs of 1 s, 18 fast ones */
	n = slots_between(t0, t0 + 3 * 3600);
	ck_assert_int_eq(n, 24);
	r = exactly(sink, n, 30000, 500);
	check_runs(r, n, t0, t0 + 3 * 3600);
	for (i = 0; i < n; i++) {
		if (!strcmp(r[i].job_name, "ping-fast") && ++fast == 18)
			fast_done = r[i].answered_ms;
		if (!strcmp(r[i].job_name, "ping-slow") && ++slow == 2)
			slow_second = r[i].answered_ms;
	}
	ck_assert_msg(fast_done < slow_second, "the fast schedule waited for the slow one");
	http_sink_requests_free(r, n);
	stop(&s);
	http_sink_stop(sink);
}
END_TEST

START_TEST(a_new_york_schedule_fires_at_nine_in_new_york)
{
	struct http_sink *sink = http_sink_start();
	const struct tz *ny = tz_get("America/New_York", NULL, 0);
	struct sink_request *r;
	struct cj_server s;
	int64_t t0;
	size_t i;

	ck_assert_ptr_nonnull(ny);
	write_config(
	    "{\"schedules\": [" PING("ping-new-york", "0 9 * * *", "America/New_York", "{}") "]}");
	early_in_the_minute();
	start(&s, sink);
	t0 = server_now(&s);
	advance(&s, 2 * 86400);
	r = exactly(sink, 2, 10000, 500);
	check_runs(r, 2, t0, t0 + 2 * 86400);
	for (i = 0; i < 2; i++) {
		struct tm tm;

		ck_assert_int_eq(tz_utc_to_local(ny, parse_time(r[i].schedule_time), &tm, NULL),
		                 CJ_OK);
		ck_assert_msg(tm.tm_hour == 9 && tm.tm_min == 0, "%s is %02d:%02d in New York",
		              r[i].schedule_time, tm.tm_hour, tm.tm_min);
	}
	http_sink_requests_free(r, 2);
	stop(&s);
	http_sink_stop(sink);
}
END_TEST

/* The server's SQLite database, for what happens while it is down. */
static struct store *open_db(void)
{
	struct store *st = NULL;
	char url[700], err[256] = "";

	snprintf(url, sizeof(url), "sqlite:%s/data/catchup.db", dir);
	ck_assert_msg(store_open(url, &st, err, sizeof(err)) == CJ_OK, "%s", err);
	return st;
}

static int64_t last_slot(const char *name)
{
	struct store *st = open_db();
	struct store_param p[] = {store_p_text(name)};
	struct store_rows *rows = NULL;
	char err[256] = "";
	int64_t v = -1;

	ck_assert_msg(store_exec(st, "SELECT last_slot FROM schedule_runs WHERE name = $1", p, 1,
	                         &rows, err, sizeof(err)) == CJ_OK,
	              "%s", err);
	if (store_rows_next(rows))
		v = store_rows_int(rows, 0);
	store_rows_free(rows);
	store_close(st);
	return v;
}

/* Three hours pass while the server is down: the stored clock offset moves
 * as the wall clock would have. */
static void three_hours_pass(void)
{
	struct store *st = open_db();
	struct store_rows *rows = NULL;
	char err[256] = "";

	ck_assert_msg(store_exec(st,
	                         "UPDATE emulator_state SET value = CAST(CAST(value AS BIGINT) + "
	                         "10800 AS TEXT) WHERE key = 'clock_offset'",
	                         NULL, 0, &rows, err, sizeof(err)) == CJ_OK,
	              "%s", err);
	ck_assert_int_eq(store_rows_changes(rows), 1);
	store_rows_free(rows);
	store_close(st);
}

START_TEST(missed_slots_fire_once_after_a_downtime)
{
	struct http_sink *sink = http_sink_start();
	struct sink_request *r;
	struct cj_server s;
	char want[40], *log;
	int64_t m, latest;

	write_config(
	    "{\"schedules\": [" PING("ping-every-minute", "* * * * *", "Etc/UTC", "{}") "]}");
	early_in_the_minute();
	start(&s, sink);
	m = advance_to_next_minute(&s);
	r = exactly(sink, 1, 10000, 200);
	ck_assert_str_eq(r[0].schedule_time, rfc3339(m, want, sizeof(want)));
	http_sink_requests_free(r, 1);
	stop(&s);
	http_sink_reset(sink);
	three_hours_pass();
	start(&s, sink);
	latest = server_now(&s) / 60 * 60;
	ck_assert_int_eq(latest, m + 10800);
	r = exactly(sink, 1, 10000, 2000); /* once, not 180 times */
	ck_assert_str_eq(r[0].schedule_time, rfc3339(latest, want, sizeof(want)));
	http_sink_requests_free(r, 1);
	log = cj_server_log(&s);
	ck_assert_ptr_nonnull(strstr(log, "slots were missed while the service was down"));
	free(log);
	stop(&s);
	ck_assert_int_eq(last_slot("ping-every-minute"), latest);
	http_sink_stop(sink);
}
END_TEST

/* The crash point: the slot is recorded after its answer, so a SIGKILL
 * while a run is in flight fires that slot again after the restart. */
START_TEST(a_run_in_flight_at_sigkill_fires_again)
{
	struct http_sink *sink = http_sink_start();
	struct sink_request *r;
	struct cj_server s;
	char want[40];
	int64_t m;
	size_t n;

	write_config(
	    "{\"schedules\": [" PING("ping-every-minute", "* * * * *", "Etc/UTC", "{}") "]}");
	early_in_the_minute();
	http_sink_hold(sink, 1);
	start(&s, sink);
	m = advance_to_next_minute(&s);
	ck_assert_int_eq(http_sink_wait(sink, 1, 0, 10000), 0);
	proc_signal(&s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&s.proc, 10000), 0);
	ck_assert_int_lt(last_slot("ping-every-minute"), m);
	http_sink_hold(sink, 0);
	ck_assert_int_eq(http_sink_wait(sink, 1, 1, 5000), 0);
	start(&s, sink);
	ck_assert_int_eq(http_sink_wait(sink, 2, 1, 10000), 0);
	msleep(1000);
	r = http_sink_requests(sink, &n);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(r[0].schedule_time, rfc3339(m, want, sizeof(want)));
	ck_assert_str_eq(r[1].schedule_time, r[0].schedule_time);
	http_sink_requests_free(r, n);
	stop(&s);
	ck_assert_int_eq(last_slot("ping-every-minute"), m);
	http_sink_stop(sink);
}
END_TEST

/* CLOUD_RUN_URL's default is the server itself: its own /jobs verifies the
 * runs' tokens and runs ping once per slot. */
START_TEST(runs_reach_the_server_itself)
{
	const char *answered[] = {"scheduled run \\\"ping-every-minute\\\"", "answered HTTP 200",
	                          NULL};
	const char *completed[] = {"POST /jobs/ping answered: completed", NULL};
	struct cj_server s;
	char *log;
	int n;

	write_config(
	    "{\"schedules\": [" PING("ping-every-minute", "* * * * *", "Etc/UTC", "{}") "]}");
	early_in_the_minute();
	start(&s, NULL);
	advance_to_next_minute(&s);
	advance(&s, 240);
	for (int64_t until = time_mono_ms() + 15000; time_mono_ms() < until; msleep(100)) {
		log = cj_server_log(&s);
		n = log_count(log, answered);
		free(log);
		if (n >= 5)
			break;
	}
	msleep(500);
	log = cj_server_log(&s);
	ck_assert_int_eq(log_count(log, answered), 5);
	ck_assert_int_eq(log_count(log, completed), 5);
	free(log);
	stop(&s);
}
END_TEST

START_TEST(a_bad_schedule_file_stops_start_up)
{
	static const struct {
		const char *schedules, *names;
	} bad[] = {
	    {"{\"schedules\": [" PING("p", "61 * * * *", "Etc/UTC", "{}") "]}", "\"p\".schedule"},
	    {"{\"schedules\": [" PING("p", "* * * * *", "Mars/Olympus", "{}") "]}",
	     "\"p\".timeZone"},
	    {"{\"schedules\": [" PING("p", "* * * * *", "Etc/UTC", "{\"sleepMs\": -1}") "]}",
	     "\"p\".payload"},
	};
	char *args[] = {"serve", NULL};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = NULL;

		write_config(bad[i].schedules);
		ck_assert_int_eq(cj_run(args, local_env(NULL), NULL, &err), 2);
		ck_assert_msg(err && strstr(err, "schedules.json") && strstr(err, bad[i].names),
		              "stderr does not name %s: %s", bad[i].names, err ? err : "");
		free(err);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scheduler");
	TCase *tc = tcase_create("scheduler");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, fires_on_the_minute_with_cloud_scheduler_headers);
	tcase_add_test(tc, a_day_of_the_repository_schedules);
	tcase_add_test(tc, a_slow_schedule_holds_up_no_other);
	tcase_add_test(tc, a_new_york_schedule_fires_at_nine_in_new_york);
	tcase_add_test(tc, missed_slots_fire_once_after_a_downtime);
	tcase_add_test(tc, a_run_in_flight_at_sigkill_fires_again);
	tcase_add_test(tc, runs_reach_the_server_itself);
	tcase_add_test(tc, a_bad_schedule_file_stops_start_up);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
