/*
 * test_config.c - unit tests for src/config.c: local and cloud defaults,
 * derived defaults, validation errors naming the variable, secrets never
 * echoed.
 */
#include <check.h>
#include <string.h>

#include "ckrun.h"
#include "config.h"
#include "log.h"

struct env {
	const char *const *kv; /* NAME, value, NAME, value, ..., NULL */
};

static const char *lookup(const char *name, void *arg)
{
	const struct env *e = arg;

	for (const char *const *p = e->kv; p && *p; p += 2) {
		if (!strcmp(*p, name))
			return p[1];
	}
	return NULL;
}

static int load(struct config *c, const char *const *kv, char *err, size_t errlen)
{
	struct env e = {kv};

	return config_load(c, lookup, &e, err, errlen);
}

START_TEST(local_defaults)
{
	struct config c;
	char err[256];

	ck_assert_int_eq(load(&c, NULL, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(c.cloud_mode, 0);
	ck_assert_int_eq(c.port, 8080);
	ck_assert_str_eq(c.bind_address, "127.0.0.1");
	ck_assert_str_eq(c.gcp_project_id, "local");
	ck_assert_str_eq(c.cloud_run_url, "http://127.0.0.1:8080");
	ck_assert_str_eq(c.oidc_audience.items[0], "http://127.0.0.1:8080");
	ck_assert_str_eq(c.oidc_allowed_emails.items[0], "local-tasks@catchup-jobs.local");
	ck_assert_str_eq(c.enqueue_allowed_emails.items[0], "local-tasks@catchup-jobs.local");
	ck_assert_uint_eq(c.oidc_issuers.n, 2);
	ck_assert_ptr_null(c.upstash_url);
	ck_assert_ptr_null(c.token_encryption_key);
	ck_assert_int_eq(c.idempotency_fail_open, 0);
	ck_assert_int_eq(c.idempotency_ttl_seconds, 86400);
	ck_assert_int_eq(c.max_body_bytes, 1048576);
	ck_assert_int_eq(c.shutdown_grace_seconds, 9);
	ck_assert_int_eq(c.log_level, L_INFO);
	ck_assert_str_eq(c.database_url, "sqlite:./data/catchup.db");
	ck_assert_ptr_null(c.console_oauth_client_id);
	config_release(&c);
}
END_TEST

/* The console's OAuth client id: one word, no list (it is compared whole
 * with a token's aud); unset and empty mean none. */
START_TEST(console_client_id)
{
	static const char *const bad[] = {"a b", "a,b", "id,", "x\ty"};
	const char *ok[] = {"CONSOLE_OAUTH_CLIENT_ID", "123-abc.apps.googleusercontent.com", NULL};
	const char *empty[] = {"CONSOLE_OAUTH_CLIENT_ID", "", NULL};
	struct config c;
	char err[256];

	ck_assert_int_eq(load(&c, ok, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(c.console_oauth_client_id, "123-abc.apps.googleusercontent.com");
	config_release(&c);
	ck_assert_int_eq(load(&c, empty, err, sizeof(err)), CJ_OK);
	ck_assert_ptr_null(c.console_oauth_client_id);
	config_release(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *kv[] = {"CONSOLE_OAUTH_CLIENT_ID", bad[i], NULL};

		ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_ECONFIG);
		ck_assert_msg(strstr(err, "CONSOLE_OAUTH_CLIENT_ID"), "%s", err);
	}
}
END_TEST

START_TEST(derived_defaults_follow_their_source)
{
	const char *kv[] = {"PORT", "9090", "OIDC_ALLOWED_EMAILS", "a@x, b@x", NULL};
	struct config c;
	char err[256];

	ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(c.cloud_run_url, "http://127.0.0.1:9090");
	ck_assert_uint_eq(c.oidc_allowed_emails.n, 2);
	ck_assert_str_eq(c.oidc_allowed_emails.items[1], "b@x");
	ck_assert(strlist_contains(&c.enqueue_allowed_emails, "a@x"));
	config_release(&c);
}
END_TEST

START_TEST(cloud_mode_requires_its_variables)
{
	const char *kv[] = {"USE_CLOUD_TASKS",
	                    "true",
	                    "GCP_PROJECT_ID",
	                    "proj",
	                    "GCP_REGION",
	                    "europe-west1",
	                    "CLOUD_RUN_URL",
	                    "https://svc-abc.a.run.app/",
	                    "SERVICE_ACCOUNT_EMAIL",
	                    "tasks@proj.iam.gserviceaccount.com",
	                    "UPSTASH_REDIS_REST_URL",
	                    "https://eu1.upstash.io",
	                    "UPSTASH_REDIS_REST_TOKEN",
	                    "s3cr3t-token",
	                    "TOKEN_ENCRYPTION_KEY",
	                    "k",
	                    NULL};
	struct config c;
	char err[256];

	ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(c.cloud_mode, 1);
	ck_assert_str_eq(c.bind_address, "0.0.0.0");
	ck_assert_str_eq(c.cloud_run_url, "https://svc-abc.a.run.app");
	ck_assert_str_eq(c.oidc_audience.items[0], "https://svc-abc.a.run.app");
	config_release(&c);
	kv[14] = NULL; /* drop TOKEN_ENCRYPTION_KEY and beyond */
	ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_str_eq(err,
	                 "invalid configuration: required in cloud mode "
	                 "(USE_CLOUD_TASKS=true): TOKEN_ENCRYPTION_KEY");
	kv[10] = NULL; /* and Upstash */
	ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_str_eq(err,
	                 "invalid configuration: required in cloud mode "
	                 "(USE_CLOUD_TASKS=true): UPSTASH_REDIS_REST_URL, "
	                 "UPSTASH_REDIS_REST_TOKEN, TOKEN_ENCRYPTION_KEY");
}
END_TEST

START_TEST(cloud_mode_names_every_missing_variable_at_once)
{
	/* Set but empty counts as unset. */
	const char *kv[] = {"USE_CLOUD_TASKS", "true", "GCP_REGION", "", NULL};
	struct config c;
	char err[256];

	ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_str_eq(err,
	                 "invalid configuration: required in cloud mode "
	                 "(USE_CLOUD_TASKS=true): GCP_PROJECT_ID, GCP_REGION, "
	                 "CLOUD_RUN_URL, SERVICE_ACCOUNT_EMAIL, UPSTASH_REDIS_REST_URL, "
	                 "UPSTASH_REDIS_REST_TOKEN, TOKEN_ENCRYPTION_KEY");
	/* A short buffer truncates the message but never overruns. */
	ck_assert_int_eq(load(&c, kv, err, 40), CJ_ECONFIG);
	ck_assert_uint_eq(strlen(err), 39);
}
END_TEST

START_TEST(database_url_scheme_is_checked)
{
	static const char *const good[][2] = {
	    {"postgres://u:pw@db.internal:5432/catchup",
	     "postgres://u:pw@db.internal:5432/catchup"},
	    {"postgresql://u@/catchup?host=/cloudsql/p:r:i",
	     "postgresql://u@/catchup?host=/cloudsql/p:r:i"},
	    {"sqlite:./data/x.db", "sqlite:./data/x.db"},
	    {"sqlite:///var/lib/catchup.db", "sqlite:///var/lib/catchup.db"},
	};
	static const char *const bad[] = {
	    "mysql://admin:hunter2@db/catchup",
	    "postgres:/admin:hunter2@db/catchup",
	    "admin:hunter2@db/catchup",
	    "POSTGRES://admin:hunter2@db/catchup",
	    "sqlite:",
	    "sqlite://",
	    "sqlite::memory:",
	    "sqlite:file:hunter2.db?mode=memory",
	};
	struct config c;
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *kv[] = {"DATABASE_URL", good[i][0], NULL};

		ck_assert_msg(load(&c, kv, err, sizeof(err)) == CJ_OK, "%s: %s", good[i][0], err);
		ck_assert_str_eq(c.database_url, good[i][1]);
		config_release(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *kv[] = {"DATABASE_URL", bad[i], NULL};

		ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_ECONFIG);
		ck_assert_msg(!strncmp(err, "invalid DATABASE_URL: ", 22), "%s: %s", bad[i], err);
		ck_assert_msg(!strstr(err, "hunter2"), "%s: %s", bad[i], err);
		ck_assert_ptr_null(strchr(err, '\n'));
	}
}
END_TEST

START_TEST(bad_values_name_the_variable)
{
	static const char *const cases[][3] = {
	    {"PORT", "0", "PORT"},
	    {"PORT", "12ab", "PORT"},
	    {"USE_CLOUD_TASKS", "yes", "USE_CLOUD_TASKS"},
	    {"IDEMPOTENCY_FAIL_MODE", "half", "IDEMPOTENCY_FAIL_MODE"},
	    {"IDEMPOTENCY_TTL_SECONDS", "100", "IDEMPOTENCY_TTL_SECONDS"},
	    {"LOG_LEVEL", "trace", "LOG_LEVEL"},
	    {"OIDC_JWKS_URL", "not a url", "OIDC_JWKS_URL"},
	    {"GCE_METADATA_HOST", "host:99999", "GCE_METADATA_HOST"},
	    {"OIDC_ISSUERS", ",", "OIDC_ISSUERS"},
	    {"MAX_BODY_BYTES", "10", "MAX_BODY_BYTES"},
	    {"SHUTDOWN_GRACE_SECONDS", "-1", "SHUTDOWN_GRACE_SECONDS"},
	    {"DATABASE_URL", "mysql://db/catchup", "invalid DATABASE_URL: "},
	};
	struct config c;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *kv[] = {cases[i][0], cases[i][1], NULL};

		ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_ECONFIG);
		ck_assert_msg(strstr(err, cases[i][2]) != NULL, "%s", err);
	}
}
END_TEST

START_TEST(secrets_are_not_echoed)
{
	const char *kv[] = {"UPSTASH_REDIS_REST_TOKEN", "sup3r-s3cret", NULL};
	struct config c;
	char err[256];

	ck_assert_int_eq(load(&c, kv, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_null(strstr(err, "sup3r-s3cret"));
	ck_assert_ptr_nonnull(strstr(err, "UPSTASH_REDIS_REST_URL"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, local_defaults);
	tcase_add_test(tc, derived_defaults_follow_their_source);
	tcase_add_test(tc, console_client_id);
	tcase_add_test(tc, cloud_mode_requires_its_variables);
	tcase_add_test(tc, cloud_mode_names_every_missing_variable_at_once);
	tcase_add_test(tc, database_url_scheme_is_checked);
	tcase_add_test(tc, bad_values_name_the_variable);
	tcase_add_test(tc, secrets_are_not_echoed);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
