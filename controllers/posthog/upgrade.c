/*
 * The restart step: one pod at a time across ZooKeeper, Kafka and
 * ClickHouse, each restarted pod gated on its system's health before the
 * next (upgrade.h; the plan itself is pure, upgrade_plan.c). The
 * StatefulSets use OnDelete, so the pods restart only when this step
 * deletes them; the StatefulSet controller recreates each with the update
 * revision.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller-private.h"
#include "pkg/util/util.h"
#include "upgrade.h"

#define PHC_UP_MAX_PODS 512
/* How often a plan in progress looks again: health is not watched. */
#define PHC_UP_POLL_MS 3000

int phc_upgrade_parse_gates(const char *s, unsigned *out)
{
	unsigned g = 0;

	if (!strcmp(s, "all")) {
		*out = (1u << PHC_UP_NCOMPONENTS) - 1;
		return 0;
	}
	if (!strcmp(s, "none")) {
		*out = 0;
		return 0;
	}
	while (*s) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		int c;

		for (c = 0; c < PHC_UP_NCOMPONENTS; c++)
			if (strlen(phc_upgrade_component_name(c)) == l &&
			    !strncmp(s, phc_upgrade_component_name(c), l))
				break;
		if (c == PHC_UP_NCOMPONENTS)
			return -EINVAL;
		g |= 1u << c;
		s += l + (e ? 1 : 0);
	}
	*out = g;
	return 0;
}

static int component_of_stage(const char *stage)
{
	for (int c = 0; stage && c < PHC_UP_NCOMPONENTS; c++)
		if (!strcmp(stage, phc_upgrade_component_name(c)))
			return c;
	return -1;
}

static cJSON *upgrade_status(struct phc_run *run)
{
	cJSON *u = cJSON_GetObjectItemCaseSensitive(run->status, "upgrade");

	if (!cJSON_IsObject(u)) {
		cJSON_DeleteItemFromObjectCaseSensitive(run->status, "upgrade");
		u = cJSON_AddObjectToObject(run->status, "upgrade");
	}
	return u;
}

static void put(cJSON *o, const char *key, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (v && v[0])
		cJSON_AddStringToObject(o, key, v);
}

/* The track of one StatefulSet from status.upgrade.revisions, updated with
 * its update revision, and written back. */
static bool track(cJSON *u, const char *sts, const char *update_rev, const char *old_rev)
{
	cJSON *revs = cJSON_GetObjectItemCaseSensitive(u, "revisions");
	cJSON *e;
	struct phc_up_track t = {0};

	if (!cJSON_IsObject(revs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(u, "revisions");
		revs = cJSON_AddObjectToObject(u, "revisions");
	}
	e = cJSON_GetObjectItemCaseSensitive(revs, sts);
	snprintf(t.from, sizeof(t.from), "%s", util_json_str(e, "from") ? util_json_str(e, "from") : "");
	snprintf(t.to, sizeof(t.to), "%s", util_json_str(e, "to") ? util_json_str(e, "to") : "");
	t.rollback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "rollback"));
	phc_upgrade_track(&t, update_rev, old_rev);
	cJSON_DeleteItemFromObjectCaseSensitive(revs, sts);
	e = cJSON_AddObjectToObject(revs, sts);
	cJSON_AddStringToObject(e, "from", t.from);
	cJSON_AddStringToObject(e, "to", t.to);
	cJSON_AddBoolToObject(e, "rollback", t.rollback);
	return t.rollback;
}

/* The shard of a ClickHouse StatefulSet "<ph>-clickhouse-<shard>". */
static int shard_of(const char *ph, const char *sts)
{
	size_t l = strlen(ph);
	const char *p = sts + l;
	long v = 0;

	if (strncmp(sts, ph, l) || strncmp(p, "-clickhouse-", 12))
		return 0;
	for (p += 12; *p >= '0' && *p <= '9' && v < 100000; p++)
		v = v * 10 + (*p - '0');
	return (int)v;
}

struct gather {
	struct phc_up_pod *pods; /* cap entries */
	size_t n, cap;
	bool rollback[PHC_UP_NCOMPONENTS];
	bool outdated;
	char waiting[400]; /* a StatefulSet whose controller has not caught up */
};

