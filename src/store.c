/*
 * store.c - the backend-independent half of the store: URL dispatch, the
 * connection pool, parameter checks, placeholder scanning, metrics, the
 * transaction helper. Results live in store_rows.c. See store.h.
 *
 * It owns the pool (a fixed array of slots behind one mutex; connecting
 * happens outside the lock). It never formats a parameter value or the
 * database password into a message.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "random.h"
#include "utf8.h"

#define DEFAULT_POOL 8
#define DEFAULT_STATEMENT_MS 30000
#define DEFAULT_LOCK_MS 5000
#define DEFAULT_ACQUIRE_MS 10000
#define DEFAULT_CONNECT_S 10
#define PING_ACQUIRE_MS 3000
#define TRANSACT_ATTEMPTS 5
#define MAX_PARAM 32766

/* The calling thread's last failure reason: per thread, so unguarded. */
static _Thread_local enum store_error last_error;

enum store_error store_last_error(void)
{
	return last_error;
}

int store_fail(char *err, size_t errlen, int code, enum store_error kind, const char *fmt, ...)
{
	va_list ap;

	last_error = kind;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A bounded label for metrics from the statement's first keyword. */
static const char *sql_op(const char *sql)
{
	static const char *const verbs[] = {"select", "insert", "update",  "delete",
	                                    "begin",  "commit", "rollback"};
	char word[16];
	size_t n = 0, i;

	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
		sql++;
	while (n < sizeof(word) - 1 &&
	       ((*sql >= 'a' && *sql <= 'z') || (*sql >= 'A' && *sql <= 'Z')))
		word[n++] = (char)(*sql++ | 0x20);
	word[n] = '\0';
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(word, verbs[i]))
			return verbs[i];
	return "other";
}

/* --- URL redaction ------------------------------------------------------ */

static void out_append(char *out, size_t outlen, size_t *pos, const char *p, size_t n)
{
	if (*pos >= outlen)
		return;
	if (n > outlen - 1 - *pos)
		n = outlen - 1 - *pos;
	memcpy(out + *pos, p, n);
	*pos += n;
	out[*pos] = '\0';
}

char *store_redact_url(const char *url, char *out, size_t outlen)
{
	const char *scheme_end, *auth, *auth_end, *at = NULL, *colon = NULL, *p;
	size_t pos = 0;

	if (!outlen)
		return out;
	out[0] = '\0';
	if (!url)
		return out;
	scheme_end = strstr(url, "://");
	p = url;
	if (scheme_end) {
		auth = scheme_end + 3;
		auth_end = auth + strcspn(auth, "/?#");
		for (p = auth; p < auth_end; p++)
			if (*p == '@')
				at = p;
		for (p = auth; at && p < at; p++)
			if (*p == ':') {
				colon = p;
				break;
			}
		if (colon) {
			out_append(out, outlen, &pos, url, (size_t)(colon + 1 - url));
			out_append(out, outlen, &pos, "***", 3);
			p = at;
		} else {
			p = url;
		}
	}
	/* The rest, with the value of any password= query parameter hidden. */
	while (*p) {
		const char *hit = strstr(p, "password=");

		if (!hit || (hit > url && hit[-1] != '?' && hit[-1] != '&')) {
			size_t n = hit ? (size_t)(hit - p) + 1 : strlen(p);

			out_append(out, outlen, &pos, p, n);
			p += n;
			continue;
		}
		out_append(out, outlen, &pos, p, (size_t)(hit - p) + 9);
		out_append(out, outlen, &pos, "***", 3);
		p = hit + 9;
		p += strcspn(p, "&#");
	}
	return out;
}

void store_redact_secret(char *msg, const char *secret)
{
	size_t slen, rlen;
	char *hit;

	if (!msg || !secret || !*secret)
		return;
	slen = strlen(secret);
	rlen = slen >= 3 ? 3 : slen;
	while ((hit = strstr(msg, secret))) {
		memset(hit, '*', rlen);
		memmove(hit + rlen, hit + slen, strlen(hit + slen) + 1);
	}
}

/* --- Parameters and placeholders ---------------------------------------- */

static int ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '$';
}

