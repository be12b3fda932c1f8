/*
 * emulator_json.c - Cloud Tasks' REST JSON shapes; see emulator_json.h.
 *
 * Reading is lenient where proto3 JSON is (enum names or numbers, times and
 * durations as strings or {seconds, nanos}, base64 with either alphabet) and
 * strict where Cloud Tasks is (task ids, URLs, deadlines, sizes, 30 days
 * ahead): every refusal names the field, as Google's messages do.
 */
#include "emulator_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cloud_tasks.h"
#include "dispatcher.h"
#include "queues.h"
#include "random.h"
#include "timeutil.h"

static const char *const view_names[] = {"VIEW_UNSPECIFIED", "BASIC", "FULL"};
static const char *const method_names[] = {
    "HTTP_METHOD_UNSPECIFIED", "POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"};
#define NMETHODS (sizeof(method_names) / sizeof(method_names[0]))

/* An enum given as a name or a number: its number, or -1. */
static int enum_value(const json_t *v, const char *const *names, int n)
{
	if (json_is_integer(v))
		return json_integer_value(v) >= 0 && json_integer_value(v) < n
		    ? (int)json_integer_value(v)
		    : -1;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		for (int i = 0; i < n; i++)
			if (!strcmp(s, names[i]))
				return i;
		if (*s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 4 && atoi(s) < n)
			return atoi(s);
	}
	return -1;
}

int emu_json_view(const json_t *v, enum emu_view *out)
{
	int e;

	*out = EMU_VIEW_BASIC;
	if (!v || json_is_null(v))
		return 0;
	e = enum_value(v, view_names, 3);
	if (e < 0)
		return -1;
	*out = e == 2 ? EMU_VIEW_FULL : EMU_VIEW_BASIC;
	return 0;
}

int emu_json_view_text(const char *s, enum emu_view *out)
{
	json_t *v = s ? json_string(s) : NULL;
	int rc = emu_json_view(v, out);

	json_decref(v);
	return rc;
}

void emu_json_time(double t, char *out, size_t outlen)
{
	time_format_rfc3339(t, t == floor(t) ? 0 : 6, out, outlen);
}

static int inval(char *err, size_t errlen, const char *fmt, ...) CJ_PRINTF(3, 4);
static int inval(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return CJ_EINVAL;
}

/* {seconds, nanos} (seconds as a number or a decimal string) to seconds. */
static int seconds_nanos(const json_t *v, double *out)
{
	const json_t *sec = json_object_get(v, "seconds"), *nanos = json_object_get(v, "nanos");
	double s = 0, ns = 0;
	char *end;

	if (json_is_integer(sec))
		s = (double)json_integer_value(sec);
	else if (json_is_string(sec)) {
		s = strtod(json_string_value(sec), &end);
		if (end == json_string_value(sec) || *end)
			return -1;
	} else if (sec) {
		return -1;
	}
	if (json_is_integer(nanos))
		ns = (double)json_integer_value(nanos);
	else if (nanos)
		return -1;
	if (ns < 0 || ns >= 1e9)
		return -1;
	*out = s + ns / 1e9;
	return 0;
}

/* A google.protobuf.Timestamp: RFC 3339 text or {seconds, nanos}. */
static int read_time(const json_t *v, double *out)
{
	if (json_is_string(v))
		return time_parse_rfc3339(json_string_value(v), out) ? -1 : 0;
	if (json_is_object(v))
		return seconds_nanos(v, out);
	return -1;
}

/* A google.protobuf.Duration: "600s", "0.5s" or {seconds, nanos}. */
static int read_duration(const json_t *v, double *out)
{
	if (json_is_string(v))
		return time_parse_duration(json_string_value(v), out) ? -1 : 0;
	if (json_is_object(v))
		return seconds_nanos(v, out);
	return -1;
}

/* bytes in proto3 JSON: base64, standard or URL alphabet, padded or not.
 * *out is malloc'd. 0, or -1 when not base64 (or ENOMEM). */
static int decode_bytes(const char *s, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(s);
	char *url = malloc(n + 1);
	int rc;

	if (!url)
		return -1;
	for (size_t i = 0; i < n; i++)
		url[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	while (n && url[n - 1] == '=')
		n--;
	url[n] = '\0';
	rc = b64url_decode(url, n, out, outlen);
	free(url);
	return rc ? -1 : 0;
}

/* An HTTP header name: an RFC 9110 token. */
static int valid_header_name(const char *s)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (!*s)
		return 0;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return 0;
	}
	return 1;
}

