/*
 * jwks_server.h - a tiny in-process HTTP server standing in for Google's
 * JWK set endpoint (https://www.googleapis.com/oauth2/v3/certs) in tests.
 *
 * It listens on 127.0.0.1 on a free port (libmicrohttpd, its own threads) and
 * answers every GET with the body, status and Cache-Control max-age last set,
 * the way Google does ("public, max-age=N, must-revalidate, no-transform"),
 * and counts the requests it answered.
 *
 * Ownership: jwks_server_start() returns a server freed by jwks_server_stop().
 * Setters copy what they are given. All functions are thread-safe.
 */
#ifndef CJ_TEST_JWKS_SERVER_H
#define CJ_TEST_JWKS_SERVER_H

struct jwks_server;

/* Started, serving {"keys":[]} with status 200 and no Cache-Control. NULL on
 * failure. */
struct jwks_server *jwks_server_start(void);
/* "http://127.0.0.1:PORT/oauth2/v3/certs"; valid until jwks_server_stop(). */
const char *jwks_server_url(struct jwks_server *s);
/* body: the answer (copied); max_age < 0: no Cache-Control header; status:
 * e.g. 200, or 500 to simulate an outage. */
void jwks_server_set(struct jwks_server *s, const char *body, int max_age, int status);
/* Each answer is delayed by ms (0 = none), to hold a fetch in flight. */
void jwks_server_set_delay(struct jwks_server *s, int ms);
/* Requests answered so far. */
int jwks_server_fetches(struct jwks_server *s);
void jwks_server_stop(struct jwks_server *s);

#endif
