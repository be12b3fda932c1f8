/*
 * clock.c - business time as the wall clock plus a forward-only offset; see
 * clock.h.
 */
#include "clock.h"

#include <pthread.h>
#include <stdatomic.h>

#include "timeutil.h"

/* Seconds ahead of the wall clock; only ever grows (CAS loop). */
static atomic_llong offset_s;

/* Guarded by sub_lock. */
static pthread_mutex_t sub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	void (*wake)(void *arg);
	void *arg;
} subs[CLOCK_MAX_SUBSCRIBERS];
static int nsubs;

double clock_now(void)
{
	return time_wall() + (double)atomic_load(&offset_s);
}

int64_t clock_now_s(void)
{
	return time_wall_s() + (int64_t)atomic_load(&offset_s);
}

int64_t clock_offset_s(void)
{
	return (int64_t)atomic_load(&offset_s);
}

static void wake_all(void)
{
	int i;

	pthread_mutex_lock(&sub_lock);
	for (i = 0; i < nsubs; i++)
		subs[i].wake(subs[i].arg);
	pthread_mutex_unlock(&sub_lock);
}

int clock_set_offset(int64_t s)
{
	if (s < 0)
		return -1;
	atomic_store(&offset_s, (long long)s);
	wake_all();
	return 0;
}

int64_t clock_advance(int64_t seconds)
{
	long long cur = atomic_load(&offset_s), next;

	if (seconds <= 0)
		return -1;
	do {
		if (cur > INT64_MAX / 2 - seconds)
			return -1;
		next = cur + seconds;
	} while (!atomic_compare_exchange_weak(&offset_s, &cur, next));
	wake_all();
	return next;
}

int clock_subscribe(void (*wake)(void *arg), void *arg)
{
	int rc = -1;

	pthread_mutex_lock(&sub_lock);
	if (nsubs < CLOCK_MAX_SUBSCRIBERS) {
		subs[nsubs].wake = wake;
		subs[nsubs].arg = arg;
		nsubs++;
		rc = 0;
	}
	pthread_mutex_unlock(&sub_lock);
	return rc;
}

void clock_unsubscribe(void (*wake)(void *arg), void *arg)
{
	int i;

	pthread_mutex_lock(&sub_lock);
	for (i = 0; i < nsubs; i++) {
		if (subs[i].wake == wake && subs[i].arg == arg) {
			subs[i] = subs[--nsubs];
			break;
		}
	}
	pthread_mutex_unlock(&sub_lock);
}
