/*
 * migrate.c - plans and applies schema migrations; see migrate.h.
 *
 * The plan (which file applies for each version on this backend) is built
 * from the file names alone and checked before anything touches the
 * database. Application is one transaction per migration, re-checking
 * schema_migrations inside it, under the PostgreSQL advisory lock or
 * SQLite's exclusive lock. It never edits or skips a recorded migration.
 */
#include "migrate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "timeutil.h"

/* Key of the PostgreSQL advisory lock: "cjmigrat" in ASCII. */
#define MIGRATE_LOCK_KEY 0x636a6d6967726174LL
#define LOCK_WAIT_MS (120 * 1000)
#define LOCK_POLL_MS 100
#define STEP_ATTEMPTS 5

enum variant { V_COMMON, V_PG, V_SQLITE };

struct step {
	long version;
	char name[128];
	const char *files[3]; /* by enum variant */
	const char *sql; /* NULL: nothing to run on this backend (recorded only) */
};

static const char *const CREATE_TABLE =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "0001_schema.pg.sql" -> version 1, name "schema", V_PG. */
static int parse_name(const char *file, long *version, char *name, size_t namelen, enum variant *v)
{
	size_t len = strlen(file), digits = strspn(file, "0123456789"), stem;
	char *end;

	if (digits == 0 || digits > 9 || file[digits] != '_' || len < 5 ||
	    strcmp(file + len - 4, ".sql"))
		return CJ_EINVAL;
	errno = 0;
	*version = strtol(file, &end, 10);
	if (errno || *version <= 0)
		return CJ_EINVAL;
	stem = len - 4;
	*v = V_COMMON;
	if (stem > 3 && !strncmp(file + stem - 3, ".pg", 3))
		*v = V_PG, stem -= 3;
	else if (stem > 7 && !strncmp(file + stem - 7, ".sqlite", 7))
		*v = V_SQLITE, stem -= 7;
	if (stem <= digits + 1 || stem - digits - 1 >= namelen)
		return CJ_EINVAL;
	memcpy(name, file + digits + 1, stem - digits - 1);
	name[stem - digits - 1] = '\0';
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return CJ_EINVAL;
	return CJ_OK;
}

/* Builds the ordered steps for this backend; *out is malloc'd. */
static int plan(const struct migration_file *files, size_t n, int is_pg, struct step **out,
                size_t *nsteps, char *err, size_t errlen)
{
	struct step *steps = calloc(n ? n : 1, sizeof(*steps));
	size_t k = 0;

	*out = NULL;
	*nsteps = 0;
	if (!steps) {
		snprintf(err, errlen, "out of memory");
		return CJ_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		long version;
		char name[128];
		enum variant v;
		size_t j;

		if (!files[i].name || !files[i].sql ||
		    parse_name(files[i].name, &version, name, sizeof(name), &v)) {
			snprintf(err, errlen,
			         "migration file name %s is not NNNN_name[.pg|.sqlite].sql",
			         files[i].name ? files[i].name : "(null)");
			goto invalid;
		}
		for (j = 0; j < k && steps[j].version != version; j++)
			;
		if (j == k) {
			/* Insert keeping versions ascending whatever the input order. */
			for (; j > 0 && steps[j - 1].version > version; j--)
				steps[j] = steps[j - 1];
			memset(&steps[j], 0, sizeof(steps[j]));
			steps[j].version = version;
			snprintf(steps[j].name, sizeof(steps[j].name), "%s", name);
			k++;
		} else if (strcmp(steps[j].name, name) || steps[j].files[v]) {
			snprintf(err, errlen, "migration version %ld has conflicting files (%s)",
			         version, files[i].name);
			goto invalid;
		}
		steps[j].files[v] = files[i].sql;
	}
	for (size_t j = 0; j < k; j++) {
		const char *mine = steps[j].files[is_pg ? V_PG : V_SQLITE];

		steps[j].sql = mine ? mine : steps[j].files[V_COMMON];
	}
	*out = steps;
	*nsteps = k;
	return CJ_OK;
invalid:
	free(steps);
	return CJ_EINVAL;
}

static int pg_lock(struct store_conn *c, int take, char *err, size_t errlen)
{
	struct store_param key[] = {store_p_int(MIGRATE_LOCK_KEY)};
	int64_t deadline = time_mono_ms() + LOCK_WAIT_MS;
	struct store_rows *r;
	int rc;

	if (!take)
		return store_conn_exec(c, "SELECT pg_advisory_unlock($1)", key, 1, NULL, err,
		                       errlen);
	for (;;) {
		const char *got;

		rc = store_conn_exec(c, "SELECT pg_try_advisory_lock($1)", key, 1, &r, err, errlen);
		if (rc)
			return rc;
		got = store_rows_next(r) ? store_rows_text(r, 0) : NULL;
		rc = got && !strcmp(got, "t");
		store_rows_free(r);
		if (rc)
			return CJ_OK;
		if (time_mono_ms() > deadline) {
			snprintf(err, errlen,
			         "another instance held the migration lock for over %d s",
			         LOCK_WAIT_MS / 1000);
			return CJ_ETIMEOUT;
		}
		pause_ms(LOCK_POLL_MS);
	}
}

