/*
 * test_dispatcher.c - unit tests for src/dispatcher.c against SQLite and an
 * in-process HTTP sink: a push and its headers and token, a failed attempt
 * retried once the business clock reaches its backoff, a task created due
 * later woken for exactly then, recovery of an attempt a dead process left
 * running, and dispatcher_stop() cutting an attempt in flight and recording
 * it as unanswered. Also the answer → google.rpc.Code map and the burst.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckrun.h"
#include "clock.h"
#include "dispatcher.h"
#include "emulator_push.h"
#include "emulator_store.h"
#include "http_client.h"
#include "migrate.h"
#include "proc.h"
#include "queues.h"
#include "sink_server.h"
#include "store.h"
#include "timeutil.h"

#define PARENT "projects/p/locations/l/queues/ping-queue"

static struct store *S;
static struct queues *Q;
static struct sink_server *SINK;
static char *DIR;

static int fake_mint(void *arg, const char *audience, const char *email, char **token)
{
	(void)arg;
	return asprintf(token, "fake.%s.%s", audience, email) < 0 ? CJ_ENOMEM : CJ_OK;
}

static void setup(void)
{
	char err[256], url[1200], cfg[1200];

	ck_assert_int_eq(http_client_global_init(), CJ_OK);
	DIR = make_temp_dir();
	snprintf(url, sizeof(url), "sqlite:%s/t.db", DIR);
	ck_assert_int_eq(store_open(url, &S, err, sizeof(err)), CJ_OK);
	ck_assert_msg(migrate_run(S, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
	snprintf(cfg, sizeof(cfg), "%s/config",
	         getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".");
	ck_assert_msg(queues_load(cfg, &Q, err, sizeof(err)) == CJ_OK, "%s", err);
	SINK = sink_server_start();
	ck_assert_ptr_nonnull(SINK);
}

static void teardown(void)
{
	sink_server_stop(SINK);
	queues_free(Q);
	store_close(S);
	remove_tree(DIR);
	free(DIR);
	http_client_global_cleanup();
}

static struct dispatcher *start(void)
{
	struct dispatcher_options o = {S, Q, fake_mint, NULL, 0};
	struct dispatcher *d = NULL;
	char err[256];

	ck_assert_msg(dispatcher_new(&o, &d, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_int_eq(dispatcher_start(d, err, sizeof(err)), CJ_OK);
	return d;
}

/* Creates task id of ping-queue targeting the sink, due at when. */
static void create(struct dispatcher *d, const char *id, double when)
{
	struct emu_task t = {0};
	char name[256], url[256], err[256];

	snprintf(name, sizeof(name), PARENT "/tasks/%s", id);
	snprintf(url, sizeof(url), "%s/%s", sink_server_url(SINK), id);
	t.name = name;
	t.queue = "ping-queue";
	t.id = (char *)id;
	t.url = url;
	t.method = "POST";
	t.headers = "{\"Content-Type\":\"application/json\"}";
	t.body_b64 = "e30=";
	t.oidc_email = "sa@x";
	t.schedule_time = when;
	t.create_time = clock_now();
	t.dispatch_deadline = 600;
	ck_assert_int_eq(emu_store_create(S, &t, clock_now(), NULL, err, sizeof(err)), CJ_OK);
	if (d)
		dispatcher_task_created(d, "ping-queue", when);
}

/* The live task id, or state -1 when gone. */
static int task_state(const char *id, struct emu_task *out)
{
	char name[256], err[256];
	int rc;

	snprintf(name, sizeof(name), PARENT "/tasks/%s", id);
	rc = emu_store_get(S, name, 0, out, err, sizeof(err));
	if (rc == CJ_ENOTFOUND)
		return -1;
	ck_assert_int_eq(rc, CJ_OK);
	return (int)out->state;
}

static const char *hdr(json_t *req, const char *name)
{
	return json_string_value(json_object_get(json_object_get(req, "headers"), name));
}

START_TEST(codes_and_burst)
{
	ck_assert_int_eq(emu_push_grpc_code(200), 0);
	ck_assert_int_eq(emu_push_grpc_code(204), 0);
	ck_assert_int_eq(emu_push_grpc_code(400), 3);
	ck_assert_int_eq(emu_push_grpc_code(404), 5);
	ck_assert_int_eq(emu_push_grpc_code(409), 10);
	ck_assert_int_eq(emu_push_grpc_code(418), 9);
	ck_assert_int_eq(emu_push_grpc_code(429), 8);
	ck_assert_int_eq(emu_push_grpc_code(500), 13);
	ck_assert_int_eq(emu_push_grpc_code(503), 14);
	ck_assert_int_eq(emu_push_grpc_code(504), 4);
	ck_assert_int_eq(emu_push_grpc_code(302), 2);
	ck_assert_int_eq(dispatcher_burst_size(0.5), 1);
	ck_assert_int_eq(dispatcher_burst_size(20), 20);
	ck_assert_int_eq(dispatcher_burst_size(7.9), 7);
}
END_TEST

