/*
 * local_keys.c - local mode's RSA signing key and the Google-shaped tokens it
 * signs; see local_keys.h.
 *
 * Owns the key file dir/local-signing-key.pem: generated once (RSA 2048,
 * PKCS#8 PEM, mode 0600, directory 0700) and loaded on every later start, so
 * tokens minted by `catchup-jobs token` and by a running server verify
 * against each other. A new key is written to a private temporary file,
 * fsync'd, and published with link(2): readers never see a half-written
 * file, and when two processes generate at once the loser's link fails with
 * EEXIST and it loads the winner's key instead of replacing a key that may
 * already have signed tokens (rename(2) would silently replace it).
 *
 * Signs with EVP_DigestSign directly (RS256 = RSASSA-PKCS1-v1_5 with
 * SHA-256). Never logs or prints the private key; cloud mode never calls
 * this module.
 */
#include "local_keys.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "crypto.h"
#include "jwks.h"
#include "random.h"
#include "timeutil.h"

#define KEY_FILE "local-signing-key.pem"
#define KEY_BITS 2048
/* A 2048..4096-bit RSA private key in PEM is well under this. */
#define KEY_FILE_MAX (16 * 1024)
#define TOKEN_LIFETIME 3600
#define ISSUER "https://accounts.google.com"
/* kid: hex of the first 20 bytes of SHA-256(DER public key), 40 characters
 * like Google's key ids. */
#define KID_BYTES 20

/* Pushes reuse a minted token for this long (of its 3600 s): an RS256
 * signature costs about a millisecond, and a reused token also hits the
 * verifier's cache of verified tokens. */
#define TOKEN_REUSE_S 300
#define TOKEN_CACHE_SLOTS 8

struct token_slot {
	char *audience, *email, *token;
	int64_t iat;
};

struct local_keys {
	EVP_PKEY *pkey; /* private and public */
	char kid[2 * KID_BYTES + 1];
	char *n; /* base64url modulus */
	char *e; /* base64url exponent */
	/* The one mutable part: recently minted tokens, guarded by lock. */
	pthread_mutex_t lock;
	struct token_slot slots[TOKEN_CACHE_SLOTS];
	unsigned next_slot;
};

void local_keys_free(struct local_keys *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < TOKEN_CACHE_SLOTS; i++) {
		free(k->slots[i].audience);
		free(k->slots[i].email);
		free(k->slots[i].token);
	}
	pthread_mutex_destroy(&k->lock);
	EVP_PKEY_free(k->pkey);
	free(k->n);
	free(k->e);
	free(k);
}

const char *local_keys_kid(const struct local_keys *k)
{
	return k->kid;
}

/* --- Deriving the public parts ------------------------------------------- */

static char *bn_param_b64url(const EVP_PKEY *pkey, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char *raw = NULL;
	char *out = NULL;
	int len;

	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		return NULL;
	len = BN_num_bytes(bn);
	raw = malloc(len > 0 ? (size_t)len : 1);
	if (raw && BN_bn2bin(bn, raw) == len)
		out = b64url_encode(raw, (size_t)len);
	free(raw);
	BN_free(bn);
	return out;
}

static int derive_kid(EVP_PKEY *pkey, char kid[2 * KID_BYTES + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mdlen = 0;
	int len = i2d_PUBKEY(pkey, &der);

	if (len <= 0)
		return CJ_EINTERNAL;
	if (!EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) || mdlen < KID_BYTES) {
		OPENSSL_free(der);
		return CJ_EINTERNAL;
	}
	OPENSSL_free(der);
	for (int i = 0; i < KID_BYTES; i++) {
		kid[2 * i] = hex[md[i] >> 4];
		kid[2 * i + 1] = hex[md[i] & 15];
	}
	kid[2 * KID_BYTES] = '\0';
	return CJ_OK;
}

/* Takes pkey (freed on failure). */
static int keys_new(EVP_PKEY *pkey, struct local_keys **out)
{
	struct local_keys *k = calloc(1, sizeof(*k));
	int rc = CJ_ENOMEM;

	if (!k)
		goto fail;
	if (pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		k = NULL;
		rc = CJ_EINTERNAL;
		goto fail;
	}
	k->pkey = pkey;
	pkey = NULL;
	rc = derive_kid(k->pkey, k->kid);
	if (rc)
		goto fail;
	k->n = bn_param_b64url(k->pkey, OSSL_PKEY_PARAM_RSA_N);
	k->e = bn_param_b64url(k->pkey, OSSL_PKEY_PARAM_RSA_E);
	if (!k->n || !k->e) {
		rc = CJ_ENOMEM;
		goto fail;
	}
	*out = k;
	return CJ_OK;
fail:
	EVP_PKEY_free(pkey);
	local_keys_free(k);
	return rc;
}

/* --- The key file -------------------------------------------------------- */

/* Reads an open key file: a regular file, private to its owner, holding an
 * RSA private key of at least 2048 bits. */
