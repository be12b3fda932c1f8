/*
 * test_buf.c - unit tests for src/buf.c: caps, failure leaves state intact,
 * formatting, detach.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "buf.h"

START_TEST(append_within_cap)
{
	struct buf b = BUF_INIT(10);

	ck_assert_int_eq(buf_append(&b, "hello", 5), CJ_OK);
	ck_assert_int_eq(buf_appends(&b, "world"), CJ_OK);
	ck_assert_str_eq(buf_str(&b), "helloworld");
	ck_assert_uint_eq(b.len, 10);
	buf_release(&b);
}
END_TEST

START_TEST(over_cap_leaves_buffer_unchanged)
{
	struct buf b = BUF_INIT(8);

	ck_assert_int_eq(buf_appends(&b, "12345"), CJ_OK);
	ck_assert_int_eq(buf_appends(&b, "6789"), CJ_ETOOBIG);
	ck_assert_str_eq(buf_str(&b), "12345");
	ck_assert_uint_eq(b.len, 5);
	ck_assert_int_eq(buf_appends(&b, "678"), CJ_OK);
	ck_assert_str_eq(buf_str(&b), "12345678");
	buf_release(&b);
}
END_TEST

START_TEST(appendf_long_and_short)
{
	struct buf b = BUF_INIT(4096);
	char big[1000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(buf_appendf(&b, "%d-%s", 42, "a"), CJ_OK);
	ck_assert_int_eq(buf_appendf(&b, "%s", big), CJ_OK);
	ck_assert_uint_eq(b.len, 4 + 999);
	ck_assert_int_eq(strncmp(buf_str(&b), "42-ax", 5), 0);
	buf_release(&b);
}
END_TEST

START_TEST(detach_and_empty)
{
	struct buf b = BUF_INIT(16);
	size_t len = 99;
	char *p;

	ck_assert_str_eq(buf_str(&b), "");
	p = buf_detach(&b, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(p, "");
	free(p);
	ck_assert_int_eq(buf_appends(&b, "abc"), CJ_OK);
	p = buf_detach(&b, &len);
	ck_assert_str_eq(p, "abc");
	ck_assert_uint_eq(len, 3);
	ck_assert_ptr_null(b.data);
	free(p);
	buf_reset(&b);
	buf_release(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, append_within_cap);
	tcase_add_test(tc, over_cap_leaves_buffer_unchanged);
	tcase_add_test(tc, appendf_long_and_short);
	tcase_add_test(tc, detach_and_empty);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
