/*
 * conn_watch.c - connection deadlines and eviction; see conn_watch.h.
 *
 * One list of connections in accept order and one thread. The thread wakes
 * at the earliest deadline (at most CONN_WATCH_SLACK_MS late, so that a
 * burst of connections accepted together is handled in one pass), shuts
 * down every connection past its deadline, and sleeps again; a phase change
 * that brings the earliest deadline closer wakes it. Counters of what it
 * closed are logged at most once per second, as one line.
 *
 * A scan is linear in the open connections (at most a few thousand, a few
 * microseconds each pass); so is the search for the longest waiter, done
 * only when the connections are near the cap.
 */
#include "conn_watch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "timeutil.h"

#define CONN_WATCH_SLACK_MS 100
#define CONN_WATCH_LOG_EVERY_MS 1000

struct conn_watch_conn {
	struct conn_watch_conn *prev, *next; /* in w's list, oldest accept first */
	int fd;
	enum conn_phase phase;
	int64_t waiting_since_ms; /* accept, or the end of the last answer */
	int64_t deadline_ms; /* monotonic; 0: none */
	int cut; /* shut down already; libmicrohttpd has yet to clean it up */
};

struct conn_watch {
	struct conn_watch_limits lim;
	pthread_t thread;
	pthread_mutex_t lock; /* guards every field below and every conn */
	pthread_cond_t wake; /* CLOCK_MONOTONIC: the thread's next pass is due */
	struct conn_watch_conn *head, *tail;
	int64_t wake_ms; /* when the sleeping thread wakes; 0: when signalled */
	int64_t logged_ms; /* when the counters were last logged */
	int stop;
	struct conn_watch_stats stats;
	struct conn_watch_stats logged; /* the counters as last logged */
};

static int waiting(const struct conn_watch_conn *c)
{
	return c->phase == CONN_NEW || c->phase == CONN_IDLE || c->phase == CONN_HEAD;
}

/* Wakes the thread when it sleeps past at_ms (0: nothing due). */
static void poke(struct conn_watch *w, int64_t at_ms)
{
	if (at_ms && (!w->wake_ms || at_ms + CONN_WATCH_SLACK_MS < w->wake_ms))
		pthread_cond_signal(&w->wake);
}

static void cut(struct conn_watch_conn *c, long *counter)
{
	/* Under the lock, so c->fd is still libmicrohttpd's (see the header). */
	shutdown(c->fd, SHUT_RDWR);
	c->cut = 1;
	c->deadline_ms = 0;
	(*counter)++;
}

static void set_phase(struct conn_watch *w, struct conn_watch_conn *c, enum conn_phase p,
                      int64_t now)
{
	switch (p) {
	case CONN_NEW:
		c->waiting_since_ms = now;
		c->deadline_ms = now + w->lim.head_ms;
		break;
	case CONN_IDLE:
		c->waiting_since_ms = now;
		c->deadline_ms = now + w->lim.idle_ms;
		break;
	case CONN_HEAD:
		/* A fresh connection's head is due by its accept's deadline. */
		if (c->phase != CONN_NEW)
			c->deadline_ms = now + w->lim.head_ms;
		break;
	case CONN_BODY:
		c->deadline_ms = now + w->lim.body_ms;
		break;
	case CONN_BUSY:
		c->deadline_ms = 0;
		break;
	case CONN_CLOSING:
		c->deadline_ms = now + w->lim.linger_ms;
		break;
	}
	c->phase = p;
	if (c->cut)
		c->deadline_ms = 0;
}

/* Closes the connection that has waited longest for its head, other than
 * newest. */
static void evict_longest_waiter(struct conn_watch *w, struct conn_watch_conn *newest)
{
	struct conn_watch_conn *c, *oldest = NULL;

	for (c = w->head; c; c = c->next)
		if (c != newest && !c->cut && waiting(c) &&
		    (!oldest || c->waiting_since_ms < oldest->waiting_since_ms))
			oldest = c;
	if (!oldest)
		return;
	cut(oldest, &w->stats.evicted);
	/* The thread logs it within a second. */
	if (!w->wake_ms || w->wake_ms > time_mono_ms() + CONN_WATCH_LOG_EVERY_MS)
		pthread_cond_signal(&w->wake);
}

/* Cuts every connection past its deadline; returns the earliest deadline
 * still ahead (0: none). */
