/*
 * test_router.c - unit tests for src/router.c: the pattern syntax (one
 * parameter and two), matching
 * (method, path) against the route table with 405 and HEAD, and what every
 * row of the table promises (authentication, draining, callbacks), and the
 * loopback test of local-only rows.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ckrun.h"
#include "router.h"

/* The pattern of the row (method, path) matches, or NULL. */
static const char *match(const char *method, const char *path, struct route_match *m)
{
	router_match(method, path, m);
	return m->route ? m->route->pattern : NULL;
}

START_TEST(patterns)
{
	char p[32], small[8];

	ck_assert(router_pattern_match("/metrics", "/metrics", p, sizeof(p)));
	ck_assert_str_eq(p, "");
	ck_assert(!router_pattern_match("/metrics", "/metrics/", p, sizeof(p)));
	ck_assert(router_pattern_match("/jobs/{type}", "/jobs/ping", p, sizeof(p)));
	ck_assert_str_eq(p, "ping");
	ck_assert(!router_pattern_match("/jobs/{type}", "/jobs/", p, sizeof(p)));
	ck_assert(!router_pattern_match("/jobs/{type}", "/jobs/a/b", p, sizeof(p)));
	ck_assert(!router_pattern_match("/jobs/{type}", "/job", p, sizeof(p)));
	ck_assert(router_pattern_match("/a/{id}/replay", "/a/x1/replay", p, sizeof(p)));
	ck_assert_str_eq(p, "x1");
	ck_assert(!router_pattern_match("/a/{id}/replay", "/a//replay", p, sizeof(p)));
	ck_assert(!router_pattern_match("/a/{id}/replay", "/a/x/replayed", p, sizeof(p)));
	ck_assert(!router_pattern_match("/a/{id}/replay", "/a/x/y/replay", p, sizeof(p)));
	ck_assert(!router_pattern_match("/a/{id}/replay", "/a/replay", p, sizeof(p)));
	ck_assert(router_pattern_match("/c/{id}:run", "/c/t1:run", p, sizeof(p)));
	ck_assert_str_eq(p, "t1");
	/* A {name...} parameter takes the rest of the path, '/' included. */
	ck_assert(router_pattern_match("/v2/{path...}", "/v2/projects/p/locations", p, sizeof(p)));
	ck_assert_str_eq(p, "projects/p/locations");
	ck_assert(!router_pattern_match("/v2/{path...}", "/v2/", p, sizeof(p)));
	/* A parameter that does not fit is no match, never a truncated one. */
	ck_assert(router_pattern_match("/jobs/{type}", "/jobs/0123456", small, sizeof(small)));
	ck_assert(!router_pattern_match("/jobs/{type}", "/jobs/01234567", small, sizeof(small)));
}
END_TEST

