/*
 * test_fake_google_apis.c - the fake of Google's token endpoint, People
 * connections.list and Calendar events.list (tests/fixtures/
 * fake_google_apis.c), checked over real HTTP on loopback, so that tests of
 * the jobs built on it can trust it.
 *
 * Covered: the refresh grant (answer shape, percent-encoded values,
 * invalid_grant, unsupported_grant_type, our client only, in the body or by
 * HTTP Basic, expiry by wall time, 20 concurrent refreshes); People's
 * paging over 2500 contacts, field masks, sync tokens with changes and
 * deletions, a sync's pages, expired tokens and tokens sent without
 * percent-encoding; Calendar's encoded calendar ids, time rendering,
 * filters, paging, incremental sync with tombstones, 404 and 410; 401 in
 * each API's shape after expiry and revocation; injected faults (status,
 * reason, Retry-After, delay, dropped connections); the request log and
 * counters. Push channels: events.watch's answer (expiration in ms as a
 * string, one resourceId per calendar), bad bodies, duplicate ids, 401 and
 * 404; the pushes as a receiver in this process gets them (the sync with
 * its exact headers and empty body, "exists" after each change, numbered),
 * muting, channels.stop (204, then 404; nothing more after it, not even
 * what was queued), expiry by the fake's clock, the control push (floods,
 * replayed numbers, token overrides, every status), https addresses never
 * contacted, injected faults on watch and stop, wait-pushes and reset.
 *
 * One fake serves the whole suite and is reset before each test; a test
 * that needs OAuth client checking starts its own. One receiver serves the
 * push tests and is cleared before each.
 */
#include <arpa/inet.h>
#include <check.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "gfake.h"
#include "httpc.h"
#include "proc.h"
#include "timeutil.h"

#define RT "rt-1"
#define WORK_CAL "work@group.calendar.google.com"
#define DEC1_18H 1796148000 /* 2026-12-01T18:00:00Z */
#define FIELDS "personFields=names,emailAddresses,phoneNumbers,metadata"

static struct gfake G;

/* ---- helpers ---- */

/* Percent-encodes everything but A-Z a-z 0-9 - . _ ~ (malloc'd). */
static char *esc(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	ck_assert_ptr_nonnull(out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Compares got with the JSON text want. */
static void assert_json(const json_t *got, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	ck_assert_ptr_nonnull(w);
	ck_assert_msg(json_equal(w, got), "got %s\nwant %s", g ? g : "(null)", want);
	free(g);
	json_decref(w);
}

/* GET path_query with a bearer token: the status, *out the JSON answer
 * (may be NULL), *headers the answer's headers (when asked). */
static long api_get_h(const char *path_query, const char *token, json_t **out, char **headers)
{
	char url[8192], auth[256];
	const char *hdrs[] = {auth, NULL};
	struct httpc_resp r;
	long status;

	snprintf(url, sizeof(url), "%s%s", G.url, path_query);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "none");
	ck_assert_int_eq(httpc_request("GET", url, hdrs, NULL, 0, 20000, &r), 0);
	status = r.status;
	if (out)
		*out = json_incref(r.json);
	if (headers)
		*headers = strdup(r.headers);
	httpc_resp_free(&r);
	return status;
}

static long api_get(const char *path_query, const char *token, json_t **out)
{
	return api_get_h(path_query, token, out, NULL);
}

/* POSTs a form body to g's /token: the status; *out the answer. */
static long token_post(struct gfake *g, const char *body, const char *header, json_t **out)
{
	const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", header, NULL};
	struct httpc_resp r;
	char url[128];
	long status;

	snprintf(url, sizeof(url), "%s/token", g->url);
	ck_assert_int_eq(httpc_request("POST", url, hdrs, body, strlen(body), 20000, &r), 0);
	status = r.status;
	if (out)
		*out = json_incref(r.json);
	httpc_resp_free(&r);
	return status;
}

/* A fresh access token for refresh token rt (malloc'd). */
static char *access_token(const char *rt)
{
	char body[512], *e = esc(rt), *tok;
	json_t *j = NULL;

	snprintf(body, sizeof(body),
	         "grant_type=refresh_token&refresh_token=%s&client_id=c&"
	         "client_secret=s",
	         e);
	free(e);
	ck_assert_int_eq(token_post(&G, body, NULL, &j), 200);
	tok = strdup(json_string_value(json_object_get(j, "access_token")));
	json_decref(j);
	return tok;
}

static long stat_of(const char *target, const char *name)
{
	json_t *s = gfake_get(&G, "stats");
	long v;

	ck_assert_ptr_nonnull(s);
	v = (long)json_integer_value(json_object_get(json_object_get(s, target), name));
	json_decref(s);
	return v;
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* One People page: path_query built from params and an optional encoded
 * page/sync token. */
static long people(const char *token, json_t **out, const char *fmt, ...) CJ_PRINTF(3, 4);

static long people(const char *token, json_t **out, const char *fmt, ...)
{
	char pq[8192] = "/v1/people/me/connections?";
	size_t n = strlen(pq);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pq + n, sizeof(pq) - n, fmt, ap);
	va_end(ap);
	return api_get(pq, token, out);
}

static long events(const char *token, const char *cal, json_t **out, const char *fmt, ...)
    CJ_PRINTF(4, 5);

static long events(const char *token, const char *cal, json_t **out, const char *fmt, ...)
{
	char pq[8192], *e = esc(cal);
	size_t n;
	va_list ap;

	n = (size_t)snprintf(pq, sizeof(pq), "/calendar/v3/calendars/%s/events?", e);
	free(e);
	va_start(ap, fmt);
	vsnprintf(pq + n, sizeof(pq) - n, fmt, ap);
	va_end(ap);
	return api_get(pq, token, out);
}

static void rx_reset(int status, int delay_ms);

static void setup(void)
{
	ck_assert_int_eq(gfake_control(&G, "reset", "{}"), 0);
	/* A push of the last test still in flight lands before we forget it. */
	ck_assert_int_eq(gfake_wait_pushes(&G, 20000), 0);
	rx_reset(200, 0);
	ck_assert_int_eq(gfake_control(&G, "accounts",
	                               "{\"refreshToken\":\"" RT "\",\"calendars\":[\"primary\","
	                               "\"" WORK_CAL "\"]}"),
	                 0);
}

/* ---- the token endpoint ---- */

START_TEST(refresh_grant)
{
	json_t *j = NULL;
	const char *tok;

	ck_assert_int_eq(token_post(&G, "grant_type=refresh_token&refresh_token=" RT, NULL, &j),
	                 200);
	tok = str(j, "access_token");
	ck_assert_ptr_nonnull(tok);
	ck_assert(!strncmp(tok, "ya29.", 5) && strlen(tok) > 20);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "expires_in")), 3599);
	ck_assert_str_eq(str(j, "token_type"), "Bearer");
	ck_assert_str_eq(str(j, "scope"),
	                 "https://www.googleapis.com/auth/contacts.readonly "
	                 "https://www.googleapis.com/auth/calendar.readonly");
	json_decref(j);

	ck_assert_int_eq(
	    token_post(&G, "grant_type=refresh_token&refresh_token=rt-unknown", NULL, &j), 400);
	assert_json(j,
	            "{\"error\":\"invalid_grant\","
	            "\"error_description\":\"Token has been expired or revoked.\"}");
	json_decref(j);
	ck_assert_int_eq(
	    token_post(&G, "grant_type=authorization_code&refresh_token=" RT, NULL, &j), 400);
	ck_assert_str_eq(str(j, "error"), "unsupported_grant_type");
	json_decref(j);

	/* Values are percent-decoded; a raw '+' is a space. */
	ck_assert_int_eq(gfake_control(&G, "accounts", "{\"refreshToken\":\"1//0g+a/b=c d\"}"), 0);
	ck_assert_int_eq(
	    token_post(&G, "grant_type=refresh_token&refresh_token=1%2F%2F0g%2Ba%2Fb%3Dc+d", NULL,
	               NULL),
	    200);
	ck_assert_int_eq(
	    token_post(&G, "grant_type=refresh_token&refresh_token=1//0g+a/b=c+d", NULL, NULL),
	    400);

	ck_assert_int_eq(stat_of("token", "calls"), 5);
	ck_assert_int_eq(stat_of("token", "granted"), 2);
	ck_assert_int_eq(stat_of("token", "invalidGrant"), 2);
	j = gfake_get(&G, "stats");
	assert_json(json_object_get(json_object_get(j, "token"), "byRefreshToken"),
	            "{\"rt-1\":2,\"rt-unknown\":1,\"1//0g+a/b=c d\":1,\"1//0g a/b=c d\":1}");
	json_decref(j);
}
END_TEST

START_TEST(only_our_client)
{
	struct gfake own;
	json_t *j = NULL;
	char basic[128];

	ck_assert_int_eq(gfake_start(&own, "client-1.apps.googleusercontent.com", "s3cr+t"), 0);
	ck_assert_int_eq(gfake_control(&own, "accounts", "{\"refreshToken\":\"rt\"}"), 0);
	ck_assert_int_eq(token_post(&own,
	                            "grant_type=refresh_token&refresh_token=rt&client_id="
	                            "client-1.apps.googleusercontent.com&client_secret=wrong",
	                            NULL, &j),
	                 401);
	assert_json(j,
	            "{\"error\":\"invalid_client\","
	            "\"error_description\":\"The OAuth client was not found.\"}");
	json_decref(j);
	ck_assert_int_eq(token_post(&own, "grant_type=refresh_token&refresh_token=rt", NULL, NULL),
	                 401);
	ck_assert_int_eq(token_post(&own,
	                            "grant_type=refresh_token&refresh_token=rt&client_id="
	                            "client-1.apps.googleusercontent.com&client_secret=s3cr%2Bt",
	                            NULL, NULL),
	                 200);
	/* base64("client-1.apps.googleusercontent.com:s3cr%2Bt") */
	snprintf(basic, sizeof(basic), "Authorization: Basic %s",
	         "Y2xpZW50LTEuYXBwcy5nb29nbGV1c2VyY29udGVudC5jb206czNjciUyQnQ=");
	ck_assert_int_eq(token_post(&own, "grant_type=refresh_token&refresh_token=rt", basic, NULL),
	                 200);
	gfake_stop(&own);
}
END_TEST

struct refresher {
	pthread_t th;
	pthread_barrier_t *go;
	long status;
	char token[128];
};

static void *refresh_once(void *arg)
{
	struct refresher *r = arg;
	const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	const char *body = "grant_type=refresh_token&refresh_token=" RT;
	struct httpc_resp resp;
	char url[128];

	snprintf(url, sizeof(url), "%s/token", G.url);
	pthread_barrier_wait(r->go);
	if (!httpc_request("POST", url, hdrs, body, strlen(body), 20000, &resp)) {
		const char *tok = json_string_value(json_object_get(resp.json, "access_token"));

		r->status = resp.status;
		snprintf(r->token, sizeof(r->token), "%s", tok ? tok : "");
		httpc_resp_free(&resp);
	}
	return NULL;
}

