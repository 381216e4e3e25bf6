/*
 * Pieces every builder uses: JSON access, object metadata (labels,
 * ownerReferences), pod scheduling and security, PDBs, volume claims and
 * environment variables.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "pkg/quantity/quantity.h"

cJSON *ph_add_obj(cJSON *parent, const char *key)
{
	return PH_NN(cJSON_AddObjectToObject(parent, key));
}

cJSON *ph_add_arr(cJSON *parent, const char *key)
{
	return PH_NN(cJSON_AddArrayToObject(parent, key));
}

void ph_add_str(cJSON *parent, const char *key, const char *value)
{
	PH_NN(cJSON_AddStringToObject(parent, key, value));
}

void ph_add_int(cJSON *parent, const char *key, int64_t value)
{
	PH_NN(cJSON_AddNumberToObject(parent, key, (double)value));
}

void ph_add_bool(cJSON *parent, const char *key, bool value)
{
	PH_NN(cJSON_AddBoolToObject(parent, key, value));
}

void ph_add_copy(cJSON *parent, const char *key, const cJSON *value)
{
	if (value)
		cJSON_AddItemToObject(parent, key,
				      PH_NN(cJSON_Duplicate(value, true)));
}

void ph_push(cJSON *array, cJSON *item)
{
	cJSON_AddItemToArray(array, item);
}

void ph_push_str(cJSON *array, const char *s)
{
	cJSON_AddItemToArray(array, PH_NN(cJSON_CreateString(s)));
}

int ph_child_name(const char *name, const char *suffix, char *out,
		  size_t outsz)
{
	int n = snprintf(out, outsz, "%s-%s", name, suffix);

	return n < 0 || (size_t)n >= outsz ? -ENOSPC : 0;
}

void ph_emit(struct ph_ctx *c, const char *stage, int bucket, cJSON *obj)
{
	cJSON *e = PH_NN(cJSON_CreateObject());

	ph_add_str(e, "stage", stage);
	if (bucket >= 0)
		ph_add_int(e, "bucket", bucket);
	cJSON_AddItemToObject(e, "object", obj);
	ph_push(c->entries, e);
}

cJSON *ph_selector(const struct ph_ctx *c, const char *app,
		   const char *component, int bucket)
{
	cJSON *l = PH_NN(cJSON_CreateObject());

	ph_add_str(l, PH_LABEL_NAME, app);
	ph_add_str(l, PH_LABEL_INSTANCE, c->name);
	ph_add_str(l, PH_LABEL_COMPONENT, component);
	if (bucket >= 0) {
		char b[16];
		snprintf(b, sizeof(b), "%d", bucket);
		ph_add_str(l, PH_LABEL_BUCKET, b);
	}
	return l;
}

cJSON *ph_labels(const struct ph_ctx *c, const char *app,
		 const char *component, int bucket)
{
	cJSON *l = ph_selector(c, app, component, bucket);

	ph_add_str(l, PH_LABEL_PART_OF, PH_PART_OF);
	ph_add_str(l, PH_LABEL_MANAGED_BY, PH_MANAGED_BY);
	return l;
}

cJSON *ph_object(const struct ph_ctx *c, const char *api_version,
		 const char *kind, const char *name, const char *app,
		 const char *component, int bucket)
{
	cJSON *o = PH_NN(cJSON_CreateObject());
	cJSON *md, *refs, *ref;

	ph_add_str(o, "apiVersion", api_version);
	ph_add_str(o, "kind", kind);
	md = ph_add_obj(o, "metadata");
	ph_add_str(md, "name", name);
	if (c->ns)
		ph_add_str(md, "namespace", c->ns);
	cJSON_AddItemToObject(md, "labels",
			      ph_labels(c, app, component, bucket));
	if (!c->uid)
		return o;
	refs = ph_add_arr(md, "ownerReferences");
	ref = PH_NN(cJSON_CreateObject());
	ph_add_str(ref, "apiVersion", PH_API_VERSION);
	ph_add_str(ref, "kind", PH_KIND);
	ph_add_str(ref, "name", c->name);
	ph_add_str(ref, "uid", c->uid);
	ph_add_bool(ref, "controller", true);
	ph_add_bool(ref, "blockOwnerDeletion", true);
	ph_push(refs, ref);
	return o;
}

/* A field of the component's pod options, else of spec.pod. */
static const cJSON *pod_field(const struct ph_ctx *c, const cJSON *comp_pod,
			      const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(comp_pod, key);

	if (!v)
		v = util_json_get(c->spec, "pod");
	else
		return v;
	return cJSON_GetObjectItemCaseSensitive(v, key);
}

