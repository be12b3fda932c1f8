/*
 * store.h - the one storage interface of catchup-jobs, over SQLite (local
 * mode, the embedded default) and PostgreSQL (production, Cloud SQL).
 *
 * The backend is chosen from the URL (SPEC §4 DATABASE_URL):
 *   sqlite:PATH             a file; its directory is created (mode 0700). WAL,
 *                           busy timeout = lock_timeout_ms, foreign keys on.
 *                           "sqlite:///abs" is accepted as "/abs".
 *   postgres://... , postgresql://...
 *                           libpq URIs, including Cloud SQL's unix-socket form
 *                           postgresql://user:pass@/db?host=/cloudsql/INSTANCE
 *
 * SQL is written once for both backends: placeholders are $1..$N (turned into
 * ?N for SQLite), types are TEXT, BIGINT, INTEGER, DOUBLE PRECISION; use
 * CAST(x AS T) rather than x::T. Parameters are typed (NULL, text with an
 * explicit length, int64, double); text must be valid UTF-8 without NUL
 * bytes (CJ_EINVAL otherwise), so both backends store exactly the same.
 * Result sets are read completely into memory: a struct store_rows is
 * independent of the connection that produced it.
 *
 * Connections live in a small pool. store_exec() borrows one for a single
 * autocommit statement. For a transaction, store_acquire() a struct
 * store_conn, store_begin() (SQLite: BEGIN IMMEDIATE, so writers queue on the
 * busy timeout instead of failing on upgrade), store_conn_exec() statements,
 * store_commit() or store_rollback(), store_release(). store_transact() does
 * all of that and retries on CJ_ECONFLICT. Inside a transaction use only its
 * connection: a write on another pooled connection would wait for the
 * transaction's own lock. A statement that fails inside a transaction dooms
 * it on both backends (as PostgreSQL does): later statements and the commit
 * fail until it is rolled back.
 *
 * Lost PostgreSQL connections: a connection found broken is reset on its next
 * use. A statement that fails because the connection was lost while no
 * transaction was open is retried once on a fresh connection, so after a
 * server restart the next call succeeds as soon as the server is back;
 * if it is still down the call fails with CJ_EUNAVAIL. Inside a transaction a
 * lost connection is CJ_EUNAVAIL and the transaction is gone (roll back and
 * start again). Because of the retry, an autocommit statement whose
 * connection died after the server had run it may run twice: write such
 * statements so that a second run is harmless (unique keys, ON CONFLICT).
 *
 * Errors (cj.h codes; err receives one line that never contains the
 * database password or any parameter value):
 *   CJ_EEXISTS    unique or primary-key violation (23505, SQLITE_CONSTRAINT_
 *                 UNIQUE/PRIMARYKEY)
 *   CJ_ECONFLICT  serialization failure, deadlock, a lock not obtained
 *                 within lock_timeout_ms (55P03, SQLITE_BUSY/LOCKED): run
 *                 the transaction again
 *   CJ_EUNAVAIL   cannot connect, connection lost, server shutting down,
 *                 too many connections, no pooled connection free in time
 *   CJ_ETIMEOUT   the statement ran past the statement timeout
 *   CJ_EINVAL     a caller mistake: parameter count does not match the SQL,
 *                 invalid text, more than one statement, NaN
 *   CJ_ECONFIG    (store_open) a malformed URL
 *   CJ_ENOMEM     allocation failed
 *   CJ_ESTORAGE   anything else the database refused
 * store_last_error() gives the finer reason of the calling thread's last
 * failure (a foreign-key violation is CJ_ESTORAGE + STORE_ERR_FOREIGN_KEY).
 *
 * Every call is timed into metrics_upstream("database", op) with op one of
 * connect, select, insert, update, delete, begin, commit, rollback, script,
 * ping, other.
 *
 * Threads: struct store is thread-safe. A struct store_conn belongs to the
 * thread that acquired it until store_release(). struct store_rows is a plain
 * value owned by the caller.
 */
#ifndef CJ_STORE_H
#define CJ_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cj.h"

struct store;
struct store_conn;
struct store_rows;

enum store_param_type { STORE_P_NULL = 0, STORE_P_TEXT, STORE_P_INT, STORE_P_DOUBLE };

