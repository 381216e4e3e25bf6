/*
 * Plugin-servers: per bucket an ingestion and an async Deployment, each
 * pointed at the bucket's topics, with an optional CPU HPA (or, with
 * autoscaling.metric lag, the lag autoscaler's settings on the
 * Deployment's entry) and a PDB.
 * Bucket overrides replace the role's replicas, resources and autoscaling
 * field by field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

/* The role settings for one bucket: the role, then the override's
 * fields on top. New object. */
static cJSON *effective_role(const struct ph_ctx *c, const char *role,
			     unsigned bucket)
{
	const cJSON *base = util_json_get(util_json_get(c->spec, "pluginServer"), role);
	cJSON *r = base ? PH_NN(cJSON_Duplicate(base, true)) : PH_NN(cJSON_CreateObject());
	const cJSON *o, *ov, *kv;
	cJSON *as;

	cJSON_ArrayForEach(o, util_json_get(c->spec, "buckets.overrides")) {
		if (util_json_get_int(o, "bucket", -1) != (int64_t)bucket)
			continue;
		ov = cJSON_GetObjectItemCaseSensitive(o, role);
		if (!cJSON_IsObject(ov))
			continue;
		cJSON_ArrayForEach(kv, ov) {
			if (!strcmp(kv->string, "autoscaling"))
				continue;
			cJSON_DeleteItemFromObjectCaseSensitive(r, kv->string);
			ph_add_copy(r, kv->string, kv);
		}
		as = cJSON_GetObjectItemCaseSensitive(r, "autoscaling");
		if (!as)
			as = ph_add_obj(r, "autoscaling");
		cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(ov, "autoscaling")) {
			cJSON_DeleteItemFromObjectCaseSensitive(as, kv->string);
			ph_add_copy(as, kv->string, kv);
		}
	}
	return r;
}

/* KAFKA_URL in the kafka://host:port,kafka://host:port form that 1.43's
 * Django settings (data_stores.py) parse into KAFKA_HOSTS. */
static void kafka_url_env(cJSON *env, const char *boot)
{
	char url[4096];
	size_t used = 0;
	const char *p = boot;

	while (*p && used < sizeof(url)) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int n = snprintf(url + used, sizeof(url) - used, "%skafka://%.*s",
				 used ? "," : "", (int)len, p);

		if (n < 0 || (size_t)n >= sizeof(url) - used)
			return; /* cannot happen: boot is capped at 2048 */
		used += (size_t)n;
		p = comma ? comma + 1 : p + len;
	}
	ph_env(env, "KAFKA_URL", url);
}

void ph_kafka_env(const struct ph_ctx *c, cJSON *env)
{
	bool tls = util_json_get_bool(c->spec, "kafka.external.tls.enabled", false);
	const cJSON *sasl = util_json_get(c->spec, "kafka.external.sasl");
	char boot[2048];

	if (ph_kafka_bootstrap(c->name, c->ns, c->spec, boot, sizeof(boot)) != 0)
		boot[0] = '\0';
	ph_env(env, "KAFKA_HOSTS", boot);
	if (ph_version_or_fallback(util_json_get_str(c->spec, "version", NULL))->kafka_url)
		kafka_url_env(env, boot);
	if (sasl || tls)
		ph_env(env, "KAFKA_SECURITY_PROTOCOL",
		       sasl ? (tls ? "SASL_SSL" : "SASL_PLAINTEXT") : "SSL");
	if (!sasl)
		return;
	ph_env(env, "KAFKA_SASL_MECHANISM", util_json_get_str(sasl, "mechanism", "PLAIN"));
	ph_env_secret(env, "KAFKA_SASL_USER", util_json_get_str(sasl, "secretName", ""),
		      util_json_get_str(sasl, "usernameKey", "username"));
	ph_env_secret(env, "KAFKA_SASL_PASSWORD", util_json_get_str(sasl, "secretName", ""),
		      util_json_get_str(sasl, "passwordKey", "password"));
}

