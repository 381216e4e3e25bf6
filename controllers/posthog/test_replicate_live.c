/*
 * Integration test of the schema copy onto a new shard (replicate.h),
 * against two real ClickHouse 18.16 servers sharing a ZooKeeper
 * (hack/test.d/27-clickhouse-shards starts them).
 *
 * CLICKHOUSE_URL is the first shard, CLICKHOUSE_URL_B the added one; both
 * take CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, and both define the
 * cluster "posthog" as the two shards, with macros {shard} and {replica}
 * of their own. Without them the test reports itself skipped (77). It
 * owns the database "posthog" on both servers.
 *
 * The first shard gets PostHog's base schema (hack/clickhouse-base-schema
 * .sql), a ReplicatedMergeTree table with a Distributed table over it, a
 * materialized view with an inner table and a plain view, and rows. The
 * added shard starts empty. After the copy it has every table of the first
 * shard with the same definition, and Distributed queries on either shard
 * count the rows of both.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/clickhouse/test_live.h"
#include "api/posthog/prefixed.h"
#include "replicate_io.h"

static const char *const owned[] = {PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV};

static struct ch_client *client_of(const char *url)
{
	return ch_test_client(url, getenv("CLICKHOUSE_PASSWORD"), 0, 30000);
}

/* The one value of a one-row query, as text. */
static char *scalar(struct ch_client *c, const char *sql)
{
	cJSON *rows = ch_test_query(c, sql);
	char *v;

	ck_assert_int_eq(cJSON_GetArraySize(rows), 1);
	v = strdup(ch_test_field(cJSON_GetArrayItem(rows, 0), "v"));
	cJSON_Delete(rows);
	return v;
}

static void assert_scalar(struct ch_client *c, const char *sql, const char *want)
{
	char *v = scalar(c, sql);

	ck_assert_msg(!strcmp(v, want), "%s: %s, want %s", sql, v, want);
	free(v);
}

/* name -> "engine\ncreate_table_query" of every table of posthog on c. */
static cJSON *tables_of(struct ch_client *c)
{
	cJSON *rows = NULL, *map = cJSON_CreateObject();
	const cJSON *row;
	char err[1024] = "";

	ck_assert_msg(ph_replicate_read(c, "posthog", &rows, err, sizeof(err)) == 0, "%s", err);
	cJSON_ArrayForEach(row, rows) {
		struct buf v;

		buf_init(&v, 1 << 20);
		ck_assert_int_eq(buf_printf(&v, "%s\n%s", ch_test_field(row, "engine"),
					    ch_test_field(row, "create_table_query")), 0);
		cJSON_AddStringToObject(map, ch_test_field(row, "name"), buf_str(&v));
		buf_free(&v);
	}
	cJSON_Delete(rows);
	return map;
}

static void setup_first_shard(struct ch_client *a)
{
	ch_test_exec_file(a, "hack/clickhouse-base-schema.sql");
	ch_test_exec(a, "CREATE TABLE posthog.sharded_persons (id UInt64, team_id Int64, "
		   "version UInt64) ENGINE = ReplicatedReplacingMergeTree("
		   "'/clickhouse/tables/{shard}/posthog.sharded_persons', '{replica}', version) "
		   "ORDER BY (team_id, id)");
	ch_test_exec(a, "CREATE TABLE posthog.persons_all (id UInt64, team_id Int64, version UInt64) "
		   "ENGINE = Distributed('posthog', 'posthog', 'sharded_persons', id)");
	ch_test_exec(a, "CREATE MATERIALIZED VIEW posthog.event_counts ENGINE = SummingMergeTree "
		   "ORDER BY event AS SELECT event, count() AS n FROM posthog.sharded_events "
		   "GROUP BY event");
	ch_test_exec(a, "CREATE VIEW posthog.event_total AS SELECT count() AS n FROM posthog.events");
	ch_test_exec(a, "INSERT INTO posthog.sharded_events (uuid, event, team_id, distinct_id, "
		   "timestamp, _timestamp) SELECT generateUUIDv4(), toString(number), 1, "
		   "concat('a', toString(number)), now(), now() FROM system.numbers LIMIT 3");
	ch_test_exec(a, "INSERT INTO posthog.sharded_persons VALUES (1, 1, 0), (2, 1, 0), (3, 1, 0)");
}

