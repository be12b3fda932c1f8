/*
 * crypto.c - AES-256-GCM token encryption and key handling; see crypto.h.
 *
 * Owns key material: the 32 key bytes live only inside struct crypto_key
 * and in short-lived buffers that are wiped (OPENSSL_cleanse) before they
 * are freed. The local key file is written to a private temporary file and
 * published with link(2), which fails if another instance won the race, so
 * nobody ever reads a half-written key. Never logs or formats a key, a
 * token or a plaintext.
 */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "random.h"

#define NONCE_BYTES 12
#define TAG_BYTES 16
#define PREFIX "v1:"
/* Authenticated with every message: the format version and our purpose. */
#define AAD_LABEL "catchup-jobs token v1"
/* Base64 of 32 bytes is 44 characters; allow a trailing newline (CRLF). */
#define KEY_FILE_MIN 44
#define KEY_FILE_MAX 46

struct crypto_key {
	unsigned char k[CRYPTO_KEY_BYTES];
};

static int key_new(const unsigned char *bytes, struct crypto_key **out)
{
	struct crypto_key *k = malloc(sizeof(*k));

	if (!k)
		return CJ_ENOMEM;
	memcpy(k->k, bytes, CRYPTO_KEY_BYTES);
	*out = k;
	return CJ_OK;
}

