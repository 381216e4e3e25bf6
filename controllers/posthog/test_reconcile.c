/*
 * The reconcile's failures reach the work queue: the PostHog controller,
 * run by a manager against the loopback fake API server (pkg/informer's
 * fakeapi), meets a persistent fault on one kind of write. The failed
 * reconcile must be counted as an error and retried with backoff, with no
 * event to bring it back, and must succeed once the fault is gone.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PH_TESTING
#include "pkg/informer/fakeapi.h"
#include "pkg/manager/manager.h"
#include "api/posthog/build-private.h"
#include "controller.h"

#define WAIT_FOR(cond)                                                      \
	do {                                                                \
		int _ms = 0;                                                \
		while (!(cond) && _ms < 30000) {                            \
			usleep(20000);                                      \
			_ms += 20;                                          \
		}                                                           \
		ck_assert_msg((cond), "timed out waiting for " #cond);      \
	} while (0)

#define PH_BASE "/apis/posthog.com/v1alpha1"

struct env {
	struct fakeapi *api;
	struct kube_client *client;
	struct metrics *metrics;
	struct manager *m;
	struct posthog_controller *pc;
	pthread_t thread;
	atomic_int rc;
};

static void *run(void *arg)
{
	struct env *e = arg;

	atomic_store(&e->rc, manager_run(e->m));
	return NULL;
}

static double errors(struct env *e)
{
	const char *l[] = {"controller", "posthog", NULL};
	double v = 0;

	ck_assert_int_eq(metrics_get(e->metrics, "controller_runtime_reconcile_errors_total", l, &v), 0);
	return v;
}

static void setup(struct env *e)
{
	struct kube_client_options co = {.qps = -1, .retry_budget_ms = 100, .timeout_ms = 2000};
	struct posthog_controller_options po = {.clickhouse_access = "proxy"};
	struct kube_config *cfg;
	char *yaml;

	memset(e, 0, sizeof(*e));
	ck_assert_int_eq(fakeapi_start(&e->api), 0);
	yaml = fakeapi_kubeconfig(e->api);
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	free(yaml);
	ck_assert_int_eq(metrics_new(&e->metrics), 0);
	ck_assert_int_eq(kube_client_new(cfg, &co, &e->client), 0);
	struct manager_options mo = {.client = e->client, .metrics = e->metrics,
				     .metrics_addr = "0", .health_addr = "0"};
	ck_assert_int_eq(manager_new(&mo, &e->m), 0);
	ck_assert_int_eq(posthog_controller_register(e->m, e->client, NULL, &po, &e->pc), 0);
}

static void start(struct env *e)
{
	cJSON *ph = load_posthog("examples/minimal.yaml");

	cJSON_AddStringToObject(cJSON_GetObjectItem(ph, "metadata"), "namespace", "ns");
	ck_assert_int_gt(fakeapi_upsert(e->api, PH_BASE, "posthogs", "ns", ph), 0);
	cJSON_Delete(ph);
	atomic_store(&e->rc, 1);
	pthread_create(&e->thread, NULL, run, e);
}

static void teardown(struct env *e)
{
	manager_stop(e->m);
	pthread_join(e->thread, NULL);
	ck_assert_int_eq(atomic_load(&e->rc), 0);
	posthog_controller_free(e->pc);
	manager_free(e->m);
	kube_client_free(e->client);
	metrics_free(e->metrics);
	fakeapi_stop(e->api);
}

/* The PostHog's condition of that type has that status and, when given,
 * that reason. */
static bool condition_is(struct env *e, const char *type, const char *status,
			 const char *reason)
{
	cJSON *ph = fakeapi_get(e->api, PH_BASE, "posthogs", "ns", "posthog");
	const cJSON *c;
	bool ok = false;

	cJSON_ArrayForEach(c, util_json_get(ph, "status.conditions"))
		if (!strcmp(util_json_get_str(c, "type", ""), type))
			ok = !strcmp(util_json_get_str(c, "status", ""), status) &&
			     (!reason || !strcmp(util_json_get_str(c, "reason", ""), reason));
	cJSON_Delete(ph);
	return ok;
}

static bool exists(struct env *e, const char *base, const char *res, const char *name)
{
	cJSON *o = fakeapi_get(e->api, base, res, "ns", name);

	cJSON_Delete(o);
	return o != NULL;
}

static bool statefulsets_applied(struct env *e)
{
	return exists(e, "/apis/apps/v1", "statefulsets", "posthog-zookeeper") &&
	       exists(e, "/apis/apps/v1", "statefulsets", "posthog-kafka");
}

static bool status_written(struct env *e)
{
	return condition_is(e, "ZooKeeperReady", "False", NULL);
}

static const struct {
	const char *name;
	const char *method, *needle;  /* the fault */
	const char *degraded;         /* reason recorded while it lasts; NULL: none */
	bool (*recovered)(struct env *e);
} faults[] = {
	/* A StatefulSet apply fails: the stage's other children (its
	 * ConfigMap and Services) are still applied, the status says
	 * ApplyFailed, and the worker retries. */
	{"statefulset apply", "PATCH", "/statefulsets/", "ApplyFailed", statefulsets_applied},
	/* The status write fails. */
	{"status write", "PUT", "/posthogs/posthog/status", NULL, status_written},
};

START_TEST(test_failure_retried_with_backoff)
{
	struct env e;

	setup(&e);
	fakeapi_fail_matching(e.api, faults[_i].method, faults[_i].needle, 500);
	start(&e);
	/* Retried with no event to bring the PostHog back: three failures. */
	WAIT_FOR(errors(&e) >= 3);
	ck_assert(!faults[_i].recovered(&e));
	if (faults[_i].degraded) {
		WAIT_FOR(condition_is(&e, "Degraded", "True", faults[_i].degraded));
		ck_assert_uint_gt(fakeapi_count(e.api, "PATCH", "/services/posthog-zookeeper"), 0);
	}
	fakeapi_fail_matching(e.api, NULL, NULL, 0);
	WAIT_FOR(faults[_i].recovered(&e));
	WAIT_FOR(condition_is(&e, "Degraded", "False", NULL));
	teardown(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("posthog_reconcile");
	TCase *tc = tcase_create("failures");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_failure_retried_with_backoff, 0,
			    sizeof(faults) / sizeof(faults[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
