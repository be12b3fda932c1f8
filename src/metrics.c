/*
 * metrics.c - a small fixed-size series table behind one mutex; see metrics.h.
 *
 * Each series is one metric plus its rendered label set ('type="ping"'),
 * found by hash with linear probing. Histograms keep cumulative-ready bucket
 * counts; rendering sorts nothing and allocates only the output buffer.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "recent.h"

enum metric_id {
	M_REQUESTS,
	M_JOB_DURATION,
	M_AUTH_FAILURES,
	M_UPSTREAM_DURATION,
	M_ENQUEUE,
	M_DEAD_LETTERS,
	M_CLAIMS_LOST,
	M_LAST_ATTEMPT_IN_PROGRESS,
	M_EMULATOR_DISPATCHES,
	M_PROVIDER_ERRORS,
	M_OUTBOX_UNCONFIRMED,
	M_WEBHOOK_PUSHES,
	M_WEBHOOK_CHANNELS,
	M_COUNT
};

enum metric_kind { COUNTER, HISTOGRAM };

static const struct {
	const char *name;
	enum metric_kind kind;
	const char *help;
} metric_defs[M_COUNT] = {
    [M_REQUESTS] = {"catchup_jobs_requests_total", COUNTER,
                    "Job pushes answered, by type and outcome."},
    [M_JOB_DURATION] = {"catchup_jobs_job_duration_seconds", HISTOGRAM, "Handler run time."},
    [M_AUTH_FAILURES] = {"catchup_jobs_auth_failures_total", COUNTER,
                         "Rejected credentials, by reason."},
    [M_UPSTREAM_DURATION] = {"catchup_jobs_upstream_duration_seconds", HISTOGRAM,
                             "Outbound calls, by upstream and operation."},
    [M_ENQUEUE] = {"catchup_jobs_enqueue_total", COUNTER, "Tasks enqueued, by type and result."},
    [M_DEAD_LETTERS] = {"catchup_jobs_dead_letters_total", COUNTER,
                        "Dead letters recorded, by type."},
    [M_CLAIMS_LOST] = {"catchup_jobs_claims_lost_total", COUNTER,
                       "Idempotency claims found expired at completion."},
    [M_LAST_ATTEMPT_IN_PROGRESS] = {"catchup_jobs_last_attempt_in_progress_total", COUNTER,
                                    "Last attempts answered 409 in_progress (the claim's "
                                    "holder answers for the task)."},
    [M_EMULATOR_DISPATCHES] = {"catchup_jobs_emulator_dispatches_total", COUNTER,
                               "Local mode's Cloud Tasks: attempts, by queue and result."},
    [M_PROVIDER_ERRORS] = {"catchup_jobs_provider_errors_total", COUNTER,
                           "Provider calls refused for a configuration fault (keys, OAuth "
                           "client), by provider and reason."},
    [M_OUTBOX_UNCONFIRMED] = {"catchup_jobs_outbox_unconfirmed_total", COUNTER,
                              "Messages whose outbox row was found or left 'sending' (a "
                              "crash or a lost answer): an operator resolves them, by kind."},
    [M_WEBHOOK_PUSHES] = {"catchup_jobs_webhook_pushes_total", COUNTER,
                          "Calendar push notifications from active channels, by result "
                          "(enqueued, coalesced, sync, stale)."},
    [M_WEBHOOK_CHANNELS] = {"catchup_jobs_webhook_channels_total", COUNTER,
                            "Calendar watch channels changed by the webhook jobs, by event "
                            "(created, stopped, silent_recreated, leaked)."},
};

static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                0.5,   1,      2.5,   5,    10,    30,   60,  300};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct series {
	int used;
	enum metric_id id;
	char labels[128];
	double value; /* counter value, or histogram sum */
	unsigned long long count; /* histogram observations */
	unsigned long long buckets[NBOUNDS];
};

/* Guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series table[METRICS_MAX_SERIES];
static int series_in_use;

static atomic_long inflight;

static unsigned hash(enum metric_id id, const char *labels)
{
	unsigned h = 2166136261u ^ (unsigned)id;

	for (; *labels; labels++)
		h = (h ^ (unsigned char)*labels) * 16777619u;
	return h;
}

/* Label values are bounded by the callers; escape anyway so the exposition
 * stays parseable whatever arrives. */
