/*
 * job_runner.c - the /jobs/{type} pipeline of SPEC §5.1; see job_runner.h.
 *
 * Order: authenticate (401/403/503) → find the job (404) → method (405) →
 * body size (413) → JSON object (400) → idempotency key → claim → validate
 * the payload (permanent failure) → run the handler → answer by outcome.
 * The payload is validated after the claim so that a redelivered invalid
 * payload is answered "duplicate" instead of producing a second dead letter.
 * Every non-2xx answer passes through answer_done(), which records the dead
 * letter of a failed last attempt (step 8).
 */
#include "job_runner.h"

#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "auth.h"
#include "clock.h"
#include "cloud_tasks.h"
#include "dead_letters.h"
#include "idempotency.h"
#include "json_in.h"
#include "lease.h"
#include "job_types.h"
#include "log.h"
#include "queues.h"
#include "metrics.h"
#include "registry.h"
#include "schema.h"
#include "timeutil.h"
#include "utf8.h"

#define DEFAULT_MAX_ATTEMPTS 100
#define DEFAULT_DISPATCH_DEADLINE_S 600
#define UNKNOWN_SCHEDULE_DEADLINE_S 180
#define DEADLINE_MARGIN_S 5

struct job_request {
	char type_name[129];
	const struct job_type *type;
	char queue[101];
	char task[501];
	int retry_count; /* -1 when not a Cloud Tasks push */
	int cloud_tasks; /* X-CloudTasks-QueueName present */
	int scheduler; /* X-CloudScheduler: true */
	char sched_job[501]; /* short name: the schedule lookup */
	char sched_job_header[501]; /* as sent: part of the idempotency key */
	char sched_time[64];
	int authenticated;
	int pending_status; /* answer decided from the headers, given after the body */
	const char *pending_code;
	char pending_msg[256];
	const char *outcome; /* metrics label of the answer */
	json_t *payload;
	struct idem_claim claim;
	struct lease *lease; /* while we hold the claim */
	char guard_dl[DEAD_LETTER_ID_LEN + 1]; /* written ahead of a last attempt */
	char result[1501]; /* a completed run's result, compact JSON, for the log line */
	int logged; /* the request's log line is written */
};

/* Reads the Cloud Tasks / Cloud Scheduler headers. 0, or 1 with a filled
 * 400 answer when one is malformed. */
static int read_delivery(struct http_req *r, struct job_request *st, struct http_answer *a)
{
	const char *q = http_request_header(r, "X-CloudTasks-QueueName");
	const char *t = http_request_header(r, "X-CloudTasks-TaskName");
	const char *rc = http_request_header(r, "X-CloudTasks-TaskRetryCount");
	const char *sch = http_request_header(r, "X-CloudScheduler");
	const char *sj = http_request_header(r, "X-CloudScheduler-JobName");
	const char *stime = http_request_header(r, "X-CloudScheduler-ScheduleTime");
	char *end;
	long n;

	st->retry_count = -1;
	if (q) {
		if (!cloud_tasks_valid_queue_id(q)) {
			http_answer_result(a, CJ_EINVAL, "X-CloudTasks-QueueName: not a queue id");
			return 1;
		}
		cj_strcpy(st->queue, sizeof(st->queue), q);
		st->cloud_tasks = 1;
		st->retry_count = 0;
	}
	if (t) {
		if (!cloud_tasks_valid_task_id(t)) {
			http_answer_result(a, CJ_EINVAL, "X-CloudTasks-TaskName: not a task id");
			return 1;
		}
		cj_strcpy(st->task, sizeof(st->task), t);
	}
	if (rc && st->cloud_tasks) {
		n = strtol(rc, &end, 10);
		if (end == rc || *end || n < 0 || n > 1000000) {
			http_answer_result(a, CJ_EINVAL,
			                   "X-CloudTasks-TaskRetryCount: not a count");
			return 1;
		}
		st->retry_count = (int)n;
	}
	if (sch && !strcmp(sch, "true") && !st->cloud_tasks) {
		const char *slash;

		st->scheduler = 1;
		if (sj && strlen(sj) < sizeof(st->sched_job_header)) {
			/* The key uses the name as sent; the schedule is looked up
			 * by its last segment (projects/.../jobs/NAME or NAME). */
			cj_strcpy(st->sched_job_header, sizeof(st->sched_job_header), sj);
			slash = strrchr(sj, '/');
			snprintf(st->sched_job, sizeof(st->sched_job), "%s",
			         slash ? slash + 1 : sj);
		}
		if (stime && strlen(stime) < sizeof(st->sched_time))
			cj_strcpy(st->sched_time, sizeof(st->sched_time), stime);
	}
	return 0;
}

