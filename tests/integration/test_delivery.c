/*
 * test_delivery.c - the product's core promise, tested the way Cloud Tasks
 * delivers: every task ends completed or dead-lettered, none is lost and
 * none runs twice (SPEC §5.1, §8), also when the instance is SIGKILLed
 * mid-job and when Redis replies are lost after the write landed.
 *
 * A driver plays Cloud Tasks: one thread per task delivers it, and after any
 * answer but 2xx (or no answer) waits the queue's real backoff before the
 * next attempt, counting attempts in X-CloudTasks-TaskRetryCount, until
 * maxAttempts. The queue is ping-queue with a short schedule (1 s doubling
 * to 8 s, 8 attempts: a 39 s retry window, over 2 x the 15 s lease).
 *
 * Checked at the end, per task: the driver's attempts ended with a 2xx
 * whose status is "completed"; across every instance's log the job was
 * answered "completed" exactly once; no dead letter was needed.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckrun.h"
#include "itest.h"
#include "queues.h"
#include "timeutil.h"

#define LEASE "15"
#define MAX_ATTEMPTS 8
#define NTASKS 24

static struct itest W;
static char *TOKEN;
static char CONFIG[1200];
static struct queue_config PING_QUEUE = {"ping-queue", MAX_ATTEMPTS, 1, 8, 3, 10, 10, 60};

/* The instance the driver delivers to; replaced on restart. */
static pthread_mutex_t base_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cj_server SERVERS[4];
static int NSERVERS;

struct task {
	char id[64];
	const char *body;
	int attempts; /* deliveries made */
	char final[32]; /* status of the 2xx answer that ended it, or "" */
	int statuses[MAX_ATTEMPTS];
	pthread_t thread;
};

static const struct cj_server *current(void)
{
	const struct cj_server *s;

	pthread_mutex_lock(&base_lock);
	s = &SERVERS[NSERVERS - 1];
	pthread_mutex_unlock(&base_lock);
	return s;
}

/* Cloud Tasks for one task: deliver, back off, redeliver. */
static void *deliver_main(void *arg)
{
	struct task *t = arg;
	int k;

	for (k = 0; k < MAX_ATTEMPTS; k++) {
		struct httpc_resp r;
		int rc = cj_push(current(), "ping", TOKEN, "ping-queue", t->id, k, t->body, &r);

		t->attempts = k + 1;
		t->statuses[k] = rc ? 0 : (int)r.status;
		if (!rc && r.status >= 200 && r.status < 300) {
			snprintf(t->final, sizeof(t->final), "%s",
			         httpc_json_str(&r, "status") ? httpc_json_str(&r, "status") : "?");
			httpc_resp_free(&r);
			return NULL;
		}
		if (!rc)
			httpc_resp_free(&r);
		if (k + 1 < MAX_ATTEMPTS)
			msleep((long)(queues_backoff(&PING_QUEUE, k + 1) * 1000));
	}
	return NULL;
}

static void start_tasks(struct task *ts, int n, const char *prefix, const char *body)
{
	char id[64];

	for (int i = 0; i < n; i++) {
		snprintf(ts[i].id, sizeof(ts[i].id), "%s-%s", prefix,
		         itest_task_id(id, sizeof(id)));
		ts[i].body = body;
		ck_assert_int_eq(pthread_create(&ts[i].thread, NULL, deliver_main, &ts[i]), 0);
	}
}

/* Every task answered "completed" once in all logs, finished by its own
 * run, and none dead-lettered. */
static void check_tasks(struct task *ts, int n)
{
	char *logs[4] = {0};
	int i, j;

	for (i = 0; i < n; i++)
		pthread_join(ts[i].thread, NULL);
	for (j = 0; j < NSERVERS; j++)
		logs[j] = cj_server_log(&SERVERS[j]);
	for (i = 0; i < n; i++) {
		char quoted[80]; /* the id and its closing quote: "…-1" must not count "…-10" */
		const char *needles[] = {"answered: completed", quoted, NULL};
		int runs = 0;
		json_t *dl;

		snprintf(quoted, sizeof(quoted), "%s\"", ts[i].id);
		if (getenv("CJ_TEST_VERBOSE")) {
			fprintf(stderr, "%s:", ts[i].id);
			for (j = 0; j < ts[i].attempts; j++)
				fprintf(stderr, " %d", ts[i].statuses[j]);
			fprintf(stderr, " -> %s\n", ts[i].final);
		}
		for (j = 0; j < NSERVERS; j++)
			runs += log_count(logs[j], needles);
		ck_assert_msg(!strcmp(ts[i].final, "completed"),
		              "task %s ended \"%s\" after %d attempts (last HTTP %d)", ts[i].id,
		              ts[i].final, ts[i].attempts, ts[i].statuses[ts[i].attempts - 1]);
		ck_assert_msg(runs == 1, "task %s completed %d times", ts[i].id, runs);
		dl = itest_dead_letter_for(&W, current(), ts[i].id);
		ck_assert_msg(!dl, "task %s was dead-lettered", ts[i].id);
	}
	for (j = 0; j < NSERVERS; j++)
		free(logs[j]);
}

