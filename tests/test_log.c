/*
 * test_log.c - unit tests for src/log.c: every line is one JSON object
 * with severity, message, time and the request context; messages are
 * escaped; a message that is not UTF-8 is replaced, never lost; extra
 * fields win over the context; lines too long for the fixed buffer are
 * still written whole; lines below the level are not written.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "log.h"

static FILE *out;

static void setup(void)
{
	out = tmpfile();
	ck_assert_ptr_nonnull(out);
	log_init(L_INFO, "proj");
	log_set_fd(fileno(out));
	log_ctx_set(NULL);
}

static void teardown(void)
{
	log_ctx_set(NULL);
	log_set_fd(STDOUT_FILENO);
	fclose(out);
}

/* What was written since the last call. */
static char *drain(void)
{
	int fd = fileno(out);
	off_t len = lseek(fd, 0, SEEK_END);
	char *text = malloc((size_t)len + 1);

	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(pread(fd, text, (size_t)len, 0), len);
	text[len] = '\0';
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	lseek(fd, 0, SEEK_SET);
	return text;
}

/* The one line of text as a JSON object; fails unless it is exactly one. */
static json_t *one_line(const char *text)
{
	const char *nl = strchr(text, '\n');
	json_error_t je;
	json_t *o;

	ck_assert_msg(nl != NULL && nl[1] == '\0', "not exactly one line: %.200s", text);
	o = json_loadb(text, (size_t)(nl - text), 0, &je);
	ck_assert_msg(o != NULL, "not JSON (%s): %.300s", je.text, text);
	return o;
}

START_TEST(line_with_context_and_escapes)
{
	struct log_ctx c = LOG_CTX_INIT;
	char *text;
	json_t *o;

	c.trace_id = "abc";
	c.job_type = "ping";
	c.task_name = "t-1";
	c.attempt = 2;
	c.duration_ms = 7;
	c.outcome = "completed";
	log_ctx_set(&c);
	log_msg(L_WARNING, "quote \" backslash \\ tab\t nl\n ctl\x01 é %d", 5);
	text = drain();
	o = one_line(text);
	ck_assert_str_eq(json_string_value(json_object_get(o, "severity")), "WARNING");
	ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
	                 "quote \" backslash \\ tab\t nl\n ctl\x01 é 5");
	ck_assert_str_eq(json_string_value(json_object_get(o, "logging.googleapis.com/trace")),
	                 "projects/proj/traces/abc");
	ck_assert_str_eq(json_string_value(json_object_get(o, "jobType")), "ping");
	ck_assert_str_eq(json_string_value(json_object_get(o, "taskName")), "t-1");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempt")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "durationMs")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(o, "outcome")), "completed");
	ck_assert_ptr_null(json_object_get(o, "queue"));
	/* 2026-12-02T10:00:00.123456Z */
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "time"))), 27);
	json_decref(o);
	free(text);
}
END_TEST

START_TEST(invalid_utf8_is_replaced_and_below_level_is_dropped)
{
	struct log_ctx c = LOG_CTX_INIT;
	char *text;
	json_t *o;

	c.task_name = "bad\xff"; /* left out, as jansson would */
	log_ctx_set(&c);
	log_msg(L_DEBUG, "not written");
	log_msg(L_ERROR, "bytes \xc3\x28 here");
	text = drain();
	o = one_line(text);
	ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
	                 "(message not valid UTF-8)");
	ck_assert_ptr_null(json_object_get(o, "taskName"));
	json_decref(o);
	free(text);
}
END_TEST

START_TEST(fields_win_over_context)
{
	struct log_ctx c = LOG_CTX_INIT;
	json_t *f = json_pack("{s:s, s:i, s:[i,i]}", "jobType", "from-fields", "httpStatus", 503,
	                      "list", 1, 2);
	char *text;
	json_t *o;

	c.job_type = "from-context";
	c.queue = "q";
	log_ctx_set(&c);
	log_fields(L_INFO, f, "with fields");
	text = drain();
	o = one_line(text);
	ck_assert_str_eq(json_string_value(json_object_get(o, "jobType")), "from-fields");
	ck_assert_str_eq(json_string_value(json_object_get(o, "queue")), "q");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "httpStatus")), 503);
	ck_assert_int_eq(json_array_size(json_object_get(o, "list")), 2);
	/* One "jobType" member only. */
	ck_assert_ptr_null(strstr(strstr(text, "\"jobType\"") + 1, "\"jobType\""));
	json_decref(o);
	json_decref(f);
	free(text);
}
END_TEST

START_TEST(large_fields_are_written_whole)
{
	size_t big = 200 * 1024;
	char *payload = malloc(big + 1);
	json_t *f;
	char *text;
	json_t *o;

	ck_assert_ptr_nonnull(payload);
	memset(payload, 'p', big);
	payload[big] = '\0';
	f = json_pack("{s:{s:s}}", "payload", "data", payload);
	log_fields(L_ERROR, f, "dead letter could not be stored");
	text = drain();
	o = one_line(text);
	ck_assert_uint_eq(
	    strlen(json_string_value(json_object_get(json_object_get(o, "payload"), "data"))), big);
	json_decref(o);
	json_decref(f);
	free(payload);
	free(text);
}
END_TEST

START_TEST(long_message_is_cut_on_a_character)
{
	char msg[3000];
	char *text;
	json_t *o;
	const char *m;

	/* "é" is two bytes: a cut at 2,047 bytes falls inside one. */
	for (size_t i = 0; i + 1 < sizeof(msg); i += 2)
		memcpy(msg + i, "\xc3\xa9", 2);
	msg[sizeof(msg) - 1] = '\0';
	log_msg(L_INFO, "x%s", msg);
	text = drain();
	o = one_line(text);
	m = json_string_value(json_object_get(o, "message"));
	ck_assert_uint_ge(strlen(m), 2040);
	ck_assert_uint_le(strlen(m), 2047);
	ck_assert_int_eq(m[0], 'x');
	json_decref(o);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, line_with_context_and_escapes);
	tcase_add_test(tc, invalid_utf8_is_replaced_and_below_level_is_dropped);
	tcase_add_test(tc, fields_win_over_context);
	tcase_add_test(tc, large_fields_are_written_whole);
	tcase_add_test(tc, long_message_is_cut_on_a_character);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
