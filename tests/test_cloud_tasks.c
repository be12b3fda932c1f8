/*
 * test_cloud_tasks.c - unit tests for src/cloud_tasks.c against the fake
 * Cloud Tasks API (tests/fixtures/fake_google): the exact JSON each create
 * sends; duplicates; retries with the same name after 503/429; a create
 * whose answer is lost after it landed counts as created (met by our retry
 * or by libcurl's own re-send on a dead kept-alive connection), while a
 * caller's task id taken before stays a conflict; 400/401/403/404
 * mapped with useful messages; oversized payloads and bad ids refused
 * without a call; the access token never reaches the logs; the task and
 * queue id rules.
 */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "b64.h"
#include "cloud_tasks.h"
#include "fake_cloud.h"
#include "gauth.h"
#include "http_client.h"
#include "log.h"
#include "timeutil.h"

#define PARENT "projects/" FAKE_PROJECT "/locations/" FAKE_REGION "/queues/"

static struct fake_cloud fc;

static struct ctx {
	struct config cfg;
	struct gauth *auth;
	struct cloud_tasks *ct;
} t;

static void start_fake(void)
{
	ck_assert_int_eq(fake_cloud_start(&fc, NULL), 0);
}

static void stop_fake(void)
{
	fake_cloud_stop(&fc);
}

static void setup(void)
{
	char err[512];

	ck_assert_int_eq(fake_cloud_reset(&fc), 0);
	ck_assert_int_eq(fake_cloud_config(&fc, NULL, &t.cfg), 0);
	ck_assert_int_eq(gauth_new(&t.cfg, &t.auth, err, sizeof(err)), CJ_OK);
	ck_assert_int_eq(cloud_tasks_new(&t.cfg, NULL, t.auth, &t.ct, err, sizeof(err)), CJ_OK);
	/* Short per-attempt timeout so the lost-answer case stays quick. */
	cloud_tasks_set_retry(t.ct, 3, 50, 1000);
}

static void teardown(void)
{
	cloud_tasks_free(t.ct);
	gauth_free(t.auth);
	config_release(&t.cfg);
}

static int create(const char *queue, const char *type, const char *id, const char *payload,
                  double when, double deadline, struct cloud_task *out, char *err, size_t errlen)
{
	struct cloud_task_request r = {queue, type, id, payload, strlen(payload), when, deadline};

	return cloud_tasks_create(t.ct, &r, out, err, errlen);
}

START_TEST(create_sends_exact_task)
{
	const char *payload = "{\"userId\":\"u-42\",\"full\":true}";
	double when = (double)(time_wall_s() + 3600);
	char err[512] = "", want_time[64], *decoded_s;
	json_t *body, *task, *http, *creates;
	unsigned char *decoded;
	struct cloud_task out;
	size_t dlen;

	ck_assert_msg(create("calendar-sync-queue", "calendar-sync", "abc_DEF-123", payload, when,
	                     600, &out, err, sizeof(err)) == CJ_OK,
	              "%s", err);
	ck_assert_str_eq(out.name, PARENT "calendar-sync-queue/tasks/abc_DEF-123");
	time_format_rfc3339(when, 0, want_time, sizeof(want_time));
	ck_assert_str_eq(out.schedule_time, want_time);

	creates = fake_cloud_creates(&fc);
	ck_assert_uint_eq(json_array_size(creates), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(creates, 0), "path")),
	                 "/v2/" PARENT "calendar-sync-queue/tasks");
	json_decref(creates);

	body = fake_cloud_last_create(&fc);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(json_object_size(body), 2);
	ck_assert_str_eq(json_string_value(json_object_get(body, "responseView")), "BASIC");
	task = json_object_get(body, "task");
	ck_assert_uint_eq(json_object_size(task), 4);
	ck_assert_str_eq(json_string_value(json_object_get(task, "name")), out.name);
	ck_assert_str_eq(json_string_value(json_object_get(task, "scheduleTime")), want_time);
	ck_assert_str_eq(json_string_value(json_object_get(task, "dispatchDeadline")), "600s");
	http = json_object_get(task, "httpRequest");
	ck_assert_uint_eq(json_object_size(http), 5);
	ck_assert_str_eq(json_string_value(json_object_get(http, "url")),
	                 FAKE_RUN_URL "/jobs/calendar-sync");
	ck_assert_str_eq(json_string_value(json_object_get(http, "httpMethod")), "POST");
	ck_assert_uint_eq(json_object_size(json_object_get(http, "headers")), 1);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(http, "headers"), "Content-Type")),
	    "application/json");
	ck_assert_int_eq(b64_decode(json_string_value(json_object_get(http, "body")),
	                            strlen(json_string_value(json_object_get(http, "body"))),
	                            &decoded, &dlen),
	                 CJ_OK);
	decoded_s = strndup((char *)decoded, dlen);
	ck_assert_str_eq(decoded_s, payload);
	free(decoded_s);
	free(decoded);
	/* The audience is always explicit: Google's default would be the URL. */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(http, "oidcToken"),
	                                                   "serviceAccountEmail")),
	                 FAKE_SA_EMAIL);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(http, "oidcToken"), "audience")),
	    FAKE_AUDIENCE);
	json_decref(body);
}
END_TEST

