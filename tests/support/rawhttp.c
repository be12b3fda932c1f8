/*
 * rawhttp.c - HTTP/1.1 over a raw TCP socket; see rawhttp.h.
 */
#include "rawhttp.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timeutil.h"

int rawhttp_connect(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

void rawhttp_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(w, 0);
		p += w;
		n -= (size_t)w;
	}
}

int rawhttp_read_more(int fd, struct buf *in, int64_t deadline)
{
	struct pollfd p = {fd, POLLIN, 0};
	char chunk[16384];
	ssize_t n;
	int left = (int)(deadline - time_mono_ms());

	if (left <= 0 || poll(&p, 1, left) <= 0)
		return -1;
	n = read(fd, chunk, sizeof(chunk));
	if (n <= 0)
		return 0;
	ck_assert_int_eq(buf_append(in, chunk, (size_t)n), CJ_OK);
	return 1;
}

const char *rawhttp_header(const char *head, size_t len, const char *name, char *out, size_t n)
{
	const char *p = head, *end = head + len, *eol;
	size_t nl = strlen(name);

	for (; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl + 1 && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;

			while (*v == ' ')
				v++;
			snprintf(out, n, "%.*s", (int)(eol - v), v);
			return out;
		}
		if (eol == end)
			break;
	}
	return NULL;
}

int rawhttp_read_answer(int fd, struct buf *in, const char *method, struct rawhttp_answer *a)
{
	int64_t deadline = time_mono_ms() + 30000;
	const char *eoh;
	char v[64];
	size_t head, body = 0;
	int got;

	memset(a, 0, sizeof(*a));
	for (;;) {
		eoh = in->len ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
		if (eoh) {
			head = (size_t)(eoh - in->data) + 4;
			ck_assert_int_eq(strncmp(in->data, "HTTP/1.1 ", 9), 0);
			a->status = (int)strtol(in->data + 9, NULL, 10);
			a->close = rawhttp_header(in->data, head, "Connection", v, sizeof(v)) &&
			    !strcasecmp(v, "close");
			ck_assert_msg(
			    !rawhttp_header(in->data, head, "Transfer-Encoding", v, sizeof(v)),
			    "chunked answers are not expected");
			if (strcmp(method, "HEAD") &&
			    rawhttp_header(in->data, head, "Content-Length", v, sizeof(v)))
				body = (size_t)strtoul(v, NULL, 10);
			if (in->len >= head + body)
				break;
		}
		got = rawhttp_read_more(fd, in, deadline);
		if (got <= 0)
			return -1;
	}
	a->body = strndup(in->data + head, body);
	memmove(in->data, in->data + head + body, in->len - head - body);
	in->len -= head + body;
	in->data[in->len] = '\0';
	return 0;
}

int rawhttp_closed_by_server(int fd, struct buf *in)
{
	int got = rawhttp_read_more(fd, in, time_mono_ms() + 2000);

	ck_assert_msg(got <= 0, "unexpected bytes after the last answer: %s", buf_str(in));
	return got == 0;
}
