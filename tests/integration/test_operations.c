/*
 * test_operations.c - health, readiness, metrics, in-flight gauge under 80
 * concurrent jobs, trace correlation in logs, routing errors, and the
 * command line (configuration errors, --help, --version, check).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckrun.h"
#include "itest.h"
#include "mfake.h"
#include "timeutil.h"

static struct itest W;
static struct cj_server S;

static json_t *get_json(const char *path, long *status)
{
	struct httpc_resp r;
	char url[256];
	json_t *j;

	snprintf(url, sizeof(url), "%s%s", S.base, path);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	*status = r.status;
	j = json_incref(r.json);
	httpc_resp_free(&r);
	return j;
}

static long metric_value(const char *body, const char *series)
{
	char pat[256];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s ", series);
	p = strstr(body, pat);
	if (p)
		p++;

	if (!p)
		return -1;
	return strtol(p + strlen(series) + 1, NULL, 10);
}

START_TEST(liveness_and_readiness)
{
	long st;
	json_t *j = get_json("/health/live", &st), *redis, *jwks;

	ck_assert_int_eq(st, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
	json_decref(j);
	j = get_json("/health/ready", &st);
	ck_assert_int_eq(st, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
	redis = json_object_get(j, "redis");
	ck_assert_str_eq(json_string_value(json_object_get(redis, "status")), "ok");
	ck_assert_str_eq(json_string_value(json_object_get(redis, "mode")), "upstash");
	ck_assert(json_is_integer(json_object_get(redis, "latencyMs")));
	jwks = json_object_get(j, "jwks");
	ck_assert_str_eq(json_string_value(json_object_get(jwks, "status")), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(jwks, "keys")), 2);
	ck_assert(json_is_integer(json_object_get(jwks, "ageSeconds")));
	json_decref(j);
}
END_TEST

/* /health/ready of s: the HTTP status in *code, jwks.status copied to out. */
static const char *ready_jwks(const struct cj_server *s, long *code, char *out, size_t outlen)
{
	struct httpc_resp r;
	char url[256];
	const char *st;

	snprintf(url, sizeof(url), "%s/health/ready", s->base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	*code = r.status;
	st = json_string_value(json_object_get(json_object_get(r.json, "jwks"), "status"));
	snprintf(out, outlen, "%s", st ? st : "(none)");
	httpc_resp_free(&r);
	return out;
}

static long push_ping(const struct cj_server *s, const char *tok)
{
	struct httpc_resp r;
	char task[64];
	long status;

	ck_assert_int_eq(
	    cj_push(s, "ping", tok, "ping-queue", itest_task_id(task, sizeof(task)), 0, "{}", &r),
	    0);
	status = r.status;
	httpc_resp_free(&r);
	return status;
}

/* SPEC §5.3: signing keys past their max-age are "stale", not down, judged
 * by age alone, and still verify tokens; reaching max-age starts a
 * background refetch (at most once per 30 s after the last fetch) that
 * makes them "ok" again - or, with the JWKS server down, leaves them stale
 * and serving. Two instances side by side share the 30 s wait. */
START_TEST(jwks_past_max_age_is_stale_until_refetched)
{
	struct jwks_server *up = jwks_server_start(), *down = jwks_server_start();
	char *keys = test_jwks_json((const struct test_key *const *)W.keys, 2);
	char up_url[512], down_url[512], st[32];
	const char *up_env[] = {up_url, NULL}, *down_env[] = {down_url, NULL};
	struct cj_server su, sd;
	char *tok = itest_token(&W);
	int64_t started;
	long code;

	ck_assert_ptr_nonnull(up);
	ck_assert_ptr_nonnull(down);
	jwks_server_set(up, keys, 2, 200);
	jwks_server_set(down, keys, 2, 200);
	snprintf(up_url, sizeof(up_url), "OIDC_JWKS_URL=%s", jwks_server_url(up));
	snprintf(down_url, sizeof(down_url), "OIDC_JWKS_URL=%s", jwks_server_url(down));
	started = time_mono_ms();
	itest_server(&W, &su, up_env);
	itest_server(&W, &sd, down_env);
	ck_assert_str_eq(ready_jwks(&su, &code, st, sizeof(st)), "ok");
	ck_assert_int_eq(code, 200);
	/* The keys load in the background once an instance serves: both must
	 * hold them before their endpoints change. */
	while (strcmp(ready_jwks(&sd, &code, st, sizeof(st)), "ok") &&
	       time_mono_ms() - started < 10000)
		msleep(50);
	ck_assert_str_eq(st, "ok");
	jwks_server_set(up, keys, 3600, 200);
	jwks_server_set(down, "{\"error\":\"down\"}", -1, 500);

	/* Past max-age, before any refetch was allowed: stale, ready, serving. */
	msleep(2500);
	ck_assert_str_eq(ready_jwks(&su, &code, st, sizeof(st)), "stale");
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(ready_jwks(&sd, &code, st, sizeof(st)), "stale");
	ck_assert_int_eq(code, 200);
	ck_assert_int_eq(push_ping(&sd, tok), 200);
	ck_assert_int_eq(jwks_server_fetches(up), 1);

	/* The refetch that readiness starts brings the keys back. */
	while (strcmp(ready_jwks(&su, &code, st, sizeof(st)), "ok") &&
	       time_mono_ms() - started < 45000)
		msleep(500);
	ck_assert_str_eq(st, "ok");
	ck_assert_int_eq(code, 200);
	ck_assert_int_eq(jwks_server_fetches(up), 2);

	/* With the JWKS server down the refetch fails: still stale, still ready,
	 * tokens still verify. */
	while (jwks_server_fetches(down) < 2 && time_mono_ms() - started < 45000) {
		ready_jwks(&sd, &code, st, sizeof(st));
		msleep(500);
	}
	ck_assert_int_ge(jwks_server_fetches(down), 2);
	msleep(200);
	ck_assert_str_eq(ready_jwks(&sd, &code, st, sizeof(st)), "stale");
	ck_assert_int_eq(code, 200);
	ck_assert_int_eq(push_ping(&sd, tok), 200);

	ck_assert_int_eq(cj_server_stop(&su), 0);
	ck_assert_int_eq(cj_server_stop(&sd), 0);
	jwks_server_stop(up);
	jwks_server_stop(down);
	free(keys);
	free(tok);
}
END_TEST

START_TEST(readiness_is_down_while_redis_is)
{
	long st;
	json_t *j;

	redis_fixture_stop_redis(&W.redis);
	j = get_json("/health/ready", &st);
	ck_assert_int_eq(st, 503);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "down");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "redis"), "status")),
	                 "down");
	json_decref(j);
	ck_assert_int_eq(redis_fixture_start_redis(&W.redis), 0);
	j = get_json("/health/ready", &st);
	ck_assert_int_eq(st, 200);
	json_decref(j);
}
END_TEST

