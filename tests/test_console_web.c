/*
 * test_console_web.c - unit tests for src/console_web.c, through the real
 * route table in process (http_request_run): the redirect, the embedded
 * assets with their headers, ETag and 304, unknown names, and who gets a
 * local session token from GET /console/session (local mode, loopback peer,
 * loopback Host) and who gets only {"mode","clientId","token":null}.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "b64.h"
#include "ckrun.h"
#include "config.h"
#include "console_web.h"
#include "local_keys.h"
#include "router.h"

struct env {
	const char *const *kv; /* NAME, value, …, NULL */
};

static const char *lookup(const char *name, void *arg)
{
	const struct env *e = arg;

	for (const char *const *p = e->kv; p && *p; p += 2) {
		if (!strcmp(*p, name))
			return p[1];
	}
	return NULL;
}

/* A service as far as these routes need one: configuration and, in local
 * mode, the local keys (generated into a temporary directory). */
struct fixture {
	struct config cfg;
	struct app app;
	char dir[64];
};

static void fixture_start(struct fixture *f, const char *const *kv)
{
	struct env e = {kv};
	char err[256] = "";

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(config_load(&f->cfg, lookup, &e, err, sizeof(err)), CJ_OK);
	f->app.cfg = &f->cfg;
	if (!f->cfg.cloud_mode) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/cj-console-web-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(f->dir));
		ck_assert_int_eq(local_keys_load_or_generate(f->dir, &f->app.local_keys, err, sizeof(err)),
		                 CJ_OK);
	}
}

static void fixture_stop(struct fixture *f)
{
	char path[128];

	local_keys_free(f->app.local_keys);
	if (f->dir[0]) {
		snprintf(path, sizeof(path), "%s/local-signing-key.pem", f->dir);
		unlink(path);
		rmdir(f->dir);
	}
	config_release(&f->cfg);
}

/* GET (or method) path with the given headers, as a loopback peer or not. */
static void request(struct fixture *f, const char *method, const char *path,
                    const char *const *headers, int loopback, struct http_answer *a)
{
	struct http_app h = router_http_app(&f->app);
	struct http_req_fields fields = {headers, NULL, loopback};

	memset(a, 0, sizeof(*a));
	ck_assert_int_eq(http_request_run(&h, 1 << 20, method, path, &fields, NULL, 0, a), 0);
}

static const char *header(const struct http_answer *a, const char *name)
{
	for (size_t i = 0; i < HTTP_ANSWER_MAX_HEADERS && a->headers[i].name; i++) {
		if (!strcasecmp(a->headers[i].name, name))
			return a->headers[i].value;
	}
	return NULL;
}

static json_t *body_json(const struct http_answer *a)
{
	json_t *j = json_loadb(a->body ? a->body : "{}", a->body ? a->len : 2, 0, NULL);

	ck_assert_ptr_nonnull(j);
	return j;
}

static const char *const local_kv[] = {"ENQUEUE_ALLOWED_EMAILS", "ops@example.com,b@example.com",
                                       NULL};
static const char *const cloud_kv[] = {
    "USE_CLOUD_TASKS", "true", "GCP_PROJECT_ID", "proj", "GCP_REGION", "europe-west1",
    "CLOUD_RUN_URL", "https://svc-abc.a.run.app", "SERVICE_ACCOUNT_EMAIL",
    "tasks@proj.iam.gserviceaccount.com", "UPSTASH_REDIS_REST_URL", "https://eu1.upstash.io",
    "UPSTASH_REDIS_REST_TOKEN", "s3cr3t-token", "TOKEN_ENCRYPTION_KEY", "k",
    "CONSOLE_OAUTH_CLIENT_ID", "123-abc.apps.googleusercontent.com", NULL};

START_TEST(redirect_to_the_slash)
{
	struct fixture f;
	struct http_answer a;

	fixture_start(&f, local_kv);
	request(&f, "GET", "/console", NULL, 1, &a);
	ck_assert_int_eq(a.status, 308);
	ck_assert_str_eq(header(&a, "Location"), "/console/");
	free(a.body);
	fixture_stop(&f);
}
END_TEST

