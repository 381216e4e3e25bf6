/*
 * zkscale: changing the membership of the managed ZooKeeper ensemble
 * through dynamic reconfiguration (ZooKeeper 3.5 and later), one member at
 * a time, with the ensemble committing writes before and after each step.
 *
 * Members are numbered as the StatefulSet's pods: server id = ordinal + 1.
 * Growing from m to m+1: the StatefulSet gets m+1 pods (the new pod starts
 * as a joiner: the committed members plus itself, listed as an observer,
 * so it syncs with the leader as a non-voting follower), then, once every
 * pod is ready, `reconfig -add server.<m+1>` as a participant. Shrinking
 * from m to m-1: once every pod is ready, `reconfig -remove <m>`, then the
 * StatefulSet gets m-1 pods. docs/scaling.md cites ZooKeeper's manual for
 * each rule.
 *
 * ph_zk_plan is pure; ph_zk_scale_step does the I/O through pkg/zk.
 */
#ifndef PHO_POSTHOG_ZKSCALE_H
#define PHO_POSTHOG_ZKSCALE_H

#include <stddef.h>

#include "pkg/zk/zk.h"

enum ph_zk_action {
	PH_ZK_DONE,   /* members == want, pods == members, all ready */
	PH_ZK_WAIT,   /* a pod is not ready: no step until it is */
	PH_ZK_SCALE,  /* set the StatefulSet's replicas to step.replicas */
	PH_ZK_ADD,    /* reconfig -add server step.id */
	PH_ZK_REMOVE, /* reconfig -remove step.id */
};

struct ph_zk_step {
	enum ph_zk_action action;
	int id;       /* ADD, REMOVE: the server id */
	int replicas; /* the StatefulSet's replicas this step wants */
	int members;  /* participants in the committed configuration */
	char why[200];
};

/*
 * The next step from the committed configuration cfg towards want
 * members, with pods StatefulSet replicas of which ready are ready.
 * Returns 0, or -EINVAL when the configuration is not one this operator
 * made (an observer, or ids other than 1..m), with the reason in
 * out->why.
 */
int ph_zk_plan(const struct zk_config *cfg, int pods, int ready, int want,
	       struct ph_zk_step *out);

/* The server statement of id ("server.<id>=<host>:<port>:<port>:participant;
 * <client>") into out. Returns 0 or a negative errno. */
typedef int (*ph_zk_server_fn)(int id, void *userdata, char *out, size_t outsz);

struct ph_zk_scale {
	const char *hosts;  /* client connect string */
	int pods, ready, want;
	ph_zk_server_fn server;
	void *userdata;
	int wait_ms;        /* for the session */
};

/*
 * Reads the committed configuration, plans, and performs an ADD or REMOVE
 * step itself (a quorum write before, the conditional reconfig, a quorum
 * write after, which ZooKeeper's manual names as the way to know the new
 * configuration is active). *step says what was done or what the caller
 * must do (SCALE, WAIT). Returns 0 or a negative errno (pkg/zk's) with the
 * reason in err.
 */
int ph_zk_scale_step(const struct ph_zk_scale *s, struct ph_zk_step *step,
		     char *err, size_t errlen);

/* The znode the quorum writes go to. */
#define PH_ZK_PROBE_PATH "/posthog-operator-reconfig"

#endif
