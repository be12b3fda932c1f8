/*
 * conn_watch.h - total deadlines for the HTTP server's connections, and room
 * for new clients when every connection slot is taken.
 *
 * libmicrohttpd's only timeout is an idle one, renewed by every byte: a
 * client trickling a byte every few seconds keeps its connection (and, with
 * a thread per connection, its thread) forever, and a few thousand of them
 * lock every other client out. So each connection is registered here when
 * it is accepted and reports the phase it enters; one background thread
 * closes those past their phase's deadline, whatever their trickle rate:
 *
 *   CONN_NEW      accepted, no request yet      the whole head by head_ms
 *   CONN_IDLE     kept alive after an answer    the request line by idle_ms
 *   CONN_HEAD     request line in               the rest of the head: by the
 *                                               NEW deadline on a fresh
 *                                               connection, head_ms after the
 *                                               request line on a kept-alive one
 *   CONN_BODY     head in, body being read      the body by body_ms
 *   CONN_BUSY     the application runs, the     none (jobs have deadlines of
 *                 answer goes out               their own; a stalled write
 *                                               meets libmicrohttpd's idle timeout)
 *   CONN_CLOSING  answered before the end of    closed linger_ms later
 *                 the body (413)
 *
 * NEW, IDLE and HEAD are "waiting" (no complete head yet). When a new
 * connection makes more than evict_above connections open, the one that has
 * waited longest (since its accept or its last answer) is closed to make
 * room: slow clients cannot fill every slot, and a client that sends its
 * request at once is never the oldest waiter.
 *
 * Closing is shutdown(2) of the socket, never close(2): the descriptor stays
 * libmicrohttpd's, whose connection thread wakes, sees the end of stream and
 * cleans up as for a client that hung up. The descriptor is only touched
 * under the lock, and conn_watch_remove() takes the lock, so a caller that
 * removes a connection before closing its descriptor (libmicrohttpd's
 * NOTIFY_CONNECTION "closed" comes before its close()) can never have a
 * reused descriptor shut down.
 *
 * Thread-safety: every function may be called from any thread; a
 * conn_watch_conn is used until conn_watch_remove() only.
 */
#ifndef CJ_CONN_WATCH_H
#define CJ_CONN_WATCH_H

#include <stdint.h>

#include "cj.h"

enum conn_phase { CONN_NEW, CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_BUSY, CONN_CLOSING };

struct conn_watch_limits {
	unsigned evict_above; /* open connections before the oldest waiter goes */
	int64_t head_ms;
	int64_t idle_ms;
	int64_t body_ms;
	int64_t linger_ms;
};

struct conn_watch;
struct conn_watch_conn;

/* Starts the watch thread. NULL when out of memory or threads. Free with
 * conn_watch_free() once no connection is registered any more. */
struct conn_watch *conn_watch_new(const struct conn_watch_limits *limits) CJ_WUR;
/* Stops the thread and frees w (and any connection still registered). */
void conn_watch_free(struct conn_watch *w);

/* Registers a just-accepted connection's socket (CONN_NEW). NULL when out
 * of memory: the connection then goes unwatched (it still has the idle
 * timeout). May close the longest waiter (see the top). */
struct conn_watch_conn *conn_watch_add(struct conn_watch *w, int fd);
/* Forgets c (NULL: nothing); call before the descriptor is closed. */
void conn_watch_remove(struct conn_watch *w, struct conn_watch_conn *c);
/* c (NULL: nothing) enters phase p, which sets its deadline. */
void conn_watch_enter(struct conn_watch *w, struct conn_watch_conn *c, enum conn_phase p);

/* Counters since conn_watch_new(), for tests and logs. */
struct conn_watch_stats {
	long open; /* registered now */
	long closed_head; /* NEW or HEAD past their deadline */
	long closed_idle;
	long closed_body;
	long closed_linger;
	long evicted;
};
void conn_watch_stats(struct conn_watch *w, struct conn_watch_stats *out);

#endif
