/*
 * localmode.h - what the local-mode end-to-end tests share: the server's
 * environment (SQLite in the test's directory, the repository's config,
 * the Google and messaging fakes when given), running the binary's
 * commands against a running server, an operator token, admin GETs and the
 * business clock.
 *
 * One test at a time per process: the environment is built in static
 * storage, valid until the next call.
 */
#ifndef CJ_TEST_LOCALMODE_H
#define CJ_TEST_LOCALMODE_H

#include <jansson.h>
#include <stdint.h>

#include "cjserver.h"

#define LOCAL_ADMIN_EMAIL "admin@catchup-jobs.local"
#define LOCAL_CLIENT_ID "local-client.apps.googleusercontent.com"
#define LOCAL_CLIENT_SECRET "local-client-secret-123"

struct local_opts {
	const char *dir; /* the server's directory: data/catchup.db lives there */
	const char *google_url; /* the Google fake (gfake.h), or NULL */
	const char *messaging_url; /* the Twilio/SendGrid fake (mfake.h), or NULL */
	const char *log_level; /* NULL: "info" */
};

/* The environment for `serve` (or a command: extra may add PORT=…),
 * NULL-terminated. The database URL is sqlite:{dir}/data/catchup.db. */
char **local_env(const struct local_opts *o, const char *const *extra);
/* Runs the binary with args against the running server s (its PORT);
 * out and err may be NULL. Returns the exit status. */
int local_cli(const struct cj_server *s, const struct local_opts *o, char *const args[],
              char **out, char **err);
/* A token of the local key for LOCAL_ADMIN_EMAIL (malloc'd). */
char *local_admin_token(const struct cj_server *s, const struct local_opts *o);
/* GET path with tok; a check failure unless 200. The answer's JSON. */
json_t *local_admin_get(const struct cj_server *s, const char *tok, const char *path);
/* The server's business time: wall time plus /emulator/clock's offset. */
int64_t local_business_now(const struct cj_server *s);
/* `catchup-jobs clock advance seconds`. */
void local_advance(const struct cj_server *s, const struct local_opts *o, long seconds);

#endif
