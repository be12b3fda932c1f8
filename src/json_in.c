/*
 * json_in.c - the depth check and guarded parse of untrusted JSON; see
 * json_in.h.
 *
 * The scan tracks only whether it is inside a string (and after a
 * backslash there); every '[' or '{' outside strings opens a level and
 * every ']' or '}' closes one. It never allocates and never recurses.
 */
#include "json_in.h"

#include <stdio.h>

int json_in_depth_ok(const char *text, size_t len, int max_depth)
{
	int depth = 0, in_string = 0, escaped = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (escaped)
				escaped = 0;
			else if (c == '\\')
				escaped = 1;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_string = 1;
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return 0;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return 1;
}

json_t *json_in_parse(const char *text, size_t len, size_t flags, int *too_deep, char *err,
                      size_t errlen)
{
	json_error_t jerr;
	json_t *v;

	if (too_deep)
		*too_deep = 0;
	if (!json_in_depth_ok(text, len, JSON_IN_MAX_DEPTH)) {
		if (too_deep)
			*too_deep = 1;
		if (err && errlen)
			snprintf(err, errlen, "nests deeper than %d levels", JSON_IN_MAX_DEPTH);
		return NULL;
	}
	v = json_loadb(text, len, flags, &jerr);
	if (!v && err && errlen)
		snprintf(err, errlen, "%s at line %d, column %d", jerr.text, jerr.line,
		         jerr.column);
	return v;
}
