/*
 * deliver.c - the soak's stand-in for Cloud Tasks: pushes every task of the
 * plan to nginx as an HTTP target push, as Cloud Tasks does (REFERENCE.md):
 *
 *   - POST /jobs/{type} with the task's body, no Content-Type, the OIDC
 *     token, User-Agent Google-Cloud-Tasks and the X-CloudTasks-* headers
 *     (QueueName, TaskName, TaskRetryCount, TaskExecutionCount, TaskETA,
 *     and TaskPreviousResponse on retries);
 *   - a 2xx answer completes the task; any other answer, or none within the
 *     queue's dispatchDeadline, is retried after the queue's backoff (retry
 *     k waits min(maxBackoff, minBackoff * 2^min(k-1, maxDoublings) *
 *     max(1, k - maxDoublings)), computed here independently of the
 *     product, times --backoff-factor), counted from the end of the failed
 *     attempt, until maxAttempts; then the task is dropped (exhausted);
 *   - a share of deliveries (--dup-rate) is sent twice with the same
 *     headers: half at the same moment, half 50-1000 ms later. The first
 *     copy decides the task's fate; the second is counted only.
 *
 * Rate limits of the queues are not applied (the soak wants load); the
 * concurrency cap and --rate bound it instead. One thread, libcurl multi;
 * new tasks go out in plan order, retries and late duplicates from a heap
 * ordered by due time.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "soak.h"
#include "timeutil.h"

#define ANSWER_MAX 65536
#define PROGRESS_MS 10000

struct event {
	int64_t due_ms;
	uint64_t seq;
	uint32_t task;
	int retry;
	int dup;
};

struct heap {
	struct event *v;
	size_t n, cap;
};

struct flight {
	CURL *h;
	struct curl_slist *hdrs;
	struct buf answer;
	uint32_t task;
	int retry, dup, busy;
	int64_t start_ms;
};

struct deliverer {
	struct soak_plan *p;
	struct cluster *c;
	const struct soak_opts *o;
	struct deliver_stats *st;
	CURLM *multi;
	struct flight *flights;
	int nflights, busy;
	struct heap heap;
	uint64_t seq, rng;
	size_t next_new, settled;
	char auth[4096];
};

double deliver_backoff(const struct queue_config *qc, int k)
{
	int d = qc->max_doublings, e = k - 1 < d ? k - 1 : d;
	double wait;

	if (e < 0)
		e = 0;
	if (e > 60)
		e = 60;
	wait = qc->min_backoff * pow(2.0, e) * (k - d > 1 ? (double)(k - d) : 1.0);
	return wait < qc->max_backoff ? wait : qc->max_backoff;
}

static int ev_less(const struct event *a, const struct event *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static int heap_push(struct heap *h, struct event e)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		struct event *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	h->v[i] = e;
	while (i > 0 && ev_less(&h->v[i], &h->v[(i - 1) / 2])) {
		struct event t = h->v[i];

		h->v[i] = h->v[(i - 1) / 2];
		h->v[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct event heap_pop(struct heap *h)
{
	struct event top = h->v[0];
	size_t i = 0;

	h->v[0] = h->v[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && ev_less(&h->v[l], &h->v[m]))
			m = l;
		if (r < h->n && ev_less(&h->v[r], &h->v[m]))
			m = r;
		if (m == i)
			break;
		{
			struct event t = h->v[i];

			h->v[i] = h->v[m];
			h->v[m] = t;
		}
		i = m;
	}
	return top;
}

static uint64_t rnd(struct deliverer *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * 2685821657736338717ULL;
}

static size_t on_answer(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct flight *f = userdata;

	/* Past the cap the rest is dropped: only the "status" matters. */
	if (buf_append(&f->answer, ptr, size * nmemb))
		return size * nmemb;
	return size * nmemb;
}

