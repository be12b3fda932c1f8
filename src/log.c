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

#include "utf8.h"

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

/* A log line being built in a fixed buffer: no allocation per line. When
 * it does not fit, the line is built again through jansson (rare: long
 * fields). */
struct line {
	char *p;
	size_t len, cap;
	int full;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->full || n > l->cap - l->len) {
		l->full = 1;
		return;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void put_str(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* s as the inside of a JSON string (s is valid UTF-8). */
static void put_escaped(struct line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(l, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			put(l, esc, 2);
			break;
		case '\n':
			put(l, "\\n", 2);
			break;
		case '\t':
			put(l, "\\t", 2);
			break;
		case '\r':
			put(l, "\\r", 2);
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			put(l, esc, 6);
		}
	}
	put(l, s + run, n - run);
}

/* ,"key":"value" unless fields carries key (it wins, as in json_object_update). */
static void put_member(struct line *l, const json_t *fields, const char *key, const char *v)
{
	size_t n;

	/* A value that is not UTF-8 is left out, as jansson would. */
	if (!v || (fields && json_object_get(fields, key)) || !utf8_valid(v, n = strlen(v)))
		return;
	put(l, ",\"", 2);
	put_str(l, key);
	put(l, "\":\"", 3);
	put_escaped(l, v, n);
	put(l, "\"", 1);
}

static void put_number(struct line *l, const json_t *fields, const char *key, long long v)
{
	char num[32];

	if (v < 0 || (fields && json_object_get(fields, key)))
		return;
	put(l, ",\"", 2);
	put_str(l, key);
	put(l, "\":", 2);
	put(l, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

static void put_context(struct line *l, const json_t *fields, const struct log_ctx *c)
{
	char trace[256];

	if (!c)
		return;
	if (c->trace_id && *c->trace_id) {
		snprintf(trace, sizeof(trace), "projects/%s/traces/%s", project, c->trace_id);
		put_member(l, fields, "logging.googleapis.com/trace", trace);
	}
	put_member(l, fields, "logging.googleapis.com/spanId", c->span_id);
	put_member(l, fields, "jobType", c->job_type);
	put_member(l, fields, "taskName", c->task_name);
	put_member(l, fields, "queue", c->queue);
	put_number(l, fields, "attempt", c->attempt);
	put_number(l, fields, "durationMs", c->duration_ms);
	put_member(l, fields, "outcome", c->outcome);
}

/* Extra fields after the context, each as jansson writes it. */
static void put_fields(struct line *l, json_t *fields)
{
	const char *key;
	json_t *v;

	json_object_foreach(fields, key, v) {
		size_t room, n;

		put(l, ",\"", 2);
		put_escaped(l, key, strlen(key)); /* jansson keeps keys UTF-8 */
		put(l, "\":", 2);
		if (l->full)
			return;
		room = l->cap - l->len;
		n = json_dumpb(v, l->p + l->len, room, JSON_COMPACT | JSON_ENCODE_ANY);
		if (n == 0 || n > room) {
			l->full = 1;
			return;
		}
		l->len += n;
	}
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

/* "2026-12-02T10:00:00.123456Z"; the part up to the second is kept per
 * thread, so most lines format only the fraction. */
static void format_time(char when[40])
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[24];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		if (!strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm))
			cached[0] = '\0';
		cached_sec = ts.tv_sec;
	}
	snprintf(when, 40, "%s.%06ldZ", cached, ts.tv_nsec / 1000);
}

/* The same line through jansson, for lines past the fixed buffer. */
static void emit_large(enum log_level level, json_t *fields, const char *msg, const char *when)
{
	struct line l = {0};
	json_t *o = json_object();
	char *text;

	if (!o)
		goto fallback;
	json_object_set_new(o, "severity", json_string(severity_names[level]));
	if (json_object_set_new(o, "message", json_string(msg)))
		json_object_set_new(o, "message", json_string("(message not valid UTF-8)"));
	json_object_set_new(o, "time", json_string(when));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		goto fallback;
	/* Context and fields follow the three members: drop the closing brace. */
	l.cap = strlen(text) + 8192 +
	        (fields ? json_dumpb(fields, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) : 0);
	l.p = malloc(l.cap + 2);
	if (!l.p) {
		free(text);
		goto fallback;
	}
	put(&l, text, strlen(text) - 1);
	free(text);
	put_context(&l, fields, current_ctx);
	if (fields)
		put_fields(&l, fields);
	if (!l.full) {
		put(&l, "}\n", 2);
		write_all(l.p, l.len);
	}
	free(l.p);
	if (!l.full)
		return;
fallback:
	write_all("{\"severity\":\"ERROR\",\"message\":\"log: line too long or out of memory\"}\n",
	          70);
}

static void emit(enum log_level level, json_t *fields, const char *fmt, va_list ap)
{
	char msg[2048], when[40], buf[8192];
	struct line l = {buf, 0, sizeof(buf) - 2, 0};
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t mlen = n < 0 ? 0 : (size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n;
	int valid = utf8_valid(msg, mlen);

	/* A message cut short inside a character keeps its whole characters. */
	for (size_t cut = 1; !valid && (size_t)n >= sizeof(msg) && cut < 4 && cut <= mlen; cut++)
		if ((valid = utf8_valid(msg, mlen - cut)))
			mlen -= cut;
	msg[mlen] = '\0';
	format_time(when);
	put_str(&l, "{\"severity\":\"");
	put_str(&l, severity_names[level]);
	put_str(&l, "\",\"message\":\"");
	if (valid)
		put_escaped(&l, msg, mlen);
	else
		put_str(&l, "(message not valid UTF-8)");
	put_str(&l, "\",\"time\":\"");
	put_str(&l, when);
	put(&l, "\"", 1);
	put_context(&l, fields, current_ctx);
	if (fields)
		put_fields(&l, fields);
	if (l.full) {
		emit_large(level, fields, valid ? msg : "(message not valid UTF-8)", when);
		return;
	}
	memcpy(buf + l.len, "}\n", 2);
	write_all(buf, l.len + 2); /* one write for the whole line */
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
