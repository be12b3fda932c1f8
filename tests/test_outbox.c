/*
 * test_outbox.c - the once-only message ledger (src/outbox.c) on SQLite and
 * PostgreSQL: a key is sent once whatever retries and races do, every move
 * is conditional on the state it leaves, and the list pages in §5.3's shape.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "outbox.h"
#include "pgtest.h"
#include "store.h"

static struct pgtest_db t;

static const struct outbox_message msg = {"batch:u1:abc", "batch", "u1", "sms", "+15550100",
                                          NULL, "3 catch-ups for you"};

START_TEST(begin_once_then_move)
{
	char id[33], id2[33], err[256] = "", *subject = NULL, *body = NULL;
	enum outbox_state st = OUTBOX_FAILED;
	json_t *item;

	pgtest_db_open(&t, _i);
	ck_assert_int_eq(outbox_begin(t.s, &msg, 100, id, &st, err, sizeof(err)), CJ_OK);
	/* A retried job finds the key: the row is sending, never sent again. */
	ck_assert_int_eq(outbox_begin(t.s, &msg, 101, id2, &st, err, sizeof(err)), CJ_EEXISTS);
	ck_assert_str_eq(id, id2);
	ck_assert_int_eq(st, OUTBOX_SENDING);
	ck_assert_int_eq(outbox_move(t.s, id, OUTBOX_SENDING, OUTBOX_SENT, "SM123", NULL, 102, err,
	                             sizeof(err)),
	                 CJ_OK);
	/* The same move again finds the row moved. */
	ck_assert_int_eq(outbox_move(t.s, id, OUTBOX_SENDING, OUTBOX_FAILED, NULL, "x", 103, err,
	                             sizeof(err)),
	                 CJ_ECONFLICT);
	ck_assert_int_eq(outbox_begin(t.s, &msg, 104, id2, &st, err, sizeof(err)), CJ_EEXISTS);
	ck_assert_int_eq(st, OUTBOX_SENT);
	ck_assert_int_eq(outbox_get(t.s, id, &item, &subject, &body, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(json_string_value(json_object_get(item, "state")), "sent");
	ck_assert_str_eq(json_string_value(json_object_get(item, "providerId")), "SM123");
	ck_assert_str_eq(json_string_value(json_object_get(item, "key")), "batch:u1:abc");
	ck_assert_str_eq(json_string_value(json_object_get(item, "to")), "+15550100");
	ck_assert_str_eq(json_string_value(json_object_get(item, "userId")), "u1");
	ck_assert_str_eq(json_string_value(json_object_get(item, "channel")), "sms");
	ck_assert_int_eq(json_integer_value(json_object_get(item, "createdAt")), 100);
	ck_assert_int_eq(json_integer_value(json_object_get(item, "sentAt")), 102);
	ck_assert(json_is_null(json_object_get(item, "error")));
	ck_assert_int_eq(json_object_size(item), 10);
	ck_assert_ptr_null(subject);
	ck_assert_str_eq(body, "3 catch-ups for you");
	json_decref(item);
	free(body);
	/* Moves that do not exist, and ids that do not. */
	ck_assert_int_eq(outbox_move(t.s, id, OUTBOX_SENT, OUTBOX_SENDING, NULL, NULL, 105, err,
	                             sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(outbox_move(t.s, "nope", OUTBOX_SENDING, OUTBOX_SENT, NULL, NULL, 105, err,
	                             sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_int_eq(outbox_get(t.s, "nope", &item, NULL, NULL, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(failed_and_resent_rows)
{
	struct outbox_message m = msg;
	char id[33], err[256] = "";
	enum outbox_state st;
	json_t *item;

	pgtest_db_open(&t, _i);
	m.key = "reminder:s1";
	ck_assert_int_eq(outbox_begin(t.s, &m, 100, id, &st, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(outbox_move(t.s, id, OUTBOX_SENDING, OUTBOX_SENDING, NULL, "resent", 101,
	                             err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(outbox_move(t.s, id, OUTBOX_SENDING, OUTBOX_FAILED, NULL, "21211 invalid",
	                             102, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(outbox_get(t.s, id, &item, NULL, NULL, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(json_string_value(json_object_get(item, "state")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(item, "error")), "21211 invalid");
	ck_assert(json_is_null(json_object_get(item, "sentAt")));
	json_decref(item);
	ck_assert_int_eq(outbox_begin(t.s, &m, 103, id, &st, err, sizeof(err)), CJ_EEXISTS);
	ck_assert_int_eq(st, OUTBOX_FAILED);
	ck_assert_int_eq(outbox_forget(t.s, id, err, sizeof(err)), CJ_ECONFLICT);
	/* A call that never left: the row goes and the key is free again. */
	m.key = "reminder:s2";
	ck_assert_int_eq(outbox_begin(t.s, &m, 104, id, &st, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(outbox_forget(t.s, id, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(outbox_forget(t.s, id, err, sizeof(err)), CJ_ENOTFOUND);
	ck_assert_int_eq(outbox_begin(t.s, &m, 105, id, &st, err, sizeof(err)), CJ_OK);
	pgtest_db_close(&t);
}
END_TEST

struct racer {
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	enum outbox_state st;
	char id[33], err[256];

	r->rc = outbox_begin(t.s, &msg, 100, id, &st, err, sizeof(err));
	return NULL;
}

START_TEST(racing_runs_begin_once)
{
	struct racer r[12];
	pthread_t th[12];
	int ok = 0;

	pgtest_db_open(&t, _i);
	for (int i = 0; i < 12; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 12; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 12; i++) {
		ck_assert(r[i].rc == CJ_OK || r[i].rc == CJ_EEXISTS);
		ok += r[i].rc == CJ_OK;
	}
	ck_assert_int_eq(ok, 1);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(list_by_state_in_pages)
{
	char id[33], err[256] = "", key[32], *next = NULL, *cursor = NULL;
	enum outbox_state sending = OUTBOX_SENDING, st;
	json_t *items;
	long seen = 0;

	pgtest_db_open(&t, _i);
	for (int i = 0; i < 7; i++) {
		struct outbox_message m = msg;

		snprintf(key, sizeof(key), "k%d", i);
		m.key = key;
		ck_assert_int_eq(outbox_begin(t.s, &m, 100 + i, id, &st, err, sizeof(err)), CJ_OK);
		if (i % 3 == 0)
			ck_assert_int_eq(outbox_move(t.s, id, OUTBOX_SENDING, OUTBOX_SENT, "p", NULL,
			                             200, err, sizeof(err)),
			                 CJ_OK);
	}
	do {
		ck_assert_int_eq(outbox_list(t.s, &sending, 2, cursor, &items, &next, err,
		                             sizeof(err)),
		                 CJ_OK);
		seen += (long)json_array_size(items);
		for (size_t i = 0; i < json_array_size(items); i++)
			ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i),
			                                                   "state")),
			                 "sending");
		json_decref(items);
		free(cursor);
		cursor = next;
	} while (cursor);
	ck_assert_int_eq(seen, 4);
	ck_assert_int_eq(outbox_list(t.s, NULL, 500, NULL, &items, &next, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(json_array_size(items), 7);
	ck_assert_ptr_null(next);
	json_decref(items);
	ck_assert_int_eq(outbox_list(t.s, NULL, 2, "bm90LW91cnM", &items, &next, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(outbox_state_parse("sending", &st), CJ_OK);
	ck_assert_int_eq(outbox_state_parse("pending", &st), CJ_EINVAL);
	pgtest_db_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outbox");
	TCase *tc = tcase_create("core");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, begin_once_then_move, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, failed_and_resent_rows, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, racing_runs_begin_once, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, list_by_state_in_pages, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
