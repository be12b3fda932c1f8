/*
 * verify.c - the soak's verdict and figures.
 *
 * Pass, from what the driver saw, the database and the messaging fake:
 *   - no task lost: every task either ended with a 2xx, or exhausted its
 *     attempts and has a dead letter (by task name);
 *   - every failure a dead letter: each task answered 200 "failed", and
 *     each task of a kind that always fails (ping fail=permanent or
 *     fail=transient), has one;
 *   - no effect repeated: each recipient got at most one message, and no
 *     suggestion was listed in two batches; every outbox row marked 'sent'
 *     matches one message at the fake;
 *   - no effect missing: a user whose tasks all completed got its message,
 *     unless its outbox row was left 'sending' for an operator (a process
 *     killed between the row and the provider call: SPEC §7 prefers a
 *     missed message to a double one).
 * Figures: tasks/s, deliveries/s, latency percentiles, answers by status,
 * Redis commands per task (INFO commandstats before and after), kills.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"
#include "store.h"

#define MAX_CMDS 256

struct redis_counts {
	long total;
	size_t n;
	struct {
		char name[64];
		long calls;
	} cmd[MAX_CMDS];
};

struct redis_counts *redis_counts_take(int redis_port)
{
	redisContext *rc = redisConnect("127.0.0.1", redis_port);
	struct redis_counts *out = NULL;
	redisReply *r = NULL;
	const char *line;

	if (!rc || rc->err)
		goto done;
	r = redisCommand(rc, "INFO commandstats");
	if (!r || r->type != REDIS_REPLY_STRING)
		goto done;
	out = calloc(1, sizeof(*out));
	if (!out)
		goto done;
	for (line = r->str; line && *line;) {
		const char *eol = strchr(line, '\n');
		char name[64];
		long calls;

		if (sscanf(line, "cmdstat_%63[^:]:calls=%ld", name, &calls) == 2 &&
		    out->n < MAX_CMDS) {
			snprintf(out->cmd[out->n].name, sizeof(out->cmd[0].name), "%s", name);
			out->cmd[out->n++].calls = calls;
			out->total += calls;
		}
		line = eol ? eol + 1 : NULL;
	}
done:
	if (r)
		freeReplyObject(r);
	if (rc)
		redisFree(rc);
	return out;
}

void redis_counts_free(struct redis_counts *rc)
{
	free(rc);
}

static long redis_calls(const struct redis_counts *rc, const char *name)
{
	for (size_t i = 0; rc && i < rc->n; i++)
		if (!strcmp(rc->cmd[i].name, name))
			return rc->cmd[i].calls;
	return 0;
}

/* Appends an example to a short list shown with a failed check. */
static void example(char *list, size_t len, const char *fmt, ...) CJ_PRINTF(3, 4);

static void example(char *list, size_t len, const char *fmt, ...)
{
	size_t used = strlen(list);
	va_list ap;

	if (used + 40 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(list + used, len - used, fmt, ap);
	va_end(ap);
}

/* ---- dead letters -------------------------------------------------------- */

struct named_count {
	char name[64];
	long count;
};

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const struct named_count *)a)->name, ((const struct named_count *)b)->name);
}

static long lookup(const struct named_count *v, size_t n, const char *name)
{
	struct named_count key;
	const struct named_count *hit;

	snprintf(key.name, sizeof(key.name), "%s", name);
	hit = bsearch(&key, v, n, sizeof(*v), cmp_named);
	return hit ? hit->count : 0;
}

/* Rows of sql (two columns: text, count) into a sorted array. */
static struct named_count *query_counts(struct store *s, const char *sql, size_t *n)
{
	struct store_rows *rows = NULL;
	struct named_count *v;
	char err[512] = "";

	*n = 0;
	if (store_exec(s, sql, NULL, 0, &rows, err, sizeof(err))) {
		fprintf(stderr, "soak: %s: %s\n", sql, err);
		return NULL;
	}
	v = calloc(store_rows_count(rows) + 1, sizeof(*v));
	while (v && store_rows_next(rows)) {
		snprintf(v[*n].name, sizeof(v[0].name), "%s", store_rows_text(rows, 0));
		v[(*n)++].count = store_rows_int(rows, 1);
	}
	store_rows_free(rows);
	if (v)
		qsort(v, *n, sizeof(*v), cmp_named);
	return v;
}

/* ---- effects ------------------------------------------------------------- */

