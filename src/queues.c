/*
 * queues.c - loads and validates queues.json and schedules.json; see
 * queues.h.
 *
 * Validation is strict on purpose: a typo in a field name ("maxAttempt")
 * would otherwise silently fall back to Google's defaults (100 attempts, no
 * dead letters for a day), so unknown fields are errors too. Every message
 * names the file, the entry and the field, so an operator can fix the file
 * without reading this code. Never reads anything but the two files.
 */
#include "queues.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_tasks.h"
#include "job_types.h"
#include "schema.h"
#include "timeutil.h"
#include "tz.h"

struct queues {
	struct queue_config *q;
	size_t nq;
	struct schedule_config *s;
	size_t ns;
};

/* ---- errors ---- */

/* ---- the struct ---- */

static void queue_config_release(struct queue_config *c)
{
	free((char *)c->name);
}

static void schedule_config_release(struct schedule_config *s)
{
	free((char *)s->name);
	free((char *)s->schedule);
	free((char *)s->time_zone);
	free((char *)s->job_type);
	json_decref((json_t *)s->payload);
}

void queues_free(struct queues *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->nq; i++)
		queue_config_release(&q->q[i]);
	for (i = 0; i < q->ns; i++)
		schedule_config_release(&q->s[i]);
	free(q->q);
	free(q->s);
	free(q);
}

const struct queue_config *queues_find(const struct queues *q, const char *name)
{
	size_t i;

	for (i = 0; q && name && i < q->nq; i++)
		if (!strcmp(q->q[i].name, name))
			return &q->q[i];
	return NULL;
}

const struct schedule_config *queues_find_schedule(const struct queues *q, const char *name)
{
	size_t i;

	for (i = 0; q && name && i < q->ns; i++)
		if (!strcmp(q->s[i].name, name))
			return &q->s[i];
	return NULL;
}

size_t queues_count(const struct queues *q)
{
	return q ? q->nq : 0;
}

const struct queue_config *queues_at(const struct queues *q, size_t i)
{
	return q && i < q->nq ? &q->q[i] : NULL;
}

size_t queues_schedule_count(const struct queues *q)
{
	return q ? q->ns : 0;
}

const struct schedule_config *queues_schedule_at(const struct queues *q, size_t i)
{
	return q && i < q->ns ? &q->s[i] : NULL;
}

double queues_backoff(const struct queue_config *qc, int k)
{
	int d = qc->max_doublings, e;
	double wait;

	if (k < 1)
		k = 1;
	e = k - 1 < d ? k - 1 : d;
	if (e > 60)
		e = 60; /* 2^60 * anything is past any maxBackoff */
	wait = qc->min_backoff * ldexp(1.0, e) * (k - d > 1 ? (double)(k - d) : 1.0);
	return wait < qc->max_backoff ? wait : qc->max_backoff;
}

double queues_retry_window(const struct queue_config *qc)
{
	double sum = 0;
	int k;

	if (qc->max_attempts < 0)
		return -1;
	for (k = 1; k < qc->max_attempts; k++)
		sum += queues_backoff(qc, k);
	return sum;
}

int queues_check_lease(const struct queues *q, long lease_s, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < queues_count(q); i++) {
		const struct queue_config *qc = queues_at(q, i);
		double w = queues_retry_window(qc);

		if (w >= 0 && w < 2.0 * (double)lease_s)
			return cj_errorf(
			    err, errlen, CJ_ECONFIG,
			    "queue %s: retry window %gs (the backoff waits before its "
			    "last attempt) is under 2 x IDEMPOTENCY_LEASE_SECONDS = %lds: "
			    "a claim left by a dead instance could outlive every "
			    "retry; raise maxAttempts or the backoffs",
			    qc->name, w, 2 * lease_s);
	}
	return CJ_OK;
}

struct queues *queues_defaults(void)
{
	const struct job_type *jt;
	struct queues *q;
	size_t n, i;

	jt = job_types_all(&n);
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->q = calloc(n ? n : 1, sizeof(*q->q));
	if (!q->q)
		goto fail;
	for (i = 0; i < n; i++) {
		struct queue_config *c = &q->q[q->nq];

		if (queues_find(q, jt[i].queue))
			continue;
		c->name = strdup(jt[i].queue);
		if (!c->name)
			goto fail;
		q->nq++;
		c->max_attempts = 100;
		c->min_backoff = 0.1;
		c->max_backoff = 3600;
		c->max_doublings = 16;
		c->max_dispatches_per_second = 500;
		c->max_concurrent_dispatches = 1000;
		c->dispatch_deadline = 600;
	}
	return q;
fail:
	queues_free(q);
	return NULL;
}

