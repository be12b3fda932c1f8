/*
 * gauth.c - access tokens from the metadata server or a service-account key
 * (JWT-bearer grant); see gauth.h.
 *
 * Owns the cached token and, with a key file, the parsed private key. The
 * cache is one token guarded by a mutex; `refreshing` plus a generation
 * counter and a condition variable make refreshes single flight. Nothing in
 * here may log or print a token, an assertion or the key.
 */
#include "gauth.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "buf.h"
#include "config.h"
#include "http_client.h"
#include "json_in.h"
#include "log.h"
#include "timeutil.h"

#define KEY_FILE_MAX (64 * 1024)
#define REFRESH_MARGIN_S 300 /* renew 5 minutes before expiry */

struct gauth {
	/* Immutable after gauth_new(). */
	char *metadata_url; /* NULL with a key file */
	char *key_path;
	char *client_email;
	char *private_key_id;
	char *token_uri;
	EVP_PKEY *pkey;
	long timeout_ms;

	/* Guarded by lock. */
	pthread_mutex_t lock;
	pthread_cond_t done; /* a refresh finished */
	int refreshing; /* a thread is fetching right now */
	unsigned long generation; /* incremented when a refresh finishes */
	char token[GAUTH_TOKEN_MAX];
	int64_t valid_until_ms; /* monotonic; 0 = no token */
	int last_rc; /* result of the last refresh */
	char last_err[256];
};

/* ---- construction ---- */

static int key_string(const json_t *root, const char *field, const char *path, char **out,
                      char *err, size_t errlen)
{
	json_t *v = json_object_get(root, field);

	if (!json_is_string(v) || !json_string_length(v))
		return cj_errorf(err, errlen, CJ_ECONFIG,
		                 "GOOGLE_APPLICATION_CREDENTIALS file %s: field %s: %s", path,
		                 field, v ? "must be a non-empty string" : "missing");
	*out = strdup(json_string_value(v));
	return *out ? CJ_OK : CJ_ENOMEM;
}

static int load_pem(struct gauth *g, const char *pem, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);

	if (!bio)
		return CJ_ENOMEM;
	g->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!g->pkey)
		return cj_errorf(err, errlen, CJ_ECONFIG,
		                 "GOOGLE_APPLICATION_CREDENTIALS file %s: field private_key: not a "
		                 "PEM private key",
		                 g->key_path);
	if (EVP_PKEY_get_base_id(g->pkey) != EVP_PKEY_RSA)
		return cj_errorf(
		    err, errlen, CJ_ECONFIG,
		    "GOOGLE_APPLICATION_CREDENTIALS file %s: field private_key: not an "
		    "RSA key (RS256 needs one)",
		    g->key_path);
	return CJ_OK;
}

static int load_key_file(struct gauth *g, char *err, size_t errlen)
{
	const char *path = g->key_path;
	json_t *root = NULL, *type, *pem;
	struct buf raw = BUF_INIT(KEY_FILE_MAX);
	char chunk[4096];
	json_error_t je;
	size_t n;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (!f)
		return cj_errorf(err, errlen, CJ_ECONFIG,
		                 "GOOGLE_APPLICATION_CREDENTIALS file %s: cannot be opened: %s",
		                 path, strerror(errno));
	rc = CJ_OK;
	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = buf_append(&raw, chunk, n);
	if (!rc && ferror(f))
		rc = CJ_EINVAL;
	fclose(f);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (rc) {
		rc = cj_errorf(err, errlen, rc == CJ_ENOMEM ? CJ_ENOMEM : CJ_ECONFIG,
		               "GOOGLE_APPLICATION_CREDENTIALS file %s: %s", path,
		               rc == CJ_ETOOBIG ? "larger than 64 KiB" : "cannot be read");
		goto out;
	}
	root = json_loadb(buf_str(&raw), raw.len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(root)) {
		/* je.text quotes no content, only the position. */
		rc =
		    cj_errorf(err, errlen, CJ_ECONFIG,
		              "GOOGLE_APPLICATION_CREDENTIALS file %s: not a JSON object (line %d)",
		              path, je.line);
		goto out;
	}
	type = json_object_get(root, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "service_account")) {
		rc = cj_errorf(err, errlen, CJ_ECONFIG,
		               "GOOGLE_APPLICATION_CREDENTIALS file %s: field type: must be "
		               "\"service_account\"",
		               path);
		goto out;
	}
	if ((rc = key_string(root, "private_key_id", path, &g->private_key_id, err, errlen)) ||
	    (rc = key_string(root, "client_email", path, &g->client_email, err, errlen)) ||
	    (rc = key_string(root, "token_uri", path, &g->token_uri, err, errlen)))
		goto out;
	if (strncmp(g->token_uri, "https://", 8) && strncmp(g->token_uri, "http://", 7)) {
		rc =
		    cj_errorf(err, errlen, CJ_ECONFIG,
		              "GOOGLE_APPLICATION_CREDENTIALS file %s: field token_uri: must be an "
		              "http(s) URL",
		              path);
		goto out;
	}
	pem = json_object_get(root, "private_key");
	if (!json_is_string(pem) || !json_string_length(pem)) {
		rc = cj_errorf(err, errlen, CJ_ECONFIG,
		               "GOOGLE_APPLICATION_CREDENTIALS file %s: field private_key: %s",
		               path, pem ? "must be a non-empty string" : "missing");
		goto out;
	}
	rc = load_pem(g, json_string_value(pem), err, errlen);
