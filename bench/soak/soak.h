/*
 * soak.h - the scale-out soak (bench/soak/): what its parts share.
 *
 * Three catchup-jobs instances in cloud mode share one Upstash test server
 * (over a real redis-server) and one PostgreSQL, behind nginx round-robin on
 * loopback. A driver delivers tasks to nginx as Cloud Tasks would (named
 * tasks in queues, retries on each queue's backoff, duplicate deliveries)
 * while a supervisor SIGKILLs and restarts one instance at a time. At the
 * end the soak checks that no task was lost, no effect repeated and every
 * failure left a dead letter.
 *
 * The parts, one file each: cluster.c (the processes), seed.c (the data
 * and the task plan), deliver.c (the Cloud Tasks stand-in), supervisor.c
 * (the kills), verify.c (the checks and figures), driver.c (main).
 *
 * Threads: the delivery loop runs on the main thread; the supervisor on its
 * own. They share only struct cluster's instance table (its lock) and the
 * atomic flags below.
 */
#ifndef CJ_SOAK_H
#define CJ_SOAK_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fixtures.h"
#include "jwks_server.h"
#include "mfake.h"
#include "proc.h"
#include "queues.h"
#include "tokens.h"

#define SOAK_INSTANCES 3
#define SOAK_AUDIENCE "https://catchup-jobs-soak.a.run.app"
#define SOAK_TASKS_EMAIL "tasks@soak-project.iam.gserviceaccount.com"

/* What a run is asked to do (driver.c fills it from the command line). */
struct soak_opts {
	long tasks; /* tasks to deliver */
	double kill_every_s; /* a SIGKILL every so many seconds; 0: none */
	double backoff_factor; /* every queue backoff is multiplied by it */
	int concurrency; /* deliveries in flight at most */
	double rate; /* first deliveries per second; 0: as fast as they go */
	double dup_rate; /* share of deliveries sent twice */
	long abort_s; /* the whole delivery phase is cut off after this */
	long lease_s; /* IDEMPOTENCY_LEASE_SECONDS of the instances */
	const char *bin; /* the catchup-jobs binary */
	const char *config_dir; /* queues.json */
	const char *keep_dir; /* copy logs here at the end (may be NULL) */
	unsigned seed; /* of the pseudo-random choices */
	int proxy_off; /* nginx: proxy_next_upstream off (else connect failures move on) */
};

/* What a task does, and so what its end must look like. */
enum task_kind {
	KIND_PING, /* completes */
	KIND_PING_PERMANENT, /* 200 failed, one dead letter */
	KIND_PING_TRANSIENT, /* 503 every time, a dead letter on the last attempt */
	KIND_HEALTH, /* token-health-reminder: one message per user */
	KIND_BATCH, /* batch-notifications: one message per user */
	KIND_N
};

enum task_state { TASK_WAITING, TASK_INFLIGHT, TASK_DONE, TASK_EXHAUSTED };

/* The job's own word in a 2xx answer. */
enum task_outcome { OUT_NONE, OUT_COMPLETED, OUT_DUPLICATE, OUT_FAILED, OUT_OTHER };

struct soak_task {
	char id[32]; /* the short task id (X-CloudTasks-TaskName) */
	char body[64]; /* the payload */
	unsigned char kind, queue, state, outcome;
	int retry; /* attempts made: the next X-CloudTasks-TaskRetryCount */
	int answered; /* attempts the handler answered (execution count) */
	int prev_status; /* the last attempt's HTTP status, 0 for none */
	int64_t first_ms, done_ms; /* first dispatch, end (monotonic) */
	double eta; /* the attempt's schedule time (X-CloudTasks-TaskETA) */
};

/* The queues the plan uses, with their retry configuration. */
struct soak_queue {
	const char *name;
	const struct queue_config *qc; /* from config/queues.json */
};

enum { Q_PING, Q_HEALTH, Q_BATCH, Q_N };

