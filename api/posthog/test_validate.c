/* ph_validate: every rule reports the field it is about. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define PH_TESTING
#include "build-private.h"

#define PGREDIS ",\"postgres\":{\"urlSecret\":{\"name\":\"app\"}},\"redis\":{\"urlSecret\":{\"name\":\"app\"}}"
#define DS PGREDIS ",\"secretKey\":{\"name\":\"app\"}"
#define SALT ",\"encryptionSaltKeys\":{\"name\":\"app\"}"
#define OBJ ",\"objectStorage\":{\"endpoint\":\"http://minio:9000\",\"bucket\":\"posthog\""
#define BASE "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}" DS
#define NODE "03bc2ff27ab6730aef6b418718014e523e206fd3"
#define CH "\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}" DS

static const struct {
	const char *name; /* metadata.name */
	const char *spec; /* the spec object's body */
	const char *field, *message;
} cases[] = {
	/* schema: types, enums, bounds, patterns, lengths, items, unknown */
	{ "ph", BASE ",\"zookeeper\":{\"replicas\":\"three\"}", "spec.zookeeper.replicas", "must be an integer" },
	{ "ph", BASE ",\"zookeeper\":{\"replicas\":9}", "spec.zookeeper.replicas", "must be at most 7" },
	/* Beyond int64_t: refused, not converted (the fuzzer found the cast). */
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"},"
		"\"replicasPerShard\":9999999999999999999999999999999999992}" DS,
	  "spec.clickhouse.replicasPerShard", "must be an integer" },
	{ "ph", BASE ",\"zookeeper\":{\"replicas\":-1e300}", "spec.zookeeper.replicas", "must be an integer" },
	{ "ph", BASE ",\"zookeeper\":{\"replicas\":2.5}", "spec.zookeeper.replicas", "must be an integer" },
	{ "ph", BASE ",\"kafka\":{\"brokers\":0}", "spec.kafka.brokers", "must be at least 1" },
	{ "ph", BASE ",\"deletionPolicy\":\"Keep\"", "spec.deletionPolicy", "must be one of" },
	{ "ph", BASE ",\"kafka\":{\"storage\":{\"size\":\"lots\"}}", "spec.kafka.storage.size", "must match" },
	{ "ph", BASE ",\"buckets\":{\"count\":65}", "spec.buckets.count", "must be at most 64" },
	{ "ph", BASE ",\"bogus\":true", "spec.bogus", "unknown field" },
	{ "ph", CH, "spec.version", "is required" },
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}", "spec.postgres", "is required" },
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}", "spec.redis", "is required" },
	{ "ph", BASE ",\"postgres\":{\"urlSecret\":{}}", "spec.postgres.urlSecret.name", "is required" },
	{ "ph", BASE ",\"redis\":{\"urlSecret\":{\"name\":\"Not_A_Name\"}}", "spec.redis.urlSecret.name", "must match" },
	/* the version matrix: what each row requires besides the datastores */
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}" PGREDIS,
	  "spec.secretKey", "is required by PostHog 1.43.0" },
	{ "ph", "\"version\":\"" NODE "\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}" PGREDIS SALT,
	  "spec.secretKey", "is required by PostHog " NODE },
	{ "ph", "\"version\":\"" NODE "\"," CH, "spec.encryptionSaltKeys", "is required by PostHog " NODE },
	{ "ph", BASE ",\"secretKey\":{\"key\":\"k\"}", "spec.secretKey.name", "is required" },
	{ "ph", BASE ",\"objectStorage\":{\"endpoint\":\"ftp://x\",\"bucket\":\"posthog\"}",
	  "spec.objectStorage.endpoint", "must match" },
	{ "ph", BASE ",\"objectStorage\":{\"endpoint\":\"http://minio:9000\"}", "spec.objectStorage.bucket",
	  "is required" },
	{ "ph", BASE OBJ ",\"credentialsSecret\":{\"accessKeyIdKey\":\"a\"}}",
	  "spec.objectStorage.credentialsSecret.name", "is required" },
	/* the version matrix */
	{ "ph", "\"version\":\"latest\"," CH, "spec.version",
	  "\"latest\" is not a supported PostHog version (supported: 1.43.0, " NODE "; see docs/versions.md)" },
	{ "ph", "\"version\":\"1.43.1\"," CH, "spec.version", "set spec.unsupportedVersion: true" },
	{ "ph", BASE ",\"pluginServer\":{\"topicRouting\":\"Env\"}", "spec.pluginServer.topicRouting",
	  "PostHog 1.43.0 routes topics with KafkaPrefix only" },
	{ "ph", "\"version\":\"" NODE "\"," CH ",\"pluginServer\":{\"topicRouting\":\"KafkaPrefix\"}",
	  "spec.pluginServer.topicRouting", "routes topics with Env only" },
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"},"
		"\"image\":{\"tag\":\"24.8\"}}" DS, "spec.clickhouse.image.tag",
	  "ClickHouse 24.8 is outside what PostHog 1.43.0 accepts (>= 21.6.0, < 22.9.0" },
	{ "ph", "\"version\":\"" NODE "\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"},"
		"\"image\":{\"tag\":\"22.8.20.11\"}}" DS, "spec.clickhouse.image.tag", "is outside what PostHog" },
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"},"
		"\"image\":{\"tag\":\"latest\"}}" DS, "spec.clickhouse.image.tag", "must be a dotted ClickHouse version" },
	{ "ph", "\"version\":\"1.43.0\"" DS, "spec.clickhouse", "is required" },
	{ "ph", BASE ",\"kafka\":{\"topics\":{\"prefix\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}}",
	  "spec.kafka.topics.prefix", "must be at most 48 characters" },
	{ "ph", BASE ",\"imagePullSecrets\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"},{\"name\":\"d\"},"
		"{\"name\":\"e\"},{\"name\":\"f\"},{\"name\":\"g\"},{\"name\":\"h\"},{\"name\":\"i\"},{\"name\":\"j\"},"
		"{\"name\":\"k\"},{\"name\":\"l\"},{\"name\":\"m\"},{\"name\":\"n\"},{\"name\":\"o\"},{\"name\":\"p\"},"
		"{\"name\":\"q\"}]", "spec.imagePullSecrets", "at most 16 items" },
	{ "ph", BASE ",\"buckets\":{\"count\":2,\"pins\":[{\"teamId\":1,\"bucket\":0},{\"teamId\":1,\"bucket\":1}]}",
	  "spec.buckets.pins[1]", "duplicate entry" },
	{ "ph", BASE ",\"kafka\":{\"external\":{\"brokers\":[\"no-port\"]}}", "spec.kafka.external.brokers[0]", "must match" },
	/* cross-field rules */
	{ "ph", BASE ",\"zookeeper\":{\"replicas\":2}", "spec.zookeeper.replicas", "must be odd (got 2)" },
	{ "ph", BASE ",\"zookeeper\":{\"replicas\":3,\"external\":{\"servers\":[\"zk:2181\"]}}",
	  "spec.zookeeper.replicas", "cannot be set together with spec.zookeeper.external" },
	{ "ph", BASE ",\"kafka\":{\"brokers\":3,\"external\":{\"brokers\":[\"k:9092\"]}}",
	  "spec.kafka.brokers", "cannot be set together with spec.kafka.external" },
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"},\"shards\":2,"
		"\"external\":{\"host\":\"ch.example.com\"}}" DS,
	  "spec.clickhouse.shards", "cannot be set together with spec.clickhouse.external" },
	{ "ph", BASE ",\"buckets\":{\"count\":2,\"pins\":[{\"teamId\":5,\"bucket\":2}]}",
	  "spec.buckets.pins[0].bucket", "must be below spec.buckets.count (got 2 with 2 buckets)" },
	{ "ph", BASE ",\"buckets\":{\"count\":1,\"overrides\":[{\"bucket\":1}]}",
	  "spec.buckets.overrides[0].bucket", "must be below spec.buckets.count" },
	{ "ph", BASE ",\"kafka\":{\"brokers\":1,\"topics\":{\"replicationFactor\":3}}",
	  "spec.kafka.topics.replicationFactor", "must not exceed spec.kafka.brokers" },
	{ "ph", BASE ",\"kafka\":{\"topics\":{\"replicationFactor\":2,\"minInsyncReplicas\":3}}",
	  "spec.kafka.topics.minInsyncReplicas", "must not exceed replicationFactor" },
	{ "ph", BASE ",\"pluginServer\":{\"async\":{\"autoscaling\":{\"minReplicas\":5,\"maxReplicas\":2}}}",
	  "spec.pluginServer.async.autoscaling.minReplicas", "must not exceed maxReplicas" },
	{ "ph", BASE ",\"buckets\":{\"count\":2,\"overrides\":[{\"bucket\":1,\"ingestion\":{\"autoscaling\":{\"minReplicas\":9}}}]}",
	  "spec.buckets.overrides[0].ingestion.autoscaling.minReplicas", "must not exceed maxReplicas" },
	{ "ph", "\"version\":\"1.43.0\",\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"},\"profile\":{\"a b\":\"1\"}}" DS,
	  "spec.clickhouse.profile.a b", "not a ClickHouse setting name" },
	{ "this-name-is-far-too-long-for-a-posthog", BASE, "metadata.name", "at most 36 characters" },
	{ "Caps", BASE, "metadata.name", "DNS-1035" },
};

