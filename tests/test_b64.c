/*
 * test_b64.c - unit tests for src/b64.c: RFC 4648 vectors, URL alphabet,
 * strict rejection of non-canonical input.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "b64.h"

START_TEST(rfc4648_vectors)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (int i = 0; i < 7; i++) {
		char *e = b64_encode(plain[i], strlen(plain[i]));
		unsigned char *d;
		size_t n;

		ck_assert_str_eq(e, enc[i]);
		ck_assert_int_eq(b64_decode(e, strlen(e), &d, &n), CJ_OK);
		ck_assert_uint_eq(n, strlen(plain[i]));
		ck_assert_int_eq(memcmp(d, plain[i], n), 0);
		free(e);
		free(d);
	}
}
END_TEST

START_TEST(url_alphabet_without_padding)
{
	const unsigned char bytes[] = {0xfb, 0xff, 0xfe};
	unsigned char *d;
	size_t n;
	char *e = b64url_encode(bytes, 3);

	ck_assert_str_eq(e, "-__-");
	free(e);
	e = b64url_encode("f", 1);
	ck_assert_str_eq(e, "Zg");
	ck_assert_int_eq(b64url_decode("Zg", 2, &d, &n), CJ_OK);
	ck_assert_uint_eq(n, 1);
	free(d);
	free(e);
}
END_TEST

START_TEST(rejects_non_canonical)
{
	unsigned char *d = NULL;
	size_t n;

	ck_assert_int_eq(b64_decode("Zh==", 4, &d, &n), CJ_EINVAL); /* trailing bits */
	ck_assert_int_eq(b64_decode("Zg=", 3, &d, &n), CJ_EINVAL); /* bad padding */
	ck_assert_int_eq(b64_decode("Z", 1, &d, &n), CJ_EINVAL);
	ck_assert_int_eq(b64_decode("Zm9v!", 5, &d, &n), CJ_EINVAL);
	ck_assert_int_eq(b64_decode("-_==", 4, &d, &n), CJ_EINVAL); /* URL chars */
	ck_assert_int_eq(b64url_decode("+/", 2, &d, &n), CJ_EINVAL); /* std chars */
	ck_assert_int_eq(b64url_decode("abcde", 5, &d, &n), CJ_EINVAL);
	ck_assert_ptr_null(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("b64");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, rfc4648_vectors);
	tcase_add_test(tc, url_alphabet_without_padding);
	tcase_add_test(tc, rejects_non_canonical);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
