/*
 * store_pg.c - the PostgreSQL backend of the store (production, Cloud SQL).
 *
 * One libpq connection per pooled slot, each used by one thread at a time.
 * Statements go through PQexecParams in text format (int64 as int8, double
 * as float8, text untyped so the server infers it from context); results are
 * kept as the PGresult and read in place. Each connection sets its own
 * statement_timeout after connecting. A connection that libpq reports broken
 * is reset (PQreset) before its next statement, and a statement that failed
 * because the connection was lost outside a transaction is run once more.
 *
 * It owns the connection parameters, including the password, which it
 * scrubs from every message it passes on. It never logs or returns DETAIL
 * lines or data-exception messages, which can quote parameter values.
 */
#include "store_internal.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

#define INT8OID 20
#define FLOAT8OID 701

struct pg_priv {
	char *url;
	char *password; /* as libpq decodes it; NULL when none */
	char *password_raw; /* as written in the URL's userinfo; NULL when none */
	char connect_timeout[24];
	long statement_timeout_ms;
	long lock_timeout_ms;
};

/* Copies a libpq message into err on one line, without the password. */
static void clean_message(const struct pg_priv *pv, const char *msg, char *out, size_t outlen)
{
	size_t n = 0;
	int space = 0;

	if (!outlen)
		return;
	for (; msg && *msg && n + 1 < outlen; msg++) {
		char ch = *msg;

		if (ch == '\n' || ch == '\t' || ch == '\r' || ch == ' ') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < outlen)
			out[n++] = ' ';
		space = 0;
		out[n++] = ch;
	}
	out[n] = '\0';
	store_redact_secret(out, pv->password_raw);
	store_redact_secret(out, pv->password);
}

static int fail_conn(const struct pg_priv *pv, PGconn *pg, const char *what, char *err,
                     size_t errlen)
{
	char msg[512];

	clean_message(pv, pg ? PQerrorMessage(pg) : "out of memory", msg, sizeof(msg));
	return store_fail(err, errlen, CJ_EUNAVAIL, STORE_ERR_CONNECTION, "postgres %s: %s", what,
	                  msg[0] ? msg : "connection failed");
}

/* Per-connection settings, after every (re)connect. */
static int pg_setup(const struct pg_priv *pv, PGconn *pg, char *err, size_t errlen)
{
	char sql[128];
	PGresult *res;
	int ok;

	snprintf(sql, sizeof(sql), "SET statement_timeout = %ld; SET lock_timeout = %ld",
	         pv->statement_timeout_ms, pv->lock_timeout_ms);
	res = PQexec(pg, sql);
	ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	return ok ? CJ_OK : fail_conn(pv, pg, "session setup", err, errlen);
}

/* Notices (e.g. "relation already exists, skipping") would go to stderr. */
static void pg_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_open(struct store *s, void **handle, char *err, size_t errlen)
{
	struct pg_priv *pv = s->priv;
	/* Defaults before dbname (the URL may override them); client_encoding
	 * after it, so that text is always UTF-8 whatever the URL says. The
	 * server's statement_timeout cannot help when the network goes silent:
	 * TCP keepalives and tcp_user_timeout bound a wait on a dead peer. */
	const char *kw[] = {"connect_timeout",     "application_name",
	                    "keepalives",          "keepalives_idle",
	                    "keepalives_interval", "keepalives_count",
	                    "tcp_user_timeout",    "dbname",
	                    "client_encoding",     NULL};
	const char *val[] = {pv->connect_timeout,
	                     "catchup-jobs",
	                     "1",
	                     "30",
	                     "10",
	                     "3",
	                     "60000",
	                     pv->url,
	                     "UTF8",
	                     NULL};
	PGconn *pg = PQconnectdbParams(kw, val, 1);
	int rc;

	if (!pg)
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	if (PQstatus(pg) != CONNECTION_OK) {
		rc = fail_conn(pv, pg, "connect", err, errlen);
		PQfinish(pg);
		return rc;
	}
	PQsetNoticeProcessor(pg, pg_notice, NULL);
	rc = pg_setup(pv, pg, err, errlen);
	if (rc) {
		PQfinish(pg);
		return rc;
	}
	*handle = pg;
	return CJ_OK;
}

static void pg_close(void *handle)
{
	PQfinish(handle);
}

