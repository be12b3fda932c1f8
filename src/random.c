/*
 * random.c - random bytes from the kernel; see random.h.
 */
#include "random.h"

#include <errno.h>
#include <sys/random.h>

int random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return CJ_EINTERNAL;
		}
		p += got;
		n -= (size_t)got;
	}
	return CJ_OK;
}

int random_hex(char *out, size_t outlen, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t i;

	if (nbytes > sizeof(raw) || outlen < 2 * nbytes + 1)
		return CJ_EINVAL;
	if (random_bytes(raw, nbytes))
		return CJ_EINTERNAL;
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return CJ_OK;
}
