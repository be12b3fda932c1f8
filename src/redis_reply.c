/*
 * redis_reply.c - turns Upstash REST answer bodies into struct redis_reply.
 *
 * Owns the parsing of `{"result": ...}` / `{"error": "..."}` objects and of
 * pipeline arrays of them, including base64 decoding of strings (requests
 * carry `Upstash-Encoding: base64`). The body is untrusted: nesting depth and
 * element counts are bounded, every type is checked, and anything unexpected
 * is CJ_EUPSTREAM with a reason in err. It never echoes body bytes into err
 * beyond short, printable excerpts (the body never holds our token anyway).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "json_in.h"
#include "redis_rest.h"
#include "utf8.h"

/* Our replies are a handful of scalars; these bounds only stop hostile input. */
#define REPLY_MAX_DEPTH 32
#define REPLY_MAX_NODES 1000000

struct parse_ctx {
	int base64;
	size_t nodes;
	char *err;
	size_t errlen;
};

void redis_reply_free(struct redis_reply *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		redis_reply_free(r->elems[i]);
	free(r->elems);
	free(r->str);
	free(r);
}

static int fail(struct parse_ctx *pc, int rc, const char *what)
{
	if (pc->err && pc->errlen)
		snprintf(pc->err, pc->errlen, "invalid upstash answer: %s", what);
	return rc;
}

static struct redis_reply *reply_alloc(enum redis_reply_type type)
{
	struct redis_reply *r = calloc(1, sizeof(*r));

	if (r)
		r->type = type;
	return r;
}

/* Copies len bytes into a fresh NUL-terminated string. */
static char *dup_bytes(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* A result string's bytes s[0..len) into r. */
static int convert_bytes(struct parse_ctx *pc, const char *s, size_t len, struct redis_reply *r)
{
	unsigned char *dec;
	size_t declen;
	int rc;

	/* Upstash leaves the status "OK" as it is; SRH encodes it ("T0s="). */
	if (!pc->base64 || (len == 2 && !memcmp(s, "OK", 2))) {
		r->str = dup_bytes(s, len);
		if (!r->str)
			return fail(pc, CJ_ENOMEM, "out of memory");
		r->len = len;
		return CJ_OK;
	}
	rc = b64_decode(s, len, &dec, &declen);
	if (rc == CJ_ENOMEM)
		return fail(pc, CJ_ENOMEM, "out of memory");
	if (rc)
		return fail(pc, CJ_EUPSTREAM, "a string is not valid base64");
	r->str = (char *)dec;
	r->len = declen;
	return CJ_OK;
}

static int convert_string(struct parse_ctx *pc, json_t *j, struct redis_reply *r)
{
	return convert_bytes(pc, json_string_value(j), json_string_length(j), r);
}

static int convert(struct parse_ctx *pc, json_t *j, int depth, struct redis_reply **out);

static int convert_array(struct parse_ctx *pc, json_t *j, int depth, struct redis_reply *r)
{
	size_t i, n = json_array_size(j);
	int rc;

	if (depth >= REPLY_MAX_DEPTH)
		return fail(pc, CJ_EUPSTREAM, "arrays nested too deeply");
	if (n > REPLY_MAX_NODES - pc->nodes)
		return fail(pc, CJ_EUPSTREAM, "too many elements");
	pc->nodes += n;
	if (!n)
		return CJ_OK;
	r->elems = calloc(n, sizeof(*r->elems));
	if (!r->elems)
		return fail(pc, CJ_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		rc = convert(pc, json_array_get(j, i), depth + 1, &r->elems[i]);
		/* n counts converted elements so redis_reply_free sees a valid tree. */
		r->n = i + (rc == CJ_OK);
		if (rc)
			return rc;
	}
	return CJ_OK;
}

/* Converts one result value. On failure *out is NULL and nothing leaks. */
static int convert(struct parse_ctx *pc, json_t *j, int depth, struct redis_reply **out)
{
	struct redis_reply *r;
	int rc = CJ_OK;

	*out = NULL;
	switch (json_typeof(j)) {
	case JSON_STRING:
		r = reply_alloc(REDIS_STRING);
		if (r)
			rc = convert_string(pc, j, r);
		break;
	case JSON_INTEGER:
		r = reply_alloc(REDIS_INTEGER);
		if (r)
			r->integer = (long long)json_integer_value(j);
		break;
	case JSON_NULL:
		r = reply_alloc(REDIS_NIL);
		break;
	case JSON_ARRAY:
		r = reply_alloc(REDIS_ARRAY);
		if (r)
			rc = convert_array(pc, j, depth, r);
		break;
	case JSON_REAL:
		return fail(pc, CJ_EUPSTREAM, "a result holds a fractional number");
	default:
		return fail(pc, CJ_EUPSTREAM, "a result holds an object or a boolean");
	}
	if (!r)
		return fail(pc, CJ_ENOMEM, "out of memory");
	if (rc) {
		redis_reply_free(r);
		return rc;
	}
	*out = r;
	return CJ_OK;
}

/* One `{"result": X}` or `{"error": "..."}` object. */
static int convert_item(struct parse_ctx *pc, json_t *obj, struct redis_reply **out)
{
	json_t *res, *e;
	struct redis_reply *r;

	*out = NULL;
	if (!json_is_object(obj))
		return fail(pc, CJ_EUPSTREAM, "expected an object");
	res = json_object_get(obj, "result");
	e = json_object_get(obj, "error");
	if (res && e)
		return fail(pc, CJ_EUPSTREAM, "both result and error");
	if (res)
		return convert(pc, res, 0, out);
	if (!e)
		return fail(pc, CJ_EUPSTREAM, "neither result nor error");
	if (!json_is_string(e))
		return fail(pc, CJ_EUPSTREAM, "error is not a string");
	/* Error texts are plain text even with base64 encoding. */
	r = reply_alloc(REDIS_ERROR);
	if (!r)
		return fail(pc, CJ_ENOMEM, "out of memory");
	r->len = json_string_length(e);
	r->str = dup_bytes(json_string_value(e), r->len);
	if (!r->str) {
		free(r);
		return fail(pc, CJ_ENOMEM, "out of memory");
	}
	*out = r;
	return CJ_OK;
}

static json_t *load(struct parse_ctx *pc, const char *body, size_t len)
{
	json_error_t je;
	json_t *j;

	if (!body) {
		fail(pc, CJ_EUPSTREAM, "empty body");
		return NULL;
	}
	/* Depth is capped before parsing: jansson recurses per level. */
	if (!json_in_depth_ok(body, len, JSON_IN_MAX_DEPTH)) {
		fail(pc, CJ_EUPSTREAM, "invalid upstash answer: nested too deep");
		return NULL;
	}
	j = json_loadb(body, len, JSON_ALLOW_NUL, &je);
	if (!j && pc->err && pc->errlen)
		snprintf(pc->err, pc->errlen, "invalid upstash answer: not JSON (%s at %d:%d)",
		         je.text, je.line, je.column);
	return j;
}

/* The integer of s[0..n) when it is one as JSON writes it (no leading
 * zeros, at most 18 digits, so it cannot overflow); 0 when it is not. */
static int simple_integer(const char *s, size_t n, long long *v)
{
	size_t i = s[0] == '-';
	long long x = 0;

	if (n <= i || n - i > 18 || (s[i] == '0' && n - i > 1))
		return 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	*v = s[0] == '-' ? -x : x;
	return 1;
}

/* Nearly every answer is `{"result":X}` with X null, an integer or a string
 * without escapes: read those without building a JSON tree. 1 with *out set
 * (or an error), 0 when the body is anything else, for the full parser.
 * The fuzzer checks both give the same reply for every input. */
static int parse_simple(struct parse_ctx *pc, const char *body, size_t len,
                        struct redis_reply **out, int *rc)
{
	static const char head[] = "{\"result\":";
	const size_t hl = sizeof(head) - 1;
	const char *v;
	size_t n;
	struct redis_reply *r;
	long long i;

	if (len < hl + 2 || memcmp(body, head, hl) || body[len - 1] != '}')
		return 0;
	v = body + hl;
	n = len - hl - 1; /* the value, between the head and the final '}' */
	if (n == 4 && !memcmp(v, "null", 4)) {
		r = reply_alloc(REDIS_NIL);
	} else if (simple_integer(v, n, &i)) {
		r = reply_alloc(REDIS_INTEGER);
		if (r)
			r->integer = i;
	} else if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		for (size_t k = 1; k < n - 1; k++)
			if ((unsigned char)v[k] < 0x20 || v[k] == '"' || v[k] == '\\')
				return 0;
		if (!utf8_valid(v + 1, n - 2))
			return 0;
		r = reply_alloc(REDIS_STRING);
		if (r && (*rc = convert_bytes(pc, v + 1, n - 2, r))) {
			redis_reply_free(r);
			return 1;
		}
	} else {
		return 0;
	}
	if (!r) {
		*rc = fail(pc, CJ_ENOMEM, "out of memory");
		return 1;
	}
	*out = r;
	*rc = CJ_OK;
	return 1;
}

