/*
 * gcloud.c - prints the gcloud commands for queues.json and schedules.json;
 * see gcloud.h.
 *
 * Each resource is one `if describe; then update; else create; fi` line: an
 * update that fails (a bad flag, a permission) stops the script under
 * `set -e` with gcloud's own message, instead of falling through to a create
 * that would fail with a misleading "already exists". Never runs anything.
 */
#include "gcloud.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "queues.h"

#define SCRIPT_MAX_BYTES (4u << 20)

int gcloud_shell_quote(struct buf *b, const char *s)
{
	const char *q;
	int rc;

	if ((rc = buf_appends(b, "'")))
		return rc;
	while ((q = strchr(s, '\''))) {
		if ((rc = buf_append(b, s, (size_t)(q - s))) || (rc = buf_appends(b, "'\\''")))
			return rc;
		s = q + 1;
	}
	if ((rc = buf_appends(b, s)))
		return rc;
	return buf_appends(b, "'");
}

/* Appends " --name='value'" (or " 'value'" when name is NULL). */
static int arg(struct buf *b, const char *name, const char *value)
{
	int rc;

	if (name)
		rc = buf_appendf(b, " --%s=", name);
	else
		rc = buf_appends(b, " ");
	return rc ? rc : gcloud_shell_quote(b, value);
}

static int argf(struct buf *b, const char *name, const char *fmt, double v)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), fmt, v);
	return arg(b, name, tmp);
}

static int argi(struct buf *b, const char *name, long long v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%lld", v);
	return arg(b, name, tmp);
}

/* The resource name plus --location and --project. */
static int target(struct buf *b, const char *name, const struct config *cfg)
{
	int rc;

	if ((rc = arg(b, NULL, name)) || (rc = arg(b, "location", cfg->gcp_region)) ||
	    (rc = arg(b, "project", cfg->gcp_project_id)))
		return rc;
	return CJ_OK;
}

static int queue_flags(struct buf *b, const struct queue_config *c)
{
	int rc;

	if ((rc = argi(b, "max-attempts", c->max_attempts)) ||
	    (rc = arg(b, "max-retry-duration", "0s")) ||
	    (rc = argf(b, "min-backoff", "%.9gs", c->min_backoff)) ||
	    (rc = argf(b, "max-backoff", "%.9gs", c->max_backoff)) ||
	    (rc = argi(b, "max-doublings", c->max_doublings)) ||
	    (rc = argf(b, "max-dispatches-per-second", "%.9g", c->max_dispatches_per_second)) ||
	    (rc = argi(b, "max-concurrent-dispatches", c->max_concurrent_dispatches)))
		return rc;
	return CJ_OK;
}

static int queue_line(struct buf *b, const struct queue_config *c, const struct config *cfg)
{
	int rc;

	if ((rc = buf_appendf(b, "# Cloud Tasks queue %s\nif gcloud tasks queues describe",
	                      c->name)) ||
	    (rc = target(b, c->name, cfg)) ||
	    (rc = buf_appends(b, " >/dev/null 2>&1; then gcloud tasks queues update")) ||
	    (rc = target(b, c->name, cfg)) || (rc = queue_flags(b, c)) ||
	    (rc = buf_appends(b, "; else gcloud tasks queues create")) ||
	    (rc = target(b, c->name, cfg)) || (rc = queue_flags(b, c)) ||
	    (rc = buf_appends(b, "; fi\n")))
		return rc;
	return CJ_OK;
}

static int schedule_flags(struct buf *b, const struct schedule_config *s, const struct config *cfg,
                          const char *body, int update)
{
	char uri[2048];
	int rc;

	snprintf(uri, sizeof(uri), "%s/jobs/%s", cfg->cloud_run_url, s->job_type);
	if ((rc = arg(b, "schedule", s->schedule)) || (rc = arg(b, "time-zone", s->time_zone)) ||
	    (rc = arg(b, "uri", uri)) || (rc = arg(b, "http-method", "POST")) ||
	    (rc = arg(b, "oidc-service-account-email", cfg->service_account_email)) ||
	    (rc = arg(b, "oidc-token-audience", cfg->oidc_audience.items[0])) ||
	    (rc = argf(b, "attempt-deadline", "%.9gs", s->attempt_deadline)) ||
	    (rc = arg(b, update ? "update-headers" : "headers", "Content-Type=application/json")) ||
	    (rc = arg(b, "message-body", body)))
		return rc;
	return CJ_OK;
}

static int schedule_line(struct buf *b, const struct schedule_config *s, const struct config *cfg)
{
	char *body = json_dumps(s->payload, JSON_COMPACT);
	int rc;

	if (!body)
		return CJ_ENOMEM;
	if ((rc = buf_appendf(b, "# Cloud Scheduler job %s -> /jobs/%s\n", s->name, s->job_type)) ||
	    (rc = buf_appends(b, "if gcloud scheduler jobs describe")) ||
	    (rc = target(b, s->name, cfg)) ||
	    (rc = buf_appends(b, " >/dev/null 2>&1; then gcloud scheduler jobs update http")) ||
	    (rc = target(b, s->name, cfg)) || (rc = schedule_flags(b, s, cfg, body, 1)) ||
	    (rc = buf_appends(b, "; else gcloud scheduler jobs create http")) ||
	    (rc = target(b, s->name, cfg)) || (rc = schedule_flags(b, s, cfg, body, 0)) ||
	    (rc = buf_appends(b, "; fi\n")))
		goto out;
out:
	free(body);
	return rc;
}

int gcloud_print_commands(const struct queues *q, const struct config *cfg, FILE *out)
{
	struct buf b = BUF_INIT(SCRIPT_MAX_BYTES);
	size_t i;
	int rc = CJ_OK;

	if (!cfg->oidc_audience.n || !cfg->gcp_project_id || !cfg->gcp_region ||
	    !cfg->cloud_run_url || !cfg->service_account_email)
		return CJ_ECONFIG;
	if ((rc = buf_appendf(&b,
	                      "#!/usr/bin/env bash\n"
	                      "# Cloud Tasks queues and Cloud Scheduler jobs of catchup-jobs for "
	                      "project %s, region %s.\n"
	                      "# Generated by `catchup-jobs queues`; safe to run again (updates "
	                      "what exists, creates the rest).\n"
	                      "set -euo pipefail\n",
	                      cfg->gcp_project_id, cfg->gcp_region)))
		goto out;
	for (i = 0; i < queues_count(q); i++)
		if ((rc = queue_line(&b, queues_at(q, i), cfg)))
			goto out;
	for (i = 0; i < queues_schedule_count(q); i++)
		if ((rc = schedule_line(&b, queues_schedule_at(q, i), cfg)))
			goto out;
	if (fwrite(b.data, 1, b.len, out) != b.len || fflush(out))
		rc = CJ_EINTERNAL;
out:
	buf_release(&b);
	return rc;
}
