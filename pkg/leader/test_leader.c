#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg/informer/fakeapi.h"
#include "leader.h"

#define WAIT_FOR(cond)                                                      \
	do {                                                                \
		int _ms = 0;                                                \
		while (!(cond) && _ms < 30000) {                            \
			usleep(10000);                                      \
			_ms += 10;                                          \
		}                                                           \
		ck_assert_msg((cond), "timed out waiting for " #cond);      \
	} while (0)

struct fixture {
	struct fakeapi *api;
	struct kube_client *client;
	struct metrics *metrics;
};

static void setup(struct fixture *fx)
{
	ck_assert_int_eq(fakeapi_start(&fx->api), 0);
	char *yaml = fakeapi_kubeconfig(fx->api);
	struct kube_config *cfg;
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	free(yaml);
	/* A short retry budget, so a request during an outage fails soon. */
	struct kube_client_options co = { .qps = -1, .retry_budget_ms = 300,
					  .timeout_ms = 2000 };
	ck_assert_int_eq(kube_client_new(cfg, &co, &fx->client), 0);
	ck_assert_int_eq(metrics_new(&fx->metrics), 0);
}

static void teardown(struct fixture *fx)
{
	kube_client_free(fx->client);
	fakeapi_stop(fx->api);
	metrics_free(fx->metrics);
}

struct calls {
	atomic_int started, stopped;
};

static void on_started(void *ud)
{
	atomic_fetch_add(&((struct calls *)ud)->started, 1);
}

static void on_stopped(void *ud)
{
	atomic_fetch_add(&((struct calls *)ud)->stopped, 1);
}

static struct leader *candidate(struct fixture *fx, const char *id,
				struct calls *calls)
{
	struct leader_options o = {
		.namespace = "kube-system", .name = "lock", .identity = id,
		.lease_duration_ms = 1500, .renew_deadline_ms = 1000,
		.retry_period_ms = 200, .on_started = on_started,
		.on_stopped = on_stopped, .userdata = calls,
		.metrics = fx->metrics,
	};
	struct leader *l;
	ck_assert_int_eq(leader_new(fx->client, &o, &l), 0);
	ck_assert_int_eq(leader_start(l), 0);
	return l;
}

static char *lease_field(struct fixture *fx, const char *field)
{
	cJSON *lease = fakeapi_get(fx->api, "/apis/coordination.k8s.io/v1",
				   "leases", "kube-system", "lock");
	if (!lease)
		return strdup("<none>");
	cJSON *v = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(lease, "spec"), field);
	char *s = cJSON_IsString(v) ? strdup(v->valuestring)
				    : cJSON_PrintUnformatted(v);
	cJSON_Delete(lease);
	return s;
}

static bool holder_is(struct fixture *fx, const char *id)
{
	char *h = lease_field(fx, "holderIdentity");
	bool same = strcmp(h, id) == 0;
	free(h);
	return same;
}

static double master_status(struct fixture *fx)
{
	const char *l[] = { "name", "lock", NULL };
	double v = -1;
	ck_assert_int_eq(metrics_get(fx->metrics, "leader_election_master_status", l, &v), 0);
	return v;
}

START_TEST(test_acquire_and_renew)
{
	struct fixture fx;
	setup(&fx);
	struct calls calls = { 0 };
	struct leader *a = candidate(&fx, "a", &calls);
	WAIT_FOR(leader_is_leader(a));
	WAIT_FOR(atomic_load(&calls.started) == 1);
	ck_assert(holder_is(&fx, "a"));
	ck_assert(master_status(&fx) == 1);
	char *first = lease_field(&fx, "renewTime");
	char *now = NULL;
	/* renewals move renewTime forward while leadership holds */
	for (int i = 0; i < 3000; i++) {
		free(now);
		now = lease_field(&fx, "renewTime");
		if (strcmp(now, first) != 0)
			break;
		usleep(10000);
	}
	ck_assert_str_ne(now, first);
	free(first);
	free(now);
	ck_assert(leader_is_leader(a));
	leader_free(a);
	ck_assert_int_eq(atomic_load(&calls.stopped), 0);
	teardown(&fx);
}
END_TEST

