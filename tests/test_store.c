/*
 * test_store.c - unit tests for src/store.c and its two backends. Every
 * test runs against SQLite (a temporary directory) and a real PostgreSQL
 * server (tests/support/pgtest.c): parameter binding, results, transactions,
 * error translation, the pool under 8 threads, statement timeouts, URL
 * errors without passwords, ping, and reconnection after a server restart.
 */
#include <check.h>
#include <float.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "pgtest.h"
#include "proc.h"
#include "store.h"

struct tdb {
	struct store *s;
	char *url;
	char *dir;
};

static void tdb_open_opts(struct tdb *t, int b, const struct store_options *o)
{
	char err[256];
	int rc;

	t->url = pgtest_backend_url(b, &t->dir);
	ck_assert_msg(t->url != NULL, "no %s database", pgtest_backend_name(b));
	rc = store_open_opts(t->url, o, &t->s, err, sizeof(err));
	ck_assert_msg(rc == CJ_OK, "open %s: %s", pgtest_backend_name(b), err);
	ck_assert_str_eq(store_backend(t->s), pgtest_backend_name(b));
}

static void tdb_open(struct tdb *t, int b)
{
	tdb_open_opts(t, b, NULL);
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

/* Runs sql that must succeed. */
static void ok_exec(struct store *s, const char *sql, const struct store_param *p, size_t n)
{
	char err[256];
	int rc = store_exec(s, sql, p, n, NULL, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "%s: %s (%s)", sql, cj_strerror(rc), err);
}

static int64_t count_rows(struct store *s, const char *table)
{
	char sql[128], err[256];
	struct store_rows *r;
	int64_t n;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	ck_assert_int_eq(store_exec(s, sql, NULL, 0, &r, err, sizeof(err)), CJ_OK);
	ck_assert(store_rows_next(r));
	n = store_rows_int(r, 0);
	store_rows_free(r);
	return n;
}

static const char *const CREATE_T = "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, d DOUBLE "
                                    "PRECISION, s TEXT)";

START_TEST(binding_round_trip)
{
	static const int64_t ints[] = {INT64_MIN, INT64_MAX, 0, -1, 1, 4294967296LL};
	static const double dbls[] = {0.1, -1e300, 1e-300, DBL_MAX, DBL_MIN, -0.5, 3.0};
	const char *uni = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac "
	                  "\xf0\x9f\x8e\x89 e\xcc\x81";
	struct tdb t;
	struct store_rows *r;
	char err[256], id[16];
	size_t big_len = 1024 * 1024;
	char *big = malloc(big_len);

	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	tdb_open(&t, _i);
	ok_exec(t.s, CREATE_T, NULL, 0);
	for (size_t i = 0; i < 7; i++) {
		struct store_param p[4];

		snprintf(id, sizeof(id), "r%zu", i);
		p[0] = store_p_text(id);
		p[1] = i < 6 ? store_p_int(ints[i]) : store_p_null();
		p[2] = store_p_double(dbls[i]);
		p[3] = i == 0 ? store_p_text(uni)
		    : i == 1  ? store_p_textn(big, big_len)
		    : i == 2  ? store_p_textn("abcdef", 3)
		              : store_p_text(NULL);
		ok_exec(t.s, "INSERT INTO t (id, n, d, s) VALUES ($1, $2, $3, $4)", p, 4);
	}
	ck_assert_int_eq(
	    store_exec(t.s, "SELECT id, n, d, s FROM t ORDER BY id", NULL, 0, &r, err, sizeof(err)),
	    CJ_OK);
	ck_assert_uint_eq(store_rows_count(r), 7);
	ck_assert_uint_eq(store_rows_ncols(r), 4);
	ck_assert_str_eq(store_rows_name(r, 2), "d");
	for (size_t i = 0; i < 7; i++) {
		ck_assert(store_rows_next(r));
		if (i < 6) {
			ck_assert(!store_rows_is_null(r, 1));
			ck_assert(store_rows_int(r, 1) == ints[i]);
		} else {
			ck_assert(store_rows_is_null(r, 1));
			ck_assert_ptr_null(store_rows_text(r, 1));
		}
		ck_assert(store_rows_double(r, 2) == dbls[i]);
		if (i == 0) {
			ck_assert_str_eq(store_rows_text(r, 3), uni);
			ck_assert_uint_eq(store_rows_len(r, 3), strlen(uni));
		} else if (i == 1) {
			ck_assert_uint_eq(store_rows_len(r, 3), big_len);
			ck_assert(!memcmp(store_rows_text(r, 3), big, big_len));
		} else if (i == 2) {
			ck_assert_str_eq(store_rows_text(r, 3), "abc");
		} else {
			ck_assert(store_rows_is_null(r, 3));
		}
	}
	ck_assert(!store_rows_next(r));
	store_rows_free(r);
	/* Numbers read as text and text read as numbers. */
	{
		struct store_param p[] = {store_p_text("r1")};

		ck_assert_int_eq(store_exec(t.s, "SELECT n, '42', d FROM t WHERE id = $1", p, 1, &r,
		                            err, sizeof(err)),
		                 CJ_OK);
		ck_assert(store_rows_next(r));
		ck_assert_str_eq(store_rows_text(r, 0), "9223372036854775807");
		ck_assert_int_eq(store_rows_int(r, 1), 42);
		ck_assert(store_rows_double(r, 2) == -1e300);
		store_rows_free(r);
	}
	tdb_close(&t);
	free(big);
}
END_TEST

START_TEST(binding_mistakes)
{
	struct tdb t;
	char err[256];
	struct store_rows *r;
	struct store_param one[] = {store_p_int(1)};
	struct store_param nul[] = {store_p_textn("a\0b", 3)};
	struct store_param bad_utf8[] = {store_p_text("caf\xc3")};
	struct store_param overlong[] = {store_p_text("\xc0\xaf")};
	struct store_param nan[] = {store_p_double(0.0 / 0.0)};
	struct store_param lit[] = {store_p_text("x")};

	tdb_open(&t, _i);
	ok_exec(t.s, CREATE_T, NULL, 0);
	ck_assert_int_eq(store_exec(t.s, "SELECT $1, $2", one, 1, NULL, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(store_last_error(), STORE_ERR_INVALID);
	ck_assert_int_eq(store_exec(t.s, "SELECT 1", one, 1, NULL, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(store_exec(t.s, "SELECT $0", NULL, 0, NULL, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(
	    store_exec(t.s, "INSERT INTO t (id) VALUES ($1)", nul, 1, NULL, err, sizeof(err)),
	    CJ_EINVAL);
	ck_assert_int_eq(
	    store_exec(t.s, "INSERT INTO t (id) VALUES ($1)", bad_utf8, 1, NULL, err, sizeof(err)),
	    CJ_EINVAL);
	ck_assert_int_eq(
	    store_exec(t.s, "INSERT INTO t (id) VALUES ($1)", overlong, 1, NULL, err, sizeof(err)),
	    CJ_EINVAL);
	ck_assert_int_eq(store_exec(t.s, "INSERT INTO t (id, d) VALUES ('n', $1)", nan, 1, NULL,
	                            err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(store_exec(t.s, "SELECT 1; SELECT 2", NULL, 0, NULL, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_int_eq(store_exec(t.s, "SELEC 1", NULL, 0, NULL, err, sizeof(err)), CJ_ESTORAGE);
	ck_assert_int_eq(store_exec(t.s, "SELECT * FROM missing", NULL, 0, NULL, err, sizeof(err)),
	                 CJ_ESTORAGE);
	/* "$1" inside quotes and comments is no placeholder; a trailing ';' is fine. */
	ck_assert_int_eq(store_exec(t.s, "SELECT '$2' AS a, $1 AS \"$3\" -- $4\n /* $5 */ ;", lit,
	                            1, &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert(store_rows_next(r));
	ck_assert_str_eq(store_rows_text(r, 0), "$2");
	ck_assert_str_eq(store_rows_text(r, 1), "x");
	ck_assert_str_eq(store_rows_name(r, 1), "$3");
	store_rows_free(r);
	tdb_close(&t);
}
END_TEST

START_TEST(changes_conflicts_and_returning)
{
	struct tdb t;
	char err[256];
	struct store_rows *r;
	struct store_param a[] = {store_p_text("a"), store_p_int(1)};
	struct store_param b[] = {store_p_text("b"), store_p_int(2)};
	struct store_param child[] = {store_p_text("c1"), store_p_text("nobody")};

	tdb_open(&t, _i);
	ok_exec(t.s, CREATE_T, NULL, 0);
	ok_exec(t.s,
	        "CREATE TABLE child (id TEXT PRIMARY KEY, parent TEXT NOT NULL REFERENCES t(id))",
	        NULL, 0);
	ok_exec(t.s, "INSERT INTO t (id, n) VALUES ($1, $2)", a, 2);
	ok_exec(t.s, "INSERT INTO t (id, n) VALUES ($1, $2)", b, 2);
	ck_assert_int_eq(
	    store_exec(t.s, "INSERT INTO t (id, n) VALUES ($1, $2)", a, 2, NULL, err, sizeof(err)),
	    CJ_EEXISTS);
	ck_assert_int_eq(store_last_error(), STORE_ERR_UNIQUE);
	ck_assert_int_eq(store_exec(t.s, "INSERT INTO child (id, parent) VALUES ($1, $2)", child, 2,
	                            NULL, err, sizeof(err)),
	                 CJ_ESTORAGE);
	ck_assert_int_eq(store_last_error(), STORE_ERR_FOREIGN_KEY);
	ck_assert_int_eq(store_exec(t.s, "INSERT INTO child (id) VALUES ('c2')", NULL, 0, NULL, err,
	                            sizeof(err)),
	                 CJ_ESTORAGE);
	ck_assert_int_eq(store_last_error(), STORE_ERR_NOT_NULL);
	ck_assert_int_eq(store_exec(t.s,
	                            "INSERT INTO t (id, n) VALUES ($1, $2) ON CONFLICT (id) "
	                            "DO NOTHING",
	                            a, 2, &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(store_rows_changes(r), 0);
	store_rows_free(r);
	ck_assert_int_eq(store_exec(t.s, "UPDATE t SET n = n + 10", NULL, 0, &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(store_rows_changes(r), 2);
	ck_assert_uint_eq(store_rows_count(r), 0);
	store_rows_free(r);
	ck_assert_int_eq(store_exec(t.s, "SELECT id FROM t", NULL, 0, &r, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_rows_changes(r), 0);
	store_rows_free(r);
	ck_assert_int_eq(
	    store_exec(t.s, "DELETE FROM t WHERE id = $1 RETURNING n", a, 2, &r, err, sizeof(err)),
	    CJ_EINVAL); /* two parameters given, one used */
	ck_assert_int_eq(
	    store_exec(t.s, "DELETE FROM t WHERE id = $1 RETURNING n", b, 1, &r, err, sizeof(err)),
	    CJ_OK);
	ck_assert_int_eq(store_rows_changes(r), 1);
	ck_assert(store_rows_next(r));
	ck_assert_int_eq(store_rows_int(r, 0), 12);
	store_rows_free(r);
	tdb_close(&t);
}
END_TEST

START_TEST(transactions)
{
	struct tdb t;
	struct store_conn *c;
	char err[256];
	struct store_param a[] = {store_p_text("a")};
	struct store_param b[] = {store_p_text("b")};

	tdb_open(&t, _i);
	ok_exec(t.s, CREATE_T, NULL, 0);
	ck_assert_int_eq(store_acquire(t.s, &c, err, sizeof(err)), CJ_OK);
	ck_assert_ptr_eq(store_conn_store(c), t.s);
	ck_assert_int_eq(store_commit(c, err, sizeof(err)), CJ_EINVAL);
	/* Rolled back. */
	ck_assert_int_eq(store_begin(c, err, sizeof(err)), CJ_OK);
	ck_assert(store_in_transaction(c));
	ck_assert_int_eq(store_begin(c, err, sizeof(err)), CJ_EINVAL);
	ck_assert_int_eq(
	    store_conn_exec(c, "INSERT INTO t (id) VALUES ($1)", a, 1, NULL, err, sizeof(err)),
	    CJ_OK);
	store_rollback(c);
	ck_assert(!store_in_transaction(c));
	ck_assert_int_eq(count_rows(t.s, "t"), 0);
	/* Committed. */
	ck_assert_int_eq(store_begin(c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(
	    store_conn_exec(c, "INSERT INTO t (id) VALUES ($1)", a, 1, NULL, err, sizeof(err)),
	    CJ_OK);
	ck_assert_int_eq(store_commit(c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(count_rows(t.s, "t"), 1);
	/* A failed statement dooms the transaction on both backends. */
	ck_assert_int_eq(store_begin(c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(
	    store_conn_exec(c, "INSERT INTO t (id) VALUES ($1)", b, 1, NULL, err, sizeof(err)),
	    CJ_OK);
	ck_assert_int_eq(
	    store_conn_exec(c, "INSERT INTO t (id) VALUES ($1)", a, 1, NULL, err, sizeof(err)),
	    CJ_EEXISTS);
	ck_assert_int_eq(store_conn_exec(c, "SELECT 1", NULL, 0, NULL, err, sizeof(err)),
	                 CJ_ESTORAGE);
	ck_assert_int_eq(store_commit(c, err, sizeof(err)), CJ_ESTORAGE);
	ck_assert(!store_in_transaction(c));
	ck_assert_int_eq(count_rows(t.s, "t"), 1);
	/* Released with a transaction open: rolled back. */
	ck_assert_int_eq(store_begin(c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(
	    store_conn_exec(c, "INSERT INTO t (id) VALUES ($1)", b, 1, NULL, err, sizeof(err)),
	    CJ_OK);
	store_release(c);
	ck_assert_int_eq(count_rows(t.s, "t"), 1);
	/* A script runs several statements. */
	ck_assert_int_eq(store_acquire(t.s, &c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(
	    store_conn_exec_script(c,
	                           "CREATE TABLE u (x INTEGER);\n"
	                           "INSERT INTO u VALUES (1);\nINSERT INTO u VALUES (2);",
	                           err, sizeof(err)),
	    CJ_OK);
	ck_assert_int_eq(
	    store_conn_exec_script(c, "INSERT INTO u VALUES (3); SELEC", err, sizeof(err)),
	    CJ_ESTORAGE);
	store_release(c);
	ck_assert_int_eq(count_rows(t.s, "u"), _i == PGTEST_POSTGRES ? 2 : 3);
	tdb_close(&t);
}
END_TEST

struct tx_arg {
	const char *id;
	int fail_with;
};

static int tx_insert(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct tx_arg *a = arg;
	struct store_param p[] = {store_p_text(a->id)};
	int rc = store_conn_exec(c, "INSERT INTO t (id) VALUES ($1)", p, 1, NULL, err, errlen);

	return rc ? rc : a->fail_with;
}

START_TEST(transact_helper)
{
	struct tdb t;
	char err[256];
	struct tx_arg ok = {"a", CJ_OK}, fails = {"b", CJ_ENOTFOUND}, dup = {"a", CJ_OK};

	tdb_open(&t, _i);
	ok_exec(t.s, CREATE_T, NULL, 0);
	ck_assert_int_eq(store_transact(t.s, tx_insert, &ok, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_transact(t.s, tx_insert, &fails, err, sizeof(err)), CJ_ENOTFOUND);
	ck_assert_int_eq(store_transact(t.s, tx_insert, &dup, err, sizeof(err)), CJ_EEXISTS);
	ck_assert_int_eq(count_rows(t.s, "t"), 1);
	tdb_close(&t);
}
END_TEST

#define NTHREADS 8
#define PER_THREAD 40

struct worker {
	struct store *s;
	int idx;
	int failures;
	char err[256];
};

static int tx_bump(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	(void)arg;
	return store_conn_exec(c, "UPDATE counter SET n = n + 1 WHERE k = 'x'", NULL, 0, NULL, err,
	                       errlen);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		char id[32];
		struct store_param p[2];
		struct store_rows *r = NULL;

		snprintf(id, sizeof(id), "w%d-%d", w->idx, i);
		p[0] = store_p_text(id);
		p[1] = store_p_int(i);
		if (store_exec(w->s, "INSERT INTO t (id, n) VALUES ($1, $2)", p, 2, NULL, w->err,
		               sizeof(w->err)) ||
		    store_transact(w->s, tx_bump, w, w->err, sizeof(w->err)) ||
		    store_exec(w->s, "SELECT n FROM t WHERE id = $1", p, 1, &r, w->err,
		               sizeof(w->err)) ||
		    !store_rows_next(r) || store_rows_int(r, 0) != i)
			w->failures++;
		store_rows_free(r);
	}
	return NULL;
}

START_TEST(eight_threads)
{
	struct store_options o = {.pool_size = 4};
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct tdb t;
	struct store_rows *r;
	char err[256];

	tdb_open_opts(&t, _i, &o);
	ok_exec(t.s, CREATE_T, NULL, 0);
	ok_exec(t.s, "CREATE TABLE counter (k TEXT PRIMARY KEY, n BIGINT NOT NULL)", NULL, 0);
	ok_exec(t.s, "INSERT INTO counter VALUES ('x', 0)", NULL, 0);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.s = t.s, .idx = i};
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(w[i].failures == 0, "thread %d: %d failures, last: %s", i,
		              w[i].failures, w[i].err);
	}
	ck_assert_int_eq(count_rows(t.s, "t"), NTHREADS * PER_THREAD);
	ck_assert_int_eq(store_exec(t.s, "SELECT n FROM counter", NULL, 0, &r, err, sizeof(err)),
	                 CJ_OK);
	ck_assert(store_rows_next(r));
	ck_assert_int_eq(store_rows_int(r, 0), NTHREADS * PER_THREAD);
	store_rows_free(r);
	tdb_close(&t);
}
END_TEST

START_TEST(pool_exhaustion_and_timeout)
{
	struct store_options o = {
	    .pool_size = 1, .acquire_timeout_ms = 200, .statement_timeout_ms = 300};
	struct tdb t;
	struct store_conn *c;
	char err[256];
	double ms;

	tdb_open_opts(&t, _i, &o);
	ck_assert_int_eq(store_acquire(t.s, &c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_exec(t.s, "SELECT 1", NULL, 0, NULL, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(store_last_error(), STORE_ERR_CONNECTION);
	/* An endless recursive query is cut by the statement timeout. */
	ck_assert_int_eq(store_conn_exec(c,
	                                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
	                                 "FROM c) SELECT COUNT(*) FROM c",
	                                 NULL, 0, NULL, err, sizeof(err)),
	                 CJ_ETIMEOUT);
	ck_assert_int_eq(store_last_error(), STORE_ERR_TIMEOUT);
	store_release(c);
	ck_assert_int_eq(store_ping(t.s, &ms, err, sizeof(err)), CJ_OK);
	ck_assert(ms >= 0);
	tdb_close(&t);
}
END_TEST

START_TEST(bad_urls_hide_passwords)
{
	struct store *s = NULL;
	char err[512], red[256], *dir, url[512];
	const char *pw = pgtest_password();

	ck_assert_int_eq(store_open("mysql://u:hunter22@h/db", &s, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_ptr_null(strstr(err, "hunter22"));
	ck_assert_int_eq(store_open("", &s, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(store_open("sqlite:", &s, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(store_open("sqlite::memory:", &s, err, sizeof(err)), CJ_ECONFIG);
	ck_assert_int_eq(
	    store_open("postgresql://u:hunter22@h:notaport/db?x=1", &s, err, sizeof(err)),
	    CJ_ECONFIG);
	ck_assert_ptr_null(strstr(err, "hunter22"));
	ck_assert_int_eq(
	    store_open("postgresql://u:hunter22@h/db?bogus_option=1", &s, err, sizeof(err)),
	    CJ_ECONFIG);
	ck_assert_ptr_null(strstr(err, "hunter22"));
	/* A directory that cannot be created. */
	dir = make_temp_dir();
	snprintf(url, sizeof(url), "sqlite:%s/file/sub/x.db", dir);
	snprintf(red, sizeof(red), "%s/file", dir);
	fclose(fopen(red, "w"));
	ck_assert_int_eq(store_open(url, &s, err, sizeof(err)), CJ_EUNAVAIL);
	remove_tree(dir);
	free(dir);
	/* Nobody listens: connecting fails on first use. */
	ck_assert_int_eq(store_open("postgresql://u:hunter22@127.0.0.1:1/db", &s, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_str_eq(store_url_redacted(s), "postgresql://u:***@127.0.0.1:1/db");
	ck_assert_int_eq(store_exec(s, "SELECT 1", NULL, 0, NULL, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_ptr_null(strstr(err, "hunter22"));
	store_close(s);
	/* The real server with a wrong password. */
	if (*pw) {
		const char *base = pgtest_url();
		const char *at = strchr(base + strlen("postgresql://"), '@');

		snprintf(url, sizeof(url), "postgresql://cjtest:wrong%s%s", pw, at);
		ck_assert_int_eq(store_open(url, &s, err, sizeof(err)), CJ_OK);
		ck_assert_int_eq(store_exec(s, "SELECT 1", NULL, 0, NULL, err, sizeof(err)),
		                 CJ_EUNAVAIL);
		ck_assert_ptr_null(strstr(err, pw));
		ck_assert_ptr_nonnull(strstr(err, "cjtest"));
		store_close(s);
	}
	store_redact_url("postgresql://user:p%40ss@/db?host=/cloudsql/p:r:i", red, sizeof(red));
	ck_assert_str_eq(red, "postgresql://user:***@/db?host=/cloudsql/p:r:i");
	store_redact_url("postgres://h/db?user=u&password=secret&sslmode=require", red,
	                 sizeof(red));
	ck_assert_str_eq(red, "postgres://h/db?user=u&password=***&sslmode=require");
	store_redact_url("postgres://user@h/db", red, sizeof(red));
	ck_assert_str_eq(red, "postgres://user@h/db");
	store_redact_url("sqlite:./data/catchup.db", red, sizeof(red));
	ck_assert_str_eq(red, "sqlite:./data/catchup.db");
}
END_TEST

START_TEST(ping_both)
{
	struct tdb t;
	char err[256];
	double ms = -1;

	tdb_open(&t, _i);
	ck_assert_int_eq(store_ping(t.s, &ms, err, sizeof(err)), CJ_OK);
	ck_assert(ms >= 0);
	tdb_close(&t);
}
END_TEST

/* A second writer that cannot get the lock in time gets CJ_ECONFLICT. */
START_TEST(lock_wait_is_a_conflict)
{
	struct store_options o = {.lock_timeout_ms = 200};
	struct store_conn *a, *b;
	struct tdb t;
	char err[256];
	int rc;

	tdb_open_opts(&t, _i, &o);
	ok_exec(t.s, CREATE_T, NULL, 0);
	ok_exec(t.s, "INSERT INTO t (id, n) VALUES ('x', 1)", NULL, 0);
	ck_assert_int_eq(store_acquire(t.s, &a, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_acquire(t.s, &b, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_begin(a, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_conn_exec(a, "UPDATE t SET n = 2 WHERE id = 'x'", NULL, 0, NULL, err,
	                                 sizeof(err)),
	                 CJ_OK);
	/* SQLite refuses the second BEGIN IMMEDIATE; PostgreSQL the row lock. */
	rc = store_begin(b, err, sizeof(err));
	if (rc == CJ_OK)
		rc = store_conn_exec(b, "UPDATE t SET n = 3 WHERE id = 'x'", NULL, 0, NULL, err,
		                     sizeof(err));
	ck_assert_msg(rc == CJ_ECONFLICT, "%s: %s", cj_strerror(rc), err);
	ck_assert_int_eq(store_last_error(), STORE_ERR_CONFLICT);
	store_rollback(b);
	ck_assert_int_eq(store_commit(a, err, sizeof(err)), CJ_OK);
	store_release(a);
	store_release(b);
	tdb_close(&t);
}
END_TEST

/* PostgreSQL only: Cloud SQL's form, a unix socket named by host=. */
START_TEST(unix_socket_url)
{
	char url[512], err[256], expect[512];
	struct store *s;
	struct store_rows *r;

	if (!pgtest_owned()) {
		fprintf(stderr, "unix socket test needs our own server\n");
		return;
	}
	snprintf(url, sizeof(url), "postgresql://cjtest:%s@/postgres?host=%s&port=%d",
	         pgtest_password(), pgtest_socket_dir(), pgtest_port());
	snprintf(expect, sizeof(expect), "postgresql://cjtest:***@/postgres?host=%s&port=%d",
	         pgtest_socket_dir(), pgtest_port());
	ck_assert_int_eq(store_open(url, &s, err, sizeof(err)), CJ_OK);
	ck_assert_str_eq(store_url_redacted(s), expect);
	ck_assert_int_eq(
	    store_exec(s, "SELECT inet_server_addr() IS NULL", NULL, 0, &r, err, sizeof(err)),
	    CJ_OK);
	ck_assert(store_rows_next(r));
	ck_assert_str_eq(store_rows_text(r, 0), "t"); /* no TCP address: a socket */
	store_rows_free(r);
	store_close(s);
}
END_TEST

/* PostgreSQL only: the contract after a lost connection (store.h). */
START_TEST(reconnect_after_restart)
{
	struct tdb t;
	struct store_conn *c;
	char err[256];
	double ms;
	int rc;

	if (!pgtest_owned()) {
		fprintf(stderr, "reconnect test needs our own server (CJ_TEST_DATABASE_URL set)\n");
		return;
	}
	tdb_open(&t, PGTEST_POSTGRES);
	ok_exec(t.s, CREATE_T, NULL, 0);
	ok_exec(t.s, "INSERT INTO t (id) VALUES ('before')", NULL, 0);
	/* Outside a transaction the next statement succeeds after a restart. */
	ck_assert_int_eq(pgtest_restart(), 0);
	ok_exec(t.s, "INSERT INTO t (id) VALUES ('after')", NULL, 0);
	ck_assert_int_eq(count_rows(t.s, "t"), 2);
	/* Inside a transaction the loss is reported and the work is gone. */
	ck_assert_int_eq(store_acquire(t.s, &c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_begin(c, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(store_conn_exec(c, "INSERT INTO t (id) VALUES ('lost')", NULL, 0, NULL,
	                                 err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(pgtest_restart(), 0);
	ck_assert_int_eq(store_conn_exec(c, "SELECT 1", NULL, 0, NULL, err, sizeof(err)),
	                 CJ_EUNAVAIL);
	ck_assert_int_eq(store_last_error(), STORE_ERR_CONNECTION);
	store_rollback(c);
	store_release(c);
	ck_assert_int_eq(count_rows(t.s, "t"), 2);
	/* While the server is down: CJ_EUNAVAIL; once back: success. */
	ck_assert_int_eq(pgtest_server_stop(), 0);
	ck_assert_int_eq(store_exec(t.s, "SELECT 1", NULL, 0, NULL, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(store_ping(t.s, &ms, err, sizeof(err)), CJ_EUNAVAIL);
	ck_assert_int_eq(pgtest_server_start(), 0);
	rc = store_exec(t.s, "SELECT 1", NULL, 0, NULL, err, sizeof(err));
	ck_assert_msg(rc == CJ_OK, "after start: %s", err);
	ck_assert_int_eq(store_ping(t.s, &ms, err, sizeof(err)), CJ_OK);
	tdb_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("both");
	int failed;

	if (pgtest_start())
		return 1;
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, binding_round_trip, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, binding_mistakes, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, changes_conflicts_and_returning, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, transactions, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, transact_helper, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, eight_threads, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, pool_exhaustion_and_timeout, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, ping_both, 0, PGTEST_NBACKENDS);
	tcase_add_loop_test(tc, lock_wait_is_a_conflict, 0, PGTEST_NBACKENDS);
	tcase_add_test(tc, bad_urls_hide_passwords);
	tcase_add_test(tc, unix_socket_url);
	tcase_add_test(tc, reconnect_after_restart);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	pgtest_stop();
	return failed ? 1 : 0;
}
