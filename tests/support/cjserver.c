/*
 * cjserver.c - the real binary under test; see cjserver.h.
 */
#include "cjserver.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *bin(void)
{
	const char *b = getenv("CJ_BIN");

	return b ? b : "./build/catchup-jobs";
}

static int start_on(struct cj_server *s, char *const env[], int port)
{
	char *full[128], port_env[32], url[96], path_env[1024];
	char *argv[] = {(char *)bin(), "serve", NULL};
	int n = 0, i;

	s->port = port;
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
	snprintf(port_env, sizeof(port_env), "PORT=%d", s->port);
	snprintf(path_env, sizeof(path_env), "PATH=%s",
	         getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	full[n++] = port_env;
	full[n++] = "BIND_ADDRESS=127.0.0.1";
	full[n++] = path_env;
	for (i = 0; env && env[i] && n < 126; i++)
		full[n++] = env[i];
	full[n] = NULL;
	if (proc_start(&s->proc, argv, full, 1))
		return -1;
	snprintf(url, sizeof(url), "%s/health/live", s->base);
	if (wait_http(url, 200, 30000)) {
		char *log = proc_output(&s->proc);

		fprintf(stderr, "server did not start; its output:\n%s\n", log);
		free(log);
		proc_stop(&s->proc);
		return -1;
	}
	return 0;
}

int cj_server_start(struct cj_server *s, char *const env[])
{
	return start_on(s, env, free_port());
}

int cj_server_restart(struct cj_server *s, char *const env[])
{
	return start_on(s, env, s->port);
}

int cj_server_stop(struct cj_server *s)
{
	proc_signal(&s->proc, SIGTERM);
	if (proc_wait(&s->proc, 15000)) {
		proc_stop(&s->proc);
		return -1;
	}
	return s->proc.exit_status;
}

char *cj_server_log(const struct cj_server *s)
{
	return proc_output(&s->proc);
}

int cj_push(const struct cj_server *s, const char *type, const char *token, const char *queue,
            const char *task, int retry, const char *body, struct httpc_resp *r)
{
	return cj_push_ex(s, type, token, queue, task, retry, body, NULL, r);
}

int cj_push_ex(const struct cj_server *s, const char *type, const char *token, const char *queue,
               const char *task, int retry, const char *body, const char *const *extra,
               struct httpc_resp *r)
{
	char url[256], auth[20000], qh[200], th[600], rh[64];
	const char *headers[24];
	int n = 0;
	int has_ct = 0;

	snprintf(url, sizeof(url), "%s/jobs/%s", s->base, type);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers[n++] = auth;
	}
	if (queue) {
		snprintf(qh, sizeof(qh), "X-CloudTasks-QueueName: %s", queue);
		headers[n++] = qh;
	}
	if (task) {
		snprintf(th, sizeof(th), "X-CloudTasks-TaskName: %s", task);
		headers[n++] = th;
	}
	if (retry >= 0) {
		snprintf(rh, sizeof(rh), "X-CloudTasks-TaskRetryCount: %d", retry);
		headers[n++] = rh;
	}
	headers[n++] = "User-Agent: Google-Cloud-Tasks";
	for (; extra && *extra && n < 22; extra++) {
		has_ct |= !strncasecmp(*extra, "Content-Type:", 13);
		headers[n++] = *extra;
	}
	/* Cloud Tasks sends no Content-Type unless the task set one. */
	if (!has_ct)
		headers[n++] = "Content-Type:";
	headers[n] = NULL;
	return httpc_request("POST", url, headers, body ? body : "{}", body ? strlen(body) : 2,
	                     60000, r);
}

int cj_run(char *const args[], char *const env[], char **out, char **err)
{
	char *argv[32], path_env[1024], *full[64];
	int n = 0, i;

	argv[n++] = (char *)bin();
	for (i = 0; args && args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	n = 0;
	snprintf(path_env, sizeof(path_env), "PATH=%s",
	         getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	full[n++] = path_env;
	for (i = 0; env && env[i] && n < 63; i++)
		full[n++] = env[i];
	full[n] = NULL;
	return proc_run(argv, full, 1, 60000, out, err);
}

int log_count(const char *log, const char *const *needles)
{
	const char *line = log;
	int count = 0;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char *copy = strndup(line, len);
		int all = copy != NULL;

		for (const char *const *n = needles; all && *n; n++)
			all = strstr(copy, *n) != NULL;
		count += all;
		free(copy);
		line = eol ? eol + 1 : NULL;
	}
	return count;
}

int cj_server_log_wait(const struct cj_server *s, const char *const *needles, int timeout_ms)
{
	int waited = 0, n = 0;

	for (;;) {
		char *log = cj_server_log(s);

		n = log_count(log, needles);
		free(log);
		if (n > 0 || waited >= timeout_ms)
			return n;
		msleep(20);
		waited += 20;
	}
}
