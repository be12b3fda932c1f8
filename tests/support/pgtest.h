/*
 * pgtest.h - a real PostgreSQL server for tests, and fresh databases on both
 * backends for tests that run against SQLite and PostgreSQL alike.
 *
 * pgtest_start() uses $CJ_TEST_DATABASE_URL when set (a server someone else
 * runs; it must allow CREATE DATABASE). Otherwise it finds initdb/pg_ctl in
 * /usr/lib/postgresql/<version>/bin, creates a cluster in a temporary
 * directory (password authentication with a random password, fsync off) and
 * starts it on a free loopback port with its unix socket in that directory.
 * Run as root, initdb and postgres run as the `postgres` system user.
 *
 * Call pgtest_start() in main() before the check runner forks the tests;
 * the server is stopped and its files removed at exit of that process
 * (pgtest_stop() may also be called explicitly). Forked test processes use
 * the server and may restart it. Every wait is bounded.
 */
#ifndef CJ_TEST_PGTEST_H
#define CJ_TEST_PGTEST_H

enum pgtest_backend { PGTEST_SQLITE = 0, PGTEST_POSTGRES = 1, PGTEST_NBACKENDS };

/* Starts (or adopts) the server once per process. 0, or -1 with a message
 * on stderr. */
int pgtest_start(void);
/* Stops a server we started and removes its files; drops the databases this
 * process's tests created on an external server. */
void pgtest_stop(void);
/* The administrative URL (NULL before pgtest_start()). */
const char *pgtest_url(void);
/* The password in the URL ("" when it has none). */
const char *pgtest_password(void);
/* 1 when the server is ours (it can be stopped and restarted). */
int pgtest_owned(void);
/* Our server's unix-socket directory and port (NULL / 0 when not ours). */
const char *pgtest_socket_dir(void);
int pgtest_port(void);

/* Creates an empty database; returns its URL (malloc'd) or NULL. */
char *pgtest_new_database(void);

/* Restarts our server (fast shutdown, same port and data). 0 or -1. */
int pgtest_restart(void);
/* Stops our server until pgtest_server_start(). 0 or -1. */
int pgtest_server_stop(void);
int pgtest_server_start(void);

/* A URL for a fresh, empty database on backend b: SQLite in a new temporary
 * directory (*tmpdir receives it: remove_tree() and free() it), PostgreSQL a
 * new database (*tmpdir NULL). malloc'd; NULL on failure. */
char *pgtest_backend_url(int b, char **tmpdir);
const char *pgtest_backend_name(int b);

/* A fresh database with every migration applied, on backend b, for one
 * test: open with pgtest_db_open() (check assertions on failure), close with
 * pgtest_db_close(), which also removes a SQLite database's directory. */
struct store;
struct pgtest_db {
	struct store *s;
	char *url;
	char *dir; /* SQLite: its temporary directory; NULL on PostgreSQL */
};

void pgtest_db_open(struct pgtest_db *t, int b);
void pgtest_db_close(struct pgtest_db *t);

#endif
