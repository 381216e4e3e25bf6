/*
 * Internals of the PostHog reconciler, shared by controller.c (setup and
 * the reconcile entry), children.c (applying and pruning child objects),
 * chaccess.c (reaching ClickHouse and the per-bucket schema) and status.c
 * (conditions and phase). Not installed; tests include it.
 */
#ifndef PHO_POSTHOG_CONTROLLER_PRIVATE_H
#define PHO_POSTHOG_CONTROLLER_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "pkg/events/events.h"
#include "pkg/informer/informer.h"
#include "pkg/kube/kube.h"
#include "pkg/log/log.h"
#include "pkg/manager/manager.h"
#include "pkg/metrics/metrics.h"
#include "pkg/secretcache/secretcache.h"
#include "controller.h"
#include "api/posthog/posthog.h"
#include "pkg/util/util.h"

#define PHC_FIELD_MANAGER "posthog-operator"
/* The manager that holds a Deployment's replicas between the operator
 * releasing them and an HPA's first scale (children.c). */
#define PHC_HANDOVER_MANAGER "posthog-operator-handover"
/* The manager of a Deployment's replicas under autoscaling.metric lag
 * (lagscale.c). */
#define PHC_AUTOSCALER_MANAGER "posthog-operator-autoscaler"
#define PHC_FINALIZER "posthog.com/finalizer"
#define PHC_HASH_ANNOTATION "posthog.com/desired-hash"
#define PHC_MANAGED_SELECTOR "app.kubernetes.io/managed-by=posthog-operator"

/* Polling interval while waiting on something no watch reports (PostHog's
 * migrations creating the base tables, a ClickHouse that refused us). */
#define PHC_POLL_MS 15000

/* Field access over cJSON objects is pkg/util's (util_json_str,
 * util_json_num, util_json_get). */

/* The kinds of child the controller creates, each with its informer. */
enum phc_kind {
	PHC_CONFIGMAP,
	PHC_SERVICE,
	PHC_STATEFULSET,
	PHC_DEPLOYMENT,
	PHC_JOB,
	PHC_PDB,
	PHC_HPA,
	PHC_NKINDS,
};

/* The informers of one watched namespace (or of all, ns == NULL). */
struct phc_scope {
	char *ns;
	struct informer *posthogs;
	struct informer *children[PHC_NKINDS];
};

#define PHC_MAX_SCOPES 64

struct phc_lag_state;

/* The controller: controller.h's opaque handle. */
struct posthog_controller {
	struct kube_client *client;
	struct log *log;
	struct manager *manager;
	struct recorder *recorder;
	struct metrics *metrics;
	struct controller *ctl;
	struct kube_resource posthog_res;
	struct kube_resource child_res[PHC_NKINDS];
	struct kube_resource secret_res;
	/* The credentials Secrets, read once and kept (pkg/secretcache). */
	struct secretcache *secrets;
	struct kube_resource pvc_res;
	struct phc_scope scopes[PHC_MAX_SCOPES];
	unsigned nscopes;
	bool clickhouse_via_proxy;
	const char *const *connect_to; /* borrowed from the options; may be NULL */
	char *router_image; /* NULL: ph_build's default */
	/* Which components' restarts wait for their system's own health
	 * check (bit 1 << enum phc_up_component), beyond Ready; and how long
	 * a restarted pod has to pass before the plan halts (upgrade.h). */
	unsigned health_gates;
	int64_t restart_timeout_s;
	/* When each PostHog's ClickHouse tables were last found current:
	 * {"ns/name": {"uid", "generation", "buckets", "at" (monotonic ms)}}. */
	pthread_mutex_t schema_lock;
	cJSON *schema_checks;
	/* The lag autoscaler: how often it reads a group's lag, and per
	 * Deployment its last read and stabilization windows (lagscale.c). */
	uint64_t lag_poll_ms;
	pthread_mutex_t lag_lock;
	struct phc_lag_state *lag_states;
	size_t nlag_states;
};

/* The scope watching ns, or NULL. */
struct phc_scope *phc_scope_for(struct posthog_controller *p, const char *ns);

/* What the membership steps of a stateful stage decided (scale.c). */
struct phc_scale {
	bool settled;            /* the membership is what the spec asks */
	char message[1024];      /* why not, for the stage's condition */
	const char *fail_reason; /* a Degraded reason, or NULL */
	int zk_members;          /* committed ZooKeeper participants; 0 unknown */
	int kafka_controllers;   /* controller pods ready; -1 unknown */
	int kafka_brokers;       /* broker StatefulSet replicas; -1 unknown */
	char reassignment[512];  /* the reassignment in progress, or "" */
	char reassignment_job[128]; /* its Job, or "" */
	char last_move[256];     /* the last move that completed, or "" (kept) */
	char last_move_job[128]; /* its Job, kept until the next move, or "" */
};

