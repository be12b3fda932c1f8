/*
 * jwks.c - the cache of token-signing keys; see jwks.h.
 *
 * Owns the current key set (an immutable snapshot: once built it is never
 * modified, only replaced under the lock) and the static keys. Lookups hand
 * out their own reference to a key, so a key stays valid for the caller even
 * when a refetch replaces the set a moment later.
 *
 * Fetching is single-flight: whoever finds a fetch due marks the cache as
 * fetching, and the HTTP call runs without the lock. Two kinds of fetch:
 *   - in the caller's thread, when a lookup cannot be answered otherwise
 *     (an unknown kid, or no set ever loaded: other lookups then wait for
 *     that fetch instead of failing at once), and for jwks_refresh();
 *   - in the background, when a set that still serves has reached its
 *     max-age: the lookup (or status query) that notices hands the fetch to
 *     the refetcher thread and goes on with the keys it has.
 * It must never hold the lock across network I/O, and never drop a working
 * set because a refetch failed.
 *
 * The refetcher thread is started by the first background refetch. Its loop
 * sleeps on the wake condition until a refetch is wanted or the cache is
 * being freed; jwks_free() stops it (cancelling a fetch in flight) and
 * joins it.
 */
#include "jwks.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_client.h"
#include "jwk.h"
#include "log.h"
#include "timeutil.h"

#define JWKS_DEFAULT_MAX_AGE 300
#define JWKS_MAX_MAX_AGE 86400
#define JWKS_MIN_REFETCH_MS 30000
/* While no key was ever loaded every request fails; retry sooner. */
#define JWKS_NEVER_LOADED_RETRY_MS 1000
#define JWKS_FETCH_TIMEOUT_MS 10000
#define JWKS_MAX_BODY (512u * 1024)
#define JWKS_MAX_KEYS 64
#define JWKS_MAX_KID 128

struct jwks_key {
	char *kid;
	EVP_PKEY *pkey;
};

struct keyset {
	size_t n;
	struct jwks_key *keys;
};

struct jwks {
	char *url; /* NULL: static keys only */
	pthread_mutex_t lock;
	pthread_cond_t fetched; /* broadcast when a fetch ends */
	/* Everything below is guarded by lock. */
	struct keyset *set; /* last fetched set; NULL never */
	struct keyset statics; /* always trusted, looked up first */
	int64_t fetched_ms; /* monotonic time of the last successful fetch */
	int64_t attempt_ms; /* monotonic time the last fetch started; -1 none */
	int64_t max_age_ms; /* of the current set */
	int fetching; /* a fetch is running or handed to the refetcher */
	int64_t min_refetch_ms;
	pthread_cond_t wake; /* the refetcher: a refetch is wanted, or stop */
	int refetch_wanted; /* handed to the refetcher, not yet taken */
	int refetcher_started;
	pthread_t refetcher;
	/* Set once by jwks_free(); read by fetches in flight to give up. */
	atomic_int stopping;
};

static void keyset_release(struct keyset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i].kid);
		EVP_PKEY_free(s->keys[i].pkey);
	}
	free(s->keys);
	s->keys = NULL;
	s->n = 0;
}

static void keyset_free(struct keyset *s)
{
	if (!s)
		return;
	keyset_release(s);
	free(s);
}

static const struct jwks_key *keyset_find(const struct keyset *s, const char *kid)
{
	for (size_t i = 0; s && i < s->n; i++) {
		if (!strcmp(s->keys[i].kid, kid))
			return &s->keys[i];
	}
	return NULL;
}

struct jwks *jwks_new(const char *url)
{
	struct jwks *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (url) {
		k->url = strdup(url);
		if (!k->url)
			goto fail;
	}
	if (pthread_mutex_init(&k->lock, NULL))
		goto fail;
	if (pthread_cond_init(&k->fetched, NULL)) {
		pthread_mutex_destroy(&k->lock);
		goto fail;
	}
	if (pthread_cond_init(&k->wake, NULL)) {
		pthread_cond_destroy(&k->fetched);
		pthread_mutex_destroy(&k->lock);
		goto fail;
	}
	k->attempt_ms = -1;
	k->min_refetch_ms = JWKS_MIN_REFETCH_MS;
	return k;
fail:
	free(k->url);
	free(k);
	return NULL;
}

