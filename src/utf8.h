/*
 * utf8.h - the one UTF-8 check: well-formed UTF-8 as RFC 3629 defines it (no
 * overlong forms, no UTF-16 surrogates U+D800-U+DFFF, nothing above
 * U+10FFFF, no truncated sequences). It is the rule of PostgreSQL's UTF8
 * encoding and of JSON text, so the store, the Redis REST client (whose
 * commands travel in JSON) and dead-letter recording all use it.
 *
 * NUL is a valid character here; callers that cannot hold it (SQL text)
 * check for it themselves. Pure functions: thread-safe.
 */
#ifndef CJ_UTF8_H
#define CJ_UTF8_H

#include <stddef.h>

/* The length in bytes (1-4) of the well-formed character that starts s,
 * reading at most n bytes; 0 when s[0..n) does not start with one (or n is
 * 0). */
size_t utf8_char_len(const char *s, size_t n);

/* 1 when s[0..n) is entirely well-formed UTF-8 (n == 0 included), else 0. */
int utf8_valid(const char *s, size_t n);

#endif
