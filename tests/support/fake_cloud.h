/*
 * fake_cloud.h - runs tests/fixtures/fake_google (metadata server, OAuth
 * token endpoint, Cloud Tasks REST API) on a free loopback port and drives
 * its /__control/ API; builds cloud-mode configurations pointing at it and
 * service-account key files it accepts.
 *
 * The fixture program comes from env CJ_FIXTURE_FAKE_GOOGLE (set by meson).
 * Returned json_t values are new references the caller decrefs.
 */
#ifndef CJ_TEST_FAKE_CLOUD_H
#define CJ_TEST_FAKE_CLOUD_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "proc.h"

#define FAKE_PROJECT "test-project"
#define FAKE_REGION "us-central1"
#define FAKE_RUN_URL "https://catchup-jobs-abc123-uc.a.run.app"
#define FAKE_AUDIENCE "https://jobs.catchup.example"
#define FAKE_SA_EMAIL "tasks-invoker@test-project.iam.gserviceaccount.com"

struct fake_cloud {
	struct proc proc;
	int port;
	char url[64]; /* http://127.0.0.1:PORT */
	char metadata_host[64]; /* 127.0.0.1:PORT */
};

struct fake_cloud_opts {
	const char *queues_file; /* NULL: config/queues.json of the source tree */
	const char *sa_public_key; /* PEM path, for the JWT-bearer grant */
	const char *sa_email; /* expected iss, or NULL */
	const char *sa_key_id; /* expected kid, or NULL */
};

/* Starts the fixture (opts may be NULL) and waits until it answers.
 * 0 or -1. */
int fake_cloud_start(struct fake_cloud *fc, const struct fake_cloud_opts *opts);
void fake_cloud_stop(struct fake_cloud *fc);

/* GET /__control/{what} ("creates", "tasks", "stats"): the answer, or NULL. */
json_t *fake_cloud_get(struct fake_cloud *fc, const char *what);
/* POST /__control/{what} with a JSON body (may be NULL). 0 or -1. */
int fake_cloud_post(struct fake_cloud *fc, const char *what, const char *json);
/* The next count calls to target ("create", "metadata", "token") wait
 * delay_ms and answer status (0: answer normally; a create lands first). */
int fake_cloud_fail(struct fake_cloud *fc, const char *target, int count, int status,
                    long delay_ms);
/* The next count creates land, then are answered status (e.g. 503). */
int fake_cloud_fail_after_landing(struct fake_cloud *fc, int count, int status);
/* The next count calls to target get no answer: the fake closes the
 * connection. reused: only calls arriving on a kept-alive connection that
 * served a request before count (libcurl then re-sends the call on a fresh
 * connection by itself). apply: a create lands before the connection is
 * closed (the "answer lost after landing" case). */
int fake_cloud_drop(struct fake_cloud *fc, const char *target, int count, int reused, int apply);
int fake_cloud_reset(struct fake_cloud *fc);
/* A counter from /__control/stats ("metadataCalls", "tokenCalls",
 * "createCalls", "tasks"); -1 when unavailable. */
long fake_cloud_stat(struct fake_cloud *fc, const char *name);
/* The recorded tasks.create requests: array of {path, body, status}
 * (status 0: closed without an answer). */
json_t *fake_cloud_creates(struct fake_cloud *fc);
/* The body of the last recorded create, parsed; NULL when none. */
json_t *fake_cloud_last_create(struct fake_cloud *fc);

/* Loads a cloud-mode config pointing Cloud Tasks and the metadata server at
 * the fake (project FAKE_PROJECT, region FAKE_REGION, CLOUD_RUN_URL
 * FAKE_RUN_URL, OIDC_AUDIENCE FAKE_AUDIENCE, SERVICE_ACCOUNT_EMAIL
 * FAKE_SA_EMAIL). extra: NULL-terminated "NAME=value" overrides. 0 or -1. */
int fake_cloud_config(const struct fake_cloud *fc, const char *const *extra, struct config *cfg);

/* Generates an RSA-2048 key pair; writes the public key PEM to pub_path and
 * returns the private key PEM (malloc'd), or NULL. */
char *fake_cloud_gen_key(const char *pub_path);
/* Writes a service-account key file as Google issues them. 0 or -1. */
int fake_cloud_write_key_file(const char *path, const char *private_pem, const char *email,
                              const char *key_id, const char *token_uri);

#endif
