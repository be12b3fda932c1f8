/*
 * app.h - the running service: configuration and every client, built once by
 * serve.c and shared (read-only after start) by the request handlers.
 *
 * Members that a deployment does not configure are NULL (redis in local mode
 * without Upstash). Mutable members are atomics with a comment.
 */
#ifndef CJ_APP_H
#define CJ_APP_H

#include <stdatomic.h>

#include "config.h"
#include "job.h"

struct jwks;
struct oidc;
struct redis_rest;
struct idem;
struct lease_keeper;
struct queues;
struct store;
struct enqueuer;
struct google_api;
struct messaging;
struct ratelimit;
struct gauth;
struct crypto_key;
struct dispatcher;
struct local_keys;
struct scheduler;

struct app {
	const struct config *cfg;
	struct jwks *jwks;
	struct oidc *oidc;
	struct redis_rest *redis; /* NULL: in-process idempotency store */
	struct idem *idem;
	struct lease_keeper *leases; /* renews claims, retries settlements */
	struct queues *queues;
	struct store *store; /* NULL: no database configured/opened */
	struct crypto_key *token_key;
	struct local_keys *local_keys; /* local mode: signs local tokens; NULL in cloud mode */
	struct enqueuer *enqueuer;
	struct google_api *google; /* users' Google calls (OAuth, People, Calendar) */
	struct messaging *messaging; /* SMS and e-mail providers */
	struct ratelimit *ratelimit; /* the SMS limit */
	/* Local mode, while serving: the embedded Cloud Scheduler. Set by the
	 * main thread once the listener is up, so request threads (/admin)
	 * read it atomically: NULL until then. */
	_Atomic(struct scheduler *) scheduler;
	struct dispatcher *dispatcher; /* local mode's Cloud Tasks; NULL in cloud mode */
	struct job_services svc; /* what handlers get */
	atomic_int draining; /* SIGTERM received: refuse new work */
	atomic_int redis_fault; /* Upstash answered 401/400: a configuration fault */
};

#endif
