/*
 * serve.c - service start-up and graceful shutdown; see serve.h.
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken by the
 * main thread with sigtimedwait(), so no code runs in signal context;
 * SIGPIPE is ignored (a client that hangs up must not kill the process).
 *
 * Local mode's Cloud Tasks (dispatcher.h) pushes to this very server, so
 * its life is ordered around the listener's. Start: the dispatcher is made
 * (recovering attempts a killed process left) before the listener opens, so
 * /v2 requests find it, and its loop starts once the listener is up, so no
 * push meets a refused connection. Stop: (1) dispatcher_quiesce(): no new
 * attempt; (2) drain(): requests in flight finish within the grace, pushes
 * to ourselves included (the dispatcher records their answers); (3)
 * dispatcher_stop(): attempts still unanswered (targets elsewhere) are cut
 * and recorded as unanswered, threads joined; (4) the HTTP server stops;
 * (5) the store closes in app_release().
 */
#include "serve.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "clock_store.h"
#include "crypto.h"
#include "dispatcher.h"
#include "enqueue.h"
#include "google_api.h"
#include "messaging.h"
#include "ratelimit.h"
#include "http_client.h"
#include "http_server.h"
#include "idempotency.h"
#include "jwks.h"
#include "lease.h"
#include "local_keys.h"
#include "log.h"
#include "migrate.h"
#include "metrics.h"
#include "oidc.h"
#include "queues.h"
#include "redis_rest.h"
#include "router.h"
#include "scheduler.h"
#include "start_gate.h"
#include "store.h"
#include "timeutil.h"

/* How long a request that arrives while the service starts waits for it
 * (the database may take a while to answer a cold instance). */
#define START_GATE_WAIT_MS 30000

int app_token_key_load(const struct config *cfg, struct crypto_key **out, int *generated, char *err,
                       size_t errlen)
{
	*generated = 0;
	if (cfg->token_encryption_key)
		return crypto_key_from_base64(cfg->token_encryption_key, out, err, errlen);
	return crypto_key_load_or_generate("./data", out, generated, err, errlen);
}

static int load_token_key(struct app *app, char *err, size_t errlen)
{
	int generated, rc = app_token_key_load(app->cfg, &app->token_key, &generated, err, errlen);

	if (!rc && generated)
		log_msg(L_INFO, "generated a token encryption key in ./data (local mode)");
	return rc;
}

/* Local mode's signing key (SPEC §5.4), trusted by the verifier besides
 * OIDC_JWKS_URL. Cloud mode never loads or trusts it. */
static int load_local_keys(struct app *app, char *err, size_t errlen)
{
	int rc = local_keys_load_or_generate("./data", &app->local_keys, err, errlen);

	if (!rc && local_keys_trust(app->local_keys, app->jwks))
		rc = cj_errorf(err, errlen, CJ_EINTERNAL, "cannot trust the local signing key");
	return rc;
}

int app_open_database(const struct config *cfg, struct store **out, char *err, size_t errlen)
{
	char why[256] = "";
	int applied = 0, rc;

	*out = NULL;
	rc = store_open(cfg->database_url, out, why, sizeof(why));
	if (rc == CJ_EINVAL || rc == CJ_ECONFIG) {
		/* The URL itself is wrong: a configuration error (exit 2). */
		snprintf(err, errlen, "invalid DATABASE_URL: %s", why);
		return CJ_ECONFIG;
	}
	if (rc) {
		snprintf(err, errlen, "database: %s", why);
		return rc;
	}
	rc = migrate_run(*out, &applied, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "database migrations (%s): %s", store_url_redacted(*out),
		         why);
		goto fail;
	}
	(void)applied; /* migrate_run() logs what it applied */
	if (!cfg->cloud_mode) {
		rc = clock_store_load(*out, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "local clock offset: %s", why);
			goto fail;
		}
	}
	return CJ_OK;
fail:
	store_close(*out);
	*out = NULL;
	return rc;
}

