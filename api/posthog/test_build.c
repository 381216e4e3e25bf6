/* ph_build over the examples: order, metadata, per-component details. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PH_TESTING
#include "build-private.h"

static const struct {
	const char *example;
	int per_stage[PH_STAGE_COUNT]; /* entries per stage */
} specs[] = {
	{ "examples/minimal.yaml", { 5, 9, 7, 1, 1, 1, 4, 2 } },
	/* 2 shards x (headless + 2 replica Services + StatefulSet + PDB) + 2
	 * ConfigMaps + client Service; 4 buckets x (2 Deployments, 2 PDBs,
	 * an ingestion HPA). */
	{ "examples/production.yaml", { 5, 9, 13, 4, 1, 1, 20, 2 } },
	{ "examples/external.yaml", { 0, 0, 0, 2, 1, 1, 8, 2 } },
	{ "examples/legacy-topics.yaml", { 5, 9, 7, 3, 1, 1, 12, 2 } },
};

static int stage_index(const char *s)
{
	int i;

	for (i = 0; i < PH_STAGE_COUNT; i++)
		if (!strcmp(ph_stages[i], s))
			return i;
	return -1;
}

/* Label keys contain dots, so no util_json_get paths. */
static const char *label(const cJSON *labels, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(labels, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static cJSON *build(const char *example, const char *uid)
{
	cJSON *ph = load_posthog(example), *entries = NULL;

	if (uid)
		cJSON_AddStringToObject(cJSON_GetObjectItem(ph, "metadata"), "uid", uid);
	ck_assert_int_eq(ph_build(ph, &entries), 0);
	cJSON_Delete(ph);
	return entries;
}

START_TEST(test_stages)
{
	cJSON *entries = build(specs[_i].example, NULL), *e;
	int counts[PH_STAGE_COUNT] = { 0 }, last = 0, i;

	cJSON_ArrayForEach(e, entries) {
		int s = stage_index(util_json_get_str(e, "stage", ""));

		ck_assert_int_ge(s, last);
		last = s;
		counts[s]++;
	}
	for (i = 0; i < PH_STAGE_COUNT; i++)
		ck_assert_msg(counts[i] == specs[_i].per_stage[i], "%s: stage %s has %d, want %d",
			      specs[_i].example, ph_stages[i], counts[i], specs[_i].per_stage[i]);
	cJSON_Delete(entries);
}
END_TEST

START_TEST(test_metadata)
{
	cJSON *entries = build(specs[_i].example, "0b9c7c1e-1111-2222-3333-444455556666"), *e;
	cJSON *ph = load_posthog(specs[_i].example);
	const char *name = util_json_get_str(ph, "metadata.name", "");
	const char *ns = util_json_get_str(ph, "metadata.namespace", NULL);

	cJSON_ArrayForEach(e, entries) {
		const cJSON *o = cJSON_GetObjectItem(e, "object");
		const cJSON *labels = util_json_get(o, "metadata.labels");
		const cJSON *ref = cJSON_GetArrayItem(util_json_get(o, "metadata.ownerReferences"), 0);
		const cJSON *b = cJSON_GetObjectItem(e, "bucket");

		ck_assert_ptr_null(cJSON_GetObjectItem(o, "status"));
		ck_assert_str_eq(label(labels, PH_LABEL_MANAGED_BY), PH_MANAGED_BY);
		ck_assert_str_eq(label(labels, PH_LABEL_PART_OF), PH_PART_OF);
		ck_assert_str_eq(label(labels, PH_LABEL_INSTANCE), name);
		ck_assert_ptr_nonnull(cJSON_GetObjectItem(labels, PH_LABEL_NAME));
		ck_assert_ptr_nonnull(cJSON_GetObjectItem(labels, PH_LABEL_COMPONENT));
		if (b) {
			char want[16];
			snprintf(want, sizeof(want), "%d", b->valueint);
			ck_assert_str_eq(label(labels, PH_LABEL_BUCKET), want);
		}
		if (ns)
			ck_assert_str_eq(util_json_get_str(o, "metadata.namespace", ""), ns);
		ck_assert_ptr_nonnull(ref);
		ck_assert_str_eq(util_json_get_str(ref, "kind", ""), "PostHog");
		ck_assert_str_eq(util_json_get_str(ref, "apiVersion", ""), "posthog.com/v1alpha1");
		ck_assert_str_eq(util_json_get_str(ref, "uid", ""), "0b9c7c1e-1111-2222-3333-444455556666");
		ck_assert(util_json_get_bool(ref, "controller", false));
		ck_assert(util_json_get_bool(ref, "blockOwnerDeletion", false));
		ck_assert_int_le((int)strlen(util_json_get_str(o, "metadata.name", "")), 63);
	}
	cJSON_Delete(ph);
	cJSON_Delete(entries);
}
END_TEST

START_TEST(test_no_uid_no_owner)
{
	cJSON *entries = build(specs[_i].example, NULL), *e;

	cJSON_ArrayForEach(e, entries)
		ck_assert_ptr_null(util_json_get(cJSON_GetObjectItem(e, "object"), "metadata.ownerReferences"));
	cJSON_Delete(entries);
}
END_TEST

START_TEST(test_deterministic)
{
	cJSON *a = build(specs[_i].example, "u"), *b = build(specs[_i].example, "u");

	ck_assert(cJSON_Compare(a, b, 1));
	cJSON_Delete(a);
	cJSON_Delete(b);
}
END_TEST

/* Every pod template: probes, resources, scheduling from the spec. */
START_TEST(test_pods)
{
	cJSON *entries = build(specs[_i].example, NULL), *e;

	cJSON_ArrayForEach(e, entries) {
		const cJSON *o = cJSON_GetObjectItem(e, "object");
		const char *kind = util_json_get_str(o, "kind", "");
		const cJSON *ps = util_json_get(o, "spec.template.spec");
		const cJSON *ct = cJSON_GetArrayItem(util_json_get(ps, "containers"), 0);

		if (!strcmp(kind, "StatefulSet") || !strcmp(kind, "Deployment")) {
			ck_assert_ptr_nonnull(util_json_get(ct, "readinessProbe"));
			ck_assert_ptr_nonnull(util_json_get(ct, "livenessProbe"));
			ck_assert_ptr_nonnull(util_json_get(ct, "resources"));
			ck_assert_ptr_nonnull(util_json_get(ps, "affinity"));
		}
		if (!strcmp(kind, "StatefulSet")) {
			ck_assert_ptr_nonnull(util_json_get(o, "spec.volumeClaimTemplates"));
			ck_assert_str_eq(util_json_get_str(o, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", ""),
					 "Retain");
		}
		if (ps && strstr(specs[_i].example, "production")) {
			ck_assert_str_eq(util_json_get_str(ps, "priorityClassName", ""), "posthog-data");
			ck_assert_ptr_nonnull(util_json_get(ps, "tolerations"));
			ck_assert_ptr_nonnull(util_json_get(cJSON_GetArrayItem(util_json_get(ps, "topologySpreadConstraints"), 0),
						     "labelSelector"));
		}
	}
	cJSON_Delete(entries);
}
END_TEST

static const cJSON *env_of(const cJSON *deploy, const char *name)
{
	const cJSON *ct = cJSON_GetArrayItem(util_json_get(deploy, "spec.template.spec.containers"), 0);
	const cJSON *e;

	cJSON_ArrayForEach(e, util_json_get(ct, "env"))
		if (!strcmp(util_json_get_str(e, "name", ""), name))
			return e;
	return NULL;
}

static const cJSON *find(const cJSON *entries, const char *kind, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, entries) {
		const cJSON *o = cJSON_GetObjectItem(e, "object");
		if (!strcmp(util_json_get_str(o, "kind", ""), kind) &&
		    !strcmp(util_json_get_str(o, "metadata.name", ""), name))
			return o;
	}
	return NULL;
}

static const struct {
	const char *example, *deployment, *env, *value;
} envs[] = {
	{ "examples/production.yaml", "posthog-plugins-ingestion-2", "INGESTION_CONSUMER_CONSUME_TOPIC", "events_plugin_ingestion_2" },
	{ "examples/production.yaml", "posthog-plugins-ingestion-2", "INGESTION_CONSUMER_GROUP_ID", "events-ingestion-consumer-2" },
	{ "examples/production.yaml", "posthog-plugins-ingestion-2", "CLICKHOUSE_JSON_EVENTS_KAFKA_TOPIC", "clickhouse_events_json_2" },
	{ "examples/production.yaml", "posthog-plugins-async-1", "CDP_LEGACY_EVENT_CONSUMER_TOPIC", "clickhouse_events_json_1" },
	{ "examples/production.yaml", "posthog-plugins-async-1", "PLUGIN_SERVER_MODE", "cdp-legacy-on-event" },
	{ "examples/production.yaml", "posthog-plugins-async-1", "KAFKA_HOSTS", "posthog-kafka.posthog.svc:9092" },
	{ "examples/production.yaml", "posthog-plugins-async-1", "CLICKHOUSE_HOST", "posthog-clickhouse" },
	{ "examples/legacy-topics.yaml", "legacy-plugins-ingestion-1", "KAFKA_PREFIX", "b1_" },
	{ "examples/legacy-topics.yaml", "legacy-plugins-async-2", "KAFKA_PREFIX", "b2_" },
	{ "examples/legacy-topics.yaml", "legacy-plugins-async-2", "PLUGIN_SERVER_MODE", "async" },
	{ "examples/legacy-topics.yaml", "legacy-plugins-ingestion-0", "KAFKA_HOSTS", "legacy-kafka:9092" },
	{ "examples/external.yaml", "posthog-plugins-ingestion-1", "KAFKA_SECURITY_PROTOCOL", "SASL_SSL" },
	{ "examples/external.yaml", "posthog-plugins-ingestion-1", "KAFKA_SASL_MECHANISM", "SCRAM-SHA-512" },
	{ "examples/external.yaml", "posthog-plugins-ingestion-1", "CLICKHOUSE_HOST", "abc123.eu-west-1.aws.clickhouse.cloud" },
	{ "examples/external.yaml", "posthog-plugins-ingestion-1", "CLICKHOUSE_SECURE", "true" },
	{ "examples/external.yaml", "posthog-plugins-ingestion-1", "KAFKA_HOSTS",
	  "b-1.posthog.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,b-2.posthog.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,"
	  "b-3.posthog.abc123.c2.kafka.eu-west-1.amazonaws.com:9096" },
	{ "examples/production.yaml", "posthog-plugins-ingestion-0", "DATABASE_URL", NULL },
	{ "examples/external.yaml", "posthog-plugins-ingestion-0", "KAFKA_SASL_PASSWORD", NULL },
};

START_TEST(test_env)
{
	cJSON *entries = build(envs[_i].example, NULL);
	const cJSON *d = find(entries, "Deployment", envs[_i].deployment), *e;

	ck_assert_msg(d != NULL, "no Deployment %s", envs[_i].deployment);
	e = env_of(d, envs[_i].env);
	ck_assert_msg(e != NULL, "no %s", envs[_i].env);
	if (envs[_i].value)
		ck_assert_str_eq(util_json_get_str(e, "value", ""), envs[_i].value);
	else
		ck_assert_ptr_nonnull(util_json_get(e, "valueFrom.secretKeyRef.name"));
	cJSON_Delete(entries);
}
END_TEST

START_TEST(test_hpa_owns_replicas)
{
	cJSON *entries = build("examples/production.yaml", NULL);
	const cJSON *ing = find(entries, "Deployment", "posthog-plugins-ingestion-3");
	const cJSON *as = find(entries, "Deployment", "posthog-plugins-async-3");
	const cJSON *hpa = find(entries, "HorizontalPodAutoscaler", "posthog-plugins-ingestion-3");

	ck_assert_ptr_null(util_json_get(ing, "spec.replicas"));
	ck_assert_int_eq(util_json_get_int(as, "spec.replicas", -1), 2);
	ck_assert_int_eq(util_json_get_int(hpa, "spec.maxReplicas", -1), 16); /* bucket 3 override */
	ck_assert_int_eq(util_json_get_int(hpa, "spec.minReplicas", -1), 2);
	ck_assert_ptr_null(find(entries, "HorizontalPodAutoscaler", "posthog-plugins-async-3"));
	cJSON_Delete(entries);
}
END_TEST

/* RFC 7386 merge patch of patch (JSON text) into target. */
static void merge(cJSON *target, const cJSON *patch)
{
	const cJSON *kv;

	cJSON_ArrayForEach(kv, patch) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, kv->string);

		if (cJSON_IsObject(kv) && cJSON_IsObject(t)) {
			merge(t, kv);
			continue;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(target, kv->string);
		if (!cJSON_IsNull(kv))
			cJSON_AddItemToObject(target, kv->string, cJSON_Duplicate(kv, true));
	}
}

/* autoscaling.metric lag: no HPA, no replicas on the Deployment, and the
 * entry carries the group and topic the pods consume with the policy
 * after the bucket's overrides. */
static const struct {
	const char *example, *patch, *deployment;
	const char *group, *topic; /* NULL: not lag-scaled */
	bool hpa;
	int min, max, target, up, down;
} lag_cases[] = {
	{"examples/production.yaml",
	 "{\"spec\":{\"buckets\":{\"overrides\":[{\"bucket\":2,\"ingestion\":{\"autoscaling\":"
	 "{\"metric\":\"lag\",\"targetLagPerReplica\":50,\"scaleDownStabilizationSeconds\":10}}}]}}}",
	 "posthog-plugins-ingestion-2", "events-ingestion-consumer-2", "events_plugin_ingestion_2",
	 false, 2, 8, 50, 0, 10},
	{"examples/production.yaml",
	 "{\"spec\":{\"buckets\":{\"overrides\":[{\"bucket\":2,\"ingestion\":{\"autoscaling\":"
	 "{\"metric\":\"lag\"}}}]}}}",
	 "posthog-plugins-ingestion-1", NULL, NULL, true, 0, 0, 0, 0, 0},
	{"examples/production.yaml",
	 "{\"spec\":{\"pluginServer\":{\"async\":{\"autoscaling\":{\"enabled\":true,"
	 "\"metric\":\"lag\",\"maxReplicas\":3,\"scaleUpStabilizationSeconds\":5}}}}}",
	 "posthog-plugins-async-0", "clickhouse-plugin-server-async-onevent-0",
	 "clickhouse_events_json_0", false, 1, 3, 1000, 5, 300},
	{"examples/production.yaml",
	 "{\"spec\":{\"pluginServer\":{\"ingestion\":{\"autoscaling\":{\"metric\":\"lag\","
	 "\"enabled\":false}}}}}",
	 "posthog-plugins-ingestion-0", NULL, NULL, false, 0, 0, 0, 0, 0},
	{"examples/legacy-topics.yaml",
	 "{\"spec\":{\"pluginServer\":{\"ingestion\":{\"autoscaling\":{\"enabled\":true,"
	 "\"metric\":\"lag\"}}}}}",
	 "legacy-plugins-ingestion-1", "b1_clickhouse-ingestion", "b1_events_plugin_ingestion",
	 false, 1, 4, 1000, 0, 300},
};

START_TEST(test_lag_autoscaling)
{
	cJSON *ph = load_posthog(lag_cases[_i].example), *entries = NULL;
	cJSON *patch = cJSON_Parse(lag_cases[_i].patch);
	const cJSON *e, *entry = NULL, *a;

	ck_assert_ptr_nonnull(patch);
	merge(ph, patch);
	cJSON_Delete(patch);
	ck_assert_int_eq(ph_build(ph, &entries), 0);
	cJSON_Delete(ph);
	cJSON_ArrayForEach(e, entries)
		if (!strcmp(util_json_get_str(e, "object.kind", ""), "Deployment") &&
		    !strcmp(util_json_get_str(e, "object.metadata.name", ""), lag_cases[_i].deployment))
			entry = e;
	ck_assert_ptr_nonnull(entry);
	ck_assert(!!find(entries, "HorizontalPodAutoscaler", lag_cases[_i].deployment) ==
		  lag_cases[_i].hpa);
	a = util_json_get(entry, "lagAutoscaling");
	if (!lag_cases[_i].group) {
		ck_assert_ptr_null(a);
		cJSON_Delete(entries);
		return;
	}
	ck_assert_ptr_null(util_json_get(entry, "object.spec.replicas"));
	ck_assert_str_eq(util_json_get_str(a, "group", ""), lag_cases[_i].group);
	ck_assert_str_eq(util_json_get_str(a, "topic", ""), lag_cases[_i].topic);
	ck_assert_int_eq(util_json_get_int(a, "minReplicas", -1), lag_cases[_i].min);
	ck_assert_int_eq(util_json_get_int(a, "maxReplicas", -1), lag_cases[_i].max);
	ck_assert_int_eq(util_json_get_int(a, "targetLagPerReplica", -1), lag_cases[_i].target);
	ck_assert_int_eq(util_json_get_int(a, "scaleUpStabilizationSeconds", -1), lag_cases[_i].up);
	ck_assert_int_eq(util_json_get_int(a, "scaleDownStabilizationSeconds", -1), lag_cases[_i].down);
	cJSON_Delete(entries);
}
END_TEST

START_TEST(test_config)
{
	cJSON *entries = build("examples/production.yaml", NULL);
	const char *zoo;
	const cJSON *cm = find(entries, "ConfigMap", "posthog-zookeeper");
	const cJSON *kafka = find(entries, "ConfigMap", "posthog-kafka");
	const cJSON *ch = find(entries, "ConfigMap", "posthog-clickhouse");

	zoo = cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "data"), "zoo.cfg")->valuestring;
	ck_assert_ptr_nonnull(strstr(zoo, "autopurge.purgeInterval=1"));
	/* Membership is dynamic: the static file enables reconfig and holds
	 * no server; the fresh ensemble's members are a file of their own. */
	ck_assert_ptr_nonnull(strstr(zoo, "reconfigEnabled=true\nstandaloneEnabled=false\n"));
	ck_assert_ptr_null(strstr(zoo, "server."));
	ck_assert_ptr_null(strstr(zoo, "clientPort"));
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "data"), "zoo.cfg.dynamic")->valuestring,
				     "server.3=posthog-zookeeper-2.posthog-zookeeper-headless:2888:3888:participant;2181\n"));
	/* A controller quorum of its own; brokers only broker. */
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(kafka, "data"), "server.properties")->valuestring,
				     "process.roles=broker\n"));
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(kafka, "data"), "server.properties")->valuestring,
				     "controller.quorum.voters=1000@posthog-kafka-controller-0.posthog-kafka-controller-headless:9093,"
				     "1001@posthog-kafka-controller-1.posthog-kafka-controller-headless:9093,"
				     "1002@posthog-kafka-controller-2.posthog-kafka-controller-headless:9093\n"));
	ck_assert_ptr_nonnull(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(
		find(entries, "ConfigMap", "posthog-kafka-controller"), "data"), "server.properties")),
				     "process.roles=controller\ncontroller.listener.names=CONTROLLER\n"
				     "listeners=CONTROLLER://:9093\n"));
	ck_assert_int_eq(util_json_get_int(find(entries, "StatefulSet", "posthog-kafka-controller"), "spec.replicas", 0), 3);
	ck_assert_int_eq(util_json_get_int(find(entries, "StatefulSet", "posthog-kafka"), "spec.replicas", 0), 3);
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(kafka, "data"), "server.properties")->valuestring,
				     "log.retention.hours=48"));
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "data"), "posthog.xml")->valuestring,
				     "<host>posthog-clickhouse-1-1.posthog-clickhouse-1</host>"));
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "data"), "posthog.xml")->valuestring,
				     "<replica from_env=\"HOSTNAME\"/>"));
	cJSON_Delete(entries);
}
END_TEST

