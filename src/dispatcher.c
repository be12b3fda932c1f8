/*
 * dispatcher.c - the embedded Cloud Tasks' loop and workers; see
 * dispatcher.h.
 *
 * Owns one struct dqueue per configured queue (state, bucket, in-flight
 * count, the earliest due time known), a list of claimed tasks waiting for a
 * worker (never longer than the idle workers plus those that may still be
 * created, because the loop claims no more), and the threads. Everything
 * mutable is guarded by d->lock; the store is called without it.
 *
 * The earliest due time of a queue (next_due) is read from the store when
 * the queue runs dry or its state changes, and lowered without a query when
 * a task is created or a failed attempt is rescheduled, so an idle loop
 * costs no database reads. A stale next_due only ever errs early: the loop
 * then finds nothing due and reads the true one.
 *
 * Every write before an external call, and what a kill -9 right after it
 * leaves: the CLAIM (RUNNING, dispatch_count + 1) precedes the push, so a
 * death during the push leaves a RUNNING row that the next start counts as
 * an attempt without an answer and reschedules (emu_store_recover(); tested
 * by tests/integration/test_emulator.c's kill -9 test). The outcome is
 * written after the answer: a death between the two repeats the attempt,
 * which Cloud Tasks' at-least-once delivery allows and the idempotency keys
 * of /jobs absorb.
 */
#include "dispatcher.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "emulator_push.h"
#include "log.h"
#include "metrics.h"
#include "queues.h"
#include "store.h"
#include "timeutil.h"

#define SWEEP_EVERY_S 600.0 /* business seconds between tombstone sweeps */
#define STORE_RETRY_S 1.0 /* after a failed store call */

struct dqueue {
	const struct queue_config *qc;
	int paused;
	double next_due; /* business time; INFINITY: nothing queued */
	double tokens; /* the bucket */
	int64_t refilled_ms; /* monotonic time of the last refill */
	int inflight; /* claimed, not yet ended */
};

struct job {
	struct emu_task task;
	double scheduled; /* the attempt's scheduleTime (:run: when it was asked) */
	struct dqueue *q;
	struct job *next;
};

struct dispatcher {
	struct store *store;
	const struct queues *queues;
	emu_mint_fn mint;
	void *mint_arg;
	int max_workers;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* the loop's; CLOCK_MONOTONIC */
	pthread_cond_t work; /* the workers' */
	/* Guarded by lock. */
	struct dqueue *qs;
	size_t nq;
	unsigned long pokes; /* bumped by every wake-up source */
	int changed; /* queue states must be re-read */
	int quiescing; /* no new claims */
	int stopping; /* workers exit once the pending list is empty */
	struct job *pending, *pending_tail;
	int npending;
	int busy; /* claimed tasks not yet ended (pending or running) */
	int idle; /* workers waiting for a job */
	pthread_t *workers;
	int nworkers;
	double next_sweep; /* business time */

	atomic_int cancel; /* dispatcher_stop(): cut attempts in flight */
	pthread_t loop;
	int loop_started;
};

int dispatcher_burst_size(double rate)
{
	return rate < 1 ? 1 : (int)floor(rate);
}

/* Caller holds d->lock. */
static void poke_locked(struct dispatcher *d)
{
	d->pokes++;
	pthread_cond_broadcast(&d->wake);
}

static void poke(struct dispatcher *d)
{
	pthread_mutex_lock(&d->lock);
	poke_locked(d);
	pthread_mutex_unlock(&d->lock);
}

static void on_clock(void *arg)
{
	poke(arg);
}

static struct dqueue *find_queue(struct dispatcher *d, const char *name)
{
	for (size_t i = 0; i < d->nq; i++)
		if (!strcmp(d->qs[i].qc->name, name))
			return &d->qs[i];
	return NULL;
}

void dispatcher_task_created(struct dispatcher *d, const char *queue, double schedule_time)
{
	struct dqueue *q;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	q = find_queue(d, queue);
	if (q && schedule_time < q->next_due)
		q->next_due = schedule_time;
	poke_locked(d);
	pthread_mutex_unlock(&d->lock);
}

