/*
 * httpc.c - HTTP calls from tests; see httpc.h.
 */
#include "httpc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct acc {
	char *p;
	size_t n;
};

static size_t on_data(char *p, size_t size, size_t n, void *u)
{
	struct acc *a = u;
	char *grown = realloc(a->p, a->n + size * n + 1);

	if (!grown)
		return 0;
	a->p = grown;
	memcpy(a->p + a->n, p, size * n);
	a->n += size * n;
	a->p[a->n] = '\0';
	return size * n;
}

/* One exchange: the common setup, the caller's body options (set_body),
 * then the answer captured into r. */
struct exchange {
	struct acc body, head;
	struct curl_slist *headers;
	CURL *c;
};

static int exchange_begin(struct exchange *x, const char *url, const char *const *headers,
                          const char *extra_header, long timeout_ms, struct httpc_resp *r)
{
	memset(r, 0, sizeof(*r));
	memset(x, 0, sizeof(*x));
	x->c = curl_easy_init();
	if (!x->c)
		return -1;
	for (; headers && *headers; headers++)
		x->headers = curl_slist_append(x->headers, *headers);
	if (extra_header)
		x->headers = curl_slist_append(x->headers, extra_header);
	x->headers = curl_slist_append(x->headers, "Expect:");
	curl_easy_setopt(x->c, CURLOPT_URL, url);
	curl_easy_setopt(x->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->c, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
	curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->c, CURLOPT_WRITEDATA, &x->body);
	curl_easy_setopt(x->c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(x->c, CURLOPT_HEADERDATA, &x->head);
	return 0;
}

static CURLcode exchange_finish(struct exchange *x, struct httpc_resp *r)
{
	CURLcode cc = curl_easy_perform(x->c);

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(x->headers);
	curl_easy_cleanup(x->c);
	r->body = x->body.p ? x->body.p : strdup("");
	r->len = x->body.n;
	r->headers = x->head.p ? x->head.p : strdup("");
	r->json = json_loadb(r->body, r->len, 0, NULL);
	return cc;
}

int httpc_request(const char *method, const char *url, const char *const *headers, const char *body,
                  size_t body_len, long timeout_ms, struct httpc_resp *r)
{
	struct exchange x;

	if (exchange_begin(&x, url, headers, NULL, timeout_ms, r))
		return -1;
	if (body) {
		curl_easy_setopt(x.c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(x.c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (method && strcmp(method, "GET") && !(body && !strcmp(method, "POST")))
		curl_easy_setopt(x.c, CURLOPT_CUSTOMREQUEST, method);
	if (method && !strcmp(method, "POST") && !body) {
		curl_easy_setopt(x.c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(x.c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	if (exchange_finish(&x, r) == CURLE_OK)
		return 0;
	/* No answer: callers free nothing (httpc.h), so nothing is kept. */
	httpc_resp_free(r);
	return -1;
}

struct reader {
	const char *p;
	size_t left;
};

static size_t on_read(char *out, size_t size, size_t n, void *u)
{
	struct reader *rd = u;
	size_t take = size * n < rd->left ? size * n : rd->left;

	/* Small pieces, so the body really arrives in several chunks. */
	if (take > 1000)
		take = 1000;
	memcpy(out, rd->p, take);
	rd->p += take;
	rd->left -= take;
	return take;
}

int httpc_post_chunked(const char *url, const char *const *headers, const char *body, size_t len,
                       struct httpc_resp *r)
{
	struct reader rd = {body, len};
	struct exchange x;
	CURLcode cc;

	if (exchange_begin(&x, url, headers, "Transfer-Encoding: chunked", 30000, r))
		return -1;
	curl_easy_setopt(x.c, CURLOPT_POST, 1L);
	curl_easy_setopt(x.c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(x.c, CURLOPT_READDATA, &rd);
	cc = exchange_finish(&x, r);
	/* The server may answer 413 and close before the whole body was sent. */
	if (cc != CURLE_OK)
		fprintf(stderr, "httpc: chunked POST %s: %s (status %ld)\n", url,
		        curl_easy_strerror(cc), r->status);
	return r->status ? 0 : -1;
}

int httpc_get(const char *url, const char *const *headers, struct httpc_resp *r)
{
	return httpc_request("GET", url, headers, NULL, 0, 10000, r);
}

int httpc_post(const char *url, const char *const *headers, const char *body, struct httpc_resp *r)
{
	return httpc_request("POST", url, headers, body ? body : "", body ? strlen(body) : 0, 30000,
	                     r);
}

void httpc_resp_free(struct httpc_resp *r)
{
	free(r->body);
	free(r->headers);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *httpc_json_str(const struct httpc_resp *r, const char *key)
{
	return r->json ? json_string_value(json_object_get(r->json, key)) : NULL;
}
