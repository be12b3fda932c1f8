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

#include "httpc.h"

#define GFAKE_WAIT_MS 10000
#define GFAKE_TRIES 5

/* Waits until the fake says it is ready. 0, or -1 when it exited or the
 * wait ran out (it is then stopped). */
static int wait_ready(struct proc *p)
{
	for (int waited = 0; waited <= GFAKE_WAIT_MS; waited += 10) {
		char *out = proc_output(p);
		int ready = out && strstr(out, "ready");

		free(out);
		if (ready)
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
	return wait_ready(&g->proc);
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
	if (g->proc.pid <= 0)
		return;
	proc_signal(&g->proc, SIGTERM);
	if (proc_wait(&g->proc, 5000)) {
		proc_stop(&g->proc);
		return;
	}
	/* It exits 0 on SIGTERM: anything else is a crash or a sanitizer's
	 * report, which would go with its log. */
	if (g->proc.exit_status) {
		char *out = proc_output(&g->proc);

		fprintf(stderr, "gfake: fake_google_apis exited %d:\n%s\n", g->proc.exit_status,
		        out ? out : "");
		free(out);
	}
	unlink(g->proc.log_path);
}

int gfake_control(struct gfake *g, const char *what, const char *json_fmt, ...)
{
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	struct httpc_resp r;
	char url[256], *body;
	va_list ap;
	int n, ok;

	va_start(ap, json_fmt);
	n = vasprintf(&body, json_fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	snprintf(url, sizeof(url), "%s/__control/%s", g->url, what);
	n = httpc_request("POST", url, hdrs, body, (size_t)n, 30000, &r);
	free(body);
	if (n)
		return -1;
	ok = r.status >= 200 && r.status <= 299;
	if (!ok)
		fprintf(stderr, "gfake: %s answered %ld %s\n", what, r.status, r.body);
	httpc_resp_free(&r);
	return ok ? 0 : -1;
}

json_t *gfake_get(struct gfake *g, const char *what)
{
	struct httpc_resp r;
	char url[256];
	json_t *j = NULL;

	snprintf(url, sizeof(url), "%s/__control/%s", g->url, what);
	if (httpc_get(url, NULL, &r))
		return NULL;
	if (r.status == 200 && r.json)
		j = json_incref(r.json);
	httpc_resp_free(&r);
	return j;
}