static int read_key_fd(int fd, const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	ssize_t r;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = CJ_ECONFIG;

	if (fstat(fd, &st))
		return cj_errorf(err, errlen, CJ_ECONFIG, "cannot stat %s: %s", path,
		                 strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cj_errorf(err, errlen, CJ_ECONFIG, "%s is not a regular file", path);
	if (st.st_mode & 077)
		return cj_errorf(err, errlen, CJ_ECONFIG,
		                 "%s is accessible to group or others (mode %03o); chmod 600 it",
		                 path, (unsigned)(st.st_mode & 0777));
	if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX)
		return cj_errorf(err, errlen, CJ_ECONFIG,
		                 "%s has the wrong size for a key (%lld bytes)", path,
		                 (long long)st.st_size);
	text = malloc((size_t)st.st_size);
	if (!text)
		return CJ_ENOMEM;
	while (n < (size_t)st.st_size && (r = read(fd, text + n, (size_t)st.st_size - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = cj_errorf(err, errlen, CJ_ECONFIG, "cannot read %s: %s", path,
			               strerror(errno));
			goto out;
		}
		n += (size_t)r;
	}
	bio = BIO_new_mem_buf(text, (int)n);
	if (!bio) {
		rc = CJ_ENOMEM;
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(pkey) < KEY_BITS) {
		rc = cj_errorf(err, errlen, CJ_ECONFIG,
		               "%s does not hold an RSA private key of at least %d bits", path,
		               KEY_BITS);
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = CJ_OK;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (text)
		OPENSSL_clear_free(text, (size_t)st.st_size);
	return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Generates a key, writes it to a private temporary file and links it to
 * path. CJ_OK (*out set), CJ_EEXISTS (another process published first), or
 * an error. */
static int publish_new_key(const char *dir, const char *path, EVP_PKEY **out, char *err,
                           size_t errlen)
{
	char tmp[4200], hex[17];
	EVP_PKEY *pkey = NULL;
	BIO *mem = NULL;
	char *pem;
	long pem_len;
	int fd = -1, rc = CJ_EINTERNAL;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)KEY_BITS);
	mem = BIO_new(BIO_s_secmem());
	if (!pkey || !mem || !PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL))
		goto out;
	pem_len = BIO_get_mem_data(mem, &pem);
	if (pem_len <= 0 || random_hex(hex, sizeof(hex), 8))
		goto out;
	snprintf(tmp, sizeof(tmp), "%s/.%s.%s", dir, KEY_FILE, hex);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, pem, (size_t)pem_len) || fsync(fd)) {
		rc =
		    cj_errorf(err, errlen, CJ_ECONFIG, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* If the process dies here, a stray ".local-signing-key.pem.*" file is
	 * left behind and the next start generates afresh: nothing trusted the
	 * unpublished key. */
	if (link(tmp, path)) {
		if (errno == EEXIST)
			rc = CJ_EEXISTS;
		else
			rc = cj_errorf(err, errlen, CJ_ECONFIG, "cannot create %s: %s", path,
			               strerror(errno));
		goto out;
	}
	{
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	*out = pkey;
	pkey = NULL;
	rc = CJ_OK;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	BIO_free(mem);
	EVP_PKEY_free(pkey);
	return rc;
}

int local_keys_load_or_generate(const char *dir, struct local_keys **out, char *err, size_t errlen)
{
	char path[4096];
	EVP_PKEY *pkey = NULL;
	int rc;

	*out = NULL;
	if (!dir)
		dir = ".";
	rc = crypto_make_private_dir(dir, err, errlen);
	if (rc)
		return rc;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, KEY_FILE) >= sizeof(path))
		return cj_errorf(err, errlen, CJ_ECONFIG, "key directory name is too long");
	/* Two rounds at most: a lost link race means the winner's file now
	 * exists, complete, and the second round reads it. */
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0) {
			rc = read_key_fd(fd, path, &pkey, err, errlen);
			close(fd);
		} else if (errno != ENOENT) {
			return cj_errorf(err, errlen, CJ_ECONFIG, "cannot open %s: %s", path,
			                 strerror(errno));
		} else {
			rc = publish_new_key(dir, path, &pkey, err, errlen);
			if (rc == CJ_EEXISTS)
				continue;
		}
		if (rc)
			return rc;
		return keys_new(pkey, out);
	}
	return cj_errorf(err, errlen, CJ_ECONFIG, "%s vanished while it was being created", path);
}

/* --- Tokens -------------------------------------------------------------- */

/* A stable 21-digit numeric id for an e-mail, shaped like a Google account's
 * `sub`: "1" and 20 digits from SHA-256 of the address. */
static int derive_sub(const char *email, char sub[22])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t v = 0;

	if (!EVP_Digest(email, strlen(email), md, &mdlen, EVP_sha256(), NULL) || mdlen < 8)
		return CJ_EINTERNAL;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | md[i];
	snprintf(sub, 22, "1%020llu", (unsigned long long)v);
	return CJ_OK;
}

/* base64url of the compact JSON of obj (a stolen reference). */
static char *json_segment(json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	char *seg = text ? b64url_encode(text, strlen(text)) : NULL;

	free(text);
	json_decref(obj);
	return seg;
}

