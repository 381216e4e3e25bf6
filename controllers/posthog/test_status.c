/* Unit tests of the reconciler's pure helpers: the subset test that
 * decides whether a child needs a write, the desired-state hash, and the
 * conditions. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller-private.h"

static const struct {
	const char *want;
	const char *have;
	bool subset;
} subset_cases[] = {
	{"{}", "{\"a\":1}", true},
	{"{\"a\":1}", "{\"a\":1,\"b\":2}", true},
	{"{\"a\":1}", "{\"a\":2}", false},
	{"{\"a\":1}", "{\"a\":\"1\"}", false},
	{"{\"a\":{\"b\":\"x\"}}", "{\"a\":{\"b\":\"x\",\"c\":1}}", true},
	{"{\"a\":{\"b\":\"x\"}}", "{\"a\":{}}", false},
	{"{\"l\":[1,2]}", "{\"l\":[1,2]}", true},
	{"{\"l\":[1,2]}", "{\"l\":[1,2,3]}", false},
	{"{\"l\":[{\"n\":\"a\"}]}", "{\"l\":[{\"n\":\"a\",\"d\":0}]}", true},
	{"{\"l\":[{\"n\":\"a\"},{\"n\":\"b\"}]}", "{\"l\":[{\"n\":\"b\"},{\"n\":\"a\"}]}", false},
	{"{\"b\":true}", "{\"b\":false}", false},
	{"{\"b\":false}", "{\"b\":false}", true},
	{"{\"z\":null}", "{\"z\":null}", true},
	{"{\"z\":null}", "{}", false},
	{"{\"o\":{}}", "{\"o\":{\"x\":1}}", true},
	{"{\"o\":{}}", "{\"o\":[]}", false},
};

START_TEST(test_subset)
{
	cJSON *w = cJSON_Parse(subset_cases[_i].want), *h = cJSON_Parse(subset_cases[_i].have);

	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_nonnull(h);
	ck_assert_msg(phc_is_subset(w, h) == subset_cases[_i].subset, "case %d", _i);
	cJSON_Delete(w);
	cJSON_Delete(h);
}
END_TEST

START_TEST(test_hash)
{
	cJSON *a = cJSON_Parse("{\"a\":1,\"b\":[1,2]}"), *b = cJSON_Parse("{\"a\":1,\"b\":[1,2]}");
	cJSON *c = cJSON_Parse("{\"a\":1,\"b\":[2,1]}");
	char ha[17], hb[17], hc[17];

	phc_hash(a, ha);
	phc_hash(b, hb);
	phc_hash(c, hc);
	ck_assert_uint_eq(strlen(ha), 16);
	ck_assert_str_eq(ha, hb);
	ck_assert_str_ne(ha, hc);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
}
END_TEST

START_TEST(test_condition_transitions)
{
	cJSON *conds = cJSON_CreateArray();
	const cJSON *c;

	phc_set_condition(conds, "Ready", "False", "Waiting", "zk", 1, "2026-01-01T00:00:00Z");
	phc_set_condition(conds, "Ready", "False", "Waiting", "kafka", 2, "2026-01-01T00:01:00Z");
	c = phc_condition(conds, "Ready");
	ck_assert_ptr_nonnull(c);
	/* Same status: the transition time stays, the message moves on. */
	ck_assert_str_eq(cJSON_GetObjectItem(c, "lastTransitionTime")->valuestring,
			 "2026-01-01T00:00:00Z");
	ck_assert_str_eq(cJSON_GetObjectItem(c, "message")->valuestring, "kafka");
	ck_assert_int_eq(cJSON_GetObjectItem(c, "observedGeneration")->valueint, 2);
	phc_set_condition(conds, "Ready", "True", "Ready", "", 2, "2026-01-01T00:02:00Z");
	c = phc_condition(conds, "Ready");
	ck_assert_str_eq(cJSON_GetObjectItem(c, "lastTransitionTime")->valuestring,
			 "2026-01-01T00:02:00Z");
	ck_assert_str_eq(cJSON_GetObjectItem(c, "status")->valuestring, "True");
	phc_set_condition(conds, "Degraded", "False", "AsExpected", NULL, 2, "2026-01-01T00:02:00Z");
	ck_assert_int_eq(cJSON_GetArraySize(conds), 2);
	ck_assert_ptr_null(phc_condition(conds, "Progressing"));
	cJSON_Delete(conds);
}
END_TEST