/* The config-hash annotation of StatefulSet sts's pod template, or NULL. */
static const char *config_hash(const cJSON *entries, const char *sts)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(
		util_json_get(find(entries, "StatefulSet", sts), "spec.template.metadata.annotations"),
		"posthog.com/config-hash"));
}

/* The ClickHouse pods' config hash: a shard or replica count changes only
 * remote_servers, which ClickHouse reloads live, so no running server is
 * restarted; what a server reads only at start (users, ZooKeeper) does. */
static const struct {
	const char *what, *key;
	int value;         /* set spec.clickhouse.<key> (number) ... */
	const char *user;  /* ... or spec.clickhouse.user */
	bool same;
} ch_hash_cases[] = {
	{"a third shard", "shards", 3, NULL, true},
	{"one shard", "shards", 1, NULL, true},
	{"three replicas per shard", "replicasPerShard", 3, NULL, true},
	{"another user", NULL, 0, "someone", false},
};

START_TEST(test_clickhouse_topology_keeps_hash)
{
	cJSON *ph = load_posthog("examples/production.yaml"), *a, *b;
	cJSON *ch = cJSON_GetObjectItem(cJSON_GetObjectItem(ph, "spec"), "clickhouse");
	const char *ha, *hb;

	ck_assert_int_eq(ph_build(ph, &a), 0);
	if (ch_hash_cases[_i].key)
		cJSON_SetIntValue(cJSON_GetObjectItem(ch, ch_hash_cases[_i].key), ch_hash_cases[_i].value);
	else
		cJSON_SetValuestring(cJSON_GetObjectItem(ch, "user"), ch_hash_cases[_i].user);
	ck_assert_int_eq(ph_build(ph, &b), 0);
	ha = config_hash(a, "posthog-clickhouse-0");
	hb = config_hash(b, "posthog-clickhouse-0");
	ck_assert_ptr_nonnull(ha);
	ck_assert_ptr_nonnull(hb);
	ck_assert_msg((strcmp(ha, hb) == 0) == ch_hash_cases[_i].same, "%s: %s -> %s",
		      ch_hash_cases[_i].what, ha, hb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(ph);
}
END_TEST

/* A membership change does not roll the ensemble: the pods' config hash
 * leaves out the fresh ensemble's members, which reconfig changes. */
START_TEST(test_zookeeper_size_keeps_hash)
{
	cJSON *ph = load_posthog("examples/production.yaml"), *a, *b;
	const char *ha, *hb;

	ck_assert_int_eq(ph_build(ph, &a), 0);
	cJSON_SetIntValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ph, "spec"),
								  "zookeeper"), "replicas"), 5);
	ck_assert_int_eq(ph_build(ph, &b), 0);
	ha = config_hash(a, "posthog-zookeeper");
	hb = config_hash(b, "posthog-zookeeper");
	ck_assert_ptr_nonnull(ha);
	ck_assert_ptr_nonnull(hb);
	ck_assert_str_eq(ha, hb);
	ck_assert_int_eq(util_json_get_int(find(b, "StatefulSet", "posthog-zookeeper"), "spec.replicas", 0), 5);
	ck_assert_ptr_nonnull(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(
		util_json_get(find(b, "ConfigMap", "posthog-zookeeper"), "data"), "zoo.cfg.dynamic")), "server.5="));
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(ph);
}
END_TEST

