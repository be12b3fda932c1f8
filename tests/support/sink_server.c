/*
 * sink_server.c - a recording HTTP target; see sink_server.h.
 *
 * Owns its libmicrohttpd daemon and the list of requests (a JSON array
 * guarded by a mutex). A request is recorded once its body is in, and held
 * for the delay in the access handler's final call, which is what makes the
 * in-flight count meaningful. It must never listen beyond 127.0.0.1.
 */
#include "sink_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"

struct sink_server {
	struct MHD_Daemon *daemon;
	char url[64];
	pthread_mutex_t lock;
	/* Guarded by lock. */
	json_t *requests;
	int status;
	int delay_ms;
	int queued[64];
	int nqueued;
	int inflight;
	int max_inflight;
};

struct pending {
	char *body;
	size_t len;
	json_t *headers;
};

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
	char name[256];
	size_t i;

	(void)kind;
	for (i = 0; key[i] && i + 1 < sizeof(name); i++)
		name[i] = (char)tolower((unsigned char)key[i]);
	name[i] = '\0';
	json_object_set_new(cls, name, json_string(value ? value : ""));
	return MHD_YES;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts))
		;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
	struct sink_server *s = cls;
	struct pending *p = *state;
	struct MHD_Response *resp;
	int status, delay;
	enum MHD_Result ret;

	(void)version;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return MHD_NO;
		p->headers = json_object();
		MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, p->headers);
		*state = p;
		return MHD_YES;
	}
	if (*upload_size) {
		char *grown = realloc(p->body, p->len + *upload_size + 1);

		if (!grown)
			return MHD_NO;
		p->body = grown;
		memcpy(p->body + p->len, upload, *upload_size);
		p->len += *upload_size;
		p->body[p->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&s->lock);
	json_array_append_new(s->requests,
	                      json_pack("{s:s, s:s, s:o, s:s%, s:I}", "method", method, "path", url,
	                                "headers", p->headers, "body", p->body ? p->body : "",
	                                p->len, "atMs", (json_int_t)time_mono_ms()));
	p->headers = NULL;
	status = s->status;
	if (s->nqueued) {
		status = s->queued[0];
		memmove(s->queued, s->queued + 1, (size_t)(--s->nqueued) * sizeof(int));
	}
	delay = s->delay_ms;
	if (++s->inflight > s->max_inflight)
		s->max_inflight = s->inflight;
	pthread_mutex_unlock(&s->lock);
	if (delay > 0)
		sleep_ms(delay);
	pthread_mutex_lock(&s->lock);
	s->inflight--;
	pthread_mutex_unlock(&s->lock);
	resp = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
                      enum MHD_RequestTerminationCode toe)
{
	struct pending *p = *state;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!p)
		return;
	json_decref(p->headers);
	free(p->body);
	free(p);
	*state = NULL;
}

struct sink_server *sink_server_start(void)
{
	struct sink_server *s = calloc(1, sizeof(*s));
	const union MHD_DaemonInfo *info;
	struct sockaddr_in addr;

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->requests = json_array();
	s->status = 200;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED,
	    completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
	if (!s->daemon)
		goto fail;
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port)
		goto fail;
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", (unsigned)info->port);
	return s;
fail:
	sink_server_stop(s);
	return NULL;
}

void sink_server_stop(struct sink_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	json_decref(s->requests);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *sink_server_url(struct sink_server *s)
{
	return s->url;
}

void sink_server_set(struct sink_server *s, int status, int delay_ms)
{
	pthread_mutex_lock(&s->lock);
	s->status = status;
	s->delay_ms = delay_ms;
	pthread_mutex_unlock(&s->lock);
}

void sink_server_queue(struct sink_server *s, const int *statuses, int n)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < n && s->nqueued < 64; i++)
		s->queued[s->nqueued++] = statuses[i];
	pthread_mutex_unlock(&s->lock);
}

int sink_server_count(struct sink_server *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = (int)json_array_size(s->requests);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int sink_server_max_inflight(struct sink_server *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->max_inflight;
	pthread_mutex_unlock(&s->lock);
	return n;
}

json_t *sink_server_request(struct sink_server *s, int i)
{
	json_t *r;

	pthread_mutex_lock(&s->lock);
	r = json_incref(json_array_get(s->requests, (size_t)i));
	pthread_mutex_unlock(&s->lock);
	return r;
}

int sink_server_wait(struct sink_server *s, int count, int timeout_ms)
{
	int64_t start = time_mono_ms();

	while (sink_server_count(s) < count) {
		if (time_mono_ms() - start > timeout_ms)
			return -1;
		sleep_ms(10);
	}
	return 0;
}
