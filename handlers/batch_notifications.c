/*
 * batch_notifications.c - the batch-notifications job (SPEC §7).
 *
 * With userId: one message listing the user's oldest-slot pending
 * suggestions (up to 5), by SMS or e-mail (notify_channel_pick), only while
 * the user is awake (waking hours in their zone). The outbox key is the
 * user plus a hash of the listed suggestion ids, so a retried or concurrent
 * run for the same batch finds the key and never sends it twice. Once the
 * message is sent (or may have been: unconfirmed) the listed suggestions
 * move to 'notified', together in one transaction; held back ones (quiet
 * hours, the SMS limit) stay pending for the next batch.
 *
 * Without userId (the hourly schedule): a scan over the users with pending
 * suggestions, one task per user and hour.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "handlers.h"
#include "log.h"
#include "notify.h"
#include "store.h"
#include "suggestions.h"
#include "tz.h"

#define BATCH_MAX 5

struct batch_user {
	char phone[64], email[320], tz[TZ_NAME_MAX + 1], pref[16];
	int waking_start, waking_end;
};

struct batch_item {
	char id[130];
	char line[200];
};

static int load_user(struct job_ctx *ctx, const char *user_id, struct batch_user *u, char *err,
                     size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id)};
	struct store_rows *rows = NULL;
	int rc;

	rc =
	    store_exec(ctx->svc->store,
	               "SELECT COALESCE(phone, ''), COALESCE(email, ''), timezone, notify_channel, "
	               "waking_start_minute, waking_end_minute FROM users WHERE id = $1",
	               p, 1, &rows, err, errlen);
	if (rc)
		return rc;
	if (!store_rows_next(rows)) {
		store_rows_free(rows);
		return CJ_ENOTFOUND;
	}
	snprintf(u->phone, sizeof(u->phone), "%s", store_rows_text(rows, 0));
	snprintf(u->email, sizeof(u->email), "%s", store_rows_text(rows, 1));
	snprintf(u->tz, sizeof(u->tz), "%s", store_rows_text(rows, 2));
	snprintf(u->pref, sizeof(u->pref), "%s", store_rows_text(rows, 3));
	u->waking_start = (int)store_rows_int(rows, 4);
	u->waking_end = (int)store_rows_int(rows, 5);
	store_rows_free(rows);
	return CJ_OK;
}

/* Whether now falls inside the user's waking hours, in their zone (UTC
 * when the zone is unknown). */
static int awake(const struct batch_user *u, int64_t now)
{
	char err[128];
	const struct tz *z = tz_get(u->tz, err, sizeof(err));
	struct tm tm;
	int32_t off;
	int minute;

	if (!z) {
		log_msg(L_WARNING, "unknown time zone \"%s\": using UTC for waking hours", u->tz);
		z = tz_get("Etc/UTC", err, sizeof(err));
	}
	if (!z || tz_utc_to_local(z, now, &tm, &off))
		return 0;
	minute = tm.tm_hour * 60 + tm.tm_min;
	return minute >= u->waking_start && minute < u->waking_end;
}

static int load_pending(struct job_ctx *ctx, const char *user_id, const char *zone_name,
                        struct batch_item *items, size_t *n, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_int(BATCH_MAX)};
	struct store_rows *rows = NULL;
	char when[64];
	int rc;

	*n = 0;
	rc = store_exec(ctx->svc->store,
	                "SELECT s.id, s.slot_start, COALESCE(c.name, c.email, 'a contact') FROM "
	                "suggestions s LEFT JOIN contacts c ON c.id = s.contact_id WHERE s.user_id "
	                "= $1 AND s.state = 'pending' ORDER BY s.slot_start, s.id LIMIT $2",
	                p, 2, &rows, err, errlen);
	if (rc)
		return rc;
	while (store_rows_next(rows) && *n < BATCH_MAX) {
		struct batch_item *it = &items[(*n)++];

		snprintf(it->id, sizeof(it->id), "%s", store_rows_text(rows, 0));
		notify_format_local(store_rows_int(rows, 1), zone_name, when, sizeof(when));
		snprintf(it->line, sizeof(it->line), "- %s, %s", store_rows_text(rows, 2), when);
	}
	store_rows_free(rows);
	return CJ_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "batch:{userId}:" + the first 32 hex characters of SHA-256 over the
 * sorted ids, each followed by a newline. */
