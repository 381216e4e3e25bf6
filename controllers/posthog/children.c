/*
 * Applying and pruning the PostHog's child objects.
 *
 * A child is written only when the cached live object does not already
 * hold the desired state, so that a steady-state reconcile (and every
 * resync) makes no write at all. "Holds" is a subset test: the server adds
 * defaults and status, which do not matter. A field the operator stops
 * setting would pass the subset test, so every desired object carries a
 * hash of itself in an annotation: a changed desired state changes the hash,
 * which fails the test and triggers one server-side apply.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller-private.h"

static const struct {
	const char *api_version;
	const char *kind;
} kinds[PHC_NKINDS] = {
	[PHC_CONFIGMAP] = {"v1", "ConfigMap"},
	[PHC_SERVICE] = {"v1", "Service"},
	[PHC_STATEFULSET] = {"apps/v1", "StatefulSet"},
	[PHC_DEPLOYMENT] = {"apps/v1", "Deployment"},
	[PHC_JOB] = {"batch/v1", "Job"},
	[PHC_PDB] = {"policy/v1", "PodDisruptionBudget"},
	[PHC_HPA] = {"autoscaling/v2", "HorizontalPodAutoscaler"},
};

int phc_kind_of(const cJSON *obj)
{
	const char *av = util_json_str(obj, "apiVersion"), *kind = util_json_str(obj, "kind");

	for (int k = 0; av && kind && k < PHC_NKINDS; k++)
		if (!strcmp(av, kinds[k].api_version) && !strcmp(kind, kinds[k].kind))
			return k;
	return -1;
}

bool phc_is_subset(const cJSON *want, const cJSON *have)
{
	if (!have)
		return false;
	if (cJSON_IsObject(want)) {
		if (!cJSON_IsObject(have))
			return false;
		for (const cJSON *w = want->child; w; w = w->next)
			if (!phc_is_subset(w, cJSON_GetObjectItemCaseSensitive(have, w->string)))
				return false;
		return true;
	}
	if (cJSON_IsArray(want)) {
		const cJSON *h;

		if (!cJSON_IsArray(have) ||
		    cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
			return false;
		h = have->child;
		for (const cJSON *w = want->child; w; w = w->next, h = h->next)
			if (!phc_is_subset(w, h))
				return false;
		return true;
	}
	if (cJSON_IsNumber(want))
		return cJSON_IsNumber(have) && want->valuedouble == have->valuedouble;
	if (cJSON_IsString(want))
		return cJSON_IsString(have) && !strcmp(want->valuestring, have->valuestring);
	if (cJSON_IsBool(want))
		return cJSON_IsBool(have) && cJSON_IsTrue(want) == cJSON_IsTrue(have);
	return cJSON_IsNull(have);
}

/* FNV-1a over the compact JSON, from the basis this operator has always
 * used (1469598103934665603, a digit short of FNV's published one): the
 * hash is stored in every child's desired-hash annotation, so another
 * basis would re-apply every child once after an upgrade. */
#define PHC_HASH_BASIS 1469598103934665603ULL

void phc_hash(const cJSON *obj, char out[17])
{
	char *text = util_nn(cJSON_PrintUnformatted(obj));
	uint64_t h = util_fnv1a64_add(PHC_HASH_BASIS, text, strlen(text));

	free(text);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static cJSON *ensure_object(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);

	if (!cJSON_IsObject(o)) {
		cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
		o = cJSON_AddObjectToObject(parent, key);
	}
	return o;
}

static void stamp_hash(cJSON *desired)
{
	cJSON *ann;
	char hash[17];

	ann = ensure_object(ensure_object(desired, "metadata"), "annotations");
	cJSON_DeleteItemFromObjectCaseSensitive(ann, PHC_HASH_ANNOTATION);
	phc_hash(desired, hash);
	cJSON_AddStringToObject(ann, PHC_HASH_ANNOTATION, hash);
}

