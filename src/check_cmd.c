/*
 * check_cmd.c - the `check` subcommand; see check_cmd.h. Every row is one dependency
 * with its status and a detail that never contains a secret. Rows are
 * collected first and printed at the end, each column padded to its widest
 * entry, so the table lines up whatever the names and statuses.
 */
#include "check_cmd.h"

#include <string.h>

#include "gauth.h"
#include "http_client.h"
#include "idempotency.h"
#include "jwks.h"
#include "messaging.h"
#include "migrate.h"
#include "queues.h"
#include "redis_rest.h"
#include "store.h"
#include "timeutil.h"

#define CHECK_ROWS_MAX 16
#define CHECK_PROVIDER_MS 10000

struct table {
	size_t n;
	struct {
		char what[32];
		int ok; /* 1 OK, 0 FAIL, -1 SKIP (not configured: not a failure) */
		char detail[640];
	} rows[CHECK_ROWS_MAX];
	int failed;
	int config_error; /* a configuration file is invalid: exit 2 */
};

static void row(struct table *t, const char *what, int ok, const char *detail)
{
	if (ok == 0)
		t->failed = 1;
	if (t->n == CHECK_ROWS_MAX)
		BUG("check: more rows than CHECK_ROWS_MAX");
	snprintf(t->rows[t->n].what, sizeof(t->rows[t->n].what), "%s", what);
	t->rows[t->n].ok = ok;
	snprintf(t->rows[t->n].detail, sizeof(t->rows[t->n].detail), "%s", detail);
	t->n++;
}

static const char *status_text(int ok)
{
	return ok > 0 ? "OK" : ok < 0 ? "SKIP" : "FAIL";
}

static void table_print(const struct table *t, FILE *out)
{
	size_t what = strlen("WHAT"), status = strlen("STATUS"), i;

	for (i = 0; i < t->n; i++) {
		if (strlen(t->rows[i].what) > what)
			what = strlen(t->rows[i].what);
		if (strlen(status_text(t->rows[i].ok)) > status)
			status = strlen(status_text(t->rows[i].ok));
	}
	fprintf(out, "%-*s  %-*s  %s\n", (int)what, "WHAT", (int)status, "STATUS", "DETAIL");
	for (i = 0; i < t->n; i++)
		fprintf(out, "%-*s  %-*s  %s\n", (int)what, t->rows[i].what, (int)status,
		        status_text(t->rows[i].ok), t->rows[i].detail);
}

static void check_redis(const struct config *cfg, struct table *t)
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
		row(t, "redis", 0, "out of memory");
		redis_rest_free(r);
		return;
	}
	rc = idem_ping(idem, &ms, err, sizeof(err));
	if (rc)
		snprintf(detail, sizeof(detail), "%s: %s", idem_mode(idem),
		         err[0] ? err : cj_strerror(rc));
	else
		snprintf(detail, sizeof(detail), "%s, %lld ms", idem_mode(idem), (long long)ms);
	row(t, "redis", rc == CJ_OK, detail);
	idem_free(idem);
	redis_rest_free(r);
}

static void check_jwks(const struct config *cfg, struct table *t)
{
	char err[256] = "", detail[400];
	struct jwks_status st;
	struct jwks *k = jwks_new(cfg->oidc_jwks_url);
	int rc;

	if (!k) {
		row(t, "jwks", 0, "out of memory");
		return;
	}
	rc = jwks_refresh(k, err, sizeof(err));
	jwks_status(k, &st);
	if (rc)
		snprintf(detail, sizeof(detail), "%s: %s", cfg->oidc_jwks_url,
		         err[0] ? err : cj_strerror(rc));
	else
		snprintf(detail, sizeof(detail), "%d keys from %s", st.keys, cfg->oidc_jwks_url);
	row(t, "jwks", rc == CJ_OK, detail);
	jwks_free(k);
}

static void check_queues(const struct config *cfg, struct table *t)
{
	struct queues *q = NULL;
	char err[512] = "", detail[600];
	int rc = queues_load(cfg->config_dir, &q, err, sizeof(err));

	/* SPEC §8: a retry window under 2 x lease could lose a task to the
	 * claim of a dead instance; like a malformed file, a configuration
	 * error (exit 2). */
	if (!rc)
		rc = queues_check_lease(q, cfg->idempotency_lease_seconds, err, sizeof(err));
	if (rc == CJ_ECONFIG) {
		t->config_error = 1;
		fprintf(stderr, "catchup-jobs: %s\n", err);
	}
	if (rc)
		snprintf(detail, sizeof(detail), "%s", err);
	else
		snprintf(detail, sizeof(detail), "%zu queues, %zu schedules from %s",
		         queues_count(q), queues_schedule_count(q), cfg->config_dir);
	row(t, "queues", rc == CJ_OK, detail);
	queues_free(q);
}

static void check_database(const struct config *cfg, struct table *t)
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
	row(t, "database", rc == CJ_OK, detail);
	store_close(s);
}

/* In cloud mode the enqueuer needs an access token for Cloud Tasks. */
static void check_cloud_tasks(const struct config *cfg, struct table *t)
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
	row(t, "cloudtasks", rc == CJ_OK, detail);
	gauth_free(g);
}

/* A messaging provider: SKIP when none of its settings is set, else its
 * credentials are tried (a missing setting among the others fails). */
static void check_provider(const struct config *cfg, struct table *t, int sms)
{
	struct messaging_call call = {time_mono_ms() + CHECK_PROVIDER_MS, NULL, NULL};
	struct messaging_result res;
	struct messaging *m;
	const char *what = sms ? "twilio" : "sendgrid";
	int any = sms ? cfg->twilio_account_sid || cfg->twilio_auth_token || cfg->twilio_from_number
	              : cfg->sendgrid_api_key || cfg->email_from;
	int rc;

	if (!any) {
		row(t, what, -1, "not configured");
		return;
	}
	m = messaging_new(cfg);
	if (!m) {
		row(t, what, 0, "out of memory");
		return;
	}
	rc = sms ? messaging_check_twilio(m, &call, &res) : messaging_check_sendgrid(m, &call, &res);
	if (rc)
		row(t, what, 0, res.message[0] ? res.message : cj_strerror(rc));
	else
		row(t, what, 1, sms ? cfg->twilio_api_url : cfg->sendgrid_api_url);
	messaging_free(m);
}

int check_run(const struct config *cfg, FILE *out)
{
	struct table t = {0};

	if (http_client_global_init()) {
		row(&t, "http", 0, "cannot initialise libcurl");
		table_print(&t, out);
		return 1;
	}
	row(&t, "config", 1, cfg->cloud_mode ? "cloud mode" : "local mode");
	check_queues(cfg, &t);
	check_redis(cfg, &t);
	check_jwks(cfg, &t);
	check_database(cfg, &t);
	check_cloud_tasks(cfg, &t);
	check_provider(cfg, &t, 1);
	check_provider(cfg, &t, 0);
	http_client_global_cleanup();
	table_print(&t, out);
	return t.config_error ? 2 : t.failed ? 1 : 0;
}
