/*
 * users.c - data access for users, their Google accounts and contacts; see
 * users.h.
 *
 * Owns the SQL of these reads and of creating a user, and the cursor
 * format: base64url of a one-letter list tag, ':' and the last id shown
 * ("u:ID" for users, "c:ID" for contacts), keyset pagination on id
 * ascending (the primary keys serve it). The tag keeps a cursor of one
 * list from being taken by the other.
 */
#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"
#include "store.h"
#include "tz.h"
#include "user_tokens.h"
#include "utf8.h"

#define CURSOR_ID_MAX KEYSET_ID_MAX /* ids of the web app included */

static const char *const USER_COLUMNS =
    "u.id, u.email, u.phone, u.timezone, u.notify_channel, u.waking_start_minute, "
    "u.waking_end_minute, g.status, g.token_expires_at, g.last_error";
static const char *const CONTACT_COLUMNS =
    "id, resource_name, name, email, phone, catchup_frequency_days, last_contacted_at";

/* --- The rules of a new user --------------------------------------------- */

int users_id_valid(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                         "0123456789._~:@+-";
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= USER_ID_MAX && strspn(s, ok) == n;
}

int users_email_valid(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;
	size_t n = s ? strlen(s) : 0;

	if (!at || at == s || !at[1] || strchr(at + 1, '@') || n > USER_EMAIL_MAX ||
	    !utf8_valid(s, n))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

int users_phone_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 3 && n <= 16 && s[0] == '+' && s[1] >= '1' && s[1] <= '9' &&
	    strspn(s + 1, "0123456789") == n - 1;
}

/* "HH:MM" at s into minutes (0..1440, 24:00 only as itself); -1 if not. */
static int parse_hhmm(const char *s)
{
	int h, m;

	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
	    s[3] > '5' || s[4] < '0' || s[4] > '9')
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || (h == 24 && m))
		return -1;
	return h * 60 + m;
}

int users_waking_parse(const char *s, int *start, int *end)
{
	int a, b;

	if (!s || strlen(s) != 11 || s[5] != '-')
		return CJ_EINVAL;
	a = parse_hhmm(s);
	b = parse_hhmm(s + 6);
	if (a < 0 || b < 0 || a >= b)
		return CJ_EINVAL;
	*start = a;
	*end = b;
	return CJ_OK;
}

void users_waking_format(int start, int end, char out[USERS_WAKING_LEN])
{
	if (start < 0 || start > 1440 || end < 0 || end > 1440)
		start = end = 0; /* the schema's CHECKs rule this out */
	snprintf(out, USERS_WAKING_LEN, "%02d:%02d-%02d:%02d", start / 60, start % 60, end / 60,
	         end % 60);
}

static int check_new(const struct user_new *u, const struct crypto_key *key, char *err,
                     size_t errlen)
{
	char why[128];
	int a, b;

	if (!users_id_valid(u->id))
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "id: must be 1-%d characters of [A-Za-z0-9._~:@+-]", USER_ID_MAX);
	if (!users_email_valid(u->email))
		return cj_errorf(err, errlen, CJ_EINVAL, "email: not an e-mail address");
	if (u->phone && !users_phone_valid(u->phone))
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "phone: must be E.164 (+ and 2-15 digits, e.g. +14155550123)");
	if (!u->timezone || !tz_get(u->timezone, why, sizeof(why)))
		return cj_errorf(err, errlen, CJ_EINVAL, "timezone: not an IANA time zone");
	if (!u->notify || (strcmp(u->notify, "email") && strcmp(u->notify, "sms")))
		return cj_errorf(err, errlen, CJ_EINVAL, "notify: must be sms or email");
	a = u->waking_start;
	b = u->waking_end;
	if (a < 0 || b > 1440 || a >= b)
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "waking: start must be before end within one day");
	if (u->google_refresh_token && (!*u->google_refresh_token || !key))
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 !key ? "google refresh token: no token encryption key"
		                      : "google refresh token: empty");
	return CJ_OK;
}

/* --- Creating ------------------------------------------------------------ */

struct create_args {
	const struct user_new *u;
	const char *refresh_enc; /* sealed; NULL: no Google account */
	int64_t now;
};

/* One transaction: the clash check names what is taken; the unique
 * indexes still decide between two creates running at once. */
