/*
 * test_users.c - unit tests for src/users.c on SQLite and a real PostgreSQL
 * (schema from the embedded migrations): the rules of a new user, create
 * with and without a Google account (the refresh token sealed for its user
 * and column, never stored in clear), duplicates by id and by e-mail in any
 * case, users and contacts paging until next is null, limits and foreign
 * cursors, one user with its sync state and channels, and setting,
 * clearing and refusing catch-up frequencies.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "b64.h"
#include "crypto.h"
#include "pgtest.h"
#include "store.h"
#include "tz.h"
#include "users.h"

#define TOKEN "1//0gRefresh-Token_for.tests"

static struct crypto_key *test_key(void)
{
	struct crypto_key *k = NULL;

	ck_assert_int_eq(crypto_key_generate(&k), CJ_OK);
	return k;
}

static struct user_new user(const char *id, const char *email)
{
	struct user_new u = {id, email, NULL, "Etc/UTC", "email", 480, 1260, NULL};

	return u;
}

static void add_user(struct store *s, const char *id, const char *email)
{
	struct user_new u = user(id, email);
	char err[256];

	ck_assert_msg(users_create(s, NULL, &u, 1000, err, sizeof(err)) == CJ_OK, "%s", err);
}

static void exec(struct store *s, const char *sql)
{
	char err[256];

	ck_assert_msg(store_exec(s, sql, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s: %s", sql,
	              err);
}

/* The member names of o, in order, joined by ','. */
static const char *keys(const json_t *o)
{
	static char out[512];
	const char *k;
	json_t *v;
	size_t n = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)o, k, v)
	{
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", n ? "," : "", k);
	}
	return out;
}

