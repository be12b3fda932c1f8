/*
 * test_scan.c - the scan pages of handlers/scan.c driven directly, on
 * SQLite and PostgreSQL: the per-user tasks by default (result exactly
 * {"enqueued", "next"}), and a job's own per-user work (`each`) with its
 * own result: counts, the cursor handed on, a failing row stopping the
 * page without a follow-up or a result, and the deadline.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "job_harness.h"
#include "job_types.h"
#include "scan.h"
#include "store.h"
#include "timeutil.h"

static struct job_harness h;

/* The job the scans run as: its type names the follow-ups. */
#define SCAN_TYPE "webhook-health-check"

struct probe {
	const char *fail_user; /* each fails on this user with fail_rc */
	int fail_rc;
	long calls, results, last_count;
	char order[256]; /* the users each saw, comma-separated */
};

static int probe_each(struct job_ctx *ctx, struct store_rows *row, void *arg, long *counted,
                      char *err, size_t errlen)
{
	struct probe *p = arg;
	const char *uid = store_rows_text(row, 0);

	(void)ctx;
	ck_assert_int_eq(*counted, 0);
	p->calls++;
	snprintf(p->order + strlen(p->order), sizeof(p->order) - strlen(p->order), "%s,", uid);
	if (p->fail_user && !strcmp(uid, p->fail_user)) {
		*counted = 100; /* must not be counted */
		return cj_errorf(err, errlen, p->fail_rc, "probe refused %s", uid);
	}
	*counted = store_rows_int(row, 1); /* a user adds its second column */
	return CJ_OK;
}

static json_t *probe_result(void *arg, long count)
{
	struct probe *p = arg;

	p->results++;
	p->last_count = count;
	return json_pack("{s:I, s:s}", "checked", (json_int_t)count, "kind", "probe");
}

static void setup(int backend)
{
	job_harness_open(&h, backend, NULL);
	for (int i = 1; i <= 5; i++) {
		char id[8];

		snprintf(id, sizeof(id), "u%d", i);
		job_harness_add_user(&h, id, NULL, NULL);
	}
}

/* One page of s over users (id, id's digit) under key; the payload's
 * cursor is cursor (NULL: none). */
static enum job_outcome run(struct scan *s, const char *cursor, const char *key, json_t **result,
                            char *code, size_t codelen)
{
	json_t *payload = cursor ? json_pack("{s:s}", "cursor", cursor) : json_object();
	struct job_ctx ctx;
	enum job_outcome o;

	s->sql = "SELECT id, CAST(substr(id, 2) AS INTEGER) FROM users WHERE id > $1 "
	         "ORDER BY id LIMIT $2";
	s->what = "probe user";
	job_ctx_init(&ctx, job_types_find(SCAN_TYPE), payload, 0, time_mono_ms() + 60000, &h.svc);
	snprintf(ctx.key, sizeof(ctx.key), "%s", key);
	o = scan_run(&ctx, s);
	*result = ctx.result ? json_incref(ctx.result) : NULL;
	snprintf(code, codelen, "%s", ctx.error_code);
	job_ctx_release(&ctx);
	json_decref(payload);
	return o;
}

static long ncreates(const char *type)
{
	json_t *c = job_harness_creates(&h, type);
	long n = (long)json_array_size(c);

	json_decref(c);
	return n;
}

START_TEST(default_enqueues_per_user_tasks)
{
	struct scan s = {.task_type = "suggestion-generation", .page = 3};
	char code[64];
	json_t *res;

	setup(_i);
	ck_assert_int_eq(run(&s, NULL, "k1", &res, code, sizeof(code)), JOB_OK);
	ck_assert_int_eq(json_object_size(res), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "enqueued")), 3);
	ck_assert(json_is_string(json_object_get(res, "next")));
	json_decref(res);
	ck_assert_int_eq(ncreates("suggestion-generation"), 3);
	ck_assert_int_eq(ncreates(SCAN_TYPE), 1);
	/* Again: every create is a 409, nothing counted, the same follow-up. */
	ck_assert_int_eq(run(&s, NULL, "k1", &res, code, sizeof(code)), JOB_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "enqueued")), 0);
	json_decref(res);
	ck_assert_int_eq(ncreates("suggestion-generation"), 3);
	ck_assert_int_eq(ncreates(SCAN_TYPE), 1);
	job_harness_close(&h);
}
END_TEST