START_TEST(concurrent_refreshes)
{
	struct refresher r[20];
	pthread_barrier_t go;
	int i, k;

	memset(r, 0, sizeof(r));
	pthread_barrier_init(&go, NULL, 20);
	for (i = 0; i < 20; i++) {
		r[i].go = &go;
		ck_assert_int_eq(pthread_create(&r[i].th, NULL, refresh_once, &r[i]), 0);
	}
	for (i = 0; i < 20; i++)
		pthread_join(r[i].th, NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(r[i].status, 200);
		for (k = 0; k < i; k++)
			ck_assert_str_ne(r[i].token, r[k].token);
	}
	ck_assert_int_eq(stat_of("token", "granted"), 20);
	/* Every one of them works. */
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(people(r[i].token, NULL, "personFields=names"), 200);
}
END_TEST

START_TEST(access_tokens_expire)
{
	char *tok;
	json_t *j = NULL;

	ck_assert_int_eq(gfake_control(&G, "config", "{\"expiresIn\":1}"), 0);
	ck_assert_int_eq(token_post(&G, "grant_type=refresh_token&refresh_token=" RT, NULL, &j),
	                 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "expires_in")), 1);
	tok = strdup(str(j, "access_token"));
	json_decref(j);
	ck_assert_int_eq(people(tok, NULL, "personFields=names"), 200);
	msleep(1100);
	ck_assert_int_eq(people(tok, &j, "personFields=names"), 401);
	json_decref(j);
	free(tok);
}
END_TEST

/* ---- People ---- */

START_TEST(people_pages_2500)
{
	char *tok = access_token(RT), *page = NULL, last[64] = "";
	int pages = 0, seen = 0;
	json_t *j = NULL;

	ck_assert_int_eq(gfake_control(&G, "contacts",
	                               "{\"refreshToken\":\"" RT
	                               "\",\"generate\":{\"count\":2500}}"),
	                 0);
	do {
		const json_t *conns, *p;
		size_t i;

		ck_assert_int_eq(people(tok, &j, FIELDS "&pageSize=1000&requestSyncToken=true%s%s",
		                        page ? "&pageToken=" : "", page ? page : ""),
		                 200);
		free(page);
		page = NULL;
		pages++;
		ck_assert_int_eq(json_integer_value(json_object_get(j, "totalPeople")), 2500);
		ck_assert_int_eq(json_integer_value(json_object_get(j, "totalItems")), 2500);
		conns = json_object_get(j, "connections");
		ck_assert_int_eq(json_array_size(conns), pages < 3 ? 1000 : 500);
		json_array_foreach(conns, i, p)
		{
			ck_assert_str_gt(str(p, "resourceName"), last);
			snprintf(last, sizeof(last), "%s", str(p, "resourceName"));
			seen++;
		}
		if (str(j, "nextPageToken")) {
			const char *t = str(j, "nextPageToken");

			/* Google's tokens carry '+', '/' and '=': they must be encoded. */
			ck_assert(strchr(t, '+') && strchr(t, '/') && strchr(t, '='));
			ck_assert_ptr_null(json_object_get(j, "nextSyncToken"));
			page = esc(t);
		} else {
			ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
		}
		json_decref(j);
	} while (page);
	ck_assert_int_eq(pages, 3);
	ck_assert_int_eq(seen, 2500);
	ck_assert_str_eq(last, "people/g002499");

	/* The first page again, its token sent without encoding: "+" is a space. */
	ck_assert_int_eq(people(tok, &j, FIELDS "&pageSize=1000"), 200);
	ck_assert_int_eq(
	    people(tok, NULL, FIELDS "&pageSize=1000&pageToken=%s", str(j, "nextPageToken")), 400);
	json_decref(j);
	free(tok);
}
END_TEST

START_TEST(people_shapes_and_arguments)
{
	char *tok = access_token(RT);
	json_t *j = NULL;

	ck_assert_int_eq(
	    gfake_control(&G, "contacts",
	                  "{\"refreshToken\":\"" RT "\",\"upsert\":["
	                  "{\"resourceName\":\"people/c1\",\"name\":\"Ann Lee\","
	                  "\"email\":\"Ann.Lee@Example.com\",\"phone\":\"(555) 010-0100\"},"
	                  "{\"resourceName\":\"people/c2\",\"email\":\"bob@x.com\"}]}"),
	    0);
	ck_assert_int_eq(people(tok, &j, "personFields=names,emailAddresses,phoneNumbers"), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "connections")), 2);
	{
		const json_t *ann = json_array_get(json_object_get(j, "connections"), 0);
		const json_t *bob = json_array_get(json_object_get(j, "connections"), 1);
		const json_t *name = json_array_get(json_object_get(ann, "names"), 0);
		const json_t *phone = json_array_get(json_object_get(ann, "phoneNumbers"), 0);

		ck_assert_str_eq(str(ann, "resourceName"), "people/c1");
		ck_assert_ptr_nonnull(str(ann, "etag"));
		ck_assert_ptr_null(json_object_get(ann, "metadata")); /* not asked for */
		ck_assert_str_eq(str(name, "displayName"), "Ann Lee");
		ck_assert_str_eq(str(name, "givenName"), "Ann");
		ck_assert_str_eq(str(name, "familyName"), "Lee");
		ck_assert(
		    json_is_true(json_object_get(json_object_get(name, "metadata"), "primary")));
		ck_assert_str_eq(
		    str(json_array_get(json_object_get(ann, "emailAddresses"), 0), "value"),
		    "Ann.Lee@Example.com");
		ck_assert_str_eq(str(phone, "value"), "(555) 010-0100");
		ck_assert_str_eq(str(phone, "canonicalForm"), "+15550100100");
		/* No name, no phone: no arrays. */
		ck_assert_ptr_null(json_object_get(bob, "names"));
		ck_assert_ptr_null(json_object_get(bob, "phoneNumbers"));
		ck_assert_ptr_nonnull(json_object_get(bob, "emailAddresses"));
	}
	json_decref(j);
	ck_assert_int_eq(people(tok, &j, "personFields=emailAddresses"), 200);
	ck_assert_ptr_null(
	    json_object_get(json_array_get(json_object_get(j, "connections"), 0), "names"));
	ck_assert_ptr_null(json_object_get(j, "nextSyncToken")); /* not asked for */
	json_decref(j);

	ck_assert_int_eq(people(tok, &j, "pageSize=10"), 400);
	ck_assert_str_eq(str(json_object_get(j, "error"), "status"), "INVALID_ARGUMENT");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "error"), "code")),
	                 400);
	json_decref(j);
	ck_assert_int_eq(people(tok, NULL, "personFields=names,bogus"), 400);
	ck_assert_int_eq(people(tok, NULL, "personFields=names&pageSize=0"), 400);
	ck_assert_int_eq(people(tok, NULL, "personFields=names&pageSize=1001"), 400);
	ck_assert_int_eq(people(tok, NULL, "personFields=names&pageSize=1000"), 200);
	free(tok);
}
END_TEST

/* The nextSyncToken of a full listing, encoded (malloc'd). */
static char *people_sync_start(const char *tok)
{
	json_t *j = NULL;
	char *s;

	ck_assert_int_eq(people(tok, &j, FIELDS "&requestSyncToken=true"), 200);
	ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
	s = esc(str(j, "nextSyncToken"));
	json_decref(j);
	return s;
}

START_TEST(people_sync)
{
	char *tok = access_token(RT), *t1, *t2;
	const json_t *c;
	json_t *j = NULL, *before = NULL;
	char etag2[128];

	ck_assert_int_eq(gfake_control(&G, "contacts",
	                               "{\"refreshToken\":\"" RT "\",\"upsert\":["
	                               "{\"resourceName\":\"people/c1\",\"name\":\"Ann Lee\"},"
	                               "{\"resourceName\":\"people/c2\",\"name\":\"Bob Roe\"}]}"),
	                 0);
	ck_assert_int_eq(people(tok, &before, FIELDS), 200);
	snprintf(etag2, sizeof(etag2), "%s",
	         str(json_array_get(json_object_get(before, "connections"), 1), "etag"));
	json_decref(before);
	t1 = people_sync_start(tok);
	ck_assert_int_eq(gfake_control(&G, "contacts",
	                               "{\"refreshToken\":\"" RT "\",\"upsert\":["
	                               "{\"resourceName\":\"people/c2\",\"name\":\"Bob Roe Jr\"},"
	                               "{\"resourceName\":\"people/c3\",\"name\":\"Cy Doe\"}],"
	                               "\"delete\":[\"people/c1\"]}"),
	                 0);
	ck_assert_int_eq(people(tok, &j, FIELDS "&syncToken=%s", t1), 200);
	c = json_object_get(j, "connections");
	ck_assert_int_eq(json_array_size(c), 3);
	ck_assert_str_eq(str(json_array_get(c, 0), "resourceName"), "people/c1");
	ck_assert(json_is_true(
	    json_object_get(json_object_get(json_array_get(c, 0), "metadata"), "deleted")));
	ck_assert_ptr_nonnull(
	    json_object_get(json_object_get(json_array_get(c, 0), "metadata"), "sources"));
	ck_assert_ptr_null(json_object_get(json_array_get(c, 0), "names"));
	ck_assert_str_ne(str(json_array_get(c, 1), "etag"), etag2);
	ck_assert_str_eq(
	    str(json_array_get(json_object_get(json_array_get(c, 1), "names"), 0), "displayName"),
	    "Bob Roe Jr");
	ck_assert_str_eq(str(json_array_get(c, 2), "resourceName"), "people/c3");
	ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
	t2 = esc(str(j, "nextSyncToken"));
	ck_assert_str_ne(t1, t2);
	json_decref(j);

	/* Nothing changed since t2. */
	ck_assert_int_eq(people(tok, &j, FIELDS "&syncToken=%s", t2), 200);
	ck_assert_ptr_null(json_object_get(j, "connections"));
	ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
	json_decref(j);

	/* A sync in pages: each page needs the same syncToken. */
	ck_assert_int_eq(gfake_control(&G, "contacts",
	                               "{\"refreshToken\":\"" RT "\",\"generate\":{\"count\":5}}"),
	                 0);
	ck_assert_int_eq(people(tok, &j, FIELDS "&pageSize=2&syncToken=%s", t2), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "connections")), 2);
	ck_assert_ptr_null(json_object_get(j, "nextSyncToken"));
	{
		char *pt = esc(str(j, "nextPageToken"));

		ck_assert_int_eq(people(tok, NULL, FIELDS "&pageSize=2&pageToken=%s", pt), 400);
		ck_assert_int_eq(
		    people(tok, NULL, FIELDS "&pageSize=2&pageToken=%s&syncToken=%s", pt, t1), 400);
		ck_assert_int_eq(
		    people(tok, NULL, FIELDS "&pageSize=2&pageToken=%s&syncToken=%s", pt, t2), 200);
		free(pt);
	}
	json_decref(j);

	/* Expired: every token issued so far. */
	ck_assert_int_eq(gfake_control(&G, "expire-sync-tokens",
	                               "{\"refreshToken\":\"" RT "\",\"kind\":\"contacts\"}"),
	                 0);
	ck_assert_int_eq(people(tok, &j, FIELDS "&syncToken=%s", t2), 400);
	assert_json(j,
	            "{\"error\":{\"code\":400,\"message\":\"Sync token is expired. Clear local "
	            "cache and retry call without the sync token.\",\"status\":"
	            "\"FAILED_PRECONDITION\",\"details\":[{\"@type\":\"type.googleapis.com/"
	            "google.rpc.ErrorInfo\",\"reason\":\"EXPIRED_SYNC_TOKEN\",\"domain\":"
	            "\"people.googleapis.com\"}]}}");
	json_decref(j);
	free(t1);
	t1 = people_sync_start(tok);
	ck_assert_int_eq(people(tok, NULL, FIELDS "&syncToken=%s", t1), 200);
	/* Sent without encoding, a sync token does not decode. */
	ck_assert_int_eq(people(tok, &j, FIELDS "&requestSyncToken=true"), 200);
	ck_assert_int_eq(people(tok, NULL, FIELDS "&syncToken=%s", str(j, "nextSyncToken")), 400);
	json_decref(j);
	free(t1);
	free(t2);
	free(tok);
}
END_TEST

