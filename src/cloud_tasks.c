/*
 * cloud_tasks.c - tasks.create over the Cloud Tasks REST API; see
 * cloud_tasks.h.
 *
 * Owns copies of the project, region, target URL and OIDC identity. One
 * request body is built per create and sent unchanged on every attempt, so
 * retries carry the same task name. Never logs the Authorization header.
 */
#include "cloud_tasks.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "gauth.h"
#include "http_client.h"
#include "json_in.h"
#include "log.h"
#include "random.h"
#include "timeutil.h"

struct cloud_tasks {
	char *api_url;
	char *project;
	char *region;
	char *run_url;
	char *sa_email;
	char *audience;
	struct gauth *auth; /* borrowed; NULL: placeholder token */
	int attempts;
	long backoff_ms;
	long timeout_ms;
};

/* ASCII ranges rather than isalnum(): the rule is Google's and must not
 * change with the locale. */
static int valid_id(const char *s, size_t max, int underscore)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n < 1 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || (underscore && c == '_')))
			return 0;
	}
	return 1;
}

int cloud_tasks_valid_task_id(const char *s)
{
	return valid_id(s, 500, 1);
}

int cloud_tasks_valid_queue_id(const char *s)
{
	return valid_id(s, 100, 0);
}

int cloud_tasks_new(const struct config *cfg, const char *api_url, struct gauth *auth,
                    struct cloud_tasks **out, char *err, size_t errlen)
{
	struct cloud_tasks *ct;

	*out = NULL;
	if (!cfg->oidc_audience.n || !cfg->gcp_project_id || !cfg->gcp_region ||
	    !cfg->cloud_run_url || !cfg->service_account_email)
		return cj_errorf(
		    err, errlen, CJ_ECONFIG,
		    "Cloud Tasks client needs GCP_PROJECT_ID, GCP_REGION, CLOUD_RUN_URL, "
		    "SERVICE_ACCOUNT_EMAIL and OIDC_AUDIENCE");
	ct = calloc(1, sizeof(*ct));
	if (!ct)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	ct->api_url = strdup(api_url ? api_url : cfg->cloud_tasks_api_url);
	ct->project = strdup(cfg->gcp_project_id);
	ct->region = strdup(cfg->gcp_region);
	ct->run_url = strdup(cfg->cloud_run_url);
	ct->sa_email = strdup(cfg->service_account_email);
	ct->audience = strdup(cfg->oidc_audience.items[0]);
	ct->auth = auth;
	cloud_tasks_set_retry(ct, 3, 100, 10000);
	if (!ct->api_url || !ct->project || !ct->region || !ct->run_url || !ct->sa_email ||
	    !ct->audience) {
		cloud_tasks_free(ct);
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	}
	/* Tolerate a trailing slash on an explicitly passed URL. */
	while (ct->api_url[0] && ct->api_url[strlen(ct->api_url) - 1] == '/')
		ct->api_url[strlen(ct->api_url) - 1] = '\0';
	*out = ct;
	return CJ_OK;
}

void cloud_tasks_free(struct cloud_tasks *ct)
{
	if (!ct)
		return;
	free(ct->api_url);
	free(ct->project);
	free(ct->region);
	free(ct->run_url);
	free(ct->sa_email);
	free(ct->audience);
	free(ct);
}

void cloud_tasks_set_retry(struct cloud_tasks *ct, int attempts, long first_backoff_ms,
                           long attempt_timeout_ms)
{
	ct->attempts = attempts >= 1 ? attempts : 1;
	ct->backoff_ms = first_backoff_ms >= 0 ? first_backoff_ms : 0;
	ct->timeout_ms = attempt_timeout_ms > 0 ? attempt_timeout_ms : 10000;
}

static void format_time(double t, char *out, size_t outlen)
{
	time_format_rfc3339(t, t == floor(t) ? 0 : 6, out, outlen);
}

