/*
 * pg: a small wrapper over libpq (Debian's libpq-dev) for the bucket
 * router's reads of PostHog's Postgres. docs/router.md says why libpq.
 *
 * A handle is one connection, used from one thread at a time. Queries are
 * parameterized (the text is never built from input) and their results
 * are handed to a callback one row at a time. A broken connection is
 * re-established once per query before the query fails. Functions return
 * 0 or a negative errno and log the server's message once.
 */
#ifndef PHO_PG_H
#define PHO_PG_H

#include <stddef.h>

#include "pkg/log/log.h"

struct pg;

/*
 * Connects with a libpq connection string or URI ("postgres://u:p@h:5432/db",
 * "host=... dbname=..."); the PG* environment variables fill what it
 * leaves out. connect_timeout_s bounds the connection attempt. Returns 0,
 * -EINVAL (unparseable string), -ECONNREFUSED (cannot connect or log in;
 * the reason is logged without the password).
 */
int pg_connect(const char *conninfo, int connect_timeout_s, struct log *log,
	       struct pg **out) __attribute__((warn_unused_result));
/* Closes and frees. Accepts NULL. */
void pg_close(struct pg *p);

/*
 * One row: ncols values as NUL-terminated text (NULL for SQL NULL),
 * borrowed until the callback returns. Return 0 to go on, anything else to
 * stop (pg_query then returns that value).
 */
typedef int (*pg_row_fn)(void *userdata, int ncols, const char *const *vals);

/* Most columns a result may have. */
#define PG_MAX_COLS 16

/*
 * Runs sql with nparams text parameters ($1 ...). Returns 0, the callback's
 * non-zero value, -ENOENT (undefined table or column), -EACCES (permission
 * or authentication), -EINVAL (other SQL error), -E2BIG (more than
 * PG_MAX_COLS columns), -ECONNRESET (connection lost and not regained).
 */
int pg_query(struct pg *p, const char *sql, const char *const *params,
	     int nparams, pg_row_fn fn, void *userdata) __attribute__((warn_unused_result));

/* A static description of a negative errno returned here. */
const char *pg_strerror(int err);

#endif