int redis_reply_parse(const char *body, size_t len, int base64, struct redis_reply **out, char *err,
                      size_t errlen)
{
	struct parse_ctx pc = {base64, 0, err, errlen};
	json_t *j;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (body && parse_simple(&pc, body, len, out, &rc))
		return rc;
	j = load(&pc, body, len);
	if (!j)
		return CJ_EUPSTREAM;
	rc = convert_item(&pc, j, out);
	json_decref(j);
	return rc;
}

int redis_reply_parse_pipeline(const char *body, size_t len, int base64, size_t n,
                               struct redis_reply ***out, char *err, size_t errlen)
{
	struct parse_ctx pc = {base64, 0, err, errlen};
	struct redis_reply **items = NULL;
	size_t i;
	json_t *j;
	int rc = CJ_OK;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	j = load(&pc, body, len);
	if (!j)
		return CJ_EUPSTREAM;
	if (!json_is_array(j)) {
		rc = fail(&pc, CJ_EUPSTREAM, "a pipeline answer is not an array");
		goto done;
	}
	if (json_array_size(j) != n) {
		if (err && errlen)
			snprintf(err, errlen,
			         "invalid upstash answer: %zu pipeline items for %zu commands",
			         json_array_size(j), n);
		rc = CJ_EUPSTREAM;
		goto done;
	}
	if (n > REPLY_MAX_NODES) {
		rc = fail(&pc, CJ_EUPSTREAM, "too many elements");
		goto done;
	}
	pc.nodes = n;
	/* One spare slot so that n == 0 still yields a valid (empty) array. */
	items = calloc(n + 1, sizeof(*items));
	if (!items) {
		rc = fail(&pc, CJ_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		rc = convert_item(&pc, json_array_get(j, i), &items[i]);
		if (rc)
			break;
	}
	if (rc) {
		for (i = 0; i < n; i++)
			redis_reply_free(items[i]);
		free(items);
		goto done;
	}
	*out = items;
done:
	json_decref(j);
	return rc;
}
