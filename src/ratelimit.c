/*
 * ratelimit.c - the sliding-window-log rate limiter of ratelimit.h, on
 * Upstash Redis (one Lua script per operation through redis_rest_eval()) or
 * in this process (a hash table of per-key logs under one mutex).
 *
 * Both stores get the same cutoff (now - window, computed here once) and
 * report the score that frees the next slot; this file turns that score into
 * retry_at, so the two cannot drift apart. Scores travel to Redis as "%.17g",
 * which round-trips a double exactly.
 *
 * The in-process store stays bounded: a take prunes its own key's log, a
 * cursor sweeps a few more buckets on each operation and drops keys whose
 * expiry has passed, and past RATELIMIT_MEM_MAX_KEYS keys or
 * RATELIMIT_MEM_MAX_ENTRIES entries a take that needs more fails with
 * CJ_EUNAVAIL instead of forgetting events (the caller defers the send).
 *
 * Never: admit an event when the store could not be asked; read the wall
 * clock (now comes from the caller); call out while holding the lock.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ratelimit.h"
#include "redis_rest.h"
#include "utf8.h"

#define RL_KEY_PREFIX "catchup:ratelimit:"
#define RL_MEM_BUCKETS 4096u /* a power of two */
#define RL_MEM_SWEEP_PER_OP 4u

struct rl_entry {
	double score;
	char *member;
};

/* One key's log, entries sorted by score (oldest first). */
struct rl_log {
	struct rl_log *next;
	uint64_t hash;
	double expires; /* business time after which the whole log is stale */
	struct rl_entry *e;
	size_t n, cap;
	char key[]; /* NUL-terminated */
};

struct ratelimit {
	struct redis_rest *r; /* borrowed; NULL for the in-process store */
	pthread_mutex_t lock; /* in-process store only */
	/* Guarded by lock. */
	struct rl_log **buckets;
	size_t nkeys, nentries;
	size_t sweep; /* next bucket the incremental sweep looks at */
};

/* What one take found, whichever store answered. */
struct take_result {
	int allowed;
	long long count; /* entries in the window afterwards */
	int have_frees; /* count >= limit: frees_score is set */
	double frees_score; /* score of the entry whose leaving frees a slot */
};

/* ---- shared ---- */

static int check_str(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > max || !utf8_valid(s, n))
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "rate limit %s must be 1-%zu bytes of UTF-8", what, max);
	return CJ_OK;
}

static int check_take_args(const char *key, int limit, int window_s, double now, const char *member,
                           char *err, size_t errlen)
{
	int rc = check_str("key", key, RATELIMIT_KEY_MAX, err, errlen);

	if (!rc)
		rc = check_str("member", member, RATELIMIT_MEMBER_MAX, err, errlen);
	if (rc)
		return rc;
	if (limit < 1 || limit > RATELIMIT_LIMIT_MAX)
		return cj_errorf(err, errlen, CJ_EINVAL, "rate limit must be 1-%d, not %d",
		                 RATELIMIT_LIMIT_MAX, limit);
	if (window_s < 1 || window_s > RATELIMIT_WINDOW_MAX)
		return cj_errorf(err, errlen, CJ_EINVAL, "rate limit window must be 1-%d s, not %d",
		                 RATELIMIT_WINDOW_MAX, window_s);
	if (!isfinite(now) || now < 0)
		return cj_errorf(err, errlen, CJ_EINVAL, "rate limit time must be a finite time");
	return CJ_OK;
}

/* The earliest t at which an entry with this score is pruned, i.e. the
 * least t with t - window >= score in double arithmetic, exactly as the
 * cutoff is computed (score + window alone may round an ulp either way). */
static double leaves_window_at(double score, int window_s)
{
	double w = window_s, t = score + w, lower;

	while (t - w < score)
		t = nextafter(t, INFINITY);
	while ((lower = nextafter(t, -INFINITY)) - w >= score)
		t = lower;
	return t;
}

