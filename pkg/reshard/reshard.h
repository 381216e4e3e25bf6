/*
 * reshard: moves the rows of every sharded ClickHouse table to the shard
 * that a new shard count gives their sharding key, partition by
 * partition, so that a kill at any point followed by a rerun neither
 * loses nor doubles a row (docs/resharding.md).
 *
 * A sharded table is a MergeTree-family table (plain or Replicated) that a
 * Distributed table of the cluster reads, with a sharding key:
 * Distributed(cluster, database, table, key), as PostHog's writable_events
 * and events over sharded_events with sipHash64(distinct_id). With N
 * shards of weight 1, ClickHouse sends a row to the shard at index
 * (key % N) of remote_servers; ClickHouse itself evaluates that
 * expression here too, nothing hashes in C.
 *
 * A move unit is (table, partition, source shard, target shard, modulus).
 * Its states, kept in a progress document outside the process:
 *
 *   pending -> copying -> copied -> verified -> attaching -> attached
 *           -> deleting -> done
 *
 *   copying   INSERT INTO <staging on target> SELECT * FROM remote(source)
 *             WHERE _partition_id = P AND (key) % M = target
 *   copied    the INSERT returned
 *   verified  count() and sum(cityHash64(sorting key)) equal on both sides
 *   attaching ALTER TABLE t ATTACH PARTITION ID P FROM <staging>
 *   attached  the ATTACH returned
 *   deleting  ALTER TABLE t DELETE WHERE ... on the source (a mutation)
 *   done      the source holds none of the unit's rows
 *
 * On a rerun, a unit in copying/copied is copied again (the staging table
 * is dropped first); one in verified is attached from the staging table it
 * verified, which nothing writes after its verify; one in attaching is
 * checked (are the staging rows in the target table?) before attaching
 * again; one in attached/deleting goes on deleting. So a row is never deleted before its
 * copy is attached, and never attached twice.
 *
 * The pure part (this header's rs_* functions without a ch_client) is in
 * plan.c; rs_run does the I/O (run.c).
 */
#ifndef PHO_RESHARD_H
#define PHO_RESHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"
#include "pkg/log/log.h"

struct ch_client;

#define RS_MAX_SHARDS 64
#define RS_MAX_NAME 255

enum rs_state {
	RS_PENDING,
	RS_COPYING,
	RS_COPIED,
	RS_VERIFIED,
	RS_ATTACHING,
	RS_ATTACHED,
	RS_DELETING,
	RS_DONE,
};

/* "pending", "copying", ... ; NULL for a bad value. */
const char *rs_state_name(enum rs_state s);
/* Returns 0 with *out set, or -EINVAL. */
int rs_state_parse(const char *name, enum rs_state *out);

/* The arguments of a Distributed engine, copied out of engine_full. */
struct rs_distributed {
	char cluster[RS_MAX_NAME + 1];
	char database[RS_MAX_NAME + 1];
	char table[RS_MAX_NAME + 1];
	char key[1024]; /* "" when the table has no sharding key */
};

/*
 * Parses system.tables.engine_full of a Distributed table, e.g.
 * "Distributed(posthog, posthog, sharded_events, sipHash64(distinct_id))".
 * The first three arguments are identifiers or quoted strings; the fourth,
 * if any, an expression kept as written. Returns 0, or -EINVAL with the
 * reason in err.
 */
int rs_parse_distributed(const char *engine_full, struct rs_distributed *out,
			 char *err, size_t errlen);

/*
 * The engine clause of a staging table for a table whose engine_full is
 * given: a Replicated* engine loses "Replicated" and its first two
 * arguments (ZooKeeper path, replica name), so that the staging table is
 * local; everything after the engine's arguments (PARTITION BY, ORDER BY,
 * SETTINGS ...) stays, since ATTACH PARTITION ... FROM wants the same
 * partition and sorting keys. Appends to out. Returns 0, -EINVAL (err
 * says why) or -EMSGSIZE.
 */
int rs_staging_engine(const char *engine_full, struct buf *out, char *err,
		      size_t errlen);

