/*
 * cluster.c - the processes of the soak: redis-server behind the Upstash
 * test server, a PostgreSQL cluster, the messaging fake, a JWKS server (in
 * this process), three catchup-jobs instances in cloud mode and nginx in
 * front of them, every one on an ephemeral loopback port.
 *
 * nginx runs as the current user from a prefix in the work directory
 * (configuration, pid, logs, temp paths), round-robin over the instances.
 * A request that reached an instance is never replayed on another: a POST
 * whose instance died is answered 502, so the driver sees what Cloud Tasks
 * would see. By default (--proxy connect) nginx passes a request it could
 * not even connect with (the instance is down) to the next instance, as
 * Cloud Run's front end routes around a stopped instance: nginx's
 * `proxy_next_upstream error timeout` without `non_idempotent` moves a POST
 * on only while nothing of it was sent. --proxy off is
 * `proxy_next_upstream off`: a connection refused is a 502 too.
 *
 * Every child's process group is listed in WORK/pids while it runs, so that
 * bench/soak/run.sh's trap can end what a crashed driver left; the fatal
 * signal handler here does the same from inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "httpc.h"
#include "pgtest.h"
#include "random.h"
#include "soak.h"
#include "timeutil.h"

#define LIVE_WAIT_MS 30000
#define MAX_CHILDREN 16

volatile sig_atomic_t soak_interrupted;

/* Process groups to kill from a fatal signal handler; written under
 * cluster.lock (or before any thread starts), read by the handler. */
static volatile pid_t children[MAX_CHILDREN];
static char pid_file[512];

static void children_write(void)
{
	FILE *f;

	if (!pid_file[0])
		return;
	f = fopen(pid_file, "w");
	if (!f)
		return;
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			fprintf(f, "%d\n", (int)children[i]);
	fclose(f);
}

static void child_add(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] <= 0) {
			children[i] = pid;
			break;
		}
	children_write();
}

static void child_remove(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
	children_write();
}

static void on_stop_signal(int sig)
{
	(void)sig;
	soak_interrupted = 1;
}

static void on_fatal_signal(int sig)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0) {
			kill(-children[i], SIGKILL);
			kill(children[i], SIGKILL);
		}
	signal(sig, SIG_DFL);
	raise(sig);
}

void cluster_signals(void)
{
	struct sigaction sa;
	int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_fatal_signal;
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f)
		return -1;
	rc = fputs(text, f) < 0 ? -1 : 0;
	if (fclose(f))
		rc = -1;
	return rc;
}

