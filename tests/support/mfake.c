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

#include "fakeproc.h"

#define MFAKE_WAIT_MS 10000
#define MFAKE_TRIES 5

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
	return fakeproc_wait_ready(&f->proc, MFAKE_WAIT_MS);
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
	fakeproc_stop(&f->proc, "mfake: fake_messaging");
}

int mfake_control(struct mfake *f, const char *what, const char *json_fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, json_fmt);
	rc = fakeproc_vcontrol(f->url, "mfake", what, json_fmt, ap);
	va_end(ap);
	return rc;
}

json_t *mfake_get(struct mfake *f, const char *what)
{
	return fakeproc_get(f->url, what);
}
