/*
 * test_jwk.c - unit tests for src/jwk.c: a good RSA JWK becomes the same
 * public key; bad encodings, small keys, other key types and other uses are
 * refused with a reason.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "jwk.h"
#include "tokens.h"

/* Made once in main(), before check forks for each test. */
static struct test_key *key2048, *key1024;

/* Converts jwk (stolen) and returns the result code; *out gets the key. */
static int convert(json_t *jwk, EVP_PKEY **out, char *err, size_t errlen)
{
	int rc;

	ck_assert_ptr_nonnull(jwk);
	rc = jwk_to_pkey(jwk, out, err, errlen);
	json_decref(jwk);
	return rc;
}

static void assert_rejected(json_t *jwk, const char *why_contains)
{
	EVP_PKEY *pkey = (EVP_PKEY *)1;
	char err[160] = "";

	ck_assert_int_eq(convert(jwk, &pkey, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_null(pkey);
	ck_assert_msg(strstr(err, why_contains), "error \"%s\" lacks \"%s\"", err, why_contains);
}

START_TEST(good_key_is_the_same_public_key)
{
	EVP_PKEY *pkey = NULL;
	char err[160];

	ck_assert_int_eq(convert(test_key_jwk(key2048), &pkey, err, sizeof(err)), CJ_OK);
	ck_assert_ptr_nonnull(pkey);
	ck_assert_int_eq(EVP_PKEY_get_bits(pkey), 2048);
	ck_assert_int_eq(EVP_PKEY_eq(pkey, key2048->pkey), 1);
	EVP_PKEY_free(pkey);
}
END_TEST

START_TEST(use_and_alg_are_optional)
{
	json_t *jwk = test_key_jwk(key2048);
	EVP_PKEY *pkey = NULL;

	ck_assert_ptr_nonnull(jwk);
	json_object_del(jwk, "use");
	json_object_del(jwk, "alg");
	ck_assert_int_eq(convert(jwk, &pkey, NULL, 0), CJ_OK);
	ck_assert_int_eq(EVP_PKEY_eq(pkey, key2048->pkey), 1);
	EVP_PKEY_free(pkey);
}
END_TEST

START_TEST(bad_base64_rejected)
{
	json_t *jwk = test_key_jwk(key2048);

	json_object_set_new(jwk, "n", json_string("not+base64url/"));
	assert_rejected(jwk, "\"n\" is not base64url");
	jwk = test_key_jwk(key2048);
	json_object_set_new(jwk, "e", json_string("AQ*B"));
	assert_rejected(jwk, "\"e\" is not base64url");
}
END_TEST

START_TEST(small_key_rejected)
{
	assert_rejected(test_key_jwk(key1024), "1024 bits");
}
END_TEST

START_TEST(other_key_types_rejected)
{
	json_t *jwk = test_key_jwk(key2048);

	json_object_set_new(jwk, "kty", json_string("EC"));
	assert_rejected(jwk, "kty");
	jwk = test_key_jwk(key2048);
	json_object_del(jwk, "kty");
	assert_rejected(jwk, "kty");
	assert_rejected(json_string("RSA"), "not a JSON object");
}
END_TEST

START_TEST(encryption_keys_and_other_algs_rejected)
{
	json_t *jwk = test_key_jwk(key2048);

	json_object_set_new(jwk, "use", json_string("enc"));
	assert_rejected(jwk, "\"use\"");
	jwk = test_key_jwk(key2048);
	json_object_set_new(jwk, "alg", json_string("RS512"));
	assert_rejected(jwk, "\"alg\"");
	jwk = test_key_jwk(key2048);
	json_object_set_new(jwk, "alg", json_integer(256));
	assert_rejected(jwk, "\"alg\"");
}
END_TEST

START_TEST(missing_or_empty_numbers_rejected)
{
	json_t *jwk = test_key_jwk(key2048);

	json_object_del(jwk, "n");
	assert_rejected(jwk, "\"n\" is missing");
	jwk = test_key_jwk(key2048);
	json_object_del(jwk, "e");
	assert_rejected(jwk, "\"e\" is missing");
	jwk = test_key_jwk(key2048);
	json_object_set_new(jwk, "e", json_integer(65537));
	assert_rejected(jwk, "\"e\" is missing or not a string");
	jwk = test_key_jwk(key2048);
	json_object_set_new(jwk, "n", json_string(""));
	assert_rejected(jwk, "\"n\" is empty");
}
END_TEST

START_TEST(unusable_exponents_rejected)
{
	json_t *jwk = test_key_jwk(key2048);

	json_object_set_new(jwk, "e", json_string("AQ")); /* 1 */
	assert_rejected(jwk, "exponent");
	jwk = test_key_jwk(key2048);
	json_object_set_new(jwk, "e", json_string("AQAA")); /* 65536: even */
	assert_rejected(jwk, "exponent");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jwk");
	TCase *tc = tcase_create("core");
	int failed;

	key2048 = test_key_new("k2048", 2048);
	key1024 = test_key_new("k1024", 1024);
	if (!key2048 || !key1024)
		return 1;
	tcase_add_test(tc, good_key_is_the_same_public_key);
	tcase_add_test(tc, use_and_alg_are_optional);
	tcase_add_test(tc, bad_base64_rejected);
	tcase_add_test(tc, small_key_rejected);
	tcase_add_test(tc, other_key_types_rejected);
	tcase_add_test(tc, encryption_keys_and_other_algs_rejected);
	tcase_add_test(tc, missing_or_empty_numbers_rejected);
	tcase_add_test(tc, unusable_exponents_rejected);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	test_key_free(key2048);
	test_key_free(key1024);
	return failed ? 1 : 0;
}