out:
	json_decref(root);
	if (raw.data)
		OPENSSL_cleanse(raw.data, raw.len);
	buf_release(&raw);
	return rc;
}

int gauth_new(const struct config *cfg, struct gauth **out, char *err, size_t errlen)
{
	struct gauth *g;
	struct buf url = BUF_INIT(2048);
	int rc = CJ_ENOMEM;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return CJ_ENOMEM;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->done, NULL);
	g->timeout_ms = 10000;
	if (cfg->google_application_credentials && cfg->google_application_credentials[0]) {
		g->key_path = strdup(cfg->google_application_credentials);
		if (!g->key_path)
			goto fail;
		if ((rc = load_key_file(g, err, errlen)))
			goto fail;
	} else {
		if (!cfg->gce_metadata_host || !cfg->gce_metadata_host[0]) {
			rc = cj_errorf(err, errlen, CJ_ECONFIG, "GCE_METADATA_HOST: empty");
			goto fail;
		}
		if (buf_appendf(
		        &url,
		        "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
		        cfg->gce_metadata_host))
			goto fail;
		g->metadata_url = buf_detach(&url, NULL);
	}
	*out = g;
	return CJ_OK;
fail:
	if (rc == CJ_ENOMEM)
		cj_errorf(err, errlen, CJ_ENOMEM, "out of memory setting up Google access tokens");
	buf_release(&url);
	gauth_free(g);
	return rc;
}

void gauth_free(struct gauth *g)
{
	if (!g)
		return;
	OPENSSL_cleanse(g->token, sizeof(g->token));
	EVP_PKEY_free(g->pkey);
	free(g->metadata_url);
	free(g->key_path);
	free(g->client_email);
	free(g->private_key_id);
	free(g->token_uri);
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

const char *gauth_account(const struct gauth *g)
{
	return g->client_email;
}

void gauth_set_timeout(struct gauth *g, long timeout_ms)
{
	g->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
}

void gauth_invalidate(struct gauth *g)
{
	pthread_mutex_lock(&g->lock);
	g->valid_until_ms = 0;
	OPENSSL_cleanse(g->token, sizeof(g->token));
	pthread_mutex_unlock(&g->lock);
}

/* ---- the JWT-bearer assertion ---- */

static char *b64url_json(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT), *enc;

	if (!text)
		return NULL;
	enc = b64url_encode(text, strlen(text));
	free(text);
	return enc;
}

/* RS256 over "header.claims" with the key; appends ".signature". */
static int sign_assertion(const struct gauth *g, struct buf *jwt)
{
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *enc;
	int ok, rc;

	if (!md)
		return CJ_ENOMEM;
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g->pkey) == 1 &&
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)jwt->data, jwt->len) == 1;
	EVP_MD_CTX_free(md);
	if (!ok) {
		ERR_clear_error();
		return CJ_EINTERNAL;
	}
	enc = b64url_encode(sig, siglen);
	if (!enc)
		return CJ_ENOMEM;
	rc = buf_appendf(jwt, ".%s", enc);
	free(enc);
	return rc;
}

