/*
 * fuzz_router.c - libFuzzer target for the whole request path in process:
 * method, path, query, headers and body of one request through
 * http_request_run() (http_server.c's own request plumbing: body cap,
 * trace headers, answers from the headers) into the router and every route
 * behind it (authentication, /jobs' pipeline, /enqueue, /admin, health,
 * metrics, webhooks, local mode's /v2 and /emulator routes).
 *
 * The service is built as serve.c builds it, minus what needs a network or
 * a disk: no database, no Upstash, no enqueuer, no JWKS URL (one static
 * key), so every route answers from its own checks, and the in-process
 * idempotency store stands in for Redis. Nothing may open a socket: this
 * file defines socket(), connect() and getaddrinfo() to abort, so a path
 * that would reach the network is a finding.
 *
 * Input: a request as text, so seeds are readable files:
 *
 *   METHOD SP TARGET [SP VERSION]    TARGET = path[?query], %-decoded
 *   Name: value                      header lines, up to an empty line
 *   body                             the rest, byte for byte
 *
 * "Authorization: Bearer @ok" is replaced by a token the service accepts
 * (RS256, its audience, an allowed e-mail), "Bearer @other" by a validly
 * signed one for an e-mail it does not allow; anything else is sent as is.
 * Content-Length is added for a body when the input gives neither it nor
 * Transfer-Encoding. Harness switches, not passed on: "X-Fuzz-Mode: cloud"
 * (cloud mode instead of local), "X-Fuzz-Peer: remote" (a non-loopback
 * peer), "X-Fuzz-Draining: 1" (after SIGTERM). A /jobs body whose sleepMs is
 * positive is skipped: ping would wait up to its deadline.
 *
 * Beyond the sanitizers it checks SPEC §5's contract on every answer: a
 * status from 200 to 599; a JSON object body (except /metrics); every
 * non-2xx with {"error", "message"} strings (Google's error object on
 * /v2); a request to an OIDC route without a valid token answered 401
 * (403 for the unallowed e-mail) before anything else; no token in any
 * answer; 2xx /jobs answers with a "status". FUZZ_ROUTER_PRINT=1 prints
 * each answer (to see what a seed reaches).
 */
#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "b64.h"
#include "config.h"
#include "google_api.h"
#include "http_server.h"
#include "idempotency.h"
#include "jwks.h"
#include "lease.h"
#include "log.h"
#include "messaging.h"
#include "oidc.h"
#include "queues.h"
#include "ratelimit.h"
#include "router.h"
#include "timeutil.h"

#ifndef FUZZ_CONFIG_DIR
#error "FUZZ_CONFIG_DIR must name the repository's config/ directory"
#endif

#define MAX_FIELDS 32
#define SIGN_KID "fuzz-key"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- no network: any attempt is a finding ---- */

static void no_network(const char *what)
{
	fprintf(stderr, "fuzz_router: a request reached the network (%s)\n", what);
	abort();
}

int socket(int domain, int type, int protocol)
{
	(void)domain;
	(void)type;
	(void)protocol;
	no_network("socket");
	return -1;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)fd;
	(void)addr;
	(void)len;
	no_network("connect");
	return -1;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
	(void)node;
	(void)service;
	(void)hints;
	(void)res;
	no_network("getaddrinfo");
	return EAI_FAIL;
}

/* ---- the service, built once ---- */

enum { TOKEN_OK, TOKEN_OTHER, NTOKENS };

struct fuzz_app {
	struct config cfg;
	struct app app;
	struct http_app http;
	char *tokens[NTOKENS]; /* "Bearer <jwt>" */
};

static const char *const local_vars[] = {
    "MAX_BODY_BYTES", "1024", "CONFIG_DIR", FUZZ_CONFIG_DIR, NULL, NULL,
};

static const char *const cloud_vars[] = {
    "USE_CLOUD_TASKS",
    "true",
    "GCP_PROJECT_ID",
    "catchup-prod",
    "GCP_REGION",
    "europe-west1",
    "CLOUD_RUN_URL",
    "https://catchup-jobs-abc123-ew.a.run.app",
    "SERVICE_ACCOUNT_EMAIL",
    "tasks@catchup-prod.iam.gserviceaccount.com",
    "ENQUEUE_ALLOWED_EMAILS",
    "api@catchup-prod.iam.gserviceaccount.com,tasks@catchup-prod.iam.gserviceaccount.com",
    "UPSTASH_REDIS_REST_URL",
    "https://eu1-fuzz.upstash.io",
    "UPSTASH_REDIS_REST_TOKEN",
    "not-used",
    "TOKEN_ENCRYPTION_KEY",
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "MAX_BODY_BYTES",
    "1024",
    "CONFIG_DIR",
    FUZZ_CONFIG_DIR,
    NULL,
    NULL,
};

