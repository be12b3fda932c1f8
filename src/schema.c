/*
 * schema.c - the payload validator; see schema.h.
 *
 * Messages name the field first ("userId: must be a string of 1-128
 * characters") because they travel to the enqueuing service and into dead
 * letters, where the field is what a reader needs.
 */
#include "schema.h"

#include <stdio.h>
#include <string.h>

static const struct field_spec idempotency_key = {"idempotencyKey",           FT_STRING, 0, 1,
                                                  SCHEMA_IDEMPOTENCY_KEY_MAX, NULL};

/* Length in Unicode characters; jansson guarantees valid UTF-8. */
static size_t utf8_chars(const char *s, size_t bytes)
{
	size_t n = 0, i;

	for (i = 0; i < bytes; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

int schema_idempotency_key_ok(const json_t *v)
{
	size_t len;

	if (!json_is_string(v))
		return 0;
	len = utf8_chars(json_string_value(v), json_string_length(v));
	return len >= 1 && len <= SCHEMA_IDEMPOTENCY_KEY_MAX;
}

static int check_field(const struct field_spec *f, const json_t *v, char *err, size_t errlen)
{
	size_t len;

	switch (f->type) {
	case FT_STRING:
		if (!json_is_string(v))
			goto type;
		len = utf8_chars(json_string_value(v), json_string_length(v));
		if ((long long)len < f->min || (long long)len > f->max) {
			snprintf(err, errlen, "%s: must be a string of %lld-%lld characters",
			         f->name, f->min, f->max);
			return CJ_EINVAL;
		}
		return CJ_OK;
	case FT_BOOL:
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "%s: must be true or false", f->name);
			return CJ_EINVAL;
		}
		return CJ_OK;
	case FT_INT:
		if (!json_is_integer(v) || json_integer_value(v) < f->min ||
		    json_integer_value(v) > f->max) {
			snprintf(err, errlen, "%s: must be an integer from %lld to %lld", f->name,
			         f->min, f->max);
			return CJ_EINVAL;
		}
		return CJ_OK;
	case FT_ENUM:
		if (json_is_string(v)) {
			for (const char *const *c = f->choices; c && *c; c++) {
				if (!strcmp(*c, json_string_value(v)))
					return CJ_OK;
			}
		}
		snprintf(err, errlen, "%s: must be one of", f->name);
		for (const char *const *c = f->choices; c && *c; c++) {
			size_t used = strlen(err);

			snprintf(err + used, errlen - used, "%s \"%s\"", c == f->choices ? "" : ",",
			         *c);
		}
		return CJ_EINVAL;
	}
type:
	snprintf(err, errlen, "%s: must be a string of %lld-%lld characters", f->name, f->min,
	         f->max);
	return CJ_EINVAL;
}

int schema_validate(const struct field_spec *fields, const json_t *payload, char *err,
                    size_t errlen)
{
	const json_t *v;
	int rc;

	if (!json_is_object(payload)) {
		snprintf(err, errlen, "payload: must be a JSON object");
		return CJ_EINVAL;
	}
	for (const struct field_spec *f = fields; f && f->name; f++) {
		v = json_object_get(payload, f->name);
		if (!v || json_is_null(v)) {
			if (f->required) {
				snprintf(err, errlen, "%s: required", f->name);
				return CJ_EINVAL;
			}
			continue;
		}
		rc = check_field(f, v, err, errlen);
		if (rc)
			return rc;
	}
	v = json_object_get(payload, idempotency_key.name);
	if (v)
		return check_field(&idempotency_key, v, err, errlen);
	return CJ_OK;
}