START_TEST(metrics_exposition)
{
	static const char *const names[] = {"catchup_jobs_requests_total",
	                                    "catchup_jobs_job_duration_seconds",
	                                    "catchup_jobs_auth_failures_total",
	                                    "catchup_jobs_inflight_jobs",
	                                    "catchup_jobs_upstream_duration_seconds",
	                                    "catchup_jobs_enqueue_total",
	                                    "catchup_jobs_dead_letters_total",
	                                    "catchup_jobs_claims_lost_total"};
	struct httpc_resp r;
	char url[128], task[64], *tok = itest_token(&W);

	/* One completed ping to show in the counters. Redis was restarted by
	 * an earlier test: a first push may meet it reconnecting (503 retry,
	 * as Cloud Tasks would see); the counters are what is checked here. */
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(cj_push(&S, "ping", tok, "ping-queue",
		                         itest_task_id(task, sizeof(task)), 0, "{}", &r),
		                 0);
		if (r.status == 200 || i == 4)
			break;
		httpc_resp_free(&r);
		msleep(200);
	}
	ck_assert_msg(r.status == 200, "ping answered %ld: %s", r.status, r.body);
	httpc_resp_free(&r);
	/* The counters move when the answer has been sent (the request's
	 * end), which may be just after the client read it. */
	snprintf(url, sizeof(url), "%s/metrics", S.base);
	for (int i = 0;; i++) {
		ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
		ck_assert_int_eq(r.status, 200);
		if (metric_value(r.body, "catchup_jobs_requests_total{type=\"ping\",outcome="
		                         "\"completed\"}") >= 1 || i == 50)
			break;
		httpc_resp_free(&r);
		msleep(100);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(strstr(r.body, names[i]) != NULL, "missing %s", names[i]);
	ck_assert_int_ge(metric_value(r.body,
	                              "catchup_jobs_requests_total{type=\"ping\",outcome="
	                              "\"completed\"}"),
	                 1);
	ck_assert_ptr_nonnull(
	    strstr(r.body, "catchup_jobs_job_duration_seconds_bucket{type=\"ping\""));
	ck_assert_ptr_nonnull(strstr(r.body,
	                             "catchup_jobs_upstream_duration_seconds_count{upstream="
	                             "\"redis\""));
	httpc_resp_free(&r);
	free(tok);
}
END_TEST