START_TEST(random_name_and_no_schedule_time)
{
	struct cloud_task a, b;
	char err[512] = "";
	const char *id;
	double parsed;
	json_t *body;
	size_t i;

	ck_assert_msg(create("ping-queue", "ping", NULL, "{}", 0, 60, &a, err, sizeof(err)) ==
	                  CJ_OK,
	              "%s", err);
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 0, &b, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_str_ne(a.name, b.name);
	id = strrchr(a.name, '/') + 1;
	ck_assert_uint_eq(strlen(id), 32);
	for (i = 0; i < 32; i++)
		ck_assert(strchr("0123456789abcdef", id[i]));
	ck_assert_int_eq(time_parse_rfc3339(a.schedule_time, &parsed), CJ_OK);
	body = fake_cloud_last_create(&fc);
	ck_assert_ptr_null(json_object_get(json_object_get(body, "task"), "scheduleTime"));
	ck_assert_ptr_null(json_object_get(json_object_get(body, "task"), "dispatchDeadline"));
	json_decref(body);
}
END_TEST

START_TEST(duplicate_name_is_eexists)
{
	struct cloud_task out;
	char err[512];

	ck_assert_int_eq(create("ping-queue", "ping", "once", "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(create("ping-queue", "ping", "once", "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err, "already exists"));
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 2);
}
END_TEST

START_TEST(unavailable_is_retried_with_same_name)
{
	struct cloud_task out;
	char err[512] = "";
	json_t *creates;

	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 1, 503, 0), 0);
	ck_assert_msg(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)) ==
	                  CJ_OK,
	              "%s", err);
	creates = fake_cloud_creates(&fc);
	ck_assert_uint_eq(json_array_size(creates), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(creates, 0), "status")),
	                 503);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(creates, 0), "body")),
	                 json_string_value(json_object_get(json_array_get(creates, 1), "body")));
	json_decref(creates);

	/* Three 429s: give up with CJ_EUNAVAIL after exactly three attempts. */
	ck_assert_int_eq(fake_cloud_reset(&fc), 0);
	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 3, 429, 0), 0);
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(err, "RESOURCE_EXHAUSTED"));
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 3);
	ck_assert_int_eq(fake_cloud_stat(&fc, "tasks"), 0);
}
END_TEST

START_TEST(lost_answer_after_landing_is_success)
{
	struct cloud_task out;
	char err[512] = "";
	json_t *creates;

	/* The first create lands, then its answer takes longer than our
	 * timeout; our retry gets 409 for our own task. */
	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 1, 0, 2500), 0);
	ck_assert_msg(create("ping-queue", "ping", "landed-once", "{}", 0, 60, &out, err,
	                     sizeof(err)) == CJ_OK,
	              "%s", err);
	ck_assert_str_eq(out.name, PARENT "ping-queue/tasks/landed-once");
	ck_assert(out.schedule_time[0]);
	creates = fake_cloud_creates(&fc);
	ck_assert_uint_eq(json_array_size(creates), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(creates, 0), "status")),
	                 200);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(creates, 1), "status")),
	                 409);
	json_decref(creates);
	ck_assert_int_eq(fake_cloud_stat(&fc, "tasks"), 1);
}
END_TEST

/* Log capture: everything logged between log_capture_start() and
 * log_capture_end() (malloc'd, NUL-terminated). */
static int capture_fd = -1;
static char capture_path[64];

static void log_capture_start(void)
{
	snprintf(capture_path, sizeof(capture_path), "/tmp/cj-ct-log-XXXXXX");
	capture_fd = mkstemp(capture_path);
	ck_assert_int_ge(capture_fd, 0);
	log_init(L_DEBUG, FAKE_PROJECT);
	log_set_fd(capture_fd);
}