START_TEST(rules_of_a_new_user)
{
	int a, b;
	char w[USERS_WAKING_LEN];
	char long_id[130];

	ck_assert(users_email_valid("a@b.c"));
	ck_assert(users_email_valid("Zoë@example.com"));
	ck_assert(!users_email_valid("a@b@c"));
	ck_assert(!users_email_valid("ab.c"));
	ck_assert(!users_email_valid("@b.c"));
	ck_assert(!users_email_valid("a@"));
	ck_assert(!users_email_valid("a b@c.d"));
	ck_assert(!users_email_valid("a\t@c.d"));
	ck_assert(!users_email_valid(NULL));
	{
		char e[300];

		memset(e, 'x', sizeof(e));
		memcpy(e + 240, "@example.com", 13); /* 252 bytes */
		ck_assert(users_email_valid(e));
		memset(e, 'x', 250);
		memcpy(e + 250, "@b.c", 5); /* 254 */
		ck_assert(users_email_valid(e));
		memset(e, 'x', 251);
		memcpy(e + 251, "@b.c", 5); /* 255 */
		ck_assert(!users_email_valid(e));
	}
	ck_assert(users_phone_valid("+14155550123"));
	ck_assert(users_phone_valid("+12"));
	ck_assert(users_phone_valid("+123456789012345"));
	ck_assert(!users_phone_valid("+1234567890123456"));
	ck_assert(!users_phone_valid("+1"));
	ck_assert(!users_phone_valid("+0123"));
	ck_assert(!users_phone_valid("14155550123"));
	ck_assert(!users_phone_valid("+1 415 555"));
	ck_assert(!users_phone_valid("+1415x"));
	ck_assert(users_id_valid("u"));
	ck_assert(users_id_valid("user_1.a-b~c:d@e+f"));
	memset(long_id, 'a', sizeof(long_id));
	long_id[128] = '\0';
	ck_assert(users_id_valid(long_id));
	long_id[128] = 'a';
	long_id[129] = '\0';
	ck_assert(!users_id_valid(long_id));
	ck_assert(!users_id_valid(""));
	ck_assert(!users_id_valid("a/b"));
	ck_assert(!users_id_valid("a b"));
	ck_assert(!users_id_valid("a?b"));

	ck_assert_int_eq(users_waking_parse("08:00-21:00", &a, &b), CJ_OK);
	ck_assert_int_eq(a, 480);
	ck_assert_int_eq(b, 1260);
	ck_assert_int_eq(users_waking_parse("00:00-24:00", &a, &b), CJ_OK);
	ck_assert_int_eq(a, 0);
	ck_assert_int_eq(b, 1440);
	ck_assert_int_eq(users_waking_parse("23:58-23:59", &a, &b), CJ_OK);
	ck_assert_int_eq(users_waking_parse("21:00-08:00", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("08:00-08:00", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("24:00-24:00", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("00:00-24:01", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("8:00-21:00", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("08:60-21:00", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("08:00-25:00", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("08:00 21:00", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("08:00-21:00 ", &a, &b), CJ_EINVAL);
	ck_assert_int_eq(users_waking_parse("", &a, &b), CJ_EINVAL);
	users_waking_format(0, 1440, w);
	ck_assert_str_eq(w, "00:00-24:00");
	users_waking_format(485, 1259, w);
	ck_assert_str_eq(w, "08:05-20:59");
}
END_TEST

START_TEST(create_and_get)
{
	struct crypto_key *k = test_key();
	struct pgtest_db t;
	struct user_new u = {
	    "u-google", "Ann@Example.com", "+14155550123", "Europe/Berlin", "sms", 420, 1380,
	    TOKEN};
	struct store_param p[] = {store_p_text("u-google")};
	struct store_rows *r;
	char err[256], *plain = NULL;
	json_t *o, *g;

	pgtest_db_open(&t, _i);
	ck_assert_msg(users_create(t.s, k, &u, 1700000000, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_int_eq(users_get(t.s, "u-google", &o, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(keys(o), "id,email,phone,timezone,notify,waking,google,sync,channels");
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), "u-google");
	ck_assert_str_eq(json_string_value(json_object_get(o, "email")), "Ann@Example.com");
	ck_assert_str_eq(json_string_value(json_object_get(o, "phone")), "+14155550123");
	ck_assert_str_eq(json_string_value(json_object_get(o, "timezone")), "Europe/Berlin");
	ck_assert_str_eq(json_string_value(json_object_get(o, "notify")), "sms");
	ck_assert_str_eq(json_string_value(json_object_get(o, "waking")), "07:00-23:00");
	g = json_object_get(o, "google");
	ck_assert_str_eq(keys(g), "status,expiresAt,lastError");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")), "ok");
	ck_assert(json_is_null(json_object_get(g, "expiresAt")));
	ck_assert(json_is_null(json_object_get(g, "lastError")));
	ck_assert_uint_eq(json_array_size(json_object_get(o, "sync")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "channels")), 0);
	json_decref(o);

	/* The row: 'active', no access token, no expiry, the refresh token
	 * sealed for this user's refresh column only. */
	ck_assert_int_eq(store_exec(t.s,
	                            "SELECT refresh_token_enc, status, access_token_enc, "
	                            "token_expires_at, created_at FROM google_accounts "
	                            "WHERE user_id = $1",
	                            p, 1, &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert(store_rows_next(r));
	ck_assert_str_eq(store_rows_text(r, 1), "active");
	ck_assert(store_rows_is_null(r, 2));
	ck_assert(store_rows_is_null(r, 3));
	ck_assert_int_eq(store_rows_int(r, 4), 1700000000);
	ck_assert_ptr_null(strstr(store_rows_text(r, 0), TOKEN));
	ck_assert_ptr_null(strstr(store_rows_text(r, 0), "Refresh-Token"));
	ck_assert_int_eq(strncmp(store_rows_text(r, 0), "v1:", 3), 0);
	ck_assert_int_eq(crypto_decrypt(k, store_rows_text(r, 0),
	                                "google_accounts:refresh:u-google", &plain, NULL),
	                 CJ_OK);
	ck_assert_str_eq(plain, TOKEN);
	crypto_secret_free(plain, strlen(plain));
	ck_assert_int_eq(crypto_decrypt(k, store_rows_text(r, 0), "google_accounts:access:u-google",
	                                &plain, NULL),
	                 CJ_EINVAL);
	ck_assert_int_eq(
	    crypto_decrypt(k, store_rows_text(r, 0), "google_accounts:refresh:other", &plain, NULL),
	    CJ_EINVAL);
	store_rows_free(r);

	/* Without a token: no google_accounts row, status none. */
	add_user(t.s, "u-plain", "plain@example.com");
	ck_assert_int_eq(users_get(t.s, "u-plain", &o, err, sizeof(err)), CJ_OK);
	g = json_object_get(o, "google");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")), "none");
	ck_assert(json_is_null(json_object_get(o, "phone")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "waking")), "08:00-21:00");
	json_decref(o);
	p[0] = store_p_text("u-plain");
	ck_assert_int_eq(store_exec(t.s, "SELECT 1 FROM google_accounts WHERE user_id = $1", p, 1,
	                            &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(store_rows_count(r), 0);
	store_rows_free(r);

	ck_assert_int_eq(users_get(t.s, "nobody", &o, err, sizeof(err)), CJ_ENOTFOUND);
	ck_assert_ptr_null(o);
	ck_assert_int_eq(users_get(t.s, "bad\xff", &o, err, sizeof(err)), CJ_ENOTFOUND);
	ck_assert_int_eq(users_get(t.s, "", &o, err, sizeof(err)), CJ_ENOTFOUND);
	crypto_key_free(k);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(duplicates_and_bad_values)
{
	struct crypto_key *k = test_key();
	struct pgtest_db t;
	struct user_new u = user("dup-1", "Dup@Example.com");
	char err[256];
	json_t *items;
	char *next;

	pgtest_db_open(&t, _i);
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_OK);
	/* The same id. */
	u.email = "other@example.com";
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err, "dup-1"));
	/* The same e-mail, in another case, and with a token: nothing written. */
	u = user("dup-2", "dup@EXAMPLE.com");
	u.google_refresh_token = TOKEN;
	ck_assert_int_eq(users_create(t.s, k, &u, 1, err, sizeof(err)), CJ_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err, "e-mail"));
	ck_assert_ptr_null(strstr(err, TOKEN));
	u.email = "DUP@example.com";
	ck_assert_int_eq(users_create(t.s, k, &u, 1, err, sizeof(err)), CJ_EEXISTS);

	/* Values out of their rules name the field and write nothing. */
	u = user("bad", "bad@example.com");
	u.phone = "555";
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "phone"));
	u = user("bad", "bad@example.com");
	u.timezone = "Nowhere/Atlantis";
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "timezone"));
	u = user("bad", "bad@example.com");
	u.notify = "pigeon";
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EINVAL);
	u = user("bad", "bad@example.com");
	u.waking_start = 1300;
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "waking"));
	u = user("bad", "not-an-address");
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EINVAL);
	u = user("bad/id", "bad@example.com");
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EINVAL);
	u = user("bad", "bad@example.com");
	u.google_refresh_token = TOKEN; /* but no key */
	ck_assert_int_eq(users_create(t.s, NULL, &u, 1, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_null(strstr(err, TOKEN));

	ck_assert_int_eq(users_list(t.s, 500, NULL, &items, &next, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 1);
	ck_assert_ptr_null(next);
	json_decref(items);
	crypto_key_free(k);
	pgtest_db_close(&t);
}
END_TEST

/* Pages through the users (user_id NULL) or a user's contacts; returns the
 * items seen, in order, as one array. */
static json_t *walk(struct store *s, const char *user_id, long limit, int *pages)
{
	json_t *all = json_array();
	char *cursor = NULL, err[256];

	*pages = 0;
	for (;;) {
		json_t *items;
		char *next;
		int rc = user_id ? users_contacts_list(s, user_id, limit, cursor, &items, &next,
		                                       err, sizeof(err))
		                 : users_list(s, limit, cursor, &items, &next, err, sizeof(err));

		ck_assert_msg(rc == CJ_OK, "%s", err);
		ck_assert_uint_le(json_array_size(items), (size_t)limit);
		if (next)
			ck_assert_uint_eq(json_array_size(items), (size_t)limit);
		json_array_extend(all, items);
		json_decref(items);
		free(cursor);
		cursor = next;
		++*pages;
		ck_assert_int_lt(*pages, 100);
		if (!next)
			break;
	}
	return all;
}

START_TEST(users_page_by_id)
{
	struct pgtest_db t;
	char id[16], email[64], err[256], *next;
	json_t *all, *one, *items;
	int pages;

	pgtest_db_open(&t, _i);
	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof(id), "user%d", (i * 5) % 7);
		snprintf(email, sizeof(email), "p%d@example.com", i);
		add_user(t.s, id, email);
	}
	ck_assert_int_eq(users_list(t.s, 500, NULL, &one, &next, err, sizeof(err)), CJ_OK);
	ck_assert_ptr_null(next);
	ck_assert_uint_eq(json_array_size(one), 7);
	ck_assert_str_eq(keys(json_array_get(one, 0)),
	                 "id,email,phone,timezone,notify,waking,google");
	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof(id), "user%d", i);
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(one, i), "id")),
		                 id);
	}
	all = walk(t.s, NULL, 3, &pages);
	ck_assert_int_eq(pages, 3);
	ck_assert(json_equal(all, one));
	json_decref(all);
	all = walk(t.s, NULL, 7, &pages); /* a full last page: one more, empty */
	ck_assert_int_le(pages, 2);
	ck_assert(json_equal(all, one));
	json_decref(all);
	all = walk(t.s, NULL, 1, &pages);
	ck_assert_int_eq(pages, 7);
	ck_assert(json_equal(all, one));
	json_decref(all);
	json_decref(one);

	/* Limits and cursors that are not ours. */
	ck_assert_int_eq(users_list(t.s, 0, NULL, &items, &next, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(users_list(t.s, 501, NULL, &items, &next, err, sizeof(err)), CJ_EINVAL);
	{
		char *contacts_cursor = b64url_encode("c:user1", 7),
		     *plain = b64url_encode("user1", 5);
		char *ours = b64url_encode("u:user1", 7);
		const char *bad[] = {"garbage!", contacts_cursor, plain, "dTo"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ck_assert_int_eq(
			    users_list(t.s, 10, bad[i], &items, &next, err, sizeof(err)),
			    CJ_EINVAL);
			ck_assert_ptr_null(items);
			ck_assert_ptr_nonnull(strstr(err, "cursor"));
		}
		ck_assert_int_eq(users_list(t.s, 10, ours, &items, &next, err, sizeof(err)), CJ_OK);
		ck_assert_uint_eq(json_array_size(items), 5);
		json_decref(items);
		ck_assert_int_eq(users_list(t.s, 10, "", &items, &next, err, sizeof(err)), CJ_OK);
		ck_assert_uint_eq(json_array_size(items), 7);
		json_decref(items);
		free(contacts_cursor);
		free(plain);
		free(ours);
	}
	pgtest_db_close(&t);
}
END_TEST

START_TEST(get_shows_sync_state_and_channels)
{
	struct pgtest_db t;
	char err[256];
	json_t *o, *sync, *ch, *g;

	pgtest_db_open(&t, _i);
	add_user(t.s, "u1", "u1@example.com");
	add_user(t.s, "u2", "u2@example.com");
	exec(t.s,
	     "INSERT INTO google_accounts (user_id, refresh_token_enc, status, "
	     "token_expires_at, last_error, created_at, updated_at) "
	     "VALUES ('u1', 'v1:x', 'revoked', 1700003600, 'invalid_grant: Token has been "
	     "expired or revoked.', 1, 1)");
	exec(t.s,
	     "INSERT INTO sync_state (user_id, kind, sync_token, last_sync_at, "
	     "last_change_count, interval_seconds, next_sync_at, updated_at) VALUES "
	     "('u1', 'contacts', 'secret-sync-token', 1700000000, 4, 1800, 1700001800, 1), "
	     "('u1', 'calendar:primary', NULL, NULL, 0, 3600, NULL, 1), "
	     "('u1', 'calendar:team@group.calendar.google.com', 'st', 1700000100, 12, 900, "
	     "1700001000, 1), "
	     "('u2', 'contacts', NULL, 5, 1, 86400, 6, 1)");
	exec(t.s,
	     "INSERT INTO webhook_channels (id, user_id, calendar_id, resource_id, "
	     "token_hash, expiration, status, last_notification_at, created_at, updated_at) "
	     "VALUES ('ch-old', 'u1', 'primary', 'r1', 'h1', 1700000000, 'stopped', NULL, 1, 1), "
	     "('ch-new', 'u1', 'primary', 'r2', 'h2', 1700600000, 'active', 1700000500, 2, 2), "
	     "('ch-u2', 'u2', 'primary', 'r3', 'h3', 1700600000, 'active', NULL, 2, 2)");

	ck_assert_int_eq(users_get(t.s, "u1", &o, err, sizeof(err)), CJ_OK);
	g = json_object_get(o, "google");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")), "revoked");
	ck_assert_int_eq(json_integer_value(json_object_get(g, "expiresAt")), 1700003600);
	ck_assert_str_eq(json_string_value(json_object_get(g, "lastError")),
	                 "invalid_grant: Token has been expired or revoked.");

	sync = json_object_get(o, "sync");
	ck_assert_uint_eq(json_array_size(sync), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(
		    keys(json_array_get(sync, i)),
		    "kind,calendarId,lastSyncAt,lastChanges,intervalSeconds,nextSyncAt");
	/* Ordered by the stored kind: calendar:primary, calendar:team…, contacts. */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sync, 0), "kind")),
	                 "calendar");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sync, 0), "calendarId")),
	                 "primary");
	ck_assert(json_is_null(json_object_get(json_array_get(sync, 0), "lastSyncAt")));
	ck_assert(json_is_null(json_object_get(json_array_get(sync, 0), "nextSyncAt")));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(sync, 0), "intervalSeconds")), 3600);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sync, 1), "calendarId")),
	                 "team@group.calendar.google.com");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(sync, 1), "lastChanges")), 12);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sync, 2), "kind")),
	                 "contacts");
	ck_assert(json_is_null(json_object_get(json_array_get(sync, 2), "calendarId")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(sync, 2), "lastSyncAt")),
	                 1700000000);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(sync, 2), "lastChanges")), 4);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(sync, 2), "intervalSeconds")), 1800);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(sync, 2), "nextSyncAt")),
	                 1700001800);

	ch = json_object_get(o, "channels");
	ck_assert_uint_eq(json_array_size(ch), 2);
	ck_assert_str_eq(keys(json_array_get(ch, 0)),
	                 "id,calendarId,expiration,lastMessageAt,state");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ch, 0), "id")), "ch-new");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ch, 0), "calendarId")),
	                 "primary");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ch, 0), "expiration")),
	                 1700600000);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(ch, 0), "lastMessageAt")),
	    1700000500);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ch, 0), "state")),
	                 "active");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ch, 1), "id")), "ch-old");
	ck_assert(json_is_null(json_object_get(json_array_get(ch, 1), "lastMessageAt")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ch, 1), "state")),
	                 "stopped");
	/* No token of any kind in the answer. */
	{
		char *text = json_dumps(o, 0);

		ck_assert_ptr_null(strstr(text, "secret-sync-token"));
		ck_assert_ptr_null(strstr(text, "v1:x"));
		ck_assert_ptr_null(strstr(text, "h2"));
		free(text);
	}
	json_decref(o);
	pgtest_db_close(&t);
}
END_TEST

