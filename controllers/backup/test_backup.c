/* Unit tests of the backup module's pure parts; the engine itself is
 * tested against real ClickHouse and S3 servers in hack/test.d/27-backup. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup-private.h"

static const struct { const char *in, *want; } esc[] = {
	{ "posthog", "posthog" },
	{ "sharded_events", "sharded_events" },
	{ ".inner.mv", "%2Einner%2Emv" },
	{ "a-b c", "a%2Db%20c" },
};

START_TEST(test_escape)
{
	struct buf b;

	buf_init(&b, 256);
	ck_assert_int_eq(bk_escape_file_name(esc[_i].in, &b), 0);
	ck_assert_str_eq(buf_str(&b), esc[_i].want);
	buf_free(&b);
}
END_TEST

static const struct { const char *in; bool ok; } names[] = {
	{ "nightly-20261201", true }, { "a.b_c", true }, { "", false }, { ".", false },
	{ "..", false }, { "a/b", false }, { "a b", false },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false },
};

START_TEST(test_names)
{
	ck_assert_int_eq(bk_valid_name(names[_i].in, BK_MAX_NAME), names[_i].ok);
}
END_TEST

static const struct { const char *in; bool ok; } files[] = {
	{ "uuid.bin", true }, { "%24group_0.bin", true }, { "%24session_id.mrk", true },
	{ "inserted_at.null.bin", true }, { "checksums.txt", true }, { "a%2Eb%2d.bin", true },
	{ "%", false }, { "%2", false }, { "%2G.bin", false }, { "x%", false }, { "", false },
	{ ".", false }, { "..", false }, { "a/b", false }, { "%2F", true }, { "a b", false },
	{ "$group_0.bin", false },
};

START_TEST(test_file_names)
{
	ck_assert_int_eq(bk_valid_file_name(files[_i].in, 200), files[_i].ok);
}
END_TEST

static const struct { const char *in; int rc; int64_t want; } durs[] = {
	{ "30d", 0, 2592000 }, { "12h", 0, 43200 }, { "90m", 0, 5400 }, { "45s", 0, 45 },
	{ "0d", -EINVAL, 0 }, { "d", -EINVAL, 0 }, { "10", -EINVAL, 0 }, { "1w", -EINVAL, 0 },
	{ "-1d", -EINVAL, 0 }, { "", -EINVAL, 0 },
};

START_TEST(test_duration)
{
	int64_t v = -7;

	ck_assert_int_eq(bk_parse_duration(durs[_i].in, &v), durs[_i].rc);
	if (durs[_i].rc == 0)
		ck_assert_int_eq(v, durs[_i].want);
	else
		ck_assert_int_eq(v, -7);
}
END_TEST

static const struct { const char *ddl; int rc; const char *brokers, *topics, *group; } kafka[] = {
	{ "CREATE TABLE posthog.kafka_events_json_0 (uuid UUID) ENGINE = Kafka('kafka:9092', 'clickhouse_events_json_0', 'kafka_events_json_0', 'JSONEachRow') SETTINGS kafka_row_delimiter = '\\n'",
	  0, "kafka:9092", "clickhouse_events_json_0", "kafka_events_json_0" },
	{ "CREATE TABLE t (a String) ENGINE = Kafka SETTINGS kafka_broker_list = 'b:1', kafka_topic_list = 'x,y', kafka_group_name = 'g', kafka_format = 'JSONEachRow'",
	  0, "b:1", "x,y", "g" },
	{ "CREATE TABLE t (a String) ENGINE = Kafka('b:1', 'it\\'s', 'g', 'TSV')", 0, "b:1", "it's", "g" },
	{ "CREATE TABLE t (a String) ENGINE = MergeTree ORDER BY a", -EINVAL, "", "", "" },
};

START_TEST(test_kafka_ddl)
{
	struct bk_kafka_args a;

	ck_assert_int_eq(bk_parse_kafka_ddl(kafka[_i].ddl, &a), kafka[_i].rc);
	ck_assert_str_eq(a.brokers, kafka[_i].brokers);
	ck_assert_str_eq(a.topics, kafka[_i].topics);
	ck_assert_str_eq(a.group, kafka[_i].group);
}
END_TEST

static const struct { const char *engine; int stage; bool mt; } engines[] = {
	{ "MergeTree", 0, true }, { "ReplicatedReplacingMergeTree", 0, true },
	{ "Distributed", 0, false }, { "Kafka", 1, false }, { "MaterializedView", 2, false },
};

START_TEST(test_engines)
{
	ck_assert_int_eq(bk_engine_stage(engines[_i].engine), engines[_i].stage);
	ck_assert_int_eq(bk_is_mergetree(engines[_i].engine), engines[_i].mt);
}
END_TEST

START_TEST(test_keys)
{
	struct bk_target t = { .prefix = "ph/prod", .shard = "1", .database = "posthog" };
	struct buf b;

	buf_init(&b, 1024);
	ck_assert_int_eq(bk_manifest_key(&t, "n1", &b), 0);
	ck_assert_str_eq(buf_str(&b), "ph/prod/backups/n1/shard-1.json");
	buf_reset(&b);
	ck_assert_int_eq(bk_part_prefix(&t, "events", "0123456789abcdef", &b), 0);
	ck_assert_str_eq(buf_str(&b), "ph/prod/parts/1/posthog/events/0123456789abcdef/");
	buf_reset(&b);
	t.prefix = "";
	ck_assert_int_eq(bk_manifest_key(&t, "n1", &b), 0);
	ck_assert_str_eq(buf_str(&b), "backups/n1/shard-1.json");
	buf_free(&b);
}
END_TEST

/* Manifests of a backup's shards in, the offsets to set back out: one
 * entry per group, the smallest offset per partition, -1 smallest of all. */
