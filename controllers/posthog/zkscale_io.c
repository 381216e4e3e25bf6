/*
 * zkscale: one step of a membership change, against the ensemble itself
 * (pkg/zk). The plan is api/posthog/zkplan.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "zkscale.h"

/* A write that a quorum must commit: before a step it shows the ensemble
 * healthy, after it that the new configuration is active (ZooKeeper's
 * manual, "Progress guarantees": invoke an update and wait for it to
 * commit). */
static int quorum_write(struct zk *z, const struct ph_zk_step *st, const char *when,
			char *err, size_t errlen)
{
	char data[64];

	snprintf(data, sizeof(data), "%s %s %d", when,
		 st->action == PH_ZK_ADD ? "add" : "remove", st->id);
	return zk_put(z, PHC_ZK_PROBE_PATH, data, err, errlen);
}

static int reconfig(struct zk *z, const struct phc_zk_scale *s, const struct zk_config *cfg,
		    const struct ph_zk_step *st, char *err, size_t errlen)
{
	char joining[512] = "", leaving[16] = "";
	int r;

	if (st->action == PH_ZK_ADD) {
		r = s->server(st->id, s->userdata, joining, sizeof(joining));
		if (r < 0) {
			snprintf(err, errlen, "no server statement for server %d", st->id);
			return r;
		}
	} else {
		snprintf(leaving, sizeof(leaving), "%d", st->id);
	}
	r = quorum_write(z, st, "before", err, errlen);
	if (r == 0)
		r = zk_reconfig(z, joining[0] ? joining : NULL, leaving[0] ? leaving : NULL,
				cfg->version, NULL, err, errlen);
	if (r == 0)
		r = quorum_write(z, st, "after", err, errlen);
	return r;
}

int phc_zk_scale_step(const struct phc_zk_scale *s, struct ph_zk_step *step, char *err,
		     size_t errlen)
{
	struct zk_config *cfg = util_xcalloc(1, sizeof(*cfg));
	struct ph_zk_step st = {0};
	struct zk *z = NULL;
	char *text = NULL;
	int r;

	r = zk_open(s->hosts, 10000, s->wait_ms, &z, err, errlen);
	if (r == 0)
		r = zk_get_config(z, &text, err, errlen);
	if (r == 0)
		r = zk_config_parse(text, cfg, err, errlen);
	if (r == 0) {
		r = ph_zk_plan(cfg, s->pods, s->ready, s->want, &st);
		if (r < 0)
			snprintf(err, errlen, "%s", st.why);
	}
	if (r == 0 && (st.action == PH_ZK_ADD || st.action == PH_ZK_REMOVE))
		r = reconfig(z, s, cfg, &st, err, errlen);
	if (r == 0)
		*step = st;
	free(text);
	free(cfg);
	zk_close(z);
	return r;
}
