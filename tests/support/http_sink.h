/*
 * http_sink.h - a small HTTP server inside the test process (src/http_server
 * on a free loopback port) that records every request it gets and answers
 * it: for tests of what the service sends out, e.g. the embedded
 * scheduler's pushes (point CLOUD_RUN_URL at http_sink_url()).
 *
 * Each request is recorded when its body is complete (method, path, the
 * headers below, body, arrival time), then answered with the current status
 * and {"status":"completed"} - after the body's "sleepMs" when it has one,
 * as ping does, and not before http_sink_hold(k, 0) while answers are held.
 *
 * Thread-safe: requests arrive on the server's threads; the test reads
 * snapshots with http_sink_requests().
 */
#ifndef CJ_TEST_HTTP_SINK_H
#define CJ_TEST_HTTP_SINK_H

#include <stddef.h>
#include <stdint.h>

struct sink_request {
	char method[16];
	char path[256];
	char content_type[128];
	char user_agent[128];
	char scheduler[16]; /* X-CloudScheduler */
	char job_name[512]; /* X-CloudScheduler-JobName */
	char schedule_time[64]; /* X-CloudScheduler-ScheduleTime */
	char *authorization; /* the whole header value, or NULL */
	char *body; /* NUL-terminated */
	int64_t arrived_ms; /* monotonic (time_mono_ms()) */
	double arrived_wall; /* Unix time (time_wall()) */
	int64_t answered_ms; /* 0 while not answered */
	int status; /* the answer's status */
};

struct http_sink;

/* NULL on failure (printed). */
struct http_sink *http_sink_start(void);
/* Releases held answers, stops the server and frees everything. */
void http_sink_stop(struct http_sink *k);
/* "http://127.0.0.1:PORT". */
const char *http_sink_url(const struct http_sink *k);

/* The status of the answers from now on (200 at first). */
void http_sink_answer(struct http_sink *k, int status);
/* 1: answers wait; 0: held answers go out and new ones are not held. */
void http_sink_hold(struct http_sink *k, int hold);
/* Forgets the requests recorded so far. */
void http_sink_reset(struct http_sink *k);

/* Requests recorded so far. */
size_t http_sink_count(struct http_sink *k);
/* Waits up to timeout_ms until n requests were recorded (answered: and
 * answered). 0, or -1 on timeout. */
int http_sink_wait(struct http_sink *k, size_t n, int answered, int timeout_ms);
/* A copy of the requests recorded so far, in arrival order; *n receives
 * their count. Free with http_sink_requests_free(). */
struct sink_request *http_sink_requests(struct http_sink *k, size_t *n);
void http_sink_requests_free(struct sink_request *r, size_t n);

#endif
