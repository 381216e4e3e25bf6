/*
 * replicate_io: the I/O half of api/posthog/replicate.h, reading a healthy
 * replica's tables and creating the missing ones on another through
 * pkg/clickhouse. The plan itself is the API module's (ph_replicate_plan).
 */
#ifndef PHO_POSTHOG_REPLICATE_IO_H
#define PHO_POSTHOG_REPLICATE_IO_H

#include <cjson/cJSON.h>

#include "api/posthog/replicate.h"
#include "pkg/clickhouse/clickhouse.h"

/* Runs ph_replicate_query on c; *rows gets the rows (caller frees). */
int ph_replicate_read(struct ch_client *c, const char *database, cJSON **rows,
		      char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Creates on dst every table of src_rows (ph_replicate_read's rows of the
 * healthy replica) that dst lacks, as ph_replicate_plan says. *created
 * gets the number of tables created. Returns 0 or a negative errno with
 * the server's or the plan's message in err; the tables created before a
 * failure stay (each statement is idempotent, the next call goes on).
 */
int ph_replicate_copy(struct ch_client *dst, const char *database,
		      const cJSON *src_rows, const char *const *owned,
		      size_t nowned, unsigned *created, char *err,
		      size_t errlen) __attribute__((warn_unused_result));

#endif
