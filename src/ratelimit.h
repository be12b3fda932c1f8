/*
 * ratelimit.h - a sliding-window-log rate limiter: at most `limit` events
 * per `window_s` seconds per key, e.g. "20 SMS per phone per rolling hour"
 * (SPEC §7, batch-notifications). Two stores with the same semantics:
 * Upstash Redis (cloud mode) and an in-process table (local mode).
 *
 * Each key holds a log of (member, score) entries, one per event: the
 * member names the event (unique per message, e.g. the outbox row id) and
 * the score is the business time it was taken at. An entry counts while it
 * is inside the window: score > now - window_s.
 *
 * Atomicity: a take prunes the entries that left the window, looks the
 * member up, counts, adds the member when below the limit and sets the key's
 * expiry as ONE step: one Lua script in Redis (scripts run alone, so no
 * other client sees or changes the log in between) or one critical section
 * under the store's mutex in process. Two instances, or threads, taking the
 * last slot at once therefore cannot both get it: at most `limit` events
 * are ever admitted per window.
 *
 * Idempotent per member: taking again for a member already in the window
 * admits it again without counting it twice (a retried job re-taking for
 * the same message), and keeps its original time.
 *
 * Time: `now` is business time (clock_now(), seconds with fraction) passed
 * in by the caller, never read from Redis, so tests and local mode's
 * movable clock decide it. Use one window per key; callers on different
 * instances share the same clock in cloud mode (the wall clock).
 *
 * Redis key: catchup:ratelimit:{key} (a ZSET of member -> score), expiring
 * window_s after the last take (an empty log leaves no key behind).
 *
 * Result codes of ratelimit_take() and ratelimit_release():
 *   CJ_OK        done (see the out parameters)
 *   CJ_EINVAL    bad arguments (see the limits below); nothing was sent
 *   CJ_EUNAVAIL  Redis unreachable or 5xx (from redis_rest), or the
 *                in-process store is full: retry later
 *   CJ_ETIMEOUT  Redis timed out (from redis_rest): retry later
 *   CJ_ECONFIG   wrong token (from redis_rest), or a command error such as
 *                WRONGTYPE on the key: a fault retrying will not fix
 *   CJ_EUPSTREAM an answer we cannot read
 *   CJ_ENOMEM
 * On any error *allowed is 0: never send when the limiter cannot be asked.
 *
 * Ownership: the Redis store borrows r, which must outlive it (free r after
 * ratelimit_free()). Strings passed in are copied when kept. Thread-safe:
 * any number of threads may share one struct ratelimit.
 */
#ifndef CJ_RATELIMIT_H
#define CJ_RATELIMIT_H

#include <stddef.h>

#include "cj.h"

struct redis_rest;
struct ratelimit;

/* Argument bounds, the same for both stores. key and member are non-empty
 * well-formed UTF-8 of at most these many bytes. */
#define RATELIMIT_KEY_MAX 256
#define RATELIMIT_MEMBER_MAX 256
#define RATELIMIT_LIMIT_MAX 10000 /* limit is 1..this */
#define RATELIMIT_WINDOW_MAX (31 * 86400) /* window_s is 1..this */

/* The in-process store's bounds: past either a take that needs a new key or
 * entry fails with CJ_EUNAVAIL (after dropping whatever has expired) rather
 * than forget events someone relies on. */
#define RATELIMIT_MEM_MAX_KEYS (1u << 16)
#define RATELIMIT_MEM_MAX_ENTRIES (1u << 18)

/* Redis-backed; r is borrowed. NULL when r is NULL or allocation fails. */
struct ratelimit *ratelimit_new_redis(struct redis_rest *r);
/* In-process (local mode). NULL on allocation failure. */
struct ratelimit *ratelimit_new_memory(void);
/* Frees the limiter (not the borrowed redis_rest). NULL is a no-op. */
void ratelimit_free(struct ratelimit *rl);
/* "upstash" or "in-process". */
const char *ratelimit_mode(const struct ratelimit *rl);

/* One atomic step for key at business time now: drop entries with score
 * <= now - window_s; if member is still in the log, *allowed = 1 (nothing
 * added); else if fewer than limit entries remain, add member with score
 * now and *allowed = 1; else *allowed = 0. The key then expires window_s
 * later.
 *
 * *retry_at is the earliest business time at which a take for a new member
 * can be allowed: now when a slot is still free after this take, else the
 * time the entry that frees the next slot (the oldest one when the log holds
 * exactly limit entries) leaves the window. A take at exactly *retry_at
 * finds that slot free. On error *allowed = 0 and *retry_at = now. */
int ratelimit_take(struct ratelimit *rl, const char *key, int limit, int window_s, double now,
                   const char *member, int *allowed, double *retry_at, char *err,
                   size_t errlen) CJ_WUR;

/* Removes member from key's log, freeing its slot (a message that was not
 * sent after all, e.g. refused before it reached the provider). Removing a
 * member or key that is not there is CJ_OK. */
int ratelimit_release(struct ratelimit *rl, const char *key, const char *member, char *err,
                      size_t errlen) CJ_WUR;

#endif
