/*
 * test_redis_reply.c - unit tests for src/redis_reply.c: Upstash answers
 * with and without base64, the "OK" status in both forms, nested arrays,
 * pipelines with per-item errors, and every kind of malformed answer.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "redis_rest.h"

static struct redis_reply *parse_ok(const char *body, int base64)
{
	struct redis_reply *r = NULL;
	char err[256];

	ck_assert_int_eq(redis_reply_parse(body, strlen(body), base64, &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_ptr_nonnull(r);
	return r;
}

static void parse_fails(const char *body, int base64, const char *why)
{
	struct redis_reply *r = (struct redis_reply *)&r;
	char err[256] = "";

	ck_assert_int_eq(redis_reply_parse(body, strlen(body), base64, &r, err, sizeof(err)),
	                 CJ_EUPSTREAM);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, why) != NULL, "err \"%s\" lacks \"%s\"", err, why);
}

START_TEST(base64_string_decodes_to_bytes)
{
	/* "dgB4/w==" is v, NUL, x, 0xff. */
	struct redis_reply *r = parse_ok("{\"result\":\"dgB4/w==\"}", 1);

	ck_assert_int_eq(r->type, REDIS_STRING);
	ck_assert_uint_eq(r->len, 4);
	ck_assert_int_eq(memcmp(r->str, "v\0x\xff", 4), 0);
	ck_assert_int_eq(r->str[4], '\0');
	redis_reply_free(r);

	r = parse_ok("{\"result\":\"\"}", 1);
	ck_assert_int_eq(r->type, REDIS_STRING);
	ck_assert_uint_eq(r->len, 0);
	ck_assert_str_eq(r->str, "");
	redis_reply_free(r);
}
END_TEST

START_TEST(ok_status_literal_and_encoded)
{
	struct redis_reply *r = parse_ok("{\"result\":\"OK\"}", 1);

	ck_assert_int_eq(r->type, REDIS_STRING);
	ck_assert_str_eq(r->str, "OK");
	ck_assert_uint_eq(r->len, 2);
	redis_reply_free(r);
	r = parse_ok("{\"result\":\"T0s=\"}", 1);
	ck_assert_str_eq(r->str, "OK");
	ck_assert_uint_eq(r->len, 2);
	redis_reply_free(r);
}
END_TEST

START_TEST(plain_strings_without_base64)
{
	struct redis_reply *r = parse_ok("{\"result\":\"a\\u0000b\"}", 0);

	ck_assert_int_eq(r->type, REDIS_STRING);
	ck_assert_uint_eq(r->len, 3);
	ck_assert_int_eq(memcmp(r->str, "a\0b", 3), 0);
	redis_reply_free(r);
	/* Not base64, but fine when base64 was not asked for. */
	r = parse_ok("{\"result\":\"hello world!\"}", 0);
	ck_assert_str_eq(r->str, "hello world!");
	redis_reply_free(r);
}
END_TEST

START_TEST(integers_and_nil)
{
	struct redis_reply *r = parse_ok("{\"result\":-9223372036854775807}", 1);

	ck_assert_int_eq(r->type, REDIS_INTEGER);
	ck_assert(r->integer == -9223372036854775807LL);
	redis_reply_free(r);
	r = parse_ok("{\"result\":0}", 1);
	ck_assert_int_eq(r->type, REDIS_INTEGER);
	ck_assert(r->integer == 0);
	redis_reply_free(r);
	r = parse_ok("{\"result\":null}", 1);
	ck_assert_int_eq(r->type, REDIS_NIL);
	ck_assert_ptr_null(r->str);
	redis_reply_free(r);
	redis_reply_free(NULL); /* a no-op */
}
END_TEST

START_TEST(nested_arrays)
{
	struct redis_reply *r = parse_ok("{\"result\":[\"YQ==\",1,null,[\"Yg==\",[]],[]]}", 1);

	ck_assert_int_eq(r->type, REDIS_ARRAY);
	ck_assert_uint_eq(r->n, 5);
	ck_assert_str_eq(r->elems[0]->str, "a");
	ck_assert(r->elems[1]->integer == 1);
	ck_assert_int_eq(r->elems[2]->type, REDIS_NIL);
	ck_assert_int_eq(r->elems[3]->type, REDIS_ARRAY);
	ck_assert_uint_eq(r->elems[3]->n, 2);
	ck_assert_str_eq(r->elems[3]->elems[0]->str, "b");
	ck_assert_int_eq(r->elems[3]->elems[1]->type, REDIS_ARRAY);
	ck_assert_uint_eq(r->elems[3]->elems[1]->n, 0);
	ck_assert_uint_eq(r->elems[4]->n, 0);
	redis_reply_free(r);
}
END_TEST

START_TEST(error_answer_is_an_error_reply)
{
	struct redis_reply *r =
	    parse_ok("{\"error\":\"NOSCRIPT No matching script. Please use EVAL.\"}", 1);

	ck_assert_int_eq(r->type, REDIS_ERROR);
	ck_assert_str_eq(r->str, "NOSCRIPT No matching script. Please use EVAL.");
	redis_reply_free(r);
}
END_TEST

