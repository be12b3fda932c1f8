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
 * counters.
 *
 * One fake serves the whole suite and is reset before each test; a test
 * that needs OAuth client checking starts its own.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "gfake.h"
#include "httpc.h"
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

static void setup(void)
{
	ck_assert_int_eq(gfake_control(&G, "reset", "{}"), 0);
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

int main(void)
{
	Suite *s = suite_create("fake_google_apis");
	TCase *tc = tcase_create("fake");
	int failed;

	if (gfake_start(&G, NULL, NULL)) {
		fprintf(stderr, "cannot start fake_google_apis\n");
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
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_NOFORK);
	gfake_stop(&G);
	return failed ? 1 : 0;
}
