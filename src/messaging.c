/*
 * messaging.c - one SMS through Twilio, one e-mail through SendGrid, and
 * their credential checks; see messaging.h.
 *
 * Owns nothing but a pointer to the configuration. Each provider's answers
 * are classified by its own function (twilio_classify, sendgrid_classify)
 * and nowhere else: Twilio's errors are {"code": 21211, "message",
 * "more_info", "status"}, SendGrid's {"errors": [{"message", "field",
 * "help"}]}. Headers carrying a credential are built in memory that is
 * wiped before it is freed; no message built here contains one.
 */
#include "messaging.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "b64.h"
#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "google_api.h"
#include "http_client.h"
#include "json_in.h"
#include "metrics.h"
#include "timeutil.h"
#include "utf8.h"

#define MAX_ANSWER (64u * 1024)
#define MAX_RETRY_AFTER_S 3600
#define MAX_TEXT (256u * 1024)

struct messaging {
	const struct config *cfg;
};

enum provider { TWILIO, SENDGRID };

static const char *const PROVIDER[] = {"twilio", "sendgrid"};

struct messaging *messaging_new(const struct config *cfg)
{
	struct messaging *m = calloc(1, sizeof(*m));

	if (m)
		m->cfg = cfg;
	return m;
}

void messaging_free(struct messaging *m)
{
	free(m);
}

static int set(const char *s)
{
	return s && *s;
}

int messaging_sms_configured(const struct messaging *m)
{
	return m && set(m->cfg->twilio_account_sid) && set(m->cfg->twilio_auth_token) &&
	    set(m->cfg->twilio_from_number);
}

int messaging_email_configured(const struct messaging *m)
{
	return m && set(m->cfg->sendgrid_api_key) && set(m->cfg->email_from);
}

static int mfail(struct messaging_result *res, int rc, enum messaging_err_kind kind, long status,
                 const char *fmt, ...) CJ_PRINTF(5, 6);

static int mfail(struct messaging_result *res, int rc, enum messaging_err_kind kind, long status,
                 const char *fmt, ...)
{
	va_list ap;

	res->kind = kind;
	res->http_status = status;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return rc;
}

/* CJ_ECONFIG naming every missing setting of provider p, or CJ_OK. */
static int need_config(const struct messaging *m, enum provider p, struct messaging_result *res)
{
	const struct config *c = m ? m->cfg : NULL;
	const char *names[3];
	const char *vals[3];
	char list[160] = "";
	size_t n = 0, len = 0;

	if (p == TWILIO) {
		names[0] = "TWILIO_ACCOUNT_SID";
		names[1] = "TWILIO_AUTH_TOKEN";
		names[2] = "TWILIO_FROM_NUMBER";
		vals[0] = c ? c->twilio_account_sid : NULL;
		vals[1] = c ? c->twilio_auth_token : NULL;
		vals[2] = c ? c->twilio_from_number : NULL;
		n = 3;
	} else {
		names[0] = "SENDGRID_API_KEY";
		names[1] = "EMAIL_FROM";
		vals[0] = c ? c->sendgrid_api_key : NULL;
		vals[1] = c ? c->email_from : NULL;
		n = 2;
	}
	for (size_t i = 0; i < n; i++)
		if (!set(vals[i]) && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
			                        len ? ", " : "", names[i]);
	if (!len)
		return CJ_OK;
	return mfail(res, CJ_ECONFIG, MESSAGING_ERR_NOT_CONFIGURED, 0, "%s not configured: set %s",
	             PROVIDER[p], list);
}

static long left_ms(const struct messaging_call *call)
{
	int64_t left = call->deadline_ms - time_mono_ms();

	return left > 0 ? (long)left : 0;
}

/* Seconds from a Retry-After header given in seconds (an HTTP date is
 * ignored: Cloud Tasks' own backoff applies). */