/* The Kafka move Job: which brokers keep replicas, which must end empty. */
static const struct {
	int from, to;
	const char *keep, *removed, *target;
} moves[] = {
	{3, 2, "0,1", "2", "2"},
	{5, 3, "0,1,2", "3 4", "3"},
	{2, 3, "0,1,2", "", "3"},
	{1, 1, "0", "", "1"},
};

static const char *env_value(const cJSON *job, const char *name)
{
	return util_json_get_str(env_of(job, name), "value", NULL);
}

START_TEST(test_kafka_move_job)
{
	cJSON *ph = load_posthog("examples/production.yaml"), *job = NULL;
	const cJSON *ct;

	ck_assert_int_eq(ph_kafka_move_job(ph, "posthog-kafka-move", moves[_i].from, moves[_i].to, &job), 0);
	ck_assert_str_eq(util_json_get_str(job, "kind", ""), "Job");
	ck_assert_str_eq(util_json_get_str(job, "metadata.name", ""), "posthog-kafka-move");
	ck_assert_str_eq(util_json_get_str(job, "spec.template.spec.restartPolicy", ""), "Never");
	ct = cJSON_GetArrayItem(util_json_get(job, "spec.template.spec.containers"), 0);
	ck_assert_str_eq(env_value(job, "KEEP"), moves[_i].keep);
	if (moves[_i].removed[0])
		ck_assert_str_eq(env_value(job, "REMOVED"), moves[_i].removed);
	else
		ck_assert_ptr_null(env_of(job, "REMOVED"));
	ck_assert_str_eq(env_value(job, "TARGET"), moves[_i].target);
	ck_assert_str_eq(env_value(job, "BOOTSTRAP"), "posthog-kafka.posthog.svc:9092");
	ck_assert_ptr_nonnull(strstr(cJSON_GetArrayItem(cJSON_GetObjectItem(ct, "command"), 2)->valuestring,
				     "kafka-reassign-partitions.sh"));
	cJSON_Delete(job);
	job = NULL;
	ck_assert_int_eq(ph_kafka_move_job(ph, "x", 0, 1, &job), -EINVAL);
	ck_assert_int_eq(ph_kafka_move_job(ph, NULL, 2, 1, &job), -EINVAL);
	ck_assert_ptr_null(job);
	cJSON_Delete(ph);
}
END_TEST

