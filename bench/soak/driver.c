/*
 * driver.c - the scale-out soak's entry point (see soak.h for the parts).
 *
 *   soak_driver [--tasks N] [--kill-every S] [--backoff-factor F]
 *               [--concurrency C] [--rate R] [--dup-rate D] [--abort-after S]
 *               [--lease S] [--bin PATH] [--config-dir DIR] [--keep-logs DIR]
 *               [--seed N] [--proxy connect|off]
 *
 * Starts the cluster, seeds the data, delivers the plan while the
 * supervisor kills instances, then prints the figures and the checks and
 * exits 0 (PASS), 1 (FAIL), 2 (usage) or 77 (nginx missing: skipped). Every
 * process it started is ended on every way out (SIGINT/SIGTERM included);
 * bench/soak/run.sh adds a trap for a driver that dies itself.
 *
 * Defaults are the CI run (3,000 tasks, a kill every 5 s); bench/soak/run.sh
 * runs 100,000 tasks with a kill every 30 s.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "soak.h"

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: soak_driver [--tasks N] [--kill-every S] [--backoff-factor F] "
	    "[--concurrency C] [--rate R] [--dup-rate D] [--abort-after S] [--lease S] "
	    "[--bin PATH] [--config-dir DIR] [--keep-logs DIR] [--seed N] [--proxy connect|off]\n");
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse(int argc, char **argv, struct soak_opts *o, char *cfg, size_t cfglen)
{
	const char *root = getenv("CJ_SOURCE_ROOT") ? getenv("CJ_SOURCE_ROOT") : ".";

	o->tasks = 3000;
	o->kill_every_s = 5;
	o->backoff_factor = 0.25;
	o->concurrency = 64;
	o->dup_rate = 0.05;
	o->abort_s = 240;
	o->lease_s = 15;
	o->bin = getenv("CJ_BIN") ? getenv("CJ_BIN") : "./build/catchup-jobs";
	snprintf(cfg, cfglen, "%s/config", root);
	o->config_dir = cfg;
	o->seed = 12;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		double d = 0;
		int bad = !v;

		if (bad) {
			usage();
			return -1;
		}
		if (!strcmp(a, "--tasks") && !(bad = num(v, 10, 10000000, &d)))
			o->tasks = (long)d;
		else if (!strcmp(a, "--kill-every") && !(bad = num(v, 0, 86400, &d)))
			o->kill_every_s = d;
		else if (!strcmp(a, "--backoff-factor") && !(bad = num(v, 0.001, 1, &d)))
			o->backoff_factor = d;
		else if (!strcmp(a, "--concurrency") && !(bad = num(v, 1, 4096, &d)))
			o->concurrency = (int)d;
		else if (!strcmp(a, "--rate") && !(bad = num(v, 0, 1000000, &d)))
			o->rate = d;
		else if (!strcmp(a, "--dup-rate") && !(bad = num(v, 0, 1, &d)))
			o->dup_rate = d;
		else if (!strcmp(a, "--abort-after") && !(bad = num(v, 1, 86400, &d)))
			o->abort_s = (long)d;
		else if (!strcmp(a, "--lease") && !(bad = num(v, 15, 600, &d)))
			o->lease_s = (long)d;
		else if (!strcmp(a, "--seed") && !(bad = num(v, 0, 4e9, &d)))
			o->seed = (unsigned)d;
		else if (!strcmp(a, "--bin"))
			o->bin = v;
		else if (!strcmp(a, "--config-dir"))
			o->config_dir = v;
		else if (!strcmp(a, "--keep-logs"))
			o->keep_dir = v;
		else if (!strcmp(a, "--proxy") && (!strcmp(v, "off") || !strcmp(v, "connect")))
			o->proxy_off = !strcmp(v, "off");
		else
			bad = 1;
		if (bad) {
			fprintf(stderr, "soak_driver: bad %s %s\n", a, v);
			usage();
			return -1;
		}
		i++;
	}
	return 0;
}

/* SPEC §8: a claim left by a killed instance must expire before a task's
 * last attempt, so the scaled retry window must still be >= 2 x lease. */
static int check_windows(const struct soak_plan *p, const struct soak_opts *o)
{
	for (int q = 0; q < Q_N; q++) {
		const struct queue_config *qc = p->queues[q].qc;
		double w = 0;

		for (int k = 1; k < qc->max_attempts; k++)
			w += deliver_backoff(qc, k);
		if (w * o->backoff_factor < 2.0 * (double)o->lease_s) {
			fprintf(stderr,
			        "soak_driver: queue %s: retry window %.0f s x backoff factor %.3g "
			        "= %.1f s is under 2 x lease (%ld s): raise --backoff-factor\n",
			        p->queues[q].name, w, o->backoff_factor, w * o->backoff_factor,
			        2 * o->lease_s);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct soak_opts o;
	struct soak_plan plan;
	struct cluster c;
	struct deliver_stats st;
	struct soak_kills kills;
	struct supervisor *sup = NULL;
	struct redis_counts *before = NULL, *after = NULL;
	char cfg[1024];
	int rc = 1;

	memset(&st, 0, sizeof(st));
	memset(&kills, 0, sizeof(kills));
	memset(&plan, 0, sizeof(plan));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse(argc, argv, &o, cfg, sizeof(cfg)))
		return 2;
	if (access("/usr/sbin/nginx", X_OK) && access("/usr/bin/nginx", X_OK) &&
	    access("/usr/local/sbin/nginx", X_OK)) {
		fprintf(stderr, "soak: nginx is not installed (apt-get install nginx): skipped\n");
		return 77;
	}
	if (access(o.bin, X_OK)) {
		fprintf(stderr, "soak: no executable %s (--bin or CJ_BIN)\n", o.bin);
		return 2;
	}
	cluster_signals();
	/* The product's modules used here (store, queues) log to stderr. */
	log_init(L_WARNING, "soak");
	log_set_fd(2);
	if (seed_plan(&plan, &o)) {
		seed_plan_free(&plan);
		return 2;
	}
	if (check_windows(&plan, &o)) {
		seed_plan_free(&plan);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fprintf(stderr,
	        "soak: starting redis, the Upstash server, PostgreSQL, the fakes, %d "
	        "instances and nginx\n",
	        SOAK_INSTANCES);
	if (cluster_start(&c, &o) || seed_database(&plan, c.db_url))
		goto out;
	before = redis_counts_take(c.redis.redis_port);
	fprintf(stderr, "soak: delivering %zu tasks through %s\n", plan.n, c.base);
	sup = supervisor_start(&c, o.kill_every_s);
	if (!sup)
		goto out;
	if (deliver_run(&plan, &c, &o, &st))
		fprintf(stderr, "soak: the delivery loop failed (out of memory?)\n");
	supervisor_stop(sup, &kills);
	sup = NULL;
	after = redis_counts_take(c.redis.redis_port);
	rc = verify_run(&plan, &c, &o, &st, &kills, before, after) ? 1 : 0;
	if (soak_interrupted)
		rc = 1;
out:
	if (sup)
		supervisor_stop(sup, &kills);
	if (cluster_stop(&c, o.keep_dir) && rc == 0) {
		printf("soak: FAIL (an instance did not shut down cleanly)\n");
		rc = 1;
	}
	redis_counts_free(before);
	redis_counts_free(after);
	deliver_stats_free(&st);
	seed_plan_free(&plan);
	curl_global_cleanup();
	return rc;
}
