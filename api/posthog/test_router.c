/* The router's Deployment and PDB (build_router.c) over specs and options. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define PH_TESTING
#include "build-private.h"

/* A JSON merge (objects recursively, everything else replaced) of patch
 * into target. */
static void merge(cJSON *target, const cJSON *patch)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, patch) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);

		if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
			merge(t, p);
			continue;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
		cJSON_AddItemToObject(target, p->string, PH_NN(cJSON_Duplicate(p, true)));
	}
}

/* The router entries of example with spec patched, built with image. */
static cJSON *router_objects(const char *example, const char *spec_patch,
			     const char *image)
{
	cJSON *ph = load_posthog(example), *entries = NULL, *out, *e;
	struct ph_build_options o = {.router_image = image};

	if (spec_patch) {
		cJSON *patch = parse_json(spec_patch);

		merge(cJSON_GetObjectItem(ph, "spec"), patch);
		cJSON_Delete(patch);
	}
	ck_assert_int_eq(ph_build_with(ph, &o, &entries), 0);
	cJSON_Delete(ph);
	out = PH_NN(cJSON_CreateArray());
	cJSON_ArrayForEach(e, entries)
		if (!strcmp(util_json_get_str(e, "stage", ""), "router"))
			ph_push(out, PH_NN(cJSON_Duplicate(util_json_get(e, "object"), true)));
	cJSON_Delete(entries);
	return out;
}

static const cJSON *find_env(const cJSON *ct, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, util_json_get(ct, "env"))
		if (!strcmp(util_json_get_str(e, "name", ""), name))
			return e;
	return NULL;
}

static bool has_arg(const cJSON *ct, const char *a)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, util_json_get(ct, "args"))
		if (cJSON_IsString(e) && !strcmp(e->valuestring, a))
			return true;
	return false;
}

static const struct {
	const char *name;
	const char *example;
	const char *patch;        /* merged into spec; NULL = none */
	const char *image_opt;    /* the operator's --router-image */
	bool present;
	const char *image;        /* want */
	const char *pull;
	int replicas;
	const char *args[6];      /* each must be in args */
	const char *absent_arg;   /* must not be in args; NULL = none */
	const char *db_secret, *db_key;
	const char *mem_limit;
	bool ca_volume;
} cases[] = {
	{ "minimal, defaults", "examples/minimal.yaml", NULL, NULL, true,
	  PH_ROUTER_DEFAULT_IMAGE, "IfNotPresent", 2,
	  { "route", "--source-topic=events_plugin_ingestion", "--group=posthog-router",
	    "--bucket-map=/etc/posthog-buckets/buckets.json",
	    "--kafka-bootstrap-servers=posthog-kafka:9092" },
	  "--kafka-conf=security.protocol=SSL", "posthog-app", "database-url", "256Mi", false },
	{ "operator image and spec fields", "examples/minimal.yaml",
	  "{\"router\": {\"replicas\": 3, \"sourceTopic\": \"capture_events\","
	  " \"group\": \"r1\", \"image\": {\"tag\": \"dev\", \"pullPolicy\": \"Always\"},"
	  " \"resources\": {\"limits\": {\"memory\": \"128Mi\"}}}}",
	  "registry.local:5000/ops/posthog-operator:0.9.1", true,
	  "registry.local:5000/ops/posthog-operator:dev", "Always", 3,
	  { "--source-topic=capture_events", "--group=r1" },
	  "--source-topic=events_plugin_ingestion", "posthog-app", "database-url", "128Mi", false },
	{ "operator image by digest kept", "examples/minimal.yaml", NULL,
	  "registry.local/posthog-operator@sha256:0123", true,
	  "registry.local/posthog-operator@sha256:0123", "IfNotPresent", 2,
	  { "route" }, NULL, "posthog-app", "database-url", "256Mi", false },
	{ "repository override", "examples/minimal.yaml",
	  "{\"router\": {\"image\": {\"repository\": \"mirror.local/pho\"}}}",
	  "registry.local/posthog-operator:0.9.1", true,
	  "mirror.local/pho:0.9.1", "IfNotPresent", 2, { "route" }, NULL,
	  "posthog-app", "database-url", "256Mi", false },
	{ "topic prefix", "examples/minimal.yaml",
	  "{\"kafka\": {\"topics\": {\"prefix\": \"eu_\"}}}", NULL, true,
	  PH_ROUTER_DEFAULT_IMAGE, "IfNotPresent", 2,
	  { "--source-topic=eu_events_plugin_ingestion", "--group=eu_posthog-router" },
	  NULL, "posthog-app", "database-url", "256Mi", false },
	{ "external Kafka, TLS with a CA and SASL", "examples/external.yaml",
	  "{\"kafka\": {\"external\": {\"tls\": {\"caSecret\": {\"name\": \"msk-ca\"}}}},"
	  " \"postgres\": {\"urlSecret\": {\"name\": \"pg\", \"key\": \"dsn\"}}}", NULL, true,
	  PH_ROUTER_DEFAULT_IMAGE, "IfNotPresent", 2,
	  { "--kafka-conf=security.protocol=SASL_SSL",
	    "--kafka-conf=sasl.mechanisms=SCRAM-SHA-512",
	    "--kafka-conf=sasl.username=$(KAFKA_SASL_USER)",
	    "--kafka-conf=sasl.password=$(KAFKA_SASL_PASSWORD)",
	    "--kafka-conf=ssl.ca.location=/etc/posthog-kafka-ca/ca.crt",
	    "--kafka-bootstrap-servers=b-1.posthog.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,"
	    "b-2.posthog.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,"
	    "b-3.posthog.abc123.c2.kafka.eu-west-1.amazonaws.com:9096" },
	  NULL, "pg", "dsn", "256Mi", true },
	{ "turned off", "examples/minimal.yaml", "{\"router\": {\"enabled\": false}}",
	  NULL, false, NULL, NULL, 0, { NULL }, NULL, NULL, NULL, NULL, false },
};