/* Queue limits from config/queues.json; Cloud Tasks' defaults for a queue
 * the file does not name (maxAttempts 100, dispatchDeadline 600 s). */
static void queue_limits(struct app *app, const char *queue, int *max_attempts, long *deadline_s)
{
	const struct queue_config *q = app->queues ? queues_find(app->queues, queue) : NULL;

	*max_attempts = q ? q->max_attempts : DEFAULT_MAX_ATTEMPTS;
	*deadline_s = q ? (long)q->dispatch_deadline : DEFAULT_DISPATCH_DEADLINE_S;
}

static long schedule_deadline(struct app *app, const char *job)
{
	const struct schedule_config *sc =
	    app->queues && job[0] ? queues_find_schedule(app->queues, job) : NULL;

	return sc ? (long)sc->attempt_deadline : UNKNOWN_SCHEDULE_DEADLINE_S;
}

/* The attempt's whole budget in seconds (dispatch or attempt deadline). */
static long attempt_budget_s(struct app *app, const struct job_request *st)
{
	int max_attempts;
	long deadline;

	if (st->scheduler)
		return schedule_deadline(app, st->sched_job);
	queue_limits(app,
	             st->cloud_tasks ? st->queue
	                 : st->type  ? st->type->queue
	                             : "",
	             &max_attempts, &deadline);
	return deadline;
}

static int is_last_attempt(struct app *app, const struct job_request *st)
{
	int max_attempts;
	long deadline;

	if (!st->cloud_tasks || st->retry_count < 0)
		return 0;
	queue_limits(app, st->queue, &max_attempts, &deadline);
	if (max_attempts < 0)
		return 0;
	return st->retry_count + 1 >= max_attempts;
}

void job_runner_dead_letter(struct app *app, const char *type, const char *queue, const char *task,
                            const json_t *payload, int attempts, const char *last_error)
{
	struct dead_letter dl = {type,
	                         queue && *queue ? queue : NULL,
	                         task && *task ? task : NULL,
	                         payload,
	                         attempts,
	                         last_error,
	                         clock_now_s()};
	char id[64] = "", err[256] = "";
	json_t *fields;

	/* Labelled only with known types: a caller's made-up type names must
	 * not fill the metrics table. */
	metrics_dead_letter(type && job_types_find(type) ? type : "unknown");
	if (app->store) {
		/* On failure dead_letters_insert() logs the whole dead letter at
		 * ERROR itself: nothing is dropped silently. */
		if (!dead_letters_insert(app->store, &dl, id, err, sizeof(err)))
			log_msg(L_WARNING, "dead letter %s recorded for %s task \"%s\": %s", id,
			        type, dl.task_name ? dl.task_name : "(unnamed)",
			        last_error ? last_error : "");
		return;
	}
	fields = json_pack("{s:{s:s, s:s?, s:s?, s:O?, s:i, s:s?}}", "deadLetter", "type", type,
	                   "queue", dl.queue, "taskName", dl.task_name, "payload", payload,
	                   "attempts", attempts, "lastError", last_error);
	log_fields(L_ERROR, fields, "dead letter could not be stored: no database");
	json_decref(fields);
}

/* A failed Cloud Scheduler run is never dead-lettered (its next run repeats
 * the scan): one ERROR line names the job, the slot, the status and carries
 * the payload instead. */
