/*
 * migrate.h - applies the numbered SQL files of migrations/ (compiled into
 * the binary by migrations/embed.py) to a store, for `catchup-jobs migrate`
 * and for `serve` at start.
 *
 * Files are named NNNN_name.sql (both backends) or NNNN_name.pg.sql /
 * NNNN_name.sqlite.sql (the variant of version NNNN for one backend, used
 * instead of the common file; a version with a variant for only one backend
 * is recorded as applied, doing nothing, on the other). A migration must not
 * contain BEGIN/COMMIT: each is applied in its own transaction and recorded
 * in schema_migrations(version, name, applied_at) in the same transaction.
 *
 * Instances starting together do not race: PostgreSQL runs under a session
 * advisory lock held on one connection for the whole run; SQLite applies
 * each migration inside BEGIN EXCLUSIVE and re-checks schema_migrations
 * inside it. Either way each migration is applied and recorded once.
 *
 * Errors: CJ_EINVAL (a file name that does not parse, two files for one
 * version), CJ_ETIMEOUT (another instance held the lock for over 2 minutes),
 * and the store's codes (err names the failing migration). Thread-safe in
 * the sense that concurrent runs serialise on the database lock.
 */
#ifndef CJ_MIGRATE_H
#define CJ_MIGRATE_H

#include <stddef.h>

#include "cj.h"

struct store;

/* One migration file, as the generated migrations_data.c lays it out. */
struct migration_file {
	const char *name; /* file name, e.g. "0001_schema.sql" */
	const char *sql;
};

/* The files compiled into the binary, sorted by name, NULL-terminated. */
extern const struct migration_file migration_files[];
extern const size_t migration_files_count;

/* Applies every pending embedded migration. *applied (may be NULL) receives
 * how many this call applied (0 when the schema was already current). */
int migrate_run(struct store *s, int *applied, char *err, size_t errlen) CJ_WUR;
/* The same with an explicit list of n files (tests). */
int migrate_run_files(struct store *s, const struct migration_file *files, size_t n, int *applied,
                      char *err, size_t errlen) CJ_WUR;
/* Counts the embedded migrations not yet applied, without changing
 * anything (for `check`). */
int migrate_pending(struct store *s, int *pending, char *err, size_t errlen) CJ_WUR;

#endif
