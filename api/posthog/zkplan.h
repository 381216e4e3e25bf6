/*
 * zkplan: the next step of a membership change of the managed ZooKeeper
 * ensemble (dynamic reconfiguration, ZooKeeper 3.5 and later), one member
 * at a time, with every pod ready between steps. Pure: the committed
 * configuration (pkg/zk's parsed getConfig text) and the StatefulSet's
 * counts in, a step out. controllers/posthog/zkscale.h takes the steps.
 *
 * Members are numbered as the StatefulSet's pods: server id = ordinal + 1.
 * Growing from m to m+1: the StatefulSet gets m+1 pods (the new pod starts
 * as a joiner: the committed members plus itself, listed as an observer,
 * so it syncs with the leader as a non-voting follower), then, once every
 * pod is ready, `reconfig -add server.<m+1>` as a participant. Shrinking
 * from m to m-1: once every pod is ready, `reconfig -remove <m>`, then the
 * StatefulSet gets m-1 pods. docs/scaling.md cites ZooKeeper's manual for
 * each rule.
 */
#ifndef PHO_POSTHOG_ZKPLAN_H
#define PHO_POSTHOG_ZKPLAN_H

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

#endif
