/*
 * pgtest.c - a throwaway PostgreSQL cluster for tests; see pgtest.h.
 *
 * Owns the cluster's temporary directory and the server process started by
 * pg_ctl. State is set once in the starting process before the test runner
 * forks; forked tests only read it (and may restart the server, which keeps
 * its port). Never touches a server it did not start, except to create and
 * drop its own databases on $CJ_TEST_DATABASE_URL.
 */
#include "pgtest.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "migrate.h"
#include "proc.h"
#include "random.h"
#include "store.h"

/* Set once by pgtest_start() in the owning process, read-only afterwards. */
static struct {
	int started;
	int owned;
	pid_t owner;
	char bindir[256];
	char dir[256];
	char data[300];
	char logfile[300];
	char url[512];
	char base[512]; /* URL up to and including the '/' before the db name */
	char query[256]; /* the URL's "?..." part, or "" */
	char password[64];
	int port;
	uid_t uid;
	gid_t gid;
	int as_user; /* run server binaries as uid/gid (we are root) */
} pg;

static int find_bindir(void)
{
	glob_t g;
	long best = -1;

	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g))
		return -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *v = g.gl_pathv[i] + strlen("/usr/lib/postgresql/");
		long ver = strtol(v, NULL, 10);

		if (ver > best) {
			best = ver;
			snprintf(pg.bindir, sizeof(pg.bindir), "%.*s",
			         (int)(strlen(g.gl_pathv[i]) - 7), g.gl_pathv[i]);
		}
	}
	globfree(&g);
	return best < 0 ? -1 : 0;
}

/* Runs a server binary (as the postgres user when we are root) and waits. */
static int run_tool(const char *tool, const char *const args[])
{
	char path[320];
	const char *argv[32];
	static const char *const env[] = {"LC_ALL=C", "PATH=/usr/bin:/bin", NULL};
	int n = 0, st;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", pg.bindir, tool);
	argv[n++] = path;
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			close(fd);
		}
		if (pg.as_user && (setgroups(0, NULL) || setgid(pg.gid) || setuid(pg.uid)))
			_exit(126);
		if (chdir(pg.dir))
			_exit(126);
		execve(path, (char *const *)argv, (char *const *)env);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int server_start(void)
{
	char opts[512];
	const char *args[] = {"-D", pg.data, "-l", pg.logfile, "-w", "-t",
	                      "60", "-o",    opts, "start",    NULL};

	snprintf(opts, sizeof(opts),
	         "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
	         "-c synchronous_commit=off",
	         pg.port, pg.dir);
	return run_tool("pg_ctl", args);
}

int pgtest_server_stop(void)
{
	const char *args[] = {"-D", pg.data, "-w", "-t", "60", "-m", "fast", "stop", NULL};

	if (!pg.owned)
		return -1;
	return run_tool("pg_ctl", args);
}

int pgtest_server_start(void)
{
	if (!pg.owned)
		return -1;
	return server_start();
}

int pgtest_restart(void)
{
	const char *args[] = {"-D", pg.data, "-l",   pg.logfile, "-w", "-t",
	                      "60", "-m",    "fast", "restart",  NULL};

	if (!pg.owned)
		return -1;
	return run_tool("pg_ctl", args);
}

static int write_private_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t n = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n || (pg.as_user && fchown(fd, pg.uid, pg.gid))) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int start_own(void)
{
	char pwfile[300], pwarg[320];
	char *dir;
	const char *initdb[] = {"-D", pg.data, "-U",         "cjtest", pwarg, "-A", "scram-sha-256",
	                        "-E", "UTF8",  "--locale=C", "-N",     NULL};

	if (find_bindir()) {
		fprintf(stderr,
		        "pgtest: no /usr/lib/postgresql/*/bin/pg_ctl (install postgresql)\n");
		return -1;
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");

		if (!pw) {
			fprintf(stderr, "pgtest: running as root but no 'postgres' user exists\n");
			return -1;
		}
		pg.uid = pw->pw_uid;
		pg.gid = pw->pw_gid;
		pg.as_user = 1;
	}
	dir = make_temp_dir();
	if (!dir)
		return -1;
	snprintf(pg.dir, sizeof(pg.dir), "%s", dir);
	free(dir);
	if (pg.as_user && chown(pg.dir, pg.uid, pg.gid))
		return -1;
	snprintf(pg.data, sizeof(pg.data), "%s/data", pg.dir);
	snprintf(pg.logfile, sizeof(pg.logfile), "%s/server.log", pg.dir);
	snprintf(pwfile, sizeof(pwfile), "%s/pw", pg.dir);
	snprintf(pwarg, sizeof(pwarg), "--pwfile=%s", pwfile);
	if (random_hex(pg.password, sizeof(pg.password), 16) ||
	    write_private_file(pwfile, pg.password))
		return -1;
	pg.owned = 1;
	if (run_tool("initdb", initdb)) {
		fprintf(stderr, "pgtest: initdb failed in %s\n", pg.dir);
		return -1;
	}
	unlink(pwfile);
	for (int attempt = 0;; attempt++) {
		pg.port = free_port();
		if (pg.port > 0 && !server_start())
			break;
		if (attempt == 3) {
			fprintf(stderr, "pgtest: postgres did not start; see %s\n", pg.logfile);
			return -1;
		}
	}
	snprintf(pg.base, sizeof(pg.base), "postgresql://cjtest:%s@127.0.0.1:%d/", pg.password,
	         pg.port);
	snprintf(pg.url, sizeof(pg.url), "%spostgres", pg.base);
	return 0;
}