static const cJSON *first_in_stage(const cJSON *entries, const char *stage)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, entries)
		if (!strcmp(util_json_get_str(e, "stage", ""), stage))
			return e;
	return NULL;
}

/* The topic Job's name follows its content. */
START_TEST(test_topic_job_name)
{
	cJSON *ph = load_posthog("examples/minimal.yaml"), *a, *b;
	const char *na, *nb;

	ck_assert_int_eq(ph_build(ph, &a), 0);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(
		cJSON_GetObjectItem(ph, "spec"), "kafka"), "topics"), "partitions", cJSON_CreateNumber(8));
	ck_assert_int_eq(ph_build(ph, &b), 0);
	na = util_json_get_str(cJSON_GetObjectItem(first_in_stage(a, "topics"), "object"), "metadata.name", "");
	nb = util_json_get_str(cJSON_GetObjectItem(first_in_stage(b, "topics"), "object"), "metadata.name", "");
	ck_assert_int_eq(strncmp(na, "posthog-topics-0-", 17), 0);
	ck_assert_int_eq(strncmp(nb, "posthog-topics-0-", 17), 0);
	ck_assert_str_ne(na, nb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(ph);
}
END_TEST

START_TEST(test_endpoints)
{
	cJSON *ph = load_posthog("examples/production.yaml"), *spec;
	cJSON *ext = load_posthog("examples/external.yaml"), *espec;
	struct ph_clickhouse_endpoint e;
	const char *u, *s, *k;
	char boot[256];

	ck_assert_int_eq(ph_normalize(ph, &spec), 0);
	ck_assert_int_eq(ph_clickhouse_endpoint("posthog", "posthog", spec, 1, 1, &e), 0);
	ck_assert_str_eq(e.service, "posthog-clickhouse-1-1");
	ck_assert_str_eq(e.host, "posthog-clickhouse-1-1.posthog.svc");
	ck_assert_uint_eq(e.port, 8123);
	ck_assert_int_eq(ph_clickhouse_endpoint("posthog", NULL, spec, 2, 0, &e), -EINVAL);
	ck_assert_int_eq(ph_clickhouse_credentials(spec, &u, &s, &k), 0);
	ck_assert_str_eq(u, "admin");
	ck_assert_str_eq(s, "posthog-clickhouse");
	ck_assert_str_eq(k, "password");
	ck_assert_int_eq(ph_kafka_bootstrap("posthog", NULL, spec, boot, sizeof(boot)), 0);
	ck_assert_str_eq(boot, "posthog-kafka:9092");
	ck_assert_int_eq(ph_kafka_bootstrap("posthog", NULL, spec, boot, 5), -ENOSPC);
	ck_assert(!ph_is_external(spec, "kafka"));
	ck_assert_int_eq(ph_normalize(ext, &espec), 0);
	ck_assert_int_eq(ph_clickhouse_endpoint("posthog", "posthog", espec, 0, 0, &e), 0);
	ck_assert_str_eq(e.host, "abc123.eu-west-1.aws.clickhouse.cloud");
	ck_assert_uint_eq(e.port, 8443);
	ck_assert(e.secure);
	ck_assert_int_eq(ph_clickhouse_endpoint("posthog", "posthog", espec, 0, 1, &e), -EINVAL);
	ck_assert(ph_is_external(espec, "kafka"));
	cJSON_Delete(spec);
	cJSON_Delete(espec);
	cJSON_Delete(ph);
	cJSON_Delete(ext);
}
END_TEST

