/*
 * The per-bucket schema derivation (schema.h) against a real ClickHouse
 * server (Debian's 18.16 in hack/test.d/25-clickhouse): the bucket tables
 * are derived from the definitions the server itself reports.
 *
 * The server comes from CLICKHOUSE_URL, CLICKHOUSE_USER and
 * CLICKHOUSE_PASSWORD; without them the test reports itself skipped (77).
 * The tests own the database "posthog" on that server: they drop it and
 * create it again from hack/clickhouse-base-schema.sql, then apply
 * hack/clickhouse-migration-add-column.sql half way. The tests run in the
 * order they are added and build on each other.
 *
 * No Kafka broker runs here: the Kafka tables are created and their
 * definitions checked, but nothing is consumed.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/clickhouse/test_live.h"
#include "schema.h"

#define NBUCKETS 4
#define BROKERS "127.0.0.1:9"

static struct ch_client *client(void)
{
	return ch_test_client(getenv("CLICKHOUSE_URL"), getenv("CLICKHOUSE_PASSWORD"), 0, 20000);
}

struct names {
	char kafka[64], mv[64], topic[64], group[64];
	struct ph_schema_bucket b;
};

static void bucket_names(unsigned n, struct names *x)
{
	snprintf(x->kafka, sizeof(x->kafka), "kafka_events_json_%u", n);
	snprintf(x->mv, sizeof(x->mv), "events_json_mv_%u", n);
	snprintf(x->topic, sizeof(x->topic), "clickhouse_events_json_%u", n);
	snprintf(x->group, sizeof(x->group), "group1_bucket_%u", n);
	x->b = (struct ph_schema_bucket){
		.database = "posthog", .kafka_table = x->kafka, .mv = x->mv,
		.topic = x->topic, .group = x->group, .brokers = BROKERS,
	};
}

/* create_table_query of the named tables in posthog (caller frees),
 * with the query schema.h builds. */
static cJSON *definitions(struct ch_client *c, const char *a, const char *b)
{
	const char *names[] = {a, b};
	struct buf q;
	cJSON *rows;

	buf_init(&q, 4096);
	ck_assert_int_eq(ph_schema_tables_query("posthog", names, 2, &q), 0);
	rows = ch_test_query(c, buf_str(&q));
	buf_free(&q);
	return rows;
}

static const char *def_of(const cJSON *rows, const char *name)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, rows)
		if (strcmp(ch_test_field(row, "name"), name) == 0)
			return ch_test_field(row, "create_table_query");
	return NULL;
}

/* Plans bucket n against the server's current definitions, runs the
 * plan, and returns how many statements it had. */
static size_t sync_bucket(struct ch_client *c, unsigned n)
{
	struct ph_schema_stmts s = {0};
	struct names x;
	cJSON *base, *cur;
	char err[1024] = "";
	size_t i, count;

	bucket_names(n, &x);
	base = definitions(c, PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV);
	cur = definitions(c, x.kafka, x.mv);
	ck_assert_msg(ph_schema_plan(def_of(base, PH_SCHEMA_BASE_KAFKA),
				     def_of(base, PH_SCHEMA_BASE_MV), def_of(cur, x.kafka),
				     def_of(cur, x.mv), &x.b, &s, err, sizeof(err)) == 0,
		      "%s", err);
	for (i = 0; i < s.n; i++)
		ch_test_exec(c, s.sql[i]);
	count = s.n;
	ph_schema_stmts_free(&s);
	cJSON_Delete(base);
	cJSON_Delete(cur);
	return count;
}

/* "name type, ..." of a table, from system.columns. */
static void columns_of(struct ch_client *c, const char *table, struct buf *out)
{
	struct buf q;
	cJSON *rows, *row;

	buf_init(&q, 4096);
	ck_assert_int_eq(buf_append_str(&q, "SELECT name, type FROM system.columns "
					"WHERE database = 'posthog' AND table = ") ?:
			 ch_quote(table, &q), 0);
	rows = ch_test_query(c, buf_str(&q));
	cJSON_ArrayForEach(row, rows)
		ck_assert_int_eq(buf_printf(out, "%s %s, ", ch_test_field(row, "name"),
					    ch_test_field(row, "type")), 0);
	cJSON_Delete(rows);
	buf_free(&q);
}

