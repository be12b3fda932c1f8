/*
 * cloud_tasks.h - the Cloud Tasks REST API v2 client: tasks.create for an
 * HTTP-target task that POSTs a job to CLOUD_RUN_URL/jobs/{type} with an
 * OIDC token (SPEC §5.2, REFERENCE "Cloud Tasks REST API v2").
 *
 * Every task is named (the caller's id or a random 128-bit hex id), so a
 * create retried after a lost answer cannot make a second task. Transient
 * failures (429, 5xx, timeouts, broken connections) are retried a bounded
 * number of times with the same name. The access token is never logged.
 *
 * A 409 ALREADY_EXISTS from Google, and what the caller of
 * cloud_tasks_create() (and so of POST /enqueue, the CLI's enqueue) sees:
 *   - No task_id (the random name we generated): nobody else can hold that
 *     name, so the 409 means our own create landed - an earlier attempt
 *     whose answer was lost, or libcurl's silent re-send of this attempt
 *     after a kept-alive connection died. CJ_OK, on any attempt: /enqueue
 *     answers 202 with the task name.
 *   - A caller's task_id: CJ_OK (202) only when our own request may have
 *     made the task: an earlier attempt of this call got no answer
 *     (timeout, broken connection) or a 429/5xx (a front end can answer so
 *     after the create was applied), or libcurl sent one of our attempts
 *     twice. Otherwise CJ_EEXISTS: /enqueue answers 409 already_exists and
 *     the CLI exits 3. When the id was in fact taken before and such an
 *     attempt preceded the 409, this reports success: the task with that id
 *     exists, but it is the earlier one (its payload and schedule, not ours).
 * After a 409 counted as success there is no Task in the answer:
 * scheduleTime is the one we asked for, or now when we asked for none.
 *
 * Ownership: cloud_tasks_new() copies what it needs from the config and
 * borrows auth (which must outlive the client; NULL sends a placeholder
 * bearer token, for the local emulator that accepts any). Thread-safe.
 */
#ifndef CJ_CLOUD_TASKS_H
#define CJ_CLOUD_TASKS_H

#include <stddef.h>

#include "cj.h"

/* Cloud Tasks' task size limit; we refuse larger payloads before calling. */
#define CLOUD_TASKS_MAX_PAYLOAD 100000
#define CLOUD_TASKS_MAX_AHEAD_S (30 * 86400)
#define CLOUD_TASKS_NAME_MAX 1024

struct config;
struct gauth;
struct cloud_tasks;

struct cloud_task_request {
	const char *queue; /* short queue id, e.g. "ping-queue" */
	const char *job_type; /* target path /jobs/{job_type} */
	const char *task_id; /* NULL: a random 128-bit hex id */
	const char *body; /* compact JSON payload (sent base64) */
	size_t body_len;
	double schedule_time; /* Unix seconds; 0: not set (run now) */
	double dispatch_deadline; /* seconds; 0: not set (Google's 600 s) */
};

struct cloud_task {
	char name[CLOUD_TASKS_NAME_MAX]; /* projects/P/locations/R/queues/Q/tasks/ID */
	char schedule_time[64]; /* RFC 3339 as Google answered it */
};

/* api_url: the REST endpoint (NULL: cfg->cloud_tasks_api_url). CJ_OK,
 * CJ_ECONFIG (no OIDC audience), CJ_ENOMEM. */
int cloud_tasks_new(const struct config *cfg, const char *api_url, struct gauth *auth,
                    struct cloud_tasks **out, char *err, size_t errlen) CJ_WUR;
void cloud_tasks_free(struct cloud_tasks *ct);

/* Retry policy: attempts in total (>= 1), the wait before the first retry
 * (multiplied by 4 for each further one) and each attempt's timeout.
 * Defaults: 3, 100 ms, 10000 ms. Call before sharing the client. */
void cloud_tasks_set_retry(struct cloud_tasks *ct, int attempts, long first_backoff_ms,
                           long attempt_timeout_ms);

/* Creates the task. CJ_OK (out filled); CJ_EEXISTS (the name exists or
 * existed recently); CJ_EINVAL (bad task id, or Google's 400 message in
 * err); CJ_ETOOBIG (body over CLOUD_TASKS_MAX_PAYLOAD, nothing sent);
 * CJ_ENOTFOUND (no such queue); CJ_ECONFIG (401/403, or no access token:
 * err says which account needs which role); CJ_EUNAVAIL (429/5xx/no
 * answer after the retries); CJ_EUPSTREAM (an answer we do not understand);
 * CJ_ENOMEM. */
int cloud_tasks_create(struct cloud_tasks *ct, const struct cloud_task_request *req,
                       struct cloud_task *out, char *err, size_t errlen) CJ_WUR;

/* Cloud Tasks' id rules, the one copy every module checks against: the
 * delivery headers of /jobs (job_runner.c), queues.json and the Cloud
 * Scheduler job names of schedules.json (queues.c, same rule as task ids),
 * the enqueuer and this client. They live here rather than in a module of
 * their own because this header costs its includers nothing (stddef.h,
 * cj.h and forward declarations only). ASCII only, whatever the locale. */

/* 1 when s is a valid task id, [A-Za-z0-9_-]{1,500}; 0 otherwise or NULL. */
int cloud_tasks_valid_task_id(const char *s);
/* 1 when s is a valid queue id, [A-Za-z0-9-]{1,100} (no underscore);
 * 0 otherwise or NULL. */
int cloud_tasks_valid_queue_id(const char *s);

#endif