/* ---- field readers: each names "file: entry.field" in its message ---- */

struct where {
	const char *file;
	char *err;
	size_t errlen;
	char entry[160]; /* quoted or indexed, e.g. "\"ping-queue\"", "schedules[2]" */
};

static int check_keys(const struct where *w, const char *path, const json_t *obj,
                      const char *const *allowed)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)obj, key, v)
	{
		for (i = 0; allowed[i]; i++)
			if (!strcmp(key, allowed[i]))
				break;
		if (!allowed[i])
			return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s%s%s: unknown field",
			                 w->file, w->entry, path, key);
	}
	return CJ_OK;
}

static int get_object(const struct where *w, const json_t *obj, const char *field, json_t **out)
{
	json_t *v = json_object_get(obj, field);

	if (!json_is_object(v))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s.%s: %s", w->file, w->entry,
		                 field, v ? "must be an object" : "required");
	*out = v;
	return CJ_OK;
}

static int get_duration(const struct where *w, const json_t *obj, const char *path,
                        const char *field, double *out)
{
	json_t *v = json_object_get(obj, field);

	if (!v)
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s%s%s: required", w->file,
		                 w->entry, path, field);
	if (!json_is_string(v) || time_parse_duration(json_string_value(v), out))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s%s%s: must be a duration string in seconds such as \"10s\"",
		                 w->file, w->entry, path, field);
	return CJ_OK;
}

static int get_deadline(const struct where *w, const json_t *obj, const char *field, double *out)
{
	int rc = get_duration(w, obj, ".", field, out);

	if (rc)
		return rc;
	if (*out < QUEUES_MIN_DEADLINE || *out > QUEUES_MAX_DEADLINE)
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s.%s: must be between 15s and 1800s", w->file, w->entry,
		                 field);
	return CJ_OK;
}

static int get_int(const struct where *w, const json_t *obj, const char *path, const char *field,
                   long long min, long long max, int allow_minus_one, int *out)
{
	json_t *v = json_object_get(obj, field);
	long long n;

	if (!v)
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s%s%s: required", w->file,
		                 w->entry, path, field);
	n = json_is_integer(v) ? json_integer_value(v) : min - 1;
	if (!json_is_integer(v) || ((n < min || n > max) && !(allow_minus_one && n == -1))) {
		if (allow_minus_one)
			return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
			                 "%s: %s%s%s: must be an integer ≥ %lld or -1", w->file,
			                 w->entry, path, field, min);
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s%s%s: must be an integer from %lld to %lld", w->file,
		                 w->entry, path, field, min, max);
	}
	*out = (int)n;
	return CJ_OK;
}

/* ---- queues.json ---- */

static int load_error(const char *file, const json_error_t *je, char *err, size_t errlen)
{
	if (je->line < 1) /* could not open or read: the text names the file already */
		return cj_errorf(err, errlen, CJ_ECONFIG, "%s", je->text);
	return cj_errorf(err, errlen, CJ_ECONFIG, "%s: line %d: %s", file, je->line, je->text);
}

