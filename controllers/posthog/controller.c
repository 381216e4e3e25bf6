/*
 * The PostHog controller: setup, and the reconcile of one PostHog.
 *
 * A reconcile reads only from the informers' caches (plus ClickHouse and
 * the credentials Secret for the schema step), computes the desired
 * children with the pure builders, writes only what differs, and writes
 * the status only when it changed. A steady state therefore costs no write
 * at all, which is what lets hundreds of PostHogs share one operator.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller-private.h"
#include "upgrade.h"

/*
 * The longest a failed PostHog waits before its next try. The work queue's
 * default (1000 s, as client-go's) would leave a PostHog Degraded for a
 * quarter of an hour after a minute-long outage; a retry costs cache reads
 * and the writes that failed, so half a minute is cheap and bounds recovery.
 */
#define PHC_MAX_BACKOFF_MS 30000

static const struct {
	const char *group, *version, *resource, *kind;
} child_types[PHC_NKINDS] = {
	[PHC_CONFIGMAP] = {"", "v1", "configmaps", "ConfigMap"},
	[PHC_SERVICE] = {"", "v1", "services", "Service"},
	[PHC_STATEFULSET] = {"apps", "v1", "statefulsets", "StatefulSet"},
	[PHC_DEPLOYMENT] = {"apps", "v1", "deployments", "Deployment"},
	[PHC_JOB] = {"batch", "v1", "jobs", "Job"},
	[PHC_PDB] = {"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"},
	[PHC_HPA] = {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"},
};

static void set_resource(struct kube_resource *r, const char *group,
			 const char *version, const char *resource,
			 const char *kind)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->group, sizeof(r->group), "%s", group);
	snprintf(r->version, sizeof(r->version), "%s", version);
	snprintf(r->resource, sizeof(r->resource), "%s", resource);
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	r->namespaced = true;
}

struct phc_scope *phc_scope_for(struct posthog_controller *p, const char *ns)
{
	for (unsigned i = 0; i < p->nscopes; i++)
		if (!p->scopes[i].ns || (ns && !strcmp(p->scopes[i].ns, ns)))
			return &p->scopes[i];
	return NULL;
}

void phc_requeue(struct phc_run *run, uint64_t ms)
{
	if (!run->requeue_ms || ms < run->requeue_ms)
		run->requeue_ms = ms;
}

static bool has_finalizer(const cJSON *meta)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(meta, "finalizers"))
		if (cJSON_IsString(f) && !strcmp(f->valuestring, PHC_FINALIZER))
			return true;
	return false;
}

/*
 * Adds or removes the finalizer with an update that carries the cached
 * resourceVersion, so a concurrent change makes it fail (409) instead of
 * being overwritten; the watch event then requeues the key.
 */
