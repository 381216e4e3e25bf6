/*
 * chreplica: the ZooKeeper metadata of ClickHouse replicas that were
 * removed (spec.clickhouse.replicasPerShard lowered), dropped so that no
 * stale replica remains in a survivor's system.replicas and replication
 * queues do not keep parts for it.
 *
 * A removed replica is one named as this operator names replicas (the pod
 * name, "<ph>-clickhouse-<shard>-<ordinal>", which the {replica} macro
 * holds) with an ordinal at or above the replicas kept. Its metadata is
 * dropped only once it is inactive (no "is_active" znode, which its
 * server holds while it runs): SYSTEM DROP REPLICA ... FROM TABLE where the
 * server's parser has it (18.16's has not: it answers SYNTAX_ERROR, and
 * the operator then falls back), else by removing
 * <zookeeper_path>/replicas/<name> itself through ZooKeeper, which is what
 * that statement does (docs/scaling.md cites both).
 */
#ifndef PHO_POSTHOG_CHREPLICA_H
#define PHO_POSTHOG_CHREPLICA_H

#include <stdbool.h>
#include <stddef.h>

struct ch_client;

/* True when name is "<prefix><digits>" with digits >= keep (pure). */
bool phc_replica_is_removed(const char *name, const char *prefix, unsigned keep);

struct phc_replica_drop {
	const char *database;   /* the PostHog database */
	const char *prefix;     /* "<ph>-clickhouse-<shard>-" */
	unsigned keep;          /* replicas kept: ordinals 0 .. keep-1 */
	const char *zk_hosts;   /* ZooKeeper, for servers without the statement */
	unsigned dropped;       /* out: replicas dropped (per table) */
	unsigned active;        /* out: removed replicas still active, left */
};

/*
 * On survivor c, drops the metadata of every removed replica of each
 * replicated table of d->database that has more replicas than active ones.
 * Returns 0 or a negative errno with the reason in err.
 */
int phc_replica_drop_removed(struct ch_client *c, struct phc_replica_drop *d, char *err,
			    size_t errlen);

/*
 * Whether replica c has caught up: no replicated table of database is
 * read-only or has entries in its replication queue. *behind gets the
 * number of tables that have not (0 = caught up) and what the first one
 * waits for in what (may be NULL). Returns 0 or a negative errno.
 */
int phc_replica_lag(struct ch_client *c, const char *database, unsigned *behind, char *what,
		   size_t whatlen, char *err, size_t errlen);

#endif
