/*
 * sink_server.h - an in-process HTTP target for tests of local mode's
 * Cloud Tasks: it records every request (method, path, headers, body,
 * arrival time), answers after a settable delay with a settable status (or
 * a queue of statuses), and measures how many requests it held at once.
 *
 * It listens on 127.0.0.1 on a free port (libmicrohttpd, a thread per
 * connection). Ownership: sink_server_start() returns a server freed by
 * sink_server_stop(); sink_server_request() returns a new reference.
 * Thread-safe.
 */
#ifndef CJ_TEST_SINK_SERVER_H
#define CJ_TEST_SINK_SERVER_H

#include <jansson.h>

struct sink_server;

/* Started, answering 200 {} at once. NULL on failure. */
struct sink_server *sink_server_start(void);
void sink_server_stop(struct sink_server *s);
/* "http://127.0.0.1:PORT"; valid until sink_server_stop(). */
const char *sink_server_url(struct sink_server *s);

/* Every answer from now on: status after delay_ms. */
void sink_server_set(struct sink_server *s, int status, int delay_ms);
/* The next n requests are answered statuses[0..n-1] (then the default). */
void sink_server_queue(struct sink_server *s, const int *statuses, int n);

/* Requests received so far (counted on arrival, before the answer). */
int sink_server_count(struct sink_server *s);
/* The most requests held at once so far. */
int sink_server_max_inflight(struct sink_server *s);
/* Request i (0-based, arrival order): {"method", "path", "headers" (names
 * lowercased), "body" (text), "atMs" (monotonic ms of arrival)}, or NULL. */
json_t *sink_server_request(struct sink_server *s, int i);
/* Waits up to timeout_ms until count requests have arrived. 0 or -1. */
int sink_server_wait(struct sink_server *s, int count, int timeout_ms);

#endif
