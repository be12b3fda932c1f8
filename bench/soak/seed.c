/*
 * seed.c - what the soak delivers and the data its effect jobs need.
 *
 * The plan: mostly `ping` tasks (1 % {"fail":"permanent"}, 0.5 %
 * {"fail":"transient","sleepMs":250}: a job that runs a quarter of a second
 * and fails every attempt, so that some last attempts are running when an
 * instance is killed), plus two jobs with outbox effects against the
 * messaging fake, each 4 % of the tasks, two tasks per user:
 *   token-health-reminder {userId}: users whose Google account is revoked,
 *     one reminder each (outbox key token-health:{user}:0);
 *   batch-notifications {userId}: users with three pending suggestions, one
 *     batch each listing all three (outbox key batch:{user}:{hash}).
 * Half the users' two tasks are delivered back to back, so they run at the
 * same time on different instances under different task names (only the
 * outbox keeps them from sending twice); the rest are spread at random.
 * Users are e-mail or SMS on alternate rows, so both providers (and the SMS
 * limit in Redis) are in play. Recipients name their user: h{N}@soak.test,
 * +15551{N:06}, b{N}@soak.test, +15552{N:06}; contacts are "Contact b{N}-{k}".
 *
 * The data is written straight into PostgreSQL (as CatchUp's web app would),
 * with set-based INSERTs after `catchup-jobs migrate`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"
#include "store.h"
#include "timeutil.h"

#define SUGGESTIONS_PER_USER 3

static const char *const KIND_NAMES[KIND_N] = {"ping", "ping-permanent", "ping-transient",
                                               "token-health-reminder", "batch-notifications"};

const char *seed_kind_name(int kind)
{
	return kind >= 0 && kind < KIND_N ? KIND_NAMES[kind] : "?";
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: reproducible plans from --seed. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void task_set(struct soak_task *t, int kind, long n, long user)
{
	static const char *const prefix[KIND_N] = {"ping", "pperm", "ptrans", "health", "batch"};
	static const unsigned char queue[KIND_N] = {Q_PING, Q_PING, Q_PING, Q_HEALTH, Q_BATCH};

	memset(t, 0, sizeof(*t));
	t->kind = (unsigned char)kind;
	t->queue = queue[kind];
	snprintf(t->id, sizeof(t->id), "%s-%06ld", prefix[kind], n);
	switch (kind) {
	case KIND_PING:
		snprintf(t->body, sizeof(t->body), "{\"n\":%ld}", n);
		break;
	case KIND_PING_PERMANENT:
		snprintf(t->body, sizeof(t->body), "{\"fail\":\"permanent\",\"n\":%ld}", n);
		break;
	case KIND_PING_TRANSIENT:
		/* Each attempt runs for a while, so that kills land in some. */
		snprintf(t->body, sizeof(t->body),
		         "{\"fail\":\"transient\",\"sleepMs\":250,\"n\":%ld}", n);
		break;
	case KIND_HEALTH:
		snprintf(t->body, sizeof(t->body), "{\"userId\":\"soak-h-%05ld\"}", user);
		break;
	default:
		snprintf(t->body, sizeof(t->body), "{\"userId\":\"soak-b-%05ld\"}", user);
		break;
	}
}

/* A unit is one task, or a user's two tasks delivered back to back. */
struct unit {
	size_t first, count;
};

static int load_queues(struct soak_plan *p, const struct soak_opts *o)
{
	static const char *const names[Q_N] = {"ping-queue", "token-health-reminder-queue",
	                                       "batch-notifications-queue"};
	char err[512] = "";

	if (queues_load(o->config_dir, &p->qs, err, sizeof(err))) {
		fprintf(stderr, "soak: %s\n", err);
		return -1;
	}
	for (int q = 0; q < Q_N; q++) {
		p->queues[q].name = names[q];
		p->queues[q].qc = queues_find(p->qs, names[q]);
		if (!p->queues[q].qc) {
			fprintf(stderr, "soak: queue %s is not in %s/queues.json\n", names[q],
			        o->config_dir);
			return -1;
		}
	}
	return 0;
}

