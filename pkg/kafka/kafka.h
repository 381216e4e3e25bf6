/*
 * kafka: a small wrapper over librdkafka (Debian's librdkafka-dev) for the
 * bucket router: one consumer-group consumer, one idempotent producer, and
 * the few metadata calls the router needs. docs/router.md says why the
 * router uses librdkafka instead of its own Kafka client.
 *
 * Handles are opaque; functions return 0 or a negative errno (librdkafka's
 * error codes are mapped in one place, errors.c) and log the librdkafka
 * message once, where it is found. A consumer and a producer are each used
 * from one thread (their callbacks run on that thread, from inside
 * kafka_consumer_poll() / kafka_producer_poll()); the read-only queries
 * (watermarks, lag) are thread-safe, as librdkafka's are.
 */
#ifndef PHO_KAFKA_H
#define PHO_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/log/log.h"

struct kafka_consumer;
struct kafka_producer;

/* Longest topic name Kafka accepts. */
#define KAFKA_MAX_TOPIC 249

/* librdkafka configuration as "name=value" strings, NULL-terminated;
 * borrowed. Applied after the wrapper's defaults, so they win. */
typedef const char *const *kafka_conf;

/*
 * One consumed message: borrowed views into librdkafka's buffers, valid
 * until kafka_msg_release(). Caller-allocated; poll fills it.
 */
struct kafka_msg {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key; /* NULL when the message has no key */
	size_t key_len;
	const void *value; /* NULL for a tombstone */
	size_t len;
	int64_t timestamp_ms; /* -1 when the message has none */
	void *priv; /* the librdkafka message */
};

/* Gives the message's buffers back to librdkafka. Accepts an empty
 * (never filled or already released) message. */
void kafka_msg_release(struct kafka_msg *m);

/* Number of headers, and header i (name borrowed, value borrowed, may be
 * NULL). Returns 0 or -ENOENT past the last one. */
size_t kafka_msg_header_count(const struct kafka_msg *m);
int kafka_msg_header(const struct kafka_msg *m, size_t i, const char **name,
		     const void **value, size_t *len) __attribute__((warn_unused_result));

/*
 * Partition assignment changes, delivered on the consumer's thread from
 * inside kafka_consumer_poll(). On revoke the callback must finish what it
 * owes for those partitions (produce, wait for acknowledgements, store
 * offsets); the wrapper commits the stored offsets after it returns and
 * before the partitions go to another member.
 */
typedef void (*kafka_rebalance_fn)(void *userdata, bool assigned,
				   const int32_t *partitions, size_t n);

struct kafka_consumer_options {
	const char *bootstrap;	/* "host:port,..."; borrowed */
	const char *group;	/* consumer group id */
	const char *topic;	/* the one topic subscribed */
	kafka_conf conf;	/* may be NULL */
	kafka_rebalance_fn on_rebalance; /* may be NULL */
	void *userdata;
	struct log *log;	/* borrowed; may be NULL */
};

/*
 * Creates a consumer and subscribes it. Offsets are committed only as
 * stored with kafka_consumer_store() (enable.auto.offset.store=false), so a
 * message is never committed before the caller says it is done with it. A
 * group with no committed offset starts at the earliest message. Returns 0,
 * -EINVAL for a bad option or configuration value (logged), -ENOMEM.
 */
int kafka_consumer_new(const struct kafka_consumer_options *o,
		       struct kafka_consumer **out) __attribute__((warn_unused_result));

/* Commits the stored offsets (synchronously), leaves the group and frees.
 * Accepts NULL. */
void kafka_consumer_close(struct kafka_consumer *c);

/*
 * Waits up to timeout_ms for a message. Returns 0 with *m filled, -EAGAIN
 * when none arrived (rebalance callbacks may have run), or another negative
 * errno for an error that the caller should treat as fatal (logged; the
 * transient ones librdkafka retries by itself are logged and reported as
 * -EAGAIN).
 */