START_TEST(test_router)
{
	cJSON *objs = router_objects(cases[_i].example, cases[_i].patch, cases[_i].image_opt);
	const cJSON *dep = cJSON_GetArrayItem(objs, 0), *pdb = cJSON_GetArrayItem(objs, 1);
	const cJSON *ps, *ct, *e, *v;
	bool mounted_map = false, ca_vol = false;
	int i;

	if (!cases[_i].present) {
		ck_assert_int_eq(cJSON_GetArraySize(objs), 0);
		cJSON_Delete(objs);
		return;
	}
	ck_assert_int_eq(cJSON_GetArraySize(objs), 2);
	ck_assert_str_eq(util_json_get_str(dep, "kind", ""), "Deployment");
	ck_assert_str_eq(util_json_get_str(dep, "metadata.name", ""), "posthog-router");
	ck_assert_str_eq(util_json_get_str(pdb, "kind", ""), "PodDisruptionBudget");
	ck_assert_str_eq(util_json_get_str(pdb, "metadata.name", ""), "posthog-router");
	ck_assert_int_eq(util_json_get_int(pdb, "spec.maxUnavailable", 0), 1);
	/* The PDB selects exactly the Deployment's pods. */
	v = util_json_get(pdb, "spec.selector.matchLabels");
	ck_assert(cJSON_Compare(v, util_json_get(dep, "spec.selector.matchLabels"), true));
	cJSON_ArrayForEach(e, v) {
		const cJSON *l = cJSON_GetObjectItem(util_json_get(dep, "spec.template.metadata.labels"),
						     e->string);

		ck_assert(cJSON_IsString(l) && !strcmp(l->valuestring, e->valuestring));
	}
	ck_assert_int_eq(util_json_get_int(dep, "spec.replicas", 0), cases[_i].replicas);
	ps = util_json_get(dep, "spec.template.spec");
	ct = cJSON_GetArrayItem(util_json_get(ps, "containers"), 0);
	ck_assert_str_eq(util_json_get_str(ct, "image", ""), cases[_i].image);
	ck_assert_str_eq(util_json_get_str(ct, "imagePullPolicy", ""), cases[_i].pull);
	for (i = 0; i < 6 && cases[_i].args[i]; i++)
		ck_assert_msg(has_arg(ct, cases[_i].args[i]), "%s: no arg %s",
			      cases[_i].name, cases[_i].args[i]);
	if (cases[_i].absent_arg)
		ck_assert_msg(!has_arg(ct, cases[_i].absent_arg), "%s: arg %s",
			      cases[_i].name, cases[_i].absent_arg);
	ck_assert_str_eq(cJSON_GetArrayItem(util_json_get(ct, "args"), 0)->valuestring, "route");
	/* Postgres from the Secret, never in args. */
	e = find_env(ct, "DATABASE_URL");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(util_json_get_str(e, "valueFrom.secretKeyRef.name", ""), cases[_i].db_secret);
	ck_assert_str_eq(util_json_get_str(e, "valueFrom.secretKeyRef.key", ""), cases[_i].db_key);
	/* Probes on the health port, which the container declares. */
	ck_assert_str_eq(util_json_get_str(ct, "livenessProbe.httpGet.path", ""), "/healthz");
	ck_assert_str_eq(util_json_get_str(ct, "readinessProbe.httpGet.path", ""), "/readyz");
	ck_assert_str_eq(util_json_get_str(ct, "livenessProbe.httpGet.port", ""), "health");
	ck_assert(has_arg(ct, "--health-probe-bind-address=:8081"));
	ck_assert(has_arg(ct, "--metrics-bind-address=:8080"));
	cJSON_ArrayForEach(e, util_json_get(ct, "ports")) {
		const char *n = util_json_get_str(e, "name", "");

		ck_assert_int_eq(util_json_get_int(e, "containerPort", 0), !strcmp(n, "health") ? 8081 : 8080);
	}
	ck_assert_int_eq(cJSON_GetArraySize(util_json_get(ct, "ports")), 2);
	ck_assert_str_eq(util_json_get_str(ct, "resources.limits.memory", ""), cases[_i].mem_limit);
	/* The bucket map: the ConfigMap the operator publishes, mounted where
	 * --bucket-map points. */
	cJSON_ArrayForEach(e, util_json_get(ct, "volumeMounts"))
		if (!strcmp(util_json_get_str(e, "name", ""), "bucket-map"))
			mounted_map = !strcmp(util_json_get_str(e, "mountPath", ""), "/etc/posthog-buckets");
	ck_assert(mounted_map);
	cJSON_ArrayForEach(e, util_json_get(ps, "volumes")) {
		if (!strcmp(util_json_get_str(e, "name", ""), "bucket-map"))
			ck_assert_str_eq(util_json_get_str(e, "configMap.name", ""), "posthog-buckets");
		if (!strcmp(util_json_get_str(e, "name", ""), "kafka-ca")) {
			ca_vol = true;
			ck_assert_str_eq(util_json_get_str(e, "secret.secretName", ""), "msk-ca");
		}
	}
	ck_assert_int_eq(ca_vol, cases[_i].ca_volume);
	ck_assert_int_eq(util_json_get_int(ps, "securityContext.runAsUser", 0), 65532);
	cJSON_Delete(objs);
}
END_TEST

