/*
 * test_metrics.c - unit tests for src/metrics.c: counters, histograms and the
 * gauge rendered in Prometheus text format; label escaping; concurrency.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "metrics.h"

static char *render(void)
{
	struct buf b = BUF_INIT(1 << 20);

	ck_assert_int_eq(metrics_render(&b), CJ_OK);
	return buf_detach(&b, NULL);
}

static void *bump(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		metrics_request("ping", "completed");
	return NULL;
}

START_TEST(exposition)
{
	pthread_t th[4];
	char *out;

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, bump, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	metrics_job_duration("ping", 0.003);
	metrics_job_duration("ping", 2.0);
	metrics_auth_failure("expired");
	metrics_inflight_add(3);
	metrics_inflight_add(-1);
	metrics_upstream("redis", "claim", 0.0005);
	metrics_enqueue("ping", "created");
	metrics_dead_letter("ping");
	metrics_claim_lost();
	metrics_auth_failure("we\"ird\\");
	out = render();
	ck_assert_ptr_nonnull(
	    strstr(out, "catchup_jobs_requests_total{type=\"ping\",outcome=\"completed\"} 4000\n"));
	ck_assert_ptr_nonnull(strstr(
	    out, "catchup_jobs_job_duration_seconds_bucket{type=\"ping\",le=\"0.005\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(out, "catchup_jobs_job_duration_seconds_bucket{type=\"ping\",le=\"+Inf\"} 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(out, "catchup_jobs_job_duration_seconds_count{type=\"ping\"} 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(out, "catchup_jobs_auth_failures_total{reason=\"expired\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "catchup_jobs_inflight_jobs 2\n"));
	ck_assert_ptr_nonnull(strstr(
	    out,
	    "catchup_jobs_upstream_duration_seconds_count{upstream=\"redis\",op=\"claim\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(out, "catchup_jobs_enqueue_total{type=\"ping\",result=\"created\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "catchup_jobs_dead_letters_total{type=\"ping\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "catchup_jobs_claims_lost_total 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "reason=\"we\\\"ird\\\\\""));
	ck_assert_ptr_nonnull(strstr(out, "# TYPE catchup_jobs_job_duration_seconds histogram\n"));
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, exposition);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
