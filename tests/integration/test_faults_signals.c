/*
 * test_faults_signals.c - what Cloud Run does to an instance: SIGTERM
 * under load, and SIGKILL mid-job, in cloud mode with Upstash (SPEC §8).
 *
 * Promises:
 *   - SIGTERM with 50 jobs in flight and new connections arriving: the
 *     process exits 0 before Cloud Run's SIGKILL would come (10 s); jobs
 *     that finish within SHUTDOWN_GRACE_SECONDS are answered completed,
 *     the others 503 retry with their claims released, new arrivals are
 *     turned away (503 retry or no connection); nothing is acknowledged
 *     that did not run - redelivered to a new instance, every acknowledged
 *     task is a duplicate and every other one runs, once.
 *   - SIGKILL mid-job, then a restart: the dead instance's claims keep
 *     redeliveries at 409 until their short lease lapses (they were
 *     renewed until the kill), then the next delivery runs each task once;
 *     a task whose handler had finished before the kill is a duplicate.
 *
 * Covered elsewhere: one job within and one past the grace
 * (test_shutdown.c), SIGKILL in local mode with Upstash (test_delivery.c
 * sigkill_mid_job_loses_no_task), local mode's own store and emulator
 * (test_local.c, test_emulator.c).
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "ckrun.h"
#include "ctdriver.h"
#include "itest.h"
#include "rawhttp.h"
#include "timeutil.h"

#define LEASE_S 15

static struct itest W;
static char *TOKEN;
static char E_CONFIG[1200];
static struct queue_config PING_QUEUE = {"ping-queue", 8, 1, 8, 3, 10, 10, 60};
static const char *CLOUD[] = {"USE_CLOUD_TASKS=true",
                              "GCP_PROJECT_ID=p",
                              "GCP_REGION=r",
                              "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                              "IDEMPOTENCY_LEASE_SECONDS=15",
                              "SHUTDOWN_GRACE_SECONDS=4",
                              E_CONFIG,
                              NULL};

/* The in-flight gauge of s, or -1. */
static long inflight(const struct cj_server *s)
{
	static const char name[] = "\ncatchup_jobs_inflight_jobs ";
	struct httpc_resp r;
	char url[128];
	long v = -1;

	snprintf(url, sizeof(url), "%s/metrics", s->base);
	if (!httpc_get(url, NULL, &r)) {
		const char *p = r.body ? strstr(r.body, name) : NULL;

		if (p)
			v = strtol(p + strlen(name), NULL, 10);
		httpc_resp_free(&r);
	}
	return v;
}

static void wait_inflight(const struct cj_server *s, long want)
{
	int64_t until = time_mono_ms() + 30000;

	while (inflight(s) != want && time_mono_ms() < until)
		msleep(20);
	ck_assert_int_eq(inflight(s), want);
}

struct one {
	const struct cj_server *s;
	char id[96];
	const char *body;
	long status; /* 0: no answer */
	char outcome[24];
	pthread_t th;
};

static void *one_main(void *arg)
{
	struct one *o = arg;
	struct httpc_resp r;

	if (!cj_push(o->s, "ping", TOKEN, "ping-queue", o->id, 0, o->body, &r)) {
		o->status = r.status;
		snprintf(o->outcome, sizeof(o->outcome), "%s",
		         httpc_json_str(&r, "status") ? httpc_json_str(&r, "status") : "");
		httpc_resp_free(&r);
	}
	return NULL;
}

static void one_start(struct one *o, const struct cj_server *s, const char *prefix, int i,
                      const char *body)
{
	char id[64];

	memset(o, 0, sizeof(*o));
	o->s = s;
	o->body = body;
	snprintf(o->id, sizeof(o->id), "%s-%d-%s", prefix, i, itest_task_id(id, sizeof(id)));
	ck_assert_int_eq(pthread_create(&o->th, NULL, one_main, o), 0);
}

/* New connections while the instance drains: one push every 20 ms until
 * the test thread has seen it exit (or 200 were sent). */
struct arrivals {
	struct cj_server *s;
	struct one calls[200];
	int n;
	int stop; /* set by the test thread (atomically) */
	pthread_t th;
};

