/*
 * suggest.h - what suggestion-generation and suggestion-regeneration share:
 * the user's slot rules (zone, waking hours, 30-minute slots on :00/:30,
 * 7 days ahead; src/slots.h), the list of intervals the user is busy with,
 * and storing a new pending suggestion.
 *
 * Both jobs work inside one transaction that begins by locking the user's
 * row (suggest_user_lock), so two runs for one user - generation and
 * regeneration alike - take turns and never offer one free slot twice.
 * Every function here runs on that transaction's connection and has no
 * effect outside it, so store_transact() may run it again.
 */
#ifndef CJ_SUGGEST_H
#define CJ_SUGGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cj.h"
#include "slots.h"

struct store_conn;

/* One user's view for a run: owned by the caller, released with
 * suggest_user_release(). */
struct suggest_user {
	const char *id; /* borrowed */
	int64_t now;
	struct slot_rules rules;
	const struct tz *zone;
	/* Busy intervals; a job may blank one (end = start) to leave it out. */
	struct busy *busy;
	size_t nbusy, cap;
	int unusable; /* set with CJ_EINVAL: the zone or waking hours cannot be used */
};

/* Locks user id's row for the rest of c's transaction and reads its zone
 * and waking hours. CJ_OK; CJ_ENOTFOUND when there is no such user;
 * CJ_EINVAL with u->unusable set when its zone or waking hours cannot be
 * used (err says which); a store failure. */
int suggest_user_lock(struct store_conn *c, const char *id, int64_t now, struct suggest_user *u,
                      char *err, size_t errlen) CJ_WUR;
void suggest_user_release(struct suggest_user *u);

/* Appends [start, end) to the busy list. CJ_OK or CJ_ENOMEM. */
int suggest_busy_add(struct suggest_user *u, int64_t start, int64_t end) CJ_WUR;

/* Appends the user's calendar events that are not cancelled and overlap
 * [now, now + 7 days + one slot) - every instant a slot found now can
 * cover. */
int suggest_busy_events(struct store_conn *c, struct suggest_user *u, char *err,
                        size_t errlen) CJ_WUR;

/* The first free slot for u now (slots_find over u->busy): CJ_OK,
 * CJ_ENOTFOUND when none is free, CJ_ENOMEM. */
int suggest_find(const struct suggest_user *u, int64_t *start, int64_t *end) CJ_WUR;

/* Stores a pending suggestion for contact_id in [start, end) under a random
 * 128-bit hex id. *inserted is 0 when the contact already has an open
 * suggestion (the partial unique index): nothing is stored and that is not
 * an error. */
int suggest_insert(struct store_conn *c, const struct suggest_user *u, const char *contact_id,
                   int64_t start, int64_t end, int *inserted, char *err, size_t errlen) CJ_WUR;

#endif
