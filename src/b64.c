/*
 * b64.c - base64 and base64url; see b64.h.
 */
#include "b64.h"

#include <stdlib.h>

static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *encode(const unsigned char *in, size_t len, const char *alpha, int pad)
{
	size_t n = 4 * ((len + 2) / 3) + 1, i, o = 0;
	char *out;

	if (len > ((size_t)-1) / 2)
		return NULL;
	out = malloc(n);
	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		out[o++] = alpha[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;

		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

char *b64_encode(const void *data, size_t len)
{
	return encode(data, len, std_alpha, 1);
}

char *b64url_encode(const void *data, size_t len)
{
	return encode(data, len, url_alpha, 0);
}

static int value_of(char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int decode(const char *s, size_t slen, int url, unsigned char **out, size_t *outlen)
{
	size_t pad = 0, data_len, i, o = 0, rem;
	unsigned acc = 0;
	int bits = 0;
	unsigned char *buf;

	while (pad < 2 && slen > pad && s[slen - 1 - pad] == '=')
		pad++;
	if (pad && slen % 4)
		return CJ_EINVAL;
	if (!url && slen % 4)
		return CJ_EINVAL;
	data_len = slen - pad;
	rem = data_len % 4;
	if (rem == 1)
		return CJ_EINVAL;
	if (pad && ((pad == 1 && rem != 3) || (pad == 2 && rem != 2)))
		return CJ_EINVAL;
	buf = malloc(data_len / 4 * 3 + 3 + 1);
	if (!buf)
		return CJ_ENOMEM;
	for (i = 0; i < data_len; i++) {
		int v = value_of(s[i], url);

		if (v < 0) {
			free(buf);
			return CJ_EINVAL;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero: one canonical encoding per value. */
	if (bits && (acc & ((1u << bits) - 1))) {
		free(buf);
		return CJ_EINVAL;
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return CJ_OK;
}

int b64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	return decode(s, slen, 0, out, outlen);
}

int b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	return decode(s, slen, 1, out, outlen);
}
