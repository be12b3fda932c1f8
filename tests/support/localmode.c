/*
 * localmode.c - the local-mode end-to-end tests' shared parts; see
 * localmode.h.
 */
#include "localmode.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mfake.h"
#include "timeutil.h"

char **local_env(const struct local_opts *o, const char *const *extra)
{
	static char *env[40];
	static char e_db[1024], e_config[1024], e_level[64], g[3][192], m[2][192];
	int n = 0;

	snprintf(e_db, sizeof(e_db), "DATABASE_URL=sqlite:%s/data/catchup.db", o->dir);
	snprintf(e_config, sizeof(e_config), "CONFIG_DIR=%s/config",
	         getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".");
	snprintf(e_level, sizeof(e_level), "LOG_LEVEL=%s", o->log_level ? o->log_level : "info");
	env[n++] = e_db;
	env[n++] = e_config;
	env[n++] = e_level;
	env[n++] = "OIDC_JWKS_URL=http://127.0.0.1:1/certs";
	env[n++] = "ENQUEUE_ALLOWED_EMAILS=" LOCAL_ADMIN_EMAIL;
	if (o->google_url) {
		snprintf(g[0], sizeof(g[0]), "GOOGLE_OAUTH_TOKEN_URL=%s/token", o->google_url);
		snprintf(g[1], sizeof(g[1]), "GOOGLE_PEOPLE_API_URL=%s", o->google_url);
		snprintf(g[2], sizeof(g[2]), "GOOGLE_CALENDAR_API_URL=%s", o->google_url);
		env[n++] = g[0];
		env[n++] = g[1];
		env[n++] = g[2];
		env[n++] = "GOOGLE_CLIENT_ID=" LOCAL_CLIENT_ID;
		env[n++] = "GOOGLE_CLIENT_SECRET=" LOCAL_CLIENT_SECRET;
	}
	if (o->messaging_url) {
		snprintf(m[0], sizeof(m[0]), "TWILIO_API_URL=%s", o->messaging_url);
		snprintf(m[1], sizeof(m[1]), "SENDGRID_API_URL=%s", o->messaging_url);
		env[n++] = m[0];
		env[n++] = m[1];
		env[n++] = "TWILIO_ACCOUNT_SID=" MFAKE_TWILIO_SID;
		env[n++] = "TWILIO_AUTH_TOKEN=" MFAKE_TWILIO_TOKEN;
		env[n++] = "TWILIO_FROM_NUMBER=+15005550006";
		env[n++] = "SENDGRID_API_KEY=" MFAKE_SENDGRID_KEY;
		env[n++] = "EMAIL_FROM=catchup@example.com";
	}
	for (int i = 0; extra && extra[i] && n < 38; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;
	return env;
}

int local_cli(const struct cj_server *s, const struct local_opts *o, char *const args[],
              char **out, char **err)
{
	char port[32];
	const char *extra[] = {port, NULL};

	snprintf(port, sizeof(port), "PORT=%d", s->port);
	return cj_run(args, local_env(o, extra), out, err);
}

char *local_admin_token(const struct cj_server *s, const struct local_opts *o)
{
	char *args[] = {"token", "--email", LOCAL_ADMIN_EMAIL, NULL}, *out = NULL, *err = NULL;

	ck_assert_int_eq(local_cli(s, o, args, &out, &err), 0);
	ck_assert_ptr_nonnull(out);
	out[strcspn(out, "\n")] = '\0';
	free(err);
	return out;
}

json_t *local_admin_get(const struct cj_server *s, const char *tok, const char *path)
{
	char url[512], auth[2048];
	const char *headers[] = {auth, NULL};
	struct httpc_resp r = {0};
	json_t *out;

	snprintf(url, sizeof(url), "%s%s", s->base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	ck_assert_int_eq(httpc_get(url, headers, &r), 0);
	ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body ? r.body : "");
	out = json_incref(r.json);
	httpc_resp_free(&r);
	return out;
}

int64_t local_business_now(const struct cj_server *s)
{
	char url[256];
	struct httpc_resp r = {0};
	int64_t v;

	snprintf(url, sizeof(url), "%s/emulator/clock", s->base);
	ck_assert_int_eq(httpc_get(url, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	v = time_wall_s() + (int64_t)json_integer_value(json_object_get(r.json, "offsetSeconds"));
	httpc_resp_free(&r);
	return v;
}

void local_advance(const struct cj_server *s, const struct local_opts *o, long seconds)
{
	char n[32], *args[] = {"clock", "advance", n, NULL};

	snprintf(n, sizeof(n), "%ld", seconds);
	ck_assert_int_eq(local_cli(s, o, args, NULL, NULL), 0);
}
