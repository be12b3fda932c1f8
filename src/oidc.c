/*
 * oidc.c - verification of Google-signed OIDC ID tokens; see oidc.h.
 *
 * Owns the verified-token cache (hash of the token -> the claims that matter)
 * and nothing else; keys come from the borrowed struct jwks. The algorithm
 * is fixed to RS256 here, never taken from the token, and everything in a
 * token is checked before it is believed: size first, then the header, then
 * the signature, then the claims. This file must never log, count metrics or
 * copy a token into anything that leaves this function (the caller logs the
 * reason); the cache keeps only a SHA-256 of each token.
 */
#include "oidc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "config.h"
#include "jwks.h"

#define OIDC_SKEW 300
#define OIDC_MAX_LIFETIME 86400
#define OIDC_MAX_KID 128
#define OIDC_MAX_AUDS 64
/* 1024 buckets of 4 entries: 4096 cached tokens, O(1) lookups. */
#define CACHE_BUCKETS 1024
#define CACHE_WAYS 4

/* What a verified token says, as far as the per-route checks need it. */
struct claims {
	int64_t exp;
	int64_t iat;
	json_t *aud; /* the "aud" member (a reference), NULL when absent */
	char email[256];
	int email_ok; /* email present, a string, and fits */
	int email_verified;
	char sub[128];
};

struct cached {
	unsigned char hash[SHA256_DIGEST_LENGTH];
	int used;
	uint64_t seq; /* insertion order: the lowest is evicted first */
	struct claims c;
};

struct oidc {
	struct jwks *keys;
	const struct strlist *issuers;
	const struct strlist *audiences;
	atomic_ulong sig_checks;
	pthread_mutex_t lock;
	/* Guarded by lock. */
	struct cached *cache; /* CACHE_BUCKETS * CACHE_WAYS */
	uint64_t seq;
};

struct oidc *oidc_new(struct jwks *keys, const struct strlist *issuers,
                      const struct strlist *audiences)
{
	struct oidc *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->cache = calloc(CACHE_BUCKETS * CACHE_WAYS, sizeof(*o->cache));
	if (!o->cache || pthread_mutex_init(&o->lock, NULL)) {
		free(o->cache);
		free(o);
		return NULL;
	}
	o->keys = keys;
	o->issuers = issuers;
	o->audiences = audiences;
	atomic_init(&o->sig_checks, 0);
	return o;
}

void oidc_free(struct oidc *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < CACHE_BUCKETS * CACHE_WAYS; i++)
		json_decref(o->cache[i].c.aud);
	free(o->cache);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