void dispatcher_queues_changed(struct dispatcher *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->changed = 1;
	poke_locked(d);
	pthread_mutex_unlock(&d->lock);
}

/* Records the attempt's outcome; *retry_at gets the next attempt's time (0:
 * the task ended). */
static void record(struct dispatcher *d, const struct job *job, const struct emu_push_result *res,
                   double dispatched, double *retry_at)
{
	const struct emu_task *t = &job->task;
	const struct queue_config *qc = job->q->qc;
	struct emu_attempt at = {job->scheduled, dispatched, 0, 1, res->code, res->message};
	struct emu_move_args a = {0};
	double now = clock_now();
	int ok = res->answered && res->status >= 200 && res->status < 300;
	int last = qc->max_attempts >= 0 && t->dispatch_count >= qc->max_attempts;
	char reason[300], err[256];
	char *attempt;
	int rc;

	*retry_at = 0;
	at.response_time = res->answered ? now : 0;
	attempt = emu_attempt_json(&at);
	snprintf(reason, sizeof(reason), "%s", res->message);
	a.name = t->name;
	a.now = now;
	a.dispatch_count = t->dispatch_count;
	a.create_time = t->create_time;
	a.answered = res->answered;
	a.status = res->status;
	a.last_attempt = attempt;
	a.retry_reason = reason;
	a.schedule_time = now + queues_backoff(qc, t->dispatch_count);
	rc = emu_store_move(d->store, ok || last ? EMU_MOVE_COMPLETE : EMU_MOVE_RETRY, &a, NULL,
	                    err, sizeof(err));
	free(attempt);
	if (rc == CJ_ENOTFOUND) {
		log_msg(L_INFO, "task %s was deleted during its attempt; outcome dropped", t->name);
		return;
	}
	if (rc) {
		/* The row stays RUNNING: the next start counts the attempt as
		 * unanswered and reschedules it. */
		log_msg(L_ERROR, "cannot record the attempt of task %s: %s", t->name, err);
		return;
	}
	if (!ok && last)
		log_msg(L_WARNING, "task %s failed its last attempt (%d of %d, %s); deleted",
		        t->name, t->dispatch_count, qc->max_attempts, res->message);
	if (!ok && !last)
		*retry_at = a.schedule_time;
}

static int cancelled(void *arg)
{
	return atomic_load(&((struct dispatcher *)arg)->cancel);
}

static void run_job(struct dispatcher *d, struct job *job, double *retry_at)
{
	struct log_ctx ctx = LOG_CTX_INIT;
	struct emu_push_result res;
	struct emu_push_ctx push = {d->mint, d->mint_arg, cancelled, d};
	double dispatched = clock_now();
	int64_t start = time_mono_ms();

	emu_push_send(&push, &job->task, &res);
	record(d, job, &res, dispatched, retry_at);
	metrics_emulator_dispatch(job->q->qc->name, res.metric);
	ctx.queue = job->task.queue;
	ctx.task_name = job->task.id;
	ctx.attempt = job->task.dispatch_count - 1;
	ctx.duration_ms = time_mono_ms() - start;
	ctx.outcome = res.metric;
	log_ctx_set(&ctx);
	log_msg(L_INFO, "cloud tasks emulator pushed %s to %s: %s", job->task.id, job->task.url,
	        res.message);
	log_ctx_set(NULL);
}

static void *worker_main(void *arg)
{
	struct dispatcher *d = arg;
	struct job *job;
	double retry_at;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->pending && !d->stopping) {
			d->idle++;
			pthread_cond_wait(&d->work, &d->lock);
			d->idle--;
		}
		job = d->pending;
		if (!job)
			break;
		d->pending = job->next;
		if (!d->pending)
			d->pending_tail = NULL;
		d->npending--;
		pthread_mutex_unlock(&d->lock);
		run_job(d, job, &retry_at);
		pthread_mutex_lock(&d->lock);
		job->q->inflight--;
		d->busy--;
		if (retry_at > 0 && retry_at < job->q->next_due)
			job->q->next_due = retry_at;
		poke_locked(d);
		emu_task_release(&job->task);
		free(job);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Hands a claimed task to a worker, creating one when none is idle. Caller
 * holds d->lock; the task's members move into the job. */
