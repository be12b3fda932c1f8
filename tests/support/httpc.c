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

int httpc_request(const char *method, const char *url, const char *const *headers, const char *body,
                  size_t body_len, long timeout_ms, struct httpc_resp *r)
{
	struct acc b = {NULL, 0}, h = {NULL, 0};
	struct curl_slist *hl = NULL;
	CURLcode cc;
	CURL *c;

	memset(r, 0, sizeof(*r));
	c = curl_easy_init();
	if (!c)
		return -1;
	for (; headers && *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (method && strcmp(method, "GET") && !(body && !strcmp(method, "POST")))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (method && !strcmp(method, "POST") && !body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	r->body = b.p ? b.p : strdup("");
	r->len = b.n;
	r->headers = h.p ? h.p : strdup("");
	r->json = json_loadb(r->body, r->len, 0, NULL);
	return cc == CURLE_OK ? 0 : -1;
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
	struct acc b = {NULL, 0}, h = {NULL, 0};
	struct reader rd = {body, len};
	struct curl_slist *hl = NULL;
	CURLcode cc;
	CURL *c;

	memset(r, 0, sizeof(*r));
	c = curl_easy_init();
	if (!c)
		return -1;
	for (; headers && *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &rd);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc != CURLE_OK)
		fprintf(stderr, "httpc: chunked POST %s: %s (status %ld)\n", url,
		        curl_easy_strerror(cc), r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	r->body = b.p ? b.p : strdup("");
	r->len = b.n;
	r->headers = h.p ? h.p : strdup("");
	r->json = json_loadb(r->body, r->len, 0, NULL);
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
