/*
 * lease.h - keeps idempotency claims alive while their jobs run, and makes
 * sure every claim ends, even when Redis does not answer (SPEC §8).
 *
 * A claim lives IDEMPOTENCY_LEASE_SECONDS unless renewed, so the claim of an
 * instance that died (SIGKILL, OOM, a lost reply) frees its task within a
 * lease. While a job runs, the keeper's thread renews its claim every
 * lease/3 s. A job whose claim could not be renewed until less than lease/3
 * is left (or that was found taken over) is told to stop through its stop
 * time (lease_stop_at()), as at its deadline, so in `closed` mode no job
 * runs on after its claim may have lapsed.
 *
 * Settlements (complete, release) are tried at once by the caller's thread;
 * one that cannot be written (store unreachable, reply lost) is kept here
 * and retried in the background until it lands or the claim's lease has run
 * out, so the answer to Cloud Tasks never waits for it. A claim whose own
 * outcome is unknown (lease_abandon) is released the same way, only if it
 * holds our value, so the next delivery need not wait out the lease.
 *
 * Ownership: lease_keeper_new() borrows idem (it must outlive the keeper).
 * struct lease is owned by the caller from lease_hold() until lease_end().
 * Thread-safe: one keeper serves every request thread. The keeper's thread
 * wakes at the earliest renewal or retry due, or when signalled; it never
 * holds its lock while calling the store.
 */
#ifndef CJ_LEASE_H
#define CJ_LEASE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cj.h"
#include "idempotency.h"

struct lease_keeper;
struct lease;

enum lease_end_how {
	LEASE_COMPLETE, /* success or permanent failure: done:{unix} for the TTL */
	LEASE_RELEASE, /* transient failure or cut off: delete the claim */
};

struct lease_keeper_options {
	long lease_s; /* IDEMPOTENCY_LEASE_SECONDS */
	long ttl_s; /* IDEMPOTENCY_TTL_SECONDS, for completes */
	int stop_on_lapse; /* closed mode: stop jobs whose claim may have lapsed */
};

/* Starts the keeper's thread. NULL on allocation or thread failure. */
struct lease_keeper *lease_keeper_new(struct idem *idem, const struct lease_keeper_options *o);
/* Stops the thread, gives every pending settlement one last try (bounded by
 * a couple of seconds in all), logs what is left, frees. Every lease must
 * have been ended. NULL is a no-op. */
void lease_keeper_free(struct lease_keeper *k);

/* Starts renewing c, claimed by a call sent at claimed_at_ms (monotonic).
 * CJ_OK or CJ_ENOMEM. */
int lease_hold(struct lease_keeper *k, const struct idem_claim *c, int64_t claimed_at_ms,
               struct lease **out) CJ_WUR;

/* The monotonic time at which the job holding l must stop (INT64_MAX while
 * its claim is safe; earlier when renewals fail; 0 when the claim was lost).
 * Valid until lease_end(). */
const atomic_llong *lease_stop_at(const struct lease *l);

/* Stops renewing l and settles its claim; frees l. Tries once now: CJ_OK
 * (*lost as idem_complete/idem_release), or the store's error, in which case
 * the settlement is retried in the background (CJ_EUNAVAIL) or given up
 * (anything else: a configuration fault; the lease expires it). */
int lease_end(struct lease_keeper *k, struct lease *l, enum lease_end_how how, int *lost, char *err,
              size_t errlen) CJ_WUR;

/* c may have been claimed (the claim's reply was lost): release it in the
 * background, only if it holds our value, for up to one lease. */
void lease_abandon(struct lease_keeper *k, const struct idem_claim *c);

/* Settlements waiting for a retry (for readiness and tests). */
size_t lease_pending(struct lease_keeper *k);

#endif