/* ---- Calendar ---- */

START_TEST(calendar_shapes)
{
	char *tok = access_token(RT);
	const json_t *items, *e;
	json_t *j = NULL;

	ck_assert_int_eq(
	    gfake_control(&G, "events",
	                  "{\"refreshToken\":\"" RT "\",\"calendarId\":\"" WORK_CAL
	                  "\",\"upsert\":["
	                  "{\"id\":\"e1\",\"summary\":\"Standup\",\"start\":%d,\"end\":%d,"
	                  "\"utcOffsetMinutes\":-480,\"timeZone\":\"America/Los_Angeles\","
	                  "\"attendees\":[{\"email\":\"a@x.com\",\"responseStatus\":\"accepted\","
	                  "\"self\":true},{\"email\":\"b@x.com\",\"responseStatus\":\"declined\","
	                  "\"organizer\":true}]},"
	                  "{\"id\":\"e2\",\"summary\":\"Offsite\",\"start\":%d,\"end\":%d,"
	                  "\"allDay\":true,\"status\":\"tentative\"},"
	                  "{\"id\":\"e3\",\"summary\":\"Lunch\",\"start\":%d,\"end\":%d}]}",
	                  DEC1_18H, DEC1_18H + 1800, DEC1_18H, DEC1_18H + 86400, DEC1_18H + 3600,
	                  DEC1_18H + 7200),
	    0);
	ck_assert_int_eq(
	    api_get("/calendar/v3/calendars/work%40group.calendar.google.com/events", tok, &j),
	    200);
	ck_assert_str_eq(str(j, "kind"), "calendar#events");
	ck_assert_str_eq(str(j, "timeZone"), "UTC");
	ck_assert_str_eq(str(j, "accessRole"), "owner");
	ck_assert_ptr_nonnull(str(j, "etag"));
	ck_assert_ptr_nonnull(str(j, "updated"));
	ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
	ck_assert_ptr_null(json_object_get(j, "nextPageToken"));
	items = json_object_get(j, "items");
	ck_assert_int_eq(json_array_size(items), 3);
	e = json_array_get(items, 0);
	ck_assert_str_eq(str(e, "kind"), "calendar#event");
	ck_assert_str_eq(str(e, "id"), "e1");
	ck_assert_str_eq(str(e, "status"), "confirmed");
	ck_assert(str(e, "etag")[0] == '"');
	assert_json(json_object_get(e, "start"),
	            "{\"dateTime\":\"2026-12-01T10:00:00-08:00\","
	            "\"timeZone\":\"America/Los_Angeles\"}");
	assert_json(json_object_get(e, "attendees"),
	            "[{\"email\":\"a@x.com\",\"responseStatus\":\"accepted\",\"self\":true},"
	            "{\"email\":\"b@x.com\",\"responseStatus\":\"declined\",\"organizer\":true}]");
	e = json_array_get(items, 1);
	ck_assert_str_eq(str(e, "status"), "tentative");
	assert_json(json_object_get(e, "start"), "{\"date\":\"2026-12-01\"}");
	assert_json(json_object_get(e, "end"), "{\"date\":\"2026-12-02\"}");
	ck_assert_ptr_null(json_object_get(e, "attendees"));
	e = json_array_get(items, 2);
	ck_assert_str_eq(str(json_object_get(e, "end"), "dateTime"), "2026-12-01T20:00:00Z");
	json_decref(j);

	/* An unencoded '@' is the same path segment; another calendar is 404. */
	ck_assert_int_eq(api_get("/calendar/v3/calendars/" WORK_CAL "/events", tok, NULL), 200);
	ck_assert_int_eq(events(tok, "primary", &j, "maxResults=10"), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 0);
	json_decref(j);
	ck_assert_int_eq(events(tok, "other@group.calendar.google.com", &j, "%s", ""), 404);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":\"notFound\","
	            "\"message\":\"Not Found\"}],\"code\":404,\"message\":\"Not Found\"}}");
	json_decref(j);
	ck_assert_int_eq(gfake_control(&G, "events",
	                               "{\"refreshToken\":\"" RT "\",\"calendarId\":"
	                               "\"nope\",\"upsert\":[]}"),
	                 -1);

	/* timeMin keeps events ending after it; cancelled ones need showDeleted. */
	ck_assert_int_eq(gfake_control(&G, "events",
	                               "{\"refreshToken\":\"" RT "\",\"calendarId\":\"" WORK_CAL
	                               "\",\"delete\":[\"e2\"]}"),
	                 0);
	ck_assert_int_eq(events(tok, WORK_CAL, &j, "timeMin=2026-12-01T18%%3A30%%3A00Z"), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 1);
	ck_assert_str_eq(str(json_array_get(json_object_get(j, "items"), 0), "id"), "e3");
	json_decref(j);
	ck_assert_int_eq(events(tok, WORK_CAL, &j, "showDeleted=true&singleEvents=true"), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 3);
	e = json_array_get(json_object_get(j, "items"), 1);
	ck_assert_int_eq(json_object_size(e), 4); /* kind, etag, id, status */
	ck_assert_str_eq(str(e, "id"), "e2");
	ck_assert_str_eq(str(e, "status"), "cancelled");
	ck_assert_ptr_nonnull(str(e, "etag"));
	json_decref(j);
	free(tok);
}
END_TEST

START_TEST(calendar_pages)
{
	char *tok = access_token(RT), *page = NULL;
	int pages = 0, seen = 0;
	json_t *j = NULL;

	ck_assert_int_eq(gfake_control(&G, "events",
	                               "{\"refreshToken\":\"" RT "\",\"generate\":{\"count\":2600,"
	                               "\"start\":%d,\"step\":3600,\"duration\":1800,"
	                               "\"attendees\":[\"a@x.com\"]}}",
	                               DEC1_18H),
	                 0);
	do {
		ck_assert_int_eq(events(tok, "primary", &j, "singleEvents=true%s%s",
		                        page ? "&pageToken=" : "", page ? page : ""),
		                 200);
		free(page);
		page = NULL;
		pages++;
		seen += (int)json_array_size(json_object_get(j, "items"));
		ck_assert_int_eq(json_array_size(json_object_get(j, "items")),
		                 pages < 11 ? 250 : 100);
		if (str(j, "nextPageToken")) {
			ck_assert_ptr_null(json_object_get(j, "nextSyncToken"));
			page = esc(str(j, "nextPageToken"));
		} else {
			ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
		}
		json_decref(j);
	} while (page);
	ck_assert_int_eq(pages, 11);
	ck_assert_int_eq(seen, 2600);

	/* At most 2500 a page, whatever maxResults asks. */
	ck_assert_int_eq(events(tok, "primary", &j, "maxResults=5000"), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 2500);
	ck_assert_str_eq(str(json_array_get(json_object_get(j, "items"), 0), "id"), "g000000");
	ck_assert_str_eq(
	    str(json_object_get(json_array_get(json_object_get(j, "items"), 1), "start"),
	        "dateTime"),
	    "2026-12-01T19:00:00Z");
	ck_assert_str_eq(
	    str(json_array_get(
	            json_object_get(json_array_get(json_object_get(j, "items"), 0), "attendees"),
	            0),
	        "responseStatus"),
	    "needsAction");
	ck_assert_int_eq(
	    events(tok, "primary", NULL, "maxResults=5000&pageToken=%s", str(j, "nextPageToken")),
	    400); /* unencoded */
	json_decref(j);
	ck_assert_int_eq(events(tok, "primary", NULL, "maxResults=0"), 400);
	ck_assert_int_eq(events(tok, "primary", NULL, "timeMin=yesterday"), 400);
	free(tok);
}
END_TEST

/* The nextSyncToken of a full listing of cal, encoded (malloc'd). */
static char *calendar_sync_start(const char *tok, const char *cal)
{
	json_t *j = NULL;
	char *s;

	ck_assert_int_eq(events(tok, cal, &j, "%s", ""), 200);
	ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
	s = esc(str(j, "nextSyncToken"));
	json_decref(j);
	return s;
}

