/*
 * start_gate.h - lets the server listen before the service behind it is
 * built. serve_run() starts listening first (the first connection is
 * accepted within milliseconds of exec, whatever the database or the
 * configuration files take), then loads the rest; requests that arrive
 * meanwhile wait at the gate and go on once it opens. If the start fails
 * they are answered 503 and the process exits. Readiness does not wait:
 * /health/ready answers 503 "down" (with "starting": true) until the gate
 * opens.
 *
 * Thread-safe: any connection thread may pass the gate while the main
 * thread opens or fails it.
 */
#ifndef CJ_START_GATE_H
#define CJ_START_GATE_H

#include "http_server.h"

struct start_gate;

/* A closed gate; NULL when out of memory. wait_ms bounds how long one
 * request waits for the start before it is answered 503. */
struct start_gate *start_gate_new(long wait_ms);
/* The http_app that passes every request through the gate. */
struct http_app start_gate_app(struct start_gate *g);
/* Opens the gate onto inner: waiting and later requests go to it. */
void start_gate_open(struct start_gate *g, const struct http_app *inner);
/* The start failed: waiting and later requests are answered 503. */
void start_gate_fail(struct start_gate *g);
/* After the server that used it has stopped. */
void start_gate_free(struct start_gate *g);

#endif