/* A statement parameter. Build them with the store_p_*() helpers; text is
 * borrowed for the duration of the call. */
struct store_param {
	enum store_param_type type;
	const char *text;
	size_t len;
	int64_t i;
	double d;
};

static inline struct store_param store_p_null(void)
{
	struct store_param p = {STORE_P_NULL, NULL, 0, 0, 0};
	return p;
}

/* NUL-terminated text; NULL becomes SQL NULL. */
static inline struct store_param store_p_text(const char *s)
{
	struct store_param p = {s ? STORE_P_TEXT : STORE_P_NULL, s, s ? strlen(s) : 0, 0, 0};
	return p;
}

/* len bytes of text (need not be NUL-terminated); NULL becomes SQL NULL. */
static inline struct store_param store_p_textn(const char *s, size_t len)
{
	struct store_param p = {s ? STORE_P_TEXT : STORE_P_NULL, s, s ? len : 0, 0, 0};
	return p;
}

static inline struct store_param store_p_int(int64_t v)
{
	struct store_param p = {STORE_P_INT, NULL, 0, v, 0};
	return p;
}

static inline struct store_param store_p_double(double v)
{
	struct store_param p = {STORE_P_DOUBLE, NULL, 0, 0, v};
	return p;
}

/* The finer reason of a failure (see store_last_error()). */
enum store_error {
	STORE_ERR_NONE = 0,
	STORE_ERR_UNIQUE, /* CJ_EEXISTS */
	STORE_ERR_FOREIGN_KEY, /* CJ_ESTORAGE: a referenced row does not exist */
	STORE_ERR_NOT_NULL, /* CJ_ESTORAGE */
	STORE_ERR_CHECK, /* CJ_ESTORAGE: a CHECK constraint failed */
	STORE_ERR_CONFLICT, /* CJ_ECONFLICT: serialization, deadlock, busy */
	STORE_ERR_CONNECTION, /* CJ_EUNAVAIL */
	STORE_ERR_TIMEOUT, /* CJ_ETIMEOUT */
	STORE_ERR_INVALID, /* CJ_EINVAL / CJ_ECONFIG: the caller's mistake */
	STORE_ERR_OTHER /* CJ_ESTORAGE, CJ_ENOMEM */
};

/* Pool and timeout settings; a zero member takes its default. */
struct store_options {
	unsigned pool_size; /* connections at most; default 8 */
	long statement_timeout_ms; /* default 30000 */
	long lock_timeout_ms; /* wait for a row or database lock; default 5000 */
	long acquire_timeout_ms; /* wait for a free connection; default 10000 */
	long connect_timeout_s; /* PostgreSQL connect_timeout; default 10 */
};

/* Opens a store for url with default options. SQLite opens one connection at
 * once (so a bad path fails here); PostgreSQL connects on first use. On
 * success *out is owned by the caller (store_close()). CJ_ECONFIG (bad URL),
 * CJ_EUNAVAIL (SQLite file cannot be opened or created), CJ_ENOMEM. */
int store_open(const char *url, struct store **out, char *err, size_t errlen) CJ_WUR;
int store_open_opts(const char *url, const struct store_options *opts, struct store **out,
                    char *err, size_t errlen) CJ_WUR;
/* Closes every connection. Every store_conn must have been released.
 * NULL is a no-op. */
void store_close(struct store *s);

/* "sqlite" or "postgres". */
const char *store_backend(const struct store *s);
/* The URL with any password replaced by "***" (safe to log). */
const char *store_url_redacted(const struct store *s);
/* Writes url with its password (userinfo or password= parameter) replaced by
 * "***" into out (truncated to outlen). Returns out. */
char *store_redact_url(const char *url, char *out, size_t outlen);

/* The reason of the calling thread's most recent failed store call. */
enum store_error store_last_error(void);

/* Runs one statement in autocommit mode on a pooled connection. When rows is
 * not NULL it receives the result (caller frees with store_rows_free(); also
 * set for statements that return no rows, for store_rows_changes()). */
int store_exec(struct store *s, const char *sql, const struct store_param *params, size_t nparams,
               struct store_rows **rows, char *err, size_t errlen) CJ_WUR;