/* Remembers a creation for the one Created event the reconcile records. */
static void note_created(struct phc_run *run, int kind, const char *name)
{
	size_t len = strlen(run->created_names);

	if (run->created++ < 8 && len + 2 < sizeof(run->created_names))
		snprintf(run->created_names + len, sizeof(run->created_names) - len, "%s%s %s",
			 len ? ", " : "", kinds[kind].kind, name);
}

static int replicas_of(const cJSON *obj)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "spec"), "replicas");

	return cJSON_IsNumber(r) ? r->valueint : -1;
}

/* A workload whose replica count changes gets a Scaled event. Replicas the
 * desired state leaves to an HPA are not the operator's change. */
static void note_scaled(struct phc_run *run, int kind, const cJSON *desired,
			const cJSON *live)
{
	int want = replicas_of(desired), had = replicas_of(live);

	if ((kind != PHC_STATEFULSET && kind != PHC_DEPLOYMENT) || want < 0 || want == had)
		return;
	recorder_event(run->p->recorder, run->ph, "Normal", "Scaled", "Scale", "%s %s: %d -> %d",
		       kinds[kind].kind,
		       cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(desired, "metadata"),
							"name")->valuestring,
		       had, want);
}

/* Whether the entry of managedFields is manager's Apply and holds
 * f:spec.f:replicas. */
static bool owns_replicas(const cJSON *entry, const char *manager)
{
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(entry, "fieldsV1");

	return util_json_str(entry, "manager") && !strcmp(util_json_str(entry, "manager"), manager) &&
	       util_json_str(entry, "operation") && !strcmp(util_json_str(entry, "operation"), "Apply") &&
	       cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fields, "f:spec"),
						"f:replicas");
}

/*
 * The child informers' transform. Of managedFields the operator reads one
 * fact (hand_over_replicas below): whether its own Apply entry holds
 * spec.replicas. The cache keeps that entry reduced to the fact, and
 * nothing else of managedFields (informer_strip); everything else of the
 * live object stays, so drift detection (the subset test in phc_ensure)
 * sees exactly what it saw with the full object.
 */
void phc_child_transform(void *userdata, cJSON *obj)
{
	const cJSON *mf;
	bool ours = false;
	cJSON *entry, *list;

	(void)userdata;
	cJSON_ArrayForEach(mf, util_json_get(obj, "metadata.managedFields"))
		ours = ours || owns_replicas(mf, PHC_FIELD_MANAGER);
	informer_strip(obj);
	if (!ours)
		return;
	list = cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "managedFields");
	entry = cJSON_CreateObject();
	cJSON_AddStringToObject(entry, "manager", PHC_FIELD_MANAGER);
	cJSON_AddStringToObject(entry, "operation", "Apply");
	cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(entry, "fieldsV1"),
							"f:spec"), "f:replicas");
	cJSON_AddItemToArray(list, entry);
}

/*
 * A Deployment whose replicas the operator applied until now and leaves to
 * an HPA from now on: when an apply stops carrying a field, server-side
 * apply removes it unless another manager owns it, and the default (1)
 * fills it in, so ingestion would drop to one pod at once. The Kubernetes
 * documentation's way to hand a field over ("Transferring ownership",
 * https://kubernetes.io/docs/reference/using-api/server-side-apply/#transferring-ownership)
 * is to apply first, as a separate manager, an object holding only that
 * field at its current value; the field then outlives the main manager's
 * release, and the HPA's first scale takes it over.
 */
