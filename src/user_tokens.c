/*
 * user_tokens.c - a user's Google access token, refreshed single-flight;
 * see user_tokens.h. Owns the google_accounts token columns: nothing else
 * writes access_token_enc, token_expires_at or refresh_lock_until.
 */
#include "user_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

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