void jwks_free(struct jwks *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	atomic_store(&k->stopping, 1);
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
	if (k->refetcher_started)
		pthread_join(k->refetcher, NULL);
	keyset_free(k->set);
	keyset_release(&k->statics);
	pthread_cond_destroy(&k->wake);
	pthread_cond_destroy(&k->fetched);
	pthread_mutex_destroy(&k->lock);
	free(k->url);
	free(k);
}

void jwks_set_min_refetch_interval(struct jwks *k, int64_t ms)
{
	pthread_mutex_lock(&k->lock);
	k->min_refetch_ms = ms < 0 ? 0 : ms;
	pthread_mutex_unlock(&k->lock);
}

void jwks_wait_idle(struct jwks *k)
{
	pthread_mutex_lock(&k->lock);
	while (k->fetching)
		pthread_cond_wait(&k->fetched, &k->lock);
	pthread_mutex_unlock(&k->lock);
}

/* --- Cache-Control -------------------------------------------------------- */

/* Parses "max-age=N" (N may be quoted) into *out; 1 when the directive is it. */
static int directive_max_age(const char *d, size_t len, int64_t *out)
{
	size_t i = 7;
	int64_t v = 0;
	int digits = 0, quoted = 0;

	if (len < 8 || strncasecmp(d, "max-age", 7))
		return 0;
	while (i < len && (d[i] == ' ' || d[i] == '\t'))
		i++;
	if (i >= len || d[i++] != '=')
		return 0;
	while (i < len && (d[i] == ' ' || d[i] == '\t'))
		i++;
	if (i < len && d[i] == '"') {
		quoted = 1;
		i++;
	}
	for (; i < len && d[i] >= '0' && d[i] <= '9'; i++, digits++) {
		if (v <= JWKS_MAX_MAX_AGE)
			v = v * 10 + (d[i] - '0');
	}
	if (quoted && i < len && d[i] == '"')
		i++;
	if (!digits || i != len)
		return 0;
	*out = v > JWKS_MAX_MAX_AGE ? JWKS_MAX_MAX_AGE : v;
	return 1;
}

int64_t jwks_parse_max_age(const char *cc)
{
	int64_t max_age = -1;
	int no_cache = 0;
	const char *p = cc;

	if (!cc)
		return JWKS_DEFAULT_MAX_AGE;
	while (*p) {
		const char *end = strchr(p, ','), *a = p, *b;
		int64_t v;

		b = end ? end : p + strlen(p);
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((b - a == 8 && !strncasecmp(a, "no-cache", 8)) ||
		    (b - a == 8 && !strncasecmp(a, "no-store", 8)))
			no_cache = 1;
		else if (max_age < 0 && directive_max_age(a, (size_t)(b - a), &v))
			max_age = v;
		if (!end)
			break;
		p = end + 1;
	}
	if (no_cache)
		return 0;
	return max_age >= 0 ? max_age : JWKS_DEFAULT_MAX_AGE;
}

/* --- Fetching and parsing ------------------------------------------------- */

static int kid_usable(const json_t *kid)
{
	size_t len;

	if (!json_is_string(kid))
		return 0;
	len = json_string_length(kid);
	return len >= 1 && len <= JWKS_MAX_KID && !memchr(json_string_value(kid), '\0', len);
}

/* Adds keys[i] to set, or logs why it is skipped. CJ_OK, or CJ_ENOMEM. */
static int add_fetched_key(struct keyset *set, const json_t *jwk, size_t i)
{
	const json_t *kid = json_object_get(jwk, "kid");
	char why[160];
	EVP_PKEY *pkey = NULL;
	char *kid_copy;
	int rc;

	if (!kid_usable(kid)) {
		log_msg(L_WARNING, "jwks key #%zu skipped: kid missing, empty or too long", i);
		return CJ_OK;
	}
	if (keyset_find(set, json_string_value(kid))) {
		log_msg(L_WARNING, "jwks key \"%s\" skipped: kid appears twice",
		        json_string_value(kid));
		return CJ_OK;
	}
	rc = jwk_to_pkey(jwk, &pkey, why, sizeof(why));
	if (rc == CJ_ENOMEM)
		return CJ_ENOMEM;
	if (rc) {
		log_msg(L_WARNING, "jwks key \"%s\" skipped: %s", json_string_value(kid), why);
		return CJ_OK;
	}
	kid_copy = strdup(json_string_value(kid));
	if (!kid_copy) {
		EVP_PKEY_free(pkey);
		return CJ_ENOMEM;
	}
	set->keys[set->n].kid = kid_copy;
	set->keys[set->n].pkey = pkey;
	set->n++;
	return CJ_OK;
}

