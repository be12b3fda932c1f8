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
#include "httpc.h"

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

json_t *gfake_post(struct gfake *g, const char *what, long *status, const char *json_fmt, ...)
{
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	struct httpc_resp r;
	char url[256], *body;
	json_t *j;
	va_list ap;
	int n;

	*status = 0;
	va_start(ap, json_fmt);
	n = vasprintf(&body, json_fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	snprintf(url, sizeof(url), "%s/__control/%s", g->url, what);
	/* A push with count and intervalMs may take a while. */
	n = httpc_request("POST", url, hdrs, body, (size_t)n, 120000, &r);
	free(body);
	if (n)
		return NULL;
	*status = r.status;
	j = json_incref(r.json);
	httpc_resp_free(&r);
	return j;
}

int gfake_wait_pushes(struct gfake *g, int timeout_ms)
{
	long status;
	json_t *j;

	/* gfake_post() waits 120 s at most. */
	if (timeout_ms > 100000)
		timeout_ms = 100000;
	j = gfake_post(g, "wait-pushes", &status, "{\"timeoutMs\":%d}", timeout_ms);
	json_decref(j);
	return status == 200 ? 0 : -1;
}

json_t *gfake_channel(struct gfake *g, const char *id)
{
	json_t *all = gfake_get(g, "channels"), *found = NULL;
	const json_t *chans = json_object_get(all, "channels"), *c;
	size_t i;

	json_array_foreach(chans, i, c)
	{
		const char *cid = json_string_value(json_object_get(c, "id"));

		if (cid && !strcmp(cid, id)) {
			json_decref(found);
			found = json_incref((json_t *)c);
		}
	}
	json_decref(all);
	return found;
}
