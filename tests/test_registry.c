/*
 * test_registry.c - unit tests for handlers/registry.c: exactly the types
 * listed here have a handler (a misspelt row in the registry would leave
 * its type answering 501), every other type and a NULL type have none.
 * Adding a handler adds its type to `implemented`.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "handlers.h"
#include "registry.h"

static const char *const implemented[] = {"token-refresh",
                                          "google-contacts-sync",
                                          "calendar-sync",
                                          "suggestion-generation",
                                          "suggestion-regeneration",
                                          "batch-notifications",
                                          "notification-reminder",
                                          "token-health-reminder",
                                          "webhook-renewal",
                                          "webhook-health-check",
                                          "adaptive-sync",
                                          "ping",
                                          NULL};

static int is_implemented(const char *name)
{
	for (size_t i = 0; implemented[i]; i++)
		if (!strcmp(implemented[i], name))
			return 1;
	return 0;
}

START_TEST(handlers_for_exactly_the_implemented_types)
{
	const struct job_type *all;
	size_t n, i;

	all = job_types_all(&n);
	for (i = 0; i < n; i++) {
		if (is_implemented(all[i].name))
			ck_assert_msg(registry_handler(&all[i]) != NULL, "%s has no handler",
			              all[i].name);
		else
			ck_assert_msg(registry_handler(&all[i]) == NULL,
			              "%s has a handler: add it to implemented", all[i].name);
	}
	for (i = 0; implemented[i]; i++)
		ck_assert_msg(job_types_find(implemented[i]) != NULL, "%s is not a job type",
		              implemented[i]);
}
END_TEST

START_TEST(ping_runs_handle_ping)
{
	ck_assert(registry_handler(job_types_find("ping")) == handle_ping);
}
END_TEST

START_TEST(no_type_no_handler)
{
	const struct job_type unknown = {"nope", "nope-queue", NULL};

	ck_assert(registry_handler(NULL) == NULL);
	ck_assert(registry_handler(&unknown) == NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, handlers_for_exactly_the_implemented_types);
	tcase_add_test(tc, ping_runs_handle_ping);
	tcase_add_test(tc, no_type_no_handler);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
