/*
 * buf.h - a growable byte buffer with a hard cap (after curl's dynbuf).
 *
 * Request bodies, upstream responses and serialised JSON are accumulated in a
 * struct buf. The cap is fixed at init; an append that would exceed it fails
 * with CJ_ETOOBIG and leaves the buffer exactly as it was, so the caller can
 * still answer with what it has. The content is always NUL-terminated (the
 * terminator is not counted in len), so text can be used as a C string.
 *
 * Ownership: the struct is the caller's; buf_release() frees the storage;
 * buf_detach() hands the storage to the caller (free() it) and resets.
 * Not thread-safe: one owner at a time.
 */
#ifndef CJ_BUF_H
#define CJ_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "cj.h"

struct buf {
	char *data; /* NULL until the first append */
	size_t len; /* bytes used, not counting the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* hard cap on len */
};

#define BUF_INIT(max_)                                                                             \
	{                                                                                          \
		NULL, 0, 0, (max_)                                                                 \
	}

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* Empties the buffer but keeps its storage. */
void buf_reset(struct buf *b);
/* Appends n bytes. CJ_OK, CJ_ETOOBIG (over the cap) or CJ_ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n) CJ_WUR;
int buf_appends(struct buf *b, const char *s) CJ_WUR;
int buf_appendf(struct buf *b, const char *fmt, ...) CJ_PRINTF(2, 3) CJ_WUR;
int buf_vappendf(struct buf *b, const char *fmt, va_list ap) CJ_WUR;
/* The text, never NULL ("" when empty). */
const char *buf_str(const struct buf *b);
/* Returns the storage (caller frees; never NULL on success) and resets. */
char *buf_detach(struct buf *b, size_t *len);

#endif
