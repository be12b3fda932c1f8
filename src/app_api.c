/*
 * app_api.c - the users and contacts endpoints of the app data (SPEC
 * §5.3); see app_api.h. Translates HTTP to users.h calls and results back;
 * the rules of the rows and their JSON live in users.c.
 */
#include "app_api.h"

#include <stdlib.h>
#include <string.h>

#include "admin_list.h"
#include "answer.h"
#include "clock.h"
#include "json_in.h"
#include "log.h"
#include "users.h"

#define FREQUENCY_FIELD "catchupFrequencyDays"

int app_api_users_list(struct app *app, struct http_req *r, struct route_req *rq,
                       struct http_answer *a)
{
	const char *cursor;
	char err[256] = "", *next;
	json_t *items;
	long limit;
	int rc;

	(void)rq;
	if (admin_need_store(app, a) || admin_page_params(r, &limit, &cursor, a))
		return 1;
	rc = users_list(app->store, limit, cursor, &items, &next, err, sizeof(err));
	if (rc)
		admin_answer_failure(a, rc, "listing users", err);
	else
		admin_answer_page(a, "users", items, next);
	return 1;
}

int app_api_user_get(struct app *app, struct http_req *r, struct route_req *rq,
                     struct http_answer *a)
{
	char err[256] = "";
	json_t *user;
	int rc;

	(void)r;
	if (admin_need_store(app, a))
		return 1;
	rc = users_get(app->store, rq->param, &user, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		http_answer_result(a, rc, "no user \"%.128s\"", rq->param);
	else if (rc)
		admin_answer_failure(a, rc, "reading a user", err);
	else
		http_answer_json(a, 200, user);
	return 1;
}

int app_api_contacts_list(struct app *app, struct http_req *r, struct route_req *rq,
                          struct http_answer *a)
{
	const char *cursor;
	char err[256] = "", *next;
	json_t *items;
	long limit;
	int rc;

	if (admin_need_store(app, a) || admin_page_params(r, &limit, &cursor, a))
		return 1;
	rc = users_contacts_list(app->store, rq->param, limit, cursor, &items, &next, err,
	                         sizeof(err));
	if (rc == CJ_ENOTFOUND)
		http_answer_result(a, rc, "no user \"%.128s\"", rq->param);
	else if (rc)
		admin_answer_failure(a, rc, "listing contacts", err);
	else
		admin_answer_page(a, "contacts", items, next);
	return 1;
}

/* The days the body asks for (0: clear). 0, or 1 with a filled 400. */
static int read_frequency(const json_t *body, int *days, struct http_answer *a)
{
	const json_t *v = json_object_get(body, FREQUENCY_FIELD);
	const char *key;
	json_t *member;

	json_object_foreach((json_t *)body, key, member)
	{
		if (strcmp(key, FREQUENCY_FIELD)) {
			http_answer_result(
			    a, CJ_EINVAL,
			    "%.64s: unknown field (only " FREQUENCY_FIELD " can be set)", key);
			return 1;
		}
	}
	if (!v) {
		http_answer_result(a, CJ_EINVAL, FREQUENCY_FIELD ": required (1-%d or null)",
		                   USERS_FREQUENCY_MAX);
		return 1;
	}
	if (json_is_null(v)) {
		*days = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > USERS_FREQUENCY_MAX) {
		http_answer_result(a, CJ_EINVAL,
		                   FREQUENCY_FIELD ": must be an integer from 1 to %d, or null",
		                   USERS_FREQUENCY_MAX);
		return 1;
	}
	*days = (int)json_integer_value(v);
	return 0;
}

void app_api_contact_patch(struct app *app, struct http_req *r, struct route_req *rq,
                           struct http_answer *a)
{
	char err[256] = "", jerr[200] = "";
	json_t *body, *contact;
	int days, rc;

	if (r->body_too_big) {
		http_answer_result(a, CJ_ETOOBIG, "request body over MAX_BODY_BYTES");
		return;
	}
	body = json_in_parse(buf_str(&r->body), r->body.len, JSON_REJECT_DUPLICATES, NULL, jerr,
	                     sizeof(jerr));
	if (!body || !json_is_object(body)) {
		http_answer_error(a, 400, "invalid_json", "body must be a JSON object%s%s",
		                  body ? "" : ": ", body ? "" : jerr);
		json_decref(body);
		return;
	}
	rc = read_frequency(body, &days, a);
	json_decref(body);
	if (rc || admin_need_store(app, a))
		return;
	rc = users_contact_set_frequency(app->store, rq->param, rq->param2, days, clock_now_s(),
	                                 &contact, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		http_answer_result(a, rc, "user \"%.128s\" has no contact \"%.128s\"", rq->param,
		                   rq->param2);
	else if (rc)
		admin_answer_failure(a, rc, "setting a catch-up frequency", err);
	else
		http_answer_json(a, 200, contact);
}