START_TEST(calendar_sync)
{
	char *tok = access_token(RT), *s1, *s2, *pt;
	const json_t *items;
	json_t *j = NULL;

	ck_assert_int_eq(
	    gfake_control(&G, "events",
	                  "{\"refreshToken\":\"" RT "\",\"upsert\":["
	                  "{\"id\":\"e1\",\"summary\":\"A\",\"start\":%d,\"end\":%d},"
	                  "{\"id\":\"e2\",\"summary\":\"B\",\"start\":%d,\"end\":%d}]}",
	                  DEC1_18H, DEC1_18H + 60, DEC1_18H, DEC1_18H + 60),
	    0);
	s1 = calendar_sync_start(tok, "primary");
	ck_assert_int_eq(gfake_control(&G, "events",
	                               "{\"refreshToken\":\"" RT "\",\"upsert\":["
	                               "{\"id\":\"e1\",\"summary\":\"A2\",\"start\":%d,\"end\":%d},"
	                               "{\"id\":\"e3\",\"summary\":\"C\",\"start\":%d,\"end\":%d}],"
	                               "\"delete\":[\"e2\"]}",
	                               DEC1_18H, DEC1_18H + 60, DEC1_18H, DEC1_18H + 60),
	                 0);
	ck_assert_int_eq(events(tok, "primary", &j, "syncToken=%s", s1), 200);
	items = json_object_get(j, "items");
	ck_assert_int_eq(json_array_size(items), 3);
	ck_assert_str_eq(str(json_array_get(items, 0), "summary"), "A2");
	ck_assert_str_eq(str(json_array_get(items, 1), "status"), "cancelled");
	ck_assert_int_eq(json_object_size(json_array_get(items, 1)), 4);
	ck_assert_str_eq(str(json_array_get(items, 2), "id"), "e3");
	s2 = esc(str(j, "nextSyncToken"));
	ck_assert_str_ne(s1, s2);
	json_decref(j);
	ck_assert_int_eq(events(tok, "primary", &j, "syncToken=%s", s2), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 0);
	ck_assert_ptr_nonnull(str(j, "nextSyncToken"));
	json_decref(j);

	/* syncToken with timeMin; another calendar's token. */
	ck_assert_int_eq(
	    events(tok, "primary", &j, "syncToken=%s&timeMin=2026-12-01T00%%3A00%%3A00Z", s2), 400);
	ck_assert_str_eq(
	    str(json_array_get(json_object_get(json_object_get(j, "error"), "errors"), 0),
	        "reason"),
	    "invalid");
	json_decref(j);
	ck_assert_int_eq(events(tok, WORK_CAL, NULL, "syncToken=%s", s2), 400);

	/* A sync in pages: each page needs the same syncToken. */
	ck_assert_int_eq(gfake_control(&G, "events",
	                               "{\"refreshToken\":\"" RT "\",\"generate\":{\"count\":5,"
	                               "\"start\":%d}}",
	                               DEC1_18H),
	                 0);
	ck_assert_int_eq(events(tok, "primary", &j, "maxResults=2&syncToken=%s", s2), 200);
	ck_assert_ptr_null(json_object_get(j, "nextSyncToken"));
	pt = esc(str(j, "nextPageToken"));
	json_decref(j);
	ck_assert_int_eq(events(tok, "primary", NULL, "maxResults=2&pageToken=%s", pt), 400);
	ck_assert_int_eq(
	    events(tok, "primary", NULL, "maxResults=2&pageToken=%s&syncToken=%s", pt, s2), 200);

	/* Expiring contacts' tokens leaves the calendar's; then expire those. */
	ck_assert_int_eq(gfake_control(&G, "expire-sync-tokens",
	                               "{\"refreshToken\":\"" RT "\",\"kind\":\"contacts\"}"),
	                 0);
	ck_assert_int_eq(events(tok, "primary", NULL, "syncToken=%s", s2), 200);
	ck_assert_int_eq(gfake_control(&G, "expire-sync-tokens",
	                               "{\"refreshToken\":\"" RT "\",\"kind\":\"calendar\"}"),
	                 0);
	ck_assert_int_eq(events(tok, "primary", &j, "syncToken=%s", s2), 410);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":"
	            "\"fullSyncRequired\",\"message\":\"Sync token is no longer valid, a full "
	            "sync is required.\"}],\"code\":410,\"message\":\"Sync token is no longer "
	            "valid, a full sync is required.\"}}");
	json_decref(j);
	ck_assert_int_eq(
	    events(tok, "primary", NULL, "maxResults=2&pageToken=%s&syncToken=%s", pt, s2), 410);
	free(s1);
	s1 = calendar_sync_start(tok, "primary");
	ck_assert_int_eq(events(tok, "primary", NULL, "syncToken=%s", s1), 200);
	free(pt);
	free(s1);
	free(s2);
	free(tok);
}
END_TEST

/* ---- authentication ---- */

static void assert_401s(const char *tok)
{
	json_t *j = NULL;

	ck_assert_int_eq(people(tok, &j, "personFields=names"), 401);
	assert_json(j,
	            "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication "
	            "credentials. Expected OAuth 2 access token, login cookie or other valid "
	            "authentication credential.\",\"status\":\"UNAUTHENTICATED\"}}");
	json_decref(j);
	ck_assert_int_eq(events(tok, "primary", &j, "%s", ""), 401);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":\"authError\","
	            "\"message\":\"Invalid Credentials\",\"locationType\":\"header\","
	            "\"location\":\"Authorization\"}],\"code\":401,\"message\":\"Invalid "
	            "Credentials\"}}");
	json_decref(j);
}

START_TEST(unauthorized)
{
	char *tok = access_token(RT), *other;
	json_t *j = NULL;

	ck_assert_int_eq(gfake_control(&G, "accounts", "{\"refreshToken\":\"rt-2\"}"), 0);
	other = access_token("rt-2");
	assert_401s("ya29.not-issued");
	ck_assert_int_eq(api_get("/v1/people/me/connections?personFields=names", NULL, NULL), 401);

	/* expire-access for one account, then for everyone. */
	ck_assert_int_eq(gfake_control(&G, "expire-access", "{\"refreshToken\":\"" RT "\"}"), 0);
	assert_401s(tok);
	ck_assert_int_eq(people(other, NULL, "personFields=names"), 200);
	free(tok);
	tok = access_token(RT);
	ck_assert_int_eq(people(tok, NULL, "personFields=names"), 200);
	ck_assert_int_eq(gfake_control(&G, "expire-access", "{}"), 0);
	ck_assert_int_eq(people(other, NULL, "personFields=names"), 401);
	ck_assert_int_eq(gfake_control(&G, "expire-access", "{\"refreshToken\":\"rt-x\"}"), -1);

	/* Revoked: no grant, no access; granting again restores it. */
	free(tok);
	tok = access_token(RT);
	ck_assert_int_eq(gfake_control(&G, "revoke", "{\"refreshToken\":\"" RT "\"}"), 0);
	ck_assert_int_eq(token_post(&G, "grant_type=refresh_token&refresh_token=" RT, NULL, &j),
	                 400);
	ck_assert_str_eq(str(j, "error"), "invalid_grant");
	json_decref(j);
	assert_401s(tok);
	ck_assert_int_eq(stat_of("people", "unauthorized"), 5);
	ck_assert_int_eq(stat_of("calendar", "unauthorized"), 3);
	ck_assert_int_eq(gfake_control(&G, "accounts", "{\"refreshToken\":\"" RT "\"}"), 0);
	free(tok);
	tok = access_token(RT);
	ck_assert_int_eq(events(tok, WORK_CAL, NULL, "%s", ""), 200); /* calendars kept */
	free(tok);
	free(other);
}
END_TEST

/* ---- injected faults ---- */

START_TEST(faults)
{
	char *tok = access_token(RT), *headers = NULL, url[128];
	const json_t *err;
	json_t *j = NULL;
	struct httpc_resp r;
	int64_t t0;

	ck_assert_int_eq(
	    gfake_control(&G, "fail", "{\"target\":\"token\",\"count\":1,\"status\":503}"), 0);
	ck_assert_int_eq(token_post(&G, "grant_type=refresh_token&refresh_token=" RT, NULL, NULL),
	                 503);
	ck_assert_int_eq(token_post(&G, "grant_type=refresh_token&refresh_token=" RT, NULL, NULL),
	                 200);
	ck_assert_int_eq(gfake_control(&G, "fail",
	                               "{\"target\":\"token\",\"count\":1,\"status\":400,"
	                               "\"reason\":\"invalid_grant\"}"),
	                 0);
	ck_assert_int_eq(token_post(&G, "grant_type=refresh_token&refresh_token=" RT, NULL, &j),
	                 400);
	assert_json(j,
	            "{\"error\":\"invalid_grant\","
	            "\"error_description\":\"Token has been expired or revoked.\"}");
	json_decref(j);
	ck_assert_int_eq(stat_of("token", "injected"), 2);

	/* People: 429 with Retry-After, 403 with a reason. */
	ck_assert_int_eq(gfake_control(&G, "fail",
	                               "{\"target\":\"people\",\"count\":1,\"status\":429,"
	                               "\"retryAfter\":7}"),
	                 0);
	ck_assert_int_eq(
	    api_get_h("/v1/people/me/connections?personFields=names", tok, &j, &headers), 429);
	ck_assert_ptr_nonnull(strstr(headers, "Retry-After: 7\r\n"));
	ck_assert_str_eq(str(json_object_get(j, "error"), "status"), "RESOURCE_EXHAUSTED");
	free(headers);
	json_decref(j);
	ck_assert_int_eq(gfake_control(&G, "fail",
	                               "{\"target\":\"people\",\"count\":1,\"status\":403,"
	                               "\"reason\":\"rateLimitExceeded\"}"),
	                 0);
	ck_assert_int_eq(people(tok, &j, "personFields=names"), 403);
	err = json_object_get(j, "error");
	ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), 403);
	ck_assert_str_eq(str(err, "status"), "PERMISSION_DENIED");
	ck_assert_str_eq(str(json_array_get(json_object_get(err, "details"), 0), "reason"),
	                 "rateLimitExceeded");
	json_decref(j);
	ck_assert_int_eq(people(tok, NULL, "personFields=names"), 200);

	/* Calendar: 403 in its errors[] shape, 503 twice, 429. */
	ck_assert_int_eq(gfake_control(&G, "fail",
	                               "{\"target\":\"calendar\",\"count\":1,\"status\":403,"
	                               "\"reason\":\"userRateLimitExceeded\"}"),
	                 0);
	ck_assert_int_eq(events(tok, "primary", &j, "%s", ""), 403);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"usageLimits\",\"reason\":"
	            "\"userRateLimitExceeded\",\"message\":\"User Rate Limit Exceeded\"}],"
	            "\"code\":403,\"message\":\"User Rate Limit Exceeded\"}}");
	json_decref(j);
	ck_assert_int_eq(
	    gfake_control(&G, "fail", "{\"target\":\"calendar\",\"count\":2,\"status\":503}"), 0);
	ck_assert_int_eq(events(tok, "primary", &j, "%s", ""), 503);
	ck_assert_str_eq(
	    str(json_array_get(json_object_get(json_object_get(j, "error"), "errors"), 0),
	        "reason"),
	    "backendError");
	json_decref(j);
	ck_assert_int_eq(events(tok, "primary", NULL, "%s", ""), 503);
	ck_assert_int_eq(events(tok, "primary", NULL, "%s", ""), 200);
	ck_assert_int_eq(
	    gfake_control(&G, "fail", "{\"target\":\"calendar\",\"count\":1,\"status\":429}"), 0);
	ck_assert_int_eq(events(tok, "primary", &j, "%s", ""), 429);
	ck_assert_str_eq(
	    str(json_array_get(json_object_get(json_object_get(j, "error"), "errors"), 0),
	        "reason"),
	    "rateLimitExceeded");
	json_decref(j);

	/* A slow answer, then no answer at all. */
	ck_assert_int_eq(gfake_control(&G, "fail",
	                               "{\"target\":\"people\",\"count\":1,\"status\":0,"
	                               "\"delayMs\":400}"),
	                 0);
	t0 = time_mono_ms();
	ck_assert_int_eq(people(tok, NULL, "personFields=names"), 200);
	ck_assert_int_ge(time_mono_ms() - t0, 400);
	ck_assert_int_eq(
	    gfake_control(&G, "fail", "{\"target\":\"calendar\",\"count\":1,\"drop\":true}"), 0);
	snprintf(url, sizeof(url), "%s/calendar/v3/calendars/primary/events", G.url);
	ck_assert_int_eq(httpc_request("GET", url, NULL, NULL, 0, 10000, &r), -1);
	ck_assert_int_eq(events(tok, "primary", NULL, "%s", ""), 200);
	ck_assert_int_eq(stat_of("calendar", "injected"), 5);

	ck_assert_int_eq(gfake_control(&G, "fail", "{\"target\":\"gmail\",\"count\":1}"), -1);
	ck_assert_int_eq(gfake_control(&G, "fail", "{\"target\":\"people\",\"status\":200}"), -1);
	free(tok);
}
END_TEST

/* ---- what the fake saw ---- */