struct sleeper {
	const char *token;
	long status;
};

static void *sleep_job(void *arg)
{
	struct sleeper *sl = arg;
	struct httpc_resp r;
	char task[64];

	if (!cj_push(&S, "ping", sl->token, "ping-queue", itest_task_id(task, sizeof(task)), 0,
	             "{\"sleepMs\":2000}", &r))
		sl->status = r.status;
	httpc_resp_free(&r);
	return NULL;
}

START_TEST(eighty_jobs_in_flight_and_liveness_answers)
{
	struct sleeper sl[80];
	pthread_t th[80];
	char url[128], *tok = itest_token(&W);
	long peak = 0, live_ok = 0;
	int i, tries;

	snprintf(url, sizeof(url), "%s/metrics", S.base);
	for (i = 0; i < 80; i++) {
		sl[i] = (struct sleeper){tok, 0};
		ck_assert_int_eq(pthread_create(&th[i], NULL, sleep_job, &sl[i]), 0);
	}
	for (tries = 0; tries < 400 && peak < 80; tries++) {
		struct httpc_resp r;
		long st;
		json_t *j;

		if (!httpc_get(url, NULL, &r)) {
			long v = metric_value(r.body, "catchup_jobs_inflight_jobs");

			if (v > peak)
				peak = v;
		}
		httpc_resp_free(&r);
		j = get_json("/health/live", &st);
		live_ok += st == 200;
		json_decref(j);
		msleep(10);
	}
	for (i = 0; i < 80; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(peak, 80);
	ck_assert_int_gt(live_ok, 0);
	for (i = 0; i < 80; i++)
		ck_assert_int_eq(sl[i].status, 200);
	free(tok);
}
END_TEST

#define START "GET /health/live HTTP/1.1\r\n"
#define FINISH "Host: x\r\nConnection: close\r\n\r\n"

START_TEST(a_thousand_open_connections)
{
	struct rlimit rl;
	struct sockaddr_in addr;
	int fds[1000], n = 0, want = 1000, i;
	long st;
	json_t *j;

	/* The test process needs the descriptors too. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 1200 && rl.rlim_max >= 1200) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 1200)
		want = (int)rl.rlim_cur - 200;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)S.port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < want; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		/* Half a request: each connection holds a thread waiting for more. */
		ck_assert_int_eq(write(fd, START, strlen(START)), (ssize_t)strlen(START));
		fds[n++] = fd;
	}
	j = get_json("/health/live", &st);
	ck_assert_int_eq(st, 200);
	json_decref(j);
	/* Finish a few of the half requests: they are served too. */
	for (i = 0; i < 10; i++) {
		char reply[64] = "";

		ck_assert_int_eq(write(fds[i], FINISH, strlen(FINISH)), (ssize_t)strlen(FINISH));
		ck_assert_int_gt(read(fds[i], reply, sizeof(reply) - 1), 12);
		ck_assert_int_eq(strncmp(reply, "HTTP/1.1 200", 12), 0);
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
}
END_TEST

START_TEST(routing_errors_are_json)
{
	struct httpc_resp r;
	char url[128];

	snprintf(url, sizeof(url), "%s/nothing/here", S.base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "not_found");
	ck_assert_ptr_nonnull(httpc_json_str(&r, "message"));
	httpc_resp_free(&r);
	snprintf(url, sizeof(url), "%s/health/live", S.base);
	ck_assert_int_eq(httpc_post(url, NULL, "{}", &r), 0);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "method_not_allowed");
	httpc_resp_free(&r);
}
END_TEST

