/*
 * config.c - the declarative table of environment variables and its loader.
 *
 * Each row: name, type, where the value goes, the local-mode default, the
 * cloud-mode default (REQUIRED = must be set in cloud mode), bounds for
 * integers, and the description printed by --help. A default may name an
 * earlier variable as "${NAME}", which is replaced by that variable's value.
 * Rows are processed in order, so a referenced variable must come first.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum type {
	T_STR,
	T_URL,
	T_INT,
	T_BOOL,
	T_LIST,
	T_LEVEL,
	T_FAILMODE,
	T_HOSTPORT,
	T_DBURL,
	T_CLIENT_ID /* one word: an audience compared as a whole, never a list */
};

#define REQUIRED ((const char *)1)
#define UNSET NULL

struct var {
	const char *name;
	enum type type;
	size_t off;
	const char *local_default; /* UNSET: no value */
	const char *cloud_default; /* REQUIRED: must be set in cloud mode */
	long min, max;
	int secret;
	const char *help;
};

#define F(field) offsetof(struct config, field)

static const struct var vars[] = {
    {"USE_CLOUD_TASKS", T_BOOL, F(cloud_mode), "false", "false", 0, 0, 0,
     "true: cloud mode (Cloud Tasks, Upstash, shared state); false: local mode"},
    {"PORT", T_INT, F(port), "8080", "8080", 1, 65535, 0, "listen port"},
    {"BIND_ADDRESS", T_STR, F(bind_address), "127.0.0.1", "0.0.0.0", 0, 0, 0,
     "listen address (IPv4 or IPv6 literal)"},
    {"GCP_PROJECT_ID", T_STR, F(gcp_project_id), "local", REQUIRED, 0, 0, 0,
     "Google Cloud project of the queues"},
    {"GCP_REGION", T_STR, F(gcp_region), "local", REQUIRED, 0, 0, 0,
     "region (location) of the queues"},
    {"CLOUD_RUN_URL", T_URL, F(cloud_run_url), "http://127.0.0.1:${PORT}", REQUIRED, 0, 0, 0,
     "public base URL of this service; task target and default OIDC audience"},
    {"SERVICE_ACCOUNT_EMAIL", T_STR, F(service_account_email), "local-tasks@catchup-jobs.local",
     REQUIRED, 0, 0, 0, "account Cloud Tasks and Cloud Scheduler use to mint OIDC tokens"},
    {"OIDC_AUDIENCE", T_LIST, F(oidc_audience), "${CLOUD_RUN_URL}", "${CLOUD_RUN_URL}", 0, 0, 0,
     "accepted aud values (comma list); the first is put on created tasks"},
    {"OIDC_ALLOWED_EMAILS", T_LIST, F(oidc_allowed_emails), "${SERVICE_ACCOUNT_EMAIL}",
     "${SERVICE_ACCOUNT_EMAIL}", 0, 0, 0, "accepted email claims for /jobs/* (comma list)"},
    {"ENQUEUE_ALLOWED_EMAILS", T_LIST, F(enqueue_allowed_emails), "${OIDC_ALLOWED_EMAILS}",
     "${OIDC_ALLOWED_EMAILS}", 0, 0, 0, "accepted callers of /enqueue/* and /admin/*"},
    {"CONSOLE_OAUTH_CLIENT_ID", T_CLIENT_ID, F(console_oauth_client_id), UNSET, UNSET, 0, 0, 0,
     "OAuth client id of the operator console: Google ID tokens for it are accepted on "
     "/admin/* (not /jobs or /enqueue)"},
    {"OIDC_JWKS_URL", T_URL, F(oidc_jwks_url), "https://www.googleapis.com/oauth2/v3/certs",
     "https://www.googleapis.com/oauth2/v3/certs", 0, 0, 0, "Google's token signing keys"},
    {"OIDC_ISSUERS", T_LIST, F(oidc_issuers), "https://accounts.google.com,accounts.google.com",
     "https://accounts.google.com,accounts.google.com", 0, 0, 0, "accepted iss values"},
    {"CLOUD_TASKS_API_URL", T_URL, F(cloud_tasks_api_url), "http://127.0.0.1:${PORT}",
     "https://cloudtasks.googleapis.com", 0, 0, 0,
     "Cloud Tasks REST endpoint; local mode: this server's own embedded Cloud Tasks"},
    {"GCE_METADATA_HOST", T_HOSTPORT, F(gce_metadata_host), "metadata.google.internal",
     "metadata.google.internal", 0, 0, 0, "metadata server (host[:port]) for access tokens"},
    {"GOOGLE_APPLICATION_CREDENTIALS", T_STR, F(google_application_credentials), UNSET, UNSET, 0, 0,
     0, "service-account key file, used instead of the metadata server"},
    {"UPSTASH_REDIS_REST_URL", T_URL, F(upstash_url), UNSET, REQUIRED, 0, 0, 0,
     "Upstash Redis REST URL; unset in local mode = in-process store"},
    {"UPSTASH_REDIS_REST_TOKEN", T_STR, F(upstash_token), UNSET, REQUIRED, 0, 0, 1,
     "Upstash Redis REST token"},
    {"IDEMPOTENCY_FAIL_MODE", T_FAILMODE, F(idempotency_fail_open), "closed", "closed", 0, 0, 0,
     "Redis unreachable: closed answers 503 (retried), open runs the job unclaimed"},
    {"IDEMPOTENCY_TTL_SECONDS", T_INT, F(idempotency_ttl_seconds), "86400", "86400", 14400,
     31536000, 0, "how long a completed key is remembered (at least 4 h)"},
    {"IDEMPOTENCY_LEASE_SECONDS", T_INT, F(idempotency_lease_seconds), "60", "60", 15, 600, 0,
     "how long a claim lives without renewal; the holder renews it every lease/3 s"},
    {"DATABASE_URL", T_DBURL, F(database_url), "sqlite:./data/catchup.db",
     "sqlite:./data/catchup.db", 0, 0, 1, "postgres://..., postgresql://... or sqlite:PATH"},
    {"TOKEN_ENCRYPTION_KEY", T_STR, F(token_encryption_key), UNSET, REQUIRED, 0, 0, 1,
     "32 bytes, base64: AES-256-GCM key for OAuth tokens at rest"},
    {"CONFIG_DIR", T_STR, F(config_dir), "./config", "./config", 0, 0, 0,
     "where queues.json and schedules.json are read"},
    {"GOOGLE_CLIENT_ID", T_STR, F(google_client_id), UNSET, UNSET, 0, 0, 0,
     "OAuth client for refreshing user tokens"},
    {"GOOGLE_CLIENT_SECRET", T_STR, F(google_client_secret), UNSET, UNSET, 0, 0, 1,
     "OAuth client secret"},
    {"GOOGLE_OAUTH_TOKEN_URL", T_URL, F(google_oauth_token_url),
     "https://oauth2.googleapis.com/token", "https://oauth2.googleapis.com/token", 0, 0, 0,
     "OAuth token endpoint"},
    {"GOOGLE_PEOPLE_API_URL", T_URL, F(google_people_api_url), "https://people.googleapis.com",
     "https://people.googleapis.com", 0, 0, 0, "People API"},
    {"GOOGLE_CALENDAR_API_URL", T_URL, F(google_calendar_api_url), "https://www.googleapis.com",
     "https://www.googleapis.com", 0, 0, 0, "Calendar API"},
    {"TWILIO_API_URL", T_URL, F(twilio_api_url), "https://api.twilio.com", "https://api.twilio.com",
     0, 0, 0, "Twilio API"},
    {"TWILIO_ACCOUNT_SID", T_STR, F(twilio_account_sid), UNSET, UNSET, 0, 0, 0, "Twilio account"},
    {"TWILIO_AUTH_TOKEN", T_STR, F(twilio_auth_token), UNSET, UNSET, 0, 0, 1, "Twilio token"},
    {"TWILIO_FROM_NUMBER", T_STR, F(twilio_from_number), UNSET, UNSET, 0, 0, 0,
     "SMS sender number"},
    {"SENDGRID_API_URL", T_URL, F(sendgrid_api_url), "https://api.sendgrid.com",
     "https://api.sendgrid.com", 0, 0, 0, "SendGrid API"},
    {"SENDGRID_API_KEY", T_STR, F(sendgrid_api_key), UNSET, UNSET, 0, 0, 1, "SendGrid key"},
    {"EMAIL_FROM", T_STR, F(email_from), UNSET, UNSET, 0, 0, 0, "e-mail sender address"},
    {"LOG_LEVEL", T_LEVEL, F(log_level), "info", "info", 0, 0, 0, "debug, info, warning or error"},
    {"MAX_BODY_BYTES", T_INT, F(max_body_bytes), "1048576", "1048576", 1024, 33554432, 0,
     "larger request bodies get 413"},
    {"SHUTDOWN_GRACE_SECONDS", T_INT, F(shutdown_grace_seconds), "9", "9", 0, 3600, 0,
     "SIGTERM: time in-flight jobs get before their claims are released"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

static const char *env_getter(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

static int fail(char *err, size_t errlen, const struct var *v, const char *why)
{
	snprintf(err, errlen, "invalid %s: %s", v->name, why);
	return CJ_ECONFIG;
}

/* Expands "${NAME}" references against already resolved values. */
static char *expand(const char *tmpl, char *const *resolved)
{
	const char *ref = strstr(tmpl, "${"), *end;
	size_t i, nlen;
	char *out;

	if (!ref)
		return strdup(tmpl);
	end = strchr(ref, '}');
	if (!end)
		return NULL;
	nlen = (size_t)(end - ref - 2);
	for (i = 0; i < NVARS; i++) {
		if (strlen(vars[i].name) == nlen && !strncmp(vars[i].name, ref + 2, nlen))
			break;
	}
	if (i == NVARS || !resolved[i])
		return NULL;
	if (asprintf(&out, "%.*s%s%s", (int)(ref - tmpl), tmpl, resolved[i], end + 1) < 0)
		return NULL;
	return out;
}

static int parse_list(const char *s, struct strlist *l)
{
	const char *p = s;
	char **items;
	size_t n = 1, i = 0;

	for (const char *q = s; *q; q++)
		n += *q == ',';
	items = calloc(n, sizeof(*items));
	if (!items)
		return CJ_ENOMEM;
	while (1) {
		const char *comma = strchr(p, ','), *a, *b;

		b = comma ? comma : p + strlen(p);
		a = p;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b == a)
			goto bad;
		items[i] = strndup(a, (size_t)(b - a));
		if (!items[i])
			goto bad;
		i++;
		if (!comma)
			break;
		p = comma + 1;
	}
	l->items = items;
	l->n = i;
	return CJ_OK;
bad:
	while (i)
		free(items[--i]);
	free(items);
	return CJ_EINVAL;
}

static int valid_url(const char *s)
{
	const char *host;

	if (!strncmp(s, "http://", 7))
		host = s + 7;
	else if (!strncmp(s, "https://", 8))
		host = s + 8;
	else
		return 0;
	if (!*host || *host == '/' || strpbrk(s, " \t\r\n\"<>\\^`{|}"))
		return 0;
	return 1;
}

static int valid_hostport(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!*s || strpbrk(s, "/ \t\r\n@?#"))
		return 0;
	if (colon) {
		if (colon == s)
			return 0;
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
			return 0;
	}
	return 1;
}

/* NULL when s names a database the store can open (SPEC §4: postgres://…,
 * postgresql://… or sqlite:PATH), else why not. The answer never quotes s:
 * a PostgreSQL URL may carry a password. */
static const char *database_url_problem(const char *s)
{
	const char *path;

	if (!strncmp(s, "postgres://", 11) || !strncmp(s, "postgresql://", 13))
		return NULL;
	if (strncmp(s, "sqlite:", 7))
		return "must be postgres://..., postgresql://... or sqlite:PATH";
	path = s + 7;
	if (!strncmp(path, "//", 2))
		path += 2;
	if (!*path)
		return "sqlite: needs a file path (sqlite:PATH, e.g. sqlite:./data/catchup.db)";
	if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
		return "sqlite:PATH must name a file (not :memory: or a file: URI)";
	return NULL;
}

static int set_value(struct config *c, const struct var *v, const char *s, char *err, size_t errlen)
{
	void *dst = (char *)c + v->off;
	char why[256], *end;
	long n;
	int lvl;

	switch (v->type) {
	case T_URL:
		if (!valid_url(s))
			return fail(err, errlen, v, "must be an http:// or https:// URL");
		/* fall through */
	case T_STR: {
		char *copy = strdup(s);
		size_t len;

		if (!copy)
			return CJ_ENOMEM;
		len = strlen(copy);
		while (v->type == T_URL && len > 0 && copy[len - 1] == '/')
			copy[--len] = '\0';
		if (!*copy) {
			free(copy);
			return fail(err, errlen, v, "must not be empty");
		}
		*(char **)dst = copy;
		return CJ_OK;
	}
	case T_DBURL: {
		const char *why_not = database_url_problem(s);

		if (why_not)
			return fail(err, errlen, v, why_not);
		*(char **)dst = strdup(s);
		return *(char **)dst ? CJ_OK : CJ_ENOMEM;
	}
	case T_CLIENT_ID:
		if (strpbrk(s, " \t\r\n,"))
			return fail(err, errlen, v, "must be one OAuth client id: no spaces or commas");
		*(char **)dst = strdup(s);
		return *(char **)dst ? CJ_OK : CJ_ENOMEM;
	case T_HOSTPORT:
		if (!valid_hostport(s))
			return fail(err, errlen, v, "must be host or host:port");
		*(char **)dst = strdup(s);
		return *(char **)dst ? CJ_OK : CJ_ENOMEM;
	case T_INT:
		errno = 0;
		n = strtol(s, &end, 10);
		if (errno || end == s || *end) {
			snprintf(why, sizeof(why), "\"%.64s\" is not an integer", s);
			return fail(err, errlen, v, why);
		}
		if (n < v->min || n > v->max) {
			snprintf(why, sizeof(why), "%ld is out of range %ld..%ld", n, v->min,
			         v->max);
			return fail(err, errlen, v, why);
		}
		*(long *)dst = n;
		return CJ_OK;
	case T_BOOL:
		if (!strcmp(s, "true") || !strcmp(s, "1"))
			*(int *)dst = 1;
		else if (!strcmp(s, "false") || !strcmp(s, "0"))
			*(int *)dst = 0;
		else
			return fail(err, errlen, v, "must be true or false");
		return CJ_OK;
	case T_LIST: {
		int rc = parse_list(s, dst);

		if (rc == CJ_EINVAL)
			return fail(err, errlen, v,
			            "must be a comma-separated list without empty items");
		return rc;
	}
	case T_LEVEL:
		lvl = log_level_parse(s);
		if (lvl < 0)
			return fail(err, errlen, v, "must be debug, info, warning or error");
		*(int *)dst = lvl;
		return CJ_OK;
	case T_FAILMODE:
		if (!strcmp(s, "open"))
			*(int *)dst = 1;
		else if (!strcmp(s, "closed"))
			*(int *)dst = 0;
		else
			return fail(err, errlen, v, "must be open or closed");
		return CJ_OK;
	}
	BUG("unknown config type");
}

static int cross_checks(const struct config *c, char *err, size_t errlen)
{
	if (c->cloud_mode && !c->upstash_url) {
		snprintf(err, errlen,
		         "invalid UPSTASH_REDIS_REST_URL: required in cloud mode "
		         "(Cloud Run runs several instances; claims must be shared)");
		return CJ_ECONFIG;
	}
	if (!!c->upstash_url != !!c->upstash_token) {
		snprintf(err, errlen,
		         "invalid %s: UPSTASH_REDIS_REST_URL and "
		         "UPSTASH_REDIS_REST_TOKEN must be set together",
		         c->upstash_url ? "UPSTASH_REDIS_REST_TOKEN" : "UPSTASH_REDIS_REST_URL");
		return CJ_ECONFIG;
	}
	return CJ_OK;
}

/* Names every variable cloud mode requires that is unset, in one message, so
 * that an operator fixes them all at once rather than one per start. */
static int missing_in_cloud_mode(config_getter get, void *arg, char *err, size_t errlen)
{
	size_t i, pos;
	int n = 0;

	pos = (size_t)snprintf(err, errlen,
	                       "invalid configuration: required in cloud mode "
	                       "(USE_CLOUD_TASKS=true):");
	for (i = 0; i < NVARS; i++) {
		const char *raw;

		if (vars[i].cloud_default != REQUIRED)
			continue;
		raw = get(vars[i].name, arg);
		if (raw && *raw)
			continue;
		if (pos < errlen)
			pos += (size_t)snprintf(err + pos, errlen - pos, "%s %s", n ? "," : "",
			                        vars[i].name);
		n++;
	}
	if (!n && errlen)
		err[0] = '\0';
	return n ? CJ_ECONFIG : CJ_OK;
}

int config_load(struct config *c, config_getter get, void *arg, char *err, size_t errlen)
{
	char *resolved[NVARS] = {0};
	size_t i;
	int rc = CJ_OK, cloud = 0;
	const char *mode;

	memset(c, 0, sizeof(*c));
	if (!get)
		get = env_getter;
	/* The mode decides the defaults, so it is read first. */
	mode = get("USE_CLOUD_TASKS", arg);
	if (mode && *mode) {
		rc = set_value(c, &vars[0], mode, err, errlen);
		if (rc)
			return rc;
		cloud = c->cloud_mode;
	}
	if (cloud && missing_in_cloud_mode(get, arg, err, errlen))
		return CJ_ECONFIG;
	for (i = 0; i < NVARS; i++) {
		const struct var *v = &vars[i];
		const char *raw = get(v->name, arg);
		const char *dflt = cloud ? v->cloud_default : v->local_default;

		if (raw && *raw) {
			resolved[i] = strdup(raw);
		} else if (dflt && dflt != REQUIRED) {
			resolved[i] = expand(dflt, resolved);
			if (!resolved[i]) {
				rc = CJ_ENOMEM;
				goto out;
			}
		} else {
			continue;
		}
		if (!resolved[i]) {
			rc = CJ_ENOMEM;
			goto out;
		}
		rc = set_value(c, v, resolved[i], err, errlen);
		if (rc)
			goto out;
		/* Derived defaults see the normalised URL (no trailing slash). */
		if (v->type == T_URL) {
			char *norm = strdup(*(char **)((char *)c + v->off));

			if (!norm) {
				rc = CJ_ENOMEM;
				goto out;
			}
			free(resolved[i]);
			resolved[i] = norm;
		}
	}
	rc = cross_checks(c, err, errlen);
out:
	for (i = 0; i < NVARS; i++)
		free(resolved[i]);
	if (rc)
		config_release(c);
	return rc;
}

static void strlist_release(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void config_release(struct config *c)
{
	size_t i;

	for (i = 0; i < NVARS; i++) {
		void *p = (char *)c + vars[i].off;

		if (vars[i].type == T_STR || vars[i].type == T_URL || vars[i].type == T_HOSTPORT ||
		    vars[i].type == T_DBURL || vars[i].type == T_CLIENT_ID) {
			free(*(char **)p);
			*(char **)p = NULL;
		} else if (vars[i].type == T_LIST) {
			strlist_release(p);
		}
	}
}

int strlist_contains(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->items[i], s))
			return 1;
	}
	return 0;
}

void config_print_help(FILE *out)
{
	size_t i;

	fprintf(out, "Environment variables (local default / cloud default):\n");
	for (i = 0; i < NVARS; i++) {
		const struct var *v = &vars[i];
		const char *l = v->local_default ? v->local_default : "unset";
		const char *cl = v->cloud_default == REQUIRED ? "required"
		    : v->cloud_default                        ? v->cloud_default
		                                              : "unset";

		fprintf(out, "  %-31s %s\n  %-31s   default: %s", v->name, v->help, "", l);
		if (strcmp(l, cl))
			fprintf(out, " (local) / %s (cloud)", cl);
		fputc('\n', out);
	}
}