START_TEST(malformed_answers)
{
	parse_fails("", 1, "not JSON");
	parse_fails("{\"result\":", 1, "not JSON");
	parse_fails("<html>502 Bad Gateway</html>", 1, "not JSON");
	parse_fails("[1,2]", 1, "expected an object");
	parse_fails("{}", 1, "neither result nor error");
	parse_fails("{\"res\":1}", 1, "neither result nor error");
	parse_fails("{\"result\":1,\"error\":\"x\"}", 1, "both");
	parse_fails("{\"error\":42}", 1, "error is not a string");
	parse_fails("{\"result\":true}", 1, "object or a boolean");
	parse_fails("{\"result\":{\"a\":1}}", 1, "object or a boolean");
	parse_fails("{\"result\":1.5}", 1, "fractional");
	parse_fails("{\"result\":[1,{\"a\":1}]}", 1, "object or a boolean");
	parse_fails("{\"result\":99999999999999999999999}", 1, "not JSON");
}
END_TEST

START_TEST(invalid_base64)
{
	parse_fails("{\"result\":\"not base64!\"}", 1, "base64");
	parse_fails("{\"result\":\"YQ=\"}", 1, "base64");
	parse_fails("{\"result\":\"YR==\"}", 1, "base64"); /* non-zero trailing bits */
	parse_fails("{\"result\":[\"YQ==\",\"?\"]}", 1, "base64");
}
END_TEST

START_TEST(deep_nesting_is_refused)
{
	char body[4096];
	size_t o = 0;
	int i, depth;
	struct redis_reply *r;

	/* 32 levels parse; 33 do not. */
	for (depth = 32; depth <= 33; depth++) {
		o = 0;
		o += (size_t)snprintf(body + o, sizeof(body) - o, "{\"result\":");
		for (i = 0; i < depth; i++)
			body[o++] = '[';
		for (i = 0; i < depth; i++)
			body[o++] = ']';
		body[o++] = '}';
		body[o] = '\0';
		if (depth == 32) {
			r = parse_ok(body, 1);
			ck_assert_int_eq(r->type, REDIS_ARRAY);
			redis_reply_free(r);
		} else {
			parse_fails(body, 1, "nested too deeply");
		}
	}
	/* Far deeper than jansson's own limit: refused, not a crash. */
	{
		size_t n = 100000;
		char *big = malloc(2 * n + 16);

		ck_assert_ptr_nonnull(big);
		o = (size_t)snprintf(big, 16, "{\"result\":");
		memset(big + o, '[', n);
		memset(big + o + n, ']', n);
		big[o + 2 * n] = '}';
		big[o + 2 * n + 1] = '\0';
		parse_fails(big, 1, "invalid upstash answer");
		free(big);
	}
}
END_TEST

START_TEST(pipeline_with_per_item_error)
{
	const char *body = "[{\"result\":\"OK\"},{\"error\":\"ERR value is not an integer\"},"
	                   "{\"result\":\"eA==\"},{\"result\":3}]";
	struct redis_reply **items = NULL;
	char err[256];
	size_t i;

	ck_assert_int_eq(
	    redis_reply_parse_pipeline(body, strlen(body), 1, 4, &items, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(items[0]->str, "OK");
	ck_assert_int_eq(items[1]->type, REDIS_ERROR);
	ck_assert_str_eq(items[1]->str, "ERR value is not an integer");
	ck_assert_str_eq(items[2]->str, "x");
	ck_assert(items[3]->integer == 3);
	for (i = 0; i < 4; i++)
		redis_reply_free(items[i]);
	free(items);
}
END_TEST

START_TEST(pipeline_malformed)
{
	static const struct {
		const char *body;
		size_t n;
		const char *why;
	} cases[] = {
	    {"[{\"result\":1}]", 2, "1 pipeline items for 2 commands"},
	    {"[{\"result\":1},{\"result\":2},{\"result\":3}]", 2, "3 pipeline items"},
	    {"{\"result\":1}", 1, "not an array"},
	    {"{\"error\":\"ERR syntax\"}", 1, "not an array"},
	    {"[{\"result\":1},2]", 2, "expected an object"},
	    {"[{\"result\":1},{\"result\":\"%%\"}]", 2, "base64"},
	    {"[", 1, "not JSON"},
	};
	struct redis_reply **items;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		items = (struct redis_reply **)&items;
		ck_assert_int_eq(redis_reply_parse_pipeline(cases[i].body, strlen(cases[i].body), 1,
		                                            cases[i].n, &items, err, sizeof(err)),
		                 CJ_EUPSTREAM);
		ck_assert_ptr_null(items);
		ck_assert_msg(strstr(err, cases[i].why) != NULL, "case %zu: err \"%s\"", i, err);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("redis_reply");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, base64_string_decodes_to_bytes);
	tcase_add_test(tc, ok_status_literal_and_encoded);
	tcase_add_test(tc, plain_strings_without_base64);
	tcase_add_test(tc, integers_and_nil);
	tcase_add_test(tc, nested_arrays);
	tcase_add_test(tc, error_answer_is_an_error_reply);
	tcase_add_test(tc, malformed_answers);
	tcase_add_test(tc, invalid_base64);
	tcase_add_test(tc, deep_nesting_is_refused);
	tcase_add_test(tc, pipeline_with_per_item_error);
	tcase_add_test(tc, pipeline_malformed);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
