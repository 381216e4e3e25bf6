/*
 * Integration tests of the client against a real ClickHouse server
 * (Debian's 18.16 in hack/test.d/25-clickhouse). The server comes from
 * CLICKHOUSE_URL, CLICKHOUSE_USER and CLICKHOUSE_PASSWORD; without them the
 * test reports itself skipped (77). The per-bucket schema derivation is
 * tested against the same server by api/posthog/test_schema_live.c.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse.h"
#include "test_live.h"

static struct ch_client *client(void)
{
	return ch_test_client(getenv("CLICKHOUSE_URL"), getenv("CLICKHOUSE_PASSWORD"), 0, 20000);
}

START_TEST(test_exec_and_query)
{
	struct ch_client *c = client();
	cJSON *rows;

	ch_test_exec(c, "DROP DATABASE IF EXISTS ch_client_test");
	ch_test_exec(c, "CREATE DATABASE ch_client_test");
	ch_test_exec(c, "CREATE TABLE ch_client_test.t (id UInt64, name String) ENGINE = Memory");
	ch_test_exec(c, "INSERT INTO ch_client_test.t VALUES (1, 'one'), (2, 'two')");
	rows = ch_test_query(c, "SELECT id, name FROM ch_client_test.t ORDER BY id");
	ck_assert_int_eq(cJSON_GetArraySize(rows), 2);
	/* 64-bit integers come as strings in FORMAT JSON. */
	ck_assert_str_eq(ch_test_field(cJSON_GetArrayItem(rows, 0), "id"), "1");
	ck_assert_str_eq(ch_test_field(cJSON_GetArrayItem(rows, 1), "name"), "two");
	cJSON_Delete(rows);
	ch_test_exec(c, "DROP DATABASE ch_client_test");
	ch_free(c);
}
END_TEST

START_TEST(test_database_option)
{
	struct ch_options o = {
		.url = getenv("CLICKHOUSE_URL"),
		.user = getenv("CLICKHOUSE_USER"),
		.password = getenv("CLICKHOUSE_PASSWORD"),
		.database = "system",
	};
	struct ch_client *c = NULL;
	cJSON *rows;

	ck_assert_int_eq(ch_new(&o, &c), 0);
	rows = ch_test_query(c, "SELECT currentDatabase() AS db, version() AS v");
	ck_assert_str_eq(ch_test_field(cJSON_GetArrayItem(rows, 0), "db"), "system");
	cJSON_Delete(rows);
	ch_free(c);
}
END_TEST

START_TEST(test_bad_query)
{
	struct ch_client *c = client();
	cJSON *rows = NULL;
	char err[1024] = "";

	ck_assert_int_eq(ch_query(c, "SELECT nosuch", &rows, err, sizeof(err)), -EIO);
	ck_assert_ptr_null(rows);
	ck_assert_msg(strncmp(err, "Code: 47", 8) == 0, "%s", err);
	ck_assert_msg(strstr(err, "DB::Exception") && strstr(err, "nosuch"), "%s", err);
	ck_assert_int_eq(ch_exec(c, "DROP TABLE posthog_nosuch_db.nosuch", err, sizeof(err)),
			 -EIO);
	ck_assert_msg(strstr(err, "doesn't exist") || strstr(err, "does not exist"), "%s", err);
	ch_free(c);
}
END_TEST

START_TEST(test_auth_failure)
{
	struct ch_client *c = ch_test_client(getenv("CLICKHOUSE_URL"), "wrong-password", 0, 20000);
	char err[1024] = "";

	ck_assert_int_eq(ch_exec(c, "SELECT 1", err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, "Wrong password") || strstr(err, "Authentication failed"),
		      "%s", err);
	ch_free(c);
}
END_TEST

START_TEST(test_body_cap)
{
	struct ch_client *c = ch_test_client(getenv("CLICKHOUSE_URL"), getenv("CLICKHOUSE_PASSWORD"), 4096, 20000);
	cJSON *rows = NULL;
	char err[1024] = "";

	ck_assert_int_eq(ch_query(c, "SELECT number FROM system.numbers LIMIT 100000", &rows,
				  err, sizeof(err)), -EMSGSIZE);
	ck_assert_ptr_null(rows);
	ck_assert_str_eq(err, "clickhouse: answer larger than 4096 bytes");
	/* The connection is usable afterwards. */
	rows = ch_test_query(c, "SELECT 1 AS one");
	cJSON_Delete(rows);
	ch_free(c);
}
END_TEST

START_TEST(test_quote_roundtrip)
{
	static const char tricky[] = "it's a \\ back`slash\n\t'; DROP TABLE x; --";
	struct ch_client *c = client();
	struct buf sql;
	cJSON *rows;

	buf_init(&sql, 4096);
	ck_assert_int_eq(buf_append_str(&sql, "SELECT "), 0);
	ck_assert_int_eq(ch_quote(tricky, &sql), 0);
	ck_assert_int_eq(buf_append_str(&sql, " AS s"), 0);
	rows = ch_test_query(c, buf_str(&sql));
	ck_assert_str_eq(ch_test_field(cJSON_GetArrayItem(rows, 0), "s"), tricky);
	cJSON_Delete(rows);
	buf_free(&sql);
	ch_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("clickhouse_live");
	TCase *tc = tcase_create("client");

	tcase_add_test(tc, test_exec_and_query);
	tcase_add_test(tc, test_database_option);
	tcase_add_test(tc, test_bad_query);
	tcase_add_test(tc, test_auth_failure);
	tcase_add_test(tc, test_body_cap);
	tcase_add_test(tc, test_quote_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	static const char *const env[] = {"CLICKHOUSE_URL", "CLICKHOUSE_PASSWORD", NULL};

	return ch_test_main(suite, env, CK_FORK_GETENV);
}