static cJSON *default_anti_affinity(const cJSON *selector)
{
	cJSON *aff = PH_NN(cJSON_CreateObject());
	cJSON *pa = ph_add_obj(aff, "podAntiAffinity");
	cJSON *pref = ph_add_arr(pa, "preferredDuringSchedulingIgnoredDuringExecution");
	cJSON *w = PH_NN(cJSON_CreateObject());
	cJSON *term;

	ph_add_int(w, "weight", 100);
	term = ph_add_obj(w, "podAffinityTerm");
	ph_add_str(term, "topologyKey", "kubernetes.io/hostname");
	ph_add_copy(ph_add_obj(term, "labelSelector"), "matchLabels", selector);
	ph_push(pref, w);
	return aff;
}

static cJSON *spread_constraints(const cJSON *list, const cJSON *selector)
{
	cJSON *out = PH_NN(cJSON_Duplicate(list, true));
	cJSON *e;

	cJSON_ArrayForEach(e, out) {
		if (cJSON_IsObject(e) &&
		    !cJSON_GetObjectItemCaseSensitive(e, "labelSelector"))
			ph_add_copy(ph_add_obj(e, "labelSelector"),
				    "matchLabels", selector);
	}
	return out;
}

void ph_pod_common(const struct ph_ctx *c, cJSON *pod_spec,
		   const cJSON *comp_pod, const cJSON *selector,
		   int64_t default_uid)
{
	static const char *const copied[] = {
		"nodeSelector", "tolerations", "priorityClassName",
		"serviceAccountName",
	};
	const cJSON *v;
	size_t i;

	for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
		ph_add_copy(pod_spec, copied[i],
			    pod_field(c, comp_pod, copied[i]));
	v = pod_field(c, comp_pod, "affinity");
	if (v)
		ph_add_copy(pod_spec, "affinity", v);
	else
		cJSON_AddItemToObject(pod_spec, "affinity",
				      default_anti_affinity(selector));
	v = pod_field(c, comp_pod, "topologySpreadConstraints");
	if (cJSON_IsArray(v))
		cJSON_AddItemToObject(pod_spec, "topologySpreadConstraints",
				      spread_constraints(v, selector));
	v = pod_field(c, comp_pod, "securityContext");
	if (v) {
		ph_add_copy(pod_spec, "securityContext", v);
	} else if (default_uid > 0) {
		cJSON *sc = ph_add_obj(pod_spec, "securityContext");
		ph_add_int(sc, "runAsUser", default_uid);
		ph_add_int(sc, "runAsGroup", default_uid);
		ph_add_int(sc, "fsGroup", default_uid);
		ph_add_bool(sc, "runAsNonRoot", true);
	}
	ph_add_copy(pod_spec, "imagePullSecrets",
		    util_json_get(c->spec, "imagePullSecrets"));
}

cJSON *ph_pod_annotations(const struct ph_ctx *c, const cJSON *comp_pod)
{
	const cJSON *v = pod_field(c, comp_pod, "annotations");

	return v ? PH_NN(cJSON_Duplicate(v, true)) : NULL;
}

char *ph_image(const cJSON *spec, const char *component)
{
	char path[64];
	const char *repo, *tag;

	snprintf(path, sizeof(path), "%s.image.repository", component);
	repo = util_json_get_str(spec, path, "");
	snprintf(path, sizeof(path), "%s.image.tag", component);
	tag = util_json_get_str(spec, path, "latest");
	return util_xasprintf("%s:%s", repo, tag);
}

const char *ph_pull_policy(const cJSON *spec, const char *component)
{
	char path[64];

	snprintf(path, sizeof(path), "%s.image.pullPolicy", component);
	return util_json_get_str(spec, path, "IfNotPresent");
}

/*
 * A quantity as the API server will store it (a number becomes a string,
 * "1.5" becomes "1500m"), so that the object read back compares equal to
 * the one built and a steady state writes nothing. A value that is no
 * quantity stays as written for the server to refuse.
 */
