/*
 * registry.h - the single table of job types: name, queue, payload schema,
 * handler. Adding a job is adding a handler file and a row in registry.c.
 *
 * The table is static and read-only: thread-safe.
 */
#ifndef CJ_REGISTRY_H
#define CJ_REGISTRY_H

#include <stddef.h>

#include "job.h"
#include "schema.h"

typedef enum job_outcome (*job_fn)(struct job_ctx *ctx);

struct job_type {
	const char *name; /* URL segment: /jobs/{name} */
	const char *queue; /* Cloud Tasks queue id */
	const struct field_spec *fields; /* payload schema, terminated by {NULL} */
	job_fn run; /* NULL: not implemented yet (501) */
};

/* NULL when unknown. */
const struct job_type *registry_find(const char *name);
/* Every row, in a stable order; *n receives the count. */
const struct job_type *registry_all(size_t *n);
/* The type whose queue is name, or NULL. */
const struct job_type *registry_find_by_queue(const char *queue);

#endif