/* One sharded table. */
struct rs_table {
	char name[RS_MAX_NAME + 1];      /* the local table */
	char key[1024];                  /* the Distributed table's sharding key */
	char sorting_key[2048];          /* system.tables.sorting_key */
	char partition_key[1024];        /* system.tables.partition_key; may be "" */
	char *staging_engine;            /* owned; rs_staging_engine's text */
};

/*
 * The sharded tables of database among rows of system.tables (objects
 * with name, engine, engine_full, sorting_key, partition_key): each MergeTree-family
 * table that a Distributed table of cluster with a sharding key reads.
 * Two Distributed tables over one table must agree on the key. Distributed
 * tables without a key, or of another cluster or database, are skipped.
 * *out is an array the caller frees with rs_tables_free. Returns 0, or
 * -EINVAL with the table and the reason in err.
 */
int rs_tables_find(const cJSON *rows, const char *database,
		   const char *cluster, struct rs_table **out, size_t *n,
		   char *err, size_t errlen);
void rs_tables_free(struct rs_table *t, size_t n);

/* A unit's identity: "<table>/<partition id>/<source>-><target>". */
int rs_unit_id(const char *table, const char *partition_id, int source,
	       int target, struct buf *out);

/*
 * The SQL of each step, appended to out (all return 0, -EINVAL or
 * -EMSGSIZE). Names are quoted as identifiers, the partition id as a
 * string. where_of: the rows of a unit,
 *   (<partition key>) = <partition> AND _partition_id = '<pid>'
 *   AND ((<key>) % <modulus>) = <target>
 * The partition key's condition (as in rs_sql_delete_where) is what
 * lets ClickHouse skip the other partitions: 18.16 reads every part for
 * a condition on the virtual column _partition_id alone.
 */
int rs_sql_where(const struct rs_table *t, const char *partition,
		 const char *partition_id, int modulus, int target,
		 struct buf *out);
/*
 * The same rows for ALTER ... DELETE, where ClickHouse 18.16 refuses the
 * virtual column _partition_id ("Unknown identifier: _partition_id" from
 * the mutation): the partition key compared with system.parts.partition,
 * the partition's value as a literal ("202608", "'x'", "(202608, 1)"):
 *   (<partition key>) = <partition> AND ((<key>) % <modulus>) = <target>
 * A key of several expressions is compared as a tuple(); a table without
 * a partition key ("tuple()") needs no partition condition.
 */
int rs_sql_delete_where(const struct rs_table *t, const char *partition,
			int modulus, int target, struct buf *out);
/*
 * The hash of a row's columns (or of its sorting key), a format with one
 * %s for the column list: text first, since 18.16's cityHash64 refuses
 * some types (UUID) as arguments. Every checksum that is compared with
 * another uses it, so that the two sides agree.
 */
#define RS_ROW_HASH "cityHash64(toString(tuple(%s)))"

/* sum of RS_ROW_HASH over the sorting key as text, with count(). */
int rs_sql_checksum(const struct rs_table *t, const char *from,
		    const char *where, struct buf *out);

/*
 * The stored columns of a table as one list for tuple(), from rows of
 * system.columns (objects with name and default_kind): each name quoted
 * as an identifier, MATERIALIZED and ALIAS columns left out (INSERT ...
 * SELECT * copies neither). Returns 0, -EINVAL when no row names a
 * stored column, or -EMSGSIZE.
 */
int rs_sql_columns(const cJSON *rows, struct buf *out);
/*
 * After a kill in attaching, whether the ATTACH happened: the number of
 * distinct whole rows (cols, rs_sql_columns' list) of the staging table
 * that partition_id of table holds fewer times than staging does:
 *   SELECT count() AS short FROM (<staging: row hash, count c>)
 *   ANY LEFT JOIN (<table's partition: row hash, count have, for the
 *   hashes staging has>) USING h WHERE have < c
 * 0 means every staged row is in the table as often as in staging. Whole
 * rows, not the sorting key: where the key is not unique per row, live
 * writes with the staged keys must not pass for the attach.
 */