static void log_scheduled_failure(const struct job_request *st, int status, const json_t *payload,
                                  const char *why)
{
	json_t *fields = json_pack("{s:{s:s, s:s, s:s, s:i, s:O?}}", "scheduledRun", "job",
	                           st->sched_job_header[0] ? st->sched_job_header : "(unnamed)",
	                           "scheduleTime", st->sched_time[0] ? st->sched_time : "(none)",
	                           "jobType", st->type_name, "status", status, "payload", payload);

	log_fields(L_ERROR, fields,
	           "scheduled job %s run at %s failed with HTTP %d: %s; its next run repeats it",
	           st->sched_job_header[0] ? st->sched_job_header : st->type_name,
	           st->sched_time[0] ? st->sched_time : "(no schedule time)", status,
	           why ? why : "failed");
	json_decref(fields);
}

/* Step 8 for a last attempt that never answers. A SIGKILL, an OOM or a
 * crash while its handler runs leaves Cloud Tasks a 5xx from the front end
 * and no dead letter: the task would disappear silently. So a last attempt
 * records its dead letter before the handler runs, and last_attempt_done()
 * removes it once the attempt is answered (after the answer's own dead
 * letter, if any, is written). A death between the answer and the removal
 * leaves a dead letter for a task that may have completed: one too many,
 * never one too few. Found by the scale-out soak (bench/soak). */
static void last_attempt_guard(struct app *app, struct job_request *st)
{
	struct dead_letter dl = {st->type->name,
	                         st->queue,
	                         st->task[0] ? st->task : NULL,
	                         st->payload,
	                         st->retry_count + 1,
	                         "the last attempt did not finish: the instance stopped while it "
	                         "ran",
	                         clock_now_s()};
	char err[256] = "";

	if (!app->store || !is_last_attempt(app, st))
		return;
	if (dead_letters_insert(app->store, &dl, st->guard_dl, err, sizeof(err)))
		st->guard_dl[0] = '\0';
}

static void last_attempt_done(struct app *app, struct job_request *st)
{
	char err[256] = "";

	if (!st->guard_dl[0])
		return;
	if (dead_letters_forget(app->store, st->guard_dl, err, sizeof(err)))
		log_msg(L_WARNING,
		        "dead letter %s, written ahead of the last attempt of task \"%s\", "
		        "stays although the attempt was answered: %s",
		        st->guard_dl, st->task, err);
	st->guard_dl[0] = '\0';
}

/* Every transient answer to a job push: 503 with SPEC §5.1 step 7's shape, so
 * Cloud Tasks retries with backoff. */
static void answer_retry(struct http_answer *a, const char *reason, const char *msg)
{
	json_t *body =
	    json_pack("{s:s, s:s, s:s}", "status", "retry", "error", "unavailable", "message", msg);

	if (body && reason && reason[0])
		json_object_set_new(body, "reason", json_string(reason));
	http_answer_json(a, 503, body);
}

/* Step 8: a failed last attempt of an authenticated Cloud Tasks push leaves
 * a dead letter before it is answered. */
static void answer_done(struct app *app, struct job_request *st, const struct http_answer *a,
                        const json_t *payload, const char *why)
{
	const char *msg = why;

	if (a->status >= 200 && a->status < 300)
		return;
	if (a->status == 409 || !st->authenticated)
		return;
	if (st->scheduler) {
		log_scheduled_failure(st, a->status, payload, msg);
		return;
	}
	if (!is_last_attempt(app, st))
		return;
	if (!msg)
		msg = "last attempt failed";
	{
		char last[600];

		snprintf(last, sizeof(last), "HTTP %d on the last attempt: %s", a->status, msg);
		job_runner_dead_letter(app, st->type ? st->type->name : st->type_name, st->queue,
		                       st->task, payload, st->retry_count + 1, last);
	}
}

static void reject(struct app *app, struct job_request *st, struct http_answer *a, int status,
                   const char *code, const char *msg, const json_t *payload)
{
	http_answer_error(a, status, code, "%s", msg);
	st->outcome = "rejected";
	answer_done(app, st, a, payload, msg);
}