/* ---- Redis ---- */

/* KEYS[1] the log; ARGV[1] cutoff; ARGV[2] now; ARGV[3] member; ARGV[4]
 * limit; ARGV[5] window in ms. Prune, look up, count, add, expire in one
 * script. Returns {allowed, count} and, when count >= limit, the score of
 * the entry whose leaving frees a slot (the (count - limit)th, 0-based:
 * the oldest when the log is exactly full). */
static const char take_script[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "local allowed = 0\n"
    "local limit = tonumber(ARGV[4])\n"
    "if redis.call('ZSCORE', KEYS[1], ARGV[3]) then\n"
    "  allowed = 1\n"
    "elseif redis.call('ZCARD', KEYS[1]) < limit then\n"
    "  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])\n"
    "  allowed = 1\n"
    "end\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "if n == 0 then return {allowed, 0} end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[5])\n"
    "if n < limit then return {allowed, n} end\n"
    "local e = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')\n"
    "return {allowed, n, e[2]}\n";

/* KEYS[1] the log; ARGV[1] member. The number of members removed. */
static const char release_script[] = "return redis.call('ZREM', KEYS[1], ARGV[1])\n";

static void redis_key(char *out, size_t outlen, const char *key)
{
	snprintf(out, outlen, RL_KEY_PREFIX "%s", key);
}

/* Client results pass through unchanged (the caller retries on EUNAVAIL /
 * ETIMEOUT); a command error inside the script is a configuration fault. */
static int redis_result(int rc, const struct redis_reply *rep, const char *what, char *err,
                        size_t errlen)
{
	char why[256];

	if (rc) {
		snprintf(why, sizeof(why), "%s", err);
		return cj_errorf(err, errlen, rc, "redis rate limit %s failed: %s", what, why);
	}
	if (rep->type == REDIS_ERROR)
		return cj_errorf(err, errlen, CJ_ECONFIG,
		                 "redis rate limit %s failed: command error: %.200s", what,
		                 rep->str);
	return CJ_OK;
}

static int parse_take_reply(const struct redis_reply *rep, int limit, struct take_result *tr,
                            char *err, size_t errlen)
{
	const struct redis_reply *sc;
	char *end;

	if (rep->type != REDIS_ARRAY || rep->n < 2 || rep->n > 3 ||
	    rep->elems[0]->type != REDIS_INTEGER || rep->elems[1]->type != REDIS_INTEGER ||
	    (rep->elems[0]->integer != 0 && rep->elems[0]->integer != 1))
		goto bad;
	tr->allowed = (int)rep->elems[0]->integer;
	tr->count = rep->elems[1]->integer;
	tr->have_frees = tr->count >= limit;
	if (tr->have_frees != (rep->n == 3))
		goto bad;
	if (tr->have_frees) {
		sc = rep->elems[2];
		if (sc->type != REDIS_STRING || !sc->len)
			goto bad;
		tr->frees_score = strtod(sc->str, &end);
		if (*end || !isfinite(tr->frees_score))
			goto bad;
	}
	return CJ_OK;
bad:
	return cj_errorf(err, errlen, CJ_EUPSTREAM,
	                 "redis rate limit take failed: unexpected answer");
}

static int redis_take(struct ratelimit *rl, const char *key, int limit, int window_s, double now,
                      const char *member, struct take_result *tr, char *err, size_t errlen)
{
	char rkey[sizeof(RL_KEY_PREFIX) + RATELIMIT_KEY_MAX], cutoff[32], at[32], lim[16], ms[24];
	const char *keys[] = {rkey};
	const char *args[] = {cutoff, at, member, lim, ms};
	struct redis_reply *rep = NULL;
	int rc;

	redis_key(rkey, sizeof(rkey), key);
	snprintf(cutoff, sizeof(cutoff), "%.17g", now - window_s);
	snprintf(at, sizeof(at), "%.17g", now);
	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(ms, sizeof(ms), "%lld", (long long)window_s * 1000);
	rc = redis_rest_eval(rl->r, "ratelimit_take", take_script, 1, keys, 5, args, &rep, err,
	                     errlen);
	rc = redis_result(rc, rep, "take", err, errlen);
	if (!rc)
		rc = parse_take_reply(rep, limit, tr, err, errlen);
	redis_reply_free(rep);
	return rc;
}

