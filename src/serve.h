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

/* The token key of SPEC §4: TOKEN_ENCRYPTION_KEY when set (config.c requires
 * it in cloud mode), else local mode's key in ./data/token-encryption.key,
 * generated there once (*generated set to 1; the caller says so). For
 * app_init() and the commands that seal tokens. *out is the caller's
 * (crypto_key_free()). CJ_ECONFIG names the variable or the file. */
int app_token_key_load(const struct config *cfg, struct crypto_key **out, int *generated, char *err,
                       size_t errlen) CJ_WUR;
/* Opens DATABASE_URL with every pending migration applied and, in local
 * mode, the stored clock offset loaded: what app_init() and the commands
 * that use the database start from. *out is the caller's (store_close()).
 * CJ_ECONFIG for a malformed URL (a usage error); the store's or the
 * migrations' codes otherwise; err says which. */
int app_open_database(const struct config *cfg, struct store **out, char *err,
                      size_t errlen) CJ_WUR;

/* Runs the server until SIGTERM/SIGINT. Returns the process exit status. */
int serve_run(const struct config *cfg);

#endif
