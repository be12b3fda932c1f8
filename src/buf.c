/*
 * buf.c - capped growable buffer; see buf.h for the contract.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 512; /* most answers and commands fit at once */
	char *p;

	while (cap < need) {
		if (cap > ((size_t)-1) / 2)
			return CJ_ENOMEM;
		cap *= 2;
	}
	/* Never reserve far beyond the cap: it bounds memory, not just len. */
	if (cap > b->max + 1)
		cap = b->max + 1;
	if (cap < need)
		cap = need;
	p = realloc(b->data, cap);
	if (!p)
		return CJ_ENOMEM;
	b->data = p;
	b->cap = cap;
	return CJ_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int rc;

	if (n > b->max || b->len > b->max - n)
		return CJ_ETOOBIG;
	if (b->len + n + 1 > b->cap) {
		rc = buf_grow(b, b->len + n + 1);
		if (rc)
			return rc;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return CJ_OK;
}

int buf_appends(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	char small[256];
	va_list cp;
	int n, rc;
	char *big;

	va_copy(cp, ap);
	n = vsnprintf(small, sizeof(small), fmt, cp);
	va_end(cp);
	if (n < 0)
		return CJ_EINVAL;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	big = malloc((size_t)n + 1);
	if (!big)
		return CJ_ENOMEM;
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	rc = buf_append(b, big, (size_t)n);
	free(big);
	return rc;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (!p) {
		p = calloc(1, 1);
		if (!p)
			return NULL;
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
