/*
 * job_types.h - the job types as data (SPEC §7): each type's name, its Cloud
 * Tasks queue and its payload schema. Which function runs a type is code and
 * lives in handlers/registry.h, which only the job runner includes.
 *
 * Keeping the two apart lets everything that only needs to know the types
 * (enqueue, queues, commands, tests) use this table without depending on the
 * handlers, and lets a handler call the enqueue module without an include
 * cycle: handler -> enqueue -> queues -> job_types.
 *
 * Adding a job is a row here, a handler file in handlers/ and its row in
 * handlers/registry.c.
 *
 * The table is static and read-only: thread-safe. Returned pointers point
 * into it and stay valid for the life of the process; never free them.
 */
#ifndef CJ_JOB_TYPES_H
#define CJ_JOB_TYPES_H

#include <stddef.h>

#include "schema.h"

struct job_type {
	const char *name; /* URL segment: /jobs/{name} */
	const char *queue; /* Cloud Tasks queue id; one queue per type */
	const struct field_spec *fields; /* payload schema, terminated by FIELD_END */
};

/* The type called name, or NULL (also for a NULL name). */
const struct job_type *job_types_find(const char *name);
/* The type whose queue is queue, or NULL (also for a NULL queue). */
const struct job_type *job_types_find_by_queue(const char *queue);
/* Every row, in a stable order; *n receives the count. */
const struct job_type *job_types_all(size_t *n);

#endif