/* One reconcile of one PostHog: what it read, and the status it builds. */
struct phc_run {
	struct posthog_controller *p;
	struct phc_scope *scope;
	cJSON *ph;              /* the PostHog, from the cache (owned) */
	cJSON *spec;            /* normalized spec (owned) */
	const char *ns, *name, *uid;
	int64_t generation;
	struct log_fields lf;
	char now[KUBE_TIME_LEN];
	cJSON *status;          /* the status being built (owned) */
	cJSON *conds;           /* status.conditions (borrowed from status) */
	cJSON *desired;         /* ph_build's entries (owned) */
	unsigned buckets;       /* spec.buckets.count */
	bool stage_ready[PH_STAGE_COUNT];
	bool *bucket_schema_ready;  /* [buckets] */
	bool *bucket_ready;         /* [buckets] */
	bool failed;            /* an error was recorded in a condition */
	unsigned writes;        /* child writes made by this reconcile */
	unsigned created;       /* children created by this reconcile */
	char created_names[512];/* the first of them, for the Created event */
	uint64_t requeue_ms;    /* shortest requeue asked for; 0 = none */
	cJSON *reshard;         /* the reshard plan for status.reshard (owned;
				 * NULL: none) */
	struct phc_scale scale; /* the stateful stage being walked */
	char ch_lag[512];       /* a ClickHouse replica catching up, or "" */
};

/* Asks for a requeue after ms unless a shorter one is already asked. */
void phc_requeue(struct phc_run *run, uint64_t ms);

/* ---- reconcile.c ---------------------------------------------------------- */

/* The reconcile of a live (not deleting) PostHog that holds the
 * finalizer: validation, children, schema, pruning and status. Returns 0
 * or a negative errno. */
int phc_reconcile_posthog(struct phc_run *run);

/* Walks the stages in order, applying what each gate allows, and records
 * component and bucket readiness in run. Returns 0 or a negative errno
 * (already recorded in a condition). */
int phc_reconcile_children(struct phc_run *run);

/* ---- reshard.c ----------------------------------------------------------- */

/* Sets run->reshard, the plan for now (api/posthog/reshard.h
 * ph_reshard_plan), from the status and spec; before the build, which
 * keeps the shards it empties (phc_reshard_keep_shards). */
void phc_reshard_prepare(struct phc_run *run);
int phc_reshard_keep_shards(const struct phc_run *run);

/*
 * Drives run->reshard one step (docs/resharding.md): with
 * spec.clickhouse.reshard.paused, stops its Job; after a failed Job's
 * backoff, starts the next attempt; once ClickHouse and its schema are
 * ready and no older reshard Job is left, creates the plan's Job (and adds
 * it to run->desired); follows the progress the Job keeps in ClickHouse;
 * marks the plan Done when the Job completed and the progress says so
 * (status.clickhouseSchema.shards becomes the new count). Writes
 * status.reshard, the Resharding condition, Events and metrics. Returns 0
 * or the negative errno of a failed Job create or delete; a failed Job is
 * recorded (Degraded) and retried by a requeue after the backoff.
 */
int phc_reshard_step(struct phc_run *run, bool clickhouse_ready, bool schema_ready);

/* ---- scale.c, scale_kafka.c ------------------------------------------------ */

/*
 * Before the apply of stage ("zookeeper" or "kafka"): takes the next
 * membership step and sets the desired StatefulSets' replicas to what that
 * step allows. sc says whether the membership is settled and why not.
 * Returns 0, or a negative errno for a failure (sc->fail_reason names its
 * Degraded reason; logged).
 */
int phc_scale_prepare(struct phc_run *run, const char *stage, struct phc_scale *sc);
int phc_scale_kafka(struct phc_run *run, struct phc_scale *sc);
/* Adds the stage's membership fields (members, controllers, brokers,
 * reassignment) from run->scale to its status.components entry. */
void phc_scale_record(const struct phc_run *run, const char *stage, cJSON *component);
/* The Job prune must leave among jobs (the PostHog's live Jobs): the
 * Kafka move Job that completed last (by status.completionTime, then the
 * generation its name ends with), or NULL. Borrowed from jobs. */
const char *phc_scale_kept_job(const struct phc_run *run, const cJSON *jobs);
/* The desired object of kind named name in stage, or NULL. Borrowed. */
cJSON *phc_desired_object(struct phc_run *run, const char *stage, const char *kind,
			  const char *name);
/* Sets obj's spec.replicas. */
void phc_set_replicas(cJSON *obj, int replicas);
/* The pods of a live StatefulSet ready at its current revision. */
int phc_sts_ready(const cJSON *live);

/* ---- safety.c ------------------------------------------------------------- */

