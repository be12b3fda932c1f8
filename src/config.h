/*
 * config.h - the service's configuration, read once from the environment.
 *
 * One declarative table in config.c lists every variable of SPEC §4 (name,
 * type, local and cloud defaults, bounds, description). config_load() reads
 * and validates all of them into an immutable struct config that is passed
 * explicitly; nothing else reads the environment. A bad value is CJ_ECONFIG
 * with a message naming the variable (never echoing a secret's value, nor a
 * DATABASE_URL, which may hold a password). In cloud mode every required
 * variable that is unset is named in one message.
 *
 * Ownership: config_load() fills the caller's struct; config_release() frees
 * what it allocated. After load the struct is read-only and thread-safe.
 */
#ifndef CJ_CONFIG_H
#define CJ_CONFIG_H

#include <stdio.h>

#include "cj.h"

struct strlist {
	char **items;
	size_t n;
};

struct config {
	int cloud_mode; /* USE_CLOUD_TASKS=true */
	long port;
	char *bind_address;
	char *gcp_project_id;
	char *gcp_region;
	char *cloud_run_url; /* no trailing slash */
	char *service_account_email;
	struct strlist oidc_audience; /* first = audience put on created tasks */
	struct strlist oidc_allowed_emails;
	struct strlist enqueue_allowed_emails;
	char *console_oauth_client_id; /* NULL: /admin takes OIDC_AUDIENCE only */
	char *oidc_jwks_url;
	struct strlist oidc_issuers;
	char *cloud_tasks_api_url; /* no trailing slash */
	char *gce_metadata_host;
	char *google_application_credentials; /* NULL when unset */
	char *upstash_url; /* NULL: in-process store (local mode) */
	char *upstash_token;
	int idempotency_fail_open; /* IDEMPOTENCY_FAIL_MODE=open */
	long idempotency_ttl_seconds;
	long idempotency_lease_seconds; /* claim lease, renewed every third of it */
	char *database_url;
	char *token_encryption_key; /* NULL in local mode when unset */
	char *config_dir;
	char *google_client_id;
	char *google_client_secret;
	char *google_oauth_token_url;
	char *google_people_api_url;
	char *google_calendar_api_url;
	char *twilio_api_url;
	char *twilio_account_sid;
	char *twilio_auth_token;
	char *twilio_from_number;
	char *sendgrid_api_url;
	char *sendgrid_api_key;
	char *email_from;
	int log_level; /* enum log_level */
	long max_body_bytes;
	long shutdown_grace_seconds;
};

/* Looks a variable up; returns NULL when unset. */
typedef const char *(*config_getter)(const char *name, void *arg);

/* Reads every variable through get (getenv when get is NULL). CJ_OK,
 * CJ_ECONFIG (err says which variable and why) or CJ_ENOMEM. On failure the
 * struct holds nothing to release. */
int config_load(struct config *c, config_getter get, void *arg, char *err, size_t errlen) CJ_WUR;
void config_release(struct config *c);

/* 1 when s is in the list (exact match). */
int strlist_contains(const struct strlist *l, const char *s);

/* Prints the table of variables (name, default, meaning) for --help. */
void config_print_help(FILE *out);

#endif
