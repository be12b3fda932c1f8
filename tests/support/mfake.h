/*
 * mfake.h - runs tests/fixtures/fake_messaging (Twilio's Messages API and
 * SendGrid's Mail Send API) on a free loopback port and drives its
 * /__control/ API.
 *
 * The fixture program comes from env CJ_FIXTURE_FAKE_MESSAGING (set by
 * meson). Point the product at it with TWILIO_API_URL = SENDGRID_API_URL =
 * url, and the credentials MFAKE_TWILIO_SID, MFAKE_TWILIO_TOKEN and
 * MFAKE_SENDGRID_KEY (others get 401 in each provider's error shape).
 *
 * Control requests (POST, JSON bodies; 200 {} or 4xx {"error"}):
 *   fail    {"target":"twilio"|"sendgrid","count","status"(0 = answer
 *           normally),"code"(Twilio's error code),"message","delayMs",
 *           "retryAfter","drop","accept"}: the next count calls to target
 *           (sends and checks) first record the message as accepted
 *           (accept), wait delayMs, then close the connection without an
 *           answer (drop), or answer status with the provider's error body,
 *           or go on normally
 *   invalid {"to"}: that recipient is refused permanently (Twilio 400 code
 *           21211, SendGrid 400)
 *   reset   {}: messages, invalid recipients, counters and faults
 * GET messages  [{"provider","to","from","body"|"subject"+"text","id",
 *               "raw" (the request body as sent),"contentType"}]
 * GET stats     {"twilio":{"calls","accepted","unauthorized","injected",
 *               "checks"},"sendgrid":{…}}
 *
 * Not thread-safe: one test thread drives a fake. The child belongs to the
 * process that started it.
 */
#ifndef CJ_TEST_MFAKE_H
#define CJ_TEST_MFAKE_H

#include <jansson.h>

#include "cj.h"
#include "proc.h"

#define MFAKE_TWILIO_SID "AC0123456789abcdef0123456789abcdef"
#define MFAKE_TWILIO_TOKEN "twilio-test-token-5f1e"
#define MFAKE_SENDGRID_KEY "SG.test-key.9c2d"

struct mfake {
	int port;
	char url[64]; /* http://127.0.0.1:PORT */
	struct proc proc;
};

/* Starts the fake and waits, bounded, until it answers. 0 or -1 (nothing
 * left running). */
int mfake_start(struct mfake *f);
/* Stops it; safe to call twice. Shows its output on stderr when it did
 * not exit cleanly (a crash, a sanitizer's report). */
void mfake_stop(struct mfake *f);
/* POSTs the JSON text json_fmt (printf-formatted; escape strings yourself)
 * to /__control/<what>. 0 when answered 2xx, else -1. */
int mfake_control(struct mfake *f, const char *what, const char *json_fmt, ...) CJ_PRINTF(3, 4);
/* GETs /__control/<what> ("messages", "stats"): the answer parsed, which
 * the caller json_decrefs; NULL on failure. */
json_t *mfake_get(struct mfake *f, const char *what);

#endif
