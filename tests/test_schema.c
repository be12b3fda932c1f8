/*
 * test_schema.c - unit tests for src/schema.c and the job types' schemas:
 * required fields, types, ranges, enums, idempotencyKey, unknown fields.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "job_types.h"
#include "schema.h"

static int validate(const char *type, const char *json, char *err, size_t errlen)
{
	const struct job_type *t = job_types_find(type);
	json_t *p = json_loads(json, 0, NULL);
	int rc;

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(p);
	rc = schema_validate(t->fields, p, err, errlen);
	json_decref(p);
	return rc;
}

START_TEST(accepts_valid_payloads)
{
	char err[256];

	ck_assert_int_eq(validate("token-refresh", "{}", err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(validate("token-refresh", "{\"userId\":\"u1\"}", err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(validate("calendar-sync",
	                          "{\"userId\":\"u1\",\"calendarId\":\"primary\",\"full\":true,"
	                          "\"extra\":[1,2]}",
	                          err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(
	    validate("ping", "{\"fail\":\"permanent\",\"sleepMs\":30000}", err, sizeof(err)),
	    CJ_OK);
	ck_assert_int_eq(validate("ping", "{\"idempotencyKey\":\"k\"}", err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(validate("adaptive-sync", "{\"userId\":5}", err, sizeof(err)), CJ_OK);
}
END_TEST

START_TEST(names_the_failing_field)
{
	char err[256];

	ck_assert_int_eq(validate("google-contacts-sync", "{}", err, sizeof(err)), CJ_EINVAL);
	ck_assert_str_eq(err, "userId: required");
	ck_assert_int_eq(validate("google-contacts-sync", "{\"userId\":\"\"}", err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "userId"));
	ck_assert_int_eq(validate("google-contacts-sync", "{\"userId\":\"u\",\"full\":\"yes\"}",
	                          err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_str_eq(err, "full: must be true or false");
	ck_assert_int_eq(validate("ping", "{\"sleepMs\":30001}", err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "sleepMs"));
	ck_assert_int_eq(validate("ping", "{\"sleepMs\":1.5}", err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(validate("ping", "{\"fail\":\"sometimes\"}", err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "fail: must be one of"));
	ck_assert_int_eq(validate("ping", "{\"idempotencyKey\":\"\"}", err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "idempotencyKey"));
}
END_TEST

START_TEST(string_length_counts_characters)
{
	char err[256], json[1024];
	char name[129 * 2 + 1];
	int i;

	/* 128 two-byte characters are 256 bytes but only 128 characters. */
	for (i = 0; i < 128; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[256] = '\0';
	snprintf(json, sizeof(json), "{\"userId\":\"%s\"}", name);
	ck_assert_int_eq(validate("suggestion-regeneration", json, err, sizeof(err)), CJ_OK);
	memcpy(name + 256, "\xc3\xa9", 2);
	name[258] = '\0';
	snprintf(json, sizeof(json), "{\"userId\":\"%s\"}", name);
	ck_assert_int_eq(validate("suggestion-regeneration", json, err, sizeof(err)), CJ_EINVAL);
}
END_TEST

START_TEST(rejects_non_objects)
{
	const struct job_type *t = job_types_find("ping");
	json_t *arr = json_array();
	char err[256];

	ck_assert_int_eq(schema_validate(t->fields, arr, err, sizeof(err)), CJ_EINVAL);
	ck_assert_str_eq(err, "payload: must be a JSON object");
	json_decref(arr);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("schema");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, accepts_valid_payloads);
	tcase_add_test(tc, names_the_failing_field);
	tcase_add_test(tc, string_length_counts_characters);
	tcase_add_test(tc, rejects_non_objects);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