START_TEST(index_and_assets_with_their_headers)
{
	static const struct {
		const char *path, *name, *type;
	} cases[] = {
	    {"/console/", "index.html", "text/html; charset=utf-8"},
	    {"/console/index.html", "index.html", "text/html; charset=utf-8"},
	    {"/console/console.js", "console.js", "text/javascript; charset=utf-8"},
	    {"/console/console.css", "console.css", "text/css; charset=utf-8"},
	    {"/console/icon.svg", "icon.svg", "image/svg+xml"},
	};
	struct fixture f;
	struct http_answer a;

	fixture_start(&f, cloud_kv); /* open routes: the same in both modes */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct console_asset *as = console_web_find(cases[i].name);

		ck_assert_ptr_nonnull(as);
		request(&f, "GET", cases[i].path, NULL, 0, &a);
		ck_assert_int_eq(a.status, 200);
		ck_assert_str_eq(a.content_type, cases[i].type);
		ck_assert_uint_eq(a.len, as->len);
		ck_assert_int_eq(memcmp(a.body, as->data, as->len), 0);
		ck_assert_str_eq(header(&a, "X-Content-Type-Options"), "nosniff");
		ck_assert_str_eq(header(&a, "Content-Security-Policy"),
		                 "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
		                 "base-uri 'none'; form-action 'self'");
		ck_assert_str_eq(header(&a, "Cache-Control"), "no-cache");
		ck_assert_str_eq(header(&a, "ETag"), as->etag);
		free(a.body);
	}
	/* HEAD is answered like GET (the server leaves the body out). */
	request(&f, "HEAD", "/console/", NULL, 0, &a);
	ck_assert_int_eq(a.status, 200);
	free(a.body);
	fixture_stop(&f);
}
END_TEST

START_TEST(the_table_is_the_source_directory)
{
	ck_assert_uint_eq(console_assets_count, 4);
	for (size_t i = 0; i < console_assets_count; i++) {
		const struct console_asset *as = &console_assets[i];

		ck_assert_uint_gt(as->len, 0);
		ck_assert_uint_eq(strlen(as->data), as->len); /* text files, no NUL inside */
		ck_assert_uint_eq(strlen(as->etag), 34);
		ck_assert_int_eq(as->etag[0], '"');
		ck_assert_int_eq(as->etag[33], '"');
		if (i)
			ck_assert_int_lt(strcmp(console_assets[i - 1].name, as->name), 0);
	}
	ck_assert_ptr_null(console_assets[console_assets_count].name);
	ck_assert_ptr_eq(console_web_find(""), console_web_find("index.html"));
	ck_assert_ptr_null(console_web_find("nope.js"));
	ck_assert_ptr_null(console_web_find("../index.html"));
	/* The page loads nothing from elsewhere. */
	ck_assert_ptr_null(strstr(console_web_find("index.html")->data, "http"));
	ck_assert_ptr_null(strstr(console_web_find("console.js")->data, "innerHTML"));
}
END_TEST

START_TEST(unknown_names_and_methods)
{
	static const char *const paths[] = {"/console/nope.js", "/console/a/b", "/console/..",
	                                    "/console//index.html", "/consolex"};
	struct fixture f;
	struct http_answer a;
	json_t *j;

	fixture_start(&f, local_kv);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		request(&f, "GET", paths[i], NULL, 1, &a);
		ck_assert_msg(a.status == 404, "%s: %d", paths[i], a.status);
		ck_assert_ptr_null(a.content_type); /* JSON */
		j = body_json(&a);
		ck_assert_str_eq(json_string_value(json_object_get(j, "error")), "not_found");
		json_decref(j);
		free(a.body);
	}
	request(&f, "POST", "/console/", NULL, 1, &a);
	ck_assert_int_eq(a.status, 405);
	free(a.body);
	request(&f, "DELETE", "/console/session", NULL, 1, &a);
	ck_assert_int_eq(a.status, 405);
	free(a.body);
	fixture_stop(&f);
}
END_TEST

