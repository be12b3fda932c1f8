/*
 * auth.c - OIDC authentication of requests; see auth.h.
 *
 * OIDC answers say why in general terms (the reason is a fixed snake_case
 * word from oidc_verify(), never token content), so a caller can fix its
 * setup without the service leaking what it expected. Channel failures say
 * nothing at all: an unknown channel and a wrong token are the same 404.
 */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "answer.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "timeutil.h"

int auth_check(struct app *app, struct http_req *r, const struct strlist *allowed,
               struct oidc_identity *who, struct http_answer *a)
{
	return auth_check_aud(app, r, allowed, NULL, who, a);
}

int auth_check_aud(struct app *app, struct http_req *r, const struct strlist *allowed,
                   const char *extra_aud, struct oidc_identity *who, struct http_answer *a)
{
	const char *reason = "unknown";
	struct oidc_identity id;
	int rc;

	rc = oidc_verify_aud(app->oidc, http_request_header(r, "Authorization"), allowed, extra_aud,
	                     time_wall_s(), who ? who : &id, &reason);
	if (rc == CJ_OK)
		return 0;
	metrics_auth_failure(reason);
	log_msg(L_WARNING, "%s %s: authentication failed: %s", r->method, r->path, reason);
	switch (rc) {
	case CJ_EFORBIDDEN:
		http_answer_result(a, rc, "caller is not allowed here (%s)", reason);
		break;
	case CJ_ENOKEYS:
		http_answer_result(a, rc, "token signing keys not loaded yet; retry later");
		break;
	case CJ_EAUTH:
		http_answer_result(a, rc, "a valid Google-signed OIDC token is required (%s)",
		                   reason);
		break;
	default:
		http_answer_result(a, CJ_EINTERNAL, "authentication failed: %s", cj_strerror(rc));
		break;
	}
	return 1;
}

int auth_channel_verify(struct store *s, const char *id, const char *token, char *user_id,
                        size_t len, char *err, size_t errlen)
{
	struct store_param p[2];
	struct store_rows *rows = NULL;
	const char *stored;
	char hash[65];
	int rc, match;

	if (len)
		user_id[0] = '\0';
	if (!id || !*id || !token || !*token)
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "channel id or token missing");
	if (!s)
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no database, so no channels");
	if (crypto_sha256_hex(token, hash))
		return cj_errorf(err, errlen, CJ_EINTERNAL, "SHA-256 failed");
	p[0] = store_p_text(id);
	p[1] = store_p_int(clock_now_s());
	rc = store_exec(s,
	                "SELECT user_id, token_hash FROM webhook_channels "
	                "WHERE id = $1 AND status IN ('pending', 'active') AND expiration > $2",
	                p, 2, &rows, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no active channel with that id");
	}
	stored = store_rows_text(rows, 1);
	match = stored && strlen(stored) == 64 && !CRYPTO_memcmp(stored, hash, 64);
	if (match)
		snprintf(user_id, len, "%s",
		         store_rows_text(rows, 0) ? store_rows_text(rows, 0) : "");
	store_rows_free(rows);
	if (!match)
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "channel token does not match");
	return CJ_OK;
}

int auth_channel(struct app *app, struct http_req *r, char *user_id, size_t len,
                 struct http_answer *a)
{
	char err[256] = "";
	int rc;

	rc = auth_channel_verify(app->store, http_request_header(r, "X-Goog-Channel-ID"),
	                         http_request_header(r, "X-Goog-Channel-Token"), user_id, len, err,
	                         sizeof(err));
	if (rc == CJ_OK)
		return 0;
	if (rc == CJ_ENOTFOUND) {
		metrics_auth_failure("channel");
		log_msg(L_WARNING, "%s %s: channel authentication failed: %s", r->method, r->path,
		        err);
		http_answer_result(a, rc, "no route for %s %.200s", r->method, r->path);
		return 1;
	}
	log_msg(L_ERROR, "channel lookup failed: %s", err);
	http_answer_result(a, rc == CJ_EINTERNAL ? rc : CJ_EUNAVAIL,
	                   "channel lookup failed; retry later");
	return 1;
}