/* The user a recipient names: 'h' or 'b' and its number; 0 when none. */
static int recipient_user(const char *to, char *kind, long *n)
{
	if (!to)
		return 0;
	if ((to[0] == 'h' || to[0] == 'b') && strstr(to, "@soak.test")) {
		*kind = to[0];
		*n = strtol(to + 1, NULL, 10);
		return *n > 0;
	}
	if (!strncmp(to, "+1555", 5) && (to[5] == '1' || to[5] == '2')) {
		*kind = to[5] == '1' ? 'h' : 'b';
		*n = strtol(to + 6, NULL, 10);
		return *n > 0;
	}
	return 0;
}

struct effects {
	long *msgs_h, *msgs_b; /* messages per user (index = user number) */
	long *listed; /* batch listings per contact: (user - 1) * 3 + k - 1 */
	long messages, foreign, repeated_msgs, repeated_listings;
	long out_sent, out_sending, out_failed, sent_without_message;
	long missing, missed_sending, missing_with_failed_tasks;
	char *sending_h, *sending_b, *sent_h, *sent_b; /* outbox row state per user */
	char repeated_ex[400], listing_ex[400], missing_ex[400], sent_ex[400];
};

/* Counts "Contact b{N}-{k}" listings in a batch body. */
static void count_listings(struct effects *e, const char *body, long users)
{
	const char *p = body;

	while (p && (p = strstr(p, "Contact b"))) {
		char *end;
		long u = strtol(p + 9, &end, 10), k;

		if (*end != '-')
			break;
		k = strtol(end + 1, &end, 10);
		if (u >= 1 && u <= users && k >= 1 && k <= 3)
			e->listed[(u - 1) * 3 + (k - 1)]++;
		p = end;
	}
}

static int read_messages(struct effects *e, struct cluster *c, const struct soak_plan *p)
{
	json_t *msgs = mfake_get(&c->mfake, "messages"), *m;
	size_t i;

	if (!json_is_array(msgs)) {
		json_decref(msgs);
		fprintf(stderr, "soak: the messaging fake did not list its messages\n");
		return -1;
	}
	json_array_foreach(msgs, i, m)
	{
		const char *to = json_string_value(json_object_get(m, "to"));
		const char *body = json_string_value(json_object_get(m, "body"));
		char kind = 0;
		long n = 0;

		if (!body)
			body = json_string_value(json_object_get(m, "text"));
		e->messages++;
		if (!recipient_user(to, &kind, &n) ||
		    n > (kind == 'h' ? p->health_users : p->batch_users)) {
			e->foreign++;
			continue;
		}
		if (kind == 'h') {
			e->msgs_h[n]++;
		} else {
			e->msgs_b[n]++;
			count_listings(e, body, p->batch_users);
		}
	}
	json_decref(msgs);
	return 0;
}

static int read_outbox(struct effects *e, struct store *s, const struct soak_plan *p)
{
	struct store_rows *rows = NULL;
	char err[512] = "";

	if (store_exec(s, "SELECT user_id, state FROM outbox", NULL, 0, &rows, err, sizeof(err))) {
		fprintf(stderr, "soak: reading the outbox: %s\n", err);
		return -1;
	}
	while (store_rows_next(rows)) {
		const char *uid = store_rows_text(rows, 0), *state = store_rows_text(rows, 1);
		long n = uid && strlen(uid) > 7 ? strtol(uid + 7, NULL, 10) : 0;
		int h = uid && !strncmp(uid, "soak-h-", 7), b = uid && !strncmp(uid, "soak-b-", 7);
		long users = h ? p->health_users : p->batch_users;

		if (!strcmp(state, "sent"))
			e->out_sent++;
		else if (!strcmp(state, "sending"))
			e->out_sending++;
		else
			e->out_failed++;
		if ((!h && !b) || n < 1 || n > users)
			continue;
		if (!strcmp(state, "sending"))
			(h ? e->sending_h : e->sending_b)[n] = 1;
		if (!strcmp(state, "sent"))
			(h ? e->sent_h : e->sent_b)[n]++;
	}
	store_rows_free(rows);
	return 0;
}

/* Whether every task of user n of kind completed with a 2xx. */
static int user_tasks_completed(const struct soak_plan *p, int kind, long n)
{
	char user[32];

	snprintf(user, sizeof(user), "\"soak-%c-%05ld\"", kind == KIND_HEALTH ? 'h' : 'b', n);
	for (size_t i = 0; i < p->n; i++)
		if (p->tasks[i].kind == kind && strstr(p->tasks[i].body, user) &&
		    p->tasks[i].state != TASK_DONE)
			return 0;
	return 1;
}

