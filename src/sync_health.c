/*
 * sync_health.c - users' sync health and its problems; see sync_health.h.
 *
 * Owns the reads of one chunk of users (their accounts, sync rows and
 * channels, three queries whatever the chunk's size) and the rules that
 * turn them into problem codes. Reads only: it never changes a row.
 */
#include "sync_health.h"

#include <stdlib.h>
#include <string.h>

#include "keyset.h"
#include "store.h"
#include "user_tokens.h"
#include "users.h"

#define CHUNK 200 /* users read at once while looking for problems */
#define CURSOR_TAG 'h'

enum problem {
	P_TOKEN_REVOKED,
	P_TOKEN_ERROR,
	P_NO_TOKEN,
	P_NEVER_SYNCED,
	P_SYNC_OVERDUE,
	P_CHANNEL_MISSING,
	P_CHANNEL_EXPIRED,
	P_CHANNEL_SILENT,
	P_COUNT
};

static const char *const problem_names[P_COUNT] = {
    "token_revoked", "token_error",     "no_token",        "never_synced",
    "sync_overdue",  "channel_missing", "channel_expired", "channel_silent"};

/* u: id, email, status, token_expires_at, last_error. */
static const char USERS_FIRST[] =
    "SELECT u.id, u.email, g.status, g.token_expires_at, g.last_error FROM users u "
    "LEFT JOIN google_accounts g ON g.user_id = u.id ORDER BY u.id LIMIT $1";
static const char USERS_AFTER[] =
    "SELECT u.id, u.email, g.status, g.token_expires_at, g.last_error FROM users u "
    "LEFT JOIN google_accounts g ON g.user_id = u.id WHERE u.id > $1 ORDER BY u.id LIMIT $2";
/* The chunk's users are every user from its first id to its last. The
 * first five columns are what users_sync_json() reads. */
static const char SYNCS[] =
    "SELECT kind, last_sync_at, last_change_count, interval_seconds, next_sync_at, user_id "
    "FROM sync_state WHERE user_id >= $1 AND user_id <= $2 ORDER BY user_id, kind";
static const char CHANNELS[] =
    "SELECT id, calendar_id, status, expiration, last_notification_at, silent_flagged_at, "
    "user_id FROM webhook_channels WHERE user_id >= $1 AND user_id <= $2 AND status <> "
    "'stopped' ORDER BY user_id, expiration DESC, id";
#define SYNC_USER 5
#define CHANNEL_USER 6

/* One chunk's rows. */
struct chunk {
	struct store_rows *users, *syncs, *channels;
	int64_t now;
};

static json_t *text_or_null(struct store_rows *r, size_t col)
{
	const char *t = store_rows_text(r, col);

	return t ? json_string(t) : json_null();
}

static json_t *int_or_null(struct store_rows *r, size_t col)
{
	return store_rows_is_null(r, col) ? json_null() : json_integer(store_rows_int(r, col));
}

static int same_user(struct store_rows *r, size_t col, const char *id)
{
	const char *u = store_rows_text(r, col);

	return u && !strcmp(u, id);
}

/* A channel row (CHANNELS' order) as an item. */
static json_t *channel_json(struct store_rows *r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "id", text_or_null(r, 0), "calendarId",
	                 text_or_null(r, 1), "state", text_or_null(r, 2), "expiration",
	                 int_or_null(r, 3), "lastMessageAt", int_or_null(r, 4), "flagged",
	                 !store_rows_is_null(r, 5));
}

/* The channel rules for calendar of user id: a bit of the problems. */
static unsigned calendar_channels(struct chunk *c, const char *id, const char *calendar)
{
	int live = 0, silent = 0, ran_out = 0;

	store_rows_rewind(c->channels);
	while (store_rows_next(c->channels)) {
		const char *cal = store_rows_text(c->channels, 1);
		const char *state = store_rows_text(c->channels, 2);
		int active = state && !strcmp(state, "active");
		int unexpired = store_rows_int(c->channels, 3) > c->now;

		if (!same_user(c->channels, CHANNEL_USER, id) || !cal || strcmp(cal, calendar))
			continue;
		live |= active && unexpired;
		silent |= active && unexpired && !store_rows_is_null(c->channels, 5);
		ran_out |= (state && !strcmp(state, "expired")) || (active && !unexpired);
	}
	if (live)
		return silent ? 1u << P_CHANNEL_SILENT : 0;
	return 1u << (ran_out ? P_CHANNEL_EXPIRED : P_CHANNEL_MISSING);
}

