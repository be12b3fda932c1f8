/*
 * users.h - the users, google_accounts and contacts rows (SPEC §12) as the
 * app-data endpoints (§5.3) and the `user add` / `user list` commands (§3,
 * §7) see them: create a user with its Google account, list and get users,
 * list a user's contacts and set a contact's catch-up frequency.
 *
 * Owns the JSON shapes of §5.3 and the cursor format of these lists. Never
 * returns, logs or puts in an error message a token: the refresh token
 * given to users_create() is sealed (user_tokens_seal) before it reaches
 * the database, and no read selects a token column.
 *
 * JSON returned (new references and malloc'd strings belong to the caller):
 *   user     {"id", "email", "phone", "timezone", "notify", "waking":
 *            "HH:MM-HH:MM", "google": {"status": "ok"|"revoked"|"error"|
 *            "none", "expiresAt", "lastError"}}; users_get() adds "sync":
 *            [{"kind": "contacts"|"calendar", "calendarId" (null for
 *            contacts), "lastSyncAt", "lastChanges", "intervalSeconds",
 *            "nextSyncAt"}] and "channels": [{"id", "calendarId",
 *            "expiration", "lastMessageAt", "state"}].
 *   contact  {"id", "resourceName", "name", "email", "phone",
 *            "catchupFrequencyDays", "lastContactedAt"}
 * Times are Unix seconds or null; absent text is null. A user without a
 * google_accounts row has google status "none" and null expiresAt and
 * lastError.
 *
 * Errors: CJ_EINVAL (a field out of its rules, err names it; a limit out of
 * 1..500; a cursor we did not make), CJ_EEXISTS (users_create: the id, or
 * the e-mail whatever its case, is taken), CJ_ENOTFOUND, CJ_ENOMEM, and
 * the store's codes. Thread-safe (the store is).
 */
#ifndef CJ_USERS_H
#define CJ_USERS_H

#include <jansson.h>
#include <stdint.h>

#include "cj.h"

struct crypto_key;
struct store;

#define USERS_MAX_LIMIT 500
#define USER_ID_MAX 128 /* characters of a user id */
#define USER_EMAIL_MAX 254
#define USERS_FREQUENCY_MAX 365 /* catch-up frequency, days */
#define USERS_WAKING_LEN 12 /* "HH:MM-HH:MM" and its NUL */

/* A user to create; every member is borrowed for the call. */
struct user_new {
	const char *id; /* users_id_valid() */
	const char *email; /* users_email_valid() */
	const char *phone; /* users_phone_valid(), or NULL: none */
	const char *timezone; /* an IANA name that tz_get() loads */
	const char *notify; /* "email" or "sms" */
	int waking_start, waking_end; /* minutes after local midnight, 0 <= start < end <= 1440 */
	const char *google_refresh_token; /* NULL: no Google account */
};

/* The rules of `user add` (SPEC §3, §7), for users_create() and for the
 * command line, which names the flag. Each is 1 when s follows them. */
/* 1-128 characters of [A-Za-z0-9._~:@+-]: safe in a URL path segment. */
int users_id_valid(const char *s);
/* Roughly an address: 3-254 bytes of UTF-8, exactly one '@' with text on
 * both sides, no whitespace or control characters. */
int users_email_valid(const char *s);
/* E.164: ^\+[1-9][0-9]{1,14}$. */
int users_phone_valid(const char *s);
/* "HH:MM-HH:MM" within one day, start < end ("00:00-24:00" allowed,
 * nothing across midnight) into minutes. CJ_OK or CJ_EINVAL. */
int users_waking_parse(const char *s, int *start, int *end) CJ_WUR;
/* The text of a window in minutes ("08:00-21:00"). */
void users_waking_format(int start, int end, char out[USERS_WAKING_LEN]);

/* Creates the user and, with a refresh token, its google_accounts row
 * (token sealed with key for the user and TOKEN_REFRESH, status 'active',
 * no access token, no expiry) in one transaction, created at now.
 * CJ_EINVAL (err names the field; also a token without a key), CJ_EEXISTS
 * (err says whether the id or the e-mail). */
int users_create(struct store *s, const struct crypto_key *key, const struct user_new *u,
                 int64_t now, char *err, size_t errlen) CJ_WUR;

/* The current row of a sync_state read whose first columns are kind,
 * last_sync_at, last_change_count, interval_seconds, next_sync_at, as one
 * item of "sync" above; NULL on ENOMEM. */
struct store_rows;
json_t *users_sync_json(struct store_rows *r);

/* Up to limit (1..500) users by id ascending, after cursor (NULL or "":
 * from the first). *items receives a JSON array of users; *next a malloc'd
 * opaque cursor for the following page, or NULL when this page is the
 * last. */
int users_list(struct store *s, long limit, const char *cursor, json_t **items, char **next,
               char *err, size_t errlen) CJ_WUR;

/* One user with its sync state and calendar channels. CJ_ENOTFOUND. */
int users_get(struct store *s, const char *id, json_t **out, char *err, size_t errlen) CJ_WUR;

/* The user's contacts by id ascending, paged as users_list(). CJ_ENOTFOUND
 * when the user does not exist. */
int users_contacts_list(struct store *s, const char *user_id, long limit, const char *cursor,
                        json_t **items, char **next, char *err, size_t errlen) CJ_WUR;

/* Sets the contact's catchup_frequency_days to days (1..365), or clears it
 * (days 0), and returns the contact. CJ_EINVAL out of range; CJ_ENOTFOUND
 * unless the contact exists and belongs to user_id. */
int users_contact_set_frequency(struct store *s, const char *user_id, const char *contact_id,
                                int days, int64_t now, json_t **out, char *err,
                                size_t errlen) CJ_WUR;

#endif
