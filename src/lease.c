/*
 * lease.c - the claim keeper: renews held claims and retries settlements
 * that could not be written; see lease.h.
 *
 * Owns two lists under one mutex: held leases (renewed every lease/3) and
 * pending settlements (retried with backoff until their claim's lease runs
 * out). One thread serves both: it takes the earliest due item, drops the
 * lock, makes the one store call, and takes the lock again to record the
 * result. A lease being renewed while its job ends is kept alive by a
 * reference count, so neither side frees it under the other.
 *
 * A job's stop time is an atomic the job reads without the lock: it is the
 * claim's confirmed expiry minus lease/3 (closed mode), so a job stops in
 * time even when the keeper itself is late.
 */
#include "lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "timeutil.h"

/* Beyond this many waiting settlements new ones are left to their leases
 * (logged): memory stays bounded when Redis is gone for long. */
#define LEASE_MAX_PENDING 65536
#define LEASE_RETRY_MIN_MS 250
#define LEASE_RETRY_MAX_MS 2000
/* lease_keeper_free() gives pending settlements at most this long. */
#define LEASE_FINAL_FLUSH_MS 2000

struct lease {
	struct lease *next; /* in k->held while renewing */
	struct idem_claim claim;
	int64_t expires_ms; /* confirmed expiry (monotonic), guarded by k->lock */
	int64_t next_renew_ms; /* guarded by k->lock */
	int refs; /* owner + keeper while renewing; guarded by k->lock */
	int ended; /* lease_end() ran; guarded by k->lock */
	int warned; /* the stop was logged; guarded by k->lock */
	atomic_llong stop_at_ms;
};

struct pending {
	struct pending *next;
	struct idem_claim claim;
	enum lease_end_how how;
	int64_t done_unix; /* LEASE_COMPLETE: the value the first try wrote */
	int64_t give_up_ms; /* the claim's lease has run out by then */
	int64_t next_try_ms;
	long backoff_ms;
	int abandoned; /* release of a claim whose outcome was unknown */
};

struct lease_keeper {
	struct idem *idem;
	long lease_s;
	long ttl_s;
	int stop_on_lapse;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* on the monotonic clock */
	/* Guarded by lock. */
	struct lease *held;
	struct pending *pending;
	size_t npending; /* on the list or being tried */
	int stopping;
	int sleeping; /* the thread waits on wake until sleep_until_ms */
	int64_t sleep_until_ms;
};

static int64_t period_ms(const struct lease_keeper *k)
{
	return (int64_t)k->lease_s * 1000 / 3;
}

/* Confirmed expiry → when the job must stop. */
static int64_t stop_time(const struct lease_keeper *k, int64_t expires_ms)
{
	if (!k->stop_on_lapse)
		return INT64_MAX;
	return expires_ms - period_ms(k);
}

static void unlink_held(struct lease_keeper *k, struct lease *l)
{
	struct lease **pp = &k->held;

	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
	l->next = NULL;
}

/* Drops one reference; frees on the last. Caller holds the lock. */
static void put_lease(struct lease *l)
{
	if (--l->refs == 0)
		free(l);
}

static void renew_one(struct lease_keeper *k, struct lease *l, int64_t now)
{
	struct idem_claim c = l->claim;
	char err[256] = "";
	int lost = 0, rc;

	l->refs++;
	pthread_mutex_unlock(&k->lock);
	rc = idem_renew(k->idem, &c, k->lease_s, &lost, err, sizeof(err));
	pthread_mutex_lock(&k->lock);
	if (l->ended) {
		put_lease(l);
		return;
	}
	if (rc == CJ_OK && !lost) {
		l->expires_ms = now + (int64_t)k->lease_s * 1000;
		l->next_renew_ms = now + period_ms(k);
		atomic_store(&l->stop_at_ms, stop_time(k, l->expires_ms));
	} else if (rc == CJ_OK) {
		/* Not ours any more: the lease ran out and someone else may run. */
		l->next_renew_ms = INT64_MAX;
		if (k->stop_on_lapse)
			atomic_store(&l->stop_at_ms, 0);
		log_msg(L_WARNING, "idempotency claim on \"%s\" was lost while its job ran%s",
		        c.key, k->stop_on_lapse ? "; stopping the job" : "");
	} else {
		int64_t retry = period_ms(k) / 4;

		if (retry > LEASE_RETRY_MAX_MS)
			retry = LEASE_RETRY_MAX_MS;
		if (retry < LEASE_RETRY_MIN_MS)
			retry = LEASE_RETRY_MIN_MS;
		l->next_renew_ms = time_mono_ms() + retry;
		log_msg(rc == CJ_EUNAVAIL ? L_WARNING : L_ERROR,
		        "renewing the idempotency claim on \"%s\" failed: %s (%lld ms left)", c.key,
		        err[0] ? err : cj_strerror(rc),
		        (long long)(l->expires_ms - time_mono_ms()));
		if (k->stop_on_lapse && !l->warned &&
		    time_mono_ms() >= stop_time(k, l->expires_ms) && (l->warned = 1))
			log_msg(L_WARNING,
			        "idempotency claim on \"%s\" may lapse: stopping its job", c.key);
	}
	put_lease(l);
}