/* Set once in LLVMFuzzerInitialize, then read-only (the apps' own state is
 * guarded by their modules). */
static EVP_PKEY *sign_key;
static struct jwks *keys;
static struct fuzz_app local_app, cloud_app;
static int print_answers; /* FUZZ_ROUTER_PRINT set: each answer on stderr */

static const char *vars_get(const char *name, void *arg)
{
	const char *const *v = arg;

	for (size_t i = 0; v[i]; i += 2)
		if (!strcmp(v[i], name))
			return v[i + 1];
	return NULL;
}

/* "Bearer b64(header).b64(claims).sig" signed with the static key. */
static char *mint(const struct config *cfg, const char *email)
{
	char hdr[] = "{\"alg\":\"RS256\",\"kid\":\"" SIGN_KID "\",\"typ\":\"JWT\"}";
	char claims[1024], *h, *c, *input = NULL, *sig, *out = NULL;
	unsigned char raw[512];
	size_t raw_len = sizeof(raw);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int64_t now = time_wall_s() - 60; /* tokens are judged on real time */

	/* Valid for the next day: the longest lifetime §6 accepts. */
	snprintf(claims, sizeof(claims),
	         "{\"iss\":\"https://accounts.google.com\",\"aud\":\"%s\",\"azp\":"
	         "\"104958253545465374245\",\"sub\":\"104958253545465374245\",\"email\":\"%s\","
	         "\"email_verified\":true,\"iat\":%lld,\"exp\":%lld}",
	         cfg->oidc_audience.items[0], email, (long long)now, (long long)now + 86400);
	h = b64url_encode(hdr, strlen(hdr));
	c = b64url_encode(claims, strlen(claims));
	if (!h || !c || !md || asprintf(&input, "%s.%s", h, c) < 0)
		abort();
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, sign_key) != 1 ||
	    EVP_DigestSign(md, raw, &raw_len, (unsigned char *)input, strlen(input)) != 1)
		abort();
	sig = b64url_encode(raw, raw_len);
	if (!sig || asprintf(&out, "Bearer %s.%s", input, sig) < 0)
		abort();
	EVP_MD_CTX_free(md);
	free(sig);
	free(input);
	free(c);
	free(h);
	return out;
}

static void app_build(struct fuzz_app *f, const char *const *vars)
{
	struct lease_keeper_options lo;
	struct app *app = &f->app;
	char err[512];

	if (config_load(&f->cfg, vars_get, (void *)vars, err, sizeof(err)) ||
	    queues_load(f->cfg.config_dir, &app->queues, err, sizeof(err))) {
		fprintf(stderr, "fuzz_router: %s\n", err);
		abort();
	}
	app->cfg = &f->cfg;
	app->jwks = keys;
	app->oidc = oidc_new(keys, &f->cfg.oidc_issuers, &f->cfg.oidc_audience);
	app->idem = idem_new_memory();
	lo.lease_s = f->cfg.idempotency_lease_seconds;
	lo.ttl_s = f->cfg.idempotency_ttl_seconds;
	lo.stop_on_lapse = !f->cfg.idempotency_fail_open;
	app->leases = app->idem ? lease_keeper_new(app->idem, &lo) : NULL;
	app->messaging = messaging_new(&f->cfg);
	app->ratelimit = ratelimit_new_memory();
	if (!app->oidc || !app->leases || !app->messaging || !app->ratelimit ||
	    google_api_new(&f->cfg, &app->google, err, sizeof(err)))
		abort();
	app->svc.cfg = &f->cfg;
	app->svc.google = app->google;
	app->svc.messaging = app->messaging;
	app->svc.ratelimit = app->ratelimit;
	f->http = router_http_app(app);
	f->tokens[TOKEN_OK] = mint(&f->cfg, f->cfg.oidc_allowed_emails.items[0]);
	f->tokens[TOKEN_OTHER] = mint(&f->cfg, "intruder@evil.example.com");
	/* The /enqueue and /admin list must hold the e-mail too, or @ok would
	 * mean two things. */
	if (!strlist_contains(&f->cfg.enqueue_allowed_emails, f->cfg.oidc_allowed_emails.items[0]))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int devnull = open("/dev/null", O_WRONLY);

	(void)argc;
	(void)argv;
	log_init(L_INFO, "fuzz");
	if (devnull < 0)
		abort();
	log_set_fd(devnull); /* formatted as in production, written nowhere */
	sign_key = EVP_RSA_gen(2048);
	keys = jwks_new(NULL);
	if (!sign_key || !keys || jwks_add_static(keys, SIGN_KID, sign_key))
		abort();
	app_build(&local_app, local_vars);
	app_build(&cloud_app, cloud_vars);
	print_answers = getenv("FUZZ_ROUTER_PRINT") != NULL;
	return 0;
}