static char *log_capture_end(void)
{
	char *text = calloc(1, 65536);
	ssize_t n;

	log_set_fd(1);
	ck_assert_ptr_nonnull(text);
	n = pread(capture_fd, text, 65535, 0);
	ck_assert_int_ge(n, 0);
	close(capture_fd);
	unlink(capture_path);
	return text;
}

/* The statuses the fake recorded for each create, e.g. "200,0,409". */
static void create_statuses(char *out, size_t outlen)
{
	json_t *creates = fake_cloud_creates(&fc), *c;
	size_t i, pos = 0;

	out[0] = '\0';
	json_array_foreach(creates, i, c)
	{
		pos += (size_t)snprintf(out + pos, outlen - pos, "%s%lld", i ? "," : "",
		                        json_integer_value(json_object_get(c, "status")));
	}
	json_decref(creates);
}

/* A first create keeps a connection to the fake alive in the shared cache,
 * so the next create goes out on a reused connection. */
static void warm_connection(void)
{
	struct cloud_task out;
	char err[512];

	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_OK);
}

/* The fake stores the task, then closes the kept-alive connection without an
 * answer; libcurl sends the create again on a fresh connection by itself
 * and meets the task its first copy made: a 409 within our first attempt.
 * It is our own task, whether we or the caller named it. */
START_TEST(create_resent_by_libcurl_after_landing_is_success)
{
	const char *ids[] = {"resent-landed", NULL};
	char statuses[64], err[512], *log;
	struct cloud_task out;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		ck_assert_int_eq(fake_cloud_reset(&fc), 0);
		warm_connection();
		ck_assert_int_eq(fake_cloud_drop(&fc, "create", 1, 1, 1), 0);
		log_capture_start();
		ck_assert_msg(create("ping-queue", "ping", ids[i], "{}", 0, 60, &out, err,
		                     sizeof(err)) == CJ_OK,
		              "task id %s: %s", ids[i] ? ids[i] : "(random)", err);
		log = log_capture_end();
		create_statuses(statuses, sizeof(statuses));
		ck_assert_str_eq(statuses, "200,0,409");
		/* One attempt of ours: the second copy was libcurl's. */
		ck_assert_msg(strstr(log, "retrying") == NULL, "%s", log);
		ck_assert_ptr_nonnull(
		    strstr(log, ids[i] ? "sent again" : "random name can only be ours"));
		free(log);
		if (ids[i])
			ck_assert_str_eq(out.name, PARENT "ping-queue/tasks/resent-landed");
		ck_assert(out.schedule_time[0]);
		ck_assert_int_eq(fake_cloud_stat(&fc, "tasks"), 2);
	}
}
END_TEST

/* The same drop, but nothing landed before the connection closed: libcurl's
 * re-send creates the task and gets the answer. */
START_TEST(create_resent_by_libcurl_before_landing_is_success)
{
	char statuses[64], err[512], *log;
	struct cloud_task out;

	warm_connection();
	ck_assert_int_eq(fake_cloud_drop(&fc, "create", 1, 1, 0), 0);
	log_capture_start();
	ck_assert_msg(create("ping-queue", "ping", "resent-unlanded", "{}", 0, 60, &out, err,
	                     sizeof(err)) == CJ_OK,
	              "%s", err);
	log = log_capture_end();
	create_statuses(statuses, sizeof(statuses));
	ck_assert_str_eq(statuses, "200,0,200");
	ck_assert_ptr_null(strstr(log, "retrying"));
	free(log);
	ck_assert_int_eq(fake_cloud_stat(&fc, "tasks"), 2);
}
END_TEST

/* The create lands and every copy of our first attempt is dropped (libcurl's
 * re-send too): the attempt fails without an answer, and our retry's 409 is
 * our own task, with or without a caller's id. scheduleTime is the one we
 * asked for, as no Task came back. */
START_TEST(dropped_answer_after_landing_is_success)
{
	const char *ids[] = {"dropped-landed", NULL};
	double when = (double)(time_wall_s() + 600);
	char statuses[64], err[512], want_time[64];
	struct cloud_task out;

	time_format_rfc3339(when, 0, want_time, sizeof(want_time));
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		ck_assert_int_eq(fake_cloud_reset(&fc), 0);
		warm_connection();
		ck_assert_int_eq(fake_cloud_drop(&fc, "create", 2, 0, 1), 0);
		ck_assert_msg(create("ping-queue", "ping", ids[i], "{}", when, 60, &out, err,
		                     sizeof(err)) == CJ_OK,
		              "task id %s: %s", ids[i] ? ids[i] : "(random)", err);
		create_statuses(statuses, sizeof(statuses));
		ck_assert_str_eq(statuses, "200,0,0,409");
		ck_assert_str_eq(out.schedule_time, want_time);
		ck_assert_int_eq(fake_cloud_stat(&fc, "tasks"), 2);
	}
}
END_TEST

