/*
 * posthog-operator render --bucket-ddl: the per-bucket ClickHouse tables the
 * operator's schema sync would create for a PostHog, given the definitions
 * of its database as a server reports them. Pure, like render itself: the
 * definitions come from a file, not from a server.
 *
 * The statements are what controllers/posthog/chaccess.c's sync_replica
 * runs for a live bucket, from the same functions with the same inputs:
 * the names from ph_bucket_names(), the broker list from
 * ph_kafka_bootstrap(), and ph_schema_plan() against the base tables
 * kafka_events_json and events_json_mv and the bucket's current tables
 * (none when the file has none: then CREATE TABLE and CREATE VIEW). Tests
 * that need the bucket tables on a server without the operator
 * (hack/test.d/27-backup) run exactly these. What the sync does besides
 * (claiming the database, dropping the tables of buckets beyond the count,
 * the KafkaPrefix copies) is not printed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "render_ddl.h"
#include "api/posthog/posthog.h"
#include "api/posthog/schema.h"
#include "pkg/util/util.h"

/* create_table_query of the table named name in rows, or NULL. */
static const char *definition(const cJSON *rows, const char *name)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, rows) {
		const char *n = util_json_str(row, "name");
		const char *q = util_json_str(row, "create_table_query");

		if (n && q && !strcmp(n, name))
			return q;
	}
	return NULL;
}

/* One JSON line for bucket b of posthog (valid), with its statements. */
static int bucket_line(const char *name, const char *db, const cJSON *spec,
		       const char *brokers, const cJSON *rows, unsigned b,
		       struct buf *out)
{
	struct ph_schema_stmts s = {0};
	struct ph_bucket_names nm;
	struct ph_schema_bucket sb;
	cJSON *line, *arr;
	char err[1024] = "", *text;
	int r;

	if (ph_bucket_names(name, spec, b, &nm) < 0) {
		fprintf(stderr, "error: %s: bucket %u: its names do not fit\n", name, b);
		return -EINVAL;
	}
	sb = (struct ph_schema_bucket){
		.database = db, .kafka_table = nm.kafka_table, .mv = nm.mv_table,
		.topic = nm.events_json_topic, .group = nm.clickhouse_group,
		.brokers = brokers,
	};
	r = ph_schema_plan(definition(rows, PH_SCHEMA_BASE_KAFKA),
			   definition(rows, PH_SCHEMA_BASE_MV),
			   definition(rows, sb.kafka_table), definition(rows, sb.mv),
			   &sb, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "error: %s: bucket %u: %s\n", name, b, err);
		return r;
	}
	line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "posthog", name);
	cJSON_AddNumberToObject(line, "bucket", b);
	cJSON_AddStringToObject(line, "database", db);
	cJSON_AddStringToObject(line, "kafkaTable", sb.kafka_table);
	cJSON_AddStringToObject(line, "view", sb.mv);
	cJSON_AddStringToObject(line, "topic", sb.topic);
	cJSON_AddStringToObject(line, "group", sb.group);
	cJSON_AddStringToObject(line, "brokers", brokers);
	arr = cJSON_AddArrayToObject(line, "statements");
	for (size_t i = 0; i < s.n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(s.sql[i]));
	ph_schema_stmts_free(&s);
	text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	if (!text)
		return -ENOMEM;
	r = buf_printf(out, "%s\n", text);
	cJSON_free(text);
	return r;
}

int render_bucket_ddl(const cJSON *posthog, const cJSON *rows, struct buf *out)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(posthog, "metadata");
	const char *name = util_json_str(meta, "name");
	const char *ns = util_json_str(meta, "namespace");
	char brokers[4096];
	cJSON *spec = NULL;
	unsigned buckets;
	int r;

	if (!name || ph_normalize(posthog, &spec) < 0)
		return -EINVAL;
	if (!definition(rows, PH_SCHEMA_BASE_KAFKA) || !definition(rows, PH_SCHEMA_BASE_MV)) {
		fprintf(stderr, "error: %s: the definitions hold no %s and %s to derive the "
			"bucket tables from\n", name, PH_SCHEMA_BASE_KAFKA, PH_SCHEMA_BASE_MV);
		cJSON_Delete(spec);
		return -EINVAL;
	}
	buckets = (unsigned)util_json_num(cJSON_GetObjectItemCaseSensitive(spec, "buckets"),
					  "count", 1);
	r = ph_kafka_bootstrap(name, ns, spec, brokers, sizeof(brokers));
	if (r < 0)
		fprintf(stderr, "error: %s: the Kafka broker list is too long\n", name);
	for (unsigned b = 0; r == 0 && b < buckets; b++)
		r = bucket_line(name, util_json_get_str(spec, "clickhouse.database", "posthog"),
				spec, brokers, rows, b, out);
	cJSON_Delete(spec);
	return r;
}