static const struct {
	const char *obj;
	int kind;
} kind_cases[] = {
	{"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\"}", PHC_STATEFULSET},
	{"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}", PHC_CONFIGMAP},
	{"{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\"}", PHC_HPA},
	{"{\"apiVersion\":\"apps/v1beta1\",\"kind\":\"StatefulSet\"}", -1},
	{"{\"kind\":\"Job\"}", -1},
};

START_TEST(test_kind_of)
{
	cJSON *o = cJSON_Parse(kind_cases[_i].obj);

	ck_assert_int_eq(phc_kind_of(o), kind_cases[_i].kind);
	cJSON_Delete(o);
}
END_TEST

/* When a deletion stops retrying a failed table drop. now is 2026-12-01
 * 12:00:00Z. */
static const struct {
	const char *meta;
	bool gives_up;
} give_up_cases[] = {
	{"{\"deletionTimestamp\":\"2026-12-01T12:00:00Z\"}", false},
	{"{\"deletionTimestamp\":\"2026-12-01T11:50:01Z\"}", false},
	{"{\"deletionTimestamp\":\"2026-12-01T11:50:00Z\"}", true},
	{"{\"deletionTimestamp\":\"2026-11-30T12:00:00Z\"}", true},
	{"{\"deletionTimestamp\":\"2026-12-01T12:00:00Z\",\"annotations\":"
	 "{\"posthog.com/keep-clickhouse-tables\":\"true\"}}", true},
	{"{\"deletionTimestamp\":\"2026-12-01T12:00:00Z\",\"annotations\":"
	 "{\"posthog.com/keep-clickhouse-tables\":\"yes\"}}", false},
	{"{\"deletionTimestamp\":\"not a time\"}", false},
	{"{}", false},
};

START_TEST(test_finalize_give_up)
{
	cJSON *meta = cJSON_Parse(give_up_cases[_i].meta);
	time_t now = 1796126400; /* 2026-12-01T12:00:00Z */

	ck_assert_ptr_nonnull(meta);
	ck_assert_msg((phc_finalize_give_up(meta, now) != NULL) == give_up_cases[_i].gives_up,
		      "case %d", _i);
	cJSON_Delete(meta);
}
END_TEST

/* Readiness floor of a workload: an autoscaled Deployment is ready from
 * its HPA's minReplicas on, anything else needs its replicas. */
#define HPA_D "{\"object\":{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\"," \
	"\"metadata\":{\"name\":\"d\"},\"spec\":{\"minReplicas\":2,\"scaleTargetRef\":{\"name\":\"d\"}}}}"
static const struct {
	const char *entries, *obj;
	int want, floor;
} floor_cases[] = {
	/* HPA scaled up to 5, 2 wanted at least: ready from 2 on. */
	{"[" HPA_D "]", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{}}", 5, 2},
	/* Below the HPA's minimum (it has not scaled yet): all of them. */
	{"[" HPA_D "]", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{}}", 1, 1},
	/* Replicas set by the operator: all of them. */
	{"[" HPA_D "]", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"replicas\":5}}", 5, 5},
	/* Another Deployment's HPA does not count. */
	{"[" HPA_D "]", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"e\"},\"spec\":{}}", 5, 5},
	{"[" HPA_D "]", "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"d\"},\"spec\":{}}", 3, 3},
	{"[]", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{}}", 4, 4},
};

START_TEST(test_ready_floor)
{
	cJSON *e = cJSON_Parse(floor_cases[_i].entries), *o = cJSON_Parse(floor_cases[_i].obj);

	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(phc_ready_floor(e, o, floor_cases[_i].want), floor_cases[_i].floor);
	cJSON_Delete(e);
	cJSON_Delete(o);
}
END_TEST

/* Readiness of a live workload. The API server leaves out a count of 0
 * (apps/v1 types.go: readyReplicas and updatedReplicas are omitempty). */
#define STS(gen, status) "{\"kind\":\"StatefulSet\",\"metadata\":{\"generation\":" #gen "}," \
	"\"spec\":{\"replicas\":3},\"status\":" status "}"
