/*
 * cj.c - result code descriptions and the BUG() handler.
 */
#include "cj.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const descriptions[CJ_RESULT_MAX] = {
    [CJ_OK] = "ok",
    [CJ_ENOMEM] = "out of memory",
    [CJ_EINVAL] = "invalid input",
    [CJ_ETOOBIG] = "too large",
    [CJ_EAUTH] = "unauthenticated",
    [CJ_EFORBIDDEN] = "forbidden",
    [CJ_ENOTFOUND] = "not found",
    [CJ_EEXISTS] = "already exists",
    [CJ_ECONFLICT] = "conflict",
    [CJ_EUNAVAIL] = "unavailable",
    [CJ_ETIMEOUT] = "timeout",
    [CJ_ECONFIG] = "configuration error",
    [CJ_ESTORAGE] = "storage error",
    [CJ_ENOKEYS] = "no signing keys loaded",
    [CJ_EUPSTREAM] = "unusable upstream answer",
    [CJ_EINTERNAL] = "internal error",
};

const char *cj_strerror(int code)
{
	if (code < 0 || code >= CJ_RESULT_MAX || !descriptions[code])
		return "unknown error";
	return descriptions[code];
}

int cj_errorf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void cj_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "BUG at %s:%d: %s\n", file, line, msg);
	abort();
}

size_t cj_strcpy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src), c = n < size ? n : size - 1;

	memcpy(dst, src, c);
	dst[c] = '\0';
	return n;
}
