/*
 * The invariants the spec fuzzer checks (fuzz/invariants.c) hold for the
 * examples and for the specs the fuzzer found, and each rule catches the
 * violation it is about.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define PH_TESTING
#include "build-private.h"
#include "api/posthog/fuzz/invariants.h"

static cJSON *build(cJSON *ph)
{
	cJSON *entries = NULL, *problems = NULL;

	ck_assert_int_eq(ph_validate(ph, &problems), 0);
	ck_assert_int_eq(ph_build(ph, &entries), 0);
	return entries;
}

/* Specs that validate: the examples, and fuzzer findings (the corpus). */
static const char *const valid[] = {
	"examples/minimal.yaml",
	"examples/production.yaml",
	"examples/external.yaml",
	"examples/legacy-topics.yaml",
};

START_TEST(test_examples_hold)
{
	cJSON *ph = load_posthog(valid[_i]);
	cJSON *entries = build(ph);
	char msg[512] = "";

	ck_assert_msg(phi_check(ph, entries, msg, sizeof(msg)) == 0, "%s: %s", valid[_i], msg);
	cJSON_Delete(entries);
	cJSON_Delete(ph);
}
END_TEST

static cJSON *object_named(cJSON *entries, const char *kind, const char *name)
{
	cJSON *e;

	cJSON_ArrayForEach(e, entries) {
		cJSON *o = cJSON_GetObjectItem(e, "object");

		if (!strcmp(util_json_get_str(o, "kind", ""), kind) &&
		    (!name || !strcmp(util_json_get_str(o, "metadata.name", ""), name)))
			return o;
	}
	return NULL;
}

static void replace(cJSON *obj, const char *key, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddItemToObject(obj, key, v);
}

/* Breaking one rule in built output: the checker names it. */
static void dup_configmap(cJSON *entries)
{
	cJSON *e = cJSON_GetArrayItem(entries, 0);

	while (e && strcmp(util_json_get_str(cJSON_GetObjectItem(e, "object"), "kind", ""), "ConfigMap"))
		e = e->next;
	cJSON_AddItemToArray(entries, cJSON_Duplicate(e, 1));
}

static void long_name(cJSON *entries)
{
	cJSON *o = object_named(entries, "Deployment", NULL);

	replace(cJSON_GetObjectItem(o, "metadata"), "name",
		cJSON_CreateString("a-name-that-is-much-longer-than-sixty-three-characters-for-a-label"));
}

static void service_digit(cJSON *entries)
{
	cJSON *o = object_named(entries, "Service", NULL);

	replace(cJSON_GetObjectItem(o, "metadata"), "name", cJSON_CreateString("1posthog"));
}

static void selector_mismatch(cJSON *entries)
{
	cJSON *o = object_named(entries, "Deployment", NULL);
	cJSON *ml = (cJSON *)util_json_get(o, "spec.selector.matchLabels");

	cJSON_AddStringToObject(ml, "extra", "x");
}

static void selector_overlap(cJSON *entries)
{
	cJSON *o = object_named(entries, "Deployment", NULL);
	cJSON *sel = cJSON_CreateObject();

	cJSON_AddStringToObject(sel, PH_LABEL_MANAGED_BY, PH_MANAGED_BY);
	replace((cJSON *)util_json_get(o, "spec.selector"), "matchLabels", sel);
}

static void pdb_selects_nothing(cJSON *entries)
{
	cJSON *o = object_named(entries, "PodDisruptionBudget", NULL);

	replace((cJSON *)util_json_get(o, "spec.selector"), "matchLabels", cJSON_CreateObject());
}

static void hpa_dangling(cJSON *entries)
{
	cJSON *o = object_named(entries, "HorizontalPodAutoscaler", NULL);

	replace((cJSON *)util_json_get(o, "spec.scaleTargetRef"), "name", cJSON_CreateString("nothing"));
}

static void bad_label(cJSON *entries)
{
	cJSON *o = object_named(entries, "StatefulSet", NULL);

	replace((cJSON *)util_json_get(o, "metadata.labels"), "x", cJSON_CreateString("-bad-"));
}

static void dup_container(cJSON *entries)
{
	cJSON *o = object_named(entries, "StatefulSet", NULL);
	cJSON *cs = (cJSON *)util_json_get(o, "spec.template.spec.containers");

	cJSON_AddItemToArray(cs, cJSON_Duplicate(cJSON_GetArrayItem(cs, 0), 1));
}

static const struct {
	const char *name;
	void (*breaks)(cJSON *entries);
	const char *says;
} broken[] = {
	{"duplicate", dup_configmap, "two ConfigMaps named"},
	{"long name", long_name, "not a DNS-1123 subdomain"},
	{"service digit", service_digit, "DNS-1035"},
	{"selector", selector_mismatch, "does not match its pod labels"},
	{"overlap", selector_overlap, "also matches the pods of"},
	{"pdb", pdb_selects_nothing, "selects no built pods"},
	{"hpa", hpa_dangling, "targets Deployment nothing"},
	{"label", bad_label, "invalid value"},
	{"container", dup_container, "two containers named"},
};

START_TEST(test_violations_caught)
{
	cJSON *ph = load_posthog("examples/production.yaml");
	cJSON *entries = build(ph);
	char msg[512] = "";

	broken[_i].breaks(entries);
	ck_assert_int_eq(phi_check(ph, entries, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strstr(msg, broken[_i].says), "%s: got \"%s\"", broken[_i].name, msg);
	cJSON_Delete(entries);
	cJSON_Delete(ph);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("posthog_invariants");
	TCase *tc = tcase_create("invariants");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_examples_hold, 0, sizeof(valid) / sizeof(valid[0]));
	tcase_add_loop_test(tc, test_violations_caught, 0, sizeof(broken) / sizeof(broken[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
