/*
 * json_in.h - JSON from outside the process (request bodies, upstream
 * answers), parsed only after a depth check that does not recurse.
 *
 * jansson's parser, serialiser, copier and destructor all recurse once per
 * nesting level; a body nested a few hundred levels deep would overflow a
 * connection thread's stack wherever one of them runs. SPEC §5 caps every
 * accepted JSON body at 64 levels (the top-level object or array is level
 * 1), checked here by one linear scan of the bytes before jansson sees them.
 *
 * Pure functions: thread-safe.
 */
#ifndef CJ_JSON_IN_H
#define CJ_JSON_IN_H

#include <jansson.h>
#include <stddef.h>

#define JSON_IN_MAX_DEPTH 64

/* 1 when text nests at most max_depth arrays/objects deep (brackets inside
 * strings do not count); 0 otherwise. Malformed text is judged by its
 * brackets alone: the parser rejects it afterwards. */
int json_in_depth_ok(const char *text, size_t len, int max_depth);

/* Parses text (flags as json_loadb) if it nests at most JSON_IN_MAX_DEPTH
 * levels. NULL on failure, with err saying why ("nests deeper than 64
 * levels", or the parser's message with its position); *too_deep (may be
 * NULL) tells the two apart. The caller owns the returned reference. */
json_t *json_in_parse(const char *text, size_t len, size_t flags, int *too_deep, char *err,
                      size_t errlen);

#endif