/* Builds a key set from a JWK set document. CJ_OK, CJ_EUPSTREAM, CJ_ENOMEM. */
static int parse_set(const char *text, size_t len, struct keyset **out, char *err, size_t errlen)
{
	struct keyset *set = NULL;
	json_error_t jerr;
	json_t *root, *keys;
	size_t n, i;
	int rc = CJ_EUPSTREAM;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		snprintf(err, errlen, "JWK set is not JSON with a \"keys\" array");
		goto fail;
	}
	n = json_array_size(keys);
	if (n > JWKS_MAX_KEYS) {
		log_msg(L_WARNING, "jwks has %zu keys; only the first %d are used", n,
		        JWKS_MAX_KEYS);
		n = JWKS_MAX_KEYS;
	}
	rc = CJ_ENOMEM;
	set = calloc(1, sizeof(*set));
	if (!set || (n && !(set->keys = calloc(n, sizeof(*set->keys)))))
		goto fail;
	for (i = 0; i < n; i++) {
		rc = add_fetched_key(set, json_array_get(keys, i), i);
		if (rc)
			goto fail;
	}
	if (!set->n) {
		snprintf(err, errlen, "JWK set holds no usable RSA signing key");
		rc = CJ_EUPSTREAM;
		goto fail;
	}
	json_decref(root);
	*out = set;
	return CJ_OK;
fail:
	keyset_free(set);
	json_decref(root);
	return rc;
}

/* Seconds from an Age header (time already spent in caches), or 0. */
static int64_t response_age(const struct http_response *resp)
{
	char v[32], *end;
	long long age;

	if (!http_response_header(resp, "Age", v, sizeof(v)) || v[0] < '0' || v[0] > '9')
		return 0;
	age = strtoll(v, &end, 10);
	return *end || age < 0 ? 0 : age;
}

static int fetch_cancelled(void *arg)
{
	struct jwks *k = arg;

	return atomic_load(&k->stopping);
}

/* One HTTP fetch of the set. Called without the lock. */
static int fetch_set(struct jwks *k, struct keyset **out, int64_t *max_age_ms, char *err,
                     size_t errlen)
{
	static const char *const headers[] = {"Accept: application/json", NULL};
	struct http_request req = {
	    .method = "GET",
	    .url = k->url,
	    .headers = headers,
	    .timeout_ms = JWKS_FETCH_TIMEOUT_MS,
	    .max_response = JWKS_MAX_BODY,
	    .upstream = "jwks",
	    .op = "fetch",
	    .cancelled = fetch_cancelled,
	    .cancel_arg = k,
	};
	struct http_response resp;
	char cerr[256], cc[256];
	int64_t max_age;
	int rc;

	rc = http_do(&req, &resp, cerr, sizeof(cerr));
	if (rc == CJ_ETOOBIG) {
		snprintf(err, errlen, "JWK set is larger than %u bytes", JWKS_MAX_BODY);
		rc = CJ_EUPSTREAM;
		goto done;
	}
	if (rc) {
		snprintf(err, errlen, "JWK set fetch failed: %s", cerr);
		if (rc != CJ_ETIMEOUT && rc != CJ_ENOMEM)
			rc = CJ_EUNAVAIL;
		goto done;
	}
	if (resp.status != 200) {
		snprintf(err, errlen, "JWK set fetch answered HTTP %ld", resp.status);
		rc = CJ_EUNAVAIL;
		goto done;
	}
	rc = parse_set(resp.body.data ? resp.body.data : "", resp.body.len, out, err, errlen);
	if (rc)
		goto done;
	max_age = jwks_parse_max_age(
	    http_response_header(&resp, "Cache-Control", cc, sizeof(cc)) ? cc : NULL);
	max_age -= response_age(&resp);
	*max_age_ms = (max_age > 0 ? max_age : 0) * 1000;
done:
	http_response_release(&resp);
	return rc;
}

/* Runs the fetch this thread was handed (k->fetching already set, k->url
 * set). Called and returns with the lock held; releases it during the
 * network call. Clears k->fetching and wakes whoever waits for the fetch. */
