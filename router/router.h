/*
 * router: moves capture's events from the one topic PostHog writes
 * (events_plugin_ingestion) to the topic of each team's ingestion bucket,
 * keeping key, headers and timestamp. `posthog-operator route` runs it;
 * docs/router.md describes its behaviour and docs/buckets.md its delivery
 * and ordering guarantees.
 *
 * A router is driven by one thread (router_run); router_stop, router_ready
 * and router_alive may be called from any thread.
 */
#ifndef PHO_ROUTER_H
#define PHO_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "pkg/log/log.h"
#include "pkg/metrics/metrics.h"

struct router;

struct router_options {
	const char *bootstrap;		/* Kafka brokers, "host:port,..." */
	const char *const *kafka_conf;	/* extra librdkafka "name=value"; may be NULL */
	const char *source_topic;	/* default "events_plugin_ingestion" */
	const char *group;		/* default "posthog-router" */
	const char *map_path;		/* the mounted bucket map (buckets.json) */
	const char *database_url;	/* PostHog's Postgres (libpq string or URI) */
	unsigned fallback_bucket;	/* default 0 */
	unsigned token_refresh_ms;	/* full token reload period; default 60 000 */
	unsigned lookups_per_sec;	/* unknown-token lookups; default 10 */
	size_t max_message_bytes;	/* larger messages are not parsed; default 1 MiB */
	unsigned map_check_ms;		/* bucket map file check; default 1000 */
	unsigned hold_check_ms;		/* moved-team release check; default 1000 */
	unsigned hold_max_ms;		/* longest hold; default 600 000 */
	size_t hold_max_bytes;		/* held bytes before pausing; default 16 MiB */
	unsigned producers;		/* idempotent producers, bucket b on b % producers;
					 * default 4, at most 16 */
};

/*
 * Creates a router (no I/O yet). Strings are copied. Returns 0 or -EINVAL
 * with a message naming the option in err.
 */
int router_new(const struct router_options *o, struct metrics *m,
	       struct log *log, struct router **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void router_free(struct router *r);

/*
 * Runs until router_stop(): waits for a valid bucket map and the first
 * token load, then consumes, routes and produces. On stop it finishes the
 * messages in flight and commits their offsets. Returns 0 after a stop, or
 * a negative errno after a fatal Kafka error (logged).
 */
int router_run(struct router *r) __attribute__((warn_unused_result));

/* Asks router_run to return. Async-signal-safe. */
void router_stop(struct router *r);

/* Whether the router is routing (map and tokens loaded, Kafka clients up). */
bool router_ready(struct router *r);
/* Whether the routing loop turned within the last 30 s. */
bool router_alive(struct router *r);

#endif