static void enqueue_job_locked(struct dispatcher *d, struct job *job)
{
	pthread_attr_t attr;

	job->next = NULL;
	if (d->pending_tail)
		d->pending_tail->next = job;
	else
		d->pending = job;
	d->pending_tail = job;
	d->npending++;
	if (d->idle < d->npending && d->nworkers < d->max_workers) {
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (!pthread_create(&d->workers[d->nworkers], &attr, worker_main, d))
			d->nworkers++;
		else if (!d->nworkers)
			log_msg(L_ERROR, "cannot start a dispatch worker: %s", strerror(errno));
		pthread_attr_destroy(&attr);
	}
	pthread_cond_signal(&d->work);
}

/* The attempt JSON a claim records: scheduled and dispatched, no answer
 * yet. */
static char *claim_attempt(double scheduled, double now)
{
	struct emu_attempt a = {scheduled, now, 0, 0, 0, NULL};

	return emu_attempt_json(&a);
}

/* Claims one task and queues its job. Caller holds d->lock and has reserved
 * a slot (busy, inflight, a token); the lock is dropped for the store. */
static int claim_one(struct dispatcher *d, struct dqueue *q, const char *name, double scheduled,
                     int due_only, struct emu_task *copy, char *err, size_t errlen)
{
	struct emu_move_args a = {0};
	double now = clock_now();
	char *attempt = claim_attempt(scheduled, now);
	struct job *job = calloc(1, sizeof(*job));
	int rc;

	if (!attempt || !job) {
		free(attempt);
		free(job);
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	}
	a.name = name;
	a.now = now;
	a.due_only = due_only;
	a.first_attempt = attempt;
	a.last_attempt = attempt;
	pthread_mutex_unlock(&d->lock);
	rc = emu_store_move(d->store, EMU_MOVE_CLAIM, &a, &job->task, err, errlen);
	if (!rc && copy && emu_task_copy(copy, &job->task))
		memset(copy, 0, sizeof(*copy)); /* the answer lacks it; the push goes on */
	pthread_mutex_lock(&d->lock);
	free(attempt);
	if (rc) {
		free(job);
		return rc;
	}
	job->q = q;
	job->scheduled = scheduled;
	enqueue_job_locked(d, job);
	return CJ_OK;
}

/* ---- the loop ---- */

static void refill(struct dqueue *q, int64_t now_ms)
{
	double rate = q->qc->max_dispatches_per_second;
	double burst = dispatcher_burst_size(rate);

	q->tokens += (double)(now_ms - q->refilled_ms) / 1000.0 * rate;
	if (q->tokens > burst)
		q->tokens = burst;
	q->refilled_ms = now_ms;
}

/* Re-reads one queue's state and earliest due time. Caller holds d->lock;
 * it is dropped for the store. */
static int read_queue(struct dispatcher *d, struct dqueue *q)
{
	char err[256];
	double purge, when;
	int paused, found, rc;

	pthread_mutex_unlock(&d->lock);
	rc = emu_store_queue_get(d->store, q->qc->name, &paused, &purge, err, sizeof(err));
	if (!rc)
		rc = emu_store_next_due(d->store, q->qc->name, &when, &found, err, sizeof(err));
	pthread_mutex_lock(&d->lock);
	if (rc) {
		log_msg(L_WARNING, "emulator queue %s: cannot read its state: %s", q->qc->name,
		        err);
		return rc;
	}
	q->paused = paused;
	q->next_due = found ? when : INFINITY;
	return CJ_OK;
}

/* Claims what queue q may start now. Returns how long the loop may sleep
 * as far as q is concerned (0: come back at once). Caller holds d->lock. */
