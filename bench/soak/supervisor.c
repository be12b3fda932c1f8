/*
 * supervisor.c - what Cloud Run does to the soak's instances at its worst:
 * every --kill-every seconds one instance (in turn) is SIGKILLed mid-work
 * and started again on its port, as a crashed container is replaced. Its
 * own thread; it wakes on its due time or when stopped (condition
 * variable), and owns nothing but its counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "soak.h"
#include "timeutil.h"

struct supervisor {
	struct cluster *c;
	double every_s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop; /* guarded by lock */
	struct soak_kills kills; /* written by the thread, read after join */
};

/* Waits until due_ms (monotonic) or a stop; 1 when stopped. */
static int wait_until(struct supervisor *s, int64_t due_ms)
{
	int stop;

	pthread_mutex_lock(&s->lock);
	while (!s->stop && time_mono_ms() < due_ms) {
		struct timespec ts;
		int64_t left = due_ms - time_mono_ms();

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	}
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void *run(void *arg)
{
	struct supervisor *s = arg;
	int64_t next = time_mono_ms() + (int64_t)(s->every_s * 1000);
	int victim = 0;

	while (!wait_until(s, next)) {
		int64_t down_ms = 0;

		if (cluster_kill_restart(s->c, victim, &down_ms)) {
			s->kills.restart_failures++;
			fprintf(stderr, "soak: instance %d did not come back after SIGKILL\n",
			        victim);
		}
		s->kills.kills++;
		s->kills.restart_ms_sum += down_ms;
		if (down_ms > s->kills.restart_ms_max)
			s->kills.restart_ms_max = down_ms;
		victim = (victim + 1) % SOAK_INSTANCES;
		next += (int64_t)(s->every_s * 1000);
		if (next < time_mono_ms())
			next = time_mono_ms();
	}
	return NULL;
}

struct supervisor *supervisor_start(struct cluster *c, double every_s)
{
	struct supervisor *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	s->c = c;
	s->every_s = every_s;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (every_s > 0 && pthread_create(&s->thread, NULL, run, s)) {
		free(s);
		return NULL;
	}
	if (every_s <= 0)
		s->stop = 1;
	return s;
}

void supervisor_stop(struct supervisor *s, struct soak_kills *out)
{
	int running;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	running = !s->stop;
	s->stop = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (running)
		pthread_join(s->thread, NULL);
	if (out)
		*out = s->kills;
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
