/*
 * test_queues.c - unit tests for src/queues.c and src/gcloud.c: the repo's
 * config files load; every validation error names file, entry and field
 * (the cron syntax itself is tested in test_cron.c); Cloud Tasks' backoff;
 * the defaults; and the printed gcloud commands, run through bash with a
 * recording fake gcloud, carry exactly what queues.json and schedules.json
 * say.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckrun.h"
#include "buf.h"
#include "fake_cloud.h"
#include "gcloud.h"
#include "job_types.h"
#include "proc.h"
#include "queues.h"
#include "tz.h"

static char config_dir[1024];

static void setup(void)
{
	const char *root = getenv("CJ_SOURCE_ROOT");

	snprintf(config_dir, sizeof(config_dir), "%s/config", root ? root : ".");
}

static json_t *load_json(const char *name)
{
	char path[1200];
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", config_dir, name);
	j = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* Writes both files into a fresh temp dir (NULL: the repo's file). */
static char *write_dir(json_t *queues, json_t *schedules)
{
	char *dir = make_temp_dir(), path[1200];
	json_t *q = queues ? json_incref(queues) : load_json("queues.json");
	json_t *s = schedules ? json_incref(schedules) : load_json("schedules.json");

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/queues.json", dir);
	ck_assert_int_eq(json_dump_file(q, path, 0), 0);
	snprintf(path, sizeof(path), "%s/schedules.json", dir);
	ck_assert_int_eq(json_dump_file(s, path, 0), 0);
	json_decref(q);
	json_decref(s);
	return dir;
}

/* Loads dir and expects CJ_ECONFIG with "<dir>/<file>: <fragment>" in the
 * message. */
