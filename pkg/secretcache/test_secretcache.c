/* The Secret cache against the loopback fake API server: how many GETs
 * each sequence of uses makes, and what it gives back. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg/informer/fakeapi.h"
#include "secretcache.h"

struct fixture {
	struct fakeapi *api;
	struct kube_client *client;
	struct secretcache *sc;
};

static void secret(struct fakeapi *api, const char *ns, const char *name, const char *b64)
{
	cJSON *o = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(o, "metadata");

	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "Secret");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "data"), "password", b64);
	ck_assert_int_gt(fakeapi_upsert(api, "/api/v1", "secrets", ns, o), 0);
	cJSON_Delete(o);
}

static void setup(struct fixture *fx, uint64_t ttl_ms)
{
	struct kube_client_options co = {.qps = -1};
	struct kube_config *cfg;
	char *yaml;

	ck_assert_int_eq(fakeapi_start(&fx->api), 0);
	yaml = fakeapi_kubeconfig(fx->api);
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	free(yaml);
	ck_assert_int_eq(kube_client_new(cfg, &co, &fx->client), 0);
	secretcache_new(fx->client, ttl_ms, &fx->sc);
	secret(fx->api, "a", "creds", "c2VjcmV0");
	secret(fx->api, "b", "creds", "b3RoZXI=");
}

static void teardown(struct fixture *fx)
{
	secretcache_free(fx->sc);
	kube_client_free(fx->client);
	fakeapi_stop(fx->api);
}

/* One use of the cache: get ns/name (expecting want, or NULL for an
 * error), or forget it. */
struct step {
	char op; /* 'g' get, 'f' forget, 'c' change the Secret on the server, 's' sleep */
	const char *ns, *want;
	unsigned gets; /* GETs of Secrets made so far, after the step */
};

static const struct {
	uint64_t ttl_ms;
	struct step steps[8];
} cases[] = {
	/* read once, then from memory; namespaces are apart */
	{0, {{'g', "a", "c2VjcmV0", 1}, {'g', "a", "c2VjcmV0", 1}, {'g', "b", "b3RoZXI=", 2},
	     {'g', "b", "b3RoZXI=", 2}}},
	/* a refused credential is forgotten: the next get reads the new value */
	{0, {{'g', "a", "c2VjcmV0", 1}, {'c', "a", NULL, 1}, {'g', "a", "c2VjcmV0", 1},
	     {'f', "a", NULL, 1}, {'g', "a", "bmV3", 2}, {'g', "a", "bmV3", 2}}},
	/* past the ttl it is read again */
	{50, {{'g', "a", "c2VjcmV0", 1}, {'c', "a", NULL, 1}, {'s', NULL, NULL, 1},
	      {'g', "a", "bmV3", 2}}},
	/* a missing Secret is an error each time, never kept */
	{0, {{'g', "nowhere", NULL, 1}, {'g', "nowhere", NULL, 2}}},
};

START_TEST(test_steps)
{
	struct fixture fx;

	setup(&fx, cases[_i].ttl_ms);
	for (int s = 0; s < 8 && cases[_i].steps[s].op; s++) {
		const struct step *st = &cases[_i].steps[s];
		struct kube_status ks = {0};
		cJSON *obj = NULL;
		const cJSON *v;

		switch (st->op) {
		case 'g':
			if (!st->want) {
				ck_assert_int_eq(secretcache_get(fx.sc, st->ns, "creds", &obj, &ks),
						 -ENOENT);
				break;
			}
			ck_assert_int_eq(secretcache_get(fx.sc, st->ns, "creds", &obj, &ks), 0);
			v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "data"),
							     "password");
			ck_assert_msg(cJSON_IsString(v) && !strcmp(v->valuestring, st->want),
				      "case %d step %d", _i, s);
			secretcache_obj_free(obj);
			break;
		case 'f':
			secretcache_forget(fx.sc, st->ns, "creds");
			break;
		case 'c':
			secret(fx.api, st->ns, "creds", "bmV3");
			break;
		case 's':
			usleep((useconds_t)cases[_i].ttl_ms * 2000);
			break;
		}
		ck_assert_msg(fakeapi_count(fx.api, "GET", "/secrets/") == st->gets,
			      "case %d step %d: %u GETs, want %u", _i, s,
			      fakeapi_count(fx.api, "GET", "/secrets/"), st->gets);
		ck_assert_uint_eq(secretcache_reads(fx.sc), st->gets);
	}
	teardown(&fx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("secretcache");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_steps, 0, sizeof(cases) / sizeof(*cases));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
