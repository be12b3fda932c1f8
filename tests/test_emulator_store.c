/*
 * test_emulator_store.c - unit tests for src/emulator_store.c on SQLite and
 * a real PostgreSQL server: create/get/list/delete, name tombstones for one
 * hour, :purge forgetting them, pause state, the transition guards, claims
 * that stay exclusive under two concurrent claimers, the recovery of rows a
 * killed process left running, and the operator console's reads (dispatch
 * order, counts) and delete.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "emulator_store.h"
#include "migrate.h"
#include "pgtest.h"
#include "proc.h"
#include "queues.h"
#include "store.h"

#define NOW 1800000000.0
#define PREFIX "projects/p/locations/l/queues/"

struct tdb {
	struct store *s;
	char *url;
	char *dir;
};

static void tdb_open(struct tdb *t, int b)
{
	char err[256];
	int rc;

	t->url = pgtest_backend_url(b, &t->dir);
	ck_assert_msg(t->url != NULL, "no %s database", pgtest_backend_name(b));
	rc = store_open(t->url, &t->s, err, sizeof(err));
	ck_assert_msg(rc == CJ_OK, "open %s: %s", pgtest_backend_name(b), err);
	rc = migrate_run(t->s, NULL, err, sizeof(err));
	ck_assert_msg(rc == CJ_OK, "migrate: %s", err);
}

static void tdb_close(struct tdb *t)
{
	store_close(t->s);
	if (t->dir) {
		remove_tree(t->dir);
		free(t->dir);
	}
	free(t->url);
}

/* A task of queue q named id, due at when. The strings live in static
 * buffers until the next call. */
static struct emu_task task(const char *q, const char *id, double when)
{
	static char name[256], queue[64], tid[64];
	struct emu_task t = {0};

	snprintf(name, sizeof(name), PREFIX "%s/tasks/%s", q, id);
	snprintf(queue, sizeof(queue), "%s", q);
	snprintf(tid, sizeof(tid), "%s", id);
	t.name = name;
	t.queue = queue;
	t.id = tid;
	t.url = "http://127.0.0.1:1/jobs/ping";
	t.method = "POST";
	t.headers = "{\"Content-Type\":\"application/json\"}";
	t.body_b64 = "e30=";
	t.oidc_email = "a@b.c";
	t.schedule_time = when;
	t.create_time = NOW;
	t.dispatch_deadline = 600;
	return t;
}

static int create(struct store *s, const char *q, const char *id, double when, double now,
                  int *tomb)
{
	struct emu_task t = task(q, id, when);
	char err[256];

	return emu_store_create(s, &t, now, tomb, err, sizeof(err));
}

static void must_create(struct store *s, const char *q, const char *id, double when)
{
	ck_assert_int_eq(create(s, q, id, when, NOW, NULL), CJ_OK);
}

static char *full(const char *q, const char *id)
{
	static char name[256];

	snprintf(name, sizeof(name), PREFIX "%s/tasks/%s", q, id);
	return name;
}

/* Claims the task named name at now; CJ_OK fills *out when out is given. */
static int claim(struct store *s, const char *name, double now, int due_only, struct emu_task *out)
{
	struct emu_move_args a = {0};
	char err[256];

	a.name = name;
	a.now = now;
	a.due_only = due_only;
	a.first_attempt = "{\"dispatchTime\":\"x\"}";
	a.last_attempt = "{\"dispatchTime\":\"x\"}";
	return emu_store_move(s, EMU_MOVE_CLAIM, &a, out, err, sizeof(err));
}

static int finish(struct store *s, const struct emu_task *c, enum emu_move m, double now,
                  int status, double next)
{
	struct emu_move_args a = {0};
	char err[256];

	a.name = c->name;
	a.now = now;
	a.dispatch_count = c->dispatch_count;
	a.create_time = c->create_time;
	a.answered = status > 0;
	a.status = status;
	a.last_attempt = "{\"responseStatus\":{\"code\":14,\"message\":\"m\"}}";
	a.retry_reason = "HTTP 503";
	a.schedule_time = next;
	return emu_store_move(s, m, &a, NULL, err, sizeof(err));
}