static double serve_queue(struct dispatcher *d, struct dqueue *q, double now)
{
	double rate = q->qc->max_dispatches_per_second;
	struct emu_due *due = NULL;
	char err[256];
	size_t n = 0, i;
	int cap, claimed = 0, rc;

	if (q->paused)
		return INFINITY;
	if (q->next_due > now)
		return q->next_due - now;
	refill(q, time_mono_ms());
	cap = (int)floor(q->tokens);
	if (cap > q->qc->max_concurrent_dispatches - q->inflight)
		cap = q->qc->max_concurrent_dispatches - q->inflight;
	if (cap > d->max_workers - d->busy)
		cap = d->max_workers - d->busy;
	if (cap <= 0)
		/* Full: a worker's end pokes the loop; empty bucket: refill. */
		return q->tokens < 1 ? (1 - q->tokens) / rate : INFINITY;
	/* Reserve the slots before dropping the lock, so :run and other
	 * queues see them taken. */
	q->inflight += cap;
	d->busy += cap;
	pthread_mutex_unlock(&d->lock);
	rc = emu_store_due(d->store, q->qc->name, now, (size_t)cap, &due, &n, err, sizeof(err));
	pthread_mutex_lock(&d->lock);
	for (i = 0; !rc && i < n && !d->quiescing; i++) {
		int one =
		    claim_one(d, q, due[i].name, due[i].schedule_time, 1, NULL, err, sizeof(err));

		if (one == CJ_OK)
			claimed++;
		else if (one != CJ_ENOTFOUND)
			rc = one;
	}
	emu_due_free(due, n);
	q->inflight -= cap - claimed;
	d->busy -= cap - claimed;
	q->tokens -= claimed;
	if (rc) {
		log_msg(L_WARNING, "emulator queue %s: cannot claim due tasks: %s", q->qc->name,
		        err);
		return STORE_RETRY_S;
	}
	if ((size_t)cap > n && read_queue(d, q))
		return STORE_RETRY_S;
	return q->next_due <= now ? 0 : q->next_due - now;
}

static void sweep(struct dispatcher *d, double now)
{
	char err[256];
	long n = 0;

	pthread_mutex_unlock(&d->lock);
	if (emu_store_sweep(d->store, now, &n, err, sizeof(err)))
		log_msg(L_WARNING, "emulator: tombstone sweep failed: %s", err);
	else if (n)
		log_msg(L_DEBUG, "emulator: %ld task name tombstones expired", n);
	pthread_mutex_lock(&d->lock);
	d->next_sweep = now + SWEEP_EVERY_S;
}

/* Waits on d->wake for at most seconds (INFINITY: until poked). */
static void wait_for(struct dispatcher *d, double seconds)
{
	struct timespec ts;

	if (!isfinite(seconds)) {
		pthread_cond_wait(&d->wake, &d->lock);
		return;
	}
	if (seconds > 86400)
		seconds = 86400; /* wakes early, finds nothing due, waits again */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)seconds;
	ts.tv_nsec += (long)((seconds - floor(seconds)) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&d->wake, &d->lock, &ts);
}

