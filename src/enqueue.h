/*
 * enqueue.h - the one way to enqueue a job: used by POST /enqueue/{type},
 * the `enqueue` command, dead-letter replay and handlers that fan out.
 *
 * enqueue_job() checks the type, validates the payload against the job's
 * schema, checks the timing, the task id and the size, looks the queue up
 * and creates the Cloud Task (src/cloud_tasks.h) targeting
 * CLOUD_RUN_URL/jobs/{type}. It counts catchup_jobs_enqueue_total{type,
 * result}.
 *
 * Ownership: enqueuer_new() borrows cfg and q (both must outlive the
 * enqueuer) and owns its access-token source and Cloud Tasks client;
 * enqueuer_free() releases them. The request's members are borrowed for the
 * call. Thread-safe: one enqueuer is shared by every request thread.
 */
#ifndef CJ_ENQUEUE_H
#define CJ_ENQUEUE_H

#include <jansson.h>
#include <stddef.h>

#include "cj.h"
#include "cloud_tasks.h"

struct config;
struct queues;
struct enqueuer;

/* What went wrong, for callers that must tell a bad payload from a bad
 * request (SPEC §5.2: invalid_payload vs invalid_request). */
enum enqueue_error_kind {
	ENQUEUE_OK = 0,
	ENQUEUE_UNKNOWN_TYPE, /* CJ_ENOTFOUND: no such job type */
	ENQUEUE_INVALID_PAYLOAD, /* CJ_EINVAL: payload missing its schema (err names the field) */
	ENQUEUE_INVALID_REQUEST, /* CJ_EINVAL: payload absent, delay, scheduleTime, taskId */
	ENQUEUE_TOO_BIG, /* CJ_ETOOBIG: compact payload over 100,000 bytes */
	ENQUEUE_EXISTS, /* CJ_EEXISTS: the task name exists or existed recently */
	ENQUEUE_UPSTREAM, /* Cloud Tasks: CJ_EUNAVAIL, CJ_ECONFIG, CJ_EUPSTREAM, ... */
};

struct enqueue_request {
	const char *type; /* job type, e.g. "calendar-sync" */
	const json_t *payload; /* a JSON object; NULL is ENQUEUE_INVALID_REQUEST */
	int has_delay; /* run delay_seconds from now ... */
	double delay_seconds;
	int has_schedule_time; /* ... or at schedule_time (not both) */
	double schedule_time; /* Unix seconds; past means now */
	const char *task_id; /* NULL: a random 128-bit hex id */
};

#define ENQUEUE_REQUEST_INIT                                                                       \
	{                                                                                          \
		NULL, NULL, 0, 0, 0, 0, NULL                                                       \
	}

struct enqueue_result {
	enum enqueue_error_kind kind;
	char task[CLOUD_TASKS_NAME_MAX]; /* projects/P/locations/R/queues/Q/tasks/ID */
	char schedule_time[64]; /* RFC 3339 */
};

/* Builds the enqueuer. In cloud mode access tokens come from src/gauth.h
 * (key file or metadata server); in local mode a placeholder bearer token
 * is sent (the embedded emulator accepts any). api_url: the Cloud Tasks
 * REST endpoint, NULL for cfg->cloud_tasks_api_url (local mode passes its
 * own server's URL). CJ_OK, CJ_ECONFIG (err names the problem), CJ_ENOMEM. */
int enqueuer_new(const struct config *cfg, const struct queues *q, const char *api_url,
                 struct enqueuer **out, char *err, size_t errlen) CJ_WUR;
void enqueuer_free(struct enqueuer *e);

/* The Cloud Tasks client, e.g. to tune its retry policy in tests. */
struct cloud_tasks *enqueuer_cloud_tasks(struct enqueuer *e);

/* Enqueues one job. CJ_OK with res->task and res->schedule_time; otherwise
 * the result code and res->kind as listed at enum enqueue_error_kind, err
 * a one-line reason naming the field. A missing queue in Cloud Tasks (404)
 * is CJ_ECONFIG: the deployment lacks it, the request is fine. */
int enqueue_job(struct enqueuer *e, const struct enqueue_request *req, struct enqueue_result *res,
                char *err, size_t errlen) CJ_WUR;

#endif
