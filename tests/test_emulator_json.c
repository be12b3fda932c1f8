/*
 * test_emulator_json.c - unit tests for src/emulator_json.c: CreateTask
 * requests as Google's clients send them (names or numbers, times with or
 * without fractions or as {seconds, nanos}, either base64 alphabet) and
 * every refusal; Task and Queue objects as Google writes them, BASIC and
 * FULL, names or numbers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "ckrun.h"
#include "emulator_json.h"
#include "queues.h"

#define NOW 1800000000.0
#define PARENT "projects/p/locations/l/queues/q"

static int read(const char *text, struct emu_task *t, enum emu_view *view, char *err, size_t errlen)
{
	json_t *body = json_loads(text, 0, NULL);
	int rc;

	ck_assert_msg(body != NULL, "bad test JSON: %s", text);
	rc = emu_json_read_create(body, PARENT, "q", NOW, t, view, err, errlen);
	json_decref(body);
	return rc;
}

static void ok(const char *text, struct emu_task *t, enum emu_view *view)
{
	char err[512] = "";
	int rc = read(text, t, view, err, sizeof(err));

	ck_assert_msg(rc == CJ_OK, "%s: %s", text, err);
}

static void refused(const char *text, const char *fragment)
{
	struct emu_task t;
	enum emu_view view;
	char err[512] = "";

	ck_assert_msg(read(text, &t, &view, err, sizeof(err)) == CJ_EINVAL, "accepted: %s", text);
	ck_assert_msg(strstr(err, fragment) != NULL, "%s: \"%s\" lacks \"%s\"", text, err,
	              fragment);
}

START_TEST(minimal_task)
{
	struct emu_task t;
	enum emu_view view;

	ok("{\"task\":{\"httpRequest\":{\"url\":\"http://h/x\"}}}", &t, &view);
	ck_assert_int_eq(view, EMU_VIEW_BASIC);
	ck_assert_str_eq(t.queue, "q");
	ck_assert(!strncmp(t.name, PARENT "/tasks/", strlen(PARENT "/tasks/")));
	ck_assert_str_eq(t.name + strlen(PARENT "/tasks/"), t.id);
	ck_assert_uint_eq(strspn(t.id, "0123456789"), strlen(t.id));
	ck_assert_str_eq(t.url, "http://h/x");
	ck_assert_str_eq(t.method, "POST");
	ck_assert_str_eq(t.headers, "{}");
	ck_assert_ptr_null(t.body_b64);
	ck_assert_ptr_null(t.oidc_email);
	ck_assert(t.schedule_time == NOW && t.create_time == NOW);
	ck_assert(t.dispatch_deadline == 600);
	emu_task_release(&t);
}
END_TEST

START_TEST(what_clients_send)
{
	struct emu_task t;
	enum emu_view view;

	/* Node's REST mode: numbers; a time with nanoseconds. */
	ok("{\"task\":{\"name\":\"" PARENT "/tasks/a_b-1\",\"scheduleTime\":"
	   "\"2027-01-15T08:00:10.123456789Z\",\"dispatchDeadline\":\"30s\",\"httpRequest\":{"
	   "\"url\":\"https://h/\",\"httpMethod\":6,\"headers\":{\"Content-Type\":\"text/plain\"},"
	   "\"body\":\"aGk\",\"oidcToken\":{\"serviceAccountEmail\":\"sa@x\"}}},\"responseView\":"
	   "2}",
	   &t, &view);
	ck_assert_int_eq(view, EMU_VIEW_FULL);
	ck_assert_str_eq(t.id, "a_b-1");
	ck_assert_str_eq(t.method, "PATCH");
	ck_assert_str_eq(t.body_b64, "aGk="); /* stored in the standard form */
	ck_assert_str_eq(t.headers, "{\"Content-Type\":\"text/plain\"}");
	ck_assert_str_eq(t.oidc_email, "sa@x");
	ck_assert_ptr_null(t.oidc_audience);
	ck_assert(t.schedule_time > NOW + 10.12 && t.schedule_time < NOW + 10.13);
	ck_assert(t.dispatch_deadline == 30);
	emu_task_release(&t);
	/* Names; {seconds, nanos}; the URL alphabet; a past time is now. */
	ok("{\"task\":{\"scheduleTime\":{\"seconds\":\"1800000100\",\"nanos\":500000000},"
	   "\"dispatchDeadline\":{\"seconds\":15},\"httpRequest\":{\"url\":\"http://h/\","
	   "\"httpMethod\":\"PUT\",\"body\":\"-_8\",\"oidcToken\":{\"serviceAccountEmail\":\"s\","
	   "\"audience\":\"aud\"}}},\"responseView\":\"BASIC\"}",
	   &t, &view);
	ck_assert(t.schedule_time == NOW + 100.5);
	ck_assert(t.dispatch_deadline == 15);
	ck_assert_str_eq(t.body_b64, "+/8=");
	ck_assert_str_eq(t.oidc_audience, "aud");
	emu_task_release(&t);
	ok("{\"task\":{\"scheduleTime\":\"2000-01-01T00:00:00Z\",\"httpRequest\":{\"url\":"
	   "\"http://h/\",\"httpMethod\":\"HTTP_METHOD_UNSPECIFIED\"}}}",
	   &t, &view);
	ck_assert(t.schedule_time == NOW);
	ck_assert_str_eq(t.method, "POST");
	emu_task_release(&t);
	/* Exactly 30 days ahead is allowed. */
	ok("{\"task\":{\"scheduleTime\":{\"seconds\":1802592000},\"httpRequest\":{\"url\":"
	   "\"http://h/\"}}}",
	   &t, &view);
	emu_task_release(&t);
}
END_TEST