static int create_tx(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	struct create_args *ca = arg;
	const struct user_new *u = ca->u;
	struct store_param q[] = {store_p_text(u->id), store_p_text(u->email)};
	struct store_param p[] = {store_p_text(u->id),        store_p_text(u->email),
	                          store_p_text(u->phone),     store_p_text(u->timezone),
	                          store_p_text(u->notify),    store_p_int(u->waking_start),
	                          store_p_int(u->waking_end), store_p_int(ca->now)};
	struct store_param g[] = {store_p_text(u->id), store_p_text(ca->refresh_enc),
	                          store_p_int(ca->now)};
	struct store_rows *r;
	int rc;

	rc = store_conn_exec(c, "SELECT id FROM users WHERE id = $1 OR LOWER(email) = LOWER($2)", q,
	                     2, &r, err, errlen);
	if (rc)
		return rc;
	if (store_rows_next(r)) {
		int same_id = !strcmp(store_rows_text(r, 0), u->id);

		store_rows_free(r);
		return same_id
		    ? cj_errorf(err, errlen, CJ_EEXISTS, "user \"%s\" already exists", u->id)
		    : cj_errorf(err, errlen, CJ_EEXISTS, "a user with e-mail \"%s\" already exists",
		                u->email);
	}
	store_rows_free(r);
	rc = store_conn_exec(c,
	                     "INSERT INTO users (id, email, phone, timezone, notify_channel, "
	                     "waking_start_minute, waking_end_minute, created_at, updated_at) "
	                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
	                     p, 8, NULL, err, errlen);
	if (rc == CJ_EEXISTS)
		return cj_errorf(err, errlen, rc, "a user with this id or e-mail already exists");
	if (rc || !ca->refresh_enc)
		return rc;
	return store_conn_exec(c,
	                       "INSERT INTO google_accounts (user_id, refresh_token_enc, status, "
	                       "created_at, updated_at) VALUES ($1, $2, 'active', $3, $3)",
	                       g, 3, NULL, err, errlen);
}

int users_create(struct store *s, const struct crypto_key *key, const struct user_new *u,
                 int64_t now, char *err, size_t errlen)
{
	struct create_args ca = {u, NULL, now};
	char *enc = NULL;
	int rc = check_new(u, key, err, errlen);

	if (rc)
		return rc;
	if (u->google_refresh_token) {
		rc = user_tokens_seal(key, u->id, TOKEN_REFRESH, u->google_refresh_token, &enc);
		if (rc)
			return cj_errorf(err, errlen, rc, "cannot seal the refresh token: %s",
			                 cj_strerror(rc));
		ca.refresh_enc = enc;
	}
	rc = store_transact(s, create_tx, &ca, err, errlen);
	free(enc);
	return rc;
}

/* --- Reading ------------------------------------------------------------- */

static json_t *text_or_null(struct store_rows *r, size_t col)
{
	const char *t = store_rows_text(r, col);

	return t ? json_string(t) : json_null();
}

static json_t *int_or_null(struct store_rows *r, size_t col)
{
	return store_rows_is_null(r, col) ? json_null() : json_integer(store_rows_int(r, col));
}

/* Sets every (name, value) pair; NULL on a failed allocation (the values
 * are consumed either way). */
