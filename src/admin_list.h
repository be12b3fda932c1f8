/*
 * admin_list.h - what the /admin data endpoints (app_api.c, outbox_api.c,
 * the operator console's admin_*.c) share: the database and local-mode
 * checks, `limit` and `cursor` of a list, its answer, and the answer to a
 * failed data call. Each returns 1 when it filled a (the request is
 * answered), 0 otherwise.
 */
#ifndef CJ_ADMIN_LIST_H
#define CJ_ADMIN_LIST_H

#include <jansson.h>

#include "app.h"
#include "http_server.h"

/* 0 when a database is there; 1 with a filled 503 otherwise. */
int admin_need_store(struct app *app, struct http_answer *a);
/* 0 in local mode with a database; 1 with a filled 404 ("local mode
 * only") in cloud mode, where the embedded Cloud Tasks, scheduler and
 * clock do not exist, or a 503 without a database. */
int admin_need_local(struct app *app, struct http_answer *a);
/* limit (default 50, 1..500) and cursor (NULL when absent or empty) of a
 * list request. 0, or 1 with a filled 400 invalid_request. */
int admin_page_params(struct http_req *r, long *limit, const char **cursor,
                      struct http_answer *a);
/* 200 {"<name>": items, "next": next|null}; takes items, frees next. */
void admin_answer_page(struct http_answer *a, const char *name, json_t *items, char *next);
/* The answer to a failed data call about what: 400/404 with err, 503
 * (logged) for the database. */
void admin_answer_failure(struct http_answer *a, int rc, const char *what, const char *err);

#endif
