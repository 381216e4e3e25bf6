/*
 * Fixtures shared by the tests that run against real ClickHouse servers
 * (pkg/clickhouse/test_clickhouse_live.c, api/posthog/test_schema_live.c,
 * controllers/posthog/test_replicate_live.c). Test code only: every
 * failure is a Check assertion, so these return only on success.
 */
#ifndef PHO_CLICKHOUSE_TEST_LIVE_H
#define PHO_CLICKHOUSE_TEST_LIVE_H

#include <check.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "clickhouse.h"

/* A client of url as CLICKHOUSE_USER with password, the given answer cap
 * (0: the default) and timeout. Caller frees it with ch_free(). */
struct ch_client *ch_test_client(const char *url, const char *password,
				 size_t max_body, int timeout_ms);

/* Runs sql, which returns no rows; fails the test with the server's error. */
void ch_test_exec(struct ch_client *c, const char *sql);

/* Runs a FORMAT JSON query; its rows, which the caller frees. */
cJSON *ch_test_query(struct ch_client *c, const char *sql);

/* The string field name of row (borrowed); fails the test without it. */
const char *ch_test_field(const cJSON *row, const char *name);

/* Runs a SQL file of ours statement by statement (the HTTP interface takes
 * one at a time): every statement ends with ';' at the end of a line, and
 * comments are on lines of their own. */
void ch_test_exec_file(struct ch_client *c, const char *path);

/* main() of a live test: 77 (skipped) with a message naming it when a
 * variable of the NULL-terminated env is unset, else runs the suite make()
 * returns, forking as fork says (CK_FORK_GETENV: as CK_FORK says), and
 * returns EXIT_SUCCESS or EXIT_FAILURE. */
int ch_test_main(Suite *(*make)(void), const char *const *env,
		 enum fork_status fork);

#endif
