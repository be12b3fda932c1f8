/*
 * proc.h - child processes for tests: start a program with extra environment
 * variables, capture its output to a file, wait for a TCP port or an HTTP
 * 200, signal and reap it. Every wait is bounded.
 */
#ifndef CJ_TEST_PROC_H
#define CJ_TEST_PROC_H

#include <sys/types.h>

struct proc {
	pid_t pid;
	char log_path[256]; /* stdout+stderr of the child */
	int exit_status; /* after proc_wait: exit code, or 128+signal */
};

/* argv[0] is the program path. env: NULL-terminated "NAME=value" entries set
 * on top of (or, with clear_env, instead of) the current environment; an
 * entry "NAME=" with nothing after '=' unsets NAME. Returns 0 or -1. */
int proc_start(struct proc *p, char *const argv[], char *const env[], int clear_env);
/* Sends sig. */
void proc_signal(struct proc *p, int sig);
/* Waits up to timeout_ms for exit. 0 when it exited, -1 on timeout. */
int proc_wait(struct proc *p, int timeout_ms);
/* SIGTERM, then SIGKILL after 5 s; always reaps. */
void proc_stop(struct proc *p);
/* Runs argv to completion (timeout_ms), capturing stdout and stderr into
 * malloc'd strings (may be NULL). Returns the exit status or -1. */
int proc_run(char *const argv[], char *const env[], int clear_env, int timeout_ms, char **out,
             char **err);
/* The captured output so far (malloc'd). */
char *proc_output(const struct proc *p);

/* A free TCP port on 127.0.0.1. */
int free_port(void);
/* Waits until 127.0.0.1:port accepts connections. 0 or -1. */
int wait_port(int port, int timeout_ms);
/* Waits until GET url answers expect_status. 0 or -1. */
int wait_http(const char *url, long expect_status, int timeout_ms);

/* A fresh temporary directory (malloc'd path). */
char *make_temp_dir(void);
/* rm -rf path. */
void remove_tree(const char *path);

/* Sleeps ms milliseconds. */
void msleep(long ms);

#endif