/* Answers decided from the headers but given once the body is in, so that a
 * dead letter of a last attempt keeps the payload. */
static void defer(struct job_request *st, int status, const char *code, const char *msg)
{
	st->pending_status = status;
	st->pending_code = code;
	snprintf(st->pending_msg, sizeof(st->pending_msg), "%s", msg);
}

int job_runner_headers(struct app *app, struct http_req *r, const char *type,
                       struct job_request **state, struct http_answer *a)
{
	struct job_request *st = calloc(1, sizeof(*st));
	struct http_answer bad = {0};
	int malformed;

	*state = st;
	if (!st) {
		http_answer_result(a, CJ_ENOMEM, "out of memory");
		return 1;
	}
	cj_strcpy(st->type_name, sizeof(st->type_name), type);
	st->outcome = "rejected";
	r->log.job_type = st->type_name;
	/* Malformed delivery headers are answered 400, but only to a caller
	 * that authenticated: everyone else learns nothing but 401/403. */
	malformed = read_delivery(r, st, &bad);
	r->log.queue = st->queue[0] ? st->queue : NULL;
	r->log.task_name = st->task[0] ? st->task : NULL;
	r->log.attempt = st->retry_count;
	if (auth_check(app, r, &app->cfg->oidc_allowed_emails, NULL, a)) {
		free(bad.body);
		if (a->status == 503) {
			/* No signing key yet: our fault, and transient like every 503
			 * of a job push (SPEC §5.1 step 7's shape). */
			free(a->body);
			a->body = NULL;
			answer_retry(a, "no_signing_keys",
			             "token signing keys not loaded yet; retry later");
		}
		return 1;
	}
	st->authenticated = 1;
	if (malformed) {
		*a = bad;
		return 1;
	}
	st->type = job_types_find(type);
	if (!st->type) {
		char msg[256];

		snprintf(msg, sizeof(msg), "no job type \"%.128s\"", type);
		defer(st, 404, "not_found", msg);
	} else if (strcmp(r->method, "POST")) {
		defer(st, 405, "method_not_allowed", "jobs are pushed with POST");
	} else if (atomic_load(&app->draining)) {
		defer(st, 503, "unavailable", "instance shutting down; retry later");
	}
	if (r->body_too_big) {
		char msg[128];

		snprintf(msg, sizeof(msg), "request body over MAX_BODY_BYTES (%ld bytes)",
		         app->cfg->max_body_bytes);
		reject(app, st, a, 413, "payload_too_large", msg, NULL);
		a->close = 1;
		return 1;
	}
	return 0;
}

/* The idempotency key of §5.1 step 4, or 0 when there is none. An
 * idempotencyKey that breaks the schema's rule is not used: the payload then
 * fails validation under the delivery's own key, once. */
static int derive_key(const struct job_request *st, const json_t *payload, char *key, size_t len)
{
	const json_t *k = json_object_get(payload, "idempotencyKey");

	if (schema_idempotency_key_ok(k)) {
		cj_strcpy(key, len, json_string_value(k));
		return 1;
	}
	if (st->cloud_tasks && st->task[0]) {
		snprintf(key, len, "%s/%s", st->queue, st->task);
		return 1;
	}
	if (st->scheduler && st->sched_job_header[0] && st->sched_time[0]) {
		snprintf(key, len, "%s/%s", st->sched_job_header, st->sched_time);
		return 1;
	}
	return 0;
}

/* Ends our claim: complete (success, permanent failure) or release. A
 * settlement the store did not take is retried by the lease keeper; the
 * answer does not wait for it. */
