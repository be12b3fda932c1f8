/*
 * log.h - structured logging: one JSON object per line on stdout, in Cloud
 * Logging's format (severity, message, time, logging.googleapis.com/trace).
 *
 * Request-scoped fields (trace, job type, task, queue, attempt, duration,
 * outcome) come from the calling thread's current struct log_ctx, installed
 * with log_ctx_set() by the request thread; they are never pasted into the
 * message. Secrets and tokens must never be passed to these functions.
 *
 * Thread-safe: each line is written with a single write(2).
 */
#ifndef CJ_LOG_H
#define CJ_LOG_H

#include <jansson.h>

#include "cj.h"

enum log_level { L_DEBUG = 0, L_INFO, L_WARNING, L_ERROR };

/* Request-scoped fields; NULL strings and negative numbers are left out. */
struct log_ctx {
	const char *trace_id; /* trace id only; the project prefix is added */
	const char *span_id;
	const char *job_type;
	const char *task_name;
	const char *queue;
	int attempt; /* -1 when unknown */
	long long duration_ms; /* -1 when unknown */
	const char *outcome;
};

#define LOG_CTX_INIT                                                                               \
	{                                                                                          \
		NULL, NULL, NULL, NULL, NULL, -1, -1, NULL                                         \
	}

/* Sets the minimum level and the project id used in trace names. */
void log_init(enum log_level min, const char *project_id);
/* Parses "debug", "info", "warning", "error". Returns -1 when unknown. */
int log_level_parse(const char *s);
int log_enabled(enum log_level level);

/* Installs ctx (may be NULL) as the calling thread's request context. The
 * pointer is borrowed: it must outlive its installation. */
void log_ctx_set(const struct log_ctx *ctx);
const struct log_ctx *log_ctx_get(void);

void log_msg(enum log_level level, const char *fmt, ...) CJ_PRINTF(2, 3);
/* As log_msg, adding every member of fields (borrowed) to the line. */
void log_fields(enum log_level level, json_t *fields, const char *fmt, ...) CJ_PRINTF(3, 4);

/* Sends log lines to fd instead of stdout (tests). */
void log_set_fd(int fd);

#endif
