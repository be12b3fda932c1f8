/*
 * fixtures.h - a real redis-server behind the Upstash-compatible REST
 * fixture (tests/fixtures/upstash_server.c), on free loopback ports, for
 * every test that needs HTTP Redis.
 *
 * redis-server is found on PATH (or /usr/bin/redis-server) and runs without
 * persistence in a temporary directory; the REST server's path comes from
 * the environment variable CJ_FIXTURE_UPSTASH_SERVER (set by meson). Each
 * start draws a random token. Every wait is bounded (10 s).
 *
 * Not thread-safe: one test thread drives a fixture. Child processes belong
 * to the process that started them: stop them from that process.
 */
#ifndef CJ_TEST_FIXTURES_H
#define CJ_TEST_FIXTURES_H

#include "httpc.h"
#include "proc.h"

struct redis_fixture {
	char url[64]; /* "http://127.0.0.1:PORT" of the REST server */
	char token[65]; /* its bearer token */
	int redis_port;
	int upstash_port;
	struct proc redis;
	struct proc upstash;
	char redis_dir[256];
};

/* Starts redis-server and the REST server. 0, or -1 (nothing left running). */
int redis_fixture_start(struct redis_fixture *f);
/* Stops both and removes the temporary directory. Safe to call twice. */
void redis_fixture_stop(struct redis_fixture *f);
/* Stops only redis-server (the REST server then answers 500). */
void redis_fixture_stop_redis(struct redis_fixture *f);
/* Starts redis-server again on the same port (empty). 0 or -1. */
int redis_fixture_start_redis(struct redis_fixture *f);
/* FLUSHALL through the REST server. 0 or -1. */
int redis_fixture_flushall(struct redis_fixture *f);
/* POSTs json (one command, e.g. "[\"PTTL\",\"k\"]") to the REST server with
 * the token, without base64 encoding; free r with httpc_resp_free(). 0 when
 * an answer arrived. */
int redis_fixture_command(struct redis_fixture *f, const char *json, struct httpc_resp *r);
/* Injects a fault into the REST server for seconds: mode "drop" executes
 * each matching command and closes the connection without an answer (a
 * reply lost after the write landed), "error" answers 503 without executing,
 * "none" clears it. match (NULL: every command) selects commands whose
 * request body contains it. 0 or -1. */
int redis_fixture_fault(struct redis_fixture *f, const char *mode, int seconds, const char *match);
/* TCP connections the REST server has accepted so far, or -1. Each call
 * opens one connection of its own. */
long redis_fixture_connections(struct redis_fixture *f);

#endif
