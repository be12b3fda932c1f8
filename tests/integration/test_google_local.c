/*
 * test_google_local.c - the Google data jobs end to end in local mode: the
 * real binary with its embedded Cloud Tasks and scheduler, SQLite, and the
 * Google fake. A user added with `catchup-jobs user add` gets the initial
 * contacts and calendar syncs, run by the emulator against the fake; a
 * meeting that has ended moves the contact's last-contacted time; the
 * embedded scheduler's token-refresh (fired by moving the clock) refreshes
 * the user's token when it comes due; the app-data endpoints show all of
 * it; and no token reaches the log or the command output.
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

#define REFRESH_TOKEN "1//e2e-refresh-token-SECRET"
#define CLIENT_SECRET LOCAL_CLIENT_SECRET

static char *dir;
static struct gfake g;
static struct local_opts O;

static char **local_env_(void)
{
	return local_env(&O, NULL);
}

static int run_cli(const struct cj_server *s, char *const args[], char **out, char **err)
{
	return local_cli(s, &O, args, out, err);
}

static char *admin_token(const struct cj_server *s)
{
	return local_admin_token(s, &O);
}

static json_t *admin_get(const struct cj_server *s, const char *tok, const char *path)
{
	return local_admin_get(s, tok, path);
}

static long granted(void)
{
	json_t *st = gfake_get(&g, "stats");
	long v = (long)json_integer_value(json_object_get(json_object_get(st, "token"), "granted"));

	json_decref(st);
	return v;
}

/* The contact with that resource name in the user's list, or NULL. */
static json_t *find_contact(json_t *list, const char *rn)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(list, "contacts"), i, c)
	{
		if (!strcmp(json_string_value(json_object_get(c, "resourceName")), rn))
			return c;
	}
	return NULL;
}

START_TEST(user_added_synced_and_refreshed_by_the_scheduler)
{
	struct cj_server s;
	char *args[] = {"user",   "add",         "--email",     "me@example.com",
	                "--id",   "e2e-user",    "--google-refresh-token", REFRESH_TOKEN,
	                NULL};
	char *out = NULL, *err = NULL, *tok, *log;
	long long now = (long long)time_wall_s();
	json_t *user = NULL, *contacts = NULL, *ann = NULL;
	int64_t deadline, first_expiry;

	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"" REFRESH_TOKEN "\"}"),
	                 0);
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"" REFRESH_TOKEN "\",\"upsert\":["
	                               "{\"resourceName\":\"people/ann\",\"name\":\"Ann\","
	                               "\"email\":\"Ann@Example.com\"},{\"resourceName\":"
	                               "\"people/bob\",\"name\":\"Bob\"}]}"),
	                 0);
	ck_assert_int_eq(gfake_control(&g, "events",
	                               "{\"refreshToken\":\"" REFRESH_TOKEN "\",\"upsert\":[{\"id\":"
	                               "\"lunch\",\"start\":%lld,\"end\":%lld,\"attendees\":[{"
	                               "\"email\":\"ann@example.com\"}]}]}",
	                               now - 7200, now - 3600),
	                 0);
	ck_assert_int_eq(cj_server_start(&s, local_env_()), 0);
	ck_assert_int_eq(run_cli(&s, args, &out, &err), 0);
	ck_assert_str_eq(out, "e2e-user\n");
	ck_assert_ptr_null(strstr(err ? err : "", REFRESH_TOKEN));
	free(out);
	free(err);
	tok = admin_token(&s);

	/* The initial syncs run through the emulator, in either order: Ann
	 * ends up met an hour ago. */
	deadline = time_mono_ms() + 30000;
	while (time_mono_ms() < deadline) {
		json_decref(contacts);
		contacts = admin_get(&s, tok, "/admin/users/e2e-user/contacts");
		ann = find_contact(contacts, "people/ann");
		if (ann && json_integer_value(json_object_get(ann, "lastContactedAt")) == now - 3600 &&
		    find_contact(contacts, "people/bob"))
			break;
		usleep(200 * 1000);
	}
	ck_assert_ptr_nonnull(ann);
	ck_assert_int_eq(json_integer_value(json_object_get(ann, "lastContactedAt")), now - 3600);
	json_decref(contacts);

	user = admin_get(&s, tok, "/admin/users/e2e-user");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(user, "google"),
	                                                   "status")),
	                 "ok");
	first_expiry = json_integer_value(json_object_get(json_object_get(user, "google"),
	                                                  "expiresAt"));
	ck_assert_int_gt(first_expiry, now + 3000);
	ck_assert_int_ge(json_array_size(json_object_get(user, "sync")), 2);
	json_decref(user);
	ck_assert_int_eq(granted(), 1);

	/* 55 minutes later the token is due: the 10-minute schedule's scan
	 * enqueues its refresh. */
	{
		char *adv[] = {"clock", "advance", "3300", NULL};

		ck_assert_int_eq(run_cli(&s, adv, NULL, NULL), 0);
	}
	deadline = time_mono_ms() + 30000;
	while (time_mono_ms() < deadline && granted() < 2)
		usleep(200 * 1000);
	ck_assert_int_eq(granted(), 2);
	deadline = time_mono_ms() + 10000;
	for (;;) {
		int64_t e;

		user = admin_get(&s, tok, "/admin/users/e2e-user");
		e = json_integer_value(json_object_get(json_object_get(user, "google"), "expiresAt"));
		json_decref(user);
		if (e > first_expiry || time_mono_ms() > deadline) {
			ck_assert_int_gt(e, first_expiry);
			break;
		}
		usleep(200 * 1000);
	}
	{
		char *list[] = {"user", "list", NULL};

		ck_assert_int_eq(run_cli(&s, list, &out, &err), 0);
		ck_assert_ptr_nonnull(strstr(out, "\"e2e-user\""));
		ck_assert_ptr_null(strstr(out, REFRESH_TOKEN));
		ck_assert_ptr_null(strstr(out, "ya29."));
		free(out);
		free(err);
	}
	ck_assert_int_eq(cj_server_stop(&s), 0);
	log = cj_server_log(&s);
	ck_assert_ptr_null(strstr(log, REFRESH_TOKEN));
	ck_assert_ptr_null(strstr(log, CLIENT_SECRET));
	ck_assert_ptr_null(strstr(log, "ya29."));
	ck_assert_ptr_nonnull(strstr(log, "/jobs/token-refresh answered: completed"));
	free(log);
	free(tok);
}
END_TEST


