/*
 * test_dead_letters.c - unit tests for src/dead_letters.c on SQLite and a
 * real PostgreSQL (schema from the embedded migrations): insert and get in
 * §5.3's shape, repaired text, newest-first listing, cursor paging until
 * next is null, the type filter, limit bounds, bad cursors, mark replayed,
 * and the ERROR log line when the database is down.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "b64.h"
#include "dead_letters.h"
#include "log.h"
#include "migrate.h"
#include "pgtest.h"
#include "proc.h"
#include "store.h"

static void add(struct store *s, const char *type, int64_t at, char *id)
{
	struct dead_letter dl = {type, "q", "task", NULL, 1, "boom", at};
	char err[256];

	ck_assert_msg(dead_letters_insert(s, &dl, id, err, sizeof(err)) == CJ_OK, "%s", err);
}

START_TEST(insert_and_get)
{
	struct pgtest_db t;
	json_t *payload =
	    json_pack("{s:s,s:[i,i],s:{s:b}}", "userId", "u1", "n", 1, 2, "o", "x", 1);
	struct dead_letter dl = {
	    "calendar-sync", "calendar-sync-queue", "0123abc", payload, 5, "upstream answered 500",
	    1700000000};
	char id[DEAD_LETTER_ID_LEN + 1], err[256];
	json_t *o;

	pgtest_db_open(&t, _i);
	ck_assert_int_eq(dead_letters_insert(t.s, &dl, id, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(strlen(id), 32);
	ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
	ck_assert_int_eq(dead_letters_get(t.s, id, &o, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(json_object_size(o), 9);
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "calendar-sync");
	ck_assert_str_eq(json_string_value(json_object_get(o, "queue")), "calendar-sync-queue");
	ck_assert_str_eq(json_string_value(json_object_get(o, "taskName")), "0123abc");
	ck_assert(json_equal(json_object_get(o, "payload"), payload));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(o, "lastError")),
	                 "upstream answered 500");
	ck_assert(json_is_integer(json_object_get(o, "failedAt")));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "failedAt")), 1700000000);
	ck_assert(json_is_null(json_object_get(o, "replayedAt")));
	json_decref(o);
	json_decref(payload);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(nothing_refused_for_its_content)
{
	struct pgtest_db t;
	char id[DEAD_LETTER_ID_LEN + 1], err[256], *long_err = malloc(5001);
	struct dead_letter dl = {NULL, NULL, NULL, NULL, 0, NULL, 42};
	json_t *o, *arr = json_array();

	memset(long_err, 'x', 5000);
	long_err[5000] = '\0';
	long_err[1999] = '\xc3'; /* a 2-byte character across the cut */
	long_err[2000] = '\xa9';
	pgtest_db_open(&t, _i);
	ck_assert_int_eq(dead_letters_insert(t.s, &dl, id, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(dead_letters_get(t.s, id, &o, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "unknown");
	ck_assert(json_is_null(json_object_get(o, "payload")));
	ck_assert(json_is_null(json_object_get(o, "queue")));
	ck_assert(json_is_null(json_object_get(o, "taskName")));
	ck_assert(json_is_null(json_object_get(o, "lastError")));
	json_decref(o);
	dl.type = "bad\xff type";
	dl.task_name = "t\xc3";
	dl.last_error = long_err;
	ck_assert_int_eq(dead_letters_insert(t.s, &dl, id, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(dead_letters_get(t.s, id, &o, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "bad? type");
	ck_assert_str_eq(json_string_value(json_object_get(o, "taskName")), "t?");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "lastError"))), 1999);
	json_decref(o);
	/* A payload that is not an object is a caller bug. */
	dl.payload = arr;
	ck_assert_int_eq(dead_letters_insert(t.s, &dl, id, err, sizeof(err)), CJ_EINVAL);
	json_decref(arr);
	free(long_err);
	pgtest_db_close(&t);
}
END_TEST

/* Pages through everything with limit, checking order; returns the count. */
static size_t walk(struct store *s, const char *type, long limit, char ids[][33], size_t max)
{
	char *cursor = NULL, err[256];
	json_t *last = NULL;
	size_t n = 0;

	for (int pages = 0;; pages++) {
		json_t *items, *it;
		char *next;
		size_t i;

		ck_assert_int_lt(pages, 100);
		ck_assert_msg(dead_letters_list(s, type, limit, cursor, &items, &next, err,
		                                sizeof(err)) == CJ_OK,
		              "%s", err);
		ck_assert(json_is_array(items));
		ck_assert_uint_le(json_array_size(items), (size_t)limit);
		if (next)
			ck_assert_uint_eq(json_array_size(items), (size_t)limit);
		json_array_foreach(items, i, it)
		{
			json_int_t at = json_integer_value(json_object_get(it, "failedAt"));
			const char *id = json_string_value(json_object_get(it, "id"));

			if (type)
				ck_assert_str_eq(json_string_value(json_object_get(it, "type")),
				                 type);
			if (last) {
				json_int_t lat =
				    json_integer_value(json_object_get(last, "failedAt"));
				const char *lid = json_string_value(json_object_get(last, "id"));

				ck_assert(at < lat || (at == lat && strcmp(id, lid) < 0));
			}
			ck_assert_uint_lt(n, max);
			snprintf(ids[n++], 33, "%s", id);
			json_decref(last);
			last = json_incref(it);
		}
		json_decref(items);
		free(cursor);
		cursor = next;
		if (!next)
			break;
	}
	json_decref(last);
	return n;
}

START_TEST(listing_pages_newest_first)
{
	struct pgtest_db t;
	char ids[64][33], seen[64][33], err[256], *next;
	json_t *items;
	size_t n;

	pgtest_db_open(&t, _i);
	for (int i = 0; i < 25; i++)
		add(t.s, i % 3 ? "token-refresh" : "calendar-sync", 1000 + i / 4, ids[i]);
	/* All in one page: newest first, next null. */
	ck_assert_int_eq(dead_letters_list(t.s, NULL, 500, NULL, &items, &next, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 25);
	ck_assert_ptr_null(next);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 0), "failedAt")),
	                 1006);
	json_decref(items);
	/* Pages of 7 (last one short) and 5 (last one full). */
	ck_assert_uint_eq(walk(t.s, NULL, 7, seen, 64), 25);
	ck_assert_uint_eq(walk(t.s, NULL, 5, seen, 64), 25);
	ck_assert_uint_eq(walk(t.s, NULL, 1, seen, 64), 25);
	for (int i = 0; i < 25; i++) {
		int found = 0;

		for (int j = 0; j < 25; j++)
			found += !strcmp(ids[i], seen[j]);
		ck_assert_int_eq(found, 1);
	}
	/* The type filter, with paging. */
	n = walk(t.s, "calendar-sync", 2, seen, 64);
	ck_assert_uint_eq(n, 9);
	ck_assert_uint_eq(walk(t.s, "token-refresh", 4, seen, 64), 16);
	ck_assert_uint_eq(walk(t.s, "nothing-like-it", 4, seen, 64), 0);
	pgtest_db_close(&t);
}
END_TEST

