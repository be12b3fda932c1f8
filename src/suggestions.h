/*
 * suggestions.h - the suggestions rows and their states (SPEC §5.3, §7):
 *
 *   pending  --notify-->  notified  --accept-->  accepted
 *      |                     |                      |
 *      +------accept---------+                      |
 *      +--dismiss / expire---+----dismiss-----------+
 *
 * pending: stored by suggestion-generation, not told yet; notified: listed
 * in a batch message; accepted: the user said yes (reminded once before it
 * starts); expired: the slot went (regeneration, or it passed); dismissed:
 * the user said no. Every move is suggestions_move(), one UPDATE … WHERE
 * state IN (the states it may leave), so two instances cannot both move a
 * row. What the suggestion jobs write beyond this lives with them.
 *
 * JSON items are §5.3's: {id, contactId, contactName, start, end, state,
 * createdAt}. Thread-safe as the store is.
 */
#ifndef CJ_SUGGESTIONS_H
#define CJ_SUGGESTIONS_H

#include <jansson.h>
#include <stdint.h>

#include "cj.h"

struct store;
struct store_conn;

enum suggestion_state {
	SUGGESTION_PENDING = 0,
	SUGGESTION_NOTIFIED,
	SUGGESTION_ACCEPTED,
	SUGGESTION_EXPIRED,
	SUGGESTION_DISMISSED,
};

const char *suggestion_state_name(enum suggestion_state s);
int suggestion_state_parse(const char *name, enum suggestion_state *out);

/* Moves suggestion id to `to` from any state allowed to reach it: notified
 * from pending; accepted from pending or notified; expired from pending or
 * notified; dismissed from pending, notified or accepted. On CJ_OK *item
 * (may be NULL) receives the row after the move. CJ_ENOTFOUND; CJ_ECONFLICT
 * when its state cannot move there (err names the state). */
int suggestions_move(struct store *s, const char *id, enum suggestion_state to, int64_t now,
                     json_t **item, char *err, size_t errlen) CJ_WUR;

/* The same move inside the caller's transaction on c (the suggestion jobs
 * move rows while they hold the user's row lock). CJ_OK with *moved 1, or 0
 * when the row is missing or in a state that cannot move there; a store
 * failure otherwise. */
int suggestions_move_conn(struct store_conn *c, const char *id, enum suggestion_state to,
                          int64_t now, int *moved, char *err, size_t errlen) CJ_WUR;

/* A user's suggestions in one state (all when state is NULL), by id, keyset
 * paged. CJ_ENOTFOUND when the user does not exist. */
int suggestions_list(struct store *s, const char *user_id, const enum suggestion_state *state,
                     long limit, const char *cursor, json_t **items, char **next, char *err,
                     size_t errlen) CJ_WUR;

#endif
