/*
 * store_internal.h - what store.c shares with its two backends
 * (store_sqlite.c, store_pg.c). Nothing outside the store module includes it.
 *
 * store.c owns the pool, the parameter checks, the metrics and the public
 * API; a backend supplies a struct store_ops: open/close one connection, run
 * one statement into a materialised struct store_rows, run a script, and
 * begin/commit/rollback. Backends are called with a connection that only the
 * calling thread uses, and with parameters already checked (count matches
 * the SQL, text is UTF-8 without NUL, no NaN).
 */
#ifndef CJ_STORE_INTERNAL_H
#define CJ_STORE_INTERNAL_H

#include <pthread.h>

#include "store.h"

/* One value of a result. Text is NUL-terminated and owned by the rows (its
 * arena or the backend's result). */
struct store_cell {
	enum store_param_type type;
	size_t len;
	const char *s;
	int64_t i;
	double d;
	char *fmt; /* number formatted on demand by store_rows_text(); owned */
};

struct store_rows {
	size_t nrows, ncols;
	size_t cur; /* 1-based current row; 0 before the first store_rows_next() */
	int64_t changes;
	struct store_cell *cells; /* nrows * ncols, row-major */
	const char **names; /* ncols */
	char *arena; /* backend-owned storage for texts and names */
	void *res; /* backend result kept alive (PGresult) */
	void (*res_free)(void *);
};

enum store_tx_op { STORE_TX_BEGIN, STORE_TX_BEGIN_EXCLUSIVE, STORE_TX_COMMIT, STORE_TX_ROLLBACK };

struct store_conn {
	struct store *store;
	void *handle; /* sqlite3 * or PGconn *; NULL while not connected */
	int in_tx; /* a store_begin*() transaction is open */
	int tx_failed; /* a statement of the open transaction failed */
	int lent; /* held by a thread, perhaps connecting (guarded by store->lock) */
};

struct store_ops {
	const char *name;
	int (*open)(struct store *s, void **handle, char *err, size_t errlen);
	void (*close)(void *handle);
	int (*exec)(struct store_conn *c, const char *sql, const struct store_param *p, size_t n,
	            struct store_rows **rows, char *err, size_t errlen);
	int (*script)(struct store_conn *c, const char *sql, char *err, size_t errlen);
	/* Must leave c->in_tx right: set by a successful begin, cleared by commit
	 * and rollback whatever their result. */
	int (*tx)(struct store_conn *c, enum store_tx_op op, char *err, size_t errlen);
	void (*free_priv)(void *priv);
};

struct store {
	const struct store_ops *ops;
	void *priv; /* backend state (path, conninfo) */
	struct store_options opts;
	char url_redacted[512];
	pthread_mutex_t lock; /* guards the lent flags of conns */
	pthread_cond_t cond; /* signalled when a connection is returned */
	struct store_conn *conns;
	unsigned npool;
};

/* Backend constructors: fill s->ops and s->priv from the URL. */
int store_sqlite_init(struct store *s, const char *url, char *err, size_t errlen) CJ_WUR;
int store_pg_init(struct store *s, const char *url, char *err, size_t errlen) CJ_WUR;

/* Records kind as the calling thread's last error, formats err, returns code. */
int store_fail(char *err, size_t errlen, int code, enum store_error kind, const char *fmt, ...)
    CJ_PRINTF(5, 6);

/* An empty result (calloc'd); NULL on allocation failure. */
struct store_rows *store_rows_new(void);

/* Scans sql for $N placeholders outside quotes and comments; *maxparam gets
 * the highest N (0 when none) and *several (when not NULL) is set when a
 * second statement follows a ';'. When out is not NULL (strlen(sql) + 1
 * bytes) it receives sql with each placeholder's '$' turned into '?'. CJ_OK,
 * or CJ_EINVAL for a placeholder number of 0 or above 32766. */
int store_sql_placeholders(const char *sql, char *out, unsigned *maxparam, int *several) CJ_WUR;

/* Replaces every occurrence of secret (when not NULL or empty) in msg by
 * "***", in place. */
void store_redact_secret(char *msg, const char *secret);

#endif
