/*
 * admin_sync_health.c - GET /admin/sync-health; see admin_sync_health.h.
 * Translates HTTP only: the reads and the rules are sync_health.c's.
 */
#include "admin_sync_health.h"

#include <string.h>

#include "admin_list.h"
#include "answer.h"
#include "clock.h"
#include "sync_health.h"

int admin_sync_health(struct app *app, struct http_req *r, struct route_req *rq,
                      struct http_answer *a)
{
	const char *filter = http_request_query(r, "filter"), *cursor;
	char err[256] = "", *next = NULL;
	json_t *items = NULL;
	int problems_only;
	long limit;
	int rc;

	(void)rq;
	if (admin_need_store(app, a) || admin_page_params(r, &limit, &cursor, a))
		return 1;
	if (filter && *filter && strcmp(filter, "all") && strcmp(filter, "problems")) {
		http_answer_result(a, CJ_EINVAL, "filter: must be all or problems");
		return 1;
	}
	problems_only = filter && !strcmp(filter, "problems");
	rc = sync_health_page(app->store, limit, cursor, problems_only, clock_now_s(), &items,
	                      &next, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "reading the sync health", err);
	else
		admin_answer_page(a, "users", items, next);
	return 1;
}