int rs_sql_attach_missing(const char *cols, const char *table,
			  const char *partition_id, const char *staging,
			  struct buf *out);

/*
 * The progress document (a JSON object, kept by the caller's store):
 *   {"modulus": M, "units": [{"id", "table", "partition", "partitionId",
 *    "source", "target", "modulus", "state", "rows", "checksum"}],
 *    "moved": N, "phase": "Running"|"Done"|"Failed", "message": "..."}
 * rows and moved are numbers; checksum a decimal string (a UInt64).
 */
struct rs_store {
	/* Reads the document: *doc NULL when there is none yet. */
	int (*load)(void *userdata, cJSON **doc, char *err, size_t errlen);
	/* Replaces the document; returns only once it is durable. */
	int (*save)(void *userdata, const cJSON *doc, char *err, size_t errlen);
	void *userdata;
};

/* A store in a file, replaced atomically (write, fsync, rename). path is
 * borrowed and must outlive the store. */
void rs_file_store(const char *path, struct rs_store *out);

/*
 * A store in ClickHouse: the table <database>_reshard.progress on the
 * server of ch (the first shard, which a plan never removes), created on
 * the first save; each save inserts the document with the next sequence
 * number. This is the store of the operator's reshard Job: the reconciler
 * reads the same row (rs_progress_read) to follow the plan. s is the
 * caller's; ch and s must outlive the store.
 */
struct rs_ch_store {
	struct ch_client *ch;
	char database[RS_MAX_NAME + 1];
	unsigned long long seq; /* of the last document loaded or saved */
	bool created;
};
void rs_clickhouse_store(struct rs_ch_store *s, struct ch_client *ch,
			 const char *database, struct rs_store *out);

/*
 * The newest progress document in <database>_reshard.progress on ch:
 * *doc NULL (and *seq 0) when there is none, the table or its database
 * included. seq may be NULL. Returns 0, or a negative errno (ch_query's,
 * or -EBADMSG) with err saying why. Caller frees *doc.
 */
int rs_progress_read(struct ch_client *ch, const char *database, cJSON **doc,
		     unsigned long long *seq, char *err, size_t errlen);

struct rs_shard {
	const char *url;  /* HTTP interface, e.g. http://127.0.0.1:8123 */
	const char *addr; /* native host:port as remote() of the target sees it */
};

struct rs_options {
	const struct rs_shard *shards; /* every shard that may hold rows, in
					* remote_servers order */
	size_t nshards;
	int modulus;        /* the new shard count (1..nshards) */
	const char *database;
	const char *cluster;
	const char *user;
	const char *password;
	unsigned long long max_rows_per_second;  /* 0: no limit */
	unsigned long long max_bytes_per_second; /* 0: no limit */
	unsigned timeout_ms;                     /* per query; default 1 h */
	bool skip_cluster_check; /* do not require remote_servers to list
				  * modulus shards already */
	bool one_lane; /* move one unit at a time; by default the units
			* of each (source, target) pair move on a thread
			* of their own, as many at once as there are shards */
	struct rs_store store;
	struct log *log; /* borrowed */
};

/*
 * Runs the plan to the end: settles the units that a previous run left,
 * then scans, moves and rescans until no row is on a wrong shard (at most
 * a few rounds). Returns 0; -EAGAIN when a shard is unreachable or its
 * remote_servers do not list modulus shards yet; -EIO with the server's
 * message; -EPROTO when a verification keeps failing or the source changed
 * under a unit. err says which shard, table and partition. The document
 * says how far it came either way.
 *
 * Test hook: when the environment variable POSTHOG_RESHARD_CRASH_AT names
 * a point ("verified": after a unit is verified, before its attach;
 * "attaching": after attaching is recorded, before the ATTACH is sent;
 * "attached": after the ATTACH returned, before that is recorded), the
 * process kills itself with SIGKILL there, once per process.
 */
int rs_run(const struct rs_options *opts, char *err, size_t errlen);

/* A static description of a negative errno returned by this module. */
const char *rs_strerror(int err);

#endif