START_TEST(request_log)
{
	char *tok = access_token(RT);
	json_t *j;
	const json_t *last;
	int i;

	ck_assert_int_eq(api_get("/v1/people/me/connections?personFields=names%2CemailAddresses&"
	                         "pageToken=%2B%2B%2B%2Fab%3D%3D&pageSize=5",
	                         tok, NULL),
	                 400);
	j = gfake_get(&G, "requests?target=people");
	ck_assert_int_eq(json_array_size(j), 1);
	last = json_array_get(j, 0);
	ck_assert_str_eq(str(last, "method"), "GET");
	ck_assert_str_eq(str(last, "path"), "/v1/people/me/connections");
	ck_assert_str_eq(str(last, "query"),
	                 "personFields=names%2CemailAddresses&pageToken=%2B%2B%2B%2Fab%3D%3D&"
	                 "pageSize=5");
	json_decref(j);

	ck_assert_int_eq(events(tok, WORK_CAL, NULL, "maxResults=3"), 200);
	j = gfake_get(&G, "requests?target=calendar");
	ck_assert_str_eq(str(json_array_get(j, 0), "path"),
	                 "/calendar/v3/calendars/work%40group.calendar.google.com/events");
	ck_assert_str_eq(str(json_array_get(j, 0), "query"), "maxResults=3");
	json_decref(j);
	j = gfake_get(&G, "requests?target=token");
	ck_assert_str_eq(str(json_array_get(j, 0), "method"), "POST");
	ck_assert_str_eq(str(json_array_get(j, 0), "path"), "/token");
	ck_assert_ptr_nonnull(strstr(str(json_array_get(j, 0), "body"), "refresh_token=rt-1"));
	json_decref(j);
	ck_assert_ptr_null(gfake_get(&G, "requests?target=mail"));

	/* Only the last 200 are kept. */
	for (i = 0; i < 205; i++)
		ck_assert_int_eq(people(NULL, NULL, "personFields=names&n=%d", i), 401);
	j = gfake_get(&G, "requests?target=people");
	ck_assert_int_eq(json_array_size(j), 200);
	ck_assert_str_eq(str(json_array_get(j, 0), "query"), "personFields=names&n=5");
	json_decref(j);
	ck_assert_int_eq(stat_of("people", "calls"), 206);
	free(tok);
}
END_TEST

/* ---- push channels ---- */

/* A receiver for pushes, in this process: records every request (method,
 * path, headers by lowercase name, body) and answers rx_status after
 * rx_delay_ms, with an empty body. */
struct rx_req {
	json_t *hit;
	char *body;
	size_t len;
};

static struct MHD_Daemon *rx_daemon;
static char rx_url[96]; /* http://127.0.0.1:PORT/webhooks/google-calendar */
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by rx_lock: */
static json_t *rx_hits;
static int rx_status = 200, rx_delay_ms;

static enum MHD_Result rx_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
	json_t *headers = cls;
	const char *before;
	char name[128], both[4096];
	size_t i;

	(void)kind;
	for (i = 0; key[i] && i + 1 < sizeof(name); i++)
		name[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
	name[i] = '\0';
	/* A repeated header shows as "a, b" and fails any exact check. */
	before = json_string_value(json_object_get(headers, name));
	snprintf(both, sizeof(both), "%s%s%s", before ? before : "", before ? ", " : "",
	         value ? value : "");
	json_object_set_new(headers, name, json_string(both));
	return MHD_YES;
}

static enum MHD_Result rx_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct rx_req *r = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int status, delay;

	(void)cls;
	(void)version;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		r->hit = json_pack("{s:s, s:s, s:o}", "method", method, "path", url, "headers",
		                   json_object());
		MHD_get_connection_values(c, MHD_HEADER_KIND, rx_header,
		                          json_object_get(r->hit, "headers"));
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		char *b = realloc(r->body, r->len + *upload_size);

		if (!b)
			return MHD_NO;
		memcpy(b + r->len, upload, *upload_size);
		r->body = b;
		r->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	json_object_set_new(r->hit, "body", json_stringn(r->body ? r->body : "", r->len));
	pthread_mutex_lock(&rx_lock);
	/* A copy: jansson's reference counts are no lock. */
	json_array_append_new(rx_hits, json_deep_copy(r->hit));
	status = rx_status;
	delay = rx_delay_ms;
	pthread_mutex_unlock(&rx_lock);
	if (delay)
		msleep(delay);
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void rx_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct rx_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r) {
		json_decref(r->hit);
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

static int rx_start(void)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	rx_hits = json_array();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rx_daemon = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, rx_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_NOTIFY_COMPLETED, rx_completed, NULL, MHD_OPTION_END);
	if (!rx_daemon || !(info = MHD_get_daemon_info(rx_daemon, MHD_DAEMON_INFO_BIND_PORT)))
		return -1;
	snprintf(rx_url, sizeof(rx_url), "http://127.0.0.1:%u/webhooks/google-calendar",
	         (unsigned)info->port);
	return 0;
}

static void rx_stop(void)
{
	if (rx_daemon)
		MHD_stop_daemon(rx_daemon);
	json_decref(rx_hits);
}

/* Forgets the requests so far; answers status after delay_ms from now. */
static void rx_reset(int status, int delay_ms)
{
	pthread_mutex_lock(&rx_lock);
	json_array_clear(rx_hits);
	rx_status = status;
	rx_delay_ms = delay_ms;
	pthread_mutex_unlock(&rx_lock);
}

/* A copy of the requests so far (the caller decrefs). */
static json_t *rx_got(void)
{
	json_t *j;

	pthread_mutex_lock(&rx_lock);
	j = json_deep_copy(rx_hits);
	pthread_mutex_unlock(&rx_lock);
	return j;
}

static const char *hdr(const json_t *hit, const char *lower_name)
{
	return str(json_object_get(hit, "headers"), lower_name);
}

/* Asserts that hit is the push state number number to channel id. */
static void assert_push(const json_t *hit, const char *id, const char *state, const char *number)
{
	ck_assert_ptr_nonnull(hit);
	ck_assert_str_eq(hdr(hit, "x-goog-channel-id"), id);
	ck_assert_str_eq(hdr(hit, "x-goog-resource-state"), state);
	ck_assert_str_eq(hdr(hit, "x-goog-message-number"), number);
}

/* POSTs body to path with a bearer token: the status; *out the JSON
 * answer, *len the body's length (when asked). */
static long api_post(const char *path, const char *token, const char *body, json_t **out,
                     size_t *len)
{
	char url[8192], auth[256];
	const char *hdrs[] = {auth, "Content-Type: application/json", NULL};
	struct httpc_resp r;
	long status;

	snprintf(url, sizeof(url), "%s%s", G.url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "none");
	ck_assert_int_eq(httpc_request("POST", url, hdrs, body, strlen(body), 20000, &r), 0);
	status = r.status;
	if (out)
		*out = json_incref(r.json);
	if (len)
		*len = r.len;
	httpc_resp_free(&r);
	return status;
}

static long watch(const char *token, const char *cal, json_t **out, const char *fmt, ...)
    CJ_PRINTF(4, 5);

static long watch(const char *token, const char *cal, json_t **out, const char *fmt, ...)
{
	char path[1024], body[4096], *e = esc(cal);
	va_list ap;

	snprintf(path, sizeof(path), "/calendar/v3/calendars/%s/events/watch", e);
	free(e);
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	return api_post(path, token, body, out, NULL);
}

/* A channel on cal to the receiver, its ttl ttl ("" for none): the watch
 * answer (the caller decrefs). */
static json_t *watch_rx(const char *token, const char *cal, const char *id, const char *ttl)
{
	json_t *j = NULL;

	ck_assert_int_eq(watch(token, cal, &j,
	                       "{\"id\":\"%s\",\"type\":\"web_hook\",\"address\":\"%s\","
	                       "\"token\":\"tok-%s\"%s%s%s}",
	                       id, rx_url, id, *ttl ? ",\"params\":{\"ttl\":\"" : "", ttl,
	                       *ttl ? "\"}" : ""),
	                 200);
	return j;
}

static long stop_channel(const char *token, const char *id, const char *rid, json_t **out,
                         size_t *len)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"resourceId\":\"%s\"}", id, rid);
	return api_post("/calendar/v3/channels/stop", token, body, out, len);
}

static long long expiration_ms(const json_t *answer)
{
	const char *s = str(answer, "expiration");
	char *end;
	long long v;

	ck_assert_ptr_nonnull(s);
	v = strtoll(s, &end, 10);
	ck_assert(*s && !*end);
	return v;
}

/* |got - (now + secs)| within 5 s, in ms. */
static void assert_expires_in(long long got_ms, double now, long long secs)
{
	long long want = (long long)(now * 1000) + secs * 1000;

	ck_assert_msg(got_ms > want - 5000 && got_ms < want + 5000, "expiration %lld, want ~%lld",
	              got_ms, want);
}

static const char *reason_of(const json_t *j)
{
	return str(json_array_get(json_object_get(json_object_get(j, "error"), "errors"), 0),
	           "reason");
}

static long push_stat(const char *name)
{
	return stat_of("pushes", name);
}

/* A change to cal's events (one event upserted). */
static void change_events(const char *cal, const char *event_id)
{
	ck_assert_int_eq(gfake_control(&G, "events",
	                               "{\"refreshToken\":\"" RT "\",\"calendarId\":\"%s\","
	                               "\"upsert\":[{\"id\":\"%s\",\"start\":%d,\"end\":%d}]}",
	                               cal, event_id, DEC1_18H, DEC1_18H + 60),
	                 0);
}

static void wait_pushes(void)
{
	ck_assert_int_eq(gfake_wait_pushes(&G, 20000), 0);
}

