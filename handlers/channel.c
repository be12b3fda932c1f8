/*
 * channel.c - Calendar push channels: create, stop, tidy; see channel.h.
 */
#include "channel.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "google_job.h"
#include "log.h"
#include "metrics.h"
#include "random.h"
#include "store.h"

#define RESOURCE_ID_MAX 256

static const char *key_or_null(const struct job_ctx *ctx)
{
	return ctx->key[0] ? ctx->key : NULL;
}

static void gerr_clear(struct google_error *gerr)
{
	memset(gerr, 0, sizeof(*gerr));
}

/* A random UUID (version 4) into out[37]. */
static int new_uuid(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;

	if (random_bytes(b, sizeof(b)))
		return CJ_EINTERNAL;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
	return CJ_OK;
}

/* A channel token of 256 random bits, base64url (malloc'd; wipe it). */
static int new_token(char **out)
{
	unsigned char b[32];
	int rc = random_bytes(b, sizeof(b));

	*out = rc ? NULL : b64url_encode(b, sizeof(b));
	OPENSSL_cleanse(b, sizeof(b));
	if (rc)
		return CJ_EINTERNAL;
	return *out ? CJ_OK : CJ_ENOMEM;
}

static int exec(struct job_ctx *ctx, const char *sql, const struct store_param *p, size_t n,
                struct store_rows **rows, char *err, size_t errlen)
{
	return store_exec(ctx->svc->store, sql, p, n, rows, err, errlen);
}

/* A resourceId known for user_id's calendar, into out; "" when none. */
static int sibling_resource(struct job_ctx *ctx, const char *user_id, const char *calendar_id,
                            char *out, size_t outlen, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(user_id), store_p_text(calendar_id)};
	struct store_rows *r = NULL;
	int rc = exec(ctx,
	              "SELECT resource_id FROM webhook_channels WHERE user_id = $1 "
	              "AND calendar_id = $2 AND resource_id IS NOT NULL "
	              "ORDER BY created_at DESC, id LIMIT 1",
	              p, 2, &r, err, errlen);

	out[0] = '\0';
	if (rc)
		return rc;
	if (store_rows_next(r) && store_rows_text(r, 0))
		snprintf(out, outlen, "%s", store_rows_text(r, 0));
	store_rows_free(r);
	return CJ_OK;
}

static int set_status(struct job_ctx *ctx, const char *id, const char *from, const char *to,
                      const char *resource_id, int64_t *changed, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id), store_p_text(from), store_p_text(to),
	                          store_p_int(clock_now_s()), store_p_text(resource_id)};
	struct store_rows *r = NULL;
	int rc = exec(ctx,
	              "UPDATE webhook_channels SET status = $3, updated_at = $4, "
	              "resource_id = COALESCE(resource_id, $5) WHERE id = $1 AND status = $2",
	              p, 5, &r, err, errlen);

	if (changed)
		*changed = rc ? 0 : store_rows_changes(r);
	store_rows_free(r);
	return rc;
}

/* channels.stop for a row already 'stopping'. */
static int stop_row(struct job_ctx *ctx, const char *user_id, const char *id,
                    const char *calendar_id, const char *resource_id, int64_t expiration,
                    struct channel_counts *n, struct google_error *gerr, char *err,
                    size_t errlen)
{
	struct user_tokens_deps d;
	struct google_call call;
	char known[RESOURCE_ID_MAX + 1];
	json_t *body, *out = NULL;
	int64_t changed = 0;
	int rc;

	if (resource_id && *resource_id) {
		snprintf(known, sizeof(known), "%s", resource_id);
	} else {
		rc = sibling_resource(ctx, user_id, calendar_id, known, sizeof(known), err, errlen);
		if (rc)
			return rc;
	}
	if (!known[0]) {
		if (expiration <= clock_now_s())
			return set_status(ctx, id, "stopping", "expired", NULL, NULL, err, errlen);
		metrics_webhook_channel("leaked");
		log_msg(L_WARNING,
		        "channel %s (user %s, calendar %s) may be live at Google and cannot be "
		        "stopped before a channel on that calendar reveals its resourceId; "
		        "it ends by itself at %lld",
		        id, user_id, calendar_id, (long long)expiration);
		return CJ_OK;
	}
	body = json_pack("{s:s, s:s}", "id", id, "resourceId", known);
	if (!body)
		return CJ_ENOMEM;
	google_job_deps(ctx, &d);
	google_job_call(ctx, &call);
	rc = user_api_call(&d, user_id, GOOGLE_CALENDAR, "POST", "/calendar/v3/channels/stop",
	                   body, &call, &out, gerr);
	json_decref(body);
	json_decref(out);
	if (rc != CJ_OK && rc != CJ_ENOTFOUND)
		return rc;
	gerr_clear(gerr);
	rc = set_status(ctx, id, "stopping", "stopped", known, &changed, err, errlen);
	if (!rc && changed) {
		n->stopped++;
		metrics_webhook_channel("stopped");
	}
	return rc;
}

