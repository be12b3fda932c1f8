/*
 * answer.h - the one map from result codes to HTTP answers (SPEC §5):
 * result code → status → error code, and the error answer built from them.
 *
 * Every module that answers a route (router, auth, job_runner, enqueue_api,
 * admin_api, ops, …) turns a failure into an answer here, so a result code
 * means the same status on every route. Answers whose error code is not the
 * status's own (invalid_json, invalid_payload, in_progress) or that no result
 * code stands for (405, 415, 501) are built with http_answer_error().
 *
 * The map keeps its router_ names: it is the router's (STYLE: exactly one
 * place maps results to statuses), split from the route table so that route
 * handlers can answer without depending on the table that lists them.
 * router.h includes this header. Pure functions; thread-safe.
 */
#ifndef CJ_ANSWER_H
#define CJ_ANSWER_H

#include "cj.h"
#include "http_server.h"

/* The HTTP status of a result code: 200 for CJ_OK, 500 for codes that mean
 * our own fault (CJ_ENOMEM, CJ_EINTERNAL, unknown codes). */
int router_status(int cj_code);
/* The SPEC §5 error code of a status ("invalid_request" for 400,
 * "already_exists" for 409, "internal" for unknown statuses). */
const char *router_error_code(int status);

/* Fills a with {"error": router_error_code(s), "message": …} where s is
 * router_status(cj_code). The message is formatted like printf and cut at
 * 511 bytes. */
void http_answer_result(struct http_answer *a, int cj_code, const char *fmt, ...) CJ_PRINTF(3, 4);

#endif