static json_t *object_of(size_t n, const char *const names[], json_t *values[])
{
	json_t *o = json_object();
	int failed = !o;

	for (size_t i = 0; i < n; i++) {
		if (!values[i])
			failed = 1;
		else if (!o)
			json_decref(values[i]);
		else if (json_object_set_new(o, names[i], values[i]))
			failed = 1; /* it took the value all the same */
	}
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The current row (USER_COLUMNS order) as a user object. */
static json_t *user_json(struct store_rows *r)
{
	static const char *const names[] = {"id",     "email",  "phone", "timezone",
	                                    "notify", "waking", "google"};
	static const char *const gnames[] = {"status", "expiresAt", "lastError"};
	char waking[USERS_WAKING_LEN];
	json_t *gv[3], *v[7];

	users_waking_format((int)store_rows_int(r, 5), (int)store_rows_int(r, 6), waking);
	gv[0] = json_string(account_status_name(account_status_from_db(store_rows_text(r, 7))));
	gv[1] = int_or_null(r, 8);
	gv[2] = text_or_null(r, 9);
	v[0] = text_or_null(r, 0);
	v[1] = text_or_null(r, 1);
	v[2] = text_or_null(r, 2);
	v[3] = text_or_null(r, 3);
	v[4] = text_or_null(r, 4);
	v[5] = json_string(waking);
	v[6] = object_of(3, gnames, gv);
	return object_of(7, names, v);
}

/* The current row (CONTACT_COLUMNS order) as a contact object. */
static json_t *contact_json(struct store_rows *r)
{
	static const char *const names[] = {
	    "id",    "resourceName",         "name",           "email",
	    "phone", "catchupFrequencyDays", "lastContactedAt"};
	json_t *v[7];

	for (size_t i = 0; i < 5; i++)
		v[i] = text_or_null(r, i);
	v[5] = int_or_null(r, 5);
	v[6] = int_or_null(r, 6);
	return object_of(7, names, v);
}

/* A sync_state row (kind, last_sync_at, last_change_count,
 * interval_seconds, next_sync_at): kind 'calendar:ID' is shown as
 * "calendar" with its calendarId. */
json_t *users_sync_json(struct store_rows *r)
{
	static const char *const names[] = {"kind",        "calendarId",      "lastSyncAt",
	                                    "lastChanges", "intervalSeconds", "nextSyncAt"};
	const char *kind = store_rows_text(r, 0);
	json_t *v[6];

	if (kind && !strncmp(kind, "calendar:", 9)) {
		v[0] = json_string("calendar");
		v[1] = json_string(kind + 9);
	} else {
		v[0] = kind ? json_string(kind) : json_null();
		v[1] = json_null();
	}
	v[2] = int_or_null(r, 1);
	v[3] = json_integer(store_rows_int(r, 2));
	v[4] = json_integer(store_rows_int(r, 3));
	v[5] = int_or_null(r, 4);
	return object_of(6, names, v);
}

/* A webhook_channels row (id, calendar_id, expiration,
 * last_notification_at, status). */
static json_t *channel_json(struct store_rows *r)
{
	static const char *const names[] = {"id", "calendarId", "expiration", "lastMessageAt",
	                                    "state"};
	json_t *v[5];

	v[0] = text_or_null(r, 0);
	v[1] = text_or_null(r, 1);
	v[2] = int_or_null(r, 2);
	v[3] = int_or_null(r, 3);
	v[4] = text_or_null(r, 4);
	return object_of(5, names, v);
}

/* 1 when s can be a parameter at all (the store refuses other text): a
 * lookup of anything else finds nothing. */
static int lookup_ok(const char *s)
{
	return s && *s && strlen(s) <= CURSOR_ID_MAX && utf8_valid(s, strlen(s));
}

int users_list(struct store *s, long limit, const char *cursor, json_t **items, char **next,
               char *err, size_t errlen)
{
	char first[512], after[512];
	struct keyset_query q = {'u', first, after, {{0}}, 0, user_json};

	snprintf(first, sizeof(first),
	         "SELECT %s FROM users u LEFT JOIN google_accounts g ON g.user_id = u.id "
	         "ORDER BY u.id LIMIT $1",
	         USER_COLUMNS);
	snprintf(after, sizeof(after),
	         "SELECT %s FROM users u LEFT JOIN google_accounts g ON g.user_id = u.id "
	         "WHERE u.id > $1 ORDER BY u.id LIMIT $2",
	         USER_COLUMNS);
	return keyset_page(s, &q, limit, cursor, items, next, err, errlen);
}

/* Runs sql with the one parameter id and appends every row to arr under
 * name of out, through to_json. */
static int add_rows(struct store *s, const char *sql, const char *id, json_t *out, const char *name,
                    json_t *(*to_json)(struct store_rows *), char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *r;
	json_t *arr;
	int rc = store_exec(s, sql, p, 1, &r, err, errlen);

	if (rc)
		return rc;
	arr = keyset_rows_array(r, store_rows_count(r), to_json);
	store_rows_free(r);
	if (!arr || json_object_set_new(out, name, arr))
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	return CJ_OK;
}

int users_get(struct store *s, const char *id, json_t **out, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *r;
	char sql[512];
	json_t *u;
	int rc;

	*out = NULL;
	if (!lookup_ok(id))
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no such user");
	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM users u LEFT JOIN google_accounts g ON g.user_id = u.id "
	         "WHERE u.id = $1",
	         USER_COLUMNS);
	rc = store_exec(s, sql, p, 1, &r, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(r)) {
		store_rows_free(r);
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no such user");
	}
	u = user_json(r);
	store_rows_free(r);
	if (!u)
		return cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	rc = add_rows(s,
	              "SELECT kind, last_sync_at, last_change_count, interval_seconds, "
	              "next_sync_at FROM sync_state WHERE user_id = $1 ORDER BY kind",
	              id, u, "sync", users_sync_json, err, errlen);
	if (!rc)
		rc = add_rows(s,
		              "SELECT id, calendar_id, expiration, last_notification_at, status "
		              "FROM webhook_channels WHERE user_id = $1 "
		              "ORDER BY expiration DESC, id",
		              id, u, "channels", channel_json, err, errlen);
	if (rc) {
		json_decref(u);
		return rc;
	}
	*out = u;
	return CJ_OK;
}

