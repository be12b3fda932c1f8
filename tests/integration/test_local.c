/*
 * test_local.c - local mode end to end (SPEC §3, §5.4, §6): the real binary
 * without USE_CLOUD_TASKS and with OIDC_JWKS_URL unreachable, so only its
 * own signing key can verify. `catchup-jobs token` mints tokens that /jobs
 * and /admin accept under the usual §6 rules; /emulator/certs verifies them;
 * the clock is read and advanced (HTTP and `clock advance`), bad values are
 * 400 / exit 2, and the offset survives a restart and a SIGKILL; a ping
 * completed just before a SIGKILL is a duplicate after the restart (the
 * loopback-only rule for peers is unit-tested in tests/test_router.c: this
 * suite sends nothing to any address but loopback); cloud mode answers 404
 * on the /emulator routes, never loads or trusts the local key, and refuses both commands
 * with exit 2.
 *
 * Each test runs in its own temporary directory (the server's ./data).
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckrun.h"
#include "cjserver.h"
#include "config.h"
#include "jwk.h"
#include "jwks.h"
#include "log.h"
#include "oidc.h"
#include "timeutil.h"

#define TASKS_EMAIL "local-tasks@catchup-jobs.local" /* SERVICE_ACCOUNT_EMAIL's default */
#define ADMIN_EMAIL "admin@catchup-jobs.local"
#define DEAD_JWKS "http://127.0.0.1:1/certs" /* refused at once: nothing listens */

static char *dir; /* this test's working directory */
static char e_db[512], e_config[512], e_port[32];