static void settle_claim(struct app *app, struct job_request *st, int complete)
{
	char err[256] = "";
	int lost = 0, rc;

	if (!st->lease)
		return;
	rc = lease_end(app->leases, st->lease, complete ? LEASE_COMPLETE : LEASE_RELEASE, &lost,
	               err, sizeof(err));
	st->lease = NULL;
	if (rc) {
		log_msg(rc == CJ_EUNAVAIL ? L_WARNING : L_ERROR,
		        "idempotency %s failed for \"%s\": %s%s", complete ? "complete" : "release",
		        st->claim.key, err[0] ? err : cj_strerror(rc),
		        rc == CJ_EUNAVAIL ? "; retrying in the background" : "");
		if (rc == CJ_ECONFIG)
			atomic_store(&app->redis_fault, 1);
		return;
	}
	if (lost) {
		metrics_claim_lost();
		log_msg(L_WARNING,
		        "idempotency claim on \"%s\" had expired before %s; another "
		        "delivery may have run the job",
		        st->claim.key, complete ? "completion" : "release");
	}
}

/* What a run did, for operators reading the log (SPEC §7 results): kept
 * for the request's one log line, cut at 1,500 bytes. CJ_OK when it is the
 * whole result, so the answer can carry the same text. Results hold counts
 * and ids, never tokens. */
static int keep_result(struct job_request *st, const struct job_ctx *ctx)
{
	size_t n = ctx->result ? json_dumpb(ctx->result, st->result, sizeof(st->result) - 1,
	                                    JSON_COMPACT | JSON_PRESERVE_ORDER)
	                       : 0;

	if (n == 0) {
		memcpy(st->result, "{}", 3);
		return ctx->result ? CJ_ETOOBIG : CJ_OK;
	}
	if (n <= sizeof(st->result) - 1) {
		st->result[n] = '\0';
		return CJ_OK;
	}
	/* Cut: keep whole characters. */
	for (n = sizeof(st->result) - 1; n && !utf8_valid(st->result, n); n--)
		;
	st->result[n] = '\0';
	return CJ_ETOOBIG;
}

/* {"status":"completed","result":…} from the result's own compact text. */
static void answer_completed(struct http_answer *a, const char *result)
{
	static const char head[] = "{\"status\":\"completed\",\"result\":";
	size_t hl = sizeof(head) - 1, rl = strlen(result);
	char *body = malloc(hl + rl + 2);

	if (!body) {
		http_answer_error(a, 500, "internal", "out of memory");
		return;
	}
	memcpy(body, head, hl);
	memcpy(body + hl, result, rl);
	memcpy(body + hl + rl, "}", 2);
	a->status = 200;
	a->body = body;
	a->len = hl + rl + 1;
}

/* The one place where job outcomes become answers (§5.1 step 7). */
static void answer_outcome(struct app *app, struct job_request *st, struct job_ctx *ctx,
                           enum job_outcome outcome, struct http_answer *a)
{
	switch (outcome) {
	case JOB_OK:
		settle_claim(app, st, 1);
		st->outcome = "completed";
		if (keep_result(st, ctx) == CJ_OK)
			answer_completed(a, st->result);
		else
			http_answer_json(a, 200,
			                 json_pack("{s:s, s:o}", "status", "completed", "result",
			                           ctx->result ? json_incref(ctx->result)
			                                       : json_object()));
		return;
	case JOB_RETRY:
		settle_claim(app, st, 0);
		st->outcome = "retry";
		answer_retry(a, ctx->error_code,
		             ctx->error_msg[0] ? ctx->error_msg : "transient failure");
		if (ctx->retry_after_s > 0)
			snprintf(a->retry_after, sizeof(a->retry_after), "%d", ctx->retry_after_s);
		answer_done(app, st, a, st->payload, ctx->error_msg);
		return;
	case JOB_PERMANENT:
		if (!st->scheduler)
			job_runner_dead_letter(app, st->type->name, st->queue, st->task,
			                       st->payload, st->retry_count + 1, ctx->error_msg);
		else
			log_scheduled_failure(st, 200, st->payload, ctx->error_msg);
		settle_claim(app, st, 1);
		st->outcome = "failed";
		http_answer_json(a, 200,
		                 json_pack("{s:s, s:b, s:s, s:s}", "status", "failed", "retry", 0,
		                           "error", ctx->error_code[0] ? ctx->error_code : "failed",
		                           "message", ctx->error_msg));
		return;
	}
	BUG("unknown job outcome");
}