static const char *job_path(int kind)
{
	switch (kind) {
	case KIND_HEALTH:
		return "token-health-reminder";
	case KIND_BATCH:
		return "batch-notifications";
	default:
		return "ping";
	}
}

static int add_header(struct curl_slist **l, const char *fmt, ...) CJ_PRINTF(2, 3);

static int add_header(struct curl_slist **l, const char *fmt, ...)
{
	char line[4200];
	struct curl_slist *n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = curl_slist_append(*l, line);
	if (!n)
		return -1;
	*l = n;
	return 0;
}

static struct flight *flight_free_slot(struct deliverer *d)
{
	for (int i = 0; i < d->nflights; i++)
		if (!d->flights[i].busy)
			return &d->flights[i];
	return NULL;
}

/* Starts one delivery of task ti at attempt retry (a duplicate or not). */
static int start(struct deliverer *d, struct flight *f, uint32_t ti, int retry, int dup)
{
	struct soak_task *t = &d->p->tasks[ti];
	const struct queue_config *qc = d->p->queues[t->queue].qc;
	char url[256];
	int bad = 0;

	snprintf(url, sizeof(url), "%s/jobs/%s", d->c->base, job_path(t->kind));
	f->hdrs = NULL;
	bad |= add_header(&f->hdrs, "%s", d->auth);
	bad |= add_header(&f->hdrs, "User-Agent: Google-Cloud-Tasks");
	bad |= add_header(&f->hdrs, "Content-Type:");
	bad |= add_header(&f->hdrs, "Expect:");
	bad |= add_header(&f->hdrs, "X-CloudTasks-QueueName: %s", d->p->queues[t->queue].name);
	bad |= add_header(&f->hdrs, "X-CloudTasks-TaskName: %s", t->id);
	bad |= add_header(&f->hdrs, "X-CloudTasks-TaskRetryCount: %d", retry);
	bad |= add_header(&f->hdrs, "X-CloudTasks-TaskExecutionCount: %d", t->answered);
	bad |= add_header(&f->hdrs, "X-CloudTasks-TaskETA: %.6f", t->eta);
	if (retry > 0 && t->prev_status > 0)
		bad |=
		    add_header(&f->hdrs, "X-CloudTasks-TaskPreviousResponse: %d", t->prev_status);
	if (bad) {
		curl_slist_free_all(f->hdrs);
		f->hdrs = NULL;
		return -1;
	}
	buf_reset(&f->answer);
	curl_easy_setopt(f->h, CURLOPT_URL, url);
	curl_easy_setopt(f->h, CURLOPT_HTTPHEADER, f->hdrs);
	curl_easy_setopt(f->h, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(f->h, CURLOPT_POSTFIELDSIZE, (long)strlen(t->body));
	curl_easy_setopt(f->h, CURLOPT_TIMEOUT_MS, (long)(qc->dispatch_deadline * 1000));
	curl_easy_setopt(f->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(f->h, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(f->h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->h, CURLOPT_PRIVATE, f);
	curl_easy_setopt(f->h, CURLOPT_NOSIGNAL, 1L);
	if (curl_multi_add_handle(d->multi, f->h) != CURLM_OK) {
		curl_slist_free_all(f->hdrs);
		f->hdrs = NULL;
		return -1;
	}
	f->task = ti;
	f->retry = retry;
	f->dup = dup;
	f->busy = 1;
	f->start_ms = time_mono_ms();
	d->busy++;
	d->st->deliveries++;
	if (dup)
		d->st->duplicates++;
	return 0;
}

/* A primary delivery of task ti; perhaps its duplicate too. */
static int start_primary(struct deliverer *d, struct flight *f, uint32_t ti, int64_t now)
{
	struct soak_task *t = &d->p->tasks[ti];

	if (t->retry == 0) {
		t->first_ms = now;
		t->eta = time_wall();
	}
	t->state = TASK_INFLIGHT;
	if (start(d, f, ti, t->retry, 0))
		return -1;
	if ((double)(rnd(d) % 1000000) < d->o->dup_rate * 1000000.0) {
		struct flight *g = (rnd(d) & 1) ? flight_free_slot(d) : NULL;

		if (g) {
			d->st->duplicates_concurrent++;
			return start(d, g, ti, t->retry, 1);
		}
		return heap_push(
		    &d->heap,
		    (struct event){now + 50 + (int64_t)(rnd(d) % 951), d->seq++, ti, t->retry, 1});
	}
	return 0;
}

static int outcome_of(const struct buf *answer)
{
	json_t *j = json_loadb(buf_str(answer), answer->len, 0, NULL);
	const char *s = json_string_value(json_object_get(j, "status"));
	int o = OUT_OTHER;

	if (s && !strcmp(s, "completed"))
		o = OUT_COMPLETED;
	else if (s && !strcmp(s, "duplicate"))
		o = OUT_DUPLICATE;
	else if (s && !strcmp(s, "failed"))
		o = OUT_FAILED;
	json_decref(j);
	return o;
}

static int record_latency(struct deliver_stats *st, double ms)
{
	if (st->nlatency == st->latency_cap) {
		size_t cap = st->latency_cap ? st->latency_cap * 2 : 65536;
		double *v = realloc(st->latency_ms, cap * sizeof(*v));

		if (!v)
			return -1;
		st->latency_ms = v;
		st->latency_cap = cap;
	}
	st->latency_ms[st->nlatency++] = ms;
	return 0;
}

/* One delivery ended: the task's fate, when it was the primary. */
static int finish(struct deliverer *d, struct flight *f, CURLcode cc, int64_t now)
{
	struct soak_task *t = &d->p->tasks[f->task];
	long status = 0;
	int rc = 0;

	if (cc == CURLE_OK)
		curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 0 || status >= 600)
		status = 599;
	d->st->status[status]++;
	if (!status)
		d->st->no_answer++;
	else if (record_latency(d->st, (double)(now - f->start_ms)))
		rc = -1;
	curl_multi_remove_handle(d->multi, f->h);
	curl_slist_free_all(f->hdrs);
	f->hdrs = NULL;
	f->busy = 0;
	d->busy--;
	if (f->dup)
		return rc;
	if (status >= 200 && status < 300) {
		t->state = TASK_DONE;
		t->outcome = (unsigned char)outcome_of(&f->answer);
		d->st->outcomes[t->outcome]++;
		t->done_ms = now;
		d->settled++;
		return rc;
	}
	/* The handler answered when the body is ours (JSON), not nginx's. */
	if (status && f->answer.len && buf_str(&f->answer)[0] == '{')
		t->answered++;
	t->prev_status = (int)status;
	t->retry++;
	if (t->retry >= d->p->queues[t->queue].qc->max_attempts) {
		t->state = TASK_EXHAUSTED;
		t->done_ms = now;
		d->settled++;
		return rc;
	}
	t->state = TASK_WAITING;
	{
		double wait_s =
		    deliver_backoff(d->p->queues[t->queue].qc, t->retry) * d->o->backoff_factor;
		int64_t due = now + (int64_t)(wait_s * 1000.0);

		t->eta = time_wall() + wait_s;
		if (heap_push(&d->heap, (struct event){due, d->seq++, f->task, t->retry, 0}))
			return -1;
	}
	return rc;
}

/* Starts whatever is due: retries and late duplicates first, then new
 * tasks (paced by --rate). */
static int launch(struct deliverer *d, int64_t now)
{
	struct flight *f;

	while (d->heap.n && d->heap.v[0].due_ms <= now && (f = flight_free_slot(d))) {
		struct event e = heap_pop(&d->heap);
		int rc = e.dup ? start(d, f, e.task, e.retry, 1) : start_primary(d, f, e.task, now);

		if (rc)
			return -1;
	}
	while (d->next_new < d->p->n && (f = flight_free_slot(d))) {
		if (d->o->rate > 0 &&
		    (double)d->next_new >= (double)(now - d->st->start_ms) / 1000.0 * d->o->rate)
			break;
		if (start_primary(d, f, (uint32_t)d->next_new, now))
			return -1;
		d->next_new++;
	}
	return 0;
}

/* How long the loop may sleep: until the next due event (at most 50 ms). */
static int idle_ms(struct deliverer *d, int64_t now)
{
	int64_t wait = 50;

	if (d->heap.n && d->heap.v[0].due_ms - now < wait)
		wait = d->heap.v[0].due_ms - now;
	if (d->o->rate > 0 && d->next_new < d->p->n)
		wait = wait < 5 ? wait : 5;
	return wait < 0 ? 0 : (int)wait;
}

static int setup(struct deliverer *d)
{
	d->multi = curl_multi_init();
	d->nflights = d->o->concurrency;
	d->flights = calloc((size_t)d->nflights, sizeof(*d->flights));
	if (!d->multi || !d->flights)
		return -1;
	curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)d->nflights);
	for (int i = 0; i < d->nflights; i++) {
		d->flights[i].h = curl_easy_init();
		if (!d->flights[i].h)
			return -1;
		buf_init(&d->flights[i].answer, ANSWER_MAX);
	}
	snprintf(d->auth, sizeof(d->auth), "Authorization: Bearer %s", d->c->token);
	return 0;
}

