/*
 * test_answer.c - unit tests for src/answer.c: the result code → status →
 * error code map and the answers built from it.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "ckrun.h"

START_TEST(status_mapping)
{
	ck_assert_int_eq(router_status(CJ_OK), 200);
	ck_assert_int_eq(router_status(CJ_EINVAL), 400);
	ck_assert_int_eq(router_status(CJ_EAUTH), 401);
	ck_assert_int_eq(router_status(CJ_EFORBIDDEN), 403);
	ck_assert_int_eq(router_status(CJ_ENOTFOUND), 404);
	ck_assert_int_eq(router_status(CJ_EEXISTS), 409);
	ck_assert_int_eq(router_status(CJ_ECONFLICT), 409);
	ck_assert_int_eq(router_status(CJ_ETOOBIG), 413);
	ck_assert_int_eq(router_status(CJ_EUNAVAIL), 503);
	ck_assert_int_eq(router_status(CJ_ETIMEOUT), 503);
	ck_assert_int_eq(router_status(CJ_ENOKEYS), 503);
	ck_assert_int_eq(router_status(CJ_ECONFIG), 503);
	ck_assert_int_eq(router_status(CJ_ESTORAGE), 503);
	ck_assert_int_eq(router_status(CJ_EUPSTREAM), 503);
	ck_assert_int_eq(router_status(CJ_ENOMEM), 500);
	ck_assert_int_eq(router_status(CJ_EINTERNAL), 500);
	ck_assert_int_eq(router_status(-1), 500);
	ck_assert_int_eq(router_status(CJ_RESULT_MAX), 500);
	ck_assert_str_eq(router_error_code(400), "invalid_request");
	ck_assert_str_eq(router_error_code(401), "unauthenticated");
	ck_assert_str_eq(router_error_code(403), "forbidden");
	ck_assert_str_eq(router_error_code(404), "not_found");
	ck_assert_str_eq(router_error_code(405), "method_not_allowed");
	ck_assert_str_eq(router_error_code(409), "already_exists");
	ck_assert_str_eq(router_error_code(413), "payload_too_large");
	ck_assert_str_eq(router_error_code(415), "unsupported_media_type");
	ck_assert_str_eq(router_error_code(501), "not_implemented");
	ck_assert_str_eq(router_error_code(503), "unavailable");
	ck_assert_str_eq(router_error_code(500), "internal");
}
END_TEST

/* Every result code's answer: its status, its status's error code, the
 * formatted message. */
START_TEST(answers_follow_the_map)
{
	int code;

	for (code = CJ_EINVAL; code < CJ_RESULT_MAX; code++) {
		struct http_answer a = {0};
		json_t *body;

		http_answer_result(&a, code, "thing %d: %s", 7, "bad");
		ck_assert_int_eq(a.status, router_status(code));
		body = json_loadb(a.body, a.len, 0, NULL);
		ck_assert_ptr_nonnull(body);
		ck_assert_str_eq(json_string_value(json_object_get(body, "error")),
		                 router_error_code(a.status));
		ck_assert_str_eq(json_string_value(json_object_get(body, "message")),
		                 "thing 7: bad");
		ck_assert_uint_eq(json_object_size(body), 2);
		ck_assert(!a.close);
		ck_assert_str_eq(a.retry_after, "");
		json_decref(body);
		free(a.body);
	}
}
END_TEST

START_TEST(long_messages_are_cut)
{
	struct http_answer a = {0};
	char big[2000];
	json_t *body;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	http_answer_result(&a, CJ_EINVAL, "%s", big);
	body = json_loadb(a.body, a.len, 0, NULL);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(body, "message"))), 511);
	json_decref(body);
	free(a.body);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("answer");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, status_mapping);
	tcase_add_test(tc, answers_follow_the_map);
	tcase_add_test(tc, long_messages_are_cut);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
