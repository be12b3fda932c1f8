/*
 * schema.h - declarative payload schemas and the one validator that checks
 * them, at enqueue time (400 invalid_payload) and before a job runs
 * (permanent failure). Every payload is a JSON object; unknown fields are
 * ignored; `idempotencyKey` (string, 1-200 characters) is allowed everywhere.
 *
 * Schemas are static tables: thread-safe.
 */
#ifndef CJ_SCHEMA_H
#define CJ_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "cj.h"

enum field_type { FT_STRING, FT_BOOL, FT_INT, FT_ENUM };

struct field_spec {
	const char *name; /* NULL ends the table */
	enum field_type type;
	int required;
	long long min, max; /* FT_STRING: length in characters; FT_INT: value */
	const char *const *choices; /* FT_ENUM: NULL-terminated allowed strings */
};

/* Ends every field table. */
#define FIELD_END                                                                                  \
	{                                                                                          \
		NULL, FT_STRING, 0, 0, 0, NULL                                                     \
	}

/* The longest idempotencyKey, in characters (SPEC §7). */
#define SCHEMA_IDEMPOTENCY_KEY_MAX 200

/* 1 when v is a usable idempotencyKey (a string of 1-200 characters): the
 * one rule the validator and the job runner's key derivation share. */
int schema_idempotency_key_ok(const json_t *v);

/* CJ_OK, or CJ_EINVAL with err naming the field ("userId: required"). */
int schema_validate(const struct field_spec *fields, const json_t *payload, char *err,
                    size_t errlen) CJ_WUR;

#endif