int app_init(struct app *app, const struct config *cfg, int with_database, char *err, size_t errlen)
{
	char ferr[256] = "";
	int rc;

	memset(app, 0, sizeof(*app));
	app->cfg = cfg;
	rc = queues_load(cfg->config_dir, &app->queues, err, errlen);
	if (rc)
		goto fail;
	rc = queues_check_lease(app->queues, cfg->idempotency_lease_seconds, err, errlen);
	if (rc)
		goto fail;
	app->jwks = jwks_new(cfg->oidc_jwks_url);
	if (!app->jwks)
		goto nomem;
	app->oidc = oidc_new(app->jwks, &cfg->oidc_issuers, &cfg->oidc_audience);
	if (!app->oidc)
		goto nomem;
	if (with_database) {
		rc = load_token_key(app, err, errlen);
		if (!rc && !cfg->cloud_mode)
			rc = load_local_keys(app, err, errlen);
		if (!rc)
			rc = app_open_database(cfg, &app->store, err, errlen);
		if (rc)
			goto fail;
	}
	if (cfg->upstash_url) {
		app->redis = redis_rest_new(cfg->upstash_url, cfg->upstash_token, NULL);
		if (!app->redis)
			goto nomem;
		app->idem = idem_new_redis(app->redis);
	} else if (app->store) {
		/* Local mode: completed keys in the database (SPEC §5.4). */
		app->idem = idem_new_local(app->store);
	} else {
		app->idem = idem_new_memory();
	}
	if (!app->idem)
		goto nomem;
	{
		struct lease_keeper_options lo = {cfg->idempotency_lease_seconds,
		                                  cfg->idempotency_ttl_seconds,
		                                  !cfg->idempotency_fail_open};

		app->leases = lease_keeper_new(app->idem, &lo);
		if (!app->leases)
			goto nomem;
	}
	rc = enqueuer_new(cfg, app->queues, NULL, &app->enqueuer, err, errlen);
	if (rc)
		goto fail;
	rc = google_api_new(cfg, &app->google, err, errlen);
	if (rc)
		goto fail;
	app->messaging = messaging_new(cfg);
	app->ratelimit = app->redis ? ratelimit_new_redis(app->redis) : ratelimit_new_memory();
	if (!app->messaging || !app->ratelimit)
		goto nomem;
	app->svc.cfg = cfg;
	app->svc.google = app->google;
	app->svc.messaging = app->messaging;
	app->svc.ratelimit = app->ratelimit;
	app->svc.redis = app->redis;
	app->svc.store = app->store;
	app->svc.enqueuer = app->enqueuer;
	app->svc.token_key = app->token_key;
	/* The signing keys load in the background: the server listens at
	 * once, whatever the JWKS endpoint does (a lookup waits for the fetch,
	 * readiness says "down" until a set loaded). */
	if (jwks_start(app->jwks)) {
		rc = jwks_refresh(app->jwks, ferr, sizeof(ferr));
		if (rc)
			log_msg(L_WARNING, "token signing keys not loaded from %s yet: %s (%s)",
			        cfg->oidc_jwks_url, ferr[0] ? ferr : cj_strerror(rc),
			        app->local_keys ? "tokens of the local key still verify"
			                        : "jobs get 503 until they are");
	}
	return CJ_OK;
nomem:
	rc = CJ_ENOMEM;
	snprintf(err, errlen, "out of memory while starting");
fail:
	app_release(app);
	return rc;
}

void app_release(struct app *app)
{
	scheduler_free(app->scheduler);
	dispatcher_stop(app->dispatcher);
	enqueuer_free(app->enqueuer);
	google_api_free(app->google);
	messaging_free(app->messaging);
	ratelimit_free(app->ratelimit);
	lease_keeper_free(app->leases);
	idem_free(app->idem);
	store_close(app->store);
	crypto_key_free(app->token_key);
	local_keys_free(app->local_keys);
	redis_rest_free(app->redis);
	oidc_free(app->oidc);
	jwks_free(app->jwks);
	queues_free(app->queues);
	memset(app, 0, sizeof(*app));
}

/* The pushes' OIDC tokens: the local key, on real time (SPEC §5.4). */
static int mint_push_token(void *arg, const char *audience, const char *email, char **token)
{
	return local_keys_mint_cached(arg, audience, email, token);
}

/* Local mode's Cloud Tasks dispatcher, not started yet (see the top). */
static int emulator_new(struct app *app, char *err, size_t errlen)
{
	struct dispatcher_options o = {
	    app->store, app->queues, app->local_keys ? mint_push_token : NULL, app->local_keys, 0};
	char why[256] = "";
	int rc;

	rc = dispatcher_new(&o, &app->dispatcher, why, sizeof(why));
	if (rc)
		snprintf(err, errlen, "local Cloud Tasks: %s", why);
	return rc;
}

/* A connection is a descriptor (and a thread): lift the soft limit to the
 * hard one so that thousands of open connections are not refused at 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_msg(L_WARNING, "cannot raise the open-file limit: %s", strerror(errno));
	}
}

/* Local mode: the embedded Cloud Scheduler, started once the server listens
 * (its runs may target this very server) and stopped first at shutdown, so
 * no run starts against a server that stopped listening. */
static int start_scheduler(struct app *app, char *err, size_t errlen)
{
	struct scheduler_options so = {app->queues,
	                               app->store,
	                               app->local_keys,
	                               app->cfg->cloud_run_url,
	                               app->cfg->oidc_audience.n ? app->cfg->oidc_audience.items[0]
	                                                         : app->cfg->cloud_run_url,
	                               app->cfg->service_account_email};
	struct scheduler *sched = NULL;
	int rc = scheduler_start(&so, &sched, err, errlen);

	atomic_store(&app->scheduler, sched);
	return rc;
}

