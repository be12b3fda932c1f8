/*
 * jwks.h - the cache of token-signing keys (a JWK set fetched over HTTP).
 *
 * Keys are fetched from the JWKS URL at start (in the background:
 * jwks_start) and when needed, kept for the
 * answer's Cache-Control max-age, refetched on an unknown kid at most once
 * per 30 s, and kept serving when a refetch fails. A set past its max-age
 * is "stale" but still serves; the lookup or status query that notices hands
 * its refetch to a background thread (single-flight, at most once per 30 s)
 * and does not wait for it. Extra static keys (local mode's own signing key)
 * can be added and are always trusted.
 *
 * The key set is an immutable snapshot swapped under a lock; lookups take a
 * reference (EVP_PKEY_up_ref), so readers never see a half-built set.
 * Thread-safe; jwks_free() stops the background refetcher (a fetch in
 * flight is abandoned) and must not race other calls.
 */
#ifndef CJ_JWKS_H
#define CJ_JWKS_H

#include <openssl/evp.h>
#include <stdint.h>

#include "cj.h"

struct jwks;

struct jwks_status {
	int keys; /* keys in the current set (including static) */
	int static_keys; /* of which static (local mode's own key) */
	int loaded; /* a set was fetched at least once, or static keys exist */
	int stale; /* past max-age (by age alone; the keys still serve) */
	int64_t age_seconds; /* since the last successful fetch; -1 never */
};

/* url is copied; NULL url: only static keys, never any fetch (fuzzing, tests).
 * NULL on allocation failure. Nothing is fetched yet. */
struct jwks *jwks_new(const char *url);
void jwks_free(struct jwks *k);

/* Fetches now. CJ_OK, CJ_EUNAVAIL/CJ_ETIMEOUT (no answer or non-200),
 * CJ_EUPSTREAM (not a usable JWK set). The old set stays on failure. */
int jwks_refresh(struct jwks *k, char *err, size_t errlen) CJ_WUR;

/* Starts the first fetch on the background refetcher and returns at once,
 * so the server listens while the keys load; a lookup meanwhile waits for
 * that fetch (at most its timeout), and a failure is logged and retried by
 * the next lookup after 1 s. CJ_OK, or CJ_EINTERNAL when no thread could
 * be started (then call jwks_refresh()). Without a URL it does nothing. */
int jwks_start(struct jwks *k) CJ_WUR;

/* Adds a static trusted key under kid (reference taken). */
int jwks_add_static(struct jwks *k, const char *kid, EVP_PKEY *key) CJ_WUR;

/* The key for kid with a reference the caller must EVP_PKEY_free(), or NULL.
 * A found key is returned at once; if its set is past max-age a background
 * refetch starts. An unknown kid is refetched in the caller's thread when
 * the last fetch started over 30 s ago. Sets *never_loaded when no set was
 * ever loaded (the caller answers 503). never_loaded may be NULL.
 * Refetches are single-flight and start at most once per 30 s (so a max-age
 * under 30 s acts as 30 s); while one runs, other lookups use the current
 * set, or wait for it when no set was ever fetched (static keys aside; at
 * most the fetch timeout, 10 s). Until a first set loads, a lookup retries a failed fetch
 * after 1 s. */
EVP_PKEY *jwks_get(struct jwks *k, const char *kid, int *never_loaded);

/* The cache's state for readiness. Like a lookup, it starts the background
 * refetch of a set past its max-age. */
void jwks_status(struct jwks *k, struct jwks_status *st);

/* The Cache-Control max-age in seconds: 300 when absent or unreadable, 0 for
 * no-cache/no-store, at most 86400. cache_control may be NULL. Pure. */
int64_t jwks_parse_max_age(const char *cache_control);

/* Tests only: the minimum time between two refetches triggered by lookups
 * (an unknown kid, or a set past max-age); 30000 ms by default. */
void jwks_set_min_refetch_interval(struct jwks *k, int64_t ms);

/* Tests only: waits until no fetch is running or handed to the background
 * refetcher. */
void jwks_wait_idle(struct jwks *k);

#endif
