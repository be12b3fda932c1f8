/*
 * b64.h - base64 (RFC 4648 §4) and base64url (§5) encoding and strict decoding.
 *
 * Decoders reject any character outside the alphabet, misplaced padding and
 * non-zero trailing bits, so two different strings never decode to the same
 * bytes (a token's signature cannot be re-encoded into a second valid form).
 * Returned buffers are malloc'd, NUL-terminated, and freed by the caller.
 */
#ifndef CJ_B64_H
#define CJ_B64_H

#include <stddef.h>

#include "cj.h"

/* Standard alphabet with '=' padding. NULL on allocation failure. */
char *b64_encode(const void *data, size_t len);
/* URL alphabet without padding (JWT segments). */
char *b64url_encode(const void *data, size_t len);

/* Standard alphabet; padding required when len % 4 != 0 is not allowed.
 * CJ_OK, CJ_EINVAL (not base64) or CJ_ENOMEM. */
int b64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen) CJ_WUR;
/* URL alphabet; padding optional. */
int b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen) CJ_WUR;

#endif
