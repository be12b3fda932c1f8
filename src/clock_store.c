/*
 * clock_store.c - the clock offset's row in emulator_state; see
 * clock_store.h.
 *
 * Write first, then move: if the process dies after the write and before
 * the clock moves in memory, the next start loads the new offset, which is
 * what the caller asked for (it got no answer and may ask again; a second
 * advance moves further, as any repeated advance does). The upsert only
 * ever raises the stored value, so a slow writer cannot set it back.
 */
#include "clock_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "store.h"

#define OFFSET_KEY "clock_offset"

/* Serialises advances: read offset, write row, move clock. */
static pthread_mutex_t advance_lock = PTHREAD_MUTEX_INITIALIZER;

int clock_store_load(struct store *s, char *err, size_t errlen)
{
	struct store_param p[1] = {store_p_text(OFFSET_KEY)};
	struct store_rows *rows = NULL;
	const char *text;
	long long v = 0;
	char *end;
	int rc;

	rc = store_exec(s, "SELECT value FROM emulator_state WHERE key = $1", p, 1, &rows, err,
	                errlen);
	if (rc)
		return rc;
	if (store_rows_next(rows)) {
		text = store_rows_text(rows, 0);
		errno = 0;
		v = text ? strtoll(text, &end, 10) : -1;
		if (!text || end == text || *end || errno || v < 0) {
			store_rows_free(rows);
			return cj_errorf(err, errlen, CJ_ESTORAGE,
			                 "emulator_state %s is not a non-negative integer",
			                 OFFSET_KEY);
		}
	}
	store_rows_free(rows);
	if (clock_set_offset((int64_t)v))
		return cj_errorf(err, errlen, CJ_EINTERNAL, "clock refused offset %lld", v);
	return CJ_OK;
}

int clock_store_advance(struct store *s, int64_t seconds, int64_t *offset, char *err, size_t errlen)
{
	struct store_param p[2];
	char value[32];
	int64_t next;
	int rc;

	if (seconds <= 0)
		return cj_errorf(err, errlen, CJ_EINVAL, "seconds must be a positive integer");
	pthread_mutex_lock(&advance_lock);
	if (seconds > CLOCK_STORE_MAX_TIME - clock_now_s()) {
		pthread_mutex_unlock(&advance_lock);
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "seconds would move the clock past 9999-12-31");
	}
	next = clock_offset_s() + seconds;
	snprintf(value, sizeof(value), "%lld", (long long)next);
	p[0] = store_p_text(OFFSET_KEY);
	p[1] = store_p_text(value);
	rc = store_exec(
	    s,
	    "INSERT INTO emulator_state (key, value) VALUES ($1, $2) "
	    "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
	    "WHERE CAST(emulator_state.value AS BIGINT) < CAST(excluded.value AS BIGINT)",
	    p, 2, NULL, err, errlen);
	if (rc == CJ_OK && clock_set_offset(next))
		rc = cj_errorf(err, errlen, CJ_EINTERNAL, "clock refused offset %lld",
		               (long long)next);
	pthread_mutex_unlock(&advance_lock);
	if (rc == CJ_OK)
		*offset = next;
	return rc;
}
