/*
 * Unit tests of the KafkaPrefix copies of PostHog 1.43's prefixed-topic
 * Kafka tables (prefixed.h): each bucket's names, and the DDL derived from
 * 1.43's person, person_distinct_id2 and groups tables as ClickHouse
 * reports them (columns shortened).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "prefixed.h"

static cJSON *spec(const char *routing, const char *prefix)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"buckets\":{\"count\":4},\"kafka\":{\"topics\":{\"prefix\":\"%s\"}},"
		 "\"pluginServer\":{\"topicRouting\":\"%s\"}}", prefix, routing);
	return cJSON_Parse(text);
}

static const struct ph_prefixed_pair *pair(const char *kafka)
{
	size_t n;
	const struct ph_prefixed_pair *p = ph_prefixed_pairs(&n);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(p[i].kafka_table, kafka))
			return &p[i];
	ck_abort_msg("no pair %s", kafka);
	return NULL;
}

static const struct {
	const char *kafka, *prefix;
	unsigned bucket;
	const char *want_kafka, *want_mv, *want_topic, *want_group;
} names[] = {
	{"kafka_person", "", 0, "kafka_person_0", "person_mv_0", "b0_clickhouse_person",
	 "kafka_person_0"},
	{"kafka_person_distinct_id2", "p_", 2, "kafka_person_distinct_id2_2",
	 "person_distinct_id2_mv_2", "p_b2_clickhouse_person_distinct_id",
	 "p_kafka_person_distinct_id2_2"},
	{"kafka_groups", "p_", 3, "kafka_groups_3", "groups_mv_3", "p_b3_clickhouse_groups",
	 "p_kafka_groups_3"},
	{"kafka_plugin_log_entries", "", 1, "kafka_plugin_log_entries_1", "plugin_log_entries_mv_1",
	 "b1_plugin_log_entries", "kafka_plugin_log_entries_1"},
};

START_TEST(test_names)
{
	cJSON *s = spec("KafkaPrefix", names[_i].prefix);
	struct ph_bucket_names nm;
	struct ph_prefixed_names pn;
	struct ph_schema_bucket b;

	ck_assert_int_eq(ph_bucket_names("ph", s, names[_i].bucket, &nm), 0);
	ck_assert_int_eq(ph_prefixed_bucket(pair(names[_i].kafka), &nm, 99, "posthog", "k:9092",
					    &pn, &b), 0);
	ck_assert_str_eq(b.kafka_table, names[_i].want_kafka);
	ck_assert_str_eq(b.mv, names[_i].want_mv);
	ck_assert_str_eq(b.topic, names[_i].want_topic);
	ck_assert_str_eq(b.group, names[_i].want_group);
	ck_assert_str_eq(b.database, "posthog");
	ck_assert_str_eq(b.brokers, "k:9092");
	/* The topic is what the bucket's plugin-servers produce to:
	 * KAFKA_PREFIX, then PostHog's topic name. */
	ck_assert_int_eq(strncmp(b.topic, nm.kafka_prefix, strlen(nm.kafka_prefix)), 0);
	cJSON_Delete(s);
}
END_TEST

START_TEST(test_env_routing_refused)
{
	cJSON *s = spec("Env", "");
	struct ph_bucket_names nm;
	struct ph_prefixed_names pn;
	struct ph_schema_bucket b;

	ck_assert_int_eq(ph_bucket_names("ph", s, 1, &nm), 0);
	ck_assert_int_eq(ph_prefixed_bucket(pair("kafka_person"), &nm, 1, "posthog", NULL, &pn, &b),
			 -EINVAL);
	cJSON_Delete(s);
}
END_TEST

START_TEST(test_names_for_drop)
{
	struct ph_prefixed_names pn;
	struct ph_schema_bucket b;
	struct ph_schema_stmts st = {0};

	ck_assert_int_eq(ph_prefixed_bucket(pair("kafka_groups"), NULL, 7, "posthog", NULL, &pn, &b), 0);
	ck_assert_int_eq(ph_schema_drop(&b, &st), 0);
	ck_assert_int_eq(st.n, 2);
	ck_assert_ptr_nonnull(strstr(st.sql[0], "groups_mv_7"));
	ck_assert_ptr_nonnull(strstr(st.sql[1], "kafka_groups_7"));
	ph_schema_stmts_free(&st);
}
END_TEST

START_TEST(test_pairs_distinct)
{
	size_t n;
	const struct ph_prefixed_pair *p = ph_prefixed_pairs(&n);

	ck_assert_uint_ge(n, 3);
	for (size_t i = 0; i < n; i++) {
		/* None is the events pair, which schema.h owns. */
		ck_assert_str_ne(p[i].kafka_table, PH_SCHEMA_BASE_KAFKA);
		ck_assert_str_ne(p[i].topic, "clickhouse_events_json");
		for (size_t j = i + 1; j < n; j++) {
			ck_assert_str_ne(p[i].kafka_table, p[j].kafka_table);
			ck_assert_str_ne(p[i].mv, p[j].mv);
			ck_assert_str_ne(p[i].topic, p[j].topic);
		}
	}
}
END_TEST

/* 1.43's definitions as ClickHouse reports them, and bucket 1's copies
 * with spec prefix "p_". */
