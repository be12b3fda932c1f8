/*
 * google_api.c - OAuth refresh and People/Calendar calls; see google_api.h.
 *
 * Owns only its base URLs and the OAuth client credentials (copies). Every
 * answer is classified by classify() and nowhere else, so the handlers see
 * one vocabulary for both Google error shapes: OAuth's {"error": "code",
 * "error_description": …} and the APIs' {"error": {"code", "message",
 * "status", "errors": [{"reason"}], "details": [{"reason"}]}}.
 */
#include "google_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "http_client.h"
#include "json_in.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

#define MAX_TOKEN_ANSWER (64u * 1024)
#define MAX_API_ANSWER (32u << 20) /* a 1,000-contact or 2,500-event page */
#define MAX_RETRY_AFTER_S 3600

struct google_api {
	char *token_url;
	char *people_url;
	char *calendar_url;
	char *client_id; /* NULL when GOOGLE_CLIENT_ID is unset */
	char *client_secret;
};

static char *dup_trimmed(const char *s)
{
	size_t n;
	char *d;

	if (!s)
		return NULL;
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int google_api_new(const struct config *cfg, struct google_api **out, char *err, size_t errlen)
{
	struct google_api *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		goto nomem;
	g->token_url = strdup(cfg->google_oauth_token_url);
	g->people_url = dup_trimmed(cfg->google_people_api_url);
	g->calendar_url = dup_trimmed(cfg->google_calendar_api_url);
	if (!g->token_url || !g->people_url || !g->calendar_url)
		goto nomem;
	if (cfg->google_client_id && cfg->google_client_id[0]) {
		g->client_id = strdup(cfg->google_client_id);
		if (!g->client_id)
			goto nomem;
	}
	if (cfg->google_client_secret && cfg->google_client_secret[0]) {
		g->client_secret = strdup(cfg->google_client_secret);
		if (!g->client_secret)
			goto nomem;
	}
	*out = g;
	return CJ_OK;
nomem:
	google_api_free(g);
	return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
}

void google_api_free(struct google_api *g)
{
	if (!g)
		return;
	free(g->token_url);
	free(g->people_url);
	free(g->calendar_url);
	free(g->client_id);
	if (g->client_secret)
		crypto_secret_free(g->client_secret, strlen(g->client_secret));
	free(g);
}

void google_token_release(struct google_token *t)
{
	if (t->access_token)
		crypto_secret_free(t->access_token, strlen(t->access_token));
	if (t->refresh_token)
		crypto_secret_free(t->refresh_token, strlen(t->refresh_token));
	memset(t, 0, sizeof(*t));
}

long google_call_left_ms(const struct google_call *call)
{
	int64_t left = call->deadline_ms - time_mono_ms();

	return left > 0 ? (long)left : 0;
}

char *google_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *out = malloc(n * 3 + 1);

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

static int gfail(struct google_error *gerr, int rc, enum google_err_kind kind, long status,
                 const char *fmt, ...) CJ_PRINTF(5, 6);

static int gfail(struct google_error *gerr, int rc, enum google_err_kind kind, long status,
                 const char *fmt, ...)
{
	va_list ap;

	gerr->kind = kind;
	gerr->http_status = status;
	va_start(ap, fmt);
	vsnprintf(gerr->message, sizeof(gerr->message), fmt, ap);
	va_end(ap);
	return rc;
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

/* Google's reason for an error body of either shape, and its message. */
static void error_details(const json_t *body, char *reason, size_t rlen, char *msg, size_t mlen)
{
	const json_t *e = json_object_get(body, "error");
	const json_t *item;
	size_t i;

	reason[0] = msg[0] = '\0';
	if (json_is_string(e)) { /* OAuth */
		snprintf(reason, rlen, "%s", json_string_value(e));
		snprintf(msg, mlen, "%s",
		         json_string_value(json_object_get(body, "error_description"))
		             ? json_string_value(json_object_get(body, "error_description"))
		             : json_string_value(e));
		return;
	}
	if (!json_is_object(e))
		return;
	if (json_is_string(json_object_get(e, "message")))
		snprintf(msg, mlen, "%s", json_string_value(json_object_get(e, "message")));
	json_array_foreach(json_object_get(e, "details"), i, item)
	{
		if (json_is_string(json_object_get(item, "reason"))) {
			snprintf(reason, rlen, "%s", json_string_value(json_object_get(item, "reason")));
			return;
		}
	}
	json_array_foreach(json_object_get(e, "errors"), i, item)
	{
		if (json_is_string(json_object_get(item, "reason"))) {
			snprintf(reason, rlen, "%s", json_string_value(json_object_get(item, "reason")));
			return;
		}
	}
	if (json_is_string(json_object_get(e, "status")))
		snprintf(reason, rlen, "%s", json_string_value(json_object_get(e, "status")));
}

static int is_rate_limit(const char *reason)
{
	return !strcmp(reason, "rateLimitExceeded") || !strcmp(reason, "userRateLimitExceeded") ||
	    !strcmp(reason, "RATE_LIMIT_EXCEEDED") || !strcmp(reason, "RESOURCE_EXHAUSTED") ||
	    !strcmp(reason, "quotaExceeded");
}

/* The OAuth client itself is refused: an operator must fix the setting. */
static int is_client_fault(const char *reason)
{
	return !strcmp(reason, "invalid_client") || !strcmp(reason, "unauthorized_client");
}

/* The one classification of an HTTP answer (see google_api.h). what names
 * the call for messages. On CJ_OK *out receives the JSON object. */
static int classify(const struct http_response *resp, int token_call, const char *what,
                    json_t **out, struct google_error *gerr)
{
	long st = resp->status;
	char reason[64], msg[200];
	json_t *body = NULL;

	if (resp->body.len)
		body = json_in_parse(resp->body.data, resp->body.len, 0, NULL, NULL, 0);
	else if (st >= 200 && st < 300)
		body = json_object();
	error_details(body, reason, sizeof(reason), msg, sizeof(msg));
	snprintf(gerr->reason, sizeof(gerr->reason), "%s", reason);
	gerr->retry_after_s = retry_after(resp);
	if (st >= 200 && st < 300) {
		if (!json_is_object(body)) {
			json_decref(body);
			return gfail(gerr, CJ_EUPSTREAM, GOOGLE_ERR_PERMANENT, st,
			             "%s answered %ld without a JSON object", what, st);
		}
		*out = body;
		gerr->kind = GOOGLE_ERR_NONE;
		gerr->http_status = st;
		return CJ_OK;
	}
	json_decref(body);
	if (!msg[0])
		snprintf(msg, sizeof(msg), "HTTP %ld", st);
	if (st == 429 || st >= 500 || (st == 403 && is_rate_limit(reason)))
		return gfail(gerr, CJ_EUNAVAIL, GOOGLE_ERR_TRANSIENT, st, "%s: %ld %s", what, st, msg);
	if (token_call) {
		if (!strcmp(reason, "invalid_grant"))
			return gfail(gerr, CJ_EAUTH, GOOGLE_ERR_REVOKED, st, "%s: invalid_grant: %s",
			             what, msg);
		if (st == 401 || is_client_fault(reason))
			return gfail(gerr, CJ_ECONFIG, GOOGLE_ERR_CONFIG, st,
			             "%s: the OAuth client is refused (%s): check GOOGLE_CLIENT_ID "
			             "and GOOGLE_CLIENT_SECRET",
			             what, reason[0] ? reason : "401");
		return gfail(gerr, CJ_EUPSTREAM, GOOGLE_ERR_PERMANENT, st, "%s: %ld %s%s%s", what,
		             st, reason, reason[0] ? ": " : "", msg);
	}
	if (st == 401)
		return gfail(gerr, CJ_EAUTH, GOOGLE_ERR_UNAUTHORIZED, st, "%s: 401 %s", what, msg);
	if (st == 404)
		return gfail(gerr, CJ_ENOTFOUND, GOOGLE_ERR_NOT_FOUND, st, "%s: 404 %s", what, msg);
	if (st == 410 || !strcmp(reason, "EXPIRED_SYNC_TOKEN"))
		return gfail(gerr, CJ_EUPSTREAM, GOOGLE_ERR_SYNC_EXPIRED, st,
		             "%s: the sync token expired (%ld %s)", what, st, msg);
	return gfail(gerr, CJ_EUPSTREAM, GOOGLE_ERR_PERMANENT, st, "%s: %ld %s", what, st, msg);
}

/* No answer at all: a timeout or a broken connection, both transient. */
static int transport_failure(int rc, const char *what, const char *cerr,
                             struct google_error *gerr)
{
	if (rc == CJ_ENOMEM)
		return gfail(gerr, CJ_ENOMEM, GOOGLE_ERR_TRANSIENT, 0, "out of memory");
	if (rc == CJ_EINVAL)
		return gfail(gerr, CJ_EINVAL, GOOGLE_ERR_PERMANENT, 0, "%s: bad URL", what);
	if (rc == CJ_ETOOBIG)
		return gfail(gerr, CJ_EUPSTREAM, GOOGLE_ERR_PERMANENT, 0, "%s: answer too large",
		             what);
	return gfail(gerr, rc == CJ_ETIMEOUT ? CJ_ETIMEOUT : CJ_EUNAVAIL, GOOGLE_ERR_TRANSIENT, 0,
	             "%s: %s%s%s", what, rc == CJ_ETIMEOUT ? "timed out" : "unreachable",
	             cerr[0] ? ": " : "", cerr);
}

static int append_form(struct buf *b, const char *name, const char *value)
{
	char *v = google_url_escape(value);
	int rc;

	if (!v)
		return CJ_ENOMEM;
	rc = buf_appendf(b, "%s%s=%s", b->len ? "&" : "", name, v);
	crypto_secret_free(v, strlen(v));
	return rc;
}

/* The token endpoint's answer: classified, then the token read from it. */
static int token_from_answer(const struct http_response *resp, struct google_token *out,
                             struct google_error *gerr)
{
	json_t *body = NULL;
	const json_t *at, *exp, *rt;
	int rc = classify(resp, 1, "token refresh", &body, gerr), rotated;

	if (rc)
		return rc;
	at = json_object_get(body, "access_token");
	exp = json_object_get(body, "expires_in");
	rt = json_object_get(body, "refresh_token");
	if (!json_is_string(at) || !json_string_length(at) || !json_is_integer(exp) ||
	    json_integer_value(exp) <= 0) {
		json_decref(body);
		return gfail(gerr, CJ_EUPSTREAM, GOOGLE_ERR_PERMANENT, resp->status,
		             "token refresh: answer without access_token or expires_in");
	}
	out->access_token = strdup(json_string_value(at));
	out->expires_in = json_integer_value(exp);
	/* Read before the body goes: at, exp and rt point into it. */
	rotated = json_is_string(rt) && json_string_length(rt);
	if (rotated)
		out->refresh_token = strdup(json_string_value(rt));
	json_decref(body);
	if (!out->access_token || (rotated && !out->refresh_token)) {
		google_token_release(out);
		return gfail(gerr, CJ_ENOMEM, GOOGLE_ERR_TRANSIENT, 0, "out of memory");
	}
	return CJ_OK;
}

int google_oauth_refresh(struct google_api *g, const char *refresh_token,
                         const struct google_call *call, struct google_token *out,
                         struct google_error *gerr)
{
	static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded",
	                                      "Accept: application/json", NULL};
	struct http_request req = {0};
	struct http_response resp = {0};
	struct buf form;
	char cerr[256] = "";
	long left;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(gerr, 0, sizeof(*gerr));
	if (!g->client_id || !g->client_secret) {
		metrics_provider_error("google", "client_not_configured");
		return gfail(gerr, CJ_ECONFIG, GOOGLE_ERR_CONFIG, 0,
		             "token refresh needs GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET");
	}
	left = google_call_left_ms(call);
	if (left <= 0)
		return gfail(gerr, CJ_ETIMEOUT, GOOGLE_ERR_TRANSIENT, 0,
		             "token refresh: no time left before the deadline");
	buf_init(&form, 64 * 1024);
	if (append_form(&form, "grant_type", "refresh_token") ||
	    append_form(&form, "client_id", g->client_id) ||
	    append_form(&form, "client_secret", g->client_secret) ||
	    append_form(&form, "refresh_token", refresh_token)) {
		crypto_secret_free(buf_detach(&form, NULL), form.len);
		return gfail(gerr, CJ_ENOMEM, GOOGLE_ERR_TRANSIENT, 0, "out of memory");
	}
	req.method = "POST";
	req.url = g->token_url;
	req.headers = headers;
	req.body = form.data;
	req.body_len = form.len;
	req.timeout_ms = left;
	req.max_response = MAX_TOKEN_ANSWER;
	req.upstream = "google";
	req.op = "token";
	req.cancelled = call->cancelled;
	req.cancel_arg = call->cancel_arg;
	rc = http_do(&req, &resp, cerr, sizeof(cerr));
	/* The form holds the client secret and the refresh token. */
	{
		size_t len = form.len;
		char *f = buf_detach(&form, NULL);

		if (f)
			crypto_secret_free(f, len);
	}
	if (rc) {
		http_response_release(&resp);
		return transport_failure(rc, "token refresh", cerr, gerr);
	}
	rc = token_from_answer(&resp, out, gerr);
	if (resp.body.data)
		memset(resp.body.data, 0, resp.body.len);
	http_response_release(&resp);
	if (rc == CJ_ECONFIG)
		metrics_provider_error("google", gerr->reason[0] ? gerr->reason : "401");
	return rc;
}

int google_api_call(struct google_api *g, enum google_service svc, const char *method,
                    const char *path_query, const json_t *body, const char *access_token,
                    const struct google_call *call, json_t **out, struct google_error *gerr)
{
	const char *base = svc == GOOGLE_PEOPLE ? g->people_url : g->calendar_url;
	const char *what = svc == GOOGLE_PEOPLE ? "People API" : "Calendar API";
	const char *headers[4] = {"Accept: application/json", NULL, NULL, NULL};
	struct http_request req = {0};
	struct http_response resp = {0};
	char cerr[256] = "", *url = NULL, *auth = NULL, *text = NULL;
	long left;
	int rc;

	*out = NULL;
	memset(gerr, 0, sizeof(*gerr));
	left = google_call_left_ms(call);
	if (left <= 0)
		return gfail(gerr, CJ_ETIMEOUT, GOOGLE_ERR_TRANSIENT, 0,
		             "%s: no time left before the deadline", what);
	if (asprintf(&url, "%s%s", base, path_query) < 0) {
		url = NULL;
		goto nomem;
	}
	if (asprintf(&auth, "Authorization: Bearer %s", access_token) < 0) {
		auth = NULL;
		goto nomem;
	}
	headers[1] = auth;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			goto nomem;
		headers[2] = "Content-Type: application/json";
	}
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = text;
	req.body_len = text ? strlen(text) : 0;
	req.timeout_ms = left;
	req.max_response = MAX_API_ANSWER;
	req.upstream = "google";
	req.op = svc == GOOGLE_PEOPLE ? "people" : "calendar";
	req.cancelled = call->cancelled;
	req.cancel_arg = call->cancel_arg;
	rc = http_do(&req, &resp, cerr, sizeof(cerr));
	free(url);
	crypto_secret_free(auth, strlen(auth));
	free(text);
	if (rc) {
		http_response_release(&resp);
		return transport_failure(rc, what, cerr, gerr);
	}
	rc = classify(&resp, 0, what, out, gerr);
	http_response_release(&resp);
	return rc;
nomem:
	free(url);
	if (auth)
		crypto_secret_free(auth, strlen(auth));
	return gfail(gerr, CJ_ENOMEM, GOOGLE_ERR_TRANSIENT, 0, "out of memory");
}

int google_oauth_answer(long status, const char *headers, size_t hlen, const char *body, size_t len,
                        struct google_token *out, struct google_error *gerr)
{
	struct http_response resp;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(gerr, 0, sizeof(*gerr));
	rc = http_response_fill(&resp, status, headers, hlen, body, len, MAX_TOKEN_ANSWER);
	if (rc)
		rc = transport_failure(rc, "token refresh", "", gerr);
	else
		rc = token_from_answer(&resp, out, gerr);
	http_response_release(&resp);
	return rc;
}

int google_api_answer(enum google_service svc, long status, const char *headers, size_t hlen,
                      const char *body, size_t len, json_t **out, struct google_error *gerr)
{
	const char *what = svc == GOOGLE_PEOPLE ? "People API" : "Calendar API";
	struct http_response resp;
	int rc;

	*out = NULL;
	memset(gerr, 0, sizeof(*gerr));
	rc = http_response_fill(&resp, status, headers, hlen, body, len, MAX_API_ANSWER);
	if (rc)
		rc = transport_failure(rc, what, "", gerr);
	else
		rc = classify(&resp, 0, what, out, gerr);
	http_response_release(&resp);
	return rc;
}
