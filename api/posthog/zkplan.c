/*
 * zkplan: the pure plan (see zkplan.h). One change at a time, and none
 * while a pod is not ready: ZooKeeper's manual asks that a quorum of the
 * new configuration be connected and synced before a reconfig, and a
 * reconfig needs a quorum of both the old and the new configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "zkplan.h"

static int step(struct ph_zk_step *out, enum ph_zk_action a, int id, int replicas,
		const char *fmt, int x, int y) __attribute__((format(printf, 5, 0)));

static int step(struct ph_zk_step *out, enum ph_zk_action a, int id, int replicas,
		const char *fmt, int x, int y)
{
	out->action = a;
	out->id = id;
	out->replicas = replicas;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(out->why, sizeof(out->why), fmt, x, y);
#pragma GCC diagnostic pop
	return 0;
}

/* The participants, which must be exactly servers 1..m. */
static int members_of(const struct zk_config *cfg, struct ph_zk_step *out)
{
	for (size_t i = 0; i < cfg->n; i++) {
		if (cfg->servers[i].role != ZK_PARTICIPANT) {
			snprintf(out->why, sizeof(out->why),
				 "server %d is an observer: this operator runs participants only",
				 cfg->servers[i].id);
			return -EINVAL;
		}
		if (cfg->servers[i].id != (int)i + 1) {
			snprintf(out->why, sizeof(out->why),
				 "the ensemble's server ids are not 1..%zu (found %d): it was changed "
				 "outside this operator", cfg->n, cfg->servers[i].id);
			return -EINVAL;
		}
	}
	return (int)cfg->n;
}

int ph_zk_plan(const struct zk_config *cfg, int pods, int ready, int want,
	       struct ph_zk_step *out)
{
	struct ph_zk_step s = {0};
	int m = members_of(cfg, &s);

	if (m < 0 || m == 0 || want < 1) {
		if (m == 0)
			snprintf(s.why, sizeof(s.why), "the configuration lists no server");
		else if (m > 0)
			snprintf(s.why, sizeof(s.why), "an ensemble needs at least one member");
		*out = s;
		return -EINVAL;
	}
	s.members = m;
	if (want > m && pods < m + 1)
		step(&s, PH_ZK_SCALE, 0, m + 1, "starting server %d to join %d members", m + 1, m);
	else if (want < m && pods > m)
		step(&s, PH_ZK_SCALE, 0, m, "stopping the pods of removed servers (%d pods, %d members)",
		     pods, m);
	else if (want < m && pods < m)
		step(&s, PH_ZK_WAIT, 0, m, "%d of %d members have a pod", pods, m);
	else if (want != m && ready < pods)
		step(&s, PH_ZK_WAIT, 0, pods, "%d of %d pods ready", ready, pods);
	else if (want > m)
		step(&s, PH_ZK_ADD, m + 1, pods, "adding server %d to %d members", m + 1, m);
	else if (want < m)
		step(&s, PH_ZK_REMOVE, m, pods, "removing server %d of %d members", m, m);
	else if (pods != m)
		step(&s, PH_ZK_SCALE, 0, m, "%d pods for %d members", pods, m);
	else if (ready < pods)
		step(&s, PH_ZK_WAIT, 0, m, "%d of %d pods ready", ready, pods);
	else
		step(&s, PH_ZK_DONE, 0, m, "%d members, %d pods ready", m, ready);
	*out = s;
	return 0;
}