int seed_plan(struct soak_plan *p, const struct soak_opts *o)
{
	long n = o->tasks, users_h, users_b, perm, trans, pings, k = 0;
	struct soak_task *raw;
	struct unit *units;
	size_t nunits = 0;
	uint64_t rng = o->seed ? o->seed : 1;

	memset(p, 0, sizeof(*p));
	if (load_queues(p, o))
		return -1;
	users_h = n * 2 / 100 > 0 ? n * 2 / 100 : 1;
	users_b = users_h;
	perm = n / 100 > 0 ? n / 100 : 1;
	trans = n / 200 > 0 ? n / 200 : 1;
	pings = n - 2 * users_h - 2 * users_b - perm - trans;
	if (pings < 0) {
		fprintf(stderr, "soak: at least 10 tasks, please\n");
		return -1;
	}
	p->n = (size_t)n;
	p->health_users = users_h;
	p->batch_users = users_b;
	raw = calloc(p->n, sizeof(*raw));
	p->tasks = calloc(p->n, sizeof(*p->tasks));
	units = calloc(p->n, sizeof(*units));
	if (!raw || !p->tasks || !units) {
		free(raw);
		free(units);
		return -1;
	}
	for (long i = 0; i < pings; i++, k++)
		task_set(&raw[k], KIND_PING, k, 0);
	for (long i = 0; i < perm; i++, k++)
		task_set(&raw[k], KIND_PING_PERMANENT, k, 0);
	for (long i = 0; i < trans; i++, k++)
		task_set(&raw[k], KIND_PING_TRANSIENT, k, 0);
	for (long i = 0; i < k; i++)
		units[nunits++] = (struct unit){(size_t)i, 1};
	for (int kind = KIND_HEALTH; kind <= KIND_BATCH; kind++) {
		long users = kind == KIND_HEALTH ? users_h : users_b;

		for (long u = 1; u <= users; u++) {
			size_t first = (size_t)k;

			task_set(&raw[k], kind, k, u);
			k++;
			task_set(&raw[k], kind, k, u);
			k++;
			if (rng_next(&rng) & 1) {
				units[nunits++] = (struct unit){first, 2};
			} else {
				units[nunits++] = (struct unit){first, 1};
				units[nunits++] = (struct unit){first + 1, 1};
			}
		}
	}
	for (size_t i = nunits; i > 1; i--) {
		size_t j = (size_t)(rng_next(&rng) % i);
		struct unit t = units[i - 1];

		units[i - 1] = units[j];
		units[j] = t;
	}
	k = 0;
	for (size_t i = 0; i < nunits; i++)
		for (size_t j = 0; j < units[i].count; j++)
			p->tasks[k++] = raw[units[i].first + j];
	for (size_t i = 0; i < p->n; i++)
		p->per_kind[p->tasks[i].kind]++;
	free(raw);
	free(units);
	return 0;
}

void seed_plan_free(struct soak_plan *p)
{
	free(p->tasks);
	p->tasks = NULL;
	queues_free(p->qs);
	p->qs = NULL;
}

static int exec(struct store *s, const char *sql, long users, int64_t now)
{
	struct store_param params[] = {store_p_int(users), store_p_int(now)};
	char err[512] = "";

	if (store_exec(s, sql, params, 2, NULL, err, sizeof(err))) {
		fprintf(stderr, "soak: seeding failed: %s\n", err);
		return -1;
	}
	return 0;
}

int seed_database(const struct soak_plan *p, const char *db_url)
{
	static const char *const users_sql =
	    "INSERT INTO users (id, email, phone, timezone, notify_channel, waking_start_minute, "
	    "waking_end_minute, created_at, updated_at) "
	    "SELECT 'soak-%c-' || lpad(g::text, 5, '0'), '%c' || g || '@soak.test', "
	    "'+1555%c' || lpad(g::text, 6, '0'), 'Etc/UTC', "
	    "CASE WHEN g %% 2 = 0 THEN 'sms' ELSE 'email' END, 0, 1440, $2, $2 "
	    "FROM generate_series(1, CAST($1 AS INTEGER)) g";
	char sql[1024], err[512] = "";
	struct store *s = NULL;
	int64_t now = time_wall_s();
	int rc = -1;

	if (store_open(db_url, &s, err, sizeof(err))) {
		fprintf(stderr, "soak: %s\n", err);
		return -1;
	}
	snprintf(sql, sizeof(sql), users_sql, 'h', 'h', '1');
	if (exec(s, sql, p->health_users, now))
		goto out;
	snprintf(sql, sizeof(sql), users_sql, 'b', 'b', '2');
	if (exec(s, sql, p->batch_users, now))
		goto out;
	if (exec(s,
	         "INSERT INTO google_accounts (user_id, google_email, status, last_error, "
	         "created_at, updated_at) SELECT 'soak-h-' || lpad(g::text, 5, '0'), "
	         "'h' || g || '@gmail.test', 'revoked', 'invalid_grant', $2, $2 "
	         "FROM generate_series(1, CAST($1 AS INTEGER)) g",
	         p->health_users, now))
		goto out;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO contacts (id, user_id, resource_name, name, created_at, updated_at) "
	         "SELECT 'soak-c-' || g || '-' || k, 'soak-b-' || lpad(g::text, 5, '0'), "
	         "'people/c' || g || 'x' || k, 'Contact b' || g || '-' || k, $2, $2 "
	         "FROM generate_series(1, CAST($1 AS INTEGER)) g, generate_series(1, %d) k",
	         SUGGESTIONS_PER_USER);
	if (exec(s, sql, p->batch_users, now))
		goto out;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO suggestions (id, user_id, contact_id, slot_start, slot_end, state, "
	         "created_at, updated_at) SELECT 'soak-s-' || g || '-' || k, "
	         "'soak-b-' || lpad(g::text, 5, '0'), 'soak-c-' || g || '-' || k, "
	         "$2 + 86400 + k * 3600, $2 + 86400 + k * 3600 + 1800, 'pending', $2, $2 "
	         "FROM generate_series(1, CAST($1 AS INTEGER)) g, generate_series(1, %d) k",
	         SUGGESTIONS_PER_USER);
	if (exec(s, sql, p->batch_users, now))
		goto out;
	rc = 0;
out:
	store_close(s);
	return rc;
}