unsigned long oidc_signature_checks(struct oidc *o)
{
	return atomic_load(&o->sig_checks);
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* --- The per-route checks (403) ------------------------------------------- */

/* 1 when one aud value is in audiences or is extra (may be NULL). */
static int aud_value_ok(const json_t *v, const struct strlist *audiences, const char *extra)
{
	const char *s = json_string_value(v);

	return s && (strlist_contains(audiences, s) || (extra && !strcmp(s, extra)));
}

static int aud_matches(const json_t *aud, const struct strlist *audiences, const char *extra)
{
	size_t i, n;

	if (json_is_string(aud))
		return aud_value_ok(aud, audiences, extra);
	if (!json_is_array(aud))
		return 0;
	n = json_array_size(aud);
	for (i = 0; i < n && i < OIDC_MAX_AUDS; i++) {
		if (aud_value_ok(json_array_get(aud, i), audiences, extra))
			return 1;
	}
	return 0;
}

/* extra_aud (may be NULL): one more audience this route accepts. */
static int check_identity(const struct oidc *o, const struct claims *c,
                          const struct strlist *allowed, const char *extra_aud,
                          const char **reason)
{
	if (!aud_matches(c->aud, o->audiences, extra_aud)) {
		*reason = "wrong_audience";
		return CJ_EFORBIDDEN;
	}
	if (!c->email_ok || !allowed || !strlist_contains(allowed, c->email)) {
		*reason = "email_not_allowed";
		return CJ_EFORBIDDEN;
	}
	if (!c->email_verified) {
		*reason = "email_unverified";
		return CJ_EFORBIDDEN;
	}
	return CJ_OK;
}

/* The time rules, shared by fresh and cached tokens. */
static int check_times(int64_t exp, int64_t iat, int64_t now, const char **reason)
{
	if (exp <= sat_add(now, -OIDC_SKEW)) {
		*reason = "expired";
		return CJ_EAUTH;
	}
	if (iat > sat_add(now, OIDC_SKEW)) {
		*reason = "issued_in_future";
		return CJ_EAUTH;
	}
	return CJ_OK;
}

static void fill_identity(struct oidc_identity *who, const struct claims *c)
{
	if (!who)
		return;
	cj_strcpy(who->email, sizeof(who->email), c->email);
	cj_strcpy(who->sub, sizeof(who->sub), c->sub);
	who->exp = c->exp;
}

/* --- The verified-token cache --------------------------------------------- */

static struct cached *bucket_of(struct oidc *o, const unsigned char *hash)
{
	size_t b = ((size_t)hash[0] << 8 | hash[1]) % CACHE_BUCKETS;

	return &o->cache[b * CACHE_WAYS];
}

static void cached_clear(struct cached *e)
{
	json_decref(e->c.aud);
	memset(e, 0, sizeof(*e));
}

/* 1 on a hit, with *rc and *reason the outcome for this call. */
static int cache_check(struct oidc *o, const unsigned char *hash, const struct strlist *allowed,
                       const char *extra_aud, int64_t now, struct oidc_identity *who, int *rc,
                       const char **reason)
{
	struct cached *b;
	int hit = 0;

	pthread_mutex_lock(&o->lock);
	b = bucket_of(o, hash);
	for (int i = 0; i < CACHE_WAYS; i++) {
		if (!b[i].used || memcmp(b[i].hash, hash, sizeof(b[i].hash)))
			continue;
		hit = 1;
		*rc = check_times(b[i].c.exp, b[i].c.iat, now, reason);
		if (*rc == CJ_OK)
			*rc = check_identity(o, &b[i].c, allowed, extra_aud, reason);
		if (*rc == CJ_OK)
			fill_identity(who, &b[i].c);
		else if (*rc == CJ_EAUTH && !strcmp(*reason, "expired"))
			cached_clear(&b[i]);
		break;
	}
	pthread_mutex_unlock(&o->lock);
	return hit;
}

static void cache_put(struct oidc *o, const unsigned char *hash, const struct claims *c,
                      int64_t now)
{
	struct cached *b, *victim = NULL;

	pthread_mutex_lock(&o->lock);
	b = bucket_of(o, hash);
	for (int i = 0; i < CACHE_WAYS; i++) {
		if (b[i].used && !memcmp(b[i].hash, hash, sizeof(b[i].hash)))
			goto out; /* another thread verified the same token */
	}
	/* An empty slot, else an expired token, else the oldest entry. */
	for (int i = 0; i < CACHE_WAYS; i++) {
		if (!b[i].used) {
			victim = &b[i];
			break;
		}
		if (b[i].c.exp <= sat_add(now, -OIDC_SKEW))
			victim = &b[i];
		else if (!victim ||
		         (victim->c.exp > sat_add(now, -OIDC_SKEW) && b[i].seq < victim->seq))
			victim = &b[i];
	}
	cached_clear(victim);
	memcpy(victim->hash, hash, sizeof(victim->hash));
	victim->used = 1;
	victim->seq = ++o->seq;
	victim->c = *c;
	json_incref(victim->c.aud);
out:
	pthread_mutex_unlock(&o->lock);
}

/* --- Parsing and the 401 rules --------------------------------------------- */

/* Decodes one unpadded base64url segment and parses it as a JSON object. */
static int parse_segment(const char *s, size_t len, json_t **out, const char **reason)
{
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	json_error_t jerr;
	int rc;

	rc = b64url_decode(s, len, &raw, &raw_len);
	if (rc == CJ_ENOMEM) {
		*reason = "internal";
		return CJ_ENOMEM;
	}
	if (rc) {
		*reason = "malformed";
		return CJ_EAUTH;
	}
	*out = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
	free(raw);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		*reason = "malformed";
		return CJ_EAUTH;
	}
	return CJ_OK;
}

