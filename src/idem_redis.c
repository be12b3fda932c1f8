/*
 * idem_redis.c - the idempotency store on Upstash Redis (SPEC §8).
 *
 * Each operation is one Lua script run through redis_rest_eval(), so each
 * is atomic in Redis and takes one round trip (EVALSHA; EVAL on NOSCRIPT).
 * Owns only the scripts and the mapping of client results: unreachable or
 * timed out → CJ_EUNAVAIL (IDEMPOTENCY_FAIL_MODE decides); a rejected token,
 * a command error or an answer we cannot read → CJ_ECONFIG (never run the
 * job unclaimed because of a fault that retrying cannot fix).
 *
 * Never: run a command that is not atomic with the check it depends on;
 * borrow the redis_rest beyond its owner's lifetime (the caller frees it
 * after idem_free()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idem_backend.h"
#include "redis_rest.h"

struct idem_redis {
	struct idem base; /* first: struct idem * converts to struct idem_redis * */
	struct redis_rest *r;
};

/* KEYS[1] claim key; ARGV[1] our running value; ARGV[2] lease seconds.
 * SPEC §8's claim: SET NX EX, and when that did not set, the current value,
 * in one script so there is no window between the two. Returns the value
 * the key holds afterwards: ours when we set it. */
static const char claim_script[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then\n"
    "  return ARGV[1]\n"
    "end\n"
    "return redis.call('GET', KEYS[1])\n";

/* ARGV[1] our running value; ARGV[2] lease seconds. 1 when the claim was
 * ours and now lives a full lease again, 0 when it was not ours. */
static const char renew_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                   "  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
                                   "  return 1\n"
                                   "end\n"
                                   "return 0\n";

/* ARGV[1] our running value; ARGV[2] done value; ARGV[3] TTL seconds.
 * 1 when the key now holds our done value, 0 when our claim was lost.
 * Finding ARGV[2] already there means this is a retry of a write that landed. */
static const char complete_script[] = "local v = redis.call('GET', KEYS[1])\n"
                                      "if v == ARGV[1] then\n"
                                      "  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n"
                                      "  return 1\n"
                                      "end\n"
                                      "if v == ARGV[2] then return 1 end\n"
                                      "return 0\n";

/* ARGV[1] our running value. 1 when deleted, 0 when it was not ours. */
static const char release_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                     "  redis.call('DEL', KEYS[1])\n"
                                     "  return 1\n"
                                     "end\n"
                                     "return 0\n";

static struct redis_rest *rest_of(struct idem *s)
{
	return ((struct idem_redis *)s)->r;
}

/* Maps a client result (and a REDIS_ERROR reply) to the idempotency codes. */
static int map_result(int rc, const struct redis_reply *rep, const char *what, char *err,
                      size_t errlen)
{
	char why[256];

	switch (rc) {
	case CJ_OK:
		break;
	case CJ_EUNAVAIL:
	case CJ_ETIMEOUT:
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "redis %s failed: %s", what, why);
		return CJ_EUNAVAIL;
	case CJ_ENOMEM:
		snprintf(err, errlen, "redis %s failed: out of memory", what);
		return CJ_ENOMEM;
	default:
		/* CJ_ECONFIG, CJ_EUPSTREAM, CJ_EINVAL: retrying will not fix it. */
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "redis %s failed: %s", what, why);
		return CJ_ECONFIG;
	}
	if (rep->type == REDIS_ERROR) {
		snprintf(err, errlen, "redis %s failed: command error: %.200s", what, rep->str);
		return CJ_ECONFIG;
	}
	return CJ_OK;
}

/* An integer 0/1 answer of complete/release → *lost. */
static int lost_from(const struct redis_reply *rep, const char *what, int *lost, char *err,
                     size_t errlen)
{
	if (rep->type != REDIS_INTEGER || (rep->integer != 0 && rep->integer != 1)) {
		snprintf(err, errlen, "redis %s failed: unexpected answer", what);
		return CJ_ECONFIG;
	}
	*lost = rep->integer == 0;
	return CJ_OK;
}