/* ---- one input ---- */

struct fuzz_req {
	const char *method, *path;
	const char *headers[2 * MAX_FIELDS + 2];
	const char *query[2 * MAX_FIELDS + 2];
	size_t nheaders, nquery;
	const char *body;
	size_t body_len;
	int cloud, remote, draining;
	int token; /* TOKEN_OK, TOKEN_OTHER, or -1: none of ours */
	char content_length[24];
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX-decodes s in place, '+' as a space when plus (query arguments), as
 * libmicrohttpd does before the application sees them. */
static void unescape(char *s, int plus)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*o++ = plus && *s == '+' ? ' ' : *s;
		}
	}
	*o = '\0';
}

static void read_query(struct fuzz_req *q, char *s)
{
	while (s && *s && q->nquery < MAX_FIELDS) {
		char *amp = strchr(s, '&'), *eq;

		if (amp)
			*amp = '\0';
		eq = strchr(s, '=');
		if (eq)
			*eq = '\0';
		unescape(s, 1);
		if (eq)
			unescape(eq + 1, 1);
		q->query[2 * q->nquery] = s;
		q->query[2 * q->nquery + 1] = eq ? eq + 1 : "";
		q->nquery++;
		s = amp ? amp + 1 : NULL;
	}
}

/* One "Name: value" line (NUL-terminated, no "\r\n"). */
static void read_header(struct fuzz_req *q, char *line)
{
	char *colon = strchr(line, ':'), *v;

	if (!colon || colon == line)
		return;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (!strcasecmp(line, "X-Fuzz-Mode")) {
		q->cloud = !strcmp(v, "cloud");
		return;
	}
	if (!strcasecmp(line, "X-Fuzz-Peer")) {
		q->remote = !strcmp(v, "remote");
		return;
	}
	if (!strcasecmp(line, "X-Fuzz-Draining")) {
		q->draining = !strcmp(v, "1");
		return;
	}
	if (q->nheaders >= MAX_FIELDS)
		return;
	q->headers[2 * q->nheaders] = line;
	q->headers[2 * q->nheaders + 1] = v;
	q->nheaders++;
}

/* Splits text (NUL-terminated copy of the input, len bytes) into q. 0, or
 * -1 when there is no request line. */
static int read_request(struct fuzz_req *q, char *text, size_t len)
{
	char *end = text + len, *p = text, *eol, *sp, *target;

	memset(q, 0, sizeof(*q));
	q->token = -1;
	eol = memchr(p, '\n', len);
	if (!eol)
		return -1;
	*eol = '\0';
	if (eol > p && eol[-1] == '\r')
		eol[-1] = '\0';
	sp = strchr(p, ' ');
	if (!sp || sp == p)
		return -1;
	*sp = '\0';
	q->method = p;
	target = sp + 1;
	sp = strchr(target, ' ');
	if (sp)
		*sp = '\0'; /* the HTTP version is the server library's */
	sp = strchr(target, '?');
	if (sp) {
		*sp = '\0';
		read_query(q, sp + 1);
	}
	unescape(target, 0);
	q->path = target;
	for (p = eol + 1; p < end;) {
		char *line = p;

		eol = memchr(p, '\n', (size_t)(end - p));
		p = eol ? eol + 1 : end;
		if (eol)
			*eol = '\0';
		if (eol && eol > line && eol[-1] == '\r')
			eol[-1] = '\0';
		if (!line[0])
			break;
		read_header(q, line);
	}
	q->body = p;
	q->body_len = (size_t)(end - p);
	return 0;
}

static const char *header(const struct fuzz_req *q, const char *name)
{
	for (size_t i = 0; i < q->nheaders; i++)
		if (!strcasecmp(q->headers[2 * i], name))
			return q->headers[2 * i + 1];
	return NULL;
}