static const struct {
	const char *kafka;
	const char *base_kafka, *base_mv, *want_kafka, *want_mv;
} ddl[] = {
	{"kafka_person",
	 "CREATE TABLE posthog.kafka_person (`id` UUID, `created_at` DateTime64(3), `team_id` Int64, "
	 "`properties` String, `is_identified` Int8, `is_deleted` Int8, `version` UInt64) "
	 "ENGINE = Kafka('kafka:9092', 'clickhouse_person', 'group1', 'JSONEachRow')",
	 "CREATE MATERIALIZED VIEW posthog.person_mv TO posthog.person (`id` UUID, `team_id` Int64) "
	 "AS SELECT id, created_at, team_id, properties, is_identified, is_deleted, version, "
	 "_timestamp, _offset FROM posthog.kafka_person",
	 "CREATE TABLE IF NOT EXISTS posthog.kafka_person_1 (`id` UUID, `created_at` DateTime64(3), "
	 "`team_id` Int64, `properties` String, `is_identified` Int8, `is_deleted` Int8, `version` UInt64) "
	 "ENGINE = Kafka('k:9092', 'p_b1_clickhouse_person', 'p_kafka_person_1', 'JSONEachRow')",
	 "CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.person_mv_1 TO posthog.person (`id` UUID, "
	 "`team_id` Int64) AS SELECT id, created_at, team_id, properties, is_identified, is_deleted, "
	 "version, _timestamp, _offset FROM posthog.kafka_person_1"},
	{"kafka_person_distinct_id2",
	 "CREATE TABLE posthog.kafka_person_distinct_id2 (`team_id` Int64, `distinct_id` String, "
	 "`person_id` UUID, `is_deleted` Int8, `version` Int64) ENGINE = Kafka('kafka:9092', "
	 "'clickhouse_person_distinct_id', 'group1', 'JSONEachRow')",
	 "CREATE MATERIALIZED VIEW posthog.person_distinct_id2_mv TO posthog.person_distinct_id2 "
	 "(`team_id` Int64) AS SELECT team_id, distinct_id, person_id, is_deleted, version, "
	 "_timestamp, _offset, _partition FROM posthog.kafka_person_distinct_id2",
	 "CREATE TABLE IF NOT EXISTS posthog.kafka_person_distinct_id2_1 (`team_id` Int64, "
	 "`distinct_id` String, `person_id` UUID, `is_deleted` Int8, `version` Int64) ENGINE = "
	 "Kafka('k:9092', 'p_b1_clickhouse_person_distinct_id', 'p_kafka_person_distinct_id2_1', "
	 "'JSONEachRow')",
	 "CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.person_distinct_id2_mv_1 TO "
	 "posthog.person_distinct_id2 (`team_id` Int64) AS SELECT team_id, distinct_id, person_id, "
	 "is_deleted, version, _timestamp, _offset, _partition FROM posthog.kafka_person_distinct_id2_1"},
	{"kafka_groups",
	 "CREATE TABLE posthog.kafka_groups (`group_type_index` UInt8, `group_key` String, "
	 "`created_at` DateTime64(3), `team_id` Int64, `group_properties` String) ENGINE = "
	 "Kafka('kafka:9092', 'clickhouse_groups', 'group1', 'JSONEachRow')",
	 "CREATE MATERIALIZED VIEW posthog.groups_mv TO posthog.groups (`team_id` Int64) AS SELECT "
	 "group_type_index, group_key, created_at, team_id, group_properties, _timestamp, _offset "
	 "FROM posthog.kafka_groups",
	 "CREATE TABLE IF NOT EXISTS posthog.kafka_groups_1 (`group_type_index` UInt8, `group_key` "
	 "String, `created_at` DateTime64(3), `team_id` Int64, `group_properties` String) ENGINE = "
	 "Kafka('k:9092', 'p_b1_clickhouse_groups', 'p_kafka_groups_1', 'JSONEachRow')",
	 "CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.groups_mv_1 TO posthog.groups "
	 "(`team_id` Int64) AS SELECT group_type_index, group_key, created_at, team_id, "
	 "group_properties, _timestamp, _offset FROM posthog.kafka_groups_1"},
};

START_TEST(test_derive)
{
	cJSON *s = spec("KafkaPrefix", "p_");
	struct ph_bucket_names nm;
	struct ph_prefixed_names pn;
	struct ph_schema_bucket b;
	struct ph_schema_stmts st = {0};
	char err[256] = "";

	ck_assert_int_eq(ph_bucket_names("ph", s, 1, &nm), 0);
	ck_assert_int_eq(ph_prefixed_bucket(pair(ddl[_i].kafka), &nm, 1, "posthog", "k:9092", &pn, &b),
			 0);
	ck_assert_msg(ph_schema_plan(ddl[_i].base_kafka, ddl[_i].base_mv, NULL, NULL, &b, &st, err,
				     sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(st.n, 2);
	ck_assert_msg(!strcmp(st.sql[0], ddl[_i].want_kafka), "\n got: %s\nwant: %s", st.sql[0],
		      ddl[_i].want_kafka);
	ck_assert_msg(!strcmp(st.sql[1], ddl[_i].want_mv), "\n got: %s\nwant: %s", st.sql[1],
		      ddl[_i].want_mv);
	ph_schema_stmts_free(&st);
	cJSON_Delete(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("prefixed");
	TCase *t = tcase_create("names and DDL");

	tcase_add_loop_test(t, test_names, 0, sizeof(names) / sizeof(names[0]));
	tcase_add_test(t, test_env_routing_refused);
	tcase_add_test(t, test_names_for_drop);
	tcase_add_test(t, test_pairs_distinct);
	tcase_add_loop_test(t, test_derive, 0, sizeof(ddl) / sizeof(ddl[0]));
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
