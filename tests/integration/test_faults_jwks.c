/*
 * test_faults_jwks.c - Google's signing keys (OIDC_JWKS_URL) failing, in
 * cloud mode, where nothing but that endpoint can verify a push (SPEC §5.1
 * step 1, §5.3, §6). Promises: the server listens at once whatever the
 * endpoint does; while no key was ever loaded a push is a clear retry (503
 * {"status":"retry"}, never 401, which would read as "not for us") and
 * readiness is down; the keys load in the background as soon as the
 * endpoint answers, and the same push then runs; keys once loaded keep
 * serving when the endpoint goes down.
 *
 * Covered elsewhere: a hanging endpoint in local mode
 * (test_operations.c listens_while_the_jwks_endpoint_hangs), keys past
 * max-age with the endpoint down (test_operations.c
 * jwks_past_max_age_is_stale_until_refetched), rotation
 * (test_auth.c rotated_key_is_picked_up).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "itest.h"
#include "timeutil.h"

static struct itest W;
static struct jwks_server *J;
static char E_JWKS[512];
static const char *CLOUD[] = {E_JWKS,
                              "USE_CLOUD_TASKS=true",
                              "GCP_PROJECT_ID=p",
                              "GCP_REGION=r",
                              "TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                              NULL};

/* /health/ready: its status code, and jwks.status into st. */
static long ready(const struct cj_server *s, char *st, size_t stlen)
{
	struct httpc_resp r;
	char url[128];
	long code;

	snprintf(url, sizeof(url), "%s/health/ready", s->base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	code = r.status;
	snprintf(st, stlen, "%s",
	         json_string_value(json_object_get(json_object_get(r.json, "jwks"), "status")));
	httpc_resp_free(&r);
	return code;
}

/* Polls readiness until it answers want (up to 30 s); the last code. */
static long ready_wait(const struct cj_server *s, long want)
{
	int64_t until = time_mono_ms() + 30000;
	char st[32];
	long code;

	while ((code = ready(s, st, sizeof(st))) != want && time_mono_ms() < until)
		msleep(200);
	return code;
}

/* A push of ping as task id with token tok; "status" (or "error") of the
 * answer into out. */
static long push(const struct cj_server *s, const char *tok, const char *id, int retry, char *out,
                 size_t outlen)
{
	struct httpc_resp r;
	long code;

	ck_assert_int_eq(cj_push(s, "ping", tok, "ping-queue", id, retry, "{}", &r), 0);
	code = r.status;
	if (httpc_json_str(&r, "status"))
		snprintf(out, outlen, "%s", httpc_json_str(&r, "status"));
	else
		snprintf(out, outlen, "%s",
		         httpc_json_str(&r, "error") ? httpc_json_str(&r, "error") : "");
	httpc_resp_free(&r);
	return code;
}

static char *published(int n)
{
	return test_jwks_json((const struct test_key *const *)W.keys, (size_t)n);
}

/* Promise: with the endpoint down (500) at start the server listens,
 * readiness is down, and a push is 503 retry (never 401); once the
 * endpoint answers, readiness comes up by itself and the redelivery of the
 * same task runs. */
START_TEST(jwks_down_at_start_is_a_retry_not_401_until_the_keys_load)
{
	struct cj_server s;
	char st[32], id[64], *tok = itest_token(&W), *keys = published(2);

	jwks_server_set(J, "{\"error\":\"down\"}", -1, 500);
	itest_server(&W, &s, CLOUD);
	ck_assert_int_eq(ready(&s, st, sizeof(st)), 503);
	ck_assert_str_eq(st, "down");
	itest_task_id(id, sizeof(id));
	ck_assert_int_eq(push(&s, tok, id, 0, st, sizeof(st)), 503);
	ck_assert_str_eq(st, "retry");
	ck_assert_int_eq(push(&s, tok, id, 1, st, sizeof(st)), 503);

	jwks_server_set(J, keys, 3600, 200);
	ck_assert_int_eq(ready_wait(&s, 200), 200);
	ck_assert_int_eq(ready(&s, st, sizeof(st)), 200);
	ck_assert_str_eq(st, "ok");
	ck_assert_int_eq(push(&s, tok, id, 2, st, sizeof(st)), 200);
	ck_assert_str_eq(st, "completed");
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(keys);
	free(tok);
}
END_TEST

/* Promise: an endpoint that hangs at start (past the 10 s fetch timeout)
 * holds up neither the listener nor readiness; a push that arrives
 * meanwhile waits for that first fetch and, when it times out, is 503
 * retry, not 401; the next fetch brings the keys and the redelivery runs. */
START_TEST(jwks_hanging_at_start_is_a_retry_after_its_timeout_then_serves)
{
	struct cj_server s;
	char st[32], id[64], *tok = itest_token(&W), *keys = published(2);
	int answered;

	jwks_server_set(J, keys, 3600, 200);
	jwks_server_set_delay(J, 12000);
	answered = jwks_server_fetches(J);
	itest_server(&W, &s, CLOUD);
	ck_assert_int_eq(ready(&s, st, sizeof(st)), 503);
	ck_assert_str_eq(st, "down");
	/* Listening and ready to say so while the first fetch still hangs. */
	ck_assert_int_eq(jwks_server_fetches(J), answered);
	itest_task_id(id, sizeof(id));
	ck_assert_int_eq(push(&s, tok, id, 0, st, sizeof(st)), 503);
	ck_assert_str_eq(st, "retry");
	jwks_server_set_delay(J, 0);
	ck_assert_int_eq(ready_wait(&s, 200), 200);
	ck_assert_int_eq(push(&s, tok, id, 1, st, sizeof(st)), 200);
	ck_assert_str_eq(st, "completed");
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(keys);
	free(tok);
}
END_TEST

/* Promise: keys once loaded keep serving when the endpoint goes down:
 * past their max-age they are "stale" (readiness still 200), a token of a
 * loaded key still runs its job, and one of a key never published is 401 -
 * a verdict on the token, not a 503. */
START_TEST(jwks_down_after_start_keeps_the_loaded_keys_serving)
{
	struct cj_server s;
	char st[32], id[64], *tok = itest_token(&W), *keys = published(1);
	char *other = itest_token_for(&W, 1, ITEST_AUDIENCE, ITEST_TASKS_EMAIL);
	int64_t until;

	jwks_server_set(J, keys, 1, 200);
	itest_server(&W, &s, CLOUD);
	ck_assert_int_eq(ready_wait(&s, 200), 200);
	jwks_server_set(J, "{\"error\":\"down\"}", -1, 500);
	until = time_mono_ms() + 20000;
	while (ready(&s, st, sizeof(st)) == 200 && strcmp(st, "stale") && time_mono_ms() < until)
		msleep(200);
	ck_assert_str_eq(st, "stale");
	ck_assert_int_eq(ready(&s, st, sizeof(st)), 200);
	ck_assert_int_eq(push(&s, tok, itest_task_id(id, sizeof(id)), 0, st, sizeof(st)), 200);
	ck_assert_str_eq(st, "completed");
	ck_assert_int_eq(push(&s, other, itest_task_id(id, sizeof(id)), 0, st, sizeof(st)), 401);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(other);
	free(keys);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-jwks");
	TCase *tc = tcase_create("faults-jwks");
	int failed;

	itest_setup(&W);
	J = jwks_server_start();
	if (!J) {
		fprintf(stderr, "cannot start the JWKS server\n");
		return 1;
	}
	snprintf(E_JWKS, sizeof(E_JWKS), "OIDC_JWKS_URL=%s", jwks_server_url(J));
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, jwks_down_at_start_is_a_retry_not_401_until_the_keys_load);
	tcase_add_test(tc, jwks_hanging_at_start_is_a_retry_after_its_timeout_then_serves);
	tcase_add_test(tc, jwks_down_after_start_keeps_the_loaded_keys_serving);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	jwks_server_stop(J);
	itest_teardown(&W);
	return failed ? 1 : 0;
}