static int user_exists(struct store *s, const char *id, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_rows *r;
	int rc = store_exec(s, "SELECT 1 FROM users WHERE id = $1", p, 1, &r, err, errlen);

	if (rc)
		return rc;
	rc = store_rows_count(r) ? CJ_OK : cj_errorf(err, errlen, CJ_ENOTFOUND, "no such user");
	store_rows_free(r);
	return rc;
}

int users_contacts_list(struct store *s, const char *user_id, long limit, const char *cursor,
                        json_t **items, char **next, char *err, size_t errlen)
{
	char first[512], after[512];
	struct keyset_query q = {'c', first, after, {store_p_text(user_id)}, 1, contact_json};
	int rc;

	*items = NULL;
	*next = NULL;
	if (!lookup_ok(user_id))
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no such user");
	snprintf(first, sizeof(first),
	         "SELECT %s FROM contacts WHERE user_id = $1 ORDER BY id LIMIT $2",
	         CONTACT_COLUMNS);
	snprintf(after, sizeof(after),
	         "SELECT %s FROM contacts WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
	         CONTACT_COLUMNS);
	rc = keyset_page(s, &q, limit, cursor, items, next, err, errlen);
	/* An empty page may mean there is no such user. */
	if (!rc && !json_array_size(*items) && (rc = user_exists(s, user_id, err, errlen))) {
		json_decref(*items);
		*items = NULL;
	}
	return rc;
}

int users_contact_set_frequency(struct store *s, const char *user_id, const char *contact_id,
                                int days, int64_t now, json_t **out, char *err, size_t errlen)
{
	struct store_param p[] = {days ? store_p_int(days) : store_p_null(), store_p_int(now),
	                          store_p_text(contact_id), store_p_text(user_id)};
	struct store_rows *r;
	char sql[256];
	int rc;

	*out = NULL;
	if (days < 0 || days > USERS_FREQUENCY_MAX)
		return cj_errorf(err, errlen, CJ_EINVAL,
		                 "catchupFrequencyDays: must be 1-%d or null", USERS_FREQUENCY_MAX);
	if (!lookup_ok(user_id) || !lookup_ok(contact_id))
		return cj_errorf(err, errlen, CJ_ENOTFOUND, "no such contact");
	rc = store_exec(s,
	                "UPDATE contacts SET catchup_frequency_days = $1, updated_at = $2 "
	                "WHERE id = $3 AND user_id = $4",
	                p, 4, &r, err, errlen);
	if (rc)
		return rc;
	rc =
	    store_rows_changes(r) ? CJ_OK : cj_errorf(err, errlen, CJ_ENOTFOUND, "no such contact");
	store_rows_free(r);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT %s FROM contacts WHERE id = $1 AND user_id = $2",
	         CONTACT_COLUMNS);
	rc = store_exec(s, sql, p + 2, 2, &r, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(r))
		rc =
		    cj_errorf(err, errlen, CJ_ENOTFOUND, "no such contact"); /* deleted meanwhile */
	else if (!(*out = contact_json(r)))
		rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	store_rows_free(r);
	return rc;
}