/* One try of a settlement. CJ_OK when it landed (or needs no more). */
static int settle(struct lease_keeper *k, const struct pending *p, int *lost, char *err,
                  size_t errlen)
{
	if (p->how == LEASE_COMPLETE)
		return idem_complete_at(k->idem, &p->claim, p->done_unix, k->ttl_s, lost, err,
		                        errlen);
	return idem_release(k->idem, &p->claim, lost, err, errlen);
}

static void retry_one(struct lease_keeper *k, struct pending *p)
{
	char err[256] = "";
	int lost = 0, rc;

	pthread_mutex_unlock(&k->lock);
	rc = settle(k, p, &lost, err, sizeof(err));
	pthread_mutex_lock(&k->lock);
	if (rc == CJ_EUNAVAIL && !k->stopping && time_mono_ms() < p->give_up_ms) {
		p->backoff_ms =
		    p->backoff_ms * 2 > LEASE_RETRY_MAX_MS ? LEASE_RETRY_MAX_MS : p->backoff_ms * 2;
		p->next_try_ms = time_mono_ms() + p->backoff_ms;
		p->next = k->pending;
		k->pending = p;
		return;
	}
	k->npending--;
	if (rc)
		log_msg(L_WARNING, "idempotency %s of \"%s\" given up: %s; its lease expires it",
		        p->how == LEASE_COMPLETE ? "complete" : "release", p->claim.key,
		        err[0] ? err : cj_strerror(rc));
	else
		log_msg(L_INFO, "idempotency %s of \"%s\" landed after a retry%s",
		        p->how == LEASE_COMPLETE ? "complete" : "release", p->claim.key,
		        lost && !p->abandoned ? " (the claim had expired)" : "");
	free(p);
}

/* The earliest due time of any item. Caller holds the lock. */
static int64_t next_due(const struct lease_keeper *k)
{
	int64_t due = INT64_MAX;

	for (const struct lease *l = k->held; l; l = l->next)
		if (l->next_renew_ms < due)
			due = l->next_renew_ms;
	for (const struct pending *p = k->pending; p; p = p->next)
		if (p->next_try_ms < due)
			due = p->next_try_ms;
	return due;
}

/* Sleeps until due, or one period from now when nothing is due: a lease
 * held later is then never due before the thread wakes, so holding one
 * needs no wake-up (no futex call and thread switch per job). */
static void wait_until(struct lease_keeper *k, int64_t now, int64_t due)
{
	struct timespec ts;

	if (due > now + period_ms(k))
		due = now + period_ms(k);
	ts.tv_sec = due / 1000;
	ts.tv_nsec = (long)(due % 1000) * 1000000L;
	k->sleeping = 1;
	k->sleep_until_ms = due;
	pthread_cond_timedwait(&k->wake, &k->lock, &ts);
	k->sleeping = 0;
}

/* Wakes the thread when it would sleep past due. Caller holds the lock. */
static void wake_for(struct lease_keeper *k, int64_t due)
{
	if (k->sleeping && due < k->sleep_until_ms)
		pthread_cond_signal(&k->wake);
}

/* Takes the first due pending settlement off the list, or NULL. */
static struct pending *take_due_pending(struct lease_keeper *k, int64_t now)
{
	struct pending **pp = &k->pending, *p;

	for (; (p = *pp); pp = &p->next) {
		if (p->next_try_ms <= now) {
			*pp = p->next;
			p->next = NULL;
			return p; /* still counted in npending while it is tried */
		}
	}
	return NULL;
}

static void *keeper_main(void *arg)
{
	struct lease_keeper *k = arg;
	struct pending *p;
	struct lease *l;
	int64_t now;

	pthread_mutex_lock(&k->lock);
	while (!k->stopping) {
		now = time_mono_ms();
		for (l = k->held; l && l->next_renew_ms > now; l = l->next)
			;
		if (l) {
			renew_one(k, l, now);
			continue;
		}
		p = take_due_pending(k, now);
		if (p) {
			retry_one(k, p);
			continue;
		}
		wait_until(k, now, next_due(k));
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

struct lease_keeper *lease_keeper_new(struct idem *idem, const struct lease_keeper_options *o)
{
	struct lease_keeper *k = calloc(1, sizeof(*k));
	pthread_condattr_t ca;

	if (!k)
		return NULL;
	k->idem = idem;
	k->lease_s = o->lease_s;
	k->ttl_s = o->ttl_s;
	k->stop_on_lapse = o->stop_on_lapse;
	if (pthread_mutex_init(&k->lock, NULL))
		goto fail_mutex;
	if (pthread_condattr_init(&ca))
		goto fail_cond;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&k->wake, &ca)) {
		pthread_condattr_destroy(&ca);
		goto fail_cond;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_create(&k->thread, NULL, keeper_main, k))
		goto fail_thread;
	return k;
fail_thread:
	pthread_cond_destroy(&k->wake);
fail_cond:
	pthread_mutex_destroy(&k->lock);
fail_mutex:
	free(k);
	return NULL;
}

