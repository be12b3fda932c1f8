/*
 * store_sqlite.c - the SQLite backend of the store (local mode).
 *
 * One sqlite3 handle per pooled connection, opened without SQLite's own
 * mutex (the pool gives a connection to one thread at a time). Every handle
 * runs in WAL mode with a busy timeout (the lock timeout) and foreign keys on; write
 * transactions start with BEGIN IMMEDIATE so that writers wait for each other
 * on the busy timeout instead of failing when a reader upgrades. A progress
 * handler enforces the statement timeout.
 *
 * It owns the database file's directory creation (mode 0700) and the file's
 * mode (0600). It never interprets SQL beyond turning $N into ?N.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "timeutil.h"

#define ARENA_MAX ((size_t)1 << 30)

struct sq_priv {
	char *path;
	long statement_timeout_ms;
	long busy_timeout_ms;
};

struct sq_conn {
	sqlite3 *db;
	double deadline; /* monotonic seconds; 0: no limit */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sq_progress(void *arg)
{
	struct sq_conn *c = arg;

	return c->deadline > 0 && now_s() > c->deadline;
}

/* Translates the handle's last error into a cj code. */
static int sq_error(sqlite3 *db, int rc, const char *what, char *err, size_t errlen)
{
	int ext = db ? sqlite3_extended_errcode(db) : rc;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int code = CJ_ESTORAGE;
	enum store_error kind = STORE_ERR_OTHER;

	if ((ext & 0xff) != (rc & 0xff))
		ext = rc;
	switch (ext) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		code = CJ_EEXISTS, kind = STORE_ERR_UNIQUE;
		break;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		kind = STORE_ERR_FOREIGN_KEY;
		break;
	case SQLITE_CONSTRAINT_NOTNULL:
		kind = STORE_ERR_NOT_NULL;
		break;
	case SQLITE_CONSTRAINT_CHECK:
		kind = STORE_ERR_CHECK;
		break;
	default:
		switch (ext & 0xff) {
		case SQLITE_BUSY:
		case SQLITE_LOCKED:
			code = CJ_ECONFLICT, kind = STORE_ERR_CONFLICT;
			break;
		case SQLITE_INTERRUPT:
			code = CJ_ETIMEOUT, kind = STORE_ERR_TIMEOUT;
			msg = "statement timeout";
			break;
		case SQLITE_NOMEM:
			code = CJ_ENOMEM;
			break;
		case SQLITE_CANTOPEN:
			code = CJ_EUNAVAIL, kind = STORE_ERR_CONNECTION;
			break;
		case SQLITE_RANGE:
		case SQLITE_TOOBIG:
			code = CJ_EINVAL, kind = STORE_ERR_INVALID;
			break;
		default:
			break;
		}
	}
	return store_fail(err, errlen, code, kind, "sqlite %s: %s", what, msg);
}

/* mkdir -p of path's directory. */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
	char *dir = strdup(path);
	char *slash;
	struct stat st;
	int rc = CJ_OK;

	if (!dir)
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		goto out;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		goto fail;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto fail;
	}
	goto out;
fail:
	rc = store_fail(err, errlen, CJ_EUNAVAIL, STORE_ERR_CONNECTION,
	                "cannot create database directory %s: %s", dir, strerror(errno));
out:
	free(dir);
	return rc;
}

