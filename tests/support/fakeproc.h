/*
 * fakeproc.h - what the clients of the fake services (gfake.c, mfake.c)
 * share: waiting for a fake to say "ready", stopping it (showing its output
 * when it did not exit cleanly), and its /__control/ API.
 *
 * Not thread-safe: one test thread drives a fake.
 */
#ifndef CJ_TEST_FAKEPROC_H
#define CJ_TEST_FAKEPROC_H

#include <jansson.h>
#include <stdarg.h>

#include "proc.h"

/* Waits up to wait_ms until the fake prints "ready". 0, or -1 when it
 * exited or the wait ran out (it is then stopped). */
int fakeproc_wait_ready(struct proc *p, int wait_ms);
/* SIGTERM and reap; label names it in the output shown when it exited
 * with a failure (a crash or a sanitizer's report). Safe on a never
 * started proc. */
void fakeproc_stop(struct proc *p, const char *label);
/* POSTs the formatted JSON to base/__control/what. 0 when answered 2xx,
 * else -1 (the answer goes to stderr, prefixed by label). */
int fakeproc_vcontrol(const char *base, const char *label, const char *what, const char *fmt,
                      va_list ap);
/* GETs base/__control/what: the JSON (the caller decrefs), or NULL. */
json_t *fakeproc_get(const char *base, const char *what);

#endif
