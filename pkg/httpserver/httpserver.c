/*
 * libwebsockets drives the sockets; one thread calls lws_service() until
 * httpserver_stop() sets the stop flag and wakes it with
 * lws_cancel_service(). A request's response is rendered whole when the
 * request arrives and written from the per-session buffer when the socket
 * is writable, so a slow scraper never blocks the thread.
 */
#include "httpserver.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

/* fds of lws's own in a server's table: the listening socket and the
 * cancel pipe, and one to spare. */
#define HTTPSERVER_LWS_FDS 4

/* Largest response body: /metrics of a busy operator is well under it. */
#define MAX_BODY ((size_t)32 << 20)

struct httpserver {
	struct lws_context *ctx;
	struct lws_protocols protocols[2];
	struct httpserver_options opts;
	char *host;
	int port;
	pthread_t thread;
	atomic_bool stop;
};

struct session {
	struct buf body;
	size_t sent;
	bool head_only;
};

int httpserver_parse_addr(const char *addr, char **host, int *port)
{
	if (!addr || !*addr)
		return -EINVAL;
	const char *colon = strrchr(addr, ':');
	const char *ps = colon ? colon + 1 : addr;
	char *end;
	errno = 0;
	long p = strtol(ps, &end, 10);
	if (errno || end == ps || *end || p < 0 || p > 65535)
		return -EINVAL;
	char *h = NULL;
	if (colon && colon != addr) {
		const char *hs = addr;
		size_t n = (size_t)(colon - addr);
		if (hs[0] == '[' && n >= 2 && hs[n - 1] == ']') {
			hs++;
			n -= 2;
		}
		h = strndup(hs, n);
		if (!h)
			abort();
	}
	*host = h;
	*port = (int)p;
	return 0;
}

static const struct httpserver_route *route_for(struct httpserver *s,
					       const char *path)
{
	for (size_t i = 0; i < HTTPSERVER_MAX_ROUTES && s->opts.routes[i].path; i++)
		if (strcmp(s->opts.routes[i].path, path) == 0)
			return &s->opts.routes[i];
	return NULL;
}

static int send_headers(struct lws *wsi, struct session *ss, int status,
			const char *ctype)
{
	unsigned char hdr[LWS_PRE + 1024];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr);
	if (lws_add_http_common_headers(wsi, (unsigned)status, ctype,
					ss->body.len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
					 (const unsigned char *)"no-store", 8,
					 &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_http(struct lws *wsi, struct session *ss, const char *path)
{
	struct httpserver *s = lws_context_user(lws_get_context(wsi));
	buf_init(&ss->body, MAX_BODY);
	ss->sent = 0;
	ss->head_only = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
	bool get = ss->head_only || lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	const char *ctype = "text/plain; charset=utf-8";
	int status;
	const struct httpserver_route *r = get ? route_for(s, path) : NULL;
	if (!get) {
		status = 405;
		buf_puts(&ss->body, "method not allowed\n");
	} else if (!r) {
		status = 404;
		buf_puts(&ss->body, "404 page not found\n");
	} else {
		status = r->fn(r->userdata, &ss->body, &ctype);
	}
	if (buf_error(&ss->body)) {
		/* A handler's buf_put* went past MAX_BODY: a cut body would be
		 * misread, so the client gets an error instead. */
		buf_reset(&ss->body);
		buf_puts(&ss->body, "response too large\n");
		status = 500;
		ctype = "text/plain; charset=utf-8";
	}
	if (ss->head_only)
		buf_reset(&ss->body);
	return send_headers(wsi, ss, status, ctype);
}

static int on_writable(struct lws *wsi, struct session *ss)
{
	/* lws_write() needs LWS_PRE bytes of headroom before the data. */
	enum { CHUNK = 16384 };
	unsigned char out[LWS_PRE + CHUNK];
	size_t left = ss->body.len - ss->sent;
	size_t n = left < CHUNK ? left : CHUNK;
	if (n)
		memcpy(out + LWS_PRE, ss->body.data + ss->sent, n);
	ss->sent += n;
	bool last = ss->sent == ss->body.len;
	if (lws_write(wsi, out + LWS_PRE, n,
		      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	buf_free(&ss->body);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct session *ss = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, ss, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return ss ? on_writable(wsi, ss) : 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (ss)
			buf_free(&ss->body);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static void *service_thread(void *arg)
{
	struct httpserver *s = arg;
	while (!atomic_load(&s->stop))
		if (lws_service(s->ctx, 0) < 0)
			break;
	return NULL;
}

/* Tries to bind the address before lws does: lws leaks memory when its
 * listen socket fails, and its message does not say which address. */
static int probe_bind(const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	int rc = 0;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

int httpserver_start(const struct httpserver_options *opts,
		     struct httpserver **out)
{
	struct httpserver *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->opts = *opts;
	int rc = httpserver_parse_addr(opts->addr, &s->host, &s->port);
	if (rc < 0) {
		log_error(opts->log, "http: bad listen address \"%s\": want host:port or :port",
			  opts->addr ? opts->addr : "");
		goto fail;
	}
	rc = probe_bind(s->host, s->port);
	if (rc < 0) {
		log_error(opts->log, "http: cannot listen on \"%s\": %s", opts->addr,
			  strerror(-rc));
		rc = rc == -EINVAL ? -EINVAL : -EADDRINUSE;
		goto fail;
	}
	/* lws logs to stderr by default; errors only, everything else is
	 * ours to report. */
	lws_set_log_level(LLL_ERR, NULL);
	s->protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = callback,
		.per_session_data_size = sizeof(struct session),
	};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = s->port;
	info.iface = s->host;
	info.protocols = s->protocols;
	info.user = s;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.timeout_secs = 10;
	/* Bounds lws's per-fd tables to this many entries instead of the
	 * open-file limit (libwebsockets 4.1, lws-context-vhost.h,
	 * fd_limit_per_thread), with room for its listening socket and
	 * cancel pipe. */
	info.fd_limit_per_thread = (opts->max_connections ? opts->max_connections
							  : HTTPSERVER_MAX_CONNECTIONS) + HTTPSERVER_LWS_FDS;
	s->ctx = lws_create_context(&info);
	if (!s->ctx) {
		log_error(opts->log, "http: cannot listen on \"%s\" (address in use or not local)",
			  opts->addr);
		rc = -EADDRINUSE;
		goto fail;
	}
	struct lws_vhost *vh = lws_get_vhost_by_name(s->ctx, "default");
	if (vh)
		s->port = lws_get_vhost_listen_port(vh);
	if (pthread_create(&s->thread, NULL, service_thread, s) != 0)
		abort();
	*out = s;
	return 0;
fail:
	if (s->ctx)
		lws_context_destroy(s->ctx);
	free(s->host);
	free(s);
	return rc;
}

int httpserver_port(const struct httpserver *s)
{
	return s->port;
}

void httpserver_stop(struct httpserver *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	lws_cancel_service(s->ctx);
	pthread_join(s->thread, NULL);
	lws_context_destroy(s->ctx);
	free(s->host);
	free(s);
}