static int sq_open(struct store *s, void **handle, char *err, size_t errlen)
{
	struct sq_priv *pv = s->priv;
	struct sq_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	rc =
	    sqlite3_open_v2(pv->path, &c->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = store_fail(err, errlen, CJ_EUNAVAIL, STORE_ERR_CONNECTION,
		                "cannot open sqlite database %s: %s", pv->path,
		                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	/* The busy timeout first, so that switching to WAL waits for others. */
	sqlite3_busy_timeout(c->db,
	                     pv->busy_timeout_ms > INT_MAX ? INT_MAX : (int)pv->busy_timeout_ms);
	/* Switching a new database to WAL can answer SQLITE_BUSY without
	 * calling the busy handler while another process creates it: try
	 * again within the lock timeout. */
	for (int64_t until = time_mono_ms() + pv->busy_timeout_ms;;) {
		rc = sqlite3_exec(c->db,
		                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
		                  "PRAGMA foreign_keys=ON;",
		                  NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		if (time_mono_ms() >= until)
			break;
		usleep(10 * 1000);
	}
	if (rc != SQLITE_OK) {
		rc = sq_error(c->db, rc, "setup", err, errlen);
		if (rc == CJ_ESTORAGE)
			rc = CJ_EUNAVAIL;
		goto fail;
	}
	sqlite3_progress_handler(c->db, 1000, sq_progress, c);
	*handle = c;
	return CJ_OK;
fail:
	sqlite3_close(c->db);
	free(c);
	return rc;
}

static void sq_close(void *handle)
{
	struct sq_conn *c = handle;

	if (!c)
		return;
	sqlite3_close(c->db);
	free(c);
}

/* Reads every row of stmt into r. */
static int sq_collect(struct sq_conn *sc, sqlite3_stmt *st, struct store_rows *r, char *err,
                      size_t errlen)
{
	struct buf arena = BUF_INIT(ARENA_MAX);
	size_t *name_off = NULL, cap = 0, n;
	int ncols = sqlite3_column_count(st), rc;

	r->ncols = (size_t)ncols;
	if (ncols > 0) {
		name_off = calloc((size_t)ncols, sizeof(*name_off));
		r->names = calloc((size_t)ncols, sizeof(*r->names));
		if (!name_off || !r->names)
			goto nomem;
	}
	for (int i = 0; i < ncols; i++) {
		const char *nm = sqlite3_column_name(st, i);

		name_off[i] = arena.len;
		if (!nm || buf_append(&arena, nm, strlen(nm) + 1))
			goto nomem;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r->nrows + 1) * r->ncols > cap) {
			size_t ncap = cap ? cap * 2 : 16 * r->ncols;
			struct store_cell *nc = realloc(r->cells, ncap * sizeof(*nc));

			if (!nc)
				goto nomem;
			r->cells = nc;
			cap = ncap;
		}
		for (int i = 0; i < ncols; i++) {
			struct store_cell *c = &r->cells[r->nrows * r->ncols + (size_t)i];

			memset(c, 0, sizeof(*c));
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				c->type = STORE_P_INT;
				c->i = sqlite3_column_int64(st, i);
				break;
			case SQLITE_FLOAT:
				c->type = STORE_P_DOUBLE;
				c->d = sqlite3_column_double(st, i);
				break;
			case SQLITE_NULL:
				c->type = STORE_P_NULL;
				break;
			default: {
				const void *t = sqlite3_column_text(st, i);

				n = (size_t)sqlite3_column_bytes(st, i);
				if (!t && sqlite3_errcode(sc->db) == SQLITE_NOMEM)
					goto nomem;
				c->type = STORE_P_TEXT;
				c->len = n;
				c->i = (int64_t)arena.len; /* offset until fixed up below */
				if (buf_append(&arena, t ? t : "", n) || buf_append(&arena, "", 1))
					goto nomem;
			}
			}
		}
		r->nrows++;
	}
	if (rc != SQLITE_DONE) {
		rc = sq_error(sc->db, rc, "step", err, errlen);
		goto fail;
	}
	r->arena = buf_detach(&arena, &n);
	if (!r->arena)
		goto nomem;
	for (int i = 0; i < ncols; i++)
		r->names[i] = r->arena + name_off[i];
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		if (r->cells[i].type == STORE_P_TEXT) {
			r->cells[i].s = r->arena + r->cells[i].i;
			r->cells[i].i = 0;
		}
	free(name_off);
	return CJ_OK;
nomem:
	rc = store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory reading rows");
fail:
	/* Texts are not fixed up: make sure nothing points into the arena. */
	r->nrows = 0;
	buf_release(&arena);
	free(name_off);
	return rc;
}

static int sq_bind(sqlite3 *db, sqlite3_stmt *st, const struct store_param *p, size_t n, char *err,
                   size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int idx = (int)i + 1, rc;

		switch (p[i].type) {
		case STORE_P_TEXT:
			if (p[i].len > INT_MAX)
				return store_fail(err, errlen, CJ_ETOOBIG, STORE_ERR_INVALID,
				                  "parameter $%d too long", idx);
			rc = sqlite3_bind_text(st, idx, p[i].text, (int)p[i].len, SQLITE_STATIC);
			break;
		case STORE_P_INT:
			rc = sqlite3_bind_int64(st, idx, p[i].i);
			break;
		case STORE_P_DOUBLE:
			rc = sqlite3_bind_double(st, idx, p[i].d);
			break;
		default:
			rc = sqlite3_bind_null(st, idx);
			break;
		}
		if (rc != SQLITE_OK)
			return sq_error(db, rc, "bind", err, errlen);
	}
	return CJ_OK;
}

static int sq_exec(struct store_conn *conn, const char *sql, const struct store_param *p, size_t n,
                   struct store_rows **rows, char *err, size_t errlen)
{
	struct sq_conn *c = conn->handle;
	struct sq_priv *pv = conn->store->priv;
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	struct store_rows *r = NULL;
	char *q;
	unsigned maxp;
	int rc;