/* The operator's own map ConfigMap is what the router mounts. */
START_TEST(test_map_is_published)
{
	cJSON *ph = load_posthog("examples/production.yaml"), *entries = NULL, *e;
	const char *mounted = NULL;
	bool published = false;

	ck_assert_int_eq(ph_build(ph, &entries), 0);
	cJSON_ArrayForEach(e, entries) {
		const cJSON *o = util_json_get(e, "object");
		const cJSON *v;

		if (!strcmp(util_json_get_str(o, "kind", ""), "Deployment") &&
		    !strcmp(util_json_get_str(e, "stage", ""), "router"))
			cJSON_ArrayForEach(v, util_json_get(o, "spec.template.spec.volumes"))
				if (util_json_get(v, "configMap.name"))
					mounted = util_json_get_str(v, "configMap.name", NULL);
	}
	ck_assert_ptr_nonnull(mounted);
	cJSON_ArrayForEach(e, entries) {
		const cJSON *o = util_json_get(e, "object");

		if (!strcmp(util_json_get_str(o, "kind", ""), "ConfigMap") &&
		    !strcmp(util_json_get_str(o, "metadata.name", ""), mounted))
			published = cJSON_IsString(cJSON_GetObjectItem(util_json_get(o, "data"),
								      PH_BUCKET_MAP_KEY));
	}
	ck_assert(published);
	cJSON_Delete(entries);
	cJSON_Delete(ph);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("posthog_router");
	TCase *tc = tcase_create("router");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_router, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_map_is_published);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