/* BEGIN (EXCLUSIVE on SQLite), waiting while another instance migrates. */
static int begin_locked(struct store_conn *c, char *err, size_t errlen)
{
	int64_t deadline = time_mono_ms() + LOCK_WAIT_MS;
	int rc;

	while ((rc = store_begin_exclusive(c, err, errlen)) == CJ_ECONFLICT) {
		if (time_mono_ms() > deadline)
			return CJ_ETIMEOUT;
		pause_ms(LOCK_POLL_MS);
	}
	return rc;
}

/* Applies st unless already recorded. *done: 1 when this call applied it. */
static int apply_one(struct store_conn *c, const struct step *st, int *done, char *err,
                     size_t errlen)
{
	struct store_param p[] = {store_p_int(st->version), store_p_text(st->name),
	                          store_p_int(time_wall_s())};
	struct store_rows *r = NULL;
	char inner[512];
	int rc, exists;

	*done = 0;
	rc = begin_locked(c, inner, sizeof(inner));
	if (rc)
		goto fail;
	rc = store_conn_exec(c, CREATE_TABLE, NULL, 0, NULL, inner, sizeof(inner));
	if (!rc)
		rc = store_conn_exec(c, "SELECT version FROM schema_migrations WHERE version = $1",
		                     p, 1, &r, inner, sizeof(inner));
	if (rc)
		goto fail;
	exists = store_rows_next(r);
	store_rows_free(r);
	if (exists) {
		store_rollback(c);
		return CJ_OK;
	}
	if (st->sql)
		rc = store_conn_exec_script(c, st->sql, inner, sizeof(inner));
	if (!rc)
		rc = store_conn_exec(c,
		                     "INSERT INTO schema_migrations (version, name, applied_at) "
		                     "VALUES ($1, $2, $3)",
		                     p, 3, NULL, inner, sizeof(inner));
	if (!rc)
		rc = store_commit(c, inner, sizeof(inner));
	if (rc)
		goto fail;
	*done = 1;
	log_msg(L_INFO, "database migration %04ld_%s applied%s", st->version, st->name,
	        st->sql ? "" : " (nothing to run on this backend)");
	return CJ_OK;
fail:
	store_rollback(c);
	snprintf(err, errlen, "migration %04ld_%s failed: %s", st->version, st->name, inner);
	return rc;
}

int migrate_run_files(struct store *s, const struct migration_file *files, size_t n, int *applied,
                      char *err, size_t errlen)
{
	int is_pg = !strcmp(store_backend(s), "postgres");
	struct store_conn *c = NULL;
	struct step *steps;
	size_t nsteps;
	int rc, locked = 0, count = 0;

	if (applied)
		*applied = 0;
	rc = plan(files, n, is_pg, &steps, &nsteps, err, errlen);
	if (rc)
		return rc;
	rc = store_acquire(s, &c, err, errlen);
	if (rc)
		goto out;
	if (is_pg) {
		rc = pg_lock(c, 1, err, errlen);
		if (rc)
			goto out;
		locked = 1;
	}
	for (size_t i = 0; i < nsteps && !rc; i++) {
		int done = 0;

		/* A lock held by live traffic (lock timeout): try again shortly. */
		for (int attempt = 0; attempt < STEP_ATTEMPTS; attempt++) {
			rc = apply_one(c, &steps[i], &done, err, errlen);
			if (rc != CJ_ECONFLICT)
				break;
			pause_ms(LOCK_POLL_MS * (attempt + 1));
		}
		count += done;
	}
out:
	if (locked) {
		char uerr[256];

		if (pg_lock(c, 0, uerr, sizeof(uerr)))
			log_msg(L_WARNING, "releasing the migration lock failed: %s", uerr);
	}
	store_release(c);
	free(steps);
	if (applied)
		*applied = count;
	if (!rc)
		log_msg(L_INFO, "database schema is current (%zu migrations, %d applied now)",
		        nsteps, count);
	return rc;
}

int migrate_run(struct store *s, int *applied, char *err, size_t errlen)
{
	return migrate_run_files(s, migration_files, migration_files_count, applied, err, errlen);
}

int migrate_pending(struct store *s, int *pending, char *err, size_t errlen)
{
	int is_pg = !strcmp(store_backend(s), "postgres");
	const char *exists_sql = is_pg
	    ? "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
	      "current_schema() AND table_name = 'schema_migrations'"
	    : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
	      "name = 'schema_migrations'";
	struct store_rows *r = NULL;
	struct step *steps;
	size_t nsteps;
	int rc, have_table;

	*pending = 0;
	rc = plan(migration_files, migration_files_count, is_pg, &steps, &nsteps, err, errlen);
	if (rc)
		return rc;
	rc = store_exec(s, exists_sql, NULL, 0, &r, err, errlen);
	if (rc)
		goto out;
	have_table = store_rows_next(r) && store_rows_int(r, 0) > 0;
	store_rows_free(r);
	r = NULL;
	if (!have_table) {
		*pending = (int)nsteps;
		goto out;
	}
	rc = store_exec(s, "SELECT version FROM schema_migrations", NULL, 0, &r, err, errlen);
	if (rc)
		goto out;
	for (size_t i = 0; i < nsteps; i++) {
		int found = 0;

		store_rows_rewind(r);
		while (!found && store_rows_next(r))
			found = store_rows_int(r, 0) == steps[i].version;
		*pending += !found;
	}
out:
	store_rows_free(r);
	free(steps);
	return rc;
}
