/*
 * test_router.c - unit tests for src/router.c: route matching and the
 * result-code → HTTP status → error-code mapping.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "router.h"

START_TEST(matches_routes)
{
	struct route r;

	router_match("/jobs/ping", &r);
	ck_assert_int_eq(r.id, ROUTE_JOB);
	ck_assert_str_eq(r.param, "ping");
	router_match("/jobs/", &r);
	ck_assert_int_eq(r.id, ROUTE_NONE);
	router_match("/jobs/a/b", &r);
	ck_assert_int_eq(r.id, ROUTE_NONE);
	router_match("/enqueue/calendar-sync", &r);
	ck_assert_int_eq(r.id, ROUTE_ENQUEUE);
	ck_assert_str_eq(r.param, "calendar-sync");
	ck_assert_str_eq(r.method, "POST");
	router_match("/admin/dead-letters", &r);
	ck_assert_int_eq(r.id, ROUTE_DEAD_LETTERS);
	ck_assert_str_eq(r.method, "GET");
	router_match("/admin/dead-letters/abc123/replay", &r);
	ck_assert_int_eq(r.id, ROUTE_DL_REPLAY);
	ck_assert_str_eq(r.param, "abc123");
	router_match("/admin/dead-letters//replay", &r);
	ck_assert_int_eq(r.id, ROUTE_NONE);
	router_match("/admin/dead-letters/x/replayed", &r);
	ck_assert_int_eq(r.id, ROUTE_NONE);
	router_match("/health/live", &r);
	ck_assert_int_eq(r.id, ROUTE_HEALTH_LIVE);
	router_match("/health/ready", &r);
	ck_assert_int_eq(r.id, ROUTE_HEALTH_READY);
	router_match("/metrics", &r);
	ck_assert_int_eq(r.id, ROUTE_METRICS);
	router_match("/webhooks/google-calendar", &r);
	ck_assert_int_eq(r.id, ROUTE_CALENDAR_HOOK);
	router_match("/healthz", &r);
	ck_assert_int_eq(r.id, ROUTE_NONE);
}
END_TEST

START_TEST(long_parameters_are_not_routes)
{
	char path[2048];
	struct route r;

	memset(path, 'a', sizeof(path));
	memcpy(path, "/jobs/", 6);
	path[sizeof(path) - 1] = '\0';
	router_match(path, &r);
	ck_assert_int_eq(r.id, ROUTE_NONE);
}
END_TEST

START_TEST(status_mapping)
{
	ck_assert_int_eq(router_status(CJ_OK), 200);
	ck_assert_int_eq(router_status(CJ_EINVAL), 400);
	ck_assert_int_eq(router_status(CJ_EAUTH), 401);
	ck_assert_int_eq(router_status(CJ_EFORBIDDEN), 403);
	ck_assert_int_eq(router_status(CJ_ENOTFOUND), 404);
	ck_assert_int_eq(router_status(CJ_EEXISTS), 409);
	ck_assert_int_eq(router_status(CJ_ETOOBIG), 413);
	ck_assert_int_eq(router_status(CJ_EUNAVAIL), 503);
	ck_assert_int_eq(router_status(CJ_ENOKEYS), 503);
	ck_assert_int_eq(router_status(CJ_ENOMEM), 500);
	ck_assert_str_eq(router_error_code(401), "unauthenticated");
	ck_assert_str_eq(router_error_code(405), "method_not_allowed");
	ck_assert_str_eq(router_error_code(415), "unsupported_media_type");
	ck_assert_str_eq(router_error_code(501), "not_implemented");
	ck_assert_str_eq(router_error_code(503), "unavailable");
	ck_assert_str_eq(router_error_code(500), "internal");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, matches_routes);
	tcase_add_test(tc, long_parameters_are_not_routes);
	tcase_add_test(tc, status_mapping);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