static cJSON *quantity(const cJSON *q)
{
	char in[64], out[64];

	if (cJSON_IsNumber(q))
		snprintf(in, sizeof(in), "%.17g", q->valuedouble);
	else if (!cJSON_IsString(q) || strlen(q->valuestring) >= sizeof(in))
		return PH_NN(cJSON_Duplicate(q, true));
	else
		snprintf(in, sizeof(in), "%s", q->valuestring);
	if (kube_quantity_canonical(in, out, sizeof(out)) < 0)
		return PH_NN(cJSON_Duplicate(q, true));
	return PH_NN(cJSON_CreateString(out));
}

cJSON *ph_resources(const cJSON *resources)
{
	static const char *const maps[] = { "limits", "requests" };
	cJSON *r;

	if (!cJSON_IsObject(resources))
		return PH_NN(cJSON_CreateObject());
	r = PH_NN(cJSON_Duplicate(resources, true));
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(resources, maps[i]);
		cJSON *canon;

		if (!cJSON_IsObject(m))
			continue;
		canon = PH_NN(cJSON_CreateObject());
		for (const cJSON *q = m->child; q; q = q->next)
			cJSON_AddItemToObject(canon, q->string, quantity(q));
		cJSON_ReplaceItemInObjectCaseSensitive(r, maps[i], canon);
	}
	return r;
}

cJSON *ph_pdb(const struct ph_ctx *c, const char *name, const char *app,
	      const char *component, int bucket, cJSON *selector)
{
	cJSON *o = ph_object(c, "policy/v1", "PodDisruptionBudget", name, app,
			     component, bucket);
	cJSON *spec = ph_add_obj(o, "spec");

	ph_add_int(spec, "maxUnavailable", 1);
	cJSON_AddItemToObject(ph_add_obj(spec, "selector"), "matchLabels",
			      selector);
	return o;
}

cJSON *ph_pvc_retention(const struct ph_ctx *c)
{
	const char *p = util_json_get_str(c->spec, "deletionPolicy", "Retain");
	cJSON *r = PH_NN(cJSON_CreateObject());

	ph_add_str(r, "whenDeleted", p);
	ph_add_str(r, "whenScaled", p);
	return r;
}

cJSON *ph_claim_template(const struct ph_ctx *c, const char *component,
			 const char *name, const char *app)
{
	char path[64];
	const cJSON *st;
	cJSON *t = PH_NN(cJSON_CreateObject());
	cJSON *md = ph_add_obj(t, "metadata");
	cJSON *spec = ph_add_obj(t, "spec");
	cJSON *modes = ph_add_arr(spec, "accessModes");

	snprintf(path, sizeof(path), "%s.storage", component);
	st = util_json_get(c->spec, path);
	ph_add_str(md, "name", name);
	cJSON_AddItemToObject(md, "labels", ph_labels(c, app, app, -1));
	ph_push_str(modes, "ReadWriteOnce");
	if (util_json_get_str(st, "storageClassName", NULL))
		ph_add_str(spec, "storageClassName",
			   util_json_get_str(st, "storageClassName", NULL));
	cJSON_AddItemToObject(ph_add_obj(ph_add_obj(spec, "resources"), "requests"), "storage",
			      util_json_get(st, "size") ? quantity(util_json_get(st, "size"))
						 : PH_NN(cJSON_CreateString("10Gi")));
	return t;
}

void ph_env(cJSON *env, const char *name, const char *value)
{
	cJSON *e = PH_NN(cJSON_CreateObject());

	ph_add_str(e, "name", name);
	ph_add_str(e, "value", value);
	ph_push(env, e);
}

void ph_env_secret(cJSON *env, const char *name, const char *secret,
		   const char *key)
{
	cJSON *e = PH_NN(cJSON_CreateObject());
	cJSON *ref;

	ph_add_str(e, "name", name);
	ref = ph_add_obj(ph_add_obj(e, "valueFrom"), "secretKeyRef");
	ph_add_str(ref, "name", secret);
	ph_add_str(ref, "key", key);
	ph_push(env, e);
}

