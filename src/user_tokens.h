/*
 * user_tokens.h - a user's Google access token, valid when a handler needs
 * it: read from google_accounts, decrypted with TOKEN_ENCRYPTION_KEY, and
 * refreshed through the OAuth token endpoint when it expires too soon.
 *
 * Refresh is single-flight across threads and instances: the refresher
 * claims the row with one conditional UPDATE (refresh_lock_until, on the
 * stored expiry it read); the others wait for the new expiry to appear,
 * up to their deadline, and then use the stored token. A refresher that
 * dies mid-call leaves a lock that lapses after USER_TOKENS_LOCK_S; the
 * token it got is lost, which costs one more refresh and nothing else.
 *
 * Outcomes of a refresh are stored with the account: a new token (status
 * ok, last error cleared), invalid_grant (status revoked, Google's message
 * kept), another permanent refusal (status error). Transient failures
 * change nothing.
 *
 * Tokens are sealed with crypto_encrypt, the associated data binding each
 * ciphertext to its user and its kind (user_tokens_seal), so a ciphertext
 * copied to another row or column fails to decrypt. Plaintext tokens are
 * wiped when released and never logged.
 */
#ifndef CJ_USER_TOKENS_H
#define CJ_USER_TOKENS_H

#include <stdint.h>

#include "cj.h"
#include "google_api.h"

struct crypto_key;
struct store;

#define USER_TOKENS_LOCK_S 30 /* a refresh claim lapses after this */
#define USER_TOKENS_MIN_VALID_S 300 /* a handler's token lives at least 5 min */

/* What a handler may use; any member may be NULL when not configured. */
struct user_tokens_deps {
	struct store *store;
	const struct crypto_key *key;
	struct google_api *google;
};

enum token_kind { TOKEN_ACCESS, TOKEN_REFRESH };

/* google_accounts.status as SPEC §3/§5.3 name it. The database keeps the
 * web app's 'active' for "ok". */
enum account_status { ACCOUNT_NONE = 0, ACCOUNT_OK, ACCOUNT_REVOKED, ACCOUNT_ERROR };
const char *account_status_name(enum account_status s); /* "ok", "revoked", ... */
/* The status of a google_accounts.status value (NULL: ACCOUNT_NONE). */
enum account_status account_status_from_db(const char *db);

struct user_token {
	char *access_token; /* malloc'd; user_token_release() wipes it */
	int64_t expires_at; /* Unix seconds; 0 when none */
	int refreshed; /* this call refreshed it */
	enum account_status status;
};

/* Seals a token for user_id's row. *out is malloc'd "v1:..." text. */
int user_tokens_seal(const struct crypto_key *key, const char *user_id, enum token_kind kind,
                     const char *token, char **out) CJ_WUR;

/* A token for user_id valid for at least min_valid_s more seconds,
 * refreshing it when it is not. refused_expires_at (0: none) names a token
 * the API refused (401): one with that expiry is refreshed whatever its
 * expiry says, while a newer stored one is used as it is. Results:
 *   CJ_OK          *out filled (status ok)
 *   CJ_ENOTFOUND   no such user (gerr->message says so)
 *   CJ_EAUTH       gerr->kind GOOGLE_ERR_REVOKED: the account is revoked,
 *                  or was found revoked now (out->status ACCOUNT_REVOKED);
 *                  gerr->kind GOOGLE_ERR_NONE: the user has no Google
 *                  account or no refresh token (out->status ACCOUNT_NONE)
 *   CJ_ECONFLICT   another run is refreshing and did not finish in time
 *   CJ_ECONFIG     the refresh token does not decrypt under this key, or
 *                  the OAuth client is refused / not configured
 *   others         google_api.h's codes for the refresh call, and the
 *                  store's; CJ_EUPSTREAM also marks the account 'error'
 * out is set (zeroed at least) on every path; release it always. */
int user_token_get(const struct user_tokens_deps *d, const char *user_id, int64_t min_valid_s,
                   int64_t refused_expires_at, const struct google_call *call,
                   struct user_token *out, struct google_error *gerr) CJ_WUR;
void user_token_release(struct user_token *t);

/* google_api_call() as user_id: takes a token (min 5 min), and on a 401
 * refreshes it once and calls again. Codes as google_api_call() and
 * user_token_get(). */
int user_api_call(const struct user_tokens_deps *d, const char *user_id, enum google_service svc,
                  const char *method, const char *path_query, const json_t *body,
                  const struct google_call *call, json_t **out,
                  struct google_error *gerr) CJ_WUR;

#endif