static int pg_reset(struct store_conn *c, char *err, size_t errlen)
{
	struct pg_priv *pv = c->store->priv;
	PGconn *pg = c->handle;

	PQreset(pg);
	if (PQstatus(pg) != CONNECTION_OK)
		return fail_conn(pv, pg, "reconnect", err, errlen);
	log_msg(L_INFO, "postgres connection re-established");
	return pg_setup(pv, pg, err, errlen);
}

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

/* Translates a failed result (res may be NULL) into a cj code. */
static int pg_error(struct store_conn *c, PGresult *res, char *err, size_t errlen)
{
	static const char *const conflict[] = {"40001", "40P01", "55P03", NULL};
	static const char *const unavail[] = {"57P01", "57P02", "57P03", "53300", NULL};
	struct pg_priv *pv = c->store->priv;
	PGconn *pg = c->handle;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int code = CJ_ESTORAGE;
	enum store_error kind = STORE_ERR_OTHER;
	char msg[384];

	if (PQstatus(pg) == CONNECTION_BAD)
		return fail_conn(pv, pg, "connection lost", err, errlen);
	if (!state)
		state = "";
	if (!strcmp(state, "23505"))
		code = CJ_EEXISTS, kind = STORE_ERR_UNIQUE;
	else if (!strcmp(state, "23503"))
		kind = STORE_ERR_FOREIGN_KEY;
	else if (!strcmp(state, "23502"))
		kind = STORE_ERR_NOT_NULL;
	else if (!strcmp(state, "23514"))
		kind = STORE_ERR_CHECK;
	else if (in_list(state, conflict))
		code = CJ_ECONFLICT, kind = STORE_ERR_CONFLICT;
	else if (!strcmp(state, "57014"))
		code = CJ_ETIMEOUT, kind = STORE_ERR_TIMEOUT;
	else if (in_list(state, unavail) || (!strncmp(state, "08", 2) && strcmp(state, "08P01")))
		code = CJ_EUNAVAIL, kind = STORE_ERR_CONNECTION;
	/* Data exceptions quote the offending value: say only what kind. */
	if (!strncmp(state, "22", 2))
		primary = "invalid value for its column type";
	clean_message(pv, primary ? primary : PQerrorMessage(pg), msg, sizeof(msg));
	return store_fail(err, errlen, code, kind, "postgres: %s (SQLSTATE %s)",
	                  msg[0] ? msg : "statement failed", state[0] ? state : "none");
}

/* The text form of each parameter, in one allocation (*block, caller frees). */
static int pg_params(const struct store_param *p, size_t n, Oid *types, const char **values,
                     char **block, char *err, size_t errlen)
{
	size_t total = 0, off = 0;

	*block = NULL;
	for (size_t i = 0; i < n; i++)
		total += p[i].type == STORE_P_TEXT ? p[i].len + 1 : 32;
	if (!n)
		return CJ_OK;
	*block = malloc(total);
	if (!*block)
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char *dst = *block + off;

		types[i] = 0;
		values[i] = dst;
		switch (p[i].type) {
		case STORE_P_TEXT:
			memcpy(dst, p[i].text, p[i].len);
			dst[p[i].len] = '\0';
			off += p[i].len + 1;
			break;
		case STORE_P_INT:
			types[i] = INT8OID;
			snprintf(dst, 32, "%lld", (long long)p[i].i);
			off += 32;
			break;
		case STORE_P_DOUBLE:
			types[i] = FLOAT8OID;
			if (isinf(p[i].d))
				snprintf(dst, 32, "%s", p[i].d > 0 ? "Infinity" : "-Infinity");
			else
				snprintf(dst, 32, "%.17g", p[i].d);
			off += 32;
			break;
		default:
			values[i] = NULL;
			off += 32;
			break;
		}
	}
	return CJ_OK;
}

static void pq_clear(void *res)
{
	PQclear(res);
}