static int fetch_flight_locked(struct jwks *k, char *err, size_t errlen)
{
	struct keyset *fresh = NULL, *old = NULL;
	int64_t max_age_ms = 0;
	int rc;

	pthread_mutex_unlock(&k->lock);

	rc = fetch_set(k, &fresh, &max_age_ms, err, errlen);
	if (rc && !atomic_load(&k->stopping))
		log_msg(L_WARNING, "jwks fetch failed (%s): %s", cj_strerror(rc), err);
	else if (!rc)
		log_msg(L_INFO, "jwks fetched: %zu keys, max-age %lld s", fresh->n,
		        (long long)(max_age_ms / 1000));

	pthread_mutex_lock(&k->lock);
	if (!rc) {
		old = k->set;
		k->set = fresh;
		k->fetched_ms = time_mono_ms();
		k->max_age_ms = max_age_ms;
	}
	k->fetching = 0;
	pthread_cond_broadcast(&k->fetched);
	/* Lookups took their own references: freeing the old set is safe. */
	keyset_free(old);
	return rc;
}

/* Runs one fetch in this thread as the single fetcher. Called and returns
 * with the lock held and k->fetching clear. */
static int fetch_locked(struct jwks *k, char *err, size_t errlen)
{
	if (!k->url) {
		snprintf(err, errlen, "no JWKS URL: static keys only");
		return CJ_EUNAVAIL;
	}
	k->fetching = 1;
	k->attempt_ms = time_mono_ms();
	return fetch_flight_locked(k, err, errlen);
}

/* The refetcher thread: wakes when a background refetch is handed to it or
 * the cache is being freed. */