/* Refuses a spec change that would break the running stack: ZooKeeper
 * below a quorum of the live ensemble, Kafka brokers below the existing
 * topics' replication factor, fewer ClickHouse shards than run. Returns 0,
 * or -EPERM with the reason, naming the field, in msg. */
int phc_check_safe_change(struct phc_run *run, char *msg, size_t msglen);

/* The smallest odd ensemble size that keeps a quorum of live members. */
int phc_zookeeper_floor(int live);

/* Why shrinking a running ensemble of live to want is refused, and what
 * the user can do instead, into msg. */
void phc_zookeeper_shrink_message(int live, int want, char *msg, size_t msglen);

/* ---- chaccess.c ----------------------------------------------------------- */

/*
 * Copies every table of the PostHog database onto each replica that lacks
 * some (an added replica or shard, replicate.h), then brings every
 * bucket's ClickHouse tables in line with the base tables on every
 * replica, and drops the tables of buckets beyond the count. Sets
 * run->bucket_schema_ready[]. First claims the database for this PostHog
 * (owner.c). Returns 0, -EAGAIN while PostHog's migrations have not created
 * the base tables, -EEXIST when another PostHog owns the database's bucket
 * tables, -EKEYREJECTED when the password Secret's value is unusable, or a
 * negative errno (the server's message is in msg).
 */
int phc_schema_sync(struct phc_run *run, char *msg, size_t msglen);

/*
 * Reads the ClickHouse password Secret and checks its value, as every
 * ClickHouse request does before it is sent: 0 (a usable password, or no
 * Secret), -EKEYREJECTED when the value is unusable (no such key, not
 * base64, a control character; msg names the Secret, key and byte, never
 * the password), or the negative errno of the read (msg says why).
 */
int phc_ch_check_password(struct phc_run *run, char *msg, size_t msglen);

struct ch_client;

/* Opens a client for replica (shard, replica), as the schema code reaches
 * it, runs fn with it and closes it. Returns fn's result, or a negative
 * errno with msg saying why the client could not be made. */
int phc_clickhouse_with(struct phc_run *run, unsigned shard, unsigned replica,
			int (*fn)(struct ch_client *ch, void *userdata), void *userdata,
			char *msg, size_t msglen);

/* Forgets the PostHog's last schema check (it was deleted). */
void phc_schema_forget(struct posthog_controller *p, const char *key);

/* Drops every bucket table of the PostHog, and its claim on the database
 * (deletion with policy Delete), on every replica where the PostHog owns
 * them. Returns 0, -EEXIST when some replica's tables were left because
 * another PostHog (or none) claimed them (msg says which), or a negative
 * errno. */
int phc_schema_drop_all(struct phc_run *run, char *msg, size_t msglen);

/* ---- lagscale.c ----------------------------------------------------------- */

/* The default interval between two lag reads of one Deployment: the HPA
 * controller's --horizontal-pod-autoscaler-sync-period default. */
#define PHC_LAG_POLL_MS 15000

/*
 * Runs the lag autoscaler for the Deployments of bucket whose entries in
 * run->desired carry "lagAutoscaling": reads each consumer group's lag
 * (at most once per p->lag_poll_ms), decides with ph_lag_decide() and
 * applies spec.replicas as PHC_AUTOSCALER_MANAGER, with an Event and
 * metrics; shows the lag and the last scale in bucket_status's ingestion
 * / async objects, and asks for a requeue at the next read. A lag that
 * cannot be read leaves the replicas, shows the error there and records
 * a LagUnreadable Warning Event when the error is new. Returns 0, or the
 * negative errno of a failed apply (for the worker to retry with backoff).
 */
int phc_lag_autoscale(struct phc_run *run, unsigned bucket, cJSON *bucket_status);

/* Frees the autoscaler's state. */
void phc_lag_free(struct posthog_controller *p);
/* Declares the lag autoscaler's metric families (named before any sample). */
void phc_lag_declare_metrics(struct metrics *m);
/* The reshard and upgrade metric families, named on /metrics before the
 * first plan (reshard.c, upgrade.c). */
void phc_reshard_declare_metrics(struct metrics *m);
void phc_upgrade_declare_metrics(struct metrics *m);
/* posthog_upgrade_buckets_waiting: buckets whose rollout waits (upgrade.c). */
void phc_upgrade_record_waiting(struct phc_run *run, unsigned waiting);

/* ---- finalize.c ---------------------------------------------------------- */

/* Set to "true" on a PostHog being deleted with deletionPolicy Delete, it
 * lets the deletion finish and leave the bucket tables when dropping them
 * fails. */
#define PHC_KEEP_TABLES_ANNOTATION "posthog.com/keep-clickhouse-tables"

/* How long after deletionTimestamp a failing table drop is retried. */
#define PHC_DELETE_WAIT_S (10 * 60)
#define PHC_DELETE_WAIT_TEXT "10 minutes"