static int redis_claim(struct idem *s, const struct idem_claim *c, long lease_s, char *cur,
                       size_t curlen, char *err, size_t errlen)
{
	const char *keys[] = {c->key};
	char lease[24];
	const char *args[] = {c->value, lease};
	struct redis_reply *rep = NULL;
	int rc;

	snprintf(lease, sizeof(lease), "%ld", lease_s);
	rc =
	    redis_rest_eval(rest_of(s), "claim", claim_script, 1, keys, 2, args, &rep, err, errlen);
	rc = map_result(rc, rep, "claim", err, errlen);
	if (!rc && rep->type != REDIS_STRING) {
		snprintf(err, errlen, "redis claim failed: unexpected answer");
		rc = CJ_ECONFIG;
	}
	if (!rc)
		snprintf(cur, curlen, "%s", rep->str);
	redis_reply_free(rep);
	return rc;
}

static int redis_complete(struct idem *s, const struct idem_claim *c, const char *done_value,
                          long ttl_s, int *lost, char *err, size_t errlen)
{
	const char *keys[] = {c->key};
	char ttl[24];
	const char *args[] = {c->value, done_value, ttl};
	struct redis_reply *rep = NULL;
	int rc;

	snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
	rc = redis_rest_eval(rest_of(s), "complete", complete_script, 1, keys, 3, args, &rep, err,
	                     errlen);
	rc = map_result(rc, rep, "complete", err, errlen);
	if (!rc)
		rc = lost_from(rep, "complete", lost, err, errlen);
	redis_reply_free(rep);
	return rc;
}

static int redis_renew(struct idem *s, const struct idem_claim *c, long lease_s, int *lost,
                       char *err, size_t errlen)
{
	const char *keys[] = {c->key};
	char lease[24];
	const char *args[] = {c->value, lease};
	struct redis_reply *rep = NULL;
	int rc;

	snprintf(lease, sizeof(lease), "%ld", lease_s);
	rc =
	    redis_rest_eval(rest_of(s), "renew", renew_script, 1, keys, 2, args, &rep, err, errlen);
	rc = map_result(rc, rep, "renew", err, errlen);
	if (!rc)
		rc = lost_from(rep, "renew", lost, err, errlen);
	redis_reply_free(rep);
	return rc;
}

static int redis_release(struct idem *s, const struct idem_claim *c, int *lost, char *err,
                         size_t errlen)
{
	const char *keys[] = {c->key};
	const char *args[] = {c->value};
	struct redis_reply *rep = NULL;
	int rc;

	rc = redis_rest_eval(rest_of(s), "release", release_script, 1, keys, 1, args, &rep, err,
	                     errlen);
	rc = map_result(rc, rep, "release", err, errlen);
	if (!rc)
		rc = lost_from(rep, "release", lost, err, errlen);
	redis_reply_free(rep);
	return rc;
}

static int redis_ping(struct idem *s, char *err, size_t errlen)
{
	const char *argv[] = {"PING"};
	struct redis_reply *rep = NULL;
	int rc;

	rc = redis_rest_command(rest_of(s), "ping", 1, argv, NULL, &rep, err, errlen);
	rc = map_result(rc, rep, "ping", err, errlen);
	if (!rc && rep->type != REDIS_STRING) {
		snprintf(err, errlen, "redis ping failed: unexpected answer");
		rc = CJ_ECONFIG;
	}
	redis_reply_free(rep);
	return rc;
}

static void redis_destroy(struct idem *s)
{
	free(s);
}

static const struct idem_ops redis_ops = {
    "upstash", redis_claim, redis_complete, redis_renew, redis_release, redis_ping, redis_destroy,
};

struct idem *idem_new_redis(struct redis_rest *r)
{
	struct idem_redis *s;

	if (!r)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base.ops = &redis_ops;
	s->r = r;
	return &s->base;
}