static void expect_error(const char *dir, const char *file, const char *fragment)
{
	struct queues *q = (struct queues *)1;
	char err[512], want[1400];

	ck_assert_int_eq(queues_load(dir, &q, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_null(q);
	snprintf(want, sizeof(want), "%s/%s: %s", dir, file, fragment);
	ck_assert_msg(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
}

START_TEST(repo_config_loads)
{
	const struct queue_config *c;
	const struct schedule_config *s;
	const struct job_type *jt;
	struct queues *q;
	char err[512] = "";
	size_t n, i;

	ck_assert_msg(queues_load(config_dir, &q, err, sizeof(err)) == CJ_OK, "%s", err);
	jt = job_types_all(&n);
	ck_assert_uint_eq(queues_count(q), 12);
	for (i = 0; i < n; i++) {
		c = queues_find(q, jt[i].queue);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_ge(c->max_attempts, 1);
		ck_assert(c->dispatch_deadline >= 15 && c->dispatch_deadline <= 1800);
	}
	c = queues_find(q, "token-refresh-queue");
	ck_assert_int_eq(c->max_attempts, 20);
	ck_assert(c->min_backoff == 10 && c->max_backoff == 600 && c->max_doublings == 5);
	ck_assert(c->max_dispatches_per_second == 20 && c->max_concurrent_dispatches == 10);
	ck_assert(c->dispatch_deadline == 600);
	/* Notification queues give up sooner than the critical syncs. */
	ck_assert_int_lt(queues_find(q, "notification-reminder-queue")->max_attempts,
	                 queues_find(q, "calendar-sync-queue")->max_attempts);
	ck_assert_ptr_null(queues_find(q, "nope-queue"));

	ck_assert_uint_eq(queues_schedule_count(q), 8);
	s = queues_find_schedule(q, "token-refresh-every-10m");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->job_type, "token-refresh");
	ck_assert_str_eq(s->time_zone, "Etc/UTC");
	ck_assert_str_eq(tz_name(s->zone), "Etc/UTC");
	ck_assert_str_eq(s->schedule, "*/10 * * * *");
	ck_assert(s->attempt_deadline == 180);
	ck_assert(json_is_object(s->payload) && json_object_size(s->payload) == 0);
	for (i = 0; i < queues_schedule_count(q); i++)
		ck_assert_ptr_nonnull(job_types_find(queues_schedule_at(q, i)->job_type));
	ck_assert_ptr_null(queues_at(q, 12));
	ck_assert_ptr_null(queues_schedule_at(q, 8));
	queues_free(q);
}
END_TEST

START_TEST(backoff_formula)
{
	const struct queue_config c = {"q", 10, 10, 300, 3, 1, 1, 60};
	const double want[] = {10, 20, 40, 80, 160, 240, 300, 300};
	const struct queue_config g = {"g", 100, 0.1, 3600, 16, 500, 1000, 600};
	int k;

	for (k = 1; k <= 8; k++)
		ck_assert_msg(queues_backoff(&c, k) == want[k - 1], "retry %d: %g", k,
		              queues_backoff(&c, k));
	ck_assert(queues_backoff(&g, 1) == 0.1);
	ck_assert(queues_backoff(&g, 1000) == 3600);
}
END_TEST

START_TEST(defaults_cover_job_types)
{
	struct queues *q = queues_defaults();
	const struct job_type *jt;
	size_t n, i;

	ck_assert_ptr_nonnull(q);
	jt = job_types_all(&n);
	for (i = 0; i < n; i++) {
		const struct queue_config *c = queues_find(q, jt[i].queue);

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->max_attempts, 100);
		ck_assert(c->dispatch_deadline == 600);
	}
	ck_assert_uint_eq(queues_schedule_count(q), 0);
	queues_free(q);
	queues_free(NULL);
}
END_TEST

/* One broken queues.json field per row: path, value (JSON), fragment. */
START_TEST(queue_errors_name_the_field)
{
	static const struct {
		const char *queue, *obj, *field, *value, *fragment;
	} cases[] = {
	    {"token-refresh-queue", "retryConfig", "maxAttempts", "0",
	     "\"token-refresh-queue\".retryConfig.maxAttempts: must be an integer ≥ 1 or -1"},
	    {"ping-queue", "retryConfig", "maxAttempts", "\"5\"",
	     "\"ping-queue\".retryConfig.maxAttempts: must be an integer"},
	    {"ping-queue", "retryConfig", "maxRetryDuration", "\"10s\"",
	     "\"ping-queue\".retryConfig.maxRetryDuration: must be \"0s\""},
	    {"ping-queue", "retryConfig", "minBackoff", "\"ten\"",
	     "\"ping-queue\".retryConfig.minBackoff: must be a duration"},
	    {"ping-queue", "retryConfig", "minBackoff", "\"61s\"",
	     "\"ping-queue\".retryConfig.minBackoff: must not exceed maxBackoff"},
	    {"ping-queue", "retryConfig", "maxDoublings", "-1",
	     "\"ping-queue\".retryConfig.maxDoublings: must be an integer"},
	    {"ping-queue", "retryConfig", "maxAttempt", "3",
	     "\"ping-queue\".retryConfig.maxAttempt: unknown field"},
	    {"calendar-sync-queue", "rateLimits", "maxDispatchesPerSecond", "501",
	     "\"calendar-sync-queue\".rateLimits.maxDispatchesPerSecond: must be a number"},
	    {"calendar-sync-queue", "rateLimits", "maxConcurrentDispatches", "5001",
	     "\"calendar-sync-queue\".rateLimits.maxConcurrentDispatches: must be an integer "
	     "from 1 to 5000"},
	    {"adaptive-sync-queue", NULL, "dispatchDeadline", "\"10s\"",
	     "\"adaptive-sync-queue\".dispatchDeadline: must be between 15s and 1800s"},
	    {"adaptive-sync-queue", NULL, "dispatchDeadline", "\"1801s\"",
	     "\"adaptive-sync-queue\".dispatchDeadline: must be between 15s and 1800s"},
	    {"adaptive-sync-queue", NULL, "retryConfig", "[]",
	     "\"adaptive-sync-queue\".retryConfig: must be an object"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *q = load_json("queues.json"), *entry = json_object_get(q, cases[i].queue);
		json_t *target = cases[i].obj ? json_object_get(entry, cases[i].obj) : entry;
		char *dir;

		ck_assert_int_eq(
		    json_object_set_new(target, cases[i].field,
		                        json_loads(cases[i].value, JSON_DECODE_ANY, NULL)),
		    0);
		dir = write_dir(q, NULL);
		expect_error(dir, "queues.json", cases[i].fragment);
		remove_tree(dir);
		free(dir);
		json_decref(q);
	}
}
END_TEST

START_TEST(queue_set_errors)
{
	json_t *q = load_json("queues.json");
	struct queues *qs;
	char *dir, path[1200], err[512];
	FILE *f;

	/* -1 (unlimited) is accepted. */
	json_object_set_new(json_object_get(json_object_get(q, "ping-queue"), "retryConfig"),
	                    "maxAttempts", json_integer(-1));
	dir = write_dir(q, NULL);
	ck_assert_int_eq(queues_load(dir, &qs, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(queues_find(qs, "ping-queue")->max_attempts, -1);
	queues_free(qs);
	remove_tree(dir);
	free(dir);

	json_object_set(q, "mystery-queue", json_object_get(q, "ping-queue"));
	dir = write_dir(q, NULL);
	expect_error(dir, "queues.json", "\"mystery-queue\": unknown queue");
	remove_tree(dir);
	free(dir);

	json_object_del(q, "mystery-queue");
	json_object_del(q, "calendar-sync-queue");
	dir = write_dir(q, NULL);
	expect_error(dir, "queues.json", "\"calendar-sync-queue\": missing");
	/* Not JSON: the line is named. */
	snprintf(path, sizeof(path), "%s/queues.json", dir);
	f = fopen(path, "w");
	fputs("{\n  \"ping-queue\": {,\n}\n", f);
	fclose(f);
	expect_error(dir, "queues.json", "line 2");
	/* Missing file. */
	unlink(path);
	ck_assert_int_eq(queues_load(dir, &qs, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, path));
	remove_tree(dir);
	free(dir);
	json_decref(q);
}
END_TEST

START_TEST(schedule_errors_name_the_field)
{
	static const struct {
		int index;
		const char *field, *value, *fragment;
	} cases[] = {
	    {0, "schedule", "\"*/10 * * *\"",
	     "\"token-refresh-every-10m\".schedule: must have 5 fields"},
	    {0, "schedule", "\"61 * * * *\"", "\"token-refresh-every-10m\".schedule: minute"},
	    {1, "schedule", "\"0 6 * * 8\"",
	     "\"suggestion-generation-daily\".schedule: day of week"},
	    {1, "schedule", "\"*/0 * * * *\"", "\"suggestion-generation-daily\".schedule: minute"},
	    {2, "jobType", "\"no-such-job\"",
	     "\"batch-notifications-hourly\".jobType: unknown job type"},
	    {2, "payload", "{\"userId\": 5}", "\"batch-notifications-hourly\".payload: userId"},
	    {2, "payload", "[]", "\"batch-notifications-hourly\".payload: must be a JSON object"},
	    {3, "attemptDeadline", "\"5s\"",
	     "\"notification-reminder-every-5m\".attemptDeadline: must be between 15s and 1800s"},
	    {3, "timeZone", "\"\"",
	     "\"notification-reminder-every-5m\".timeZone: must be a non-empty string"},
	    {3, "timeZone", "\"Mars/Olympus_Mons\"",
	     "\"notification-reminder-every-5m\".timeZone: unknown time zone "
	     "\"Mars/Olympus_Mons\""},
	    {3, "timeZone", "\"../../etc/passwd\"",
	     "\"notification-reminder-every-5m\".timeZone: time zone \"../../etc/passwd\": not an "
	     "IANA"},
	    {4, "name", "\"bad name!\"", "schedules[4].name: Cloud Scheduler job names"},
	    {4, "name", "\"token-refresh-every-10m\"",
	     "\"token-refresh-every-10m\".name: used twice"},
	    {5, "retries", "3", "\"webhook-renewal-every-6h\".retries: unknown field"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = load_json("schedules.json");
		json_t *entry =
		    json_array_get(json_object_get(s, "schedules"), (size_t)cases[i].index);
		char *dir;

		ck_assert_int_eq(
		    json_object_set_new(entry, cases[i].field,
		                        json_loads(cases[i].value, JSON_DECODE_ANY, NULL)),
		    0);
		dir = write_dir(NULL, s);
		expect_error(dir, "schedules.json", cases[i].fragment);
		remove_tree(dir);
		free(dir);
		json_decref(s);
	}
}
END_TEST

/* ---- gcloud: run the printed script with a recording fake gcloud ---- */

/* Each recorded call: an array of its arguments. */
static json_t *run_script(const char *script, int describe_rc)
{
	char *dir = make_temp_dir(), path[1200], log_path[1200], env_path[1400], env_log[1300];
	char env_rc[32], *out = NULL, *errs = NULL, line[65536];
	char *argv[] = {"/bin/bash", path, NULL};
	char *env[] = {env_path, env_log, env_rc, NULL};
	json_t *calls = json_array();
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/gcloud", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/bash\n"
	      "for a in \"$@\"; do printf '%s\\037' \"$a\"; done >> \"$GCLOUD_LOG\"\n"
	      "printf '\\n' >> \"$GCLOUD_LOG\"\n"
	      "if [ \"$3\" = describe ]; then exit \"$DESCRIBE_RC\"; fi\n",
	      f);
	fclose(f);
	chmod(path, 0755);
	snprintf(log_path, sizeof(log_path), "%s/calls.log", dir);
	snprintf(env_path, sizeof(env_path), "PATH=%s:/usr/bin:/bin", dir);
	snprintf(env_log, sizeof(env_log), "GCLOUD_LOG=%s", log_path);
	snprintf(env_rc, sizeof(env_rc), "DESCRIBE_RC=%d", describe_rc);
	snprintf(path, sizeof(path), "%s/queues.sh", dir);
	f = fopen(path, "w");
	fputs(script, f);
	fclose(f);
	st = proc_run(argv, env, 0, 30000, &out, &errs);
	ck_assert_msg(st == 0, "script failed (%d): %s", st, errs ? errs : "");
	f = fopen(log_path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *args = json_array();
		char *p = line, *sep;

		while ((sep = strchr(p, '\037'))) {
			json_array_append_new(args, json_stringn(p, (size_t)(sep - p)));
			p = sep + 1;
		}
		json_array_append_new(calls, args);
	}
	fclose(f);
	free(out);
	free(errs);
	remove_tree(dir);
	free(dir);
	return calls;
}

/* The call whose arguments start with the words of verb, then name. */
static json_t *find_call(json_t *calls, const char *verb, const char *name)
{
	char words[8][64];
	size_t i, nw = 0, k;
	const char *p = verb;
	json_t *c;

	while (*p && nw < 8) {
		size_t n = strcspn(p, " ");

		snprintf(words[nw++], sizeof(words[0]), "%.*s", (int)n, p);
		p += n;
		p += strspn(p, " ");
	}
	json_array_foreach(calls, i, c)
	{
		for (k = 0; k < nw; k++)
			if (!json_string_value(json_array_get(c, k)) ||
			    strcmp(json_string_value(json_array_get(c, k)), words[k]))
				break;
		if (k == nw && json_string_value(json_array_get(c, nw)) &&
		    !strcmp(json_string_value(json_array_get(c, nw)), name))
			return c;
	}
	return NULL;
}

/* Value of --name=... in a call, or NULL. */
static const char *flag(json_t *call, const char *name)
{
	size_t i, n = strlen(name);
	json_t *a;

	json_array_foreach(call, i, a)
	{
		const char *s = json_string_value(a);

		if (!strncmp(s, "--", 2) && !strncmp(s + 2, name, n) && s[2 + n] == '=')
			return s + 3 + n;
	}
	return NULL;
}

static void check_queue_flags(json_t *call, json_t *entry)
{
	json_t *rc = json_object_get(entry, "retryConfig"),
	       *rl = json_object_get(entry, "rateLimits");
	char want[64];

	ck_assert_ptr_nonnull(call);
	snprintf(want, sizeof(want), "%lld",
	         (long long)json_integer_value(json_object_get(rc, "maxAttempts")));
	ck_assert_str_eq(flag(call, "max-attempts"), want);
	ck_assert_str_eq(flag(call, "max-retry-duration"), "0s");
	ck_assert_str_eq(flag(call, "min-backoff"),
	                 json_string_value(json_object_get(rc, "minBackoff")));
	ck_assert_str_eq(flag(call, "max-backoff"),
	                 json_string_value(json_object_get(rc, "maxBackoff")));
	snprintf(want, sizeof(want), "%lld",
	         (long long)json_integer_value(json_object_get(rc, "maxDoublings")));
	ck_assert_str_eq(flag(call, "max-doublings"), want);
	snprintf(want, sizeof(want), "%g",
	         json_number_value(json_object_get(rl, "maxDispatchesPerSecond")));
	ck_assert_str_eq(flag(call, "max-dispatches-per-second"), want);
	snprintf(want, sizeof(want), "%lld",
	         (long long)json_integer_value(json_object_get(rl, "maxConcurrentDispatches")));
	ck_assert_str_eq(flag(call, "max-concurrent-dispatches"), want);
	ck_assert_str_eq(flag(call, "location"), FAKE_REGION);
	ck_assert_str_eq(flag(call, "project"), FAKE_PROJECT);
}

static void check_schedule_flags(json_t *call, json_t *entry, int update)
{
	char uri[512], *body;

	ck_assert_ptr_nonnull(call);
	ck_assert_str_eq(flag(call, "schedule"),
	                 json_string_value(json_object_get(entry, "schedule")));
	ck_assert_str_eq(flag(call, "time-zone"),
	                 json_string_value(json_object_get(entry, "timeZone")));
	snprintf(uri, sizeof(uri), "%s/jobs/%s", FAKE_RUN_URL,
	         json_string_value(json_object_get(entry, "jobType")));
	ck_assert_str_eq(flag(call, "uri"), uri);
	ck_assert_str_eq(flag(call, "http-method"), "POST");
	ck_assert_str_eq(flag(call, "oidc-service-account-email"), FAKE_SA_EMAIL);
	ck_assert_str_eq(flag(call, "oidc-token-audience"), FAKE_AUDIENCE);
	ck_assert_str_eq(flag(call, "attempt-deadline"),
	                 json_string_value(json_object_get(entry, "attemptDeadline")));
	ck_assert_str_eq(flag(call, update ? "update-headers" : "headers"),
	                 "Content-Type=application/json");
	body = json_dumps(json_object_get(entry, "payload"), JSON_COMPACT);
	ck_assert_str_eq(flag(call, "message-body"), body);
	free(body);
	ck_assert_str_eq(flag(call, "location"), FAKE_REGION);
	ck_assert_str_eq(flag(call, "project"), FAKE_PROJECT);
}

static char *print_script(const char *dir, struct queues **qout)
{
	struct config cfg;
	struct queues *q;
	char err[512], *text = NULL;
	size_t len = 0;
	FILE *mem;

	ck_assert_msg(queues_load(dir, &q, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_int_eq(fake_cloud_config(NULL, NULL, &cfg), 0);
	mem = open_memstream(&text, &len);
	ck_assert_int_eq(gcloud_print_commands(q, &cfg, mem), CJ_OK);
	fclose(mem);
	config_release(&cfg);
	*qout = q;
	return text;
}

START_TEST(gcloud_commands_match_config)
{
	json_t *qj = load_json("queues.json"), *sj = load_json("schedules.json"), *calls, *entry;
	const char *name;
	struct queues *q;
	char *script = print_script(config_dir, &q);
	size_t i;
	int update;

	ck_assert_ptr_nonnull(strstr(script, "set -euo pipefail"));
	for (update = 0; update <= 1; update++) {
		/* describe fails: every resource is created; succeeds: updated. */
		calls = run_script(script, update ? 0 : 1);
		ck_assert_uint_eq(json_array_size(calls), 2 * (12 + 8));
		json_object_foreach(qj, name, entry)
		{
			json_t *c = find_call(
			    calls, update ? "tasks queues update" : "tasks queues create", name);

			check_queue_flags(c, entry);
			ck_assert_ptr_null(find_call(
			    calls, update ? "tasks queues create" : "tasks queues update", name));
		}
		json_array_foreach(json_object_get(sj, "schedules"), i, entry)
		{
			const char *sname = json_string_value(json_object_get(entry, "name"));

			check_schedule_flags(find_call(calls,
			                               update ? "scheduler jobs update http"
			                                      : "scheduler jobs create http",
			                               sname),
			                     entry, update);
		}
		json_decref(calls);
	}
	free(script);
	queues_free(q);
	json_decref(qj);
	json_decref(sj);
}
END_TEST

START_TEST(gcloud_quotes_hostile_values)
{
	json_t *sj = load_json("schedules.json"), *calls;
	json_t *entry = json_array_get(json_object_get(sj, "schedules"), 0);
	const char *evil = "O'Brien \"$(touch /tmp/cj-pwned)\" `touch /tmp/cj-pwned`; "
	                   "touch /tmp/cj-pwned \\ '\\''";
	struct queues *q;
	struct buf b = BUF_INIT(1024);
	char *dir, *script, *body;

	json_object_set_new(entry, "payload", json_pack("{s:s}", "userId", evil));
	dir = write_dir(NULL, sj);
	script = print_script(dir, &q);
	calls = run_script(script, 1);
	body = json_dumps(json_object_get(entry, "payload"), JSON_COMPACT);
	ck_assert_str_eq(
	    flag(find_call(calls, "scheduler jobs create http", "token-refresh-every-10m"),
	         "message-body"),
	    body);
	ck_assert_int_ne(access("/tmp/cj-pwned", F_OK), 0);
	ck_assert_int_eq(gcloud_shell_quote(&b, "it's"), CJ_OK);
	ck_assert_str_eq(buf_str(&b), "'it'\\''s'");
	buf_release(&b);
	free(body);
	free(script);
	json_decref(calls);
	queues_free(q);
	remove_tree(dir);
	free(dir);
	json_decref(sj);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("queues");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, repo_config_loads);
	tcase_add_test(tc, backoff_formula);
	tcase_add_test(tc, defaults_cover_job_types);
	tcase_add_test(tc, queue_errors_name_the_field);
	tcase_add_test(tc, queue_set_errors);
	tcase_add_test(tc, schedule_errors_name_the_field);
	tcase_add_test(tc, gcloud_commands_match_config);
	tcase_add_test(tc, gcloud_quotes_hostile_values);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
