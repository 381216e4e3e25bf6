/* Unit tests of the pure half of reshard.h (plan.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "reshard.h"

static const struct {
	const char *engine_full;
	int rc;
	const char *cluster, *database, *table, *key;
} dist_cases[] = {
	{ "Distributed(posthog, posthog, sharded_events, sipHash64(distinct_id))", 0,
	  "posthog", "posthog", "sharded_events", "sipHash64(distinct_id)" },
	{ "Distributed('posthog', 'db', 'sharded_events', rand())", 0, "posthog", "db", "sharded_events", "rand()" },
	{ "Distributed(c, d, t)", 0, "c", "d", "t", "" },
	{ "Distributed(c, d, t, sipHash64(concat(a, ',')), 'policy')", 0, "c", "d", "t", "sipHash64(concat(a, ','))" },
	{ "Distributed(c, d)", -EINVAL, NULL, NULL, NULL, NULL },
	{ "Distributed(c, currentDatabase(), t, k)", -EINVAL, NULL, NULL, NULL, NULL },
	{ "Distributed(c, d, t, k", -EINVAL, NULL, NULL, NULL, NULL },
	{ "MergeTree() ORDER BY x", -EINVAL, NULL, NULL, NULL, NULL },
};

START_TEST(test_parse_distributed)
{
	struct rs_distributed d;
	char err[256] = "";
	int rc = rs_parse_distributed(dist_cases[_i].engine_full, &d, err, sizeof(err));

	ck_assert_int_eq(rc, dist_cases[_i].rc);
	if (rc) {
		ck_assert_str_ne(err, "");
		return;
	}
	ck_assert_str_eq(d.cluster, dist_cases[_i].cluster);
	ck_assert_str_eq(d.database, dist_cases[_i].database);
	ck_assert_str_eq(d.table, dist_cases[_i].table);
	ck_assert_str_eq(d.key, dist_cases[_i].key);
}
END_TEST

static const struct {
	const char *engine_full;
	int rc;
	const char *want;
} staging_cases[] = {
	{ "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/posthog.events', '{replica}', _timestamp) PARTITION BY toYYYYMM(timestamp) ORDER BY (team_id, cityHash64(distinct_id)) SETTINGS index_granularity = 8192",
	  0, "ReplacingMergeTree(_timestamp) PARTITION BY toYYYYMM(timestamp) ORDER BY (team_id, cityHash64(distinct_id)) SETTINGS index_granularity = 8192" },
	{ "ReplicatedMergeTree('/p', 'r') ORDER BY x", 0, "MergeTree() ORDER BY x" },
	{ "ReplicatedCollapsingMergeTree('/p, (x)', '{replica}', sign) ORDER BY x", 0, "CollapsingMergeTree(sign) ORDER BY x" },
	{ "ReplacingMergeTree(_timestamp) PARTITION BY tuple() ORDER BY x", 0, "ReplacingMergeTree(_timestamp) PARTITION BY tuple() ORDER BY x" },
	{ "ReplicatedMergeTree('/p') ORDER BY x", -EINVAL, NULL },
	{ "Log", -EINVAL, NULL },
	{ "MergeTree PARTITION BY toYYYYMM(d) ORDER BY x", 0, "MergeTree PARTITION BY toYYYYMM(d) ORDER BY x" },
	{ "ReplicatedMergeTree ORDER BY x", -EINVAL, NULL },
	{ "Memory AS MergeTree(x)", -EINVAL, NULL },
	{ "ReplicatedMergeTree('/p', 'r' ORDER BY x", -EINVAL, NULL },
};

START_TEST(test_staging_engine)
{
	struct buf out;
	char err[256] = "";
	int rc;

	buf_init(&out, 4096);
	rc = rs_staging_engine(staging_cases[_i].engine_full, &out, err, sizeof(err));
	ck_assert_int_eq(rc, staging_cases[_i].rc);
	if (!rc)
		ck_assert_str_eq(buf_str(&out), staging_cases[_i].want);
	else
		ck_assert_str_ne(err, "");
	buf_free(&out);
}
END_TEST

/* system.tables rows: name|engine|engine_full|sorting_key */
static const struct {
	const char *rows;
	int rc;
	size_t n;
	const char *table, *key;
} find_cases[] = {
	{ "[{\"name\":\"sharded_events\",\"engine\":\"ReplicatedReplacingMergeTree\",\"engine_full\":\"ReplicatedReplacingMergeTree('/p', '{replica}', _timestamp) ORDER BY (a, b)\",\"sorting_key\":\"a, b\"},"
	  "{\"name\":\"events\",\"engine\":\"Distributed\",\"engine_full\":\"Distributed(posthog, posthog, sharded_events, sipHash64(distinct_id))\",\"sorting_key\":\"\"},"
	  "{\"name\":\"writable_events\",\"engine\":\"Distributed\",\"engine_full\":\"Distributed(posthog, posthog, sharded_events, sipHash64(distinct_id))\",\"sorting_key\":\"\"}]",
	  0, 1, "sharded_events", "sipHash64(distinct_id)" },
	/* another cluster, no key, a Log table behind Distributed: none */
	{ "[{\"name\":\"l\",\"engine\":\"Log\",\"engine_full\":\"Log\",\"sorting_key\":\"\"},"
	  "{\"name\":\"d1\",\"engine\":\"Distributed\",\"engine_full\":\"Distributed(posthog, posthog, l, rand())\"},"
	  "{\"name\":\"d2\",\"engine\":\"Distributed\",\"engine_full\":\"Distributed(other, posthog, t, rand())\"},"
	  "{\"name\":\"d3\",\"engine\":\"Distributed\",\"engine_full\":\"Distributed(posthog, posthog, t)\"}]",
	  0, 0, NULL, NULL },
	/* two keys for one table */
	{ "[{\"name\":\"t\",\"engine\":\"MergeTree\",\"engine_full\":\"MergeTree() ORDER BY a\",\"sorting_key\":\"a\"},"
	  "{\"name\":\"d1\",\"engine\":\"Distributed\",\"engine_full\":\"Distributed(posthog, posthog, t, rand())\"},"
	  "{\"name\":\"d2\",\"engine\":\"Distributed\",\"engine_full\":\"Distributed(posthog, posthog, t, a)\"}]",
	  -EINVAL, 0, NULL, NULL },
};