static int hand_over_replicas(struct phc_run *run, int kind, const cJSON *desired,
			      const cJSON *live, struct kube_status *st)
{
	struct kube_apply_options ao = {.field_manager = PHC_HANDOVER_MANAGER, .force = true};
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(live, "metadata");
	const cJSON *replicas = util_json_get(live, "spec.replicas");
	const cJSON *mf;
	bool ours = false;
	cJSON *obj, *m;
	int r;

	if (kind != PHC_DEPLOYMENT || util_json_get(desired, "spec.replicas") || !cJSON_IsNumber(replicas))
		return 0;
	cJSON_ArrayForEach(mf, cJSON_GetObjectItemCaseSensitive(meta, "managedFields"))
		ours = ours || owns_replicas(mf, PHC_FIELD_MANAGER);
	if (!ours)
		return 0;
	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(obj, "kind", "Deployment");
	m = cJSON_AddObjectToObject(obj, "metadata");
	cJSON_AddStringToObject(m, "name", util_json_str(meta, "name"));
	cJSON_AddStringToObject(m, "namespace", util_json_str(meta, "namespace"));
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(obj, "spec"), "replicas", replicas->valuedouble);
	r = kube_apply(run->p->client, &run->p->child_res[kind], util_json_str(meta, "namespace"),
		       util_json_str(meta, "name"), obj, &ao, NULL, st);
	cJSON_Delete(obj);
	if (r == 0)
		log_write(run->p->log, LOG_INFO, &run->lf,
			  "Deployment %s: replicas %d handed over to the HPA", util_json_str(meta, "name"),
			  replicas->valueint);
	return r;
}

int phc_ensure(struct phc_run *run, cJSON *desired, cJSON **live_out,
	       bool *wrote, struct kube_status *st)
{
	struct posthog_controller *p = run->p;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(desired, "metadata");
	const char *ns = util_json_str(meta, "namespace"), *name = util_json_str(meta, "name");
	struct kube_apply_options ao = {.field_manager = PHC_FIELD_MANAGER, .force = true};
	struct log_fields lf = {"posthog", ns, name};
	int kind = phc_kind_of(desired);
	cJSON *live;
	int r;

	*wrote = false;
	if (live_out)
		*live_out = NULL;
	if (kind < 0 || !name) {
		log_write(p->log, LOG_ERROR, &lf, "internal: desired object %s/%s has no known kind or name",
			  util_json_str(desired, "apiVersion"), util_json_str(desired, "kind"));
		return -EINVAL;
	}
	stamp_hash(desired);
	live = informer_get(run->scope->children[kind], ns, name);
	if (live && phc_is_subset(desired, live)) {
		if (live_out)
			*live_out = live;
		else
			cJSON_Delete(live);
		return 0;
	}
	log_write(p->log, LOG_INFO, &lf, "%s %s %s", live ? "updating" : "creating",
		  kinds[kind].kind, name);
	if (live)
		note_scaled(run, kind, desired, live);
	else
		note_created(run, kind, name);
	r = live ? hand_over_replicas(run, kind, desired, live, st) : 0;
	cJSON_Delete(live);
	if (r < 0) {
		log_write(p->log, LOG_WARN, &lf, "handing replicas of %s over: %s", name,
			  st && st->message[0] ? st->message : kube_strerror(r));
		return r;
	}
	live = NULL;
	*wrote = true;
	run->writes++;
	r = kube_apply(p->client, &p->child_res[kind], ns, name, desired, &ao, &live, st);
	if (r < 0) {
		log_write(p->log, LOG_WARN, &lf, "apply %s %s: %s", kinds[kind].kind, name,
			  st && st->message[0] ? st->message : kube_strerror(r));
		return r;
	}
	if (live_out)
		*live_out = live;
	else
		cJSON_Delete(live);
	return 0;
}

