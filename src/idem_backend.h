/*
 * idem_backend.h - private contract between idempotency.c and its
 * backends (idem_redis.c, idem_memory.c, idem_local.c). Not for other modules: they use
 * idempotency.h.
 *
 * idempotency.c validates arguments, builds values, maps a claimed value to
 * an idem_state and times pings; a backend only stores. Every operation is
 * atomic with respect to the others on the same key. Result codes as in
 * idempotency.h.
 */
#ifndef CJ_IDEM_BACKEND_H
#define CJ_IDEM_BACKEND_H

#include <stddef.h>

#include "idempotency.h"

/* Longest value a backend reports back from a claim (longer ones are cut). */
#define IDEM_VALUE_MAX 160

struct idem_ops {
	const char *mode; /* what idem_mode() answers */
	/* If c->key is absent, sets it to c->value expiring after lease_s.
	 * Copies the value the key holds afterwards into cur (NUL-terminated). */
	int (*claim)(struct idem *s, const struct idem_claim *c, long lease_s, char *cur,
	             size_t curlen, char *err, size_t errlen);
	/* If c->key holds c->value, sets it to done_value expiring after ttl_s
	 * and *lost = 0; if it already holds done_value (our own earlier write,
	 * read back after a retry) *lost = 0; otherwise *lost = 1. */
	int (*complete)(struct idem *s, const struct idem_claim *c, const char *done_value,
	                long ttl_s, int *lost, char *err, size_t errlen);
	/* If c->key holds c->value, makes it expire lease_s from now and
	 * *lost = 0; else *lost = 1. */
	int (*renew)(struct idem *s, const struct idem_claim *c, long lease_s, int *lost, char *err,
	             size_t errlen);
	/* If c->key holds c->value, deletes it and *lost = 0; else *lost = 1. */
	int (*release)(struct idem *s, const struct idem_claim *c, int *lost, char *err,
	               size_t errlen);
	/* One cheap round trip. */
	int (*ping)(struct idem *s, char *err, size_t errlen);
	void (*destroy)(struct idem *s);
};

/* Backends embed this as their first member. */
struct idem {
	const struct idem_ops *ops;
};

#endif