START_TEST(test_tables_find)
{
	cJSON *rows = cJSON_Parse(find_cases[_i].rows);
	struct rs_table *t = NULL;
	size_t n = 0;
	char err[256] = "";
	int rc;

	ck_assert_ptr_nonnull(rows);
	rc = rs_tables_find(rows, "posthog", "posthog", &t, &n, err, sizeof(err));
	ck_assert_int_eq(rc, find_cases[_i].rc);
	if (!rc) {
		ck_assert_uint_eq(n, find_cases[_i].n);
		if (n) {
			ck_assert_str_eq(t[0].name, find_cases[_i].table);
			ck_assert_str_eq(t[0].key, find_cases[_i].key);
		}
	} else {
		ck_assert_str_ne(err, "");
	}
	rs_tables_free(t, n);
	cJSON_Delete(rows);
}
END_TEST

/* system.columns rows -> the stored-column list (rs_sql_columns) */
static const struct {
	const char *rows;
	int rc;
	const char *want;
} column_cases[] = {
	{ "[{\"name\":\"uuid\",\"default_kind\":\"\"},{\"name\":\"team_id\",\"default_kind\":\"DEFAULT\"}]",
	  0, "`uuid`, `team_id`" },
	{ "[{\"name\":\"a\",\"default_kind\":\"\"},{\"name\":\"m\",\"default_kind\":\"MATERIALIZED\"},"
	  "{\"name\":\"al\",\"default_kind\":\"ALIAS\"},{\"name\":\"we`ird\"}]",
	  0, "`a`, `we\\`ird`" },
	{ "[{\"name\":\"m\",\"default_kind\":\"MATERIALIZED\"}]", -EINVAL, NULL },
	{ "[]", -EINVAL, NULL },
	{ "[{\"default_kind\":\"\"}]", -EINVAL, NULL },
};

START_TEST(test_columns)
{
	cJSON *rows = cJSON_Parse(column_cases[_i].rows);
	struct buf b;

	ck_assert_ptr_nonnull(rows);
	buf_init(&b, 4096);
	ck_assert_int_eq(rs_sql_columns(rows, &b), column_cases[_i].rc);
	if (column_cases[_i].want)
		ck_assert_str_eq(buf_str(&b), column_cases[_i].want);
	buf_free(&b);
	cJSON_Delete(rows);
}
END_TEST

