/*
 * test_sync_health.c - unit tests for src/sync_health.c on SQLite and on a
 * real PostgreSQL: each problem code from the rows that cause it (and its
 * boundaries), the item's shape, keyset paging that shows every user once,
 * filter=problems with short pages and a scan that goes on past its budget
 * of users, and refused limits and cursors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "keyset.h"
#include "pgtest.h"
#include "store.h"
#include "sync_health.h"

#define NOW INT64_C(1800000000)

static void exec(struct store *s, const char *sql)
{
	char err[256];

	ck_assert_msg(store_exec(s, sql, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s: %s", sql,
	              err);
}

/* Eleven users, one per situation; the comment is what the server finds. */
static void seed(struct store *s)
{
	exec(s,
	     "INSERT INTO users (id, email, created_at, updated_at) VALUES "
	     "('u01-ok', 'ok@example.com', 1, 1), ('u02-revoked', 'r@example.com', 1, 1), "
	     "('u03-error', NULL, 1, 1), ('u04-none', 'n@example.com', 1, 1), "
	     "('u05-never', 'nv@example.com', 1, 1), ('u06-never-row', 'nr@example.com', 1, 1), "
	     "('u07-overdue', 'od@example.com', 1, 1), ('u08-missing', 'm@example.com', 1, 1), "
	     "('u09-expired', 'x@example.com', 1, 1), ('u10-silent', 's@example.com', 1, 1), "
	     "('u11-many', 'many@example.com', 1, 1)");
	exec(s,
	     "INSERT INTO google_accounts (user_id, status, token_expires_at, last_error, "
	     "created_at, updated_at) VALUES "
	     "('u01-ok', 'active', 1800003000, NULL, 1, 1), "
	     "('u02-revoked', 'revoked', NULL, 'invalid_grant: Token has been revoked', 1, 1), "
	     "('u03-error', 'error', NULL, 'unauthorized_client', 1, 1), "
	     "('u05-never', 'active', NULL, NULL, 1, 1), "
	     "('u06-never-row', 'active', NULL, NULL, 1, 1), "
	     "('u07-overdue', 'active', NULL, NULL, 1, 1), "
	     "('u08-missing', 'active', NULL, NULL, 1, 1), "
	     "('u09-expired', 'active', NULL, NULL, 1, 1), "
	     "('u10-silent', 'active', NULL, NULL, 1, 1), "
	     "('u11-many', 'active', NULL, NULL, 1, 1)");
	/* next_sync_at + interval_seconds < NOW is overdue; NOW itself is not. */
	exec(s,
	     "INSERT INTO sync_state (user_id, kind, last_sync_at, last_change_count, "
	     "interval_seconds, next_sync_at, updated_at) VALUES "
	     "('u01-ok', 'contacts', 1799990000, 4, 3600, 1800000100, 1), "
	     "('u01-ok', 'calendar:primary', 1799990000, 0, 86400, 1800050000, 1), "
	     "('u02-revoked', 'contacts', 1700000000, 0, 3600, 1700003600, 1), "
	     "('u06-never-row', 'calendar:primary', NULL, 0, 3600, NULL, 1), "
	     "('u07-overdue', 'contacts', 1799990000, 0, 3600, 1799996399, 1), "
	     "('u07-overdue', 'calendar:primary', 1799990000, 0, 3600, 1799996400, 1), "
	     "('u08-missing', 'calendar:primary', 1799990000, 0, 3600, 1800001000, 1), "
	     "('u09-expired', 'calendar:primary', 1799990000, 0, 3600, 1800001000, 1), "
	     "('u09-expired', 'calendar:work', 1799990000, 0, 3600, 1800001000, 1), "
	     "('u10-silent', 'calendar:primary', 1799990000, 0, 3600, 1800001000, 1), "
	     "('u11-many', 'contacts', NULL, 0, 3600, NULL, 1), "
	     "('u11-many', 'calendar:primary', 1799000000, 3, 900, 1799000900, 1)");
	exec(s,
	     "INSERT INTO webhook_channels (id, user_id, calendar_id, token_hash, expiration, "
	     "status, last_notification_at, silent_flagged_at, created_at, updated_at) VALUES "
	     "('ch-ok', 'u01-ok', 'primary', 'h', 1800300000, 'active', 1799999000, NULL, 1, 1), "
	     "('ch-old', 'u01-ok', 'primary', 'h', 1799000000, 'stopped', NULL, NULL, 1, 1), "
	     "('ch-od', 'u07-overdue', 'primary', 'h', 1800300000, 'active', NULL, NULL, 1, 1), "
	     "('ch-stop', 'u08-missing', 'primary', 'h', 1800300000, 'stopped', NULL, NULL, 1, 1), "
	     "('ch-other', 'u08-missing', 'work', 'h', 1800300000, 'active', NULL, NULL, 1, 1), "
	     "('ch-past', 'u09-expired', 'primary', 'h', 1800000000, 'active', NULL, NULL, 1, 1), "
	     "('ch-exp', 'u09-expired', 'work', 'h', 1799000000, 'expired', NULL, NULL, 1, 1), "
	     "('ch-quiet', 'u10-silent', 'primary', 'h', 1800300000, 'active', 1799000000, "
	     "1799900000, 1, 1)");
}