static void teardown(struct deliverer *d)
{
	for (int i = 0; d->flights && i < d->nflights; i++) {
		if (d->flights[i].busy)
			curl_multi_remove_handle(d->multi, d->flights[i].h);
		curl_slist_free_all(d->flights[i].hdrs);
		curl_easy_cleanup(d->flights[i].h);
		buf_release(&d->flights[i].answer);
	}
	free(d->flights);
	free(d->heap.v);
	if (d->multi)
		curl_multi_cleanup(d->multi);
}

int deliver_run(struct soak_plan *p, struct cluster *c, const struct soak_opts *o,
                struct deliver_stats *st)
{
	struct deliverer d;
	int64_t abort_at, next_progress;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	d.p = p;
	d.c = c;
	d.o = o;
	d.st = st;
	d.rng = (o->seed ? o->seed : 1) * 0x9e3779b97f4a7c15ULL;
	if (setup(&d)) {
		teardown(&d);
		return -1;
	}
	st->start_ms = time_mono_ms();
	abort_at = st->start_ms + o->abort_s * 1000;
	next_progress = st->start_ms + PROGRESS_MS;
	while (d.settled < p->n || d.busy || d.heap.n) {
		int64_t now = time_mono_ms();
		int running = 0, left = 0;
		CURLMsg *m;

		if (now >= abort_at || soak_interrupted) {
			st->aborted = 1;
			break;
		}
		if (now >= next_progress) {
			fprintf(stderr,
			        "soak: %.0f s: %zu of %zu tasks settled, %zu not yet delivered, %d "
			        "in flight, %zu retries or duplicates waiting\n",
			        (double)(now - st->start_ms) / 1000.0, d.settled, p->n,
			        p->n - d.next_new, d.busy, d.heap.n);
			next_progress += PROGRESS_MS;
		}
		if (launch(&d, now)) {
			rc = -1;
			break;
		}
		curl_multi_perform(d.multi, &running);
		while ((m = curl_multi_info_read(d.multi, &left))) {
			struct flight *f = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
			if (f && finish(&d, f, m->data.result, time_mono_ms()))
				rc = -1;
		}
		if (rc)
			break;
		curl_multi_poll(d.multi, NULL, 0, idle_ms(&d, time_mono_ms()), NULL);
	}
	st->end_ms = time_mono_ms();
	teardown(&d);
	return rc;
}

void deliver_stats_free(struct deliver_stats *st)
{
	free(st->latency_ms);
	st->latency_ms = NULL;
}