START_TEST(test_new_shard_gets_every_table)
{
	const char *url_a = getenv("CLICKHOUSE_URL"), *url_b = getenv("CLICKHOUSE_URL_B");
	struct ch_client *a = client_of(url_a), *b = client_of(url_b);
	cJSON *src = NULL, *ta, *tb;
	const cJSON *t;
	unsigned created = 99;
	char err[2048] = "", *zk;
	int n;

	ch_test_exec(a, "DROP DATABASE IF EXISTS posthog");
	ch_test_exec(b, "DROP DATABASE IF EXISTS posthog");
	setup_first_shard(a);
	assert_scalar(b, "SELECT toString(count()) AS v FROM system.databases WHERE name = 'posthog'",
		      "0");

	/* The copy, as the reconciler runs it. */
	ck_assert_msg(ph_replicate_read(a, "posthog", &src, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ph_replicate_copy(b, "posthog", src, owned, 2, &created, err, sizeof(err)) == 0,
		      "%s", err);

	/* Every table of the first shard, with the same definition: the base
	 * schema's 5, sharded_persons, persons_all, the view and its inner
	 * table, the plain view; the inner table came with its view. */
	ta = tables_of(a);
	tb = tables_of(b);
	n = cJSON_GetArraySize(ta);
	ck_assert_int_eq(n, 10);
	ck_assert_int_eq(created, (unsigned)n - 1);
	ck_assert_int_eq(cJSON_GetArraySize(tb), n);
	cJSON_ArrayForEach(t, ta) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(tb, t->string);

		ck_assert_msg(cJSON_IsString(o), "the new shard lacks posthog.%s", t->string);
		ck_assert_msg(!strcmp(o->valuestring, t->valuestring),
			      "posthog.%s differs:\n first: %s\n   new: %s", t->string, t->valuestring,
			      o->valuestring);
	}

	/* Again: nothing to do. */
	ck_assert_msg(ph_replicate_copy(b, "posthog", src, owned, 2, &created, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(created, 0);

	/* The replicated table on the new shard has its own shard's path. */
	zk = scalar(b, "SELECT zookeeper_path AS v FROM system.replicas WHERE database = 'posthog' "
		       "AND table = 'sharded_persons'");
	ck_assert_msg(!strcmp(zk, "/clickhouse/tables/2/posthog.sharded_persons"), "%s", zk);
	free(zk);

	/* Rows on the new shard; Distributed queries on either count both. */
	ch_test_exec(b, "INSERT INTO posthog.sharded_events (uuid, event, team_id, distinct_id, "
		   "timestamp, _timestamp) SELECT generateUUIDv4(), toString(number), 1, "
		   "concat('b', toString(number)), now(), now() FROM system.numbers LIMIT 2");
	ch_test_exec(b, "INSERT INTO posthog.sharded_persons VALUES (4, 1, 0), (5, 1, 0)");
	assert_scalar(a, "SELECT toString(count()) AS v FROM posthog.sharded_events", "3");
	assert_scalar(b, "SELECT toString(count()) AS v FROM posthog.sharded_events", "2");
	assert_scalar(a, "SELECT toString(count()) AS v FROM posthog.events", "5");
	assert_scalar(b, "SELECT toString(count()) AS v FROM posthog.events", "5");
	assert_scalar(b, "SELECT toString(n) AS v FROM posthog.event_total", "5");
	assert_scalar(a, "SELECT toString(count()) AS v FROM posthog.persons_all", "5");
	assert_scalar(b, "SELECT toString(sum(n)) AS v FROM posthog.event_counts", "2");

	cJSON_Delete(ta);
	cJSON_Delete(tb);
	cJSON_Delete(src);
	ch_free(a);
	ch_free(b);
}
END_TEST

/* A definition the first shard reports that is not one statement of its
 * own table stops the copy before anything runs on the new shard. */
START_TEST(test_bad_definition_creates_nothing)
{
	struct ch_client *b = client_of(getenv("CLICKHOUSE_URL_B"));
	cJSON *src = cJSON_CreateArray(), *row;
	unsigned created = 99;
	char err[1024] = "";

	ch_test_exec(b, "DROP DATABASE IF EXISTS posthog");
	row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "name", "a");
	cJSON_AddStringToObject(row, "engine", "Memory");
	cJSON_AddStringToObject(row, "create_table_query",
				"CREATE TABLE posthog.a (x UInt8) ENGINE = Memory");
	cJSON_AddItemToArray(src, row);
	row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "name", "b");
	cJSON_AddStringToObject(row, "engine", "Memory");
	cJSON_AddStringToObject(row, "create_table_query",
				"CREATE TABLE posthog.b (x UInt8) ENGINE = Memory; DROP DATABASE system");
	cJSON_AddItemToArray(src, row);
	ck_assert_int_eq(ph_replicate_copy(b, "posthog", src, owned, 2, &created, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "posthog.b") && strstr(err, "more than one statement"), "%s", err);
	ck_assert_int_eq(created, 0);
	assert_scalar(b, "SELECT toString(count()) AS v FROM system.databases WHERE name = 'posthog'",
		      "0");
	cJSON_Delete(src);
	ch_free(b);
}
END_TEST

