/*
 * Ordered, health-gated restarts of the stateful components (ZooKeeper,
 * Kafka, ClickHouse): the pure plan (upgrade_plan.c) and the reconcile step
 * that reads the pods, asks each system for its health and deletes one pod
 * at a time (upgrade.c, upgrade_health.c). docs/upgrades.md describes it.
 *
 * The StatefulSets use updateStrategy OnDelete: Kubernetes never restarts
 * one of their pods by itself, so every restart (a new image, a config or
 * resource change) is one this plan chose.
 */
#ifndef PHO_POSTHOG_UPGRADE_H
#define PHO_POSTHOG_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define PHC_UP_NAME 128
#define PHC_UP_CHECK 320

/* In plan order (a rollback walks it backwards). */
enum phc_up_component {
	PHC_UP_ZOOKEEPER,
	PHC_UP_KAFKA,
	PHC_UP_CLICKHOUSE,
	PHC_UP_NCOMPONENTS,
};

/* What the reconcile step learnt about one pod of a StatefulSet. */
struct phc_up_pod {
	char name[PHC_UP_NAME];
	char uid[64];      /* the Pod object's metadata.uid; "" when none */
	int component;     /* enum phc_up_component */
	int shard;         /* ClickHouse shard; 0 for the others */
	int ordinal;       /* the pod's StatefulSet ordinal */
	bool exists;       /* a Pod object exists and is not being deleted */
	bool updated;      /* it runs its StatefulSet's update revision */
	bool ready;        /* condition Ready is True */
	int64_t unready_since; /* when not Ready: since when (epoch s; the Ready
				* condition's lastTransitionTime, else the
				* pod's creationTimestamp); 0 unknown */
	bool healthy;      /* its system's own check passed (see check) */
	bool leader;       /* ZooKeeper: it leads the ensemble */
	bool voter;        /* Kafka: a KRaft controller (<ph>-kafka-controller),
			    * restarted before the brokers */
	char check[PHC_UP_CHECK]; /* the failed check, when !healthy */
};

/* The plan's memory between reconciles (status.upgrade). */
struct phc_up_state {
	char pod[PHC_UP_NAME]; /* deleted by the plan, awaiting its gate; "" none */
	int64_t since;         /* when it was deleted (epoch seconds) */
};

enum phc_up_action {
	PHC_UP_DONE,    /* every pod runs its update revision and is healthy */
	PHC_UP_RESTART, /* delete pod (the StatefulSet recreates it) */
	PHC_UP_WAIT,    /* a gate is closed; nothing to do now */
	PHC_UP_HALT,    /* pod did not pass its gate in time: stop here */
};

struct phc_up_decision {
	enum phc_up_action action;
	int pod;             /* index into the pods, or -1 */
	bool gate_passed;    /* the state's pod passed its gate: forget it */
	const char *reason;  /* static: a condition reason */
	char message[640];
};

/* Rollback detection: what status.upgrade remembers per StatefulSet. */
struct phc_up_track {
	char from[PHC_UP_NAME]; /* revision the pods ran before the plan */
	char to[PHC_UP_NAME];   /* revision the plan moves them to */
	bool rollback;          /* to is the from of the plan it replaced */
};

/*
 * Updates the track of one StatefulSet whose update revision is now
 * update_rev, given old_rev, the revision of any pod not yet on it (NULL
 * when every pod is). A new target that is the previous plan's from is a
 * rollback. Pure.
 */
void phc_upgrade_track(struct phc_up_track *t, const char *update_rev, const char *old_rev);

/*
 * Sorts pods into plan order: ZooKeeper, Kafka, ClickHouse; within
 * ZooKeeper followers first and the leader last; then by shard and
 * ordinal. A component with rollback[c] set is walked in reverse, and when
 * any component rolls back, the components are too.
 */
void phc_upgrade_order(struct phc_up_pod *pods, size_t n,
		       const bool rollback[PHC_UP_NCOMPONENTS]);