void ph_env_field(cJSON *env, const char *name, const char *field_path)
{
	cJSON *e = PH_NN(cJSON_CreateObject());

	ph_add_str(e, "name", name);
	ph_add_str(ph_add_obj(ph_add_obj(e, "valueFrom"), "fieldRef"),
		   "fieldPath", field_path);
	ph_push(env, e);
}

void ph_env_merge(cJSON *env, const cJSON *extra)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, extra) {
		const char *name = util_json_get_str(e, "name", NULL);
		cJSON *cur;
		int i = 0;

		if (!name)
			continue;
		cJSON_ArrayForEach(cur, env) {
			if (!strcmp(util_json_get_str(cur, "name", ""), name))
				break;
			i++;
		}
		if (cur)
			cJSON_ReplaceItemInArray(env, i,
						 PH_NN(cJSON_Duplicate(e, true)));
		else
			ph_push(env, PH_NN(cJSON_Duplicate(e, true)));
	}
}

char *ph_svc_host(const struct ph_ctx *c, const char *service)
{
	if (c->ns)
		return util_xasprintf("%s.%s.svc", service, c->ns);
	return util_xasprintf("%s", service);
}

bool ph_is_external(const cJSON *spec, const char *component)
{
	const cJSON *comp = cJSON_GetObjectItemCaseSensitive(spec, component);

	return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(comp, "external"));
}

char *ph_take_text(struct ph_ctx *c, struct buf *b)
{
	int r = buf_error(b);

	if (r == 0)
		return buf_take(b);
	if (!c->err)
		c->err = r;
	buf_free(b);
	return util_xstrdup("");
}

void ph_name(struct ph_ctx *c, const char *suffix, char *out, size_t outsz)
{
	int r = ph_child_name(c->name, suffix, out, outsz);

	if (r < 0) {
		if (!c->err)
			c->err = r;
		if (outsz)
			out[0] = '\0';
	}
}

const char *ph_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EINVAL:
		return "invalid PostHog resource";
	case -ENOSPC:
		return "name or value too long";
	case -EMSGSIZE:
		return "a generated configuration file would be too large";
	default:
		return "unknown error";
	}
}

cJSON *ph_component_statefulset(const struct ph_ctx *c, const char *name,
				const char *component, int replicas,
				const char *cfg_hash, cJSON *container,
				int64_t uid, int grace_seconds)
{
	cJSON *o = ph_object(c, "apps/v1", "StatefulSet", name, component, component, -1);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *sel = ph_selector(c, component, component, -1);
	cJSON *tpl, *md, *ann, *ps, *v;
	char *pod_path = util_xasprintf("%s.pod", component);
	const cJSON *cpod = util_json_get(c->spec, pod_path);
	char *hl = util_xasprintf("%s-headless", name);

	free(pod_path);
	ph_add_int(spec, "replicas", replicas);
	ph_add_str(spec, "serviceName", hl);
	free(hl);
	/* A quorum needs a majority up before any member is ready. */
	ph_add_str(spec, "podManagementPolicy", "Parallel");
	/* The operator restarts each pod itself, behind a health gate
	 * (controllers/posthog/upgrade.h). */
	ph_add_str(ph_add_obj(spec, "updateStrategy"), "type", "OnDelete");
	ph_add_copy(ph_add_obj(spec, "selector"), "matchLabels", sel);
	tpl = ph_add_obj(spec, "template");
	md = ph_add_obj(tpl, "metadata");
	cJSON_AddItemToObject(md, "labels", ph_labels(c, component, component, -1));
	ann = ph_pod_annotations(c, cpod);
	if (!ann)
		ann = PH_NN(cJSON_CreateObject());
	ph_add_str(ann, "posthog.com/config-hash", cfg_hash);
	cJSON_AddItemToObject(md, "annotations", ann);
	ps = ph_add_obj(tpl, "spec");
	if (grace_seconds > 0)
		ph_add_int(ps, "terminationGracePeriodSeconds", grace_seconds);
	ph_push(ph_add_arr(ps, "containers"), container);
	v = PH_NN(cJSON_CreateObject());
	ph_add_str(v, "name", "config");
	ph_add_str(ph_add_obj(v, "configMap"), "name", name);
	ph_push(ph_add_arr(ps, "volumes"), v);
	ph_pod_common(c, ps, cpod, sel, uid);
	ph_push(ph_add_arr(spec, "volumeClaimTemplates"),
		ph_claim_template(c, component, "data", component));
	cJSON_AddItemToObject(spec, "persistentVolumeClaimRetentionPolicy", ph_pvc_retention(c));
	cJSON_Delete(sel);
	return o;
}