static cJSON *make(const char *name, const char *spec)
{
	char *text = util_xasprintf("{\"apiVersion\":\"posthog.com/v1alpha1\",\"kind\":\"PostHog\","
			     "\"metadata\":{\"name\":\"%s\"},\"spec\":{%s}}", name, spec);
	cJSON *j = parse_json(text);

	free(text);
	return j;
}

START_TEST(test_rule)
{
	cJSON *ph = make(cases[_i].name, cases[_i].spec), *problems = NULL, *p, *entries = NULL;
	bool found = false;

	ck_assert_int_eq(ph_validate(ph, &problems), -EINVAL);
	ck_assert_ptr_nonnull(problems);
	cJSON_ArrayForEach(p, problems) {
		const char *f = util_json_get_str(p, "field", ""), *m = util_json_get_str(p, "message", "");
		if (!strcmp(f, cases[_i].field) && strstr(m, cases[_i].message))
			found = true;
	}
	if (!found) {
		char *s = cJSON_Print(problems);
		ck_abort_msg("case %d: no %s: %s in %s", _i, cases[_i].field, cases[_i].message, s);
		free(s);
	}
	/* An invalid PostHog builds nothing. */
	ck_assert_int_eq(ph_build(ph, &entries), -EINVAL);
	ck_assert_ptr_null(entries);
	cJSON_Delete(problems);
	cJSON_Delete(ph);
}
END_TEST

