/* Unit tests of the reconciler's pure helpers: the subset test that
 * decides whether a child needs a write, the desired-state hash, and the
 * conditions. */
#include <check.h>
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

int main(void)
{
Suite *s = suite_create("posthog_status");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_subset, 0, sizeof(subset_cases) / sizeof(*subset_cases));
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_condition_transitions);
	tcase_add_loop_test(tc, test_kind_of, 0, sizeof(kind_cases) / sizeof(*kind_cases));
	tcase_add_loop_test(tc, test_finalize_give_up, 0, sizeof(give_up_cases) / sizeof(*give_up_cases));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