int phc_ready_floor(const cJSON *entries, const cJSON *obj, int want)
{
	const char *name = util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name");
	const cJSON *entry;

	if (phc_kind_of(obj) != PHC_DEPLOYMENT || util_json_get(obj, "spec.replicas") || !name)
		return want;
	cJSON_ArrayForEach(entry, entries) {
		const cJSON *hpa = cJSON_GetObjectItemCaseSensitive(entry, "object");
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(hpa, "spec");
		const char *target = util_json_str(cJSON_GetObjectItemCaseSensitive(spec, "scaleTargetRef"), "name");
		const cJSON *lag = cJSON_GetObjectItemCaseSensitive(entry, "lagAutoscaling");
		int min = (int)util_json_num(spec, "minReplicas", 1);

		if (phc_kind_of(hpa) == PHC_HPA && target && !strcmp(target, name))
			return min < want ? min : want;
		/* The lag autoscaler's Deployment: the same floor, its own
		 * minReplicas. */
		if (lag && phc_kind_of(hpa) == PHC_DEPLOYMENT &&
		    !strcmp(util_json_get_str(hpa, "metadata.name", ""), name)) {
			min = (int)util_json_num(lag, "minReplicas", 1);
			return min < want ? min : want;
		}
	}
	return want;
}

bool phc_workload_ready(int kind, const cJSON *live, int need, int *ready, int *updated)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(live, "metadata");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(live, "status");
	bool current = util_json_num(status, "observedGeneration", 0) >= util_json_num(meta, "generation", 0);

	*ready = (int)util_json_num(status, kind == PHC_DEPLOYMENT ? "availableReplicas" : "readyReplicas", 0);
	*updated = (int)util_json_num(status, "updatedReplicas", 0);
	return current && *ready >= need && *updated >= need;
}

/* True when desired (ph_build's entries) holds an object of this kind and
 * name. */
static bool is_desired(const cJSON *desired, int kind, const char *name)
{
	const cJSON *entry;

	cJSON_ArrayForEach(entry, desired) {
		const cJSON *obj = cJSON_GetObjectItemCaseSensitive(entry, "object");
		const char *n = util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name");

		if (phc_kind_of(obj) == kind && n && !strcmp(n, name))
			return true;
	}
	return false;
}

bool phc_job_condition(const cJSON *job, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, util_json_get(job, "status.conditions")) {
		const char *t = util_json_str(c, "type"), *s = util_json_str(c, "status");

		if (t && s && !strcmp(t, type) && !strcmp(s, "True"))
			return true;
	}
	return false;
}

int phc_prune(struct phc_run *run, struct kube_status *first)
{
	struct posthog_controller *p = run->p;
	struct kube_delete_options del = {.propagation_policy = "Background",
					  .grace_period_seconds = -1};
	int deleted = 0, err = 0;

	for (int k = 0; k < PHC_NKINDS; k++) {
		cJSON *owned = informer_list_by_owner(run->scope->children[k], run->uid);
		const char *kept = k == PHC_JOB ? phc_scale_kept_job(run, owned) : NULL;
		const cJSON *obj;

		cJSON_ArrayForEach(obj, owned) {
			const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
			const char *ns = util_json_str(meta, "namespace"), *name = util_json_str(meta, "name");
			struct log_fields lf = {"posthog", ns, name};
			struct kube_status st = {0};
			int r;

			if (!name || is_desired(run->desired, k, name) ||
			    (kept && !strcmp(kept, name)))
				continue;
			/* A Job that has neither succeeded nor failed is left to finish. */
			if (k == PHC_JOB && !phc_job_condition(obj, "Complete") &&
			    !phc_job_condition(obj, "Failed"))
				continue;
			del.precondition_uid = util_json_str(meta, "uid");
			r = kube_delete(p->client, &p->child_res[k], ns, name, &del, &st);
			if (r < 0 && r != -ENOENT) {
				log_write(p->log, LOG_WARN, &lf, "delete %s %s: %s",
					  kinds[k].kind, name,
					  st.message[0] ? st.message : kube_strerror(r));
				if (!err && first)
					*first = st;
				err = err ? err : r;
				continue; /* the others are still removed */
			}
			run->writes++;
			log_write(p->log, LOG_INFO, &lf, "deleted %s %s, no longer desired",
				  kinds[k].kind, name);
			deleted++;
		}
		cJSON_Delete(owned);
	}
	return err ? err : deleted;
}
