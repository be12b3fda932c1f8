/*
 * test_migrate.c - unit tests for src/migrate.c and the migrations/ SQL files on
 * SQLite and a real PostgreSQL: the embedded schema applies to an empty
 * database, a second run is a no-op, processes migrating at once record
 * each migration once, a failing migration leaves nothing half-applied,
 * per-backend variants, bad file names, and the schema's own constraints.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckrun.h"
#include "migrate.h"
#include "pgtest.h"
#include "proc.h"
#include "store.h"

static const char *const tables[] = {"users",           "google_accounts",  "contacts",
                                     "calendar_events", "sync_state",       "suggestions",
                                     "outbox",          "webhook_channels", "dead_letters",
                                     "tasks",           "schema_migrations"};

struct tdb {
	struct store *s;
	char *url;
	char *dir;
};

/* A fresh database, not opened yet (safe to fork). */
static void tdb_create(struct tdb *t, int b)
{
	t->s = NULL;
	t->url = pgtest_backend_url(b, &t->dir);
	ck_assert_ptr_nonnull(t->url);
}

static void tdb_connect(struct tdb *t)
{
	char err[256];

	ck_assert_msg(store_open(t->url, &t->s, err, sizeof(err)) == CJ_OK, "%s", err);
}

static void tdb_open(struct tdb *t, int b)
{
	tdb_create(t, b);
	tdb_connect(t);
}

static void tdb_close(struct tdb *t)
{
	store_close(t->s);
	if (t->dir) {
		remove_tree(t->dir);
		free(t->dir);
	}
	free(t->url);
}

/* COUNT(*) of a table, or -1 when the query fails (no such table). */
static long long rows_in(struct store *s, const char *table)
{
	char sql[128], err[256];
	struct store_rows *r;
	long long n = -1;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	if (store_exec(s, sql, NULL, 0, &r, err, sizeof(err)))
		return -1;
	if (store_rows_next(r))
		n = (long long)store_rows_int(r, 0);
	store_rows_free(r);
	return n;
}

static void ok_exec(struct store *s, const char *sql)
{
	char err[256];
	int rc = store_exec(s, sql, NULL, 0, NULL, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "%s: %s", sql, err);
}

