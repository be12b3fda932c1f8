/*
 * httpc.h - HTTP calls from tests (libcurl, one easy handle per call).
 * Answers are captured whole: status, headers, body (NUL-terminated).
 */
#ifndef CJ_TEST_HTTPC_H
#define CJ_TEST_HTTPC_H

#include <jansson.h>
#include <stddef.h>

struct httpc_resp {
	long status;
	char *body;
	size_t len;
	char *headers;
	json_t *json; /* body parsed as JSON, or NULL */
};

/* headers: NULL-terminated "Name: value" lines, or NULL. body may be NULL
 * (no body). Returns 0 when an answer arrived, -1 otherwise. */
int httpc_request(const char *method, const char *url, const char *const *headers, const char *body,
                  size_t body_len, long timeout_ms, struct httpc_resp *r);
int httpc_get(const char *url, const char *const *headers, struct httpc_resp *r);
int httpc_post(const char *url, const char *const *headers, const char *body, struct httpc_resp *r);
/* POST with Transfer-Encoding: chunked (no Content-Length). */
int httpc_post_chunked(const char *url, const char *const *headers, const char *body, size_t len,
                       struct httpc_resp *r);
void httpc_resp_free(struct httpc_resp *r);
/* A string member of r->json, or NULL. */
const char *httpc_json_str(const struct httpc_resp *r, const char *key);

#endif