static void *loop_main(void *arg)
{
	struct dispatcher *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->quiescing) {
		unsigned long pokes = d->pokes;
		double now = clock_now(), wait;

		if (d->changed) {
			d->changed = 0;
			for (size_t i = 0; i < d->nq; i++)
				if (read_queue(d, &d->qs[i]))
					d->changed = 1;
		}
		if (now >= d->next_sweep)
			sweep(d, now);
		wait = d->next_sweep - now;
		for (size_t i = 0; i < d->nq && !d->quiescing; i++) {
			double w = serve_queue(d, &d->qs[i], now);

			if (w < wait)
				wait = w;
		}
		if (d->changed && wait > STORE_RETRY_S)
			wait = STORE_RETRY_S;
		if (wait > 0 && pokes == d->pokes && !d->quiescing)
			wait_for(d, wait);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int dispatcher_run_now(struct dispatcher *d, const char *name, struct emu_task *claimed, char *err,
                       size_t errlen)
{
	struct emu_task cur;
	struct dqueue *q = NULL;
	int rc;

	memset(claimed, 0, sizeof(*claimed));
	rc = emu_store_get(d->store, name, 0, &cur, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&d->lock);
	q = find_queue(d, cur.queue);
	if (!q || d->quiescing) {
		pthread_mutex_unlock(&d->lock);
		emu_task_release(&cur);
		return cj_errorf(err, errlen, q ? CJ_EUNAVAIL : CJ_ENOTFOUND,
		                 q ? "the emulator is stopping" : "no dispatched queue for task %s",
		                 name);
	}
	q->inflight++;
	d->busy++;
	rc = claim_one(d, q, name, clock_now(), 0, claimed, err, errlen);
	if (rc) {
		q->inflight--;
		d->busy--;
	}
	poke_locked(d);
	pthread_mutex_unlock(&d->lock);
	if (!rc && !claimed->name) {
		emu_task_release(&cur);
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory (the task is pushed)");
	}
	if (rc == CJ_ENOTFOUND && cur.state == EMU_RUNNING) {
		/* In an attempt already: Cloud Tasks would push it again; we
		 * answer the task as it is and let the attempt end. */
		*claimed = cur;
		return CJ_OK;
	}
	emu_task_release(&cur);
	return rc;
}

static void dispatcher_free(struct dispatcher *d)
{
	pthread_cond_destroy(&d->wake);
	pthread_cond_destroy(&d->work);
	pthread_mutex_destroy(&d->lock);
	free(d->qs);
	free(d->workers);
	free(d);
}

int dispatcher_new(const struct dispatcher_options *o, struct dispatcher **out, char *err,
                   size_t errlen)
{
	struct dispatcher *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	int requeued = 0, ended = 0, rc;

	*out = NULL;
	if (!d)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	d->store = o->store;
	d->queues = o->queues;
	d->mint = o->mint;
	d->mint_arg = o->mint_arg;
	d->max_workers = o->max_workers > 0 ? o->max_workers : DISPATCHER_MAX_WORKERS;
	d->nq = queues_count(o->queues);
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&d->work, NULL);
	d->qs = calloc(d->nq ? d->nq : 1, sizeof(*d->qs));
	d->workers = calloc((size_t)d->max_workers, sizeof(*d->workers));
	if (!d->qs || !d->workers) {
		dispatcher_free(d);
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < d->nq; i++) {
		d->qs[i].qc = queues_at(o->queues, i);
		d->qs[i].tokens = dispatcher_burst_size(d->qs[i].qc->max_dispatches_per_second);
		d->qs[i].refilled_ms = time_mono_ms();
		d->qs[i].next_due = -INFINITY; /* read on the first round */
	}
	d->changed = 1;
	rc = emu_store_recover(d->store, d->queues, clock_now(), &requeued, &ended, err, errlen);
	if (rc) {
		dispatcher_free(d);
		return rc;
	}
	if (requeued || ended)
		log_msg(L_WARNING,
		        "cloud tasks emulator: %d attempts in flight when the process stopped "
		        "count as unanswered: %d tasks rescheduled, %d out of attempts deleted",
		        requeued + ended, requeued, ended);
	*out = d;
	return CJ_OK;
}

int dispatcher_start(struct dispatcher *d, char *err, size_t errlen)
{
	if (clock_subscribe(on_clock, d))
		return cj_errorf(err, errlen, CJ_EINTERNAL, "too many clock subscribers");
	if (pthread_create(&d->loop, NULL, loop_main, d)) {
		clock_unsubscribe(on_clock, d);
		return cj_errorf(err, errlen, CJ_EINTERNAL, "cannot start the dispatcher thread");
	}
	d->loop_started = 1;
	return CJ_OK;
}

void dispatcher_quiesce(struct dispatcher *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->quiescing = 1;
	poke_locked(d);
	pthread_mutex_unlock(&d->lock);
}

void dispatcher_stop(struct dispatcher *d)
{
	if (!d)
		return;
	dispatcher_quiesce(d);
	clock_unsubscribe(on_clock, d);
	if (d->loop_started)
		pthread_join(d->loop, NULL);
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	atomic_store(&d->cancel, 1);
	pthread_cond_broadcast(&d->work);
	pthread_mutex_unlock(&d->lock);
	/* No worker is created any more: the loop is gone and run_now refuses
	 * while quiescing. */
	for (int i = 0; i < d->nworkers; i++)
		pthread_join(d->workers[i], NULL);
	/* Jobs no worker could take stay RUNNING in the store: the next start
	 * recovers them. */
	while (d->pending) {
		struct job *j = d->pending;

		d->pending = j->next;
		emu_task_release(&j->task);
		free(j);
	}
	dispatcher_free(d);
}