static void label_value(char *out, size_t outlen, const char *v)
{
	size_t o = 0;

	for (; *v && o + 3 < outlen; v++) {
		if (*v == '"' || *v == '\\') {
			out[o++] = '\\';
			out[o++] = *v;
		} else if (*v == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *v;
		}
	}
	out[o] = '\0';
}

/* Appends part at out[o]; the new end (n - 1 when cut). */
static size_t put_part(char *out, size_t n, size_t o, const char *part)
{
	size_t len;

	if (o + 1 >= n)
		return o;
	len = cj_strcpy(out + o, n - o, part);
	return len >= n - o ? n - 1 : o + len;
}

/* k1="v1",k2="v2" (k2 may be NULL; k1 NULL: no labels), built by hand:
 * this runs several times per job. */
static void labels2(char *out, size_t n, const char *k1, const char *v1, const char *k2,
                    const char *v2)
{
	char a[64], b[64];
	size_t o = 0;

	out[0] = '\0';
	if (!k1)
		return;
	label_value(a, sizeof(a), v1 ? v1 : "");
	o = put_part(out, n, o, k1);
	o = put_part(out, n, o, "=\"");
	o = put_part(out, n, o, a);
	o = put_part(out, n, o, "\"");
	if (k2) {
		label_value(b, sizeof(b), v2 ? v2 : "");
		o = put_part(out, n, o, ",");
		o = put_part(out, n, o, k2);
		o = put_part(out, n, o, "=\"");
		o = put_part(out, n, o, b);
		put_part(out, n, o, "\"");
	}
}

/* Caller holds lock. NULL when the table is full. */
static struct series *find(enum metric_id id, const char *labels)
{
	unsigned i = hash(id, labels) % METRICS_MAX_SERIES, probes;

	for (probes = 0; probes < METRICS_MAX_SERIES; probes++) {
		struct series *s = &table[i];

		if (!s->used) {
			if (series_in_use >= METRICS_MAX_SERIES * 3 / 4)
				return NULL;
			s->used = 1;
			s->id = id;
			snprintf(s->labels, sizeof(s->labels), "%s", labels);
			series_in_use++;
			return s;
		}
		if (s->id == id && !strcmp(s->labels, labels))
			return s;
		i = (i + 1) % METRICS_MAX_SERIES;
	}
	return NULL;
}

static void add(enum metric_id id, const char *labels, double v)
{
	struct series *s;

	pthread_mutex_lock(&lock);
	s = find(id, labels);
	if (s)
		s->value += v;
	pthread_mutex_unlock(&lock);
}

static void observe(enum metric_id id, const char *labels, double v)
{
	struct series *s;
	size_t i;

	pthread_mutex_lock(&lock);
	s = find(id, labels);
	if (s) {
		s->value += v;
		s->count++;
		for (i = 0; i < NBOUNDS; i++) {
			if (v <= bounds[i]) {
				s->buckets[i]++;
				break;
			}
		}
	}
	pthread_mutex_unlock(&lock);
}

void metrics_request(const char *type, const char *outcome)
{
	char l[128];

	labels2(l, sizeof(l), "type", type, "outcome", outcome);
	add(M_REQUESTS, l, 1);
	recent_request(type, outcome); /* the last hour, for /admin/overview */
}

void metrics_job_duration(const char *type, double seconds)
{
	char l[128];

	labels2(l, sizeof(l), "type", type, NULL, NULL);
	observe(M_JOB_DURATION, l, seconds);
}

void metrics_auth_failure(const char *reason)
{
	char l[128];

	labels2(l, sizeof(l), "reason", reason, NULL, NULL);
	add(M_AUTH_FAILURES, l, 1);
}

void metrics_inflight_add(int delta)
{
	atomic_fetch_add(&inflight, delta);
}

long metrics_inflight(void)
{
	return atomic_load(&inflight);
}

void metrics_upstream(const char *upstream, const char *op, double seconds)
{
	char l[128];

	labels2(l, sizeof(l), "upstream", upstream, "op", op);
	observe(M_UPSTREAM_DURATION, l, seconds);
}