int channel_tidy(struct job_ctx *ctx, const char *user_id, struct channel_counts *n,
                 struct google_error *gerr, char *err, size_t errlen)
{
	int64_t now = clock_now_s();
	struct store_param p[] = {store_p_text(user_id), store_p_text(key_or_null(ctx)),
	                          store_p_int(now - CHANNEL_PENDING_STALE_S), store_p_int(now)};
	struct store_rows *r = NULL;
	int rc;

	gerr_clear(gerr);
	rc = exec(ctx,
	          "UPDATE webhook_channels SET status = 'stopping', updated_at = $4 "
	          "WHERE user_id = $1 AND status = 'pending' AND (op_key = $2 OR created_at <= $3)",
	          p, 4, NULL, err, errlen);
	if (!rc) {
		struct store_param q[] = {store_p_text(user_id), store_p_int(now)};

		rc = exec(ctx,
		          "UPDATE webhook_channels SET status = 'expired', updated_at = $2 "
		          "WHERE user_id = $1 AND status = 'active' AND expiration <= $2",
		          q, 2, NULL, err, errlen);
	}
	if (!rc)
		rc = exec(ctx,
		          "SELECT id, calendar_id, resource_id, expiration FROM webhook_channels "
		          "WHERE user_id = $1 AND status = 'stopping' ORDER BY id",
		          p, 1, &r, err, errlen);
	while (!rc && store_rows_next(r) && !job_should_stop(ctx))
		rc = stop_row(ctx, user_id, store_rows_text(r, 0), store_rows_text(r, 1),
		              store_rows_text(r, 2), store_rows_int(r, 3), n, gerr, err, errlen);
	store_rows_free(r);
	return rc;
}

int channel_stop(struct job_ctx *ctx, const char *user_id, const char *id,
                 struct channel_counts *n, struct google_error *gerr, char *err, size_t errlen)
{
	struct store_param p[] = {store_p_text(id), store_p_int(clock_now_s())};
	struct store_rows *r = NULL;
	int rc;

	gerr_clear(gerr);
	rc = exec(ctx,
	          "UPDATE webhook_channels SET status = 'stopping', updated_at = $2 "
	          "WHERE id = $1 AND status IN ('active', 'pending', 'expired')",
	          p, 2, NULL, err, errlen);
	if (!rc)
		rc = exec(ctx,
		          "SELECT calendar_id, resource_id, expiration FROM webhook_channels "
		          "WHERE id = $1 AND status = 'stopping'",
		          p, 1, &r, err, errlen);
	if (!rc && store_rows_next(r))
		rc = stop_row(ctx, user_id, id, store_rows_text(r, 0), store_rows_text(r, 1),
		              store_rows_int(r, 2), n, gerr, err, errlen);
	store_rows_free(r);
	return rc;
}

/* Google's expiration: Unix milliseconds as a string (or a number). */
static int64_t expiration_s(const json_t *v)
{
	long long ms = 0;
	char *end = NULL;

	if (json_is_integer(v))
		ms = json_integer_value(v);
	else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 20) {
		ms = strtoll(json_string_value(v), &end, 10);
		if (*end)
			return 0;
	}
	return ms > 0 ? (int64_t)(ms / 1000) : 0;
}