/* Our tokens in for their placeholders; Content-Length for a body. */
static void complete_headers(struct fuzz_req *q, const struct fuzz_app *f)
{
	for (size_t i = 0; i < q->nheaders; i++) {
		const char *v = q->headers[2 * i + 1];
		int t = !strcmp(v, "Bearer @ok")  ? TOKEN_OK
		    : !strcmp(v, "Bearer @other") ? TOKEN_OTHER
		                                  : -1;

		if (t < 0)
			continue;
		q->headers[2 * i + 1] = f->tokens[t];
	}
	/* The lookup takes the first Authorization header, so does the oracle. */
	for (int t = 0; t < NTOKENS; t++)
		if (header(q, "Authorization") == f->tokens[t])
			q->token = t;
	if (q->body_len && !header(q, "Content-Length") && !header(q, "Transfer-Encoding") &&
	    q->nheaders < MAX_FIELDS) {
		snprintf(q->content_length, sizeof(q->content_length), "%zu", q->body_len);
		q->headers[2 * q->nheaders] = "Content-Length";
		q->headers[2 * q->nheaders + 1] = q->content_length;
		q->nheaders++;
	}
}

/* A ping that would sleep: ping waits up to its deadline, minutes. */
static int sleeps(const struct fuzz_req *q)
{
	json_t *j;
	int yes;

	if (strncmp(q->path, "/jobs/", 6) || !q->body_len)
		return 0;
	j = json_loadb(q->body, q->body_len, JSON_DECODE_ANY, NULL);
	yes = json_integer_value(json_object_get(j, "sleepMs")) > 0;
	json_decref(j);
	return yes;
}

/* ---- the oracle ---- */

static void check_answer(const struct fuzz_req *q, const struct fuzz_app *f,
                         const struct http_answer *a)
{
	const struct route *rt;
	struct route_match m;
	json_t *body, *err;

	if (a->status < 200 || a->status > 599)
		abort();
	for (int t = 0; t < NTOKENS; t++)
		if (a->body && memmem(a->body, a->len, f->tokens[t] + 7, strlen(f->tokens[t] + 7)))
			abort(); /* a token in an answer */
	router_match(q->method, q->path, &m);
	rt = m.route;
	if (!http_path_acceptable(q->path)) {
		if (a->status != 404)
			abort(); /* a path with a control character routes nowhere */
		rt = NULL;
	}
	if (rt && (rt->auth == AUTH_JOBS_OIDC || rt->auth == AUTH_ENQUEUE_OIDC ||
	           rt->auth == AUTH_ADMIN_OIDC)) {
		if (q->token < 0 && a->status != 401)
			abort(); /* authentication comes first (§5.1, router.h) */
		if (q->token == TOKEN_OTHER && a->status != 403)
			abort();
	}
	if (a->content_type)
		return; /* /metrics: Prometheus text */
	if (!a->body)
		return; /* "{}" */
	body = json_loadb(a->body, a->len, 0, NULL);
	if (!json_is_object(body))
		abort(); /* every answer is a JSON object */
	err = json_object_get(body, "error");
	if (a->status == 308) {
		/* GET /console → /console/: a redirect, not an error. */
		if (!rt || strcmp(rt->pattern, "/console") ||
		    !json_is_string(json_object_get(body, "location")))
			abort();
	} else if (a->status == 503 && rt && !strcmp(rt->pattern, "/health/ready")) {
		/* Readiness down has its own shape (SPEC §5.3). */
		if (!json_is_string(json_object_get(body, "status")))
			abort();
	} else if (a->status >= 300) {
		if (json_is_object(err)) {
			/* Google's shape, from the embedded Cloud Tasks only. */
			if (!rt || strcmp(rt->pattern, "/v2/{path...}") ||
			    !json_is_integer(json_object_get(err, "code")) ||
			    !json_is_string(json_object_get(err, "status")))
				abort();
		} else if (!json_is_string(err) ||
		           !json_is_string(json_object_get(body, "message"))) {
			abort();
		}
	} else if (rt && !strcmp(rt->pattern, "/jobs/{type}") &&
	           !json_is_string(json_object_get(body, "status"))) {
		abort();
	}
	json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req_fields fields;
	struct http_answer a;
	struct fuzz_req q;
	struct fuzz_app *f;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (read_request(&q, text, size) || sleeps(&q)) {
		free(text);
		return 0;
	}
	f = q.cloud ? &cloud_app : &local_app;
	complete_headers(&q, f);
	fields.headers = q.headers;
	fields.query = q.query;
	fields.peer_loopback = !q.remote;
	atomic_store(&f->app.draining, q.draining);
	if (http_request_run(&f->http, (size_t)f->cfg.max_body_bytes, q.method, q.path, &fields,
	                     q.body, q.body_len, &a))
		abort();
	atomic_store(&f->app.draining, 0);
	if (print_answers)
		fprintf(stderr, "%s %s -> %d %.*s\n", q.method, q.path, a.status, (int)a.len,
		        a.body ? a.body : "{}");
	check_answer(&q, f, &a);
	free(a.body);
	free(text);
	return 0;
}