/* The contacts sync state of the user, or NULL. */
static json_t *contacts_sync(json_t *user)
{
	json_t *st;
	size_t i;

	json_array_foreach(json_object_get(user, "sync"), i, st)
	{
		if (!strcmp(json_string_value(json_object_get(st, "kind")), "contacts"))
			return st;
	}
	return NULL;
}

static long people_calls(void)
{
	json_t *st = gfake_get(&g, "stats");
	long v = (long)json_integer_value(json_object_get(json_object_get(st, "people"), "calls"));

	json_decref(st);
	return v;
}

START_TEST(killed_mid_sync_the_task_runs_again_and_nothing_is_lost)
{
	struct cj_server s;
	char *args[] = {"user", "add", "--email", "k@example.com", "--id", "kill-user",
	                "--google-refresh-token", "rt-kill", NULL};
	char *adv[] = {"clock", "advance", "900", NULL};
	char *tok, *out = NULL, *err = NULL, path[256];
	const char *cursor = NULL;
	char *cur = NULL;
	int64_t deadline;
	long total = 0;
	json_t *user = NULL;

	ck_assert_int_eq(gfake_control(&g, "reset", "{}"), 0);
	ck_assert_int_eq(gfake_control(&g, "accounts", "{\"refreshToken\":\"rt-kill\"}"), 0);
	ck_assert_int_eq(gfake_control(&g, "contacts",
	                               "{\"refreshToken\":\"rt-kill\",\"generate\":{\"count\":2500}}"),
	                 0);
	/* The first page is slow: the server dies while it is in flight. */
	ck_assert_int_eq(gfake_control(&g, "fail",
	                               "{\"target\":\"people\",\"count\":1,\"status\":0,"
	                               "\"delayMs\":3000}"),
	                 0);
	ck_assert_int_eq(cj_server_start(&s, local_env_()), 0);
	ck_assert_int_eq(run_cli(&s, args, &out, &err), 0);
	free(out);
	free(err);
	deadline = time_mono_ms() + 20000;
	while (people_calls() < 1 && time_mono_ms() < deadline)
		usleep(50 * 1000);
	ck_assert_int_ge(people_calls(), 1);
	proc_signal(&s.proc, SIGKILL);
	ck_assert_int_eq(proc_wait(&s.proc, 10000), 0);

	ck_assert_int_eq(cj_server_restart(&s, local_env_()), 0);
	/* The attempt without an answer is retried after its backoff. */
	ck_assert_int_eq(run_cli(&s, adv, NULL, NULL), 0);
	tok = admin_token(&s);
	deadline = time_mono_ms() + 60000;
	for (;;) {
		json_t *st;

		json_decref(user);
		user = admin_get(&s, tok, "/admin/users/kill-user");
		st = contacts_sync(user);
		if ((st && json_is_integer(json_object_get(st, "lastSyncAt"))) ||
		    time_mono_ms() > deadline)
			break;
		usleep(200 * 1000);
	}
	ck_assert_msg(contacts_sync(user) &&
	                  json_is_integer(json_object_get(contacts_sync(user), "lastSyncAt")),
	              "the contacts sync did not complete after the restart");
	json_decref(user);
	do {
		json_t *page;
		const json_t *next;

		snprintf(path, sizeof(path), "/admin/users/kill-user/contacts?limit=500%s%s",
		         cursor ? "&cursor=" : "", cursor ? cursor : "");
		page = admin_get(&s, tok, path);
		total += (long)json_array_size(json_object_get(page, "contacts"));
		next = json_object_get(page, "next");
		free(cur);
		cur = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
		cursor = cur;
		json_decref(page);
	} while (cursor);
	ck_assert_int_eq(total, 2500);
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
	Suite *su = suite_create("google_local");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (gfake_start(&g, LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET))
		return 1;
	tcase_set_timeout(tc, 180);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, user_added_synced_and_refreshed_by_the_scheduler);
	tcase_add_test(tc, killed_mid_sync_the_task_runs_again_and_nothing_is_lost);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	gfake_stop(&g);
	return failed ? 1 : 0;
}
