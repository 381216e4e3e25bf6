/*
 * The reshard plan of a PostHog (docs/resharding.md), pure: what
 * status.reshard should hold, which shard StatefulSets must stay, the Job
 * that moves the rows (`posthog-operator reshard`), and how the progress
 * document that Job keeps in ClickHouse (pkg/reshard/reshard.h) reads in
 * status. No I/O; the reconciler (controllers/posthog/reshard.c) does it.
 *
 * status.reshard: {from, to, phase, job, attempts, message, startedAt,
 * completedAt, failedAt, progressPhase, rowsMoved, unitsTotal, unitsDone,
 * units[]}. from is the number of shards that may hold rows when the plan
 * started, to the new count. phase: Pending (waiting for the shards and
 * their tables), Running (the Job runs), Paused (spec.clickhouse.reshard.
 * paused), Failed (the Job failed; a new one starts after a backoff),
 * Done.
 */
#ifndef PHO_POSTHOG_RESHARD_H
#define PHO_POSTHOG_RESHARD_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "posthog.h"

#define PH_RESHARD_MAX_UNITS 100

/* True when plan (status.reshard; may be NULL) is not Done. */
bool ph_reshard_active(const cJSON *plan);

/*
 * The plan for now: old is the current status.reshard (may be NULL), had
 * status.clickhouseSchema.shards (< 1 when unknown: ClickHouse was never
 * synced, nothing is planned), want spec.clickhouse.shards. The rows are
 * on max(from, to) shards under an active plan, else on had. When want
 * differs from an active plan's to, or no plan is active and want differs
 * from had, a new plan {from: shards holding rows, to: want, phase
 * Pending, attempts 0, startedAt now} replaces it; otherwise old is kept
 * as it is. Returns a new object, or NULL when there is no plan (none
 * ever ran and none is needed). Caller frees.
 */
cJSON *ph_reshard_plan(const cJSON *old, int had, int want, const char *now);

/* The shard StatefulSets that must stay while plan is active
 * (max(from, to)); 0 when none beyond spec.clickhouse.shards. */
int ph_reshard_keep_shards(const cJSON *plan);

/* "<name>-reshard-<from>-<to>-<attempts>" into out. Returns 0, -EINVAL
 * (no plan) or -ENOSPC. */
int ph_reshard_job_name(const char *name, const cJSON *plan, char *out,
			size_t outsz);

/*
 * The Job of plan for posthog (valid): the operator's image
 * (opts->router_image, else PH_ROUTER_DEFAULT_IMAGE) running
 *   reshard --shards <to> --shard http://<replica 0 of shard s>:8123,
 *   <same host>:9000 (s < max(from, to)) --progress-clickhouse
 *   --database D --cluster C [--max-rows-per-second N]
 *   [--max-bytes-per-second N]
 * with CLICKHOUSE_USER set and CLICKHOUSE_PASSWORD from the password
 * Secret (never in the arguments). backoffLimit 2, restartPolicy Never,
 * owned by the PostHog. Returns 0, or -EINVAL (invalid posthog, external
 * ClickHouse or no plan). Caller frees *job.
 */
int ph_reshard_job(const cJSON *posthog, const struct ph_build_options *opts,
		   const cJSON *plan, cJSON **job) __attribute__((warn_unused_result));

/*
 * Folds the progress document (pkg/reshard's: modulus, phase, message,
 * units[] with id, table, partitionId, source, target, modulus, state,
 * rows) into plan: progressPhase, message (when not empty), unitsTotal,
 * unitsDone, rowsMoved (rows of units attached or further) and the first
 * PH_RESHARD_MAX_UNITS units, counting only units planned for plan's to.
 * A NULL progress clears them.
 */
void ph_reshard_progress(cJSON *plan, const cJSON *progress);

/* True when progress says the rows are where plan's to puts them: phase
 * Done under modulus to. */
bool ph_reshard_progress_done(const cJSON *plan, const cJSON *progress);

/* Seconds to wait before the next Job after attempts failed ones: 30,
 * doubling, at most 600. */
unsigned ph_reshard_backoff_s(int attempts);

/* Sets plan's string field (replacing; NULL removes it) or number. */
void ph_reshard_set(cJSON *plan, const char *key, const char *value);
void ph_reshard_set_num(cJSON *plan, const char *key, double value);

#endif
