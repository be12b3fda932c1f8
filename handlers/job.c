/*
 * job.c - the job context: deadlines, interruptible sleeps, outcomes, and the
 * process-wide abort switch used when the shutdown grace period runs out.
 */
#include "job.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "enqueue.h"
#include "timeutil.h"

/* Set once at shutdown; sleepers wait on abort_cond under abort_lock. */
static atomic_int aborting;
static pthread_mutex_t abort_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t abort_cond;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

/* The condition variable waits on the monotonic clock, like deadlines. */
static void init_cond(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&abort_cond, &a);
	pthread_condattr_destroy(&a);
}

void job_ctx_init(struct job_ctx *ctx, const struct job_type *type, const json_t *payload,
                  int attempt, int64_t deadline_ms, const struct job_services *svc)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->type = type;
	ctx->payload = payload;
	ctx->attempt = attempt;
	ctx->deadline_ms = deadline_ms;
	ctx->svc = svc;
}

void job_ctx_release(struct job_ctx *ctx)
{
	json_decref(ctx->result);
	ctx->result = NULL;
}

long job_remaining_ms(const struct job_ctx *ctx)
{
	int64_t left = ctx->deadline_ms - time_mono_ms();

	return left > 0 ? (long)left : 0;
}

/* When the job must stop for its claim (INT64_MAX: never). */
static int64_t claim_stop_ms(const struct job_ctx *ctx)
{
	return ctx->stop_at_ms ? (int64_t)atomic_load(ctx->stop_at_ms) : INT64_MAX;
}

int job_should_stop(const struct job_ctx *ctx)
{
	return atomic_load(&aborting) || job_remaining_ms(ctx) == 0 ||
	    time_mono_ms() >= claim_stop_ms(ctx);
}

int job_cancelled_cb(void *arg)
{
	return job_should_stop(arg);
}

/* Sleepers wake at their end, their deadline, their claim's stop time (which
 * renewals move later: they then sleep on), or at shutdown. */
int job_sleep_ms(const struct job_ctx *ctx, long ms)
{
	int64_t until = time_mono_ms() + ms, wake;
	struct timespec ts;

	pthread_once(&cond_once, init_cond);
	pthread_mutex_lock(&abort_lock);
	while (!atomic_load(&aborting)) {
		int64_t now = time_mono_ms(), stop = claim_stop_ms(ctx);

		if (now >= until || now >= ctx->deadline_ms || now >= stop)
			break;
		wake = until < ctx->deadline_ms ? until : ctx->deadline_ms;
		if (stop < wake)
			wake = stop;
		/* Renewals move the stop time: look again at least every second. */
		if (wake > now + 1000)
			wake = now + 1000;
		ts.tv_sec = wake / 1000;
		ts.tv_nsec = (wake % 1000) * 1000000L;
		pthread_cond_timedwait(&abort_cond, &abort_lock, &ts);
	}
	pthread_mutex_unlock(&abort_lock);
	return time_mono_ms() >= until && !job_should_stop(ctx) ? 0 : -1;
}

void job_set_result(struct job_ctx *ctx, json_t *result)
{
	json_decref(ctx->result);
	ctx->result = result;
}

enum job_outcome job_fail(struct job_ctx *ctx, enum job_outcome outcome, const char *code,
                          const char *fmt, ...)
{
	va_list ap;

	snprintf(ctx->error_code, sizeof(ctx->error_code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(ctx->error_msg, sizeof(ctx->error_msg), fmt, ap);
	va_end(ap);
	return outcome;
}

enum job_outcome job_outcome_of(int rc)
{
	switch (rc) {
	case CJ_OK:
		return JOB_OK;
	case CJ_EUNAVAIL:
	case CJ_ETIMEOUT:
	case CJ_ECONFLICT:
	case CJ_ECONFIG:
	case CJ_ESTORAGE:
	case CJ_ENOMEM:
	case CJ_EINTERNAL:
	case CJ_ENOKEYS:
		return JOB_RETRY;
	default:
		return JOB_PERMANENT;
	}
}

enum job_outcome job_fail_rc(struct job_ctx *ctx, int rc, const char *code, const char *fmt,
                             ...)
{
	enum job_outcome outcome = job_outcome_of(rc);
	va_list ap;

	/* A failure reported as CJ_OK is a bug in the caller: never complete it. */
	if (outcome == JOB_OK)
		outcome = JOB_RETRY;
	snprintf(ctx->error_code, sizeof(ctx->error_code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(ctx->error_msg, sizeof(ctx->error_msg), fmt, ap);
	va_end(ap);
	return outcome;
}

void job_abort_all(void)
{
	pthread_once(&cond_once, init_cond);
	pthread_mutex_lock(&abort_lock);
	atomic_store(&aborting, 1);
	pthread_cond_broadcast(&abort_cond);
	pthread_mutex_unlock(&abort_lock);
}

int job_aborting(void)
{
	return atomic_load(&aborting);
}

void job_task_id(char *out, size_t outlen, const char *prefix, const char *a, const char *b,
                 const char *c)
{
	static const char hex[] = "0123456789abcdef";
	const char *parts[] = {a, b, c};
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned char in[3 * (8 + 1024)];
	size_t n = 0;
	char digest[33];

	for (size_t i = 0; i < 3 && parts[i]; i++) {
		/* Lengths first, so ("ab","c") and ("a","bc") differ. Parts are ids
		 * and keys of at most 1,024 bytes; longer ones are cut. */
		unsigned long long len = strlen(parts[i]);

		if (len > 1024)
			len = 1024;
		memcpy(in + n, &len, 8);
		memcpy(in + n + 8, parts[i], len);
		n += 8 + len;
	}
	SHA256(in, n, md);
	for (int i = 0; i < 16; i++) {
		digest[2 * i] = hex[md[i] >> 4];
		digest[2 * i + 1] = hex[md[i] & 15];
	}
	digest[32] = '\0';
	snprintf(out, outlen, "%s-%s", prefix, digest);
}

int job_enqueue(struct job_ctx *ctx, const char *type, const json_t *payload, const char *task_id,
                int *created, char *err, size_t errlen)
{
	struct enqueue_request req = ENQUEUE_REQUEST_INIT;
	struct enqueue_result res;
	int rc;

	*created = 0;
	if (!ctx->svc->enqueuer)
		return cj_errorf(err, errlen, CJ_ECONFIG, "no enqueuer configured");
	req.type = type;
	req.payload = payload;
	req.task_id = task_id;
	rc = enqueue_job(ctx->svc->enqueuer, &req, &res, err, errlen);
	if (rc == CJ_EEXISTS)
		return CJ_OK;
	*created = rc == CJ_OK;
	return rc;
}
