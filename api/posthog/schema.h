/*
 * schema: the per-bucket ClickHouse ingestion tables, derived from PostHog's
 * own. Pure functions: text in, text out, no I/O.
 *
 * PostHog's migrations own the base tables. Of those, the operator copies
 * two per bucket: the Kafka engine table kafka_events_json and the
 * materialized view events_json_mv that moves its rows into writable_events.
 * Bucket N gets kafka_events_json_N, reading its own topic with its own
 * consumer group, and events_json_mv_N, writing into the same target. The
 * copies are derived from the definitions the server reports in
 * system.tables.create_table_query, so they follow whatever schema version
 * PostHog is at: every column, every engine setting, the view's SELECT.
 *
 * The derived DDL is idempotent (IF NOT EXISTS) and has no ON CLUSTER: the
 * reconciler runs it on every replica itself, so it needs neither ZooKeeper
 * nor distributed DDL.
 *
 * Names (table, topic, group) are the caller's: the reconciler takes them
 * from ph_bucket_names() in posthog.h.
 */
#ifndef PHO_POSTHOG_SCHEMA_H
#define PHO_POSTHOG_SCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"

/* The base tables' names, as PostHog's migrations create them. */
#define PH_SCHEMA_BASE_KAFKA "kafka_events_json"
#define PH_SCHEMA_BASE_MV "events_json_mv"

/* Longest create_table_query accepted, and longest DDL produced. */
#define PH_SCHEMA_MAX_DDL (1024 * 1024)

/* A fingerprint: 16 lower-case hex digits. */
#define PH_SCHEMA_FP_LEN 16

/* One bucket's copy. All borrowed; all required except brokers. */
struct ph_schema_bucket {
	const char *database;    /* "posthog" */
	const char *kafka_table; /* "kafka_events_json_N" */
	const char *mv;          /* "events_json_mv_N" */
	const char *topic;       /* "clickhouse_events_json_N" */
	const char *group;       /* its consumer group, e.g. "group1_bucket_N" */
	/* "host:port,..." (the bootstrap Service or external brokers); NULL
	 * keeps the base table's (its broker list or named collection). */
	const char *brokers;
};

/* A list of statements to run in order. Owns the strings. */
struct ph_schema_stmts {
	char **sql;
	size_t n;
};

void ph_schema_stmts_free(struct ph_schema_stmts *s);

/*
 * The query that reads definitions: "SELECT name, create_table_query FROM
 * system.tables WHERE database = '<database>' AND name IN ('<names>'...)
 * ORDER BY name". Appends to out. Returns 0, -EINVAL (n == 0) or -EMSGSIZE.
 */
int ph_schema_tables_query(const char *database, const char *const *names,
			   size_t n, struct buf *out) __attribute__((warn_unused_result));

/*
 * Derives bucket b's two CREATE statements from the base definitions
 * (create_table_query of kafka_events_json and events_json_mv, any server
 * version). *kafka_out and *mv_out are malloc'd; the caller frees them.
 * Returns 0; -EINVAL with the reason in err when a definition cannot be
 * understood (not a Kafka table, a view without TO, a view that does not
 * read the Kafka table, unbalanced text); -EPERM when the server masked a
 * secret in the definition ('[HIDDEN]'), which cannot be copied; or
 * -EMSGSIZE. Outputs are untouched on failure.
 */
int ph_schema_derive(const char *base_kafka, const char *base_mv,
		     const struct ph_schema_bucket *b, char **kafka_out,
		     char **mv_out, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * The fingerprint of a Kafka table and the view reading it: a hash of the
 * columns, the engine and its settings, the view's target and SELECT, with
 * the parts that differ per bucket left out (table names, database,
 * broker list, topic, consumer group, IF NOT EXISTS, ON CLUSTER, UUIDs, the
 * view's own column list, spacing, comments, identifier quoting). A base
 * pair and a bucket pair derived from it have the same fingerprint. out
 * gets PH_SCHEMA_FP_LEN hex digits and a NUL. Returns 0 or -EINVAL.
 */
int ph_schema_fingerprint(const char *kafka_ddl, const char *mv_ddl,
			  char out[PH_SCHEMA_FP_LEN + 1], char *err,
			  size_t errlen) __attribute__((warn_unused_result));

/*
 * What to run to bring bucket b in line with the base. cur_kafka and
 * cur_mv are the bucket's definitions as the server reports them, NULL
 * when missing. The result is:
 *   - nothing, when both exist, the fingerprints match and the topic,
 *     group and broker list are the wanted ones;
 *   - CREATE TABLE, CREATE VIEW when both are missing;
 *   - CREATE VIEW when only the view is missing and the table is current;
 *   - otherwise DROP the view, DROP the Kafka table, CREATE TABLE, CREATE
 *     VIEW: the view first, so that nothing consumes while the table is
 *     replaced. The consumer group keeps its offsets in Kafka, so the new
 *     table resumes where the old one stopped.
 * A current definition that cannot be parsed counts as outdated. Appends
 * to out (initialize it zeroed). Returns what ph_schema_derive returns.
 */
int ph_schema_plan(const char *base_kafka, const char *base_mv,
		   const char *cur_kafka, const char *cur_mv,
		   const struct ph_schema_bucket *b,
		   struct ph_schema_stmts *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * The statements that remove bucket b: DROP TABLE IF EXISTS of the view,
 * then of the Kafka table (DROP TABLE, not DROP VIEW, since 18.16 has no
 * DROP VIEW). Appends to out. Returns 0 or -EINVAL.
 */
int ph_schema_drop(const struct ph_schema_bucket *b,
		   struct ph_schema_stmts *out) __attribute__((warn_unused_result));

/* ---- ownership of a database's bucket tables (owner.c) ---------------- */

/* The table whose column defaults name the PostHog that owns the bucket
 * tables of its database. */
#define PH_SCHEMA_OWNER_TABLE "posthog_operator_owner"

/* What ph_schema_owner_match found. */
enum { PH_OWNER_NONE, PH_OWNER_US, PH_OWNER_OTHER };

/* The query (FORMAT JSON rows: name, default_expression) that reads the
 * claim of database. Appends to out; returns 0, -EINVAL or -EMSGSIZE (out
 * unchanged). */
int ph_schema_owner_query(const char *database, struct buf *out)
	__attribute__((warn_unused_result));

/* CREATE TABLE (no IF NOT EXISTS: a claim fails if one exists) of the
 * claim for PostHog ns/name. Appends to out; returns as above. */
int ph_schema_owner_create(const char *database, const char *ns, const char *name,
			   struct buf *out) __attribute__((warn_unused_result));

/* DROP TABLE IF EXISTS of the claim. Appends to out; returns as above. */
int ph_schema_owner_drop(const char *database, struct buf *out)
	__attribute__((warn_unused_result));

/* Judges the rows of ph_schema_owner_query: PH_OWNER_NONE (no claim),
 * PH_OWNER_US (ns/name's), or PH_OWNER_OTHER with the owner, as the server
 * reports it, in other ("'ns'/'name'"). A claim that cannot be read counts
 * as another's. */
int ph_schema_owner_match(const cJSON *rows, const char *ns, const char *name,
			  char *other, size_t othersz) __attribute__((warn_unused_result));

#endif