static int64_t cut_expired(struct conn_watch *w, int64_t now)
{
	struct conn_watch_conn *c;
	int64_t next = 0;

	for (c = w->head; c; c = c->next) {
		if (!c->deadline_ms)
			continue;
		if (c->deadline_ms > now) {
			if (!next || c->deadline_ms < next)
				next = c->deadline_ms;
			continue;
		}
		switch (c->phase) {
		case CONN_NEW:
		case CONN_HEAD:
			cut(c, &w->stats.closed_head);
			break;
		case CONN_IDLE:
			cut(c, &w->stats.closed_idle);
			break;
		case CONN_BODY:
			cut(c, &w->stats.closed_body);
			break;
		case CONN_CLOSING:
		case CONN_BUSY: /* has no deadline */
			cut(c, &w->stats.closed_linger);
			break;
		}
	}
	return next;
}

static int news(const struct conn_watch_stats *a, const struct conn_watch_stats *b)
{
	return a->closed_head != b->closed_head || a->closed_idle != b->closed_idle ||
	    a->closed_body != b->closed_body || a->closed_linger != b->closed_linger ||
	    a->evicted != b->evicted;
}

static void report(const struct conn_watch *w, const struct conn_watch_stats *was,
                   const struct conn_watch_stats *now)
{
	long head = now->closed_head - was->closed_head, body = now->closed_body - was->closed_body,
	     evicted = now->evicted - was->evicted;

	/* Keep-alive connections going idle and lingering closes are normal;
	 * slow heads and bodies and evictions are what an attack looks like. */
	log_msg(head || body || evicted ? L_WARNING : L_DEBUG,
	        "http: closed %ld connections without a complete head in %lld ms, %ld without a "
	        "complete body in %lld ms, %ld idle for %lld ms, %ld after a lingering close; "
	        "evicted %ld waiting connections to make room (%ld open)",
	        head, (long long)w->lim.head_ms, body, (long long)w->lim.body_ms,
	        now->closed_idle - was->closed_idle, (long long)w->lim.idle_ms,
	        now->closed_linger - was->closed_linger, evicted, now->open);
}

static void wait_until(struct conn_watch *w, int64_t at_ms)
{
	struct timespec ts;

	w->wake_ms = at_ms;
	if (!at_ms) {
		pthread_cond_wait(&w->wake, &w->lock);
	} else {
		ts.tv_sec = (time_t)(at_ms / 1000);
		ts.tv_nsec = (long)(at_ms % 1000) * 1000000L;
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
	}
	w->wake_ms = 0;
}

/* The loop: wakes at the earliest deadline (or when poked), cuts, logs. */
static void *watch_main(void *arg)
{
	struct conn_watch *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		int64_t now = time_mono_ms(), next = cut_expired(w, now);

		if (news(&w->stats, &w->logged)) {
			if (now - w->logged_ms >= CONN_WATCH_LOG_EVERY_MS) {
				struct conn_watch_stats was = w->logged, is = w->stats;

				w->logged = is;
				w->logged_ms = now;
				pthread_mutex_unlock(&w->lock);
				report(w, &was, &is);
				pthread_mutex_lock(&w->lock);
				continue; /* the list may have changed meanwhile */
			}
			if (!next || next > w->logged_ms + CONN_WATCH_LOG_EVERY_MS)
				next = w->logged_ms + CONN_WATCH_LOG_EVERY_MS;
		}
		if (next && next < now + CONN_WATCH_SLACK_MS)
			next = now + CONN_WATCH_SLACK_MS;
		wait_until(w, next);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct conn_watch *conn_watch_new(const struct conn_watch_limits *limits)
{
	struct conn_watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (!w)
		return NULL;
	w->lim = *limits;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, watch_main, w)) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
}

void conn_watch_free(struct conn_watch *w)
{
	struct conn_watch_conn *c, *next;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	for (c = w->head; c; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

struct conn_watch_conn *conn_watch_add(struct conn_watch *w, int fd)
{
	struct conn_watch_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	pthread_mutex_lock(&w->lock);
	c->prev = w->tail;
	if (w->tail)
		w->tail->next = c;
	else
		w->head = c;
	w->tail = c;
	w->stats.open++;
	set_phase(w, c, CONN_NEW, time_mono_ms());
	if (w->stats.open > (long)w->lim.evict_above)
		evict_longest_waiter(w, c);
	poke(w, c->deadline_ms);
	pthread_mutex_unlock(&w->lock);
	return c;
}

void conn_watch_remove(struct conn_watch *w, struct conn_watch_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&w->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->tail = c->prev;
	w->stats.open--;
	pthread_mutex_unlock(&w->lock);
	free(c);
}

void conn_watch_enter(struct conn_watch *w, struct conn_watch_conn *c, enum conn_phase p)
{
	if (!c)
		return;
	pthread_mutex_lock(&w->lock);
	set_phase(w, c, p, time_mono_ms());
	poke(w, c->deadline_ms);
	pthread_mutex_unlock(&w->lock);
}

void conn_watch_stats(struct conn_watch *w, struct conn_watch_stats *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->stats;
	pthread_mutex_unlock(&w->lock);
}
