/*
 * backup: ClickHouse backups to an S3-compatible store, restores, retention
 * and Kafka offset replay. The engine behind `posthog-operator
 * backup-agent`, which runs beside one ClickHouse replica of a shard with
 * that replica's data directory mounted.
 *
 * Store layout under the prefix P (one shard's objects never mix with
 * another's):
 *
 *   P/parts/<shard>/<db>/<table>/<sum>/<file>   part files
 *   P/backups/<name>/shard-<shard>.json         the manifest
 *
 * <sum> identifies a part's bytes: the first 32 hex digits of the SHA-256
 * over the part's file names with each file's SHA-256. A part with the same
 * <sum> holds the same bytes (whatever its name: ATTACH renames a restored
 * part), so a later backup reuses it instead of uploading it again. Within
 * a part, checksums.txt is uploaded last; a part whose checksums.txt is
 * stored is complete. The manifest is written last of all: a backup without one is
 * incomplete, is never listed as restorable, and is never restored.
 *
 * Nothing here deletes from ClickHouse except the agent's own FREEZE hard
 * links under shadow/; nothing is deleted from the store except by
 * bk_retain(), which deletes expired manifests first and then only the
 * part files that no remaining manifest of the shard references.
 */
#ifndef PHO_BACKUP_H
#define PHO_BACKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/log/log.h"
#include "pkg/s3/s3.h"

/* What one agent works on. All borrowed. */
struct bk_target {
	struct ch_client *ch;       /* the replica's ClickHouse */
	struct s3_client *s3;       /* the store */
	const char *clickhouse_path; /* its <path>, e.g. "/var/lib/clickhouse" */
	const char *database;       /* "posthog" */
	const char *prefix;         /* P, without a trailing '/'; may be "" */
	const char *shard;          /* "0", "1", ...: [A-Za-z0-9_-]+ */
	/* Brokers for reading and setting consumer-group offsets; NULL: the
	 * broker list of each Kafka table's own DDL. */
	const char *kafka_bootstrap;
	struct log *log;
};

/* What a run did, for the status and for tests. */
struct bk_result {
	uint64_t tables;
	uint64_t parts;           /* parts in the backup */
	uint64_t parts_uploaded;  /* of which uploaded by this run */
	uint64_t files_uploaded;
	uint64_t bytes;           /* size of the backup (all its parts) */
	uint64_t bytes_uploaded;
	uint64_t rows;
	uint64_t deleted_backups; /* bk_retain */
	uint64_t deleted_objects; /* bk_retain */
};

/*
 * Takes backup `name` of the shard: reads every table's DDL, records every
 * Kafka engine table's consumer-group offsets, runs ALTER TABLE ... FREEZE
 * on every MergeTree-family table, uploads the parts the store does not
 * have yet, writes the manifest, and removes its shadow/ directories.
 * name: [A-Za-z0-9._-]+, at most 100 characters. Refuses (-EEXIST) a name
 * whose manifest exists. Returns 0 or a negative errno with the reason
 * (the store's or the server's message) in err.
 */
int bk_backup(const struct bk_target *t, const char *name,
	      struct bk_result *res, char *err, size_t errlen) __attribute__((warn_unused_result));

/* What a restore does (docs/backups.md, "Restore"). */
enum bk_restore_stage {
	/* Everything on one shard: data, then (replay_kafka) the offsets of
	 * this shard's manifest, then the Kafka tables and views. */
	BK_RESTORE_ALL,
	/* The tables that hold data (and every engine but Kafka and
	 * materialized views) with their parts: step 1 of a multi-shard
	 * point-in-time restore. */
	BK_RESTORE_DATA,
	/* The Kafka tables the database lacks, nothing else (no download, no
	 * offsets): step 3, after bk_reset_offsets on every shard. Each
	 * subscribes at once and so joins its group, but nothing consumes
	 * before a view exists. Tables that exist are left alone, so it can
	 * run again. */
	BK_RESTORE_KAFKA,
	/* The materialized views the database lacks: step 4, once every
	 * shard's Kafka tables exist, so that consumption starts with every
	 * member in the groups (a member that joins later makes the group
	 * rebalance while messages are read, and what was read and not yet
	 * committed is read again). Can run again. */
	BK_RESTORE_VIEWS,
};

/* Options of a restore. */
struct bk_restore_opts {
	/* Commit the manifest's consumer-group offsets before the Kafka
	 * tables are created, so that they consume everything after the
	 * backup again (a point-in-time restore); BK_RESTORE_ALL only. */
	bool replay_kafka;
	enum bk_restore_stage stage;
};

/*
 * Restores backup `name` of the shard into the database, which must not
 * hold any of its tables: downloads every part into
 * <clickhouse_path>/backup-agent-restore/ and checks each file's SHA-256
 * against the manifest (a difference fails with -EBADMSG naming the file,
 * before any table is created); then creates the database and the tables,
 * moves each part into its table's detached/, runs ALTER TABLE ... ATTACH
 * PART, and checks every table's row count against the manifest (-EBADMSG
 * naming the table; its parts stay attached); then (replay_kafka) sets the
 * consumer groups back and creates the Kafka tables and the materialized
 * views. o->stage picks one part of this (enum bk_restore_stage). One
 * restore per replica at a time.
 */
int bk_restore(const struct bk_target *t, const char *name,
	       const struct bk_restore_opts *o, struct bk_result *res,
	       char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Step 2 of a multi-shard point-in-time restore: reads the manifests of
 * backup `name` of shards 0 .. nshards-1 (t->shard is not used) and sets
 * every consumer group back once, each partition to the smallest offset any
 * shard recorded (bk_merge_offsets in backup-private.h says why). Needs no
 * ClickHouse; must run while no Kafka table of the groups exists (before
 * BK_RESTORE_KAFKA on any shard), and then can run again. *groups
 * (optional; caller frees) gets what was set: [{"table","group","brokers",
 * "offsets"}]. Returns 0 or a negative errno with the reason in err.
 */
int bk_reset_offsets(const struct bk_target *t, unsigned nshards, const char *name,
		     cJSON **groups, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Deletes the shard's backups whose manifest's finishedAt is older than
 * now - max_age_s, always keeping the newest `keep_min` complete backups,
 * then every part file under P/parts/<shard>/ that no remaining manifest
 * references. Any store error stops it before the next deletion.
 */
int bk_retain(const struct bk_target *t, int64_t now, int64_t max_age_s,
	      unsigned keep_min, struct bk_result *res, char *err,
	      size_t errlen) __attribute__((warn_unused_result));

/*
 * Lists the shard's complete backups into *out: an array of
 * {"name", "startedAt", "finishedAt", "bytes", "parts"} sorted by
 * finishedAt (caller frees).
 */
int bk_list(const struct bk_target *t, cJSON **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Reads and parses the manifest of backup `name` of the shard (caller
 * frees): -ENOENT (with "has no manifest" in err) when the backup is
 * incomplete or absent, -EBADMSG when it is no manifest, or the store's
 * error. The manifest holds "startedAt", "finishedAt", "bytes", "parts",
 * "partsUploaded" (from this version on), "rows" and "tables".
 */
int bk_read_manifest(const struct bk_target *t, const char *name,
		     cJSON **out, char *err, size_t errlen);

/* Parses "30d", "12h", "90m", "45s" into seconds. Returns 0 or -EINVAL. */
int bk_parse_duration(const char *s, int64_t *out) __attribute__((warn_unused_result));

/* A static description of a negative errno returned by this module. */
const char *bk_strerror(int err);

#endif