/* The tasks.create body: {"task": {...}, "responseView": "BASIC"}. */
static char *build_body(const struct cloud_tasks *ct, const struct cloud_task_request *req,
                        const char *name)
{
	char url[4096], when[64], deadline[32];
	json_t *task = NULL, *http, *root = NULL;
	char *b64 = NULL, *text = NULL;

	snprintf(url, sizeof(url), "%s/jobs/%s", ct->run_url, req->job_type);
	b64 = b64_encode(req->body, req->body_len);
	if (!b64)
		return NULL;
	http = json_pack("{s:s, s:s, s:{s:s}, s:s, s:{s:s, s:s}}", "url", url, "httpMethod", "POST",
	                 "headers", "Content-Type", "application/json", "body", b64, "oidcToken",
	                 "serviceAccountEmail", ct->sa_email, "audience", ct->audience);
	task = json_pack("{s:s}", "name", name);
	if (!http || !task)
		goto out;
	if (req->schedule_time > 0) {
		format_time(req->schedule_time, when, sizeof(when));
		if (json_object_set_new(task, "scheduleTime", json_string(when)))
			goto out;
	}
	if (req->dispatch_deadline > 0) {
		snprintf(deadline, sizeof(deadline), "%.9gs", req->dispatch_deadline);
		if (json_object_set_new(task, "dispatchDeadline", json_string(deadline)))
			goto out;
	}
	if (json_object_set(task, "httpRequest", http))
		goto out;
	root = json_pack("{s:O, s:s}", "task", task, "responseView", "BASIC");
	if (root)
		text = json_dumps(root, JSON_COMPACT);
out:
	json_decref(http);
	json_decref(task);
	json_decref(root);
	free(b64);
	return text;
}

/* Google's error body: {"error": {"code", "message", "status"}}. */
static void google_error(const struct http_response *resp, char *status, size_t slen, char *msg,
                         size_t mlen)
{
	json_t *root =
	    json_in_parse(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL, NULL, 0);
	json_t *e = json_object_get(root, "error");
	const char *s = json_string_value(json_object_get(e, "status"));
	const char *m = json_string_value(json_object_get(e, "message"));

	snprintf(status, slen, "%s", s ? s : "no status");
	snprintf(msg, mlen, "%.300s", m ? m : "no message");
	json_decref(root);
}

