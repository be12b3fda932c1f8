/*
 * test_google_api.c - unit tests for the classification of Google's
 * answers in src/google_api.c, fed through google_oauth_answer() and
 * google_api_answer() (the code the calls use, without a connection): the
 * token endpoint's answers (a token, a rotated refresh token, a revoked
 * grant, a refused client, an answer without a token) and the People and
 * Calendar answers (an object, transient errors with Retry-After, 401, 404,
 * an expired sync token in both shapes, an answer that is no object).
 * The calls themselves are tested against the fake in the job tests.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "google_api.h"

#define JSON_HEADERS "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

static int token_answer(long status, const char *headers, const char *body,
                        struct google_token *tok, struct google_error *gerr)
{
	return google_oauth_answer(status, headers, strlen(headers), body, strlen(body), tok, gerr);
}

static int api_answer(enum google_service svc, long status, const char *headers, const char *body,
                      json_t **out, struct google_error *gerr)
{
	return google_api_answer(svc, status, headers, strlen(headers), body, strlen(body), out,
	                         gerr);
}

START_TEST(token_answer_gives_the_token)
{
	struct google_token tok;
	struct google_error gerr;

	ck_assert_int_eq(token_answer(200, JSON_HEADERS,
	                              "{\"access_token\":\"ya29.a0Af\",\"expires_in\":3599,"
	                              "\"token_type\":\"Bearer\"}",
	                              &tok, &gerr),
	                 CJ_OK);
	ck_assert_str_eq(tok.access_token, "ya29.a0Af");
	ck_assert_int_eq(tok.expires_in, 3599);
	ck_assert_ptr_null(tok.refresh_token);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_NONE);
	google_token_release(&tok);
}
END_TEST

/* Found by fuzz_google: the rotated refresh token was tested again after
 * the answer holding it had been freed (a use after free on every refresh
 * where Google rotates the token; ASan builds abort here). */
START_TEST(token_answer_with_a_rotated_refresh_token)
{
	struct google_token tok;
	struct google_error gerr;

	ck_assert_int_eq(token_answer(200, JSON_HEADERS,
	                              "{\"access_token\":\"ya29.new\",\"expires_in\":3920,"
	                              "\"refresh_token\":\"1//0gRotated\"}",
	                              &tok, &gerr),
	                 CJ_OK);
	ck_assert_str_eq(tok.access_token, "ya29.new");
	ck_assert_str_eq(tok.refresh_token, "1//0gRotated");
	google_token_release(&tok);
	ck_assert_ptr_null(tok.access_token);
	/* An empty one is no rotation. */
	ck_assert_int_eq(
	    token_answer(200, "",
	                 "{\"access_token\":\"a\",\"expires_in\":1,\"refresh_token\":\"\"}", &tok,
	                 &gerr),
	    CJ_OK);
	ck_assert_ptr_null(tok.refresh_token);
	google_token_release(&tok);
}
END_TEST

/* Found by fuzz_google: a 2xx without a token reported status 200 whatever
 * Google answered. */
START_TEST(token_answer_without_a_token_keeps_its_status)
{
	struct google_token tok;
	struct google_error gerr;

	ck_assert_int_eq(token_answer(201, JSON_HEADERS, "{\"expires_in\":3599}", &tok, &gerr),
	                 CJ_EUPSTREAM);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_PERMANENT);
	ck_assert_int_eq(gerr.http_status, 201);
	ck_assert_ptr_null(tok.access_token);
	ck_assert_int_eq(
	    token_answer(200, "", "{\"access_token\":\"a\",\"expires_in\":\"60\"}", &tok, &gerr),
	    CJ_EUPSTREAM);
	ck_assert_int_eq(gerr.http_status, 200);
	ck_assert_ptr_null(tok.access_token);
}
END_TEST