static const char *const valid[] = {
	"examples/minimal.yaml", "examples/production.yaml",
	"examples/external.yaml", "examples/legacy-topics.yaml",
};

START_TEST(test_examples_valid)
{
	cJSON *ph = load_posthog(valid[_i]), *problems = (cJSON *)1;

	ck_assert_int_eq(ph_validate(ph, &problems), 0);
	ck_assert_ptr_null(problems);
	cJSON_Delete(ph);
}
END_TEST

START_TEST(test_many_problems)
{
	cJSON *ph = make("ph", BASE ",\"zookeeper\":{\"replicas\":4},\"kafka\":{\"brokers\":99},"
			 "\"deletionPolicy\":\"x\""), *problems;

	ck_assert_int_eq(ph_validate(ph, &problems), -EINVAL);
	ck_assert_int_eq(cJSON_GetArraySize(problems), 3);
	cJSON_Delete(problems);
	cJSON_Delete(ph);
}
END_TEST

/* spec.unsupportedVersion lets an expert run what the matrix refuses. */
static const char *const hatch[] = {
	"\"version\":\"latest\",\"unsupportedVersion\":true," CH,
	"\"version\":\"1.43.0\",\"unsupportedVersion\":true,\"pluginServer\":{\"topicRouting\":\"Env\"}," CH,
	"\"version\":\"1.43.0\",\"unsupportedVersion\":true,\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"},"
	"\"image\":{\"tag\":\"24.8\"}}" DS,
	/* what a row requires is the expert's call */
	"\"version\":\"" NODE "\",\"unsupportedVersion\":true,\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}"
	PGREDIS,
};

START_TEST(test_escape_hatch)
{
	cJSON *ph = make("ph", hatch[_i]), *problems = (cJSON *)1, *entries = NULL;

	ck_assert_int_eq(ph_validate(ph, &problems), 0);
	ck_assert_ptr_null(problems);
	ck_assert_int_eq(ph_build(ph, &entries), 0);
	ck_assert_int_gt(cJSON_GetArraySize(entries), 0);
	cJSON_Delete(entries);
	cJSON_Delete(ph);
}
END_TEST

/* A field a row does not read (1.43.0: spec.encryptionSaltKeys and
 * spec.objectStorage.region) is ignored there, not refused: one spec,
 * with everything any row reads, is valid for every row, so an upgrade
 * changes only spec.version. What the row does read is still checked. */
START_TEST(test_one_spec_every_row)
{
	const struct ph_version *row;
	size_t i;

	for (i = 0; (row = ph_version_at(i)) != NULL; i++) {
		char *spec = util_xasprintf("\"version\":\"%s\",%s", row->version,
					    CH SALT OBJ ",\"region\":\"eu-west-1\"}");
		cJSON *ph = make("ph", spec), *problems = (cJSON *)1;

		free(spec);
		ck_assert_msg(ph_validate(ph, &problems) == 0, "row %s", row->version);
		ck_assert_ptr_null(problems);
		/* ignored, not unchecked: a malformed region is still refused */
		cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(ph, "spec"),
								 "objectStorage"),
					  "region", cJSON_CreateString("Not A Region"));
		ck_assert_int_eq(ph_validate(ph, &problems), -EINVAL);
		ck_assert_str_eq(util_json_get_str(cJSON_GetArrayItem(problems, 0), "field", ""),
				 "spec.objectStorage.region");
		cJSON_Delete(problems);
		cJSON_Delete(ph);
	}
	ck_assert_uint_ge(i, 2);
}
END_TEST

START_TEST(test_no_spec)
{
	cJSON *ph = parse_json("{\"metadata\":{\"name\":\"ph\"}}"), *problems;

	ck_assert_int_eq(ph_validate(ph, &problems), -EINVAL);
	ck_assert_str_eq(util_json_get_str(cJSON_GetArrayItem(problems, 0), "field", ""), "spec");
	cJSON_Delete(problems);
	cJSON_Delete(ph);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("posthog_validate");
	TCase *tc = tcase_create("validate");

	tcase_add_loop_test(tc, test_rule, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_examples_valid, 0, sizeof(valid) / sizeof(valid[0]));
	tcase_add_test(tc, test_many_problems);
	tcase_add_loop_test(tc, test_escape_hatch, 0, sizeof(hatch) / sizeof(hatch[0]));
	tcase_add_test(tc, test_one_spec_every_row);
	tcase_add_test(tc, test_no_spec);
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
