/*
 * phbackup: the controller of the backup API (posthog.com/v1alpha1
 * PostHogBackup, PostHogBackupSchedule, PostHogRestore; docs/backups.md).
 *
 * A PostHogBackup or PostHogRestore becomes one Job per ClickHouse shard,
 * running the operator's own image as `posthog-operator backup-agent`
 * beside one replica of the shard, the first whose Pod is Ready when the
 * Job is created (phb_pick_replica; recorded on the Job and in
 * status.shards[], and kept for the Job's life): the Job's pod must land on
 * that pod's node (pod affinity) and mounts the same ReadWriteOnce volume
 * claim, which Kubernetes allows for pods of one node. The status comes from evidence:
 * a backup is Completed only when the operator has read every shard's
 * manifest from the store (the agent writes it last); the Jobs' own
 * outcome only says that the agent ran. A PostHogRestore with replayKafka
 * runs four such rounds of Jobs one after the other (enum phb_step). A
 * schedule creates PostHogBackups on its cron schedule.
 *
 * Metrics (on the operator's /metrics):
 *   posthog_backup_last_success_timestamp_seconds{namespace,posthog}
 *   posthog_backups_total{namespace,posthog,result="completed"|"failed"}
 *   posthog_restores_total{namespace,posthog,result}
 *   posthog_backup_schedule_interval_seconds{namespace,posthog,schedule}
 */
#ifndef PHO_PHBACKUP_H
#define PHO_PHBACKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "pkg/kube/kube.h"
#include "pkg/log/log.h"
#include "pkg/manager/manager.h"

#define PHB_KIND_BACKUP "PostHogBackup"
#define PHB_KIND_SCHEDULE "PostHogBackupSchedule"
#define PHB_KIND_RESTORE "PostHogRestore"
#define PHB_LABEL_SCHEDULE "posthog.com/backup-schedule"
/* On an agent Job: the ClickHouse replica it works beside, chosen once when
 * the Job was created. */
#define PHB_ANN_REPLICA "posthog.com/clickhouse-replica"
/* Replicas per shard the choice looks at (the CRD allows fewer). */
#define PHB_MAX_REPLICAS 64
/* The ClickHouse image's own user and group (ClickHouse/ClickHouse
 * docker/server/Dockerfile.ubuntu: groupadd --gid=101, useradd --uid=101),
 * so that the server can read the parts a restore writes. */
#define PHB_CLICKHOUSE_UID 101

struct phbackup_options {
	const char *const *namespaces; /* NULL-terminated; NULL = all */
	const char *image;             /* the agent's image (the operator's own) */
	uint64_t resync_ms;
};

struct phbackup;

int phbackup_register(struct manager *m, struct kube_client *c, struct log *log,
		      const struct phbackup_options *opts, struct phbackup **out);
void phbackup_free(struct phbackup *p);

/* ---- pure parts, for tests ---------------------------------------------- */

/*
 * The steps of a restore. A backup, and a restore without replayKafka, is
 * one Job per shard that does everything (PHB_STEP_ALL). A restore with
 * replayKafka goes through four steps, each started when the one before
 * has completed on every shard, so that every consumer group is set back
 * exactly once while none of its members exists, and consumption starts
 * only once every shard's members are in the groups (docs/backups.md):
 *   PHB_STEP_DATA     one Job per shard: tables and parts, no Kafka tables
 *                     or views (`restore --stage data`);
 *   PHB_STEP_OFFSETS  one Job, beside a replica of shard 0: every group set
 *                     back once to the smallest offset any shard's
 *                     manifest recorded (`reset-offsets --shards K`);
 *   PHB_STEP_KAFKA    one Job per shard: the missing Kafka tables, which
 *                     join their groups (`restore --stage kafka`);
 *   PHB_STEP_VIEWS    one Job per shard: the missing materialized views,
 *                     which start the consumption (`restore --stage views`).
 */
enum phb_step {
	PHB_STEP_ALL,
	PHB_STEP_DATA,
	PHB_STEP_OFFSETS,
	PHB_STEP_KAFKA,
	PHB_STEP_VIEWS,
	PHB_STEP_DONE,
};

/* "data", "offsets", "kafka", "views" ("all", "done"): status.step, the
 * agent's --stage, the status key of a shard's Job in that step. */