/* A 200 answer: the Task. Our own name is kept if the answer lacks one. */
static void parse_task(const struct http_response *resp, struct cloud_task *out)
{
	json_t *root =
	    json_in_parse(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL, NULL, 0);
	const char *name = json_string_value(json_object_get(root, "name"));
	const char *when = json_string_value(json_object_get(root, "scheduleTime"));

	if (name && strlen(name) < sizeof(out->name))
		snprintf(out->name, sizeof(out->name), "%s", name);
	if (when && strlen(when) < sizeof(out->schedule_time))
		snprintf(out->schedule_time, sizeof(out->schedule_time), "%s", when);
	else
		log_msg(L_WARNING, "cloud tasks create answer for \"%s\" has no scheduleTime",
		        out->name);
	json_decref(root);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Maps a final (non-retryable) answer to a result. */
static int answer_error(struct cloud_tasks *ct, const struct cloud_task_request *req,
                        const struct http_response *resp, char *err, size_t errlen)
{
	char status[64], msg[320];
	const char *acct = ct->auth && gauth_account(ct->auth) ? gauth_account(ct->auth)
	                                                       : "the service's runtime account";

	google_error(resp, status, sizeof(status), msg, sizeof(msg));
	switch (resp->status) {
	case 400:
		return cj_errorf(err, errlen, CJ_EINVAL, "Cloud Tasks refused the task (%s): %s",
		                 status, msg);
	case 401:
		if (ct->auth)
			gauth_invalidate(ct->auth);
		return cj_errorf(err, errlen, CJ_ECONFIG,
		                 "Cloud Tasks refused the access token of %s (%s): %s", acct,
		                 status, msg);
	case 403:
		return cj_errorf(
		    err, errlen, CJ_ECONFIG,
		    "Cloud Tasks refused the call (%s): %s needs roles/cloudtasks.enqueuer "
		    "on queue %s and roles/iam.serviceAccountUser on %s (%s)",
		    status, acct, req->queue, ct->sa_email, msg);
	case 404:
		return cj_errorf(
		    err, errlen, CJ_ENOTFOUND,
		    "queue %s not found in projects/%s/locations/%s: run deploy/queues.sh "
		    "(catchup-jobs queues) to create the queues",
		    req->queue, ct->project, ct->region);
	default:
		return cj_errorf(err, errlen, CJ_EUPSTREAM,
		                 "Cloud Tasks answered HTTP %ld (%s): %s", resp->status, status,
		                 msg);
	}
}

struct attempt_state {
	int random_name; /* we generated the name: no one else can hold it */
	int unanswered; /* an earlier attempt got no answer: it may have landed */
	int refused; /* an earlier attempt was answered 429/5xx: it may have landed too */
	int resent; /* libcurl sent an attempt twice: the first copy may have landed */
	char last[320];
};

/* Whether a 409 ALREADY_EXISTS can be our own create having landed, and if
 * so why (for the log); NULL when it cannot: the name was taken before.
 *
 * A random 128-bit name we generated can only collide with our own create,
 * so its 409 always means ours landed. A caller's task id may have been
 * used by anyone; its 409 is ours only when our own request may have made
 * the task: an earlier attempt of this create got no answer (a timeout, a
 * broken connection) or a 429/5xx, which Google's front end can give after
 * the create was applied (SPEC §5.2: a 409 on our own retry means the first
 * attempt landed), or libcurl re-sent one of our attempts on a fresh
 * connection because the kept-alive one died before answering - the first
 * copy may have landed. When the caller's id was taken before AND such an
 * attempt preceded the 409, the two cannot be told apart; we then report
 * success, which for an id chosen to deduplicate is what the caller wants
 * anyway: a task with that id exists. */
static const char *conflict_is_ours(const struct attempt_state *st)
{
	if (st->random_name)
		return "its random name can only be ours";
	if (st->unanswered)
		return "an earlier attempt got no answer";
	if (st->refused)
		return "an earlier attempt was refused and may have landed";
	if (st->resent)
		return "the connection died and the request was sent again";
	return NULL;
}

/* One POST. CJ_OK (out filled), CJ_EUNAVAIL (worth retrying; st->last says
 * why), or a final error with err set. */
static int attempt(struct cloud_tasks *ct, const struct cloud_task_request *req, const char *url,
                   const char *body, struct cloud_task *out, struct attempt_state *st, char *err,
                   size_t errlen)
{
	char auth[GAUTH_TOKEN_MAX + 32], token[GAUTH_TOKEN_MAX], why[256], cerr[256];
	const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json",
	                         NULL};
	struct http_request hr = {0};
	struct http_response resp;
	char status[64], msg[320];
	const char *ours;
	int rc;

	if (ct->auth) {
		rc = gauth_token(ct->auth, token, sizeof(token), why, sizeof(why));
		if (rc == CJ_EUNAVAIL) {
			snprintf(st->last, sizeof(st->last), "no access token: %s", why);
			return CJ_EUNAVAIL;
		}
		if (rc)
			return cj_errorf(err, errlen, rc == CJ_ENOMEM ? CJ_ENOMEM : CJ_ECONFIG,
			                 "no access token for Cloud Tasks: %s", why);
	} else {
		snprintf(token, sizeof(token), "local-emulator");
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	OPENSSL_cleanse(token, sizeof(token));
	hr.method = "POST";
	hr.url = url;
	hr.headers = headers;
	hr.body = body;
	hr.body_len = strlen(body);
	hr.timeout_ms = ct->timeout_ms;
	hr.upstream = "cloudtasks";
	hr.op = "create";
	hr.count_sends = 1;
	rc = http_do(&hr, &resp, cerr, sizeof(cerr));
	OPENSSL_cleanse(auth, sizeof(auth));
	if (resp.sends > 1)
		st->resent = 1;
	if (rc == CJ_ETIMEOUT || rc == CJ_EUNAVAIL) {
		/* The request may have reached Google and created the task. */
		st->unanswered = 1;
		snprintf(st->last, sizeof(st->last), "no answer from %s: %s", ct->api_url, cerr);
		rc = CJ_EUNAVAIL;
	} else if (rc) {
		rc = cj_errorf(err, errlen, rc, "cloud tasks create failed: %s", cerr);
	} else if (resp.status == 200) {
		parse_task(&resp, out);
	} else if (resp.status == 409 && (ours = conflict_is_ours(st))) {
		log_msg(L_INFO, "task \"%s\" already exists and counts as created (%s)", out->name,
		        ours);
		rc = CJ_OK;
	} else if (resp.status == 409) {
		rc = cj_errorf(err, errlen, CJ_EEXISTS,
		               "task %s already exists (or existed recently)", out->name);
	} else if (resp.status == 429 || resp.status >= 500) {
		st->refused = 1;
		google_error(&resp, status, sizeof(status), msg, sizeof(msg));
		snprintf(st->last, sizeof(st->last), "HTTP %ld (%s): %s", resp.status, status, msg);
		rc = CJ_EUNAVAIL;
	} else {
		rc = answer_error(ct, req, &resp, err, errlen);
	}
	http_response_release(&resp);
	return rc;
}

int cloud_tasks_create(struct cloud_tasks *ct, const struct cloud_task_request *req,
                       struct cloud_task *out, char *err, size_t errlen)
{
	struct attempt_state st = {0, 0, 0, 0, ""};
	char id[40], url[4096];
	const char *tid = req->task_id;
	char *body = NULL;
	long wait = ct->backoff_ms;
	int i, rc = CJ_EUNAVAIL;

	memset(out, 0, sizeof(*out));
	if (!cloud_tasks_valid_queue_id(req->queue))
		return cj_errorf(err, errlen, CJ_EINVAL, "queue: not a Cloud Tasks queue id");
	if (tid && !cloud_tasks_valid_task_id(tid))
		return cj_errorf(err, errlen, CJ_EINVAL, "taskId: must match [A-Za-z0-9_-]{1,500}");
	if (req->body_len > CLOUD_TASKS_MAX_PAYLOAD)
		return cj_errorf(err, errlen, CJ_ETOOBIG,
		                 "payload: %zu bytes of JSON, over Cloud Tasks' limit of %d",
		                 req->body_len, CLOUD_TASKS_MAX_PAYLOAD);
	if (!tid) {
		if (random_hex(id, sizeof(id), 16))
			return cj_errorf(err, errlen, CJ_EINTERNAL, "no random task id");
		tid = id;
		st.random_name = 1;
	}
	snprintf(out->name, sizeof(out->name), "projects/%s/locations/%s/queues/%s/tasks/%s",
	         ct->project, ct->region, req->queue, tid);
	snprintf(url, sizeof(url), "%s/v2/projects/%s/locations/%s/queues/%s/tasks", ct->api_url,
	         ct->project, ct->region, req->queue);
	body = build_body(ct, req, out->name);
	if (!body)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory building the task");
	for (i = 1; i <= ct->attempts; i++) {
		rc = attempt(ct, req, url, body, out, &st, err, errlen);
		if (rc != CJ_EUNAVAIL)
			break;
		if (i < ct->attempts) {
			log_msg(L_WARNING,
			        "cloud tasks create in queue %s failed (attempt %d of %d), "
			        "retrying: %s",
			        req->queue, i, ct->attempts, st.last);
			sleep_ms(wait);
			wait *= 4;
		}
	}
	if (rc == CJ_EUNAVAIL)
		cj_errorf(err, errlen, CJ_EUNAVAIL, "Cloud Tasks unavailable after %d attempts: %s",
		          ct->attempts, st.last);
	if (rc == CJ_OK && !out->schedule_time[0])
		format_time(req->schedule_time > 0 ? req->schedule_time : clock_now(),
		            out->schedule_time, sizeof(out->schedule_time));
	free(body);
	return rc;
}