/*
 * The next step, for pods in plan order. A pod the plan deleted (st->pod)
 * must come back on its update revision, Ready and healthy within
 * timeout_s of st->since, or the plan halts there; until then it waits.
 * Then a pod that is not on its update revision and not Ready is restarted
 * first (it serves nothing; this is how a fix or a rollback replaces a pod
 * that never started). Otherwise the first pod not on its update revision
 * is restarted, but only while every pod is Ready and healthy. A pod on
 * its update revision that has not been Ready for longer than timeout_s
 * (unready_since) halts the plan too, with or without st: the plan's
 * memory is written after the deletion, and a refused status write (a
 * 409) loses it; the pod's own timestamps do not. Pure.
 */
void phc_upgrade_decide(const struct phc_up_pod *pods, size_t n, const struct phc_up_state *st,
			int64_t now, int64_t timeout_s, struct phc_up_decision *d);

/*
 * The components whose part of the plan is not finished, as a bit mask
 * (1 << enum phc_up_component): one with a pod not yet on its update
 * revision, or the one whose restarted pod (st->pod) has not passed its
 * gate in decision d. Such a component is not ready, whatever its
 * StatefulSet's counts say: its last restarted pod can be Ready before
 * its system counts it healthy (a ZooKeeper follower not yet synced, a
 * broker not back in the ISR), and what follows in the plan (migrations,
 * the plugin-servers) waits for it. Pure.
 */
unsigned phc_upgrade_holds(const struct phc_up_pod *pods, size_t n, const struct phc_up_state *st,
			   const struct phc_up_decision *d);

/* "zookeeper", "kafka", "clickhouse". */
const char *phc_upgrade_component_name(int component);

/*
 * Whether a live StatefulSet's own status says that each of its pods
 * exists and runs the update revision, so that the plan has nothing to
 * restart there and need not list its pods: the controller observed the
 * latest generation, and replicas and updatedReplicas both equal
 * spec.replicas. The StatefulSet controller counts replicas over every
 * created pod, terminating ones included, and updatedReplicas over those
 * created and not terminating (computeReplicaStatus, kubernetes/kubernetes
 * pkg/controller/statefulset/stateful_set_control.go), so equal counts
 * leave no old, missing or terminating pod. Readiness is not needed:
 * phc_upgrade_decide() looks at it only before restarting a pod that is
 * not on the update revision, or for the pod a restart awaits. Pure.
 */
bool phc_upgrade_sts_settled(const cJSON *sts);

/* ---- the plugin-servers, bucket by bucket (pure) ------------------------ */

/*
 * Whether a live Deployment has rolled out, by the rule of `kubectl
 * rollout status` (kubernetes/kubernetes, staging/src/k8s.io/kubectl/pkg/
 * polymorphichelpers/rollout_status.go): its controller observed the
 * latest generation, every replica runs the current template, no old
 * replica is left, and every updated replica is available. Otherwise
 * writes why not (naming the Deployment) to why. Pure.
 */
bool phc_rollout_complete(const cJSON *deployment, char *why, size_t whylen);

/* ---- the ZooKeeper gate (pure parts) ------------------------------------ */

/* One server's answer to the four-letter word mntr. */
struct phc_zk_mntr {
	char state[16];        /* zk_server_state: leader, follower, standalone */
	int followers;         /* zk_followers (leader only; else -1) */
	int synced_followers;  /* zk_synced_followers (leader only; else -1) */
};

/* Parses mntr's "zk_<key>\t<value>\n" lines. Returns 0, or -EBADMSG when
 * zk_server_state is missing (a server that is not serving answers
 * "This ZooKeeper instance is not currently serving requests"). */
int phc_zk_parse_mntr(const char *text, size_t len, struct phc_zk_mntr *out);