cJSON *ph_add_mount(cJSON *mounts, const char *name, const char *path)
{
	cJSON *m = PH_NN(cJSON_CreateObject());

	ph_add_str(m, "name", name);
	ph_add_str(m, "mountPath", path);
	ph_push(mounts, m);
	return m;
}

/* spec.objectStorage under the names of the row (e): enabled, where, and
 * the credentials through secretKeyRef. Nothing when it is unset. */
static void object_storage_env(const struct ph_ctx *c,
			       const struct ph_object_storage_env *e, cJSON *env)
{
	const cJSON *os = util_json_get(c->spec, "objectStorage");
	const char *secret = util_json_get_str(os, "credentialsSecret.name", NULL);

	if (!os || !e)
		return;
	if (e->enabled)
		ph_env(env, e->enabled, "true");
	if (e->endpoint)
		ph_env(env, e->endpoint, util_json_get_str(os, "endpoint", ""));
	if (e->bucket)
		ph_env(env, e->bucket, util_json_get_str(os, "bucket", ""));
	if (e->region && util_json_get_str(os, "region", NULL))
		ph_env(env, e->region, util_json_get_str(os, "region", ""));
	if (!secret)
		return;
	if (e->access_key_id)
		ph_env_secret(env, e->access_key_id, secret,
			      util_json_get_str(os, "credentialsSecret.accessKeyIdKey", "access-key-id"));
	if (e->secret_access_key)
		ph_env_secret(env, e->secret_access_key, secret,
			      util_json_get_str(os, "credentialsSecret.secretAccessKeyKey",
					 "secret-access-key"));
}

/* spec.postgres and spec.redis under every name the version's row lists:
 * the URL stays in the user's Secret, the pod reads it through
 * secretKeyRef. */
void ph_datastore_env(const struct ph_ctx *c, cJSON *env)
{
	const struct ph_version *row =
		ph_version_or_fallback(util_json_get_str(c->spec, "version", NULL));
	const char *const *n;

	for (n = row->postgres_env; *n; n++)
		ph_env_secret(env, *n, util_json_get_str(c->spec, "postgres.urlSecret.name", ""),
			      util_json_get_str(c->spec, "postgres.urlSecret.key", "url"));
	for (n = row->redis_env; *n; n++)
		ph_env_secret(env, *n, util_json_get_str(c->spec, "redis.urlSecret.name", ""),
			      util_json_get_str(c->spec, "redis.urlSecret.key", "url"));
	if (util_json_get(c->spec, "secretKey"))
		for (n = row->secret_key_env; n && *n; n++)
			ph_env_secret(env, *n, util_json_get_str(c->spec, "secretKey.name", ""),
				      util_json_get_str(c->spec, "secretKey.key", "secret-key"));
	if (util_json_get(c->spec, "encryptionSaltKeys"))
		for (n = row->encryption_env; n && *n; n++)
			ph_env_secret(env, *n, util_json_get_str(c->spec, "encryptionSaltKeys.name", ""),
				      util_json_get_str(c->spec, "encryptionSaltKeys.key",
						 "encryption-salt-keys"));
	object_storage_env(c, row->object_storage, env);
}

/* What only the plugin-servers of the row read: spec.redis under the
 * names of clients that do not fall back to REDIS_URL, and the constants
 * that go with them. */
void ph_plugin_datastore_env(const struct ph_ctx *c, cJSON *env)
{
	const struct ph_version *row =
		ph_version_or_fallback(util_json_get_str(c->spec, "version", NULL));
	const char *const *n;

	for (n = row->plugin_redis_env; n && *n; n++)
		ph_env_secret(env, *n, util_json_get_str(c->spec, "redis.urlSecret.name", ""),
			      util_json_get_str(c->spec, "redis.urlSecret.key", "url"));
	for (n = row->plugin_env; n && n[0] && n[1]; n += 2)
		ph_env(env, n[0], n[1]);
}