static int make_assertion(const struct gauth *g, struct buf *jwt)
{
	int64_t now = time_wall_s();
	json_t *hdr, *claims;
	char *h = NULL, *c = NULL;
	int rc = CJ_ENOMEM;

	hdr = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", g->private_key_id);
	claims =
	    json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", g->client_email, "scope", GAUTH_SCOPE,
	              "aud", g->token_uri, "iat", (json_int_t)now, "exp", (json_int_t)(now + 3600));
	if (!hdr || !claims)
		goto out;
	h = b64url_json(hdr);
	c = b64url_json(claims);
	if (!h || !c)
		goto out;
	if ((rc = buf_appendf(jwt, "%s.%s", h, c)))
		goto out;
	rc = sign_assertion(g, jwt);
out:
	json_decref(hdr);
	json_decref(claims);
	free(h);
	free(c);
	return rc;
}

/* ---- fetching ---- */

/* A token goes into an HTTP header: visible ASCII only. */
static int token_ok(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n >= GAUTH_TOKEN_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return 0;
	return 1;
}

/* Reads {"access_token","expires_in","token_type"} from a 200 answer. */
static int parse_token(const struct http_response *resp, const char *from, char *tok,
                       long *expires_in, char *err, size_t errlen)
{
	json_t *root =
	    json_in_parse(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL, NULL, 0);
	json_t *at = json_object_get(root, "access_token");
	json_t *ei = json_object_get(root, "expires_in");
	json_t *tt = json_object_get(root, "token_type");
	int rc = CJ_OK;

	if (!json_is_string(at) || !token_ok(json_string_value(at), json_string_length(at)) ||
	    !json_is_integer(ei) || json_integer_value(ei) <= 0 ||
	    (tt && (!json_is_string(tt) || strcasecmp(json_string_value(tt), "Bearer")))) {
		rc = cj_errorf(err, errlen, CJ_EUNAVAIL,
		               "%s answered 200 without a usable access_token/expires_in", from);
	} else {
		memcpy(tok, json_string_value(at), json_string_length(at) + 1);
		*expires_in =
		    (long)(json_integer_value(ei) > 86400 ? 86400 : json_integer_value(ei));
	}
	/* The parsed copy is ours (freed just below): wipe the token first. */
	if (json_is_string(at))
		OPENSSL_cleanse((char *)json_string_value(at), json_string_length(at));
	json_decref(root);
	return rc;
}

/* Google's OAuth errors are {"error":"invalid_grant","error_description":…};
 * neither member carries a secret. */
static void oauth_error(const struct http_response *resp, char *out, size_t outlen)
{
	json_t *root =
	    json_in_parse(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL, NULL, 0);
	const char *e = json_string_value(json_object_get(root, "error"));
	const char *d = json_string_value(json_object_get(root, "error_description"));

	snprintf(out, outlen, "%.64s%s%.160s", e ? e : "no error code", d ? ": " : "", d ? d : "");
	json_decref(root);
}

