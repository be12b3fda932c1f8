/*
 * idem_local.c - local mode's idempotency store without Upstash (SPEC §5.4,
 * §8): claims live in this process (idem_memory.c), completed keys also in
 * the database table idempotency_keys, so a task whose handler finished
 * just before a kill -9 is a duplicate when it comes back, not a second run.
 *
 * Claim: a live done row in the database wins (duplicate); otherwise the
 * in-process claim decides, atomically as idem_memory.c does. Complete: the
 * in-process check-and-set first (only a holder of the claim completes),
 * then the row, upserted. Renew and release touch claims only: memory.
 * Rows expire on the wall clock after IDEMPOTENCY_TTL_SECONDS, like a Redis
 * TTL (not business time); expired rows are ignored by claims and deleted a
 * bounded batch at a time, at most once a minute, from completes and pings.
 *
 * Database failures are CJ_EUNAVAIL (IDEMPOTENCY_FAIL_MODE decides, as for
 * an unreachable Redis). Owns the memory store; borrows the database (its
 * owner closes it after idem_free()). Thread-safe.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idem_backend.h"
#include "log.h"
#include "store.h"
#include "timeutil.h"

#define SWEEP_INTERVAL_MS 60000

struct idem_local {
	struct idem base; /* first: struct idem * converts to struct idem_local * */
	struct idem *mem; /* the claims */
	struct store *db; /* borrowed */
	atomic_llong last_sweep_ms; /* monotonic; -1 never */
};

static struct idem_local *local_of(struct idem *s)
{
	return (struct idem_local *)s;
}

/* A store failure as the idempotency protocol sees it. */
static int db_result(int rc)
{
	return rc == CJ_ENOMEM ? CJ_ENOMEM : CJ_EUNAVAIL;
}

/* Deletes up to 1000 expired rows, once per SWEEP_INTERVAL_MS
 * across all threads. Best effort: a failure waits for the next turn. */
static void sweep_expired(struct idem_local *l)
{
	long long last = atomic_load(&l->last_sweep_ms), now = time_mono_ms();
	struct store_param p[1] = {store_p_int(time_wall_s())};
	char err[256];

	if (last >= 0 && now - last < SWEEP_INTERVAL_MS)
		return;
	if (!atomic_compare_exchange_strong(&l->last_sweep_ms, &last, now))
		return; /* another thread sweeps now */
	/* A failure is harmless: claims ignore expired rows. */
	if (store_exec(l->db,
	               "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM "
	               "idempotency_keys WHERE expires_at <= $1 LIMIT 1000)",
	               p, 1, NULL, err, sizeof(err)))
		log_msg(L_DEBUG, "expired idempotency keys not deleted yet: %s", err);
}

static int local_claim(struct idem *s, const struct idem_claim *c, long lease_s, char *cur,
                       size_t curlen, char *err, size_t errlen)
{
	struct idem_local *l = local_of(s);
	struct store_param p[2] = {store_p_text(c->key), store_p_int(time_wall_s())};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_exec(l->db,
	                "SELECT value FROM idempotency_keys WHERE key = $1 AND expires_at > $2", p,
	                2, &rows, err, errlen);
	if (rc)
		return db_result(rc);
	if (store_rows_next(rows) && store_rows_text(rows, 0)) {
		snprintf(cur, curlen, "%s", store_rows_text(rows, 0));
		store_rows_free(rows);
		return CJ_OK;
	}
	store_rows_free(rows);
	return l->mem->ops->claim(l->mem, c, lease_s, cur, curlen, err, errlen);
}

static int local_complete(struct idem *s, const struct idem_claim *c, const char *done_value,
                          long ttl_s, int *lost, char *err, size_t errlen)
{
	struct idem_local *l = local_of(s);
	struct store_param p[3];
	int rc;

	/* Holds our claim → done in memory; or already done_value (a retry of
	 * this complete whose row write failed) → write the row again. */
	rc = l->mem->ops->complete(l->mem, c, done_value, ttl_s, lost, err, errlen);
	if (rc || *lost)
		return rc;
	/* If the process dies here, the in-memory done dies with it and no row
	 * was written: the task's next delivery (after the restart) finds no
	 * claim and no row and runs the handler again. That window is one local
	 * statement wide; outside it a finished task is never run twice. Writing
	 * the row first would be worse: a claim that lapsed meanwhile could be
	 * running elsewhere, and its key would read done before it finished. */
	p[0] = store_p_text(c->key);
	p[1] = store_p_text(done_value);
	p[2] = store_p_int(time_wall_s() + ttl_s);
	rc = store_exec(l->db,
	                "INSERT INTO idempotency_keys (key, value, expires_at) VALUES ($1, $2, $3) "
	                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
	                "expires_at = excluded.expires_at",
	                p, 3, NULL, err, errlen);
	if (rc)
		return db_result(rc); /* the lease keeper retries: see above */
	sweep_expired(l);
	return CJ_OK;
}

static int local_renew(struct idem *s, const struct idem_claim *c, long lease_s, int *lost,
                       char *err, size_t errlen)
{
	struct idem *mem = local_of(s)->mem;

	return mem->ops->renew(mem, c, lease_s, lost, err, errlen);
}

static int local_release(struct idem *s, const struct idem_claim *c, int *lost, char *err,
                         size_t errlen)
{
	struct idem *mem = local_of(s)->mem;

	return mem->ops->release(mem, c, lost, err, errlen);
}

static int local_ping(struct idem *s, char *err, size_t errlen)
{
	struct idem_local *l = local_of(s);
	double ms = 0;
	int rc = store_ping(l->db, &ms, err, errlen);

	if (rc)
		return db_result(rc);
	sweep_expired(l);
	return CJ_OK;
}

static void local_destroy(struct idem *s)
{
	struct idem_local *l = local_of(s);

	idem_free(l->mem);
	free(l);
}

static const struct idem_ops local_ops = {
    "in-process",  local_claim, local_complete, local_renew,
    local_release, local_ping,  local_destroy,
};

struct idem *idem_new_local(struct store *db)
{
	struct idem_local *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->mem = idem_new_memory();
	if (!l->mem) {
		free(l);
		return NULL;
	}
	l->db = db;
	atomic_init(&l->last_sweep_ms, -1);
	l->base.ops = &local_ops;
	return &l->base;
}