int store_sql_placeholders(const char *sql, char *out, unsigned *maxparam, int *several)
{
	enum { NORMAL, SQUOTE, DQUOTE, LINE, BLOCK } st = NORMAL;
	int ended = 0; /* a ';' ended a statement */
	size_t i;

	*maxparam = 0;
	if (several)
		*several = 0;
	for (i = 0; sql[i]; i++) {
		char c = sql[i], next = sql[i + 1];

		if (out)
			out[i] = c;
		if (st == NORMAL && ended && several && c != ';' && c != ' ' && c != '\t' &&
		    c != '\n' && c != '\r' && !(c == '-' && next == '-') &&
		    !(c == '/' && next == '*'))
			*several = 1;
		switch (st) {
		case NORMAL:
			if (c == ';')
				ended = 1;
			else if (c == '\'')
				st = SQUOTE;
			else if (c == '"')
				st = DQUOTE;
			else if (c == '-' && next == '-')
				st = LINE;
			else if (c == '/' && next == '*')
				st = BLOCK;
			else if (c == '$' && next >= '0' && next <= '9' &&
			         (i == 0 || !ident_char(sql[i - 1]))) {
				unsigned long n = 0;
				size_t j = i + 1;

				while (sql[j] >= '0' && sql[j] <= '9' && n <= MAX_PARAM)
					n = n * 10 + (unsigned long)(sql[j++] - '0');
				if (n == 0 || n > MAX_PARAM)
					return CJ_EINVAL;
				if (out) {
					out[i] = '?';
					memcpy(out + i + 1, sql + i + 1, j - i - 1);
				}
				if (n > *maxparam)
					*maxparam = (unsigned)n;
				i = j - 1;
			}
			break;
		case SQUOTE:
			if (c == '\'')
				st = NORMAL;
			break;
		case DQUOTE:
			if (c == '"')
				st = NORMAL;
			break;
		case LINE:
			if (c == '\n')
				st = NORMAL;
			break;
		case BLOCK:
			if (c == '*' && next == '/') {
				if (out)
					out[i + 1] = next;
				i++;
				st = NORMAL;
			}
			break;
		}
	}
	if (out)
		out[i] = '\0';
	return CJ_OK;
}

static int check_params(const char *sql, const struct store_param *p, size_t n, char *err,
                        size_t errlen)
{
	unsigned maxp;
	int several;
	size_t i;

	if (!sql)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID, "no statement");
	if (n && !p)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID, "parameters missing");
	if (store_sql_placeholders(sql, NULL, &maxp, &several))
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                  "statement has a placeholder out of range");
	if (several)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                  "more than one statement (use store_conn_exec_script)");
	if (maxp != n)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                  "statement uses %u parameters but %zu were given", maxp, n);
	for (i = 0; i < n; i++) {
		switch (p[i].type) {
		case STORE_P_NULL:
		case STORE_P_INT:
			break;
		case STORE_P_DOUBLE:
			if (isnan(p[i].d))
				return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
				                  "parameter $%zu is NaN", i + 1);
			break;
		case STORE_P_TEXT:
			if (!p[i].text || memchr(p[i].text, '\0', p[i].len) ||
			    !utf8_valid(p[i].text, p[i].len))
				return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
				                  "parameter $%zu is not valid UTF-8 text", i + 1);
			break;
		default:
			return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
			                  "parameter $%zu has an unknown type", i + 1);
		}
	}
	return CJ_OK;
}

/* --- Open, close, pool --------------------------------------------------- */

int store_open(const char *url, struct store **out, char *err, size_t errlen)
{
	return store_open_opts(url, NULL, out, err, errlen);
}