void ph_clickhouse_env(const struct ph_ctx *c, cJSON *env)
{
	const cJSON *ext = util_json_get(c->spec, "clickhouse.external");
	char *host;

	if (ext)
		host = util_xasprintf("%s", util_json_get_str(ext, "host", ""));
	else
		host = util_xasprintf("%s-clickhouse", c->name);
	ph_env(env, "CLICKHOUSE_HOST", host);
	free(host);
	ph_env(env, "CLICKHOUSE_CLUSTER", util_json_get_str(c->spec, "clickhouse.cluster", "posthog"));
	ph_env(env, "CLICKHOUSE_DATABASE", util_json_get_str(c->spec, "clickhouse.database", "posthog"));
	ph_env(env, "CLICKHOUSE_USER", util_json_get_str(c->spec, "clickhouse.user", "admin"));
	ph_env_secret(env, "CLICKHOUSE_PASSWORD",
		      util_json_get_str(c->spec, "clickhouse.passwordSecret.name", ""),
		      util_json_get_str(c->spec, "clickhouse.passwordSecret.key", "password"));
	ph_env(env, "CLICKHOUSE_SECURE", util_json_get_bool(ext, "secure", false) ? "true" : "false");
	ph_env(env, "CLICKHOUSE_VERIFY", util_json_get_bool(ext, "verify", true) ? "true" : "false");
}

/* The row whose variable names route topics: the version's, unless the
 * spec overrides its routing (spec.unsupportedVersion), then the first
 * matrix row with that routing. */
static const struct ph_version *routing_row(const struct ph_version *row, bool prefix)
{
	enum ph_routing want = prefix ? PH_ROUTING_KAFKA_PREFIX : PH_ROUTING_ENV;
	const struct ph_version *r;
	size_t i;

	if (row->routing == want)
		return row;
	for (i = 0; (r = ph_version_at(i)); i++)
		if (r->routing == want)
			return r;
	return row;
}

static void routing_env(const struct ph_ctx *c, cJSON *env, bool ingestion,
			const struct ph_bucket_names *n)
{
	const struct ph_version *row = routing_row(
		ph_version_or_fallback(util_json_get_str(c->spec, "version", NULL)),
		n->kafka_prefix[0] != '\0');

	/* With KafkaPrefix routing the prefix moves every topic and consumer
	 * group; the topic variables only restate the prefixed names. */
	if (n->kafka_prefix[0])
		ph_env(env, "KAFKA_PREFIX", n->kafka_prefix);
	ph_env(env, row->env_events_json_topic, n->events_json_topic);
	if (ingestion) {
		ph_env(env, row->env_ingestion_topic, n->ingestion_topic);
		if (row->env_ingestion_group)
			ph_env(env, row->env_ingestion_group, n->ingestion_group);
		return;
	}
	if (row->env_async_topic)
		ph_env(env, row->env_async_topic, n->events_json_topic);
	if (row->env_async_group)
		ph_env(env, row->env_async_group, n->async_group);
}

static cJSON *http_probe(int delay, int failures)
{
	cJSON *probe = PH_NN(cJSON_CreateObject());
	cJSON *get = ph_add_obj(probe, "httpGet");

	ph_add_str(get, "path", "/_health");
	ph_add_str(get, "port", "http");
	ph_add_int(probe, "initialDelaySeconds", delay);
	ph_add_int(probe, "periodSeconds", 10);
	ph_add_int(probe, "timeoutSeconds", 5);
	ph_add_int(probe, "failureThreshold", failures);
	return probe;
}

