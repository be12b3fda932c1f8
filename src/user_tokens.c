/*
 * user_tokens.c - a user's Google access token, refreshed single-flight;
 * see user_tokens.h. Owns the google_accounts token columns: nothing else
 * writes access_token_enc, token_expires_at or refresh_lock_until.
 */
#include "user_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "store.h"
#include "timeutil.h"

const char *account_status_name(enum account_status s)
{
	switch (s) {
	case ACCOUNT_OK:
		return "ok";
	case ACCOUNT_REVOKED:
		return "revoked";
	case ACCOUNT_ERROR:
		return "error";
	case ACCOUNT_NONE:
		break;
	}
	return "none";
}

enum account_status account_status_from_db(const char *db)
{
	if (!db)
		return ACCOUNT_NONE;
	if (!strcmp(db, "active") || !strcmp(db, "ok"))
		return ACCOUNT_OK;
	if (!strcmp(db, "revoked"))
		return ACCOUNT_REVOKED;
	return ACCOUNT_ERROR;
}

/* The associated data binding a ciphertext to its user and column. */
static int token_aad(const char *user_id, enum token_kind kind, char *out, size_t len)
{
	int n = snprintf(out, len, "google_accounts:%s:%s",
	                 kind == TOKEN_REFRESH ? "refresh" : "access", user_id);

	return n < 0 || (size_t)n >= len ? CJ_EINVAL : CJ_OK;
}

int user_tokens_seal(const struct crypto_key *key, const char *user_id, enum token_kind kind,
                     const char *token, char **out)
{
	char aad[256];

	*out = NULL;
	if (!key || !user_id || !token || token_aad(user_id, kind, aad, sizeof(aad)))
		return CJ_EINVAL;
	return crypto_encrypt(key, token, strlen(token), aad, out);
}

/* The account as stored, for one decision. */
struct account {
	int user_found;
	enum account_status status;
	char *access_enc; /* NULL: none */
	char *refresh_enc;
	int64_t expires_at; /* 0: none */
};

static void account_release(struct account *a)
{
	free(a->access_enc);
	free(a->refresh_enc);
	memset(a, 0, sizeof(*a));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int account_read(struct store *s, const char *user_id, struct account *a,
                        struct google_error *gerr)
{
	struct store_param p[] = {store_p_text(user_id)};
	struct store_rows *rows = NULL;
	char err[256] = "";
	int rc;

	memset(a, 0, sizeof(*a));
	rc = store_exec(s,
	                "SELECT u.id, g.status, g.access_token_enc, g.refresh_token_enc, "
	                "g.token_expires_at FROM users u LEFT JOIN google_accounts g "
	                "ON g.user_id = u.id WHERE u.id = $1",
	                p, 1, &rows, err, sizeof(err));
	if (rc) {
		snprintf(gerr->message, sizeof(gerr->message), "database: %s", err);
		return rc;
	}
	if (store_rows_next(rows)) {
		a->user_found = 1;
		a->status = account_status_from_db(store_rows_text(rows, 1));
		a->access_enc = dup_or_null(store_rows_text(rows, 2));
		a->refresh_enc = dup_or_null(store_rows_text(rows, 3));
		a->expires_at = store_rows_is_null(rows, 4) ? 0 : store_rows_int(rows, 4);
		if ((store_rows_text(rows, 2) && !a->access_enc) ||
		    (store_rows_text(rows, 3) && !a->refresh_enc))
			rc = CJ_ENOMEM;
	}
	store_rows_free(rows);
	if (rc)
		account_release(a);
	return rc;
}

static int token_open(const struct crypto_key *key, const char *user_id, enum token_kind kind,
                      const char *sealed, char **out)
{
	char aad[256];

	*out = NULL;
	if (token_aad(user_id, kind, aad, sizeof(aad)))
		return CJ_EINVAL;
	return crypto_decrypt(key, sealed, aad, out, NULL);
}

void user_token_release(struct user_token *t)
{
	if (t->access_token)
		crypto_secret_free(t->access_token, strlen(t->access_token));
	memset(t, 0, sizeof(*t));
}

/* One conditional UPDATE, so two runs anywhere cannot both refresh: the
 * lock must be free and the expiry still the one this run read. */
static int claim_refresh(struct store *s, const char *user_id, int64_t seen_expiry, int64_t now,
                         int *claimed, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_int(now + USER_TOKENS_LOCK_S),
	                          store_p_int(now), store_p_int(seen_expiry)};
	struct store_rows *rows = NULL;
	int rc;

	rc = store_exec(s,
	                "UPDATE google_accounts SET refresh_lock_until = $2 WHERE user_id = $1 "
	                "AND (refresh_lock_until IS NULL OR refresh_lock_until <= $3) "
	                "AND COALESCE(token_expires_at, 0) = $4",
	                p, 4, &rows, err, errlen);
	*claimed = !rc && store_rows_changes(rows) == 1;
	store_rows_free(rows);
	return rc;
}