static int redis_release(struct ratelimit *rl, const char *key, const char *member, char *err,
                         size_t errlen)
{
	char rkey[sizeof(RL_KEY_PREFIX) + RATELIMIT_KEY_MAX];
	const char *keys[] = {rkey};
	const char *args[] = {member};
	struct redis_reply *rep = NULL;
	int rc;

	redis_key(rkey, sizeof(rkey), key);
	rc = redis_rest_eval(rl->r, "ratelimit_release", release_script, 1, keys, 1, args, &rep,
	                     err, errlen);
	rc = redis_result(rc, rep, "release", err, errlen);
	if (!rc && rep->type != REDIS_INTEGER)
		rc = cj_errorf(err, errlen, CJ_EUPSTREAM,
		               "redis rate limit release failed: unexpected answer");
	redis_reply_free(rep);
	return rc;
}

/* ---- in process ---- */

static uint64_t hash_key(const char *s)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void log_free(struct ratelimit *rl, struct rl_log *lg)
{
	size_t i;

	for (i = 0; i < lg->n; i++)
		free(lg->e[i].member);
	rl->nentries -= lg->n;
	rl->nkeys--;
	free(lg->e);
	free(lg);
}

/* Drops the logs of bucket i whose expiry has passed. Caller holds the lock. */
static void purge_bucket(struct ratelimit *rl, size_t i, double now)
{
	struct rl_log **pp = &rl->buckets[i], *lg;

	while ((lg = *pp)) {
		if (lg->expires <= now) {
			*pp = lg->next;
			log_free(rl, lg);
		} else {
			pp = &lg->next;
		}
	}
}

static void sweep_some(struct ratelimit *rl, double now)
{
	size_t k;

	for (k = 0; k < RL_MEM_SWEEP_PER_OP; k++) {
		purge_bucket(rl, rl->sweep, now);
		rl->sweep = (rl->sweep + 1) & (RL_MEM_BUCKETS - 1);
	}
}

static void purge_all(struct ratelimit *rl, double now)
{
	size_t i;

	for (i = 0; i < RL_MEM_BUCKETS; i++)
		purge_bucket(rl, i, now);
}

static struct rl_log *find_log(struct ratelimit *rl, const char *key, uint64_t h)
{
	struct rl_log *lg;

	for (lg = rl->buckets[h & (RL_MEM_BUCKETS - 1)]; lg; lg = lg->next)
		if (lg->hash == h && !strcmp(lg->key, key))
			return lg;
	return NULL;
}

static void unlink_log(struct ratelimit *rl, struct rl_log *victim)
{
	struct rl_log **pp = &rl->buckets[victim->hash & (RL_MEM_BUCKETS - 1)];

	while (*pp != victim)
		pp = &(*pp)->next;
	*pp = victim->next;
	log_free(rl, victim);
}

/* Drops the entries with score <= cutoff (a prefix: the log is sorted). */
static void prune_log(struct ratelimit *rl, struct rl_log *lg, double cutoff)
{
	size_t k = 0, i;

	while (k < lg->n && lg->e[k].score <= cutoff)
		k++;
	for (i = 0; i < k; i++)
		free(lg->e[i].member);
	memmove(lg->e, lg->e + k, (lg->n - k) * sizeof(*lg->e));
	lg->n -= k;
	rl->nentries -= k;
}

