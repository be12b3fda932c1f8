/*
 * messaging.h - sends one SMS (Twilio) or one e-mail (SendGrid), and checks
 * that each provider's credentials work (the `check` command), over
 * http_client.
 *
 * Base URLs and credentials come from TWILIO_API_URL, TWILIO_ACCOUNT_SID,
 * TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER, SENDGRID_API_URL, SENDGRID_API_KEY
 * and EMAIL_FROM; a provider whose settings are missing is "not
 * configured" and every call to it answers CJ_ECONFIG naming them.
 *
 * Each provider's answers are classified here, once, into a result code
 * (cj.h) and a struct messaging_result:
 *   CJ_OK          Twilio 201 (provider_id: the message's "sid"), SendGrid
 *                  202 (provider_id: X-Message-Id, may be empty); any 2xx
 *                  counts as accepted
 *   CJ_EUNAVAIL    transient: 429, 5xx, a connection that could not be made
 *                  or broke (retry_after_s from Retry-After when given)
 *   CJ_ETIMEOUT    timed out or cancelled
 *   CJ_ECONFIG     not configured (MESSAGING_ERR_NOT_CONFIGURED), or the
 *                  provider refused our credentials or account: 401, 403,
 *                  404 (MESSAGING_ERR_REFUSED; also counted in
 *                  catchup_jobs_provider_errors_total{provider,reason}, and
 *                  the caller logs it as an ERROR)
 *   CJ_EUPSTREAM   any other 4xx: permanent for this message (code: Twilio's
 *                  error code, e.g. "21211", or SendGrid's HTTP status)
 *   CJ_EINVAL      a recipient or text we cannot send (empty, not UTF-8)
 *   CJ_ENOMEM
 *
 * maybe_sent is 1 when no answer came back although the request was
 * written to a connection (timed out or broken after sending): the
 * provider may have accepted the message, so the outbox leaves the row
 * `sending` and never resends it. 0 means it certainly was not accepted
 * (refused, or never sent).
 *
 * Ownership: messaging_new() borrows cfg (it must outlive the client).
 * Thread-safe. Auth tokens, API keys and Authorization headers never reach
 * a log, an error message or a result.
 */
#ifndef CJ_MESSAGING_H
#define CJ_MESSAGING_H

#include <stddef.h>
#include <stdint.h>

#include "cj.h"

struct config;
struct messaging;

enum messaging_err_kind {
	MESSAGING_ERR_NONE = 0,
	MESSAGING_ERR_NOT_CONFIGURED, /* CJ_ECONFIG: settings missing */
	MESSAGING_ERR_REFUSED, /* CJ_ECONFIG: 401, 403, 404 */
	MESSAGING_ERR_TRANSIENT, /* CJ_EUNAVAIL / CJ_ETIMEOUT: retry later */
	MESSAGING_ERR_PERMANENT, /* CJ_EUPSTREAM / CJ_EINVAL: not this message */
};

struct messaging_result {
	enum messaging_err_kind kind;
	long http_status; /* 0: no answer */
	int retry_after_s; /* from Retry-After; 0 when none */
	int maybe_sent; /* no answer, but the request went out (see above) */
	char provider_id[128]; /* on CJ_OK: Twilio's sid, SendGrid's message id */
	char code[32]; /* the provider's error code ("21211", "400"), or "" */
	char message[320]; /* one line for logs and job answers (never a secret) */
};

/* Until when a call may run and how it is cancelled: a job passes its
 * deadline (monotonic, time_mono_ms()) and job_cancelled_cb. */
struct messaging_call {
	int64_t deadline_ms; /* monotonic; the call's timeout is what is left */
	int (*cancelled)(void *arg); /* may be NULL */
	void *cancel_arg;
};

/* NULL on ENOMEM. */
struct messaging *messaging_new(const struct config *cfg);
void messaging_free(struct messaging *m);

/* Whether every setting a provider needs is set. */
int messaging_sms_configured(const struct messaging *m);
int messaging_email_configured(const struct messaging *m);

/* POST {TWILIO_API_URL}/2010-04-01/Accounts/{SID}/Messages.json with To,
 * From (TWILIO_FROM_NUMBER) and Body, HTTP basic auth SID:token. */
int messaging_sms(struct messaging *m, const char *to_e164, const char *body,
                  const struct messaging_call *call, struct messaging_result *res) CJ_WUR;

/* POST {SENDGRID_API_URL}/v3/mail/send: one plain-text message from
 * EMAIL_FROM to to, bearer SENDGRID_API_KEY. */
int messaging_email(struct messaging *m, const char *to, const char *subject, const char *text,
                    const struct messaging_call *call, struct messaging_result *res) CJ_WUR;

/* Credential checks: Twilio GET …/2010-04-01/Accounts/{SID}.json, SendGrid
 * GET /v3/scopes; CJ_OK when answered 200. Otherwise classified as above;
 * a refusal's message says "credentials refused". */
int messaging_check_twilio(struct messaging *m, const struct messaging_call *call,
                           struct messaging_result *res) CJ_WUR;
int messaging_check_sendgrid(struct messaging *m, const struct messaging_call *call,
                             struct messaging_result *res) CJ_WUR;

/* The classification above of a send's answer already received, without a
 * call: status, raw header block (hlen bytes; Retry-After, X-Message-Id)
 * and body, exactly as messaging_sms() (Twilio) and messaging_email()
 * (SendGrid) treat what arrives. For tests and fuzzing of the answer
 * parsers; the calls themselves use the same code. */
enum messaging_provider { MESSAGING_TWILIO, MESSAGING_SENDGRID };

int messaging_answer(enum messaging_provider provider, long status, const char *headers,
                     size_t hlen, const char *body, size_t len,
                     struct messaging_result *res) CJ_WUR;

#endif