/* Frees the lock after a transient failure: the next run tries again. */
static void unlock_refresh(struct store *s, const char *user_id)
{
	struct store_param p[] = {store_p_text(user_id)};
	char err[256] = "";

	if (store_exec(s, "UPDATE google_accounts SET refresh_lock_until = NULL WHERE user_id = $1",
	               p, 1, NULL, err, sizeof(err)))
		log_msg(L_WARNING, "token refresh lock of a user not freed (it lapses in %d s): %s",
		        USER_TOKENS_LOCK_S, err);
}

/* A new token: stored sealed, the account ok again. */
static int store_token(struct store *s, const char *user_id, const char *access_enc,
                       const char *refresh_enc, int64_t expires_at, int64_t now, char *err,
                       size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_text(access_enc),
	                          store_p_text(refresh_enc), store_p_int(expires_at),
	                          store_p_int(now)};

	return store_exec(s,
	                  "UPDATE google_accounts SET status = 'active', access_token_enc = $2, "
	                  "refresh_token_enc = COALESCE($3, refresh_token_enc), "
	                  "token_expires_at = $4, last_error = NULL, last_refresh_at = $5, "
	                  "refresh_lock_until = NULL, updated_at = $5 WHERE user_id = $1",
	                  p, 5, NULL, err, errlen);
}

/* A refusal for good: 'revoked' (invalid_grant) or 'error', with Google's
 * message; the access token goes, it cannot be renewed. */
static int store_refusal(struct store *s, const char *user_id, const char *status,
                         const char *why, int64_t now, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_text(status), store_p_text(why),
	                          store_p_int(now)};

	return store_exec(s,
	                  "UPDATE google_accounts SET status = $2, last_error = $3, "
	                  "access_token_enc = NULL, token_expires_at = NULL, "
	                  "refresh_lock_until = NULL, updated_at = $4 WHERE user_id = $1",
	                  p, 4, NULL, err, errlen);
}

/* This run holds the lock: one refresh call, its outcome stored. */
static int do_refresh(const struct user_tokens_deps *d, const char *user_id,
                      const struct account *a, const struct google_call *call,
                      struct user_token *out, struct google_error *gerr)
{
	struct google_token t = {0};
	char *refresh = NULL, *access_enc = NULL, *refresh_enc = NULL, err[256] = "";
	int64_t now, expires_at;
	int rc;

	rc = token_open(d->key, user_id, TOKEN_REFRESH, a->refresh_enc, &refresh);
	if (rc) {
		unlock_refresh(d->store, user_id);
		if (rc == CJ_ENOMEM)
			return rc;
		snprintf(gerr->message, sizeof(gerr->message),
		         "the stored refresh token does not decrypt under TOKEN_ENCRYPTION_KEY");
		gerr->kind = GOOGLE_ERR_CONFIG;
		return CJ_ECONFIG;
	}
	rc = google_oauth_refresh(d->google, refresh, call, &t, gerr);
	crypto_secret_free(refresh, strlen(refresh));
	now = clock_now_s();
	if (rc == CJ_EAUTH || rc == CJ_EUPSTREAM) {
		int src = store_refusal(d->store, user_id, rc == CJ_EAUTH ? "revoked" : "error",
		                        gerr->message, now, err, sizeof(err));

		if (src)
			log_msg(L_WARNING, "google account state not stored: %s", err);
		out->status = rc == CJ_EAUTH ? ACCOUNT_REVOKED : ACCOUNT_ERROR;
		return rc;
	}
	if (rc) {
		unlock_refresh(d->store, user_id);
		return rc;
	}
	expires_at = now + t.expires_in;
	rc = user_tokens_seal(d->key, user_id, TOKEN_ACCESS, t.access_token, &access_enc);
	if (!rc && t.refresh_token)
		rc = user_tokens_seal(d->key, user_id, TOKEN_REFRESH, t.refresh_token, &refresh_enc);
	if (!rc)
		rc = store_token(d->store, user_id, access_enc, refresh_enc, expires_at, now, err,
		                 sizeof(err));
	free(access_enc);
	free(refresh_enc);
	if (rc) {
		/* The token in hand works; others refresh again once the lock
		 * lapses. A rotated refresh token not stored is no loss: Google
		 * keeps the old one valid. */
		log_msg(L_WARNING, "refreshed google token not stored (%s); using it for this run",
		        err[0] ? err : cj_strerror(rc));
		unlock_refresh(d->store, user_id);
	}
	out->access_token = t.access_token;
	t.access_token = NULL;
	out->expires_at = expires_at;
	out->refreshed = 1;
	out->status = ACCOUNT_OK;
	google_token_release(&t);
	return CJ_OK;
}

