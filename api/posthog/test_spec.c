/* ph_normalize: the CRD's defaults, managed-only defaults, derived ones. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define PH_TESTING
#include "build-private.h"

static const struct {
	const char *example, *path;
	const char *str; /* expected string, or NULL */
	int64_t num;     /* expected number when str is NULL; -999 = absent */
} cases[] = {
	{ "examples/minimal.yaml", "deletionPolicy", "Retain", 0 },
	{ "examples/minimal.yaml", "zookeeper.replicas", NULL, 1 },
	{ "examples/minimal.yaml", "zookeeper.storage.size", "10Gi", 0 },
	{ "examples/minimal.yaml", "zookeeper.autopurge.purgeInterval", NULL, 1 },
	{ "examples/minimal.yaml", "zookeeper.image.repository", "zookeeper", 0 },
	{ "examples/minimal.yaml", "kafka.retention.hours", NULL, 24 },
	{ "examples/minimal.yaml", "kafka.retention.bytes", NULL, 15000000000LL },
	{ "examples/minimal.yaml", "kafka.topics.replicationFactor", NULL, 1 },
	{ "examples/minimal.yaml", "kafka.topics.minInsyncReplicas", NULL, 1 },
	{ "examples/minimal.yaml", "clickhouse.shards", NULL, 1 },
	{ "examples/minimal.yaml", "clickhouse.cluster", "posthog", 0 },
	{ "examples/minimal.yaml", "clickhouse.passwordSecret.key", "password", 0 },
	{ "examples/minimal.yaml", "buckets.count", NULL, 1 },
	{ "examples/minimal.yaml", "buckets.algorithm", "JumpHash", 0 },
	{ "examples/minimal.yaml", "pluginServer.topicRouting", "Env", 0 },
	{ "examples/minimal.yaml", "pluginServer.image.repository", "posthog/posthog-node", 0 },
	{ "examples/minimal.yaml", "pluginServer.image.tag", "03bc2ff27ab6730aef6b418718014e523e206fd3", 0 },
	{ "examples/minimal.yaml", "pluginServer.command", "node nodejs/dist/index.js", 0 },
	{ "examples/minimal.yaml", "clickhouse.image.tag", "24.8.7.41", 0 },
	{ "examples/minimal.yaml", "postgres.urlSecret.key", "database-url", 0 },
	{ "examples/minimal.yaml", "pluginServer.ingestion.mode", "ingestion-v2", 0 },
	{ "examples/minimal.yaml", "pluginServer.async.mode", "cdp-legacy-on-event", 0 },
	{ "examples/minimal.yaml", "pluginServer.ingestion.autoscaling.maxReplicas", NULL, 4 },
	{ "examples/production.yaml", "kafka.topics.minInsyncReplicas", NULL, 2 },
	{ "examples/production.yaml", "kafka.storage.size", "500Gi", 0 },
	{ "examples/production.yaml", "pluginServer.image.tag", "03bc2ff27ab6730aef6b418718014e523e206fd3", 0 },
	{ "examples/external.yaml", "kafka.brokers", NULL, -999 },
	{ "examples/external.yaml", "kafka.storage", NULL, -999 },
	{ "examples/external.yaml", "clickhouse.shards", NULL, -999 },
	{ "examples/external.yaml", "clickhouse.external.verify", NULL, -998 },
	{ "examples/external.yaml", "kafka.external.sasl.usernameKey", "username", 0 },
	{ "examples/external.yaml", "zookeeper.replicas", NULL, 3 },
	{ "examples/legacy-topics.yaml", "pluginServer.ingestion.mode", "ingestion", 0 },
	{ "examples/legacy-topics.yaml", "pluginServer.image.repository", "posthog/posthog", 0 },
	{ "examples/legacy-topics.yaml", "pluginServer.image.tag", "release-1.43.0", 0 },
	{ "examples/legacy-topics.yaml", "pluginServer.command", "./bin/plugin-server --no-restart-loop", 0 },
	{ "examples/legacy-topics.yaml", "clickhouse.image.tag", "22.3.13.80", 0 },
	{ "examples/legacy-topics.yaml", "pluginServer.async.mode", "async", 0 },
};

START_TEST(test_default)
{
	cJSON *ph = load_posthog(cases[_i].example), *spec;
	const cJSON *v;

	ck_assert_int_eq(ph_normalize(ph, &spec), 0);
	v = util_json_get(spec, cases[_i].path);
	if (cases[_i].str && cJSON_IsArray(v)) {
		char joined[256] = "";
		const cJSON *a;

		cJSON_ArrayForEach(a, v) {
			if (joined[0])
				strncat(joined, " ", sizeof(joined) - strlen(joined) - 1);
			strncat(joined, a->valuestring, sizeof(joined) - strlen(joined) - 1);
		}
		ck_assert_str_eq(joined, cases[_i].str);
	} else if (cases[_i].str)
		ck_assert_str_eq(util_json_get_str(spec, cases[_i].path, "(absent)"), cases[_i].str);
	else if (cases[_i].num == -999)
		ck_assert_msg(v == NULL, "%s should be absent", cases[_i].path);
	else if (cases[_i].num == -998)
		ck_assert(cJSON_IsTrue(v));
	else
		ck_assert_int_eq(util_json_get_int(spec, cases[_i].path, -1), cases[_i].num);
	cJSON_Delete(spec);
	cJSON_Delete(ph);
}
END_TEST

START_TEST(test_input_untouched)
{
	cJSON *ph = load_posthog("examples/minimal.yaml"), *before, *spec;

	before = cJSON_Duplicate(ph, 1);
	ck_assert_int_eq(ph_normalize(ph, &spec), 0);
	ck_assert(cJSON_Compare(ph, before, 1));
	/* Normalizing twice changes nothing. */
	{
		cJSON *wrap = cJSON_CreateObject(), *again;
		cJSON_AddItemToObject(wrap, "spec", cJSON_Duplicate(spec, 1));
		ck_assert_int_eq(ph_normalize(wrap, &again), 0);
		ck_assert(cJSON_Compare(again, spec, 1));
		cJSON_Delete(again);
		cJSON_Delete(wrap);
	}
	cJSON_Delete(spec);
	cJSON_Delete(before);
	cJSON_Delete(ph);
}
END_TEST

START_TEST(test_no_spec)
{
	cJSON *ph = parse_json("{\"kind\":\"PostHog\"}"), *spec = (cJSON *)1;

	ck_assert_int_eq(ph_normalize(ph, &spec), -EINVAL);
	ck_assert_ptr_eq(spec, (cJSON *)1);
	cJSON_Delete(ph);
}
END_TEST

START_TEST(test_schema_parses)
{
	cJSON *s = ph_schema_parse();

	ck_assert_str_eq(util_json_get_str(s, "type", ""), "object");
	ck_assert_ptr_nonnull(util_json_get(s, "properties.buckets.properties.pins"));
	cJSON_Delete(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("posthog_spec");
	TCase *tc = tcase_create("normalize");

	tcase_add_loop_test(tc, test_default, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_input_untouched);
	tcase_add_test(tc, test_no_spec);
	tcase_add_test(tc, test_schema_parses);
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
