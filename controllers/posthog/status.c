/*
 * Conditions in the metav1.Condition shape. A condition's
 * lastTransitionTime moves only when its status changes, so that tools
 * reading it (kubectl wait, Argo CD, alerting on "Ready false for 10 m")
 * see real transitions, and a steady state writes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller-private.h"

const cJSON *phc_condition(const cJSON *conds, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, conds) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");

		if (cJSON_IsString(t) && !strcmp(t->valuestring, type))
			return c;
	}
	return NULL;
}

static void set_str(cJSON *obj, const char *key, const char *val)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddStringToObject(obj, key, val);
}

void phc_set_condition(cJSON *conds, const char *type, const char *status,
		       const char *reason, const char *message,
		       int64_t generation, const char *now)
{
	cJSON *c = (cJSON *)phc_condition(conds, type);
	const cJSON *old;

	if (!c) {
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "type", type);
		cJSON_AddItemToArray(conds, c);
	}
	old = cJSON_GetObjectItemCaseSensitive(c, "status");
	if (!cJSON_IsString(old) || strcmp(old->valuestring, status) != 0 ||
	    !cJSON_GetObjectItemCaseSensitive(c, "lastTransitionTime"))
		set_str(c, "lastTransitionTime", now);
	set_str(c, "status", status);
	set_str(c, "reason", reason);
	set_str(c, "message", message ? message : "");
	cJSON_DeleteItemFromObjectCaseSensitive(c, "observedGeneration");
	cJSON_AddNumberToObject(c, "observedGeneration", (double)generation);
}

/* ---- the whole status ---------------------------------------------------- */

static bool cond_true(const cJSON *conds, const char *type)
{
	const char *s = util_json_str(phc_condition(conds, type), "status");

	return s && !strcmp(s, "True");
}

/* The message of the first component condition that is not True. */
static const char *first_waiting(const cJSON *conds)
{
	static const char *const order[] = {
		"ZooKeeperReady", "KafkaReady", "ClickHouseReady", "TopicsReady",
		"SchemaReady", "PluginServersReady",
	};

	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		const cJSON *c = phc_condition(conds, order[i]);

		if (c && !cond_true(conds, order[i]))
			return util_json_str(c, "message");
	}
	return "reconciling";
}

static void put_str(cJSON *obj, const char *key, const char *val)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddStringToObject(obj, key, val ? val : "");
}

static void put_num(cJSON *obj, const char *key, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddNumberToObject(obj, key, v);
}

static bool all_ready(const struct phc_run *run)
{
	static const char *const need[] = {
		"ZooKeeperReady", "KafkaReady", "ClickHouseReady", "TopicsReady",
		"SchemaReady", "PluginServersReady",
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(*need); i++)
		if (!cond_true(run->conds, need[i]))
			return false;
	return true;
}

static unsigned buckets_ready(const struct phc_run *run)
{
	unsigned n = 0;

	for (unsigned b = 0; run->bucket_ready && b < run->buckets; b++)
		n += run->bucket_ready[b];
	return n;
}

const char *phc_phase(bool ready, bool failed, const char *reason, const cJSON *old_status)
{
	const char *was = util_json_str(old_status, "phase");
	bool was_ready = was && (!strcmp(was, "Ready") || !strcmp(was, "Degraded"));

	if (ready)
		return "Ready";
	if (failed) {
		/* Degraded means "was ready, is not": a PostHog that never was
		 * is Failed, as is a spec that cannot be applied. */
		if (!reason || !strcmp(reason, "InvalidSpec") || !strcmp(reason, "UnsafeChange"))
			return "Failed";
		return was_ready ? "Degraded" : "Failed";
	}
	return old_status ? "Progressing" : "Pending";
}

static void summarize(struct phc_run *run)
{
	const cJSON *deg = phc_condition(run->conds, "Degraded");
	bool ready = !run->failed && all_ready(run);
	const char *phase;
	char ready_col[32];

	if (run->failed) {
		phc_set_condition(run->conds, "Ready", "False", util_json_str(deg, "reason"),
				  util_json_str(deg, "message"), run->generation, run->now);
	} else {
		phc_set_condition(run->conds, "Degraded", "False", "AsExpected", "",
				  run->generation, run->now);
		phc_set_condition(run->conds, "Ready", ready ? "True" : "False",
				  ready ? "Ready" : "Progressing",
				  ready ? "all components and buckets are ready" : first_waiting(run->conds),
				  run->generation, run->now);
	}
	phc_set_condition(run->conds, "Progressing", !ready && !run->failed ? "True" : "False",
			  ready ? "Complete" : run->failed ? "Degraded" : "Reconciling",
			  ready ? "" : run->failed ? "blocked by the Degraded condition" : first_waiting(run->conds),
			  run->generation, run->now);
	deg = phc_condition(run->conds, "Degraded");
	phase = phc_phase(ready, run->failed, util_json_str(deg, "reason"),
			  cJSON_GetObjectItemCaseSensitive(run->ph, "status"));
	put_str(run->status, "phase", phase);
	put_num(run->status, "observedGeneration", (double)run->generation);
	put_str(run->status, "version", util_json_str(run->spec, "version"));
	snprintf(ready_col, sizeof(ready_col), "%u/%u", buckets_ready(run), run->buckets);
	put_str(run->status, "ready", ready_col);
}

