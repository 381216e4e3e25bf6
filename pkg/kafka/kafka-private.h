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

#endif
