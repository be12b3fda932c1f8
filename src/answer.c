/*
 * answer.c - result code → HTTP status → error code; see answer.h.
 */
#include "answer.h"

#include <stdarg.h>
#include <stdio.h>

int router_status(int code)
{
	switch (code) {
	case CJ_OK:
		return 200;
	case CJ_EINVAL:
		return 400;
	case CJ_EAUTH:
		return 401;
	case CJ_EFORBIDDEN:
		return 403;
	case CJ_ENOTFOUND:
		return 404;
	case CJ_EEXISTS:
	case CJ_ECONFLICT:
		return 409;
	case CJ_ETOOBIG:
		return 413;
	case CJ_EUNAVAIL:
	case CJ_ETIMEOUT:
	case CJ_ENOKEYS:
	case CJ_ECONFIG:
	case CJ_ESTORAGE:
	case CJ_EUPSTREAM:
		return 503;
	default:
		return 500;
	}
}

const char *router_error_code(int status)
{
	switch (status) {
	case 400:
		return "invalid_request";
	case 401:
		return "unauthenticated";
	case 403:
		return "forbidden";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	case 409:
		return "already_exists";
	case 413:
		return "payload_too_large";
	case 415:
		return "unsupported_media_type";
	case 501:
		return "not_implemented";
	case 503:
		return "unavailable";
	default:
		return "internal";
	}
}

void http_answer_result(struct http_answer *a, int code, const char *fmt, ...)
{
	int status = router_status(code);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_answer_error(a, status, router_error_code(status), "%s", msg);
}