static int parse_queue(const struct where *w, const json_t *v, struct queue_config *c)
{
	static const char *const top[] = {"retryConfig", "rateLimits", "dispatchDeadline", NULL};
	static const char *const retry[] = {"maxAttempts",  "minBackoff",       "maxBackoff",
	                                    "maxDoublings", "maxRetryDuration", NULL};
	static const char *const rate[] = {"maxDispatchesPerSecond", "maxConcurrentDispatches",
	                                   NULL};
	json_t *rc_obj = NULL, *rl_obj = NULL, *mdps;
	double mrd;
	int rc;

	if (!json_is_object(v))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s: must be an object",
		                 w->file, w->entry);
	if ((rc = check_keys(w, ".", v, top)) || (rc = get_object(w, v, "retryConfig", &rc_obj)) ||
	    (rc = check_keys(w, ".retryConfig.", rc_obj, retry)) ||
	    (rc = get_int(w, rc_obj, ".retryConfig.", "maxAttempts", 1, 1000000, 1,
	                  &c->max_attempts)) ||
	    (rc = get_duration(w, rc_obj, ".retryConfig.", "minBackoff", &c->min_backoff)) ||
	    (rc = get_duration(w, rc_obj, ".retryConfig.", "maxBackoff", &c->max_backoff)) ||
	    (rc = get_int(w, rc_obj, ".retryConfig.", "maxDoublings", 0, 1000000, 0,
	                  &c->max_doublings)) ||
	    (rc = get_duration(w, rc_obj, ".retryConfig.", "maxRetryDuration", &mrd)))
		return rc;
	if (mrd != 0)
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s.retryConfig.maxRetryDuration: must be \"0s\" (maxAttempts "
		                 "alone bounds retries, so the server knows the last attempt)",
		                 w->file, w->entry);
	if (c->min_backoff > c->max_backoff)
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s.retryConfig.minBackoff: must not exceed maxBackoff",
		                 w->file, w->entry);
	if ((rc = get_object(w, v, "rateLimits", &rl_obj)) ||
	    (rc = check_keys(w, ".rateLimits.", rl_obj, rate)))
		return rc;
	mdps = json_object_get(rl_obj, "maxDispatchesPerSecond");
	if (!mdps)
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s.rateLimits.maxDispatchesPerSecond: required", w->file,
		                 w->entry);
	c->max_dispatches_per_second = json_is_number(mdps) ? json_number_value(mdps) : -1;
	if (!(c->max_dispatches_per_second > 0) ||
	    c->max_dispatches_per_second > QUEUES_MAX_DISPATCHES_PER_SECOND)
		return cj_errorf(
		    w->err, w->errlen, CJ_ECONFIG,
		    "%s: %s.rateLimits.maxDispatchesPerSecond: must be a number above 0 "
		    "and at most 500",
		    w->file, w->entry);
	if ((rc = get_int(w, rl_obj, ".rateLimits.", "maxConcurrentDispatches", 1,
	                  QUEUES_MAX_CONCURRENT_DISPATCHES, 0, &c->max_concurrent_dispatches)))
		return rc;
	return get_deadline(w, v, "dispatchDeadline", &c->dispatch_deadline);
}

static int load_queues(struct queues *q, const char *file, char *err, size_t errlen)
{
	const struct job_type *jt;
	json_error_t je;
	const char *key;
	json_t *root, *v;
	size_t n, i;
	int rc = CJ_OK;

	root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return load_error(file, &je, err, errlen);
	if (!json_is_object(root)) {
		rc = cj_errorf(err, errlen, CJ_ECONFIG, "%s: must be an object keyed by queue name",
		               file);
		goto out;
	}
	q->q = calloc(json_object_size(root) + 1, sizeof(*q->q));
	if (!q->q) {
		rc = CJ_ENOMEM;
		goto out;
	}
	json_object_foreach(root, key, v)
	{
		struct where w = {file, err, errlen, ""};
		struct queue_config *c = &q->q[q->nq];

		snprintf(w.entry, sizeof(w.entry), "\"%.100s\"", key);
		if (!job_types_find_by_queue(key)) {
			rc = cj_errorf(err, errlen, CJ_ECONFIG,
			               "%s: %s: unknown queue (no job type uses it; see SPEC §7)",
			               file, w.entry);
			goto out;
		}
		if (!cloud_tasks_valid_queue_id(key)) {
			rc = cj_errorf(err, errlen, CJ_ECONFIG,
			               "%s: %s: queue ids are [A-Za-z0-9-]{1,100}", file, w.entry);
			goto out;
		}
		if ((rc = parse_queue(&w, v, c)))
			goto out;
		c->name = strdup(key);
		if (!c->name) {
			rc = CJ_ENOMEM;
			goto out;
		}
		q->nq++;
	}
	jt = job_types_all(&n);
	for (i = 0; i < n; i++) {
		if (!queues_find(q, jt[i].queue)) {
			rc = cj_errorf(err, errlen, CJ_ECONFIG,
			               "%s: \"%s\": missing (job type %s uses it)", file,
			               jt[i].queue, jt[i].name);
			goto out;
		}
	}
out:
	json_decref(root);
	return rc;
}

/* ---- schedules.json ---- */

static int get_string(const struct where *w, const json_t *obj, const char *field, const char **out)
{
	json_t *v = json_object_get(obj, field);

	if (!json_is_string(v) || !json_string_length(v))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s.%s: %s", w->file, w->entry,
		                 field, v ? "must be a non-empty string" : "required");
	*out = json_string_value(v);
	return CJ_OK;
}

