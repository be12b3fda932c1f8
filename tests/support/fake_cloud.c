/*
 * fake_cloud.c - starts and steers tests/fixtures/fake_google; see
 * fake_cloud.h.
 */
#include "fake_cloud.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

int fake_cloud_start(struct fake_cloud *fc, const struct fake_cloud_opts *opts)
{
	const char *bin = getenv("CJ_FIXTURE_FAKE_GOOGLE"), *root = getenv("CJ_SOURCE_ROOT");
	char port[16], qfile[1024], stats[128];
	char *argv[20];
	int n = 0;

	memset(fc, 0, sizeof(*fc));
	if (!bin)
		return -1;
	fc->port = free_port();
	if (fc->port <= 0)
		return -1;
	snprintf(port, sizeof(port), "%d", fc->port);
	snprintf(fc->url, sizeof(fc->url), "http://127.0.0.1:%d", fc->port);
	snprintf(fc->metadata_host, sizeof(fc->metadata_host), "127.0.0.1:%d", fc->port);
	if (opts && opts->queues_file)
		snprintf(qfile, sizeof(qfile), "%s", opts->queues_file);
	else
		snprintf(qfile, sizeof(qfile), "%s/config/queues.json", root ? root : ".");
	argv[n++] = (char *)bin;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--queues-file";
	argv[n++] = qfile;
	argv[n++] = "--project";
	argv[n++] = FAKE_PROJECT;
	argv[n++] = "--location";
	argv[n++] = FAKE_REGION;
	if (opts && opts->sa_public_key) {
		argv[n++] = "--sa-public-key";
		argv[n++] = (char *)opts->sa_public_key;
	}
	if (opts && opts->sa_email) {
		argv[n++] = "--sa-email";
		argv[n++] = (char *)opts->sa_email;
	}
	if (opts && opts->sa_key_id) {
		argv[n++] = "--sa-key-id";
		argv[n++] = (char *)opts->sa_key_id;
	}
	argv[n] = NULL;
	if (proc_start(&fc->proc, argv, NULL, 0))
		return -1;
	/* wait_port first: wait_http() leaks its answer buffers while the
	 * connection is refused (tests/support/proc.c). */
	snprintf(stats, sizeof(stats), "%s/__control/stats", fc->url);
	if (wait_port(fc->port, 20000) || wait_http(stats, 200, 5000)) {
		proc_stop(&fc->proc);
		return -1;
	}
	return 0;
}

void fake_cloud_stop(struct fake_cloud *fc)
{
	if (fc->proc.pid > 0)
		proc_stop(&fc->proc);
	fc->proc.pid = 0;
}

json_t *fake_cloud_get(struct fake_cloud *fc, const char *what)
{
	struct httpc_resp r;
	char url[256];
	json_t *j = NULL;

	snprintf(url, sizeof(url), "%s/__control/%s", fc->url, what);
	if (!httpc_get(url, NULL, &r) && r.status == 200 && r.json)
		j = json_incref(r.json);
	httpc_resp_free(&r);
	return j;
}

int fake_cloud_post(struct fake_cloud *fc, const char *what, const char *json)
{
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	struct httpc_resp r;
	char url[256];
	int ok;

	snprintf(url, sizeof(url), "%s/__control/%s", fc->url, what);
	ok = !httpc_post(url, hdrs, json ? json : "{}", &r) && r.status == 200;
	httpc_resp_free(&r);
	return ok ? 0 : -1;
}

int fake_cloud_fail(struct fake_cloud *fc, const char *target, int count, int status, long delay_ms)
{
	char body[256];

	snprintf(body, sizeof(body),
	         "{\"target\":\"%s\",\"count\":%d,\"status\":%d,\"delayMs\":%ld}", target, count,
	         status, delay_ms);
	return fake_cloud_post(fc, "fail", body);
}

int fake_cloud_fail_after_landing(struct fake_cloud *fc, int count, int status)
{
	char body[256];

	snprintf(body, sizeof(body),
	         "{\"target\":\"create\",\"count\":%d,\"status\":%d,\"apply\":true}", count,
	         status);
	return fake_cloud_post(fc, "fail", body);
}

