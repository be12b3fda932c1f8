/*
 * idem_memory.c - the idempotency store kept in this process (local mode
 * without Upstash). Same protocol, values and expiry as idem_redis.c.
 *
 * Owns a chained hash table under one mutex; every operation holds the
 * mutex for its whole check-and-set, which makes it atomic as a Lua script
 * is in Redis. Expiry uses the monotonic clock (wall-clock jumps neither
 * revive nor drop keys). Memory stays bounded: expired entries are dropped
 * from every chain an operation walks, a cursor sweeps a few more buckets on
 * each operation, and past IDEM_MEM_MAX_ENTRIES live keys a claim fails with
 * CJ_EUNAVAIL rather than evict a key someone relies on.
 *
 * Never: hand out pointers into the table; call out while holding the lock.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idem_backend.h"
#include "timeutil.h"

#define IDEM_MEM_MIN_BUCKETS 1024u
#define IDEM_MEM_MAX_BUCKETS (1u << 18)
#define IDEM_MEM_MAX_ENTRIES (1u << 18)
#define IDEM_MEM_SWEEP_PER_OP 4u

struct mem_entry {
	struct mem_entry *next;
	uint64_t hash;
	int64_t expires_ms; /* monotonic */
	char value[IDEM_VALUE_MAX];
	char key[]; /* NUL-terminated */
};

struct idem_memory {
	struct idem base; /* first: struct idem * converts to struct idem_memory * */
	pthread_mutex_t lock;
	/* Guarded by lock. */
	struct mem_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	size_t sweep; /* next bucket the incremental sweep looks at */
};

static struct idem_memory *mem_of(struct idem *s)
{
	return (struct idem_memory *)s;
}

static uint64_t hash_key(const char *s)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* Drops the expired entries of bucket i. Caller holds the lock. */
static void purge_bucket(struct idem_memory *m, size_t i, int64_t now)
{
	struct mem_entry **pp = &m->buckets[i], *e;

	while ((e = *pp)) {
		if (e->expires_ms <= now) {
			*pp = e->next;
			free(e);
			m->count--;
		} else {
			pp = &e->next;
		}
	}
}

static void sweep_some(struct idem_memory *m, int64_t now)
{
	size_t k;

	for (k = 0; k < IDEM_MEM_SWEEP_PER_OP; k++) {
		purge_bucket(m, m->sweep, now);
		m->sweep = (m->sweep + 1) & (m->nbuckets - 1);
	}
}

/* The live entry for key (expired ones in its chain are dropped first). */
static struct mem_entry *find(struct idem_memory *m, const char *key, uint64_t h, int64_t now)
{
	size_t i = h & (m->nbuckets - 1);
	struct mem_entry *e;

	purge_bucket(m, i, now);
	for (e = m->buckets[i]; e; e = e->next)
		if (e->hash == h && !strcmp(e->key, key))
			return e;
	return NULL;
}

static void unlink_entry(struct idem_memory *m, struct mem_entry *victim)
{
	struct mem_entry **pp = &m->buckets[victim->hash & (m->nbuckets - 1)];

	while (*pp != victim)
		pp = &(*pp)->next;
	*pp = victim->next;
	free(victim);
	m->count--;
}

/* Doubles the table when chains grow long; on allocation failure the table
 * simply stays as it is (longer chains, same answers). */
static void maybe_grow(struct idem_memory *m)
{
	size_t n = m->nbuckets * 2, i;
	struct mem_entry **nb, *e, *next;

	if (m->count < m->nbuckets || n > IDEM_MEM_MAX_BUCKETS)
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->buckets[i]; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->nbuckets = n;
	m->sweep = 0;
}

static int64_t expiry(int64_t now, long seconds)
{
	return now + (int64_t)seconds * 1000;
}

