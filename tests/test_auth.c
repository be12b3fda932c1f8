/*
 * test_auth.c - unit tests for src/auth.c: channel-secret authentication of
 * Calendar push notifications (SPEC §5.5) against webhook_channels on SQLite
 * and PostgreSQL. OIDC authentication is end to end in
 * tests/integration/test_auth.c.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ckrun.h"
#include "migrate.h"
#include "pgtest.h"
#include "proc.h"
#include "store.h"

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	ck_assert(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL));
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void sql(struct store *s, const char *q)
{
	char err[256];

	ck_assert_msg(store_exec(s, q, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s: %s", q, err);
}

static void add_channel(struct store *s, const char *id, const char *token, const char *status)
{
	struct store_param p[3];
	char hash[65], err[256];

	sha256_hex(token, hash);
	p[0] = store_p_text(id);
	p[1] = store_p_text(hash);
	p[2] = store_p_text(status);
	ck_assert_msg(store_exec(s,
	                         "INSERT INTO webhook_channels (id, user_id, calendar_id, "
	                         "token_hash, expiration, status, created_at, updated_at) "
	                         "VALUES ($1, 'u1', 'primary', $2, 4000000000, $3, 1, 1)",
	                         p, 3, NULL, err, sizeof(err)) == CJ_OK,
	              "%s", err);
}

START_TEST(channel_secrets)
{
	char *dir = NULL, *url = pgtest_backend_url(_i, &dir), err[256], user[64];
	struct store *s = NULL;

	ck_assert_ptr_nonnull(url);
	ck_assert_msg(store_open(url, &s, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_msg(migrate_run(s, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	sql(s,
	    "INSERT INTO users (id, email, created_at, updated_at) "
	    "VALUES ('u1', 'a@example.com', 1, 1)");
	add_channel(s, "ch-live", "s3cret-token", "active");
	add_channel(s, "ch-old", "old-token", "stopped");
	add_channel(s, "ch-ended", "ended-token", "active");
	sql(s, "UPDATE webhook_channels SET expiration = 1000 WHERE id = 'ch-ended'");
	add_channel(s, "ch-new", "new-token", "pending");

	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-live", "s3cret-token", user, sizeof(user), err, sizeof(err)),
	    CJ_OK);
	ck_assert_str_eq(user, "u1");
	/* Everything else is the same "not found", whatever is wrong. */
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-live", "s3cret-tokeN", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_str_eq(user, "");
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-live", "", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-live", NULL, user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_int_eq(
	    auth_channel_verify(s, NULL, "s3cret-token", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-nope", "s3cret-token", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	/* A stopped channel is no channel, even with its own token. */
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-old", "old-token", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	/* Active but past its expiration: Google no longer sends on it. */
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-ended", "ended-token", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	/* Being made: Google's first message may beat its watch answer. */
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-new", "new-token", user, sizeof(user), err, sizeof(err)),
	    CJ_OK);
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-new", "old-token", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	/* A token that is another channel's does not open this one. */
	ck_assert_int_eq(
	    auth_channel_verify(s, "ch-live", "old-token", user, sizeof(user), err, sizeof(err)),
	    CJ_ENOTFOUND);
	store_close(s);
	if (dir) {
		remove_tree(dir);
		free(dir);
	}
	free(url);
}
END_TEST

START_TEST(no_database_no_channels)
{
	char err[256], user[64];

	ck_assert_int_eq(auth_channel_verify(NULL, "ch", "t", user, sizeof(user), err, sizeof(err)),
	                 CJ_ENOTFOUND);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("channels");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, channel_secrets, 0, PGTEST_NBACKENDS);
	tcase_add_test(tc, no_database_no_channels);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