static void judge_users(struct effects *e, const struct soak_plan *p, int kind)
{
	long users = kind == KIND_HEALTH ? p->health_users : p->batch_users;
	long *msgs = kind == KIND_HEALTH ? e->msgs_h : e->msgs_b;
	char *sending = kind == KIND_HEALTH ? e->sending_h : e->sending_b;
	char *sent = kind == KIND_HEALTH ? e->sent_h : e->sent_b;

	for (long n = 1; n <= users; n++) {
		if (msgs[n] > 1) {
			e->repeated_msgs += msgs[n] - 1;
			example(e->repeated_ex, sizeof(e->repeated_ex), " soak-%c-%05ld(%ld)",
			        kind == KIND_HEALTH ? 'h' : 'b', n, msgs[n]);
		}
		if (sent[n] > msgs[n]) {
			e->sent_without_message += sent[n] - msgs[n];
			example(e->sent_ex, sizeof(e->sent_ex), " soak-%c-%05ld",
			        kind == KIND_HEALTH ? 'h' : 'b', n);
		}
		if (msgs[n])
			continue;
		if (sending[n])
			e->missed_sending++;
		else if (user_tasks_completed(p, kind, n)) {
			e->missing++;
			example(e->missing_ex, sizeof(e->missing_ex), " soak-%c-%05ld",
			        kind == KIND_HEALTH ? 'h' : 'b', n);
		} else
			e->missing_with_failed_tasks++;
	}
}

static int check_effects(struct effects *e, struct cluster *c, struct store *s,
                         const struct soak_plan *p)
{
	size_t nh = (size_t)p->health_users + 1, nb = (size_t)p->batch_users + 1;

	memset(e, 0, sizeof(*e));
	e->msgs_h = calloc(nh, sizeof(long));
	e->msgs_b = calloc(nb, sizeof(long));
	e->listed = calloc(nb * 3, sizeof(long));
	e->sending_h = calloc(nh, 1);
	e->sending_b = calloc(nb, 1);
	e->sent_h = calloc(nh, 1);
	e->sent_b = calloc(nb, 1);
	if (!e->msgs_h || !e->msgs_b || !e->listed || !e->sending_h || !e->sending_b ||
	    !e->sent_h || !e->sent_b)
		return -1;
	if (read_messages(e, c, p) || read_outbox(e, s, p))
		return -1;
	judge_users(e, p, KIND_HEALTH);
	judge_users(e, p, KIND_BATCH);
	for (size_t i = 0; i < (size_t)p->batch_users * 3; i++)
		if (e->listed[i] > 1) {
			e->repeated_listings += e->listed[i] - 1;
			example(e->listing_ex, sizeof(e->listing_ex), " Contact b%zu-%zu(%ld)",
			        i / 3 + 1, i % 3 + 1, e->listed[i]);
		}
	return 0;
}

static void effects_free(struct effects *e)
{
	free(e->msgs_h);
	free(e->msgs_b);
	free(e->listed);
	free(e->sending_h);
	free(e->sending_b);
	free(e->sent_h);
	free(e->sent_b);
}

/* ---- tasks --------------------------------------------------------------- */

struct task_verdict {
	long done, exhausted, unfinished, lost, failure_without_dl;
	long dl_rows, dl_doubled, dl_for_completed, ok_exhausted, failed_answers;
	char lost_ex[400], nodl_ex[400], unfinished_ex[400], doubled_ex[400];
};

static void judge_tasks(struct task_verdict *v, const struct soak_plan *p,
                        const struct named_count *dl, size_t ndl)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < ndl; i++)
		v->dl_rows += dl[i].count;
	for (size_t i = 0; i < p->n; i++) {
		const struct soak_task *t = &p->tasks[i];
		long n = lookup(dl, ndl, t->id);
		int must_fail = t->kind == KIND_PING_PERMANENT || t->kind == KIND_PING_TRANSIENT;

		if (n > 1) {
			v->dl_doubled++;
			example(v->doubled_ex, sizeof(v->doubled_ex), " %s(%ld)", t->id, n);
		}
		if (t->state == TASK_DONE && t->outcome == OUT_FAILED)
			v->failed_answers++;
		switch (t->state) {
		case TASK_DONE:
			v->done++;
			if (!n && (must_fail || t->outcome == OUT_FAILED)) {
				v->failure_without_dl++;
				example(v->nodl_ex, sizeof(v->nodl_ex), " %s(attempts %d, last %d)",
				        t->id, t->retry + 1, t->prev_status);
			}
			if (n && !must_fail && t->outcome != OUT_FAILED)
				v->dl_for_completed++;
			break;
		case TASK_EXHAUSTED:
			v->exhausted++;
			if (!n) {
				v->lost++;
				example(v->lost_ex, sizeof(v->lost_ex), " %s(attempts %d, last %d)",
				        t->id, t->retry, t->prev_status);
			}
			if (!must_fail)
				v->ok_exhausted++;
			break;
		default:
			v->unfinished++;
			example(v->unfinished_ex, sizeof(v->unfinished_ex), " %s", t->id);
			break;
		}
	}
}