START_TEST(test_sql)
{
	struct rs_table t = { .name = "sharded_events", .key = "sipHash64(distinct_id)",
			      .sorting_key = "team_id, event" };
	struct buf b;
	enum rs_state s;

	buf_init(&b, 4096);
	ck_assert_int_eq(rs_sql_where(&t, "tuple()", "all", 3, 2, &b), 0);
	ck_assert_str_eq(buf_str(&b), "_partition_id = 'all' AND ((sipHash64(distinct_id)) % 3) = 2");
	buf_reset(&b);
	ck_assert_int_eq(rs_sql_where(&t, "'x\\'y'", "x'y", 3, 0, &b), 0);
	ck_assert_str_eq(buf_str(&b), "_partition_id = 'x\\'y' AND ((sipHash64(distinct_id)) % 3) = 0");
	buf_reset(&b);
	ck_assert_int_eq(rs_sql_where(&t, "1", "1", 3, 3, &b), -EINVAL);
	ck_assert_int_eq(rs_sql_where(&t, "1", "1", 0, 0, &b), -EINVAL);
	ck_assert_int_eq(rs_sql_where(&t, "", "1", 3, 0, &b), -EINVAL);
	snprintf(t.partition_key, sizeof(t.partition_key), "toYYYYMM(timestamp)");
	ck_assert_int_eq(rs_sql_where(&t, "202001", "202001", 3, 2, &b), 0);
	ck_assert_str_eq(buf_str(&b), "(toYYYYMM(timestamp)) = 202001 AND _partition_id = '202001' AND ((sipHash64(distinct_id)) % 3) = 2");
	buf_reset(&b);
	t.partition_key[0] = '\0';
	ck_assert_int_eq(rs_sql_delete_where(&t, "202001", 3, 1, &b), 0);
	ck_assert_str_eq(buf_str(&b), "((sipHash64(distinct_id)) % 3) = 1");
	buf_reset(&b);
	snprintf(t.partition_key, sizeof(t.partition_key), "toYYYYMM(timestamp)");
	ck_assert_int_eq(rs_sql_delete_where(&t, "202001", 3, 1, &b), 0);
	ck_assert_str_eq(buf_str(&b), "(toYYYYMM(timestamp)) = 202001 AND ((sipHash64(distinct_id)) % 3) = 1");
	buf_reset(&b);
	snprintf(t.partition_key, sizeof(t.partition_key), "toYYYYMM(timestamp), concat(a, ',')");
	ck_assert_int_eq(rs_sql_delete_where(&t, "(202001, 'x,')", 2, 0, &b), 0);
	ck_assert_str_eq(buf_str(&b), "tuple(toYYYYMM(timestamp), concat(a, ',')) = (202001, 'x,') AND ((sipHash64(distinct_id)) % 2) = 0");
	buf_reset(&b);
	ck_assert_int_eq(rs_sql_delete_where(&t, "", 2, 0, &b), -EINVAL);
	ck_assert_int_eq(rs_sql_checksum(&t, "x", "1", &b), 0);
	ck_assert_str_eq(buf_str(&b), "SELECT count() AS n, toString(sum(cityHash64(toString(tuple(team_id, event))))) AS sum FROM x WHERE 1");
	buf_reset(&b);
	ck_assert_int_eq(rs_sql_attach_missing("`a`, `b`", "`d`.`t`", "2020'01", "`s`.`x`", &b), 0);
	ck_assert_str_eq(buf_str(&b),
			 "SELECT count() AS short FROM (SELECT h, count() AS c FROM "
			 "(SELECT cityHash64(toString(tuple(`a`, `b`))) AS h FROM `s`.`x`) GROUP BY h) "
			 "ANY LEFT JOIN (SELECT h, count() AS have FROM "
			 "(SELECT cityHash64(toString(tuple(`a`, `b`))) AS h FROM `d`.`t` WHERE _partition_id = '2020\\'01') "
			 "WHERE h IN (SELECT cityHash64(toString(tuple(`a`, `b`))) FROM `s`.`x`) GROUP BY h) "
			 "USING h WHERE have < c");
	ck_assert_int_eq(rs_sql_attach_missing("", "t", "1", "s", &b), -EINVAL);
	buf_reset(&b);
	ck_assert_int_eq(rs_unit_id("t", "202001", 0, 2, &b), 0);
	ck_assert_str_eq(buf_str(&b), "t/202001/0->2");
	for (s = RS_PENDING; s <= RS_DONE; s++) {
		enum rs_state back;

		ck_assert_int_eq(rs_state_parse(rs_state_name(s), &back), 0);
		ck_assert_int_eq(back, s);
	}
	ck_assert_int_eq(rs_state_parse("nope", &s), -EINVAL);
	ck_assert_ptr_null(rs_state_name((enum rs_state)99));
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reshard");
	TCase *tc = tcase_create("plan");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_parse_distributed, 0, sizeof(dist_cases) / sizeof(dist_cases[0]));
	tcase_add_loop_test(tc, test_staging_engine, 0, sizeof(staging_cases) / sizeof(staging_cases[0]));
	tcase_add_loop_test(tc, test_tables_find, 0, sizeof(find_cases) / sizeof(find_cases[0]));
	tcase_add_loop_test(tc, test_columns, 0, sizeof(column_cases) / sizeof(column_cases[0]));
	tcase_add_test(tc, test_sql);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
