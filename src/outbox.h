/*
 * outbox.h - the ledger of once-only messages (SPEC §7, §12): an SMS or an
 * e-mail is a row with a unique key written in state 'sending' before the
 * provider is called, then moved to 'sent' or 'failed'. Nothing here calls
 * a provider; the jobs and the /admin/outbox endpoints do, in this order:
 *
 *   outbox_begin()      CJ_OK: the row is new and ours to send now.
 *                       CJ_EEXISTS: the key was seen before; *existing says
 *                       in which state (sent: done; failed: refused for
 *                       good; sending: a crash or a lost answer - never
 *                       send it again automatically).
 *   provider call
 *   outbox_move()       sending -> sent (provider id) or -> failed (code).
 *   outbox_forget()     the call certainly never left: the row goes, so the
 *                       retried job sends it.
 *
 * A death between begin and move leaves 'sending' for an operator
 * (`GET /admin/outbox?state=sending`): a missed message beats a double one.
 *
 * States and their moves live in outbox_move() alone; every move is one
 * UPDATE … WHERE state = from, so two instances cannot both make it.
 * Thread-safe as the store is.
 */
#ifndef CJ_OUTBOX_H
#define CJ_OUTBOX_H

#include <jansson.h>
#include <stdint.h>

#include "cj.h"

struct store;

enum outbox_state { OUTBOX_SENDING = 0, OUTBOX_SENT, OUTBOX_FAILED };

const char *outbox_state_name(enum outbox_state s); /* "sending", ... */
/* CJ_OK and *out, or CJ_EINVAL for another name. */
int outbox_state_parse(const char *name, enum outbox_state *out);

/* A message to record. Strings are borrowed. */
struct outbox_message {
	const char *key; /* unique per effect, e.g. "batch:{userId}:{hash}" */
	const char *kind; /* "batch", "reminder", "token-health", ... */
	const char *user_id; /* may be NULL */
	const char *channel; /* "sms" or "email" */
	const char *to; /* E.164 number or e-mail address */
	const char *subject; /* e-mail only; may be NULL */
	const char *body;
};

/* Inserts msg as 'sending' under a new id (33 bytes into id_out). When its
 * key exists: CJ_EEXISTS with that row's id and *existing its state. */
int outbox_begin(struct store *s, const struct outbox_message *msg, int64_t now, char *id_out,
                 enum outbox_state *existing, char *err, size_t errlen) CJ_WUR;

/* Moves row id from one state to another, the only moves being
 * sending -> sent, sending -> failed and (an operator's resend)
 * sending -> sending (attempts + 1). provider_id (sent) and error (failed)
 * may be NULL. CJ_OK; CJ_ECONFLICT when the row is not in `from` any more
 * (someone else moved it); CJ_ENOTFOUND for an unknown id; CJ_EINVAL for a
 * move that does not exist. */
int outbox_move(struct store *s, const char *id, enum outbox_state from, enum outbox_state to,
                const char *provider_id, const char *error, int64_t now, char *err,
                size_t errlen) CJ_WUR;

/* Removes row id while it is still 'sending', for a call that certainly
 * never reached the provider (no byte of the request was written, or the
 * provider was not configured): the retried job may then send it.
 * CJ_OK; CJ_ECONFLICT when the row moved on; CJ_ENOTFOUND. */
int outbox_forget(struct store *s, const char *id, char *err, size_t errlen) CJ_WUR;

/* One row as §5.3's item: {id, key, userId, channel, to, state, providerId,
 * error, createdAt, sentAt}. *subject and *body (may be NULL) receive
 * malloc'd copies, for a resend. CJ_ENOTFOUND for an unknown id. */
int outbox_get(struct store *s, const char *id, json_t **item, char **subject, char **body,
               char *err, size_t errlen) CJ_WUR;

/* Lists rows of one state (all states when state is NULL) by id, keyset
 * paged (keyset.h). */
int outbox_list(struct store *s, const enum outbox_state *state, long limit, const char *cursor,
                json_t **items, char **next, char *err, size_t errlen) CJ_WUR;

#endif