/* Waits a little for another run's refresh; 0, or -1 when out of time. */
static int wait_for_other(const struct google_call *call, int64_t give_up_ms)
{
	struct timespec ts = {0, 100 * 1000000L};

	if (time_mono_ms() + 100 >= give_up_ms || (call->cancelled && call->cancelled(call->cancel_arg)))
		return -1;
	/* Another instance may hold the lock: only the database can tell us
	 * when it is done, so this polls, briefly, within the deadline. */
	nanosleep(&ts, NULL);
	return 0;
}

int user_token_get(const struct user_tokens_deps *d, const char *user_id, int64_t min_valid_s,
                   int64_t refused_expires_at, const struct google_call *call,
                   struct user_token *out, struct google_error *gerr)
{
	int64_t give_up_ms = time_mono_ms() + 25000;
	char err[256] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	memset(gerr, 0, sizeof(*gerr));
	if (!d->store || !d->key || !d->google) {
		gerr->kind = GOOGLE_ERR_CONFIG;
		snprintf(gerr->message, sizeof(gerr->message),
		         "google tokens need a database, a token key and the Google client");
		return CJ_ECONFIG;
	}
	if (call->deadline_ms < give_up_ms)
		give_up_ms = call->deadline_ms;
	for (;;) {
		struct account a;
		int64_t now;
		int claimed;

		rc = account_read(d->store, user_id, &a, gerr);
		if (rc)
			return rc;
		if (!a.user_found) {
			snprintf(gerr->message, sizeof(gerr->message), "no user with this id");
			return CJ_ENOTFOUND;
		}
		out->status = a.refresh_enc ? a.status : ACCOUNT_NONE;
		if (out->status == ACCOUNT_NONE || out->status == ACCOUNT_REVOKED) {
			gerr->kind = out->status == ACCOUNT_REVOKED ? GOOGLE_ERR_REVOKED : GOOGLE_ERR_NONE;
			snprintf(gerr->message, sizeof(gerr->message), "%s",
			         out->status == ACCOUNT_REVOKED ? "the google account is revoked"
			                                        : "the user has no google account");
			account_release(&a);
			return CJ_EAUTH;
		}
		now = clock_now_s();
		if (a.access_enc && a.expires_at - now >= min_valid_s &&
		    (!refused_expires_at || a.expires_at != refused_expires_at)) {
			rc = token_open(d->key, user_id, TOKEN_ACCESS, a.access_enc, &out->access_token);
			if (!rc) {
				out->expires_at = a.expires_at;
				account_release(&a);
				return CJ_OK;
			}
			if (rc == CJ_ENOMEM) {
				account_release(&a);
				return rc;
			}
			/* An access token that does not open is refreshed over. */
		}
		rc = claim_refresh(d->store, user_id, a.expires_at, now, &claimed, err, sizeof(err));
		if (rc) {
			snprintf(gerr->message, sizeof(gerr->message), "database: %s", err);
			account_release(&a);
			return rc;
		}
		if (claimed) {
			/* Dying after the claim leaves refresh_lock_until set: others
			 * wait for it to lapse (USER_TOKENS_LOCK_S), then refresh. */
			rc = do_refresh(d, user_id, &a, call, out, gerr);
			account_release(&a);
			return rc;
		}
		account_release(&a);
		if (wait_for_other(call, give_up_ms)) {
			gerr->kind = GOOGLE_ERR_TRANSIENT;
			snprintf(gerr->message, sizeof(gerr->message),
			         "another run is refreshing this user's google token");
			return CJ_ECONFLICT;
		}
	}
}

int user_api_call(const struct user_tokens_deps *d, const char *user_id, enum google_service svc,
                  const char *method, const char *path_query, const json_t *body,
                  const struct google_call *call, json_t **out, struct google_error *gerr)
{
	struct user_token t;
	int64_t refused;
	int rc;

	*out = NULL;
	rc = user_token_get(d, user_id, USER_TOKENS_MIN_VALID_S, 0, call, &t, gerr);
	if (rc) {
		user_token_release(&t);
		return rc;
	}
	rc = google_api_call(d->google, svc, method, path_query, body, t.access_token, call, out,
	                     gerr);
	if (rc != CJ_EAUTH || gerr->kind != GOOGLE_ERR_UNAUTHORIZED) {
		user_token_release(&t);
		return rc;
	}
	/* Refused before its time (revoked access, a changed password): one
	 * refresh, one more call. */
	refused = t.expires_at;
	user_token_release(&t);
	rc = user_token_get(d, user_id, USER_TOKENS_MIN_VALID_S, refused ? refused : -1, call, &t,
	                    gerr);
	if (!rc)
		rc = google_api_call(d->google, svc, method, path_query, body, t.access_token, call,
		                     out, gerr);
	user_token_release(&t);
	return rc;
}