/* A caller's id that was taken before is 409 already_exists when no
 * attempt of ours may have landed. After a 503 it may have (a front end
 * can answer so after applying the create), so the retry's 409 counts as
 * ours: the blind spot cloud_tasks.h describes. */
START_TEST(taken_task_id_is_eexists_when_our_request_was_answered)
{
	char statuses[64], err[512];
	struct cloud_task out;

	ck_assert_int_eq(create("ping-queue", "ping", "taken", "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(create("ping-queue", "ping", "taken", "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_EEXISTS);
	ck_assert_ptr_nonnull(strstr(err, "already exists"));
	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 1, 503, 0), 0);
	ck_assert_int_eq(create("ping-queue", "ping", "taken", "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_OK);
	create_statuses(statuses, sizeof(statuses));
	ck_assert_str_eq(statuses, "200,409,503,409");
}
END_TEST

/* A create that lands but is answered 503: our retry meets the task. A
 * random name we generated can only be ours, so its 409 is success on any
 * attempt. So is a caller's id after a 503 or 429: Google's front end can
 * answer so after the create was applied, and the 409 on our retry may be
 * our own task (SPEC §5.2). */
START_TEST(conflict_after_landing_with_a_503_is_ours)
{
	char statuses[64], err[512];
	struct cloud_task out;

	ck_assert_int_eq(fake_cloud_fail_after_landing(&fc, 1, 503), 0);
	ck_assert_msg(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)) ==
	                  CJ_OK,
	              "%s", err);
	ck_assert(out.schedule_time[0]);
	create_statuses(statuses, sizeof(statuses));
	ck_assert_str_eq(statuses, "503,409");

	ck_assert_int_eq(fake_cloud_fail_after_landing(&fc, 1, 503), 0);
	ck_assert_msg(create("ping-queue", "ping", "landed-503", "{}", 0, 60, &out, err,
	                     sizeof(err)) == CJ_OK,
	              "%s", err);
	create_statuses(statuses, sizeof(statuses));
	ck_assert_str_eq(statuses, "503,409,503,409");
	ck_assert_int_eq(fake_cloud_stat(&fc, "tasks"), 2);
}
END_TEST

START_TEST(final_errors_are_mapped)
{
	struct cloud_task out;
	char err[512];

	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 1, 403, 0), 0);
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_ECONFIG);
	ck_assert_msg(strstr(err, "PERMISSION_DENIED") &&
	                  strstr(err, "roles/cloudtasks.enqueuer") &&
	                  strstr(err, "roles/iam.serviceAccountUser on " FAKE_SA_EMAIL),
	              "%s", err);
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 1);

	/* Google's 400 message is passed on. */
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 5, &out, err, sizeof(err)),
	                 CJ_EINVAL);
	ck_assert_msg(strstr(err, "INVALID_ARGUMENT") && strstr(err, "dispatch_deadline"), "%s",
	              err);

	ck_assert_int_eq(create("no-such-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_ENOTFOUND);
	ck_assert_msg(strstr(err,
	                     "queue no-such-queue not found in projects/" FAKE_PROJECT
	                     "/locations/" FAKE_REGION) &&
	                  strstr(err, "deploy/queues.sh"),
	              "%s", err);
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 3);
}
END_TEST

START_TEST(revoked_token_is_refetched)
{
	struct cloud_task out;
	char err[512];

	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(fake_cloud_post(&fc, "revoke", NULL), 0);
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "UNAUTHENTICATED"));
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(fake_cloud_stat(&fc, "metadataCalls"), 2);
}
END_TEST