	q = malloc(strlen(sql) + 1);
	if (!q)
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	rc = store_sql_placeholders(sql, q, &maxp, NULL);
	if (rc) {
		rc = store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID, "bad placeholder");
		goto out;
	}
	rc = sqlite3_prepare_v3(c->db, q, -1, 0, &st, &tail);
	if (rc != SQLITE_OK) {
		rc = sq_error(c->db, rc, "prepare", err, errlen);
		goto out;
	}
	while (tail &&
	       (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';'))
		tail++;
	if (!st || (tail && *tail)) {
		rc = store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                st ? "more than one statement" : "empty statement");
		goto out;
	}
	if ((size_t)sqlite3_bind_parameter_count(st) > n) {
		rc = store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                "statement has unbound parameters");
		goto out;
	}
	rc = sq_bind(c->db, st, p, n, err, errlen);
	if (rc)
		goto out;
	r = store_rows_new();
	if (!r) {
		rc = store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
		goto out;
	}
	c->deadline = now_s() + (double)pv->statement_timeout_ms / 1000.0;
	rc = sq_collect(c, st, r, err, errlen);
	c->deadline = 0;
	if (rc)
		goto out;
	r->changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(c->db);
	*rows = r;
	r = NULL;
out:
	store_rows_free(r);
	sqlite3_finalize(st);
	free(q);
	return rc;
}

static int sq_script(struct store_conn *conn, const char *sql, char *err, size_t errlen)
{
	struct sq_conn *c = conn->handle;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_error(c->db, rc, "script", err, errlen);
	return CJ_OK;
}

static int sq_tx(struct store_conn *conn, enum store_tx_op op, char *err, size_t errlen)
{
	static const char *const sql[] = {
	    [STORE_TX_BEGIN] = "BEGIN IMMEDIATE",
	    [STORE_TX_BEGIN_EXCLUSIVE] = "BEGIN EXCLUSIVE",
	    [STORE_TX_COMMIT] = "COMMIT",
	    [STORE_TX_ROLLBACK] = "ROLLBACK",
	};
	struct sq_conn *c = conn->handle;
	int rc = sqlite3_exec(c->db, sql[op], NULL, NULL, NULL);

	if (op == STORE_TX_BEGIN || op == STORE_TX_BEGIN_EXCLUSIVE) {
		if (rc != SQLITE_OK)
			return sq_error(c->db, rc, "begin", err, errlen);
		conn->in_tx = 1;
		return CJ_OK;
	}
	conn->in_tx = 0;
	if (rc == SQLITE_OK)
		return CJ_OK;
	/* A failed COMMIT leaves the transaction open: end it. A ROLLBACK that
	 * fails because SQLite already rolled back is fine. */
	rc = sq_error(c->db, rc, op == STORE_TX_COMMIT ? "commit" : "rollback", err, errlen);
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	else if (op == STORE_TX_ROLLBACK)
		rc = CJ_OK;
	return rc;
}

static void sq_free_priv(void *priv)
{
	struct sq_priv *pv = priv;

	if (!pv)
		return;
	free(pv->path);
	free(pv);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .script = sq_script,
    .tx = sq_tx,
    .free_priv = sq_free_priv,
};

int store_sqlite_init(struct store *s, const char *url, char *err, size_t errlen)
{
	const char *path = url + strlen("sqlite:");
	struct sq_priv *pv;
	int fd, rc;

	if (!strncmp(path, "//", 2))
		path += 2;
	if (!*path)
		return store_fail(err, errlen, CJ_ECONFIG, STORE_ERR_INVALID,
		                  "sqlite database URL has no path (want sqlite:PATH)");
	if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
		return store_fail(err, errlen, CJ_ECONFIG, STORE_ERR_INVALID,
		                  "sqlite database URL must name a file (want sqlite:PATH)");
	rc = make_parent_dirs(path, err, errlen);
	if (rc)
		return rc;
	/* Create the file ourselves so that it (and its -wal/-shm files, which
	 * SQLite gives the same mode) is private to the service. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_fail(err, errlen, CJ_EUNAVAIL, STORE_ERR_CONNECTION,
		                  "cannot open sqlite database %s: %s", path, strerror(errno));
	close(fd);
	pv = calloc(1, sizeof(*pv));
	if (!pv || !(pv->path = strdup(path))) {
		free(pv);
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	}
	pv->statement_timeout_ms = s->opts.statement_timeout_ms;
	pv->busy_timeout_ms = s->opts.lock_timeout_ms;
	s->ops = &sqlite_ops;
	s->priv = pv;
	return CJ_OK;
}