static int batch_key(const char *user_id, const struct batch_item *items, size_t n, char *out,
                     size_t outlen)
{
	const char *ids[BATCH_MAX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
	char hex[33];
	int ok;

	for (size_t i = 0; i < n; i++)
		ids[i] = items[i].id;
	qsort(ids, n, sizeof(ids[0]), cmp_str);
	ok = md_ctx && EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(md_ctx, ids[i], strlen(ids[i])) &&
		    EVP_DigestUpdate(md_ctx, "\n", 1);
	ok = ok && EVP_DigestFinal_ex(md_ctx, md, &mdlen) && mdlen >= 16;
	EVP_MD_CTX_free(md_ctx);
	if (!ok)
		return CJ_EINTERNAL;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(out, outlen, "batch:%s:%s", user_id, hex);
	return CJ_OK;
}

static char *batch_body(const struct batch_item *items, size_t n)
{
	struct buf b;
	char *s;

	buf_init(&b, 4096);
	if (buf_appendf(&b, "CatchUp: time to catch up?\n"))
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (buf_appendf(&b, "%s\n", items[i].line))
			goto fail;
	if (buf_appendf(&b, "Open CatchUp to accept or dismiss."))
		goto fail;
	s = strdup(buf_str(&b));
	buf_release(&b);
	return s;
fail:
	buf_release(&b);
	return NULL;
}

struct marking {
	const struct batch_item *items;
	size_t n;
	int64_t now;
};

static int mark_tx(struct store_conn *c, void *arg, char *err, size_t errlen)
{
	const struct marking *m = arg;

	for (size_t i = 0; i < m->n; i++) {
		int moved,
		    rc = suggestions_move_conn(c, m->items[i].id, SUGGESTION_NOTIFIED, m->now,
		                               &moved, err, errlen);

		if (rc)
			return rc;
	}
	return CJ_OK;
}

/* The listed suggestions are told (or may be): pending -> notified, all in
 * one transaction. A run that stops part way (a death, a lost database)
 * leaves them all pending, so its retry, or a concurrent run for the same
 * user, lists the same batch, finds its outbox key and sends nothing; moved
 * one at a time, the rest would make a new batch with a new key and be sent
 * again. One moved meanwhile (accepted, dismissed) stays as it is. */
static enum job_outcome mark_notified(struct job_ctx *ctx, const struct batch_item *items, size_t n)
{
	struct marking m = {items, n, clock_now_s()};
	char err[256] = "";
	int rc = store_transact(ctx->svc->store, mark_tx, &m, err, sizeof(err));

	if (rc)
		return notify_store_fail(ctx, rc, "marking suggestions notified", err);
	return JOB_OK;
}

static void set_result(struct job_ctx *ctx, const struct notify_counts *c, long deferred,
                       const char *channel, size_t listed)
{
	job_set_result(ctx,
	               json_pack("{s:I, s:I, s:I, s:I, s:o, s:I}", "sent", (json_int_t)c->sent,
	                         "deferred", (json_int_t)deferred, "failed", (json_int_t)c->failed,
	                         "unconfirmed", (json_int_t)c->unconfirmed, "channel",
	                         channel ? json_string(channel) : json_null(), "listed",
	                         (json_int_t)listed));
}

static enum job_outcome batch_one(struct job_ctx *ctx, const char *user_id)
{
	struct batch_user u;
	struct batch_item items[BATCH_MAX];
	struct notify_counts c = {0, 0, 0, 0};
	char err[512] = "", key[300];
	const char *channel, *to;
	enum notify_fate f;
	size_t n = 0;
	char *body;
	int rc;

	if (!ctx->svc->store)
		return job_fail_rc(ctx, CJ_ECONFIG, "no_database", "no database configured");
	rc = load_user(ctx, user_id, &u, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		return job_fail(ctx, JOB_PERMANENT, "user_not_found", "userId: no such user");
	if (rc)
		return notify_store_fail(ctx, rc, "reading the user", err);
	channel = notify_channel_pick(u.pref, u.phone, u.email, &to);
	rc = load_pending(ctx, user_id, u.tz, items, &n, err, sizeof(err));
	if (rc)
		return notify_store_fail(ctx, rc, "listing pending suggestions", err);
	if (!n || !channel) {
		set_result(ctx, &c, 0, channel, 0);
		return JOB_OK;
	}
	if (!awake(&u, clock_now_s())) {
		set_result(ctx, &c, (long)n, channel, 0);
		return JOB_OK;
	}
	if (batch_key(user_id, items, n, key, sizeof(key)))
		return job_fail(ctx, JOB_RETRY, "internal", "hashing the batch failed");
	body = batch_body(items, n);
	if (!body)
		return job_fail_rc(ctx, CJ_ENOMEM, "out_of_memory", "building the message");
	{
		struct outbox_message m = {key, "batch", user_id, channel, to, "Time to catch up",
		                           body};

		f = notify_send(ctx, &m, &c);
	}
	free(body);
	if (f == NOTIFY_RETRY)
		return JOB_RETRY;
	if (f == NOTIFY_SENT || f == NOTIFY_UNCONFIRMED) {
		enum job_outcome o = mark_notified(ctx, items, n);

		if (o != JOB_OK)
			return o;
	}
	set_result(ctx, &c, f == NOTIFY_DEFERRED ? (long)n : 0, channel,
	           f == NOTIFY_DEFERRED ? 0 : n);
	return JOB_OK;
}

enum job_outcome handle_batch_notifications(struct job_ctx *ctx)
{
	const char *user_id = json_string_value(json_object_get(ctx->payload, "userId"));
	char hour[32];

	if (user_id)
		return batch_one(ctx, user_id);
	snprintf(hour, sizeof(hour), "%lld", (long long)(clock_now_s() / 3600));
	return notify_scan(ctx, "batch-notifications",
	                   json_string_value(json_object_get(ctx->payload, "cursor")),
	                   "SELECT DISTINCT user_id FROM suggestions WHERE state = 'pending' AND "
	                   "user_id > $1 ORDER BY user_id LIMIT $2",
	                   0, 0, hour);
}