static int retry_after(const struct http_response *resp)
{
	char v[32], *end;
	long s;

	if (!http_response_header(resp, "Retry-After", v, sizeof(v)))
		return 0;
	s = strtol(v, &end, 10);
	if (end == v || *end || s <= 0)
		return 0;
	return s > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : (int)s;
}

/* Copies a JSON string member of o into out ("" when absent). */
static void copy_str(const json_t *o, const char *key, char *out, size_t outlen)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(out, outlen, "%s", s ? s : "");
}

/* The answer to a credential or account refusal: a configuration fault. */
static int refused(enum provider p, long st, const char *what, const char *msg,
                   struct messaging_result *res)
{
	const char *reason = st == 401 ? "unauthorized" : st == 403 ? "forbidden" : "not_found";

	metrics_provider_error(PROVIDER[p], reason);
	if (st == 404)
		return mfail(res, CJ_ECONFIG, MESSAGING_ERR_REFUSED, st,
		             "%s: 404 %s: check %s", what, msg,
		             p == TWILIO ? "TWILIO_ACCOUNT_SID and TWILIO_API_URL"
		                         : "SENDGRID_API_URL");
	return mfail(res, CJ_ECONFIG, MESSAGING_ERR_REFUSED, st,
	             "%s: credentials refused (%ld %s): check %s", what, st, msg,
	             p == TWILIO ? "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" : "SENDGRID_API_KEY");
}

/* The one classification of Twilio's answers (see messaging.h). */
static int twilio_classify(const struct http_response *resp, const char *what,
                           struct messaging_result *res)
{
	long st = resp->status;
	json_t *body = resp->body.len
	    ? json_in_parse(resp->body.data, resp->body.len, 0, NULL, NULL, 0)
	    : NULL;
	const json_t *code = json_object_get(body, "code");
	char msg[200];

	res->http_status = st;
	res->retry_after_s = retry_after(resp);
	if (st >= 200 && st < 300) {
		copy_str(body, "sid", res->provider_id, sizeof(res->provider_id));
		json_decref(body);
		res->kind = MESSAGING_ERR_NONE;
		return CJ_OK;
	}
	copy_str(body, "message", msg, sizeof(msg));
	if (json_is_integer(code))
		snprintf(res->code, sizeof(res->code), "%lld", (long long)json_integer_value(code));
	json_decref(body);
	if (!msg[0])
		snprintf(msg, sizeof(msg), "HTTP %ld", st);
	if (st == 429 || st >= 500)
		return mfail(res, CJ_EUNAVAIL, MESSAGING_ERR_TRANSIENT, st, "%s: %ld %s", what, st,
		             msg);
	if (st == 401 || st == 403 || st == 404)
		return refused(TWILIO, st, what, msg, res);
	if (!res->code[0])
		snprintf(res->code, sizeof(res->code), "%ld", st);
	return mfail(res, CJ_EUPSTREAM, MESSAGING_ERR_PERMANENT, st, "%s: %ld %s %s", what, st,
	             res->code, msg);
}

/* The one classification of SendGrid's answers (see messaging.h). */
static int sendgrid_classify(const struct http_response *resp, const char *what,
                             struct messaging_result *res)
{
	long st = resp->status;
	json_t *body = NULL;
	const json_t *first;
	char msg[200] = "", field[64] = "";