const char *phb_step_name(enum phb_step step);

/*
 * The step a restore is at, from its status (borrowed): without replay
 * PHB_STEP_ALL; with it PHB_STEP_DATA until status.shards[] holds a
 * "Completed" phase for every shard 0 .. nshards-1, then PHB_STEP_OFFSETS
 * until status.offsets.phase is "Completed", then PHB_STEP_KAFKA until
 * every shard entry's kafka.phase is, then PHB_STEP_VIEWS until every
 * views.phase is, then PHB_STEP_DONE.
 */
enum phb_step phb_restore_step(const cJSON *status, unsigned nshards, bool replay);

/* What one agent Job does. */
struct phb_job_in {
	const char *op;         /* "backup" or "restore" */
	const cJSON *owner;     /* the PostHogBackup or PostHogRestore */
	const char *owner_kind;
	const char *name;       /* the backup's name in the store */
	const char *posthog;    /* the PostHog's name */
	const cJSON *ph_spec;   /* the PostHog's normalized spec */
	const cJSON *store;     /* spec.store */
	unsigned shard;
	unsigned replica;       /* whose volume claim and Service the agent uses */
	const char *image;
	const char *retention;  /* NULL: none */
	unsigned keep_min;
	bool replay_kafka;      /* PHB_STEP_ALL only */
	enum phb_step step;     /* PHB_STEP_ALL for a backup */
	unsigned nshards;       /* PHB_STEP_OFFSETS: the backup's shards */
};

/* The Job's name, "<owner>-s<shard>". Returns 0 or -ENOSPC. */
int phb_job_name(const char *owner, unsigned shard, char *out, size_t outsz);

/* The name of a step's Job: "<owner>-s<shard>" (PHB_STEP_ALL and
 * PHB_STEP_DATA), "<owner>-offsets", "<owner>-kafka-s<shard>",
 * "<owner>-views-s<shard>". Returns 0
 * or -ENOSPC (over 63 characters), -EINVAL for another step. */
int phb_step_job_name(const char *owner, enum phb_step step, unsigned shard, char *out,
		      size_t outsz);

/* Builds the Job (caller frees). Returns 0 or -EINVAL naming the field in
 * err. */
int phb_build_job(const struct phb_job_in *in, cJSON **out, char *err,
		  size_t errlen);

/*
 * The replica of shard `shard` an agent Job works beside: the first r
 * (0, 1, ... below spec.clickhouse.replicasPerShard) whose Pod
 * "<posthog>-clickhouse-<shard>-<r>" is in pods (a PodList, borrowed), is
 * not being deleted and has the condition Ready True. Returns r; -EAGAIN
 * when no replica is Ready, with each replica's state in why ("no
 * ClickHouse replica of shard 1 is Ready: ph-clickhouse-1-0 is not Ready,
 * ph-clickhouse-1-1 has no pod"); -EINVAL when the shard is not a managed
 * one.
 */
int phb_pick_replica(const char *posthog, const cJSON *ph_spec, unsigned shard,
		     const cJSON *pods, char *why, size_t whylen);

/* The replica a Job's PHB_ANN_REPLICA annotation names. Returns it, or
 * -ENOENT when the Job has no valid annotation. */
int phb_job_replica(const cJSON *job);

/* Checks spec.store and the retention of a backup, restore or schedule
 * spec. Returns 0 or -EINVAL with the field named in err. */
int phb_validate_spec(const cJSON *spec, bool restore, char *err,
		      size_t errlen);

/*
 * A Job's outcome: 1 succeeded, -1 failed (the Failed condition's message
 * into msg), 0 still running.
 */
int phb_job_outcome(const cJSON *job, char *msg, size_t msglen);

/*
 * The name of the backup a schedule creates for the slot at t:
 * "<schedule>-YYYYMMDDhhmmss" (UTC). Returns 0 or -ENOSPC.
 */
int phb_scheduled_name(const char *schedule, time_t t, char *out, size_t outsz);

/*
 * Sets condition `type` in the array conds (a metav1.Condition list),
 * keeping lastTransitionTime when the status is unchanged.
 */
void phb_set_condition(cJSON *conds, const char *type, const char *status,
		       const char *reason, const char *message, const char *now);

#endif