static const struct {
	const char *name;
	int kind;
	const char *live;
	int need, ready, updated;
	bool ok;
} workload_cases[] = {
	{"all ready and updated", PHC_STATEFULSET,
	 STS(2, "{\"observedGeneration\":2,\"replicas\":3,\"readyReplicas\":3,\"updatedReplicas\":3}"), 3, 3, 3, true},
	/* OnDelete, the new template just observed: no pod runs it yet, and
	 * the server leaves updatedReplicas out. */
	{"new template observed, no pod on it", PHC_STATEFULSET,
	 STS(3, "{\"observedGeneration\":3,\"replicas\":3,\"readyReplicas\":3,\"currentReplicas\":3,"
		"\"currentRevision\":\"a\",\"updateRevision\":\"b\"}"), 3, 3, 0, false},
	{"two of three on the new template", PHC_STATEFULSET,
	 STS(3, "{\"observedGeneration\":3,\"replicas\":3,\"readyReplicas\":3,\"updatedReplicas\":2}"), 3, 3, 2, false},
	{"new template not yet observed", PHC_STATEFULSET,
	 STS(4, "{\"observedGeneration\":3,\"replicas\":3,\"readyReplicas\":3,\"updatedReplicas\":3}"), 3, 3, 3, false},
	{"one not ready", PHC_STATEFULSET,
	 STS(3, "{\"observedGeneration\":3,\"replicas\":3,\"readyReplicas\":2,\"updatedReplicas\":3}"), 3, 2, 3, false},
	{"no status at all", PHC_STATEFULSET, STS(1, "{}"), 3, 0, 0, false},
	/* A Deployment counts available pods, not ready ones. */
	{"deployment available", PHC_DEPLOYMENT,
	 "{\"metadata\":{\"generation\":1},\"status\":{\"observedGeneration\":1,\"readyReplicas\":2,"
	 "\"availableReplicas\":2,\"updatedReplicas\":2}}", 2, 2, 2, true},
	{"deployment ready, not yet available", PHC_DEPLOYMENT,
	 "{\"metadata\":{\"generation\":1},\"status\":{\"observedGeneration\":1,\"readyReplicas\":2,"
	 "\"updatedReplicas\":2}}", 2, 0, 2, false},
	{"deployment rolling, one pod on the old template", PHC_DEPLOYMENT,
	 "{\"metadata\":{\"generation\":2},\"status\":{\"observedGeneration\":2,\"availableReplicas\":2,"
	 "\"updatedReplicas\":1}}", 2, 2, 1, false},
};

START_TEST(test_workload_ready)
{
	cJSON *live = cJSON_Parse(workload_cases[_i].live);
	int ready = -1, updated = -1;
	bool ok;

	ck_assert_ptr_nonnull(live);
	ok = phc_workload_ready(workload_cases[_i].kind, live, workload_cases[_i].need, &ready, &updated);
	ck_assert_msg(ok == workload_cases[_i].ok, "%s: ready %d", workload_cases[_i].name, ok);
	ck_assert_int_eq(ready, workload_cases[_i].ready);
	ck_assert_int_eq(updated, workload_cases[_i].updated);
	cJSON_Delete(live);
}
END_TEST

/* Shrinking ZooKeeper: the smallest odd size keeping a quorum, and advice
 * that names a step that exists. */
static const struct {
	int live, want, floor;
	const char *advice;
} zk_cases[] = {
	{3, 1, 3, "set spec.zookeeper.replicas back to 3"},
	{5, 1, 3, "set it to 3 first"},
	{7, 3, 5, "set it to 5 first"},
	{9, 1, 5, "set it to 5 first"},
};

START_TEST(test_zookeeper_shrink)
{
	char msg[512];

	ck_assert_int_eq(phc_zookeeper_floor(zk_cases[_i].live), zk_cases[_i].floor);
	phc_zookeeper_shrink_message(zk_cases[_i].live, zk_cases[_i].want, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, zk_cases[_i].advice), "%s", msg);
	ck_assert_ptr_null(strstr(msg, "in steps that keep a quorum"));
}
END_TEST