/*
 * Judges an ensemble of n servers from their answers (ok[i] false: no
 * answer, why[i] says why): every server answers as leader or follower,
 * exactly one leads, and the leader counts n - 1 synced followers. Marks
 * each pod's healthy/check/leader (pods[i] is server i). Returns true when
 * the ensemble is whole. A single standalone server is whole. Pure.
 */
bool phc_zk_judge(const struct phc_zk_mntr *m, const bool *ok, const char *const *why,
		  size_t n, struct phc_up_pod *pods);

/* ---- the ClickHouse gate (pure parts) ----------------------------------- */

/* What one replica reports about itself (upgrade_health.c reads it). */
struct phc_ch_health {
	int tables;             /* rows of system.replicas */
	int inactive;           /* of them: read-only, session expired, or
				 * active_replicas < total_replicas */
	int64_t max_delay;      /* max absolute_delay, seconds */
	int64_t queue;          /* rows of system.replication_queue */
	int64_t distribution;   /* rows of system.distribution_queue with
				 * files; -1 where the server has no such table */
};

/* Judges a replica: no inactive table, delay at most max_delay, both
 * queues empty. Writes the failed check to check. Pure. */
bool phc_ch_judge(const struct phc_ch_health *h, int64_t max_delay, char *check, size_t checklen);

/*
 * Resolves host:port through curl-style "HOST:PORT:CONNECT-HOST:CONNECT-PORT"
 * mappings (NULL-terminated, may be NULL): the first whose HOST and PORT
 * match (empty matches any) gives the address to connect to. IPv6
 * connect hosts are written in brackets. Without a match host and port are
 * copied. Returns 0 or -ENAMETOOLONG.
 */
int phc_connect_map(const char *const *map, const char *host, unsigned port, char *out_host,
		    size_t hostlen, unsigned *out_port);

/* ---- I/O (upgrade_health.c, upgrade.c) ----------------------------------- */

struct phc_run;

/*
 * Sends a four-letter word (e.g. "mntr") to a ZooKeeper server at
 * host:port (through phc_connect_map's mappings) and reads the answer
 * into out (NUL-terminated, *len bytes) until the server closes. Returns
 * 0 or a negative errno (-ETIMEDOUT after 2 s, -EMSGSIZE when the answer
 * does not fit).
 */
int phc_zk_four_letter(const char *const *map, const char *host, unsigned port, const char *word,
		       char *out, size_t outsz, size_t *len);

struct ch_client;

/* Reads a replica's health from its system tables (distribution -1 when
 * the server has no system.distribution_queue). Returns 0 or the query's
 * negative errno with the server's message in err. */
int phc_ch_read_health(struct ch_client *ch, struct phc_ch_health *h, char *err, size_t errlen);

/* Fill healthy, check (and leader) of the pods of their component that
 * exist and are Ready, by asking the servers. */
void phc_upgrade_probe_zookeeper(struct phc_run *run, struct phc_up_pod *pods, size_t n);
void phc_upgrade_probe_kafka(struct phc_run *run, struct phc_up_pod *pods, size_t n);
void phc_upgrade_probe_clickhouse(struct phc_run *run, struct phc_up_pod *pods, size_t n,
				  bool *no_distribution_queue);

/*
 * The restart step of one reconcile, after the stateful stages applied
 * their StatefulSets: reads their pods, asks the systems for their health
 * when a pod is due, deletes at most one pod, and writes status.upgrade
 * and the UpgradeHalted condition (an Event when the plan halts). *holds
 * gets the components not finished (phc_upgrade_holds; 0 when the pods
 * could not be read). Returns 0 or a negative errno (a failed list or
 * delete; recorded).
 */
int phc_upgrade_step(struct phc_run *run, unsigned *holds);

/* Parses a --health-gates value: "all", "none" or a comma-separated list
 * of zookeeper, kafka, clickhouse. Returns 0 or -EINVAL. */
int phc_upgrade_parse_gates(const char *s, unsigned *out);

#endif