static cJSON *container(const struct ph_ctx *c, const cJSON *role, bool ingestion,
			const struct ph_bucket_names *n)
{
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *env, *p;
	char *img = ph_image(c->spec, "pluginServer");
	char b[16];

	ph_add_str(ct, "name", "plugin-server");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "pluginServer"));
	ph_add_copy(ct, "command", util_json_get(c->spec, "pluginServer.command"));
	p = PH_NN(cJSON_CreateObject());
	ph_add_str(p, "name", "http");
	ph_add_int(p, "containerPort", PH_PLUGIN_SERVER_PORT);
	ph_push(ph_add_arr(ct, "ports"), p);
	env = ph_add_arr(ct, "env");
	ph_env(env, "PLUGIN_SERVER_MODE", util_json_get_str(role, "mode", "ingestion"));
	snprintf(b, sizeof(b), "%u", n->bucket);
	ph_env(env, "POSTHOG_INGESTION_BUCKET", b);
	ph_kafka_env(c, env);
	ph_clickhouse_env(c, env);
	ph_datastore_env(c, env);
	ph_plugin_datastore_env(c, env);
	routing_env(c, env, ingestion, n);
	ph_env_merge(env, util_json_get(c->spec, "pluginServer.env"));
	ph_env_merge(env, util_json_get(role, "env"));
	cJSON_AddItemToObject(ct, "resources", ph_resources(util_json_get(role, "resources")));
	cJSON_AddItemToObject(ct, "readinessProbe", http_probe(10, 6));
	cJSON_AddItemToObject(ct, "livenessProbe", http_probe(60, 6));
	return ct;
}

static cJSON *deployment(const struct ph_ctx *c, const char *name, const char *comp,
			 unsigned bucket, const cJSON *role, const struct ph_bucket_names *n)
{
	cJSON *o = ph_object(c, "apps/v1", "Deployment", name, "plugin-server", comp, (int)bucket);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *sel = ph_selector(c, "plugin-server", comp, (int)bucket);
	cJSON *tpl, *md, *ann, *ps, *ru, *strategy;
	const cJSON *cpod = util_json_get(c->spec, "pluginServer.pod");

	/* With an HPA the replica count is the HPA's: leaving it out keeps
	 * server-side apply from fighting over it. */
	if (!util_json_get_bool(role, "autoscaling.enabled", false))
		ph_add_int(spec, "replicas", util_json_get_int(role, "replicas", 1));
	ph_add_copy(ph_add_obj(spec, "selector"), "matchLabels", sel);
	strategy = ph_add_obj(spec, "strategy");
	ph_add_str(strategy, "type", "RollingUpdate");
	ru = ph_add_obj(strategy, "rollingUpdate");
	ph_add_str(ru, "maxSurge", "25%");
	ph_add_str(ru, "maxUnavailable", "25%");
	tpl = ph_add_obj(spec, "template");
	md = ph_add_obj(tpl, "metadata");
	cJSON_AddItemToObject(md, "labels", ph_labels(c, "plugin-server", comp, (int)bucket));
	ann = ph_pod_annotations(c, cpod);
	if (!ann)
		ann = PH_NN(cJSON_CreateObject());
	ph_add_str(ann, "prometheus.io/scrape", "true");
	ph_add_str(ann, "prometheus.io/port", "6738");
	ph_add_str(ann, "prometheus.io/path", "/_metrics");
	cJSON_AddItemToObject(md, "annotations", ann);
	ps = ph_add_obj(tpl, "spec");
	ph_add_int(ps, "terminationGracePeriodSeconds", 30);
	ph_push(ph_add_arr(ps, "containers"), container(c, role, !strcmp(comp, "ingestion"), n));
	ph_pod_common(c, ps, cpod, sel, 0);
	cJSON_Delete(sel);
	return o;
}