/* The local-mode environment; extra (may be NULL) is appended. Static. */
static char **local_env(const char *const *extra)
{
	static char *env[32];
	int n = 0;

	snprintf(e_db, sizeof(e_db), "DATABASE_URL=sqlite:%s/data/catchup.db", dir);
	snprintf(e_config, sizeof(e_config), "CONFIG_DIR=%s/config",
	         getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".");
	env[n++] = e_db;
	env[n++] = e_config;
	env[n++] = "OIDC_JWKS_URL=" DEAD_JWKS;
	env[n++] = "ENQUEUE_ALLOWED_EMAILS=" ADMIN_EMAIL;
	env[n++] = "LOG_LEVEL=info";
	for (int i = 0; extra && extra[i] && n < 30; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;
	return env;
}

static void setup(void)
{
	dir = make_temp_dir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
}

static void teardown(void)
{
	if (chdir("/") == 0)
		remove_tree(dir);
	free(dir);
}

static void start(struct cj_server *s, const char *const *extra)
{
	ck_assert_int_eq(cj_server_start(s, local_env(extra)), 0);
}

/* Runs the binary with args in s's environment (its PORT). Returns the exit
 * status; *out and *err (may be NULL) receive the output. */
static int run_cli(const struct cj_server *s, char *const args[], char **out, char **err)
{
	const char *extra[] = {e_port, NULL};

	snprintf(e_port, sizeof(e_port), "PORT=%d", s ? s->port : 1);
	return cj_run(args, local_env(extra), out, err);
}

/* `catchup-jobs token [--email E] [--audience A]` for s; the token
 * (malloc'd, newline removed). */
static char *token(const struct cj_server *s, const char *email, const char *audience)
{
	char *args[8] = {"token"}, *out = NULL, *err = NULL;
	int n = 1, rc;

	if (email) {
		args[n++] = "--email";
		args[n++] = (char *)email;
	}
	if (audience) {
		args[n++] = "--audience";
		args[n++] = (char *)audience;
	}
	args[n] = NULL;
	rc = run_cli(s, args, &out, &err);
	ck_assert_msg(rc == 0, "token exited %d: %s", rc, err ? err : "");
	ck_assert_ptr_nonnull(out);
	out[strcspn(out, "\n")] = '\0';
	ck_assert_uint_eq(strspn(out,
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                         "0123456789-_."),
	                  strlen(out));
	free(err);
	return out;
}

static long get(const struct cj_server *s, const char *path, const char *tok, struct httpc_resp *r)
{
	char url[512], auth[8300];
	const char *h[] = {auth, NULL};

	snprintf(url, sizeof(url), "%s%s", s->base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok ? tok : "x");
	ck_assert_int_eq(httpc_get(url, tok ? h : NULL, r), 0);
	return r->status;
}

static long advance(const struct cj_server *s, const char *body, struct httpc_resp *r)
{
	char url[256];
	const char *h[] = {"Content-Type: application/json", NULL};

	snprintf(url, sizeof(url), "%s/emulator/clock:advance", s->base);
	ck_assert_int_eq(httpc_post(url, h, body, r), 0);
	return r->status;
}

static int64_t offset_of(const struct httpc_resp *r)
{
	const json_t *o = json_object_get(r->json, "offsetSeconds");

	ck_assert_msg(json_is_integer(o), "no offsetSeconds in %s", r->body);
	return json_integer_value(o);
}

static int64_t clock_offset(const struct cj_server *s)
{
	struct httpc_resp r;
	int64_t off;

	ck_assert_int_eq(get(s, "/emulator/clock", NULL, &r), 200);
	off = offset_of(&r);
	httpc_resp_free(&r);
	return off;
}

static long push_ping(const struct cj_server *s, const char *tok, const char *task,
                      const char **status, struct httpc_resp *r)
{
	ck_assert_int_eq(cj_push(s, "ping", tok, "ping-queue", task, 0, "{\"n\":1}", r), 0);
	*status = httpc_json_str(r, "status");
	return r->status;
}

START_TEST(token_calls_jobs_and_admin)
{
	struct cj_server s;
	struct httpc_resp r;
	const char *status;
	char *tok, *admin, *wrong_aud, *stranger;
	json_t *jw;

	start(&s, NULL);
	tok = token(&s, NULL, NULL);
	ck_assert_int_eq(push_ping(&s, tok, "local-1", &status, &r), 200);
	ck_assert_str_eq(status, "completed");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(r.json, "result"), "n")), 1);
	httpc_resp_free(&r);
	ck_assert_int_eq(push_ping(&s, tok, "local-1", &status, &r), 200);
	ck_assert_str_eq(status, "duplicate");
	httpc_resp_free(&r);

	/* /admin with an ENQUEUE_ALLOWED_EMAILS identity. */
	admin = token(&s, ADMIN_EMAIL, NULL);
	ck_assert_int_eq(get(&s, "/admin/dead-letters", admin, &r), 200);
	ck_assert(json_is_array(json_object_get(r.json, "deadLetters")));
	httpc_resp_free(&r);
	/* §6 still applies: identity and audience are checked. */
	ck_assert_int_eq(get(&s, "/admin/dead-letters", tok, &r), 403);
	httpc_resp_free(&r);
	stranger = token(&s, "someone@example.com", NULL);
	ck_assert_int_eq(push_ping(&s, stranger, "local-2", &status, &r), 403);
	httpc_resp_free(&r);
	wrong_aud = token(&s, NULL, "https://elsewhere.example.com");
	ck_assert_int_eq(push_ping(&s, wrong_aud, "local-3", &status, &r), 403);
	httpc_resp_free(&r);
	ck_assert_int_eq(push_ping(&s, "not.a.token", "local-4", &status, &r), 401);
	httpc_resp_free(&r);

	/* Offline and still ready: the local key serves; keys counts the
	 * (never loaded) OIDC_JWKS_URL set. */
	ck_assert_int_eq(get(&s, "/health/ready", NULL, &r), 200);
	jw = json_object_get(r.json, "jwks");
	ck_assert_str_eq(json_string_value(json_object_get(jw, "status")), "ok");
	ck_assert(json_is_true(json_object_get(jw, "localKey")));
	ck_assert_int_eq(json_integer_value(json_object_get(jw, "keys")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(jw, "ageSeconds")), -1);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "redis"), "mode")),
	    "in-process");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
	free(admin);
	free(stranger);
	free(wrong_aud);
}
END_TEST

START_TEST(certs_verify_the_token)
{
	static char *iss[] = {"https://accounts.google.com"};
	static const struct strlist issuers = {iss, 1};
	static char *allowed_items[] = {TASKS_EMAIL};
	static const struct strlist allowed = {allowed_items, 1};
	char aud_buf[64], *aud_items[] = {aud_buf}, auth[8300], why[160];
	const struct strlist audiences = {aud_items, 1};
	struct cj_server s;
	struct httpc_resp r;
	struct oidc_identity who;
	const char *reason = NULL;
	struct jwks *jw = jwks_new(NULL);
	struct oidc *vf;
	EVP_PKEY *pkey = NULL;
	json_t *jwk;
	struct stat st;
	char *tok;

	start(&s, NULL);
	/* The key file: generated by the server, private. */
	ck_assert_int_eq(stat("data/local-signing-key.pem", &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	tok = token(&s, NULL, NULL);
	ck_assert_int_eq(get(&s, "/emulator/certs", NULL, &r), 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "keys")), 1);
	jwk = json_array_get(json_object_get(r.json, "keys"), 0);
	ck_assert_int_eq(jwk_to_pkey(jwk, &pkey, why, sizeof(why)), CJ_OK);
	ck_assert_int_eq(jwks_add_static(jw, json_string_value(json_object_get(jwk, "kid")), pkey),
	                 CJ_OK);
	EVP_PKEY_free(pkey);
	/* The default audience is CLOUD_RUN_URL, the server's own listener. */
	snprintf(aud_buf, sizeof(aud_buf), "http://127.0.0.1:%d", s.port);
	vf = oidc_new(jw, &issuers, &audiences);
	ck_assert_ptr_nonnull(vf);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	ck_assert_int_eq(oidc_verify(vf, auth, &allowed, time_wall_s(), &who, &reason), CJ_OK);
	ck_assert_str_eq(who.email, TASKS_EMAIL);
	ck_assert_uint_eq(strlen(who.sub), 21);
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	oidc_free(vf);
	jwks_free(jw);
	free(tok);
}
END_TEST

