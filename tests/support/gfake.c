/*
 * gfake.c - starts and steers tests/fixtures/fake_google_apis; see gfake.h.
 *
 * Ports come from free_port(), which can race with other processes: a fake
 * that cannot listen exits, and the start is retried on a fresh port.
 * Readiness is the fake saying "ready", not merely an open port that
 * someone else may own.
 */
#include "gfake.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakeproc.h"

#define GFAKE_WAIT_MS 10000
#define GFAKE_TRIES 5

static int launch(struct gfake *g, const char *bin, const char *id, const char *secret)
{
	char port[16];
	char *argv[] = {(char *)bin, "--port",          port,           "--client-id",
	                (char *)id,  "--client-secret", (char *)secret, NULL};

	snprintf(port, sizeof(port), "%d", g->port);
	if (!id)
		argv[3] = NULL;
	if (proc_start(&g->proc, argv, NULL, 0))
		return -1;
	return fakeproc_wait_ready(&g->proc, GFAKE_WAIT_MS);
}

int gfake_start(struct gfake *g, const char *client_id, const char *client_secret)
{
	const char *bin = getenv("CJ_FIXTURE_FAKE_GOOGLE_APIS");

	memset(g, 0, sizeof(*g));
	if (!bin || !*bin) {
		fprintf(stderr, "gfake: CJ_FIXTURE_FAKE_GOOGLE_APIS is not set\n");
		return -1;
	}
	if (!client_id != !client_secret)
		return -1;
	for (int i = 0; i < GFAKE_TRIES; i++) {
		g->port = free_port();
		if (g->port > 0 && !launch(g, bin, client_id, client_secret)) {
			snprintf(g->url, sizeof(g->url), "http://127.0.0.1:%d", g->port);
			return 0;
		}
		memset(&g->proc, 0, sizeof(g->proc));
	}
	fprintf(stderr, "gfake: cannot start %s\n", bin);
	memset(g, 0, sizeof(*g));
	return -1;
}

void gfake_stop(struct gfake *g)
{
	fakeproc_stop(&g->proc, "gfake: fake_google_apis");
}

int gfake_control(struct gfake *g, const char *what, const char *json_fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, json_fmt);
	rc = fakeproc_vcontrol(g->url, "gfake", what, json_fmt, ap);
	va_end(ap);
	return rc;
}

json_t *gfake_get(struct gfake *g, const char *what)
{
	return fakeproc_get(g->url, what);
}