START_TEST(test_one_leader_and_release)
{
	struct fixture fx;
	setup(&fx);
	struct calls ca = { 0 }, cb = { 0 };
	struct leader *a = candidate(&fx, "a", &ca);
	WAIT_FOR(leader_is_leader(a));
	struct leader *b = candidate(&fx, "b", &cb);
	/* b keeps trying for a few retry periods and stays a follower */
	unsigned gets = fakeapi_count(fx.api, "GET", "/leases/lock");
	WAIT_FOR(fakeapi_count(fx.api, "GET", "/leases/lock") >= gets + 6);
	ck_assert(!leader_is_leader(b));
	ck_assert(holder_is(&fx, "a"));
	/* a clean stop hands the Lease over without waiting for expiry */
	leader_stop(a, true);
	char *dur = lease_field(&fx, "leaseDurationSeconds");
	ck_assert(holder_is(&fx, "") || holder_is(&fx, "b"));
	free(dur);
	WAIT_FOR(leader_is_leader(b));
	ck_assert(holder_is(&fx, "b"));
	char *tr = lease_field(&fx, "leaseTransitions");
	ck_assert_str_eq(tr, "0"); /* the released lease had no holder */
	free(tr);
	ck_assert_int_eq(atomic_load(&ca.stopped), 0);
	leader_free(a);
	leader_free(b);
	teardown(&fx);
}
END_TEST

START_TEST(test_takeover_after_expiry)
{
	struct fixture fx;
	setup(&fx);
	struct calls ca = { 0 }, cb = { 0 };
	struct leader *a = candidate(&fx, "a", &ca);
	WAIT_FOR(leader_is_leader(a));
	struct leader *b = candidate(&fx, "b", &cb);
	/* a dies without releasing: b waits out the lease, then takes it */
	leader_stop(a, false);
	ck_assert(holder_is(&fx, "a"));
	WAIT_FOR(leader_is_leader(b));
	ck_assert(holder_is(&fx, "b"));
	char *tr = lease_field(&fx, "leaseTransitions");
	ck_assert_str_eq(tr, "1");
	free(tr);
	leader_free(a);
	leader_free(b);
	teardown(&fx);
}
END_TEST

START_TEST(test_lose_on_renew_failure)
{
	struct fixture fx;
	setup(&fx);
	struct calls ca = { 0 };
	struct leader *a = candidate(&fx, "a", &ca);
	WAIT_FOR(leader_is_leader(a));
	fakeapi_set_down(fx.api, true);
	WAIT_FOR(leader_lost(a));
	ck_assert(!leader_is_leader(a));
	/* on_stopped runs after lost is set and the lock is released
	 * (leader.c, the renew watchdog), so it may come a moment later. */
	WAIT_FOR(atomic_load(&ca.stopped) == 1);
	ck_assert(master_status(&fx) == 0);
	fakeapi_set_down(fx.api, false);
	/* a lost candidate does not campaign again */
	leader_free(a);
	ck_assert_int_eq(atomic_load(&ca.started), 1);
	teardown(&fx);
}
END_TEST

static const struct {
	unsigned lease, renew, retry;
	int rc;
} validity[] = {
	{ 0, 0, 0, 0 },            /* 15 s / 10 s / 2 s */
	{ 1500, 1000, 200, 0 },
	{ 1000, 1000, 200, -EINVAL },  /* renew deadline must be < lease */
	{ 15000, 2400, 2000, -EINVAL },/* and > 1.2 x retry period */
};

START_TEST(test_options)
{
	struct leader_options o = {
		.namespace = "ns", .name = "n", .identity = "i",
		.lease_duration_ms = validity[_i].lease,
		.renew_deadline_ms = validity[_i].renew,
		.retry_period_ms = validity[_i].retry,
	};
	struct leader *l = NULL;
	ck_assert_int_eq(leader_new(NULL, &o, &l), validity[_i].rc);
	leader_free(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("leader");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_options, 0, sizeof(validity) / sizeof(validity[0]));
	tcase_add_test(tc, test_acquire_and_renew);
	tcase_add_test(tc, test_one_leader_and_release);
	tcase_add_test(tc, test_takeover_after_expiry);
	tcase_add_test(tc, test_lose_on_renew_failure);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