/* ---- figures ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void print_figures(const struct soak_plan *p, const struct soak_opts *o,
                          struct deliver_stats *st, const struct soak_kills *k)
{
	double wall_s = (double)(st->end_ms - st->start_ms) / 1000.0;
	int64_t last_first = st->start_ms;
	double *task_ms = calloc(p->n + 1, sizeof(double));
	size_t nt = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct soak_task *t = &p->tasks[i];

		if (t->first_ms > last_first)
			last_first = t->first_ms;
		if (task_ms && t->state == TASK_DONE)
			task_ms[nt++] = (double)(t->done_ms - t->first_ms);
	}
	qsort(st->latency_ms, st->nlatency, sizeof(double), cmp_double);
	if (task_ms)
		qsort(task_ms, nt, sizeof(double), cmp_double);
	printf("run: %zu tasks (%ld ping, %ld ping fail=permanent, %ld ping fail=transient, "
	       "%ld token-health-reminder for %ld users, %ld batch-notifications for %ld "
	       "users), concurrency %d, rate %s, duplicates %.1f %%, backoff x %.3g, "
	       "lease %ld s, a SIGKILL every %.3g s, nginx proxy_next_upstream %s\n",
	       p->n, p->per_kind[KIND_PING], p->per_kind[KIND_PING_PERMANENT],
	       p->per_kind[KIND_PING_TRANSIENT], p->per_kind[KIND_HEALTH], p->health_users,
	       p->per_kind[KIND_BATCH], p->batch_users, o->concurrency,
	       o->rate > 0 ? "paced" : "unpaced", o->dup_rate * 100, o->backoff_factor, o->lease_s,
	       o->kill_every_s, o->proxy_off ? "off" : "error timeout");
	if (o->rate > 0)
		printf("pace: %.0f new tasks/s\n", o->rate);
	printf("wall: %.1f s (first delivery to last answer); every task first delivered "
	       "within %.1f s\n",
	       wall_s, (double)(last_first - st->start_ms) / 1000.0);
	printf("throughput: %.0f tasks/s over the first deliveries, %.0f deliveries/s over "
	       "the run (%ld deliveries, %ld duplicates of which %ld concurrent)\n",
	       last_first > st->start_ms
	           ? (double)p->n / ((double)(last_first - st->start_ms) / 1000.0)
	           : 0.0,
	       wall_s > 0 ? (double)st->deliveries / wall_s : 0.0, st->deliveries, st->duplicates,
	       st->duplicates_concurrent);
	printf("latency per delivery: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%zu answered, %ld "
	       "without an answer)\n",
	       pct(st->latency_ms, st->nlatency, 0.50), pct(st->latency_ms, st->nlatency, 0.99),
	       st->nlatency ? st->latency_ms[st->nlatency - 1] : 0.0, st->nlatency, st->no_answer);
	if (task_ms)
		printf("task latency (first delivery to its 2xx): p50 %.1f ms, p99 %.1f ms, max "
		       "%.1f s\n",
		       pct(task_ms, nt, 0.50), pct(task_ms, nt, 0.99),
		       nt ? task_ms[nt - 1] / 1000.0 : 0.0);
	printf("answers:");
	for (int s = 0; s < 600; s++)
		if (st->status[s])
			printf(" %d=%ld", s, st->status[s]);
	printf(" (0: none)\n");
	printf("2xx answers to first copies: completed %ld, duplicate %ld, failed %ld, other %ld\n",
	       st->outcomes[OUT_COMPLETED], st->outcomes[OUT_DUPLICATE], st->outcomes[OUT_FAILED],
	       st->outcomes[OUT_OTHER]);
	printf("kills: %ld SIGKILLs, back on /health/live after %.0f ms on average (max %lld "
	       "ms), %ld restarts failed\n",
	       k->kills, k->kills ? (double)k->restart_ms_sum / (double)k->kills : 0.0,
	       (long long)k->restart_ms_max, k->restart_failures);
	free(task_ms);
}

static void print_redis(const struct redis_counts *before, const struct redis_counts *after,
                        const struct soak_plan *p, const struct deliver_stats *st)
{
	long total;

	if (!before || !after) {
		printf("redis: commandstats unavailable\n");
		return;
	}
	total = after->total - before->total - 1; /* less our own INFO */
	printf("redis: %ld commands, %.2f per task, %.2f per delivery;", total,
	       (double)total / (double)p->n,
	       st->deliveries ? (double)total / (double)st->deliveries : 0.0);
	for (size_t i = 0; i < after->n; i++) {
		long d = after->cmd[i].calls - redis_calls(before, after->cmd[i].name);

		if (!strcmp(after->cmd[i].name, "info"))
			d--;
		if (d > 0)
			printf(" %s %ld (%.2f/task)", after->cmd[i].name, d,
			       (double)d / (double)p->n);
	}
	printf("\n");
}

