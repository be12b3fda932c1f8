/*
 * test_json_in.c - the non-recursive depth cap of src/json_in.c: 64 levels
 * accepted, 65 refused, brackets inside strings (and escaped quotes) not
 * counted, and bodies thousands of levels deep refused without parsing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "json_in.h"

/* n nested arrays around 1, or objects {"a":...} when obj. */
static char *nested(int n, int obj)
{
	size_t cap = (size_t)n * 6 + 8, len = 0;
	char *s = malloc(cap);
	int i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++) {
		memcpy(s + len, obj ? "{\"a\":" : "[", obj ? 5 : 1);
		len += obj ? 5 : 1;
	}
	s[len++] = '1';
	for (i = 0; i < n; i++)
		s[len++] = obj ? '}' : ']';
	s[len] = '\0';
	return s;
}

START_TEST(sixty_four_levels_pass_sixty_five_do_not)
{
	static const int depths[] = {1, 63, 64, 65, 830, 2047, 100000};
	size_t i;
	int obj;

	for (obj = 0; obj < 2; obj++) {
		for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
			char *s = nested(depths[i], obj), err[128];
			int deep = 0;
			json_t *v = json_in_parse(s, strlen(s), 0, &deep, err, sizeof(err));

			if (depths[i] <= JSON_IN_MAX_DEPTH) {
				ck_assert_ptr_nonnull(v);
				ck_assert_int_eq(deep, 0);
			} else {
				ck_assert_ptr_null(v);
				ck_assert_int_eq(deep, 1);
				ck_assert_str_eq(err, "nests deeper than 64 levels");
			}
			json_decref(v);
			free(s);
		}
	}
}
END_TEST

START_TEST(brackets_in_strings_do_not_count)
{
	char *deep = nested(64, 0);
	char body[4096];
	json_t *v;

	/* 64 real levels plus a string full of brackets and escaped quotes. */
	snprintf(body, sizeof(body), "[\"[[[[{{{{\\\"[[[[\", %s]", deep + 1);
	body[strlen(body) - 1] = '\0';
	v = json_in_parse(body, strlen(body), 0, NULL, NULL, 0);
	ck_assert_ptr_nonnull(v);
	json_decref(v);
	ck_assert_int_eq(json_in_depth_ok("\"[[[[[[\"", 8, 1), 1);
	ck_assert_int_eq(json_in_depth_ok("[[\"\\\\\"[", 7, 2), 0); /* escaped backslash ends */
	free(deep);
}
END_TEST

START_TEST(malformed_input_is_the_parsers_to_refuse)
{
	char err[128] = "";
	int deep = 1;

	ck_assert_ptr_null(json_in_parse("]]]}}{", 6, 0, &deep, err, sizeof(err)));
	ck_assert_int_eq(deep, 0);
	ck_assert_ptr_nonnull(strstr(err, "line 1"));
	ck_assert_ptr_null(json_in_parse("", 0, 0, NULL, err, sizeof(err)));
	ck_assert_int_eq(json_in_depth_ok("\"unterminated [[[[", 17, 1), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json_in");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, sixty_four_levels_pass_sixty_five_do_not);
	tcase_add_test(tc, brackets_in_strings_do_not_count);
	tcase_add_test(tc, malformed_input_is_the_parsers_to_refuse);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK);
}
