/*
 * proc.c - child processes for tests; see proc.h.
 */
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"

extern char **environ;

void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* 1 when entry ("NAME=...") sets the variable that name_eq ("NAME=")
 * names. */
static int same_name(const char *entry, const char *name_eq, size_t len)
{
	return !strncmp(entry, name_eq, len);
}

/* The child's environment, built before the fork: after it, a child of a
 * threaded test may not call malloc or setenv (another thread may have held
 * their locks at the fork, and the child would hang before exec, silent).
 * The process's own (unless clear_env), then each "NAME=VALUE" of env, a
 * later one replacing an earlier one, "NAME=" removing it. The strings are
 * borrowed; free the array alone. NULL when out of memory. */
static char **build_env(char *const env[], int clear_env)
{
	size_t n = 0, cap = 1, i, k;
	char **out;

	for (i = 0; !clear_env && environ[i]; i++)
		cap++;
	for (i = 0; env && env[i]; i++)
		cap++;
	out = calloc(cap, sizeof(*out));
	if (!out)
		return NULL;
	for (i = 0; !clear_env && environ[i]; i++)
		out[n++] = environ[i];
	for (i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		size_t len;

		if (!eq)
			continue;
		len = (size_t)(eq - env[i]) + 1;
		for (k = 0; k < n && !same_name(out[k], env[i], len); k++)
			;
		if (k < n) { /* drop the earlier one */
			memmove(out + k, out + k + 1, (n - k - 1) * sizeof(*out));
			n--;
		}
		if (eq[1])
			out[n++] = env[i];
	}
	out[n] = NULL;
	return out;
}

int proc_start(struct proc *p, char *const argv[], char *const env[], int clear_env)
{
	static int counter;
	char **envp = build_env(env, clear_env);
	pid_t parent;
	int fd, parent_is_main;

	if (!envp)
		return -1;
	snprintf(p->log_path, sizeof(p->log_path), "/tmp/cjtest-%d-%d.log", (int)getpid(),
	         counter++);
	p->exit_status = -1;
	parent = getpid();
	parent_is_main = gettid() == parent;
	p->pid = fork();
	if (p->pid < 0) {
		free(envp);
		return -1;
	}
	if (p->pid == 0) {
		fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		setpgid(0, 0);
		/* A test that dies on a failed assertion takes its servers and
		 * fakes with it instead of leaving them listening. The signal
		 * follows the forking thread, not the process: only a child of
		 * the main thread (which lives as long as the test) gets it, so
		 * a child a helper thread restarts outlives that thread. */
		if (parent_is_main) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(127);
		}
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(envp);
	return 0;
}

void proc_signal(struct proc *p, int sig)
{
	if (p->pid > 0)
		kill(p->pid, sig);
}

int proc_wait(struct proc *p, int timeout_ms)
{
	int waited = 0, st;

	if (p->pid <= 0)
		return 0;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);

		if (r == p->pid) {
			p->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			p->pid = 0;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= timeout_ms)
			return -1;
		msleep(10);
		waited += 10;
	}
}

void proc_stop(struct proc *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	if (proc_wait(p, 5000)) {
		kill(p->pid, SIGKILL);
		proc_wait(p, 5000);
	}
	unlink(p->log_path);
}

char *proc_output(const struct proc *p)
{
	FILE *f = fopen(p->log_path, "r");
	char *data = NULL;
	size_t len = 0;

	if (!f)
		return strdup("");
	for (;;) {
		char chunk[4096];
		size_t n = fread(chunk, 1, sizeof(chunk), f);
		char *grown;

		if (!n)
			break;
		grown = realloc(data, len + n + 1);
		if (!grown)
			break;
		data = grown;
		memcpy(data + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!data)
		return strdup("");
	data[len] = '\0';
	return data;
}

static char *slurp_fd(int fd)
{
	size_t len = 0;
	char *data = malloc(1);

	if (!data)
		return NULL;
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		char *grown;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		grown = realloc(data, len + (size_t)n + 1);
		if (!grown)
			break;
		data = grown;
		memcpy(data + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	data[len] = '\0';
	return data;
}

int proc_run(char *const argv[], char *const env[], int clear_env, int timeout_ms, char **out,
             char **err)
{
	char outp[64], errp[64], **envp;
	struct proc p;
	int fo, fe, rc;
	pid_t pid;

	snprintf(outp, sizeof(outp), "/tmp/cjrun-%d-out-XXXXXX", (int)getpid());
	snprintf(errp, sizeof(errp), "/tmp/cjrun-%d-err-XXXXXX", (int)getpid());
	envp = build_env(env, clear_env);
	fo = mkstemp(outp);
	fe = mkstemp(errp);
	if (fo < 0 || fe < 0 || !envp) {
		free(envp);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		free(envp);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		dup2(fo, 1);
		dup2(fe, 2);
		if (nul >= 0)
			dup2(nul, 0);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(envp);
	p.pid = pid;
	p.log_path[0] = '\0';
	rc = proc_wait(&p, timeout_ms);
	if (rc) {
		kill(pid, SIGKILL);
		proc_wait(&p, 5000);
	}
	lseek(fo, 0, SEEK_SET);
	lseek(fe, 0, SEEK_SET);
	if (out)
		*out = slurp_fd(fo);
	if (err)
		*err = slurp_fd(fe);
	close(fo);
	close(fe);
	unlink(outp);
	unlink(errp);
	return rc ? -1 : p.exit_status;
}

int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int wait_port(int port, int timeout_ms)
{
	int waited;

	for (waited = 0; waited <= timeout_ms; waited += 20) {
		struct sockaddr_in a;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			return -1;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((unsigned short)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			close(fd);
			return 0;
		}
		close(fd);
		msleep(20);
	}
	return -1;
}

int wait_http(const char *url, long expect_status, int timeout_ms)
{
	int waited;

	for (waited = 0; waited <= timeout_ms; waited += 25) {
		struct httpc_resp r;

		long st = httpc_get(url, NULL, &r) ? 0 : r.status;

		httpc_resp_free(&r);
		if (st == expect_status)
			return 0;
		msleep(25);
	}
	return -1;
}

char *make_temp_dir(void)
{
	char tmpl[] = "/tmp/cjtest-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

void remove_tree(const char *path)
{
	char *argv[] = {"/bin/rm", "-rf", (char *)path, NULL};

	if (path && *path && strcmp(path, "/"))
		proc_run(argv, NULL, 0, 30000, NULL, NULL);
}
