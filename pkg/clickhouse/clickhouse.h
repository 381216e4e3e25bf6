/*
 * clickhouse: a ClickHouse client over its HTTP interface (libcurl).
 *
 * Queries go as POST bodies; credentials as X-ClickHouse-User and
 * X-ClickHouse-Key headers, never in the URL. Answers are capped. A failed
 * query returns -EIO (or a transport errno) and the server's own message,
 * e.g. "Code: 60, e.displayText() = DB::Exception: Table posthog.x doesn't
 * exist", in err, so that it can go into a status condition as it is.
 *
 * A client either talks to a URL directly (in the cluster, by service DNS;
 * or to an external ClickHouse), or through a caller-supplied transport,
 * which the operator uses to go through the API server's service proxy when
 * it runs outside the cluster.
 */
#ifndef PHO_CLICKHOUSE_H
#define PHO_CLICKHOUSE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"
#include "pkg/log/log.h"
#include "pkg/chsql/chsql.h"

struct ch_client;

/*
 * Sends one HTTP request for the client: method POST, path_query like
 * "/?database=posthog&default_format=JSON" relative to the server root,
 * headers a NULL-terminated array of "Name: value", the SQL as body. It
 * appends the answer to out and sets *http_code. Returns 0 when an answer
 * arrived, a negative errno otherwise.
 */
typedef int (*ch_transport_fn)(void *userdata, const char *path_query,
			       const char *const *headers, const char *body,
			       size_t body_len, struct buf *out, int *http_code);

struct ch_options {
	const char *url;        /* e.g. "http://127.0.0.1:8123"; NULL with transport */
	ch_transport_fn transport;
	void *transport_userdata;
	const char *user;       /* default "default" */
	const char *password;   /* may be NULL */
	const char *database;   /* default database of queries; may be NULL */
	bool tls_verify;        /* for https URLs; used as given (a zeroed
				 * ch_options means no verification: set it) */
	unsigned timeout_ms;    /* default 30000 */
	size_t max_body;        /* default 16 MiB */
	struct log *log;        /* borrowed */
	/* NULL-terminated "HOST:PORT:CONNECT-HOST:CONNECT-PORT" mappings, as
	 * curl's --connect-to (CURLOPT_CONNECT_TO): a request to HOST:PORT is
	 * sent to CONNECT-HOST:CONNECT-PORT, with the URL (Host header, TLS
	 * name) unchanged. An empty HOST or PORT matches any; an empty
	 * CONNECT-HOST or CONNECT-PORT keeps the request's. Used with url
	 * only; copied; each must pass ch_connect_to_check(). May be NULL. */
	const char *const *connect_to;
};

/* Copies what it needs from opts. Returns -EINVAL when opts holds both or
 * neither of url and transport, or when the user or password holds a
 * control character (they go into HTTP headers, where CR or LF would start
 * a new header or request). */
int ch_new(const struct ch_options *opts, struct ch_client **out)
	__attribute__((warn_unused_result));
void ch_free(struct ch_client *c);

/* Runs a statement that returns no rows (DDL, INSERT ... VALUES). */
int ch_exec(struct ch_client *c, const char *sql, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Runs a query with FORMAT JSON and returns its "data" array of row
 * objects (caller frees). */
int ch_query(struct ch_client *c, const char *sql, cJSON **rows, char *err,
	     size_t errlen) __attribute__((warn_unused_result));

/*
 * Additions to the first version of this header:
 *
 * ch_exec and ch_query return -EACCES (not -EIO) when the server refuses
 * the credentials (HTTP 401/403), -EMSGSIZE when the answer exceeds
 * max_body, -EBADMSG when a FORMAT JSON answer cannot be parsed, and the
 * transport's errno (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, ...) when no
 * answer arrived; err then says what happened.
 */

/*
 * Checks one --connect-to mapping "HOST:PORT:CONNECT-HOST:CONNECT-PORT":
 * four fields; a host is empty, a DNS name or IPv4 address, or an IPv6
 * address in brackets; a port is empty or 1..65535; CONNECT-HOST and
 * CONNECT-PORT are not both empty. Returns 0, or -EINVAL with the reason
 * in err.
 */
int ch_connect_to_check(const char *spec, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Makes a credential read from a Secret fit for a header, in place: one
 * trailing "\n" (or "\r\n"), as `kubectl create secret --from-file` or an
 * editor leaves, is removed and value re-terminated; any other control
 * character (NUL included, since len is the decoded length) is refused.
 * Returns 0 with *len updated, or -EINVAL with the offset of the first
 * refused byte in *bad_at (may be NULL).
 */
int ch_credential_clean(char *value, size_t *len, size_t *bad_at)
	__attribute__((warn_unused_result));

/* The ClickHouse error code of an err text that ch_exec or ch_query left
 * ("Code: 81, e.displayText() = ..." gives 81), or -1 when it holds none.
 * CH_UNKNOWN_DATABASE, CH_TABLE_ALREADY_EXISTS and CH_SYNTAX_ERROR are the
 * codes callers test (ClickHouse src/Common/ErrorCodes.cpp). */
#define CH_TABLE_ALREADY_EXISTS 57
#define CH_SYNTAX_ERROR 62
#define CH_UNKNOWN_DATABASE 81
int ch_exception_code(const char *err) __attribute__((warn_unused_result));

/* A static description of a negative errno returned by this module. */
const char *ch_strerror(int err);

#endif