static int parse_schedule(const struct queues *q, struct where *w, const json_t *v,
                          struct schedule_config *s)
{
	static const char *const keys[] = {"name",    "schedule",        "timeZone", "jobType",
	                                   "payload", "attemptDeadline", NULL};
	const char *name = NULL, *sched = NULL, *tz = NULL, *type = NULL;
	const struct job_type *jt;
	char why[256];
	json_t *payload;
	int rc;

	if ((rc = get_string(w, v, "name", &name)))
		return rc;
	/* Cloud Scheduler job ids follow the same rule as Cloud Tasks task ids:
	 * letters, digits, hyphens, underscores, 1-500. */
	if (!cloud_tasks_valid_task_id(name))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s.name: Cloud Scheduler job names are [A-Za-z0-9_-]{1,500}",
		                 w->file, w->entry);
	/* From here on, errors name the entry by its name. */
	snprintf(w->entry, sizeof(w->entry), "\"%.100s\"", name);
	if (queues_find_schedule(q, name))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s.name: used twice", w->file,
		                 w->entry);
	if ((rc = check_keys(w, ".", v, keys)))
		return rc;
	if ((rc = get_string(w, v, "schedule", &sched)))
		return rc;
	if (cron_parse(sched, &s->cron, why, sizeof(why)))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s.schedule: %s", w->file,
		                 w->entry, why);
	if ((rc = get_string(w, v, "timeZone", &tz)))
		return rc;
	if (!(s->zone = tz_get(tz, why, sizeof(why))))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s.timeZone: %s", w->file,
		                 w->entry, why);
	if ((rc = get_string(w, v, "jobType", &type)))
		return rc;
	jt = job_types_find(type);
	if (!jt)
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG,
		                 "%s: %s.jobType: unknown job type \"%.100s\"", w->file, w->entry,
		                 type);
	payload = json_object_get(v, "payload");
	if (!json_is_object(payload))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s.payload: %s", w->file,
		                 w->entry, payload ? "must be a JSON object" : "required");
	if (schema_validate(jt->fields, payload, why, sizeof(why)))
		return cj_errorf(w->err, w->errlen, CJ_ECONFIG, "%s: %s.payload: %s", w->file,
		                 w->entry, why);
	if ((rc = get_deadline(w, v, "attemptDeadline", &s->attempt_deadline)))
		return rc;
	s->name = strdup(name);
	s->schedule = strdup(sched);
	s->time_zone = strdup(tz);
	s->job_type = strdup(type);
	s->payload = json_deep_copy(payload);
	if (!s->name || !s->schedule || !s->time_zone || !s->job_type || !s->payload) {
		schedule_config_release(s);
		memset(s, 0, sizeof(*s));
		return CJ_ENOMEM;
	}
	return CJ_OK;
}

static int load_schedules(struct queues *q, const char *file, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *list, *v;
	size_t i;
	int rc = CJ_OK;

	root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return load_error(file, &je, err, errlen);
	list = json_object_get(root, "schedules");
	if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(list)) {
		rc = cj_errorf(err, errlen, CJ_ECONFIG, "%s: must be {\"schedules\": [...]}", file);
		goto out;
	}
	q->s = calloc(json_array_size(list) + 1, sizeof(*q->s));
	if (!q->s) {
		rc = CJ_ENOMEM;
		goto out;
	}
	json_array_foreach(list, i, v)
	{
		struct where w = {file, err, errlen, ""};

		snprintf(w.entry, sizeof(w.entry), "schedules[%zu]", i);
		if (!json_is_object(v)) {
			rc = cj_errorf(err, errlen, CJ_ECONFIG, "%s: %s: must be an object", file,
			               w.entry);
			goto out;
		}
		if ((rc = parse_schedule(q, &w, v, &q->s[q->ns])))
			goto out;
		q->ns++;
	}
out:
	json_decref(root);
	return rc;
}

int queues_load(const char *dir, struct queues **out, char *err, size_t errlen)
{
	char path[4096];
	struct queues *q;
	int rc;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return CJ_ENOMEM;
	snprintf(path, sizeof(path), "%s/queues.json", dir);
	if ((rc = load_queues(q, path, err, errlen)))
		goto fail;
	snprintf(path, sizeof(path), "%s/schedules.json", dir);
	if ((rc = load_schedules(q, path, err, errlen)))
		goto fail;
	*out = q;
	return CJ_OK;
fail:
	if (rc == CJ_ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory reading %s", path);
	queues_free(q);
	return rc;
}