/* Did a failed watch certainly not make a channel? A refusal (4xx but a
 * rate limit) did not; a timeout, a dropped connection or a 5xx may have.
 * So may a "channelIdNotUnique": the id is a fresh random UUID, so the
 * channel it clashes with is this very watch, sent once before on a
 * connection that died (libcurl re-sends a request on a reused
 * connection), and it is handled like a watch whose answer was lost. */
static int watch_refused(int rc, const struct google_error *gerr)
{
	if (rc == CJ_ETIMEOUT || gerr->http_status == 0 || gerr->http_status >= 500 ||
	    gerr->http_status == 429 || gerr->http_status == 408 ||
	    !strcmp(gerr->reason, "channelIdNotUnique"))
		return 0;
	return 1;
}

static int watch(struct job_ctx *ctx, const char *user_id, const char *calendar_id,
                 const char *id, const char *token, json_t **out, struct google_error *gerr)
{
	struct user_tokens_deps d;
	struct google_call call;
	struct buf path = BUF_INIT(4096), address = BUF_INIT(4096);
	char *cal = google_url_escape(calendar_id), ttl[16];
	json_t *body = NULL;
	int rc = CJ_ENOMEM;

	snprintf(ttl, sizeof(ttl), "%d", CHANNEL_TTL_S);
	if (cal && !buf_appendf(&path, "/calendar/v3/calendars/%s/events/watch", cal) &&
	    !buf_appendf(&address, "%s%s", ctx->svc->cfg->cloud_run_url, CHANNEL_WEBHOOK_PATH))
		body = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "id", id, "type", "web_hook",
		                 "address", buf_str(&address), "token", token, "params", "ttl", ttl);
	if (body) {
		google_job_deps(ctx, &d);
		google_job_call(ctx, &call);
		rc = user_api_call(&d, user_id, GOOGLE_CALENDAR, "POST", buf_str(&path), body, &call, out,
		                   gerr);
	}
	json_decref(body);
	buf_release(&path);
	buf_release(&address);
	free(cal);
	return rc;
}

int channel_create(struct job_ctx *ctx, const char *user_id, const char *calendar_id,
                   const char *replaces, char *new_id, struct channel_counts *n,
                   struct google_error *gerr, char *err, size_t errlen)
{
	int64_t now = clock_now_s(), exp;
	char id[37], hash[65], *token = NULL;
	const char *resource;
	json_t *out = NULL;
	struct store_param p[7];
	int64_t changed = 0;
	struct user_tokens_deps d;
	struct google_call call;
	struct user_token t;
	struct store_rows *r = NULL;
	int rc;

