/*
 * fuzz_redis_reply.c - libFuzzer target for the Upstash answer parser
 * (src/redis_reply.c): redis_reply_parse and redis_reply_parse_pipeline on
 * arbitrary bytes. The first input byte chooses the entry point, base64 and
 * the expected pipeline length; the rest is the body. Checks that every
 * CJ_OK result is a well-formed tree and that nothing leaks or crashes, and
 * that the fast path for simple answers agrees with the full JSON parser:
 * the same body after a leading space (JSON allows it; the fast path does
 * not take it) must give the same code and the same reply.
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

static int same(const struct redis_reply *a, const struct redis_reply *b)
{
	if (!a || !b)
		return a == b;
	if (a->type != b->type || a->len != b->len || a->integer != b->integer || a->n != b->n)
		return 0;
	if ((a->str || b->str) && (!a->str || !b->str || memcmp(a->str, b->str, a->len)))
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!same(a->elems[i], b->elems[i]))
			return 0;
	return 1;
}

/* body through the full parser (a leading space keeps it off the fast path). */
static void check_against_full(const char *body, size_t len, int base64, int rc,
                               const struct redis_reply *got)
{
	struct redis_reply *full = NULL;
	char err[256];
	char *spaced = malloc(len + 1);
	int frc;

	if (!spaced)
		return;
	spaced[0] = ' ';
	memcpy(spaced + 1, body, len);
	frc = redis_reply_parse(spaced, len + 1, base64, &full, err, sizeof(err));
	if (frc != rc || !same(got, full))
		abort();
	redis_reply_free(full);
	free(spaced);
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
		check_against_full(body, size - 1, base64, rc, one);
		redis_reply_free(one);
	}
	if (rc != CJ_OK && !memchr(err, '\0', sizeof(err)))
		abort();
	return 0;
}