/*
 * KafkaPrefix: bucket 1's copy of 1.43's person pair (prefixed.h), derived
 * from what the first shard reports and created there; the copy onto the
 * second shard takes PostHog's pair and leaves the bucket copy to the
 * per-bucket plan. The tables are 1.43's kafka_person, person and
 * person_mv, with DateTime where 1.43 has DateTime64 (18.16 has none).
 */
START_TEST(test_prefixed_person_copy)
{
	struct ch_client *a = client_of(getenv("CLICKHOUSE_URL"));
	struct ch_client *b = client_of(getenv("CLICKHOUSE_URL_B"));
	const char *owned_all[2 + 2 * 16];
	size_t np, nowned = 0;
	const struct ph_prefixed_pair *pairs = ph_prefixed_pairs(&np);
	const struct ph_prefixed_pair *person = NULL;
	cJSON *spec, *src = NULL, *rows, *tb;
	struct ph_bucket_names nm;
	struct ph_prefixed_names pn;
	struct ph_schema_bucket sb;
	struct ph_schema_stmts st = {0};
	const char *bk = NULL, *bm = NULL;
	const cJSON *row;
	unsigned created;
	char err[2048] = "";

	for (size_t i = 0; i < np; i++) {
		if (!strcmp(pairs[i].kafka_table, "kafka_person"))
			person = &pairs[i];
		owned_all[nowned++] = pairs[i].kafka_table;
		owned_all[nowned++] = pairs[i].mv;
	}
	owned_all[nowned++] = PH_SCHEMA_BASE_KAFKA;
	owned_all[nowned++] = PH_SCHEMA_BASE_MV;
	ck_assert_ptr_nonnull(person);

	ch_test_exec(a, "CREATE TABLE posthog.person (id UUID, created_at DateTime, team_id Int64, "
		   "properties String, is_identified Int8, is_deleted Int8 DEFAULT 0, version UInt64, "
		   "_timestamp DateTime, _offset UInt64) ENGINE = ReplacingMergeTree(version) "
		   "ORDER BY (team_id, id)");
	ch_test_exec(a, "CREATE TABLE posthog.kafka_person (id UUID, created_at DateTime, team_id Int64, "
		   "properties String, is_identified Int8, is_deleted Int8 DEFAULT 0, version UInt64) "
		   "ENGINE = Kafka('kafka:9092', 'clickhouse_person', 'group1', 'JSONEachRow')");
	ch_test_exec(a, "CREATE MATERIALIZED VIEW posthog.person_mv TO posthog.person AS SELECT id, "
		   "created_at, team_id, properties, is_identified, is_deleted, version, "
		   "now() AS _timestamp, toUInt64(0) AS _offset FROM posthog.kafka_person");

	ck_assert_msg(ph_replicate_read(a, "posthog", &src, err, sizeof(err)) == 0, "%s", err);
	cJSON_ArrayForEach(row, src) {
		if (!strcmp(ch_test_field(row, "name"), "kafka_person"))
			bk = ch_test_field(row, "create_table_query");
		if (!strcmp(ch_test_field(row, "name"), "person_mv"))
			bm = ch_test_field(row, "create_table_query");
	}
	ck_assert_ptr_nonnull(bk);
	ck_assert_ptr_nonnull(bm);
	spec = cJSON_Parse("{\"buckets\":{\"count\":2},\"kafka\":{\"topics\":{\"prefix\":\"p_\"}},"
			   "\"pluginServer\":{\"topicRouting\":\"KafkaPrefix\"}}");
	ck_assert_int_eq(ph_bucket_names("ph", spec, 1, &nm), 0);
	ck_assert_int_eq(ph_prefixed_bucket(person, &nm, 1, "posthog", "127.0.0.1:9", &pn, &sb), 0);
	ck_assert_msg(ph_schema_plan(bk, bm, NULL, NULL, &sb, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(st.n, 2);
	for (size_t i = 0; i < st.n; i++)
		ch_test_exec(a, st.sql[i]);
	ph_schema_stmts_free(&st);

	/* The server holds the bucket's Kafka table on its prefixed topic and
	 * group, and the view from it into PostHog's person table. */
	rows = ch_test_query(a, "SELECT name, engine_full, create_table_query FROM system.tables "
			   "WHERE database = 'posthog' AND name IN ('kafka_person_1', 'person_mv_1') "
			   "ORDER BY name");
	ck_assert_int_eq(cJSON_GetArraySize(rows), 2);
	ck_assert_msg(strstr(ch_test_field(cJSON_GetArrayItem(rows, 0), "engine_full"),
			     "Kafka('127.0.0.1:9', 'p_b1_clickhouse_person', 'p_kafka_person_1', "
			     "'JSONEachRow')"), "%s", ch_test_field(cJSON_GetArrayItem(rows, 0), "engine_full"));
	ck_assert_msg(strstr(ch_test_field(cJSON_GetArrayItem(rows, 1), "create_table_query"),
			     "TO posthog.person") &&
		      strstr(ch_test_field(cJSON_GetArrayItem(rows, 1), "create_table_query"),
			     "FROM posthog.kafka_person_1"),
		      "%s", ch_test_field(cJSON_GetArrayItem(rows, 1), "create_table_query"));
	cJSON_Delete(rows);

	/* The copy onto the second shard: PostHog's pair and person, not the
	 * bucket copy. */
	cJSON_Delete(src);
	src = NULL;
	ck_assert_msg(ph_replicate_read(a, "posthog", &src, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ph_replicate_copy(b, "posthog", src, owned_all, nowned, &created, err,
					sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(created, 3);
	tb = tables_of(b);
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(tb, "kafka_person"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(tb, "person_mv"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(tb, "person"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(tb, "kafka_person_1"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(tb, "person_mv_1"));
	cJSON_Delete(tb);
	cJSON_Delete(src);
	cJSON_Delete(spec);
	ch_free(a);
	ch_free(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("replicate_live");
	TCase *t = tcase_create("two shards");

	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_new_shard_gets_every_table);
	tcase_add_test(t, test_prefixed_person_copy);
	tcase_add_test(t, test_bad_definition_creates_nothing);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	static const char *const env[] = {"CLICKHOUSE_URL", "CLICKHOUSE_URL_B", "CLICKHOUSE_USER",
					  NULL};

	return ch_test_main(suite, env, CK_NOFORK);
}
