/* Fixtures of the live ClickHouse tests (test_live.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_live.h"

struct ch_client *ch_test_client(const char *url, const char *password,
				 size_t max_body, int timeout_ms)
{
	struct ch_options o = {
		.url = url,
		.user = getenv("CLICKHOUSE_USER"),
		.password = password,
		.timeout_ms = timeout_ms,
		.max_body = max_body,
	};
	struct ch_client *c = NULL;

	ck_assert_int_eq(ch_new(&o, &c), 0);
	return c;
}

void ch_test_exec(struct ch_client *c, const char *sql)
{
	char err[1024] = "";

	ck_assert_msg(ch_exec(c, sql, err, sizeof(err)) == 0, "%s: %s", sql, err);
}

cJSON *ch_test_query(struct ch_client *c, const char *sql)
{
	cJSON *rows = NULL;
	char err[1024] = "";

	ck_assert_msg(ch_query(c, sql, &rows, err, sizeof(err)) == 0, "%s: %s", sql, err);
	return rows;
}

const char *ch_test_field(const cJSON *row, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);

	ck_assert_msg(cJSON_IsString(v), "no string field %s", name);
	return v->valuestring;
}

void ch_test_exec_file(struct ch_client *c, const char *path)
{
	char line[4096];
	struct buf stmt;
	FILE *f = fopen(path, "r");

	ck_assert_msg(f != NULL, "cannot open %s", path);
	buf_init(&stmt, 1 << 20);
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (!strncmp(line, "--", 2))
			continue;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
			n--;
		if (n > 0 && line[n - 1] == ';') {
			ck_assert_int_eq(buf_append(&stmt, line, n - 1), 0);
			ch_test_exec(c, buf_str(&stmt));
			buf_reset(&stmt);
		} else {
			ck_assert_int_eq(buf_append_str(&stmt, line), 0);
		}
	}
	fclose(f);
	buf_free(&stmt);
}

int ch_test_main(Suite *(*make)(void), const char *const *env,
		 enum fork_status fork)
{
	SRunner *sr;
	int failed;

	for (const char *const *e = env; *e; e++) {
		if (!getenv(*e)) {
			fprintf(stderr, "%s not set: skipped (hack/test.d starts the servers "
				"and sets CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD)\n", *e);
			return 77;
		}
	}
	sr = srunner_create(make());
	if (fork != CK_FORK_GETENV)
		srunner_set_fork_status(sr, fork);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