START_TEST(logs_are_structured_and_traced)
{
	const char *h[] = {"X-Cloud-Trace-Context: 105445aa7843bc8bf206b12000100000/1;o=1", NULL};
	const char *needles[] = {"\"logging.googleapis.com/trace\":\"projects/local/traces/"
	                         "105445aa7843bc8bf206b12000100000\"",
	                         "\"severity\":\"INFO\"",
	                         "\"jobType\":\"ping\"",
	                         "\"outcome\":\"completed\"",
	                         "\"durationMs\":",
	                         NULL};
	struct httpc_resp r;
	char task[64], *tok = itest_token(&W);

	ck_assert_int_eq(cj_push_ex(&S, "ping", tok, "ping-queue",
	                            itest_task_id(task, sizeof(task)), 3, "{}", h, &r),
	                 0);
	ck_assert_int_eq(r.status, 200);
	httpc_resp_free(&r);
	ck_assert_int_ge(cj_server_log_wait(&S, needles, 5000), 1);
	free(tok);
}
END_TEST

START_TEST(configuration_errors_exit_2_naming_the_variable)
{
	struct {
		const char *env;
		const char *name;
	} cases[] = {
	    {"PORT=eighty", "PORT"},
	    {"PORT=70000", "PORT"},
	    {"USE_CLOUD_TASKS=maybe", "USE_CLOUD_TASKS"},
	    {"USE_CLOUD_TASKS=true", "GCP_PROJECT_ID"},
	    {"IDEMPOTENCY_FAIL_MODE=sometimes", "IDEMPOTENCY_FAIL_MODE"},
	    {"IDEMPOTENCY_TTL_SECONDS=60", "IDEMPOTENCY_TTL_SECONDS"},
	    {"LOG_LEVEL=loud", "LOG_LEVEL"},
	    {"CLOUD_RUN_URL=ftp://x", "CLOUD_RUN_URL"},
	    {"UPSTASH_REDIS_REST_URL=http://127.0.0.1:1", "UPSTASH_REDIS_REST_TOKEN"},
	    {"OIDC_AUDIENCE=a,,b", "OIDC_AUDIENCE"},
	    {"MAX_BODY_BYTES=-5", "MAX_BODY_BYTES"},
	    {"DATABASE_URL=mysql://db/catchup", "invalid DATABASE_URL: "},
	    {"DATABASE_URL=sqlite:", "invalid DATABASE_URL: "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *env[] = {(char *)cases[i].env, NULL};
		char *args[] = {"serve", NULL};
		char *out = NULL, *err = NULL;

		ck_assert_int_eq(cj_run(args, env, &out, &err), 2);
		ck_assert_msg(strstr(err, cases[i].name) != NULL, "%s: stderr was %s", cases[i].env,
		              err);
		ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
		free(out);
		free(err);
	}
}
END_TEST

/* SPEC §8: a queue whose retry window (the backoff waits before its last
 * attempt) is under 2 x IDEMPOTENCY_LEASE_SECONDS is refused by serve and
 * check with exit 2, naming the queue, its window and 2 x lease. */
START_TEST(short_retry_windows_are_refused)
{
	char dir[1100], src[1200], path[1200], cfg[1200];
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
	json_t *q, *sched;
	static const struct {
		const char *cmd, *lease;
		int status;
		const char *want;
	} cases[] = {
	    {"serve", "IDEMPOTENCY_LEASE_SECONDS=60", 2, "retry window 15s"},
	    {"check", "IDEMPOTENCY_LEASE_SECONDS=60", 2, "2 x IDEMPOTENCY_LEASE_SECONDS = 120s"},
	    {"check", "IDEMPOTENCY_LEASE_SECONDS=15", 2, "= 30s"},
	};

	snprintf(dir, sizeof(dir), "%s/short-window", W.dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(src, sizeof(src), "%s/config/queues.json", root);
	q = json_load_file(src, 0, NULL);
	snprintf(src, sizeof(src), "%s/config/schedules.json", root);
	sched = json_load_file(src, 0, NULL);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_nonnull(sched);
	/* 1 + 2 + 4 + 8 = 15 s before the 5th attempt. */
	json_object_set_new(json_object_get(json_object_get(q, "ping-queue"), "retryConfig"),
	                    "minBackoff", json_string("1s"));
	json_object_set_new(json_object_get(json_object_get(q, "ping-queue"), "retryConfig"),
	                    "maxBackoff", json_string("10s"));
	snprintf(path, sizeof(path), "%s/queues.json", dir);
	ck_assert_int_eq(json_dump_file(q, path, 0), 0);
	snprintf(path, sizeof(path), "%s/schedules.json", dir);
	ck_assert_int_eq(json_dump_file(sched, path, 0), 0);
	json_decref(q);
	json_decref(sched);
	snprintf(cfg, sizeof(cfg), "CONFIG_DIR=%s", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *extra[] = {cfg, cases[i].lease, NULL};
		char *args[] = {(char *)cases[i].cmd, NULL}, *out = NULL, *err = NULL;

		ck_assert_int_eq(cj_run(args, itest_env(&W, extra), &out, &err), cases[i].status);
		ck_assert_msg(strstr(err, "ping-queue") && strstr(err, cases[i].want),
		              "%s with %s: stderr was %s", cases[i].cmd, cases[i].lease, err);
		free(out);
		free(err);
	}
}
END_TEST

/* The URL's scheme is checked with the other variables; a PostgreSQL URL
 * that libpq cannot parse is refused when the store opens. Either way the
 * message names DATABASE_URL, never shows the password, and exits 2. */
START_TEST(database_url_errors_exit_2_without_the_password)
{
	char cfg_dir[1024];
	const char *urls[] = {
	    "DATABASE_URL=mysql://admin:hunter2@db.internal/catchup",
	    "DATABASE_URL=postgresql://admin:hunter2@db.internal/catchup?bogus_option=1",
	};
	char *serve[] = {"serve", NULL}, *migrate[] = {"migrate", NULL};
	char **commands[] = {serve, migrate};

	snprintf(cfg_dir, sizeof(cfg_dir), "CONFIG_DIR=%s/config", getenv("CJ_SOURCE_ROOT"));
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		for (size_t k = 0; k < 2; k++) {
			char *env[] = {(char *)urls[i], cfg_dir,
			               "TOKEN_ENCRYPTION_KEY="
			               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			               "PORT=1", NULL};
			char *out = NULL, *err = NULL;

			ck_assert_int_eq(cj_run(commands[k], env, &out, &err), 2);
			ck_assert_msg(strstr(err, "invalid DATABASE_URL: ") != NULL, "%s %s: %s",
			              commands[k][0], urls[i], err);
			ck_assert_msg(strstr(err, "hunter2") == NULL, "%s", err);
			ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1);
			free(out);
			free(err);
		}
	}
}
END_TEST

