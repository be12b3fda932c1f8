/*
 * jwks_server.c - a settable fake of Google's JWK set endpoint; see
 * jwks_server.h.
 *
 * Owns its libmicrohttpd daemon and the current answer (guarded by a mutex;
 * each request copies it). It must never listen beyond 127.0.0.1.
 */
#include "jwks_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct jwks_server {
	struct MHD_Daemon *daemon;
	char url[96];
	atomic_int fetches;
	pthread_mutex_t lock;
	/* Guarded by lock. */
	char *body;
	int max_age;
	int status;
	int delay_ms;
};

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
	struct jwks_server *s = cls;
	struct MHD_Response *resp;
	char cc[96], *body;
	int status, max_age, delay;
	enum MHD_Result ret;

	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	if (!*state) { /* first call for this request: headers only */
		*state = s;
		return MHD_YES;
	}
	pthread_mutex_lock(&s->lock);
	body = strdup(s->body);
	status = s->status;
	max_age = s->max_age;
	delay = s->delay_ms;
	pthread_mutex_unlock(&s->lock);
	if (!body)
		return MHD_NO;
	if (delay > 0)
		sleep_ms(delay);
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json; charset=UTF-8");
	if (max_age >= 0) {
		snprintf(cc, sizeof(cc), "public, max-age=%d, must-revalidate, no-transform",
		         max_age);
		MHD_add_response_header(resp, "Cache-Control", cc);
	}
	atomic_fetch_add(&s->fetches, 1);
	ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct jwks_server *jwks_server_start(void)
{
	struct jwks_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;

	if (!s)
		return NULL;
	s->body = strdup("{\"keys\":[]}");
	if (!s->body || pthread_mutex_init(&s->lock, NULL)) {
		free(s->body);
		free(s);
		return NULL;
	}
	s->max_age = -1;
	s->status = 200;
	atomic_init(&s->fetches, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	                                 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
	                             0, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR, &addr,
	                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (!s->daemon)
		goto fail;
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port)
		goto fail;
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/oauth2/v3/certs",
	         (unsigned)info->port);
	return s;
fail:
	jwks_server_stop(s);
	return NULL;
}

const char *jwks_server_url(struct jwks_server *s)
{
	return s->url;
}

void jwks_server_set(struct jwks_server *s, const char *body, int max_age, int status)
{
	char *copy = strdup(body ? body : "");

	if (!copy)
		abort(); /* a test helper: nothing sensible to go on with */
	pthread_mutex_lock(&s->lock);
	free(s->body);
	s->body = copy;
	s->max_age = max_age;
	s->status = status;
	pthread_mutex_unlock(&s->lock);
}

void jwks_server_set_delay(struct jwks_server *s, int ms)
{
	pthread_mutex_lock(&s->lock);
	s->delay_ms = ms;
	pthread_mutex_unlock(&s->lock);
}

int jwks_server_fetches(struct jwks_server *s)
{
	return atomic_load(&s->fetches);
}

void jwks_server_stop(struct jwks_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	pthread_mutex_destroy(&s->lock);
	free(s->body);
	free(s);
}