START_TEST(push_retry_and_completion)
{
	const int statuses[] = {503};
	struct dispatcher *d = start();
	struct emu_task t;
	json_t *req;
	int64_t t0;

	sink_server_queue(SINK, statuses, 1);
	create(d, "p1", clock_now());
	ck_assert_int_eq(sink_server_wait(SINK, 1, 5000), 0);
	req = sink_server_request(SINK, 0);
	ck_assert_str_eq(json_string_value(json_object_get(req, "path")), "/p1");
	ck_assert_str_eq(json_string_value(json_object_get(req, "body")), "{}");
	ck_assert_str_eq(hdr(req, "content-type"), "application/json");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskretrycount"), "0");
	{
		char expect[300];

		snprintf(expect, sizeof(expect), "Bearer fake.%s/p1.sa@x", sink_server_url(SINK));
		ck_assert_str_eq(hdr(req, "authorization"), expect);
	}
	json_decref(req);
	/* 503: back to QUEUED, due after ping-queue's 10 s. */
	t0 = time_mono_ms();
	while (task_state("p1", &t) != EMU_QUEUED || !t.dispatch_count) {
		emu_task_release(&t);
		ck_assert(time_mono_ms() - t0 < 5000);
		msleep(10);
	}
	ck_assert_int_eq(t.last_status, 503);
	ck_assert(t.schedule_time - clock_now() > 9 && t.schedule_time - clock_now() <= 10);
	emu_task_release(&t);
	msleep(300);
	ck_assert_int_eq(sink_server_count(SINK), 1);
	/* The business clock reaches it: pushed at once, 200, gone. */
	clock_advance(10);
	ck_assert_int_eq(sink_server_wait(SINK, 2, 3000), 0);
	req = sink_server_request(SINK, 1);
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskretrycount"), "1");
	ck_assert_str_eq(hdr(req, "x-cloudtasks-taskpreviousresponse"), "503");
	json_decref(req);
	t0 = time_mono_ms();
	while (task_state("p1", &t) != -1) {
		emu_task_release(&t);
		ck_assert(time_mono_ms() - t0 < 3000);
		msleep(10);
	}
	dispatcher_stop(d);
}
END_TEST

START_TEST(wakes_when_a_task_is_due)
{
	struct dispatcher *d = start();
	json_t *req;
	int64_t t0 = time_mono_ms();

	create(d, "later", clock_now() + 1.0);
	ck_assert_int_eq(sink_server_wait(SINK, 1, 3000), 0);
	req = sink_server_request(SINK, 0);
	/* Not before it was due, and not long after. */
	ck_assert_int_ge(json_integer_value(json_object_get(req, "atMs")) - t0, 950);
	ck_assert_int_le(json_integer_value(json_object_get(req, "atMs")) - t0, 1500);
	json_decref(req);
	dispatcher_stop(d);
}
END_TEST

START_TEST(recovery_at_start)
{
	struct emu_move_args a = {0};
	struct dispatcher *d;
	struct emu_task t;
	char err[256], name[256];

	/* A "dead process" claimed p2 and never answered. */
	create(NULL, "p2", clock_now());
	snprintf(name, sizeof(name), PARENT "/tasks/p2");
	a.name = name;
	a.now = clock_now();
	a.due_only = 1;
	a.last_attempt = "{}";
	a.first_attempt = "{}";
	ck_assert_int_eq(emu_store_move(S, EMU_MOVE_CLAIM, &a, NULL, err, sizeof(err)), CJ_OK);
	d = start();
	ck_assert_int_eq(task_state("p2", &t), EMU_QUEUED);
	ck_assert_int_eq(t.dispatch_count, 1);
	ck_assert(t.schedule_time > clock_now() + 9); /* ping-queue's first backoff */
	emu_task_release(&t);
	clock_advance(10);
	ck_assert_int_eq(sink_server_wait(SINK, 1, 3000), 0);
	{
		json_t *req = sink_server_request(SINK, 0);

		ck_assert_str_eq(hdr(req, "x-cloudtasks-taskretrycount"), "1");
		ck_assert_str_eq(hdr(req, "x-cloudtasks-taskexecutioncount"), "0");
		json_decref(req);
	}
	dispatcher_stop(d);
}
END_TEST

START_TEST(stop_cuts_attempts_in_flight)
{
	struct dispatcher *d = start();
	struct emu_task t;
	int64_t t0;

	sink_server_set(SINK, 200, 4000);
	create(d, "slow", clock_now());
	ck_assert_int_eq(sink_server_wait(SINK, 1, 3000), 0);
	t0 = time_mono_ms();
	dispatcher_stop(d);
	ck_assert_int_lt(time_mono_ms() - t0, 2500);
	ck_assert_int_eq(task_state("slow", &t), EMU_QUEUED);
	ck_assert_int_eq(t.dispatch_count, 1);
	ck_assert_int_eq(t.response_count, 0);
	ck_assert_ptr_nonnull(strstr(t.last_attempt, "\"code\":14"));
	ck_assert_ptr_nonnull(strstr(t.last_attempt, "stopped"));
	emu_task_release(&t);
	sink_server_set(SINK, 200, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dispatcher");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, codes_and_burst);
	tcase_add_test(tc, push_retry_and_completion);
	tcase_add_test(tc, wakes_when_a_task_is_due);
	tcase_add_test(tc, recovery_at_start);
	tcase_add_test(tc, stop_cuts_attempts_in_flight);
	suite_add_tcase(s, tc);
	return ck_run(s, CK_FORK) ? 1 : 0;
}