START_TEST(refused_before_any_call)
{
	struct cloud_task out;
	char err[512], *big, id[502];

	big = malloc(CLOUD_TASKS_MAX_PAYLOAD + 2);
	memset(big, 'x', CLOUD_TASKS_MAX_PAYLOAD + 1);
	big[CLOUD_TASKS_MAX_PAYLOAD + 1] = '\0';
	ck_assert_int_eq(create("ping-queue", "ping", NULL, big, 0, 60, &out, err, sizeof(err)),
	                 CJ_ETOOBIG);
	free(big);
	ck_assert_int_eq(
	    create("ping-queue", "ping", "bad/id", "{}", 0, 60, &out, err, sizeof(err)), CJ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "taskId"));
	memset(id, 'a', 501);
	id[501] = '\0';
	ck_assert_int_eq(create("ping-queue", "ping", id, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_EINVAL);
	id[500] = '\0';
	ck_assert(cloud_tasks_valid_task_id(id));
	ck_assert(!cloud_tasks_valid_task_id(""));
	ck_assert(!cloud_tasks_valid_task_id("a.b"));
	ck_assert_int_eq(fake_cloud_stat(&fc, "createCalls"), 0);
}
END_TEST

START_TEST(token_never_logged)
{
	char path[] = "/tmp/cj-ct-log-XXXXXX", buf[65536], err[512];
	struct cloud_task out;
	ssize_t n;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	log_init(L_DEBUG, FAKE_PROJECT);
	log_set_fd(fd);
	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 2, 503, 0), 0);
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_OK);
	ck_assert_int_eq(fake_cloud_fail(&fc, "create", 1, 403, 0), 0);
	ck_assert_int_eq(create("ping-queue", "ping", NULL, "{}", 0, 60, &out, err, sizeof(err)),
	                 CJ_ECONFIG);
	ck_assert_ptr_null(strstr(err, "ya29."));
	log_set_fd(1);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0); /* the retries were logged */
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "retrying"));
	ck_assert_ptr_null(strstr(buf, "ya29."));
	ck_assert_ptr_null(strstr(buf, "Bearer"));
	close(fd);
	unlink(path);
}
END_TEST

/* The one copy of Google's id rules (task and scheduler ids may hold '_',
 * queue ids may not). */
START_TEST(id_rules)
{
	static const char *const bad[] = {"",    "a.b", "a b",  "a/b",  "a:b", "\xc3\xa9",
	                                  "a\n", "a+b", "a%2F", "a\tb", NULL};
	char id[502];
	size_t i;

	ck_assert(cloud_tasks_valid_task_id("Ab0-_z9"));
	ck_assert(cloud_tasks_valid_queue_id("Ab0-z9"));
	ck_assert(!cloud_tasks_valid_queue_id("ping_queue"));
	ck_assert(!cloud_tasks_valid_task_id(NULL));
	ck_assert(!cloud_tasks_valid_queue_id(NULL));
	for (i = 0; bad[i]; i++) {
		ck_assert_msg(!cloud_tasks_valid_task_id(bad[i]), "task id \"%s\"", bad[i]);
		ck_assert_msg(!cloud_tasks_valid_queue_id(bad[i]), "queue id \"%s\"", bad[i]);
	}
	memset(id, 'q', sizeof(id) - 1);
	id[100] = '\0';
	ck_assert(cloud_tasks_valid_queue_id(id));
	id[100] = 'q';
	id[101] = '\0';
	ck_assert(!cloud_tasks_valid_queue_id(id));
	ck_assert(cloud_tasks_valid_task_id(id));
	id[101] = 'q';
	id[500] = '\0';
	ck_assert(cloud_tasks_valid_task_id(id));
	id[500] = 'q';
	id[501] = '\0';
	ck_assert(!cloud_tasks_valid_task_id(id));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cloud_tasks");
	TCase *tc = tcase_create("core");
	int failed;

	if (http_client_global_init())
		return 1;
	tcase_add_unchecked_fixture(tc, start_fake, stop_fake);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, create_sends_exact_task);
	tcase_add_test(tc, random_name_and_no_schedule_time);
	tcase_add_test(tc, duplicate_name_is_eexists);
	tcase_add_test(tc, unavailable_is_retried_with_same_name);
	tcase_add_test(tc, lost_answer_after_landing_is_success);
	tcase_add_test(tc, create_resent_by_libcurl_after_landing_is_success);
	tcase_add_test(tc, create_resent_by_libcurl_before_landing_is_success);
	tcase_add_test(tc, dropped_answer_after_landing_is_success);
	tcase_add_test(tc, taken_task_id_is_eexists_when_our_request_was_answered);
	tcase_add_test(tc, conflict_after_landing_with_a_503_is_ours);
	tcase_add_test(tc, final_errors_are_mapped);
	tcase_add_test(tc, revoked_token_is_refetched);
	tcase_add_test(tc, refused_before_any_call);
	tcase_add_test(tc, token_never_logged);
	tcase_add_test(tc, id_rules);
	suite_add_tcase(s, tc);
	failed = ck_run(s, CK_FORK);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