static int pg_rows(PGresult *res, struct store_rows **out, char *err, size_t errlen)
{
	struct store_rows *r = store_rows_new();
	const char *status = PQcmdStatus(res), *tuples = PQcmdTuples(res);

	if (!r)
		goto nomem;
	r->res = res;
	r->res_free = pq_clear;
	r->nrows = (size_t)PQntuples(res);
	r->ncols = (size_t)PQnfields(res);
	if (r->ncols) {
		r->names = calloc(r->ncols, sizeof(*r->names));
		if (!r->names)
			goto nomem;
		for (size_t i = 0; i < r->ncols; i++)
			r->names[i] = PQfname(res, (int)i);
	}
	if (r->nrows && r->ncols) {
		r->cells = calloc(r->nrows * r->ncols, sizeof(*r->cells));
		if (!r->cells)
			goto nomem;
	}
	for (size_t i = 0; i < r->nrows; i++)
		for (size_t j = 0; j < r->ncols; j++) {
			struct store_cell *cl = &r->cells[i * r->ncols + j];

			if (PQgetisnull(res, (int)i, (int)j))
				continue; /* calloc: STORE_P_NULL */
			cl->type = STORE_P_TEXT;
			cl->s = PQgetvalue(res, (int)i, (int)j);
			cl->len = (size_t)PQgetlength(res, (int)i, (int)j);
		}
	if (strncmp(status, "SELECT", 6) && tuples && *tuples)
		r->changes = strtoll(tuples, NULL, 10);
	*out = r;
	return CJ_OK;
nomem:
	if (r)
		store_rows_free(r); /* also clears res */
	else
		PQclear(res);
	return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
}

/* Runs one statement; on success *out holds its result (caller clears). */
static int pg_run(struct store_conn *c, const char *sql, size_t n, const Oid *types,
                  const char *const *values, PGresult **out, char *err, size_t errlen)
{
	PGconn *pg = c->handle;
	/* Only a statement that would have run on its own may be repeated. */
	int may_retry = !c->in_tx && PQtransactionStatus(pg) != PQTRANS_INTRANS &&
	    PQtransactionStatus(pg) != PQTRANS_INERROR;
	PGresult *res;
	int rc;

	*out = NULL;
	for (int attempt = 0;; attempt++) {
		ExecStatusType st;

		if (PQstatus(pg) == CONNECTION_BAD) {
			if (!may_retry)
				return fail_conn(c->store->priv, pg,
				                 "connection lost inside a transaction", err,
				                 errlen);
			rc = pg_reset(c, err, errlen);
			if (rc)
				return rc;
		}
		res = PQexecParams(pg, sql, (int)n, types, values, NULL, NULL, 0);
		st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			*out = res;
			return CJ_OK;
		}
		if (st == PGRES_EMPTY_QUERY) {
			PQclear(res);
			return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
			                  "empty statement");
		}
		if (PQstatus(pg) == CONNECTION_BAD && may_retry && attempt == 0) {
			log_msg(L_WARNING, "postgres connection lost; reconnecting to retry");
			PQclear(res);
			continue;
		}
		rc = pg_error(c, res, err, errlen);
		PQclear(res);
		return rc;
	}
}

static int pg_exec(struct store_conn *c, const char *sql, const struct store_param *p, size_t n,
                   struct store_rows **rows, char *err, size_t errlen)
{
	Oid *types = NULL;
	const char **values = NULL;
	char *block = NULL;
	PGresult *res;
	int rc;

	if (n) {
		types = calloc(n, sizeof(*types));
		values = calloc(n, sizeof(*values));
		if (!types || !values) {
			rc = store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
			goto out;
		}
	}
	rc = pg_params(p, n, types, values, &block, err, errlen);
	if (!rc)
		rc = pg_run(c, sql, n, types, values, &res, err, errlen);
	if (!rc)
		rc = pg_rows(res, rows, err, errlen);
out:
	free(types);
	free(values);
	free(block);
	return rc;
}