static void add_contact(struct store *s, const char *id, const char *user_id, const char *name)
{
	struct store_param p[] = {store_p_text(id), store_p_text(user_id), store_p_text(name)};
	char err[256];

	ck_assert_msg(
	    store_exec(s,
	               "INSERT INTO contacts (id, user_id, resource_name, name, email, "
	               "phone, last_contacted_at, created_at, updated_at) VALUES ($1, $2, "
	               "'people/' || CAST($1 AS TEXT), $3, CAST($1 AS TEXT) || '@example.com', "
	               "NULL, 1690000000, 1, 1)",
	               p, 3, NULL, err, sizeof(err)) == CJ_OK,
	    "%s", err);
}

START_TEST(contacts_page_and_frequency)
{
	struct pgtest_db t;
	char id[16], err[256], *next;
	json_t *all, *items, *c;
	int pages;

	pgtest_db_open(&t, _i);
	add_user(t.s, "ua", "ua@example.com");
	add_user(t.s, "ub", "ub@example.com");
	add_user(t.s, "uc", "uc@example.com");
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "ca%d", (i * 3) % 5);
		add_contact(t.s, id, "ua", "Ann");
	}
	add_contact(t.s, "cb0", "ub", "Bob");
	add_contact(t.s, "cb1", "ub", NULL);

	all = walk(t.s, "ua", 2, &pages);
	ck_assert_int_eq(pages, 3);
	ck_assert_uint_eq(json_array_size(all), 5);
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "ca%d", i);
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all, i), "id")),
		                 id);
	}
	c = json_array_get(all, 0);
	ck_assert_str_eq(keys(c),
	                 "id,resourceName,name,email,phone,catchupFrequencyDays,"
	                 "lastContactedAt");
	ck_assert_str_eq(json_string_value(json_object_get(c, "resourceName")), "people/ca0");
	ck_assert_str_eq(json_string_value(json_object_get(c, "name")), "Ann");
	ck_assert_str_eq(json_string_value(json_object_get(c, "email")), "ca0@example.com");
	ck_assert(json_is_null(json_object_get(c, "phone")));
	ck_assert(json_is_null(json_object_get(c, "catchupFrequencyDays")));
	ck_assert_int_eq(json_integer_value(json_object_get(c, "lastContactedAt")), 1690000000);
	json_decref(all);
	all = walk(t.s, "ub", 500, &pages);
	ck_assert_uint_eq(json_array_size(all), 2);
	ck_assert(json_is_null(json_object_get(json_array_get(all, 1), "name")));
	json_decref(all);
	/* A user without contacts, and no user at all. */
	ck_assert_int_eq(users_contacts_list(t.s, "uc", 10, NULL, &items, &next, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 0);
	ck_assert_ptr_null(next);
	json_decref(items);
	ck_assert_int_eq(
	    users_contacts_list(t.s, "nobody", 10, NULL, &items, &next, err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_ptr_null(items);
	ck_assert_int_eq(users_contacts_list(t.s, "ua", 501, NULL, &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	{
		char *users_cursor = b64url_encode("u:ca1", 5);

		ck_assert_int_eq(users_contacts_list(t.s, "ua", 10, users_cursor, &items, &next,
		                                     err, sizeof(err)),
		                 CJ_EINVAL);
		free(users_cursor);
	}

	/* Set, change, clear. */
	ck_assert_int_eq(users_contact_set_frequency(t.s, "ua", "ca3", 30, 5, &c, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_str_eq(json_string_value(json_object_get(c, "id")), "ca3");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "catchupFrequencyDays")), 30);
	json_decref(c);
	ck_assert_int_eq(
	    users_contact_set_frequency(t.s, "ua", "ca3", 365, 6, &c, err, sizeof(err)), CJ_OK);
	json_decref(c);
	ck_assert_int_eq(users_contact_set_frequency(t.s, "ua", "ca2", 1, 6, &c, err, sizeof(err)),
	                 CJ_OK);
	json_decref(c);
	all = walk(t.s, "ua", 500, &pages);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(all, 3), "catchupFrequencyDays")),
	    365);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(all, 2), "catchupFrequencyDays")), 1);
	json_decref(all);
	ck_assert_int_eq(users_contact_set_frequency(t.s, "ua", "ca3", 0, 7, &c, err, sizeof(err)),
	                 CJ_OK);
	ck_assert(json_is_null(json_object_get(c, "catchupFrequencyDays")));
	json_decref(c);
	/* Out of range; another user's contact; nobody's. */
	ck_assert_int_eq(
	    users_contact_set_frequency(t.s, "ua", "ca3", 366, 7, &c, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(users_contact_set_frequency(t.s, "ua", "ca3", -1, 7, &c, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(users_contact_set_frequency(t.s, "ua", "cb0", 10, 7, &c, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(users_contact_set_frequency(t.s, "ub", "cb0", 10, 7, &c, err, sizeof(err)),
	                 CJ_OK);
	json_decref(c);
	ck_assert_int_eq(
	    users_contact_set_frequency(t.s, "ua", "nope", 10, 7, &c, err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_int_eq(
	    users_contact_set_frequency(t.s, "nobody", "ca1", 10, 7, &c, err, sizeof(err)),
	    CJ_ENOTFOUND);
	/* The foreign write did not land. */
	all = walk(t.s, "ub", 500, &pages);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(all, 0), "catchupFrequencyDays")),
	    10);
	json_decref(all);
	pgtest_db_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("users");
	TCase *tc = tcase_create("both");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, rules_of_a_new_user);
	tcase_add_loop_test(tc, create_and_get, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, duplicates_and_bad_values, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, users_page_by_id, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, get_shows_sync_state_and_channels, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, contacts_page_and_frequency, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