/* The header rules; *kid points into hdr. */
static int check_header(const json_t *hdr, const char **kid, const char **reason)
{
	static const char *const forbidden[] = {"crit", "jku", "x5u", "jwk"};
	const json_t *alg = json_object_get(hdr, "alg"), *k = json_object_get(hdr, "kid");
	size_t i;

	if (!json_is_string(alg) || strcmp(json_string_value(alg), "RS256")) {
		*reason = "bad_algorithm";
		return CJ_EAUTH;
	}
	for (i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		if (json_object_get(hdr, forbidden[i])) {
			*reason = "forbidden_header";
			return CJ_EAUTH;
		}
	}
	if (!json_is_string(k) || json_string_length(k) < 1 ||
	    json_string_length(k) > OIDC_MAX_KID) {
		*reason = "malformed";
		return CJ_EAUTH;
	}
	*kid = json_string_value(k);
	return CJ_OK;
}

/* RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over input with key. */
static int check_signature(struct oidc *o, EVP_PKEY *key, const char *input, size_t input_len,
                           const char *sig_b64, size_t sig_b64_len, const char **reason)
{
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int rc;

	rc = b64url_decode(sig_b64, sig_b64_len, &sig, &sig_len);
	if (rc == CJ_ENOMEM) {
		*reason = "internal";
		return CJ_ENOMEM;
	}
	if (rc || sig_len != (size_t)EVP_PKEY_get_size(key)) {
		*reason = rc ? "malformed" : "bad_signature";
		rc = CJ_EAUTH;
		goto out;
	}
	atomic_fetch_add(&o->sig_checks, 1);
	md = EVP_MD_CTX_new();
	if (!md) {
		*reason = "internal";
		rc = CJ_ENOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)input, input_len) != 1) {
		*reason = "bad_signature";
		rc = CJ_EAUTH;
		goto out;
	}
	rc = CJ_OK;
out:
	EVP_MD_CTX_free(md);
	free(sig);
	return rc;
}

/* The claim rules that make a token valid for us (401), and what the
 * per-route rules (403) need, into *c (c->aud takes a reference). */
static int check_claims(const struct oidc *o, const json_t *cl, int64_t now, struct claims *c,
                        const char **reason)
{
	const json_t *iss = json_object_get(cl, "iss"), *exp = json_object_get(cl, "exp"),
	             *iat = json_object_get(cl, "iat"), *sub = json_object_get(cl, "sub"),
	             *email = json_object_get(cl, "email"),
	             *verified = json_object_get(cl, "email_verified");
	int64_t lifetime;
	int rc;

	if (!json_is_string(iss) || !strlist_contains(o->issuers, json_string_value(iss))) {
		*reason = "bad_issuer";
		return CJ_EAUTH;
	}
	if (!json_is_integer(exp) || !json_is_integer(iat) ||
	    (sub && (!json_is_string(sub) || json_string_length(sub) >= sizeof(c->sub)))) {
		*reason = "bad_claims";
		return CJ_EAUTH;
	}
	c->exp = json_integer_value(exp);
	c->iat = json_integer_value(iat);
	rc = check_times(c->exp, c->iat, now, reason);
	if (rc)
		return rc;
	if (__builtin_sub_overflow(c->exp, c->iat, &lifetime) || lifetime > OIDC_MAX_LIFETIME) {
		*reason = "lifetime_too_long";
		return CJ_EAUTH;
	}
	if (lifetime <= 0) {
		*reason = "bad_claims";
		return CJ_EAUTH;
	}
	if (sub)
		snprintf(c->sub, sizeof(c->sub), "%s", json_string_value(sub));
	if (json_is_string(email) && json_string_length(email) < sizeof(c->email)) {
		snprintf(c->email, sizeof(c->email), "%s", json_string_value(email));
		c->email_ok = 1;
	}
	/* Only the JSON boolean true (SPEC §6): a string "true" is a mistyped
	 * claim, refused like any other. */
	c->email_verified = json_is_true(verified);
	c->aud = json_incref(json_object_get(cl, "aud"));
	return CJ_OK;
}

/* The three segments of a compact JWS: [0] header, [1] claims, [2] signature. */
struct segments {
	const char *p[3];
	size_t len[3];
};

