/*
 * emulator_push.c - one attempt of local mode's Cloud Tasks; see
 * emulator_push.h.
 *
 * The request is built fresh for each attempt from the stored task: its
 * headers minus those Cloud Tasks sets or replaces, libcurl's own defaults
 * suppressed (no Content-Type unless the task set one, no Accept), then
 * Cloud Tasks' headers and the token. The answer's body is read and
 * dropped: only its status counts.
 */
#include "emulator_push.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "http_client.h"
#include "log.h"

#define MAX_RESPONSE (1u << 20) /* answers are read and dropped up to here */

int emu_push_grpc_code(int s)
{
	if (s >= 200 && s < 300)
		return 0; /* OK */
	switch (s) {
	case 400:
		return 3; /* INVALID_ARGUMENT */
	case 401:
		return 16; /* UNAUTHENTICATED */
	case 403:
		return 7; /* PERMISSION_DENIED */
	case 404:
		return 5; /* NOT_FOUND */
	case 409:
		return 10; /* ABORTED */
	case 429:
		return 8; /* RESOURCE_EXHAUSTED */
	case 499:
		return 1; /* CANCELLED */
	case 501:
		return 12; /* UNIMPLEMENTED */
	case 503:
		return 14; /* UNAVAILABLE */
	case 504:
		return 4; /* DEADLINE_EXCEEDED */
	default:
		return s >= 400 && s < 500 ? 9 /* FAILED_PRECONDITION */
		    : s >= 500             ? 13 /* INTERNAL */
		                           : 2 /* UNKNOWN */;
	}
}

/* Headers the task may not set: Cloud Tasks sets or replaces them. */
static int reserved_header(const char *name, int has_token)
{
	static const char *const fixed[] = {"Host",       "Content-Length", "Transfer-Encoding",
	                                    "Connection", "Expect",         "User-Agent",
	                                    NULL};

	for (int i = 0; fixed[i]; i++)
		if (!strcasecmp(name, fixed[i]))
			return 1;
	return !strncasecmp(name, "X-CloudTasks-", 13) || !strncasecmp(name, "X-Google-", 9) ||
	    !strncasecmp(name, "X-AppEngine-", 12) ||
	    (has_token && !strcasecmp(name, "Authorization"));
}

struct push {
	char *lines[80]; /* "Name: value", malloc'd */
	int n;
	unsigned char *body;
	size_t body_len;
};

static void push_release(struct push *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->lines[i]);
	free(p->body);
}