START_TEST(clock_read_and_advanced)
{
	static const char *const bad[] = {"{\"seconds\":0}",
	                                  "{\"seconds\":-5}",
	                                  "{\"seconds\":1.5}",
	                                  "{\"seconds\":\"10\"}",
	                                  "{}",
	                                  "{\"seconds\":null}",
	                                  "{\"seconds\":true}",
	                                  "{\"seconds\":9223372036854775807}"};
	struct cj_server s;
	struct httpc_resp r;
	double now;
	char *out = NULL, *err = NULL;

	start(&s, NULL);
	ck_assert_int_eq(get(&s, "/emulator/clock", NULL, &r), 200);
	ck_assert_int_eq(offset_of(&r), 0);
	ck_assert_int_eq(time_parse_rfc3339(httpc_json_str(&r, "now"), &now), CJ_OK);
	ck_assert(now >= time_wall_s() - 5 && now <= time_wall_s() + 5);
	httpc_resp_free(&r);

	ck_assert_int_eq(advance(&s, "{\"seconds\":3600}", &r), 200);
	ck_assert_int_eq(offset_of(&r), 3600);
	ck_assert_uint_eq(json_object_size(r.json), 2);
	ck_assert_int_eq(time_parse_rfc3339(httpc_json_str(&r, "now"), &now), CJ_OK);
	ck_assert(now >= time_wall_s() + 3595 && now <= time_wall_s() + 3605);
	httpc_resp_free(&r);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(advance(&s, bad[i], &r) == 400, "%s: %ld", bad[i], r.status);
		ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_request");
		httpc_resp_free(&r);
	}
	ck_assert_int_eq(advance(&s, "not json", &r), 400);
	ck_assert_str_eq(httpc_json_str(&r, "error"), "invalid_json");
	httpc_resp_free(&r);
	ck_assert_int_eq(get(&s, "/emulator/clock:advance", NULL, &r), 405);
	httpc_resp_free(&r);
	ck_assert_int_eq(clock_offset(&s), 3600);

	/* The command. */
	ck_assert_int_eq(run_cli(&s, (char *[]){"clock", "advance", "60", NULL}, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"offsetSeconds\":3660"));
	ck_assert_ptr_nonnull(strstr(out, "\"now\":"));
	free(out);
	free(err);
	ck_assert_int_eq(clock_offset(&s), 3660);
	{
		static const char *const bad_args[] = {
		    "0", "-5", "1.5", "ten", "+5", "", "99999999999999999999"};

		for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
			char *args[] = {"clock", "advance", (char *)bad_args[i], NULL};

			ck_assert_msg(run_cli(&s, args, NULL, NULL) == 2, "clock advance \"%s\"",
			              bad_args[i]);
		}
		ck_assert_int_eq(run_cli(&s, (char *[]){"clock", "advance", NULL}, NULL, NULL), 2);
		ck_assert_int_eq(run_cli(&s, (char *[]){"clock", "back", "5", NULL}, NULL, NULL),
		                 2);
	}
	ck_assert_int_eq(clock_offset(&s), 3660);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	/* No server: exit 1. */
	err = NULL;
	ck_assert_int_eq(run_cli(&s, (char *[]){"clock", "advance", "5", NULL}, NULL, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "unreachable"));
	free(err);
}
END_TEST

START_TEST(clock_survives_restart_and_sigkill)
{
	struct cj_server s;
	struct httpc_resp r;

	start(&s, NULL);
	ck_assert_int_eq(advance(&s, "{\"seconds\":86400}", &r), 200);
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	start(&s, NULL);
	ck_assert_int_eq(clock_offset(&s), 86400);
	ck_assert_int_eq(advance(&s, "{\"seconds\":100}", &r), 200);
	httpc_resp_free(&r);
	proc_signal(&s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&s.proc, 10000), 0);
	start(&s, NULL);
	ck_assert_int_eq(clock_offset(&s), 86500);
	ck_assert_int_eq(cj_server_stop(&s), 0);
}
END_TEST