/* Borrows a connection from the pool, waiting at most acquire_timeout_ms
 * (CJ_EUNAVAIL). A PostgreSQL connection found broken is reconnected. */
int store_acquire(struct store *s, struct store_conn **out, char *err, size_t errlen) CJ_WUR;
/* Returns c to the pool; an open transaction is rolled back. NULL is a no-op. */
void store_release(struct store_conn *c);
/* store_exec on a borrowed connection (inside or outside a transaction). */
int store_conn_exec(struct store_conn *c, const char *sql, const struct store_param *params,
                    size_t nparams, struct store_rows **rows, char *err, size_t errlen) CJ_WUR;
/* Runs trusted SQL holding several statements (migrations), without
 * parameters and without the statement timeout. */
int store_conn_exec_script(struct store_conn *c, const char *sql, char *err, size_t errlen) CJ_WUR;
/* The store c belongs to. */
struct store *store_conn_store(const struct store_conn *c);

/* Starts a read-write transaction (SQLite BEGIN IMMEDIATE; PostgreSQL BEGIN,
 * read committed). CJ_EINVAL when one is already open. */
int store_begin(struct store_conn *c, char *err, size_t errlen) CJ_WUR;
/* As store_begin, but SQLite takes BEGIN EXCLUSIVE (no other connection
 * reads or writes until commit; used by migrations). */
int store_begin_exclusive(struct store_conn *c, char *err, size_t errlen) CJ_WUR;
/* Commits. Whatever the result, no transaction is open afterwards: on failure
 * it was rolled back (a PostgreSQL transaction that had already failed
 * reports CJ_ESTORAGE here). CJ_EUNAVAIL from commit means the outcome is
 * unknown (the connection was lost). */
int store_commit(struct store_conn *c, char *err, size_t errlen) CJ_WUR;
/* Rolls back; never fails from the caller's view (a broken connection is
 * reset on its next use). No-op without an open transaction. */
void store_rollback(struct store_conn *c);
/* 1 while a transaction begun with store_begin*() is open. */
int store_in_transaction(const struct store_conn *c);

/* Runs fn inside a transaction on a pooled connection, committing when fn
 * returns CJ_OK and rolling back otherwise. When fn, begin or commit fails
 * with CJ_ECONFLICT the whole transaction is run again (up to 5 attempts, a
 * short randomised pause between): fn must have no effect outside the
 * transaction. Returns fn's result, or the store's. */
typedef int (*store_tx_fn)(struct store_conn *c, void *arg, char *err, size_t errlen);
int store_transact(struct store *s, store_tx_fn fn, void *arg, char *err, size_t errlen) CJ_WUR;

/* Runs SELECT 1 on a pooled connection; *latency_ms receives the round trip
 * including the wait for a connection. For readiness probes. */
int store_ping(struct store *s, double *latency_ms, char *err, size_t errlen) CJ_WUR;

/* --- Results ------------------------------------------------------------
 * Iterate with store_rows_next() (1: positioned on the next row, 0: no more
 * rows), then read columns 0..ncols-1 of the current row. A column index out
 * of range, or a getter called before the first store_rows_next(), is a bug
 * (BUG()). Numbers read as text are formatted; text read as a number is
 * parsed (0 when it is not a number). */
int store_rows_next(struct store_rows *r);
/* Goes back to before the first row. */
void store_rows_rewind(struct store_rows *r);
size_t store_rows_count(const struct store_rows *r);
size_t store_rows_ncols(const struct store_rows *r);
const char *store_rows_name(const struct store_rows *r, size_t col);
int store_rows_is_null(const struct store_rows *r, size_t col);
/* NULL for SQL NULL. Valid until store_rows_free(). */
const char *store_rows_text(struct store_rows *r, size_t col);
/* Length in bytes of the text of a column (0 for NULL). */
size_t store_rows_len(struct store_rows *r, size_t col);
int64_t store_rows_int(const struct store_rows *r, size_t col);
double store_rows_double(const struct store_rows *r, size_t col);
/* Rows inserted, updated or deleted by the statement (0 for a SELECT). */
int64_t store_rows_changes(const struct store_rows *r);
/* NULL is a no-op. */
void store_rows_free(struct store_rows *r);

#endif