START_TEST(refusals)
{
	char *big, *b64, *text;
	size_t n = 1024 * 1024 + 1;

	refused("[]", "CreateTaskRequest");
	refused("{}", "task: required");
	refused("{\"task\":{}}", "httpRequest: required");
	refused("{\"task\":{\"appEngineHttpRequest\":{}}}", "appEngineHttpRequest");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"ftp://h/\"}}}", "url");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h /\"}}}", "url");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"httpMethod\":8}}}",
	        "httpMethod");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"httpMethod\":\"FETCH\"}}}",
	        "httpMethod");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"body\":\"!!\"}}}", "base64");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"httpMethod\":\"DELETE\","
	        "\"body\":\"aGk=\"}}}",
	        "POST, PUT and PATCH");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"headers\":[]}}}", "headers");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"headers\":{\"a b\":\"x\"}}}}",
	        "header name");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"headers\":{\"X\":\"a\\r\\nB: "
	        "c\"}}}}",
	        "line breaks");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"headers\":{\"X\":1}}}}",
	        "line breaks");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"oidcToken\":{}}}}",
	        "serviceAccountEmail");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"oauthToken\":{}}}}",
	        "oauthToken");
	refused("{\"task\":{\"name\":\"" PARENT
	        "/tasks/\",\"httpRequest\":{\"url\":\"http://h/\"}}}",
	        "task.name");
	refused("{\"task\":{\"name\":\"" PARENT "/tasks/a.b\",\"httpRequest\":{\"url\":\"http://h/"
	        "\"}}}",
	        "task.name");
	refused("{\"task\":{\"name\":\"projects/p/locations/l/queues/other/tasks/a\","
	        "\"httpRequest\":{\"url\":\"http://h/\"}}}",
	        "task.name");
	refused("{\"task\":{\"name\":7,\"httpRequest\":{\"url\":\"http://h/\"}}}", "task.name");
	refused("{\"task\":{\"scheduleTime\":{\"seconds\":1802592001},\"httpRequest\":{\"url\":"
	        "\"http://h/\"}}}",
	        "30 days");
	refused(
	    "{\"task\":{\"scheduleTime\":\"tomorrow\",\"httpRequest\":{\"url\":\"http://h/\"}}}",
	    "scheduleTime");
	refused(
	    "{\"task\":{\"dispatchDeadline\":\"14.9s\",\"httpRequest\":{\"url\":\"http://h/\"}}}",
	    "dispatchDeadline");
	refused(
	    "{\"task\":{\"dispatchDeadline\":\"1801s\",\"httpRequest\":{\"url\":\"http://h/\"}}}",
	    "dispatchDeadline");
	refused("{\"task\":{\"dispatchDeadline\":600,\"httpRequest\":{\"url\":\"http://h/\"}}}",
	        "dispatchDeadline");
	refused("{\"task\":{\"httpRequest\":{\"url\":\"http://h/\"}},\"responseView\":3}",
	        "responseView");
	/* Over Cloud Tasks' task size, by one byte. */
	big = malloc(n);
	memset(big, 'x', n);
	b64 = b64_encode(big, n);
	ck_assert_int_ge(asprintf(&text,
	                          "{\"task\":{\"httpRequest\":{\"url\":\"http://h/\",\"body\":"
	                          "\"%s\"}}}",
	                          b64),
	                 0);
	refused(text, "Task size too large");
	free(text);
	free(big);
	free(b64);
}
END_TEST

