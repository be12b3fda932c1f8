/*
 * ping.c - the deploy smoke-test job. Its result is its payload, which proves
 * the Cloud Tasks → server → Redis path; `fail` ("transient" or "permanent")
 * makes it fail that way and `sleepMs` makes it wait (bounded by the
 * deadline), so operators can exercise retries, dead letters and deadlines
 * in a real deployment. The payload was validated against the schema.
 */
#include <jansson.h>
#include <string.h>

#include "handlers.h"

enum job_outcome handle_ping(struct job_ctx *ctx)
{
	const json_t *sleep_ms = json_object_get(ctx->payload, "sleepMs");
	const char *fail = json_string_value(json_object_get(ctx->payload, "fail"));

	if (sleep_ms && json_integer_value(sleep_ms) > 0 &&
	    job_sleep_ms(ctx, (long)json_integer_value(sleep_ms)))
		return job_fail(ctx, JOB_RETRY, "deadline_exceeded",
		                "ping stopped before sleeping %lld ms",
		                json_integer_value(sleep_ms));
	if (fail && !strcmp(fail, "transient"))
		return job_fail(ctx, JOB_RETRY, "ping_transient",
		                "ping failed on request (transient)");
	if (fail && !strcmp(fail, "permanent"))
		return job_fail(ctx, JOB_PERMANENT, "ping_permanent",
		                "ping failed on request (permanent)");
	job_set_result(ctx, json_deep_copy(ctx->payload));
	return JOB_OK;
}