static int add_line(struct push *p, const char *fmt, ...) CJ_PRINTF(2, 3);
static int add_line(struct push *p, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (p->n >= (int)(sizeof(p->lines) / sizeof(p->lines[0])) - 1)
		return -1;
	va_start(ap, fmt);
	rc = vasprintf(&p->lines[p->n], fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	p->n++;
	return 0;
}

/* The request Cloud Tasks would send for this attempt of t. */
static int build_push(const struct emu_push_ctx *ctx, const struct emu_task *t, struct push *p)
{
	json_t *headers = json_loads(t->headers ? t->headers : "{}", 0, NULL), *v;
	int has_token = t->oidc_email != NULL, typed = 0, accept = 0, rc = 0;
	const char *k;
	char *token = NULL;

	memset(p, 0, sizeof(*p));
	json_object_foreach(headers, k, v)
	{
		if (reserved_header(k, has_token) || !json_is_string(v))
			continue;
		typed |= !strcasecmp(k, "Content-Type");
		accept |= !strcasecmp(k, "Accept");
		rc |= add_line(p, "%s: %s", k, json_string_value(v));
	}
	json_decref(headers);
	/* libcurl's defaults would otherwise go out: no Content-Type unless
	 * the task set one (REFERENCE), no Accept. */
	if (!typed)
		rc |= add_line(p, "Content-Type:");
	if (!accept)
		rc |= add_line(p, "Accept:");
	rc |= add_line(p, "User-Agent: Google-Cloud-Tasks");
	rc |= add_line(p, "X-CloudTasks-QueueName: %s", t->queue);
	rc |= add_line(p, "X-CloudTasks-TaskName: %s", t->id);
	rc |= add_line(p, "X-CloudTasks-TaskRetryCount: %d", t->dispatch_count - 1);
	rc |= add_line(p, "X-CloudTasks-TaskExecutionCount: %d", t->response_count);
	rc |= add_line(p, "X-CloudTasks-TaskETA: %.6f", t->schedule_time);
	if (t->dispatch_count > 1 && t->last_status)
		rc |= add_line(p, "X-CloudTasks-TaskPreviousResponse: %d", t->last_status);
	if (t->dispatch_count > 1 && t->retry_reason)
		rc |= add_line(p, "X-CloudTasks-TaskRetryReason: %s", t->retry_reason);
	if (has_token && ctx->mint) {
		const char *aud = t->oidc_audience ? t->oidc_audience : t->url;

		if (ctx->mint(ctx->mint_arg, aud, t->oidc_email, &token) == CJ_OK && token)
			rc |= add_line(p, "Authorization: Bearer %s", token);
		else
			log_msg(L_WARNING, "no OIDC token for task %s: the push goes without one",
			        t->name);
		free(token);
	}
	if (t->body_b64 && *t->body_b64 &&
	    b64_decode(t->body_b64, strlen(t->body_b64), &p->body, &p->body_len))
		rc = -1;
	return rc ? CJ_ENOMEM : CJ_OK;
}

/* Whether the caller cut the attempt. */
static int cut(const struct emu_push_ctx *ctx)
{
	return ctx->cancelled && ctx->cancelled(ctx->cancel_arg);
}

void emu_push_send(const struct emu_push_ctx *ctx, const struct emu_task *t,
                   struct emu_push_result *res)
{
	struct http_request req = {0};
	struct http_response resp;
	struct push p;
	char cerr[256];
	int rc;

	memset(res, 0, sizeof(*res));
	if (cut(ctx) || build_push(ctx, t, &p)) {
		res->code = 14;
		res->metric = "error";
		snprintf(res->message, sizeof(res->message), "%s",
		         cut(ctx) ? "the emulator stopped before the push"
		                  : "out of memory building the push");
		if (!cut(ctx))
			push_release(&p);
		return;
	}
	p.lines[p.n] = NULL;
	req.method = t->method;
	req.url = t->url;
	req.headers = (const char *const *)p.lines;
	req.body = p.body_len ? (const char *)p.body : NULL;
	req.body_len = p.body_len;
	req.timeout_ms = (long)(t->dispatch_deadline * 1000);
	req.max_response = MAX_RESPONSE;
	req.upstream = "emulator";
	req.op = "dispatch";
	req.cancelled = ctx->cancelled;
	req.cancel_arg = ctx->cancel_arg;
	rc = http_do(&req, &resp, cerr, sizeof(cerr));
	push_release(&p);
	if (rc == CJ_OK) {
		res->answered = 1;
		res->status = (int)resp.status;
		res->code = emu_push_grpc_code(res->status);
		res->metric = res->status < 300 ? "2xx" : res->status < 500 ? "4xx" : "5xx";
		snprintf(res->message, sizeof(res->message), "HTTP %d", res->status);
	} else if (rc == CJ_ETIMEOUT && !cut(ctx)) {
		res->code = 4;
		res->metric = "timeout";
		snprintf(res->message, sizeof(res->message),
		         "no answer within the dispatch deadline of %.9gs", t->dispatch_deadline);
	} else {
		res->code = 14;
		res->metric = "error";
		snprintf(res->message, sizeof(res->message), "%s",
		         cut(ctx) ? "the emulator stopped during the attempt" : cerr);
	}
	http_response_release(&resp);
}
