/*
 * clock_store.h - local mode's clock offset kept in the database (SPEC §5.4):
 * emulator_state row 'clock_offset', loaded at start and written on every
 * advance, so the business clock survives a restart (kill -9 included).
 *
 * Cloud mode never calls this: its clock is the wall clock.
 *
 * Thread-safe: advances are serialised in this module, so the offset stored
 * and the offset in memory move together.
 */
#ifndef CJ_CLOCK_STORE_H
#define CJ_CLOCK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cj.h"

struct store;

/* The latest business time the clock may reach (9999-12-31T23:59:59Z): times
 * past it cannot be written in RFC 3339. */
#define CLOCK_STORE_MAX_TIME INT64_C(253402300799)

/* Sets the clock's offset from the stored row (no row: 0). CJ_OK; CJ_ESTORAGE
 * when the row holds no non-negative integer (err names it); the store's
 * error. */
int clock_store_load(struct store *s, char *err, size_t errlen) CJ_WUR;

/* Moves the clock forward by seconds: the new offset is written first, then
 * the clock moves (its subscribers are woken). *offset receives the new
 * offset. CJ_OK; CJ_EINVAL when seconds is not positive or would carry the
 * clock past CLOCK_STORE_MAX_TIME; the store's error (the clock has not
 * moved). */
int clock_store_advance(struct store *s, int64_t seconds, int64_t *offset, char *err,
                        size_t errlen) CJ_WUR;

#endif