static enum job_outcome run_handler(struct app *app, struct job_request *st, struct job_ctx *ctx)
{
	job_fn run = registry_handler(st->type);
	char err[256];
	enum job_outcome outcome;
	int64_t start;

	if (schema_validate(st->type->fields, st->payload, err, sizeof(err)))
		return job_fail(ctx, JOB_PERMANENT, "invalid_payload", "%s", err);
	if (!run)
		BUG("run_handler called for a job without a handler");
	metrics_inflight_add(1);
	start = time_mono_ms();
	outcome = run(ctx);
	metrics_job_duration(st->type->name, (double)(time_mono_ms() - start) / 1000.0);
	metrics_inflight_add(-1);
	/* A handler that returns after its deadline has been cut off. */
	if (outcome == JOB_OK && job_aborting())
		outcome = job_fail(ctx, JOB_RETRY, "shutting_down", "instance shutting down");
	(void)app;
	return outcome;
}

/* What a JSON value is, for "body must be a JSON object (not an array)". */
static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Parses the body into st->payload. 0, or 1 with why (the 400 message). */
static int parse_payload(struct http_req *r, struct job_request *st, char *why, size_t whylen)
{
	char err[200] = "";

	st->payload =
	    json_in_parse(buf_str(&r->body), r->body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	                  NULL, err, sizeof(err));
	if (!st->payload) {
		snprintf(why, whylen, "body must be a JSON object (%s)", err);
		return 1;
	}
	if (!json_is_object(st->payload)) {
		snprintf(why, whylen, "body must be a JSON object (not %s)",
		         json_kind(st->payload));
		json_decref(st->payload);
		st->payload = NULL;
		return 1;
	}
	return 0;
}

/* Claims the key (§5.1 step 5). 0 to run the handler (claimed, or unclaimed
 * in fail-open mode); 1 when a is filled (duplicate, 409, 503). */
static int claim_key(struct app *app, struct job_request *st, const char *key,
                     struct http_answer *a)
{
	enum idem_state state = IDEM_CLAIMED;
	char err[256] = "";
	int64_t sent_ms;
	int rc;

	if (idem_prepare(&st->claim, st->type->name, key)) {
		reject(app, st, a, 400, "invalid_request", "idempotency key too long", st->payload);
		return 1;
	}
	sent_ms = time_mono_ms();
	rc = idem_claim(app->idem, &st->claim, app->cfg->idempotency_lease_seconds, &state, err,
	                sizeof(err));
	if (rc == CJ_EUNAVAIL) {
		/* The claim may have landed with its reply lost: release it in the
		 * background if it did, so the next delivery need not wait out
		 * the lease. */
		lease_abandon(app->leases, &st->claim);
		if (app->cfg->idempotency_fail_open) {
			log_msg(L_WARNING,
			        "idempotency store unreachable (%s); running without a "
			        "claim (IDEMPOTENCY_FAIL_MODE=open)",
			        err);
			return 0;
		}
	}
	if (rc) {
		if (rc == CJ_ECONFIG) {
			atomic_store(&app->redis_fault, 1);
			log_msg(L_ERROR, "idempotency store refused the claim: %s", err);
		} else {
			log_msg(L_WARNING, "idempotency store unreachable: %s", err);
		}
		answer_retry(a, "idempotency_unavailable",
		             "idempotency store unavailable; retry later");
		snprintf(a->retry_after, sizeof(a->retry_after), "5");
		st->outcome = "retry";
		answer_done(app, st, a, st->payload, "idempotency store unavailable");
		return 1;
	}
	if (state == IDEM_DUPLICATE) {
		st->outcome = "duplicate";
		http_answer_json(a, 200, json_pack("{s:s}", "status", "duplicate"));
		return 1;
	}
	if (state == IDEM_IN_PROGRESS) {
		st->outcome = "in_progress";
		if (is_last_attempt(app, st)) {
			metrics_last_attempt_in_progress();
			log_msg(L_WARNING,
			        "last attempt of task \"%s\" met another delivery's claim on "
			        "\"%s\": that delivery answers for the task",
			        st->task, key);
		}
		http_answer_error(a, 409, "in_progress", "another delivery of this job is running");
		return 1;
	}
	if (lease_hold(app->leases, &st->claim, sent_ms, &st->lease)) {
		int lost;

		if (idem_release(app->idem, &st->claim, &lost, err, sizeof(err)))
			lease_abandon(app->leases, &st->claim);
		answer_retry(a, "out_of_memory", "out of memory; retry later");
		st->outcome = "retry";
		answer_done(app, st, a, st->payload, "out of memory");
		return 1;
	}
	return 0;
}

