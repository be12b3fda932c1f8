/*
 * mfake.c - starts and steers tests/fixtures/fake_messaging; see mfake.h.
 *
 * Started as gfake.c starts its fake: on a port from free_port(), retried
 * on a fresh one when it cannot listen, ready when it says "ready".
 */
#include "mfake.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpc.h"

#define MFAKE_WAIT_MS 10000
#define MFAKE_TRIES 5

/* Waits until the fake says it is ready. 0, or -1 when it exited or the
 * wait ran out (it is then stopped). */
static int wait_ready(struct proc *p)
{
	for (int waited = 0; waited <= MFAKE_WAIT_MS; waited += 10) {
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

static int launch(struct mfake *f, const char *bin)
{
	char port[16];
	char *argv[] = {(char *)bin,           "--port",         port,
	                "--twilio-sid",        MFAKE_TWILIO_SID, "--twilio-token",
	                MFAKE_TWILIO_TOKEN,    "--sendgrid-key", MFAKE_SENDGRID_KEY,
	                NULL};

	snprintf(port, sizeof(port), "%d", f->port);
	if (proc_start(&f->proc, argv, NULL, 0))
		return -1;
	return wait_ready(&f->proc);
}

int mfake_start(struct mfake *f)
{
	const char *bin = getenv("CJ_FIXTURE_FAKE_MESSAGING");

	memset(f, 0, sizeof(*f));
	if (!bin || !*bin) {
		fprintf(stderr, "mfake: CJ_FIXTURE_FAKE_MESSAGING is not set\n");
		return -1;
	}
	for (int i = 0; i < MFAKE_TRIES; i++) {
		f->port = free_port();
		if (f->port > 0 && !launch(f, bin)) {
			snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
			return 0;
		}
		memset(&f->proc, 0, sizeof(f->proc));
	}
	fprintf(stderr, "mfake: cannot start %s\n", bin);
	memset(f, 0, sizeof(*f));
	return -1;
}

void mfake_stop(struct mfake *f)
{
	if (f->proc.pid <= 0)
		return;
	proc_signal(&f->proc, SIGTERM);
	if (proc_wait(&f->proc, 10000)) {
		proc_stop(&f->proc);
		return;
	}
	/* It exits 0 on SIGTERM: anything else is a crash or a sanitizer's
	 * report, which would go with its log. */
	if (f->proc.exit_status) {
		char *out = proc_output(&f->proc);

		fprintf(stderr, "mfake: fake_messaging exited %d:\n%s\n", f->proc.exit_status,
		        out ? out : "");
		free(out);
	}
	unlink(f->proc.log_path);
}

int mfake_control(struct mfake *f, const char *what, const char *json_fmt, ...)
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
	snprintf(url, sizeof(url), "%s/__control/%s", f->url, what);
	n = httpc_request("POST", url, hdrs, body, (size_t)n, 30000, &r);
	free(body);
	if (n)
		return -1;
	ok = r.status >= 200 && r.status <= 299;
	if (!ok)
		fprintf(stderr, "mfake: %s answered %ld %s\n", what, r.status, r.body);
	httpc_resp_free(&r);
	return ok ? 0 : -1;
}

json_t *mfake_get(struct mfake *f, const char *what)
{
	struct httpc_resp r;
	char url[256];
	json_t *j = NULL;

	snprintf(url, sizeof(url), "%s/__control/%s", f->url, what);
	if (httpc_get(url, NULL, &r))
		return NULL;
	if (r.status == 200 && r.json)
		j = json_incref(r.json);
	httpc_resp_free(&r);
	return j;
}
