/*
 * console_web.c - the operator console's page and session; see console_web.h.
 *
 * It owns the headers every console asset carries and the rule of who gets a
 * local session token; it never touches the data the page shows (that is
 * the /admin endpoints, authenticated by the router like any script's call).
 */
#include "console_web.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "local_keys.h"
#include "log.h"

const struct console_asset *console_web_find(const char *name)
{
	if (!name || !*name)
		name = "index.html";
	for (size_t i = 0; i < console_assets_count; i++) {
		if (!strcmp(console_assets[i].name, name))
			return &console_assets[i];
	}
	return NULL;
}

int console_web_etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag), n;

	if (!inm)
		return 0;
	for (;;) {
		inm += strspn(inm, " \t,");
		if (!*inm)
			return 0;
		if (*inm == '*')
			return 1;
		if (!strncmp(inm, "W/", 2))
			inm += 2;
		n = strcspn(inm, ",");
		while (n && (inm[n - 1] == ' ' || inm[n - 1] == '\t'))
			n--;
		if (n == elen && !memcmp(inm, etag, elen))
			return 1;
		inm += strcspn(inm, ",");
	}
}

/* 1 when s (n bytes) is empty or ":" followed by 1-5 digits. */
static int port_suffix_ok(const char *s)
{
	size_t digits;

	if (!*s)
		return 1;
	if (*s != ':')
		return 0;
	digits = strspn(s + 1, "0123456789");
	return digits >= 1 && digits <= 5 && !s[1 + digits];
}

int console_web_host_is_loopback(const char *host)
{
	static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};

	if (!host)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);

		if (!strncasecmp(host, names[i], n) && port_suffix_ok(host + n))
			return 1;
	}
	return 0;
}

/* The headers every console page and asset carries (static strings). */
static void page_headers(struct http_answer *a)
{
	(void)http_answer_header(a, "X-Content-Type-Options", "nosniff");
	(void)http_answer_header(a, "Content-Security-Policy", CONSOLE_WEB_CSP);
	(void)http_answer_header(a, "Referrer-Policy", "no-referrer");
}

int console_web_redirect(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a)
{
	http_answer_json(a, 308, json_pack("{s:s}", "location", "/console/"));
	(void)http_answer_header(a, "Location", "/console/");
	return 1;
}

int console_web_asset(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a)
{
	const struct console_asset *as = console_web_find(rq->param);

	if (!as) {
		http_answer_result(a, CJ_ENOTFOUND, "no console file %.200s", rq->param);
		(void)http_answer_header(a, "X-Content-Type-Options", "nosniff");
		return 1;
	}
	page_headers(a);
	(void)http_answer_header(a, "Cache-Control", "no-cache");
	(void)http_answer_header(a, "ETag", as->etag);
	a->body = malloc(as->len + 1);
	if (!a->body) {
		http_answer_result(a, CJ_ENOMEM, "out of memory");
		return 1;
	}
	memcpy(a->body, as->data, as->len);
	a->len = as->len;
	a->content_type = as->content_type;
	/* A 304 keeps the body: libmicrohttpd sends no body with a 304 but a
	 * Content-Length of the 200's, as HTTP wants. */
	a->status = console_web_etag_matches(http_request_header(r, "If-None-Match"), as->etag)
	    ? 304
	    : 200;
	return 1;
}

/* The console's OAuth client id (CONSOLE_OAUTH_CLIENT_ID), or NULL. */
static const char *oauth_client_id(const struct config *cfg)
{
	return cfg->console_oauth_client_id;
}

/* Who may get a local session token: local mode, a loopback peer, and a
 * Host header naming loopback (a page of another origin rebinding its name
 * to 127.0.0.1 still sends its own name). */
static int local_operator(struct app *app, struct http_req *r)
{
	return !app->cfg->cloud_mode && app->local_keys && http_request_peer_loopback(r) &&
	    console_web_host_is_loopback(http_request_header(r, "Host"));
}

/* {"mode":"local","email","token","expiresAt"}: a token of the local key
 * like `catchup-jobs token` mints, for the first ENQUEUE_ALLOWED_EMAILS
 * entry (the e-mail /admin accepts; by default SERVICE_ACCOUNT_EMAIL). */
static void local_session(struct app *app, struct http_answer *a)
{
	const struct config *cfg = app->cfg;
	const char *email = cfg->enqueue_allowed_emails.n ? cfg->enqueue_allowed_emails.items[0]
	                                                  : cfg->service_account_email;
	const char *aud = cfg->oidc_audience.n ? cfg->oidc_audience.items[0] : cfg->cloud_run_url;
	char *tok = NULL;
	int64_t exp = 0;
	int rc = local_keys_mint_expiring(app->local_keys, aud, email, &tok, &exp);

	if (rc) {
		http_answer_result(a, rc, "cannot sign a console token: %s", cj_strerror(rc));
		return;
	}
	http_answer_json(a, 200,
	                 json_pack("{s:s, s:s, s:s, s:I}", "mode", "local", "email", email, "token",
	                           tok, "expiresAt", (json_int_t)exp));
	free(tok);
	log_msg(L_INFO, "console session token issued to a loopback operator as %s", email);
}

int console_web_session(struct app *app, struct http_req *r, struct route_req *rq,
                        struct http_answer *a)
{
	const char *client_id = oauth_client_id(app->cfg);

	if (local_operator(app, r))
		local_session(app, a);
	else
		http_answer_json(a, 200,
		                 json_pack("{s:s, s:o, s:n}", "mode",
		                           app->cfg->cloud_mode ? "cloud" : "local", "clientId",
		                           client_id && *client_id ? json_string(client_id)
		                                                   : json_null(),
		                           "token"));
	(void)http_answer_header(a, "X-Content-Type-Options", "nosniff");
	return 1;
}
