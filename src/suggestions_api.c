/*
 * suggestions_api.c - listing, accepting and dismissing suggestions; see
 * suggestions_api.h.
 */
#include "suggestions_api.h"

#include "admin_list.h"
#include "answer.h"
#include "clock.h"
#include "log.h"
#include "suggestions.h"

int suggestions_api_list(struct app *app, struct http_req *r, struct route_req *rq,
                         struct http_answer *a)
{
	const char *state_s = http_request_query(r, "state"), *cursor;
	enum suggestion_state state;
	char err[256] = "", *next;
	json_t *items;
	long limit;
	int rc;

	if (admin_need_store(app, a) || admin_page_params(r, &limit, &cursor, a))
		return 1;
	if (state_s && *state_s && suggestion_state_parse(state_s, &state)) {
		http_answer_result(a, CJ_EINVAL,
		                   "state: must be pending, notified, accepted, expired or dismissed");
		return 1;
	}
	rc = suggestions_list(app->store, rq->param, state_s && *state_s ? &state : NULL, limit,
	                      cursor, &items, &next, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "listing suggestions", err);
	else
		admin_answer_page(a, "suggestions", items, next);
	return 1;
}

static void move(struct app *app, struct route_req *rq, enum suggestion_state to,
                 struct http_answer *a)
{
	char err[256] = "";
	json_t *item;
	int rc;

	if (admin_need_store(app, a))
		return;
	rc = suggestions_move(app->store, rq->param, to, clock_now_s(), &item, err, sizeof(err));
	if (rc == CJ_ECONFLICT) {
		http_answer_result(a, CJ_EINVAL, "%s", err);
		return;
	}
	if (rc) {
		admin_answer_failure(a, rc, "answering a suggestion", err);
		return;
	}
	log_msg(L_INFO, "suggestion %s %s by %s", rq->param, suggestion_state_name(to),
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	http_answer_json(a, 200, item);
}

void suggestions_api_accept(struct app *app, struct http_req *r, struct route_req *rq,
                            struct http_answer *a)
{
	(void)r;
	move(app, rq, SUGGESTION_ACCEPTED, a);
}

void suggestions_api_dismiss(struct app *app, struct http_req *r, struct route_req *rq,
                             struct http_answer *a)
{
	(void)r;
	move(app, rq, SUGGESTION_DISMISSED, a);
}