START_TEST(create_get_list_delete)
{
	struct tdb t;
	struct emu_task got, *v;
	struct emu_move_args del = {0};
	char err[256], id[16], after[256];
	size_t n;
	int tomb;

	tdb_open(&t, _i);
	must_create(t.s, "q1", "a", NOW);
	ck_assert_int_eq(create(t.s, "q1", "a", NOW, NOW, &tomb), CJ_EEXISTS);
	ck_assert_int_eq(tomb, 0);
	ck_assert_int_eq(emu_store_get(t.s, full("q1", "a"), 1, &got, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(got.id, "a");
	ck_assert_str_eq(got.queue, "q1");
	ck_assert_str_eq(got.body_b64, "e30=");
	ck_assert_str_eq(got.oidc_email, "a@b.c");
	ck_assert_ptr_null(got.oidc_audience);
	ck_assert_ptr_null(got.last_attempt);
	ck_assert_int_eq(got.state, EMU_QUEUED);
	ck_assert(got.schedule_time == NOW);
	ck_assert(got.dispatch_deadline == 600);
	emu_task_release(&got);
	/* BASIC view: no body read. */
	ck_assert_int_eq(emu_store_get(t.s, full("q1", "a"), 0, &got, err, sizeof(err)), CJ_OK);
	ck_assert_ptr_null(got.body_b64);
	emu_task_release(&got);
	ck_assert_int_eq(emu_store_get(t.s, full("q1", "zz"), 0, &got, err, sizeof(err)),
	                 CJ_ENOTFOUND);

	/* Listing: the queue's live tasks in name order, page by page. */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "b%d", 4 - i);
		must_create(t.s, "q1", id, NOW + i);
	}
	must_create(t.s, "q2", "other", NOW);
	ck_assert_int_eq(emu_store_list(t.s, "q1", "", 4, 0, &v, &n, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(v[0].id, "a");
	ck_assert_str_eq(v[1].id, "b0");
	ck_assert_str_eq(v[3].id, "b2");
	ck_assert_ptr_null(v[0].body_b64);
	snprintf(after, sizeof(after), "%s", v[3].name);
	emu_tasks_free(v, n);
	ck_assert_int_eq(emu_store_list(t.s, "q1", after, 4, 1, &v, &n, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].id, "b3");
	ck_assert_str_eq(v[0].body_b64, "e30=");
	emu_tasks_free(v, n);

	/* Delete: the task is gone and its name is a tombstone for an hour. */
	del.name = full("q1", "a");
	del.now = NOW + 10;
	ck_assert_int_eq(emu_store_move(t.s, EMU_MOVE_DELETE_QUEUED, &del, NULL, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(emu_store_move(t.s, EMU_MOVE_DELETE_QUEUED, &del, NULL, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(emu_store_get(t.s, full("q1", "a"), 0, &got, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(create(t.s, "q1", "a", NOW, NOW + 20, &tomb), CJ_EEXISTS);
	ck_assert_int_eq(tomb, 1);
	ck_assert_int_eq(create(t.s, "q1", "a", NOW, NOW + 10 + EMU_TOMBSTONE_S - 1, &tomb),
	                 CJ_EEXISTS);
	ck_assert_int_eq(create(t.s, "q1", "a", NOW, NOW + 10 + EMU_TOMBSTONE_S, &tomb), CJ_OK);
	tdb_close(&t);
}
END_TEST

START_TEST(transitions_are_guarded)
{
	struct tdb t;
	struct emu_task c, got;
	char err[256];
	struct emu_due *names;
	size_t n;

	tdb_open(&t, _i);
	must_create(t.s, "q1", "later", NOW + 100);
	/* Not due: the dispatcher's claim refuses it, :run's does not. */
	ck_assert_int_eq(claim(t.s, full("q1", "later"), NOW, 1, NULL), CJ_ENOTFOUND);
	ck_assert_int_eq(emu_store_due(t.s, "q1", NOW, 10, &names, &n, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(claim(t.s, full("q1", "later"), NOW, 0, &c), CJ_OK);
	ck_assert_int_eq(c.state, EMU_RUNNING);
	ck_assert_int_eq(c.dispatch_count, 1);
	ck_assert_str_eq(c.body_b64, "e30=");
	ck_assert_str_eq(c.first_attempt, "{\"dispatchTime\":\"x\"}");
	/* Taken once only. */
	ck_assert_int_eq(claim(t.s, full("q1", "later"), NOW, 0, NULL), CJ_ENOTFOUND);
	/* An outcome names the attempt it ends. */
	c.dispatch_count = 2;
	ck_assert_int_eq(finish(t.s, &c, EMU_MOVE_RETRY, NOW + 1, 503, NOW + 11), CJ_ENOTFOUND);
	c.dispatch_count = 1;
	ck_assert_int_eq(finish(t.s, &c, EMU_MOVE_RETRY, NOW + 1, 503, NOW + 11), CJ_OK);
	ck_assert_int_eq(finish(t.s, &c, EMU_MOVE_RETRY, NOW + 1, 503, NOW + 11), CJ_ENOTFOUND);
	ck_assert_int_eq(emu_store_get(t.s, c.name, 0, &got, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(got.state, EMU_QUEUED);
	ck_assert_int_eq(got.response_count, 1);
	ck_assert_int_eq(got.last_status, 503);
	ck_assert_str_eq(got.retry_reason, "HTTP 503");
	ck_assert(got.schedule_time == NOW + 11);
	emu_task_release(&got);
	{
		double when;
		int found;

		ck_assert_int_eq(emu_store_next_due(t.s, "q1", &when, &found, err, sizeof(err)),
		                 CJ_OK);
		ck_assert(found && when == NOW + 11);
		ck_assert_int_eq(emu_store_next_due(t.s, "q9", &when, &found, err, sizeof(err)),
		                 CJ_OK);
		ck_assert(!found);
	}
	/* A second attempt without an answer, then completion. */
	emu_task_release(&c);
	ck_assert_int_eq(emu_store_due(t.s, "q1", NOW + 11, 10, &names, &n, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(claim(t.s, names[0].name, NOW + 11, 1, &c), CJ_OK);
	emu_due_free(names, n);
	ck_assert_int_eq(c.dispatch_count, 2);
	ck_assert_str_eq(c.first_attempt, "{\"dispatchTime\":\"x\"}");
	ck_assert_int_eq(finish(t.s, &c, EMU_MOVE_COMPLETE, NOW + 12, 0, 0), CJ_OK);
	ck_assert_int_eq(emu_store_get(t.s, c.name, 0, &got, err, sizeof(err)), CJ_ENOTFOUND);
	ck_assert_int_eq(create(t.s, "q1", "later", NOW, NOW + 13, NULL), CJ_EEXISTS);
	/* A running task deleted mid-attempt: its outcome is not written. */
	must_create(t.s, "q1", "del", NOW);
	emu_task_release(&c);
	ck_assert_int_eq(claim(t.s, full("q1", "del"), NOW, 1, &c), CJ_OK);
	{
		struct emu_move_args d = {0};

		d.name = c.name;
		d.now = NOW + 1;
		ck_assert_int_eq(
		    emu_store_move(t.s, EMU_MOVE_DELETE_QUEUED, &d, NULL, err, sizeof(err)),
		    CJ_ENOTFOUND);
		ck_assert_int_eq(
		    emu_store_move(t.s, EMU_MOVE_DELETE_RUNNING, &d, NULL, err, sizeof(err)),
		    CJ_OK);
	}
	ck_assert_int_eq(finish(t.s, &c, EMU_MOVE_COMPLETE, NOW + 2, 200, 0), CJ_ENOTFOUND);
	emu_task_release(&c);
	/* Sweep: tombstones older than an hour go. */
	{
		long swept = -1;

		ck_assert_int_eq(emu_store_sweep(t.s, NOW + 100, &swept, err, sizeof(err)), CJ_OK);
		ck_assert_int_eq(swept, 0);
		ck_assert_int_eq(
		    emu_store_sweep(t.s, NOW + 13 + EMU_TOMBSTONE_S, &swept, err, sizeof(err)),
		    CJ_OK);
		ck_assert_int_eq(swept, 2);
	}
	tdb_close(&t);
}
END_TEST

START_TEST(purge_forgets_tombstones_and_pause_persists)
{
	struct tdb t;
	struct emu_task c, *v;
	char err[256];
	double purge;
	size_t n;
	long purged = -1;
	int paused;

	tdb_open(&t, _i);
	must_create(t.s, "q1", "done", NOW);
	must_create(t.s, "q1", "live", NOW);
	must_create(t.s, "q2", "keep", NOW);
	ck_assert_int_eq(claim(t.s, full("q1", "done"), NOW, 1, &c), CJ_OK);
	ck_assert_int_eq(finish(t.s, &c, EMU_MOVE_COMPLETE, NOW, 200, 0), CJ_OK);
	emu_task_release(&c);
	ck_assert_int_eq(create(t.s, "q1", "done", NOW, NOW + 1, NULL), CJ_EEXISTS);

	ck_assert_int_eq(emu_store_queue_get(t.s, "q1", &paused, &purge, err, sizeof(err)), CJ_OK);
	ck_assert(!paused && purge == 0);
	ck_assert_int_eq(emu_store_purge(t.s, "q1", NOW + 5, &purged, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(purged, 2);
	ck_assert_int_eq(emu_store_queue_get(t.s, "q1", &paused, &purge, err, sizeof(err)), CJ_OK);
	ck_assert(!paused && purge == NOW + 5);
	ck_assert_int_eq(emu_store_list(t.s, "q1", NULL, 10, 0, &v, &n, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(emu_store_list(t.s, "q2", NULL, 10, 0, &v, &n, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(n, 1);
	emu_tasks_free(v, n);
	/* The tombstone went with the purge: the name is free again. */
	ck_assert_int_eq(create(t.s, "q1", "done", NOW, NOW + 6, NULL), CJ_OK);

	ck_assert_int_eq(emu_store_queue_set_paused(t.s, "q1", 1, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(emu_store_queue_get(t.s, "q1", &paused, &purge, err, sizeof(err)), CJ_OK);
	ck_assert(paused && purge == NOW + 5);
	ck_assert_int_eq(emu_store_queue_set_paused(t.s, "q1", 0, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(emu_store_queue_get(t.s, "q1", &paused, &purge, err, sizeof(err)), CJ_OK);
	ck_assert(!paused);
	ck_assert_int_eq(emu_store_queue_set_paused(t.s, "q3", 1, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(emu_store_queue_get(t.s, "q3", &paused, &purge, err, sizeof(err)), CJ_OK);
	ck_assert(paused && purge == 0);
	tdb_close(&t);
}
END_TEST

#define NCLAIM 200

static pthread_barrier_t start_line;

struct claimer {
	struct store *s;
	int got[NCLAIM];
	int claims;
	int errors;
};

/* Claims due tasks in small batches until none is left, as a dispatcher
 * thread does. */
static void *claimer_main(void *arg)
{
	struct claimer *c = arg;
	char err[256];
	struct emu_due *names;
	size_t n;

	pthread_barrier_wait(&start_line);
	for (;;) {
		if (emu_store_due(c->s, "race", NOW, 8, &names, &n, err, sizeof(err))) {
			c->errors++;
			continue;
		}
		if (!n)
			break;
		for (size_t i = 0; i < n; i++) {
			int rc = claim(c->s, names[i].name, NOW, 1, NULL);
			int idx = atoi(strrchr(names[i].name, '-') + 1);

			if (rc == CJ_OK) {
				c->got[idx]++;
				c->claims++;
			} else if (rc != CJ_ENOTFOUND) {
				c->errors++;
			}
		}
		emu_due_free(names, n);
	}
	return NULL;
}

START_TEST(claims_are_exclusive)
{
	static struct claimer c[2];
	pthread_t th[2];
	struct tdb t;
	char id[32];

	tdb_open(&t, _i);
	for (int i = 0; i < NCLAIM; i++) {
		snprintf(id, sizeof(id), "t-%d", i);
		must_create(t.s, "race", id, NOW - i % 7);
	}
	memset(c, 0, sizeof(c));
	/* Two connections open before the claimers start, and a barrier:
	 * a race, not a relay (opening a PostgreSQL connection takes longer
	 * than 200 claims). */
	{
		struct store_conn *a, *b;
		char err[256];

		ck_assert_int_eq(store_acquire(t.s, &a, err, sizeof(err)), CJ_OK);
		ck_assert_int_eq(store_acquire(t.s, &b, err, sizeof(err)), CJ_OK);
		store_release(a);
		store_release(b);
	}
	ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		c[i].s = t.s;
		ck_assert_int_eq(pthread_create(&th[i], NULL, claimer_main, &c[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_line);
	for (int i = 0; i < NCLAIM; i++)
		ck_assert_msg(c[0].got[i] + c[1].got[i] == 1, "task %d claimed %d times", i,
		              c[0].got[i] + c[1].got[i]);
	ck_assert_int_eq(c[0].claims + c[1].claims, NCLAIM);
	ck_assert_msg(c[0].errors + c[1].errors < 20, "%d store errors", c[0].errors + c[1].errors);
	/* Whether both threads won some claims depends on the scheduler of a
	 * loaded machine; exclusivity (each task claimed once) is the promise. */
	tdb_close(&t);
}
END_TEST

START_TEST(recovery_of_running_rows)
{
	struct tdb t;
	struct queues *q = NULL;
	const struct queue_config *qc;
	struct emu_task c, got;
	char err[256], dir[1024];
	int requeued = -1, ended = -1;

	snprintf(dir, sizeof(dir), "%s/config",
	         getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".");
	ck_assert_msg(queues_load(dir, &q, err, sizeof(err)) == CJ_OK, "%s", err);
	qc = queues_find(q, "ping-queue");
	ck_assert_ptr_nonnull(qc);
	tdb_open(&t, _i);
	/* One task in its first attempt, one in its last, one waiting. */
	must_create(t.s, "ping-queue", "first", NOW);
	must_create(t.s, "ping-queue", "last", NOW);
	must_create(t.s, "ping-queue", "waiting", NOW + 50);
	ck_assert_int_eq(claim(t.s, full("ping-queue", "first"), NOW, 1, &c), CJ_OK);
	emu_task_release(&c);
	for (int k = 1; k <= qc->max_attempts; k++) {
		ck_assert_int_eq(claim(t.s, full("ping-queue", "last"), NOW, 0, &c), CJ_OK);
		if (k < qc->max_attempts)
			ck_assert_int_eq(finish(t.s, &c, EMU_MOVE_RETRY, NOW, 503, NOW), CJ_OK);
		emu_task_release(&c);
	}
	/* The process "dies"; a new one recovers at NOW + 1000. */
	ck_assert_int_eq(emu_store_recover(t.s, q, NOW + 1000, &requeued, &ended, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(requeued, 1);
	ck_assert_int_eq(ended, 1);
	ck_assert_int_eq(emu_store_get(t.s, full("ping-queue", "first"), 0, &got, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(got.state, EMU_QUEUED);
	ck_assert_int_eq(got.dispatch_count, 1); /* the lost attempt counts */
	ck_assert_int_eq(got.response_count, 0);
	ck_assert(got.schedule_time == NOW + 1000 + queues_backoff(qc, 1));
	ck_assert_ptr_nonnull(strstr(got.last_attempt, "\"code\":14"));
	ck_assert_ptr_nonnull(strstr(got.last_attempt, "dispatchTime"));
	emu_task_release(&got);
	ck_assert_int_eq(emu_store_get(t.s, full("ping-queue", "last"), 0, &got, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(create(t.s, "ping-queue", "last", NOW, NOW + 1001, NULL), CJ_EEXISTS);
	ck_assert_int_eq(
	    emu_store_get(t.s, full("ping-queue", "waiting"), 0, &got, err, sizeof(err)), CJ_OK);
	ck_assert(got.schedule_time == NOW + 50 && got.dispatch_count == 0);
	emu_task_release(&got);
	/* Nothing left to recover. */
	ck_assert_int_eq(emu_store_recover(t.s, q, NOW + 2000, &requeued, &ended, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(requeued + ended, 0);
	queues_free(q);
	tdb_close(&t);
}
END_TEST

/* The operator console's reads: dispatch order with a keyset that shows
 * every live task once, ties broken by id; bodies read up to a cap; the
 * queue's counts; delete of a queued or running task. */
START_TEST(console_list_counts_and_delete)
{
	static const char *const order[] = {"b", "d", "a", "c", "e"};
	struct emu_list_after after = {0, NULL};
	struct emu_task *v = NULL, big;
	char err[256], last_id[64];
	long depth, in_flight;
	size_t n, seen = 0;
	struct tdb t;

	tdb_open(&t, _i);
	must_create(t.s, "q1", "a", NOW + 20);
	must_create(t.s, "q1", "b", NOW + 10.5);
	must_create(t.s, "q1", "c", NOW + 20);
	must_create(t.s, "q1", "d", NOW + 10.75);
	must_create(t.s, "q1", "e", NOW + 30);
	must_create(t.s, "q2", "z", NOW);
	/* Pages of two, each after the last of the previous one. */
	for (int page = 0; page < 4; page++) {
		ck_assert_int_eq(emu_store_list_by_time(t.s, "q1", seen ? &after : NULL, 2, 1000, &v,
		                                        &n, err, sizeof(err)),
		                 CJ_OK);
		if (!n) {
			emu_tasks_free(v, n);
			break;
		}
		for (size_t i = 0; i < n; i++, seen++) {
			ck_assert_str_eq(v[i].id, order[seen]);
			ck_assert_str_eq(v[i].body_b64, "e30=");
		}
		after.schedule_time = v[n - 1].schedule_time;
		snprintf(last_id, sizeof(last_id), "%s", v[n - 1].id);
		after.id = last_id;
		emu_tasks_free(v, n);
	}
	ck_assert_uint_eq(seen, 5);
	/* A body over the cap reads as NULL; no body at all is NULL too. */
	big = task("q3", "big", NOW);
	big.body_b64 = "eyJ4IjoiMDEyMzQ1Njc4OSJ9";
	ck_assert_int_eq(emu_store_create(t.s, &big, NOW, NULL, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(emu_store_list_by_time(t.s, "q3", NULL, 10, 8, &v, &n, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_null(v[0].body_b64);
	emu_tasks_free(v, n);
	ck_assert_int_eq(emu_store_list_by_time(t.s, "q3", NULL, 10, 0, &v, &n, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_ptr_null(v[0].body_b64);
	emu_tasks_free(v, n);
	/* Counts: live tasks and those in an attempt. */
	ck_assert_int_eq(claim(t.s, full("q1", "b"), NOW + 100, 1, NULL), CJ_OK);
	ck_assert_int_eq(emu_store_queue_counts(t.s, "q1", &depth, &in_flight, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(depth, 5);
	ck_assert_int_eq(in_flight, 1);
	/* Delete: a running task and a queued one; then they are gone. */
	ck_assert_int_eq(emu_store_delete(t.s, full("q1", "b"), NOW + 101, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(emu_store_delete(t.s, full("q1", "c"), NOW + 101, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(emu_store_delete(t.s, full("q1", "c"), NOW + 101, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(emu_store_delete(t.s, full("q1", "nope"), NOW, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(emu_store_queue_counts(t.s, "q1", &depth, &in_flight, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(depth, 3);
	ck_assert_int_eq(in_flight, 0);
	ck_assert_int_eq(emu_store_queue_counts(t.s, "empty", &depth, &in_flight, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(depth, 0);
	tdb_close(&t);
}
END_TEST

START_TEST(attempt_json)
{
	struct emu_attempt a = {1800000000.5, 1800000001, 0, 1, 4, "deadline"};
	char *s = emu_attempt_json(&a);

	ck_assert_str_eq(s,
	                 "{\"scheduleTime\":\"2027-01-15T08:00:00.500000Z\","
	                 "\"dispatchTime\":\"2027-01-15T08:00:01Z\","
	                 "\"responseStatus\":{\"code\":4,\"message\":\"deadline\"}}");
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("emulator_store");
	TCase *tc = tcase_create("both");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, create_get_list_delete, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, transitions_are_guarded, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, purge_forgets_tombstones_and_pause_persists, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, claims_are_exclusive, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, recovery_of_running_rows, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, console_list_counts_and_delete, 0, PGTEST_NBACKENDS);
	tcase_add_test(tc, attempt_json);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