static int sign_rs256(EVP_PKEY *pkey, const char *input, size_t len, char **sig_b64)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int rc = CJ_EINTERNAL;

	*sig_b64 = NULL;
	if (!ctx)
		return CJ_ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, len) != 1)
		goto out;
	sig = malloc(siglen);
	if (!sig) {
		rc = CJ_ENOMEM;
		goto out;
	}
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, len) != 1)
		goto out;
	*sig_b64 = b64url_encode(sig, siglen);
	rc = *sig_b64 ? CJ_OK : CJ_ENOMEM;
out:
	free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int local_keys_mint(const struct local_keys *k, const char *audience, const char *email,
                    int64_t iat, char **out)
{
	char sub[22], *hdr = NULL, *claims = NULL, *input = NULL, *sig = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if (!audience || !*audience || !email || !*email)
		return CJ_EINVAL;
	rc = derive_sub(email, sub);
	if (rc)
		return rc;
	hdr =
	    json_segment(json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid", k->kid, "typ", "JWT"));
	claims = json_segment(json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I}", "iss", ISSUER,
	                                "aud", audience, "azp", sub, "sub", sub, "email", email,
	                                "email_verified", 1, "iat", (json_int_t)iat, "exp",
	                                (json_int_t)(iat + TOKEN_LIFETIME)));
	rc = CJ_ENOMEM;
	if (!hdr || !claims)
		goto out;
	len = strlen(hdr) + 1 + strlen(claims);
	input = malloc(len + 1);
	if (!input)
		goto out;
	snprintf(input, len + 1, "%s.%s", hdr, claims);
	rc = sign_rs256(k->pkey, input, len, &sig);
	if (rc)
		goto out;
	*out = malloc(len + 1 + strlen(sig) + 1);
	if (!*out) {
		rc = CJ_ENOMEM;
		goto out;
	}
	snprintf(*out, len + 1 + strlen(sig) + 1, "%s.%s", input, sig);
out:
	free(hdr);
	free(claims);
	free(input);
	free(sig);
	return rc;
}

int local_keys_mint_now(const struct local_keys *k, const char *audience, const char *email,
                        char **out)
{
	return local_keys_mint(k, audience, email, time_wall_s(), out);
}

int local_keys_mint_expiring(const struct local_keys *k, const char *audience, const char *email,
                             char **out, int64_t *exp)
{
	int64_t iat = time_wall_s();
	int rc = local_keys_mint(k, audience, email, iat, out);

	if (!rc)
		*exp = iat + TOKEN_LIFETIME;
	return rc;
}

int local_keys_mint_cached(const struct local_keys *key, const char *audience, const char *email,
                           char **out)
{
	/* The token cache is the one mutable part of the keys, behind its lock. */
	struct local_keys *k = (struct local_keys *)key;
	int64_t now = time_wall_s();
	struct token_slot *sl;
	char *tok = NULL;
	unsigned i;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&k->lock);
	for (i = 0; i < TOKEN_CACHE_SLOTS; i++) {
		sl = &k->slots[i];
		if (sl->token && now >= sl->iat && now - sl->iat < TOKEN_REUSE_S &&
		    !strcmp(sl->audience, audience) && !strcmp(sl->email, email)) {
			*out = strdup(sl->token);
			pthread_mutex_unlock(&k->lock);
			return *out ? CJ_OK : CJ_ENOMEM;
		}
	}
	pthread_mutex_unlock(&k->lock);
	/* Signing happens outside the lock; two threads may both mint. */
	rc = local_keys_mint(k, audience, email, now, &tok);
	if (rc)
		return rc;
	*out = strdup(tok);
	if (!*out) {
		free(tok);
		return CJ_ENOMEM;
	}
	pthread_mutex_lock(&k->lock);
	sl = &k->slots[k->next_slot++ % TOKEN_CACHE_SLOTS];
	free(sl->audience);
	free(sl->email);
	free(sl->token);
	sl->audience = strdup(audience);
	sl->email = strdup(email);
	sl->token = tok;
	sl->iat = now;
	if (!sl->audience || !sl->email) {
		free(sl->audience);
		free(sl->email);
		free(sl->token);
		memset(sl, 0, sizeof(*sl));
	}
	pthread_mutex_unlock(&k->lock);
	return CJ_OK;
}

json_t *local_keys_jwks(const struct local_keys *k)
{
	return json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty", "RSA", "alg",
	                 "RS256", "use", "sig", "kid", k->kid, "n", k->n, "e", k->e);
}

int local_keys_trust(const struct local_keys *k, struct jwks *keys)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len = i2d_PUBKEY(k->pkey, &der), rc;

	/* The verifier's set holds the public half only. */
	if (len <= 0)
		return CJ_EINTERNAL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	if (!pub)
		return CJ_EINTERNAL;
	rc = jwks_add_static(keys, k->kid, pub);
	EVP_PKEY_free(pub);
	return rc;
}