/* The user's sync rows into arr; *mask gets the sync problems (only
 * counted for an account that is ok). NULL-safe on arr. 0 or -1
 * (ENOMEM). */
static int add_syncs(struct chunk *c, const char *id, int ok, json_t *arr, unsigned *mask)
{
	int rows = 0;

	store_rows_rewind(c->syncs);
	while (store_rows_next(c->syncs)) {
		if (!same_user(c->syncs, SYNC_USER, id))
			continue;
		rows++;
		if (json_array_append_new(arr, users_sync_json(c->syncs)))
			return -1;
		if (!ok)
			continue;
		if (store_rows_is_null(c->syncs, 1))
			*mask |= 1u << P_NEVER_SYNCED;
		/* nextSyncAt + interval < now: more than one interval late. */
		if (!store_rows_is_null(c->syncs, 4) &&
		    store_rows_int(c->syncs, 4) + store_rows_int(c->syncs, 3) < c->now)
			*mask |= 1u << P_SYNC_OVERDUE;
	}
	if (ok && !rows)
		*mask |= 1u << P_NEVER_SYNCED;
	return 0;
}

/* The channel problems of every calendar the user has synced. */
static unsigned synced_calendars(struct chunk *c, const char *id)
{
	unsigned mask = 0;
	size_t i = 0, n = store_rows_count(c->syncs);
	char **cals = calloc(n + 1, sizeof(*cals));
	size_t ncals = 0;

	if (!cals)
		return 0;
	store_rows_rewind(c->syncs);
	while (store_rows_next(c->syncs)) {
		const char *kind = store_rows_text(c->syncs, 0);

		if (same_user(c->syncs, SYNC_USER, id) && kind && !strncmp(kind, "calendar:", 9) &&
		    !store_rows_is_null(c->syncs, 1))
			cals[ncals++] = strdup(kind + 9);
	}
	/* After the loop: calendar_channels() rewinds the channels only. */
	for (i = 0; i < ncals; i++)
		if (cals[i])
			mask |= calendar_channels(c, id, cals[i]);
	for (i = 0; i < ncals; i++)
		free(cals[i]);
	free(cals);
	return mask;
}

