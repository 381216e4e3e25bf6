/* kafka internals shared between its files and its tests. */
#ifndef PHO_KAFKA_PRIVATE_H
#define PHO_KAFKA_PRIVATE_H

#include <librdkafka/rdkafka.h>

#include "kafka.h"

/* librdkafka's error code as a negative errno (0 for no error). */
int kafka_errno(rd_kafka_resp_err_t e);

/* Builds a configuration: the defaults (NULL-terminated pairs of name,
 * value) then user "name=value" strings. Logs and returns NULL on a bad
 * name or value. */
rd_kafka_conf_t *kafka_conf_build(const char *bootstrap,
				  const char *const *defaults, kafka_conf user,
				  struct log *log);

/*
 * When kafka_consumer_poll() wakes a parked fetcher (kafka.c,
 * wake_fetcher): not before the queue has given nothing for
 * KAFKA_KICK_MIN_MS, and, while wakes bring nothing (the topic is read to
 * its end, or the broker is slow), at doubling intervals up to
 * KAFKA_KICK_MAX_MS, librdkafka's own serve timeout. Pure, for tests.
 */
#define KAFKA_KICK_MIN_MS 4
#define KAFKA_KICK_MAX_MS 1000

struct kafka_kick {
	int64_t last_msg_ms, last_kick_ms;
	int interval_ms; /* 0 before the first call */
};

/* Whether to wake the fetcher at now_ms (monotonic); when true, records
 * the wake. */
bool kafka_kick_due(struct kafka_kick *k, int64_t now_ms);
/* A message arrived at now_ms. */
void kafka_kick_msg(struct kafka_kick *k, int64_t now_ms);

#endif