void metrics_enqueue(const char *type, const char *result)
{
	char l[128];

	labels2(l, sizeof(l), "type", type, "result", result);
	add(M_ENQUEUE, l, 1);
}

void metrics_dead_letter(const char *type)
{
	char l[128];

	labels2(l, sizeof(l), "type", type, NULL, NULL);
	add(M_DEAD_LETTERS, l, 1);
	recent_dead_letter();
}

void metrics_provider_error(const char *provider, const char *reason)
{
	char l[128];

	labels2(l, sizeof(l), "provider", provider, "reason", reason);
	add(M_PROVIDER_ERRORS, l, 1);
}

void metrics_outbox_unconfirmed(const char *kind)
{
	char l[128];

	labels2(l, sizeof(l), "kind", kind, NULL, NULL);
	add(M_OUTBOX_UNCONFIRMED, l, 1);
}

void metrics_webhook_push(const char *result)
{
	char l[128];

	labels2(l, sizeof(l), "result", result, NULL, NULL);
	add(M_WEBHOOK_PUSHES, l, 1);
}

void metrics_webhook_channel(const char *event)
{
	char l[128];

	labels2(l, sizeof(l), "event", event, NULL, NULL);
	add(M_WEBHOOK_CHANNELS, l, 1);
}

void metrics_claim_lost(void)
{
	add(M_CLAIMS_LOST, "", 1);
}

void metrics_last_attempt_in_progress(void)
{
	add(M_LAST_ATTEMPT_IN_PROGRESS, "", 1);
}

void metrics_emulator_dispatch(const char *queue, const char *result)
{
	char l[128];

	labels2(l, sizeof(l), "queue", queue, "result", result);
	add(M_EMULATOR_DISPATCHES, l, 1);
}

static int render_series(struct buf *out, const char *name, const struct series *s)
{
	const char *sep = s->labels[0] ? "," : "";
	unsigned long long cum = 0;
	size_t i;
	int rc = 0;

	if (metric_defs[s->id].kind == COUNTER) {
		if (s->labels[0])
			return buf_appendf(out, "%s{%s} %.17g\n", name, s->labels, s->value);
		return buf_appendf(out, "%s %.17g\n", name, s->value);
	}
	for (i = 0; i < NBOUNDS && !rc; i++) {
		cum += s->buckets[i];
		rc = buf_appendf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, s->labels, sep,
		                 bounds[i], cum);
	}
	if (!rc)
		rc = buf_appendf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, s->labels, sep,
		                 s->count);
	if (!rc)
		rc = buf_appendf(out, "%s_sum%s%s%s %.17g\n", name, s->labels[0] ? "{" : "",
		                 s->labels, s->labels[0] ? "}" : "", s->value);
	if (!rc)
		rc = buf_appendf(out, "%s_count%s%s%s %llu\n", name, s->labels[0] ? "{" : "",
		                 s->labels, s->labels[0] ? "}" : "", s->count);
	return rc;
}

int metrics_render(struct buf *out)
{
	int rc = 0, m, seen;
	size_t i;

	pthread_mutex_lock(&lock);
	for (m = 0; m < M_COUNT && !rc; m++) {
		const char *name = metric_defs[m].name;

		rc = buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, metric_defs[m].help,
		                 name, metric_defs[m].kind == COUNTER ? "counter" : "histogram");
		seen = 0;
		for (i = 0; i < METRICS_MAX_SERIES && !rc; i++) {
			if (table[i].used && table[i].id == (enum metric_id)m) {
				rc = render_series(out, name, &table[i]);
				seen = 1;
			}
		}
		/* An unlabelled counter exists from the start, at zero. */
		if (!rc && !seen && (m == M_CLAIMS_LOST || m == M_LAST_ATTEMPT_IN_PROGRESS))
			rc = buf_appendf(out, "%s 0\n", name);
	}
	pthread_mutex_unlock(&lock);
	if (!rc)
		rc = buf_appendf(out,
		                 "# HELP catchup_jobs_inflight_jobs Job handlers running now.\n"
		                 "# TYPE catchup_jobs_inflight_jobs gauge\n"
		                 "catchup_jobs_inflight_jobs %ld\n",
		                 metrics_inflight());
	return rc;
}