int kafka_consumer_poll(struct kafka_consumer *c, int timeout_ms,
			struct kafka_msg *m) __attribute__((warn_unused_result));

/* Marks every message of partition before next_offset as done: the next
 * commit (every auto.commit.interval.ms, on revoke, on close) commits it. */
int kafka_consumer_store(struct kafka_consumer *c, int32_t partition,
			 int64_t next_offset) __attribute__((warn_unused_result));

/* Commits the stored offsets now, synchronously. -ENOENT when nothing was
 * stored since the last commit (not an error for callers). */
int kafka_consumer_commit(struct kafka_consumer *c) __attribute__((warn_unused_result));

/* Pauses or resumes fetching from every assigned partition. */
int kafka_consumer_pause(struct kafka_consumer *c, bool pause)
	__attribute__((warn_unused_result));

/* How many times kafka_consumer_poll() woke a fetcher that librdkafka
 * had parked (kafka.c, wake_fetcher). */
uint64_t kafka_consumer_wakeups(const struct kafka_consumer *c);

/* The consumer's lag on one assigned partition: the high watermark (as last
 * seen by fetches, no broker round trip) minus the position. */
int kafka_consumer_lag(struct kafka_consumer *c, int32_t partition,
		       int64_t *lag) __attribute__((warn_unused_result));

/*
 * The offsets committed by another consumer group on every partition of
 * topic, via a group-less query (OffsetFetch). offsets[i] is partition i's
 * committed offset, or -1 when the group has none. *n in: room in offsets,
 * out: the topic's partition count. Returns 0, -ENOENT (unknown topic),
 * -ENOSPC (more partitions than room), -ETIMEDOUT.
 */
int kafka_group_committed(const char *bootstrap, kafka_conf conf,
			  const char *group, const char *topic,
			  int64_t *offsets, size_t *n, int timeout_ms,
			  struct log *log) __attribute__((warn_unused_result));

/*
 * Called for each produced message once the broker acknowledged it (err 0,
 * offset set) or librdkafka gave up (err a negative errno, offset -1). Runs
 * on the producer's thread from inside kafka_producer_poll/flush.
 * latency_us is the time from kafka_produce() to the acknowledgement.
 */
typedef void (*kafka_delivery_fn)(void *userdata, void *msg_opaque, int err,
				  const char *topic, int32_t partition,
				  int64_t offset, int64_t latency_us);

struct kafka_producer_options {
	const char *bootstrap;
	kafka_conf conf;	/* may be NULL */
	kafka_delivery_fn on_delivery;
	void *userdata;
	struct log *log;
	unsigned queue_kbytes;	/* local queue bound; 0: the default, 2048 (conf may override) */
};

/*
 * Creates an idempotent producer (enable.idempotence=true, hence acks=all
 * and at most 5 requests in flight per partition, which keeps order) that
 * retries a message until it is acknowledged (message.timeout.ms=0).
 * Returns 0, -EINVAL (logged), -ENOMEM.
 */
int kafka_producer_new(const struct kafka_producer_options *o,
		       struct kafka_producer **out) __attribute__((warn_unused_result));

/* Waits for every queued message (up to timeout_ms) and frees. Accepts
 * NULL. Messages still queued then are reported failed (-ECANCELED). */
void kafka_producer_close(struct kafka_producer *p, int timeout_ms);

/*
 * Queues one message to topic (partition chosen from the key by the
 * default partitioner), copying key, value and src's headers (src may be
 * NULL). timestamp_ms -1 lets the broker set it. Returns 0, -ENOBUFS when
 * the local queue is full (serve deliveries with kafka_producer_poll and
 * retry), -EMSGSIZE, or another negative errno (logged).
 */
int kafka_produce(struct kafka_producer *p, const char *topic,
		  const void *key, size_t key_len, const void *value,
		  size_t len, const struct kafka_msg *src,
		  int64_t timestamp_ms, void *msg_opaque) __attribute__((warn_unused_result));