static void *refetcher_main(void *arg)
{
	struct jwks *k = arg;
	char err[256];

	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (!k->refetch_wanted && !atomic_load(&k->stopping))
			pthread_cond_wait(&k->wake, &k->lock);
		if (atomic_load(&k->stopping))
			break;
		k->refetch_wanted = 0;
		/* The outcome is logged; a failure keeps the current set. */
		(void)fetch_flight_locked(k, err, sizeof(err));
	}
	if (k->refetch_wanted) {
		/* Handed over but never run: nobody may wait for it forever. */
		k->refetch_wanted = 0;
		k->fetching = 0;
		pthread_cond_broadcast(&k->fetched);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

int jwks_refresh(struct jwks *k, char *err, size_t errlen)
{
	char local[256];
	int rc;

	if (!err || !errlen) {
		err = local;
		errlen = sizeof(local);
	}
	err[0] = '\0';
	pthread_mutex_lock(&k->lock);
	while (k->fetching)
		pthread_cond_wait(&k->fetched, &k->lock);
	rc = fetch_locked(k, err, errlen);
	pthread_mutex_unlock(&k->lock);
	return rc;
}

int jwks_start(struct jwks *k)
{
	int rc = CJ_OK;

	if (!k->url)
		return CJ_OK;
	pthread_mutex_lock(&k->lock);
	if (!k->fetching && !atomic_load(&k->stopping)) {
		if (!k->refetcher_started) {
			if (pthread_create(&k->refetcher, NULL, refetcher_main, k))
				rc = CJ_EINTERNAL;
			else
				k->refetcher_started = 1;
		}
		if (!rc) {
			k->attempt_ms = time_mono_ms();
			k->fetching = 1;
			k->refetch_wanted = 1;
			pthread_cond_signal(&k->wake);
		}
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

/* --- Lookups --------------------------------------------------------------- */

static int loaded_locked(const struct jwks *k)
{
	return k->set || k->statics.n;
}

static int expired_locked(const struct jwks *k, int64_t now)
{
	return k->set && now - k->fetched_ms >= k->max_age_ms;
}

/* Whether a fetch may start now: none running, and the last one started at
 * least the minimum interval ago (1 s while nothing was ever loaded). */
static int fetch_due_locked(const struct jwks *k, int64_t now)
{
	int64_t interval = k->min_refetch_ms;

	if (!k->url || k->fetching)
		return 0;
	if (!loaded_locked(k) && interval > JWKS_NEVER_LOADED_RETRY_MS)
		interval = JWKS_NEVER_LOADED_RETRY_MS;
	return k->attempt_ms < 0 || now - k->attempt_ms >= interval;
}

/* A set past its max-age keeps serving; its refetch is handed to the
 * refetcher thread (started on first use) so that the caller that noticed
 * does not wait for the network. So is the retry of a first fetch that
 * failed (nothing loaded yet): readiness probes alone bring the keys in. */
static void refetch_in_background_locked(struct jwks *k, int64_t now)
{
	if (!(expired_locked(k, now) || !loaded_locked(k)) || !fetch_due_locked(k, now) ||
	    atomic_load(&k->stopping))
		return;
	/* Counts as an attempt even if the thread cannot start: no retry storm. */
	k->attempt_ms = now;
	if (!k->refetcher_started) {
		if (pthread_create(&k->refetcher, NULL, refetcher_main, k)) {
			log_msg(L_WARNING, "jwks background refetch not started: no thread");
			return;
		}
		k->refetcher_started = 1;
	}
	k->fetching = 1;
	k->refetch_wanted = 1;
	pthread_cond_signal(&k->wake);
}

/* A new reference to kid's key, or NULL. */
static EVP_PKEY *find_locked(const struct jwks *k, const char *kid)
{
	const struct jwks_key *e = keyset_find(&k->statics, kid);

	if (!e)
		e = keyset_find(k->set, kid);
	if (!e || !EVP_PKEY_up_ref(e->pkey))
		return NULL;
	return e->pkey;
}

EVP_PKEY *jwks_get(struct jwks *k, const char *kid, int *never_loaded)
{
	EVP_PKEY *key;
	char err[256];
	int tried = 0;

	if (never_loaded)
		*never_loaded = 0;
	pthread_mutex_lock(&k->lock);
	for (;;) {
		key = find_locked(k, kid);
		if (tried)
			break;
		if (key) {
			refetch_in_background_locked(k, time_mono_ms());
			break;
		}
		if (fetch_due_locked(k, time_mono_ms())) {
			/* The outcome is logged; the lookup reflects it either way. */
			(void)fetch_locked(k, err, sizeof(err));
			tried = 1;
			continue;
		}
		/* Nothing fetched yet (static keys aside) and the first fetch in
		 * flight: the kid may be in it. */
		if (!key && k->fetching && !k->set) {
			while (k->fetching)
				pthread_cond_wait(&k->fetched, &k->lock);
			tried = 1;
			continue;
		}
		break;
	}
	if (!key && never_loaded)
		*never_loaded = !loaded_locked(k);
	pthread_mutex_unlock(&k->lock);
	return key;
}

int jwks_add_static(struct jwks *k, const char *kid, EVP_PKEY *key)
{
	struct jwks_key *grown;
	size_t kid_len = kid ? strlen(kid) : 0;
	char *kid_copy;
	int rc = CJ_OK;

	if (kid_len < 1 || kid_len > JWKS_MAX_KID || !key ||
	    EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048)
		return CJ_EINVAL;
	kid_copy = strdup(kid);
	if (!kid_copy)
		return CJ_ENOMEM;
	pthread_mutex_lock(&k->lock);
	if (keyset_find(&k->statics, kid)) {
		rc = CJ_EEXISTS;
		goto fail;
	}
	grown = realloc(k->statics.keys, (k->statics.n + 1) * sizeof(*grown));
	if (!grown) {
		rc = CJ_ENOMEM;
		goto fail;
	}
	k->statics.keys = grown;
	if (!EVP_PKEY_up_ref(key)) {
		rc = CJ_EINTERNAL;
		goto fail;
	}
	grown[k->statics.n].kid = kid_copy;
	grown[k->statics.n].pkey = key;
	k->statics.n++;
	pthread_mutex_unlock(&k->lock);
	return CJ_OK;
fail:
	pthread_mutex_unlock(&k->lock);
	free(kid_copy);
	return rc;
}

void jwks_status(struct jwks *k, struct jwks_status *st)
{
	int64_t now = time_mono_ms();

	pthread_mutex_lock(&k->lock);
	st->keys = (int)(k->statics.n + (k->set ? k->set->n : 0));
	st->static_keys = (int)k->statics.n;
	st->loaded = loaded_locked(k);
	/* By age alone, whether or not a refetch has failed yet. */
	st->stale = expired_locked(k, now);
	st->age_seconds = k->set ? (now - k->fetched_ms) / 1000 : -1;
	refetch_in_background_locked(k, now);
	pthread_mutex_unlock(&k->lock);
}
