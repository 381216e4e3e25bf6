/*
 * render --bucket-ddl (render_ddl.c): the per-bucket ClickHouse tables the
 * operator's schema sync would create, printed instead of run.
 */
#ifndef PHO_OPERATOR_RENDER_DDL_H
#define PHO_OPERATOR_RENDER_DDL_H

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"

/*
 * Appends to out one JSON line per bucket of posthog (a valid PostHog):
 * {"posthog", "bucket", "database", "kafkaTable", "view", "topic", "group",
 * "brokers", "statements": [...]}, where statements are what the schema
 * sync runs for that bucket against rows, the tables of the PostHog's
 * database as system.tables reports them (objects with name and
 * create_table_query; borrowed). Returns 0, or -EINVAL (the base tables
 * missing or not understood, said on stderr) or -EMSGSIZE.
 */
int render_bucket_ddl(const cJSON *posthog, const cJSON *rows, struct buf *out)
	__attribute__((warn_unused_result));

#endif