/* The PostgreSQL postmaster's pid, from its socket lock file. */
static pid_t postmaster_pid(void)
{
	char path[400];
	FILE *f;
	long pid = 0;

	if (!pgtest_socket_dir())
		return 0;
	snprintf(path, sizeof(path), "%s/.s.PGSQL.%d.lock", pgtest_socket_dir(), pgtest_port());
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

static const char *find_nginx(void)
{
	static const char *const where[] = {"/usr/sbin/nginx", "/usr/bin/nginx",
	                                    "/usr/local/sbin/nginx", NULL};

	for (int i = 0; where[i]; i++)
		if (!access(where[i], X_OK))
			return where[i];
	return NULL;
}

static int nginx_config(struct cluster *c)
{
	char path[600], temp[600], user[128] = "";
	char *conf = NULL;
	int rc, n;

	snprintf(temp, sizeof(temp), "%s/nginx", c->dir);
	if (mkdir(temp, 0700) && errno != EEXIST)
		return -1;
	if (geteuid() == 0) {
		/* As root nginx would switch its workers to "nobody": keep the
		 * current user, as a user-run nginx does. */
		struct passwd *pw = getpwuid(geteuid());

		snprintf(user, sizeof(user), "user %s;\n", pw ? pw->pw_name : "root");
	}
	n = asprintf(&conf,
	             "# nginx in front of the soak's instances (bench/soak/cluster.c).\n"
	             "%s"
	             "daemon off;\n"
	             "worker_processes 1;\n"
	             "pid %s/nginx.pid;\n"
	             "error_log %s/error.log warn;\n"
	             "events { worker_connections 4096; }\n"
	             "http {\n"
	             "  access_log off;\n"
	             "  client_body_temp_path %s/body;\n"
	             "  proxy_temp_path %s/proxy;\n"
	             "  fastcgi_temp_path %s/fastcgi;\n"
	             "  uwsgi_temp_path %s/uwsgi;\n"
	             "  scgi_temp_path %s/scgi;\n"
	             "  upstream catchup_jobs {\n"
	             "    server 127.0.0.1:%d max_fails=1 fail_timeout=1s;\n"
	             "    server 127.0.0.1:%d max_fails=1 fail_timeout=1s;\n"
	             "    server 127.0.0.1:%d max_fails=1 fail_timeout=1s;\n"
	             "    keepalive 64;\n"
	             "  }\n"
	             "  server {\n"
	             "    listen 127.0.0.1:%d;\n"
	             "    client_max_body_size 2m;\n"
	             "    location / {\n"
	             "      proxy_pass http://catchup_jobs;\n"
	             "      proxy_http_version 1.1;\n"
	             "      proxy_set_header Connection \"\";\n"
	             "      proxy_next_upstream %s;\n"
	             "      proxy_connect_timeout 5s;\n"
	             "      proxy_send_timeout 1800s;\n"
	             "      proxy_read_timeout 1800s;\n"
	             "    }\n"
	             "  }\n"
	             "}\n",
	             user, temp, temp, temp, temp, temp, temp, temp, c->inst[0].port,
	             c->inst[1].port, c->inst[2].port, c->nginx_port,
	             c->proxy_off ? "off" : "error timeout");
	if (n < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/nginx.conf", temp);
	rc = write_file(path, conf);
	free(conf);
	return rc;
}

static int start_nginx(struct cluster *c)
{
	const char *exe = find_nginx();
	char prefix[600], conf[600], elog[600], url[96];

	if (!exe) {
		fprintf(stderr, "soak: nginx not found (apt-get install nginx)\n");
		return -1;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		char *argv[] = {(char *)exe, "-p", prefix, "-c", conf, "-e", elog, NULL};

		c->nginx_port = free_port();
		if (nginx_config(c))
			return -1;
		snprintf(prefix, sizeof(prefix), "%s/nginx/", c->dir);
		snprintf(conf, sizeof(conf), "%s/nginx/nginx.conf", c->dir);
		snprintf(elog, sizeof(elog), "%s/nginx/error.log", c->dir);
		if (proc_start(&c->nginx, argv, NULL, 0))
			return -1;
		child_add(c->nginx.pid);
		snprintf(c->base, sizeof(c->base), "http://127.0.0.1:%d", c->nginx_port);
		snprintf(url, sizeof(url), "%s/health/live", c->base);
		if (!wait_http(url, 200, LIVE_WAIT_MS))
			return 0;
		child_remove(c->nginx.pid);
		proc_stop(&c->nginx);
	}
	fprintf(stderr, "soak: nginx did not start; see %s/nginx/error.log\n", c->dir);
	return -1;
}

/* The instances' environment: cloud mode against the shared fixtures. */
static void build_env(struct cluster *c, const struct soak_opts *o, const char *enc_key)
{
	const char *fmt[][2] = {
	    {"USE_CLOUD_TASKS", "true"},
	    {"GCP_PROJECT_ID", "soak-project"},
	    {"GCP_REGION", "europe-west1"},
	    {"CLOUD_RUN_URL", SOAK_AUDIENCE},
	    {"SERVICE_ACCOUNT_EMAIL", SOAK_TASKS_EMAIL},
	    /* Nothing in the mix creates tasks or asks the metadata server: a
	     * closed loopback port makes any such call fail visibly. */
	    {"CLOUD_TASKS_API_URL", "http://127.0.0.1:9"},
	    {"GCE_METADATA_HOST", "127.0.0.1:9"},
	    {"LOG_LEVEL", "warning"},
	    {"EMAIL_FROM", "catchup@soak.test"},
	    {"TWILIO_ACCOUNT_SID", MFAKE_TWILIO_SID},
	    {"TWILIO_AUTH_TOKEN", MFAKE_TWILIO_TOKEN},
	    {"TWILIO_FROM_NUMBER", "+15550000000"},
	    {"SENDGRID_API_KEY", MFAKE_SENDGRID_KEY},
	};
	size_t n = 0, i;

	for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++)
		snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "%s=%s", fmt[i][0], fmt[i][1]);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "OIDC_JWKS_URL=%s",
	         jwks_server_url(c->jwks));
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "UPSTASH_REDIS_REST_URL=%s", c->redis.url);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "UPSTASH_REDIS_REST_TOKEN=%s",
	         c->redis.token);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "DATABASE_URL=%s", c->db_url);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "TOKEN_ENCRYPTION_KEY=%s", enc_key);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "CONFIG_DIR=%s", o->config_dir);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "TWILIO_API_URL=%s", c->mfake.url);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "SENDGRID_API_URL=%s", c->mfake.url);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "IDEMPOTENCY_LEASE_SECONDS=%ld",
	         o->lease_s);
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "BIND_ADDRESS=127.0.0.1");
	snprintf(c->env_buf[n++], sizeof(c->env_buf[0]), "PATH=%s",
	         getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	for (i = 0; i < n; i++)
		c->env[i] = c->env_buf[i];
	c->env[n] = NULL;
	/* Sanitizer settings reach the instances of a sanitizer build. */
	for (const char *const *v =
	         (const char *const[]){"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL};
	     *v; v++)
		if (getenv(*v) && n < sizeof(c->env_buf) / sizeof(c->env_buf[0])) {
			snprintf(c->env_buf[n], sizeof(c->env_buf[0]), "%s=%s", *v, getenv(*v));
			c->env[n] = c->env_buf[n];
			c->env[++n] = NULL;
		}
}

/* Starts instance i on its port (inst[i].port) and waits for /health/live. */
static int instance_launch(struct cluster *c, int i)
{
	struct soak_instance *in = &c->inst[i];
	char port_env[32], url[96], *argv[] = {(char *)c->bin, "serve", NULL};
	char *env[50];
	int n = 0;

	snprintf(port_env, sizeof(port_env), "PORT=%d", in->port);
	env[n++] = port_env;
	for (int k = 0; c->env[k] && n < 49; k++)
		env[n++] = c->env[k];
	env[n] = NULL;
	if (proc_start(&in->proc, argv, env, 1))
		return -1;
	child_add(in->proc.pid);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health/live", in->port);
	if (wait_http(url, 200, LIVE_WAIT_MS)) {
		fprintf(stderr, "soak: instance %d did not answer /health/live; log %s\n", i,
		        in->proc.log_path);
		return -1;
	}
	return 0;
}

/* Moves an instance's log into the work directory, named by generation. */
static void instance_keep_log(struct cluster *c, int i)
{
	char to[700];

	snprintf(to, sizeof(to), "%s/instance-%d.%d.log", c->dir, i, c->inst[i].generation);
	if (rename(c->inst[i].proc.log_path, to))
		unlink(c->inst[i].proc.log_path);
}

int cluster_kill_restart(struct cluster *c, int i, int64_t *down_ms)
{
	int64_t t0 = time_mono_ms();
	int rc;

	pthread_mutex_lock(&c->lock);
	if (c->inst[i].proc.pid <= 0) {
		pthread_mutex_unlock(&c->lock);
		return -1;
	}
	proc_signal(&c->inst[i].proc, SIGKILL);
	proc_wait(&c->inst[i].proc, 10000);
	child_remove(c->inst[i].proc.pid);
	c->inst[i].proc.pid = 0;
	instance_keep_log(c, i);
	c->inst[i].generation++;
	rc = instance_launch(c, i);
	pthread_mutex_unlock(&c->lock);
	*down_ms = time_mono_ms() - t0;
	return rc;
}

static int ready_all(struct cluster *c)
{
	for (int i = 0; i < SOAK_INSTANCES; i++) {
		char url[96];

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/health/ready", c->inst[i].port);
		if (wait_http(url, 200, LIVE_WAIT_MS)) {
			fprintf(stderr, "soak: instance %d is not ready; log %s\n", i,
			        c->inst[i].proc.log_path);
			return -1;
		}
	}
	return 0;
}

static int start_instances(struct cluster *c, const struct soak_opts *o)
{
	unsigned char raw[32];
	char *enc_key;

	/* TOKEN_ENCRYPTION_KEY: 32 random bytes in base64, for this run only. */
	if (random_bytes(raw, sizeof(raw)))
		return -1;
	enc_key = b64_encode(raw, sizeof(raw));
	if (!enc_key)
		return -1;
	build_env(c, o, enc_key);
	free(enc_key);
	for (int i = 0; i < SOAK_INSTANCES; i++) {
		c->inst[i].port = free_port();
		if (c->inst[i].port <= 0 || instance_launch(c, i))
			return -1;
	}
	return ready_all(c);
}

static int start_fixtures(struct cluster *c)
{
	char *jwks;

	if (redis_fixture_start(&c->redis)) {
		fprintf(stderr, "soak: redis-server or the Upstash test server did not start\n");
		return -1;
	}
	c->redis_started = 1;
	child_add(c->redis.redis.pid);
	child_add(c->redis.upstash.pid);
	if (pgtest_start()) {
		fprintf(stderr, "soak: PostgreSQL did not start\n");
		return -1;
	}
	c->pg_started = 1;
	if (postmaster_pid() > 0)
		child_add(postmaster_pid());
	c->db_url = pgtest_new_database();
	if (!c->db_url)
		return -1;
	if (mfake_start(&c->mfake)) {
		fprintf(stderr, "soak: the messaging fake did not start\n");
		return -1;
	}
	c->mfake_started = 1;
	child_add(c->mfake.proc.pid);
	c->key = test_key_new("soak-key", 2048);
	c->jwks = jwks_server_start();
	if (!c->key || !c->jwks)
		return -1;
	jwks = test_jwks_json((const struct test_key *const *)&c->key, 1);
	if (!jwks)
		return -1;
	jwks_server_set(c->jwks, jwks, 3600, 200);
	free(jwks);
	{
		int64_t now = time_wall_s();

		/* Valid for 6 hours: longer than any run. */
		json_t *claims =
		    test_claims_google(SOAK_AUDIENCE, SOAK_TASKS_EMAIL, now, now + 6 * 3600);

		c->token = claims ? test_token_mint(c->key, NULL, claims) : NULL;
		json_decref(claims);
	}
	return c->token ? 0 : -1;
}

int cluster_start(struct cluster *c, const struct soak_opts *o)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->bin = o->bin;
	c->proxy_off = o->proxy_off;
	c->dir = make_temp_dir();
	if (!c->dir)
		return -1;
	snprintf(pid_file, sizeof(pid_file), "%s/pids", c->dir);
	if (getenv("SOAK_PID_FILE"))
		snprintf(pid_file, sizeof(pid_file), "%s", getenv("SOAK_PID_FILE"));
	if (start_fixtures(c))
		return -1;
	/* Migrations once, before the instances race for them. */
	{
		char *argv[] = {(char *)c->bin, "migrate", NULL};
		char env_db[600], *env[] = {env_db, "USE_CLOUD_TASKS=false", NULL};
		char *out = NULL, *err = NULL;
		int st;

		snprintf(env_db, sizeof(env_db), "DATABASE_URL=%s", c->db_url);
		st = proc_run(argv, env, 0, 60000, &out, &err);
		if (st) {
			fprintf(stderr, "soak: catchup-jobs migrate failed (%d): %s%s\n", st,
			        out ? out : "", err ? err : "");
			free(out);
			free(err);
			return -1;
		}
		free(out);
		free(err);
	}
	if (start_instances(c, o))
		return -1;
	return start_nginx(c);
}