static int read_headers(const json_t *h, char **out, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	*out = NULL;
	if (!h || json_is_null(h)) {
		*out = strdup("{}");
		return *out ? CJ_OK : CJ_ENOMEM;
	}
	if (!json_is_object(h))
		return inval(err, errlen, "task.httpRequest.headers: must be an object of strings");
	json_object_foreach((json_t *)h, k, v)
	{
		const char *s = json_string_value(v);

		if (!valid_header_name(k))
			return inval(err, errlen,
			             "task.httpRequest.headers: \"%.100s\" is not a header name",
			             k);
		if (!s || strpbrk(s, "\r\n"))
			return inval(
			    err, errlen,
			    "task.httpRequest.headers.%.100s: must be a string without line breaks",
			    k);
	}
	*out = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	return *out ? CJ_OK : CJ_ENOMEM;
}

/* The body: base64 decoded, checked against the task size limit and the
 * method, and re-encoded in the standard alphabet. */
static int read_body(const json_t *b, int method, char **out, char *err, size_t errlen)
{
	unsigned char *bytes = NULL;
	size_t len = 0;

	*out = NULL;
	if (!b || json_is_null(b) || (json_is_string(b) && !json_string_length(b)))
		return CJ_OK;
	if (!json_is_string(b) || decode_bytes(json_string_value(b), &bytes, &len))
		return inval(err, errlen, "task.httpRequest.body: must be base64");
	if (len > EMU_MAX_TASK_BODY) {
		free(bytes);
		return inval(err, errlen,
		             "Task size too large: task.httpRequest.body is %zu bytes, over Cloud "
		             "Tasks' limit of %d bytes",
		             len, EMU_MAX_TASK_BODY);
	}
	/* Cloud Tasks carries a body only on POST, PUT and PATCH. */
	if (len && method != 1 && method != 4 && method != 6) {
		free(bytes);
		return inval(err, errlen,
		             "task.httpRequest.body: only POST, PUT and PATCH carry a body");
	}
	*out = b64_encode(bytes, len);
	free(bytes);
	return *out ? CJ_OK : CJ_ENOMEM;
}

static int read_oidc(const json_t *h, struct emu_task *t, char *err, size_t errlen)
{
	const json_t *o = json_object_get(h, "oidcToken");
	const char *email = json_string_value(json_object_get(o, "serviceAccountEmail"));
	const char *aud = json_string_value(json_object_get(o, "audience"));

	if (json_object_get(h, "oauthToken"))
		return inval(err, errlen,
		             "task.httpRequest.oauthToken: the local Cloud Tasks emulator signs "
		             "OIDC tokens only (use oidcToken)");
	if (!o || json_is_null(o))
		return CJ_OK;
	if (!json_is_object(o) || !email || !*email)
		return inval(err, errlen,
		             "task.httpRequest.oidcToken.serviceAccountEmail: required");
	if (json_object_get(o, "audience") && !json_is_null(json_object_get(o, "audience")) && !aud)
		return inval(err, errlen, "task.httpRequest.oidcToken.audience: must be a string");
	t->oidc_email = strdup(email);
	t->oidc_audience = aud && *aud ? strdup(aud) : NULL;
	if (!t->oidc_email || (aud && *aud && !t->oidc_audience))
		return CJ_ENOMEM;
	return CJ_OK;
}

static int read_http(const json_t *task, struct emu_task *t, char *err, size_t errlen)
{
	const json_t *h = json_object_get(task, "httpRequest");
	const char *url = json_string_value(json_object_get(h, "url"));
	const json_t *m = json_object_get(h, "httpMethod");
	int method = 1, rc;

	if (json_object_get(task, "appEngineHttpRequest"))
		return inval(err, errlen,
		             "task.appEngineHttpRequest: the local Cloud Tasks emulator runs HTTP "
		             "targets only (httpRequest)");
	if (!json_is_object(h))
		return inval(err, errlen, "task.httpRequest: required");
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    strlen(url) > EMU_MAX_URL || strpbrk(url, " \t\r\n"))
		return inval(err, errlen,
		             "task.httpRequest.url: must be an http:// or https:// URL of at most "
		             "%d characters",
		             EMU_MAX_URL);
	if (m && !json_is_null(m)) {
		method = enum_value(m, method_names, (int)NMETHODS);
		if (method < 0)
			return inval(err, errlen,
			             "task.httpRequest.httpMethod: not an HTTP method");
		if (method == 0)
			method = 1;
	}
	t->url = strdup(url);
	t->method = strdup(method_names[method]);
	if (!t->url || !t->method)
		return CJ_ENOMEM;
	if ((rc = read_headers(json_object_get(h, "headers"), &t->headers, err, errlen)) ||
	    (rc = read_body(json_object_get(h, "body"), method, &t->body_b64, err, errlen)))
		return rc;
	return read_oidc(h, t, err, errlen);
}