START_TEST(watch_answer)
{
	char *tok = access_token(RT), *tok2, rid[64];
	json_t *a = NULL, *b = NULL, *c = NULL, *d = NULL, *list, *j;
	const json_t *e;
	double now = time_wall();

	ck_assert_int_eq(watch(tok, "primary", &a,
	                       "{\"id\":\"chan-a\",\"type\":\"web_hook\",\"address\":"
	                       "\"https://app.example.com/webhooks/google-calendar\",\"token\":"
	                       "\"u=1&k=abc\",\"params\":{\"ttl\":\"3600\"}}"),
	                 200);
	ck_assert_int_eq(json_object_size(a), 6);
	ck_assert_str_eq(str(a, "kind"), "api#channel");
	ck_assert_str_eq(str(a, "id"), "chan-a");
	ck_assert_str_eq(
	    str(a, "resourceUri"),
	    "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json");
	ck_assert_str_eq(str(a, "token"), "u=1&k=abc");
	ck_assert(json_is_string(json_object_get(a, "expiration")));
	assert_expires_in(expiration_ms(a), now, 3600);
	snprintf(rid, sizeof(rid), "%s", str(a, "resourceId"));
	ck_assert_uint_eq(strlen(rid), 27);
	ck_assert_uint_eq(strspn(rid,
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                         "0123456789-_"),
	                  27);

	/* Another channel on the calendar: the same resource; "webhook" is
	 * accepted; no token, no ttl: a week. */
	ck_assert_int_eq(watch(tok, "primary", &b,
	                       "{\"id\":\"chan-b\",\"type\":\"webhook\",\"address\":"
	                       "\"https://app.example.com/webhooks/google-calendar\"}"),
	                 200);
	ck_assert_int_eq(json_object_size(b), 5);
	ck_assert_ptr_null(json_object_get(b, "token"));
	ck_assert_str_eq(str(b, "resourceId"), rid);
	assert_expires_in(expiration_ms(b), now, 604800);

	/* Another calendar: its own resource, its id encoded; ttl capped at 30 days. */
	ck_assert_int_eq(watch(tok, WORK_CAL, &c,
	                       "{\"id\":\"chan-c\",\"type\":\"web_hook\",\"address\":"
	                       "\"https://app.example.com/w\",\"params\":{\"ttl\":\"99999999\"}}"),
	                 200);
	ck_assert_str_eq(str(c, "resourceUri"),
	                 "https://www.googleapis.com/calendar/v3/calendars/"
	                 "work%40group.calendar.google.com/events?alt=json");
	ck_assert_str_ne(str(c, "resourceId"), rid);
	assert_expires_in(expiration_ms(c), now, 2592000);

	/* Another account's primary calendar is another resource. */
	ck_assert_int_eq(gfake_control(&G, "accounts", "{\"refreshToken\":\"rt-2\"}"), 0);
	tok2 = access_token("rt-2");
	ck_assert_int_eq(watch(tok2, "primary", &d,
	                       "{\"id\":\"chan-d\",\"type\":\"web_hook\",\"address\":"
	                       "\"https://app.example.com/w\"}"),
	                 200);
	ck_assert_str_ne(str(d, "resourceId"), rid);

	/* The control view, in creation order. */
	list = gfake_get(&G, "channels");
	ck_assert_int_eq(json_array_size(json_object_get(list, "channels")), 4);
	e = json_array_get(json_object_get(list, "channels"), 0);
	ck_assert_str_eq(str(e, "id"), "chan-a");
	ck_assert_str_eq(str(e, "resourceId"), rid);
	ck_assert_str_eq(str(e, "calendarId"), "primary");
	ck_assert_str_eq(str(e, "refreshToken"), RT);
	ck_assert_str_eq(str(e, "address"), "https://app.example.com/webhooks/google-calendar");
	ck_assert_str_eq(str(e, "token"), "u=1&k=abc");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "expiration")), expiration_ms(a));
	ck_assert_str_eq(str(e, "state"), "live");
	ck_assert(json_is_false(json_object_get(e, "muted")));
	e = json_array_get(json_object_get(list, "channels"), 1);
	ck_assert_str_eq(str(e, "id"), "chan-b");
	ck_assert(json_is_null(json_object_get(e, "token")));
	ck_assert_str_eq(str(json_array_get(json_object_get(list, "channels"), 2), "calendarId"),
	                 WORK_CAL);
	ck_assert_str_eq(str(json_array_get(json_object_get(list, "channels"), 3), "refreshToken"),
	                 "rt-2");
	json_decref(list);

	/* The calls, with their bodies. */
	j = gfake_get(&G, "requests?target=watch");
	ck_assert_int_eq(json_array_size(j), 4);
	ck_assert_str_eq(str(json_array_get(j, 0), "method"), "POST");
	ck_assert_str_eq(str(json_array_get(j, 0), "path"),
	                 "/calendar/v3/calendars/primary/events/watch");
	ck_assert_ptr_nonnull(strstr(str(json_array_get(j, 0), "body"), "\"chan-a\""));
	ck_assert_str_eq(str(json_array_get(j, 2), "path"),
	                 "/calendar/v3/calendars/work%40group.calendar.google.com/events/watch");
	json_decref(j);
	ck_assert_int_eq(stat_of("watch", "calls"), 4);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
	free(tok2);
	free(tok);
}
END_TEST

/* A watch answered 400 with reason. */
static void assert_watch_400(const char *tok, const char *reason, const char *body)
{
	json_t *j = NULL;

	ck_assert_int_eq(watch(tok, "primary", &j, "%s", body), 400);
	ck_assert_msg(reason_of(j) && !strcmp(reason_of(j), reason), "%s: reason %s, want %s", body,
	              reason_of(j) ? reason_of(j) : "(none)", reason);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "error"), "code")),
	                 400);
	json_decref(j);
}

#define WATCH_BODY(id, rest)                                                                       \
	"{\"id\":\"" id "\",\"type\":\"web_hook\",\"address\":\"https://a.example.com/h\"" rest "}"
#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(watch_rejects)
{
	char *tok = access_token(RT), body[1024], tok256[300];
	json_t *j = NULL, *list;

	assert_watch_400(tok, "parseError", "{\"id\":");
	assert_watch_400(tok, "parseError", "[1]");
	assert_watch_400(tok, "required",
	                 "{\"type\":\"web_hook\",\"address\":\"https://a.example.com/h\"}");
	assert_watch_400(tok, "required", WATCH_BODY("", ""));
	assert_watch_400(tok, "invalid", WATCH_BODY(ID64 "0", ""));
	assert_watch_400(tok, "invalid", WATCH_BODY("a b", ""));
	assert_watch_400(
	    tok, "invalid",
	    "{\"id\":7,\"type\":\"web_hook\",\"address\":\"https://a.example.com/h\"}");
	assert_watch_400(tok, "required", "{\"id\":\"x\",\"address\":\"https://a.example.com/h\"}");
	assert_watch_400(
	    tok, "invalid",
	    "{\"id\":\"x\",\"type\":\"email\",\"address\":\"https://a.example.com/h\"}");
	assert_watch_400(tok, "required", "{\"id\":\"x\",\"type\":\"web_hook\"}");
	assert_watch_400(tok, "invalid", WATCH_BODY("x", ",\"params\":\"ttl=60\""));
	assert_watch_400(tok, "invalid", WATCH_BODY("x", ",\"params\":{\"ttl\":3600}"));
	assert_watch_400(tok, "invalid", WATCH_BODY("x", ",\"params\":{\"ttl\":\"1h\"}"));
	assert_watch_400(tok, "invalid", WATCH_BODY("x", ",\"params\":{\"ttl\":\"0\"}"));
	assert_watch_400(tok, "invalid", WATCH_BODY("x", ",\"params\":{\"ttl\":\"-5\"}"));
	assert_watch_400(tok, "invalid", WATCH_BODY("x", ",\"token\":5"));
	memset(tok256, 'k', 257);
	tok256[257] = '\0';
	snprintf(body, sizeof(body), WATCH_BODY("x", ",\"token\":\"%s\""), tok256);
	assert_watch_400(tok, "invalid", body);

	/* Plain http only to loopback (the tests' receivers), as Google wants https. */
	ck_assert_int_eq(watch(tok, "primary", &j,
	                       "{\"id\":\"x\",\"type\":\"web_hook\",\"address\":"
	                       "\"http://example.com/hook\"}"),
	                 400);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":"
	            "\"push.webhookUrlNotHttps\",\"message\":\"WebHook callback must be HTTPS: "
	            "http://example.com/hook\"}],\"code\":400,\"message\":\"WebHook callback "
	            "must be HTTPS: http://example.com/hook\"}}");
	json_decref(j);
	assert_watch_400(tok, "push.webhookUrlNotHttps",
	                 "{\"id\":\"x\",\"type\":\"web_hook\",\"address\":"
	                 "\"http://127.0.0.1:80@example.com/h\"}");
	assert_watch_400(
	    tok, "push.webhookUrlNotHttps",
	    "{\"id\":\"x\",\"type\":\"web_hook\",\"address\":\"ftp://a.example.com/\"}");

	/* The limits themselves are fine. */
	tok256[256] = '\0';
	snprintf(body, sizeof(body), WATCH_BODY("x", ",\"token\":\"%s\""), tok256);
	ck_assert_int_eq(watch(tok, "primary", NULL, "%s", body), 200);
	ck_assert_int_eq(watch(tok, "primary", NULL, "%s", WATCH_BODY(ID64, "")), 200);
	ck_assert_int_eq(watch(tok, "primary", NULL, "%s",
	                       WATCH_BODY("a-Z_0+/=", ",\"params\":{\"ttl\":\"60\"}")),
	                 200);

	/* A live channel's id, on any calendar. */
	ck_assert_int_eq(watch(tok, WORK_CAL, &j, "%s", WATCH_BODY("x", "")), 400);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":"
	            "\"channelIdNotUnique\",\"message\":\"Channel id x not unique\"}],"
	            "\"code\":400,\"message\":\"Channel id x not unique\"}}");
	json_decref(j);

	/* 401 and 404 as events.list has them. */
	ck_assert_int_eq(watch("ya29.not-issued", "primary", &j, "%s", WATCH_BODY("y", "")), 401);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":\"authError\","
	            "\"message\":\"Invalid Credentials\",\"locationType\":\"header\","
	            "\"location\":\"Authorization\"}],\"code\":401,\"message\":\"Invalid "
	            "Credentials\"}}");
	json_decref(j);
	ck_assert_int_eq(
	    watch(tok, "other@group.calendar.google.com", &j, "%s", WATCH_BODY("y", "")), 404);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":\"notFound\","
	            "\"message\":\"Not Found\"}],\"code\":404,\"message\":\"Not Found\"}}");
	json_decref(j);
	ck_assert_int_eq(gfake_control(&G, "revoke", "{\"refreshToken\":\"" RT "\"}"), 0);
	ck_assert_int_eq(watch(tok, "primary", NULL, "%s", WATCH_BODY("y", "")), 401);
	ck_assert_int_eq(stat_of("watch", "unauthorized"), 2);

	/* Only the three good ones became channels. */
	list = gfake_get(&G, "channels");
	ck_assert_int_eq(json_array_size(json_object_get(list, "channels")), 3);
	json_decref(list);
	free(tok);
}
END_TEST