/* Pages of limit between since and until (NULL: open); the count, each row
 * once, every one inside the bounds. */
static size_t walk_between(struct store *s, const char *type, const int64_t *since,
                           const int64_t *until, long limit)
{
	char *cursor = NULL, err[256], seen[64][33];
	size_t n = 0;

	for (int pages = 0;; pages++) {
		json_t *items, *it;
		char *next;
		size_t i;

		ck_assert_int_lt(pages, 100);
		ck_assert_msg(dead_letters_list_between(s, type, since, until, limit, cursor, &items,
		                                        &next, err, sizeof(err)) == CJ_OK,
		              "%s", err);
		json_array_foreach(items, i, it)
		{
			json_int_t at = json_integer_value(json_object_get(it, "failedAt"));
			const char *id = json_string_value(json_object_get(it, "id"));

			ck_assert(!since || at >= *since);
			ck_assert(!until || at < *until);
			if (type)
				ck_assert_str_eq(json_string_value(json_object_get(it, "type")),
				                 type);
			for (size_t j = 0; j < n; j++)
				ck_assert_str_ne(seen[j], id);
			ck_assert_uint_lt(n, 64);
			snprintf(seen[n++], 33, "%s", id);
		}
		json_decref(items);
		free(cursor);
		cursor = next;
		if (!next)
			break;
	}
	return n;
}

/* since is inclusive, until exclusive, both on failedAt, with the type
 * filter and the cursor. */
