/*
 * start_gate.c - requests wait here until the service is built; see
 * start_gate.h.
 *
 * Once open, the gate costs one atomic load per request callback.
 */
#include "start_gate.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GATE_CLOSED = 0, GATE_OPEN = 1, GATE_FAILED = -1 };

struct start_gate {
	atomic_int state;
	long wait_ms;
	pthread_mutex_t lock;
	pthread_cond_t opened; /* on CLOCK_MONOTONIC */
	struct http_app inner; /* set before state becomes GATE_OPEN */
};

struct start_gate *start_gate_new(long wait_ms)
{
	struct start_gate *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;

	if (!g)
		return NULL;
	g->wait_ms = wait_ms;
	if (pthread_mutex_init(&g->lock, NULL))
		goto fail;
	if (pthread_condattr_init(&ca))
		goto fail_mutex;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&g->opened, &ca)) {
		pthread_condattr_destroy(&ca);
		goto fail_mutex;
	}
	pthread_condattr_destroy(&ca);
	return g;
fail_mutex:
	pthread_mutex_destroy(&g->lock);
fail:
	free(g);
	return NULL;
}

void start_gate_free(struct start_gate *g)
{
	if (!g)
		return;
	pthread_cond_destroy(&g->opened);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static void settle(struct start_gate *g, int state, const struct http_app *inner)
{
	pthread_mutex_lock(&g->lock);
	if (inner)
		g->inner = *inner;
	atomic_store(&g->state, state);
	pthread_cond_broadcast(&g->opened);
	pthread_mutex_unlock(&g->lock);
}

void start_gate_open(struct start_gate *g, const struct http_app *inner)
{
	settle(g, GATE_OPEN, inner);
}

void start_gate_fail(struct start_gate *g)
{
	settle(g, GATE_FAILED, NULL);
}

/* 1 when the gate is open, 0 when the start failed or took too long. */
static int pass(struct start_gate *g)
{
	struct timespec until;
	int state = atomic_load(&g->state);

	if (state != GATE_CLOSED)
		return state == GATE_OPEN;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += g->wait_ms / 1000;
	until.tv_nsec += (g->wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->lock);
	while (atomic_load(&g->state) == GATE_CLOSED &&
	       pthread_cond_timedwait(&g->opened, &g->lock, &until) == 0)
		;
	state = atomic_load(&g->state);
	pthread_mutex_unlock(&g->lock);
	return state == GATE_OPEN;
}

/* Readiness does not wait: until the service is built it is not ready,
 * in readiness's own "down" shape (SPEC 5.3), so a probe polls rather than
 * hangs. Liveness waits like everything else: "live" means serving. 1 when
 * r was the readiness check and a is filled. */
static int ready_while_starting(struct http_req *r, struct http_answer *a)
{
	if (!r->path || !r->method || (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) ||
	    strcmp(r->path, "/health/ready"))
		return 0;
	http_answer_json(a, 503,
	                 json_pack("{s:s, s:b, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:i, s:i}}",
	                           "status", "down", "starting", 1, "redis", "status", "down",
	                           "error", "starting", "database", "status", "down", "error",
	                           "starting", "jwks", "status", "down", "keys", 0, "ageSeconds",
	                           0));
	return 1;
}

static int gate_headers(void *arg, struct http_req *r, struct http_answer *a)
{
	struct start_gate *g = arg;

	if (atomic_load(&g->state) != GATE_OPEN && ready_while_starting(r, a))
		return 1;
	if (!pass(g)) {
		http_answer_error(a, 503, "unavailable", "the service is starting; retry later");
		snprintf(a->retry_after, sizeof(a->retry_after), "1");
		return 1;
	}
	return g->inner.on_headers(g->inner.app, r, a);
}

static void gate_body(void *arg, struct http_req *r, struct http_answer *a)
{
	struct start_gate *g = arg;

	/* Only requests the open gate let through read a body. */
	g->inner.on_body(g->inner.app, r, a);
}

static void gate_done(void *arg, struct http_req *r)
{
	struct start_gate *g = arg;

	if (atomic_load(&g->state) == GATE_OPEN)
		g->inner.on_done(g->inner.app, r);
}

struct http_app start_gate_app(struct start_gate *g)
{
	struct http_app h = {gate_headers, gate_body, gate_done, g};

	return h;
}