/* Whether sts is "<ph>-kafka-controller", the KRaft quorum's StatefulSet
 * (api/posthog/build_kafka.c). */
static bool is_kafka_controller(const char *ph, const char *sts)
{
	size_t l = strlen(ph);

	return !strncmp(sts, ph, l) && !strcmp(sts + l, "-kafka-controller");
}

/* Since when a pod that is not Ready has not been: its Ready condition's
 * lastTransitionTime, else its creationTimestamp; 0 when neither parses. */
static int64_t unready_since(const cJSON *pod)
{
	const cJSON *c;
	const char *t = NULL;
	time_t v = 0;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(pod, "status"), "conditions")) {
		const char *type = util_json_str(c, "type");

		if (type && !strcmp(type, "Ready"))
			t = util_json_str(c, "lastTransitionTime");
	}
	if (!t)
		t = util_json_get_str(pod, "metadata.creationTimestamp", NULL);
	if (!t || kube_parse_rfc3339(t, &v) < 0)
		return 0;
	return (int64_t)v;
}

/* The pods of one live StatefulSet into g; pods is the listed Pods, or
 * NULL when the StatefulSet is settled (phc_upgrade_sts_settled: its
 * status alone tells). */
static void gather_sts(struct phc_run *run, cJSON *u, int comp, const cJSON *sts,
		       const cJSON *pods, struct gather *g)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(sts, "metadata");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(sts, "status");
	const char *name = util_json_str(meta, "name");
	const char *rev = util_json_str(st, "updateRevision");
	int replicas = (int)util_json_num(cJSON_GetObjectItemCaseSensitive(sts, "spec"), "replicas", 1);
	const char *old_rev = NULL;
	bool all_ready = util_json_num(st, "readyReplicas", 0) == replicas;

	if (!rev || util_json_num(st, "observedGeneration", 0) < util_json_num(meta, "generation", 0)) {
		snprintf(g->waiting, sizeof(g->waiting),
			 "waiting for the StatefulSet controller to observe %s", name);
		return;
	}
	for (int o = 0; o < replicas && g->n < g->cap; o++) {
		struct phc_up_pod *p = &g->pods[g->n++];
		const cJSON *pod, *pm;
		const char *h;

		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s-%d", name, o);
		p->component = comp;
		p->ordinal = o;
		p->shard = comp == PHC_UP_CLICKHOUSE ? shard_of(run->name, name) : 0;
		p->voter = comp == PHC_UP_KAFKA && is_kafka_controller(run->name, name);
		if (!pods) {
			/* phc_upgrade_sts_settled(): each pod exists on rev. Which
			 * are Ready is known only when all are. */
			p->exists = p->updated = true;
			p->ready = p->healthy = all_ready;
			continue;
		}
		pod = kube_list_find(pods, p->name);
		pm = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
		p->exists = pod && !cJSON_GetObjectItemCaseSensitive(pm, "deletionTimestamp");
		snprintf(p->uid, sizeof(p->uid), "%s", util_json_str(pm, "uid") ? util_json_str(pm, "uid") : "");
		h = util_json_str(cJSON_GetObjectItemCaseSensitive(pm, "labels"), "controller-revision-hash");
		p->updated = h && !strcmp(h, rev);
		p->ready = p->exists && kube_pod_ready(pod);
		if (p->exists && !p->ready)
			p->unready_since = unready_since(pod);
		p->healthy = p->ready;
		if (p->exists && !p->updated) {
			g->outdated = true;
			old_rev = h;
		}
	}
	g->rollback[comp] = track(u, name, rev, old_rev) || g->rollback[comp];
}

static int list_pods(struct phc_run *run, cJSON **out)
{
	struct kube_resource res = {.version = "v1", .resource = "pods", .kind = "Pod",
				    .namespaced = true};
	struct kube_list_options lo = {0};
	struct kube_status st = {0};
	char sel[256];
	int r;

	snprintf(sel, sizeof(sel), "%s=%s", PH_LABEL_INSTANCE, run->name);
	lo.label_selector = sel;
	r = kube_list(run->p->client, &res, run->ns, &lo, out, &st);
	if (r < 0)
		log_write(run->p->log, LOG_ERROR, &run->lf, "listing the stateful pods: %s",
			  st.message[0] ? st.message : kube_strerror(r));
	return r;
}