/* The task's name: its own (checked against the queue), or a random id
 * like Google's (decimal digits). */
static int read_name(const json_t *task, const char *parent, struct emu_task *t, char *err,
                     size_t errlen)
{
	const char *name = json_string_value(json_object_get(task, "name"));
	size_t plen = strlen(parent);
	char id[32];
	uint64_t r;

	if (json_object_get(task, "name") && !json_is_null(json_object_get(task, "name")) && !name)
		return inval(err, errlen, "task.name: must be a string");
	if (name && *name) {
		const char *tid = name + plen + strlen("/tasks/");

		if (strncmp(name, parent, plen) || strncmp(name + plen, "/tasks/", 7) ||
		    !cloud_tasks_valid_task_id(tid))
			return inval(
			    err, errlen,
			    "task.name: must be %s/tasks/TASK_ID, TASK_ID of [A-Za-z0-9_-] "
			    "and at most 500 characters",
			    parent);
		t->id = strdup(tid);
		t->name = strdup(name);
	} else {
		if (random_bytes(&r, sizeof(r)))
			return cj_errorf(err, errlen, CJ_EINTERNAL, "no random task id");
		snprintf(id, sizeof(id), "%llu", (unsigned long long)(r >> 1));
		t->id = strdup(id);
		if (t->id && asprintf(&t->name, "%s/tasks/%s", parent, id) < 0)
			t->name = NULL;
	}
	return t->id && t->name ? CJ_OK : CJ_ENOMEM;
}

static int read_times(const json_t *task, double now, struct emu_task *t, char *err, size_t errlen)
{
	const json_t *st = json_object_get(task, "scheduleTime");
	const json_t *dd = json_object_get(task, "dispatchDeadline");

	t->schedule_time = now;
	if (st && !json_is_null(st)) {
		if (read_time(st, &t->schedule_time) || !isfinite(t->schedule_time) ||
		    t->schedule_time < 0)
			return inval(err, errlen, "task.scheduleTime: must be an RFC 3339 time");
		if (t->schedule_time > now + CLOUD_TASKS_MAX_AHEAD_S)
			return inval(err, errlen,
			             "task.scheduleTime: must be at most 30 days in the future");
		if (t->schedule_time < now)
			t->schedule_time = now;
	}
	t->dispatch_deadline = EMU_DEFAULT_DEADLINE_S;
	if (dd && !json_is_null(dd)) {
		if (read_duration(dd, &t->dispatch_deadline) ||
		    t->dispatch_deadline < QUEUES_MIN_DEADLINE ||
		    t->dispatch_deadline > QUEUES_MAX_DEADLINE)
			return inval(err, errlen,
			             "task.dispatchDeadline: must be a duration from 15s to 1800s");
	}
	t->create_time = now;
	return CJ_OK;
}

int emu_json_read_create(const json_t *body, const char *parent, const char *queue, double now,
                         struct emu_task *t, enum emu_view *view, char *err, size_t errlen)
{
	const json_t *task = json_object_get(body, "task");
	int rc;

	memset(t, 0, sizeof(*t));
	*view = EMU_VIEW_BASIC;
	if (!json_is_object(body))
		return inval(err, errlen, "the request body must be a CreateTaskRequest object");
	if (emu_json_view(json_object_get(body, "responseView"), view))
		return inval(err, errlen, "responseView: must be BASIC or FULL");
	if (!json_is_object(task))
		return inval(err, errlen, "task: required");
	t->queue = strdup(queue);
	if (!t->queue)
		rc = CJ_ENOMEM;
	else if (!(rc = read_name(task, parent, t, err, errlen)) &&
	         !(rc = read_http(task, t, err, errlen)))
		rc = read_times(task, now, t, err, errlen);
	if (rc == CJ_ENOMEM)
		cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	if (rc)
		emu_task_release(t);
	return rc;
}

static int set_str(json_t *o, const char *key, const char *v)
{
	return v ? json_object_set_new(o, key, json_string(v)) : 0;
}