static int wait_signal(const sigset_t *set, long timeout_ms)
{
	struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	int sig = sigtimedwait(set, NULL, &ts);

	return sig < 0 ? 0 : sig;
}

static void drain(struct app *app, struct http_server *srv)
{
	int64_t start = time_mono_ms();
	int64_t grace = app->cfg->shutdown_grace_seconds * 1000;

	atomic_store(&app->draining, 1);
	http_server_quiesce(srv);
	log_msg(L_INFO, "shutting down: %ld requests in flight, %ld s grace",
	        http_server_active(srv), app->cfg->shutdown_grace_seconds);
	while (http_server_active(srv) > 0 && time_mono_ms() - start < grace) {
		struct timespec ts = {0, 20 * 1000000L};

		nanosleep(&ts, NULL);
	}
	if (http_server_active(srv) > 0) {
		log_msg(L_WARNING,
		        "shutdown grace over: cutting off %ld running jobs (claims "
		        "released, answered 503)",
		        metrics_inflight());
		job_abort_all();
		start = time_mono_ms();
		while (http_server_active(srv) > 0 && time_mono_ms() - start < 700) {
			struct timespec ts = {0, 10 * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
}

int serve_run(const struct config *cfg)
{
	char err[256] = "";
	struct http_server *srv;
	struct start_gate *gate;
	struct http_app happ;
	struct app app = {0};
	sigset_t set;
	int sig, rc, built;

	/* Bounded malloc arenas, not one per connection thread, so memory stays
	 * flat with 80+ concurrent requests; but not one per core either: with
	 * 64 connection threads on two arenas their locks were most of the ping
	 * path's futex calls. */
	mallopt(M_ARENA_MAX, 8);
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* Listen first: the service is built behind the gate while the first
	 * connections are already accepted (they wait at the gate). */
	gate = start_gate_new(START_GATE_WAIT_MS);
	if (!gate) {
		fprintf(stderr, "catchup-jobs: out of memory while starting\n");
		return 1;
	}
	happ = start_gate_app(gate);
	srv = http_server_start(cfg->bind_address, (int)cfg->port, (size_t)cfg->max_body_bytes,
	                        &happ, err, sizeof(err));
	if (!srv) {
		fprintf(stderr, "catchup-jobs: %s\n", err);
		start_gate_free(gate);
		return 1;
	}
	/* libcurl (and OpenSSL's configuration) after the listen: no request
	 * gets past the gate before this is done. */
	if (http_client_global_init()) {
		fprintf(stderr, "catchup-jobs: cannot initialise libcurl\n");
		start_gate_fail(gate);
		http_server_stop(srv);
		start_gate_free(gate);
		return 1;
	}
	rc = app_init(&app, cfg, 1, err, sizeof(err));
	built = rc == CJ_OK; /* app_init() releases what it built when it fails */
	if (!rc && !cfg->cloud_mode && emulator_new(&app, err, sizeof(err)))
		rc = CJ_EINTERNAL;
	if (!rc) {
		struct http_app inner = router_http_app(&app);

		start_gate_open(gate, &inner);
		if (app.dispatcher && dispatcher_start(app.dispatcher, err, sizeof(err)))
			rc = CJ_EINTERNAL;
	}
	if (rc) {
		fprintf(stderr, "catchup-jobs: %s\n", err);
		start_gate_fail(gate);
		http_server_stop(srv);
		start_gate_free(gate);
		if (built)
			app_release(&app);
		http_client_global_cleanup();
		return rc == CJ_ECONFIG ? 2 : 1;
	}
	log_msg(L_INFO, "catchup-jobs %s listening on %s:%ld (%s mode, idempotency %s)", CJ_VERSION,
	        cfg->bind_address, cfg->port, cfg->cloud_mode ? "cloud" : "local",
	        idem_mode(app.idem));
	if (!cfg->cloud_mode && start_scheduler(&app, err, sizeof(err))) {
		fprintf(stderr, "catchup-jobs: %s\n", err);
		http_server_stop(srv);
		start_gate_free(gate);
		app_release(&app);
		http_client_global_cleanup();
		return 1;
	}
	do {
		sig = wait_signal(&set, 1000);
	} while (!sig);
	log_msg(L_INFO, "received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	scheduler_stop(app.scheduler);
	dispatcher_quiesce(app.dispatcher);
	drain(&app, srv);
	dispatcher_stop(app.dispatcher);
	app.dispatcher = NULL;
	http_server_stop(srv);
	start_gate_free(gate);
	app_release(&app);
	http_client_global_cleanup();
	log_msg(L_INFO, "stopped");
	return 0;
}