/* Deletes exactly the Pod object the plan looked at (a UID
 * precondition): a pod recreated since under the same name is not
 * touched. Returns 0, 1 when that object is gone or replaced (nothing
 * deleted; the next reconcile decides again), or a negative errno. */
static int delete_pod(struct phc_run *run, const char *name, const char *uid)
{
	struct kube_resource res = {.version = "v1", .resource = "pods", .kind = "Pod",
				    .namespaced = true};
	struct kube_delete_options del = {.grace_period_seconds = -1,
					  .precondition_uid = uid && uid[0] ? uid : NULL};
	struct kube_status st = {0};
	int r = kube_delete(run->p->client, &res, run->ns, name, &del, &st);

	if (r == -ENOENT || r == KUBE_ECONFLICT) {
		log_write(run->p->log, LOG_INFO, &run->lf,
			  "upgrade: pod %s changed since it was read (%s); deciding again", name,
			  r == -ENOENT ? "gone" : "another object now");
		return 1;
	}
	if (r < 0)
		log_write(run->p->log, LOG_ERROR, &run->lf, "deleting pod %s for its restart: %s", name,
			  st.message[0] ? st.message : kube_strerror(r));
	return r;
}

/* Gathers the pods of the plan's StatefulSets into g. The pods are listed
 * only when a restart is in flight or a StatefulSet's status does not
 * show every pod on the update revision, so that a steady state, and an
 * install once its pods exist, ask the API server nothing.
 * Returns 0 or a negative errno (the list failed). */
static int gather(struct phc_run *run, cJSON *u, bool in_flight, struct gather *g)
{
	struct plan_sts {
		cJSON *live;
		int comp;
	} *sts = util_xcalloc((size_t)cJSON_GetArraySize(run->desired) + 1, sizeof(*sts));
	const cJSON *entry;
	cJSON *pods = NULL;
	bool list = in_flight;
	double want;
	size_t n = 0;
	int r = 0;

	cJSON_ArrayForEach(entry, run->desired) {
		const cJSON *obj = cJSON_GetObjectItemCaseSensitive(entry, "object");
		int comp = component_of_stage(util_json_str(entry, "stage"));

		if (comp < 0 || phc_kind_of(obj) != PHC_STATEFULSET)
			continue;
		sts[n].live = informer_get(run->scope->children[PHC_STATEFULSET], run->ns,
					   util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"));
		if (!sts[n].live)
			continue;
		sts[n].comp = comp;
		list = list || !phc_upgrade_sts_settled(sts[n].live);
		want = util_json_num(cJSON_GetObjectItemCaseSensitive(sts[n].live, "spec"), "replicas", 1);
		if (want > 0)
			g->cap += want < PHC_UP_MAX_PODS ? (size_t)want : PHC_UP_MAX_PODS;
		n++;
	}
	/* Sized by the StatefulSets' replicas, at most PHC_UP_MAX_PODS: a pod
	 * takes about 560 bytes, so the most would be 280 KB per reconcile. */
	if (g->cap > PHC_UP_MAX_PODS)
		g->cap = PHC_UP_MAX_PODS;
	g->pods = util_xcalloc(g->cap ? g->cap : 1, sizeof(*g->pods));
	if (list)
		r = list_pods(run, &pods);
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			gather_sts(run, u, sts[i].comp, sts[i].live, list ? pods : NULL, g);
		cJSON_Delete(sts[i].live);
	}
	cJSON_Delete(pods);
	free(sts);
	return r;
}

