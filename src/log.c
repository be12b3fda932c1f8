/*
 * log.c - one JSON object per line, written atomically; see log.h.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written once by log_init() before any thread starts, then read-only. */
static enum log_level min_level = L_INFO;
static char project[128];
static int out_fd = STDOUT_FILENO;

static _Thread_local const struct log_ctx *current_ctx;

static const char *const severity_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

void log_init(enum log_level min, const char *project_id)
{
	min_level = min;
	snprintf(project, sizeof(project), "%s", project_id ? project_id : "");
}

void log_set_fd(int fd)
{
	out_fd = fd;
}

int log_level_parse(const char *s)
{
	if (!strcmp(s, "debug"))
		return L_DEBUG;
	if (!strcmp(s, "info"))
		return L_INFO;
	if (!strcmp(s, "warning"))
		return L_WARNING;
	if (!strcmp(s, "error"))
		return L_ERROR;
	return -1;
}

int log_enabled(enum log_level level)
{
	return level >= min_level;
}

void log_ctx_set(const struct log_ctx *ctx)
{
	current_ctx = ctx;
}

const struct log_ctx *log_ctx_get(void)
{
	return current_ctx;
}

static void add_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static void add_context(json_t *o, const struct log_ctx *c)
{
	char trace[256];

	if (!c)
		return;
	if (c->trace_id && *c->trace_id) {
		snprintf(trace, sizeof(trace), "projects/%s/traces/%s", project, c->trace_id);
		json_object_set_new(o, "logging.googleapis.com/trace", json_string(trace));
	}
	add_str(o, "logging.googleapis.com/spanId", c->span_id);
	add_str(o, "jobType", c->job_type);
	add_str(o, "taskName", c->task_name);
	add_str(o, "queue", c->queue);
	if (c->attempt >= 0)
		json_object_set_new(o, "attempt", json_integer(c->attempt));
	if (c->duration_ms >= 0)
		json_object_set_new(o, "durationMs", json_integer(c->duration_ms));
	add_str(o, "outcome", c->outcome);
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(out_fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void emit(enum log_level level, json_t *fields, const char *fmt, va_list ap)
{
	char msg[2048], when[40];
	struct timespec ts;
	struct tm tm;
	json_t *o;
	char *line;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%06ldZ", ts.tv_nsec / 1000);

	o = json_object();
	if (!o)
		goto fallback;
	json_object_set_new(o, "severity", json_string(severity_names[level]));
	/* jansson rejects invalid UTF-8; keep the line rather than lose it. */
	if (json_object_set_new(o, "message", json_string(msg)))
		json_object_set_new(o, "message", json_string("(message not valid UTF-8)"));
	json_object_set_new(o, "time", json_string(when));
	add_context(o, current_ctx);
	if (fields)
		json_object_update(o, fields);
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!line)
		goto fallback;
	n = strlen(line);
	line[n] = '\n'; /* overwrite the NUL: one write for the whole line */
	write_all(line, n + 1);
	free(line);
	return;
fallback:
	write_all("{\"severity\":\"ERROR\",\"message\":\"log: out of memory\"}\n", 52);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	emit(level, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
{
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	emit(level, fields, fmt, ap);
	va_end(ap);
}
