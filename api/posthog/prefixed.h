/*
 * prefixed: the per-bucket copies of the ClickHouse Kafka tables that
 * PostHog 1.43's plugin-server feeds through prefixed topics. Pure.
 *
 * With KafkaPrefix routing a bucket's plugin-servers run with
 * KAFKA_PREFIX=<spec.kafka.topics.prefix>b<N>_, and a 1.43 plugin-server
 * puts that prefix on every topic it produces to
 * (plugin-server/src/config/kafka-topics.ts at PostHog 1d9c277f8b75):
 * besides the events, persons, person distinct ids, groups, session
 * recordings, performance events, plugin logs, dead letters, ingestion
 * warnings and app metrics. PostHog's own Kafka tables read the unprefixed
 * topics, so each of those pairs (a Kafka table and the materialized view
 * that reads it) gets a per-bucket copy, like kafka_events_json_N and
 * events_json_mv_N: "<kafka table>_N" and "<view>_N", reading
 * "<KAFKA_PREFIX><topic>" with the consumer group
 * "<spec.kafka.topics.prefix><kafka table>_N", writing into the same
 * target. The copies are derived with ph_schema_plan (schema.h), so they
 * follow the base definitions.
 */
#ifndef PHO_POSTHOG_PREFIXED_H
#define PHO_POSTHOG_PREFIXED_H

#include <stddef.h>

#include "posthog.h"
#include "schema.h"

/* A Kafka table of PostHog's, the view that reads it, and its topic
 * without prefix. */
struct ph_prefixed_pair {
	const char *kafka_table;
	const char *mv;
	const char *topic;
};

/* The pairs (events excluded: schema.h's base pair); *n gets the count.
 * Constant. */
const struct ph_prefixed_pair *ph_prefixed_pairs(size_t *n);

/* Names of one bucket's copy of one pair. */
struct ph_prefixed_names {
	char kafka_table[96];
	char mv[96];
	char topic[256];
	char group[256];
};

/*
 * Fills *out and *b (pointing into *out) for pair p of the bucket named
 * by nm (ph_bucket_names of a KafkaPrefix PostHog). index is the bucket
 * number, used when nm is NULL (a bucket beyond the count, to be
 * dropped: only the table names are set). Returns 0, or -EINVAL when nm
 * has no KAFKA_PREFIX (Env routing) or a name does not fit.
 */
int ph_prefixed_bucket(const struct ph_prefixed_pair *p, const struct ph_bucket_names *nm,
		       unsigned index, const char *database, const char *brokers,
		       struct ph_prefixed_names *out, struct ph_schema_bucket *b)
	__attribute__((warn_unused_result));

#endif