static cJSON *hpa(const struct ph_ctx *c, const char *name, const char *comp,
		  unsigned bucket, const cJSON *role)
{
	cJSON *o = ph_object(c, "autoscaling/v2", "HorizontalPodAutoscaler", name,
			     "plugin-server", comp, (int)bucket);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *ref = ph_add_obj(spec, "scaleTargetRef");
	cJSON *m = PH_NN(cJSON_CreateObject());
	cJSON *res, *target;

	ph_add_str(ref, "apiVersion", "apps/v1");
	ph_add_str(ref, "kind", "Deployment");
	ph_add_str(ref, "name", name);
	ph_add_int(spec, "minReplicas", util_json_get_int(role, "autoscaling.minReplicas", 1));
	ph_add_int(spec, "maxReplicas", util_json_get_int(role, "autoscaling.maxReplicas", 4));
	ph_add_str(m, "type", "Resource");
	res = ph_add_obj(m, "resource");
	ph_add_str(res, "name", "cpu");
	target = ph_add_obj(res, "target");
	ph_add_str(target, "type", "Utilization");
	ph_add_int(target, "averageUtilization",
		   util_json_get_int(role, "autoscaling.targetCPUUtilizationPercentage", 70));
	ph_push(ph_add_arr(spec, "metrics"), m);
	return o;
}

/*
 * What the reconciler's lag autoscaler needs for one Deployment, on its
 * entry: the consumer group and topic its pods are given (routing_env
 * above sets the same names), and the role's policy after the bucket's
 * overrides.
 */
static void lag_autoscaling(cJSON *entry, const cJSON *role, bool ingestion,
			    const struct ph_bucket_names *n)
{
	cJSON *a = ph_add_obj(entry, "lagAutoscaling");

	ph_add_str(a, "group", ingestion ? n->ingestion_group : n->async_group);
	ph_add_str(a, "topic", ingestion ? n->ingestion_topic : n->events_json_topic);
	ph_add_int(a, "minReplicas", util_json_get_int(role, "autoscaling.minReplicas", 1));
	ph_add_int(a, "maxReplicas", util_json_get_int(role, "autoscaling.maxReplicas", 4));
	ph_add_int(a, "targetLagPerReplica",
		   util_json_get_int(role, "autoscaling.targetLagPerReplica", 1000));
	ph_add_int(a, "scaleUpStabilizationSeconds",
		   util_json_get_int(role, "autoscaling.scaleUpStabilizationSeconds", 0));
	ph_add_int(a, "scaleDownStabilizationSeconds",
		   util_json_get_int(role, "autoscaling.scaleDownStabilizationSeconds", 300));
}

static void build_role(struct ph_ctx *c, const char *role_name, unsigned bucket,
		       const struct ph_bucket_names *n)
{
	bool ingestion = !strcmp(role_name, "ingestion");
	const char *name = ingestion ? n->ingestion_deployment : n->async_deployment;
	cJSON *role = effective_role(c, role_name, bucket);
	bool scaled = util_json_get_bool(role, "autoscaling.enabled", false);
	bool lag = scaled && !strcmp(util_json_get_str(role, "autoscaling.metric", "cpu"), "lag");

	ph_emit(c, "plugin-server", (int)bucket, deployment(c, name, role_name, bucket, role, n));
	/* With metric lag the operator sets the replicas and no HPA exists
	 * (one left from metric cpu is pruned), so two controllers never
	 * fight over the count. */
	if (lag)
		lag_autoscaling(cJSON_GetArrayItem(c->entries, cJSON_GetArraySize(c->entries) - 1),
				role, ingestion, n);
	else if (scaled)
		ph_emit(c, "plugin-server", (int)bucket, hpa(c, name, role_name, bucket, role));
	ph_emit(c, "plugin-server", (int)bucket,
		ph_pdb(c, name, "plugin-server", role_name, (int)bucket,
		       ph_selector(c, "plugin-server", role_name, (int)bucket)));
	cJSON_Delete(role);
}

void ph_build_plugin_server(struct ph_ctx *c)
{
	unsigned count = (unsigned)util_json_get_int(c->spec, "buckets.count", 1), b;

	for (b = 0; b < count; b++) {
		struct ph_bucket_names n;

		if (ph_bucket_names(c->name, c->spec, b, &n) != 0)
			abort(); /* validated: names fit */
		build_role(c, "ingestion", b, &n);
		build_role(c, "async", b, &n);
	}
}