static void *arrivals_main(void *arg)
{
	struct arrivals *a = arg;

	while (a->n < 200 && !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
		struct one *o = &a->calls[a->n];
		char id[64];

		memset(o, 0, sizeof(*o));
		o->s = a->s;
		o->body = "{\"sleepMs\":100}";
		snprintf(o->id, sizeof(o->id), "late-%d-%s", a->n, itest_task_id(id, sizeof(id)));
		one_main(o);
		__atomic_store_n(&a->n, a->n + 1, __ATOMIC_RELEASE);
		msleep(20);
	}
	return NULL;
}

/* A connection kept alive by a first request (GET /health/live). */
static int kept_alive(const struct cj_server *s, struct buf *in)
{
	static const char get[] = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
	struct rawhttp_answer a;
	int fd = rawhttp_connect(s->port);

	rawhttp_write_all(fd, get, sizeof(get) - 1);
	ck_assert_int_eq(rawhttp_read_answer(fd, in, "GET", &a), 0);
	ck_assert_int_eq(a.status, 200);
	free(a.body);
	return fd;
}

/* A push of task id on the kept-alive connection fd: the status (0: the
 * connection was closed without an answer), its body's "status" in st. */
static int push_on(int fd, struct buf *in, const char *id, char *st, size_t stlen)
{
	struct rawhttp_answer a;
	char req[8192];
	json_t *j;
	int n = snprintf(req, sizeof(req),
	                 "POST /jobs/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
	                 "X-CloudTasks-QueueName: ping-queue\r\nX-CloudTasks-TaskName: %s\r\n"
	                 "X-CloudTasks-TaskRetryCount: 0\r\nContent-Length: 2\r\n\r\n{}",
	                 TOKEN, id);

	st[0] = '\0';
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n || rawhttp_read_answer(fd, in, "POST", &a))
		return 0;
	j = json_loads(a.body ? a.body : "", 0, NULL);
	snprintf(st, stlen, "%s",
	         json_string_value(json_object_get(j, "status"))
	             ? json_string_value(json_object_get(j, "status"))
	             : "");
	json_decref(j);
	free(a.body);
	return a.status;
}

/* Runs of task id across the logs. */
static int runs_of(const char *id, char *const *logs, int n)
{
	struct ct_task t = {.type = "ping"};

	snprintf(t.id, sizeof(t.id), "%s", id);
	return ct_task_runs(&t, logs, n);
}

