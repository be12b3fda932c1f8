/*
 * crypto.h - encryption of OAuth tokens at rest (SPEC §4 TOKEN_ENCRYPTION_KEY):
 * AES-256-GCM with a random 96-bit nonce per message.
 *
 * Ciphertext is text, so it fits a TEXT column on both backends:
 *   "v1:" + base64(nonce[12] || ciphertext || tag[16])
 * The associated data (authenticated, not stored) is the version, a domain
 * label and the caller's aad string: bind each token to what it belongs to
 * (e.g. the user id), so a ciphertext copied onto another row fails to
 * decrypt. Anything tampered with, truncated, encrypted under another key or
 * aad, or of an unknown version is CJ_EINVAL, never garbage.
 *
 * Keys: from TOKEN_ENCRYPTION_KEY (base64 of exactly 32 bytes) in cloud
 * mode; in local mode generated once into DIR/token-encryption.key (base64
 * text, mode 0600, created race-free so instances starting together agree
 * on one key) and reused on every start.
 *
 * Ownership: a struct crypto_key is the caller's (crypto_key_free() wipes
 * and frees it). Decrypted plaintext is malloc'd; release it with
 * crypto_secret_free(), which wipes it first. Thread-safe: a key is
 * immutable after loading and every call uses its own cipher context.
 * Key material and plaintext never reach a log or an error message.
 */
#ifndef CJ_CRYPTO_H
#define CJ_CRYPTO_H

#include <stddef.h>

#include "cj.h"

#define CRYPTO_KEY_BYTES 32
#define CRYPTO_KEY_FILE "token-encryption.key"
/* Largest plaintext accepted (CJ_ETOOBIG beyond). */
#define CRYPTO_MAX_PLAINTEXT (16u * 1024 * 1024)

struct crypto_key;

/* Parses a key: base64 (standard or URL alphabet; surrounding whitespace
 * ignored) of exactly 32 bytes. CJ_ECONFIG (err names TOKEN_ENCRYPTION_KEY,
 * never the value) or CJ_ENOMEM. */
int crypto_key_from_base64(const char *b64, struct crypto_key **out, char *err,
                           size_t errlen) CJ_WUR;
/* Local mode: loads DIR/token-encryption.key, or creates it (and DIR, mode
 * 0700) with a new random key. *generated (may be NULL) is 1 when this call
 * created it. Refuses a file that is not a regular file, is accessible to
 * group or others, or does not hold a 32-byte base64 key: CJ_ECONFIG with
 * err naming the file. CJ_ENOMEM, CJ_EINTERNAL (no randomness). */
int crypto_key_load_or_generate(const char *dir, struct crypto_key **out, int *generated, char *err,
                                size_t errlen) CJ_WUR;
/* Creates dir and its missing parents with mode 0700 (existing ones are
 * left as they are): where local mode keeps its key files. CJ_OK, or
 * CJ_ECONFIG with err naming the directory. */
int crypto_make_private_dir(const char *dir, char *err, size_t errlen) CJ_WUR;
/* A new random key. CJ_OK, CJ_ENOMEM or CJ_EINTERNAL. */
int crypto_key_generate(struct crypto_key **out) CJ_WUR;
/* The key in base64 (malloc'd; free with crypto_secret_free(p, strlen(p))),
 * e.g. to move a local key into TOKEN_ENCRYPTION_KEY. NULL on ENOMEM. */
char *crypto_key_to_base64(const struct crypto_key *k);
/* Wipes and frees. NULL is a no-op. */
void crypto_key_free(struct crypto_key *k);

/* Encrypts len bytes of pt, authenticating aad (NULL means ""). *out
 * receives the "v1:..." text (malloc'd; free()). CJ_OK, CJ_ETOOBIG,
 * CJ_ENOMEM, CJ_EINTERNAL. */
int crypto_encrypt(const struct crypto_key *k, const void *pt, size_t len, const char *aad,
                   char **out) CJ_WUR;
/* Decrypts text made by crypto_encrypt with the same key and aad. *out
 * receives the plaintext, NUL-terminated (malloc'd; crypto_secret_free()),
 * *outlen (may be NULL) its length. CJ_OK, CJ_EINVAL (not ours, tampered,
 * wrong key or aad, unknown version), CJ_ENOMEM, CJ_EINTERNAL. */
int crypto_decrypt(const struct crypto_key *k, const char *text, const char *aad, char **out,
                   size_t *outlen) CJ_WUR;
/* Lowercase hex SHA-256 of the string s into out[65]. CJ_OK, or
 * CJ_EINTERNAL when OpenSSL fails. */
int crypto_sha256_hex(const char *s, char out[65]) CJ_WUR;
/* Wipes len bytes of p and frees it. NULL is a no-op. */
void crypto_secret_free(void *p, size_t len);

#endif
