/*
 * job.h - what a job handler sees: its payload, its deadline, and the
 * clients it may use. A handler gets a struct job_ctx whose svc carries
 * those clients (store, enqueuer, Redis, token key, config; any may be
 * NULL when not configured). Handlers use only these: they never open
 * Redis or database connections of their own, and reach upstream HTTP APIs
 * only through http_client at the URLs svc->cfg names, so tests can drive a
 * handler alone with services (and fake upstreams) they build.
 *
 * A handler returns JOB_OK (result set with job_set_result), JOB_RETRY
 * (transient: upstream 5xx/429/timeout, database unavailable, deadline) or
 * JOB_PERMANENT (can never succeed: bad payload, unknown user). job_fail()
 * records the snake_case error code and message for the answer and returns
 * the outcome, so `return job_fail(ctx, JOB_PERMANENT, "user_not_found", …)`.
 *
 * Deadlines: ctx->deadline_ms is on the monotonic clock (time_mono_ms()).
 * Upstream calls use job_remaining_ms() as their timeout; long waits use
 * job_sleep_ms(), which also wakes at shutdown.
 */
#ifndef CJ_JOB_H
#define CJ_JOB_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cj.h"

enum job_outcome { JOB_OK = 0, JOB_RETRY, JOB_PERMANENT };

struct config;
struct store;
struct enqueuer;
struct redis_rest;
struct crypto_key;
struct google_api;
struct messaging;
struct ratelimit;
struct job_type;

/* The clients a handler may use; a member is NULL when not configured. All
 * are thread-safe and shared by every running job. */
struct job_services {
	const struct config *cfg;
	struct store *store;
	struct enqueuer *enqueuer;
	struct redis_rest *redis;
	const struct crypto_key *token_key;
	struct google_api *google; /* OAuth refresh and People/Calendar calls */
	struct messaging *messaging; /* SMS (Twilio) and e-mail (SendGrid) */
	struct ratelimit *ratelimit; /* the SMS limit: Redis, or in process locally */
};

struct job_ctx {
	const struct job_type *type;
	const json_t *payload; /* borrowed; validated against the schema */
	int attempt; /* X-CloudTasks-TaskRetryCount; 0 first */
	int64_t deadline_ms; /* monotonic */
	/* Monotonic time at which the job must stop because its idempotency
	 * claim may lapse (src/lease.h); NULL when it runs without a claim. */
	const atomic_llong *stop_at_ms;
	const struct job_services *svc;
	/* A stable key for this job: the same on every delivery of one task
	 * (its idempotency key, else queue/task, else "" when it has none).
	 * Handlers derive once-only effects from it (follow-up task ids,
	 * outbox keys). */
	char key[1024];
	json_t *result; /* owned; set with job_set_result() */
	char error_code[64];
	char error_msg[256];
	/* Seconds the upstream asked us to wait (its Retry-After); 0 = none.
	 * Passed on in the 503 answer of a JOB_RETRY. */
	int retry_after_s;
};

void job_ctx_init(struct job_ctx *ctx, const struct job_type *type, const json_t *payload,
                  int attempt, int64_t deadline_ms, const struct job_services *svc);
void job_ctx_release(struct job_ctx *ctx);

/* Milliseconds left before the deadline (0 when past it). */
long job_remaining_ms(const struct job_ctx *ctx);
/* Non-zero when the deadline passed, the job's claim may lapse, or the
 * server is cutting jobs off. */
int job_should_stop(const struct job_ctx *ctx);
/* Waits ms (bounded by the deadline). 0 when it waited it all, -1 when cut
 * short by the deadline, a lapsing claim or shutdown. */
int job_sleep_ms(const struct job_ctx *ctx, long ms);
/* Takes ownership of result (may be NULL for an empty object). */
void job_set_result(struct job_ctx *ctx, json_t *result);
enum job_outcome job_fail(struct job_ctx *ctx, enum job_outcome outcome, const char *code,
                          const char *fmt, ...) CJ_PRINTF(4, 5);

/* The one place that maps a result code (cj.h) to an outcome: transient
 * codes (CJ_EUNAVAIL, CJ_ETIMEOUT, CJ_ECONFLICT, CJ_ECONFIG, CJ_ESTORAGE,
 * CJ_ENOMEM, CJ_EINTERNAL, CJ_ENOKEYS) are JOB_RETRY, the rest (CJ_EINVAL,
 * CJ_ENOTFOUND, CJ_EUPSTREAM, CJ_EAUTH, CJ_EFORBIDDEN, CJ_ETOOBIG,
 * CJ_EEXISTS) JOB_PERMANENT. Records code and message like job_fail(). */
enum job_outcome job_fail_rc(struct job_ctx *ctx, int rc, const char *code, const char *fmt,
                             ...) CJ_PRINTF(4, 5);
/* The outcome job_fail_rc() gives rc, without recording anything. */
enum job_outcome job_outcome_of(int rc);

/* A Cloud Tasks task id derived from parts, so that every run that means
 * the same effect names the same task (a second create is a 409):
 * "{prefix}-" + 32 hex characters of SHA-256 over the parts (NULL ends
 * them; at most 4). out must hold JOB_TASK_ID_MAX bytes. */
#define JOB_TASK_ID_MAX 160
void job_task_id(char *out, size_t outlen, const char *prefix, const char *a, const char *b,
                 const char *c);
/* Enqueues type with payload (borrowed) as task task_id (NULL: random)
 * through svc->enqueuer. CJ_OK with *created 1, or 0 when a task of that
 * name exists already (an overlapping run made it: not an error); other
 * codes as enqueue_job(), err saying why. */
int job_enqueue(struct job_ctx *ctx, const char *type, const json_t *payload, const char *task_id,
                int *created, char *err, size_t errlen) CJ_WUR;

/* For struct http_request.cancelled: stops a transfer at the deadline or at
 * shutdown. arg is the struct job_ctx. */
int job_cancelled_cb(void *arg);

/* Shutdown: makes job_should_stop() true for every job and wakes sleepers.
 * Called once by the server when the grace period runs out. */
void job_abort_all(void);
int job_aborting(void);

#endif
