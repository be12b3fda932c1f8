/*
 * registry.h - which function runs each job type: the code half of the job
 * table. The data half (names, queues, payload schemas) is src/job_types.h;
 * adding a job is a row there, a handler file here and a row in registry.c.
 *
 * Only the job runner (src/job_runner.c) includes this header. Everything
 * else in src/ uses job_types.h, so that a handler may call the enqueue
 * module without an include cycle.
 *
 * The table is static and read-only: thread-safe.
 */
#ifndef CJ_REGISTRY_H
#define CJ_REGISTRY_H

#include "job.h"
#include "job_types.h"

typedef enum job_outcome (*job_fn)(struct job_ctx *ctx);

/* The handler of type, or NULL when the type has none yet (the runner
 * answers 501 not_implemented) or type is NULL. */
job_fn registry_handler(const struct job_type *type);

#endif
