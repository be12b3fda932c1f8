/*
 * test_gauth.c - unit tests for src/gauth.c against tests/fixtures/
 * fake_google: metadata tokens are cached and fetched single flight (20
 * concurrent callers, exactly one fetch, also when it fails); the
 * service-account key file's JWT-bearer grant is verified by the fake
 * (signature, kid, iss, aud, scope, iat/exp); broken key files are refused
 * with messages that name file and field and never show the key.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "fake_cloud.h"
#include "gauth.h"
#include "http_client.h"

#define SA_EMAIL "catchup-runtime@test-project.iam.gserviceaccount.com"
#define SA_KID "0123456789abcdef0123456789abcdef01234567"

static struct fake_cloud fc;
static char *tmpdir, *private_pem, key_path[1024], pub_path[1024];

static void start_fake(void)
{
	struct fake_cloud_opts o = {NULL, pub_path, SA_EMAIL, SA_KID};
	char uri[128];

	tmpdir = make_temp_dir();
	ck_assert_ptr_nonnull(tmpdir);
	snprintf(pub_path, sizeof(pub_path), "%s/sa.pub.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/sa.json", tmpdir);
	private_pem = fake_cloud_gen_key(pub_path);
	ck_assert_ptr_nonnull(private_pem);
	ck_assert_int_eq(fake_cloud_start(&fc, &o), 0);
	snprintf(uri, sizeof(uri), "%s/token", fc.url);
	ck_assert_int_eq(fake_cloud_write_key_file(key_path, private_pem, SA_EMAIL, SA_KID, uri),
	                 0);
}

static void stop_fake(void)
{
	fake_cloud_stop(&fc);
	remove_tree(tmpdir);
	free(tmpdir);
	free(private_pem);
}

static void reset_fake(void)
{
	ck_assert_int_eq(fake_cloud_reset(&fc), 0);
	ck_assert_int_eq(fake_cloud_post(&fc, "config", "{\"expiresIn\":3599}"), 0);
}

/* A gauth from a config pointing at the fake, plus overrides. */
static struct gauth *new_gauth(const char *const *extra, struct config *cfg)
{
	struct gauth *g = NULL;
	char err[512] = "";

	ck_assert_int_eq(fake_cloud_config(&fc, extra, cfg), 0);
	ck_assert_msg(gauth_new(cfg, &g, err, sizeof(err)) == CJ_OK, "%s", err);
	return g;
}

START_TEST(metadata_token_is_cached)
{
	char t1[GAUTH_TOKEN_MAX], t2[GAUTH_TOKEN_MAX], err[512], small[8];
	struct config cfg;
	struct gauth *g = new_gauth(NULL, &cfg);

	ck_assert_int_eq(gauth_token(g, t1, sizeof(t1), err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(strncmp(t1, "ya29.fake-meta-", 15), 0);
	ck_assert_int_eq(gauth_token(g, t2, sizeof(t2), err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(t1, t2);
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 1);
	ck_assert_ptr_null(gauth_account(g));
	ck_assert_int_eq(gauth_token(g, small, sizeof(small), err, sizeof(err)), CJ_ETOOBIG);

	/* After an API refused it, the next call fetches a new one. */
	gauth_invalidate(g);
	ck_assert_int_eq(gauth_token(g, t2, sizeof(t2), err, sizeof(err)), CJ_OK);
	ck_assert_str_ne(t1, t2);
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 2);
	gauth_free(g);
	gauth_free(NULL);
	config_release(&cfg);
}
END_TEST

START_TEST(short_lived_token_is_renewed)
{
	char t1[GAUTH_TOKEN_MAX], t2[GAUTH_TOKEN_MAX], err[512];
	struct config cfg;
	struct gauth *g = new_gauth(NULL, &cfg);

	/* A 1 s token is kept for half its life, then fetched again. */
	ck_assert_int_eq(fake_cloud_post(&fc, "config", "{\"expiresIn\":1}"), 0);
	ck_assert_int_eq(gauth_token(g, t1, sizeof(t1), err, sizeof(err)), CJ_OK);
	msleep(1200);
	ck_assert_int_eq(gauth_token(g, t2, sizeof(t2), err, sizeof(err)), CJ_OK);
	ck_assert_str_ne(t1, t2);
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 2);
	gauth_free(g);
	config_release(&cfg);
}
END_TEST

struct caller {
	struct gauth *g;
	pthread_barrier_t *start;
	int rc;
	char token[GAUTH_TOKEN_MAX];
	char err[256];
};

static void *call_token(void *arg)
{
	struct caller *c = arg;

	pthread_barrier_wait(c->start);
	c->rc = gauth_token(c->g, c->token, sizeof(c->token), c->err, sizeof(c->err));
	return NULL;
}

/* 20 threads ask at once while the fetch is slow; returns their results. */
static void twenty_callers(struct gauth *g, struct caller *c)
{
	pthread_t th[20];
	pthread_barrier_t start;
	int i;

	pthread_barrier_init(&start, NULL, 20);
	for (i = 0; i < 20; i++) {
		c[i].g = g;
		c[i].start = &start;
		ck_assert_int_eq(pthread_create(&th[i], NULL, call_token, &c[i]), 0);
	}
	for (i = 0; i < 20; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
}

START_TEST(single_flight_success)
{
	struct caller c[20];
	struct config cfg;
	struct gauth *g = new_gauth(NULL, &cfg);
	int i;

	ck_assert_int_eq(fake_cloud_fail(&fc, "metadata", 1, 0, 400), 0);
	twenty_callers(g, c);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(c[i].rc, CJ_OK);
		ck_assert_str_eq(c[i].token, c[0].token);
	}
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 1);
	gauth_free(g);
	config_release(&cfg);
}
END_TEST

