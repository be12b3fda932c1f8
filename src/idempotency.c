/*
 * idempotency.c - the backend-independent half of SPEC §8: claim keys and
 * values, argument checks, the mapping from a claimed value to an
 * idem_state, the process's instance id, and ping timing.
 *
 * Owns no storage: idem_redis.c and idem_memory.c store (idem_backend.h).
 * Never runs anything unclaimed itself and never guesses: a value it does
 * not recognise is a configuration fault, not a free key.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "idem_backend.h"
#include "idempotency.h"
#include "random.h"
#include "timeutil.h"
#include "utf8.h"

#define IDEM_KEY_PREFIX "catchup:idem:"
/* Beyond these a lease or TTL is a caller's bug, not a wish. */
#define IDEM_MAX_SECONDS (10L * 365 * 86400)

/* Written once under instance_once, then read-only. */
static pthread_once_t instance_once = PTHREAD_ONCE_INIT;
static char instance_id[17];

static void instance_init(void)
{
	if (random_hex(instance_id, sizeof(instance_id), 8) == CJ_OK)
		return;
	/* getrandom(2) failing is near impossible; stay unique per process anyway. */
	snprintf(instance_id, sizeof(instance_id), "%08x%08x", (unsigned)getpid(),
	         (unsigned)time_mono_ms());
}

const char *idem_instance_id(void)
{
	pthread_once(&instance_once, instance_init);
	return instance_id;
}

const char *idem_mode(const struct idem *s)
{
	return s->ops->mode;
}

void idem_free(struct idem *s)
{
	if (s)
		s->ops->destroy(s);
}

/* Claim values need only be unique: the instance id is random per
 * process and this counter never repeats within one, so no getrandom(2)
 * call per job. */
static atomic_ullong claim_counter;

int idem_prepare(struct idem_claim *c, const char *type, const char *key)
{
	unsigned long long seq;
	int n;

	memset(c, 0, sizeof(*c));
	if (!type || !key || !type[0] || !key[0])
		return CJ_EINVAL;
	/* Keys travel in JSON bodies: they must be text. */
	if (!utf8_valid(type, strlen(type)) || !utf8_valid(key, strlen(key)))
		return CJ_EINVAL;
	n = snprintf(c->key, sizeof(c->key), IDEM_KEY_PREFIX "%s:%s", type, key);
	if (n < 0 || (size_t)n >= sizeof(c->key)) {
		memset(c, 0, sizeof(*c));
		return CJ_EINVAL;
	}
	seq = atomic_fetch_add(&claim_counter, 1) + 1;
	n = snprintf(c->value, sizeof(c->value), "running:%s:%016llx", idem_instance_id(), seq);
	if (n < 0 || (size_t)n >= sizeof(c->value))
		BUG("claim value does not fit");
	return CJ_OK;
}

/* A claim that did not come from idem_prepare() is a caller's bug. */
static int claim_ok(const struct idem_claim *c, char *err, size_t errlen)
{
	if (c->key[0] && memchr(c->key, '\0', sizeof(c->key)) &&
	    memchr(c->value, '\0', sizeof(c->value)) && !strncmp(c->value, "running:", 8))
		return 1;
	snprintf(err, errlen, "invalid idempotency claim");
	return 0;
}

int idem_claim(struct idem *s, const struct idem_claim *c, long lease_s, enum idem_state *out,
               char *err, size_t errlen)
{
	char cur[IDEM_VALUE_MAX], spare[256];
	int rc;

	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	if (!claim_ok(c, err, errlen))
		return CJ_EINVAL;
	if (lease_s < 1 || lease_s > IDEM_MAX_SECONDS) {
		snprintf(err, errlen, "invalid claim lease %ld s", lease_s);
		return CJ_EINVAL;
	}
	cur[0] = '\0';
	rc = s->ops->claim(s, c, lease_s, cur, sizeof(cur), err, errlen);
	if (rc)
		return rc;
	/* Ours: newly set, or our own earlier claim read back after a retry. */
	if (!strcmp(cur, c->value))
		*out = IDEM_CLAIMED;
	else if (!strncmp(cur, "done", 4))
		*out = IDEM_DUPLICATE;
	else if (!strncmp(cur, "running", 7))
		*out = IDEM_IN_PROGRESS;
	else {
		snprintf(err, errlen, "idempotency key holds a value of unknown form");
		return CJ_ECONFIG;
	}
	return CJ_OK;
}

int idem_complete(struct idem *s, const struct idem_claim *c, long ttl_s, int *lost, char *err,
                  size_t errlen)
{
	return idem_complete_at(s, c, time_wall_s(), ttl_s, lost, err, errlen);
}

int idem_complete_at(struct idem *s, const struct idem_claim *c, int64_t done_unix, long ttl_s,
                     int *lost, char *err, size_t errlen)
{
	char done[32], spare[256];

	*lost = 0;
	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	if (!claim_ok(c, err, errlen))
		return CJ_EINVAL;
	if (ttl_s < 1 || ttl_s > IDEM_MAX_SECONDS) {
		snprintf(err, errlen, "invalid idempotency ttl %ld s", ttl_s);
		return CJ_EINVAL;
	}
	snprintf(done, sizeof(done), "done:%lld", (long long)done_unix);
	return s->ops->complete(s, c, done, ttl_s, lost, err, errlen);
}

int idem_renew(struct idem *s, const struct idem_claim *c, long lease_s, int *lost, char *err,
               size_t errlen)
{
	char spare[256];

	*lost = 0;
	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	if (!claim_ok(c, err, errlen))
		return CJ_EINVAL;
	if (lease_s < 1 || lease_s > IDEM_MAX_SECONDS) {
		snprintf(err, errlen, "invalid claim lease %ld s", lease_s);
		return CJ_EINVAL;
	}
	return s->ops->renew(s, c, lease_s, lost, err, errlen);
}

int idem_release(struct idem *s, const struct idem_claim *c, int *lost, char *err, size_t errlen)
{
	char spare[256];

	*lost = 0;
	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	if (!claim_ok(c, err, errlen))
		return CJ_EINVAL;
	return s->ops->release(s, c, lost, err, errlen);
}

int idem_ping(struct idem *s, int64_t *latency_ms, char *err, size_t errlen)
{
	int64_t start = time_mono_ms();
	char spare[256];
	int rc;

	if (!err || !errlen) {
		err = spare;
		errlen = sizeof(spare);
	}
	rc = s->ops->ping(s, err, errlen);

	*latency_ms = time_mono_ms() - start;
	return rc;
}
