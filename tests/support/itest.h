/*
 * itest.h - the common world of integration tests: a real redis-server behind
 * the Upstash-compatible test server, a JWKS server with two signing keys,
 * and the real binary configured against them. Tokens are minted here with
 * the claims Cloud Tasks' tokens carry.
 */
#ifndef CJ_TEST_ITEST_H
#define CJ_TEST_ITEST_H

#include <stdint.h>

#include "cjserver.h"
#include "fixtures.h"
#include "jwks_server.h"
#include "tokens.h"

#define ITEST_AUDIENCE "https://catchup-jobs-test.a.run.app"
#define ITEST_TASKS_EMAIL "tasks@test-project.iam.gserviceaccount.com"
#define ITEST_ENQUEUE_EMAIL "producer@test-project.iam.gserviceaccount.com"

struct itest {
	struct redis_fixture redis;
	struct jwks_server *jwks;
	struct test_key *keys[2]; /* both published; keys[1] is the "rotated" one */
	char *dir; /* temp dir for the database and keys */
};

/* Starts Redis + Upstash server + JWKS server. Aborts the test run on
 * failure (there is nothing to test without them). */
void itest_setup(struct itest *w);
void itest_teardown(struct itest *w);

/* The environment for the binary: NULL-terminated, static storage owned by
 * w; extra (may be NULL) is appended and overrides. */
char **itest_env(struct itest *w, const char *const *extra);

/* A valid Cloud Tasks token (key 0, audience, tasks email); caller frees. */
char *itest_token(struct itest *w);
char *itest_token_for(struct itest *w, int key, const char *aud, const char *email);

/* Starts the server with itest_env(w, extra); aborts on failure. */
void itest_server(struct itest *w, struct cj_server *s, const char *const *extra);

/* GET /admin/dead-letters?QUERY as the enqueue identity; the parsed body
 * (caller decrefs), or NULL when not 200. */
json_t *itest_dead_letters(struct itest *w, const struct cj_server *s, const char *query);
/* The dead letter whose taskName is task (a new reference), or NULL. */
json_t *itest_dead_letter_for(struct itest *w, const struct cj_server *s, const char *task);

/* A unique task id for this process. */
const char *itest_task_id(char *out, size_t outlen);

#endif