static json_t *problems_json(unsigned mask)
{
	json_t *arr = json_array();

	for (int p = 0; arr && p < P_COUNT; p++)
		if ((mask & (1u << p)) &&
		    json_array_append_new(arr, json_string(problem_names[p]))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* The current user row of c as an item; *has_problems. NULL on ENOMEM. */
static json_t *user_item(struct chunk *c, int *has_problems)
{
	const char *id = store_rows_text(c->users, 0);
	enum account_status st = account_status_from_db(store_rows_text(c->users, 2));
	json_t *sync = json_array(), *chans = json_array(), *problems;
	unsigned mask = 0;

	*has_problems = 0;
	if (!sync || !chans || add_syncs(c, id, st == ACCOUNT_OK, sync, &mask))
		goto nomem;
	store_rows_rewind(c->channels);
	while (store_rows_next(c->channels))
		if (same_user(c->channels, CHANNEL_USER, id) &&
		    json_array_append_new(chans, channel_json(c->channels)))
			goto nomem;
	if (st == ACCOUNT_REVOKED)
		mask |= 1u << P_TOKEN_REVOKED;
	else if (st == ACCOUNT_ERROR)
		mask |= 1u << P_TOKEN_ERROR;
	else if (st == ACCOUNT_NONE)
		mask |= 1u << P_NO_TOKEN;
	else
		mask |= synced_calendars(c, id);
	problems = problems_json(mask);
	if (!problems)
		goto nomem;
	*has_problems = mask != 0;
	return json_pack("{s:s, s:o, s:{s:s, s:o, s:o}, s:o, s:o, s:o}", "id", id, "email",
	                 text_or_null(c->users, 1), "google", "status", account_status_name(st),
	                 "expiresAt", int_or_null(c->users, 3), "lastError",
	                 text_or_null(c->users, 4), "sync", sync, "channels", chans, "problems",
	                 problems);
nomem:
	json_decref(sync);
	json_decref(chans);
	return NULL;
}

static void chunk_free(struct chunk *c)
{
	store_rows_free(c->users);
	store_rows_free(c->syncs);
	store_rows_free(c->channels);
	memset(c, 0, sizeof(*c));
}

/* Up to n users after `after` (NULL: from the first), with their rows. */
static int chunk_read(struct store *s, const char *after, long n, struct chunk *c, char *err,
                      size_t errlen)
{
	struct store_param p[2];
	const char *first = NULL, *last = NULL;
	int rc;

	if (after) {
		p[0] = store_p_text(after);
		p[1] = store_p_int(n);
	} else {
		p[0] = store_p_int(n);
	}
	rc = store_exec(s, after ? USERS_AFTER : USERS_FIRST, p, after ? 2 : 1, &c->users, err,
	                errlen);
	if (rc)
		return rc;
	while (store_rows_next(c->users)) {
		if (!first)
			first = store_rows_text(c->users, 0);
		last = store_rows_text(c->users, 0);
	}
	store_rows_rewind(c->users);
	if (!first || !last)
		return CJ_OK; /* no users: no rows either */
	p[0] = store_p_text(first);
	p[1] = store_p_text(last);
	rc = store_exec(s, SYNCS, p, 2, &c->syncs, err, errlen);
	if (!rc)
		rc = store_exec(s, CHANNELS, p, 2, &c->channels, err, errlen);
	return rc;
}

/* The state of one page being filled. */
struct page {
	long limit;
	int problems_only;
	json_t *items;
	char *last; /* the id the next page starts after; NULL: no more users */
	int full; /* the page holds limit items */
};

/* Adds the chunk's users to the page until it is full. CJ_OK or
 * CJ_ENOMEM. */
static int take_chunk(struct chunk *c, struct page *pg)
{
	int has;

	while (!pg->full && store_rows_next(c->users)) {
		json_t *item = user_item(c, &has);

		if (!item)
			return CJ_ENOMEM;
		free(pg->last);
		pg->last = strdup(store_rows_text(c->users, 0));
		if (!pg->last) {
			json_decref(item);
			return CJ_ENOMEM;
		}
		if (pg->problems_only && !has) {
			json_decref(item);
			continue;
		}
		if (json_array_append_new(pg->items, item))
			return CJ_ENOMEM;
		pg->full = json_array_size(pg->items) >= (size_t)pg->limit;
	}
	return CJ_OK;
}

int sync_health_page(struct store *s, long limit, const char *cursor, int problems_only,
                     int64_t now, json_t **items, char **next, char *err, size_t errlen)
{
	struct page pg = {limit, problems_only, NULL, NULL, 0};
	struct chunk c = {NULL, NULL, NULL, now};
	long want, scanned = 0, got;
	int rc = CJ_OK, more = 0;

	*items = NULL;
	*next = NULL;
	if (limit < 1 || limit > KEYSET_MAX_LIMIT)
		return cj_errorf(err, errlen, CJ_EINVAL, "limit must be between 1 and %d",
		                 KEYSET_MAX_LIMIT);
	if (cursor && *cursor && !(pg.last = keyset_cursor_parse(CURSOR_TAG, cursor)))
		return cj_errorf(err, errlen, CJ_EINVAL, "cursor is not one this service gave out");
	pg.items = json_array();
	if (!pg.items)
		rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	while (!rc) {
		/* One user more than the page tells whether another follows. */
		want = problems_only ? CHUNK : limit + 1;
		rc = chunk_read(s, pg.last, want, &c, err, errlen);
		if (rc)
			break;
		got = (long)store_rows_count(c.users);
		rc = take_chunk(&c, &pg);
		if (rc) {
			cj_errorf(err, errlen, rc, "out of memory");
			break;
		}
		/* Users left unread in this chunk, or a full chunk: more may follow. */
		more = store_rows_next(c.users) || got == want;
		chunk_free(&c);
		scanned += got;
		if (pg.full || !more || scanned >= SYNC_HEALTH_SCAN_MAX || !problems_only)
			break;
	}
	chunk_free(&c);
	if (!rc && more && pg.last && !(*next = keyset_cursor_make(CURSOR_TAG, pg.last)))
		rc = cj_errorf(err, errlen, CJ_ENOMEM, "out of memory");
	free(pg.last);
	if (rc) {
		json_decref(pg.items);
		return rc;
	}
	*items = pg.items;
	return CJ_OK;
}