/* Why a deletion stops retrying a failed table drop (a static string), or
 * NULL to retry: the annotation is "true", or PHC_DELETE_WAIT_S have passed
 * since the PostHog's deletionTimestamp (meta is its metadata). */
const char *phc_finalize_give_up(const cJSON *meta, time_t now);

/* Shows a deletion blocked by blocker: condition Deleting (True,
 * TablesNotDropped), Ready False (Deleting), phase Deleting; writes the
 * status when it changed and then records a DeletionBlocked Warning Event
 * when the message is new. */
void phc_finalize_blocked(struct phc_run *run, const char *blocker);

/* ---- children.c ---------------------------------------------------------- */

/* The kind of a child object by apiVersion and kind, or -1. */
int phc_kind_of(const cJSON *obj);

/*
 * True when every field of want is present in have with an equal value:
 * objects compare key by key, arrays element by element with equal
 * lengths, scalars by value. Fields the server adds do not matter.
 */
bool phc_is_subset(const cJSON *want, const cJSON *have);

/* FNV-1a 64 of the object's compact JSON, as 16 hex digits. */
void phc_hash(const cJSON *obj, char out[17]);

/* The child informers' transform (struct informer_options): informer_strip,
 * except that the operator's own Apply entry of managedFields stays when
 * it holds spec.replicas, reduced to that. */
void phc_child_transform(void *userdata, cJSON *obj);

/*
 * Applies desired (server-side apply, forced, as PHC_FIELD_MANAGER) unless
 * the cached live object already holds it. desired gets the hash
 * annotation added, so that a field dropped from the desired state is
 * noticed too. *live_out receives the live object (from the cache, or the
 * apply answer; caller frees; may be NULL). *wrote tells whether a request
 * was made. Returns 0 or a negative errno (logged, with st for conditions).
 */
int phc_ensure(struct phc_run *run, cJSON *desired, cJSON **live_out, bool *wrote,
	       struct kube_status *st);

/*
 * Deletes children of the PostHog that are not in run->desired (ph_build's
 * entries). Keeps Jobs that are still running. A failed delete is logged
 * and the others are still tried. Returns the number deleted, or the
 * first failure's negative errno with its Status in *first (may be NULL).
 */
int phc_prune(struct phc_run *run, struct kube_status *first);

/*
 * The available (and updated) pods with which a workload counts as ready.
 * want is the live spec.replicas. A Deployment whose replicas an HPA
 * manages (obj, its desired form, carries no replicas; entries holds the
 * HPA) is ready from the HPA's minReplicas on: an HPA scale-up is not a
 * loss of readiness while the floor the user asked for is available.
 * The same holds for one the lag autoscaler scales (its entry carries
 * "lagAutoscaling"), from that minReplicas on. Anything else needs want.
 */
int phc_ready_floor(const cJSON *entries, const cJSON *obj, int want);

/*
 * Whether a live StatefulSet or Deployment has at least need pods ready
 * and on its current template, with its controller caught up with its
 * spec. *ready and *updated get the status's counts. The API server omits
 * a count of 0 (apps/v1 StatefulSetStatus and DeploymentStatus: readyReplicas,
 * updatedReplicas, availableReplicas are omitempty), so a missing count
 * is 0: a StatefulSet whose controller has just observed a new template
 * under OnDelete carries no updatedReplicas, and is not ready.
 */
bool phc_workload_ready(int kind, const cJSON *live, int need, int *ready, int *updated);

/* True when the Job has condition type ("Complete", "Failed") True. */
bool phc_job_condition(const cJSON *job, const char *type);

/* ---- status.c ------------------------------------------------------------ */

/*
 * Sets condition type in the array conds (creating it): status "True",
 * "False" or "Unknown", with reason and message. lastTransitionTime changes
 * only when status changes; now is an RFC 3339 time.
 */
void phc_set_condition(cJSON *conds, const char *type, const char *status,
		       const char *reason, const char *message,
		       int64_t generation, const char *now);

/* The condition of that type in conds, or NULL. Borrowed. */
const cJSON *phc_condition(const cJSON *conds, const char *type);

/*
 * The phase: Ready; with a failure, Degraded only for a PostHog that was
 * ready (old_status's phase Ready or Degraded), else Failed (also for
 * InvalidSpec and UnsafeChange); otherwise Progressing, or Pending before
 * the first status.
 */
const char *phc_phase(bool ready, bool failed, const char *reason, const cJSON *old_status);

/*
 * Completes the status (Ready, Progressing, Degraded, phase, the printer
 * column fields, observedGeneration), writes it when it differs from what
 * the cache holds, records events for transitions and sets the metrics.
 */
int phc_finish_status(struct phc_run *run);

#endif