/* The phase: Degraded is "was ready, is not". */
static const struct {
	bool ready, failed;
	const char *reason, *old;
	const char *phase;
} phase_cases[] = {
	{true, false, NULL, "{\"phase\":\"Progressing\"}", "Ready"},
	{false, true, "ClickHouseError", "{\"phase\":\"Ready\"}", "Degraded"},
	{false, true, "ClickHouseError", "{\"phase\":\"Degraded\"}", "Degraded"},
	{false, true, "ClickHouseError", "{\"phase\":\"Progressing\"}", "Failed"},
	{false, true, "ApplyFailed", "{\"phase\":\"Pending\"}", "Failed"},
	{false, true, "ApplyFailed", NULL, "Failed"},
	{false, true, "InvalidSpec", "{\"phase\":\"Ready\"}", "Failed"},
	{false, true, "UnsafeChange", "{\"phase\":\"Ready\"}", "Failed"},
	{false, false, NULL, "{\"phase\":\"Ready\"}", "Progressing"},
	{false, false, NULL, NULL, "Pending"},
};

START_TEST(test_phase)
{
	cJSON *old = phase_cases[_i].old ? cJSON_Parse(phase_cases[_i].old) : NULL;

	ck_assert_str_eq(phc_phase(phase_cases[_i].ready, phase_cases[_i].failed,
				   phase_cases[_i].reason, old), phase_cases[_i].phase);
	cJSON_Delete(old);
}
END_TEST

/* The child informers' transform keeps only the operator's Apply entry,
 * only when it holds spec.replicas, reduced to that. */
#define REDUCED "[{\"manager\":\"posthog-operator\",\"operation\":\"Apply\"," \
		"\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{}}}}]"
static const struct {
	const char *mf;   /* managedFields in */
	const char *want; /* managedFields out, NULL = none */
} transform_cases[] = {
	{"[{\"manager\":\"posthog-operator\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:spec\":"
	 "{\"f:replicas\":{},\"f:template\":{}}}},{\"manager\":\"kube-controller-manager\","
	 "\"operation\":\"Update\",\"subresource\":\"status\"}]", REDUCED},
	{"[{\"manager\":\"posthog-operator\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:spec\":"
	 "{\"f:template\":{}}}}]", NULL},
	{"[{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:spec\":"
	 "{\"f:replicas\":{}}}}]", NULL},
	{"[{\"manager\":\"posthog-operator\",\"operation\":\"Update\",\"fieldsV1\":{\"f:spec\":"
	 "{\"f:replicas\":{}}}}]", NULL},
	{"[]", NULL},
};

START_TEST(test_child_transform)
{
	char in[1024];
	cJSON *obj, *want;

	snprintf(in, sizeof(in), "{\"metadata\":{\"name\":\"d\",\"managedFields\":%s},"
		 "\"spec\":{\"replicas\":2},\"status\":{\"readyReplicas\":2}}", transform_cases[_i].mf);
	obj = cJSON_Parse(in);
	ck_assert_ptr_nonnull(obj);
	phc_child_transform(NULL, obj);
	want = transform_cases[_i].want ? cJSON_Parse(transform_cases[_i].want) : NULL;
	if (want)
		ck_assert_msg(cJSON_Compare(util_json_get(obj, "metadata.managedFields"), want, true),
			      "case %d", _i);
	else
		ck_assert_ptr_null(util_json_get(obj, "metadata.managedFields"));
	ck_assert_int_eq(util_json_get(obj, "spec.replicas")->valueint, 2);
	ck_assert_int_eq(util_json_get(obj, "status.readyReplicas")->valueint, 2);
	cJSON_Delete(want);
	cJSON_Delete(obj);
}
END_TEST

int main(void)
{
Suite *s = suite_create("posthog_status");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_subset, 0, sizeof(subset_cases) / sizeof(*subset_cases));
	tcase_add_test(tc, test_hash);
	tcase_add_loop_test(tc, test_child_transform, 0,
			    sizeof(transform_cases) / sizeof(*transform_cases));
	tcase_add_test(tc, test_condition_transitions);
	tcase_add_loop_test(tc, test_kind_of, 0, sizeof(kind_cases) / sizeof(*kind_cases));
	tcase_add_loop_test(tc, test_ready_floor, 0, sizeof(floor_cases) / sizeof(*floor_cases));
	tcase_add_loop_test(tc, test_workload_ready, 0, sizeof(workload_cases) / sizeof(*workload_cases));
	tcase_add_loop_test(tc, test_zookeeper_shrink, 0, sizeof(zk_cases) / sizeof(*zk_cases));
	tcase_add_loop_test(tc, test_phase, 0, sizeof(phase_cases) / sizeof(*phase_cases));
	tcase_add_loop_test(tc, test_finalize_give_up, 0, sizeof(give_up_cases) / sizeof(*give_up_cases));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