void lease_keeper_free(struct lease_keeper *k)
{
	int64_t until;
	struct pending *p;
	size_t left = 0;

	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stopping = 1;
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	if (k->held)
		BUG("lease keeper freed while a lease is held");
	/* One last try of each pending settlement, within a bounded time. */
	until = time_mono_ms() + LEASE_FINAL_FLUSH_MS;
	while ((p = k->pending)) {
		char err[256] = "";
		int lost = 0;

		k->pending = p->next;
		if (time_mono_ms() >= until || settle(k, p, &lost, err, sizeof(err)))
			left++;
		free(p);
	}
	if (left)
		log_msg(L_WARNING,
		        "%zu idempotency settlements could not be written before exit; their "
		        "leases expire them",
		        left);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

int lease_hold(struct lease_keeper *k, const struct idem_claim *c, int64_t claimed_at_ms,
               struct lease **out)
{
	struct lease *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return CJ_ENOMEM;
	l->claim = *c;
	l->refs = 1;
	l->expires_ms = claimed_at_ms + (int64_t)k->lease_s * 1000;
	l->next_renew_ms = claimed_at_ms + period_ms(k);
	atomic_init(&l->stop_at_ms, stop_time(k, l->expires_ms));
	pthread_mutex_lock(&k->lock);
	l->next = k->held;
	k->held = l;
	wake_for(k, l->next_renew_ms);
	pthread_mutex_unlock(&k->lock);
	*out = l;
	return CJ_OK;
}

const atomic_llong *lease_stop_at(const struct lease *l)
{
	return &l->stop_at_ms;
}

/* Queues p for background retries. Caller holds no lock. */
static void add_pending(struct lease_keeper *k, struct pending *p)
{
	pthread_mutex_lock(&k->lock);
	if (k->npending >= LEASE_MAX_PENDING || k->stopping) {
		pthread_mutex_unlock(&k->lock);
		log_msg(L_WARNING,
		        "idempotency %s of \"%s\" not retried (%zu waiting); its lease expires it",
		        p->how == LEASE_COMPLETE ? "complete" : "release", p->claim.key,
		        k->npending);
		free(p);
		return;
	}
	p->next = k->pending;
	k->pending = p;
	k->npending++;
	wake_for(k, p->next_try_ms);
	pthread_mutex_unlock(&k->lock);
}

static struct pending *new_pending(const struct idem_claim *c, enum lease_end_how how,
                                   int64_t give_up_ms)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->claim = *c;
	p->how = how;
	p->give_up_ms = give_up_ms;
	p->backoff_ms = LEASE_RETRY_MIN_MS;
	p->next_try_ms = time_mono_ms() + p->backoff_ms;
	return p;
}

int lease_end(struct lease_keeper *k, struct lease *l, enum lease_end_how how, int *lost, char *err,
              size_t errlen)
{
	struct pending *p;
	int64_t expires;
	int rc;

	*lost = 0;
	pthread_mutex_lock(&k->lock);
	unlink_held(k, l);
	l->ended = 1;
	expires = l->expires_ms;
	pthread_mutex_unlock(&k->lock);

	p = new_pending(&l->claim, how, expires);
	if (p) {
		p->done_unix = time_wall_s();
		rc = settle(k, p, lost, err, errlen);
	} else {
		rc = how == LEASE_COMPLETE
		    ? idem_complete(k->idem, &l->claim, k->ttl_s, lost, err, errlen)
		    : idem_release(k->idem, &l->claim, lost, err, errlen);
	}
	pthread_mutex_lock(&k->lock);
	put_lease(l);
	pthread_mutex_unlock(&k->lock);
	if (rc == CJ_EUNAVAIL && p && time_mono_ms() < expires) {
		add_pending(k, p);
		return rc;
	}
	free(p);
	return rc;
}

void lease_abandon(struct lease_keeper *k, const struct idem_claim *c)
{
	struct pending *p = new_pending(c, LEASE_RELEASE, time_mono_ms() + k->lease_s * 1000L);

	if (!p) {
		log_msg(L_WARNING, "cannot keep the release of \"%s\": out of memory", c->key);
		return;
	}
	p->abandoned = 1;
	add_pending(k, p);
}

size_t lease_pending(struct lease_keeper *k)
{
	size_t n;

	pthread_mutex_lock(&k->lock);
	n = k->npending;
	pthread_mutex_unlock(&k->lock);
	return n;
}