void crypto_key_free(struct crypto_key *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

void crypto_secret_free(void *p, size_t len)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

int crypto_key_generate(struct crypto_key **out)
{
	unsigned char raw[CRYPTO_KEY_BYTES];
	int rc;

	*out = NULL;
	if (random_bytes(raw, sizeof(raw)))
		return CJ_EINTERNAL;
	rc = key_new(raw, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

char *crypto_key_to_base64(const struct crypto_key *k)
{
	return b64_encode(k->k, sizeof(k->k));
}

/* Decodes trimmed base64 (either alphabet) of exactly 32 bytes into out. */
static int decode_key(const char *s, size_t len, unsigned char out[CRYPTO_KEY_BYTES], size_t *got)
{
	unsigned char *raw = NULL;
	size_t n = 0;
	int rc;

	while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++, len--;
	while (
	    len &&
	    (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	*got = 0;
	rc = b64_decode(s, len, &raw, &n);
	if (rc == CJ_EINVAL)
		rc = b64url_decode(s, len, &raw, &n);
	if (rc)
		return rc;
	*got = n;
	if (n == CRYPTO_KEY_BYTES)
		memcpy(out, raw, CRYPTO_KEY_BYTES);
	crypto_secret_free(raw, n);
	return n == CRYPTO_KEY_BYTES ? CJ_OK : CJ_EINVAL;
}

int crypto_key_from_base64(const char *b64, struct crypto_key **out, char *err, size_t errlen)
{
	unsigned char raw[CRYPTO_KEY_BYTES];
	size_t got;
	int rc;

	*out = NULL;
	if (!b64 || !*b64) {
		snprintf(err, errlen, "TOKEN_ENCRYPTION_KEY is empty");
		return CJ_ECONFIG;
	}
	rc = decode_key(b64, strlen(b64), raw, &got);
	if (rc == CJ_ENOMEM)
		return CJ_ENOMEM;
	if (rc) {
		if (got)
			snprintf(err, errlen,
			         "TOKEN_ENCRYPTION_KEY decodes to %zu bytes; it must be base64 of "
			         "exactly 32 bytes",
			         got);
		else
			snprintf(err, errlen,
			         "TOKEN_ENCRYPTION_KEY is not base64; it must be base64 of exactly "
			         "32 bytes (e.g. openssl rand -base64 32)");
		return CJ_ECONFIG;
	}
	rc = key_new(raw, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* --- The local key file -------------------------------------------------- */

static void pause_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Reads and checks an open key file. CJ_ETOOBIG (used as "try again") when
 * the file is still shorter than a key: a writer may be mid-way. */
static int read_key_fd(int fd, const char *path, struct crypto_key **out, char *err, size_t errlen)
{
	char text[KEY_FILE_MAX + 1];
	unsigned char raw[CRYPTO_KEY_BYTES];
	struct stat st;
	size_t got, n = 0;
	ssize_t r;
	int rc;

	if (fstat(fd, &st)) {
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		return CJ_ECONFIG;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return CJ_ECONFIG;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
		         "%s is accessible to group or others (mode %03o); chmod 600 it", path,
		         (unsigned)(st.st_mode & 0777));
		return CJ_ECONFIG;
	}
	if (st.st_size < KEY_FILE_MIN)
		return CJ_ETOOBIG;
	if (st.st_size > KEY_FILE_MAX) {
		snprintf(err, errlen, "%s has the wrong size for a key (%lld bytes)", path,
		         (long long)st.st_size);
		return CJ_ECONFIG;
	}
	while (n < (size_t)st.st_size && (r = read(fd, text + n, (size_t)st.st_size - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			OPENSSL_cleanse(text, sizeof(text));
			return CJ_ECONFIG;
		}
		n += (size_t)r;
	}
	rc = decode_key(text, n, raw, &got);
	OPENSSL_cleanse(text, sizeof(text));
	if (rc == CJ_ENOMEM)
		return rc;
	if (rc) {
		snprintf(err, errlen, "%s does not hold a base64 32-byte key", path);
		return CJ_ECONFIG;
	}
	rc = key_new(raw, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* Makes a new directory entry durable (best effort). */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Writes a new key to a private temporary file and links it to path.
 * CJ_OK (*out set), CJ_EEXISTS (someone else's key is there now), or an
 * error. */
static int publish_new_key(const char *dir, const char *path, struct crypto_key **out, char *err,
                           size_t errlen)
{
	char tmp[4096], hex[17], *text = NULL;
	struct crypto_key *k = NULL;
	size_t len;
	int fd = -1, rc;

	rc = crypto_key_generate(&k);
	if (rc)
		return rc;
	if (random_hex(hex, sizeof(hex), 8)) {
		rc = CJ_EINTERNAL;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%s.%s", dir, CRYPTO_KEY_FILE, hex);
	text = crypto_key_to_base64(k);
	if (!text) {
		rc = CJ_ENOMEM;
		goto out;
	}
	len = strlen(text);
	text[len] = '\n'; /* replaces the NUL; len + 1 bytes written */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len + 1) != (ssize_t)(len + 1) || fsync(fd)) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		rc = CJ_ECONFIG;
		goto out;
	}
	if (link(tmp, path)) {
		if (errno == EEXIST) {
			rc = CJ_EEXISTS;
		} else {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			rc = CJ_ECONFIG;
		}
		goto out;
	}
	sync_dir(dir);
	*out = k;
	k = NULL;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	crypto_secret_free(text, text ? len + 1 : 0);
	crypto_key_free(k);
	return rc;
}

int crypto_make_private_dir(const char *dir, char *err, size_t errlen)
{
	char buf[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf)) {
		snprintf(err, errlen, "key directory name is empty or too long");
		return CJ_ECONFIG;
	}
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		goto fail;
	return CJ_OK;
fail:
	snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
	return CJ_ECONFIG;
}

int crypto_key_load_or_generate(const char *dir, struct crypto_key **out, int *generated, char *err,
                                size_t errlen)
{
	char path[4096];
	int rc;

	*out = NULL;
	if (generated)
		*generated = 0;
	if (!dir)
		dir = ".";
	rc = crypto_make_private_dir(dir, err, errlen);
	if (rc)
		return rc;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, CRYPTO_KEY_FILE) >= sizeof(path)) {
		snprintf(err, errlen, "key directory name is too long");
		return CJ_ECONFIG;
	}
	/* Bounded: a file shorter than a key is given 2 s to be completed. */
	for (int attempt = 0; attempt < 40; attempt++) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0) {
			rc = read_key_fd(fd, path, out, err, errlen);
			close(fd);
			if (rc != CJ_ETOOBIG)
				return rc;
			pause_ms(50);
			continue;
		}
		if (errno != ENOENT) {
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
			return CJ_ECONFIG;
		}
		rc = publish_new_key(dir, path, out, err, errlen);
		if (rc == CJ_OK && generated)
			*generated = 1;
		if (rc != CJ_EEXISTS)
			return rc;
	}
	snprintf(err, errlen, "%s is too short to hold a key", path);
	return CJ_ECONFIG;
}

/* --- Encryption ---------------------------------------------------------- */

/* The authenticated data: the label, a NUL, then the caller's aad. */
static int add_aad(EVP_CIPHER_CTX *ctx, int enc, const char *aad)
{
	int n;
	int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
	    enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
	size_t alen = aad ? strlen(aad) : 0;

	if (alen > INT_MAX)
		return 0;
	if (update(ctx, NULL, &n, (const unsigned char *)AAD_LABEL, (int)sizeof(AAD_LABEL)) != 1)
		return 0;
	return alen == 0 || update(ctx, NULL, &n, (const unsigned char *)aad, (int)alen) == 1;
}

int crypto_encrypt(const struct crypto_key *k, const void *pt, size_t len, const char *aad,
                   char **out)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *raw = NULL;
	char *b64 = NULL;
	size_t total;
	int n, fin, rc = CJ_EINTERNAL;

	*out = NULL;
	if (len > CRYPTO_MAX_PLAINTEXT)
		return CJ_ETOOBIG;
	total = NONCE_BYTES + len + TAG_BYTES;
	raw = malloc(total);
	ctx = EVP_CIPHER_CTX_new();
	if (!raw || !ctx) {
		rc = CJ_ENOMEM;
		goto out;
	}
	if (random_bytes(raw, NONCE_BYTES))
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->k, raw) != 1 ||
	    !add_aad(ctx, 1, aad))
		goto out;
	n = 0;
	if (len && EVP_EncryptUpdate(ctx, raw + NONCE_BYTES, &n, pt, (int)len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, raw + NONCE_BYTES + n, &fin) != 1 ||
	    (size_t)(n + fin) != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, raw + NONCE_BYTES + len) != 1)
		goto out;
	b64 = b64_encode(raw, total);
	if (!b64) {
		rc = CJ_ENOMEM;
		goto out;
	}
	*out = malloc(strlen(PREFIX) + strlen(b64) + 1);
	if (!*out) {
		rc = CJ_ENOMEM;
		goto out;
	}
	memcpy(*out, PREFIX, strlen(PREFIX));
	memcpy(*out + strlen(PREFIX), b64, strlen(b64) + 1);
	rc = CJ_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	free(b64);
	return rc;
}

