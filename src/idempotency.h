/*
 * idempotency.h - the claim / complete / release protocol of SPEC §8 over
 * either Upstash Redis (idem_redis.c) or an in-process table (idem_memory.c)
 * whose completed keys local mode also keeps in the database (idem_local.c).
 * All implement exactly the same semantics.
 *
 * Key: catchup:idem:{type}:{key}. Values: "running:{instance}:{nonce}" while
 * a delivery holds it (expires after the lease unless renewed: see lease.h,
 * which renews held claims and retries settlements in the background),
 * "done:{unix}" once finished (expires after the TTL).
 *
 * Result codes of every call:
 *   CJ_OK        done (see the out parameter)
 *   CJ_EUNAVAIL  store unreachable: connection failure, timeout, 5xx
 *                (IDEMPOTENCY_FAIL_MODE decides)
 *   CJ_ECONFIG   wrong token or command error: a configuration fault
 *                (answer 503, never run unclaimed)
 *   CJ_ENOMEM
 * Thread-safe.
 */
#ifndef CJ_IDEMPOTENCY_H
#define CJ_IDEMPOTENCY_H

#include <stdint.h>

#include "cj.h"

struct redis_rest;
struct store;
struct idem;

enum idem_state {
	IDEM_CLAIMED, /* ours (newly set, or our own earlier claim read back): run */
	IDEM_DUPLICATE, /* completed before: answer duplicate */
	IDEM_IN_PROGRESS, /* another delivery holds it: 409 */
};

/* What a claim gave us; needed to complete or release it. */
struct idem_claim {
	char key[1024]; /* full Redis key */
	char value[128]; /* our "running:..." value */
};

/* Redis-backed; r is borrowed and must outlive the store. */
struct idem *idem_new_redis(struct redis_rest *r);
/* In-process; TTLs as in Redis. */
struct idem *idem_new_memory(void);
/* Local mode without Upstash: claims in-process, completed keys also in the
 * database's idempotency_keys (db borrowed; close it after idem_free()), so
 * they survive a restart. idem_mode() is "in-process". */
struct idem *idem_new_local(struct store *db);
void idem_free(struct idem *s);
/* "upstash" or "in-process". */
const char *idem_mode(const struct idem *s);

/* Builds the claim for (type, key) with a fresh nonce. CJ_OK, CJ_EINVAL (key
 * too long) or CJ_EINTERNAL. */
int idem_prepare(struct idem_claim *c, const char *type, const char *key) CJ_WUR;
/* Claim-or-read in one atomic step; lease_s bounds how long the claim holds. */
int idem_claim(struct idem *s, const struct idem_claim *c, long lease_s, enum idem_state *out,
               char *err, size_t errlen) CJ_WUR;
/* Marks done with ttl_s if the key still holds our claim; *lost = 1 when it
 * did not (the lease ran out). */
int idem_complete(struct idem *s, const struct idem_claim *c, long ttl_s, int *lost, char *err,
                  size_t errlen) CJ_WUR;
/* As idem_complete, writing done:{done_unix}: a retry of a complete whose
 * reply was lost must write the same value to recognise its own write. */
int idem_complete_at(struct idem *s, const struct idem_claim *c, int64_t done_unix, long ttl_s,
                     int *lost, char *err, size_t errlen) CJ_WUR;
/* Extends our claim to expire lease_s from now, only if the key still holds
 * it; *lost = 1 when it did not (the lease ran out, or it was taken over). */
int idem_renew(struct idem *s, const struct idem_claim *c, long lease_s, int *lost, char *err,
               size_t errlen) CJ_WUR;
/* Deletes the key if it still holds our claim; *lost as above. */
int idem_release(struct idem *s, const struct idem_claim *c, int *lost, char *err,
                 size_t errlen) CJ_WUR;
/* Round trip for readiness; *latency_ms receives the time taken. */
int idem_ping(struct idem *s, int64_t *latency_ms, char *err, size_t errlen) CJ_WUR;

/* The instance id used in claim values (random per process). */
const char *idem_instance_id(void);

#endif
