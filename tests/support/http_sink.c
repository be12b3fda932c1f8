/*
 * http_sink.c - a recording HTTP server for tests; see http_sink.h.
 */
#include "http_sink.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_server.h"
#include "proc.h"
#include "timeutil.h"

#define SINK_MAX_BODY (4u << 20)

struct http_sink {
	struct http_server *srv;
	char url[64];
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a request arrived or was answered; hold changed */
	/* Guarded by lock. */
	struct sink_request *r;
	size_t n, cap;
	int status;
	int hold;
	int stopping;
};

static void copy_header(const struct http_req *r, const char *name, char *out, size_t outlen)
{
	const char *v = http_request_header(r, name);

	snprintf(out, outlen, "%s", v ? v : "");
}

/* Appends the request; returns its index, or -1. Caller holds the lock. */
static long record(struct http_sink *k, const struct http_req *r)
{
	struct sink_request *q;
	const char *auth = http_request_header(r, "Authorization");

	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		struct sink_request *nr = realloc(k->r, cap * sizeof(*nr));

		if (!nr)
			return -1;
		k->r = nr;
		k->cap = cap;
	}
	q = &k->r[k->n];
	memset(q, 0, sizeof(*q));
	snprintf(q->method, sizeof(q->method), "%s", r->method);
	snprintf(q->path, sizeof(q->path), "%s", r->path);
	copy_header(r, "Content-Type", q->content_type, sizeof(q->content_type));
	copy_header(r, "User-Agent", q->user_agent, sizeof(q->user_agent));
	copy_header(r, "X-CloudScheduler", q->scheduler, sizeof(q->scheduler));
	copy_header(r, "X-CloudScheduler-JobName", q->job_name, sizeof(q->job_name));
	copy_header(r, "X-CloudScheduler-ScheduleTime", q->schedule_time, sizeof(q->schedule_time));
	q->authorization = auth ? strdup(auth) : NULL;
	q->body = strndup(r->body.data ? r->body.data : "", r->body.len);
	q->arrived_ms = time_mono_ms();
	q->arrived_wall = time_wall();
	return (long)k->n++;
}

/* The body's "sleepMs", as ping reads it; 0 without one. */
static long body_sleep_ms(const struct http_req *r)
{
	json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
	json_t *v = json_object_get(j, "sleepMs");
	long ms = json_is_integer(v) ? (long)json_integer_value(v) : 0;

	json_decref(j);
	return ms;
}

static int on_headers(void *app, struct http_req *r, struct http_answer *a)
{
	(void)app;
	(void)r;
	(void)a;
	return 0;
}

static void on_body(void *app, struct http_req *r, struct http_answer *a)
{
	struct http_sink *k = app;
	long idx, sleep_ms = body_sleep_ms(r);
	int status;

	pthread_mutex_lock(&k->lock);
	idx = record(k, r);
	pthread_cond_broadcast(&k->changed);
	pthread_mutex_unlock(&k->lock);
	if (sleep_ms > 0)
		msleep(sleep_ms);
	pthread_mutex_lock(&k->lock);
	while (k->hold && !k->stopping)
		pthread_cond_wait(&k->changed, &k->lock);
	status = k->status;
	if (idx >= 0 && (size_t)idx < k->n) {
		k->r[idx].status = status;
		k->r[idx].answered_ms = time_mono_ms();
	}
	pthread_cond_broadcast(&k->changed);
	pthread_mutex_unlock(&k->lock);
	http_answer_json(a, status, json_pack("{s:s}", "status", "completed"));
}

static void on_done(void *app, struct http_req *r)
{
	(void)app;
	(void)r;
}

struct http_sink *http_sink_start(void)
{
	struct http_sink *k = calloc(1, sizeof(*k));
	struct http_app happ = {on_headers, on_body, on_done, NULL};
	char err[256] = "";
	int tries;

	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->changed, NULL);
	k->status = 200;
	happ.app = k;
	for (tries = 0; tries < 5 && !k->srv; tries++) {
		int port = free_port();

		k->srv =
		    http_server_start("127.0.0.1", port, SINK_MAX_BODY, &happ, err, sizeof(err));
		snprintf(k->url, sizeof(k->url), "http://127.0.0.1:%d", port);
	}
	if (!k->srv) {
		fprintf(stderr, "http_sink: cannot start: %s\n", err);
		free(k);
		return NULL;
	}
	return k;
}

void http_sink_stop(struct http_sink *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stopping = 1;
	pthread_cond_broadcast(&k->changed);
	pthread_mutex_unlock(&k->lock);
	http_server_stop(k->srv);
	http_sink_requests_free(k->r, k->n);
	pthread_cond_destroy(&k->changed);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

const char *http_sink_url(const struct http_sink *k)
{
	return k->url;
}

void http_sink_answer(struct http_sink *k, int status)
{
	pthread_mutex_lock(&k->lock);
	k->status = status;
	pthread_mutex_unlock(&k->lock);
}

void http_sink_hold(struct http_sink *k, int hold)
{
	pthread_mutex_lock(&k->lock);
	k->hold = hold;
	pthread_cond_broadcast(&k->changed);
	pthread_mutex_unlock(&k->lock);
}

void http_sink_reset(struct http_sink *k)
{
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->n; i++) {
		free(k->r[i].authorization);
		free(k->r[i].body);
	}
	k->n = 0;
	pthread_mutex_unlock(&k->lock);
}

size_t http_sink_count(struct http_sink *k)
{
	size_t n;

	pthread_mutex_lock(&k->lock);
	n = k->n;
	pthread_mutex_unlock(&k->lock);
	return n;
}

static size_t answered(const struct http_sink *k)
{
	size_t i, m = 0;

	for (i = 0; i < k->n; i++)
		m += k->r[i].answered_ms != 0;
	return m;
}

int http_sink_wait(struct http_sink *k, size_t n, int want_answered, int timeout_ms)
{
	int64_t until = time_mono_ms() + timeout_ms;
	int rc = 0;

	pthread_mutex_lock(&k->lock);
	while ((want_answered ? answered(k) : k->n) < n) {
		struct timespec ts;
		int64_t left = until - time_mono_ms();

		if (left <= 0) {
			rc = -1;
			break;
		}
		if (left > 50)
			left = 50; /* the condition runs on the real-time clock */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)left * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&k->changed, &k->lock, &ts);
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

struct sink_request *http_sink_requests(struct http_sink *k, size_t *n)
{
	struct sink_request *out;
	size_t i;

	pthread_mutex_lock(&k->lock);
	out = calloc(k->n + 1, sizeof(*out));
	for (i = 0; out && i < k->n; i++) {
		out[i] = k->r[i];
		out[i].authorization = k->r[i].authorization ? strdup(k->r[i].authorization) : NULL;
		out[i].body = strdup(k->r[i].body ? k->r[i].body : "");
	}
	*n = out ? k->n : 0;
	pthread_mutex_unlock(&k->lock);
	return out;
}

void http_sink_requests_free(struct sink_request *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].authorization);
		free(r[i].body);
	}
	free(r);
}
