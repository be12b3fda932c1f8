/*
 * test_utf8.c - unit tests for src/utf8.c: every length of well-formed
 * character and the boundaries of each; overlong forms, surrogates, code
 * points above U+10FFFF, stray continuation bytes and truncated sequences
 * are refused; utf8_char_len() reads no further than it is told.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "utf8.h"

/* Tests strings with a known length (they may hold NUL). */
#define S(lit) (lit), sizeof(lit) - 1

START_TEST(accepts_well_formed)
{
	ck_assert(utf8_valid(S("")));
	ck_assert(utf8_valid(NULL, 0));
	ck_assert(utf8_valid(S("plain ASCII, 0-9 and \x7f")));
	ck_assert(utf8_valid(S("a\0b"))); /* NUL is a character */
	ck_assert(utf8_valid(S("caf\xc3\xa9")));
	ck_assert(utf8_valid(S("\xc2\x80"))); /* U+0080, smallest 2-byte */
	ck_assert(utf8_valid(S("\xdf\xbf"))); /* U+07FF */
	ck_assert(utf8_valid(S("\xe0\xa0\x80"))); /* U+0800, smallest 3-byte */
	ck_assert(utf8_valid(S("\xed\x9f\xbf"))); /* U+D7FF, before surrogates */
	ck_assert(utf8_valid(S("\xee\x80\x80"))); /* U+E000, after them */
	ck_assert(utf8_valid(S("\xef\xbf\xbf"))); /* U+FFFF */
	ck_assert(utf8_valid(S("\xf0\x90\x80\x80"))); /* U+10000, smallest 4-byte */
	ck_assert(utf8_valid(S("\xf0\x9f\x98\x80"))); /* U+1F600 */
	ck_assert(utf8_valid(S("\xf4\x8f\xbf\xbf"))); /* U+10FFFF, the last */
	ck_assert(utf8_valid(S("\xe2\x82\xac 5 \xf0\x9f\x98\x80!")));
}
END_TEST

START_TEST(refuses_overlongs)
{
	ck_assert(!utf8_valid(S("\xc0\x80"))); /* NUL in 2 bytes */
	ck_assert(!utf8_valid(S("\xc0\xaf"))); /* '/' */
	ck_assert(!utf8_valid(S("\xc1\xbf"))); /* U+007F */
	ck_assert(!utf8_valid(S("\xe0\x80\xaf"))); /* '/' in 3 bytes */
	ck_assert(!utf8_valid(S("\xe0\x9f\xbf"))); /* U+07FF in 3 bytes */
	ck_assert(!utf8_valid(S("\xf0\x80\x80\xaf"))); /* '/' in 4 bytes */
	ck_assert(!utf8_valid(S("\xf0\x8f\xbf\xbf"))); /* U+FFFF in 4 bytes */
}
END_TEST

START_TEST(refuses_surrogates)
{
	ck_assert(!utf8_valid(S("\xed\xa0\x80"))); /* U+D800 */
	ck_assert(!utf8_valid(S("\xed\xaf\xbf"))); /* U+DBFF */
	ck_assert(!utf8_valid(S("\xed\xb0\x80"))); /* U+DC00 */
	ck_assert(!utf8_valid(S("\xed\xbf\xbf"))); /* U+DFFF */
	ck_assert(!utf8_valid(S("\xed\xa0\xbd\xed\xb8\x80"))); /* CESU-8 pair */
}
END_TEST

START_TEST(refuses_above_10ffff)
{
	ck_assert(!utf8_valid(S("\xf4\x90\x80\x80"))); /* U+110000 */
	ck_assert(!utf8_valid(S("\xf5\x80\x80\x80")));
	ck_assert(!utf8_valid(S("\xf7\xbf\xbf\xbf"))); /* U+1FFFFF */
	ck_assert(!utf8_valid(S("\xf8\x88\x80\x80\x80"))); /* old 5-byte form */
	ck_assert(!utf8_valid(S("\xfc\x84\x80\x80\x80\x80")));
	ck_assert(!utf8_valid(S("\xfe")));
	ck_assert(!utf8_valid(S("\xff")));
}
END_TEST

START_TEST(refuses_truncated_and_stray_bytes)
{
	ck_assert(!utf8_valid(S("\xc3")));
	ck_assert(!utf8_valid(S("caf\xc3")));
	ck_assert(!utf8_valid(S("\xe2\x82")));
	ck_assert(!utf8_valid(S("\xf0\x9f\x98")));
	ck_assert(!utf8_valid(S("\xf0\x9f\x98 x"))); /* cut short by ASCII */
	ck_assert(!utf8_valid(S("\xc3\xc3\xa9"))); /* a lead where a tail belongs */
	ck_assert(!utf8_valid(S("\x80"))); /* continuation alone */
	ck_assert(!utf8_valid(S("a\xbf")));
	ck_assert(!utf8_valid(S("\xc3\xa9\xa9"))); /* one tail too many */
	/* The length bounds the read: a valid sequence cut by n is refused. */
	ck_assert(!utf8_valid("\xc3\xa9", 1));
	ck_assert(!utf8_valid("\xf0\x9f\x98\x80", 3));
}
END_TEST

START_TEST(char_len)
{
	ck_assert_uint_eq(utf8_char_len(S("a")), 1);
	ck_assert_uint_eq(utf8_char_len("\0", 1), 1);
	ck_assert_uint_eq(utf8_char_len(S("\xc3\xa9z")), 2);
	ck_assert_uint_eq(utf8_char_len(S("\xe2\x82\xac")), 3);
	ck_assert_uint_eq(utf8_char_len(S("\xf0\x9f\x98\x80")), 4);
	ck_assert_uint_eq(utf8_char_len("a", 0), 0);
	ck_assert_uint_eq(utf8_char_len("\xe2\x82\xac", 2), 0);
	ck_assert_uint_eq(utf8_char_len(S("\x80")), 0);
	ck_assert_uint_eq(utf8_char_len(S("\xc0\x80")), 0);
	ck_assert_uint_eq(utf8_char_len(S("\xed\xa0\x80")), 0);
	ck_assert_uint_eq(utf8_char_len(S("\xf4\x90\x80\x80")), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, accepts_well_formed);
	tcase_add_test(tc, refuses_overlongs);
	tcase_add_test(tc, refuses_surrogates);
	tcase_add_test(tc, refuses_above_10ffff);
	tcase_add_test(tc, refuses_truncated_and_stray_bytes);
	tcase_add_test(tc, char_len);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
