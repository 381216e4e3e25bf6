/*
 * Router internals, shared between its files and its unit tests: the
 * token scanner, the bucket map, the token table and the offset tracker.
 */
#ifndef PHO_ROUTER_PRIVATE_H
#define PHO_ROUTER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/kafka/kafka.h"
#include "pkg/pg/pg.h"
#include "router.h"

#define RT_MAX_BUCKETS 64

/* PostHog's api_token column is varchar(200); room for that and more. */
#define RT_MAX_TOKEN 256

/*
 * Validates json (RFC 8259; containers nested at most 512 deep) and copies
 * the top-level "token" member, a string, decoded, into tok. Returns 0
 * (*toklen set), -EINVAL (not valid JSON, or not an object), -ENOENT (no
 * top-level string "token", or an empty one), -E2BIG (token longer than
 * toksz - 1).
 */
int rt_json_token(const void *json, size_t len, char *tok, size_t toksz,
		  size_t *toklen);

/* The bucket map document (docs/buckets.md), parsed. */
struct rt_map_pin {
	int64_t team;
	unsigned bucket;
};

struct rt_map {
	unsigned count;
	size_t npins;
	struct rt_map_pin *pins; /* sorted by team */
	char (*topics)[KAFKA_MAX_TOPIC + 1]; /* count of them */
	char (*groups)[KAFKA_MAX_TOPIC + 1]; /* the ingestion consumer groups */
};

/* Largest bucket map file read. */
#define RT_MAP_MAX_BYTES (1u << 20)

/*
 * Parses a bucket map. Refuses (with a message naming the field in err) a
 * version other than 1, an algorithm or parameters other than JumpHash
 * over splitmix64 with the documented constants, a count outside
 * 1..RT_MAX_BUCKETS, a pin outside the count, a missing or invalid topic.
 * Returns 0 or -EINVAL.
 */
int rt_map_parse(const char *text, size_t len, struct rt_map **out,
		 char *err, size_t errlen);
void rt_map_free(struct rt_map *m);
unsigned rt_map_bucket(const struct rt_map *m, int64_t team);
/* Whether two maps put every team in the same topic. */
bool rt_map_same_routing(const struct rt_map *a, const struct rt_map *b);

/* token -> team id, open addressing; keys are copied. */
struct rt_tokens;

struct rt_tokens *rt_tokens_new(void);
void rt_tokens_free(struct rt_tokens *t);
/* Adds or replaces; tokens longer than RT_MAX_TOKEN - 1 are refused
 * (-E2BIG). */
int rt_tokens_put(struct rt_tokens *t, const char *tok, size_t len,
		  int64_t team);
/* 0 with *team set, or -ENOENT. */
int rt_tokens_get(const struct rt_tokens *t, const char *tok, size_t len,
		  int64_t *team);
size_t rt_tokens_count(const struct rt_tokens *t);

/*
 * Loads every (api_token, id) of posthog_team into a new table. Returns 0
 * or pg_query()'s error.
 */
int rt_tokens_load(struct pg *pg, struct rt_tokens **out);
/* Looks one token up. 0 with *team, -ENOENT, or pg_query()'s error. */
int rt_tokens_lookup(struct pg *pg, const char *tok, int64_t *team);

/*
 * Per source partition, the offsets consumed and not yet committable, in
 * consumption order. A message is pushed when consumed and marked done
 * when everything it owes is acknowledged; the committable offset is one
 * past the last of an unbroken run of done messages from the oldest.
 */
struct rt_track;

#define RT_MAX_PARTITIONS 65536

struct rt_track *rt_track_new(void);
void rt_track_free(struct rt_track *t);
/* Returns the message's sequence number within its partition. */
uint64_t rt_track_push(struct rt_track *t, int32_t partition, int64_t offset);
/* A sequence number from before the last reset is ignored. */
void rt_track_done(struct rt_track *t, int32_t partition, uint64_t seq);
/* Drops done messages from the front; returns 1 and the next offset to
 * commit when any were dropped, else 0. */
int rt_track_advance(struct rt_track *t, int32_t partition, int64_t *next);
/* Forgets a partition's messages (on revoke/assign). */
void rt_track_reset(struct rt_track *t, int32_t partition);
/* Messages pushed and not yet dropped, over all partitions. */
size_t rt_track_pending(const struct rt_track *t);