static int set_finalizer(struct phc_run *run, bool present)
{
	cJSON *obj = cJSON_Duplicate(run->ph, 1);
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *list = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
	struct kube_status st;
	int r;

	if (!cJSON_IsArray(list)) {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
		list = cJSON_AddArrayToObject(meta, "finalizers");
	}
	if (present) {
		cJSON_AddItemToArray(list, cJSON_CreateString(PHC_FINALIZER));
	} else {
		for (int i = cJSON_GetArraySize(list) - 1; i >= 0; i--) {
			const cJSON *f = cJSON_GetArrayItem(list, i);

			if (cJSON_IsString(f) && !strcmp(f->valuestring, PHC_FINALIZER))
				cJSON_DeleteItemFromArray(list, i);
		}
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	r = kube_update(run->p->client, &run->p->posthog_res, run->ns, run->name,
			NULL, obj, NULL, &st);
	cJSON_Delete(obj);
	if (r < 0 && r != -ENOENT)
		log_write(run->p->log, r == KUBE_ECONFLICT ? LOG_DEBUG : LOG_WARN, &run->lf,
			  "%s finalizer: %s", present ? "add" : "remove",
			  st.message[0] ? st.message : kube_strerror(r));
	return r == -ENOENT ? 0 : r;
}

static int delete_pvcs(struct phc_run *run)
{
	struct kube_list_options lo = {0};
	struct kube_delete_options del = {.grace_period_seconds = -1};
	char selector[256];
	cJSON *list = NULL;
	const cJSON *pvc;
	struct kube_status st = {0};
	int r;

	snprintf(selector, sizeof(selector), "%s=%s,%s", PH_LABEL_INSTANCE,
		 run->name, PHC_MANAGED_SELECTOR);
	lo.label_selector = selector;
	r = kube_list(run->p->client, &run->p->pvc_res, run->ns, &lo, &list, &st);
	if (r < 0) {
		log_write(run->p->log, LOG_WARN, &run->lf, "list PVCs: %s",
			  st.message[0] ? st.message : kube_strerror(r));
		return r;
	}
	cJSON_ArrayForEach(pvc, cJSON_GetObjectItemCaseSensitive(list, "items")) {
		const char *n = util_json_str(cJSON_GetObjectItemCaseSensitive(pvc, "metadata"), "name");

		r = kube_delete(run->p->client, &run->p->pvc_res, run->ns, n, &del, &st);
		if (r < 0 && r != -ENOENT) {
			log_write(run->p->log, LOG_WARN, &run->lf, "delete PVC %s: %s", n,
				  st.message[0] ? st.message : kube_strerror(r));
			break;
		}
		log_write(run->p->log, LOG_INFO, &run->lf, "deleted PVC %s (deletionPolicy Delete)", n);
		r = 0;
	}
	cJSON_Delete(list);
	return r;
}

static bool policy_is_delete(const cJSON *spec)
{
	const char *p = util_json_str(spec, "deletionPolicy");

	return p && !strcmp(p, "Delete");
}

/*
 * The PostHog is being deleted. ownerReferences take the children; what
 * they cannot reach is the operator's to remove first: the per-bucket
 * ClickHouse tables and the PVCs, both only with deletionPolicy Delete.
 */
static int finalize(struct phc_run *run)
{
	char msg[1024];
	int r;

	if (!has_finalizer(cJSON_GetObjectItemCaseSensitive(run->ph, "metadata")))
		return 0;
	if (run->spec && policy_is_delete(run->spec)) {
		r = phc_schema_drop_all(run, msg, sizeof(msg));
		if (r == -EEXIST) {
			recorder_event(run->p->recorder, run->ph, "Warning", "TablesLeft", "Delete",
				       "%s", msg);
		} else if (r < 0) {
			const char *why = phc_finalize_give_up(
				cJSON_GetObjectItemCaseSensitive(run->ph, "metadata"), time(NULL));

			if (!why) {
				log_write(run->p->log, LOG_WARN, &run->lf,
					  "dropping bucket tables before deletion: %s; retrying", msg);
				phc_finalize_blocked(run, msg);
				return r; /* the worker retries with backoff */
			}
			recorder_event(run->p->recorder, run->ph, "Warning", "TablesLeft", "Delete",
				       "left the bucket tables because %s; the last failure: %s", why, msg);
		}
		r = delete_pvcs(run);
		if (r < 0)
			return r;
	}
	recorder_event(run->p->recorder, run->ph, "Normal", "Deleted", "Delete",
		       "children left to garbage collection; PVCs %s",
		       run->spec && policy_is_delete(run->spec) ? "deleted" : "kept");
	return set_finalizer(run, false);
}

static void run_free(struct phc_run *run)
{
	cJSON_Delete(run->ph);
	cJSON_Delete(run->spec);
	cJSON_Delete(run->status);
	cJSON_Delete(run->desired);
	cJSON_Delete(run->reshard);
	free(run->bucket_schema_ready);
	free(run->bucket_ready);
}

/* Splits "ns/name" into buffers. Returns 0 or -EINVAL. */
static int split_key(const char *key, char *ns, size_t nslen, char *name,
		     size_t namelen)
{
	const char *slash = strchr(key, '/');

	if (!slash || (size_t)(slash - key) >= nslen || strlen(slash + 1) >= namelen)
		return -EINVAL;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	memcpy(name, slash + 1, strlen(slash + 1) + 1);
	return 0;
}

static int run_init(struct posthog_controller *p, const char *key, struct phc_run *run)
{
	cJSON *meta, *gen, *old;

	run->p = p;
	meta = cJSON_GetObjectItemCaseSensitive(run->ph, "metadata");
	run->ns = util_json_str(meta, "namespace");
	run->name = util_json_str(meta, "name");
	run->uid = util_json_str(meta, "uid");
	gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
	run->generation = cJSON_IsNumber(gen) ? (int64_t)gen->valuedouble : 0;
	run->lf = (struct log_fields){"posthog", run->ns, run->name};
	run->scope = phc_scope_for(p, run->ns);
	kube_time_now(run->now);
	old = cJSON_GetObjectItemCaseSensitive(run->ph, "status");
	run->status = cJSON_IsObject(old) ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();
	run->conds = cJSON_GetObjectItemCaseSensitive(run->status, "conditions");
	if (!cJSON_IsArray(run->conds)) {
		cJSON_DeleteItemFromObjectCaseSensitive(run->status, "conditions");
		run->conds = cJSON_AddArrayToObject(run->status, "conditions");
	}
	if (!run->ns || !run->name || !run->uid || !run->scope) {
		log_error(p->log, "internal: cached PostHog %s lacks metadata", key);
		return -EINVAL;
	}
	return 0;
}

/* The PostHog is gone: its series go too, so that a dashboard or an alert
 * does not keep a deleted PostHog "not ready". The controller's series
 * label it as namespace and name, the lag autoscaler's as namespace and
 * posthog (docs/operations.md). */
static void forget_metrics(struct posthog_controller *p, const char *ns, const char *name)
{
	int a = metrics_forget(p->metrics, (const char *[]){"namespace", ns, "name", name, NULL});
	int b = metrics_forget(p->metrics, (const char *[]){"namespace", ns, "posthog", name, NULL});

	if (a > 0 || b > 0)
		log_write(p->log, LOG_DEBUG, NULL, "posthog %s/%s deleted: %d metric series removed", ns,
			  name, (a > 0 ? a : 0) + (b > 0 ? b : 0));
}

static int reconcile(void *userdata, const char *key, struct reconcile_result *res)
{
	struct posthog_controller *p = userdata;
	struct phc_run run = {0};
	struct phc_scope *scope;
	char ns[256], name[256];
	const cJSON *meta;
	int r;

	if (split_key(key, ns, sizeof(ns), name, sizeof(name)) < 0 ||
	    !(scope = phc_scope_for(p, ns)))
		return 0;
	run.ph = informer_get(scope->posthogs, ns, name);
	if (!run.ph) {
		phc_schema_forget(p, key);
		forget_metrics(p, ns, name);
		return 0; /* deleted; its children go with ownerReferences */
	}
	if ((r = run_init(p, key, &run)) < 0)
		goto out;
	meta = cJSON_GetObjectItemCaseSensitive(run.ph, "metadata");
	if (ph_normalize(run.ph, &run.spec) < 0)
		run.spec = NULL; /* invalid: phc_reconcile_posthog reports why */
	if (cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp")) {
		r = finalize(&run);
		goto out;
	}
	if (!has_finalizer(meta)) {
		r = set_finalizer(&run, true);
		goto out; /* the update's watch event brings us back */
	}
	r = phc_reconcile_posthog(&run);
	if (r >= 0 && run.requeue_ms)
		res->requeue_after_ms = run.requeue_ms;
out:
	run_free(&run);
	return r == KUBE_ECONFLICT ? (res->requeue = true, 0) : r;
}

static int add_scope(struct posthog_controller *p, const char *ns, uint64_t resync_ms)
{
	struct phc_scope *s = &p->scopes[p->nscopes];
	struct informer_options io = {.namespace = ns, .resync_ms = resync_ms, .log = p->log};
	int r;

	if (p->nscopes == PHC_MAX_SCOPES)
		return -E2BIG;
	s->ns = ns ? strdup(ns) : NULL;
	io.resource = p->posthog_res;
	r = manager_add_informer(p->manager, &io, &s->posthogs);
	if (r < 0)
		return r;
	r = controller_watch(p->ctl, s->posthogs, CONTROLLER_MAP_SELF, NULL);
	io.label_selector = PHC_MANAGED_SELECTOR;
	io.transform = phc_child_transform;
	/* A child's handler enqueues its PostHog, which the PostHog
	 * informer's own resync replays already. */
	io.resync_ms = INFORMER_NO_RESYNC;
	for (int k = 0; r >= 0 && k < PHC_NKINDS; k++) {
		io.resource = p->child_res[k];
		r = manager_add_informer(p->manager, &io, &s->children[k]);
		if (r >= 0)
			r = controller_watch(p->ctl, s->children[k], CONTROLLER_MAP_OWNER, PH_KIND);
	}
	p->nscopes++;
	return r;
}

void posthog_controller_free(struct posthog_controller *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nscopes; i++)
		free(p->scopes[i].ns);
	cJSON_Delete(p->schema_checks);
	secretcache_free(p->secrets);
	pthread_mutex_destroy(&p->schema_lock);
	phc_lag_free(p);
	pthread_mutex_destroy(&p->lag_lock);
	free(p->router_image);
	free(p);
}

