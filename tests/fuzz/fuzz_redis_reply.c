/*
 * fuzz_redis_reply.c - libFuzzer target for the Upstash answer parser
 * (src/redis_reply.c): redis_reply_parse and redis_reply_parse_pipeline on
 * arbitrary bytes. The first input byte chooses the entry point, base64 and
 * the expected pipeline length; the rest is the body. Checks that every
 * CJ_OK result is a well-formed tree and that nothing leaks or crashes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct redis_reply *r, int depth)
{
	size_t i;

	if (depth > 64)
		abort();
	switch (r->type) {
	case REDIS_STRING:
	case REDIS_ERROR:
		if (!r->str || r->str[r->len] != '\0')
			abort();
		break;
	case REDIS_ARRAY:
		if (r->n && !r->elems)
			abort();
		for (i = 0; i < r->n; i++)
			walk(r->elems[i], depth + 1);
		break;
	case REDIS_INTEGER:
	case REDIS_NIL:
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redis_reply *one = NULL, **items = NULL;
	const char *body;
	char err[256];
	int base64, rc;
	size_t n, i;

	if (size < 1)
		return 0;
	base64 = data[0] & 1;
	n = (size_t)(data[0] >> 2 & 7);
	body = (const char *)data + 1;
	if (data[0] & 2) {
		rc =
		    redis_reply_parse_pipeline(body, size - 1, base64, n, &items, err, sizeof(err));
		if (rc == CJ_OK) {
			for (i = 0; i < n; i++)
				walk(items[i], 0);
			for (i = 0; i < n; i++)
				redis_reply_free(items[i]);
			free(items);
		} else if (items) {
			abort();
		}
	} else {
		rc = redis_reply_parse(body, size - 1, base64, &one, err, sizeof(err));
		if (rc == CJ_OK)
			walk(one, 0);
		else if (one)
			abort();
		redis_reply_free(one);
	}
	if (rc != CJ_OK && !memchr(err, '\0', sizeof(err)))
		abort();
	return 0;
}
