/*
 * Unit tests of the per-bucket schema derivation, over the texts that
 * different ClickHouse versions report in system.tables.create_table_query
 * for PostHog's kafka_events_json and events_json_mv (columns shortened).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static const struct ph_schema_bucket bucket2 = {
	.database = "posthog",
	.kafka_table = "kafka_events_json_2",
	.mv = "events_json_mv_2",
	.topic = "clickhouse_events_json_2",
	.group = "group1_bucket_2",
	.brokers = "ph-kafka-bootstrap.ns.svc:9092",
};

static const struct {
	const char *what;
	const char *kafka, *mv;
	const char *want_kafka, *want_mv;
} cases[] = {
	{
		"18.16: positional engine arguments, bare names",
		"CREATE TABLE posthog.kafka_events_json ( uuid UUID,  event String,  "
		"person_mode Enum8('full' = 0, 'propertyless' = 1),  timestamp DateTime) "
		"ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow') "
		"SETTINGS kafka_row_delimiter = '\\n', kafka_num_consumers = 1",
		"CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events "
		"( uuid UUID,  event String,  person_mode Enum8('full' = 0, 'propertyless' = 1),  "
		"timestamp DateTime,  _timestamp DateTime,  _offset UInt64) AS SELECT uuid, event, "
		"person_mode, timestamp, now() AS _timestamp, toUInt64(0) AS _offset "
		"FROM posthog.kafka_events_json ",
		"CREATE TABLE IF NOT EXISTS posthog.kafka_events_json_2 ( uuid UUID,  event String,  "
		"person_mode Enum8('full' = 0, 'propertyless' = 1),  timestamp DateTime) "
		"ENGINE = Kafka('ph-kafka-bootstrap.ns.svc:9092', 'clickhouse_events_json_2', "
		"'group1_bucket_2', 'JSONEachRow') "
		"SETTINGS kafka_row_delimiter = '\\n', kafka_num_consumers = 1",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.events_json_mv_2 TO posthog.writable_events "
		"( uuid UUID,  event String,  person_mode Enum8('full' = 0, 'propertyless' = 1),  "
		"timestamp DateTime,  _timestamp DateTime,  _offset UInt64) AS SELECT uuid, event, "
		"person_mode, timestamp, now() AS _timestamp, toUInt64(0) AS _offset "
		"FROM posthog.kafka_events_json_2",
	},
	{
		"23.x: `quoted` names, codecs, kafka_skip_broken_messages",
		"CREATE TABLE posthog.kafka_events_json (`uuid` UUID, `event` String, "
		"`properties` String CODEC(ZSTD(3)), `timestamp` DateTime64(6, 'UTC'), "
		"`person_created_at` DateTime64(3)) ENGINE = Kafka('kafka:9092', "
		"'clickhouse_events_json', 'group1', 'JSONEachRow') SETTINGS kafka_skip_broken_messages = 100",
		"CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events "
		"(`uuid` UUID, `event` String, `properties` String, `timestamp` DateTime64(6, 'UTC'), "
		"`person_created_at` DateTime64(3), `_timestamp` DateTime, `_offset` UInt64) AS SELECT "
		"uuid, event, properties, timestamp, person_created_at, _timestamp, _offset "
		"FROM posthog.kafka_events_json",
		"CREATE TABLE IF NOT EXISTS posthog.kafka_events_json_2 (`uuid` UUID, `event` String, "
		"`properties` String CODEC(ZSTD(3)), `timestamp` DateTime64(6, 'UTC'), "
		"`person_created_at` DateTime64(3)) ENGINE = Kafka('ph-kafka-bootstrap.ns.svc:9092', "
		"'clickhouse_events_json_2', 'group1_bucket_2', 'JSONEachRow') "
		"SETTINGS kafka_skip_broken_messages = 100",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.events_json_mv_2 TO posthog.writable_events "
		"(`uuid` UUID, `event` String, `properties` String, `timestamp` DateTime64(6, 'UTC'), "
		"`person_created_at` DateTime64(3), `_timestamp` DateTime, `_offset` UInt64) AS SELECT "
		"uuid, event, properties, timestamp, person_created_at, _timestamp, _offset "
		"FROM posthog.kafka_events_json_2",
	},
	{
		"the SETTINGS form of the engine",
		"CREATE TABLE posthog.kafka_events_json (`uuid` UUID, `event` String) ENGINE = Kafka "
		"SETTINGS kafka_broker_list = 'kafka:9092', kafka_topic_list = 'clickhouse_events_json', "
		"kafka_group_name = 'group1', kafka_format = 'JSONEachRow', kafka_skip_broken_messages = 100",
		"CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events "
		"(`uuid` UUID, `event` String) AS SELECT uuid, event FROM posthog.kafka_events_json",
		"CREATE TABLE IF NOT EXISTS posthog.kafka_events_json_2 (`uuid` UUID, `event` String) "
		"ENGINE = Kafka SETTINGS kafka_broker_list = 'ph-kafka-bootstrap.ns.svc:9092', "
		"kafka_topic_list = 'clickhouse_events_json_2', kafka_group_name = 'group1_bucket_2', "
		"kafka_format = 'JSONEachRow', kafka_skip_broken_messages = 100",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.events_json_mv_2 TO posthog.writable_events "
		"(`uuid` UUID, `event` String) AS SELECT uuid, event FROM posthog.kafka_events_json_2",
	},
	{
		"a named collection (PostHog since 2024), 24.x DEFINER, a comment",
		"CREATE TABLE posthog.kafka_events_json (`uuid` UUID, `event` String) ENGINE = "
		"Kafka(msk_cluster, kafka_topic_list = 'clickhouse_events_json', kafka_group_name = "
		"'group1', kafka_format = 'JSONEachRow') SETTINGS kafka_skip_broken_messages = 100 "
		"COMMENT 'events from Kafka'",
		"CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events "
		"(`uuid` UUID, `event` String) DEFINER = default SQL SECURITY DEFINER AS SELECT uuid, "
		"event FROM posthog.kafka_events_json",
		"CREATE TABLE IF NOT EXISTS posthog.kafka_events_json_2 (`uuid` UUID, `event` String) "
		"ENGINE = Kafka(msk_cluster, kafka_topic_list = 'clickhouse_events_json_2', "
		"kafka_group_name = 'group1_bucket_2', kafka_format = 'JSONEachRow', "
		"kafka_broker_list = 'ph-kafka-bootstrap.ns.svc:9092') SETTINGS "
		"kafka_skip_broken_messages = 100 COMMENT 'events from Kafka'",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.events_json_mv_2 TO posthog.writable_events "
		"(`uuid` UUID, `event` String) DEFINER = default SQL SECURITY DEFINER AS SELECT uuid, "
		"event FROM posthog.kafka_events_json_2",
	},
	{
		"PostHog's migration text: ON CLUSTER, IF NOT EXISTS, comments, unqualified target",
		"CREATE TABLE IF NOT EXISTS kafka_events_json ON CLUSTER 'posthog'\n(\n"
		"    uuid UUID, -- FROM kafka_events_json\n    event VARCHAR /* ) ENGINE = */\n"
		") ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow')\n"
		"    SETTINGS kafka_skip_broken_messages = 100\n;\n",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS events_json_mv ON CLUSTER 'posthog'\n"
		"TO writable_events\nAS SELECT\nuuid,\nevent\nFROM kafka_events_json\n",
		"CREATE TABLE IF NOT EXISTS posthog.kafka_events_json_2 (\n"
		"    uuid UUID, -- FROM kafka_events_json\n    event VARCHAR /* ) ENGINE = */\n"
		") ENGINE = Kafka('ph-kafka-bootstrap.ns.svc:9092', 'clickhouse_events_json_2', "
		"'group1_bucket_2', 'JSONEachRow')\n    SETTINGS kafka_skip_broken_messages = 100",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.events_json_mv_2 TO posthog.writable_events\n"
		"AS SELECT\nuuid,\nevent\nFROM posthog.kafka_events_json_2",
	},
	{
		"a column named like the table, a string naming it, a qualifier, an Atomic UUID",
		"CREATE TABLE posthog.kafka_events_json UUID '3e1c6f5e-0000-4000-8000-000000000001' "
		"(`kafka_events_json` String, `note` String DEFAULT 'FROM posthog.kafka_events_json') "
		"ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow')",
		"CREATE MATERIALIZED VIEW posthog.events_json_mv UUID '3e1c6f5e-0000-4000-8000-000000000002' "
		"TO posthog.writable_events (`kafka_events_json` String) AS SELECT kafka_events_json, "
		"kafka_events_json.note AS note, 'kafka_events_json' AS src "
		"FROM posthog.kafka_events_json WHERE kafka_events_json != ''",
		"CREATE TABLE IF NOT EXISTS posthog.kafka_events_json_2 "
		"(`kafka_events_json` String, `note` String DEFAULT 'FROM posthog.kafka_events_json') "
		"ENGINE = Kafka('ph-kafka-bootstrap.ns.svc:9092', 'clickhouse_events_json_2', "
		"'group1_bucket_2', 'JSONEachRow')",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.events_json_mv_2 "
		"TO posthog.writable_events (`kafka_events_json` String) AS SELECT kafka_events_json, "
		"kafka_events_json_2.note AS note, 'kafka_events_json' AS src "
		"FROM posthog.kafka_events_json_2 WHERE kafka_events_json != ''",
	},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