#define KDDL(t, g) "{\"name\":\"" t "\",\"engine\":\"Kafka\",\"ddl\":\"CREATE TABLE posthog." t \
	" (a String) ENGINE = Kafka('k:9092', 'top', '" g "', 'JSONEachRow')\"}"
#define OFF(t, p, o) "{\"topic\":\"" t "\",\"partition\":" #p ",\"offset\":" #o "}"
static const struct { const char *m[3]; int rc; const char *want; } merges[] = {
	/* One shard: its offsets as recorded, brokers from the table's DDL. */
	{ { "{\"tables\":[" KDDL("k0", "g0") "],\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":["
	    OFF("top", 0, 300) "," OFF("top", 1, 297) "]}]}" }, 0,
	  "[{\"table\":\"k0\",\"group\":\"g0\",\"brokers\":\"k:9092\",\"offsets\":["
	  OFF("top", 0, 300) "," OFF("top", 1, 297) "]}]" },
	/* Two shards read at different times: the smaller per partition. */
	{ { "{\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[" OFF("top", 0, 300) "," OFF("top", 1, 250) "]}]}",
	    "{\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[" OFF("top", 0, 310) "," OFF("top", 1, 240) "]}]}" }, 0,
	  "[{\"table\":\"k0\",\"group\":\"g0\",\"brokers\":\"\",\"offsets\":[" OFF("top", 0, 300) "," OFF("top", 1, 240) "]}]" },
	/* Nothing committed on one shard's reading: -1 (the low watermark). */
	{ { "{\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[" OFF("top", 0, 5) "]}]}",
	    "{\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[" OFF("top", 0, -1) "]}]}",
	    "{\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[" OFF("top", 0, 7) "]}]}" }, 0,
	  "[{\"table\":\"k0\",\"group\":\"g0\",\"brokers\":\"\",\"offsets\":[" OFF("top", 0, -1) "]}]" },
	/* Two groups, each set once, in the order they first appear; a
	 * partition only one shard names is kept; a shard without Kafka
	 * tables adds nothing. */
	{ { "{\"kafka\":[{\"table\":\"k1\",\"group\":\"g1\",\"offsets\":[" OFF("t1", 0, 9) "]},"
	    "{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[" OFF("top", 0, 4) "]}]}",
	    "{\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[" OFF("top", 0, 3) "," OFF("top", 1, 8) "]},"
	    "{\"table\":\"k1\",\"group\":\"g1\",\"offsets\":[" OFF("t1", 0, 10) "]}]}",
	    "{\"tables\":[]}" }, 0,
	  "[{\"table\":\"k1\",\"group\":\"g1\",\"brokers\":\"\",\"offsets\":[" OFF("t1", 0, 9) "]},"
	  "{\"table\":\"k0\",\"group\":\"g0\",\"brokers\":\"\",\"offsets\":[" OFF("top", 0, 3) "," OFF("top", 1, 8) "]}]" },
	/* No Kafka tables anywhere: nothing to set. */
	{ { "{\"tables\":[]}", "{\"kafka\":[]}" }, 0, "[]" },
	/* Flawed manifests are named. */
	{ { "{\"kafka\":[{\"table\":\"k0\",\"offsets\":[]}]}" }, -EBADMSG, "manifest 0: a Kafka entry lacks table, group or offsets" },
	{ { "{\"kafka\":[]}", "{\"kafka\":[{\"table\":\"k0\",\"group\":\"g0\",\"offsets\":[{\"topic\":\"top\",\"offset\":1}]}]}" },
	  -EBADMSG, "manifest 1: an offset of group g0 lacks topic, partition or offset" },
};

START_TEST(test_merge_offsets)
{
	const cJSON *ms[3];
	cJSON *parsed[3] = { 0 }, *out = NULL;
	char err[256] = "";
	size_t n = 0;
	char *text;

	for (; n < 3 && merges[_i].m[n]; n++) {
		parsed[n] = cJSON_Parse(merges[_i].m[n]);
		ck_assert_ptr_nonnull(parsed[n]);
		ms[n] = parsed[n];
	}
	ck_assert_int_eq(bk_merge_offsets(ms, n, &out, err, sizeof(err)), merges[_i].rc);
	if (merges[_i].rc == 0) {
		text = cJSON_PrintUnformatted(out);
		ck_assert_str_eq(text, merges[_i].want);
		free(text);
	} else {
		ck_assert_ptr_null(out);
		ck_assert_str_eq(err, merges[_i].want);
	}
	cJSON_Delete(out);
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(parsed[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backup");
	TCase *tc = tcase_create("unit");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_escape, 0, sizeof(esc) / sizeof(esc[0]));
	tcase_add_loop_test(tc, test_names, 0, sizeof(names) / sizeof(names[0]));
	tcase_add_loop_test(tc, test_file_names, 0, sizeof(files) / sizeof(files[0]));
	tcase_add_loop_test(tc, test_duration, 0, sizeof(durs) / sizeof(durs[0]));
	tcase_add_loop_test(tc, test_kafka_ddl, 0, sizeof(kafka) / sizeof(kafka[0]));
	tcase_add_loop_test(tc, test_engines, 0, sizeof(engines) / sizeof(engines[0]));
	tcase_add_test(tc, test_keys);
	tcase_add_loop_test(tc, test_merge_offsets, 0, sizeof(merges) / sizeof(merges[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