/* users[i]'s problems, comma-separated (static). */
static const char *problems_of(const json_t *user)
{
	static char out[256];
	const json_t *p = json_object_get(user, "problems");
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < json_array_size(p); i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", n ? "," : "",
		                      json_string_value(json_array_get(p, i)));
	return out;
}

static const char *keys(const json_t *o)
{
	static char out[256];
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

static const struct {
	const char *id, *problems;
} expected[] = {
    {"u01-ok", ""},
    {"u02-revoked", "token_revoked"},
    {"u03-error", "token_error"},
    {"u04-none", "no_token"},
    {"u05-never", "never_synced"},
    {"u06-never-row", "never_synced"},
    {"u07-overdue", "sync_overdue"},
    {"u08-missing", "channel_missing"},
    {"u09-expired", "channel_expired"},
    {"u10-silent", "channel_silent"},
    {"u11-many", "never_synced,sync_overdue,channel_missing"},
};
#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

/* Pages of limit (problems_only) from the start; every user in one array.
 * *pages and *empty count the pages and the empty ones. */
static json_t *walk(struct store *s, long limit, int problems_only, int *pages, int *empty)
{
	json_t *all = json_array(), *items;
	char *cursor = NULL, *next = NULL, err[256];

	*pages = 0;
	*empty = 0;
	for (;;) {
		ck_assert_int_lt(*pages, 1000);
		ck_assert_msg(sync_health_page(s, limit, cursor, problems_only, NOW, &items, &next,
		                               err, sizeof(err)) == CJ_OK,
		              "%s", err);
		++*pages;
		*empty += !json_array_size(items);
		ck_assert_uint_le(json_array_size(items), (size_t)limit);
		json_array_extend(all, items);
		json_decref(items);
		free(cursor);
		cursor = next;
		if (!next)
			return all;
	}
}

START_TEST(problems_from_the_rows)
{
	struct pgtest_db t;
	json_t *all, *u, *want;
	int pages, empty;

	pgtest_db_open(&t, _i);
	seed(t.s);
	all = walk(t.s, 500, 0, &pages, &empty);
	ck_assert_int_eq(pages, 1);
	ck_assert_uint_eq(json_array_size(all), NEXPECTED);
	for (size_t i = 0; i < NEXPECTED; i++) {
		u = json_array_get(all, i);
		ck_assert_str_eq(keys(u), "id,email,google,sync,channels,problems");
		ck_assert_str_eq(json_string_value(json_object_get(u, "id")), expected[i].id);
		ck_assert_msg(!strcmp(problems_of(u), expected[i].problems), "%s: %s",
		              expected[i].id, problems_of(u));
		ck_assert_str_eq(keys(json_object_get(u, "google")), "status,expiresAt,lastError");
	}
	/* The healthy user in full: stopped channels are left out. */
	u = json_array_get(all, 0);
	want = json_pack(
	    "{s:s, s:s, s:{s:s, s:I, s:n}, s:[{s:s, s:s, s:I, s:i, s:i, s:I}, "
	    "{s:s, s:n, s:I, s:i, s:i, s:I}], s:[{s:s, s:s, s:s, s:I, s:I, s:b}], s:[]}",
	    "id", "u01-ok", "email", "ok@example.com", "google", "status", "ok", "expiresAt",
	    (json_int_t)1800003000, "lastError", "sync", "kind", "calendar", "calendarId",
	    "primary", "lastSyncAt", (json_int_t)1799990000, "lastChanges", 0, "intervalSeconds",
	    86400, "nextSyncAt", (json_int_t)1800050000, "kind", "contacts", "calendarId",
	    "lastSyncAt", (json_int_t)1799990000, "lastChanges", 4, "intervalSeconds", 3600,
	    "nextSyncAt", (json_int_t)1800000100, "channels", "id", "ch-ok", "calendarId",
	    "primary", "state", "active", "expiration", (json_int_t)1800300000, "lastMessageAt",
	    (json_int_t)1799999000, "flagged", 0, "problems");
	ck_assert_msg(json_equal(u, want), "%s", json_dumps(u, JSON_SORT_KEYS));
	json_decref(want);
	/* Statuses and the errors Google gave. */
	u = json_array_get(all, 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(u, "google"), "status")),
	                 "revoked");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(u, "google"), "lastError")),
	    "invalid_grant: Token has been revoked");
	ck_assert(json_is_null(json_object_get(json_array_get(all, 2), "email")));
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(json_array_get(all, 3), "google"), "status")),
	                 "none");
	/* The silent channel is flagged; the expired ones are listed. */
	u = json_array_get(all, 9);
	ck_assert(json_is_true(
	    json_object_get(json_array_get(json_object_get(u, "channels"), 0), "flagged")));
	u = json_array_get(all, 8);
	ck_assert_uint_eq(json_array_size(json_object_get(u, "channels")), 2);
	json_decref(all);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(paging_shows_every_user_once)
{
	struct pgtest_db t;
	json_t *all;
	int pages, empty;

	pgtest_db_open(&t, _i);
	seed(t.s);
	for (long limit = 1; limit <= 12; limit++) {
		all = walk(t.s, limit, 0, &pages, &empty);
		ck_assert_uint_eq(json_array_size(all), NEXPECTED);
		ck_assert_int_eq(pages, (int)((NEXPECTED + (size_t)limit - 1) / (size_t)limit));
		ck_assert_int_eq(empty, 0);
		for (size_t i = 0; i < NEXPECTED; i++)
			ck_assert_str_eq(
			    json_string_value(json_object_get(json_array_get(all, i), "id")),
			    expected[i].id);
		json_decref(all);
		/* Only the ten with problems, in order, each once. */
		all = walk(t.s, limit, 1, &pages, &empty);
		ck_assert_uint_eq(json_array_size(all), NEXPECTED - 1);
		for (size_t i = 0; i < NEXPECTED - 1; i++)
			ck_assert_str_eq(
			    json_string_value(json_object_get(json_array_get(all, i), "id")),
			    expected[i + 1].id);
		json_decref(all);
	}
	pgtest_db_close(&t);
}
END_TEST