	res->http_status = st;
	res->retry_after_s = retry_after(resp);
	if (st >= 200 && st < 300) {
		if (!http_response_header(resp, "X-Message-Id", res->provider_id,
		                          sizeof(res->provider_id)))
			res->provider_id[0] = '\0';
		res->kind = MESSAGING_ERR_NONE;
		return CJ_OK;
	}
	if (resp->body.len)
		body = json_in_parse(resp->body.data, resp->body.len, 0, NULL, NULL, 0);
	first = json_array_get(json_object_get(body, "errors"), 0);
	copy_str(first, "message", msg, sizeof(msg));
	copy_str(first, "field", field, sizeof(field));
	json_decref(body);
	if (!msg[0])
		snprintf(msg, sizeof(msg), "HTTP %ld", st);
	if (st == 429 || st >= 500)
		return mfail(res, CJ_EUNAVAIL, MESSAGING_ERR_TRANSIENT, st, "%s: %ld %s", what, st,
		             msg);
	if (st == 401 || st == 403 || st == 404)
		return refused(SENDGRID, st, what, msg, res);
	snprintf(res->code, sizeof(res->code), "%ld", st);
	return mfail(res, CJ_EUPSTREAM, MESSAGING_ERR_PERMANENT, st, "%s: %ld %s%s%s%s", what, st,
	             msg, field[0] ? " (" : "", field, field[0] ? ")" : "");
}

/* No usable answer. maybe_sent when the request was written out: the
 * provider may have acted on it. */
static int transport_failure(int rc, int sends, const char *what, const char *cerr,
                             struct messaging_result *res)
{
	res->maybe_sent = sends > 0;
	if (rc == CJ_ENOMEM)
		return mfail(res, CJ_ENOMEM, MESSAGING_ERR_TRANSIENT, 0, "out of memory");
	if (rc == CJ_EINVAL) {
		res->maybe_sent = 0;
		return mfail(res, CJ_ECONFIG, MESSAGING_ERR_REFUSED, 0, "%s: bad URL", what);
	}
	if (rc == CJ_ETOOBIG) /* an answer came, too large to read: it may be a 201 */
		return mfail(res, CJ_EUNAVAIL, MESSAGING_ERR_TRANSIENT, 0,
		             "%s: answer too large", what);
	return mfail(res, rc == CJ_ETIMEOUT ? CJ_ETIMEOUT : CJ_EUNAVAIL, MESSAGING_ERR_TRANSIENT, 0,
	             "%s: %s%s%s%s", what, rc == CJ_ETIMEOUT ? "timed out" : "unreachable",
	             res->maybe_sent ? " after sending" : "", cerr[0] ? ": " : "", cerr);
}

/* "Authorization: Basic …" for user:pass, or NULL on ENOMEM. Wipe it with
 * crypto_secret_free(). */
static char *basic_auth(const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass);
	char *plain = malloc(ul + pl + 2), *enc, *hdr = NULL;

	if (!plain)
		return NULL;
	memcpy(plain, user, ul);
	plain[ul] = ':';
	memcpy(plain + ul + 1, pass, pl + 1);
	enc = b64_encode(plain, ul + pl + 1);
	crypto_secret_free(plain, ul + pl + 2);
	if (!enc)
		return NULL;
	if (asprintf(&hdr, "Authorization: Basic %s", enc) < 0)
		hdr = NULL;
	crypto_secret_free(enc, strlen(enc));
	return hdr;
}

static char *bearer_auth(const char *key)
{
	char *hdr;

	if (asprintf(&hdr, "Authorization: Bearer %s", key) < 0)
		return NULL;
	return hdr;
}

/* base without its trailing slashes, then the printf-formatted rest. */
static char *make_url(const char *base, const char *fmt, ...) CJ_PRINTF(2, 3);

