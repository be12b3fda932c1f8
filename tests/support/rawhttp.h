/*
 * rawhttp.h - HTTP/1.1 over a raw TCP socket, for tests that need what
 * libcurl hides: pipelined requests in one write, exact bytes in the request
 * line, bodies that trickle or never end, and seeing when the server closes.
 * Failures are check assertions.
 */
#ifndef CJ_TEST_RAWHTTP_H
#define CJ_TEST_RAWHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct rawhttp_answer {
	int status;
	int close; /* Connection: close */
	char *body; /* malloc'd */
};

/* A blocking socket connected to 127.0.0.1:port. */
int rawhttp_connect(int port);
void rawhttp_write_all(int fd, const char *p, size_t n);
/* Reads more bytes into in, waiting until deadline (time_mono_ms()). 1 when
 * bytes came, 0 at end of stream (or a reset), -1 on timeout. */
int rawhttp_read_more(int fd, struct buf *in, int64_t deadline);
/* The value of header name in head (status line and headers, len bytes),
 * copied into out; NULL when absent. */
const char *rawhttp_header(const char *head, size_t len, const char *name, char *out, size_t n);
/* Parses one answer (Content-Length framed) from the front of in, reading
 * more as needed for up to 30 s; method is the request's (HEAD answers have
 * no body). 0, or -1 when the stream ended or timed out first. */
int rawhttp_read_answer(int fd, struct buf *in, const char *method, struct rawhttp_answer *a);
/* 1 when the server closes the connection within 2 s with nothing more to
 * read; fails the test on more bytes. */
int rawhttp_closed_by_server(int fd, struct buf *in);

#endif
