/*
 * console_assets.h - the operator console's files (those of src/console/), compiled
 * into the binary by src/console/embed.py at build time, as the migrations
 * are. Read-only static data: thread-safe. console_web.c serves them.
 */
#ifndef CJ_CONSOLE_ASSETS_H
#define CJ_CONSOLE_ASSETS_H

#include <stddef.h>

struct console_asset {
	const char *name; /* "index.html", "console.js", … (no directory) */
	const char *content_type; /* "text/html; charset=utf-8", … */
	const char *etag; /* quoted hash of the bytes: "\"9f2c…\"" */
	const char *data; /* the file's bytes (NUL-terminated, but use len) */
	size_t len;
};

/* Sorted by name, ended by a row with name NULL. */
extern const struct console_asset console_assets[];
extern const size_t console_assets_count;

#endif