static void assert_bucket(struct ch_client *c, unsigned n, const char *must_have_column)
{
	struct buf want, got;
	struct names x;
	cJSON *base, *cur;
	const char *k, *m;
	char fb[PH_SCHEMA_FP_LEN + 1], fc[PH_SCHEMA_FP_LEN + 1], expect[256];

	bucket_names(n, &x);
	cur = definitions(c, x.kafka, x.mv);
	k = def_of(cur, x.kafka);
	m = def_of(cur, x.mv);
	ck_assert_msg(k && m, "bucket %u: missing tables", n);
	snprintf(expect, sizeof(expect), "ENGINE = Kafka('%s', '%s', '%s', 'JSONEachRow')",
		 BROKERS, x.topic, x.group);
	ck_assert_msg(strstr(k, expect), "bucket %u: %s", n, k);
	ck_assert_msg(strstr(k, "kafka_row_delimiter = '\\n', kafka_num_consumers = 1"),
		      "settings lost: %s", k);
	ck_assert_msg(strstr(m, "TO posthog.writable_events"), "%s", m);
	snprintf(expect, sizeof(expect), "FROM posthog.%s", x.kafka);
	ck_assert_msg(strstr(m, expect), "%s", m);
	if (must_have_column)
		ck_assert_msg(strstr(k, must_have_column) && strstr(m, must_have_column),
			      "no %s in bucket %u", must_have_column, n);
	/* The same columns as the base Kafka table, in the same order. */
	buf_init(&want, 1 << 16);
	buf_init(&got, 1 << 16);
	columns_of(c, PH_SCHEMA_BASE_KAFKA, &want);
	columns_of(c, x.kafka, &got);
	ck_assert_str_eq(buf_str(&got), buf_str(&want));
	/* And the fingerprint of what the server reports for the bucket is
	 * the base's. */
	base = definitions(c, PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV);
	ck_assert_int_eq(ph_schema_fingerprint(def_of(base, PH_SCHEMA_BASE_KAFKA),
					       def_of(base, PH_SCHEMA_BASE_MV), fb, NULL, 0), 0);
	ck_assert_int_eq(ph_schema_fingerprint(k, m, fc, NULL, 0), 0);
	ck_assert_str_eq(fc, fb);
	buf_free(&want);
	buf_free(&got);
	cJSON_Delete(base);
	cJSON_Delete(cur);
}

START_TEST(test_base_schema)
{
	struct ch_client *c = client();
	cJSON *rows;

	ch_test_exec(c, "DROP DATABASE IF EXISTS posthog");
	ch_test_exec_file(c, "hack/clickhouse-base-schema.sql");
	rows = ch_test_query(c, "SELECT name, engine FROM system.tables WHERE database = 'posthog' "
			"ORDER BY name");
	ck_assert_int_eq(cJSON_GetArraySize(rows), 5);
	ck_assert_str_eq(ch_test_field(cJSON_GetArrayItem(rows, 2), "name"), "kafka_events_json");
	ck_assert_str_eq(ch_test_field(cJSON_GetArrayItem(rows, 2), "engine"), "Kafka");
	ck_assert_str_eq(ch_test_field(cJSON_GetArrayItem(rows, 1), "engine"), "MaterializedView");
	cJSON_Delete(rows);
	ch_free(c);
}
END_TEST

START_TEST(test_buckets_created)
{
	struct ch_client *c = client();
	unsigned n;

	for (n = 0; n < NBUCKETS; n++)
		ck_assert_uint_eq(sync_bucket(c, n), 2);
	for (n = 0; n < NBUCKETS; n++)
		assert_bucket(c, n, NULL);
	ch_free(c);
}
END_TEST

