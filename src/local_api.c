/*
 * local_api.c - /emulator/certs and /emulator/clock[:advance]; see
 * local_api.h. Translates HTTP only: the key is local_keys.c's, the clock
 * and its stored offset are clock.c's and clock_store.c's.
 */
#include "local_api.h"

#include "answer.h"
#include "clock.h"
#include "clock_store.h"
#include "json_in.h"
#include "local_keys.h"
#include "log.h"
#include "timeutil.h"

int local_api_certs(struct app *app, struct http_req *r, struct route_req *rq,
                    struct http_answer *a)
{
	json_t *set;

	(void)r;
	(void)rq;
	if (!app->local_keys) {
		http_answer_result(a, CJ_EUNAVAIL, "the local signing key is not loaded");
		return 1;
	}
	set = local_keys_jwks(app->local_keys);
	if (!set) {
		http_answer_result(a, CJ_ENOMEM, "out of memory");
		return 1;
	}
	http_answer_json(a, 200, set);
	return 1;
}

json_t *local_api_clock_doc(void)
{
	char now[40];

	time_format_rfc3339((double)clock_now_s(), 0, now, sizeof(now));
	return json_pack("{s:s, s:I}", "now", now, "offsetSeconds", (json_int_t)clock_offset_s());
}

static void answer_clock(struct http_answer *a)
{
	json_t *doc = local_api_clock_doc();

	if (!doc)
		http_answer_result(a, CJ_ENOMEM, "out of memory");
	else
		http_answer_json(a, 200, doc);
}

int local_api_clock(struct app *app, struct http_req *r, struct route_req *rq,
                    struct http_answer *a)
{
	(void)app;
	(void)r;
	(void)rq;
	answer_clock(a);
	return 1;
}

int local_api_advance(struct app *app, struct http_req *r, struct http_answer *a)
{
	char jerr[200] = "", err[256] = "";
	const json_t *seconds;
	int64_t offset = 0, n;
	json_t *body;
	int rc;

	body = json_in_parse(buf_str(&r->body), r->body.len, JSON_REJECT_DUPLICATES, NULL, jerr,
	                     sizeof(jerr));
	if (!body || !json_is_object(body)) {
		json_decref(body);
		http_answer_error(a, 400, "invalid_json", "body must be a JSON object: %s",
		                  jerr[0] ? jerr : "not an object");
		return 1;
	}
	/* json_is_integer: 1.5, "10", true and null are not integers. */
	seconds = json_object_get(body, "seconds");
	if (!json_is_integer(seconds) || json_integer_value(seconds) <= 0) {
		json_decref(body);
		http_answer_result(a, CJ_EINVAL, "seconds: must be a positive integer");
		return 1;
	}
	n = (int64_t)json_integer_value(seconds);
	json_decref(body);
	if (!app->store) {
		http_answer_result(a, CJ_EUNAVAIL, "no database to keep the clock in");
		return 1;
	}
	rc = clock_store_advance(app->store, n, &offset, err, sizeof(err));
	if (rc == CJ_EINVAL) {
		http_answer_result(a, rc, "seconds: %s", err);
		return 1;
	}
	if (rc) {
		log_msg(L_ERROR, "clock advance not saved: %s", err);
		http_answer_result(a, CJ_EUNAVAIL,
		                   "the clock offset could not be saved; the "
		                   "clock did not move");
		return 1;
	}
	log_msg(L_INFO, "clock advanced by %lld s (offset %lld s)", (long long)n,
	        (long long)offset);
	return 0;
}

void local_api_clock_advance(struct app *app, struct http_req *r, struct route_req *rq,
                             struct http_answer *a)
{
	(void)rq;
	if (!local_api_advance(app, r, a))
		answer_clock(a);
}