/* Promise: see the file's first bullet. */
START_TEST(sigterm_under_load_acknowledges_only_what_ran_and_exits_in_time)
{
	enum { SHORT = 25, LONG = 25 };
	static struct one quick[SHORT], slow[LONG];
	static struct arrivals late;
	static struct one kept[3];
	struct buf kin[3] = {BUF_INIT(1 << 20), BUF_INIT(1 << 20), BUF_INIT(1 << 20)};
	int kfd[3];
	struct cj_server s, next;
	char *logs[2];
	int64_t term_ms, exit_ms;
	int answered_503 = 0;

	itest_server(&W, &s, CLOUD);
	for (int i = 0; i < SHORT; i++)
		one_start(&quick[i], &s, "quick", i, "{\"sleepMs\":1500}");
	for (int i = 0; i < LONG; i++)
		one_start(&slow[i], &s, "slow", i, "{\"sleepMs\":30000}");
	wait_inflight(&s, SHORT + LONG);
	for (int i = 0; i < 3; i++)
		kfd[i] = kept_alive(&s, &kin[i]);

	late.s = &s;
	late.n = 0;
	late.stop = 0;
	term_ms = time_mono_ms();
	proc_signal(&s.proc, SIGTERM);
	ck_assert_int_eq(pthread_create(&late.th, NULL, arrivals_main, &late), 0);
	/* Once the instance turns new connections away, requests on
	 * connections that were already open are turned away too. */
	{
		int64_t until = time_mono_ms() + 3000;
		int away = 0;

		while (!away && time_mono_ms() < until) {
			int n = __atomic_load_n(&late.n, __ATOMIC_ACQUIRE);

			for (int i = 0; i < n && !away; i++)
				away = late.calls[i].status == 0 || late.calls[i].status == 503;
			msleep(10);
		}
	}
	for (int i = 0; i < 3; i++) {
		char id[64];

		memset(&kept[i], 0, sizeof(kept[i]));
		snprintf(kept[i].id, sizeof(kept[i].id), "kept-%d-%s", i,
		         itest_task_id(id, sizeof(id)));
		kept[i].status =
		    push_on(kfd[i], &kin[i], kept[i].id, kept[i].outcome, sizeof(kept[i].outcome));
		close(kfd[i]);
		buf_release(&kin[i]);
		ck_assert_msg(kept[i].status == 0 ||
		                  (kept[i].status == 503 && !strcmp(kept[i].outcome, "retry")),
		              "%s: %ld %s", kept[i].id, kept[i].status, kept[i].outcome);
	}
	ck_assert_int_eq(proc_wait(&s.proc, 20000), 0);
	exit_ms = time_mono_ms();
	__atomic_store_n(&late.stop, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(s.proc.exit_status, 0);
	ck_assert_msg(exit_ms - term_ms < 10000, "exited %lld ms after SIGTERM",
	              (long long)(exit_ms - term_ms));
	pthread_join(late.th, NULL);
	for (int i = 0; i < SHORT; i++) {
		pthread_join(quick[i].th, NULL);
		ck_assert_msg(quick[i].status == 200 && !strcmp(quick[i].outcome, "completed"),
		              "%s: %ld %s", quick[i].id, quick[i].status, quick[i].outcome);
	}
	for (int i = 0; i < LONG; i++) {
		pthread_join(slow[i].th, NULL);
		ck_assert_msg(slow[i].status == 503 && !strcmp(slow[i].outcome, "retry"),
		              "%s: %ld %s", slow[i].id, slow[i].status, slow[i].outcome);
	}
	for (int i = 0; i < late.n; i++) {
		const struct one *o = &late.calls[i];

		ck_assert_msg(o->status == 0 || o->status == 503 ||
		                  (o->status == 200 && !strcmp(o->outcome, "completed")),
		              "%s: %ld %s", o->id, o->status, o->outcome);
		answered_503 += o->status == 503;
	}
	ck_assert_int_ge(late.n, 1);

	/* Cloud Tasks redelivers everything not acknowledged - and, as it may,
	 * some that were: to a new instance. */
	itest_server(&W, &next, CLOUD);
	{
		struct one *all[SHORT + LONG + 3 + 200];
		int n = 0;

		for (int i = 0; i < 3; i++)
			all[n++] = &kept[i];
		for (int i = 0; i < SHORT; i++)
			all[n++] = &quick[i];
		for (int i = 0; i < LONG; i++)
			all[n++] = &slow[i];
		for (int i = 0; i < late.n; i++)
			all[n++] = &late.calls[i];
		for (int i = 0; i < n; i++) {
			int acked = all[i]->status == 200;
			struct httpc_resp r;

			ck_assert_int_eq(
			    cj_push(&next, "ping", TOKEN, "ping-queue", all[i]->id, 1, "{}", &r),
			    0);
			ck_assert_msg(r.status == 200, "%s again: %ld %s", all[i]->id, r.status,
			              r.body);
			ck_assert_str_eq(httpc_json_str(&r, "status"),
			                 acked ? "duplicate" : "completed");
			httpc_resp_free(&r);
		}
		ck_assert_int_eq(cj_server_stop(&next), 0);
		logs[0] = cj_server_log(&s);
		logs[1] = cj_server_log(&next);
		for (int i = 0; i < n; i++)
			ck_assert_msg(runs_of(all[i]->id, logs, 2) == 1, "%s ran %d times",
			              all[i]->id, runs_of(all[i]->id, logs, 2));
		free(logs[0]);
		free(logs[1]);
	}
	if (getenv("CJ_TEST_VERBOSE"))
		fprintf(
		    stderr,
		    "exit after %lld ms; %d arrivals, %d answered 503; kept-alive: %ld %ld %ld\n",
		    (long long)(exit_ms - term_ms), late.n, answered_503, kept[0].status,
		    kept[1].status, kept[2].status);
}
END_TEST

/* Promise: see the file's second bullet. */
START_TEST(sigkill_mid_job_runs_each_task_once_after_the_lease_lapses)
{
	enum { DONE = 4, RUNNING = 8 };
	static struct ct_task running[RUNNING];
	struct cj_server s;
	struct ctdriver *d = ctdriver_new(&PING_QUEUE, TOKEN);
	char ids[DONE][96], id[64], *logs[2], story[512];
	int64_t kill_ms;
	int saw_409 = 0;

	ck_assert_ptr_nonnull(d);
	itest_server(&W, &s, CLOUD);
	for (int i = 0; i < DONE; i++) {
		struct httpc_resp r;

		snprintf(ids[i], sizeof(ids[i]), "done-%d-%s", i, itest_task_id(id, sizeof(id)));
		ck_assert_int_eq(cj_push(&s, "ping", TOKEN, "ping-queue", ids[i], 0, "{}", &r), 0);
		ck_assert_str_eq(httpc_json_str(&r, "status"), "completed");
		httpc_resp_free(&r);
	}
	ctdriver_target(d, &s);
	for (int i = 0; i < RUNNING; i++) {
		char tid[96];

		snprintf(tid, sizeof(tid), "killed-%d-%s", i, itest_task_id(id, sizeof(id)));
		ct_task_start(d, &running[i], "ping", tid, "{\"sleepMs\":6000}");
	}
	wait_inflight(&s, RUNNING);
	kill_ms = time_mono_ms();
	proc_signal(&s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&s.proc, 5000), 0);
	logs[0] = cj_server_log(&s);
	ck_assert_int_eq(cj_server_restart(&s, itest_env(&W, CLOUD)), 0);

	for (int i = 0; i < DONE; i++) {
		struct httpc_resp r;

		ck_assert_int_eq(cj_push(&s, "ping", TOKEN, "ping-queue", ids[i], 1, "{}", &r), 0);
		ck_assert_str_eq(httpc_json_str(&r, "status"), "duplicate");
		httpc_resp_free(&r);
	}
	for (int i = 0; i < RUNNING; i++)
		ct_task_join(&running[i]);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	logs[1] = cj_server_log(&s);
	for (int i = 0; i < RUNNING; i++) {
		const struct ct_task *t = &running[i];
		int last = t->attempts - 1;

		ck_assert_msg(!strcmp(t->final, "completed"), "%s: %s", t->id,
		              ct_task_story(t, story, sizeof(story)));
		ck_assert_msg(ct_task_runs(t, logs, 2) == 1, "%s ran %d times: %s", t->id,
		              ct_task_runs(t, logs, 2), ct_task_story(t, story, sizeof(story)));
		/* Claimed before the kill and renewed every lease/3 until it, the
		 * claim outlives the kill by about 2/3 of a lease (less the
		 * renewal thread's lateness): half a lease at the very least. */
		ck_assert_msg(t->sent_ms[last] - kill_ms >= LEASE_S * 1000 / 2,
		              "%s ran %lld ms after the kill: %s", t->id,
		              (long long)(t->sent_ms[last] - kill_ms),
		              ct_task_story(t, story, sizeof(story)));
		saw_409 |= ct_task_count(t, 409) > 0;
		ct_task_release(&running[i]);
	}
	ck_assert_msg(saw_409, "no redelivery met a claim of the killed instance");
	free(logs[0]);
	free(logs[1]);
	ctdriver_free(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-signals");
	TCase *tc = tcase_create("faults-signals");
	char dir[1100];
	int failed;

	itest_setup(&W);
	snprintf(dir, sizeof(dir), "%s/signals-config", W.dir);
	if (mkdir(dir, 0700) || ctdriver_write_config(dir, &PING_QUEUE)) {
		fprintf(stderr, "cannot write the test configuration\n");
		return 1;
	}
	snprintf(E_CONFIG, sizeof(E_CONFIG), "CONFIG_DIR=%s", dir);
	TOKEN = itest_token(&W);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sigterm_under_load_acknowledges_only_what_ran_and_exits_in_time);
	tcase_add_test(tc, sigkill_mid_job_runs_each_task_once_after_the_lease_lapses);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	free(TOKEN);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