/* Runs sql through the simple-query protocol (several statements allowed). */
static int pg_simple(struct store_conn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(c->handle, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = CJ_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
		rc = pg_error(c, res, err, errlen);
	PQclear(res);
	return rc;
}

static int pg_script(struct store_conn *c, const char *sql, char *err, size_t errlen)
{
	struct pg_priv *pv = c->store->priv;
	char restore[64];
	int rc;

	if (PQstatus(c->handle) == CONNECTION_BAD) {
		if (c->in_tx)
			return fail_conn(pv, c->handle, "connection lost inside a transaction", err,
			                 errlen);
		rc = pg_reset(c, err, errlen);
		if (rc)
			return rc;
	}
	if (c->in_tx) {
		rc = pg_simple(c, "SET LOCAL statement_timeout = 0", err, errlen);
		return rc ? rc : pg_simple(c, sql, err, errlen);
	}
	rc = pg_simple(c, "SET statement_timeout = 0", err, errlen);
	if (rc)
		return rc;
	rc = pg_simple(c, sql, err, errlen);
	snprintf(restore, sizeof(restore), "SET statement_timeout = %ld", pv->statement_timeout_ms);
	if (pg_simple(c, restore, NULL, 0))
		log_msg(L_WARNING, "postgres: could not restore statement_timeout after a script");
	return rc;
}

static int pg_tx(struct store_conn *c, enum store_tx_op op, char *err, size_t errlen)
{
	PGconn *pg = c->handle;
	PGresult *res;
	int rc;

	switch (op) {
	case STORE_TX_BEGIN:
	case STORE_TX_BEGIN_EXCLUSIVE:
		rc = pg_run(c, "BEGIN", 0, NULL, NULL, &res, err, errlen);
		PQclear(res);
		if (!rc)
			c->in_tx = 1;
		return rc;
	case STORE_TX_COMMIT:
		rc = pg_run(c, "COMMIT", 0, NULL, NULL, &res, err, errlen);
		/* COMMIT of a failed transaction "succeeds" with ROLLBACK. */
		if (!rc && !strcmp(PQcmdStatus(res), "ROLLBACK"))
			rc = store_fail(err, errlen, CJ_ESTORAGE, STORE_ERR_OTHER,
			                "postgres: transaction was rolled back");
		PQclear(res);
		c->in_tx = 0;
		if (rc && PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) != PQTRANS_IDLE)
			(void)pg_simple(c, "ROLLBACK", NULL, 0);
		return rc;
	case STORE_TX_ROLLBACK:
	default:
		c->in_tx = 0;
		if (PQstatus(pg) != CONNECTION_OK || PQtransactionStatus(pg) == PQTRANS_IDLE)
			return CJ_OK; /* nothing left to roll back */
		return pg_simple(c, "ROLLBACK", err, errlen);
	}
}

static void pg_free_priv(void *priv)
{
	struct pg_priv *pv = priv;

	if (!pv)
		return;
	free(pv->url);
	free(pv->password);
	free(pv->password_raw);
	free(pv);
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .script = pg_script,
    .tx = pg_tx,
    .free_priv = pg_free_priv,
};

/* The password exactly as written in the URL's userinfo (*out NULL when
 * there is none). CJ_OK or CJ_ENOMEM. */
static int raw_password(const char *url, char **out)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL, *colon;

	*out = NULL;
	if (!auth)
		return CJ_OK;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return CJ_OK;
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (!colon || colon + 1 == at)
		return CJ_OK;
	*out = strndup(colon + 1, (size_t)(at - colon - 1));
	return *out ? CJ_OK : CJ_ENOMEM;
}

int store_pg_init(struct store *s, const char *url, char *err, size_t errlen)
{
	struct pg_priv *pv = calloc(1, sizeof(*pv));
	PQconninfoOption *opts;
	char *perr = NULL;
	int rc;

	if (!pv)
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	if (raw_password(url, &pv->password_raw)) {
		pg_free_priv(pv);
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	}
	opts = PQconninfoParse(url, &perr);
	if (!opts) {
		char msg[256];

		clean_message(pv, perr ? perr : "out of memory", msg, sizeof(msg));
		rc = store_fail(err, errlen, perr ? CJ_ECONFIG : CJ_ENOMEM, STORE_ERR_INVALID,
		                "invalid PostgreSQL URL: %s", msg);
		PQfreemem(perr);
		pg_free_priv(pv);
		return rc;
	}
	rc = CJ_OK;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val &&
		    !(pv->password = strdup(o->val)))
			rc = CJ_ENOMEM;
	PQconninfoFree(opts);
	pv->url = strdup(url);
	if (!pv->url || rc) {
		pg_free_priv(pv);
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	}
	snprintf(pv->connect_timeout, sizeof(pv->connect_timeout), "%ld",
	         s->opts.connect_timeout_s);
	pv->statement_timeout_ms = s->opts.statement_timeout_ms;
	pv->lock_timeout_ms = s->opts.lock_timeout_ms;
	s->ops = &pg_ops;
	s->priv = pv;
	return CJ_OK;
}
