/*
 * recent.c - the last hour's outcome counts in a ring of one-minute
 * buckets; see recent.h.
 *
 * Bucket i holds minute m when m % RECENT_BUCKETS == i and its stamp is m;
 * a stamp from an earlier lap means the bucket is stale and counts as zero
 * (it is cleared when written again). So nothing runs in the background and
 * a quiet hour costs nothing.
 */
#include "recent.h"

#include <pthread.h>
#include <string.h>

#include "job_types.h"
#include "timeutil.h"

static const char *const outcome_names[RECENT_NOUTCOMES] = {"completed", "duplicate", "in_progress",
                                                            "retry",     "failed",    "rejected"};

struct bucket {
	int64_t minute; /* the minute counted here; -1: never used */
	unsigned long n[RECENT_MAX_TYPES][RECENT_NOUTCOMES];
	unsigned long dead_letters;
};

/* Guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket ring[RECENT_BUCKETS];
static int ring_ready;

const char *recent_outcome_name(enum recent_outcome o)
{
	return (unsigned)o < RECENT_NOUTCOMES ? outcome_names[o] : "unknown";
}

/* The slot of a type: its row in job_types.h, or the last one ("unknown"). */
static size_t type_slot(const char *type)
{
	size_t n, i;
	const struct job_type *all = job_types_all(&n);

	for (i = 0; type && i < n && i < RECENT_MAX_TYPES - 1; i++)
		if (!strcmp(all[i].name, type))
			return i;
	return RECENT_MAX_TYPES - 1;
}

static const char *slot_name(size_t slot)
{
	size_t n;
	const struct job_type *all = job_types_all(&n);

	return slot < n && slot < RECENT_MAX_TYPES - 1 ? all[slot].name : "unknown";
}

static int outcome_index(const char *outcome)
{
	for (int i = 0; outcome && i < RECENT_NOUTCOMES; i++)
		if (!strcmp(outcome, outcome_names[i]))
			return i;
	return -1;
}

/* Caller holds lock. */
static void ring_init_locked(void)
{
	if (ring_ready)
		return;
	memset(ring, 0, sizeof(ring));
	for (size_t i = 0; i < RECENT_BUCKETS; i++)
		ring[i].minute = -1;
	ring_ready = 1;
}

/* The bucket of minute, cleared when it held an earlier one. Caller holds
 * lock. */
static struct bucket *bucket_for_locked(int64_t minute)
{
	struct bucket *b;

	ring_init_locked();
	b = &ring[(uint64_t)minute % RECENT_BUCKETS];
	if (b->minute != minute) {
		memset(b, 0, sizeof(*b));
		b->minute = minute;
	}
	return b;
}

static int64_t minute_now(void)
{
	return time_mono_ms() / 60000;
}

void recent_request_at(int64_t minute, const char *type, const char *outcome)
{
	int o = outcome_index(outcome);
	size_t slot = type_slot(type);

	if (o < 0 || minute < 0)
		return;
	pthread_mutex_lock(&lock);
	bucket_for_locked(minute)->n[slot][o]++;
	pthread_mutex_unlock(&lock);
}

void recent_dead_letter_at(int64_t minute)
{
	if (minute < 0)
		return;
	pthread_mutex_lock(&lock);
	bucket_for_locked(minute)->dead_letters++;
	pthread_mutex_unlock(&lock);
}

void recent_totals_at(int64_t minute, struct recent_totals *out)
{
	unsigned long sum[RECENT_MAX_TYPES][RECENT_NOUTCOMES];
	size_t t, i, j;
	int o;

	memset(out, 0, sizeof(*out));
	memset(sum, 0, sizeof(sum));
	pthread_mutex_lock(&lock);
	ring_init_locked();
	for (i = 0; i < RECENT_BUCKETS; i++) {
		const struct bucket *b = &ring[i];

		if (b->minute < 0 || b->minute > minute || b->minute <= minute - RECENT_BUCKETS)
			continue;
		for (t = 0; t < RECENT_MAX_TYPES; t++)
			for (o = 0; o < RECENT_NOUTCOMES; o++)
				sum[t][o] += b->n[t][o];
		out->dead_letters += b->dead_letters;
	}
	pthread_mutex_unlock(&lock);
	for (t = 0; t < RECENT_MAX_TYPES; t++) {
		struct recent_type cur;
		unsigned long total = 0;

		for (o = 0; o < RECENT_NOUTCOMES; o++)
			total += sum[t][o];
		if (!total)
			continue;
		cur.type = slot_name(t);
		memcpy(cur.n, sum[t], sizeof(cur.n));
		/* Insertion by name: a dozen types at most. */
		for (j = out->ntypes; j > 0 && strcmp(out->types[j - 1].type, cur.type) > 0; j--)
			out->types[j] = out->types[j - 1];
		out->types[j] = cur;
		out->ntypes++;
	}
}

void recent_request(const char *type, const char *outcome)
{
	recent_request_at(minute_now(), type, outcome);
}

void recent_dead_letter(void)
{
	recent_dead_letter_at(minute_now());
}

void recent_totals(struct recent_totals *out)
{
	recent_totals_at(minute_now(), out);
}

void recent_reset(void)
{
	pthread_mutex_lock(&lock);
	ring_ready = 0;
	ring_init_locked();
	pthread_mutex_unlock(&lock);
}