static void start_server(void)
{
	const char *extra[] = {"IDEMPOTENCY_LEASE_SECONDS=" LEASE, CONFIG, NULL};

	pthread_mutex_lock(&base_lock);
	itest_server(&W, &SERVERS[NSERVERS], extra);
	NSERVERS++;
	pthread_mutex_unlock(&base_lock);
}

/* Tasks in flight when the instance is SIGKILLed: their claims stay in
 * Redis for one lease, deliveries meanwhile get 409, and the attempt after
 * the lease ran out runs them, all within the queue's retry window. */
START_TEST(sigkill_mid_job_loses_no_task)
{
	static struct task ts[NTASKS];
	int64_t t0;

	start_tasks(ts, NTASKS, "kill", "{\"sleepMs\":4000}");
	/* Wait until every delivery is inside its handler. */
	t0 = time_mono_ms();
	while (time_mono_ms() - t0 < 5000) {
		struct httpc_resp r;
		char url[128];
		int inflight = 0;

		snprintf(url, sizeof(url), "%s/metrics", current()->base);
		if (!httpc_get(url, NULL, &r)) {
			const char *p =
			    r.body ? strstr(r.body, "\ncatchup_jobs_inflight_jobs ") : NULL;

			inflight = p ? atoi(p + strlen("\ncatchup_jobs_inflight_jobs ")) : 0;
			httpc_resp_free(&r);
		}
		if (inflight == NTASKS)
			break;
		msleep(50);
	}
	proc_signal(&SERVERS[NSERVERS - 1].proc, SIGKILL);
	proc_wait(&SERVERS[NSERVERS - 1].proc, 5000);
	start_server();
	check_tasks(ts, NTASKS);
	/* The first redeliveries met the dead instance's claims. */
	{
		int saw_409 = 0;

		for (int i = 0; i < NTASKS; i++)
			for (int k = 0; k < ts[i].attempts; k++)
				saw_409 |= ts[i].statuses[k] == 409;
		ck_assert_msg(saw_409, "no delivery met a claim of the killed instance");
	}
}
END_TEST

/* Every Redis reply is lost for 8 s after the command ran: claims land
 * unanswered (503, released in the background), completes land unanswered
 * (retried in the background), and every task still runs exactly once. */
START_TEST(lost_redis_replies_lose_no_task)
{
	static struct task ts[NTASKS];

	ck_assert_int_eq(
	    redis_fixture_fault(&W.redis, "drop", 8, "catchup:idem:ping:ping-queue/drop-"), 0);
	start_tasks(ts, NTASKS, "drop", "{\"sleepMs\":500}");
	check_tasks(ts, NTASKS);
	{
		int saw_503 = 0;

		for (int i = 0; i < NTASKS; i++)
			saw_503 |= ts[i].statuses[0] == 503;
		ck_assert_msg(saw_503, "no delivery met a lost claim reply");
	}
}
END_TEST

/* The config dir: the repository's files with ping-queue's short schedule. */
static int write_config(const char *dir)
{
	char path[1200], src[1200];
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
	json_t *q, *s;

	snprintf(src, sizeof(src), "%s/config/queues.json", root);
	q = json_load_file(src, 0, NULL);
	/* No schedules: CLOUD_RUN_URL names a host that is not this one. */
	s = json_pack("{s:[]}", "schedules");
	if (!q || !s)
		return -1;
	json_object_set_new(q, "ping-queue",
	                    json_pack("{s:{s:i, s:s, s:s, s:i, s:s}, s:{s:i, s:i}, s:s}",
	                              "retryConfig", "maxAttempts", MAX_ATTEMPTS, "minBackoff",
	                              "1s", "maxBackoff", "8s", "maxDoublings", 3,
	                              "maxRetryDuration", "0s", "rateLimits",
	                              "maxDispatchesPerSecond", 10, "maxConcurrentDispatches", 10,
	                              "dispatchDeadline", "60s"));
	snprintf(path, sizeof(path), "%s/queues.json", dir);
	if (json_dump_file(q, path, 0))
		return -1;
	snprintf(path, sizeof(path), "%s/schedules.json", dir);
	if (json_dump_file(s, path, 0))
		return -1;
	json_decref(q);
	json_decref(s);
	return 0;
}

int main(void)
{
	Suite *s = suite_create("delivery");
	TCase *tc = tcase_create("delivery");
	char dir[1100];
	int failed, i;

	itest_setup(&W);
	snprintf(dir, sizeof(dir), "%s/delivery-config", W.dir);
	if (mkdir(dir, 0700) || write_config(dir)) {
		fprintf(stderr, "cannot write the test configuration\n");
		return 1;
	}
	snprintf(CONFIG, sizeof(CONFIG), "CONFIG_DIR=%s", dir);
	start_server();
	TOKEN = itest_token(&W);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, sigkill_mid_job_loses_no_task);
	tcase_add_test(tc, lost_redis_replies_lose_no_task);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	free(TOKEN);
	if (cj_server_stop(&SERVERS[NSERVERS - 1]) != 0)
		failed++;
	for (i = 0; i < NSERVERS - 1; i++)
		proc_stop(&SERVERS[i].proc);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