static void write_steps(cJSON *u, const struct gather *g, const struct phc_up_decision *d)
{
	cJSON *steps = cJSON_CreateArray();

	for (size_t i = 0; i < g->n; i++) {
		cJSON *s = cJSON_CreateObject();
		const char *state = g->pods[i].updated ? "Done" : "Pending";

		if ((int)i == d->pod && d->action == PHC_UP_HALT)
			state = "Halted";
		else if ((int)i == d->pod && (d->action == PHC_UP_RESTART || !strcmp(d->reason, "Restarting")))
			state = "Restarting";
		cJSON_AddStringToObject(s, "pod", g->pods[i].name);
		cJSON_AddStringToObject(s, "component", phc_upgrade_component_name(g->pods[i].component));
		cJSON_AddStringToObject(s, "state", state);
		cJSON_AddItemToArray(steps, s);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(u, "steps");
	cJSON_AddItemToObject(u, "steps", steps);
}

static void probe(struct phc_run *run, struct gather *g, bool *no_dq)
{
	unsigned gates = run->p->health_gates;

	*no_dq = false;
	if (gates & (1u << PHC_UP_ZOOKEEPER))
		phc_upgrade_probe_zookeeper(run, g->pods, g->n);
	if (gates & (1u << PHC_UP_KAFKA))
		phc_upgrade_probe_kafka(run, g->pods, g->n);
	if (gates & (1u << PHC_UP_CLICKHOUSE))
		phc_upgrade_probe_clickhouse(run, g->pods, g->n, no_dq);
}

static void set_halted(struct phc_run *run, bool halted, const char *msg)
{
	phc_set_condition(run->conds, "UpgradeHalted", halted ? "True" : "False",
			  halted ? "HealthCheckFailed" : "NotHalted", halted ? msg : "",
			  run->generation, run->now);
}

/* Acts on the decision: deletes the pod, remembers it, records Events. */
static int act(struct phc_run *run, cJSON *u, const struct gather *g,
	       const struct phc_up_decision *d, bool was_halted)
{
	const struct phc_up_pod *p = d->pod >= 0 ? &g->pods[d->pod] : NULL;
	int r = 0;

	if (d->gate_passed) {
		put(u, "pod", NULL);
		put(u, "restartedAt", NULL);
	}
	if (d->action == PHC_UP_RESTART) {
		r = delete_pod(run, p->name, p->uid);
		if (r < 0)
			return r;
		if (r == 1) {
			phc_requeue(run, 1000);
			return 0;
		}
		put(u, "pod", p->name);
		put(u, "restartedAt", run->now);
		recorder_event(run->p->recorder, run->ph, "Normal", "RestartingPod", "Upgrade",
			       "restarting %s (%s%s, step %d of %zu)", p->name,
			       phc_upgrade_component_name(p->component),
			       p->component == PHC_UP_ZOOKEEPER ? (p->leader ? " leader" : " follower") : "",
			       d->pod + 1, g->n);
		log_write(run->p->log, LOG_INFO, &run->lf, "upgrade: %s", d->message);
	}
	if (d->action == PHC_UP_HALT && !was_halted) {
		recorder_event(run->p->recorder, run->ph, "Warning", "UpgradeHalted", "Upgrade", "%s",
			       d->message);
		log_write(run->p->log, LOG_WARN, &run->lf, "upgrade: %s", d->message);
	}
	return 0;
}

#define M_PODS "posthog_upgrade_pods"
#define M_PODS_HELP "ZooKeeper, Kafka and ClickHouse pods in the PostHog's restart plan."
#define M_UPDATED "posthog_upgrade_pods_updated"
#define M_UPDATED_HELP "Pods of the restart plan that run their StatefulSet's update revision."
#define M_UPHASE "posthog_upgrade_phase"
#define M_UPHASE_HELP "1 for the phase of the PostHog's upgrade (status.upgrade.phase)."
#define M_WAITING "posthog_upgrade_buckets_waiting"
#define M_WAITING_HELP "Plugin-server buckets whose rollout waits for an earlier bucket."

void phc_upgrade_declare_metrics(struct metrics *m)
{
	/* On /metrics before the first upgrade, for the dashboard. */
	(void)metrics_gauge_declare(m, M_PODS, M_PODS_HELP);
	(void)metrics_gauge_declare(m, M_UPDATED, M_UPDATED_HELP);
	(void)metrics_gauge_declare(m, M_UPHASE, M_UPHASE_HELP);
	(void)metrics_gauge_declare(m, M_WAITING, M_WAITING_HELP);
}

void phc_upgrade_record_waiting(struct phc_run *run, unsigned waiting)
{
	const char *l[] = {"namespace", run->ns, "name", run->name, NULL};

	metrics_gauge_set(run->p->metrics, M_WAITING, M_WAITING_HELP, l, waiting);
}

/* The plan's size, progress and phase; g is NULL while a StatefulSet's
 * controller has not caught up (the counts are not known then). */
static void record_metrics(struct phc_run *run, const struct gather *g, const char *phase)
{
	static const char *const phases[] = {"Idle", "Progressing", "Complete", "Halted"};
	const char *l[] = {"namespace", run->ns, "name", run->name, NULL};
	size_t updated = 0;

	if (g) {
		for (size_t i = 0; i < g->n; i++)
			updated += g->pods[i].updated;
		metrics_gauge_set(run->p->metrics, M_PODS, M_PODS_HELP, l, (double)g->n);
		metrics_gauge_set(run->p->metrics, M_UPDATED, M_UPDATED_HELP, l, (double)updated);
	}
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		const char *pl[] = {"namespace", run->ns, "name", run->name, "phase", phases[i], NULL};

		metrics_gauge_set(run->p->metrics, M_UPHASE, M_UPHASE_HELP, pl, !strcmp(phase, phases[i]));
	}
}

