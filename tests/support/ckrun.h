/*
 * ckrun.h - runs a check suite and returns how many tests failed, so every
 * test program's main() is just its list of tests.
 */
#ifndef CJ_TEST_CKRUN_H
#define CJ_TEST_CKRUN_H

#include <check.h>

/* fork_status: CK_FORK (each test in its own process, the default) or
 * CK_NOFORK (one process: fixtures a test stops and restarts stay so). */
int ck_run(Suite *s, enum fork_status fork_status);

#endif
