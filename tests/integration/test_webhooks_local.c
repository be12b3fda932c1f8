/*
 * test_webhooks_local.c - Calendar push end to end in local mode: the real
 * binary with its embedded Cloud Tasks, SQLite, and the Google fake, which
 * makes watch channels and POSTs its pushes to the server as Google does.
 *
 * Covered: webhook-health-check makes the user's channel and its first
 * ("sync") message is recorded; a change in the fake calendar → push →
 * webhook → calendar-sync → suggestion-regeneration, all run by the
 * emulator; the webhook's authentication (wrong token, unknown channel, no
 * headers, a stopped channel: 404 without detail) and replayed message
 * numbers (ignored); 50 pushes within 5 s → one calendar-sync; renewal
 * with the server SIGKILLed between the new channel's create and the old
 * one's stop: after the restart and the retry there is exactly one live
 * channel, the old one is stopped, and no third channel was made.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckrun.h"
#include "cjserver.h"
#include "gfake.h"
#include "localmode.h"
#include "timeutil.h"

#define RT "1//webhook-refresh-token-SECRET"
#define USER "wh-user"
#define CREATED "catchup_jobs_enqueue_total{type=\"calendar-sync\",result=\"created\"}"

static char *dir;
static struct gfake g;
static struct local_opts O;

static char **env(void)
{
	return local_env(&O, NULL);
}

static char *admin_token(const struct cj_server *s)
{
	return local_admin_token(s, &O);
}

static json_t *admin_get(const struct cj_server *s, const char *tok, const char *path)
{
	return local_admin_get(s, tok, path);
}

static void enqueue(const struct cj_server *s, const char *tok, const char *type,
                    const char *payload)
{
	char url[512], auth[2048];
	const char *headers[] = {auth, "Content-Type: application/json", NULL};
	struct httpc_resp r = {0};
	char body[1024];

	snprintf(url, sizeof(url), "%s/enqueue/%s", s->base, type);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	snprintf(body, sizeof(body), "{\"payload\":%s}", payload);
	ck_assert_int_eq(httpc_post(url, headers, body, &r), 0);
	ck_assert_msg(r.status == 202, "enqueue %s: %ld %s", type, r.status, r.body ? r.body : "");
	httpc_resp_free(&r);
}

static void advance(const struct cj_server *s, long seconds)
{
	local_advance(s, &O, seconds);
}

static long long server_now(const struct cj_server *s)
{
	return (long long)local_business_now(s);
}

/* The value of the metric line starting with series (0 when absent). */
static double metric(const struct cj_server *s, const char *series)
{
	char url[256];
	struct httpc_resp r = {0};
	const char *p;
	double v = 0;
	size_t n = strlen(series);

	snprintf(url, sizeof(url), "%s/metrics", s->base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	for (p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, series, n) && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	httpc_resp_free(&r);
	return v;
}

/* The fake's channels (GET /__control/channels), in creation order. */
static json_t *fake_channels(void)
{
	json_t *c = gfake_get(&g, "channels");

	ck_assert_ptr_nonnull(c);
	return c;
}

static long fake_count(const char *state)
{
	json_t *all = fake_channels(), *c;
	size_t i;
	long n = 0;

	json_array_foreach(json_object_get(all, "channels"), i, c)
	{
		if (!strcmp(json_string_value(json_object_get(c, "state")), state))
			n++;
	}
	json_decref(all);
	return n;
}

/* The user's channel rows in the given state (GET /admin/users/{id}). */
static long server_count(const struct cj_server *s, const char *tok, const char *state,
                         int need_message)
{
	json_t *u = admin_get(s, tok, "/admin/users/" USER), *c;
	size_t i;
	long n = 0;

	json_array_foreach(json_object_get(u, "channels"), i, c)
	{
		if (!strcmp(json_string_value(json_object_get(c, "state")), state) &&
		    (!need_message || json_is_integer(json_object_get(c, "lastMessageAt"))))
			n++;
	}
	json_decref(u);
	return n;
}

static void wait_server_count(const struct cj_server *s, const char *tok, const char *state,
                              int need_message, long want)
{
	int64_t deadline = time_mono_ms() + 30000;

	while (server_count(s, tok, state, need_message) != want && time_mono_ms() < deadline)
		usleep(100 * 1000);
	ck_assert_int_eq(server_count(s, tok, state, need_message), want);
}

/* The id and token of the fake's live channel (exactly one must be). */
static void live_channel(char *id, size_t idlen, char *token, size_t toklen)
{
	json_t *all = fake_channels(), *c;
	size_t i;
	int found = 0;

	json_array_foreach(json_object_get(all, "channels"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "state")), "live"))
			continue;
		found++;
		snprintf(id, idlen, "%s", json_string_value(json_object_get(c, "id")));
		snprintf(token, toklen, "%s", json_string_value(json_object_get(c, "token")));
	}
	json_decref(all);
	ck_assert_int_eq(found, 1);
}