START_TEST(single_flight_failure_is_shared)
{
	char tok[GAUTH_TOKEN_MAX], err[512];
	struct caller c[20];
	struct config cfg;
	struct gauth *g = new_gauth(NULL, &cfg);
	int i;

	ck_assert_int_eq(fake_cloud_fail(&fc, "metadata", 1, 503, 400), 0);
	twenty_callers(g, c);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(c[i].rc, CJ_EUNAVAIL);
		ck_assert_ptr_nonnull(strstr(c[i].err, "503"));
	}
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 1);
	/* A failure is not cached: the next caller tries again. */
	ck_assert_int_eq(gauth_token(g, tok, sizeof(tok), err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 2);
	gauth_free(g);
	config_release(&cfg);
}
END_TEST

START_TEST(metadata_errors)
{
	const char *unreachable[] = {"GCE_METADATA_HOST=127.0.0.1:1", NULL};
	char tok[GAUTH_TOKEN_MAX], err[512];
	struct config cfg;
	struct gauth *g = new_gauth(NULL, &cfg);

	ck_assert_int_eq(fake_cloud_fail(&fc, "metadata", 1, 404, 0), 0);
	ck_assert_int_eq(gauth_token(g, tok, sizeof(tok), err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "metadata server"));
	ck_assert_int_eq(fake_cloud_fail(&fc, "metadata", 1, 429, 0), 0);
	ck_assert_int_eq(gauth_token(g, tok, sizeof(tok), err, sizeof(err)), CJ_EUNAVAIL);
	gauth_free(g);
	config_release(&cfg);

	g = new_gauth(unreachable, &cfg);
	ck_assert_int_eq(gauth_token(g, tok, sizeof(tok), err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(err, "unreachable"));
	gauth_free(g);
	config_release(&cfg);
}
END_TEST

START_TEST(key_file_grant_verified_by_fake)
{
	const char *extra[] = {NULL, NULL};
	char t1[GAUTH_TOKEN_MAX], t2[GAUTH_TOKEN_MAX], err[512], var[1100];
	struct config cfg;
	struct gauth *g;

	snprintf(var, sizeof(var), "GOOGLE_APPLICATION_CREDENTIALS=%s", key_path);
	extra[0] = var;
	g = new_gauth(extra, &cfg);
	ck_assert_str_eq(gauth_account(g), SA_EMAIL);
	ck_assert_msg(gauth_token(g, t1, sizeof(t1), err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_int_eq(strncmp(t1, "ya29.fake-sa-", 13), 0);
	ck_assert_int_eq(gauth_token(g, t2, sizeof(t2), err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(t1, t2);
	ck_assert_int_eq(fake_cloud_stat(&fc, "tokenCalls"), 1);
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 0);

	/* The token endpoint failing is transient. */
	gauth_invalidate(g);
	ck_assert_int_eq(fake_cloud_fail(&fc, "token", 1, 503, 0), 0);
	ck_assert_int_eq(gauth_token(g, t2, sizeof(t2), err, sizeof(err)), CJ_EUNAVAIL);
	gauth_free(g);
	config_release(&cfg);
}
END_TEST

/* Writes a key file with one field replaced (value NULL: removed). */
static void write_variant(const char *path, const char *field, json_t *value)
{
	json_t *j = json_load_file(key_path, 0, NULL);

	ck_assert_ptr_nonnull(j);
	if (value)
		json_object_set_new(j, field, value);
	else
		json_object_del(j, field);
	ck_assert_int_eq(json_dump_file(j, path, 0), 0);
	json_decref(j);
}

static void expect_key_error(const char *path, const char *fragment)
{
	const char *extra[] = {NULL, NULL};
	struct gauth *g = (struct gauth *)1;
	char err[512], var[1100];
	struct config cfg;

	snprintf(var, sizeof(var), "GOOGLE_APPLICATION_CREDENTIALS=%s", path);
	extra[0] = var;
	ck_assert_int_eq(fake_cloud_config(&fc, extra, &cfg), 0);
	ck_assert_int_eq(gauth_new(&cfg, &g, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_null(g);
	ck_assert_msg(strstr(err, path) && strstr(err, fragment), "error \"%s\" lacks \"%s\"", err,
	              fragment);
	ck_assert_ptr_null(strstr(err, "PRIVATE KEY"));
	ck_assert_ptr_null(strstr(err, "MII"));
	config_release(&cfg);
}

START_TEST(bad_key_files)
{
	char path[1100];
	FILE *f;

	snprintf(path, sizeof(path), "%s/variant.json", tmpdir);
	expect_key_error("/nonexistent/sa.json", "cannot be opened");
	write_variant(path, "type", json_string("authorized_user"));
	expect_key_error(path, "field type");
	write_variant(path, "private_key_id", NULL);
	expect_key_error(path, "field private_key_id: missing");
	write_variant(path, "client_email", json_integer(7));
	expect_key_error(path, "field client_email");
	write_variant(path, "token_uri", json_string("ftp://example.com/token"));
	expect_key_error(path, "field token_uri");
	write_variant(
	    path, "private_key",
	    json_string("-----BEGIN PRIVATE KEY-----\nMIIBroken\n-----END PRIVATE KEY-----\n"));
	expect_key_error(path, "field private_key: not a PEM private key");
	f = fopen(path, "w");
	fputs("{\"type\": \"service_account\",", f);
	fclose(f);
	expect_key_error(path, "not a JSON object");
}
END_TEST

START_TEST(wrong_key_is_refused_by_google)
{
	char other_pub[1100], path[1100], uri[128], tok[GAUTH_TOKEN_MAX], err[512], var[1200];
	const char *extra[] = {var, NULL};
	char *other = NULL;
	struct config cfg;
	struct gauth *g;

	snprintf(other_pub, sizeof(other_pub), "%s/other.pub.pem", tmpdir);
	snprintf(path, sizeof(path), "%s/other.json", tmpdir);
	snprintf(uri, sizeof(uri), "%s/token", fc.url);
	other = fake_cloud_gen_key(other_pub);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(fake_cloud_write_key_file(path, other, SA_EMAIL, SA_KID, uri), 0);
	snprintf(var, sizeof(var), "GOOGLE_APPLICATION_CREDENTIALS=%s", path);
	g = new_gauth(extra, &cfg);
	ck_assert_int_eq(gauth_token(g, tok, sizeof(tok), err, sizeof(err)), CJ_ECONFIG);
	ck_assert_msg(strstr(err, "invalid_grant") && strstr(err, SA_EMAIL), "%s", err);
	ck_assert_int_eq(fake_cloud_stat(&fc, "tokenCalls"), 1);
	gauth_free(g);
	config_release(&cfg);

	/* Same key, audience not the token endpoint's URL. */
	snprintf(uri, sizeof(uri), "%s/token?x=1", fc.url);
	ck_assert_int_eq(fake_cloud_write_key_file(path, private_pem, SA_EMAIL, SA_KID, uri), 0);
	g = new_gauth(extra, &cfg);
	ck_assert_int_eq(gauth_token(g, tok, sizeof(tok), err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "aud"));
	gauth_free(g);
	config_release(&cfg);
	free(other);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gauth");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init())
		return 1;
	tcase_add_unchecked_fixture(tc, start_fake, stop_fake);
	tcase_add_checked_fixture(tc, reset_fake, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, metadata_token_is_cached);
	tcase_add_test(tc, short_lived_token_is_renewed);
	tcase_add_test(tc, single_flight_success);
	tcase_add_test(tc, single_flight_failure_is_shared);
	tcase_add_test(tc, metadata_errors);
	tcase_add_test(tc, key_file_grant_verified_by_fake);
	tcase_add_test(tc, bad_key_files);
	tcase_add_test(tc, wrong_key_is_refused_by_google);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
