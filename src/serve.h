/*
 * serve.h - builds the service from its configuration (struct app), runs the
 * HTTP server, and shuts down as SPEC §8 says: on SIGTERM stop accepting,
 * let in-flight jobs run until SHUTDOWN_GRACE_SECONDS, then cut the rest off
 * (their claims are released and they are answered 503) and exit 0.
 */
#ifndef CJ_SERVE_H
#define CJ_SERVE_H

#include "app.h"

/* Builds every client of app from cfg (borrowed; must outlive app): queue
 * and schedule config, token verifier, idempotency store, enqueuer, and with
 * with_database the token key and the database (migrations applied).
 * CJ_OK, or an error with err saying which part could not be set up
 * (CJ_ECONFIG: a configuration file or value is wrong). Nothing else is
 * fetched over the network except the initial JWKS (failures logged). */
int app_init(struct app *app, const struct config *cfg, int with_database, char *err,
             size_t errlen) CJ_WUR;
void app_release(struct app *app);

/* Runs the server until SIGTERM/SIGINT. Returns the process exit status. */
int serve_run(const struct config *cfg);

#endif
