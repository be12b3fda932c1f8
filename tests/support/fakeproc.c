/*
 * fakeproc.c - starting, stopping and steering the fake services; see
 * fakeproc.h.
 */
#include "fakeproc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpc.h"

int fakeproc_wait_ready(struct proc *p, int wait_ms)
{
	for (int waited = 0; waited <= wait_ms; waited += 10) {
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

void fakeproc_stop(struct proc *p, const char *label)
{
	if (p->pid <= 0)
		return;
	proc_signal(p, SIGTERM);
	if (proc_wait(p, 5000)) {
		proc_stop(p);
		return;
	}
	/* Fakes exit 0 on SIGTERM: anything else is a crash or a sanitizer's
	 * report, which would go with its log. */
	if (p->exit_status) {
		char *out = proc_output(p);

		fprintf(stderr, "%s exited %d:\n%s\n", label, p->exit_status, out ? out : "");
		free(out);
	}
	unlink(p->log_path);
}

int fakeproc_vcontrol(const char *base, const char *label, const char *what, const char *fmt,
                      va_list ap)
{
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	struct httpc_resp r;
	char url[256], *body;
	int n, ok;

	n = vasprintf(&body, fmt, ap);
	if (n < 0)
		return -1;
	snprintf(url, sizeof(url), "%s/__control/%s", base, what);
	n = httpc_request("POST", url, hdrs, body, (size_t)n, 30000, &r);
	free(body);
	if (n)
		return -1;
	ok = r.status >= 200 && r.status <= 299;
	if (!ok)
		fprintf(stderr, "%s: %s answered %ld %s\n", label, what, r.status, r.body);
	httpc_resp_free(&r);
	return ok ? 0 : -1;
}

json_t *fakeproc_get(const char *base, const char *what)
{
	struct httpc_resp r;
	char url[256];
	json_t *j = NULL;

	snprintf(url, sizeof(url), "%s/__control/%s", base, what);
	if (httpc_get(url, NULL, &r))
		return NULL;
	if (r.status == 200 && r.json)
		j = json_incref(r.json);
	httpc_resp_free(&r);
	return j;
}