/* Formats Unix ms as an RFC 1123 date ("Tue, 19 Nov 2013 01:13:52 GMT"). */
static void rfc1123(long long ms, char *out, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static int goog_headers(const json_t *hit)
{
	const char *key;
	const json_t *v;
	int n = 0;

	json_object_foreach((json_t *)json_object_get(hit, "headers"), key, v)
	{
		n += !strncmp(key, "x-goog-", 7);
	}
	return n;
}

START_TEST(sync_and_exists_pushes)
{
	char *tok = access_token(RT), when[64];
	json_t *a = watch_rx(tok, "primary", "chan-1", "3600"), *hits, *ch;
	const json_t *h;

	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 1);
	h = json_array_get(hits, 0);
	ck_assert_str_eq(str(h, "method"), "POST");
	ck_assert_str_eq(str(h, "path"), "/webhooks/google-calendar");
	ck_assert_str_eq(str(h, "body"), "");
	ck_assert_str_eq(hdr(h, "content-length"), "0");
	ck_assert_str_eq(hdr(h, "content-type"), "application/json; utf-8");
	ck_assert_str_eq(
	    hdr(h, "user-agent"),
	    "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)");
	ck_assert_str_eq(hdr(h, "x-goog-channel-id"), "chan-1");
	ck_assert_str_eq(hdr(h, "x-goog-channel-token"), "tok-chan-1");
	rfc1123(expiration_ms(a), when, sizeof(when));
	ck_assert_str_eq(hdr(h, "x-goog-channel-expiration"), when);
	ck_assert_str_eq(hdr(h, "x-goog-resource-id"), str(a, "resourceId"));
	ck_assert_str_eq(hdr(h, "x-goog-resource-uri"), str(a, "resourceUri"));
	ck_assert_str_eq(hdr(h, "x-goog-resource-state"), "sync");
	ck_assert_str_eq(hdr(h, "x-goog-message-number"), "1");
	ck_assert_int_eq(goog_headers(h), 7);
	json_decref(hits);

	/* An event changes: "exists", number 2. */
	change_events("primary", "e1");
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 2);
	h = json_array_get(hits, 1);
	assert_push(h, "chan-1", "exists", "2");
	ck_assert_str_eq(hdr(h, "x-goog-channel-token"), "tok-chan-1");
	ck_assert_str_eq(hdr(h, "x-goog-resource-id"), str(a, "resourceId"));
	ck_assert_str_eq(str(h, "body"), "");
	json_decref(hits);

	/* Another calendar's change, and a delete that changes nothing: no push. */
	change_events(WORK_CAL, "w1");
	ck_assert_int_eq(
	    gfake_control(&G, "events", "{\"refreshToken\":\"" RT "\",\"delete\":[\"nope\"]}"), 0);
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 2);
	json_decref(hits);

	/* generate, delete: one push per change request. */
	ck_assert_int_eq(gfake_control(&G, "events",
	                               "{\"refreshToken\":\"" RT "\",\"generate\":{\"count\":3,"
	                               "\"start\":%d}}",
	                               DEC1_18H),
	                 0);
	ck_assert_int_eq(
	    gfake_control(&G, "events", "{\"refreshToken\":\"" RT "\",\"delete\":[\"e1\"]}"), 0);
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 4);
	assert_push(json_array_get(hits, 2), "chan-1", "exists", "3");
	assert_push(json_array_get(hits, 3), "chan-1", "exists", "4");
	json_decref(hits);

	/* A channel without a token: no token header. */
	ck_assert_int_eq(watch(tok, "primary", NULL,
	                       "{\"id\":\"chan-2\",\"type\":\"web_hook\",\"address\":\"%s\"}",
	                       rx_url),
	                 200);
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 5);
	h = json_array_get(hits, 4);
	assert_push(h, "chan-2", "sync", "1");
	ck_assert_ptr_null(hdr(h, "x-goog-channel-token"));
	ck_assert_int_eq(goog_headers(h), 6);
	json_decref(hits);

	ch = gfake_channel(&G, "chan-1");
	ck_assert_int_eq(json_integer_value(json_object_get(ch, "messages")), 4);
	assert_json(json_object_get(ch, "statuses"), "[200,200,200,200]");
	json_decref(ch);
	ck_assert_int_eq(push_stat("queued"), 5);
	ck_assert_int_eq(push_stat("delivered"), 5);
	ck_assert_int_eq(push_stat("failed"), 0);
	ck_assert_int_eq(push_stat("undeliverable"), 0);
	json_decref(a);
	free(tok);
}
END_TEST

START_TEST(mute_and_stop)
{
	char *tok = access_token(RT), rid[64];
	json_t *a = watch_rx(tok, "primary", "chan-a", ""),
	       *b = watch_rx(tok, "primary", "chan-b", "");
	json_t *hits, *j = NULL, *ch;
	size_t len = 99;

	snprintf(rid, sizeof(rid), "%s", str(a, "resourceId"));
	wait_pushes();
	rx_reset(200, 0);

	/* Muted: no automatic pushes; unmuted: they come again. */
	ck_assert_int_eq(gfake_control(&G, "mute", "{\"channelId\":\"chan-a\",\"muted\":true}"), 0);
	ch = gfake_channel(&G, "chan-a");
	ck_assert(json_is_true(json_object_get(ch, "muted")));
	json_decref(ch);
	change_events("primary", "e1");
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 1);
	assert_push(json_array_get(hits, 0), "chan-b", "exists", "2");
	json_decref(hits);
	ck_assert_int_eq(gfake_control(&G, "mute", "{\"channelId\":\"chan-a\",\"muted\":false}"),
	                 0);
	change_events("primary", "e2");
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 3);
	assert_push(json_array_get(hits, 1), "chan-a", "exists", "2");
	assert_push(json_array_get(hits, 2), "chan-b", "exists", "3");
	json_decref(hits);
	ck_assert_int_eq(gfake_control(&G, "mute", "{\"channelId\":\"nope\",\"muted\":true}"), -1);
	ck_assert_int_eq(gfake_control(&G, "mute", "{\"channelId\":\"chan-a\",\"muted\":1}"), -1);

	/* Stopped: 204 without a body; again, or with another resourceId: 404. */
	ck_assert_int_eq(stop_channel(tok, "chan-a", rid, &j, &len), 204);
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(j);
	ck_assert_int_eq(stop_channel(tok, "chan-a", rid, &j, NULL), 404);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":\"notFound\","
	            "\"message\":\"Channel 'chan-a' not found for project '123456789'\"}],"
	            "\"code\":404,\"message\":\"Channel 'chan-a' not found for project "
	            "'123456789'\"}}");
	json_decref(j);
	ck_assert_int_eq(stop_channel(tok, "chan-b", "R6UYSjrlMC-1EVvMMHNoFKl1jDg", NULL, NULL),
	                 404);
	ck_assert_int_eq(stop_channel(tok, "chan-zzz", rid, NULL, NULL), 404);
	ck_assert_int_eq(stop_channel("ya29.not-issued", "chan-b", rid, &j, NULL), 401);
	ck_assert_str_eq(reason_of(j), "authError");
	json_decref(j);
	ck_assert_int_eq(
	    api_post("/calendar/v3/channels/stop", tok, "{\"id\":\"chan-b\"}", &j, NULL), 400);
	ck_assert_str_eq(reason_of(j), "required");
	json_decref(j);
	ck_assert_int_eq(stat_of("stop", "calls"), 6);
	ck_assert_int_eq(stat_of("stop", "unauthorized"), 1);

	/* The stopped channel gets nothing; the other goes on. */
	change_events("primary", "e3");
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 4);
	assert_push(json_array_get(hits, 3), "chan-b", "exists", "4");
	json_decref(hits);
	ch = gfake_channel(&G, "chan-a");
	ck_assert_str_eq(str(ch, "state"), "stopped");
	json_decref(ch);

	/* A stopped channel's id may be used again: a new channel. */
	json_decref(a);
	a = watch_rx(tok, "primary", "chan-a", "");
	ck_assert_str_eq(str(a, "resourceId"), rid);
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 5);
	assert_push(json_array_get(hits, 4), "chan-a", "sync", "1");
	json_decref(hits);
	ch = gfake_channel(&G, "chan-a");
	ck_assert_str_eq(str(ch, "state"), "live");
	json_decref(ch);

	/* A push queued before the stop is not sent after it: chan-b's
	 * exists holds the sender while chan-a's and chan-c's wait. */
	json_decref(b);
	b = watch_rx(tok, "primary", "chan-c", "");
	wait_pushes();
	rx_reset(200, 1500);
	change_events("primary", "e4");
	ck_assert_int_eq(stop_channel(tok, "chan-c", rid, NULL, NULL), 204);
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 2);
	assert_push(json_array_get(hits, 0), "chan-b", "exists", "5");
	assert_push(json_array_get(hits, 1), "chan-a", "exists", "2");
	json_decref(hits);
	ch = gfake_channel(&G, "chan-c");
	ck_assert_int_eq(json_integer_value(json_object_get(ch, "messages")), 1);
	json_decref(ch);
	json_decref(a);
	json_decref(b);
	free(tok);
}
END_TEST

START_TEST(expiry_by_clock)
{
	char *tok = access_token(RT), rid[64];
	json_t *a = watch_rx(tok, "primary", "chan-e", "60"), *hits, *ch, *b;
	double now;

	snprintf(rid, sizeof(rid), "%s", str(a, "resourceId"));
	wait_pushes();
	rx_reset(200, 0);
	ck_assert_int_eq(gfake_control(&G, "clock", "{\"offsetSeconds\":59}"), 0);
	ch = gfake_channel(&G, "chan-e");
	ck_assert_str_eq(str(ch, "state"), "live");
	json_decref(ch);
	ck_assert_int_eq(gfake_control(&G, "clock", "{\"offsetSeconds\":61}"), 0);
	ch = gfake_channel(&G, "chan-e");
	ck_assert_str_eq(str(ch, "state"), "expired");
	json_decref(ch);

	/* Expired: no pushes, and it cannot be stopped. */
	change_events("primary", "e1");
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 0);
	json_decref(hits);
	ck_assert_int_eq(stop_channel(tok, "chan-e", rid, NULL, NULL), 404);

	/* Its id is free again; the new channel's expiry counts from fake now. */
	now = time_wall();
	b = watch_rx(tok, "primary", "chan-e", "3600");
	assert_expires_in(expiration_ms(b), now, 61 + 3600);
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 1);
	assert_push(json_array_get(hits, 0), "chan-e", "sync", "1");
	json_decref(hits);

	ck_assert_int_eq(gfake_control(&G, "clock", "{\"offsetSeconds\":\"61\"}"), -1);
	ck_assert_int_eq(gfake_control(&G, "clock", "{}"), -1);
	json_decref(a);
	json_decref(b);
	free(tok);
}
END_TEST

/* POST push: the answer's statuses as JSON text (malloc'd). */
static char *push(const char *body)
{
	long status;
	json_t *j = gfake_post(&G, "push", &status, "%s", body);
	char *s;

	ck_assert_int_eq(status, 200);
	s = json_dumps(json_object_get(j, "statuses"), JSON_COMPACT);
	json_decref(j);
	return s;
}

