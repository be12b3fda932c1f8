/*
 * test_job_types.c - unit tests for src/job_types.c: every job type of SPEC
 * §7 and ping is listed with its queue and a schema; the lookups by name
 * and by queue find the same rows; unknown names and queues are NULL.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "job_types.h"

/* SPEC §7's table: type and queue. */
static const struct {
	const char *name, *queue;
} spec[] = {
    {"token-refresh", "token-refresh-queue"},
    {"google-contacts-sync", "google-contacts-sync-queue"},
    {"calendar-sync", "calendar-sync-queue"},
    {"suggestion-generation", "suggestion-generation-queue"},
    {"suggestion-regeneration", "suggestion-regeneration-queue"},
    {"batch-notifications", "batch-notifications-queue"},
    {"notification-reminder", "notification-reminder-queue"},
    {"token-health-reminder", "token-health-reminder-queue"},
    {"webhook-renewal", "webhook-renewal-queue"},
    {"webhook-health-check", "webhook-health-check-queue"},
    {"adaptive-sync", "adaptive-sync-queue"},
    {"ping", "ping-queue"},
};

#define NSPEC (sizeof(spec) / sizeof(spec[0]))

START_TEST(spec_types_present_with_their_queue)
{
	const struct job_type *t;
	size_t i;

	for (i = 0; i < NSPEC; i++) {
		t = job_types_find(spec[i].name);
		ck_assert_msg(t != NULL, "%s missing", spec[i].name);
		ck_assert_str_eq(t->name, spec[i].name);
		ck_assert_str_eq(t->queue, spec[i].queue);
		ck_assert_ptr_nonnull(t->fields);
	}
}
END_TEST

START_TEST(table_is_exactly_the_spec)
{
	const struct job_type *all;
	size_t n, i, j;

	all = job_types_all(&n);
	ck_assert_uint_eq(n, NSPEC);
	for (i = 0; i < n; i++) {
		ck_assert_ptr_eq(job_types_find(all[i].name), &all[i]);
		ck_assert_ptr_eq(job_types_find_by_queue(all[i].queue), &all[i]);
		/* One queue per type. */
		for (j = i + 1; j < n; j++)
			ck_assert_str_ne(all[i].queue, all[j].queue);
	}
}
END_TEST

START_TEST(lookups_by_queue)
{
	ck_assert_str_eq(job_types_find_by_queue("calendar-sync-queue")->name, "calendar-sync");
	ck_assert_str_eq(job_types_find_by_queue("ping-queue")->name, "ping");
}
END_TEST

START_TEST(unknown_is_null)
{
	ck_assert_ptr_null(job_types_find("nope"));
	ck_assert_ptr_null(job_types_find(""));
	ck_assert_ptr_null(job_types_find("ping-queue"));
	ck_assert_ptr_null(job_types_find("PING"));
	ck_assert_ptr_null(job_types_find(NULL));
	ck_assert_ptr_null(job_types_find_by_queue("nope-queue"));
	ck_assert_ptr_null(job_types_find_by_queue("ping"));
	ck_assert_ptr_null(job_types_find_by_queue(NULL));
}
END_TEST

/* The schemas the table names: spot checks that the rows point at the right
 * one (test_schema.c covers the validator itself). */
START_TEST(schemas_match_the_spec)
{
	const struct field_spec *f;

	f = job_types_find("calendar-sync")->fields;
	ck_assert_str_eq(f[0].name, "userId");
	ck_assert_int_eq(f[0].required, 1);
	ck_assert_str_eq(f[1].name, "calendarId");
	ck_assert_str_eq(f[2].name, "full");
	ck_assert_ptr_null(f[3].name);
	f = job_types_find("token-refresh")->fields;
	ck_assert_str_eq(f[0].name, "userId");
	ck_assert_int_eq(f[0].required, 0);
	ck_assert_str_eq(f[1].name, "cursor");
	ck_assert_int_eq(f[1].max, 500);
	f = job_types_find("adaptive-sync")->fields;
	ck_assert_str_eq(f[0].name, "cursor");
	ck_assert_int_eq(f[0].required, 0);
	ck_assert_ptr_null(f[1].name);
	f = job_types_find("ping")->fields;
	ck_assert_str_eq(f[0].name, "fail");
	ck_assert_str_eq(f[1].name, "sleepMs");
	ck_assert_int_eq(f[1].max, 30000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("job_types");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, spec_types_present_with_their_queue);
	tcase_add_test(tc, table_is_exactly_the_spec);
	tcase_add_test(tc, lookups_by_queue);
	tcase_add_test(tc, unknown_is_null);
	tcase_add_test(tc, schemas_match_the_spec);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
