/*
 * fuzz_oidc.c - libFuzzer target for oidc_verify(), the parser of the most
 * exposed untrusted bytes: the Authorization header of every push.
 *
 * The first input byte picks how the rest is used: 0 as the raw header
 * value, 1 after "Bearer ", 2 as "<header JSON>\n<claims JSON>" that is
 * signed with the trusted key, so the claim rules behind the signature are
 * fuzzed too. Keys are static (no network). Beyond the sanitizers, it checks
 * the verifier's contract: only the documented results, always a reason, and
 * an accepted identity is one the caller allowed.
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "config.h"
#include "jwks.h"
#include "log.h"
#include "oidc.h"

#define NOW ((int64_t)1800000000)

static char *iss_items[] = {"https://accounts.google.com", "accounts.google.com"};
static char *aud_items[] = {"https://jobs.example.run.app"};
static char *allowed_items[] = {"tasks@proj.iam.gserviceaccount.com"};
static const struct strlist issuers = {iss_items, 2};
static const struct strlist audiences = {aud_items, 1};
static const struct strlist allowed = {allowed_items, 1};

/* Set once in LLVMFuzzerInitialize, then read-only. */
static EVP_PKEY *key;
static struct oidc *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct jwks *keys;

	(void)argc;
	(void)argv;
	log_init(L_ERROR, "fuzz");
	key = EVP_RSA_gen(2048);
	keys = jwks_new(NULL);
	if (!key || !keys || jwks_add_static(keys, "k", key))
		abort();
	verifier = oidc_new(keys, &issuers, &audiences);
	if (!verifier)
		abort();
	return 0;
}

/* "Bearer b64(header).b64(claims).sig" signed with the static key. */
static char *signed_bearer(const char *hdr, size_t hlen, const char *cl, size_t clen)
{
	char *h = b64url_encode(hdr, hlen), *c = b64url_encode(cl, clen), *input = NULL;
	char *sig = NULL, *out = NULL;
	unsigned char raw[512];
	size_t raw_len = sizeof(raw);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!h || !c || !md || asprintf(&input, "%s.%s", h, c) < 0)
		abort();
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, raw, &raw_len, (unsigned char *)input, strlen(input)) != 1)
		abort();
	sig = b64url_encode(raw, raw_len);
	if (!sig || asprintf(&out, "Bearer %s.%s", input, sig) < 0)
		abort();
	EVP_MD_CTX_free(md);
	free(sig);
	free(input);
	free(c);
	free(h);
	return out;
}

static char *make_header_value(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	const char *nl;
	char *out;

	switch (data[0] % 3) {
	case 0:
		out = strndup(text, len);
		break;
	case 1:
		out = malloc(len + 8);
		if (out) {
			memcpy(out, "Bearer ", 7);
			memcpy(out + 7, text, len);
			out[7 + len] = '\0';
		}
		break;
	default:
		nl = memchr(text, '\n', len);
		if (!nl)
			return NULL;
		out =
		    signed_bearer(text, (size_t)(nl - text), nl + 1, len - (size_t)(nl - text) - 1);
		break;
	}
	if (!out)
		abort();
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oidc_identity who;
	const char *reason = NULL;
	char *auth;
	int rc;

	if (size < 1)
		return 0;
	auth = make_header_value(data, size);
	if (!auth)
		return 0;
	memset(&who, 0, sizeof(who));
	rc = oidc_verify(verifier, auth, &allowed, NOW, &who, &reason);
	if (rc != CJ_OK && rc != CJ_EAUTH && rc != CJ_EFORBIDDEN && rc != CJ_ENOMEM)
		abort(); /* CJ_ENOKEYS is impossible: a static key is loaded */
	if (!reason)
		abort();
	if (rc == CJ_OK && (strcmp(who.email, allowed_items[0]) || who.exp <= NOW - 300))
		abort();
	free(auth);
	return 0;
}