struct soak_plan {
	struct soak_task *tasks;
	size_t n;
	long health_users, batch_users; /* seeded users of each effect job */
	long per_kind[KIND_N];
	struct soak_queue queues[Q_N];
	struct queues *qs; /* owns the queue configurations */
};

/* One catchup-jobs instance; generation counts its restarts. */
struct soak_instance {
	struct proc proc;
	int port, generation;
};

struct cluster {
	char *dir; /* work directory: configuration, logs */
	struct redis_fixture redis;
	char *db_url;
	struct mfake mfake;
	struct jwks_server *jwks;
	struct test_key *key;
	char *token; /* a push token of Cloud Tasks' service account */
	char *env[48]; /* the instances' environment (NULL-terminated) */
	char env_buf[24][600];
	const char *bin;
	pthread_mutex_t lock; /* guards inst[].proc and the pid file */
	struct soak_instance inst[SOAK_INSTANCES];
	struct proc nginx;
	int nginx_port;
	char base[64]; /* http://127.0.0.1:NGINX_PORT */
	int pg_started, redis_started, mfake_started;
	int proxy_off;
};

/* Kills and restarts done by the supervisor. */
struct soak_kills {
	long kills, restart_failures;
	int64_t restart_ms_max, restart_ms_sum; /* SIGKILL to /health/live 200 */
};

/* Figures of the delivery phase. */
struct deliver_stats {
	long deliveries, duplicates, duplicates_concurrent, no_answer;
	long status[600]; /* answers by HTTP status (0: none) */
	long outcomes[5]; /* 2xx answers of primaries by enum task_outcome */
	double *latency_ms; /* one per answered delivery */
	size_t nlatency, latency_cap;
	int64_t start_ms, end_ms; /* first dispatch, last task settled */
	int aborted;
};

/* Set by the signal handler: stop delivering and clean up. */
extern volatile sig_atomic_t soak_interrupted;

/* cluster.c */
int cluster_start(struct cluster *c, const struct soak_opts *o);
/* SIGKILLs instance i, waits for it, starts it again on its port and waits
 * until it answers /health/live. *down_ms: kill to live. 0 or -1. */
int cluster_kill_restart(struct cluster *c, int i, int64_t *down_ms);
/* Stops every process started and removes the work directory (after
 * copying logs to keep_dir when set). Safe to call twice. Returns how many
 * instances did not exit 0 on SIGTERM (their logs go to stderr). */
int cluster_stop(struct cluster *c, const char *keep_dir);
/* Lines of severity ERROR in the instances' logs so far. */
long cluster_error_lines(struct cluster *c);
/* Installs handlers: SIGINT/SIGTERM set soak_interrupted; fatal signals
 * kill every child process group first. */
void cluster_signals(void);

/* seed.c */
int seed_plan(struct soak_plan *p, const struct soak_opts *o);
int seed_database(const struct soak_plan *p, const char *db_url);
void seed_plan_free(struct soak_plan *p);
const char *seed_kind_name(int kind);

/* deliver.c */
int deliver_run(struct soak_plan *p, struct cluster *c, const struct soak_opts *o,
                struct deliver_stats *st);
void deliver_stats_free(struct deliver_stats *st);
/* Retry k's wait in seconds on queue qc (k >= 1), Cloud Tasks' formula. */
double deliver_backoff(const struct queue_config *qc, int k);

/* supervisor.c */
struct supervisor;
struct supervisor *supervisor_start(struct cluster *c, double every_s);
/* Stops the thread and returns what it did. */
void supervisor_stop(struct supervisor *s, struct soak_kills *out);

/* verify.c: 0 when the run passed. Prints the report on stdout. */
struct redis_counts;
int verify_run(const struct soak_plan *p, struct cluster *c, const struct soak_opts *o,
               const struct deliver_stats *st, const struct soak_kills *k,
               const struct redis_counts *before, const struct redis_counts *after);
/* Redis INFO commandstats, summed and by command. */
struct redis_counts *redis_counts_take(int redis_port);
void redis_counts_free(struct redis_counts *rc);

#endif
