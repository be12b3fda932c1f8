/*
 * itest.c - the integration test world; see itest.h.
 */
#include "itest.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "timeutil.h"

/* dir/config: the repository's queues.json and no schedules. The servers
 * of integration tests run in local mode with CLOUD_RUN_URL naming a host
 * that is not this machine: the embedded scheduler must have nothing to send
 * there (tests of the scheduler give their own CONFIG_DIR). */
static int write_config(const char *dir)
{
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";
	char path[1200], src[1200];
	json_t *q, *none;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/config", dir);
	if (mkdir(path, 0700))
		return -1;
	snprintf(src, sizeof(src), "%s/config/queues.json", root);
	q = json_load_file(src, 0, NULL);
	none = json_pack("{s:[]}", "schedules");
	snprintf(path, sizeof(path), "%s/config/queues.json", dir);
	if (q && none && !json_dump_file(q, path, 0)) {
		snprintf(path, sizeof(path), "%s/config/schedules.json", dir);
		rc = json_dump_file(none, path, 0) ? -1 : 0;
	}
	json_decref(q);
	json_decref(none);
	return rc;
}

void itest_setup(struct itest *w)
{
	char *jwks;

	memset(w, 0, sizeof(*w));
	w->dir = make_temp_dir();
	if (!w->dir || write_config(w->dir) || redis_fixture_start(&w->redis)) {
		fprintf(stderr, "itest: cannot write the configuration or start redis\n");
		exit(1);
	}
	w->keys[0] = test_key_new("key-one", 2048);
	w->keys[1] = test_key_new("key-two", 2048);
	if (!w->keys[0] || !w->keys[1]) {
		fprintf(stderr, "itest: cannot generate keys\n");
		exit(1);
	}
	w->jwks = jwks_server_start();
	jwks = test_jwks_json((const struct test_key *const *)w->keys, 2);
	if (!w->jwks || !jwks) {
		fprintf(stderr, "itest: cannot start jwks server\n");
		exit(1);
	}
	jwks_server_set(w->jwks, jwks, 3600, 200);
	free(jwks);
}

void itest_teardown(struct itest *w)
{
	jwks_server_stop(w->jwks);
	redis_fixture_stop(&w->redis);
	test_key_free(w->keys[0]);
	test_key_free(w->keys[1]);
	remove_tree(w->dir);
	free(w->dir);
}

char **itest_env(struct itest *w, const char *const *extra)
{
	static char buf[24][1024];
	static char *env[64];
	int n = 0;

	snprintf(buf[0], sizeof(buf[0]), "OIDC_JWKS_URL=%s", jwks_server_url(w->jwks));
	snprintf(buf[1], sizeof(buf[1]), "UPSTASH_REDIS_REST_URL=%s", w->redis.url);
	snprintf(buf[2], sizeof(buf[2]), "UPSTASH_REDIS_REST_TOKEN=%s", w->redis.token);
	snprintf(buf[3], sizeof(buf[3]), "CLOUD_RUN_URL=%s", ITEST_AUDIENCE);
	snprintf(buf[4], sizeof(buf[4]), "SERVICE_ACCOUNT_EMAIL=%s", ITEST_TASKS_EMAIL);
	snprintf(buf[5], sizeof(buf[5]), "ENQUEUE_ALLOWED_EMAILS=%s", ITEST_ENQUEUE_EMAIL);
	snprintf(buf[6], sizeof(buf[6]), "DATABASE_URL=sqlite:%s/catchup.db", w->dir);
	snprintf(buf[7], sizeof(buf[7]), "CONFIG_DIR=%s/config", w->dir);
	snprintf(buf[8], sizeof(buf[8]), "LOG_LEVEL=info");
	for (n = 0; n < 9; n++)
		env[n] = buf[n];
	for (int i = 0; extra && extra[i] && n < 62; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;
	return env;
}

char *itest_token_for(struct itest *w, int key, const char *aud, const char *email)
{
	int64_t now = time_wall_s();

	return test_token_google(w->keys[key], aud, email, now, now + 3600);
}

char *itest_token(struct itest *w)
{
	return itest_token_for(w, 0, ITEST_AUDIENCE, ITEST_TASKS_EMAIL);
}

void itest_server(struct itest *w, struct cj_server *s, const char *const *extra)
{
	if (cj_server_start(s, itest_env(w, extra))) {
		fprintf(stderr, "itest: server did not start\n");
		exit(1);
	}
}

const char *itest_task_id(char *out, size_t outlen)
{
	static int counter;

	snprintf(out, outlen, "t%d-%lld-%d", (int)getpid(), (long long)time_mono_ms(), counter++);
	return out;
}

json_t *itest_dead_letters(struct itest *w, const struct cj_server *s, const char *query)
{
	char url[512], auth[4096],
	    *tok = itest_token_for(w, 0, ITEST_AUDIENCE, ITEST_ENQUEUE_EMAIL);
	const char *h[] = {auth, NULL};
	struct httpc_resp r;
	json_t *doc = NULL;

	snprintf(url, sizeof(url), "%s/admin/dead-letters%s%s", s->base, query ? "?" : "",
	         query ? query : "");
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	if (!httpc_get(url, h, &r) && r.status == 200)
		doc = json_incref(r.json);
	httpc_resp_free(&r);
	free(tok);
	return doc;
}

json_t *itest_dead_letter_for(struct itest *w, const struct cj_server *s, const char *task)
{
	json_t *doc = itest_dead_letters(w, s, "limit=500"), *found = NULL, *dl;
	size_t i;

	json_array_foreach(json_object_get(doc, "deadLetters"), i, dl)
	{
		const char *t = json_string_value(json_object_get(dl, "taskName"));

		if (t && !strcmp(t, task)) {
			found = json_incref(dl);
			break;
		}
	}
	json_decref(doc);
	return found;
}
