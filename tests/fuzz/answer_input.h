/*
 * answer_input.h - how the answer-parser targets (fuzz_google,
 * fuzz_messaging) read their input: an HTTP answer as text, so seeds are
 * readable files.
 *
 *   line 1       which parser, a space, the status ("calendar 410",
 *                "twilio 201"); a status that is no number is 0
 *   lines 2..    header lines ("Retry-After: 30"), up to an empty line
 *   the rest     the body, byte for byte
 *
 * Lines end with "\n" ("\r\n" is kept in the header block, as curl gives
 * it). Header-only functions: each target includes it once.
 */
#ifndef CJ_FUZZ_ANSWER_INPUT_H
#define CJ_FUZZ_ANSWER_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct answer_input {
	const char *tag; /* the first word of line 1, not NUL-terminated */
	size_t taglen;
	long status;
	const char *headers; /* the header block, without the empty line */
	size_t hlen;
	const char *body;
	size_t len;
};

/* Whether the tag is word. */
static int answer_input_is(const struct answer_input *in, const char *word)
{
	return in->taglen == strlen(word) && !memcmp(in->tag, word, in->taglen);
}

static void answer_input_read(const uint8_t *data, size_t size, struct answer_input *in)
{
	const char *p = (const char *)data, *end = p + size, *nl, *blank, *sp, *q;
	long st = 0;
	int digits = 0;

	memset(in, 0, sizeof(*in));
	nl = memchr(p, '\n', size);
	sp = memchr(p, ' ', (size_t)((nl ? nl : end) - p));
	in->tag = p;
	in->taglen = sp ? (size_t)(sp - p) : 0;
	for (q = sp ? sp + 1 : p; q < (nl ? nl : end) && *q >= '0' && *q <= '9' && digits < 4;
	     q++, digits++)
		st = st * 10 + (*q - '0');
	in->status = st;
	if (!nl) {
		in->body = end;
		return;
	}
	p = nl + 1;
	/* The header block runs to the first empty line ("\n\n" or "\n\r\n"). */
	in->headers = p;
	blank = p;
	while (blank < end) {
		const char *eol = memchr(blank, '\n', (size_t)(end - blank));
		size_t n = eol ? (size_t)(eol - blank) : (size_t)(end - blank);

		if (n == 0 || (n == 1 && blank[0] == '\r')) {
			in->hlen = (size_t)(blank - p);
			in->body = eol ? eol + 1 : end;
			in->len = (size_t)(end - in->body);
			return;
		}
		if (!eol)
			break;
		blank = eol + 1;
	}
	in->hlen = (size_t)(end - p); /* no empty line: all headers, no body */
	in->body = end;
}

#endif