static char *make_url(const char *base, const char *fmt, ...)
{
	size_t n = strlen(base);
	char *rest, *url;
	va_list ap;
	int rc;

	while (n && base[n - 1] == '/')
		n--;
	va_start(ap, fmt);
	rc = vasprintf(&rest, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return NULL;
	if (asprintf(&url, "%.*s%s", (int)n, base, rest) < 0)
		url = NULL;
	free(rest);
	return url;
}

/* The Twilio account's path segment, escaped, or NULL on ENOMEM. */
static char *twilio_account_url(const struct config *c, const char *suffix)
{
	char *sid = google_url_escape(c->twilio_account_sid), *url;

	if (!sid)
		return NULL;
	url = make_url(c->twilio_api_url, "/2010-04-01/Accounts/%s%s", sid, suffix);
	free(sid);
	return url;
}

struct exchange {
	enum provider p;
	const char *what; /* names the call in messages */
	const char *method;
	char *url; /* owned */
	char *auth; /* owned, wiped */
	const char *content_type; /* NULL: no body */
	char *body; /* owned */
	size_t body_len;
	const char *op; /* metrics label */
};

/* Performs x (freeing what it owns) and classifies the answer. */
static int exchange_run(struct exchange *x, const struct messaging_call *call,
                        struct messaging_result *res)
{
	const char *headers[4] = {"Accept: application/json", x->auth, NULL, NULL};
	struct http_request req = {0};
	struct http_response resp = {0};
	char cerr[256] = "", ctype[96];
	long left = left_ms(call);
	int rc;

	if (!x->url || !x->auth || (x->content_type && !x->body)) {
		rc = mfail(res, CJ_ENOMEM, MESSAGING_ERR_TRANSIENT, 0, "out of memory");
		goto out;
	}
	if (left <= 0) {
		rc = mfail(res, CJ_ETIMEOUT, MESSAGING_ERR_TRANSIENT, 0,
		           "%s: no time left before the deadline", x->what);
		goto out;
	}
	if (x->content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", x->content_type);
		headers[2] = ctype;
	}
	req.method = x->method;
	req.url = x->url;
	req.headers = headers;
	req.body = x->body;
	req.body_len = x->body_len;
	req.timeout_ms = left;
	req.max_response = MAX_ANSWER;
	req.upstream = PROVIDER[x->p];
	req.op = x->op;
	req.cancelled = call->cancelled;
	req.cancel_arg = call->cancel_arg;
	req.count_sends = 1;
	/* A message must not go out twice: libcurl would re-send it by itself
	 * if a kept-alive connection died under it, after the provider may
	 * have taken the first copy. */
	req.fresh_connection = !strcmp(x->method, "POST");
	rc = http_do(&req, &resp, cerr, sizeof(cerr));
	if (rc)
		rc = transport_failure(rc, resp.sends, x->what, cerr, res);
	else if (x->p == TWILIO)
		rc = twilio_classify(&resp, x->what, res);
	else
		rc = sendgrid_classify(&resp, x->what, res);
	http_response_release(&resp);
out:
	free(x->url);
	if (x->auth)
		crypto_secret_free(x->auth, strlen(x->auth));
	free(x->body);
	return rc;
}

static int append_form(struct buf *b, const char *name, const char *value)
{
	char *v = google_url_escape(value);
	int rc;

	if (!v)
		return CJ_ENOMEM;
	rc = buf_appendf(b, "%s%s=%s", b->len ? "&" : "", name, v);
	free(v);
	return rc;
}

/* A text we can put in a message: non-empty when required, UTF-8, bounded. */
static int text_ok(const char *s, int required)
{
	return s && (!required || *s) && strlen(s) <= MAX_TEXT && utf8_valid(s, strlen(s));
}

int messaging_sms(struct messaging *m, const char *to_e164, const char *body,
                  const struct messaging_call *call, struct messaging_result *res)
{
	const struct config *c;
	struct exchange x = {TWILIO, "twilio send", "POST", NULL, NULL,
	                     "application/x-www-form-urlencoded", NULL, 0, "send"};
	struct buf form;

	memset(res, 0, sizeof(*res));
	if (need_config(m, TWILIO, res))
		return CJ_ECONFIG;
	if (!text_ok(to_e164, 1) || !text_ok(body, 1))
		return mfail(res, CJ_EINVAL, MESSAGING_ERR_PERMANENT, 0,
		             "twilio send: empty or invalid recipient or body");
	c = m->cfg;
	buf_init(&form, 4 * MAX_TEXT);
	if (append_form(&form, "To", to_e164) || append_form(&form, "From", c->twilio_from_number) ||
	    append_form(&form, "Body", body)) {
		buf_release(&form);
		return mfail(res, CJ_ENOMEM, MESSAGING_ERR_TRANSIENT, 0, "out of memory");
	}
	x.url = twilio_account_url(c, "/Messages.json");
	x.auth = basic_auth(c->twilio_account_sid, c->twilio_auth_token);
	x.body_len = form.len;
	x.body = buf_detach(&form, NULL);
	return exchange_run(&x, call, res);
}

int messaging_email(struct messaging *m, const char *to, const char *subject, const char *text,
                    const struct messaging_call *call, struct messaging_result *res)
{
	const struct config *c;
	struct exchange x = {SENDGRID, "sendgrid send", "POST", NULL, NULL, "application/json",
	                     NULL, 0, "send"};
	json_t *mail;

	memset(res, 0, sizeof(*res));
	if (need_config(m, SENDGRID, res))
		return CJ_ECONFIG;
	if (!text_ok(to, 1) || !text_ok(subject, 0) || !text_ok(text, 1))
		return mfail(res, CJ_EINVAL, MESSAGING_ERR_PERMANENT, 0,
		             "sendgrid send: empty or invalid recipient or text");
	c = m->cfg;
	mail = json_pack("{s:[{s:[{s:s}]}], s:{s:s}, s:s, s:[{s:s, s:s}]}", "personalizations",
	                 "to", "email", to, "from", "email", c->email_from, "subject", subject,
	                 "content", "type", "text/plain", "value", text);
	if (!mail)
		return mfail(res, CJ_ENOMEM, MESSAGING_ERR_TRANSIENT, 0, "out of memory");
	x.body = json_dumps(mail, JSON_COMPACT);
	json_decref(mail);
	x.body_len = x.body ? strlen(x.body) : 0;
	x.url = make_url(c->sendgrid_api_url, "/v3/mail/send");
	x.auth = bearer_auth(c->sendgrid_api_key);
	return exchange_run(&x, call, res);
}

int messaging_check_twilio(struct messaging *m, const struct messaging_call *call,
                           struct messaging_result *res)
{
	struct exchange x = {TWILIO, "twilio", "GET", NULL, NULL, NULL, NULL, 0, "check"};

	memset(res, 0, sizeof(*res));
	if (need_config(m, TWILIO, res))
		return CJ_ECONFIG;
	x.url = twilio_account_url(m->cfg, ".json");
	x.auth = basic_auth(m->cfg->twilio_account_sid, m->cfg->twilio_auth_token);
	return exchange_run(&x, call, res);
}

int messaging_check_sendgrid(struct messaging *m, const struct messaging_call *call,
                             struct messaging_result *res)
{
	struct exchange x = {SENDGRID, "sendgrid", "GET", NULL, NULL, NULL, NULL, 0, "check"};

	memset(res, 0, sizeof(*res));
	if (need_config(m, SENDGRID, res))
		return CJ_ECONFIG;
	x.url = make_url(m->cfg->sendgrid_api_url, "/v3/scopes");
	x.auth = bearer_auth(m->cfg->sendgrid_api_key);
	return exchange_run(&x, call, res);
}

int messaging_answer(enum messaging_provider provider, long status, const char *headers,
                     size_t hlen, const char *body, size_t len, struct messaging_result *res)
{
	const char *what = provider == MESSAGING_SENDGRID ? "sendgrid send" : "twilio send";
	struct http_response resp;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = http_response_fill(&resp, status, headers, hlen, body, len, MAX_ANSWER);
	if (rc)
		rc = transport_failure(rc, 0, what, "", res);
	else if (provider == MESSAGING_SENDGRID)
		rc = sendgrid_classify(&resp, what, res);
	else
		rc = twilio_classify(&resp, what, res);
	http_response_release(&resp);
	return rc;
}
