/*
 * ctdriver.h - plays Cloud Tasks for fault tests: one thread per task
 * delivers it to the current target instance with Cloud Tasks' headers
 * (queue, task name, X-CloudTasks-TaskRetryCount), and after any answer but
 * 2xx (or none) waits the queue's real backoff before the next attempt,
 * until maxAttempts (REFERENCE "Cloud Tasks → our server"). Tests then read
 * each task's attempts and count its runs in the instances' logs.
 *
 * Also writes a CONFIG_DIR whose ping-queue has a short schedule, so that
 * a test goes through many attempts in seconds.
 *
 * Thread-safe: the target may be switched (an instance restarted) while
 * deliveries run. A struct ct_task belongs to the test; it must stay in
 * place until ct_task_join().
 */
#ifndef CJ_TEST_CTDRIVER_H
#define CJ_TEST_CTDRIVER_H

#include <pthread.h>
#include <stdint.h>

#include "cjserver.h"
#include "queues.h"

#define CT_MAX_ATTEMPTS 16

struct ctdriver;

struct ct_task {
	char id[128];
	char type[64];
	char *body; /* owned */
	struct ctdriver *d;
	/* Written by the task's thread; read them after ct_task_join(), or
	 * attempts (atomically enough for polling) while it runs. */
	volatile int attempts;
	int statuses[CT_MAX_ATTEMPTS]; /* 0: no answer */
	char outcomes[CT_MAX_ATTEMPTS][24]; /* the answer's "status" member */
	int64_t sent_ms[CT_MAX_ATTEMPTS], answered_ms[CT_MAX_ATTEMPTS]; /* monotonic */
	char final[24]; /* "status" of the 2xx that ended it, or "" */
	pthread_t thread;
	int started;
};

/* q: the queue the tasks are in (its name goes in the headers, its retry
 * config paces the attempts; copied). token: the bearer token (copied). */
struct ctdriver *ctdriver_new(const struct queue_config *q, const char *token);
void ctdriver_free(struct ctdriver *d);
/* Deliveries from now on go to s (borrowed; keep it alive). */
void ctdriver_target(struct ctdriver *d, const struct cj_server *s);

/* Starts delivering a task of type (e.g. "ping") named id with body. */
void ct_task_start(struct ctdriver *d, struct ct_task *t, const char *type, const char *id,
                   const char *body);
/* Waits for its thread (the task ended: 2xx or maxAttempts). */
void ct_task_join(struct ct_task *t);
void ct_task_release(struct ct_task *t);
/* Waits up to timeout_ms until the task has had n answers (or none within
 * the push timeout). 0, or -1 on timeout. */
int ct_task_wait_attempts(const struct ct_task *t, int n, int timeout_ms);
/* How many of its attempts were answered status. */
int ct_task_count(const struct ct_task *t, int status);
/* Its attempts as text ("503 409 200:completed"), for messages. */
const char *ct_task_story(const struct ct_task *t, char *out, size_t outlen);

/* Lines of the logs (nlogs of them) saying the task's handler finished a
 * run: "job TYPE completed" with its taskName. */
int ct_task_runs(const struct ct_task *t, char *const *logs, int nlogs);

/* Writes dir/queues.json (the repository's queues, with ping-queue set to
 * q's retry config, 10/s, 10 concurrent and q's dispatchDeadline) and an
 * empty dir/schedules.json. 0 or -1. */
int ctdriver_write_config(const char *dir, const struct queue_config *q);

#endif
