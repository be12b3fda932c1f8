/*
 * test_enqueue_api.c - unit tests for src/enqueue_api.c: the one answer of
 * each enqueue failure kind (shared by /enqueue and dead-letter replay,
 * SPEC §5.2, §5.3).
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "enqueue_api.h"

static void expect(enum enqueue_error_kind kind, int status, const char *code, const char *retry)
{
	struct http_answer a = {0};
	json_t *body;

	enqueue_api_answer_error(&a, kind, NULL, "why");
	ck_assert_int_eq(a.status, status);
	body = json_loadb(a.body, a.len, 0, NULL);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(json_string_value(json_object_get(body, "error")), code);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(body, "message")), "why"));
	ck_assert_str_eq(a.retry_after, retry);
	json_decref(body);
	free(a.body);
}

START_TEST(each_kind_has_one_answer)
{
	expect(ENQUEUE_UNKNOWN_TYPE, 404, "not_found", "");
	expect(ENQUEUE_INVALID_PAYLOAD, 400, "invalid_payload", "");
	expect(ENQUEUE_INVALID_REQUEST, 400, "invalid_request", "");
	expect(ENQUEUE_TOO_BIG, 413, "payload_too_large", "");
	expect(ENQUEUE_EXISTS, 409, "already_exists", "");
	expect(ENQUEUE_UPSTREAM, 503, "unavailable", "5");
}
END_TEST

START_TEST(messages_name_the_context)
{
	struct http_answer a = {0};
	json_t *body;

	enqueue_api_answer_error(&a, ENQUEUE_UPSTREAM, "replay of 42", "HTTP 500");
	body = json_loadb(a.body, a.len, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(body, "message")),
	                 "replay of 42: Cloud Tasks: HTTP 500");
	json_decref(body);
	free(a.body);
	a.body = NULL;
	enqueue_api_answer_error(&a, ENQUEUE_EXISTS, NULL, "task t exists");
	body = json_loadb(a.body, a.len, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(body, "message")), "task t exists");
	json_decref(body);
	free(a.body);
}
END_TEST

START_TEST(json_media_types)
{
	ck_assert(enqueue_api_is_json("application/json"));
	ck_assert(enqueue_api_is_json("Application/JSON; charset=utf-8"));
	ck_assert(enqueue_api_is_json(" application/json "));
	ck_assert(!enqueue_api_is_json(NULL));
	ck_assert(!enqueue_api_is_json("text/plain"));
	ck_assert(!enqueue_api_is_json("application/jsonx"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enqueue_api");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, each_kind_has_one_answer);
	tcase_add_test(tc, messages_name_the_context);
	tcase_add_test(tc, json_media_types);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