	gerr_clear(gerr);
	new_id[0] = '\0';
	if (!ctx->svc->cfg || !ctx->svc->cfg->cloud_run_url)
		return cj_errorf(err, errlen, CJ_ECONFIG, "CLOUD_RUN_URL is not configured");
	/* A usable account first: failing here leaves no row behind. */
	google_job_deps(ctx, &d);
	google_job_call(ctx, &call);
	rc = user_token_get(&d, user_id, USER_TOKENS_MIN_VALID_S, 0, &call, &t, gerr);
	user_token_release(&t);
	if (rc)
		return rc;
	rc = new_uuid(id);
	if (!rc)
		rc = new_token(&token);
	if (!rc)
		rc = crypto_sha256_hex(token, hash);
	if (rc) {
		crypto_secret_free(token, token ? strlen(token) : 0);
		return cj_errorf(err, errlen, rc, "cannot make a channel secret");
	}
	p[0] = store_p_text(id);
	p[1] = store_p_text(user_id);
	p[2] = store_p_text(calendar_id);
	p[3] = store_p_text(hash);
	p[4] = store_p_int(now + CHANNEL_TTL_S);
	p[5] = store_p_text(key_or_null(ctx));
	p[6] = store_p_int(now);
	rc = exec(ctx,
	          "INSERT INTO webhook_channels (id, user_id, calendar_id, token_hash, expiration, "
	          "status, op_key, created_at, updated_at) "
	          "VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7)",
	          p, 7, NULL, err, errlen);
	if (!rc && replaces) {
		struct store_param q[] = {store_p_text(id), store_p_text(replaces), store_p_int(now)};

		rc = exec(ctx,
		          "UPDATE webhook_channels SET replaced_by = $1, updated_at = $3 WHERE id = $2",
		          q, 3, NULL, err, errlen);
	}
	if (rc) {
		crypto_secret_free(token, strlen(token));
		return rc;
	}
	rc = watch(ctx, user_id, calendar_id, id, token, &out, gerr);
	crypto_secret_free(token, strlen(token));
	if (rc) {
		json_decref(out);
		if (watch_refused(rc, gerr)) {
			char derr[256];
			struct store_param q[] = {store_p_text(id)};

			if (exec(ctx, "DELETE FROM webhook_channels WHERE id = $1 AND status = 'pending'",
			         q, 1, NULL, derr, sizeof(derr)))
				log_msg(L_WARNING, "channel %s: refused, and its row stays: %s", id, derr);
		}
		return rc;
	}
	resource = json_string_value(json_object_get(out, "resourceId"));
	exp = expiration_s(json_object_get(out, "expiration"));
	if (!resource || !*resource || strlen(resource) > RESOURCE_ID_MAX || exp <= 0) {
		json_decref(out);
		/* Google made something we cannot use: stop it when we can. */
		(void)set_status(ctx, id, "pending", "stopping", NULL, NULL, err, errlen);
		gerr->kind = GOOGLE_ERR_PERMANENT;
		gerr->http_status = 200;
		snprintf(gerr->message, sizeof(gerr->message),
		         "events.watch answered without a usable resourceId and expiration");
		return CJ_EUPSTREAM;
	}
	{
		struct store_param q[] = {store_p_text(id), store_p_text(resource), store_p_int(exp),
		                          store_p_int(clock_now_s())};

		rc = exec(ctx,
		          "UPDATE webhook_channels SET status = 'active', resource_id = $2, "
		          "expiration = $3, op_key = NULL, updated_at = $4 "
		          "WHERE id = $1 AND status = 'pending'",
		          q, 4, &r, err, errlen);
		changed = rc ? 0 : store_rows_changes(r);
		store_rows_free(r);
	}
	json_decref(out);
	if (rc)
		return rc;
	if (!changed)
		return cj_errorf(err, errlen, CJ_ECONFLICT,
		                 "channel %s was taken for stopping while it was made", id);
	snprintf(new_id, CHANNEL_ID_MAX + 1, "%s", id);
	n->created++;
	metrics_webhook_channel("created");
	log_msg(L_INFO, "channel %s watches calendar %s of user %s until %lld", id, calendar_id,
	        user_id, (long long)exp);
	return CJ_OK;
}

enum job_outcome channel_fail(struct job_ctx *ctx, int rc, const struct google_error *gerr,
                              const char *what, const char *err)
{
	if (gerr->kind != GOOGLE_ERR_NONE || gerr->http_status)
		return google_job_fail(ctx, rc, gerr);
	if (rc == CJ_ECONFIG || rc == CJ_ECONFLICT || rc == CJ_ENOMEM || rc == CJ_EINTERNAL)
		return job_fail_rc(ctx, rc, rc == CJ_ECONFIG ? "config" : "internal", "%s: %s", what,
		                   err && err[0] ? err : cj_strerror(rc));
	return google_job_store_fail(ctx, rc, what, err);
}

int channel_user_fault(int rc, const struct google_error *gerr)
{
	switch (rc) {
	case CJ_EAUTH:
		return gerr->kind != GOOGLE_ERR_UNAUTHORIZED;
	case CJ_ENOTFOUND:
	case CJ_EUPSTREAM:
		return 1;
	default:
		return 0;
	}
}