int posthog_controller_register(struct manager *m, struct kube_client *c,
				struct log *log,
				const struct posthog_controller_options *opts,
				struct posthog_controller **out)
{
	struct posthog_controller *p = calloc(1, sizeof(*p));
	struct controller_options co = {.name = "posthog", .reconcile = reconcile};
	const char *access = opts && opts->clickhouse_access ? opts->clickhouse_access : "auto";
	int r = 0;

	if (!p)
		abort();
	if (strcmp(access, "auto") && strcmp(access, "dns") && strcmp(access, "proxy")) {
		log_error(log, "--clickhouse-access must be auto, dns or proxy (got \"%s\")", access);
		free(p);
		return -EINVAL;
	}
	if (opts && opts->router_image) {
		const char *img = opts->router_image;

		if (!img[0] || strlen(img) > 512 || strpbrk(img, " \t\r\n\"'$")) {
			log_error(log, "--router-image must be an image reference such as "
				  "ghcr.io/org/posthog-operator:1.2.3 (got \"%.80s\")", img);
			free(p);
			return -EINVAL;
		}
		p->router_image = strdup(img);
		if (!p->router_image)
			abort();
	}
	p->client = c;
	p->log = log;
	secretcache_new(c, 0, &p->secrets);
	pthread_mutex_init(&p->schema_lock, NULL);
	pthread_mutex_init(&p->lag_lock, NULL);
	p->lag_poll_ms = opts && opts->lag_poll_ms ? opts->lag_poll_ms : PHC_LAG_POLL_MS;
	p->schema_checks = cJSON_CreateObject();
	p->manager = m;
	p->recorder = manager_recorder(m);
	p->metrics = manager_metrics(m);
	if (p->metrics) {
		phc_lag_declare_metrics(p->metrics);
		phc_reshard_declare_metrics(p->metrics);
		phc_upgrade_declare_metrics(p->metrics);
	}
	p->connect_to = opts ? opts->connect_to : NULL;
	p->restart_timeout_s = opts && opts->restart_timeout_s ? opts->restart_timeout_s : 600;
	if (phc_upgrade_parse_gates(opts && opts->health_gates ? opts->health_gates : "all",
				    &p->health_gates) < 0) {
		log_error(log, "--health-gates must be all, none or a comma-separated list of "
			  "zookeeper, kafka, clickhouse (got \"%.80s\")", opts->health_gates);
		posthog_controller_free((struct posthog_controller *)p);
		return -EINVAL;
	}
	p->clickhouse_via_proxy = !strcmp(access, "proxy") ||
				  (!strcmp(access, "auto") && !getenv("KUBERNETES_SERVICE_HOST") &&
				   !(p->connect_to && p->connect_to[0]));
	set_resource(&p->posthog_res, PH_GROUP, "v1alpha1", PH_PLURAL, PH_KIND);
	set_resource(&p->secret_res, "", "v1", "secrets", "Secret");
	set_resource(&p->pvc_res, "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim");
	for (int k = 0; k < PHC_NKINDS; k++)
		set_resource(&p->child_res[k], child_types[k].group, child_types[k].version,
			     child_types[k].resource, child_types[k].kind);
	co.userdata = p;
	co.workers = opts && opts->workers ? opts->workers : 2;
	co.max_backoff_ms = PHC_MAX_BACKOFF_MS;
	r = manager_add_controller(m, &co, &p->ctl);
	if (r >= 0 && (!opts || !opts->namespaces || !opts->namespaces[0]))
		r = add_scope(p, NULL, opts ? opts->resync_ms : 0);
	else
		for (const char *const *ns = opts->namespaces; r >= 0 && *ns; ns++)
			r = add_scope(p, *ns, opts->resync_ms);
	if (r < 0) {
		posthog_controller_free(p);
		return r;
	}
	*out = p;
	return 0;
}
