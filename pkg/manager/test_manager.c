#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg/informer/fakeapi.h"
#include "manager.h"
#include "manager-private.h"

#define WAIT_FOR(cond)                                                      \
	do {                                                                \
		int _ms = 0;                                                \
		while (!(cond) && _ms < 30000) {                            \
			usleep(10000);                                      \
			_ms += 10;                                          \
		}                                                           \
		ck_assert_msg((cond), "timed out waiting for " #cond);      \
	} while (0)

static const struct {
	const char *json;
	enum controller_map map;
	const char *kind;
	int rc;
	const char *key;
} maps[] = {
	{ "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"a\"}}", CONTROLLER_MAP_SELF, NULL, 0, "ns/a" },
	{ "{\"metadata\":{\"name\":\"node1\"}}", CONTROLLER_MAP_SELF, NULL, 0, "node1" },
	{ "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"a\",\"ownerReferences\":[{\"kind\":\"PostHog\",\"name\":\"ph\",\"controller\":true}]}}",
	  CONTROLLER_MAP_OWNER, "PostHog", 0, "ns/ph" },
	{ "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"a\",\"ownerReferences\":[{\"kind\":\"PostHog\",\"name\":\"ph\"}]}}",
	  CONTROLLER_MAP_OWNER, "PostHog", -ENOENT, NULL }, /* not the controller */
	{ "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"a\",\"ownerReferences\":[{\"kind\":\"Other\",\"name\":\"x\",\"controller\":true}]}}",
	  CONTROLLER_MAP_OWNER, "PostHog", -ENOENT, NULL },
	{ "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"a\"}}", CONTROLLER_MAP_OWNER, "PostHog", -ENOENT, NULL },
};

START_TEST(test_map_key)
{
	cJSON *o = cJSON_Parse(maps[_i].json);
	char key[64];
	ck_assert_int_eq(controller_map_key(o, maps[_i].map, maps[_i].kind, key, sizeof(key)),
			 maps[_i].rc);
	if (maps[_i].key)
		ck_assert_str_eq(key, maps[_i].key);
	cJSON_Delete(o);
}
END_TEST

struct env {
	struct fakeapi *api;
	struct kube_client *client;
	struct metrics *metrics;
	struct manager *m;
	struct controller *ctl;
	pthread_t thread;
	atomic_int rc;
	atomic_int calls, fails_left, requeue_once;
	_Atomic uint64_t max_backoff; /* longest delay a flaky failure faced */
};

static int reconcile(void *ud, const char *key, struct reconcile_result *res)
{
	struct env *e = ud;
	atomic_fetch_add(&e->calls, 1);
	if (!strcmp(key, "ns/flaky") && atomic_fetch_sub(&e->fails_left, 1) > 0) {
		uint64_t next = wq_next_backoff_ms(e->ctl->queue, key);

		if (next > atomic_load(&e->max_backoff))
			atomic_store(&e->max_backoff, next);
		return -EIO;
	}
	if (!strcmp(key, "ns/poll") && atomic_exchange(&e->requeue_once, 0))
		res->requeue_after_ms = 10;
	return 0;
}

static void *run(void *arg)
{
	struct env *e = arg;
	atomic_store(&e->rc, manager_run(e->m));
	return NULL;
}

static void cm(struct env *e, const char *name)
{
	cJSON *o = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{}}");
	cJSON_AddStringToObject(cJSON_GetObjectItem(o, "metadata"), "name", name);
	fakeapi_upsert(e->api, "/api/v1", "configmaps", "ns", o);
	cJSON_Delete(o);
}

static double metric(struct env *e, const char *name, const char *result)
{
	const char *l[] = { "controller", "cm", "result", result, NULL };
	const char *l1[] = { "controller", "cm", NULL };
	double v = -1;
	ck_assert_int_eq(metrics_get(e->metrics, name, result ? l : l1, &v), 0);
	return v;
}

static void setup_backoff(struct env *e, bool leader, uint64_t max_backoff_ms);

static void setup(struct env *e, bool leader)
{
	setup_backoff(e, leader, 0);
}

static void setup_backoff(struct env *e, bool leader, uint64_t max_backoff_ms)
{
	memset(e, 0, sizeof(*e));
	fakeapi_start(&e->api);
	char *yaml = fakeapi_kubeconfig(e->api);
	struct kube_config *cfg;
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	free(yaml);
	ck_assert_int_eq(metrics_new(&e->metrics), 0);
	struct kube_client_options co = { .qps = -1, .retry_budget_ms = 200, .timeout_ms = 2000,
					  .on_request = manager_rest_client_metrics,
					  .on_request_userdata = e->metrics };
	ck_assert_int_eq(kube_client_new(cfg, &co, &e->client), 0);
	struct manager_options mo = {
		.client = e->client, .metrics = e->metrics,
		.metrics_addr = "127.0.0.1:0", .health_addr = "127.0.0.1:0",
		.leader_elect = leader, .leader_election_namespace = "ns",
		.leader_election_id = "lock", .lease_duration_ms = 1500,
		.renew_deadline_ms = 1000, .retry_period_ms = 200,
	};
	ck_assert_int_eq(manager_new(&mo, &e->m), 0);
	struct informer *inf;
	struct informer_options io = { .resource = { .version = "v1", .resource = "configmaps",
						     .kind = "ConfigMap", .namespaced = true } };
	ck_assert_int_eq(manager_add_informer(e->m, &io, &inf), 0);
	struct controller_options copt = { .name = "cm", .reconcile = reconcile,
					   .userdata = e, .workers = 2,
					   .max_backoff_ms = max_backoff_ms };
	ck_assert_int_eq(manager_add_controller(e->m, &copt, &e->ctl), 0);
	ck_assert_int_eq(controller_watch(e->ctl, inf, CONTROLLER_MAP_SELF, NULL), 0);
	atomic_store(&e->rc, 1);
	pthread_create(&e->thread, NULL, run, e);
}

