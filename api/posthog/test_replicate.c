/*
 * Unit tests of the plan that copies the PostHog database onto a replica
 * or shard that lacks it (replicate.h), over definitions as ClickHouse
 * 18.16 and later versions report them in system.tables.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicate.h"

#define MAXT 8
#define MAXS 10

static const char *const owned[] = {"kafka_events_json", "events_json_mv"};

/* A healthy replica's tables, as 18.16 reports them (columns shortened),
 * out of order on purpose. */
static const struct ph_table_def posthog18[] = {
	{"events_json_mv", "MaterializedView",
	 "CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events "
	 "( uuid UUID,  event String) AS SELECT uuid, event FROM posthog.kafka_events_json "},
	{"writable_events", "Distributed",
	 "CREATE TABLE posthog.writable_events ( uuid UUID,  event String) ENGINE = "
	 "Distributed('posthog', 'posthog', 'sharded_events', sipHash64(distinct_id))"},
	{"kafka_events_json", "Kafka",
	 "CREATE TABLE posthog.kafka_events_json ( uuid UUID,  event String) ENGINE = "
	 "Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow')"},
	{"sharded_events", "ReplicatedReplacingMergeTree",
	 "CREATE TABLE posthog.sharded_events ( uuid UUID,  event String,  _timestamp DateTime) "
	 "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/posthog.sharded_events', "
	 "'{replica}', _timestamp) ORDER BY uuid SETTINGS index_granularity = 8192"},
	{"kafka_events_json_0", "Kafka", "CREATE TABLE posthog.kafka_events_json_0 (x UInt8) ENGINE = Memory"},
	{"events_json_mv_12", "MaterializedView", "CREATE TABLE posthog.events_json_mv_12 (x UInt8) ENGINE = Memory"},
	{".inner.counts", "SummingMergeTree", "CREATE TABLE posthog.`.inner.counts` ( n UInt64) ENGINE = Memory"},
	{".inner_id.5b1c0000-0000-4000-8000-000000000001", "MergeTree",
	 "CREATE TABLE posthog.`.inner_id.5b1c0000-0000-4000-8000-000000000001` (n UInt64) ENGINE = Memory"},
	{"counts", "MaterializedView",
	 "CREATE MATERIALIZED VIEW posthog.counts ( n UInt64) ENGINE = SummingMergeTree ORDER BY tuple() "
	 "AS SELECT count() AS n FROM posthog.sharded_events "},
};
#define N18 (sizeof(posthog18) / sizeof(posthog18[0]))

static const char *const sharded =
	"CREATE TABLE IF NOT EXISTS `posthog`.`sharded_events` ( uuid UUID,  event String,  "
	"_timestamp DateTime) ENGINE = ReplicatedReplacingMergeTree("
	"'/clickhouse/tables/{shard}/posthog.sharded_events', '{replica}', _timestamp) ORDER BY uuid "
	"SETTINGS index_granularity = 8192";
static const char *const writable =
	"CREATE TABLE IF NOT EXISTS `posthog`.`writable_events` ( uuid UUID,  event String) ENGINE = "
	"Distributed('posthog', 'posthog', 'sharded_events', sipHash64(distinct_id))";
static const char *const kafka =
	"CREATE TABLE IF NOT EXISTS `posthog`.`kafka_events_json` ( uuid UUID,  event String) ENGINE = "
	"Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow')";
static const char *const mv =
	"CREATE MATERIALIZED VIEW IF NOT EXISTS `posthog`.`events_json_mv` TO posthog.writable_events "
	"( uuid UUID,  event String) AS SELECT uuid, event FROM posthog.kafka_events_json ";
static const char *const counts =
	"CREATE MATERIALIZED VIEW IF NOT EXISTS `posthog`.`counts` ( n UInt64) ENGINE = SummingMergeTree "
	"ORDER BY tuple() AS SELECT count() AS n FROM posthog.sharded_events ";
static const char *const dbstmt = "CREATE DATABASE IF NOT EXISTS `posthog`";

static const struct {
	const char *what;
	const char *have[MAXT];
	const char *want[MAXS];
} plans[] = {
	{"an empty new shard gets every table, storage, Distributed, Kafka, views",
	 {NULL},
	 {dbstmt, sharded, writable, kafka, counts, mv}},
	{"a replica with some tables gets only the missing ones",
	 {"sharded_events", "kafka_events_json", "other"},
	 {dbstmt, writable, counts, mv}},
	{"a replica with every table gets nothing",
	 {"sharded_events", "writable_events", "kafka_events_json", "events_json_mv", "counts"},
	 {NULL}},
};