/* Splits an external URL into base ("scheme://auth/"), and "?query". */
static int adopt_external(const char *url)
{
	const char *auth = strstr(url, "://"), *slash, *q;
	PQconninfoOption *opts;

	if (!auth || strlen(url) >= sizeof(pg.url))
		return -1;
	snprintf(pg.url, sizeof(pg.url), "%s", url);
	auth += 3;
	slash = auth + strcspn(auth, "/?");
	q = strchr(slash, '?');
	snprintf(pg.base, sizeof(pg.base), "%.*s/", (int)(slash - url), url);
	snprintf(pg.query, sizeof(pg.query), "%s", q ? q : "");
	opts = PQconninfoParse(url, NULL);
	if (!opts)
		return -1;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val)
			snprintf(pg.password, sizeof(pg.password), "%s", o->val);
	PQconninfoFree(opts);
	return 0;
}

static int admin_exec(const char *sql)
{
	PGconn *c = PQconnectdb(pg.url);
	PGresult *r;
	int ok;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgtest: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* Drops the databases this process's tests created (external server). */
static void drop_own_databases(void)
{
	PGconn *c = PQconnectdb(pg.url);
	char sql[256];
	PGresult *r;

	if (PQstatus(c) == CONNECTION_OK) {
		snprintf(sql, sizeof(sql),
		         "SELECT datname FROM pg_database WHERE datname LIKE 'cjt_%d_%%'",
		         (int)pg.owner);
		r = PQexec(c, sql);
		for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
			PGresult *d;

			snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
			         PQgetvalue(r, i, 0));
			d = PQexec(c, sql);
			PQclear(d);
		}
		PQclear(r);
	}
	PQfinish(c);
}

static void at_exit_stop(void)
{
	pgtest_stop();
}

int pgtest_start(void)
{
	const char *ext = getenv("CJ_TEST_DATABASE_URL");

	if (pg.started)
		return 0;
	pg.owner = getpid();
	if (ext && *ext) {
		if (adopt_external(ext)) {
			fprintf(stderr, "pgtest: CJ_TEST_DATABASE_URL is not a postgres URL\n");
			return -1;
		}
	} else if (start_own()) {
		pgtest_stop();
		return -1;
	}
	pg.started = 1;
	atexit(at_exit_stop);
	return 0;
}

void pgtest_stop(void)
{
	const char *args[] = {"-D", pg.data, "-w", "-t", "60", "-m", "immediate", "stop", NULL};

	if (getpid() != pg.owner)
		return; /* a forked test exiting */
	if (pg.started && !pg.owned)
		drop_own_databases();
	if (pg.owned) {
		run_tool("pg_ctl", args);
		pg.owned = 0;
	}
	if (pg.dir[0])
		remove_tree(pg.dir);
	pg.dir[0] = '\0';
	pg.started = 0;
}

const char *pgtest_url(void)
{
	return pg.started ? pg.url : NULL;
}

const char *pgtest_password(void)
{
	return pg.password;
}

int pgtest_owned(void)
{
	return pg.owned;
}

const char *pgtest_socket_dir(void)
{
	return pg.owned ? pg.dir : NULL;
}

int pgtest_port(void)
{
	return pg.owned ? pg.port : 0;
}

char *pgtest_new_database(void)
{
	char name[64], hex[17], sql[128], *url;
	size_t n;

	if (!pg.started || random_hex(hex, sizeof(hex), 8))
		return NULL;
	snprintf(name, sizeof(name), "cjt_%d_%s", (int)pg.owner, hex);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (admin_exec(sql))
		return NULL;
	n = strlen(pg.base) + strlen(name) + strlen(pg.query) + 1;
	url = malloc(n);
	if (url)
		snprintf(url, n, "%s%s%s", pg.base, name, pg.query);
	return url;
}

char *pgtest_backend_url(int b, char **tmpdir)
{
	char *dir, *url;
	size_t n;

	*tmpdir = NULL;
	if (b == PGTEST_POSTGRES)
		return pgtest_new_database();
	dir = make_temp_dir();
	if (!dir)
		return NULL;
	n = strlen(dir) + 32;
	url = malloc(n);
	if (!url) {
		remove_tree(dir);
		free(dir);
		return NULL;
	}
	snprintf(url, n, "sqlite:%s/db/test.db", dir);
	*tmpdir = dir;
	return url;
}

const char *pgtest_backend_name(int b)
{
	return b == PGTEST_POSTGRES ? "postgres" : "sqlite";
}

void pgtest_db_open(struct pgtest_db *t, int b)
{
	char err[512];

	t->url = pgtest_backend_url(b, &t->dir);
	ck_assert_ptr_nonnull(t->url);
	ck_assert_msg(store_open(t->url, &t->s, err, sizeof(err)) == CJ_OK, "%s", err);
	ck_assert_msg(migrate_run(t->s, NULL, err, sizeof(err)) == CJ_OK, "%s", err);
}

void pgtest_db_close(struct pgtest_db *t)
{
	store_close(t->s);
	if (t->dir) {
		remove_tree(t->dir);
		free(t->dir);
	}
	free(t->url);
}
