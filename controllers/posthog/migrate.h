/*
 * The reconciler's migrate gate (migrate.c). Internal to controllers/posthog.
 */
#ifndef PHO_POSTHOG_MIGRATE_H
#define PHO_POSTHOG_MIGRATE_H

#include <stdbool.h>

struct phc_run;

/*
 * Applies the PostHog's migrate Job (the "migrate" entry of run->desired)
 * once deps_ready (ZooKeeper, Kafka and ClickHouse ready), and sets the
 * "Migrated" condition. A failed Job sets Migrated=False/MigrationFailed
 * with the tail of its pod's log, and Degraded. *done is set true when the
 * Job has completed (or there is none), so plugin-servers may be applied.
 * Returns 0, or the negative errno of a failed apply (for the worker to
 * retry with backoff); waiting is not an error.
 */
int phc_run_migrate(struct phc_run *run, bool deps_ready, bool *done);

#endif