static int mem_claim(struct idem *s, const struct idem_claim *c, long lease_s, char *cur,
                     size_t curlen, char *err, size_t errlen)
{
	struct idem_memory *m = mem_of(s);
	uint64_t h = hash_key(c->key);
	size_t klen = strlen(c->key), i;
	int64_t now = time_mono_ms();
	struct mem_entry *e;

	pthread_mutex_lock(&m->lock);
	sweep_some(m, now);
	e = find(m, c->key, h, now);
	if (e) {
		snprintf(cur, curlen, "%s", e->value);
		pthread_mutex_unlock(&m->lock);
		return CJ_OK;
	}
	if (m->count >= IDEM_MEM_MAX_ENTRIES) {
		for (i = 0; i < m->nbuckets; i++)
			purge_bucket(m, i, now);
	}
	if (m->count >= IDEM_MEM_MAX_ENTRIES) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "in-process idempotency store is full (%u keys)",
		         IDEM_MEM_MAX_ENTRIES);
		return CJ_EUNAVAIL;
	}
	e = malloc(sizeof(*e) + klen + 1);
	if (!e) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "in-process claim failed: out of memory");
		return CJ_ENOMEM;
	}
	e->hash = h;
	e->expires_ms = expiry(now, lease_s);
	snprintf(e->value, sizeof(e->value), "%s", c->value);
	memcpy(e->key, c->key, klen + 1);
	e->next = m->buckets[h & (m->nbuckets - 1)];
	m->buckets[h & (m->nbuckets - 1)] = e;
	m->count++;
	maybe_grow(m);
	snprintf(cur, curlen, "%s", c->value);
	pthread_mutex_unlock(&m->lock);
	return CJ_OK;
}

static int mem_complete(struct idem *s, const struct idem_claim *c, const char *done_value,
                        long ttl_s, int *lost, char *err, size_t errlen)
{
	struct idem_memory *m = mem_of(s);
	int64_t now = time_mono_ms();
	struct mem_entry *e;

	pthread_mutex_lock(&m->lock);
	sweep_some(m, now);
	e = find(m, c->key, hash_key(c->key), now);
	if (e && !strcmp(e->value, c->value)) {
		snprintf(e->value, sizeof(e->value), "%s", done_value);
		e->expires_ms = expiry(now, ttl_s);
		*lost = 0;
	} else {
		*lost = !(e && !strcmp(e->value, done_value));
	}
	pthread_mutex_unlock(&m->lock);
	return CJ_OK;
}

static int mem_renew(struct idem *s, const struct idem_claim *c, long lease_s, int *lost, char *err,
                     size_t errlen)
{
	struct idem_memory *m = mem_of(s);
	int64_t now = time_mono_ms();
	struct mem_entry *e;

	pthread_mutex_lock(&m->lock);
	sweep_some(m, now);
	e = find(m, c->key, hash_key(c->key), now);
	if (e && !strcmp(e->value, c->value)) {
		e->expires_ms = expiry(now, lease_s);
		*lost = 0;
	} else {
		*lost = 1;
	}
	pthread_mutex_unlock(&m->lock);
	return CJ_OK;
}

static int mem_release(struct idem *s, const struct idem_claim *c, int *lost, char *err,
                       size_t errlen)
{
	struct idem_memory *m = mem_of(s);
	int64_t now = time_mono_ms();
	struct mem_entry *e;

	pthread_mutex_lock(&m->lock);
	sweep_some(m, now);
	e = find(m, c->key, hash_key(c->key), now);
	if (e && !strcmp(e->value, c->value)) {
		unlink_entry(m, e);
		*lost = 0;
	} else {
		*lost = 1;
	}
	pthread_mutex_unlock(&m->lock);
	return CJ_OK;
}

static int mem_ping(struct idem *s, char *err, size_t errlen)
{
	return CJ_OK;
}

static void mem_destroy(struct idem *s)
{
	struct idem_memory *m = mem_of(s);
	struct mem_entry *e, *next;
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->buckets[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->buckets);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct idem_ops memory_ops = {
    "in-process", mem_claim, mem_complete, mem_renew, mem_release, mem_ping, mem_destroy,
};

struct idem *idem_new_memory(void)
{
	struct idem_memory *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nbuckets = IDEM_MEM_MIN_BUCKETS;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets || pthread_mutex_init(&m->lock, NULL)) {
		free(m->buckets);
		free(m);
		return NULL;
	}
	m->base.ops = &memory_ops;
	return &m->base;
}
