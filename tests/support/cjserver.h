/*
 * cjserver.h - runs the real catchup-jobs binary (env CJ_BIN) for integration
 * tests: on a free loopback port, with the environment a test gives, waiting
 * until /health/live answers. Also builds job pushes shaped like Cloud Tasks'.
 */
#ifndef CJ_TEST_CJSERVER_H
#define CJ_TEST_CJSERVER_H

#include "httpc.h"
#include "proc.h"

struct cj_server {
	struct proc proc;
	int port;
	char base[64]; /* http://127.0.0.1:PORT */
};

/* env: NULL-terminated "NAME=value" (PORT and BIND_ADDRESS are set here).
 * The child gets a clean environment plus PATH. 0 or -1 (output printed). */
int cj_server_start(struct cj_server *s, char *const env[]);
/* Starts the server again on s's port, after it stopped or was killed
 * (tasks and tokens name that port). 0 or -1. */
int cj_server_restart(struct cj_server *s, char *const env[]);
/* SIGTERM and wait (up to 15 s); returns the exit status, or -1. */
int cj_server_stop(struct cj_server *s);
/* The server's log so far (malloc'd). */
char *cj_server_log(const struct cj_server *s);

/* POST /jobs/TYPE with a bearer token and Cloud Tasks headers (queue/task
 * may be NULL to leave them out; retry < 0 leaves the count out). */
int cj_push(const struct cj_server *s, const char *type, const char *token, const char *queue,
            const char *task, int retry, const char *body, struct httpc_resp *r);

/* As cj_push, with extra "Name: value" headers (NULL-terminated). */
int cj_push_ex(const struct cj_server *s, const char *type, const char *token, const char *queue,
               const char *task, int retry, const char *body, const char *const *extra,
               struct httpc_resp *r);

/* Runs the binary with args and env to completion (clean environment). */
int cj_run(char *const args[], char *const env[], char **out, char **err);

/* Counts lines of the log containing every one of the given substrings
 * (NULL-terminated). */
int log_count(const char *log, const char *const *needles);
/* Waits up to timeout_ms for a line of the server's log with every needle
 * (lines about a request are written when it completes, just after the
 * answer). Returns the count of such lines then. */
int cj_server_log_wait(const struct cj_server *s, const char *const *needles, int timeout_ms);

#endif