static void assert_push_answer(const char *body, const char *want)
{
	char *got = push(body);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(control_push)
{
	char *tok = access_token(RT), dead[96];
	json_t *a = watch_rx(tok, "primary", "chan-p", ""), *hits, *ch, *j;
	int64_t t0;
	long status;

	wait_pushes();
	rx_reset(200, 0);

	/* A flood: numbers go on from the sync's 1. */
	assert_push_answer("{\"channelId\":\"chan-p\",\"count\":3}", "[200,200,200]");
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 3);
	assert_push(json_array_get(hits, 0), "chan-p", "exists", "2");
	assert_push(json_array_get(hits, 2), "chan-p", "exists", "4");
	ck_assert_str_eq(hdr(json_array_get(hits, 2), "x-goog-channel-token"), "tok-chan-p");
	json_decref(hits);

	/* Replays: the number given, repeated; the channel's counter stays. */
	rx_reset(200, 0);
	assert_push_answer(
	    "{\"channelId\":\"chan-p\",\"messageNumber\":3,\"count\":2,\"state\":\"sync\"}",
	    "[200,200]");
	assert_push_answer("{\"channelId\":\"chan-p\",\"token\":\"forged\"}", "[200]");
	assert_push_answer("{\"channelId\":\"chan-p\",\"token\":null}", "[200]");
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 4);
	assert_push(json_array_get(hits, 0), "chan-p", "sync", "3");
	assert_push(json_array_get(hits, 1), "chan-p", "sync", "3");
	assert_push(json_array_get(hits, 2), "chan-p", "exists", "5");
	ck_assert_str_eq(hdr(json_array_get(hits, 2), "x-goog-channel-token"), "forged");
	assert_push(json_array_get(hits, 3), "chan-p", "exists", "6");
	ck_assert_ptr_null(hdr(json_array_get(hits, 3), "x-goog-channel-token"));
	json_decref(hits);

	/* The receiver's answers, whatever they are. */
	rx_reset(500, 0);
	assert_push_answer("{\"channelId\":\"chan-p\"}", "[500]");
	rx_reset(200, 0);
	ck_assert_int_eq(push_stat("failed"), 1);

	/* Spaced out. */
	t0 = time_mono_ms();
	assert_push_answer("{\"channelId\":\"chan-p\",\"count\":4,\"intervalMs\":100}",
	                   "[200,200,200,200]");
	ck_assert_int_ge(time_mono_ms() - t0, 300);

	/* To a stopped channel too. */
	ck_assert_int_eq(stop_channel(tok, "chan-p", str(a, "resourceId"), NULL, NULL), 204);
	assert_push_answer("{\"channelId\":\"chan-p\"}", "[200]");
	ch = gfake_channel(&G, "chan-p");
	ck_assert_int_eq(json_integer_value(json_object_get(ch, "messages")), 14);
	assert_json(json_object_get(ch, "statuses"),
	            "[200,200,200,200,200,200,200,200,500,200,200,200,200,200]");
	json_decref(ch);

	/* Nobody listening: 0. */
	snprintf(dead, sizeof(dead), "http://localhost:%d/hook", free_port());
	ck_assert_int_eq(watch(tok, "primary", NULL,
	                       "{\"id\":\"chan-dead\",\"type\":\"web_hook\",\"address\":\"%s\"}",
	                       dead),
	                 200);
	wait_pushes();
	assert_push_answer("{\"channelId\":\"chan-dead\"}", "[0]");
	ch = gfake_channel(&G, "chan-dead");
	assert_json(json_object_get(ch, "statuses"), "[0,0]");
	json_decref(ch);
	ck_assert_int_eq(push_stat("failed"), 3);

	/* Bad requests. */
	j = gfake_post(&G, "push", &status, "{\"channelId\":\"nope\"}");
	ck_assert_int_eq(status, 404);
	json_decref(j);
	j = gfake_post(&G, "push", &status, "{\"channelId\":\"chan-p\",\"count\":0}");
	ck_assert_int_eq(status, 400);
	json_decref(j);
	j = gfake_post(&G, "push", &status, "{\"channelId\":\"chan-p\",\"state\":\"gone\"}");
	ck_assert_int_eq(status, 400);
	json_decref(j);
	j = gfake_post(&G, "push", &status, "{\"channelId\":\"chan-p\",\"messageNumber\":0}");
	ck_assert_int_eq(status, 400);
	json_decref(j);
	json_decref(a);
	free(tok);
}
END_TEST

START_TEST(undeliverable_addresses)
{
	char *tok = access_token(RT);
	json_t *hits, *ch;

	ck_assert_int_eq(watch(tok, "primary", NULL,
	                       "{\"id\":\"chan-u\",\"type\":\"web_hook\",\"address\":"
	                       "\"https://hooks.example.com/google\"}"),
	                 200);
	wait_pushes();
	ck_assert_int_eq(push_stat("undeliverable"), 1);
	change_events("primary", "e1");
	wait_pushes();
	assert_push_answer("{\"channelId\":\"chan-u\"}", "[-1]");
	ck_assert_int_eq(push_stat("queued"), 2);
	ck_assert_int_eq(push_stat("undeliverable"), 3);
	ck_assert_int_eq(push_stat("delivered") + push_stat("failed"), 0);
	ch = gfake_channel(&G, "chan-u");
	ck_assert_int_eq(json_integer_value(json_object_get(ch, "messages")), 3);
	assert_json(json_object_get(ch, "statuses"), "[-1,-1,-1]");
	json_decref(ch);
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 0);
	json_decref(hits);
	free(tok);
}
END_TEST

START_TEST(watch_stop_faults)
{
	char *tok = access_token(RT), url[256], body[512];
	const char *hdrs[] = {NULL, NULL};
	json_t *a = NULL, *j = NULL, *list;
	struct httpc_resp r;
	int64_t t0;

	ck_assert_int_eq(
	    gfake_control(&G, "fail", "{\"target\":\"watch\",\"count\":1,\"status\":503}"), 0);
	ck_assert_int_eq(watch(tok, "primary", &j, "%s", WATCH_BODY("f1", "")), 503);
	ck_assert_str_eq(reason_of(j), "backendError");
	json_decref(j);
	list = gfake_get(&G, "channels");
	ck_assert_int_eq(json_array_size(json_object_get(list, "channels")), 0);
	json_decref(list);
	ck_assert_int_eq(watch(tok, "primary", &a, "%s", WATCH_BODY("f1", "")), 200);

	ck_assert_int_eq(gfake_control(&G, "fail",
	                               "{\"target\":\"stop\",\"count\":1,\"status\":403,"
	                               "\"reason\":\"forbidden\"}"),
	                 0);
	ck_assert_int_eq(stop_channel(tok, "f1", str(a, "resourceId"), &j, NULL), 403);
	assert_json(j,
	            "{\"error\":{\"errors\":[{\"domain\":\"global\",\"reason\":\"forbidden\","
	            "\"message\":\"Forbidden\"}],\"code\":403,\"message\":\"Forbidden\"}}");
	json_decref(j);
	ck_assert_int_eq(stop_channel(tok, "f1", str(a, "resourceId"), NULL, NULL), 204);

	/* Dropped, then slow. */
	ck_assert_int_eq(
	    gfake_control(&G, "fail", "{\"target\":\"watch\",\"count\":1,\"drop\":true}"), 0);
	snprintf(url, sizeof(url), "%s/calendar/v3/calendars/primary/events/watch", G.url);
	snprintf(body, sizeof(body), "%s", WATCH_BODY("f2", ""));
	ck_assert_int_eq(httpc_request("POST", url, hdrs, body, strlen(body), 10000, &r), -1);
	ck_assert_int_eq(gfake_control(&G, "fail",
	                               "{\"target\":\"watch\",\"count\":1,\"status\":0,"
	                               "\"delayMs\":300}"),
	                 0);
	t0 = time_mono_ms();
	ck_assert_int_eq(watch(tok, "primary", NULL, "%s", WATCH_BODY("f2", "")), 200);
	ck_assert_int_ge(time_mono_ms() - t0, 300);
	ck_assert_int_eq(stat_of("watch", "injected"), 3);
	ck_assert_int_eq(stat_of("stop", "injected"), 1);
	ck_assert_int_eq(stat_of("calendar", "injected"), 0);

	j = gfake_get(&G, "requests?target=stop");
	ck_assert_int_eq(json_array_size(j), 2);
	ck_assert_str_eq(str(json_array_get(j, 0), "path"), "/calendar/v3/channels/stop");
	ck_assert_ptr_nonnull(strstr(str(json_array_get(j, 0), "body"), "\"f1\""));
	json_decref(j);
	json_decref(a);
	free(tok);
}
END_TEST

START_TEST(wait_pushes_and_reset)
{
	char *tok = access_token(RT);
	json_t *a, *hits, *j, *list;
	int64_t t0;
	long status;
	double now;

	/* A slow receiver holds the sender, not the request. */
	rx_reset(200, 1500);
	t0 = time_mono_ms();
	a = watch_rx(tok, "primary", "chan-w", "");
	ck_assert_int_lt(time_mono_ms() - t0, 1000);
	json_decref(a);
	j = gfake_post(&G, "wait-pushes", &status, "{\"timeoutMs\":100}");
	ck_assert_int_eq(status, 504);
	json_decref(j);
	ck_assert_int_eq(gfake_wait_pushes(&G, 10000), 0);
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 1);
	json_decref(hits);
	ck_assert_int_eq(push_stat("delivered"), 1);
	j = gfake_post(&G, "wait-pushes", &status, "{\"timeoutMs\":\"soon\"}");
	ck_assert_int_eq(status, 400);
	json_decref(j);

	/* reset forgets channels, counters, the clock, and a push in flight. */
	ck_assert_int_eq(gfake_control(&G, "clock", "{\"offsetSeconds\":100000}"), 0);
	a = watch_rx(tok, "primary", "chan-r", ""); /* its sync is in flight */
	json_decref(a);
	ck_assert_int_eq(gfake_control(&G, "reset", "{}"), 0);
	list = gfake_get(&G, "channels");
	assert_json(list, "{\"channels\":[]}");
	json_decref(list);
	wait_pushes();
	j = gfake_get(&G, "stats");
	assert_json(json_object_get(j, "pushes"),
	            "{\"queued\":0,\"delivered\":0,\"failed\":0,\"undeliverable\":0}");
	assert_json(json_object_get(j, "watch"), "{\"calls\":0,\"unauthorized\":0,\"injected\":0}");
	json_decref(j);
	rx_reset(200, 0);
	setup();
	free(tok);
	tok = access_token(RT);
	now = time_wall();
	a = watch_rx(tok, "primary", "chan-r", "");
	assert_expires_in(expiration_ms(a), now, 604800);
	wait_pushes();
	hits = rx_got();
	ck_assert_int_eq(json_array_size(hits), 1);
	assert_push(json_array_get(hits, 0), "chan-r", "sync", "1");
	json_decref(hits);
	json_decref(a);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fake_google_apis");
	TCase *tc = tcase_create("fake");
	int failed;

	if (rx_start() || gfake_start(&G, NULL, NULL)) {
		fprintf(stderr, "cannot start fake_google_apis or the push receiver\n");
		rx_stop();
		return 1;
	}
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, refresh_grant);
	tcase_add_test(tc, only_our_client);
	tcase_add_test(tc, concurrent_refreshes);
	tcase_add_test(tc, access_tokens_expire);
	tcase_add_test(tc, people_pages_2500);
	tcase_add_test(tc, people_shapes_and_arguments);
	tcase_add_test(tc, people_sync);
	tcase_add_test(tc, calendar_shapes);
	tcase_add_test(tc, calendar_pages);
	tcase_add_test(tc, calendar_sync);
	tcase_add_test(tc, unauthorized);
	tcase_add_test(tc, faults);
	tcase_add_test(tc, request_log);
	tcase_add_test(tc, watch_answer);
	tcase_add_test(tc, watch_rejects);
	tcase_add_test(tc, sync_and_exists_pushes);
	tcase_add_test(tc, mute_and_stop);
	tcase_add_test(tc, expiry_by_clock);
	tcase_add_test(tc, control_push);
	tcase_add_test(tc, undeliverable_addresses);
	tcase_add_test(tc, watch_stop_faults);
	tcase_add_test(tc, wait_pushes_and_reset);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	gfake_stop(&G);
	rx_stop();
	return failed ? 1 : 0;
}
