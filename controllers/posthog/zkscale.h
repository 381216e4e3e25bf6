/*
 * zkscale: takes the steps api/posthog/zkplan.h plans against the managed
 * ZooKeeper ensemble, through pkg/zk (ZooKeeper's own C client).
 */
#ifndef PHO_POSTHOG_ZKSCALE_H
#define PHO_POSTHOG_ZKSCALE_H

#include <stddef.h>

#include "api/posthog/zkplan.h"

/* The server statement of id ("server.<id>=<host>:<port>:<port>:participant;
 * <client>") into out. Returns 0 or a negative errno. */
typedef int (*phc_zk_server_fn)(int id, void *userdata, char *out, size_t outsz);

struct phc_zk_scale {
	const char *hosts;  /* client connect string */
	int pods, ready, want;
	phc_zk_server_fn server;
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
int phc_zk_scale_step(const struct phc_zk_scale *s, struct ph_zk_step *step,
		     char *err, size_t errlen);

/* The znode the quorum writes go to. */
#define PHC_ZK_PROBE_PATH "/posthog-operator-reconfig"

#endif