static int fetch_token(struct gauth *g, char *tok, long *expires_in, char *err, size_t errlen)
{
	const char *meta_hdrs[] = {"Metadata-Flavor: Google", "Accept: application/json", NULL};
	const char *form_hdrs[] = {"Content-Type: application/x-www-form-urlencoded",
	                           "Accept: application/json", NULL};
	struct buf form = BUF_INIT(16384);
	struct http_request req = {0};
	struct http_response resp;
	const char *from;
	char cerr[256], why[256];
	int rc;

	req.timeout_ms = g->timeout_ms;
	req.op = "token";
	if (g->metadata_url) {
		from = "metadata server";
		req.url = g->metadata_url;
		req.headers = meta_hdrs;
		req.upstream = "metadata";
	} else {
		struct buf jwt = BUF_INIT(8192);

		from = "Google token endpoint";
		rc = make_assertion(g, &jwt);
		if (!rc)
			rc = buf_appendf(
			    &form,
			    "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3A"
			    "jwt-bearer&assertion=%s",
			    buf_str(&jwt));
		buf_release(&jwt);
		if (rc) {
			buf_release(&form);
			return cj_errorf(err, errlen, rc,
			                 "cannot sign the token request for %s: %s",
			                 g->client_email, cj_strerror(rc));
		}
		req.method = "POST";
		req.url = g->token_uri;
		req.headers = form_hdrs;
		req.body = form.data;
		req.body_len = form.len;
		req.upstream = "google";
	}
	rc = http_do(&req, &resp, cerr, sizeof(cerr));
	if (form.data)
		OPENSSL_cleanse(form.data, form.len);
	buf_release(&form);
	if (rc == CJ_ENOMEM) {
		rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory fetching an access token");
	} else if (rc) {
		rc = cj_errorf(err, errlen, CJ_EUNAVAIL, "%s unreachable (%s): %s", from,
		               g->metadata_url ? g->metadata_url : g->token_uri, cerr);
	} else if (resp.status == 200) {
		rc = parse_token(&resp, from, tok, expires_in, err, errlen);
	} else if (resp.status == 429 || resp.status >= 500) {
		rc = cj_errorf(err, errlen, CJ_EUNAVAIL, "%s answered HTTP %ld", from, resp.status);
	} else if (g->metadata_url) {
		rc =
		    cj_errorf(err, errlen, CJ_ECONFIG,
		              "metadata server refused the access token request (HTTP %ld): is the "
		              "service running with a service account?",
		              resp.status);
	} else {
		oauth_error(&resp, why, sizeof(why));
		rc = cj_errorf(err, errlen, CJ_ECONFIG,
		               "Google token endpoint refused the key of %s from %s (HTTP %ld, %s)",
		               g->client_email, g->key_path, resp.status, why);
	}
	http_response_release(&resp);
	return rc;
}

/* Copies the cached token out; caller holds the lock. */
static int copy_token(const struct gauth *g, char *out, size_t outlen, char *err, size_t errlen)
{
	size_t n = strlen(g->token);

	if (n + 1 > outlen)
		return cj_errorf(err, errlen, CJ_ETOOBIG, "access token buffer too small");
	memcpy(out, g->token, n + 1);
	return CJ_OK;
}

static int cached(const struct gauth *g)
{
	return g->valid_until_ms && time_mono_ms() < g->valid_until_ms;
}

int gauth_token(struct gauth *g, char *out, size_t outlen, char *err, size_t errlen)
{
	char tok[GAUTH_TOKEN_MAX], why[256] = "";
	unsigned long gen;
	long expires_in = 0;
	int64_t keep_ms;
	int rc;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		if (cached(g)) {
			rc = copy_token(g, out, outlen, err, errlen);
			pthread_mutex_unlock(&g->lock);
			return rc;
		}
		if (!g->refreshing)
			break;
		/* Someone is fetching: wait for that one result, good or bad. */
		gen = g->generation;
		while (g->refreshing && g->generation == gen)
			pthread_cond_wait(&g->done, &g->lock);
		if (!cached(g) && g->last_rc != CJ_OK) {
			rc = cj_errorf(err, errlen, g->last_rc, "%s", g->last_err);
			pthread_mutex_unlock(&g->lock);
			return rc;
		}
	}
	g->refreshing = 1;
	pthread_mutex_unlock(&g->lock);

	rc = fetch_token(g, tok, &expires_in, why, sizeof(why));

	pthread_mutex_lock(&g->lock);
	if (rc == CJ_OK) {
		/* Renew 5 minutes early; a short-lived token is kept for half its life. */
		keep_ms = (expires_in > 2 * REFRESH_MARGIN_S ? expires_in - REFRESH_MARGIN_S
		                                             : expires_in / 2) *
		    1000;
		memcpy(g->token, tok, strlen(tok) + 1);
		g->valid_until_ms = time_mono_ms() + (keep_ms > 0 ? keep_ms : 1);
		log_msg(L_DEBUG, "access token fetched from the %s (expires in %ld s)",
		        g->metadata_url ? "metadata server" : "Google token endpoint", expires_in);
	} else {
		log_msg(L_WARNING, "access token fetch failed: %s", why);
	}
	g->last_rc = rc;
	snprintf(g->last_err, sizeof(g->last_err), "%s", why);
	g->generation++;
	g->refreshing = 0;
	pthread_cond_broadcast(&g->done);
	rc = rc ? cj_errorf(err, errlen, rc, "%s", why) : copy_token(g, out, outlen, err, errlen);
	pthread_mutex_unlock(&g->lock);
	OPENSSL_cleanse(tok, sizeof(tok));
	return rc;
}