/* Serves delivery callbacks, waiting up to timeout_ms for one. Returns the
 * number served, or -EIO after a fatal producer error (logged). */
int kafka_producer_poll(struct kafka_producer *p, int timeout_ms)
	__attribute__((warn_unused_result));

/* Waits until every queued message is delivered or failed. Returns 0 or
 * -ETIMEDOUT. */
int kafka_producer_flush(struct kafka_producer *p, int timeout_ms)
	__attribute__((warn_unused_result));

/* Messages queued and not yet delivered. */
int kafka_producer_outstanding(struct kafka_producer *p)
	__attribute__((warn_unused_result));

/*
 * The high watermarks (next offset to be written) of every partition of
 * topic, asked of the brokers; same *n convention as
 * kafka_group_committed(). Returns 0, -ENOENT, -ENOSPC, -ETIMEDOUT.
 */
int kafka_producer_watermarks(struct kafka_producer *p, const char *topic,
			      int64_t *high, size_t *n, int timeout_ms) __attribute__((warn_unused_result));

/* ---- lag.c: a consumer group's lag, for autoscaling ---------------------- */

struct kafka_lag {
	int64_t total;     /* messages the group has yet to read, summed */
	int64_t end;       /* sum of the high watermarks */
	size_t partitions; /* the topic's partition count */
	size_t uncommitted; /* partitions without a committed offset */
};

struct kafka_lag_options {
	const char *bootstrap; /* "host:port,..."; borrowed */
	kafka_conf conf;       /* may be NULL */
	/* "HOST:PORT:CONNECT-HOST:CONNECT-PORT" rules (curl's --connect-to;
	 * an empty HOST or PORT matches any), NULL-terminated; may be NULL */
	const char *const *connect_to;
	int timeout_ms;        /* per request; <= 0: 5000 */
	struct log *log;       /* borrowed; may be NULL */
};

/*
 * The lag of consumer group on topic, without joining the group: per
 * partition the high watermark minus the committed offset (minus the low
 * watermark when the group has committed nothing there, or committed less
 * than it). Returns 0, -EINVAL (bad option, logged), -ENOENT (unknown
 * topic), -ETIMEDOUT or another negative errno (logged).
 */
int kafka_group_lag(const struct kafka_lag_options *o, const char *group,
		    const char *topic, struct kafka_lag *out) __attribute__((warn_unused_result));

/* A static description of a negative errno returned here. */
const char *kafka_strerror(int err);

/* ---- the restart health gate (health.c) ---------------------------------- */

#define KAFKA_MAX_REPLICAS 16

/* One partition's replicas and in-sync replicas, from metadata. */
struct kafka_partition_isr {
	char topic[KAFKA_MAX_TOPIC + 1];
	int32_t partition, leader;
	int32_t replicas[KAFKA_MAX_REPLICAS], isrs[KAFKA_MAX_REPLICAS];
	int replica_cnt, isr_cnt;
};

/* Every partition of every topic (caller frees *out). Returns 0,
 * -ETIMEDOUT or another negative errno. */
int kafka_isr_read(const char *bootstrap, kafka_conf conf, int timeout_ms,
		   struct kafka_partition_isr **out, size_t *n, struct log *log);

struct kafka_isr_verdict {
	int partitions;    /* partitions the broker hosts */
	int out_of_isr;    /* of them, not in their ISR */
	int under_min_isr; /* partitions (any broker's) under min ISR */
	char first[320];   /* the first problem, for a condition */
};

/* Judges broker (its node.id) over the partitions: 0 when it is in the
 * ISR of each it hosts and no partition has fewer than min_isr in sync
 * (or fewer than its replicas, when it has fewer replicas); else -EAGAIN
 * with v saying what. Pure. */
int kafka_isr_judge(const struct kafka_partition_isr *p, size_t n, int32_t broker, int min_isr,
		    struct kafka_isr_verdict *v);


#endif