START_TEST(cloud_mode_names_every_missing_variable_in_one_line)
{
	char *env[] = {"USE_CLOUD_TASKS=true", "GCP_PROJECT_ID=p", NULL};
	char *args[] = {"serve", NULL};
	char *out = NULL, *err = NULL;

	ck_assert_int_eq(cj_run(args, env, &out, &err), 2);
	ck_assert_str_eq(err,
	                 "catchup-jobs: invalid configuration: required in cloud mode "
	                 "(USE_CLOUD_TASKS=true): GCP_REGION, CLOUD_RUN_URL, "
	                 "SERVICE_ACCOUNT_EMAIL, UPSTASH_REDIS_REST_URL, "
	                 "UPSTASH_REDIS_REST_TOKEN, TOKEN_ENCRYPTION_KEY\n");
	free(out);
	free(err);
}
END_TEST

START_TEST(cloud_mode_refuses_to_start_without_upstash)
{
	char *env[] = {"USE_CLOUD_TASKS=true",
	               "GCP_PROJECT_ID=p",
	               "GCP_REGION=r",
	               "CLOUD_RUN_URL=https://x.a.run.app",
	               "SERVICE_ACCOUNT_EMAIL=a@b.c",
	               "TOKEN_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	               NULL};
	char *args[] = {"serve", NULL};
	char *out = NULL, *err = NULL;

	ck_assert_int_eq(cj_run(args, env, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "UPSTASH_REDIS_REST_URL"));
	free(out);
	free(err);
}
END_TEST

START_TEST(help_version_and_usage_errors)
{
	char *help[] = {"--help", NULL}, *version[] = {"--version", NULL};
	char *bogus[] = {"--bogus", NULL}, *extra[] = {"serve", "now", NULL};
	char *out = NULL, *err = NULL;

	ck_assert_int_eq(cj_run(help, NULL, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "UPSTASH_REDIS_REST_URL"));
	ck_assert_ptr_nonnull(strstr(out, "usage: catchup-jobs"));
	free(out);
	free(err);
	ck_assert_int_eq(cj_run(version, NULL, &out, &err), 0);
	ck_assert_int_eq(strncmp(out, "catchup-jobs ", 13), 0);
	free(out);
	free(err);
	ck_assert_int_eq(cj_run(bogus, NULL, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "--bogus"));
	free(out);
	free(err);
	ck_assert_int_eq(cj_run(extra, NULL, &out, &err), 2);
	free(out);
	free(err);
}
END_TEST

/* Every line of check's table starts its STATUS and DETAIL cells in the
 * header's columns, after at least one space (log lines, JSON objects on the
 * same stdout, are skipped). Returns the rows seen. */
static int assert_aligned(const char *out)
{
	const char *head = strstr(out, "WHAT "), *line, *nl, *header_end;
	size_t status, detail, len;
	int rows = 0;

	ck_assert_msg(head && (head == out || head[-1] == '\n'), "no header in\n%s", out);
	header_end = strchr(head, '\n');
	ck_assert_ptr_nonnull(header_end);
	status = (size_t)(strstr(head, "STATUS") - head);
	detail = (size_t)(strstr(head, "DETAIL") - head);
	ck_assert(status < detail && detail < (size_t)(header_end - head));
	for (line = header_end + 1; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_ptr_nonnull(nl);
		if (*line == '{')
			continue;
		rows++;
		len = (size_t)(nl - line);
		ck_assert_msg(len > detail && line[0] != ' ' && line[status - 1] == ' ' &&
		                  line[status] != ' ' && line[detail - 1] == ' ' &&
		                  line[detail] != ' ',
		              "misaligned: \"%.*s\" in\n%s", (int)len, line, out);
		ck_assert(!strncmp(line + status, "OK ", 3) || !strncmp(line + status, "FAIL ", 5) ||
		          !strncmp(line + status, "SKIP ", 5));
	}
	return rows;
}

START_TEST(check_prints_a_table_and_fails_on_a_dead_dependency)
{
	char *args[] = {"check", NULL}, *out = NULL, *err = NULL;
	char **env = itest_env(&W, NULL);

	ck_assert_int_eq(cj_run(args, env, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "redis"));
	ck_assert_ptr_nonnull(strstr(out, "jwks"));
	ck_assert_ptr_null(strstr(out, "FAIL"));
	ck_assert_ptr_null(strstr(out, W.redis.token));
	ck_assert_int_ge(assert_aligned(out), 5);
	{
		/* Not configured is not a failure. */
		const char *tw = strstr(out, "\ntwilio "), *sg = strstr(out, "\nsendgrid ");

		ck_assert(tw && sg);
		ck_assert(!strncmp(strstr(tw, "SKIP"), "SKIP    not configured\n", 23));
		ck_assert(!strncmp(strstr(sg, "SKIP"), "SKIP    not configured\n", 23));
	}
	free(out);
	free(err);
	redis_fixture_stop_redis(&W.redis);
	env = itest_env(&W, NULL);
	ck_assert_int_eq(cj_run(args, env, &out, &err), 1);
	ck_assert_ptr_nonnull(strstr(out, "FAIL"));
	ck_assert_int_ge(assert_aligned(out), 5);
	free(out);
	free(err);
	ck_assert_int_eq(redis_fixture_start_redis(&W.redis), 0);
}
END_TEST

/* The messaging providers' rows: OK when the credentials work, FAIL naming
 * the refusal (never the secret) when they do not. */
START_TEST(check_tries_the_messaging_credentials)
{
	char *args[] = {"check", NULL}, *out = NULL, *err = NULL;
	char tw_url[96], sg_url[96], token[96];
	const char *extra[] = {tw_url, sg_url, "TWILIO_ACCOUNT_SID=" MFAKE_TWILIO_SID, token,
	                       "TWILIO_FROM_NUMBER=+15550006666",
	                       "SENDGRID_API_KEY=" MFAKE_SENDGRID_KEY,
	                       "EMAIL_FROM=hello@catchup.example", NULL};
	struct mfake f;

	ck_assert_int_eq(mfake_start(&f), 0);
	snprintf(tw_url, sizeof(tw_url), "TWILIO_API_URL=%s", f.url);
	snprintf(sg_url, sizeof(sg_url), "SENDGRID_API_URL=%s", f.url);
	snprintf(token, sizeof(token), "TWILIO_AUTH_TOKEN=%s", MFAKE_TWILIO_TOKEN);
	ck_assert_int_eq(cj_run(args, itest_env(&W, extra), &out, &err), 0);
	ck_assert_ptr_null(strstr(out, "FAIL"));
	ck_assert_ptr_null(strstr(out, "SKIP"));
	ck_assert_int_ge(assert_aligned(out), 7);
	free(out);
	free(err);
	snprintf(token, sizeof(token), "TWILIO_AUTH_TOKEN=wrong-twilio-secret");
	ck_assert_int_eq(cj_run(args, itest_env(&W, extra), &out, &err), 1);
	ck_assert_ptr_nonnull(strstr(out, "twilio: credentials refused (401"));
	ck_assert_ptr_null(strstr(out, "wrong-twilio-secret"));
	ck_assert_ptr_null(strstr(err, "wrong-twilio-secret"));
	ck_assert_ptr_null(strstr(out, MFAKE_SENDGRID_KEY));
	assert_aligned(out);
	free(out);
	free(err);
	mfake_stop(&f);
}
END_TEST

/* A JWKS endpoint that hangs does not hold up the listener: the keys load
 * in the background, and a push that arrives meanwhile waits for them and
 * completes. */
START_TEST(listens_while_the_jwks_endpoint_hangs)
{
	struct cj_server s2;
	struct httpc_resp r;
	char task[64], *tok = itest_token(&W);
	int64_t start;

	jwks_server_set_delay(W.jwks, 4000);
	start = time_mono_ms();
	ck_assert_int_eq(cj_server_start(&s2, itest_env(&W, NULL)), 0);
	ck_assert_int_lt(time_mono_ms() - start, 3000);
	/* The endpoint stays slow until the push is answered: however late
	 * the background fetch starts, it takes 4 s. */
	ck_assert_int_eq(cj_push(&s2, "ping", tok, "ping-queue", itest_task_id(task, sizeof(task)),
	                         0, "{}", &r),
	                 0);
	jwks_server_set_delay(W.jwks, 0);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body ? r.body : "");
	ck_assert_int_ge(time_mono_ms() - start, 3500);
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s2), 0);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("operations");
	TCase *tc = tcase_create("operations");
	int failed;

	itest_setup(&W);
	itest_server(&W, &S, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, liveness_and_readiness);
	tcase_add_test(tc, readiness_is_down_while_redis_is);
	tcase_add_test(tc, jwks_past_max_age_is_stale_until_refetched);
	tcase_add_test(tc, listens_while_the_jwks_endpoint_hangs);
	tcase_add_test(tc, metrics_exposition);
	tcase_add_test(tc, eighty_jobs_in_flight_and_liveness_answers);
	tcase_add_test(tc, a_thousand_open_connections);
	tcase_add_test(tc, routing_errors_are_json);
	tcase_add_test(tc, logs_are_structured_and_traced);
	tcase_add_test(tc, configuration_errors_exit_2_naming_the_variable);
	tcase_add_test(tc, database_url_errors_exit_2_without_the_password);
	tcase_add_test(tc, cloud_mode_names_every_missing_variable_in_one_line);
	tcase_add_test(tc, cloud_mode_refuses_to_start_without_upstash);
	tcase_add_test(tc, short_retry_windows_are_refused);
	tcase_add_test(tc, help_version_and_usage_errors);
	tcase_add_test(tc, check_prints_a_table_and_fails_on_a_dead_dependency);
	tcase_add_test(tc, check_tries_the_messaging_credentials);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	if (cj_server_stop(&S) != 0)
		failed++;
	itest_teardown(&W);
	return failed ? 1 : 0;
}