START_TEST(completed_task_is_a_duplicate_after_sigkill)
{
	struct cj_server s;
	struct httpc_resp r;
	const char *status;
	char *tok;

	start(&s, NULL);
	tok = token(&s, NULL, NULL);
	ck_assert_int_eq(push_ping(&s, tok, "before-the-kill", &status, &r), 200);
	ck_assert_str_eq(status, "completed");
	httpc_resp_free(&r);
	proc_signal(&s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&s.proc, 10000), 0);
	free(tok);

	start(&s, NULL); /* a new port: a new default audience, so a new token */
	tok = token(&s, NULL, NULL);
	ck_assert_int_eq(push_ping(&s, tok, "before-the-kill", &status, &r), 200);
	ck_assert_str_eq(status, "duplicate");
	httpc_resp_free(&r);
	ck_assert_int_eq(push_ping(&s, tok, "after-the-kill", &status, &r), 200);
	ck_assert_str_eq(status, "completed");
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
}
END_TEST

START_TEST(cloud_mode_has_no_local_key)
{
	static const char *const cloud[] = {
	    "USE_CLOUD_TASKS=true",
	    "GCP_PROJECT_ID=p",
	    "GCP_REGION=r",
	    "CLOUD_RUN_URL=https://jobs.example.com",
	    "SERVICE_ACCOUNT_EMAIL=" TASKS_EMAIL,
	    "UPSTASH_REDIS_REST_URL=http://127.0.0.1:1",
	    "UPSTASH_REDIS_REST_TOKEN=t",
	    "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	    "GCE_METADATA_HOST=127.0.0.1:1",
	    "CLOUD_TASKS_API_URL=http://127.0.0.1:1",
	    NULL};
	static const char *const paths[] = {"/emulator/certs", "/emulator/clock"};
	struct cj_server s;
	struct httpc_resp r;
	const char *status;
	struct stat st;
	char *err = NULL, *tok;

	ck_assert_int_eq(mkdir("data", 0700), 0);
	start(&s, cloud);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(get(&s, paths[i], NULL, &r), 404);
		ck_assert_str_eq(httpc_json_str(&r, "error"), "not_found");
		httpc_resp_free(&r);
	}
	ck_assert_int_eq(advance(&s, "{\"seconds\":60}", &r), 404);
	httpc_resp_free(&r);
	/* Never generated, never trusted. */
	ck_assert_int_ne(stat("data/local-signing-key.pem", &st), 0);
	tok = token(NULL, NULL, "https://jobs.example.com"); /* local mode generates it */
	ck_assert_int_eq(push_ping(&s, tok, "cloud-1", &status, &r), 503);
	httpc_resp_free(&r);
	ck_assert_int_eq(get(&s, "/health/ready", NULL, &r), 503);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(r.json, "jwks"), "status")), "down");
	ck_assert_ptr_null(json_object_get(json_object_get(r.json, "jwks"), "localKey"));
	httpc_resp_free(&r);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);

	/* Both commands are local mode's: exit 2 in cloud mode. */
	ck_assert_int_eq(cj_run((char *[]){"token", NULL}, local_env(cloud), NULL, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "local mode"));
	free(err);
	err = NULL;
	ck_assert_int_eq(
	    cj_run((char *[]){"clock", "advance", "5", NULL}, local_env(cloud), NULL, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "local mode"));
	free(err);
}
END_TEST

START_TEST(token_usage_errors)
{
	static const char *const cases[][4] = {
	    {"token", "--email", NULL},
	    {"token", "--audience", NULL},
	    {"token", "--bogus", "x", NULL},
	    {"token", "extra", NULL},
	};
	char *out = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_int_eq(run_cli(NULL, (char *const *)cases[i], NULL, NULL), 2);
	ck_assert_int_eq(cj_run((char *[]){"--help", NULL}, NULL, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "catchup-jobs token [--email E] [--audience A]"));
	ck_assert_ptr_nonnull(strstr(out, "catchup-jobs clock advance SECONDS"));
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("local");
	TCase *tc = tcase_create("local mode");

	log_init(L_ERROR, "test");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, token_calls_jobs_and_admin);
	tcase_add_test(tc, certs_verify_the_token);
	tcase_add_test(tc, clock_read_and_advanced);
	tcase_add_test(tc, clock_survives_restart_and_sigkill);
	tcase_add_test(tc, completed_task_is_a_duplicate_after_sigkill);
	tcase_add_test(tc, cloud_mode_has_no_local_key);
	tcase_add_test(tc, token_usage_errors);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