START_TEST(token_refusals)
{
	struct google_token tok;
	struct google_error gerr;

	ck_assert_int_eq(token_answer(400, JSON_HEADERS,
	                              "{\"error\":\"invalid_grant\",\"error_description\":\"Token "
	                              "has been expired or revoked.\"}",
	                              &tok, &gerr),
	                 CJ_EAUTH);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_REVOKED);
	ck_assert_str_eq(gerr.reason, "invalid_grant");
	ck_assert_ptr_nonnull(strstr(gerr.message, "expired or revoked"));
	ck_assert_int_eq(token_answer(401, JSON_HEADERS,
	                              "{\"error\":\"invalid_client\",\"error_description\":\"The "
	                              "OAuth client was not found.\"}",
	                              &tok, &gerr),
	                 CJ_ECONFIG);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_CONFIG);
	ck_assert_int_eq(token_answer(503, "Retry-After: 120\r\n", "<html></html>", &tok, &gerr),
	                 CJ_EUNAVAIL);
	ck_assert_int_eq(gerr.retry_after_s, 120);
	ck_assert_ptr_null(tok.access_token);
}
END_TEST

START_TEST(api_answers)
{
	struct google_error gerr;
	json_t *out;

	ck_assert_int_eq(
	    api_answer(GOOGLE_CALENDAR, 200, JSON_HEADERS,
	               "{\"items\":[],\"nextSyncToken\":\"CPDAlvWDx70CEPDAlvWDx70CGAU=\"}", &out,
	               &gerr),
	    CJ_OK);
	ck_assert_str_eq(json_string_value(json_object_get(out, "nextSyncToken")),
	                 "CPDAlvWDx70CEPDAlvWDx70CGAU=");
	json_decref(out);
	/* channels.stop: 204 without a body is an empty object. */
	ck_assert_int_eq(api_answer(GOOGLE_CALENDAR, 204, "", "", &out, &gerr), CJ_OK);
	ck_assert(json_is_object(out) && !json_object_size(out));
	json_decref(out);
	ck_assert_int_eq(api_answer(GOOGLE_PEOPLE, 200, "", "[]", &out, &gerr), CJ_EUPSTREAM);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_PERMANENT);
	ck_assert_int_eq(
	    api_answer(GOOGLE_CALENDAR, 403, "Retry-After: 9999\r\n",
	               "{\"error\":{\"errors\":[{\"domain\":\"usageLimits\",\"reason\":"
	               "\"rateLimitExceeded\"}],\"code\":403,\"message\":\"Rate Limit "
	               "Exceeded\"}}",
	               &out, &gerr),
	    CJ_EUNAVAIL);
	ck_assert_int_eq(gerr.retry_after_s, 3600); /* bounded */
	ck_assert_str_eq(gerr.reason, "rateLimitExceeded");
	ck_assert_int_eq(
	    api_answer(GOOGLE_CALENDAR, 401, "", "{\"error\":{\"code\":401}}", &out, &gerr),
	    CJ_EAUTH);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_UNAUTHORIZED);
	ck_assert_int_eq(api_answer(GOOGLE_CALENDAR, 404, "", "", &out, &gerr), CJ_ENOTFOUND);
	ck_assert_int_eq(
	    api_answer(GOOGLE_CALENDAR, 410, "", "{\"error\":{\"code\":410}}", &out, &gerr),
	    CJ_EUPSTREAM);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_SYNC_EXPIRED);
	ck_assert_int_eq(api_answer(GOOGLE_PEOPLE, 400, JSON_HEADERS,
	                            "{\"error\":{\"code\":400,\"status\":\"FAILED_PRECONDITION\","
	                            "\"details\":[{\"reason\":\"EXPIRED_SYNC_TOKEN\"}]}}",
	                            &out, &gerr),
	                 CJ_EUPSTREAM);
	ck_assert_int_eq(gerr.kind, GOOGLE_ERR_SYNC_EXPIRED);
	ck_assert_int_eq(gerr.http_status, 400);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("google_api");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, token_answer_gives_the_token);
	tcase_add_test(tc, token_answer_with_a_rotated_refresh_token);
	tcase_add_test(tc, token_answer_without_a_token_keeps_its_status);
	tcase_add_test(tc, token_refusals);
	tcase_add_test(tc, api_answers);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