START_TEST(each_and_result_make_the_page)
{
	struct probe p = {0};
	struct scan s = {.page = 3, .arg = &p, .each = probe_each, .result = probe_result};
	char code[64], *next;
	json_t *res;

	setup(_i);
	ck_assert_int_eq(run(&s, NULL, "k1", &res, code, sizeof(code)), JOB_OK);
	ck_assert_str_eq(p.order, "u1,u2,u3,");
	ck_assert_int_eq(p.results, 1);
	ck_assert_int_eq(p.last_count, 1 + 2 + 3);
	/* The job's members, "next" added, no "enqueued" of scan's own. */
	ck_assert_int_eq(json_object_size(res), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "checked")), 6);
	ck_assert_str_eq(json_string_value(json_object_get(res, "kind")), "probe");
	ck_assert_ptr_nonnull(json_string_value(json_object_get(res, "next")));
	next = strdup(json_string_value(json_object_get(res, "next")));
	json_decref(res);
	/* No per-user tasks; the follow-up carries the cursor. */
	ck_assert_int_eq(ncreates(NULL), 1);
	{
		json_t *c = job_harness_creates(&h, SCAN_TYPE);

		ck_assert_str_eq(json_string_value(json_object_get(
		                     json_object_get(json_array_get(c, 0), "payload"), "cursor")),
		                 next);
		json_decref(c);
	}
	/* The next page starts after the last user of this one and ends it. */
	p.order[0] = '\0';
	ck_assert_int_eq(run(&s, next, "k2", &res, code, sizeof(code)), JOB_OK);
	ck_assert_str_eq(p.order, "u4,u5,");
	ck_assert_int_eq(p.results, 2);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "checked")), 9);
	ck_assert(json_is_null(json_object_get(res, "next")));
	json_decref(res);
	ck_assert_int_eq(ncreates(NULL), 1);
	free(next);

	/* Without result: {"enqueued": count, "next"}. */
	s.result = NULL;
	ck_assert_int_eq(run(&s, NULL, "k3", &res, code, sizeof(code)), JOB_OK);
	ck_assert_int_eq(json_object_size(res), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "enqueued")), 6);
	json_decref(res);
	job_harness_close(&h);
}
END_TEST

START_TEST(a_failing_row_stops_the_page)
{
	struct probe p = {.fail_user = "u2", .fail_rc = CJ_EUNAVAIL};
	struct scan s = {.page = 3, .arg = &p, .each = probe_each, .result = probe_result};
	char code[64];
	json_t *res;

	setup(_i);
	ck_assert_int_eq(run(&s, NULL, "k1", &res, code, sizeof(code)), JOB_RETRY);
	ck_assert_str_eq(code, "scan_failed");
	ck_assert_str_eq(p.order, "u1,u2,");
	ck_assert_int_eq(p.results, 0);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(ncreates(NULL), 0); /* no follow-up */
	/* A caller's bug is not retried. */
	p.order[0] = '\0';
	p.fail_rc = CJ_EINVAL;
	ck_assert_int_eq(run(&s, NULL, "k2", &res, code, sizeof(code)), JOB_PERMANENT);
	ck_assert_str_eq(code, "scan_failed");
	ck_assert_ptr_null(res);
	job_harness_close(&h);
}
END_TEST

START_TEST(no_time_for_any_row_retries)
{
	struct probe p = {0};
	struct scan s = {.page = 3, .arg = &p, .each = probe_each, .result = probe_result};
	json_t *payload = json_object();
	struct job_ctx ctx;

	setup(_i);
	s.sql = "SELECT id, 1 FROM users WHERE id > $1 ORDER BY id LIMIT $2";
	s.what = "probe user";
	/* Less than the scan's reserve is left. */
	job_ctx_init(&ctx, job_types_find(SCAN_TYPE), payload, 0, time_mono_ms() + 1000, &h.svc);
	ck_assert_int_eq(scan_run(&ctx, &s), JOB_RETRY);
	ck_assert_str_eq(ctx.error_code, "deadline_exceeded");
	ck_assert_int_eq(p.calls, 0);
	ck_assert_int_eq(p.results, 0);
	job_ctx_release(&ctx);
	json_decref(payload);
	ck_assert_int_eq(ncreates(NULL), 0);
	job_harness_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scan");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, default_enqueues_per_user_tasks, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, each_and_result_make_the_page, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, a_failing_row_stops_the_page, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, no_time_for_any_row_retries, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