START_TEST(apply_on_empty_then_noop)
{
	struct tdb t;
	char err[512];
	struct store_rows *r;
	int applied = -1, pending = -1;

	tdb_open(&t, _i);
	ck_assert_int_eq(migrate_pending(t.s, &pending, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(pending, (int)migration_files_count);
	ck_assert_msg(migrate_run(t.s, &applied, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_int_eq(applied, (int)migration_files_count);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		ck_assert_msg(rows_in(t.s, tables[i]) >= 0, "table %s missing", tables[i]);
	ck_assert_int_eq(rows_in(t.s, "schema_migrations"), (long long)migration_files_count);
	ck_assert_int_eq(store_exec(t.s,
	                            "SELECT version, name, applied_at FROM schema_migrations "
	                            "ORDER BY version",
	                            NULL, 0, &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert(store_rows_next(r));
	ck_assert_int_eq(store_rows_int(r, 0), 1);
	ck_assert_str_eq(store_rows_text(r, 1), "schema");
	ck_assert(store_rows_int(r, 2) > 1700000000);
	store_rows_free(r);
	ck_assert_int_eq(migrate_pending(t.s, &pending, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(pending, 0);
	ck_assert_int_eq(migrate_run(t.s, &applied, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(applied, 0);
	ck_assert_int_eq(rows_in(t.s, "schema_migrations"), (long long)migration_files_count);
	tdb_close(&t);
}
END_TEST

#define NPROC 3

static const struct migration_file many[] = {
    {"0001_schema.sql", NULL}, /* filled with the real schema */
    {"0002_a.sql", "CREATE TABLE extra_a (x INTEGER); INSERT INTO extra_a VALUES (1);"},
    {"0003_b.sql", "CREATE TABLE extra_b (x INTEGER); INSERT INTO extra_b VALUES (1);"},
    {"0004_c.sql", "INSERT INTO extra_a VALUES (2);"},
    {"0005_d.sql", "INSERT INTO extra_b VALUES (2);"},
};

START_TEST(processes_migrating_at_once)
{
	struct migration_file files[5];
	struct tdb t;
	pid_t pids[NPROC];
	int go[2];
	char c = 'g';

	memcpy(files, many, sizeof(files));
	files[0].sql = migration_files[0].sql;
	/* SQLite must not carry an open database across fork(): open it after. */
	tdb_create(&t, _i);
	ck_assert_int_eq(pipe(go), 0);
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct store *s;
			char err[512], b;
			int applied;

			close(go[1]);
			if (read(go[0], &b, 1) < 0)
				_exit(3);
			if (store_open(t.url, &s, err, sizeof(err))) {
				fprintf(stderr, "child %d: %s\n", i, err);
				_exit(2);
			}
			if (migrate_run_files(s, files, 5, &applied, err, sizeof(err))) {
				fprintf(stderr, "child %d: %s\n", i, err);
				_exit(1);
			}
			store_close(s);
			_exit(0);
		}
	}
	close(go[0]);
	ck_assert_int_eq(write(go[1], &c, 1), 1); /* a byte, then EOF for the others */
	close(go[1]);
	for (int i = 0; i < NPROC; i++) {
		int st;

		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed", i);
	}
	tdb_connect(&t);
	ck_assert_int_eq(rows_in(t.s, "schema_migrations"), 5);
	ck_assert_int_eq(rows_in(t.s, "extra_a"), 2);
	ck_assert_int_eq(rows_in(t.s, "extra_b"), 2);
	tdb_close(&t);
}
END_TEST

START_TEST(failing_migration_leaves_nothing_half_done)
{
	static const struct migration_file files[] = {
	    {"0001_a.sql", "CREATE TABLE a (x INTEGER);"},
	    {"0002_b.sql", "CREATE TABLE b (x INTEGER);\nINSERT INTO nope VALUES (1);"},
	    {"0003_c.sql", "CREATE TABLE c (x INTEGER);"},
	};
	struct tdb t;
	char err[512];
	int applied = -1;

	tdb_open(&t, _i);
	ck_assert_int_eq(migrate_run_files(t.s, files, 3, &applied, err, sizeof(err)), CJ_ESTORAGE);
	ck_assert_ptr_nonnull(strstr(err, "0002_b"));
	ck_assert_int_eq(applied, 1);
	ck_assert_int_eq(rows_in(t.s, "a"), 0);
	ck_assert_int_eq(rows_in(t.s, "b"), -1);
	ck_assert_int_eq(rows_in(t.s, "c"), -1);
	ck_assert_int_eq(rows_in(t.s, "schema_migrations"), 1);
	tdb_close(&t);
}
END_TEST

START_TEST(backend_variants)
{
	static const struct migration_file files[] = {
	    {"0003_only.pg.sql", "CREATE TABLE only_pg (x INTEGER);"},
	    {"0001_t.sql", "CREATE TABLE common_t (x INTEGER);"},
	    {"0002_v.pg.sql", "CREATE TABLE v_pg (x INTEGER);"},
	    {"0002_v.sql", "CREATE TABLE v_common (x INTEGER);"},
	    {"0002_v.sqlite.sql", "CREATE TABLE v_sqlite (x INTEGER);"},
	};
	struct tdb t;
	char err[512];
	int applied = -1, pg = _i == PGTEST_POSTGRES;

	tdb_open(&t, _i);
	ck_assert_msg(migrate_run_files(t.s, files, 5, &applied, err, sizeof(err)) == CJ_OK, "%s",
	              err);
	ck_assert_int_eq(applied, 3);
	ck_assert_int_eq(rows_in(t.s, "common_t"), 0);
	ck_assert_int_eq(rows_in(t.s, "v_common"), -1);
	ck_assert_int_eq(rows_in(t.s, "v_pg"), pg ? 0 : -1);
	ck_assert_int_eq(rows_in(t.s, "v_sqlite"), pg ? -1 : 0);
	ck_assert_int_eq(rows_in(t.s, "only_pg"), pg ? 0 : -1);
	ck_assert_int_eq(rows_in(t.s, "schema_migrations"), 3);
	tdb_close(&t);
}
END_TEST

START_TEST(bad_file_names)
{
	static const struct migration_file bad[][2] = {
	    {{"1_x.txt", "SELECT 1"}, {NULL, NULL}},
	    {{"schema.sql", "SELECT 1"}, {NULL, NULL}},
	    {{"0001_.sql", "SELECT 1"}, {NULL, NULL}},
	    {{"0001_a b.sql", "SELECT 1"}, {NULL, NULL}},
	    {{"0001_a.sql", "SELECT 1"}, {"0001_b.sql", "SELECT 1"}},
	    {{"0001_a.sql", "SELECT 1"}, {"0001_a.sql", "SELECT 1"}},
	    {{"0001_a.pg.sql", "SELECT 1"}, {"0001_a.pg.sql", "SELECT 2"}},
	};
	struct tdb t;
	char err[512];
	int applied;

	tdb_open(&t, _i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = bad[i][1].name ? 2 : 1;

		ck_assert_int_eq(migrate_run_files(t.s, bad[i], n, &applied, err, sizeof(err)),
		                 CJ_EINVAL);
	}
	ck_assert_int_eq(rows_in(t.s, "schema_migrations"), -1);
	tdb_close(&t);
}
END_TEST

/* The schema's keys do what the jobs rely on, on both backends. */
START_TEST(schema_constraints)
{
	struct tdb t;
	char err[512];

	tdb_open(&t, _i);
	ck_assert_int_eq(migrate_run(t.s, NULL, err, sizeof(err)), CJ_OK);
	ok_exec(t.s,
	        "INSERT INTO users (id, email, created_at, updated_at) "
	        "VALUES ('u1', 'a@example.com', 1, 1)");
	ok_exec(t.s,
	        "INSERT INTO contacts (id, user_id, resource_name, created_at, updated_at) "
	        "VALUES ('c1', 'u1', 'people/c1', 1, 1)");
	ck_assert_int_eq(store_exec(t.s,
	                            "INSERT INTO contacts (id, user_id, resource_name, created_at, "
	                            "updated_at) VALUES ('c2', 'u1', 'people/c1', 1, 1)",
	                            NULL, 0, NULL, err, sizeof(err)),
	                 CJ_EEXISTS);
	ck_assert_int_eq(store_exec(t.s,
	                            "INSERT INTO contacts (id, user_id, resource_name, created_at, "
	                            "updated_at) VALUES ('c3', 'nobody', 'people/c3', 1, 1)",
	                            NULL, 0, NULL, err, sizeof(err)),
	                 CJ_ESTORAGE);
	ck_assert_int_eq(store_last_error(), STORE_ERR_FOREIGN_KEY);
	/* One open suggestion per contact; closed ones do not count. */
	ok_exec(t.s,
	        "INSERT INTO suggestions (id, user_id, contact_id, slot_start, slot_end, "
	        "state, created_at, updated_at) VALUES ('s1', 'u1', 'c1', 10, 20, 'expired', "
	        "1, 1)");
	ok_exec(t.s,
	        "INSERT INTO suggestions (id, user_id, contact_id, slot_start, slot_end, "
	        "created_at, updated_at) VALUES ('s2', 'u1', 'c1', 10, 20, 1, 1)");
	ck_assert_int_eq(store_exec(t.s,
	                            "INSERT INTO suggestions (id, user_id, contact_id, slot_start, "
	                            "slot_end, state, created_at, updated_at) VALUES ('s3', 'u1', "
	                            "'c1', 30, 40, 'notified', 1, 1)",
	                            NULL, 0, NULL, err, sizeof(err)),
	                 CJ_EEXISTS);
	ck_assert_int_eq(store_exec(t.s, "UPDATE suggestions SET state = 'bogus' WHERE id = 's2'",
	                            NULL, 0, NULL, err, sizeof(err)),
	                 CJ_ESTORAGE);
	ck_assert_int_eq(store_last_error(), STORE_ERR_CHECK);
	/* The outbox key makes a second send impossible. */
	ok_exec(t.s,
	        "INSERT INTO outbox (id, dedupe_key, kind, channel, recipient, body, created_at, "
	        "updated_at) VALUES ('o1', 'batch:u1:abc', 'batch', 'sms', '+15550100', 'hi', 1, 1)");
	ck_assert_int_eq(store_exec(t.s,
	                            "INSERT INTO outbox (id, dedupe_key, kind, channel, recipient, "
	                            "body, created_at, updated_at) VALUES ('o2', 'batch:u1:abc', "
	                            "'batch', 'sms', '+15550100', 'hi', 1, 1)",
	                            NULL, 0, NULL, err, sizeof(err)),
	                 CJ_EEXISTS);
	ok_exec(t.s,
	        "INSERT INTO sync_state (user_id, kind, updated_at) "
	        "VALUES ('u1', 'calendar:primary', 1)");
	ck_assert_int_eq(store_exec(t.s,
	                            "INSERT INTO sync_state (user_id, kind, updated_at) "
	                            "VALUES ('u1', 'calendar:primary', 2)",
	                            NULL, 0, NULL, err, sizeof(err)),
	                 CJ_EEXISTS);
	/* Deleting a user removes what hangs off it. */
	ok_exec(t.s, "DELETE FROM users WHERE id = 'u1'");
	ck_assert_int_eq(rows_in(t.s, "contacts"), 0);
	ck_assert_int_eq(rows_in(t.s, "suggestions"), 0);
	ck_assert_int_eq(rows_in(t.s, "sync_state"), 0);
	ck_assert_int_eq(rows_in(t.s, "outbox"), 1);
	tdb_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("both");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, apply_on_empty_then_noop, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, processes_migrating_at_once, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, failing_migration_leaves_nothing_half_done, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, backend_variants, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, bad_file_names, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, schema_constraints, 0, PGTEST_NBACKENDS);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