int fake_cloud_drop(struct fake_cloud *fc, const char *target, int count, int reused, int apply)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"target\":\"%s\",\"count\":%d,\"reused\":%s,\"apply\":%s}",
	         target, count, reused ? "true" : "false", apply ? "true" : "false");
	return fake_cloud_post(fc, "drop", body);
}

int fake_cloud_reset(struct fake_cloud *fc)
{
	return fake_cloud_post(fc, "reset", NULL);
}

long fake_cloud_stat(struct fake_cloud *fc, const char *name)
{
	json_t *s = fake_cloud_get(fc, "stats");
	long v = -1;

	if (s && json_is_integer(json_object_get(s, name)))
		v = (long)json_integer_value(json_object_get(s, name));
	json_decref(s);
	return v;
}

json_t *fake_cloud_creates(struct fake_cloud *fc)
{
	json_t *s = fake_cloud_get(fc, "creates"), *a = NULL;

	if (s)
		a = json_incref(json_object_get(s, "creates"));
	json_decref(s);
	return a;
}

json_t *fake_cloud_last_create(struct fake_cloud *fc)
{
	json_t *a = fake_cloud_creates(fc), *last, *body = NULL;

	if (a && json_array_size(a)) {
		last = json_array_get(a, json_array_size(a) - 1);
		body = json_loads(json_string_value(json_object_get(last, "body")), 0, NULL);
	}
	json_decref(a);
	return body;
}

struct kv {
	const char *const *extra;
	const struct fake_cloud *fc;
	char tmp[128];
};

static const char *getter(const char *name, void *arg)
{
	struct kv *kv = arg;
	static const char *const base[] = {
	    "USE_CLOUD_TASKS=true",
	    "GCP_PROJECT_ID=" FAKE_PROJECT,
	    "GCP_REGION=" FAKE_REGION,
	    "CLOUD_RUN_URL=" FAKE_RUN_URL,
	    "OIDC_AUDIENCE=" FAKE_AUDIENCE,
	    "SERVICE_ACCOUNT_EMAIL=" FAKE_SA_EMAIL,
	    "UPSTASH_REDIS_REST_URL=http://127.0.0.1:9",
	    "UPSTASH_REDIS_REST_TOKEN=unused-in-these-tests",
	    "TOKEN_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "LOG_LEVEL=warning",
	    NULL,
	};
	size_t n = strlen(name);

	for (const char *const *e = kv->extra; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return (*e)[n + 1] ? *e + n + 1 : NULL;
	if (!strcmp(name, "CLOUD_TASKS_API_URL"))
		return kv->fc ? kv->fc->url : NULL;
	if (!strcmp(name, "GCE_METADATA_HOST"))
		return kv->fc ? kv->fc->metadata_host : NULL;
	for (const char *const *e = base; *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

int fake_cloud_config(const struct fake_cloud *fc, const char *const *extra, struct config *cfg)
{
	struct kv kv = {extra, fc, ""};
	char err[512];

	if (config_load(cfg, getter, &kv, err, sizeof(err))) {
		fprintf(stderr, "fake_cloud_config: %s\n", err);
		return -1;
	}
	return 0;
}

char *fake_cloud_gen_key(const char *pub_path)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *mem = NULL;
	char *pem = NULL, *data;
	long n;
	FILE *f;

	if (!k)
		return NULL;
	f = fopen(pub_path, "w");
	if (!f || !PEM_write_PUBKEY(f, k)) {
		if (f)
			fclose(f);
		goto out;
	}
	if (fclose(f))
		goto out;
	mem = BIO_new(BIO_s_mem());
	if (!mem || !PEM_write_bio_PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(mem, &data);
	pem = n > 0 ? strndup(data, (size_t)n) : NULL;
out:
	BIO_free(mem);
	EVP_PKEY_free(k);
	return pem;
}

int fake_cloud_write_key_file(const char *path, const char *private_pem, const char *email,
                              const char *key_id, const char *token_uri)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account",
	                      "project_id", FAKE_PROJECT, "private_key_id", key_id, "private_key",
	                      private_pem, "client_email", email, "client_id",
	                      "109876543210987654321", "auth_uri",
	                      "https://accounts.google.com/o/oauth2/auth", "token_uri", token_uri);
	int rc;

	if (!j)
		return -1;
	rc = json_dump_file(j, path, JSON_INDENT(2));
	json_decref(j);
	return rc ? -1 : 0;
}
