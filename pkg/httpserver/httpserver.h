/*
 * httpserver: a small HTTP/1.1 server on libwebsockets for the operator's
 * own endpoints (/metrics, /healthz, /readyz).
 *
 * Each server runs one service thread. Handlers run on it, one at a time,
 * and must be quick (render a buffer and return). Only GET and HEAD are
 * served; unknown paths answer 404.
 */
#ifndef PHO_HTTPSERVER_H
#define PHO_HTTPSERVER_H

#include "pkg/buf/buf.h"
#include "pkg/log/log.h"

struct httpserver;

/* Appends the response body to body and returns the HTTP status. *ctype
 * may be set to a static string; it defaults to "text/plain; charset=utf-8". */
typedef int (*httpserver_handler_fn)(void *userdata, struct buf *body,
				     const char **ctype);

struct httpserver_route {
	const char *path; /* exact match, e.g. "/metrics"; borrowed */
	httpserver_handler_fn fn;
	void *userdata;
};

#define HTTPSERVER_MAX_ROUTES 8

struct httpserver_options {
	/* "host:port", ":port" (all interfaces) or "port"; port 0 picks a
	 * free one (see httpserver_port()). */
	const char *addr;
	struct httpserver_route routes[HTTPSERVER_MAX_ROUTES]; /* copied */
	struct log *log; /* borrowed */
	/* Connections held open at once; 0 means HTTPSERVER_MAX_CONNECTIONS.
	 * One more waits in the listen backlog until one of them ends. */
	unsigned max_connections;
};

/* The default bound on connections. Without one, libwebsockets sizes its
 * tables by the process's open-file limit and touches all of it: 16 bytes
 * an fd per server, measured (docs/performance.md), so 32 MiB for a
 * process with two servers and a limit of 1048576. */
#define HTTPSERVER_MAX_CONNECTIONS 256

/* Parses addr into host (NULL for all interfaces; caller frees) and port.
 * Returns 0 or -EINVAL. */
int httpserver_parse_addr(const char *addr, char **host, int *port)
	__attribute__((warn_unused_result));

/* Binds the socket and starts the service thread. Returns 0, -EINVAL for a
 * bad address, or -EADDRINUSE when it cannot listen. */
int httpserver_start(const struct httpserver_options *opts,
		     struct httpserver **out) __attribute__((warn_unused_result));
/* The port listened on. */
int httpserver_port(const struct httpserver *s);
/* Stops the thread and closes the socket. Accepts NULL. */
void httpserver_stop(struct httpserver *s);

#endif