static void teardown(struct env *e)
{
	pthread_join(e->thread, NULL);
	manager_free(e->m);
	kube_client_free(e->client);
	metrics_free(e->metrics);
	fakeapi_stop(e->api);
}

/* Two controllers asking for the same informer get one; another
 * namespace or selector is another informer. */
START_TEST(test_shared_informers)
{
	struct fakeapi *api;
	struct kube_config *cfg;
	struct kube_client *client;
	struct manager *m;
	struct kube_client_options co = { .qps = -1 };
	struct informer *a, *b, *c, *d;
	const struct kube_resource cms = { .version = "v1", .resource = "configmaps",
					   .kind = "ConfigMap", .namespaced = true };
	struct informer_options io = { .resource = cms, .resync_ms = INFORMER_NO_RESYNC };

	fakeapi_start(&api);
	char *yaml = fakeapi_kubeconfig(api);
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	free(yaml);
	ck_assert_int_eq(kube_client_new(cfg, &co, &client), 0);
	struct manager_options mo = { .client = client };
	ck_assert_int_eq(manager_new(&mo, &m), 0);
	ck_assert_int_eq(manager_add_informer(m, &io, &a), 0);
	io.resync_ms = 60000;
	ck_assert_int_eq(manager_add_informer(m, &io, &b), 0);
	ck_assert_ptr_eq(a, b);
	io.namespace = "a";
	ck_assert_int_eq(manager_add_informer(m, &io, &c), 0);
	ck_assert_ptr_ne(a, c);
	io.namespace = NULL;
	io.label_selector = "x=1";
	ck_assert_int_eq(manager_add_informer(m, &io, &d), 0);
	ck_assert_ptr_ne(a, d);
	ck_assert_ptr_ne(c, d);
	manager_free(m);
	kube_client_free(client);
	fakeapi_stop(api);
}
END_TEST

START_TEST(test_run_reconcile_stop)
{
	struct env e;
	setup(&e, false);
	atomic_store(&e.fails_left, 3);
	atomic_store(&e.requeue_once, 1);
	cm(&e, "a");
	cm(&e, "flaky");
	cm(&e, "poll");
	WAIT_FOR(metric(&e, "controller_runtime_reconcile_total", "success") == 3);
	ck_assert(metric(&e, "controller_runtime_reconcile_total", "error") == 3);
	ck_assert(metric(&e, "controller_runtime_reconcile_errors_total", NULL) == 3);
	ck_assert(metric(&e, "controller_runtime_reconcile_total", "requeue_after") == 1);
	ck_assert(metric(&e, "controller_runtime_max_concurrent_reconciles", NULL) == 2);
	ck_assert_int_eq(atomic_load(&e.calls), 7);
	ck_assert(manager_ready(e.m));
	ck_assert_int_gt(manager_metrics_port(e.m), 0);
	ck_assert_int_gt(manager_health_port(e.m), 0);
	manager_stop(e.m);
	teardown(&e);
	ck_assert_int_eq(atomic_load(&e.rc), 0);
}
END_TEST

/* A key that keeps failing backs off, but never past the controller's
 * max_backoff_ms: the failure is retried with no event to bring it back. */
START_TEST(test_backoff_capped)
{
	struct env e;
	setup_backoff(&e, false, 40);
	atomic_store(&e.fails_left, 12);
	cm(&e, "flaky");
	WAIT_FOR(metric(&e, "controller_runtime_reconcile_total", "success") == 1);
	ck_assert(metric(&e, "controller_runtime_reconcile_total", "error") == 12);
	ck_assert_int_eq(atomic_load(&e.calls), 13);
	/* The doubling (5 ms * 2^11 by the twelfth failure) was capped. */
	ck_assert_uint_eq(atomic_load(&e.max_backoff), 40);
	manager_stop(e.m);
	teardown(&e);
	ck_assert_int_eq(atomic_load(&e.rc), 0);
}
END_TEST

START_TEST(test_leader_lost)
{
	struct env e;
	setup(&e, true);
	cm(&e, "a");
	WAIT_FOR(metric(&e, "controller_runtime_reconcile_total", "success") == 1);
	fakeapi_set_down(e.api, true);
	pthread_join(e.thread, NULL);
	ck_assert_int_eq(atomic_load(&e.rc), -ENOLCK);
	e.thread = pthread_self();
	manager_free(e.m);
	kube_client_free(e.client);
	metrics_free(e.metrics);
	fakeapi_stop(e.api);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("manager");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_map_key, 0, sizeof(maps) / sizeof(maps[0]));
	tcase_add_test(tc, test_shared_informers);
	tcase_add_test(tc, test_run_reconcile_stop);
	tcase_add_test(tc, test_backoff_capped);
	tcase_add_test(tc, test_leader_lost);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
