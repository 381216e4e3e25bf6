#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg/informer/fakeapi.h"
#include "events.h"

#define WAIT_FOR(cond)                                                      \
	do {                                                                \
		int _ms = 0;                                                \
		while (!(cond) && _ms < 30000) {                            \
			usleep(10000);                                      \
			_ms += 10;                                          \
		}                                                           \
		ck_assert_msg((cond), "timed out waiting for " #cond);      \
	} while (0)

static cJSON *object(const char *name)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "apiVersion", "posthog.com/v1alpha1");
	cJSON_AddStringToObject(o, "kind", "PostHog");
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", "ns");
	cJSON_AddStringToObject(md, "uid", name);
	return o;
}

static bool written(struct recorder *r, unsigned long n)
{
	unsigned long w, d;
	recorder_counts(r, &w, &d);
	return w >= n;
}

START_TEST(test_create_aggregate_and_limit)
{
	struct fakeapi *api;
	fakeapi_start(&api);
	char *yaml = fakeapi_kubeconfig(api);
	struct kube_config *cfg;
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	free(yaml);
	struct kube_client_options co = { .qps = -1 };
	struct kube_client *c;
	ck_assert_int_eq(kube_client_new(cfg, &co, &c), 0);
	struct recorder *r;
	struct recorder_options ro = { .controller = "posthog.com/operator",
				       .instance = "pod-1" };
	ck_assert_int_eq(recorder_new(c, &ro, &r), 0);
	cJSON *a = object("a"), *b = object("b");

	/* a repeat becomes a series on one Event */
	recorder_event(r, a, "Normal", "Created", "Create", "made %d things", 3);
	recorder_event(r, a, "Normal", "Created", "Create", "made %d things", 3);
	recorder_event(r, a, "Normal", "Created", "Create", "made %d things", 3);
	recorder_event(r, b, "Warning", "Failed", "Reconcile", "boom");
	WAIT_FOR(written(r, 4));
	ck_assert_uint_eq(fakeapi_count(api, "POST", "/events"), 2);
	ck_assert_uint_eq(fakeapi_count(api, "PATCH", "/events/a."), 2);

	/* a hot loop on one object is cut at the burst of 25 writes */
	for (int i = 0; i < 100; i++)
		recorder_event(r, b, "Warning", "Failed", "Reconcile", "boom %d", i);
	WAIT_FOR(written(r, 104));
	ck_assert_uint_eq(fakeapi_count(api, "POST", "/events"), 2 + 24);

	/* ... but only that reason: another reason on the same object still
	 * gets through */
	recorder_event(r, b, "Normal", "BucketsAdded", "Reconcile", "buckets 1 -> 3");
	WAIT_FOR(written(r, 105));
	ck_assert_uint_eq(fakeapi_count(api, "POST", "/events"), 2 + 24 + 1);

	recorder_free(r);
	cJSON_Delete(a);
	cJSON_Delete(b);
	kube_client_free(c);
	fakeapi_stop(api);
}
END_TEST

START_TEST(test_never_blocks)
{
	/* No server at all: a full queue drops instead of blocking, and
	 * recorder_free() returns in bounded time. */
	const char *yaml =
		"apiVersion: v1\nkind: Config\ncurrent-context: x\n"
		"clusters:\n- name: x\n  cluster:\n    server: http://127.0.0.1:1\n"
		"users:\n- name: x\n  user: {}\n"
		"contexts:\n- name: x\n  context:\n    cluster: x\n    user: x\n";
	struct kube_config *cfg;
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	struct kube_client_options co = { .qps = -1, .retry_budget_ms = 100 };
	struct kube_client *c;
	ck_assert_int_eq(kube_client_new(cfg, &co, &c), 0);
	struct recorder *r;
	struct recorder_options ro = { .queue_size = 4 };
	ck_assert_int_eq(recorder_new(c, &ro, &r), 0);
	cJSON *a = object("a");
	for (int i = 0; i < 50; i++)
		recorder_event(r, a, "Normal", "R", "A", "n %d", i);
	unsigned long w, d;
	recorder_counts(r, &w, &d);
	ck_assert_uint_ge(d, 10);
	recorder_free(r);
	cJSON_Delete(a);
	kube_client_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("events");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_create_aggregate_and_limit);
	tcase_add_test(tc, test_never_blocks);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
