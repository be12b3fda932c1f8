/*
 * emulator_push.h - one attempt of local mode's Cloud Tasks (SPEC §5.4,
 * REFERENCE "Cloud Tasks → our server"): the task's request as Cloud Tasks
 * sends it - its method, headers and body, plus X-CloudTasks-QueueName,
 * -TaskName, -TaskRetryCount, -TaskExecutionCount, -TaskETA, and after a
 * failed attempt -TaskPreviousResponse and -TaskRetryReason,
 * `User-Agent: Google-Cloud-Tasks` and, for an oidcToken, a bearer token -
 * sent with the task's dispatchDeadline as its timeout, and how it ended.
 *
 * The dispatcher (dispatcher.h) decides when; this module only sends and
 * classifies. Never logs tokens. Thread-safe: one call per attempt, from
 * any thread.
 */
#ifndef CJ_EMULATOR_PUSH_H
#define CJ_EMULATOR_PUSH_H

#include "emulator_store.h"

/* Mints the OIDC token of a push for (audience, email): *token malloc'd.
 * CJ_OK or an error (the push then goes without a token). */
typedef int (*emu_mint_fn)(void *arg, const char *audience, const char *email, char **token);

/* How an attempt ended. */
struct emu_push_result {
	int answered; /* the target answered (any status) */
	int status; /* its HTTP status */
	int code; /* the google.rpc.Code Cloud Tasks reports */
	char message[256]; /* "HTTP 503", "no answer within …", a connection error */
	const char *metric; /* 2xx, 4xx, 5xx, timeout, error */
};

/* What a push needs besides the task. */
struct emu_push_ctx {
	emu_mint_fn mint; /* NULL: no token */
	void *mint_arg;
	int (*cancelled)(void *arg); /* non-zero: cut the attempt (shutdown) */
	void *cancel_arg;
};

/* Sends the attempt t describes: t as the CLAIM returned it, so
 * dispatch_count counts this attempt and response_count, last_status and
 * retry_reason describe the earlier ones. */
void emu_push_send(const struct emu_push_ctx *ctx, const struct emu_task *t,
                   struct emu_push_result *res);

/* The google.rpc.Code Cloud Tasks reports for an HTTP answer (0 for 2xx). */
int emu_push_grpc_code(int http_status);

#endif