/* POSTs a push as Google does (empty body) with these headers; NULL
 * leaves one out. Returns the answer's status; *body_out (may be NULL)
 * receives the body. */
static long push(const struct cj_server *s, const char *id, const char *token, const char *state,
                 const char *number, char **body_out)
{
	char url[256], h_id[160], h_tok[400], h_state[64], h_num[64];
	const char *headers[8];
	struct httpc_resp r = {0};
	int n = 0;
	long status;

	snprintf(url, sizeof(url), "%s/webhooks/google-calendar", s->base);
	if (id) {
		snprintf(h_id, sizeof(h_id), "X-Goog-Channel-ID: %s", id);
		headers[n++] = h_id;
	}
	if (token) {
		snprintf(h_tok, sizeof(h_tok), "X-Goog-Channel-Token: %s", token);
		headers[n++] = h_tok;
	}
	if (state) {
		snprintf(h_state, sizeof(h_state), "X-Goog-Resource-State: %s", state);
		headers[n++] = h_state;
	}
	if (number) {
		snprintf(h_num, sizeof(h_num), "X-Goog-Message-Number: %s", number);
		headers[n++] = h_num;
	}
	headers[n++] = "X-Goog-Resource-ID: ret08u3rv24htgh289g";
	headers[n] = NULL;
	ck_assert_int_eq(httpc_post(url, headers, "", &r), 0);
	status = r.status;
	if (body_out)
		*body_out = r.body ? strdup(r.body) : NULL;
	httpc_resp_free(&r);
	return status;
}

static int log_has(const struct cj_server *s, const char *a, const char *b)
{
	char *log = cj_server_log(s);
	const char *needles[] = {a, b, NULL};
	int n = log_count(log, needles);

	free(log);
	return n;
}

static int wait_log(const struct cj_server *s, const char *a, const char *b, int want)
{
	int64_t deadline = time_mono_ms() + 30000;

	while (log_has(s, a, b) < want && time_mono_ms() < deadline)
		usleep(100 * 1000);
	return log_has(s, a, b);
}

/* Starts the server with the user added and its first syncs done. */
static char *start(struct cj_server *s)
{
	char *args[] = {"user", "add", "--email", "me@example.com", "--id", USER,
	                "--google-refresh-token", RT, NULL};
	char *out = NULL, *err = NULL;

	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"" RT "\"}"), 0);
	ck_assert_int_eq(cj_server_start(s, env()), 0);
	ck_assert_int_eq(local_cli(s, &O, args, &out, &err), 0);
	free(out);
	free(err);
	ck_assert_int_ge(wait_log(s, "/jobs/calendar-sync answered: completed", NULL, 1), 1);
	return admin_token(s);
}

/* webhook-health-check makes the user's channel; its sync message lands. */
static void make_channel(const struct cj_server *s, const char *tok)
{
	enqueue(s, tok, "webhook-health-check", "{}");
	wait_server_count(s, tok, "active", 1, 1);
	ck_assert_int_eq(fake_count("live"), 1);
}