static int split_token(const char *tok, size_t len, struct segments *s)
{
	const char *p = tok, *end = tok + len;

	for (int i = 0; i < 3; i++) {
		const char *dot = memchr(p, '.', (size_t)(end - p));

		if ((i < 2) != (dot != NULL))
			return CJ_EINVAL;
		s->p[i] = p;
		s->len[i] = (size_t)((dot ? dot : end) - p);
		/* '=' padding is not compact JWS, nor an empty header or claims. An
		 * empty signature is left for the header check ("alg":"none"). */
		if ((i < 2 && !s->len[i]) || memchr(p, '=', s->len[i]))
			return CJ_EINVAL;
		p = dot ? dot + 1 : end;
	}
	return CJ_OK;
}

/* Everything that makes a token a valid Google token for us (401 rules). */
static int verify_token(struct oidc *o, const char *tok, size_t len, int64_t now, struct claims *c,
                        const char **reason)
{
	struct segments s;
	json_t *hdr = NULL, *cl = NULL;
	EVP_PKEY *key = NULL;
	const char *kid = NULL;
	int never_loaded = 0, rc;

	if (split_token(tok, len, &s)) {
		*reason = "malformed";
		return CJ_EAUTH;
	}
	rc = parse_segment(s.p[0], s.len[0], &hdr, reason);
	if (rc)
		goto out;
	rc = check_header(hdr, &kid, reason);
	if (rc)
		goto out;
	key = jwks_get(o->keys, kid, &never_loaded);
	if (!key) {
		*reason = never_loaded ? "no_keys" : "unknown_kid";
		rc = never_loaded ? CJ_ENOKEYS : CJ_EAUTH;
		goto out;
	}
	/* The signing input is "header.claims" exactly as sent. */
	rc = check_signature(o, key, tok, s.len[0] + 1 + s.len[1], s.p[2], s.len[2], reason);
	if (rc)
		goto out;
	rc = parse_segment(s.p[1], s.len[1], &cl, reason);
	if (rc)
		goto out;
	rc = check_claims(o, cl, now, c, reason);
out:
	EVP_PKEY_free(key);
	json_decref(cl);
	json_decref(hdr);
	return rc;
}

/* The token after "Bearer " (scheme case-insensitive, RFC 7235). */
static int extract_token(const char *auth, const char **tok, size_t *len, const char **reason)
{
	const char *p;

	*reason = "missing_token";
	if (!auth || strncasecmp(auth, "Bearer", 6) || (auth[6] != ' ' && auth[6] != '\t'))
		return CJ_EAUTH;
	p = auth + 6;
	while (*p == ' ' || *p == '\t')
		p++;
	*len = strnlen(p, OIDC_MAX_TOKEN + 1);
	if (*len > OIDC_MAX_TOKEN) {
		*reason = "token_too_long";
		return CJ_EAUTH;
	}
	if (!*len)
		return CJ_EAUTH;
	*tok = p;
	*reason = NULL;
	return CJ_OK;
}

int oidc_verify(struct oidc *o, const char *authorization, const struct strlist *allowed,
                int64_t now, struct oidc_identity *who, const char **reason)
{
	return oidc_verify_aud(o, authorization, allowed, NULL, now, who, reason);
}

int oidc_verify_aud(struct oidc *o, const char *authorization, const struct strlist *allowed,
                    const char *extra_aud, int64_t now, struct oidc_identity *who,
                    const char **reason)
{
	unsigned char hash[SHA256_DIGEST_LENGTH];
	struct claims c;
	const char *why = NULL, *tok = NULL;
	size_t len = 0;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = extract_token(authorization, &tok, &len, &why);
	if (rc)
		goto out;
	if (!SHA256((const unsigned char *)tok, len, hash)) {
		why = "internal";
		rc = CJ_EINTERNAL;
		goto out;
	}
	if (cache_check(o, hash, allowed, extra_aud, now, who, &rc, &why))
		goto out;
	rc = verify_token(o, tok, len, now, &c, &why);
	if (rc)
		goto out;
	cache_put(o, hash, &c, now);
	rc = check_identity(o, &c, allowed, extra_aud, &why);
	if (rc == CJ_OK)
		fill_identity(who, &c);
out:
	json_decref(c.aud);
	if (reason)
		*reason = rc ? why : "ok";
	return rc;
}
