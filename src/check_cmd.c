/*
 * check_cmd.c - the `check` subcommand; see check_cmd.h. Every row is one dependency
 * with its status and a detail that never contains a secret.
 */
#include "check_cmd.h"

#include <string.h>

#include "gauth.h"
#include "http_client.h"
#include "idempotency.h"
#include "jwks.h"
#include "migrate.h"
#include "queues.h"
#include "redis_rest.h"
#include "store.h"

static void row(FILE *out, const char *what, int ok, const char *detail, int *failed)
{
	fprintf(out, "%-12s %-5s %s\n", what, ok ? "OK" : "FAIL", detail);
	if (!ok)
		*failed = 1;
}

static void check_redis(const struct config *cfg, FILE *out, int *failed)
{
	char err[256] = "", detail[320];
	struct redis_rest *r = NULL;
	struct idem *idem;
	int64_t ms = 0;
	int rc;

	if (cfg->upstash_url) {
		r = redis_rest_new(cfg->upstash_url, cfg->upstash_token, NULL);
		idem = r ? idem_new_redis(r) : NULL;
	} else {
		idem = idem_new_memory();
	}
	if (!idem) {
		row(out, "redis", 0, "out of memory", failed);
		redis_rest_free(r);
		return;
	}
	rc = idem_ping(idem, &ms, err, sizeof(err));
	if (rc)
		snprintf(detail, sizeof(detail), "%s: %s", idem_mode(idem),
		         err[0] ? err : cj_strerror(rc));
	else
		snprintf(detail, sizeof(detail), "%s, %lld ms", idem_mode(idem), (long long)ms);
	row(out, "redis", rc == CJ_OK, detail, failed);
	idem_free(idem);
	redis_rest_free(r);
}

static void check_jwks(const struct config *cfg, FILE *out, int *failed)
{
	char err[256] = "", detail[400];
	struct jwks_status st;
	struct jwks *k = jwks_new(cfg->oidc_jwks_url);
	int rc;

	if (!k) {
		row(out, "jwks", 0, "out of memory", failed);
		return;
	}
	rc = jwks_refresh(k, err, sizeof(err));
	jwks_status(k, &st);
	if (rc)
		snprintf(detail, sizeof(detail), "%s: %s", cfg->oidc_jwks_url,
		         err[0] ? err : cj_strerror(rc));
	else
		snprintf(detail, sizeof(detail), "%d keys from %s", st.keys, cfg->oidc_jwks_url);
	row(out, "jwks", rc == CJ_OK, detail, failed);
	jwks_free(k);
}

static void check_queues(const struct config *cfg, FILE *out, int *failed)
{
	struct queues *q = NULL;
	char err[512] = "", detail[600];
	int rc = queues_load(cfg->config_dir, &q, err, sizeof(err));

	if (rc)
		snprintf(detail, sizeof(detail), "%s", err);
	else
		snprintf(detail, sizeof(detail), "%zu queues, %zu schedules from %s",
		         queues_count(q), queues_schedule_count(q), cfg->config_dir);
	row(out, "queues", rc == CJ_OK, detail, failed);
	queues_free(q);
}

static void check_database(const struct config *cfg, FILE *out, int *failed)
{
	char err[256] = "", detail[512];
	struct store *s = NULL;
	double ms = 0;
	int pending = 0, rc;

	rc = store_open(cfg->database_url, &s, err, sizeof(err));
	if (!rc)
		rc = store_ping(s, &ms, err, sizeof(err));
	if (!rc)
		rc = migrate_pending(s, &pending, err, sizeof(err));
	if (rc)
		snprintf(detail, sizeof(detail), "%s", err[0] ? err : cj_strerror(rc));
	else
		snprintf(detail, sizeof(detail), "%s, %.1f ms, %d migrations pending",
		         store_url_redacted(s), ms, pending);
	row(out, "database", rc == CJ_OK, detail, failed);
	store_close(s);
}

/* In cloud mode the enqueuer needs an access token for Cloud Tasks. */
static void check_cloud_tasks(const struct config *cfg, FILE *out, int *failed)
{
	char err[512] = "", detail[600], token[4096];
	struct gauth *g = NULL;
	int rc;

	if (!cfg->cloud_mode)
		return;
	rc = gauth_new(cfg, &g, err, sizeof(err));
	if (!rc)
		rc = gauth_token(g, token, sizeof(token), err, sizeof(err));
	if (rc)
		snprintf(detail, sizeof(detail), "access token: %s",
		         err[0] ? err : cj_strerror(rc));
	else
		snprintf(detail, sizeof(detail), "access token for %s", gauth_account(g));
	row(out, "cloudtasks", rc == CJ_OK, detail, failed);
	gauth_free(g);
}

int check_run(const struct config *cfg, FILE *out)
{
	int failed = 0;

	if (http_client_global_init()) {
		fprintf(out, "%-12s %-5s %s\n", "http", "FAIL", "cannot initialise libcurl");
		return 1;
	}
	fprintf(out, "%-12s %-5s %s\n", "WHAT", "STATUS", "DETAIL");
	row(out, "config", 1, cfg->cloud_mode ? "cloud mode" : "local mode", &failed);
	check_queues(cfg, out, &failed);
	check_redis(cfg, out, &failed);
	check_jwks(cfg, out, &failed);
	check_database(cfg, out, &failed);
	check_cloud_tasks(cfg, out, &failed);
	http_client_global_cleanup();
	return failed ? 1 : 0;
}