START_TEST(change_push_sync_regeneration)
{
	struct cj_server s;
	char *tok = start(&s);
	long long now = server_now(&s);
	int syncs, regens;

	make_channel(&s, tok);
	ck_assert_int_ge(metric(&s, "catchup_jobs_webhook_pushes_total{result=\"sync\"}"), 1);
	syncs = log_has(&s, "/jobs/calendar-sync answered: completed", NULL);
	regens = log_has(&s, "/jobs/suggestion-regeneration answered: completed", NULL);

	/* A meeting appears in the calendar: Google pushes, the webhook
	 * enqueues a calendar-sync, which finds it and enqueues the
	 * regeneration. */
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"" RT "\",\"upsert\":[{\"id\":\"new1\","
	                               "\"summary\":\"Planning\",\"start\":%lld,\"end\":%lld}]}",
	                               now + 86400, now + 86400 + 3600),
	                 0);
	/* The push's sync is due at the end of its 30-s bucket. */
	ck_assert_int_eq(gfake_wait_pushes(&g, 10000), 0);
	ck_assert_int_eq(metric(&s, "catchup_jobs_webhook_pushes_total{result=\"enqueued\"}"), 1);
	advance(&s, 30);
	ck_assert_int_ge(wait_log(&s, "/jobs/calendar-sync answered: completed", "regenerationEnqueued\\\":true",
	                          1),
	                 1);
	ck_assert_int_ge(wait_log(&s, "/jobs/calendar-sync answered: completed", NULL, syncs + 1), syncs + 1);
	ck_assert_int_ge(wait_log(&s, "/jobs/suggestion-regeneration answered: completed", NULL, regens + 1),
	                 regens + 1);
	ck_assert_int_eq(metric(&s, "catchup_jobs_webhook_pushes_total{result=\"enqueued\"}"), 1);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	{
		char *log = cj_server_log(&s);

		ck_assert_ptr_null(strstr(log, RT));
		ck_assert_ptr_null(strstr(log, "ya29."));
		free(log);
	}
	free(tok);
}
END_TEST

START_TEST(webhook_authentication_and_replays)
{
	struct cj_server s;
	char *tok = start(&s), id[128], token[400], *body = NULL;
	double enq;

	make_channel(&s, tok);
	live_channel(id, sizeof(id), token, sizeof(token));
	enq = metric(&s, "catchup_jobs_webhook_pushes_total{result=\"enqueued\"}");

	/* Anything but an active channel with its token: 404, no detail. */
	ck_assert_int_eq(push(&s, id, "not-the-token", "exists", "7", &body), 404);
	ck_assert_ptr_nonnull(strstr(body, "\"not_found\""));
	ck_assert_ptr_null(strstr(body, "token"));
	free(body);
	ck_assert_int_eq(push(&s, "00000000-0000-4000-8000-000000000000", token, "exists", "7", NULL),
	                 404);
	ck_assert_int_eq(push(&s, id, NULL, "exists", "7", NULL), 404);
	ck_assert_int_eq(push(&s, NULL, token, "exists", "7", NULL), 404);
	ck_assert_int_eq(push(&s, NULL, NULL, NULL, NULL, NULL), 404);
	ck_assert_int_ge(metric(&s, "catchup_jobs_auth_failures_total{reason=\"channel\"}"), 5);

	/* The right channel: bad headers are named. */
	ck_assert_int_eq(push(&s, id, token, "exists", "x", NULL), 400);
	ck_assert_int_eq(push(&s, id, token, "weird", "8", NULL), 400);

	/* The first (sync) message was 1: a replay of it is ignored. */
	ck_assert_int_eq(push(&s, id, token, "exists", "1", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"ignored\""));
	free(body);
	ck_assert_int_eq(push(&s, id, token, "exists", "9", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"enqueued\""));
	free(body);
	/* An older number after a newer one: ignored, nothing enqueued. */
	ck_assert_int_eq(push(&s, id, token, "exists", "8", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"ignored\""));
	free(body);
	ck_assert_int_eq(metric(&s, "catchup_jobs_webhook_pushes_total{result=\"enqueued\"}"),
	                 enq + 1);
	ck_assert_int_ge(metric(&s, "catchup_jobs_webhook_pushes_total{result=\"stale\"}"), 2);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
}
END_TEST

START_TEST(fifty_pushes_in_five_seconds_make_one_sync)
{
	struct cj_server s;
	char *tok = start(&s), id[128], token[400];
	int syncs;
	double created;
	json_t *st;
	size_t i;
	json_t *v;

	make_channel(&s, tok);
	live_channel(id, sizeof(id), token, sizeof(token));
	/* Wait for the start of a 30-s bucket with room for 5 s of pushes. */
	while (server_now(&s) % 30 > 20)
		usleep(200 * 1000);
	syncs = wait_log(&s, "/jobs/calendar-sync answered: completed", NULL, 0);
	created = metric(&s, CREATED);
	ck_assert_int_eq(gfake_control(&g, "push",
	                               "{\"channelId\":\"%s\",\"count\":50,\"intervalMs\":90}", id),
	                 0);
	ck_assert_int_eq(metric(&s, "catchup_jobs_webhook_pushes_total{result=\"enqueued\"}"), 1);
	ck_assert_int_eq(metric(&s, "catchup_jobs_webhook_pushes_total{result=\"coalesced\"}"), 49);
	/* One create reached Cloud Tasks: the others never called it. Its
	 * sync is due at the end of the bucket. */
	ck_assert_int_eq(metric(&s, CREATED), created + 1);
	advance(&s, 30);
	ck_assert_int_ge(wait_log(&s, "/jobs/calendar-sync answered: completed", NULL, syncs + 1), syncs + 1);
	usleep(1500 * 1000);
	ck_assert_int_eq(log_has(&s, "/jobs/calendar-sync answered: completed", NULL), syncs + 1);
	st = fake_channels();
	json_array_foreach(json_object_get(json_array_get(json_object_get(st, "channels"), 0),
	                                   "statuses"),
	                   i, v)
	{
		ck_assert_int_eq(json_integer_value(v), 200);
	}
	json_decref(st);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
}
END_TEST

