/*
 * cj.h - the project's result codes and a few tiny helpers every module uses.
 *
 * Every fallible function in catchup-jobs returns one of these codes (0 is
 * success). Library codes (CURLcode, MHD_Result, libpq and SQLite errors) are
 * translated at the module boundary and never travel upward. The router is the
 * only place that maps these codes to HTTP status codes.
 */
#ifndef CJ_H
#define CJ_H

#include <stddef.h>

#define CJ_WUR __attribute__((warn_unused_result))
#define CJ_PRINTF(f, a) __attribute__((format(printf, f, a)))

enum cj_result {
	CJ_OK = 0,
	CJ_ENOMEM, /* allocation failed */
	CJ_EINVAL, /* bad input from a caller or a client */
	CJ_ETOOBIG, /* a size limit was exceeded */
	CJ_EAUTH, /* credentials missing or invalid (401) */
	CJ_EFORBIDDEN, /* valid identity, not allowed (403) */
	CJ_ENOTFOUND, /* no such thing */
	CJ_EEXISTS, /* already exists / duplicate */
	CJ_ECONFLICT, /* held by someone else right now */
	CJ_EUNAVAIL, /* upstream unreachable or answered 5xx / 429 */
	CJ_ETIMEOUT, /* upstream or deadline timeout */
	CJ_ECONFIG, /* configuration fault (wrong token, bad setting) */
	CJ_ESTORAGE, /* database error */
	CJ_ENOKEYS, /* no token-signing key has ever been loaded */
	CJ_EUPSTREAM, /* upstream answered something we cannot use */
	CJ_EINTERNAL, /* broken invariant or unexpected library failure */
	CJ_RESULT_MAX
};

/* A static, lowercase description of a result code. Never NULL. */
const char *cj_strerror(int code);

/* Formats a message into err (when err is non-NULL and errlen > 0) and
 * returns rc: `return cj_errorf(err, errlen, CJ_EINVAL, "x: %s", why);`. */
int cj_errorf(char *err, size_t errlen, int rc, const char *fmt, ...) CJ_PRINTF(4, 5);

/* Abort with a message: only for broken invariants, never for bad input. */
/* Copies src into dst (size > 0 bytes), cut to fit and NUL-terminated, as
 * snprintf(dst, size, "%s", src) does without the format engine (hot
 * paths copy several strings per request). Returns strlen(src): a result
 * >= size means it was cut. */
size_t cj_strcpy(char *dst, size_t size, const char *src);

#define BUG(msg) cj_bug(__FILE__, __LINE__, (msg))
__attribute__((noreturn)) void cj_bug(const char *file, int line, const char *msg);

#endif