START_TEST(task_json)
{
	struct emu_task t = {0};
	json_t *o, *h;
	char *s;

	t.name = PARENT "/tasks/t1";
	t.queue = "q";
	t.id = "t1";
	t.url = "http://h/x";
	t.method = "PUT";
	t.headers = "{\"A\":\"b\"}";
	t.body_b64 = "aGk=";
	t.oidc_email = "sa@x";
	t.schedule_time = NOW + 0.5;
	t.create_time = NOW;
	t.dispatch_deadline = 600;
	t.dispatch_count = 2;
	t.response_count = 1;
	t.first_attempt = "{\"dispatchTime\":\"2027-01-15T08:00:00Z\"}";
	t.last_attempt = "{\"responseStatus\":{\"code\":14,\"message\":\"m\"}}";
	o = emu_json_task(&t, EMU_VIEW_BASIC, 0);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ck_assert_str_eq(
	    s,
	    "{\"name\":\"" PARENT "/tasks/t1\",\"httpRequest\":{\"url\":\"http://h/x\","
	    "\"httpMethod\":\"PUT\",\"headers\":{\"A\":\"b\"},\"oidcToken\":{"
	    "\"serviceAccountEmail\":\"sa@x\"}},\"scheduleTime\":\"2027-01-15T08:00:00.500000Z\","
	    "\"createTime\":\"2027-01-15T08:00:00Z\",\"dispatchDeadline\":\"600s\","
	    "\"dispatchCount\":2,\"responseCount\":1,\"firstAttempt\":{\"dispatchTime\":"
	    "\"2027-01-15T08:00:00Z\"},\"lastAttempt\":{\"responseStatus\":{\"code\":14,"
	    "\"message\":\"m\"}},\"view\":\"BASIC\"}");
	free(s);
	json_decref(o);
	o = emu_json_task(&t, EMU_VIEW_FULL, 1);
	h = json_object_get(o, "httpRequest");
	ck_assert_str_eq(json_string_value(json_object_get(h, "body")), "aGk=");
	ck_assert_int_eq(json_integer_value(json_object_get(h, "httpMethod")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "view")), 2);
	json_decref(o);
}
END_TEST

START_TEST(queue_json)
{
	struct queue_config qc = {"q", 5, 10, 300, 3, 20, 10, 600};
	json_t *o = emu_json_queue("projects/p/locations/l", &qc, 1, NOW, 0);
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	ck_assert_str_eq(s,
	                 "{\"name\":\"projects/p/locations/l/queues/q\",\"rateLimits\":{"
	                 "\"maxDispatchesPerSecond\":20.0,\"maxBurstSize\":20,"
	                 "\"maxConcurrentDispatches\":10},\"retryConfig\":{\"maxAttempts\":5,"
	                 "\"maxRetryDuration\":\"0s\",\"minBackoff\":\"10s\",\"maxBackoff\":"
	                 "\"300s\",\"maxDoublings\":3},\"state\":\"PAUSED\",\"purgeTime\":"
	                 "\"2027-01-15T08:00:00Z\"}");
	free(s);
	json_decref(o);
	o = emu_json_queue("projects/p/locations/l", &qc, 0, 0, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "state")), 1);
	ck_assert_ptr_null(json_object_get(o, "purgeTime"));
	json_decref(o);
}
END_TEST

START_TEST(views)
{
	enum emu_view v;

	ck_assert_int_eq(emu_json_view_text(NULL, &v), 0);
	ck_assert_int_eq(v, EMU_VIEW_BASIC);
	ck_assert_int_eq(emu_json_view_text("FULL", &v), 0);
	ck_assert_int_eq(v, EMU_VIEW_FULL);
	ck_assert_int_eq(emu_json_view_text("2", &v), 0);
	ck_assert_int_eq(v, EMU_VIEW_FULL);
	ck_assert_int_eq(emu_json_view_text("VIEW_UNSPECIFIED", &v), 0);
	ck_assert_int_eq(v, EMU_VIEW_BASIC);
	ck_assert_int_eq(emu_json_view_text("full", &v), -1);
	ck_assert_int_eq(emu_json_view_text("3", &v), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("emulator_json");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, minimal_task);
	tcase_add_test(tc, what_clients_send);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, task_json);
	tcase_add_test(tc, queue_json);
	tcase_add_test(tc, views);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
