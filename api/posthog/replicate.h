/*
 * replicate: every table of the PostHog database onto a replica or shard
 * that lacks it, copied from a healthy replica.
 *
 * A ClickHouse replica or shard that is added starts with an empty
 * server. PostHog's migrations ran before it existed, so it lacks
 * sharded_events, the Distributed tables, the Kafka tables and the views;
 * Distributed reads and writes that reach it fail. The operator copies
 * each table that a healthy replica has and the new one lacks, from the
 * definition the healthy replica reports in system.tables
 * (create_table_query), in dependency order:
 *
 *   0  storage tables: MergeTree and Replicated* families, Memory, Log, ...
 *   1  Distributed (reads the storage tables of the cluster)
 *   2  Merge, Buffer, Dictionary (read other tables of the server)
 *   3  Kafka
 *   4  MaterializedView (reads a Kafka or storage table, writes TO a table)
 *   5  View, LiveView, WindowView (analysed against their sources at CREATE)
 *
 * Replicated tables keep their {shard} and {replica} macros, so a copy on
 * a new shard gets its own ZooKeeper path and a copy on a new replica of a
 * shard joins its shard and fetches its parts.
 *
 * Left out: tables the new replica already has (never altered or dropped
 * here), a materialized view's inner table (".inner.<view>", or
 * ".inner_id.<uuid>" in an Atomic database, which the view creates),
 * temporary tables, and the per-bucket tables ("<base>_<digits>" for each
 * base the caller names), which the per-bucket plan in schema.h owns.
 *
 * ph_replicate_plan is pure (text in, text out); ph_replicate_read and
 * ph_replicate_copy do the I/O through pkg/clickhouse (replicate_io.c).
 */
#ifndef PHO_POSTHOG_REPLICATE_H
#define PHO_POSTHOG_REPLICATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"
#include "schema.h"


/* The longest table name accepted from a server (ClickHouse's own limit
 * is the file system's, 255 bytes). */
#define PH_REPLICATE_MAX_NAME 255

/* One table as system.tables reports it. All borrowed. */
struct ph_table_def {
	const char *name;   /* system.tables.name */
	const char *engine; /* system.tables.engine, e.g. "ReplicatedMergeTree" */
	const char *ddl;    /* system.tables.create_table_query */
};

/* The dependency rank of an engine (0..5, as above). Unknown engines are
 * storage (0). */
int ph_replicate_rank(const char *engine) __attribute__((warn_unused_result));

/*
 * The query that lists the tables of database: "SELECT name, engine,
 * create_table_query FROM system.tables WHERE database = '<database>' AND
 * is_temporary = 0 ORDER BY name". Appends to out. Returns 0, -EINVAL or
 * -EMSGSIZE.
 */
int ph_replicate_query(const char *database, struct buf *out)
	__attribute__((warn_unused_result));

/*
 * What to run on a replica that has the tables named in have[0..nhave) so
 * that it has every table of src[0..nsrc) too: CREATE DATABASE IF NOT
 * EXISTS, then one CREATE ... IF NOT EXISTS per missing table, by rank,
 * then by name. Nothing when nothing is missing. owned[0..nowned) are the
 * base names whose "<base>_<digits>" copies are left out.
 *
 * Every definition is checked before anything is planned: it must be one
 * CREATE (or ATTACH) TABLE, VIEW or MATERIALIZED VIEW statement of
 * exactly <database>.<name> (name as the row says), with no second
 * statement and no masked secret ('[HIDDEN]'); a name must be 1 to
 * PH_REPLICATE_MAX_NAME bytes without control characters. The head of
 * each statement is rewritten with the names quoted as identifiers; ON
 * CLUSTER is dropped (the operator runs it on each replica itself); the
 * rest is the server's own text. Returns 0, or -EINVAL (-EPERM for a
 * masked secret) with the table and the reason in err and nothing
 * appended, or -EMSGSIZE.
 */
int ph_replicate_plan(const char *database, const struct ph_table_def *src,
		      size_t nsrc, const char *const *have, size_t nhave,
		      const char *const *owned, size_t nowned,
		      struct ph_schema_stmts *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The I/O that reads a replica and runs the plan is the controller's:
 * controllers/posthog/replicate_io.h. */

#endif
