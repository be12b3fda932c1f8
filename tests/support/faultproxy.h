/*
 * faultproxy.h - a loopback HTTP/1.1 proxy for fault tests: the service is
 * pointed at the proxy instead of an upstream (Upstash, a Google fake, the
 * messaging fake), and the test decides, request by request, what the
 * network does: forward, delay, answer a status of its own, forward and
 * then lose the answer, close without forwarding, or reset new connections.
 *
 * Requests are read whole (head and Content-Length body; a chunked request
 * body is refused with 501) and forwarded one at a time on a fresh upstream
 * connection; the upstream's answer is read whole and given to the client
 * with its own Content-Length, so clients keep their kept-alive connections
 * to the proxy while faults come and go.
 *
 * Rules are matched in the order added against the request's text (request
 * line, headers and body). The first rule that is still active and whose
 * match/except hold decides; a request no rule decides is forwarded.
 *
 * Thread-safe: the test thread adds and clears rules while the proxy's
 * threads (one per client connection, plus the acceptor) serve. Delays wake
 * early when the proxy stops. Listens on 127.0.0.1, an ephemeral port.
 */
#ifndef CJ_TEST_FAULTPROXY_H
#define CJ_TEST_FAULTPROXY_H

#define FP_MAX_MATCH 4

enum fp_action {
	FP_FORWARD, /* forward (after delay_ms), answer (after answer_delay_ms) */
	FP_STATUS, /* answer status (body, Retry-After) without forwarding */
	FP_LOSE_ANSWER, /* forward, read the answer, close without giving it */
	FP_CLOSE, /* close the connection without forwarding */
};

struct fp_rule {
	const char *match[FP_MAX_MATCH]; /* substrings the request must all contain
	                                  * (unused entries NULL) */
	const char *except; /* substring it must not contain; NULL: none */
	int skip; /* matching requests let through untouched first */
	int count; /* then this many take the action; < 0: every one */
	enum fp_action action;
	long delay_ms; /* FP_FORWARD: hold the request this long first */
	long answer_delay_ms; /* FP_FORWARD: hold the upstream's answer this long */
	int status; /* FP_STATUS: e.g. 503 */
	const char *body; /* FP_STATUS: NULL gives {"error":"injected fault"} */
	const char *retry_after; /* FP_STATUS: a Retry-After header, or NULL */
};

struct faultproxy;

/* Forwards to upstream ("http://127.0.0.1:PORT"; the path of each request
 * is kept). NULL on failure (printed). */
struct faultproxy *faultproxy_start(const char *upstream);
/* Closes every connection, wakes every delay, joins the threads, frees. */
void faultproxy_stop(struct faultproxy *p);
/* "http://127.0.0.1:PORT" of the proxy. */
const char *faultproxy_url(const struct faultproxy *p);

/* Adds a rule (its strings are copied); returns its id (>= 0) or -1. */
int faultproxy_add(struct faultproxy *p, const struct fp_rule *r);
/* Removes rule id; requests already in its hands finish as decided. */
void faultproxy_remove(struct faultproxy *p, int id);
/* Removes every rule. */
void faultproxy_clear(struct faultproxy *p);
/* Requests rule id has taken its action on so far (-1: no such rule). */
long faultproxy_hits(struct faultproxy *p, int id);
/* Requests the proxy has read so far. */
long faultproxy_requests(struct faultproxy *p);
/* 1: every new connection, and every request on an open one, is reset at
 * once (the upstream looks refused); 0: normal again. */
void faultproxy_refuse(struct faultproxy *p, int on);

#endif