int store_open_opts(const char *url, const struct store_options *opts, struct store **out,
                    char *err, size_t errlen)
{
	struct store *s;
	pthread_condattr_t ca;
	struct store_conn *c;
	int rc;

	*out = NULL;
	if (!url || !*url)
		return store_fail(err, errlen, CJ_ECONFIG, STORE_ERR_INVALID,
		                  "database URL is empty");
	s = calloc(1, sizeof(*s));
	if (!s)
		return store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
	if (opts)
		s->opts = *opts;
	if (!s->opts.pool_size)
		s->opts.pool_size = DEFAULT_POOL;
	if (s->opts.statement_timeout_ms <= 0)
		s->opts.statement_timeout_ms = DEFAULT_STATEMENT_MS;
	if (s->opts.lock_timeout_ms <= 0)
		s->opts.lock_timeout_ms = DEFAULT_LOCK_MS;
	if (s->opts.acquire_timeout_ms <= 0)
		s->opts.acquire_timeout_ms = DEFAULT_ACQUIRE_MS;
	if (s->opts.connect_timeout_s <= 0)
		s->opts.connect_timeout_s = DEFAULT_CONNECT_S;
	store_redact_url(url, s->url_redacted, sizeof(s->url_redacted));
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->npool = s->opts.pool_size;
	s->conns = calloc(s->npool, sizeof(*s->conns));
	if (!s->conns) {
		rc = store_fail(err, errlen, CJ_ENOMEM, STORE_ERR_OTHER, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < s->npool; i++)
		s->conns[i].store = s;
	if (!strncmp(url, "sqlite:", 7))
		rc = store_sqlite_init(s, url, err, errlen);
	else if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
		rc = store_pg_init(s, url, err, errlen);
	else
		rc = store_fail(
		    err, errlen, CJ_ECONFIG, STORE_ERR_INVALID,
		    "database URL must start with sqlite:, postgres:// or postgresql://");
	if (rc)
		goto fail;
	if (!strcmp(s->ops->name, "sqlite")) {
		/* A local file: fail now on a path that cannot be opened. */
		rc = store_acquire(s, &c, err, errlen);
		if (rc)
			goto fail;
		store_release(c);
	}
	log_msg(L_INFO, "database store opened: %s (%s)", s->url_redacted, s->ops->name);
	*out = s;
	return CJ_OK;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->conns && i < s->npool; i++) {
		if (s->conns[i].lent)
			BUG("store_close with a connection still acquired");
		if (s->conns[i].handle)
			s->ops->close(s->conns[i].handle);
	}
	if (s->ops && s->ops->free_priv)
		s->ops->free_priv(s->priv);
	free(s->conns);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *store_backend(const struct store *s)
{
	return s->ops->name;
}

const char *store_url_redacted(const struct store *s)
{
	return s->url_redacted;
}

struct store *store_conn_store(const struct store_conn *c)
{
	return c->store;
}

static int acquire_within(struct store *s, long timeout_ms, struct store_conn **out, char *err,
                          size_t errlen)
{
	struct timespec until;
	struct store_conn *pick = NULL;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	*out = NULL;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		/* Prefer a connected idle slot; else an unconnected one. */
		for (unsigned i = 0; i < s->npool && !pick; i++)
			if (!s->conns[i].lent && s->conns[i].handle)
				pick = &s->conns[i];
		for (unsigned i = 0; i < s->npool && !pick; i++)
			if (!s->conns[i].lent)
				pick = &s->conns[i];
		if (pick)
			break;
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&s->lock);
			return store_fail(err, errlen, CJ_EUNAVAIL, STORE_ERR_CONNECTION,
			                  "no database connection free within %ld ms", timeout_ms);
		}
	}
	pick->lent = 1;
	pthread_mutex_unlock(&s->lock);
	if (!pick->handle) {
		double t0 = mono_seconds();

		rc = s->ops->open(s, &pick->handle, err, errlen);
		metrics_upstream("database", "connect", mono_seconds() - t0);
		if (rc) {
			pick->handle = NULL;
			pthread_mutex_lock(&s->lock);
			pick->lent = 0;
			pthread_cond_signal(&s->cond);
			pthread_mutex_unlock(&s->lock);
			return rc;
		}
	}
	pick->in_tx = 0;
	pick->tx_failed = 0;
	*out = pick;
	return CJ_OK;
}

int store_acquire(struct store *s, struct store_conn **out, char *err, size_t errlen)
{
	return acquire_within(s, s->opts.acquire_timeout_ms, out, err, errlen);
}

void store_release(struct store_conn *c)
{
	struct store *s;

	if (!c)
		return;
	s = c->store;
	if (c->in_tx)
		store_rollback(c);
	pthread_mutex_lock(&s->lock);
	c->lent = 0;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* --- Statements and transactions ----------------------------------------- */

/* PostgreSQL refuses every statement of a transaction after one failed; the
 * store makes SQLite behave the same, so code tested on one backend does not
 * commit half a transaction on the other. */
static int aborted(char *err, size_t errlen)
{
	return store_fail(err, errlen, CJ_ESTORAGE, STORE_ERR_OTHER,
	                  "transaction aborted by an earlier error; roll it back");
}

int store_conn_exec(struct store_conn *c, const char *sql, const struct store_param *params,
                    size_t nparams, struct store_rows **rows, char *err, size_t errlen)
{
	double t0 = mono_seconds();
	struct store_rows *r = NULL;
	int rc;

	if (rows)
		*rows = NULL;
	rc = check_params(sql, params, nparams, err, errlen);
	if (rc)
		return rc;
	if (c->in_tx && c->tx_failed)
		return aborted(err, errlen);
	rc = c->store->ops->exec(c, sql, params, nparams, &r, err, errlen);
	metrics_upstream("database", sql_op(sql), mono_seconds() - t0);
	if (rc) {
		store_rows_free(r);
		c->tx_failed = c->in_tx;
		return rc;
	}
	last_error = STORE_ERR_NONE;
	if (rows)
		*rows = r;
	else
		store_rows_free(r);
	return CJ_OK;
}

int store_exec(struct store *s, const char *sql, const struct store_param *params, size_t nparams,
               struct store_rows **rows, char *err, size_t errlen)
{
	struct store_conn *c;
	int rc;

	if (rows)
		*rows = NULL;
	rc = store_acquire(s, &c, err, errlen);
	if (rc)
		return rc;
	rc = store_conn_exec(c, sql, params, nparams, rows, err, errlen);
	store_release(c);
	return rc;
}

int store_conn_exec_script(struct store_conn *c, const char *sql, char *err, size_t errlen)
{
	double t0 = mono_seconds();
	int rc;

	if (!sql)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID, "no script");
	if (c->in_tx && c->tx_failed)
		return aborted(err, errlen);
	rc = c->store->ops->script(c, sql, err, errlen);
	metrics_upstream("database", "script", mono_seconds() - t0);
	if (!rc)
		last_error = STORE_ERR_NONE;
	else
		c->tx_failed = c->in_tx;
	return rc;
}

