/*
 * bench_tool.c - helpers for bench/run.sh:
 *   bench_tool mint DIR N    writes DIR/jwks.json (one RS256 key) and
 *                            DIR/tokens.txt (N distinct valid push tokens for
 *                            audience $AUD and email $EMAIL, valid 1 hour)
 *   bench_tool coldstart URL BIN [ARGS...]
 *                            execs BIN and prints the milliseconds until GET
 *                            URL first answers 200, then stops BIN
 *   bench_tool startup LIVE_URL READY_URL BIN [ARGS...]
 *                            execs BIN and prints the milliseconds (0.1 ms)
 *                            until a TCP connection to LIVE_URL's port is
 *                            accepted, until GET LIVE_URL first answers 200
 *                            and until GET READY_URL first answers 200, then
 *                            stops BIN (LIVE_URL: http://127.0.0.1:PORT/...)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "timeutil.h"
#include "tokens.h"

static int mint(const char *dir, int n)
{
	const char *aud = getenv("AUD"), *email = getenv("EMAIL");
	struct test_key *key = test_key_new("bench-key", 2048);
	char path[1024], *jwks;
	int64_t now = time_wall_s();
	FILE *f;

	if (!aud || !email || !key)
		return 1;
	jwks = test_jwks_json((const struct test_key *const *)&key, 1);
	snprintf(path, sizeof(path), "%s/jwks.json", dir);
	f = fopen(path, "w");
	if (!f || !jwks)
		return 1;
	fputs(jwks, f);
	fclose(f);
	free(jwks);
	snprintf(path, sizeof(path), "%s/tokens.txt", dir);
	f = fopen(path, "w");
	if (!f)
		return 1;
	for (int i = 0; i < n; i++) {
		/* A distinct jti makes distinct tokens, all valid for an hour. */
		json_t *claims = test_claims_google(aud, email, now, now + 3600);
		char *t;

		if (!claims)
			return 1;
		json_object_set_new(claims, "jti", json_integer(i));
		t = test_token_mint(key, NULL, claims);
		json_decref(claims);

		if (!t)
			return 1;
		fprintf(f, "%s\n", t);
		free(t);
	}
	fclose(f);
	test_key_free(key);
	return 0;
}

static int coldstart(const char *url, char **argv)
{
	int64_t start = time_mono_ms();
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		execv(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		struct httpc_resp r;
		long st = 0;

		if (!httpc_get(url, NULL, &r))
			st = r.status;
		httpc_resp_free(&r);
		if (st == 200)
			break;
		if (time_mono_ms() - start > 10000) {
			kill(pid, SIGKILL);
			return 1;
		}
		usleep(200);
	}
	printf("%lld\n", (long long)(time_mono_ms() - start));
	kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* 0 when url answered 200, -1 when not yet. */
static int answered(const char *url)
{
	struct httpc_resp r;
	long st = -1;

	if (!httpc_get(url, NULL, &r))
		st = r.status;
	httpc_resp_free(&r);
	return st == 200 ? 0 : -1;
}

/* 0 when a connection to 127.0.0.1:port is accepted, -1 when not yet. */
static int accepts(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	if (fd < 0)
		return -1;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rc ? -1 : 0;
}

static int startup(const char *live, const char *ready, char **argv)
{
	const char *colon = strrchr(live, ':');
	int port = colon ? atoi(colon + 1) : 0;
	double start, accepted = -1, first = -1;
	pid_t pid;
	int status;

	if (port <= 0 || port > 65535)
		return 2;
	start = now_ms();
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		execv(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		if (accepted < 0 && !accepts(port))
			accepted = now_ms() - start;
		if (accepted >= 0 && first < 0 && !answered(live))
			first = now_ms() - start;
		if (first >= 0 && !answered(ready))
			break;
		if (now_ms() - start > 10000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 1;
		}
		usleep(100);
	}
	printf("%.1f %.1f %.1f\n", accepted, first, now_ms() - start);
	kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "mint")) {
		long n = strtol(argv[3], NULL, 10);

		return mint(argv[2], n > 0 && n < 1000000 ? (int)n : 1);
	}
	if (argc >= 4 && !strcmp(argv[1], "coldstart"))
		return coldstart(argv[2], argv + 3);
	if (argc >= 5 && !strcmp(argv[1], "startup"))
		return startup(argv[2], argv[3], argv + 4);
	fprintf(stderr, "usage: bench_tool mint DIR N | coldstart URL BIN [ARGS...] | "
	                "startup LIVE_URL READY_URL BIN [ARGS...]\n");
	return 2;
}
