/*
 * job_harness.h - runs one job handler alone, as the server would, for
 * handler tests: a fresh migrated database (SQLite or PostgreSQL, see
 * pgtest.h), a token key, the Google client pointed at a fake
 * (tests/fixtures/fake_google_apis via gfake.h), and an enqueuer pointed at
 * the fake Cloud Tasks (fake_cloud.h) whose recorded creates a test reads.
 * Business time is the process clock (src/clock.h): tests move it with
 * clock_advance().
 *
 * Every setup step is a check assertion: call from a test. Not thread-safe
 * except job_harness_run(), which may run from several threads at once
 * (the services are shared, as in the server).
 */
#ifndef CJ_TEST_JOB_HARNESS_H
#define CJ_TEST_JOB_HARNESS_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "fake_cloud.h"
#include "job.h"
#include "pgtest.h"

#define HARNESS_CLIENT_ID "test-client.apps.googleusercontent.com"
#define HARNESS_CLIENT_SECRET "test-client-secret"

struct queues;
struct redis_rest;

struct job_harness {
	struct pgtest_db db;
	struct fake_cloud fc;
	struct config cfg;
	struct queues *q;
	struct redis_rest *redis; /* NULL: the SMS limit is in process */
	struct job_services svc;
};

/* What one run gave. */
struct job_run {
	enum job_outcome outcome;
	json_t *result; /* owned; NULL unless set */
	char error_code[64];
	char error_msg[256];
	int retry_after_s;
};

/* google_url: the Google fake's base (http://127.0.0.1:PORT). Messaging is
 * not configured and the SMS limit is in process. */
void job_harness_open(struct job_harness *h, int backend, const char *google_url);

/* What job_harness_open_with() points the services at; NULL members are
 * left unconfigured. */
struct job_harness_opts {
	const char *google_url; /* the Google fake (gfake.h) */
	const char *messaging_url; /* the Twilio/SendGrid fake (mfake.h), its credentials */
	const char *redis_url, *redis_token; /* Upstash REST: the SMS limit in Redis */
};
void job_harness_open_with(struct job_harness *h, int backend, const struct job_harness_opts *o);
void job_harness_close(struct job_harness *h);

/* Runs type with payload (JSON text, validated against the type's schema
 * first: an invalid one fails the test) under job key key (NULL: ""), with
 * deadline_ms of time (0: 60 s). */
void job_harness_run(struct job_harness *h, const char *type, const char *payload, const char *key,
                     long deadline_ms, struct job_run *out);
void job_run_release(struct job_run *r);
/* The integer member name of r's result (a check failure when missing). */
json_int_t job_run_int(const struct job_run *r, const char *name);

/* Inserts a user; with refresh_token also its google account (status
 * active, no access token). */
void job_harness_add_user(struct job_harness *h, const char *id, const char *email,
                          const char *refresh_token);
/* The first column of the first row of sql with up to 2 text parameters
 * (NULL: fewer), as an integer; -1 when there is no row. */
int64_t job_harness_int(struct job_harness *h, const char *sql, const char *p1, const char *p2);
/* The same as text (malloc'd), NULL for no row or SQL NULL. */
char *job_harness_text(struct job_harness *h, const char *sql, const char *p1, const char *p2);
/* Runs one statement with up to 2 text parameters. */
void job_harness_exec(struct job_harness *h, const char *sql, const char *p1, const char *p2);

/* The tasks.create bodies the fake Cloud Tasks received for job type
 * (NULL: all), as an array of {"taskId", "payload"}; forgets none. */
json_t *job_harness_creates(struct job_harness *h, const char *type);

#endif