START_TEST(test_cluster_id)
{
	char a[23], b[23], c[23];

	ph_kafka_cluster_id("ns", "ph", a);
	ph_kafka_cluster_id("ns", "ph", b);
	ph_kafka_cluster_id("other", "ph", c);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_uint_eq(strlen(a), 22);
}
END_TEST

/* The topics Job's script, run by /bin/sh with SASL credentials from a
 * Secret: a quote, backslash or line break would break out of
 * sasl.jaas.config and is refused; anything else is written as is. No
 * topic is named, so no Kafka command runs. */
static const struct {
	const char *user, *password;
	int exit_code;
} sasl_cases[] = {
	{"svc", "s3cret", 0},
	{"svc", "p4ss word!$`x", 0},
	{"svc", "x\"; sasl.kerberos.service.name=evil; y=\"", 1},
	{"svc", "x\nsecurity.protocol=PLAINTEXT", 1},
	{"svc", "x\rz", 1},
	{"svc", "back\\slash", 1},
	{"a\"b", "ok", 1},
};

START_TEST(test_topics_script_refuses_breaking_credentials)
{
	cJSON *entries = build("examples/external.yaml", NULL), *e;
	const char *script = NULL;
	char dir[] = "/tmp/ph-topics-XXXXXX", path[64], cfg[96], buf[512] = "";
	FILE *f;
	int status;

	cJSON_ArrayForEach(e, entries) {
		const cJSON *obj = cJSON_GetObjectItem(e, "object");

		if (!strcmp(util_json_get_str(obj, "kind", ""), "Job") &&
		    !strcmp(util_json_get_str(e, "stage", ""), "topics"))
			script = cJSON_GetArrayItem(util_json_get(cJSON_GetArrayItem(
				util_json_get(obj, "spec.template.spec.containers"), 0), "command"), 2)->valuestring;
	}
	ck_assert_ptr_nonnull(script);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ensure.sh", dir);
	snprintf(cfg, sizeof(cfg), "%s/client.properties", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(script, f);
	fclose(f);
	setenv("TMPDIR", dir, 1);
	setenv("TOPICS", "", 1);
	setenv("KAFKA_SASL_MECHANISM", "PLAIN", 1);
	setenv("KAFKA_SASL_USERNAME", sasl_cases[_i].user, 1);
	setenv("KAFKA_SASL_PASSWORD", sasl_cases[_i].password, 1);
	snprintf(buf, sizeof(buf), "/bin/sh %s 2>/dev/null", path);
	status = system(buf);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), sasl_cases[_i].exit_code);
	if (sasl_cases[_i].exit_code == 0) {
		f = fopen(cfg, "r");
		ck_assert_ptr_nonnull(f);
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
		fclose(f);
		ck_assert_ptr_nonnull(strstr(buf, sasl_cases[_i].password));
	}
	unlink(cfg);
	unlink(path);
	rmdir(dir);
	unsetenv("TMPDIR");
	cJSON_Delete(entries);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("posthog_build");
	TCase *tc = tcase_create("build");
	int n = sizeof(specs) / sizeof(specs[0]);

	tcase_add_loop_test(tc, test_stages, 0, n);
	tcase_add_loop_test(tc, test_metadata, 0, n);
	tcase_add_loop_test(tc, test_no_uid_no_owner, 0, n);
	tcase_add_loop_test(tc, test_deterministic, 0, n);
	tcase_add_loop_test(tc, test_pods, 0, n);
	tcase_add_loop_test(tc, test_env, 0, sizeof(envs) / sizeof(envs[0]));
	tcase_add_test(tc, test_hpa_owns_replicas);
	tcase_add_loop_test(tc, test_lag_autoscaling, 0,
			    (int)(sizeof(lag_cases) / sizeof(lag_cases[0])));
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_zookeeper_size_keeps_hash);
	tcase_add_loop_test(tc, test_clickhouse_topology_keeps_hash, 0,
			    sizeof(ch_hash_cases) / sizeof(ch_hash_cases[0]));
	tcase_add_loop_test(tc, test_kafka_move_job, 0, sizeof(moves) / sizeof(moves[0]));
	tcase_add_test(tc, test_topic_job_name);
	tcase_add_test(tc, test_endpoints);
	tcase_add_test(tc, test_cluster_id);
	tcase_add_loop_test(tc, test_topics_script_refuses_breaking_credentials, 0,
			    sizeof(sasl_cases) / sizeof(sasl_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