static void record_events(struct phc_run *run, const cJSON *old)
{
	const cJSON *oc = cJSON_GetObjectItemCaseSensitive(old, "conditions");
	bool was = cond_true(oc, "Ready"), is = cond_true(run->conds, "Ready");
	bool was_deg = cond_true(oc, "Degraded"), is_deg = cond_true(run->conds, "Degraded");
	int old_b = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(old, "buckets"));
	const cJSON *deg = phc_condition(run->conds, "Degraded");

	if (is && !was)
		recorder_event(run->p->recorder, run->ph, "Normal", "Ready", "Reconcile",
			       "all components and %u buckets are ready", run->buckets);
	if (was && !is && !is_deg)
		recorder_event(run->p->recorder, run->ph, "Normal", "Progressing", "Reconcile",
			       "%s", first_waiting(run->conds));
	if (is_deg && (!was_deg || strcmp(util_json_str(phc_condition(oc, "Degraded"), "message") ? util_json_str(phc_condition(oc, "Degraded"), "message") : "",
					   util_json_str(deg, "message"))))
		recorder_event(run->p->recorder, run->ph, "Warning", util_json_str(deg, "reason"), "Reconcile",
			       "%s", util_json_str(deg, "message"));
	if (old && old_b && (unsigned)old_b != run->buckets && !run->failed)
		recorder_event(run->p->recorder, run->ph, "Normal",
			       (unsigned)old_b < run->buckets ? "BucketsAdded" : "BucketsRemoved",
			       "Scale", "buckets %d -> %u", old_b, run->buckets);
}

/* The components with a readiness condition: metric label, condition. */
static const char *const component_conds[][2] = {
	{"zookeeper", "ZooKeeperReady"}, {"kafka", "KafkaReady"},
	{"clickhouse", "ClickHouseReady"}, {"pluginServer", "PluginServersReady"},
};

/* A bucket's plugin-server replicas as status.buckets[] counts them
 * (reconcile.c count_deployment: spec.replicas and availableReplicas of the
 * ingestion and async Deployments). */
static void record_bucket_replicas(struct phc_run *run, unsigned b, const char *bs)
{
	static const char *const roles[] = {"ingestion", "async"};
	const cJSON *e, *bucket = NULL;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(run->status, "buckets"))
		if (util_json_num(e, "bucket", -1) == (double)b)
			bucket = e;
	for (size_t i = 0; bucket && i < 2; i++) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(bucket, roles[i]);
		const char *l[] = {"namespace", run->ns, "name", run->name, "bucket", bs,
				   "role", roles[i], NULL};

		if (!cJSON_IsObject(d))
			continue;
		metrics_gauge_set(run->p->metrics, "posthog_plugin_server_replicas",
				  "Desired plugin-server replicas of a bucket's Deployment, by role.",
				  l, util_json_num(d, "replicas", 0));
		metrics_gauge_set(run->p->metrics, "posthog_plugin_server_available_replicas",
				  "Available plugin-server replicas of a bucket's Deployment, by role.",
				  l, util_json_num(d, "readyReplicas", 0));
	}
}

static void record_metrics(struct phc_run *run)
{
	const char *labels[] = {"namespace", run->ns, "name", run->name, NULL};

	metrics_gauge_set(run->p->metrics, "posthog_ready",
			  "1 when the PostHog's Ready condition is True.", labels,
			  cond_true(run->conds, "Ready"));
	for (size_t i = 0; i < sizeof(component_conds) / sizeof(component_conds[0]); i++) {
		const char *cl[] = {"namespace", run->ns, "name", run->name,
				    "component", component_conds[i][0], NULL};

		metrics_gauge_set(run->p->metrics, "posthog_component_ready",
				  "1 when the component's condition (ZooKeeperReady, KafkaReady, "
				  "ClickHouseReady, PluginServersReady) is True.", cl,
				  cond_true(run->conds, component_conds[i][1]));
	}
	for (unsigned b = 0; run->bucket_ready && b < run->buckets; b++) {
		char bs[16];
		const char *bl[] = {"namespace", run->ns, "name", run->name, "bucket", bs, NULL};

		snprintf(bs, sizeof(bs), "%u", b);
		metrics_gauge_set(run->p->metrics, "posthog_bucket_ready",
				  "1 when the bucket's plugin-servers are available.", bl,
				  run->bucket_ready[b]);
		record_bucket_replicas(run, b, bs);
	}
}

int phc_finish_status(struct phc_run *run)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(run->ph, "status");
	struct kube_status st = {0};
	cJSON *obj;
	int r;

	summarize(run);
	record_metrics(run);
	/* Creations are reported even when the status stays the same, as when
	 * a deleted child is restored. */
	if (run->created)
		recorder_event(run->p->recorder, run->ph, "Normal", "Created", "Create",
			       "created %u objects: %s%s", run->created, run->created_names,
			       run->created > 8 ? ", ..." : "");
	if (old && cJSON_Compare(old, run->status, 1))
		return 0;
	obj = cJSON_Duplicate(run->ph, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	cJSON_AddItemReferenceToObject(obj, "status", run->status);
	r = kube_update(run->p->client, &run->p->posthog_res, run->ns, run->name, "status",
			obj, NULL, &st);
	cJSON_Delete(obj);
	if (r < 0 && r != KUBE_ECONFLICT && r != -ENOENT)
		log_write(run->p->log, LOG_WARN, &run->lf, "status update: %s",
			  st.message[0] ? st.message : kube_strerror(r));
	/* Transitions are told once they are recorded: a refused write (a
	 * 409 brings the reconcile back) would otherwise repeat them. */
	if (r == 0)
		record_events(run, old);
	return r == -ENOENT ? 0 : r;
}
