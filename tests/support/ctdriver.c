/*
 * ctdriver.c - Cloud Tasks' delivery loop for fault tests; see ctdriver.h.
 *
 * Owns the target pointer (under its lock) and a copy of the queue's retry
 * config; each task's thread owns its task's record until it ends.
 */
#include "ctdriver.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

struct ctdriver {
	struct queue_config q;
	char queue_name[128];
	char *token;
	pthread_mutex_t lock;
	const struct cj_server *target; /* guarded by lock */
};

struct ctdriver *ctdriver_new(const struct queue_config *q, const char *token)
{
	struct ctdriver *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->q = *q;
	snprintf(d->queue_name, sizeof(d->queue_name), "%s", q->name);
	d->q.name = d->queue_name;
	d->token = strdup(token);
	if (!d->token || pthread_mutex_init(&d->lock, NULL)) {
		free(d->token);
		free(d);
		return NULL;
	}
	return d;
}

void ctdriver_free(struct ctdriver *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d->token);
	free(d);
}

void ctdriver_target(struct ctdriver *d, const struct cj_server *s)
{
	pthread_mutex_lock(&d->lock);
	d->target = s;
	pthread_mutex_unlock(&d->lock);
}

static const struct cj_server *target(struct ctdriver *d)
{
	const struct cj_server *s;

	pthread_mutex_lock(&d->lock);
	s = d->target;
	pthread_mutex_unlock(&d->lock);
	return s;
}

static void *deliver_main(void *arg)
{
	struct ct_task *t = arg;
	struct ctdriver *d = t->d;
	int max = d->q.max_attempts < 0 || d->q.max_attempts > CT_MAX_ATTEMPTS ? CT_MAX_ATTEMPTS
	                                                                       : d->q.max_attempts;

	for (int k = 0; k < max; k++) {
		struct httpc_resp r;
		const char *st;
		int rc;

		t->sent_ms[k] = time_mono_ms();
		rc = cj_push(target(d), t->type, d->token, d->q.name, t->id, k, t->body, &r);
		t->answered_ms[k] = time_mono_ms();
		t->statuses[k] = rc ? 0 : (int)r.status;
		st = rc ? NULL : httpc_json_str(&r, "status");
		snprintf(t->outcomes[k], sizeof(t->outcomes[k]), "%s", st ? st : "");
		if (!rc && r.status >= 200 && r.status < 300)
			snprintf(t->final, sizeof(t->final), "%s", st ? st : "?");
		if (!rc)
			httpc_resp_free(&r);
		__atomic_store_n(&t->attempts, k + 1, __ATOMIC_RELEASE);
		if (t->final[0])
			break;
		if (k + 1 < max)
			msleep((long)(queues_backoff(&d->q, k + 1) * 1000));
	}
	return NULL;
}

void ct_task_start(struct ctdriver *d, struct ct_task *t, const char *type, const char *id,
                   const char *body)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->type, sizeof(t->type), "%s", type);
	t->body = strdup(body);
	t->d = d;
	ck_assert_ptr_nonnull(t->body);
	ck_assert_int_eq(pthread_create(&t->thread, NULL, deliver_main, t), 0);
	t->started = 1;
}

void ct_task_join(struct ct_task *t)
{
	if (t->started) {
		pthread_join(t->thread, NULL);
		t->started = 0;
	}
}

void ct_task_release(struct ct_task *t)
{
	ct_task_join(t);
	free(t->body);
	t->body = NULL;
}

int ct_task_wait_attempts(const struct ct_task *t, int n, int timeout_ms)
{
	int64_t until = time_mono_ms() + timeout_ms;

	while (__atomic_load_n(&t->attempts, __ATOMIC_ACQUIRE) < n) {
		if (time_mono_ms() >= until)
			return -1;
		msleep(20);
	}
	return 0;
}

int ct_task_count(const struct ct_task *t, int status)
{
	int n = 0;

	for (int k = 0; k < t->attempts; k++)
		n += t->statuses[k] == status;
	return n;
}

const char *ct_task_story(const struct ct_task *t, char *out, size_t outlen)
{
	size_t pos = 0;

	out[0] = '\0';
	for (int k = 0; k < t->attempts && pos < outlen; k++)
		pos +=
		    (size_t)snprintf(out + pos, outlen - pos, "%s%d%s%s", k ? " " : "",
		                     t->statuses[k], t->outcomes[k][0] ? ":" : "", t->outcomes[k]);
	return out;
}

int ct_task_runs(const struct ct_task *t, char *const *logs, int nlogs)
{
	char what[128], task[200];
	const char *needles[] = {what, task, NULL};
	int n = 0;

	snprintf(what, sizeof(what), "/jobs/%s answered: completed", t->type);
	snprintf(task, sizeof(task), "\"taskName\":\"%s\"", t->id);
	for (int i = 0; i < nlogs; i++)
		n += log_count(logs[i], needles);
	return n;
}

int ctdriver_write_config(const char *dir, const struct queue_config *q)
{
	char path[1200], src[1200], min[32], max[32], deadline[32];
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
	json_t *queues, *none;
	int rc = -1;

	snprintf(src, sizeof(src), "%s/config/queues.json", root);
	queues = json_load_file(src, 0, NULL);
	none = json_pack("{s:[]}", "schedules");
	snprintf(min, sizeof(min), "%gs", q->min_backoff);
	snprintf(max, sizeof(max), "%gs", q->max_backoff);
	snprintf(deadline, sizeof(deadline), "%gs", q->dispatch_deadline);
	if (!queues || !none ||
	    json_object_set_new(queues, q->name,
	                        json_pack("{s:{s:i, s:s, s:s, s:i, s:s}, s:{s:i, s:i}, s:s}",
	                                  "retryConfig", "maxAttempts", q->max_attempts,
	                                  "minBackoff", min, "maxBackoff", max, "maxDoublings",
	                                  q->max_doublings, "maxRetryDuration", "0s", "rateLimits",
	                                  "maxDispatchesPerSecond", 10, "maxConcurrentDispatches",
	                                  10, "dispatchDeadline", deadline)))
		goto done;
	snprintf(path, sizeof(path), "%s/queues.json", dir);
	if (json_dump_file(queues, path, 0))
		goto done;
	snprintf(path, sizeof(path), "%s/schedules.json", dir);
	if (json_dump_file(none, path, 0))
		goto done;
	rc = 0;
done:
	json_decref(queues);
	json_decref(none);
	return rc;
}
