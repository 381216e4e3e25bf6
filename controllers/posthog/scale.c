/*
 * Membership changes of the stateful components, run before their stage's
 * apply (docs/scaling.md): the StatefulSet's replicas follow the steps,
 * not the spec directly.
 *
 * ZooKeeper: one member at a time through dynamic reconfiguration
 * (zkscale.h). The operator reaches the ensemble only while a change is
 * under way (live replicas or the recorded members differ from the spec),
 * so a steady PostHog opens no ZooKeeper session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller-private.h"
#include "zkscale.h"

/* How soon a change in progress is looked at again when no watch event
 * may come (a reconfig commits without touching any Kubernetes object). */
#define PHC_SCALE_POLL_MS 3000

/* The desired object of kind in stage named name, or NULL. Borrowed. */
cJSON *phc_desired_object(struct phc_run *run, const char *stage, const char *kind,
			  const char *name)
{
	cJSON *entry;

	cJSON_ArrayForEach(entry, run->desired) {
		cJSON *obj = cJSON_GetObjectItemCaseSensitive(entry, "object");
		const char *s = util_json_str(entry, "stage");

		if (s && !strcmp(s, stage) && util_json_str(obj, "kind") && !strcmp(util_json_str(obj, "kind"), kind) &&
		    !strcmp(util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"), name))
			return obj;
	}
	return NULL;
}

void phc_set_replicas(cJSON *obj, int replicas)
{
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");

	cJSON_DeleteItemFromObjectCaseSensitive(spec, "replicas");
	cJSON_AddNumberToObject(spec, "replicas", replicas);
}

/* Pods of a live StatefulSet that are ready at its current revision
 * (0 while its controller has not observed the latest spec). */
int phc_sts_ready(const cJSON *live)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(live, "metadata");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(live, "status");
	int ready = (int)util_json_num(st, "readyReplicas", 0);
	int updated = (int)util_json_num(st, "updatedReplicas", 0);

	if (util_json_num(st, "observedGeneration", 0) < util_json_num(meta, "generation", 0))
		return 0;
	return ready < updated ? ready : updated;
}

static int zk_server(int id, void *userdata, char *out, size_t outsz)
{
	return ph_zookeeper_server(userdata, id, false, out, outsz);
}

static int recorded_members(const struct phc_run *run)
{
	const cJSON *zk = util_json_get(run->status, "components.zookeeper");

	return (int)util_json_num(zk, "members", 0);
}

static void zk_progress(struct phc_scale *sc, const struct ph_zk_step *st)
{
	sc->zk_members = st->members + (st->action == PH_ZK_ADD) - (st->action == PH_ZK_REMOVE);
	sc->settled = st->action == PH_ZK_DONE;
	snprintf(sc->message, sizeof(sc->message), "ZooKeeper membership: %s", st->why);
}

static int scale_zookeeper(struct phc_run *run, struct phc_scale *sc)
{
	int want = (int)util_json_num(cJSON_GetObjectItemCaseSensitive(run->spec, "zookeeper"), "replicas", 3);
	char name[96], hosts[320], err[900] = "";
	struct phc_zk_scale s = {.want = want, .server = zk_server, .userdata = (void *)run->name,
				.wait_ms = 5000, .hosts = hosts};
	struct ph_zk_step st = {0};
	cJSON *live, *desired;
	int recorded = recorded_members(run), r;

	sc->zk_members = recorded;
	if (ph_is_external(run->spec, "zookeeper") ||
	    ph_child_name(run->name, "zookeeper", name, sizeof(name)) < 0)
		return 0;
	live = informer_get(run->scope->children[PHC_STATEFULSET], run->ns, name);
	desired = phc_desired_object(run, "zookeeper", "StatefulSet", name);
	if (!live || !desired) {
		cJSON_Delete(live);
		return 0; /* a fresh ensemble starts with the spec's members */
	}
	s.pods = (int)util_json_num(cJSON_GetObjectItemCaseSensitive(live, "spec"), "replicas", 1);
	s.ready = phc_sts_ready(live);
	cJSON_Delete(live);
	if (s.pods == want && (recorded == 0 || recorded == want))
		return 0;
	snprintf(hosts, sizeof(hosts), "%s-zookeeper.%s.svc:%d", run->name, run->ns,
		 PH_ZOOKEEPER_CLIENT_PORT);
	r = phc_zk_scale_step(&s, &st, err, sizeof(err));
	phc_set_replicas(desired, s.pods);
	if (r == -EAGAIN || r == -EBUSY || r == -ETIMEDOUT || r == -ESTALE || r == -EHOSTUNREACH) {
		/* The ensemble is between states: look again soon. */
		sc->settled = false;
		snprintf(sc->message, sizeof(sc->message), "ZooKeeper membership: %s", err);
		phc_requeue(run, PHC_SCALE_POLL_MS);
		return 0;
	}
	if (r < 0) {
		sc->settled = false;
		sc->fail_reason = "ZooKeeperReconfigFailed";
		snprintf(sc->message, sizeof(sc->message), "ZooKeeper membership %d -> %d: %s",
			 recorded ? recorded : s.pods, want, err);
		log_write(run->p->log, LOG_ERROR, &run->lf, "%s", sc->message);
		return r;
	}
	if (st.action == PH_ZK_SCALE || st.action == PH_ZK_DONE)
		phc_set_replicas(desired, st.replicas);
	if (st.action == PH_ZK_ADD || st.action == PH_ZK_REMOVE)
		log_write(run->p->log, LOG_INFO, &run->lf, "zookeeper reconfig: %s", st.why);
	zk_progress(sc, &st);
	if (!sc->settled)
		phc_requeue(run, PHC_SCALE_POLL_MS);
	return 0;
}

int phc_scale_prepare(struct phc_run *run, const char *stage, struct phc_scale *sc)
{
	sc->settled = true;
	sc->message[0] = '\0';
	sc->fail_reason = NULL;
	if (!strcmp(stage, "zookeeper"))
		return scale_zookeeper(run, sc);
	if (!strcmp(stage, "kafka"))
		return phc_scale_kafka(run, sc);
	return 0;
}

/* The last completed move, kept in status until the next one replaces it.
 * A stage behind a closed gate took no step: the last move stays as the
 * PostHog's status had it. */
static void record_last_move(const struct phc_run *run, const struct phc_scale *sc,
			     cJSON *component)
{
	const cJSON *was = util_json_get(run->ph, "status.components.kafka");
	const char *job = sc->last_move_job[0] ? sc->last_move_job : util_json_str(was, "lastMoveJob");
	const char *what = sc->last_move_job[0] ? sc->last_move : util_json_str(was, "lastMove");

	if (!job)
		return;
	cJSON_AddStringToObject(component, "lastMove", what ? what : "");
	cJSON_AddStringToObject(component, "lastMoveJob", job);
}

void phc_scale_record(const struct phc_run *run, const char *stage, cJSON *component)
{
	const struct phc_scale *sc = &run->scale;

	if (!strcmp(stage, "zookeeper") && sc->zk_members > 0)
		cJSON_AddNumberToObject(component, "members", sc->zk_members);
	if (!strcmp(stage, "kafka")) {
		if (sc->kafka_controllers >= 0)
			cJSON_AddNumberToObject(component, "controllers", sc->kafka_controllers);
		if (sc->kafka_brokers >= 0)
			cJSON_AddNumberToObject(component, "brokers", sc->kafka_brokers);
		if (sc->reassignment[0])
			cJSON_AddStringToObject(component, "reassignment", sc->reassignment);
		if (sc->reassignment_job[0])
			cJSON_AddStringToObject(component, "reassignmentJob", sc->reassignment_job);
		record_last_move(run, sc, component);
	}
}