/* The request's one log line; a completed run's says what it did. */
static void log_answered(struct http_req *r, struct job_request *st)
{
	if (st->logged)
		return;
	st->logged = 1;
	r->log.outcome = st->outcome;
	r->log.duration_ms = time_mono_ms() - r->start_ms;
	if (st->result[0])
		log_msg(L_INFO, "%s /jobs/%s answered: %s, result %s", r->method, st->type_name,
		        st->outcome, st->result);
	else
		log_msg(L_INFO, "%s /jobs/%s answered: %s", r->method, st->type_name, st->outcome);
}

void job_runner_body(struct app *app, struct http_req *r, struct job_request *st,
                     struct http_answer *a)
{
	char key[1024], why[320];
	struct job_ctx ctx;
	enum job_outcome outcome;
	int bad_json;
	long budget;

	if (r->body_too_big) {
		reject(app, st, a, 413, "payload_too_large", "request body over MAX_BODY_BYTES",
		       NULL);
		return;
	}
	bad_json = parse_payload(r, st, why, sizeof(why));
	if (st->pending_status == 503) {
		answer_retry(a, "shutting_down", st->pending_msg);
		st->outcome = "retry";
		a->close = 1;
		answer_done(app, st, a, st->payload, st->pending_msg);
		return;
	}
	if (st->pending_status) {
		reject(app, st, a, st->pending_status, st->pending_code, st->pending_msg,
		       st->payload);
		return;
	}
	if (bad_json) {
		reject(app, st, a, 400, "invalid_json", why, NULL);
		return;
	}
	if (!registry_handler(st->type)) {
		reject(app, st, a, 501, "not_implemented",
		       "this job type is not implemented yet in this revision", st->payload);
		return;
	}

	budget = attempt_budget_s(app, st);
	if (derive_key(st, st->payload, key, sizeof(key))) {
		if (claim_key(app, st, key, a))
			return;
	} else {
		key[0] = '\0';
		log_msg(L_INFO, "job %s has no idempotency key; running without a claim",
		        st->type->name);
	}

	job_ctx_init(&ctx, st->type, st->payload, st->retry_count < 0 ? 0 : st->retry_count,
	             time_mono_ms() + (budget - DEADLINE_MARGIN_S) * 1000, &app->svc);
	cj_strcpy(ctx.key, sizeof(ctx.key), key);
	if (st->lease)
		ctx.stop_at_ms = lease_stop_at(st->lease);
	last_attempt_guard(app, st);
	outcome = run_handler(app, st, &ctx);
	answer_outcome(app, st, &ctx, outcome, a);
	last_attempt_done(app, st);
	job_ctx_release(&ctx);
	/* Logged before the answer goes out: whoever reads the answer finds the
	 * line (its durationMs is the run's, without the answer's write). */
	log_answered(r, st);
}

void job_runner_done(struct app *app, struct http_req *r, struct job_request *st)
{
	if (!st)
		return;
	/* A claim still held here belongs to a connection that died mid-job. */
	settle_claim(app, st, 0);
	metrics_request(st->type ? st->type->name : "unknown", st->outcome);
	log_answered(r, st); /* answers decided before a run */
	json_decref(st->payload);
	free(st);
}
