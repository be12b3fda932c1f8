/*
 * floor.c - the floor the ping path is measured against (bench/floor.sh).
 *
 * The least a server built from the product's own libraries can do per
 * pushed job: libmicrohttpd with the product's thread model (one thread per
 * connection, poll), the request body read, then two POSTs over one
 * kept-alive libcurl handle per thread to the Upstash REST server - the
 * claim and the completion, as the same Lua scripts by EVALSHA - and a
 * small JSON answer. No token check (the product caches verified tokens),
 * no routing, no payload parse, no logging, no metrics.
 *
 *   floor --port P --upstash URL --token T
 */
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The scripts of src/idem_redis.c, loaded once; their SHA-1s are used after. */
static const char claim_script[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then\n"
    "  return ARGV[1]\n"
    "end\n"
    "return redis.call('GET', KEYS[1])\n";
static const char complete_script[] = "local v = redis.call('GET', KEYS[1])\n"
                                      "if v == ARGV[1] then\n"
                                      "  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n"
                                      "  return 1\n"
                                      "end\n"
                                      "if v == ARGV[2] then return 1 end\n"
                                      "return 0\n";

static char upstash_url[512];
static struct curl_slist *headers;
static char claim_sha[41], complete_sha[41];
static pthread_key_t handle_key;

struct reply {
	char data[512];
	size_t len;
};

struct body {
	char data[4096];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *u)
{
	struct reply *r = u;
	size_t len = size * n;

	if (len > sizeof(r->data) - 1 - r->len)
		len = sizeof(r->data) - 1 - r->len;
	memcpy(r->data + r->len, p, len);
	r->len += len;
	r->data[r->len] = '\0';
	return size * n;
}

static void handle_free(void *h)
{
	curl_easy_cleanup(h);
}

/* One kept-alive handle per thread, as a connection thread would hold. */
static CURL *handle(void)
{
	CURL *h = pthread_getspecific(handle_key);

	if (h)
		return h;
	h = curl_easy_init();
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, upstash_url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
	pthread_setspecific(handle_key, h);
	return h;
}

/* POSTs body; 0 and the answer in r on a 200. */
static int post(const char *body, struct reply *r)
{
	CURL *h = handle();
	long status = 0;

	if (!h)
		return -1;
	r->len = 0;
	r->data[0] = '\0';
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status == 200 ? 0 : -1;
}

static int load(const char *script, char sha[41])
{
	char body[1024], *p;
	struct reply r;
	size_t i, o = 0;

	o = (size_t)snprintf(body, sizeof(body), "[\"SCRIPT\",\"LOAD\",\"");
	for (i = 0; script[i] && o < sizeof(body) - 8; i++) {
		if (script[i] == '\n') {
			body[o++] = '\\';
			body[o++] = 'n';
		} else {
			if (script[i] == '"' || script[i] == '\\')
				body[o++] = '\\';
			body[o++] = script[i];
		}
	}
	memcpy(body + o, "\"]", 3);
	if (post(body, &r) || !(p = strstr(r.data, "\"result\":\"")) || strlen(p + 10) < 40)
		return -1;
	memcpy(sha, p + 10, 40);
	sha[40] = '\0';
	return 0;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **state)
{
	struct body *b = *state;
	const char *task;
	char cmd[1024];
	struct reply r;

	(void)cls, (void)url, (void)method, (void)version;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*state = b;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		if (n > sizeof(b->data) - b->len)
			n = sizeof(b->data) - b->len;
		memcpy(b->data + b->len, upload, n);
		b->len += n;
		*upload_size = 0;
		return MHD_YES;
	}
	task = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CloudTasks-TaskName");
	if (!task || strlen(task) > 200)
		return answer(c, 400, "{\"error\":\"invalid_request\"}");
	snprintf(cmd, sizeof(cmd), "[\"EVALSHA\",\"%s\",\"1\",\"idem:ping:%s\",\"r:1\",\"30\"]",
	         claim_sha, task);
	if (post(cmd, &r))
		return answer(c, 503, "{\"error\":\"unavailable\"}");
	snprintf(cmd, sizeof(cmd),
	         "[\"EVALSHA\",\"%s\",\"1\",\"idem:ping:%s\",\"r:1\",\"d:1\",\"86400\"]",
	         complete_sha, task);
	if (post(cmd, &r))
		return answer(c, 503, "{\"error\":\"unavailable\"}");
	return answer(c, 200, "{\"status\":\"completed\"}");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c, (void)toe;
	free(*state);
	*state = NULL;
}

int main(int argc, char **argv)
{
	const char *upstash = NULL, *token = NULL;
	char auth[600];
	unsigned port = 0;
	struct MHD_Daemon *d;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sigset_t set;
	int i, sig;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--upstash"))
			upstash = argv[i + 1];
		else if (!strcmp(argv[i], "--token"))
			token = argv[i + 1];
	}
	if (!port || port > 65535 || !upstash || !token) {
		fprintf(stderr, "usage: floor --port P --upstash URL --token T\n");
		return 2;
	}
	snprintf(upstash_url, sizeof(upstash_url), "%s/", upstash);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || pthread_key_create(&handle_key, handle_free))
		return 1;
	headers = curl_slist_append(NULL, auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	if (!headers || load(claim_script, claim_sha) || load(complete_script, complete_sha)) {
		fprintf(stderr, "floor: cannot load the scripts into %s\n", upstash);
		return 1;
	}
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                         MHD_USE_POLL | MHD_USE_ITC,
	                     (uint16_t)port, NULL, NULL, on_access, NULL, MHD_OPTION_SOCK_ADDR,
	                     (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
	                     on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, 4096u,
	                     MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_END);
	if (!d)
		return 1;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	curl_slist_free_all(headers);
	curl_global_cleanup();
	return 0;
}