int crypto_decrypt(const struct crypto_key *k, const char *text, const char *aad, char **out,
                   size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *raw = NULL;
	char *pt = NULL;
	size_t rawlen = 0, len = 0;
	int n = 0, fin, rc;

	*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!text || strncmp(text, PREFIX, strlen(PREFIX)))
		return CJ_EINVAL;
	text += strlen(PREFIX);
	if (strlen(text) > 4 * ((CRYPTO_MAX_PLAINTEXT + NONCE_BYTES + TAG_BYTES + 2) / 3))
		return CJ_EINVAL;
	rc = b64_decode(text, strlen(text), &raw, &rawlen);
	if (rc)
		return rc;
	rc = CJ_EINVAL;
	if (rawlen < NONCE_BYTES + TAG_BYTES)
		goto out;
	len = rawlen - NONCE_BYTES - TAG_BYTES;
	ctx = EVP_CIPHER_CTX_new();
	pt = malloc(len + 1);
	if (!ctx || !pt) {
		rc = CJ_ENOMEM;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->k, raw) != 1 ||
	    !add_aad(ctx, 0, aad)) {
		rc = CJ_EINTERNAL;
		goto out;
	}
	if (len &&
	    EVP_DecryptUpdate(ctx, (unsigned char *)pt, &n, raw + NONCE_BYTES, (int)len) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, raw + NONCE_BYTES + len) !=
	    1) {
		rc = CJ_EINTERNAL;
		goto out;
	}
	/* The tag check: fails for any change to nonce, ciphertext, tag, key or aad. */
	if (EVP_DecryptFinal_ex(ctx, (unsigned char *)pt + n, &fin) != 1 ||
	    (size_t)(n + fin) != len)
		goto out;
	pt[len] = '\0';
	*out = pt;
	pt = NULL;
	if (outlen)
		*outlen = len;
	rc = CJ_OK;
out:
	if (pt)
		crypto_secret_free(pt, len + 1);
	EVP_CIPHER_CTX_free(ctx);
	crypto_secret_free(raw, rawlen);
	return rc;
}

int crypto_sha256_hex(const char *s, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) || n != 32)
		return CJ_EINTERNAL;
	for (unsigned int i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return CJ_OK;
}