/* Why a message went to the fallback bucket. */
enum rt_reason {
	RT_OK = 0,
	RT_UNKNOWN_TOKEN,
	RT_NO_TOKEN,
	RT_INVALID_JSON,
	RT_TOO_LARGE,
	RT_NREASONS,
};

/* A message held back while its team moves buckets. */
struct rt_held {
	struct kafka_msg m;
	int64_t team;
	uint64_t seq;
};

/* A map change whose moved teams wait for their old bucket's consumers. */
struct rt_transition {
	struct rt_map *from; /* owned */
	int64_t started_ms;
	bool same_topics;    /* bucket i is the same topic in both maps */
	struct rt_from_bucket {
		bool released;
		bool marked;
		size_t nmarks;
		int64_t *marks; /* high watermarks of the old topic */
	} *b;
};

#define RT_MAX_TRANSITIONS 8
#define RT_MAX_PRODUCERS 16
/* The producers' local queues share this bound (the default is 2 MiB in
 * all), each at least RT_MIN_QUEUE_KBYTES. */
#define RT_QUEUE_KBYTES 2048
#define RT_MIN_QUEUE_KBYTES 256

struct router {
	struct router_options o;
	char *strs[6]; /* owned copies behind o's strings */
	struct metrics *metrics;
	struct log *log;
	volatile int stop;
	volatile int ready;
	volatile int64_t loop_ms;

	struct kafka_consumer *consumer;
	/* Bucket b's topic is produced by producers[b % nproducers] (one
	 * connection each, so each its own five requests in flight). */
	struct kafka_producer *producers[RT_MAX_PRODUCERS];
	unsigned nproducers;
	int fatal;

	struct rt_map *map;
	struct rt_track *track;
	bool *assigned; /* by partition, RT_MAX_PARTITIONS */
	int32_t *parts;	/* the assigned ones */
	size_t nparts;
	bool paused;

	/* tokens: the table the loop owns, the negative cache, and the
	 * refresher thread's hand-over slot */
	struct rt_tokens *tokens, *unknown;
	struct pg *lookup_pg;
	double lookup_budget;
	int64_t lookup_refill_ms;

	struct rt_transition *trans[RT_MAX_TRANSITIONS];
	size_t ntrans;
	struct rt_held *held;
	size_t nheld, held_cap, held_bytes;
	int64_t next_hold_check_ms;

	/* counters flushed to metrics once a second */
	uint64_t routed[RT_MAX_BUCKETS];
	uint64_t fallback[RT_NREASONS];
	uint64_t lookups[4]; /* found, not_found, error, rate_limited */
	uint64_t produce_errors, hold_timeouts, moves, unknown_tokens;
	uint64_t wakeups_seen; /* kafka_consumer_wakeups() at the last flush */
	uint64_t map_reloads_ok, map_reloads_bad;
	uint64_t delivered;
	double last_delivery; /* Unix time of the last acknowledged delivery */

	struct rt_refresher *refresher;
};

int64_t rt_now_ms(void);
/* Waits up to timeout_ms for every producer's acknowledgements; 0 when
 * none is outstanding, else -ETIMEDOUT. */
int rt_flush(struct router *r, int timeout_ms);
/* Messages not yet acknowledged, over every producer. */
int rt_outstanding(struct router *r);
/* Produces m to bucket (retrying while the local queue is full); the
 * message is then released. */
void rt_send(struct router *r, struct kafka_msg *m, unsigned bucket,
	     uint64_t seq);
/* Whether team's messages wait for a transition. */
bool rt_is_held(struct router *r, int64_t team);
/* Holds m (taking it) behind its team's earlier held messages. */
void rt_hold(struct router *r, struct kafka_msg *m, int64_t team,
	     uint64_t seq);
/* Starts a transition from the current map to next (taking next). */
void rt_begin_transition(struct router *r, struct rt_map *next);
/* Checks the old buckets' consumers; releases what may go. */
void rt_check_holds(struct router *r);
/* Sends every held message that no longer waits, in order. */
void rt_release_held(struct router *r);
/* Drops held messages of a revoked partition (they will be consumed
 * again by the partition's next owner). */
void rt_drop_held(struct router *r, int32_t partition);
void rt_free_transitions(struct router *r);

#endif