/* Two parameters: the first is a whole segment, the second as a single one. */
START_TEST(two_parameter_patterns)
{
	const char *pat = "/u/{id}/c/{cid}";
	char p[32], q[32], small[4];

	ck_assert(router_pattern_match2(pat, "/u/ann/c/c1", p, sizeof(p), q, sizeof(q)));
	ck_assert_str_eq(p, "ann");
	ck_assert_str_eq(q, "c1");
	ck_assert(
	    router_pattern_match2("/u/{id}/c/{cid}:x", "/u/a/c/b:x", p, sizeof(p), q, sizeof(q)));
	ck_assert_str_eq(q, "b");
	/* Either parameter empty, or a '/' inside, or the fixed text off. */
	ck_assert(!router_pattern_match2(pat, "/u//c/c1", p, sizeof(p), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/ann/c/", p, sizeof(p), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/ann/c/c1/x", p, sizeof(p), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/a/b/c/c1", p, sizeof(p), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/ann/d/c1", p, sizeof(p), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/ann", p, sizeof(p), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/ann/c", p, sizeof(p), q, sizeof(q)));
	/* No match leaves both empty. */
	ck_assert_str_eq(p, "");
	ck_assert_str_eq(q, "");
	/* A first parameter that is not a whole segment never matches. */
	ck_assert(
	    !router_pattern_match2("/u/{id}:x/{cid}", "/u/a:x/b", p, sizeof(p), q, sizeof(q)));
	/* The last may take the rest of the path. */
	ck_assert(
	    router_pattern_match2("/u/{id}/f/{rest...}", "/u/a/f/x/y", p, sizeof(p), q, sizeof(q)));
	ck_assert_str_eq(p, "a");
	ck_assert_str_eq(q, "x/y");
	/* Neither may overflow its buffer; no room for the second is no match. */
	ck_assert(router_pattern_match2(pat, "/u/abc/c/xyz", small, sizeof(small), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/abcd/c/xyz", small, sizeof(small), q, sizeof(q)));
	ck_assert(!router_pattern_match2(pat, "/u/abc/c/wxyz", p, sizeof(p), small, sizeof(small)));
	ck_assert(!router_pattern_match(pat, "/u/ann/c/c1", p, sizeof(p)));
	ck_assert(!router_pattern_match2(pat, "/u/ann/c/c1", p, sizeof(p), NULL, 0));
	/* One-parameter patterns leave the second empty. */
	snprintf(q, sizeof(q), "stale");
	ck_assert(router_pattern_match2("/jobs/{type}", "/jobs/ping", p, sizeof(p), q, sizeof(q)));
	ck_assert_str_eq(p, "ping");
	ck_assert_str_eq(q, "");
}
END_TEST

START_TEST(matches_routes)
{
	struct route_match m;

	ck_assert_str_eq(match("POST", "/jobs/ping", &m), "/jobs/{type}");
	ck_assert_str_eq(m.param, "ping");
	ck_assert(m.method_ok);
	ck_assert_ptr_null(match("POST", "/jobs/", &m));
	ck_assert_ptr_null(match("POST", "/jobs/a/b", &m));
	ck_assert_str_eq(match("POST", "/enqueue/calendar-sync", &m), "/enqueue/{type}");
	ck_assert_str_eq(m.param, "calendar-sync");
	ck_assert_str_eq(m.route->method, "POST");
	ck_assert_str_eq(match("GET", "/admin/dead-letters", &m), "/admin/dead-letters");
	ck_assert_str_eq(match("POST", "/admin/dead-letters/abc123/replay", &m),
	                 "/admin/dead-letters/{id}/replay");
	ck_assert_str_eq(m.param, "abc123");
	ck_assert_ptr_null(match("POST", "/admin/dead-letters//replay", &m));
	ck_assert_ptr_null(match("POST", "/admin/dead-letters/x/replayed", &m));
	ck_assert_str_eq(match("GET", "/admin/users", &m), "/admin/users");
	ck_assert_str_eq(match("GET", "/admin/users/u-1", &m), "/admin/users/{id}");
	ck_assert_str_eq(m.param, "u-1");
	ck_assert_str_eq(match("GET", "/admin/users/u-1/contacts", &m),
	                 "/admin/users/{id}/contacts");
	ck_assert_str_eq(m.param, "u-1");
	ck_assert_str_eq(match("PATCH", "/admin/users/u-1/contacts/c-9", &m),
	                 "/admin/users/{id}/contacts/{contactId}");
	ck_assert_str_eq(m.param, "u-1");
	ck_assert_str_eq(m.param2, "c-9");
	ck_assert(m.method_ok);
	ck_assert_ptr_null(match("GET", "/admin/users/", &m));
	ck_assert_ptr_null(match("GET", "/admin/users//contacts", &m));
	ck_assert_ptr_null(match("PATCH", "/admin/users/u-1/contacts/", &m));
	ck_assert_ptr_null(match("PATCH", "/admin/users/u-1/contacts/c-9/x", &m));
	ck_assert_str_eq(match("GET", "/health/live", &m), "/health/live");
	ck_assert_str_eq(match("GET", "/health/ready", &m), "/health/ready");
	ck_assert_str_eq(match("GET", "/metrics", &m), "/metrics");
	ck_assert_str_eq(match("POST", "/webhooks/google-calendar", &m),
	                 "/webhooks/google-calendar");
	ck_assert_ptr_null(match("GET", "/healthz", &m));
	ck_assert_ptr_null(match("GET", "/", &m));
}
END_TEST

START_TEST(methods)
{
	struct route_match m;

	/* HEAD is answered by GET rows. */
	ck_assert_str_eq(match("HEAD", "/health/live", &m), "/health/live");
	ck_assert(m.method_ok);
	/* The path matches, the method does not: the route is known (its
	 * authentication applies first) and the answer is 405. */
	ck_assert_str_eq(match("GET", "/enqueue/ping", &m), "/enqueue/{type}");
	ck_assert(!m.method_ok);
	ck_assert_str_eq(m.allowed, "POST");
	ck_assert_str_eq(match("DELETE", "/metrics", &m), "/metrics");
	ck_assert(!m.method_ok);
	ck_assert_str_eq(m.allowed, "GET");
	ck_assert_str_eq(match("HEAD", "/webhooks/google-calendar", &m),
	                 "/webhooks/google-calendar");
	ck_assert(!m.method_ok);
	ck_assert_str_eq(match("GET", "/admin/users/u/contacts/c", &m),
	                 "/admin/users/{id}/contacts/{contactId}");
	ck_assert(!m.method_ok);
	ck_assert_str_eq(m.allowed, "PATCH");
	ck_assert_str_eq(match("POST", "/admin/users", &m), "/admin/users");
	ck_assert(!m.method_ok);
	ck_assert_str_eq(m.allowed, "GET");
}
END_TEST

START_TEST(long_parameters_are_not_routes)
{
	char path[2048];
	struct route_match m;

	memset(path, 'a', sizeof(path));
	memcpy(path, "/jobs/", 6);
	path[sizeof(path) - 1] = '\0';
	ck_assert_ptr_null(match("POST", path, &m));
}
END_TEST

static const struct route *row(const char *method, const char *pattern)
{
	size_t n, i;
	const struct route *t = router_table(&n);

	for (i = 0; i < n; i++)
		if (!strcmp(t[i].pattern, pattern) && !strcmp(t[i].method, method))
			return &t[i];
	return NULL;
}

START_TEST(every_row_keeps_its_promises)
{
	size_t n, i, j;
	const struct route *t = router_table(&n);

	for (i = 0; i < n; i++) {
		const char *open = strchr(t[i].pattern, '{');
		const char *second = open ? strchr(open + 1, '{') : NULL;

		ck_assert_msg(t[i].pattern[0] == '/', "%s", t[i].pattern);
		/* At most two parameters; the first of two is a whole segment. */
		ck_assert_msg(!open || strchr(open, '}'), "%s", t[i].pattern);
		ck_assert_msg(!second ||
		                  (strchr(second, '}') && !strchr(second + 1, '{') &&
		                   strchr(open, '}')[1] == '/'),
		              "%s", t[i].pattern);
		ck_assert_msg(t[i].on_headers || t[i].on_body, "%s answers nothing", t[i].pattern);
		ck_assert(t[i].method && strcmp(t[i].method, "HEAD"));
		for (j = i + 1; j < n; j++)
			ck_assert_msg(strcmp(t[i].pattern, t[j].pattern) ||
			                  strcmp(t[i].method, t[j].method),
			              "%s %s listed twice", t[i].method, t[i].pattern);
		/* Operators' and producers' routes are never open. */
		if (!strncmp(t[i].pattern, "/admin/", 7))
			ck_assert_int_eq(t[i].auth, AUTH_ADMIN_OIDC);
		if (!strncmp(t[i].pattern, "/enqueue/", 9))
			ck_assert_int_eq(t[i].auth, AUTH_ENQUEUE_OIDC);
		if (!strncmp(t[i].pattern, "/jobs/", 6))
			ck_assert_int_eq(t[i].auth, AUTH_JOBS_OIDC);
		if (!strncmp(t[i].pattern, "/v2/", 4) || !strncmp(t[i].pattern, "/emulator/", 10))
			ck_assert_int_eq(t[i].auth, AUTH_LOCAL_ONLY);
		/* Only probes and metrics answer while draining. */
		if (t[i].flags & ROUTE_WHILE_DRAINING)
			ck_assert_int_eq(t[i].auth, AUTH_NONE);
	}
	ck_assert_uint_eq(row("GET", "/health/live")->flags, ROUTE_WHILE_DRAINING);
	ck_assert_uint_eq(row("GET", "/health/ready")->flags, ROUTE_WHILE_DRAINING);
	ck_assert_uint_eq(row("GET", "/metrics")->flags, ROUTE_WHILE_DRAINING);
	ck_assert_uint_eq(row("POST", "/jobs/{type}")->flags, ROUTE_OWN_CHECKS);
	ck_assert_uint_eq(row("POST", "/enqueue/{type}")->flags, 0);
	ck_assert_int_eq(row("GET", "/admin/dead-letters")->auth, AUTH_ADMIN_OIDC);
	ck_assert_int_eq(row("POST", "/admin/dead-letters/{id}/replay")->auth, AUTH_ADMIN_OIDC);
	ck_assert_int_eq(row("GET", "/admin/users")->auth, AUTH_ADMIN_OIDC);
	ck_assert_int_eq(row("GET", "/admin/users/{id}")->auth, AUTH_ADMIN_OIDC);
	ck_assert_int_eq(row("GET", "/admin/users/{id}/contacts")->auth, AUTH_ADMIN_OIDC);
	ck_assert_int_eq(row("PATCH", "/admin/users/{id}/contacts/{contactId}")->auth,
	                 AUTH_ADMIN_OIDC);
	ck_assert_int_eq(row("GET", "/emulator/certs")->auth, AUTH_LOCAL_ONLY);
	ck_assert_int_eq(row("GET", "/emulator/clock")->auth, AUTH_LOCAL_ONLY);
	ck_assert_int_eq(row("POST", "/emulator/clock:advance")->auth, AUTH_LOCAL_ONLY);
}
END_TEST

static int v4_loopback(const char *addr)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	return http_addr_is_loopback((struct sockaddr *)&sa);
}

static int v6_loopback(const char *addr)
{
	struct sockaddr_in6 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
	return http_addr_is_loopback((struct sockaddr *)&sa);
}

/* Local-only rows answer loopback peers only. */
START_TEST(loopback_peers)
{
	struct sockaddr_un su;

	ck_assert(v4_loopback("127.0.0.1"));
	ck_assert(v4_loopback("127.255.0.9"));
	ck_assert(!v4_loopback("10.0.0.1"));
	ck_assert(!v4_loopback("128.0.0.1"));
	ck_assert(!v4_loopback("0.0.0.0"));
	ck_assert(!v4_loopback("192.168.1.127"));
	ck_assert(v6_loopback("::1"));
	ck_assert(v6_loopback("::ffff:127.0.0.1"));
	ck_assert(!v6_loopback("::ffff:10.0.0.1"));
	ck_assert(!v6_loopback("::"));
	ck_assert(!v6_loopback("fe80::1"));
	ck_assert(!v6_loopback("::2"));
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	ck_assert(!http_addr_is_loopback((struct sockaddr *)&su));
	ck_assert(!http_addr_is_loopback(NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("core");
	int failed;

	tcase_add_test(tc, patterns);
	tcase_add_test(tc, two_parameter_patterns);
	tcase_add_test(tc, matches_routes);
	tcase_add_test(tc, methods);
	tcase_add_test(tc, long_parameters_are_not_routes);
	tcase_add_test(tc, every_row_keeps_its_promises);
	tcase_add_test(tc, loopback_peers);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	return failed ? 1 : 0;
}