START_TEST(if_none_match_gives_304)
{
	const struct console_asset *as = console_web_find("console.js");
	char weak[64], list[128];
	const char *match[] = {"If-None-Match", as->etag, NULL};
	const char *weak_h[] = {"If-None-Match", weak, NULL};
	const char *list_h[] = {"If-None-Match", list, NULL};
	const char *star[] = {"If-None-Match", "*", NULL};
	const char *other[] = {"If-None-Match", "\"0123\"", NULL};
	struct fixture f;
	struct http_answer a;

	snprintf(weak, sizeof(weak), "W/%s", as->etag);
	snprintf(list, sizeof(list), "\"aaa\", W/\"bbb\" ,%s ", as->etag);
	fixture_start(&f, local_kv);
	for (int i = 0; i < 4; i++) {
		request(&f, "GET", "/console/console.js",
		        i == 0 ? match : i == 1 ? weak_h : i == 2 ? list_h : star, 1, &a);
		ck_assert_int_eq(a.status, 304);
		ck_assert_uint_eq(a.len, as->len); /* the server sends no body, only its length */
		ck_assert_str_eq(header(&a, "ETag"), as->etag);
		ck_assert_str_eq(header(&a, "Cache-Control"), "no-cache");
		free(a.body);
	}
	request(&f, "GET", "/console/console.js", other, 1, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_uint_eq(a.len, as->len);
	free(a.body);
	fixture_stop(&f);

	ck_assert(!console_web_etag_matches(NULL, "\"x\""));
	ck_assert(!console_web_etag_matches("", "\"x\""));
	ck_assert(!console_web_etag_matches("\"xy\"", "\"x\""));
	ck_assert(!console_web_etag_matches("x", "\"x\""));
	ck_assert(console_web_etag_matches(" , \"x\"", "\"x\""));
}
END_TEST

START_TEST(loopback_hosts)
{
	static const char *const yes[] = {"127.0.0.1", "127.0.0.1:8080", "localhost",
	                                  "LocalHost:1", "[::1]", "[::1]:65535"};
	static const char *const no[] = {NULL, "", "example.com", "127.0.0.1.nip.io",
	                                 "localhost.example.com", "127.0.0.2", "127.0.0.1:",
	                                 "127.0.0.1:abc", "127.0.0.1:123456", "[::1", "::1",
	                                 "localhost:80:80", "127.0.0.1 ", "evil@127.0.0.1"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(console_web_host_is_loopback(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!console_web_host_is_loopback(no[i]), "%s", no[i] ? no[i] : "NULL");
}
END_TEST

/* The claims of a JWT (no signature check: local_keys has its own tests). */
static json_t *claims_of(const char *tok)
{
	const char *p = strchr(tok, '.'), *q = p ? strchr(p + 1, '.') : NULL;
	unsigned char *raw = NULL;
	size_t n = 0;
	json_t *j;

	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(b64url_decode(p + 1, (size_t)(q - p - 1), &raw, &n), 0);
	j = json_loadb((const char *)raw, n, 0, NULL);
	free(raw);
	return j;
}

START_TEST(local_session_for_a_loopback_operator)
{
	static const char *const hosts[] = {"127.0.0.1:8080", "localhost:8080", "[::1]:8080"};
	struct fixture f;
	struct http_answer a;
	json_t *j, *c;

	fixture_start(&f, local_kv);
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		const char *h[] = {"Host", hosts[i], NULL};

		request(&f, "GET", "/console/session", h, 1, &a);
		ck_assert_int_eq(a.status, 200);
		ck_assert_ptr_null(header(&a, "Cache-Control")); /* the default: no-store */
		j = body_json(&a);
		ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "local");
		ck_assert_str_eq(json_string_value(json_object_get(j, "email")), "ops@example.com");
		c = claims_of(json_string_value(json_object_get(j, "token")));
		ck_assert_ptr_nonnull(c);
		ck_assert_str_eq(json_string_value(json_object_get(c, "email")), "ops@example.com");
		ck_assert_str_eq(json_string_value(json_object_get(c, "aud")),
		                 "http://127.0.0.1:8080");
		ck_assert_int_eq(json_integer_value(json_object_get(j, "expiresAt")),
		                 json_integer_value(json_object_get(c, "exp")));
		ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")) -
		                     json_integer_value(json_object_get(c, "iat")),
		                 3600);
		json_decref(c);
		json_decref(j);
		free(a.body);
	}
	fixture_stop(&f);
}
END_TEST

/* {"mode": mode, "clientId": client (NULL: null), "token": null} exactly. */
static void assert_no_token(const struct http_answer *a, const char *mode, const char *client)
{
	json_t *j = body_json(a);

	ck_assert_int_eq(a->status, 200);
	ck_assert_uint_eq(json_object_size(j), 3);
	ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), mode);
	if (client)
		ck_assert_str_eq(json_string_value(json_object_get(j, "clientId")), client);
	else
		ck_assert(json_is_null(json_object_get(j, "clientId")));
	ck_assert(json_is_null(json_object_get(j, "token")));
	json_decref(j);
}

START_TEST(no_token_for_anyone_else)
{
	const char *loop[] = {"Host", "127.0.0.1:8080", NULL};
	const char *rebound[] = {"Host", "attacker.example:8080", NULL};
	const char *nohost[] = {NULL};
	struct fixture f;
	struct http_answer a;

	fixture_start(&f, local_kv);
	request(&f, "GET", "/console/session", loop, 0, &a); /* peer not loopback */
	assert_no_token(&a, "local", NULL);
	free(a.body);
	request(&f, "GET", "/console/session", rebound, 1, &a); /* DNS rebinding */
	assert_no_token(&a, "local", NULL);
	free(a.body);
	request(&f, "GET", "/console/session", nohost, 1, &a);
	assert_no_token(&a, "local", NULL);
	free(a.body);
	fixture_stop(&f);

	fixture_start(&f, cloud_kv); /* cloud mode: never, even from loopback */
	request(&f, "GET", "/console/session", loop, 1, &a);
	assert_no_token(&a, "cloud", "123-abc.apps.googleusercontent.com");
	free(a.body);
	fixture_stop(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("console_web");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, redirect_to_the_slash);
	tcase_add_test(tc, index_and_assets_with_their_headers);
	tcase_add_test(tc, the_table_is_the_source_directory);
	tcase_add_test(tc, unknown_names_and_methods);
	tcase_add_test(tc, if_none_match_gives_304);
	tcase_add_test(tc, loopback_hosts);
	tcase_add_test(tc, local_session_for_a_loopback_operator);
	tcase_add_test(tc, no_token_for_anyone_else);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
