/*
 * fixtures.c - redis-server plus the Upstash REST fixture for tests; see
 * fixtures.h.
 *
 * Ports come from free_port(), which can race with other processes on the
 * machine: a child that fails to listen exits, and the start is retried on
 * fresh ports. Readiness is what the child says ("Ready to accept
 * connections", "ready"), not merely an open port that someone else may own.
 */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "random.h"

#define FIXTURE_WAIT_MS 10000
#define FIXTURE_TRIES 5

static const char *redis_server_path(char *out, size_t outlen)
{
	const char *path = getenv("PATH");

	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);

		if (n && n + sizeof("/redis-server") < outlen) {
			snprintf(out, outlen, "%.*s/redis-server", (int)n, path);
			if (!access(out, X_OK))
				return out;
		}
		path = colon ? colon + 1 : NULL;
	}
	return "/usr/bin/redis-server";
}

/* Waits until the child's output contains marker. 0, or -1 when it exited
 * or the wait ran out (the child is then stopped). */
static int wait_output(struct proc *p, const char *marker)
{
	int waited;

	for (waited = 0; waited <= FIXTURE_WAIT_MS; waited += 10) {
		char *out = proc_output(p);
		int found = out && strstr(out, marker);

		free(out);
		if (found)
			return 0;
		if (!proc_wait(p, 0)) {
			unlink(p->log_path);
			return -1;
		}
		msleep(10);
	}
	proc_stop(p);
	return -1;
}

static int launch_redis(struct redis_fixture *f)
{
	char exe[512], port[16];
	char *argv[] = {(char *)redis_server_path(exe, sizeof(exe)),
	                "--port",
	                port,
	                "--bind",
	                "127.0.0.1",
	                "--save",
	                "",
	                "--appendonly",
	                "no",
	                "--dir",
	                f->redis_dir,
	                "--protected-mode",
	                "no",
	                NULL};

	snprintf(port, sizeof(port), "%d", f->redis_port);
	if (proc_start(&f->redis, argv, NULL, 0))
		return -1;
	return wait_output(&f->redis, "Ready to accept connections");
}

static int launch_upstash(struct redis_fixture *f)
{
	const char *exe = getenv("CJ_FIXTURE_UPSTASH_SERVER");
	char port[16], rport[16];
	char *argv[] = {(char *)exe, "--port",  port,     "--redis-port",
	                rport,       "--token", f->token, NULL};

	if (!exe || !*exe) {
		fprintf(stderr, "fixtures: CJ_FIXTURE_UPSTASH_SERVER is not set\n");
		return -1;
	}
	snprintf(port, sizeof(port), "%d", f->upstash_port);
	snprintf(rport, sizeof(rport), "%d", f->redis_port);
	if (proc_start(&f->upstash, argv, NULL, 0))
		return -1;
	return wait_output(&f->upstash, "ready");
}

int redis_fixture_start(struct redis_fixture *f)
{
	char *dir;
	int i;

	memset(f, 0, sizeof(*f));
	if (random_hex(f->token, sizeof(f->token), 32))
		return -1;
	dir = make_temp_dir();
	if (!dir || strlen(dir) >= sizeof(f->redis_dir)) {
		free(dir);
		return -1;
	}
	snprintf(f->redis_dir, sizeof(f->redis_dir), "%s", dir);
	free(dir);
	for (i = 0; i < FIXTURE_TRIES; i++) {
		f->redis_port = free_port();
		if (f->redis_port > 0 && !launch_redis(f))
			break;
	}
	if (i == FIXTURE_TRIES)
		goto fail;
	for (i = 0; i < FIXTURE_TRIES; i++) {
		f->upstash_port = free_port();
		if (f->upstash_port > 0 && !launch_upstash(f))
			break;
	}
	if (i == FIXTURE_TRIES)
		goto fail;
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->upstash_port);
	return 0;
fail:
	fprintf(stderr, "fixtures: cannot start redis-server and upstash_server\n");
	redis_fixture_stop(f);
	return -1;
}

void redis_fixture_stop_redis(struct redis_fixture *f)
{
	proc_stop(&f->redis);
}

int redis_fixture_start_redis(struct redis_fixture *f)
{
	int i;

	/* The port was just released; another process grabbing it is unlikely
	 * but a slow exit is not: retry a few times on the same port. */
	for (i = 0; i < FIXTURE_TRIES; i++) {
		if (!launch_redis(f))
			return 0;
		msleep(100);
	}
	return -1;
}

void redis_fixture_stop(struct redis_fixture *f)
{
	proc_stop(&f->upstash);
	proc_stop(&f->redis);
	if (f->redis_dir[0]) {
		remove_tree(f->redis_dir);
		f->redis_dir[0] = '\0';
	}
}

int redis_fixture_command(struct redis_fixture *f, const char *json, struct httpc_resp *r)
{
	char auth[128], url[80];
	const char *headers[] = {auth, "Content-Type: application/json", NULL};

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
	snprintf(url, sizeof(url), "%s/", f->url);
	return httpc_request("POST", url, headers, json, strlen(json), 10000, r);
}

int redis_fixture_flushall(struct redis_fixture *f)
{
	struct httpc_resp r;
	int ok;

	if (redis_fixture_command(f, "[\"FLUSHALL\"]", &r))
		return -1;
	ok = r.status == 200;
	httpc_resp_free(&r);
	return ok ? 0 : -1;
}

long redis_fixture_connections(struct redis_fixture *f)
{
	struct httpc_resp r;
	char url[80];
	long n = -1;

	snprintf(url, sizeof(url), "%s/__stats", f->url);
	if (httpc_get(url, NULL, &r))
		return -1;
	if (r.status == 200 && json_is_integer(json_object_get(r.json, "connections")))
		n = (long)json_integer_value(json_object_get(r.json, "connections"));
	httpc_resp_free(&r);
	return n;
}

int redis_fixture_fault(struct redis_fixture *f, const char *mode, int seconds, const char *match)
{
	const char *headers[] = {"Content-Type: application/json", NULL};
	struct httpc_resp r;
	char url[80], *body;
	json_t *j = json_pack("{s:s, s:i, s:s?}", "mode", mode, "seconds", seconds, "match", match);
	int ok;

	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!body)
		return -1;
	snprintf(url, sizeof(url), "%s/__fault", f->url);
	ok = !httpc_request("POST", url, headers, body, strlen(body), 10000, &r);
	free(body);
	if (!ok)
		return -1;
	ok = r.status == 200;
	httpc_resp_free(&r);
	return ok ? 0 : -1;
}