START_TEST(listing_between_times)
{
	int64_t t1002 = 1002, t1005 = 1005, t1006 = 1006, t999 = 999, t2000 = 2000;
	struct pgtest_db t;
	char ids[25][33];

	pgtest_db_open(&t, _i);
	for (int i = 0; i < 25; i++) /* four a second from 1000; 1006 has one */
		add(t.s, i % 3 ? "token-refresh" : "calendar-sync", 1000 + i / 4, ids[i]);
	ck_assert_uint_eq(walk_between(t.s, NULL, &t1002, &t1005, 2), 12);
	ck_assert_uint_eq(walk_between(t.s, NULL, &t1002, &t1005, 500), 12);
	ck_assert_uint_eq(walk_between(t.s, NULL, &t1006, NULL, 1), 1);
	ck_assert_uint_eq(walk_between(t.s, NULL, NULL, &t1002, 3), 8);
	ck_assert_uint_eq(walk_between(t.s, NULL, &t999, &t2000, 7), 25);
	ck_assert_uint_eq(walk_between(t.s, NULL, &t1005, &t1005, 7), 0);
	ck_assert_uint_eq(walk_between(t.s, NULL, &t1005, &t1002, 7), 0);
	ck_assert_uint_eq(walk_between(t.s, "calendar-sync", &t1002, &t1005, 1), 4);
	ck_assert_uint_eq(walk_between(t.s, NULL, NULL, NULL, 4), 25);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(limits_and_cursors)
{
	struct pgtest_db t;
	char err[256], *next, id[33];
	json_t *items;
	char *c1 = b64url_encode("abc", 3), *c2 = b64url_encode("1:xyz", 5);
	char *c3 = b64url_encode("x:0123456789abcdef0123456789abcdef", 34);
	char *c4 = b64url_encode("12:0123456789ABCDEF0123456789ABCDEF", 35);
	char *ok = b64url_encode("12:0123456789abcdef0123456789abcdef", 35);
	char *past = b64url_encode("-3:0123456789abcdef0123456789abcdef", 35);
	const char *bad[] = {"garbage!", c1, c2, c3, c4};

	pgtest_db_open(&t, _i);
	add(t.s, "ping", 5, id);
	ck_assert_int_eq(dead_letters_list(t.s, NULL, 0, NULL, &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(dead_letters_list(t.s, NULL, -1, NULL, &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(dead_letters_list(t.s, NULL, 501, NULL, &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(
		    dead_letters_list(t.s, NULL, 10, bad[i], &items, &next, err, sizeof(err)),
		    CJ_EINVAL);
		ck_assert_ptr_null(items);
	}
	/* Well-formed cursors: the row at 5 is older than 12, none is older than -3. */
	ck_assert_int_eq(dead_letters_list(t.s, NULL, 10, ok, &items, &next, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 1);
	ck_assert_ptr_null(next);
	json_decref(items);
	ck_assert_int_eq(dead_letters_list(t.s, NULL, 10, past, &items, &next, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 0);
	ck_assert_ptr_null(next);
	json_decref(items);
	ck_assert_int_eq(dead_letters_list(t.s, "", 1, "", &items, &next, err, sizeof(err)), CJ_OK);
	ck_assert_uint_eq(json_array_size(items), 1);
	json_decref(items);
	free(c1);
	free(c2);
	free(c3);
	free(c4);
	free(ok);
	free(past);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(replay_marks)
{
	struct pgtest_db t;
	char id[33], err[256];
	json_t *o;

	pgtest_db_open(&t, _i);
	add(t.s, "ping", 5, id);
	ck_assert_int_eq(
	    dead_letters_mark_replayed(t.s, id, 777, "replay-task-1", err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(dead_letters_get(t.s, id, &o, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "replayedAt")), 777);
	json_decref(o);
	ck_assert_int_eq(dead_letters_mark_replayed(t.s, "0123456789abcdef0123456789abcdef", 1,
	                                            NULL, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(dead_letters_mark_replayed(t.s, "nope", 1, NULL, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(
	    dead_letters_get(t.s, "0123456789abcdef0123456789abcdef", &o, err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_int_eq(
	    dead_letters_get(t.s, "x'; DROP TABLE dead_letters; --", &o, err, sizeof(err)),
	    CJ_ENOTFOUND);
	ck_assert_ptr_null(o);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(database_down_logs_the_whole_letter)
{
	struct store *s;
	char err[512], path[] = "/tmp/cjdl-log-XXXXXX", text[8192];
	json_t *payload = json_pack("{s:s}", "userId", "user-77");
	struct dead_letter dl = {
	    "token-refresh", "token-refresh-queue", "t1", payload, 20, "invalid_grant", 99};
	int fd = mkstemp(path);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(store_open("postgresql://u:pw@127.0.0.1:1/db", &s, err, sizeof(err)),
	                 CJ_OK);
	log_set_fd(fd);
	ck_assert_int_eq(dead_letters_insert(s, &dl, NULL, err, sizeof(err)), CJ_EUNAVAIL);
	log_set_fd(1);
	n = pread(fd, text, sizeof(text) - 1, 0);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	ck_assert_ptr_nonnull(strstr(text, "\"severity\":\"ERROR\""));
	ck_assert_ptr_nonnull(strstr(text, "user-77"));
	ck_assert_ptr_nonnull(strstr(text, "token-refresh-queue"));
	ck_assert_ptr_nonnull(strstr(text, "invalid_grant"));
	close(fd);
	unlink(path);
	store_close(s);
	json_decref(payload);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dead_letters");
	TCase *tc = tcase_create("both");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, insert_and_get, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, nothing_refused_for_its_content, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, listing_pages_newest_first, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, listing_between_times, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, limits_and_cursors, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, replay_marks, 0, PGTEST_NBACKENDS);
	tcase_add_test(tc, database_down_logs_the_whole_letter);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
