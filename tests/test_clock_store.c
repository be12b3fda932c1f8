/*
 * test_clock_store.c - unit tests for src/clock_store.c on SQLite and a real
 * PostgreSQL: the offset is written on every advance and loaded by a new
 * process, refused advances leave clock and row alone, the stored value
 * only grows, a damaged row is reported, and subscribers are woken.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "clock.h"
#include "clock_store.h"
#include "log.h"
#include "migrate.h"
#include "pgtest.h"
#include "proc.h"
#include "store.h"
#include "timeutil.h"

static void sql(struct store *s, const char *q)
{
	char err[512];

	ck_assert_msg(store_exec(s, q, NULL, 0, NULL, err, sizeof(err)) == CJ_OK, "%s: %s", q, err);
}

/* The stored offset text, or "" without a row (static buffer). */
static const char *stored(struct store *s)
{
	static char out[64];
	struct store_rows *rows = NULL;
	char err[256];

	ck_assert(store_exec(s, "SELECT value FROM emulator_state WHERE key = 'clock_offset'", NULL,
	                     0, &rows, err, sizeof(err)) == CJ_OK);
	snprintf(out, sizeof(out), "%s", store_rows_next(rows) ? store_rows_text(rows, 0) : "");
	store_rows_free(rows);
	return out;
}

static int wakes;

static void on_wake(void *arg)
{
	(void)arg;
	wakes++;
}

START_TEST(advance_is_saved_and_loaded)
{
	struct pgtest_db t;
	int64_t off = -1, before;
	char err[256];

	pgtest_db_open(&t, _i);
	/* No row yet: offset 0. */
	ck_assert_int_eq(clock_store_load(t.s, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(clock_offset_s(), 0);
	ck_assert_int_eq(clock_subscribe(on_wake, NULL), 0);
	before = clock_now_s();
	ck_assert_int_eq(clock_store_advance(t.s, 3600, &off, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(off, 3600);
	ck_assert_int_eq(clock_offset_s(), 3600);
	ck_assert_int_ge(clock_now_s(), before + 3600);
	ck_assert_int_eq(wakes, 1);
	ck_assert_str_eq(stored(t.s), "3600");
	ck_assert_int_eq(clock_store_advance(t.s, 86400, &off, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(off, 90000);
	ck_assert_str_eq(stored(t.s), "90000");

	/* A restart: the process's clock starts at 0 and loads the row. */
	ck_assert_int_eq(clock_set_offset(0), 0);
	ck_assert_int_eq(clock_store_load(t.s, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(clock_offset_s(), 90000);
	clock_unsubscribe(on_wake, NULL);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(refused_advances_change_nothing)
{
	struct pgtest_db t;
	int64_t off = -1;
	char err[256];

	pgtest_db_open(&t, _i);
	ck_assert_int_eq(clock_store_advance(t.s, 0, &off, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(clock_store_advance(t.s, -5, &off, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(clock_store_advance(t.s, INT64_MAX, &off, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "9999"));
	ck_assert_int_eq(clock_store_advance(t.s, CLOCK_STORE_MAX_TIME, &off, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(off, -1);
	ck_assert_int_eq(clock_offset_s(), 0);
	ck_assert_str_eq(stored(t.s), "");
	/* The database refuses the write: the clock does not move. */
	sql(t.s, "DROP TABLE emulator_state");
	ck_assert_int_ne(clock_store_advance(t.s, 60, &off, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(clock_offset_s(), 0);
	pgtest_db_close(&t);
}
END_TEST

START_TEST(stored_offset_only_grows)
{
	struct pgtest_db t;
	int64_t off = -1;
	char err[256];

	pgtest_db_open(&t, _i);
	/* Another writer got further: a smaller value does not replace it. */
	sql(t.s, "INSERT INTO emulator_state (key, value) VALUES ('clock_offset', '1000000')");
	ck_assert_int_eq(clock_store_advance(t.s, 10, &off, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(off, 10);
	ck_assert_str_eq(stored(t.s), "1000000");
	pgtest_db_close(&t);
}
END_TEST

START_TEST(damaged_row_is_reported)
{
	static const char *const bad[] = {"-5", "abc", "", "12x"};
	struct pgtest_db t;
	char err[256], q[200];

	pgtest_db_open(&t, _i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sql(t.s, "DELETE FROM emulator_state");
		snprintf(q, sizeof(q),
		         "INSERT INTO emulator_state (key, value) VALUES ('clock_offset', '%s')",
		         bad[i]);
		sql(t.s, q);
		err[0] = '\0';
		ck_assert_int_eq(clock_store_load(t.s, err, sizeof(err)), CJ_ESTORAGE);
		ck_assert_ptr_nonnull(strstr(err, "clock_offset"));
	}
	pgtest_db_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clock_store");
	TCase *tc = tcase_create("core");

	log_init(L_ERROR, "test");
	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, advance_is_saved_and_loaded, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, refused_advances_change_nothing, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, stored_offset_only_grows, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, damaged_row_is_reported, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