/* 2,500 healthy users before the ones with problems: the first page of
 * filter=problems gives up after its budget, empty, and the walk goes on. */
START_TEST(problems_scan_continues_past_its_budget)
{
	static const char *const bulk[] = {
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) "
	    "INSERT INTO users (id, email, created_at, updated_at) "
	    "SELECT 'a' || CAST(i AS TEXT), NULL, 1, 1 FROM n",
	    "INSERT INTO google_accounts (user_id, status, created_at, updated_at) "
	    "SELECT id, 'active', 1, 1 FROM users WHERE id LIKE 'a%'",
	    "INSERT INTO sync_state (user_id, kind, last_sync_at, interval_seconds, next_sync_at, "
	    "updated_at) SELECT id, 'contacts', 1799990000, 3600, 1800001000, 1 FROM users WHERE "
	    "id LIKE 'a%'",
	};
	struct pgtest_db t;
	json_t *all, *items;
	char *next = NULL, err[256];
	int pages, empty;

	pgtest_db_open(&t, _i);
	seed(t.s);
	for (size_t i = 0; i < sizeof(bulk) / sizeof(bulk[0]); i++)
		exec(t.s, bulk[i]);
	ck_assert_int_eq(sync_health_page(t.s, 5, NULL, 1, NOW, &items, &next, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 0);
	ck_assert_ptr_nonnull(next);
	json_decref(items);
	free(next);
	all = walk(t.s, 5, 1, &pages, &empty);
	ck_assert_uint_eq(json_array_size(all), NEXPECTED - 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all, 0), "id")),
	                 "u02-revoked");
	ck_assert_int_ge(empty, 1);
	json_decref(all);
	all = walk(t.s, 500, 0, &pages, &empty);
	ck_assert_uint_eq(json_array_size(all), 2500 + NEXPECTED);
	ck_assert_int_eq(pages, 6);
	json_decref(all);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(limits_and_cursors)
{
	struct pgtest_db t;
	json_t *items = NULL;
	char *next = NULL, err[256], *users_cursor = keyset_cursor_make('u', "u01-ok");

	pgtest_db_open(&t, _i);
	seed(t.s);
	ck_assert_int_eq(sync_health_page(t.s, 0, NULL, 0, NOW, &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(sync_health_page(t.s, 501, NULL, 0, NOW, &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(sync_health_page(t.s, 5, "!!", 0, NOW, &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(
	    sync_health_page(t.s, 5, users_cursor, 0, NOW, &items, &next, err, sizeof(err)),
	    CJ_EINVAL);
	ck_assert_ptr_null(items);
	/* An empty database: one empty page. */
	exec(t.s, "DELETE FROM users");
	ck_assert_int_eq(sync_health_page(t.s, 5, "", 1, NOW, &items, &next, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 0);
	ck_assert_ptr_null(next);
	json_decref(items);
	free(users_cursor);
	pgtest_db_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync_health");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, problems_from_the_rows, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, paging_shows_every_user_once, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, problems_scan_continues_past_its_budget, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, limits_and_cursors, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
