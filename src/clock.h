/*
 * clock.h - the product's one clock for business time (SPEC §5.4): task
 * schedule and dispatch times, backoff, cron slots, name tombstones, times
 * in answers and rows, and the handlers' notion of "now".
 *
 * In cloud mode it is the wall clock. In local mode it is the wall clock
 * plus an offset that only moves forward (`POST /emulator/clock:advance`,
 * `catchup-jobs clock advance N`), so a retry schedule of hours or a day of
 * cron passes in seconds. Background loops that wait for a business time
 * subscribe with clock_subscribe() and are woken when the clock moves.
 *
 * Not business time, and never read from here: token lifetimes (OIDC, OAuth
 * and access tokens are judged by Google's real clock), network timeouts and
 * deadlines (time_mono_ms()), Redis TTLs.
 *
 * Thread-safe: the offset is an atomic; subscriptions take a lock. Nothing
 * outside this file and src/timeutil.c reads the wall clock for business
 * time (CI greps for it).
 */
#ifndef CJ_CLOCK_H
#define CJ_CLOCK_H

#include <stdint.h>

/* Business time: Unix seconds with fraction, and whole seconds. */
double clock_now(void);
int64_t clock_now_s(void);

/* How far the clock runs ahead of the wall clock, in seconds (0 in cloud
 * mode). */
int64_t clock_offset_s(void);
/* Sets the offset, e.g. from the database at start. Negative values are
 * refused (the clock never runs behind real time): returns -1, else 0. */
int clock_set_offset(int64_t offset_s);
/* Moves the clock forward by seconds (> 0) and wakes every subscriber.
 * Returns the new offset, or -1 when seconds is not positive or the offset
 * would overflow. */
int64_t clock_advance(int64_t seconds);

/* Calls wake(arg) after every move of the clock, from the thread that moved
 * it (wake must only signal: lock a mutex, broadcast, return). At most
 * CLOCK_MAX_SUBSCRIBERS; returns 0, or -1 when full. */
#define CLOCK_MAX_SUBSCRIBERS 16
int clock_subscribe(void (*wake)(void *arg), void *arg);
void clock_unsubscribe(void (*wake)(void *arg), void *arg);

#endif