static ssize_t find_member(const struct rl_log *lg, const char *member)
{
	size_t i;

	for (i = 0; i < lg->n; i++)
		if (!strcmp(lg->e[i].member, member))
			return (ssize_t)i;
	return -1;
}

/* Inserts (score, member) keeping the log sorted; after equal scores, as
 * entries mostly arrive in time order. */
static int add_entry(struct ratelimit *rl, struct rl_log *lg, double score, const char *member)
{
	size_t pos = lg->n, cap;
	struct rl_entry *ne;
	char *m;

	if (lg->n == lg->cap) {
		cap = lg->cap ? lg->cap * 2 : 4;
		ne = realloc(lg->e, cap * sizeof(*ne));
		if (!ne)
			return CJ_ENOMEM;
		lg->e = ne;
		lg->cap = cap;
	}
	m = strdup(member);
	if (!m)
		return CJ_ENOMEM;
	while (pos > 0 && lg->e[pos - 1].score > score)
		pos--;
	memmove(lg->e + pos + 1, lg->e + pos, (lg->n - pos) * sizeof(*lg->e));
	lg->e[pos].score = score;
	lg->e[pos].member = m;
	lg->n++;
	rl->nentries++;
	return CJ_OK;
}

/* A new, empty log for key, linked into the table. Caller holds the lock. */
static int new_log(struct ratelimit *rl, const char *key, uint64_t h, double now,
                   struct rl_log **out, char *err, size_t errlen)
{
	size_t klen = strlen(key);
	struct rl_log *lg;

	if (rl->nkeys >= RATELIMIT_MEM_MAX_KEYS)
		purge_all(rl, now);
	if (rl->nkeys >= RATELIMIT_MEM_MAX_KEYS)
		return cj_errorf(err, errlen, CJ_EUNAVAIL,
		                 "in-process rate limiter is full (%u keys)",
		                 RATELIMIT_MEM_MAX_KEYS);
	lg = calloc(1, sizeof(*lg) + klen + 1);
	if (!lg)
		return cj_errorf(err, errlen, CJ_ENOMEM, "in-process rate limit: out of memory");
	lg->hash = h;
	memcpy(lg->key, key, klen + 1);
	lg->next = rl->buckets[h & (RL_MEM_BUCKETS - 1)];
	rl->buckets[h & (RL_MEM_BUCKETS - 1)] = lg;
	rl->nkeys++;
	*out = lg;
	return CJ_OK;
}

/* The decision itself, on a log already pruned. Caller holds the lock. */
static int mem_decide(struct ratelimit *rl, struct rl_log *lg, int limit, double now,
                      const char *member, struct take_result *tr, char *err, size_t errlen)
{
	int rc;

	tr->allowed = 0;
	if (find_member(lg, member) >= 0) {
		tr->allowed = 1;
	} else if (lg->n < (size_t)limit) {
		if (rl->nentries >= RATELIMIT_MEM_MAX_ENTRIES)
			purge_all(rl, now);
		if (rl->nentries >= RATELIMIT_MEM_MAX_ENTRIES)
			return cj_errorf(err, errlen, CJ_EUNAVAIL,
			                 "in-process rate limiter is full (%u entries)",
			                 RATELIMIT_MEM_MAX_ENTRIES);
		rc = add_entry(rl, lg, now, member);
		if (rc)
			return cj_errorf(err, errlen, rc, "in-process rate limit: out of memory");
		tr->allowed = 1;
	}
	return CJ_OK;
}

