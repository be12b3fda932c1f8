/*
 * job_harness.c - one job handler run alone against real storage and fake
 * upstreams; see job_harness.h.
 */
#include "job_harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "clock.h"
#include "crypto.h"
#include "enqueue.h"
#include "google_api.h"
#include "job_types.h"
#include "messaging.h"
#include "mfake.h"
#include "ratelimit.h"
#include "redis_rest.h"
#include "queues.h"
#include "registry.h"
#include "schema.h"
#include "store.h"
#include "timeutil.h"
#include "user_tokens.h"

void job_harness_open_with(struct job_harness *h, int backend, const struct job_harness_opts *o)
{
	char err[512] = "", dir[1024], urls[5][160];
	const char *root = getenv("CJ_SOURCE_ROOT");
	const char *google = o->google_url ? o->google_url : "http://127.0.0.1:9";
	struct crypto_key *key = NULL;
	struct google_api *g = NULL;
	struct enqueuer *e = NULL;
	const char *extra[16];
	int n = 0;

	memset(h, 0, sizeof(*h));
	pgtest_db_open(&h->db, backend);
	ck_assert_int_eq(fake_cloud_start(&h->fc, NULL), 0);
	snprintf(urls[0], sizeof(urls[0]), "GOOGLE_OAUTH_TOKEN_URL=%s/token", google);
	snprintf(urls[1], sizeof(urls[1]), "GOOGLE_PEOPLE_API_URL=%s", google);
	snprintf(urls[2], sizeof(urls[2]), "GOOGLE_CALENDAR_API_URL=%s", google);
	extra[n++] = "GOOGLE_CLIENT_ID=" HARNESS_CLIENT_ID;
	extra[n++] = "GOOGLE_CLIENT_SECRET=" HARNESS_CLIENT_SECRET;
	extra[n++] = urls[0];
	extra[n++] = urls[1];
	extra[n++] = urls[2];
	if (o->messaging_url) {
		snprintf(urls[3], sizeof(urls[3]), "TWILIO_API_URL=%s", o->messaging_url);
		snprintf(urls[4], sizeof(urls[4]), "SENDGRID_API_URL=%s", o->messaging_url);
		extra[n++] = urls[3];
		extra[n++] = urls[4];
		extra[n++] = "TWILIO_ACCOUNT_SID=" MFAKE_TWILIO_SID;
		extra[n++] = "TWILIO_AUTH_TOKEN=" MFAKE_TWILIO_TOKEN;
		extra[n++] = "TWILIO_FROM_NUMBER=+15005550006";
		extra[n++] = "SENDGRID_API_KEY=" MFAKE_SENDGRID_KEY;
		extra[n++] = "EMAIL_FROM=catchup@example.com";
	}
	extra[n] = NULL;
	ck_assert_int_eq(fake_cloud_config(&h->fc, extra, &h->cfg), 0);
	snprintf(dir, sizeof(dir), "%s/config", root ? root : ".");
	ck_assert_msg(queues_load(dir, &h->q, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_msg(enqueuer_new(&h->cfg, h->q, NULL, &e, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_msg(google_api_new(&h->cfg, &g, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_int_eq(crypto_key_generate(&key), CJ_OK);
	if (o->redis_url) {
		h->redis = redis_rest_new(o->redis_url, o->redis_token, NULL);
		ck_assert_ptr_nonnull(h->redis);
	}
	h->svc.cfg = &h->cfg;
	h->svc.store = h->db.s;
	h->svc.enqueuer = e;
	h->svc.google = g;
	h->svc.token_key = key;
	h->svc.redis = h->redis;
	h->svc.messaging = messaging_new(&h->cfg);
	h->svc.ratelimit = h->redis ? ratelimit_new_redis(h->redis) : ratelimit_new_memory();
	ck_assert_ptr_nonnull(h->svc.messaging);
	ck_assert_ptr_nonnull(h->svc.ratelimit);
}

void job_harness_open(struct job_harness *h, int backend, const char *google_url)
{
	struct job_harness_opts o = {google_url, NULL, NULL, NULL};

	job_harness_open_with(h, backend, &o);
}

void job_harness_close(struct job_harness *h)
{
	enqueuer_free(h->svc.enqueuer);
	google_api_free(h->svc.google);
	messaging_free(h->svc.messaging);
	ratelimit_free(h->svc.ratelimit);
	redis_rest_free(h->redis);
	crypto_key_free((struct crypto_key *)h->svc.token_key);
	queues_free(h->q);
	config_release(&h->cfg);
	fake_cloud_stop(&h->fc);
	pgtest_db_close(&h->db);
	memset(h, 0, sizeof(*h));
}

void job_harness_run(struct job_harness *h, const char *type, const char *payload, const char *key,
                     long deadline_ms, struct job_run *out)
{
	const struct job_type *jt = job_types_find(type);
	json_t *p = json_loads(payload, 0, NULL);
	char why[256] = "";
	struct job_ctx ctx;
	job_fn run;

	memset(out, 0, sizeof(*out));
	ck_assert_msg(jt != NULL, "no job type %s", type);
	ck_assert_msg(p != NULL, "payload is not JSON: %s", payload);
	ck_assert_msg(schema_validate(jt->fields, p, why, sizeof(why)) == CJ_OK, "%s: %s", payload,
	              why);
	run = registry_handler(jt);
	ck_assert_msg(run != NULL, "no handler for %s", type);
	job_ctx_init(&ctx, jt, p, 0, time_mono_ms() + (deadline_ms ? deadline_ms : 60000), &h->svc);
	snprintf(ctx.key, sizeof(ctx.key), "%s", key ? key : "");
	out->outcome = run(&ctx);
	out->result = ctx.result ? json_incref(ctx.result) : NULL;
	snprintf(out->error_code, sizeof(out->error_code), "%s", ctx.error_code);
	snprintf(out->error_msg, sizeof(out->error_msg), "%s", ctx.error_msg);
	out->retry_after_s = ctx.retry_after_s;
	job_ctx_release(&ctx);
	json_decref(p);
}

void job_run_release(struct job_run *r)
{
	json_decref(r->result);
	memset(r, 0, sizeof(*r));
}

json_int_t job_run_int(const struct job_run *r, const char *name)
{
	ck_assert_msg(json_is_integer(json_object_get(r->result, name)), "result lacks %s", name);
	return json_integer_value(json_object_get(r->result, name));
}

static struct store_rows *query(struct job_harness *h, const char *sql, const char *p1,
                                const char *p2)
{
	struct store_param p[] = {store_p_text(p1), store_p_text(p2)};
	struct store_rows *rows = NULL;
	char err[512] = "";

	ck_assert_msg(store_exec(h->db.s, sql, p, p2 ? 2 : p1 ? 1 : 0, &rows, err, sizeof(err)) ==
	                  CJ_OK,
	              "%s: %s", sql, err);
	return rows;
}

void job_harness_add_user(struct job_harness *h, const char *id, const char *email,
                          const char *refresh_token)
{
	int64_t now = clock_now_s();
	char err[512] = "", *sealed = NULL;

	{
		struct store_param p[] = {store_p_text(id), store_p_text(email), store_p_int(now)};

		ck_assert_msg(store_exec(h->db.s,
		                         "INSERT INTO users (id, email, timezone, created_at, "
		                         "updated_at) VALUES ($1, $2, 'Etc/UTC', $3, $3)",
		                         p, 3, NULL, err, sizeof(err)) == CJ_OK,
		              "%s", err);
	}
	if (!refresh_token)
		return;
	ck_assert_int_eq(user_tokens_seal(h->svc.token_key, id, TOKEN_REFRESH, refresh_token,
	                                  &sealed),
	                 CJ_OK);
	{
		struct store_param p[] = {store_p_text(id), store_p_text(sealed), store_p_int(now)};

		ck_assert_msg(store_exec(h->db.s,
		                         "INSERT INTO google_accounts (user_id, refresh_token_enc, "
		                         "status, created_at, updated_at) VALUES ($1, $2, 'active', "
		                         "$3, $3)",
		                         p, 3, NULL, err, sizeof(err)) == CJ_OK,
		              "%s", err);
	}
	free(sealed);
}

int64_t job_harness_int(struct job_harness *h, const char *sql, const char *p1, const char *p2)
{
	struct store_rows *rows = query(h, sql, p1, p2);
	int64_t v = store_rows_next(rows) ? store_rows_int(rows, 0) : -1;

	store_rows_free(rows);
	return v;
}

char *job_harness_text(struct job_harness *h, const char *sql, const char *p1, const char *p2)
{
	struct store_rows *rows = query(h, sql, p1, p2);
	char *v = NULL;

	if (store_rows_next(rows) && store_rows_text(rows, 0))
		v = strdup(store_rows_text(rows, 0));
	store_rows_free(rows);
	return v;
}

void job_harness_exec(struct job_harness *h, const char *sql, const char *p1, const char *p2)
{
	store_rows_free(query(h, sql, p1, p2));
}

json_t *job_harness_creates(struct job_harness *h, const char *type)
{
	json_t *all = fake_cloud_creates(&h->fc), *out = json_array(), *c;
	size_t i;

	ck_assert_ptr_nonnull(all);
	json_array_foreach(all, i, c)
	{
		json_t *body = json_loads(json_string_value(json_object_get(c, "body")), 0, NULL);
		json_t *task = json_object_get(body, "task");
		const char *name = json_string_value(json_object_get(task, "name"));
		const char *url =
		    json_string_value(json_object_get(json_object_get(task, "httpRequest"), "url"));
		const char *b64 =
		    json_string_value(json_object_get(json_object_get(task, "httpRequest"), "body"));
		unsigned char *raw = NULL;
		size_t len = 0;
		json_t *payload = NULL;
		const char *slash = url ? strrchr(url, '/') : NULL;

		if (json_integer_value(json_object_get(c, "status")) != 200 || !name || !slash ||
		    (type && strcmp(slash + 1, type))) {
			json_decref(body);
			continue;
		}
		if (b64 && !b64_decode(b64, strlen(b64), &raw, &len))
			payload = json_loadb((const char *)raw, len, 0, NULL);
		free(raw);
		json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "taskId",
		                                     strrchr(name, '/') + 1, "type", slash + 1,
		                                     "payload", payload ? payload : json_null()));
		json_decref(body);
	}
	json_decref(all);
	return out;
}
