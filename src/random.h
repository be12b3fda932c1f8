/*
 * random.h - cryptographically strong random bytes and hex ids (getrandom(2)).
 * Thread-safe.
 */
#ifndef CJ_RANDOM_H
#define CJ_RANDOM_H

#include <stddef.h>

#include "cj.h"

/* Fills buf with n random bytes. CJ_OK or CJ_EINTERNAL. */
int random_bytes(void *buf, size_t n) CJ_WUR;
/* Writes 2*nbytes lowercase hex digits and a NUL into out (outlen must be
 * at least 2*nbytes+1): a 128-bit id is random_hex(out, 33, 16). */
int random_hex(char *out, size_t outlen, size_t nbytes) CJ_WUR;

#endif