START_TEST(test_plan)
{
	struct ph_schema_stmts s = {0};
	char err[256] = "";
	size_t nhave = 0, nwant = 0;

	while (nhave < MAXT && plans[_i].have[nhave])
		nhave++;
	while (nwant < MAXS && plans[_i].want[nwant])
		nwant++;
	ck_assert_msg(ph_replicate_plan("posthog", posthog18, N18, plans[_i].have, nhave, owned, 2,
					&s, err, sizeof(err)) == 0, "%s: %s", plans[_i].what, err);
	ck_assert_msg(s.n == nwant, "%s: %zu statements, want %zu", plans[_i].what, s.n, nwant);
	for (size_t i = 0; i < nwant; i++)
		ck_assert_msg(!strcmp(s.sql[i], plans[_i].want[i]), "%s: statement %zu\n got: %s\nwant: %s",
			      plans[_i].what, i, s.sql[i], plans[_i].want[i]);
	ph_schema_stmts_free(&s);
}
END_TEST

/* Heads as other versions and hand-made tables write them. */
static const struct {
	const char *what;
	struct ph_table_def t;
	const char *want;
} heads[] = {
	{"quoted names, a new version's text",
	 {"person", "ReplacingMergeTree",
	  "CREATE TABLE `posthog`.`person` (`id` UUID) ENGINE = ReplacingMergeTree ORDER BY id"},
	 "CREATE TABLE IF NOT EXISTS `posthog`.`person` (`id` UUID) ENGINE = ReplacingMergeTree ORDER BY id"},
	{"ATTACH becomes CREATE, ON CLUSTER goes, IF NOT EXISTS is not doubled",
	 {"t", "Memory", "ATTACH TABLE IF NOT EXISTS posthog.t ON CLUSTER 'posthog' (x UInt8) ENGINE = Memory"},
	 "CREATE TABLE IF NOT EXISTS `posthog`.`t` (x UInt8) ENGINE = Memory"},
	{"a plain view, lower case, ON CLUSTER by identifier",
	 {"v", "View", "create view posthog.v on cluster posthog AS SELECT 1"},
	 "CREATE VIEW IF NOT EXISTS `posthog`.`v` AS SELECT 1"},
	{"a name that needs quoting is quoted, its backquote escaped",
	 {"we`ird;name", "Memory", "CREATE TABLE posthog.`we\\`ird;name` (x UInt8) ENGINE = Memory"},
	 "CREATE TABLE IF NOT EXISTS `posthog`.`we\\`ird;name` (x UInt8) ENGINE = Memory"},
	{"a ';' inside a string or comment is no second statement",
	 {"s", "Memory", "CREATE TABLE posthog.s (x String DEFAULT ';') ENGINE = Memory /* ; */"},
	 "CREATE TABLE IF NOT EXISTS `posthog`.`s` (x String DEFAULT ';') ENGINE = Memory /* ; */"},
};

START_TEST(test_head)
{
	struct ph_schema_stmts s = {0};
	char err[256] = "";

	ck_assert_msg(ph_replicate_plan("posthog", &heads[_i].t, 1, NULL, 0, NULL, 0, &s, err,
					sizeof(err)) == 0, "%s: %s", heads[_i].what, err);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.sql[0], dbstmt);
	ck_assert_msg(!strcmp(s.sql[1], heads[_i].want), "%s\n got: %s\nwant: %s", heads[_i].what,
		      s.sql[1], heads[_i].want);
	ph_schema_stmts_free(&s);
}
END_TEST