static long watch_calls(void)
{
	json_t *st = gfake_get(&g, "stats");
	long v = (long)json_integer_value(json_object_get(json_object_get(st, "watch"), "calls"));

	json_decref(st);
	return v;
}

static long stop_calls(void)
{
	json_t *st = gfake_get(&g, "stats");
	long v = (long)json_integer_value(json_object_get(json_object_get(st, "stop"), "calls"));

	json_decref(st);
	return v;
}

START_TEST(renewal_survives_a_kill_between_create_and_stop)
{
	struct cj_server s;
	char *tok = start(&s), old_id[128], old_token[400], new_id[128], new_token[400];
	int64_t deadline;
	long long offset = 6 * 86400 + 12 * 3600;

	make_channel(&s, tok);
	live_channel(old_id, sizeof(old_id), old_token, sizeof(old_token));
	ck_assert_int_eq(watch_calls(), 1);

	/* Six and a half days on, the channel expires within 24 h: the 6-hour
	 * schedule's renewal scan enqueues its renewal. The stop of the old
	 * channel hangs, and the server dies during it. */
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"stop\",\"count\":1,\"status\":0,"
	                               "\"delayMs\":4000}"),
	                 0);
	ck_assert_int_eq(gfake_control(&g, "clock", "{\"offsetSeconds\":%lld}", offset), 0);
	advance(&s, offset);
	deadline = time_mono_ms() + 30000;
	while (stop_calls() < 1 && time_mono_ms() < deadline)
		usleep(50 * 1000);
	ck_assert_int_ge(stop_calls(), 1);
	ck_assert_int_eq(watch_calls(), 2);
	proc_signal(&s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&s.proc, 10000), 0);

	/* Restarted, the task runs again after its backoff: the new channel
	 * stands, the old one is stopped, and no third one is made. */
	ck_assert_int_eq(cj_server_restart(&s, env()), 0);
	advance(&s, 900);
	wait_server_count(&s, tok, "stopped", 0, 1);
	ck_assert_int_eq(server_count(&s, tok, "active", 0), 1);
	ck_assert_int_eq(watch_calls(), 2);
	ck_assert_int_eq(fake_count("live"), 1);
	ck_assert_int_eq(fake_count("stopped"), 1);
	live_channel(new_id, sizeof(new_id), new_token, sizeof(new_token));
	ck_assert_str_ne(new_id, old_id);

	/* The old channel's pushes are refused; the new one's accepted. */
	ck_assert_int_eq(push(&s, old_id, old_token, "exists", "50", NULL), 404);
	ck_assert_int_eq(push(&s, new_id, new_token, "exists", "50", NULL), 200);
	ck_assert_int_eq(cj_server_stop(&s), 0);
	free(tok);
}
END_TEST

static void setup(void)
{
	dir = make_temp_dir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
	O.dir = dir;
	O.google_url = g.url;
	O.log_level = "debug";
}

static void teardown(void)
{
	if (chdir("/") == 0)
		remove_tree(dir);
	free(dir);
}

int main(void)
{
	Suite *su = suite_create("webhooks_local");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (gfake_start(&g, LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET))
		return 1;
	tcase_set_timeout(tc, 180);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, change_push_sync_regeneration);
	tcase_add_test(tc, webhook_authentication_and_replays);
	tcase_add_test(tc, fifty_pushes_in_five_seconds_make_one_sync);
	tcase_add_test(tc, renewal_survives_a_kill_between_create_and_stop);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	gfake_stop(&g);
	return failed ? 1 : 0;
}