static int tx_op(struct store_conn *c, enum store_tx_op op, const char *label, char *err,
                 size_t errlen)
{
	double t0 = mono_seconds();
	int rc;

	c->tx_failed = 0;
	rc = c->store->ops->tx(c, op, err, errlen);
	metrics_upstream("database", label, mono_seconds() - t0);
	if (!rc)
		last_error = STORE_ERR_NONE;
	return rc;
}

int store_begin(struct store_conn *c, char *err, size_t errlen)
{
	if (c->in_tx)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                  "a transaction is already open");
	return tx_op(c, STORE_TX_BEGIN, "begin", err, errlen);
}

int store_begin_exclusive(struct store_conn *c, char *err, size_t errlen)
{
	if (c->in_tx)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                  "a transaction is already open");
	return tx_op(c, STORE_TX_BEGIN_EXCLUSIVE, "begin", err, errlen);
}

int store_commit(struct store_conn *c, char *err, size_t errlen)
{
	if (!c->in_tx)
		return store_fail(err, errlen, CJ_EINVAL, STORE_ERR_INVALID,
		                  "no transaction is open");
	if (c->tx_failed) {
		store_rollback(c);
		return aborted(err, errlen);
	}
	return tx_op(c, STORE_TX_COMMIT, "commit", err, errlen);
}

void store_rollback(struct store_conn *c)
{
	char err[256];
	enum store_error saved = last_error;

	if (!c->in_tx)
		return;
	if (tx_op(c, STORE_TX_ROLLBACK, "rollback", err, sizeof(err)))
		log_msg(L_WARNING, "database rollback failed: %s", err);
	c->in_tx = 0;
	/* Keep the reason of the failure that led to the rollback. */
	last_error = saved;
}

int store_in_transaction(const struct store_conn *c)
{
	return c->in_tx;
}

static void conflict_pause(int attempt)
{
	unsigned char r = 0;
	struct timespec ts;
	long ms;

	if (random_bytes(&r, 1))
		r = 128;
	ms = 5 + (long)(r % (10u * (unsigned)attempt + 10u));
	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int store_transact(struct store *s, store_tx_fn fn, void *arg, char *err, size_t errlen)
{
	int rc = CJ_OK;

	for (int attempt = 1; attempt <= TRANSACT_ATTEMPTS; attempt++) {
		struct store_conn *c;

		rc = store_acquire(s, &c, err, errlen);
		if (rc)
			return rc;
		rc = store_begin(c, err, errlen);
		if (!rc) {
			rc = fn(c, arg, err, errlen);
			if (!rc && c->in_tx)
				rc = store_commit(c, err, errlen);
			else if (!rc)
				rc = store_fail(err, errlen, CJ_EINTERNAL, STORE_ERR_OTHER,
				                "transaction ended inside its function");
		}
		store_release(c);
		if (rc != CJ_ECONFLICT)
			return rc;
		if (attempt < TRANSACT_ATTEMPTS)
			conflict_pause(attempt);
	}
	return rc;
}

int store_ping(struct store *s, double *latency_ms, char *err, size_t errlen)
{
	double t0 = mono_seconds();
	struct store_conn *c;
	struct store_rows *r = NULL;
	int rc;

	*latency_ms = 0;
	rc = acquire_within(s, PING_ACQUIRE_MS, &c, err, errlen);
	if (rc)
		return rc;
	rc = s->ops->exec(c, "SELECT 1", NULL, 0, &r, err, errlen);
	store_release(c);
	if (!rc && (!store_rows_next(r) || store_rows_int(r, 0) != 1))
		rc = store_fail(err, errlen, CJ_ESTORAGE, STORE_ERR_OTHER,
		                "ping answered an unexpected result");
	store_rows_free(r);
	*latency_ms = (mono_seconds() - t0) * 1000.0;
	metrics_upstream("database", "ping", *latency_ms / 1000.0);
	if (!rc)
		last_error = STORE_ERR_NONE;
	return rc;
}