/* Definitions that must not reach a server. */
static const struct {
	const char *what;
	struct ph_table_def t;
	int want;
	const char *msg;
} bad[] = {
	{"a second statement", {"t", "Memory", "CREATE TABLE posthog.t (x UInt8) ENGINE = Memory; DROP DATABASE posthog"},
	 -EINVAL, "more than one statement"},
	{"another database", {"t", "Memory", "CREATE TABLE other.t (x UInt8) ENGINE = Memory"},
	 -EINVAL, "not a CREATE"},
	{"another table than the row names", {"t", "Memory", "CREATE TABLE posthog.u (x UInt8) ENGINE = Memory"},
	 -EINVAL, "not a CREATE"},
	{"no database", {"t", "Memory", "CREATE TABLE t (x UInt8) ENGINE = Memory"}, -EINVAL, "not a CREATE"},
	{"not a CREATE", {"t", "Memory", "DROP TABLE posthog.t"}, -EINVAL, "not a CREATE"},
	{"a temporary table", {"t", "Memory", "CREATE TEMPORARY TABLE posthog.t (x UInt8)"}, -EINVAL, "not a CREATE"},
	{"an unterminated quote", {"t", "Memory", "CREATE TABLE posthog.t (x String DEFAULT ') ENGINE = Memory"},
	 -EINVAL, "unterminated quote"},
	{"an unterminated comment", {"t", "Memory", "CREATE TABLE posthog.t (x UInt8) /* ENGINE = Memory"},
	 -EINVAL, "unterminated comment"},
	{"a masked secret", {"k", "Kafka", "CREATE TABLE posthog.k (x UInt8) ENGINE = Kafka(msk, kafka_sasl_password = '[HIDDEN]')"},
	 -EPERM, "[HIDDEN]"},
	{"an empty definition", {"t", "Memory", ""}, -EINVAL, "no create_table_query"},
	{"no definition", {"t", "Memory", NULL}, -EINVAL, "no create_table_query"},
	{"no name", {NULL, "Memory", "CREATE TABLE posthog.t (x UInt8) ENGINE = Memory"}, -EINVAL, "no name"},
	{"a control character in the name", {"a\nb", "Memory", "CREATE TABLE posthog.`a\nb` (x UInt8) ENGINE = Memory"},
	 -EINVAL, "control characters"},
};

START_TEST(test_bad)
{
	struct ph_schema_stmts s = {0};
	const struct ph_table_def good = {"a", "Memory", "CREATE TABLE posthog.a (x UInt8) ENGINE = Memory"};
	struct ph_table_def two[2] = {good, bad[_i].t};
	char err[256] = "";

	ck_assert_int_eq(ph_replicate_plan("posthog", two, 2, NULL, 0, NULL, 0, &s, err, sizeof(err)),
			 bad[_i].want);
	ck_assert_msg(strstr(err, bad[_i].msg), "%s: %s", bad[_i].what, err);
	/* Nothing planned, not even the good table. */
	ck_assert_int_eq(s.n, 0);
	ck_assert_ptr_null(s.sql);
}
END_TEST

static const struct {
	const char *engine;
	int rank;
} ranks[] = {
	{"MergeTree", 0}, {"ReplicatedReplacingMergeTree", 0}, {"Memory", 0}, {"Log", 0},
	{"Distributed", 1}, {"Merge", 2}, {"Buffer", 2}, {"Kafka", 3},
	{"MaterializedView", 4}, {"View", 5}, {NULL, 0},
};

START_TEST(test_rank)
{
	ck_assert_int_eq(ph_replicate_rank(ranks[_i].engine), ranks[_i].rank);
}
END_TEST

START_TEST(test_query)
{
	struct buf q;

	buf_init(&q, 1024);
	ck_assert_int_eq(ph_replicate_query("post'hog", &q), 0);
	ck_assert_str_eq(buf_str(&q), "SELECT name, engine, create_table_query FROM system.tables "
				      "WHERE database = 'post\\'hog' AND is_temporary = 0 ORDER BY name");
	ck_assert_int_eq(ph_replicate_query("", &q), -EINVAL);
	buf_free(&q);
}
END_TEST

START_TEST(test_bad_database)
{
	struct ph_schema_stmts s = {0};
	char err[256] = "";

	ck_assert_int_eq(ph_replicate_plan("", posthog18, N18, NULL, 0, NULL, 0, &s, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "database"));
	ck_assert_int_eq(s.n, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("replicate");
	TCase *t = tcase_create("plan");

	tcase_add_loop_test(t, test_plan, 0, sizeof(plans) / sizeof(plans[0]));
	tcase_add_loop_test(t, test_head, 0, sizeof(heads) / sizeof(heads[0]));
	tcase_add_loop_test(t, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_loop_test(t, test_rank, 0, sizeof(ranks) / sizeof(ranks[0]));
	tcase_add_test(t, test_query);
	tcase_add_test(t, test_bad_database);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
