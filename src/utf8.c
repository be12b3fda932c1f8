/*
 * utf8.c - well-formed UTF-8; see utf8.h.
 *
 * Decodes each sequence and checks the code point rather than listing the
 * valid byte ranges of RFC 3629's table: the three checks (at least the
 * minimum for its length, not a surrogate, at most U+10FFFF) say the rule
 * in the terms people know it by.
 */
#include "utf8.h"

#include <stdint.h>

size_t utf8_char_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t need, k;
	uint32_t cp, min;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	/* 0x80-0xc1 are continuation bytes or overlong 2-byte leads; 0xf5-0xff
	 * would start code points above U+10FFFF (or nothing at all). */
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 1, cp = p[0] & 0x1f, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 2, cp = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 3, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < need + 1)
		return 0;
	for (k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

int utf8_valid(const char *s, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		len = utf8_char_len(s + i, n - i);
		if (!len)
			return 0;
		i += len;
	}
	return 1;
}