static int mem_take(struct ratelimit *rl, const char *key, int limit, int window_s, double now,
                    const char *member, struct take_result *tr, char *err, size_t errlen)
{
	uint64_t h = hash_key(key);
	struct rl_log *lg;
	int rc = CJ_OK;

	pthread_mutex_lock(&rl->lock);
	sweep_some(rl, now);
	lg = find_log(rl, key, h);
	if (lg)
		prune_log(rl, lg, now - window_s);
	else
		rc = new_log(rl, key, h, now, &lg, err, errlen);
	if (!rc)
		rc = mem_decide(rl, lg, limit, now, member, tr, err, errlen);
	if (lg && !lg->n) {
		unlink_log(rl, lg); /* an empty log leaves no key behind, as in Redis */
	} else if (!rc) {
		/* Never shorten: with one window per key this is PEXPIRE. */
		if (lg->expires < now + window_s)
			lg->expires = now + window_s;
		tr->count = (long long)lg->n;
		tr->have_frees = lg->n >= (size_t)limit;
		if (tr->have_frees)
			tr->frees_score = lg->e[lg->n - (size_t)limit].score;
	}
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

static int mem_release(struct ratelimit *rl, const char *key, const char *member)
{
	struct rl_log *lg;
	ssize_t i;

	pthread_mutex_lock(&rl->lock);
	lg = find_log(rl, key, hash_key(key));
	i = lg ? find_member(lg, member) : -1;
	if (i >= 0) {
		free(lg->e[i].member);
		memmove(lg->e + i, lg->e + i + 1, (lg->n - (size_t)i - 1) * sizeof(*lg->e));
		lg->n--;
		rl->nentries--;
		if (!lg->n)
			unlink_log(rl, lg);
	}
	pthread_mutex_unlock(&rl->lock);
	return CJ_OK;
}

/* ---- public ---- */

struct ratelimit *ratelimit_new_redis(struct redis_rest *r)
{
	struct ratelimit *rl;

	if (!r)
		return NULL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->r = r;
	return rl;
}

struct ratelimit *ratelimit_new_memory(void)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	rl->buckets = calloc(RL_MEM_BUCKETS, sizeof(*rl->buckets));
	if (!rl->buckets || pthread_mutex_init(&rl->lock, NULL))
		goto fail;
	return rl;
fail:
	free(rl->buckets);
	free(rl);
	return NULL;
}

void ratelimit_free(struct ratelimit *rl)
{
	struct rl_log *lg, *next;
	size_t i;

	if (!rl)
		return;
	if (!rl->r) {
		for (i = 0; i < RL_MEM_BUCKETS; i++) {
			for (lg = rl->buckets[i]; lg; lg = next) {
				next = lg->next;
				log_free(rl, lg);
			}
		}
		free(rl->buckets);
		pthread_mutex_destroy(&rl->lock);
	}
	free(rl);
}

const char *ratelimit_mode(const struct ratelimit *rl)
{
	return rl->r ? "upstash" : "in-process";
}

int ratelimit_take(struct ratelimit *rl, const char *key, int limit, int window_s, double now,
                   const char *member, int *allowed, double *retry_at, char *err, size_t errlen)
{
	struct take_result tr = {0};
	char spare[256];
	int rc;

	*allowed = 0;
	*retry_at = now;
	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	err[0] = '\0';
	rc = check_take_args(key, limit, window_s, now, member, err, errlen);
	if (rc)
		return rc;
	if (rl->r)
		rc = redis_take(rl, key, limit, window_s, now, member, &tr, err, errlen);
	else
		rc = mem_take(rl, key, limit, window_s, now, member, &tr, err, errlen);
	if (rc)
		return rc;
	*allowed = tr.allowed;
	if (tr.have_frees)
		*retry_at = leaves_window_at(tr.frees_score, window_s);
	return CJ_OK;
}

int ratelimit_release(struct ratelimit *rl, const char *key, const char *member, char *err,
                      size_t errlen)
{
	char spare[256];
	int rc;

	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	err[0] = '\0';
	rc = check_str("key", key, RATELIMIT_KEY_MAX, err, errlen);
	if (!rc)
		rc = check_str("member", member, RATELIMIT_MEMBER_MAX, err, errlen);
	if (rc)
		return rc;
	if (rl->r)
		return redis_release(rl, key, member, err, errlen);
	return mem_release(rl, key, member);
}
