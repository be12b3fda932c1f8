/*
 * outbox_api.c - listing and resolving outbox rows; see outbox_api.h.
 * The rows and their moves are outbox.c's.
 */
#include "outbox_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_list.h"
#include "answer.h"
#include "clock.h"
#include "log.h"
#include "messaging.h"
#include "outbox.h"
#include "ratelimit.h"
#include "timeutil.h"

#define RESEND_TIMEOUT_MS 20000
#define SMS_LIMIT 20 /* per phone per rolling hour, as handlers/notify.h */
#define SMS_WINDOW_S 3600

int outbox_api_list(struct app *app, struct http_req *r, struct route_req *rq,
                    struct http_answer *a)
{
	const char *state_s = http_request_query(r, "state"), *cursor;
	enum outbox_state state;
	char err[256] = "", *next;
	json_t *items;
	long limit;
	int rc;

	(void)rq;
	if (admin_need_store(app, a) || admin_page_params(r, &limit, &cursor, a))
		return 1;
	if (state_s && *state_s && outbox_state_parse(state_s, &state)) {
		http_answer_result(a, CJ_EINVAL, "state: must be sending, sent or failed");
		return 1;
	}
	rc = outbox_list(app->store, state_s && *state_s ? &state : NULL, limit, cursor, &items,
	                 &next, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "listing the outbox", err);
	else
		admin_answer_page(a, "outbox", items, next);
	return 1;
}

void outbox_api_done(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a)
{
	char err[256] = "";
	json_t *item;
	int rc;

	(void)r;
	if (admin_need_store(app, a))
		return;
	rc = outbox_move(app->store, rq->param, OUTBOX_SENDING, OUTBOX_SENT, NULL, NULL,
	                 clock_now_s(), err, sizeof(err));
	if (rc == CJ_ECONFLICT) {
		http_answer_result(a, CJ_EINVAL, "%s: only a row in sending can be marked done",
		                   err);
		return;
	}
	if (rc) {
		admin_answer_failure(a, rc, "marking an outbox row done", err);
		return;
	}
	log_msg(L_INFO, "outbox row %s marked done by %s", rq->param,
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	rc = outbox_get(app->store, rq->param, &item, NULL, NULL, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "reading an outbox row", err);
	else
		http_answer_json(a, 200, item);
}

/* A resend is the operator's decision, but the SMS limit still holds:
 * take (or find) the row's slot, its member being the outbox key as the
 * jobs use it. 0 when allowed; else a is filled. */
static int resend_slot(struct app *app, const char *to, const char *key, struct http_answer *a)
{
	char rl_key[300], err[256] = "";
	double retry_at = 0;
	int allowed = 0, rc;

	if (!app->ratelimit) {
		http_answer_result(a, CJ_EUNAVAIL, "no sms rate limiter configured");
		return -1;
	}
	snprintf(rl_key, sizeof(rl_key), "sms:%s", to);
	rc = ratelimit_take(app->ratelimit, rl_key, SMS_LIMIT, SMS_WINDOW_S, clock_now(), key,
	                    &allowed, &retry_at, err, sizeof(err));
	if (rc) {
		http_answer_result(a, CJ_EUNAVAIL, "asking the sms limit: %s", err);
		return -1;
	}
	if (!allowed) {
		http_answer_result(a, CJ_EUNAVAIL,
		                   "the sms limit for this number is reached; try "
		                   "again in %.0f s",
		                   retry_at - clock_now());
		return -1;
	}
	return 0;
}

/* Sends the row again and moves it by the answer; a is filled on failure. */
static int resend_row(struct app *app, const char *id, const json_t *item, const char *subject,
                      const char *body, struct http_answer *a)
{
	const char *channel = json_string_value(json_object_get(item, "channel"));
	const char *to = json_string_value(json_object_get(item, "to"));
	const char *key = json_string_value(json_object_get(item, "key"));
	struct messaging_call call = {time_mono_ms() + RESEND_TIMEOUT_MS, NULL, NULL};
	struct messaging_result res;
	int sms = channel && !strcmp(channel, "sms"), rc;
	char err[256] = "";

	if (!app->messaging || !to || !key || !body ||
	    !(sms ? messaging_sms_configured(app->messaging)
	          : messaging_email_configured(app->messaging))) {
		http_answer_result(a, CJ_EUNAVAIL, "%s is not configured",
		                   sms ? "twilio" : "sendgrid");
		return -1;
	}
	if (sms && resend_slot(app, to, key, a))
		return -1;
	rc = outbox_move(app->store, id, OUTBOX_SENDING, OUTBOX_SENDING, NULL, NULL, clock_now_s(),
	                 err, sizeof(err));
	if (rc == CJ_ECONFLICT) {
		http_answer_result(a, CJ_EINVAL, "%s: only a row in sending can be resent", err);
		return -1;
	}
	if (rc) {
		admin_answer_failure(a, rc, "counting the resend", err);
		return -1;
	}
	memset(&res, 0, sizeof(res));
	/* A death during this call leaves the row 'sending' with one more
	 * attempt: the operator looks again. */
	rc = sms
	    ? messaging_sms(app->messaging, to, body, &call, &res)
	    : messaging_email(app->messaging, to, subject ? subject : "CatchUp", body, &call, &res);
	if (rc == CJ_OK)
		rc = outbox_move(app->store, id, OUTBOX_SENDING, OUTBOX_SENT, res.provider_id, NULL,
		                 clock_now_s(), err, sizeof(err));
	else if (rc == CJ_EUPSTREAM || rc == CJ_EINVAL)
		rc = outbox_move(app->store, id, OUTBOX_SENDING, OUTBOX_FAILED, NULL,
		                 res.code[0] ? res.code : res.message, clock_now_s(), err,
		                 sizeof(err));
	else {
		if (rc == CJ_ECONFIG)
			log_msg(L_ERROR, "%s: %s", sms ? "twilio" : "sendgrid", res.message);
		http_answer_result(a, CJ_EUNAVAIL, "%s: %s (the row stays sending)",
		                   sms ? "twilio" : "sendgrid",
		                   res.message[0] ? res.message : cj_strerror(rc));
		return -1;
	}
	if (rc) {
		admin_answer_failure(a, rc, "recording the resend", err);
		return -1;
	}
	return 0;
}

void outbox_api_resend(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a)
{
	char err[256] = "", *subject = NULL, *body = NULL;
	json_t *item = NULL;
	int rc;

	(void)r;
	if (admin_need_store(app, a))
		return;
	rc = outbox_get(app->store, rq->param, &item, &subject, &body, err, sizeof(err));
	if (rc) {
		admin_answer_failure(a, rc, "reading an outbox row", err);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(item, "state")), "sending")) {
		http_answer_result(a, CJ_EINVAL,
		                   "outbox row %s is %s: only a row in sending can be "
		                   "resent",
		                   rq->param, json_string_value(json_object_get(item, "state")));
		goto out;
	}
	if (resend_row(app, rq->param, item, subject, body, a))
		goto out;
	log_msg(L_INFO, "outbox row %s resent by %s", rq->param,
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	json_decref(item);
	item = NULL;
	rc = outbox_get(app->store, rq->param, &item, NULL, NULL, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "reading an outbox row", err);
	else {
		http_answer_json(a, 200, item);
		item = NULL;
	}
out:
	json_decref(item);
	free(subject);
	free(body);
}