START_TEST(test_derive)
{
	char *k = NULL, *m = NULL, err[256] = "";

	ck_assert_msg(ph_schema_derive(cases[_i].kafka, cases[_i].mv, &bucket2, &k, &m, err,
				       sizeof(err)) == 0, "%s: %s", cases[_i].what, err);
	ck_assert_str_eq(k, cases[_i].want_kafka);
	ck_assert_str_eq(m, cases[_i].want_mv);
	free(k);
	free(m);
}
END_TEST

/* A base pair and the bucket pair derived from it fingerprint alike, and
 * a bucket's derivation is a fixed point (deriving from it changes only
 * names). */
START_TEST(test_fingerprint_matches_derived)
{
	char fb[PH_SCHEMA_FP_LEN + 1], fd[PH_SCHEMA_FP_LEN + 1], err[256] = "";

	ck_assert_msg(ph_schema_fingerprint(cases[_i].kafka, cases[_i].mv, fb, err,
					    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(strlen(fb), PH_SCHEMA_FP_LEN);
	ck_assert_int_eq(ph_schema_fingerprint(cases[_i].want_kafka, cases[_i].want_mv, fd,
					       err, sizeof(err)), 0);
	ck_assert_str_eq(fb, fd);
}
END_TEST

START_TEST(test_fingerprint_no_brokers)
{
	struct ph_schema_bucket b = bucket2;
	char fb[PH_SCHEMA_FP_LEN + 1], fd[PH_SCHEMA_FP_LEN + 1];
	char *k = NULL, *m = NULL;

	b.brokers = NULL;
	ck_assert_int_eq(ph_schema_derive(cases[_i].kafka, cases[_i].mv, &b, &k, &m, NULL, 0), 0);
	ck_assert_ptr_null(strstr(k, "ph-kafka-bootstrap"));
	ck_assert_int_eq(ph_schema_fingerprint(cases[_i].kafka, cases[_i].mv, fb, NULL, 0), 0);
	ck_assert_int_eq(ph_schema_fingerprint(k, m, fd, NULL, 0), 0);
	ck_assert_str_eq(fb, fd);
	free(k);
	free(m);
}
END_TEST

static const char k_v1[] =
	"CREATE TABLE posthog.kafka_events_json ( uuid UUID,  event String) "
	"ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow')";
static const char m_v1[] =
	"CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events "
	"( uuid UUID,  event String) AS SELECT uuid, event FROM posthog.kafka_events_json ";
static const char k_v2[] =
	"CREATE TABLE posthog.kafka_events_json ( uuid UUID,  event String,  "
	"person_mode Enum8('full' = 0, 'propertyless' = 1)) "
	"ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow')";
static const char m_v2[] =
	"CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events "
	"( uuid UUID,  event String,  person_mode Enum8('full' = 0, 'propertyless' = 1)) "
	"AS SELECT uuid, event, person_mode FROM posthog.kafka_events_json ";

/* What changes the fingerprint and what does not. */
static const struct {
	const char *k, *m;
	bool same;
} fp_cases[] = {
	{k_v1, m_v1, true},
	{"CREATE TABLE IF NOT EXISTS `posthog`.`kafka_events_json` ON CLUSTER posthog "
	 "(`uuid` UUID, `event` String) ENGINE = Kafka('other:9092', 'x', 'y', 'JSONEachRow');",
	 "CREATE MATERIALIZED VIEW events_json_mv TO writable_events AS SELECT uuid, event "
	 "FROM kafka_events_json", true},
	{k_v2, m_v1, false},  /* a new Kafka column */
	{k_v1, m_v2, false},  /* a new selected column */
	{"CREATE TABLE posthog.kafka_events_json ( uuid UUID,  event String) "
	 "ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'CSV')", m_v1, false},
	{"CREATE TABLE posthog.kafka_events_json ( uuid UUID,  event String) "
	 "ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow') "
	 "SETTINGS kafka_num_consumers = 2", m_v1, false},
	{k_v1, "CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.other_events "
	 "( uuid UUID,  event String) AS SELECT uuid, event FROM posthog.kafka_events_json ", false},
};

START_TEST(test_fingerprint_changes)
{
	char f1[PH_SCHEMA_FP_LEN + 1], f2[PH_SCHEMA_FP_LEN + 1], err[256] = "";

	ck_assert_int_eq(ph_schema_fingerprint(k_v1, m_v1, f1, err, sizeof(err)), 0);
	ck_assert_msg(ph_schema_fingerprint(fp_cases[_i].k, fp_cases[_i].m, f2, err,
					    sizeof(err)) == 0, "%s", err);
	ck_assert_msg((strcmp(f1, f2) == 0) == fp_cases[_i].same, "case %d", _i);
}
END_TEST

static void derive2(const char *k, const char *m, char **ko, char **mo)
{
	ck_assert_int_eq(ph_schema_derive(k, m, &bucket2, ko, mo, NULL, 0), 0);
}

static const char drop_mv[] = "DROP TABLE IF EXISTS posthog.events_json_mv_2";
static const char drop_k[] = "DROP TABLE IF EXISTS posthog.kafka_events_json_2";

START_TEST(test_plan_create)
{
	struct ph_schema_stmts s = {0};
	char *k, *m;

	derive2(k_v1, m_v1, &k, &m);
	ck_assert_int_eq(ph_schema_plan(k_v1, m_v1, NULL, NULL, &bucket2, &s, NULL, 0), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.sql[0], k);
	ck_assert_str_eq(s.sql[1], m);
	ph_schema_stmts_free(&s);
	free(k);
	free(m);
}
END_TEST

START_TEST(test_plan_noop)
{
	struct ph_schema_stmts s = {0};
	char *k, *m;

	derive2(k_v1, m_v1, &k, &m);
	ck_assert_int_eq(ph_schema_plan(k_v1, m_v1, k, m, &bucket2, &s, NULL, 0), 0);
	ck_assert_int_eq(s.n, 0);
	ph_schema_stmts_free(&s);
	free(k);
	free(m);
}
END_TEST

START_TEST(test_plan_view_missing)
{
	struct ph_schema_stmts s = {0};
	char *k, *m;

	derive2(k_v1, m_v1, &k, &m);
	ck_assert_int_eq(ph_schema_plan(k_v1, m_v1, k, NULL, &bucket2, &s, NULL, 0), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.sql[0], m);
	ph_schema_stmts_free(&s);
	free(k);
	free(m);
}
END_TEST

static void assert_recreate(const struct ph_schema_stmts *s, const char *k, const char *m)
{
	ck_assert_int_eq(s->n, 4);
	ck_assert_str_eq(s->sql[0], drop_mv);
	ck_assert_str_eq(s->sql[1], drop_k);
	ck_assert_str_eq(s->sql[2], k);
	ck_assert_str_eq(s->sql[3], m);
}

/* A migration added a column: the view goes first, then the table. */
START_TEST(test_plan_migration)
{
	struct ph_schema_stmts s = {0};
	char *k1, *m1, *k2, *m2;

	derive2(k_v1, m_v1, &k1, &m1);
	derive2(k_v2, m_v2, &k2, &m2);
	ck_assert_int_eq(ph_schema_plan(k_v2, m_v2, k1, m1, &bucket2, &s, NULL, 0), 0);
	assert_recreate(&s, k2, m2);
	ph_schema_stmts_free(&s);
	free(k1), free(m1), free(k2), free(m2);
}
END_TEST

/* Same schema, another topic, group or broker list: recreated too. */
START_TEST(test_plan_connection_changed)
{
	struct ph_schema_bucket b = bucket2;
	struct ph_schema_stmts s = {0};
	char *k1, *m1, *k2, *m2;

	derive2(k_v1, m_v1, &k1, &m1);
	if (_i == 0)
		b.brokers = "kafka-0.external:9093";
	else if (_i == 1)
		b.group = "another_group";
	else
		b.topic = "another_topic";
	ck_assert_int_eq(ph_schema_derive(k_v1, m_v1, &b, &k2, &m2, NULL, 0), 0);
	ck_assert_int_eq(ph_schema_plan(k_v1, m_v1, k1, m1, &b, &s, NULL, 0), 0);
	assert_recreate(&s, k2, m2);
	ph_schema_stmts_free(&s);
	free(k1), free(m1), free(k2), free(m2);
}
END_TEST

/* A leftover view without its table, or a table nobody can parse. */
START_TEST(test_plan_broken)
{
	struct ph_schema_stmts s = {0};
	char *k, *m;

	derive2(k_v1, m_v1, &k, &m);
	ck_assert_int_eq(ph_schema_plan(k_v1, m_v1, NULL, m, &bucket2, &s, NULL, 0), 0);
	assert_recreate(&s, k, m);
	ph_schema_stmts_free(&s);
	ck_assert_int_eq(ph_schema_plan(k_v1, m_v1, "CREATE TABLE posthog.kafka_events_json_2 "
					"(x UInt8) ENGINE = Memory", m, &bucket2, &s, NULL, 0), 0);
	assert_recreate(&s, k, m);
	ph_schema_stmts_free(&s);
	free(k);
	free(m);
}
END_TEST

START_TEST(test_drop)
{
	struct ph_schema_stmts s = {0};

	ck_assert_int_eq(ph_schema_drop(&bucket2, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.sql[0], drop_mv);
	ck_assert_str_eq(s.sql[1], drop_k);
	ph_schema_stmts_free(&s);
	ph_schema_stmts_free(NULL);
}
END_TEST

START_TEST(test_tables_query)
{
	const char *names[] = {PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV};
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(ph_schema_tables_query("posthog", names, 2, &b), 0);
	ck_assert_str_eq(buf_str(&b),
			 "SELECT name, create_table_query FROM system.tables WHERE database = "
			 "'posthog' AND name IN ('kafka_events_json', 'events_json_mv') ORDER BY name");
	buf_reset(&b);
	ck_assert_int_eq(ph_schema_tables_query("it's", names, 1, &b), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "database = 'it\\'s'"));
	ck_assert_int_eq(ph_schema_tables_query("posthog", names, 0, &b), -EINVAL);
	buf_free(&b);
}
END_TEST

/* Names that need quoting are quoted. */
START_TEST(test_quoted_names)
{
	struct ph_schema_bucket b = bucket2;
	char *k, *m;

	b.database = "post-hog";
	b.kafka_table = "kafka events";
	ck_assert_int_eq(ph_schema_derive(k_v1, m_v1, &b, &k, &m, NULL, 0), 0);
	ck_assert_ptr_nonnull(strstr(k, "CREATE TABLE IF NOT EXISTS `post-hog`.`kafka events` ("));
	ck_assert_ptr_nonnull(strstr(m, "FROM `post-hog`.`kafka events`"));
	free(k);
	free(m);
}
END_TEST

static const struct {
	const char *k, *m;
	int want;
	const char *err;
} bad_cases[] = {
	{"CREATE TABLE posthog.kafka_events_json (x UInt8) ENGINE = MergeTree ORDER BY x", m_v1,
	 -EINVAL, "not a Kafka engine table"},
	{"SELECT 1", m_v1, -EINVAL, "not a CREATE TABLE statement with a column list"},
	{"CREATE TABLE posthog.kafka_events_json (x String DEFAULT 'oops) ENGINE = Kafka", m_v1,
	 -EINVAL, "unterminated quote or comment at offset 57"},
	{"CREATE TABLE posthog.kafka_events_json (x UInt8 ENGINE = Kafka('a', 'b', 'c', 'd')", m_v1,
	 -EINVAL, "unbalanced brackets"},
	{k_v1, "CREATE MATERIALIZED VIEW posthog.events_json_mv ENGINE = MergeTree ORDER BY uuid "
	 "AS SELECT uuid FROM posthog.kafka_events_json", -EINVAL, "the view has no TO table"},
	{k_v1, "CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.writable_events AS "
	 "SELECT kafka_events_json FROM posthog.other", -EINVAL,
	 "the view does not select FROM kafka_events_json"},
	{k_v1, "CREATE MATERIALIZED VIEW v TO t AS SELECT 1; DROP TABLE t", -EINVAL,
	 "more than one statement"},
	{"CREATE TABLE posthog.kafka_events_json (x UInt8) ENGINE = Kafka SETTINGS "
	 "kafka_broker_list = 'k:9092', kafka_group_name = 'g', kafka_format = 'JSONEachRow'",
	 "CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.t AS SELECT x FROM "
	 "posthog.kafka_events_json", -EINVAL, "the Kafka table has no kafka_topic_list"},
	{"CREATE TABLE posthog.kafka_events_json (x UInt8) ENGINE = Kafka SETTINGS "
	 "kafka_broker_list = 'k:9092', kafka_topic_list = 't', kafka_group_name = 'g', "
	 "kafka_format = 'JSONEachRow', kafka_sasl_password = '[HIDDEN]'",
	 "CREATE MATERIALIZED VIEW posthog.events_json_mv TO posthog.t AS SELECT x FROM "
	 "posthog.kafka_events_json", -EPERM, NULL},
};

START_TEST(test_bad)
{
	char *k = (char *)"untouched", *m = (char *)"untouched", err[256] = "";

	ck_assert_int_eq(ph_schema_derive(bad_cases[_i].k, bad_cases[_i].m, &bucket2, &k, &m,
					  err, sizeof(err)), bad_cases[_i].want);
	if (bad_cases[_i].err)
		ck_assert_str_eq(err, bad_cases[_i].err);
	ck_assert_str_eq(k, "untouched");
	ck_assert_str_eq(m, "untouched");
}
END_TEST

START_TEST(test_bad_bucket)
{
	struct ph_schema_bucket b = bucket2;
	char *k, *m;

	b.group = "";
	ck_assert_int_eq(ph_schema_derive(k_v1, m_v1, &b, &k, &m, NULL, 0), -EINVAL);
	ck_assert_int_eq(ph_schema_derive(k_v1, m_v1, NULL, &k, &m, NULL, 0), -EINVAL);
}
END_TEST

/* The claim on a database: whose it is, from the server's rows. */
static const struct {
	const char *rows;
	int want;
	const char *other;
} owner_cases[] = {
	{"[]", PH_OWNER_NONE, ""},
	{"[{\"name\":\"name\",\"default_expression\":\"'posthog'\"},"
	 "{\"name\":\"namespace\",\"default_expression\":\"'team-a'\"}]", PH_OWNER_US, ""},
	{"[{\"name\":\"name\",\"default_expression\":\"'posthog'\"},"
	 "{\"name\":\"namespace\",\"default_expression\":\"'team-b'\"}]", PH_OWNER_OTHER,
	 "'team-b'/'posthog'"},
	{"[{\"name\":\"name\",\"default_expression\":\"'other'\"},"
	 "{\"name\":\"namespace\",\"default_expression\":\"'team-a'\"}]", PH_OWNER_OTHER,
	 "'team-a'/'other'"},
	/* A claim that cannot be read is not ours. */
	{"[{\"name\":\"name\",\"default_expression\":\"'posthog'\"}]", PH_OWNER_OTHER,
	 "?/'posthog'"},
	{"[{\"name\":\"x\"}]", PH_OWNER_OTHER, "?/?"},
	/* Unquoted, or a prefix of ours, is not ours. */
	{"[{\"name\":\"name\",\"default_expression\":\"posthog\"},"
	 "{\"name\":\"namespace\",\"default_expression\":\"'team-a'\"}]", PH_OWNER_OTHER,
	 "'team-a'/posthog"},
	{"[{\"name\":\"name\",\"default_expression\":\"'posthog2'\"},"
	 "{\"name\":\"namespace\",\"default_expression\":\"'team-a'\"}]", PH_OWNER_OTHER,
	 "'team-a'/'posthog2'"},
};

START_TEST(test_owner_match)
{
	cJSON *rows = cJSON_Parse(owner_cases[_i].rows);
	char other[128] = "";

	ck_assert_ptr_nonnull(rows);
	ck_assert_int_eq(ph_schema_owner_match(rows, "team-a", "posthog", other, sizeof(other)),
			 owner_cases[_i].want);
	ck_assert_str_eq(other, owner_cases[_i].other);
	cJSON_Delete(rows);
}
END_TEST

START_TEST(test_owner_statements)
{
	struct buf b;

	buf_init(&b, 4096);
	ck_assert_int_eq(ph_schema_owner_create("posthog", "team-a", "ph", &b), 0);
	ck_assert_str_eq(buf_str(&b), "CREATE TABLE `posthog`.posthog_operator_owner "
			 "(name String DEFAULT 'ph', namespace String DEFAULT 'team-a') ENGINE = Memory");
	buf_reset(&b);
	ck_assert_int_eq(ph_schema_owner_query("post'hog", &b), 0);
	ck_assert_str_eq(buf_str(&b), "SELECT name, default_expression FROM system.columns "
			 "WHERE database = 'post\\'hog' AND table = 'posthog_operator_owner' ORDER BY name");
	buf_reset(&b);
	ck_assert_int_eq(ph_schema_owner_drop("posthog", &b), 0);
	ck_assert_str_eq(buf_str(&b), "DROP TABLE IF EXISTS `posthog`.posthog_operator_owner");
	buf_free(&b);
	buf_init(&b, 16);
	ck_assert_int_eq(ph_schema_owner_create("posthog", "team-a", "ph", &b), -EMSGSIZE);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("schema");
	TCase *t = tcase_create("core");

	tcase_add_loop_test(t, test_derive, 0, NCASES);
	tcase_add_loop_test(t, test_fingerprint_matches_derived, 0, NCASES);
	tcase_add_loop_test(t, test_fingerprint_no_brokers, 0, NCASES);
	tcase_add_loop_test(t, test_fingerprint_changes, 0,
			    sizeof(fp_cases) / sizeof(fp_cases[0]));
	tcase_add_test(t, test_plan_create);
	tcase_add_test(t, test_plan_noop);
	tcase_add_test(t, test_plan_view_missing);
	tcase_add_test(t, test_plan_migration);
	tcase_add_loop_test(t, test_plan_connection_changed, 0, 3);
	tcase_add_test(t, test_plan_broken);
	tcase_add_test(t, test_drop);
	tcase_add_test(t, test_tables_query);
	tcase_add_test(t, test_quoted_names);
	tcase_add_loop_test(t, test_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(t, test_bad_bucket);
	tcase_add_loop_test(t, test_owner_match, 0, sizeof(owner_cases) / sizeof(owner_cases[0]));
	tcase_add_test(t, test_owner_statements);
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
