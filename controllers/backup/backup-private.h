/*
 * backup internals shared between its files and with the unit tests; not
 * part of the API.
 */
#ifndef PHO_BACKUP_PRIVATE_H
#define PHO_BACKUP_PRIVATE_H

#include "backup.h"

#define BK_MAX_NAME 100
#define BK_MAX_PATH 4096
#define BK_MAX_MANIFEST ((size_t)256 << 20)
#define BK_MAX_TOPICS 16
#define BK_MAX_SHARDS 256

void bk_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ClickHouse's file name of a database or table (escapeForFileName):
 * [A-Za-z0-9_] stay, every other byte becomes %XX. */
int bk_escape_file_name(const char *s, struct buf *out);

/* dir + "/" + name into out[n]. Returns 0 or -ENAMETOOLONG. */
int bk_path_join(char *out, size_t n, const char *dir, const char *name);

/* Removes path and everything under it, not following links. */
void bk_remove_tree(const char *path);

/* [A-Za-z0-9._-]+ of at most max characters, not "." or "..". */
bool bk_valid_name(const char *s, size_t max);

/* A part's file name as ClickHouse writes it: bk_valid_name's characters
 * and %XX escapes (a column "$group_0" has "%24group_0.bin"). Never
 * "/", ".", "..", or a lone '%'. */
bool bk_valid_file_name(const char *s, size_t max);

/* The Kafka engine arguments of a CREATE TABLE: broker list, topics and
 * consumer group, from Kafka('brokers', 'topics', 'group', ...) or from
 * SETTINGS kafka_broker_list / kafka_topic_list / kafka_group_name.
 * Returns 0, or -EINVAL when the DDL names no topic or no group. */
struct bk_kafka_args {
	char brokers[1024];
	char topics[1024];  /* comma-separated */
	char group[256];
};
int bk_parse_kafka_ddl(const char *ddl, struct bk_kafka_args *out);

/* Which restore stage a table's engine belongs to: 0 tables holding data
 * (and every other engine), 1 Kafka, 2 materialized views. */
int bk_engine_stage(const char *engine);
bool bk_is_mergetree(const char *engine);

/* Keys in the store. */
int bk_manifest_key(const struct bk_target *t, const char *name, struct buf *out);
int bk_part_prefix(const struct bk_target *t, const char *table,
		   const char *sum, struct buf *out);

/* Reads the committed offsets of group for every partition of topics into
 * *out: an array of {"topic","partition","offset"} where offset is -1 when
 * the group has committed nothing for that partition. */
int bk_kafka_read_offsets(const char *brokers, const char *group,
			  const char *topics, cJSON **out, char *err,
			  size_t errlen);
/* Commits the offsets of such an array for group; an entry with offset -1
 * gets the partition's low watermark (its first retained message). */
int bk_kafka_commit_offsets(const char *brokers, const char *group,
			    const cJSON *offsets, char *err, size_t errlen);

/*
 * The offsets to set back, once per consumer group, from the manifests of
 * one backup's shards (n of them, borrowed): an array (caller frees) of
 * {"table", "group", "brokers", "offsets": [{"topic","partition","offset"}]}
 * with one entry per group, in the order the groups first appear, where
 * each partition's offset is the smallest any manifest recorded for it (-1,
 * "nothing committed", is the smallest of all) and brokers is the broker
 * list of the first manifest's Kafka table of that group (its DDL). A
 * partition only some manifests name keeps the smallest of those. Returns
 * 0, or -EBADMSG naming the manifest's flaw in err.
 */
int bk_merge_offsets(const cJSON *const *manifests, size_t n, cJSON **out,
		     char *err, size_t errlen);

/* Right after the FREEZE: records in the manifest "distributedQueue",
 * [{"table", "pendingFiles"}], the block files each Distributed table of
 * the database still had to send (queue.c says why), and
 * "insertDistributedSync", the server's setting; logs a warning when any
 * file was pending. Returns 0 (nothing here fails a backup). */
int bk_record_distributed_queue(const struct bk_target *t, const cJSON *tables,
				cJSON *manifest);

/* Commits each group of such a merged array (brokers: t->kafka_bootstrap,
 * else the entry's own), one group after the other. */
int bk_commit_merged(const struct bk_target *t, const cJSON *merged, char *err,
		     size_t errlen);

#endif