static long count_errors(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	long n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "\"severity\":\"ERROR\""))
			n++;
	fclose(f);
	return n;
}

long cluster_error_lines(struct cluster *c)
{
	char pattern[600];
	long n = 0;
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/instance-*.log", c->dir);
	if (!glob(pattern, 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			n += count_errors(g.gl_pathv[i]);
		globfree(&g);
	}
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < SOAK_INSTANCES; i++)
		if (c->inst[i].proc.pid > 0)
			n += count_errors(c->inst[i].proc.log_path);
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void copy_logs(struct cluster *c, const char *keep_dir)
{
	char cmd[1600];
	int rc;

	if (mkdir(keep_dir, 0755) && errno != EEXIST)
		return;
	snprintf(cmd, sizeof(cmd), "cp %s/instance-*.log %s/nginx/error.log %s/ 2>/dev/null",
	         c->dir, c->dir, keep_dir);
	rc = system(cmd);
	(void)rc;
}

int cluster_stop(struct cluster *c, const char *keep_dir)
{
	int unclean = 0;

	if (c->nginx.pid > 0) {
		pid_t pid = c->nginx.pid;

		proc_stop(&c->nginx);
		child_remove(pid);
	}
	for (int i = 0; i < SOAK_INSTANCES; i++) {
		if (c->inst[i].proc.pid > 0) {
			pid_t pid = c->inst[i].proc.pid;

			proc_signal(&c->inst[i].proc, SIGTERM);
			if (proc_wait(&c->inst[i].proc, 15000)) {
				proc_signal(&c->inst[i].proc, SIGKILL);
				proc_wait(&c->inst[i].proc, 5000);
			}
			/* A sanitizer's report, a leak or a hang at shutdown. */
			if (c->inst[i].proc.exit_status != 0) {
				char *log = proc_output(&c->inst[i].proc);

				fprintf(stderr,
				        "soak: instance %d exited %d on SIGTERM; its log:\n%s\n", i,
				        c->inst[i].proc.exit_status, log ? log : "");
				free(log);
				unclean++;
			}
			child_remove(pid);
			instance_keep_log(c, i);
		}
	}
	if (c->dir && keep_dir)
		copy_logs(c, keep_dir);
	if (c->mfake_started) {
		child_remove(c->mfake.proc.pid);
		mfake_stop(&c->mfake);
		c->mfake_started = 0;
	}
	if (c->redis_started) {
		child_remove(c->redis.redis.pid);
		child_remove(c->redis.upstash.pid);
		redis_fixture_stop(&c->redis);
		c->redis_started = 0;
	}
	if (c->pg_started) {
		pid_t pm = postmaster_pid();

		pgtest_stop();
		if (pm > 0)
			child_remove(pm);
		c->pg_started = 0;
	}
	if (c->jwks) {
		jwks_server_stop(c->jwks);
		c->jwks = NULL;
	}
	test_key_free(c->key);
	c->key = NULL;
	free(c->token);
	c->token = NULL;
	free(c->db_url);
	c->db_url = NULL;
	if (c->dir) {
		remove_tree(c->dir);
		free(c->dir);
		c->dir = NULL;
	}
	pid_file[0] = '\0';
	return unclean;
}