int verify_run(const struct soak_plan *p, struct cluster *c, const struct soak_opts *o,
               const struct deliver_stats *st_in, const struct soak_kills *k,
               const struct redis_counts *before, const struct redis_counts *after)
{
	struct deliver_stats *st = (struct deliver_stats *)st_in;
	struct named_count *dl = NULL;
	struct task_verdict v;
	struct effects e;
	struct store *s = NULL;
	char err[512] = "";
	size_t ndl = 0;
	long errors;
	int fail = 0;

	memset(&e, 0, sizeof(e));
	if (store_open(c->db_url, &s, err, sizeof(err))) {
		fprintf(stderr, "soak: %s\n", err);
		return -1;
	}
	dl = query_counts(s,
	                  "SELECT COALESCE(task_name, ''), COUNT(*) FROM dead_letters GROUP BY "
	                  "task_name",
	                  &ndl);
	if (!dl || check_effects(&e, c, s, p)) {
		store_close(s);
		free(dl);
		effects_free(&e);
		return -1;
	}
	store_close(s);
	judge_tasks(&v, p, dl, ndl);
	errors = cluster_error_lines(c);
	print_figures(p, o, st, k);
	print_redis(before, after, p, st);
	printf("tasks: %ld completed with a 2xx (%ld of them 200 failed), %ld exhausted their "
	       "attempts, %ld unfinished\n",
	       v.done, v.failed_answers, v.exhausted, v.unfinished);
	printf("dead letters: %ld rows; %ld tasks with more than one%s%s; %ld for tasks that "
	       "completed; %ld tasks meant to complete exhausted their attempts instead\n",
	       v.dl_rows, v.dl_doubled, v.doubled_ex[0] ? ":" : "", v.doubled_ex,
	       v.dl_for_completed, v.ok_exhausted);
	printf("effects: %ld messages at the fake (%ld to no seeded user); outbox rows sent %ld, "
	       "sending %ld, failed %ld\n",
	       e.messages, e.foreign, e.out_sent, e.out_sending, e.out_failed);
	printf("effects missed by design (row left 'sending' for an operator): %ld; users "
	       "without a message whose tasks did not all complete: %ld\n",
	       e.missed_sending, e.missing_with_failed_tasks);
	printf("ERROR lines in the instances' logs: %ld\n", errors);
	printf("CHECK lost tasks (exhausted, no dead letter): %ld%s\n", v.lost, v.lost_ex);
	printf("CHECK failures without a dead letter: %ld%s\n", v.failure_without_dl, v.nodl_ex);
	printf("CHECK tasks unfinished when the run ended: %ld%s%s\n", v.unfinished,
	       st->aborted ? " (cut off by --abort-after)" : "", v.unfinished_ex);
	printf("CHECK effects repeated: %ld messages%s, %ld suggestion listings%s\n",
	       e.repeated_msgs, e.repeated_ex, e.repeated_listings, e.listing_ex);
	printf("CHECK outbox rows 'sent' without a message at the fake: %ld%s\n",
	       e.sent_without_message, e.sent_ex);
	printf("CHECK effects missing (every task completed, no message, no 'sending' row): "
	       "%ld%s\n",
	       e.missing, e.missing_ex);
	printf("CHECK instances that did not come back: %ld\n", k->restart_failures);
	fail = v.lost || v.failure_without_dl || v.unfinished || st->aborted || e.repeated_msgs ||
	    e.repeated_listings || e.sent_without_message || e.missing || e.foreign ||
	    k->restart_failures;
	printf("soak: %s\n", fail ? "FAIL" : "PASS");
	free(dl);
	effects_free(&e);
	return fail ? 1 : 0;
}