static const char *phase_of(const struct phc_up_decision *d, const char *old)
{
	switch (d->action) {
	case PHC_UP_HALT:
		return "Halted";
	case PHC_UP_DONE:
		return old && strcmp(old, "Idle") ? "Complete" : "Idle";
	default:
		return "Progressing";
	}
}

int phc_upgrade_step(struct phc_run *run, unsigned *holds)
{
	cJSON *u = upgrade_status(run);
	struct gather g = {0};
	struct phc_up_state st = {0};
	struct phc_up_decision d;
	const char *old_phase = util_json_str(u, "phase");
	bool was_halted = old_phase && !strcmp(old_phase, "Halted"), no_dq = false;
	time_t since = 0;
	int r;

	*holds = 0;
	snprintf(st.pod, sizeof(st.pod), "%s", util_json_str(u, "pod") ? util_json_str(u, "pod") : "");
	if (util_json_str(u, "restartedAt") && kube_parse_rfc3339(util_json_str(u, "restartedAt"), &since) == 0)
		st.since = since;
	if ((r = gather(run, u, st.pod[0], &g)) < 0)
		goto out;
	if (g.waiting[0]) {
		put(u, "phase", "Progressing");
		put(u, "reason", "WaitingForStatefulSet");
		put(u, "message", g.waiting);
		record_metrics(run, NULL, "Progressing");
		phc_requeue(run, PHC_UP_POLL_MS);
		goto out;
	}
	/* Steady state: nothing to restart, nothing in flight; no server is
	 * asked anything. */
	if (g.outdated || st.pod[0])
		probe(run, &g, &no_dq);
	phc_upgrade_order(g.pods, g.n, g.rollback);
	phc_upgrade_decide(g.pods, g.n, &st, (int64_t)time(NULL), run->p->restart_timeout_s, &d);
	*holds = phc_upgrade_holds(g.pods, g.n, &st, &d);
	r = act(run, u, &g, &d, was_halted);
	put(u, "phase", phase_of(&d, old_phase));
	record_metrics(run, &g, util_json_str(u, "phase"));
	put(u, "reason", d.reason);
	/* Said, not hidden: an older ClickHouse (18.16) has no
	 * system.distribution_queue, so that part of its gate is skipped. */
	if (no_dq && d.action != PHC_UP_DONE)
		snprintf(d.message + strlen(d.message), sizeof(d.message) - strlen(d.message),
			 " (ClickHouse has no system.distribution_queue here; that check is skipped)");
	put(u, "message", d.message);
	write_steps(u, &g, &d);
	set_halted(run, d.action == PHC_UP_HALT, d.message);
	if (d.action != PHC_UP_DONE)
		phc_requeue(run, d.action == PHC_UP_HALT ? PHC_POLL_MS : PHC_UP_POLL_MS);
out:
	free(g.pods);
	return r;
}
