/*
 * admin_list.c - what the /admin data endpoints share; see admin_list.h.
 */
#include "admin_list.h"

#include <stdlib.h>

#include "answer.h"
#include "keyset.h"
#include "log.h"

/* 0 when a database is there; 1 with a filled 503 otherwise. */
int admin_need_store(struct app *app, struct http_answer *a)
{
	if (app->store)
		return 0;
	http_answer_result(a, CJ_EUNAVAIL, "no database configured");
	return 1;
}

int admin_need_local(struct app *app, struct http_answer *a)
{
	if (app->cfg->cloud_mode) {
		http_answer_result(a, CJ_ENOTFOUND, "local mode only");
		return 1;
	}
	return admin_need_store(app, a);
}

/* limit (default 50) and cursor (NULL when absent or empty) of a list
 * request. 0, or 1 with a filled 400. */
int admin_page_params(struct http_req *r, long *limit, const char **cursor, struct http_answer *a)
{
	const char *limit_s = http_request_query(r, "limit");
	char *end;

	*limit = 50;
	*cursor = http_request_query(r, "cursor");
	if (*cursor && !**cursor)
		*cursor = NULL;
	if (!limit_s)
		return 0;
	*limit = strtol(limit_s, &end, 10);
	if (end == limit_s || *end || *limit < 1 || *limit > KEYSET_MAX_LIMIT) {
		http_answer_result(a, CJ_EINVAL, "limit: must be an integer from 1 to %d",
		                   KEYSET_MAX_LIMIT);
		return 1;
	}
	return 0;
}

/* The answer to a failed data call about what. */
void admin_answer_failure(struct http_answer *a, int rc, const char *what, const char *err)
{
	switch (rc) {
	case CJ_EINVAL:
	case CJ_ENOTFOUND:
		http_answer_result(a, rc, "%s", err);
		return;
	case CJ_ENOMEM:
		http_answer_result(a, rc, "out of memory");
		return;
	default:
		log_msg(L_ERROR, "%s failed: %s", what, err);
		http_answer_result(a, CJ_EUNAVAIL, "database: %s", err);
	}
}

/* {"<name>": items, "next": next|null}; takes items, frees next. */
void admin_answer_page(struct http_answer *a, const char *name, json_t *items, char *next)
{
	http_answer_json(
	    a, 200,
	    json_pack("{s:o, s:o}", name, items, "next", next ? json_string(next) : json_null()));
	free(next);
}

