/*
 * ops.c - /health/live, /health/ready and /metrics; see ops.h.
 */
#include "ops.h"

#include <string.h>

#include "answer.h"
#include "idempotency.h"
#include "jwks.h"
#include "metrics.h"
#include "store.h"

int ops_live(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a)
{
	(void)app;
	(void)r;
	(void)rq;
	http_answer_json(a, 200, json_pack("{s:s}", "status", "ok"));
	return 1;
}

static json_t *redis_state(struct app *app, int *ok)
{
	char err[256] = "";
	int64_t latency = 0;
	int rc = idem_ping(app->idem, &latency, err, sizeof(err));
	json_t *o;

	if (!rc && atomic_load(&app->redis_fault)) {
		rc = CJ_ECONFIG;
		snprintf(err, sizeof(err),
		         "Upstash refused a command (wrong token or command "
		         "error); see the logs");
	}
	o = json_pack("{s:s, s:I, s:s}", "status", rc ? "down" : "ok", "latencyMs",
	              (json_int_t)latency, "mode", idem_mode(app->idem));
	if (rc) {
		*ok = 0;
		if (o)
			json_object_set_new(o, "error",
			                    json_string(err[0] ? err : cj_strerror(rc)));
	}
	return o;
}

static json_t *jwks_state(struct app *app, int *ok)
{
	struct jwks_status st;
	const char *status;

	/* Also starts the background refetch of keys past their max-age. Stale
	 * keys still verify tokens: stale is reported, not counted as down. */
	jwks_status(app->jwks, &st);
	if (!st.loaded) {
		status = "down";
		*ok = 0;
	} else {
		status = st.stale ? "stale" : "ok";
	}
	/* keys and ageSeconds describe the set from OIDC_JWKS_URL. Local mode
	 * also trusts its own key: with it, jwks is never down (an offline
	 * server verifies its own pushes), and "localKey" says so. */
	if (!app->local_keys)
		return json_pack("{s:s, s:i, s:I}", "status", status, "keys", st.keys, "ageSeconds",
		                 (json_int_t)st.age_seconds);
	return json_pack("{s:s, s:i, s:I, s:b}", "status", status, "keys", st.keys - st.static_keys,
	                 "ageSeconds", (json_int_t)st.age_seconds, "localKey", 1);
}

static json_t *database_state(struct app *app, int *ok)
{
	char err[256] = "";
	double latency = 0;
	int rc;
	json_t *o;

	if (!app->store)
		return json_pack("{s:s}", "status", "down");
	rc = store_ping(app->store, &latency, err, sizeof(err));
	o = json_pack("{s:s, s:I, s:s}", "status", rc ? "down" : "ok", "latencyMs",
	              (json_int_t)latency, "backend", store_backend(app->store));
	if (rc) {
		*ok = 0;
		if (o)
			json_object_set_new(o, "error",
			                    json_string(err[0] ? err : cj_strerror(rc)));
	}
	return o;
}

json_t *ops_readiness(struct app *app, int *ok)
{
	json_t *doc;

	*ok = 1;
	doc = json_object();
	if (!doc)
		return NULL;
	json_object_set_new(doc, "status", json_string("ok"));
	json_object_set_new(doc, "redis", redis_state(app, ok));
	json_object_set_new(doc, "database", database_state(app, ok));
	json_object_set_new(doc, "jwks", jwks_state(app, ok));
	if (atomic_load(&app->draining)) {
		*ok = 0;
		json_object_set_new(doc, "draining", json_true());
	}
	if (!*ok)
		json_object_set_new(doc, "status", json_string("down"));
	return doc;
}

int ops_ready(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a)
{
	int ok;
	json_t *doc = ops_readiness(app, &ok);

	(void)r;
	(void)rq;
	http_answer_json(a, ok ? 200 : 503, doc);
	return 1;
}

int ops_metrics(struct app *app, struct http_req *r, struct route_req *rq, struct http_answer *a)
{
	struct buf out = BUF_INIT(8u << 20);

	(void)app;
	(void)r;
	(void)rq;
	if (metrics_render(&out)) {
		buf_release(&out);
		http_answer_result(a, CJ_EINTERNAL, "metrics could not be rendered");
		return 1;
	}
	a->status = 200;
	a->content_type = "text/plain; version=0.0.4";
	a->body = buf_detach(&out, &a->len);
	if (!a->body)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	return 1;
}
