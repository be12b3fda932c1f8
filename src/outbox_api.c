/*
 * outbox_api.c - listing and resolving outbox rows; see outbox_api.h.
 * The rows and their moves are outbox.c's.
 */
#include "outbox_api.h"

#include <stdlib.h>

#include "admin_list.h"
#include "answer.h"
#include "clock.h"
#include "log.h"
#include "outbox.h"

int outbox_api_list(struct app *app, struct http_req *r, struct route_req *rq,
                    struct http_answer *a)
{
	const char *state_s = http_request_query(r, "state"), *cursor;
	enum outbox_state state;
	char err[256] = "", *next;
	json_t *items;
	long limit;
	int rc;

	(void)rq;
	if (admin_need_store(app, a) || admin_page_params(r, &limit, &cursor, a))
		return 1;
	if (state_s && *state_s && outbox_state_parse(state_s, &state)) {
		http_answer_result(a, CJ_EINVAL, "state: must be sending, sent or failed");
		return 1;
	}
	rc = outbox_list(app->store, state_s && *state_s ? &state : NULL, limit, cursor, &items,
	                 &next, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "listing the outbox", err);
	else
		admin_answer_page(a, "outbox", items, next);
	return 1;
}

void outbox_api_done(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a)
{
	char err[256] = "";
	json_t *item;
	int rc;

	(void)r;
	if (admin_need_store(app, a))
		return;
	rc = outbox_move(app->store, rq->param, OUTBOX_SENDING, OUTBOX_SENT, NULL, NULL,
	                 clock_now_s(), err, sizeof(err));
	if (rc == CJ_ECONFLICT) {
		http_answer_result(a, CJ_EINVAL, "%s: only a row in sending can be marked done", err);
		return;
	}
	if (rc) {
		admin_answer_failure(a, rc, "marking an outbox row done", err);
		return;
	}
	log_msg(L_INFO, "outbox row %s marked done by %s", rq->param,
	        rq->who.email[0] ? rq->who.email : "(unknown)");
	rc = outbox_get(app->store, rq->param, &item, NULL, NULL, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "reading an outbox row", err);
	else
		http_answer_json(a, 200, item);
}
