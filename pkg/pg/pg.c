/*
 * pg: connection, parameterized queries and the mapping of SQLSTATE
 * classes to errnos.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg.h"

struct pg {
	PGconn *conn;
	struct log *log;
};

/* libpq's messages end in a newline; the log wants one line. */
static const char *one_line(const char *msg, char *out, size_t outsz)
{
	size_t n;

	snprintf(out, outsz, "%s", msg ? msg : "");
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	for (n = 0; out[n]; n++)
		if (out[n] == '\n')
			out[n] = ' ';
	return out;
}

/* Server notices (e.g. "table does not exist, skipping") are not errors. */
static void on_notice(void *arg, const char *message)
{
	char msg[512];

	log_debug(arg, "postgres: %s", one_line(message, msg, sizeof(msg)));
}

int pg_connect(const char *conninfo, int connect_timeout_s, struct log *log,
	       struct pg **out)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name",
			       NULL };
	const char *vals[4];
	char timeout[16], msg[512], *perr = NULL;
	PQconninfoOption *parsed = PQconninfoParse(conninfo ? conninfo : "", &perr);
	struct pg *p;

	if (!parsed) {
		log_error(log, "postgres: connection string: %s",
			  one_line(perr, msg, sizeof(msg)));
		PQfreemem(perr);
		return -EINVAL;
	}
	PQconninfoFree(parsed);
	snprintf(timeout, sizeof(timeout), "%d",
		 connect_timeout_s > 0 ? connect_timeout_s : 10);
	/* expand_dbname: dbname may be a whole URI or key=value string;
	 * the later keys fill in what it does not say. */
	vals[0] = conninfo ? conninfo : "";
	vals[1] = timeout;
	vals[2] = "posthog-operator-router";
	vals[3] = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->log = log;
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (!p->conn)
		abort();
	if (PQstatus(p->conn) != CONNECTION_OK) {
		log_error(log, "postgres: connect: %s",
			  one_line(PQerrorMessage(p->conn), msg, sizeof(msg)));
		pg_close(p);
		return -ECONNREFUSED;
	}
	PQsetNoticeProcessor(p->conn, on_notice, log);
	*out = p;
	return 0;
}

void pg_close(struct pg *p)
{
	if (!p)
		return;
	PQfinish(p->conn);
	free(p);
}

static int sqlstate_errno(const char *state)
{
	if (!state)
		return -ECONNRESET;
	if (!strcmp(state, "42P01") || !strcmp(state, "42703"))
		return -ENOENT;
	if (!strncmp(state, "28", 2) || !strcmp(state, "42501"))
		return -EACCES;
	if (!strncmp(state, "08", 2) || !strncmp(state, "57", 2))
		return -ECONNRESET;
	return -EINVAL;
}

static int run(struct pg *p, const char *sql, const char *const *params,
	       int nparams, pg_row_fn fn, void *userdata, bool *lost)
{
	PGresult *r = PQexecParams(p->conn, sql, nparams, NULL, params, NULL,
				   NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int rc = 0, row, col, ncols;
	char msg[512];

	*lost = false;
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		rc = sqlstate_errno(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
		if (PQstatus(p->conn) != CONNECTION_OK) {
			*lost = true;
			rc = -ECONNRESET;
		} else {
			log_error(p->log, "postgres: %s", one_line(
				r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn),
				msg, sizeof(msg)));
		}
		PQclear(r);
		return rc;
	}
	ncols = PQnfields(r);
	if (ncols > PG_MAX_COLS) {
		log_error(p->log, "postgres: %d columns, at most %d handled",
			  ncols, PG_MAX_COLS);
		PQclear(r);
		return -E2BIG;
	}
	for (row = 0; rc == 0 && row < PQntuples(r); row++) {
		const char *vals[PG_MAX_COLS];

		for (col = 0; col < ncols; col++)
			vals[col] = PQgetisnull(r, row, col) ? NULL :
				    PQgetvalue(r, row, col);
		rc = fn ? fn(userdata, ncols, vals) : 0;
	}
	PQclear(r);
	return rc;
}

int pg_query(struct pg *p, const char *sql, const char *const *params,
	     int nparams, pg_row_fn fn, void *userdata)
{
	char msg[512];
	bool lost;
	int rc = run(p, sql, params, nparams, fn, userdata, &lost);

	if (!lost)
		return rc;
	/* The server restarted or a proxy dropped us: one reconnect. */
	PQreset(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		log_error(p->log, "postgres: connection lost: %s",
			  one_line(PQerrorMessage(p->conn), msg, sizeof(msg)));
		return -ECONNRESET;
	}
	rc = run(p, sql, params, nparams, fn, userdata, &lost);
	if (lost)
		log_error(p->log, "postgres: connection lost again: %s",
			  one_line(PQerrorMessage(p->conn), msg, sizeof(msg)));
	return rc;
}

const char *pg_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EINVAL:
		return "invalid connection string or SQL error";
	case -ECONNREFUSED:
		return "cannot connect to Postgres";
	case -ECONNRESET:
		return "connection to Postgres lost";
	case -ENOENT:
		return "no such table or column";
	case -EACCES:
		return "permission denied";
	case -E2BIG:
		return "too many columns";
	default:
		return "Postgres error";
	}
}