static int set_time(json_t *o, const char *key, double t)
{
	char when[64];

	emu_json_time(t, when, sizeof(when));
	return json_object_set_new(o, key, json_string(when));
}

static int set_duration(json_t *o, const char *key, double s)
{
	char text[40];

	snprintf(text, sizeof(text), "%.9gs", s);
	return json_object_set_new(o, key, json_string(text));
}

static int set_enum(json_t *o, const char *key, const char *const *names, int n, int value,
                    int enum_int)
{
	if (value < 0 || value >= n)
		value = 0;
	return json_object_set_new(o, key,
	                           enum_int ? json_integer(value) : json_string(names[value]));
}

static int method_number(const char *m)
{
	for (size_t i = 1; i < NMETHODS; i++)
		if (!strcmp(m, method_names[i]))
			return (int)i;
	return 0;
}

/* Stored JSON text (headers, attempts) as a value; NULL text is left out. */
static int set_stored(json_t *o, const char *key, const char *text)
{
	json_t *v;

	if (!text)
		return 0;
	v = json_loads(text, 0, NULL);
	return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *http_request_json(const struct emu_task *t, enum emu_view view, int enum_int)
{
	json_t *h = json_object(), *oidc;

	if (!h || set_str(h, "url", t->url) ||
	    set_enum(h, "httpMethod", method_names, (int)NMETHODS, method_number(t->method),
	             enum_int) ||
	    set_stored(h, "headers", t->headers) ||
	    (view == EMU_VIEW_FULL && t->body_b64 && set_str(h, "body", t->body_b64)))
		goto fail;
	if (t->oidc_email) {
		oidc = json_pack("{s:s}", "serviceAccountEmail", t->oidc_email);
		if (!oidc || set_str(oidc, "audience", t->oidc_audience) ||
		    json_object_set_new(h, "oidcToken", oidc))
			goto fail;
	}
	return h;
fail:
	json_decref(h);
	return NULL;
}

json_t *emu_json_task(const struct emu_task *t, enum emu_view view, int enum_int)
{
	json_t *o = json_pack("{s:s}", "name", t->name);
	json_t *h = http_request_json(t, view, enum_int);

	if (!o || !h || json_object_set_new(o, "httpRequest", h))
		goto fail;
	h = NULL;
	if (set_time(o, "scheduleTime", t->schedule_time) ||
	    set_time(o, "createTime", t->create_time) ||
	    set_duration(o, "dispatchDeadline", t->dispatch_deadline) ||
	    json_object_set_new(o, "dispatchCount", json_integer(t->dispatch_count)) ||
	    json_object_set_new(o, "responseCount", json_integer(t->response_count)) ||
	    set_stored(o, "firstAttempt", t->first_attempt) ||
	    set_stored(o, "lastAttempt", t->last_attempt) ||
	    set_enum(o, "view", view_names, 3, view, enum_int))
		goto fail;
	return o;
fail:
	json_decref(h);
	json_decref(o);
	return NULL;
}

json_t *emu_json_queue(const char *parent, const struct queue_config *qc, int paused,
                       double purge_time, int enum_int)
{
	static const char *const states[] = {"STATE_UNSPECIFIED", "RUNNING", "PAUSED", "DISABLED"};
	json_t *o = json_object(), *rate, *retry;
	char name[512];

	snprintf(name, sizeof(name), "%s/queues/%s", parent, qc->name);
	rate = json_pack("{s:f, s:i, s:i}", "maxDispatchesPerSecond", qc->max_dispatches_per_second,
	                 "maxBurstSize", dispatcher_burst_size(qc->max_dispatches_per_second),
	                 "maxConcurrentDispatches", qc->max_concurrent_dispatches);
	retry = json_pack("{s:i}", "maxAttempts", qc->max_attempts);
	if (!o || !rate || !retry || set_duration(retry, "maxRetryDuration", 0) ||
	    set_duration(retry, "minBackoff", qc->min_backoff) ||
	    set_duration(retry, "maxBackoff", qc->max_backoff) ||
	    json_object_set_new(retry, "maxDoublings", json_integer(qc->max_doublings)) ||
	    set_str(o, "name", name) || json_object_set(o, "rateLimits", rate) ||
	    json_object_set(o, "retryConfig", retry) ||
	    set_enum(o, "state", states, 4, paused ? 2 : 1, enum_int) ||
	    (purge_time > 0 && set_time(o, "purgeTime", purge_time))) {
		json_decref(o);
		o = NULL;
	}
	json_decref(rate);
	json_decref(retry);
	return o;
}