START_TEST(test_buckets_idempotent)
{
	struct ch_client *c = client();
	struct ph_schema_stmts s = {0};
	struct names x;
	cJSON *base;
	size_t i;
	unsigned n;

	/* Nothing to do a second time... */
	for (n = 0; n < NBUCKETS; n++)
		ck_assert_uint_eq(sync_bucket(c, n), 0);
	/* ... and the CREATE statements themselves may run again. */
	bucket_names(1, &x);
	base = definitions(c, PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV);
	ck_assert_int_eq(ph_schema_plan(def_of(base, PH_SCHEMA_BASE_KAFKA),
					def_of(base, PH_SCHEMA_BASE_MV), NULL, NULL, &x.b, &s,
					NULL, 0), 0);
	for (i = 0; i < s.n; i++)
		ch_test_exec(c, s.sql[i]);
	ph_schema_stmts_free(&s);
	cJSON_Delete(base);
	assert_bucket(c, 1, NULL);
	ch_free(c);
}
END_TEST

START_TEST(test_migration_followed)
{
	struct ch_client *c = client();
	char before[PH_SCHEMA_FP_LEN + 1], after[PH_SCHEMA_FP_LEN + 1];
	cJSON *base;
	unsigned n;

	base = definitions(c, PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV);
	ck_assert_int_eq(ph_schema_fingerprint(def_of(base, PH_SCHEMA_BASE_KAFKA),
					       def_of(base, PH_SCHEMA_BASE_MV), before, NULL, 0), 0);
	cJSON_Delete(base);
	ch_test_exec_file(c, "hack/clickhouse-migration-add-column.sql");
	base = definitions(c, PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV);
	ck_assert_int_eq(ph_schema_fingerprint(def_of(base, PH_SCHEMA_BASE_KAFKA),
					       def_of(base, PH_SCHEMA_BASE_MV), after, NULL, 0), 0);
	cJSON_Delete(base);
	ck_assert_str_ne(before, after);
	/* Drop view, drop table, create table, create view. */
	for (n = 0; n < NBUCKETS; n++)
		ck_assert_uint_eq(sync_bucket(c, n), 4);
	for (n = 0; n < NBUCKETS; n++)
		assert_bucket(c, n, "person_mode");
	for (n = 0; n < NBUCKETS; n++)
		ck_assert_uint_eq(sync_bucket(c, n), 0);
	ch_free(c);
}
END_TEST

static size_t count_tables(struct ch_client *c, const char *name)
{
	struct buf q;
	cJSON *rows;
	size_t n;

	buf_init(&q, 4096);
	ck_assert_int_eq(buf_append_str(&q, "SELECT name FROM system.tables "
					"WHERE database = 'posthog' AND name = ") ?:
			 ch_quote(name, &q), 0);
	rows = ch_test_query(c, buf_str(&q));
	n = (size_t)cJSON_GetArraySize(rows);
	cJSON_Delete(rows);
	buf_free(&q);
	return n;
}

START_TEST(test_bucket_removed)
{
	struct ch_client *c = client();
	struct ph_schema_stmts s = {0};
	struct names x;
	unsigned n;

	bucket_names(NBUCKETS - 1, &x);
	ck_assert_int_eq(ph_schema_drop(&x.b, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	/* The view goes first; the table is still there after that. */
	ch_test_exec(c, s.sql[0]);
	ck_assert_uint_eq(count_tables(c, x.mv), 0);
	ck_assert_uint_eq(count_tables(c, x.kafka), 1);
	ch_test_exec(c, s.sql[1]);
	ck_assert_uint_eq(count_tables(c, x.kafka), 0);
	/* Removing twice is harmless. */
	ch_test_exec(c, s.sql[0]);
	ch_test_exec(c, s.sql[1]);
	ph_schema_stmts_free(&s);
	for (n = 0; n + 1 < NBUCKETS; n++)
		assert_bucket(c, n, "person_mode");
	ck_assert_uint_eq(count_tables(c, "writable_events"), 1);
	ch_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("posthog_schema_live");
	TCase *tc = tcase_create("schema");

	tcase_add_test(tc, test_base_schema);
	tcase_add_test(tc, test_buckets_created);
	tcase_add_test(tc, test_buckets_idempotent);
	tcase_add_test(tc, test_migration_followed);
	tcase_add_test(tc, test_bucket_removed);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	static const char *const env[] = {"CLICKHOUSE_URL", "CLICKHOUSE_PASSWORD", NULL};

	return ch_test_main(suite, env, CK_FORK_GETENV);
}
