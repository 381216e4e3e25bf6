/* The version matrix: lookups, version comparison, and every example's
 * rendered plugin-servers (and migrate Job) checked against its row. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PH_TESTING
#include "build-private.h"

static const struct {
	const char *a, *b;
	int rc, cmp;
} cmps[] = {
	{ "22.3.13.80", "22.9.0", 0, -1 },
	{ "22.9", "22.9.0", 0, 0 },
	{ "24.8.7.41", "24.8", 0, 1 },
	{ "25.12.1", "25.13", 0, -1 },
	{ "21.6.0", "21.6.0", 0, 0 },
	{ "100.0", "99.99.99", 0, 1 },
	{ "latest", "22.9", -EINVAL, 0 },
	{ "22.", "22", -EINVAL, 0 },
	{ "22..1", "22", -EINVAL, 0 },
	{ "", "1", -EINVAL, 0 },
	{ "1-alpine", "1", -EINVAL, 0 },
	{ "99999999999999", "1", -EINVAL, 0 },
};

START_TEST(test_cmp)
{
	int cmp = 42;

	ck_assert_int_eq(ph_version_cmp(cmps[_i].a, cmps[_i].b, &cmp), cmps[_i].rc);
	if (cmps[_i].rc == 0)
		ck_assert_int_eq(cmp, cmps[_i].cmp);
	else
		ck_assert_int_eq(cmp, 42); /* untouched on failure */
}
END_TEST

START_TEST(test_find)
{
	const struct ph_version *v;
	char list[256];
	size_t i;

	ck_assert_ptr_null(ph_version_find("latest"));
	ck_assert_ptr_null(ph_version_find(NULL));
	ck_assert_str_eq(ph_version_find("1.43.0")->plugin_tag, "release-1.43.0");
	ck_assert_str_eq(ph_version_or_fallback("latest")->version, "");
	ck_assert_ptr_null(ph_version_or_fallback("latest")->plugin_tag);
	ck_assert_int_eq(ph_version_list(list, sizeof(list)), 0);
	for (i = 0; (v = ph_version_at(i)); i++) {
		ck_assert_ptr_eq(ph_version_find(v->version), v);
		ck_assert_ptr_nonnull(strstr(list, v->version));
		/* every row's known-good ClickHouse lies in its accepted range */
		int lo, hi;
		ck_assert_int_eq(ph_version_cmp(v->clickhouse_tag, v->clickhouse_min, &lo), 0);
		ck_assert_int_eq(ph_version_cmp(v->clickhouse_tag, v->clickhouse_below, &hi), 0);
		ck_assert_int_ge(lo, 0);
		ck_assert_int_lt(hi, 0);
	}
	ck_assert_uint_eq(i, 2);
	ck_assert_int_eq(ph_version_list(list, 8), -ENOSPC);
}
END_TEST

static const char *const examples[] = {
	"examples/minimal.yaml", "examples/production.yaml",
	"examples/external.yaml", "examples/legacy-topics.yaml",
};

static const cJSON *env_var(const cJSON *env, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, env)
		if (!strcmp(util_json_get_str(e, "name", ""), name))
			return e;
	return NULL;
}

static void check_command(const cJSON *cmd, const char *const *want)
{
	const cJSON *a;
	size_t i = 0;

	cJSON_ArrayForEach(a, cmd) {
		ck_assert_ptr_nonnull(want[i]);
		ck_assert_str_eq(a->valuestring, want[i]);
		i++;
	}
	ck_assert_ptr_null(want[i]);
}

/* The variable is taken from the Secret key that spec.<ref>.name and
 * spec.<ref>.<keyfield> name (the key defaulting to key_default). */
static void check_ref_env(const cJSON *env, const char *name, const cJSON *ph,
			  const char *ref, const char *keyfield, const char *key_default)
{
	const cJSON *e = env_var(env, name);
	char path[96];

	ck_assert_msg(e != NULL, "%s missing", name);
	ck_assert_ptr_null(util_json_get(e, "value"));
	snprintf(path, sizeof(path), "spec.%s.name", ref);
	ck_assert_str_eq(util_json_get_str(e, "valueFrom.secretKeyRef.name", ""),
			 util_json_get_str(ph, path, "?"));
	snprintf(path, sizeof(path), "spec.%s.%s", ref, keyfield);
	ck_assert_str_eq(util_json_get_str(e, "valueFrom.secretKeyRef.key", ""),
			 util_json_get_str(ph, path, key_default));
}

static void check_value_env(const cJSON *env, const char *name, const char *want)
{
	const cJSON *e = env_var(env, name);

	ck_assert_msg(e != NULL, "%s missing", name);
	ck_assert_str_eq(util_json_get_str(e, "value", "(none)"), want);
}

/* spec.objectStorage under the row's names, or no such variable. */
static void check_object_storage(const cJSON *env, const cJSON *ph,
				 const struct ph_object_storage_env *o)
{
	const cJSON *os = util_json_get(ph, "spec.objectStorage");

	if (!os || !o) {
		ck_assert_ptr_null(env_var(env, "OBJECT_STORAGE_ENABLED"));
		ck_assert_ptr_null(env_var(env, "OBJECT_STORAGE_ENDPOINT"));
		ck_assert_ptr_null(env_var(env, "OBJECT_STORAGE_ACCESS_KEY_ID"));
		return;
	}
	check_value_env(env, o->enabled, "true");
	check_value_env(env, o->endpoint, util_json_get_str(os, "endpoint", "?"));
	check_value_env(env, o->bucket, util_json_get_str(os, "bucket", "?"));
	if (o->region && util_json_get(os, "region"))
		check_value_env(env, o->region, util_json_get_str(os, "region", "?"));
	else
		ck_assert_ptr_null(env_var(env, "OBJECT_STORAGE_REGION"));
	if (util_json_get(os, "credentialsSecret")) {
		check_ref_env(env, o->access_key_id, ph, "objectStorage.credentialsSecret",
			      "accessKeyIdKey", "access-key-id");
		check_ref_env(env, o->secret_access_key, ph, "objectStorage.credentialsSecret",
			      "secretAccessKeyKey", "secret-access-key");
	} else {
		ck_assert_ptr_null(env_var(env, o->access_key_id));
		ck_assert_ptr_null(env_var(env, o->secret_access_key));
	}
}

static void check_datastores(const cJSON *env, const cJSON *ph, const struct ph_version *row)
{
	const char *const *n;

	for (n = row->postgres_env; *n; n++)
		check_ref_env(env, *n, ph, "postgres.urlSecret", "key", "url");
	for (n = row->redis_env; *n; n++)
		check_ref_env(env, *n, ph, "redis.urlSecret", "key", "url");
	/* the examples set what their row requires */
	if (row->secret_key_required)
		ck_assert_ptr_nonnull(util_json_get(ph, "spec.secretKey"));
	if (row->encryption_required)
		ck_assert_ptr_nonnull(util_json_get(ph, "spec.encryptionSaltKeys"));
	for (n = row->secret_key_env; *n; n++)
		if (util_json_get(ph, "spec.secretKey"))
			check_ref_env(env, *n, ph, "secretKey", "key", "secret-key");
		else
			ck_assert_ptr_null(env_var(env, *n));
	for (n = row->encryption_env; *n; n++)
		if (util_json_get(ph, "spec.encryptionSaltKeys"))
			check_ref_env(env, *n, ph, "encryptionSaltKeys", "key", "encryption-salt-keys");
		else
			ck_assert_ptr_null(env_var(env, *n));
	if (!row->encryption_env[0])
		ck_assert_ptr_null(env_var(env, "ENCRYPTION_SALT_KEYS"));
	check_object_storage(env, ph, row->object_storage);
}

static void check_plugin_server(const cJSON *obj, const cJSON *ph, const struct ph_version *row)
{
	const cJSON *ct = cJSON_GetArrayItem(util_json_get(obj, "spec.template.spec.containers"), 0);
	const cJSON *env = util_json_get(ct, "env");
	bool ingestion = strstr(util_json_get_str(obj, "metadata.name", ""), "-plugins-ingestion-") != NULL;
	char *img = util_xasprintf("%s:%s", row->plugin_image, row->plugin_tag);
	const char *const *n;

	ck_assert_str_eq(util_json_get_str(ct, "image", ""), img);
	free(img);
	check_command(util_json_get(ct, "command"), row->plugin_command);
	ck_assert_str_eq(util_json_get_str(env_var(env, "PLUGIN_SERVER_MODE"), "value", ""),
			 ingestion ? row->ingestion_mode : row->async_mode);
	if (row->routing == PH_ROUTING_KAFKA_PREFIX)
		ck_assert_ptr_nonnull(env_var(env, "KAFKA_PREFIX"));
	else
		ck_assert_ptr_null(env_var(env, "KAFKA_PREFIX"));
	ck_assert_ptr_nonnull(env_var(env, row->env_events_json_topic));
	if (ingestion) {
		ck_assert_ptr_nonnull(env_var(env, row->env_ingestion_topic));
		if (row->env_ingestion_group)
			ck_assert_ptr_nonnull(env_var(env, row->env_ingestion_group));
	} else {
		if (row->env_async_topic)
			ck_assert_ptr_nonnull(env_var(env, row->env_async_topic));
		if (row->env_async_group)
			ck_assert_ptr_nonnull(env_var(env, row->env_async_group));
	}
	if (row->kafka_url)
		ck_assert_ptr_nonnull(env_var(env, "KAFKA_URL"));
	check_datastores(env, ph, row);
	for (n = row->plugin_redis_env; n && *n; n++)
		check_ref_env(env, *n, ph, "redis.urlSecret", "key", "url");
	for (n = row->plugin_env; n && n[0]; n += 2)
		ck_assert_str_eq(util_json_get_str(env_var(env, n[0]), "value", ""), n[1]);
	/* a row whose plugin-server reads no CDP Redis gets none */
	if (!row->plugin_redis_env)
		ck_assert_ptr_null(env_var(env, "CDP_REDIS_HOST"));
}

static void check_migrate(const cJSON *obj, const cJSON *ph, const struct ph_version *row)
{
	const cJSON *ct = cJSON_GetArrayItem(util_json_get(obj, "spec.template.spec.containers"), 0);
	char *img = util_xasprintf("%s:%s", row->app_image, row->app_tag);
	char want[128];

	ck_assert_int_eq(ph_migrate_job_name(util_json_get_str(ph, "metadata.name", ""), row->version,
					     want, sizeof(want)), 0);
	ck_assert_str_eq(util_json_get_str(obj, "metadata.name", ""), want);
	ck_assert_str_eq(util_json_get_str(ct, "image", ""), img);
	free(img);
	check_command(util_json_get(ct, "command"), row->migrate_command);
	ck_assert_str_eq(util_json_get_str(obj, "spec.template.spec.restartPolicy", ""), "Never");
	ck_assert_ptr_null(util_json_get(obj, "spec.ttlSecondsAfterFinished"));
	check_datastores(util_json_get(ct, "env"), ph, row);
	ck_assert_ptr_nonnull(env_var(util_json_get(ct, "env"), "CLICKHOUSE_PASSWORD"));
	ck_assert_ptr_nonnull(env_var(util_json_get(ct, "env"), "KAFKA_HOSTS"));
	/* Django reads no CDP Redis: the Job gets none */
	ck_assert_ptr_null(env_var(util_json_get(ct, "env"), "CDP_REDIS_HOST"));
}

/* Every user element (indented four spaces inside <users>) has a password. */
static void check_users_have_passwords(const char *users)
{
	const char *p = strstr(users, "<users>\n"), *end = strstr(users, "  </users>");
	int n = 0;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(end);
	p += strlen("<users>\n");
	while (p < end) {
		const char *close = strstr(p, "\n    </");
		char *block;

		ck_assert_msg(!strncmp(p, "    <", 5), "unexpected line in users: %.40s", p);
		ck_assert_ptr_nonnull(close);
		block = strndup(p, (size_t)(close - p));
		ck_assert_msg(strstr(block, "<password") != NULL, "user without a password: %s", block);
		free(block);
		p = strchr(close + 1, '\n') + 1;
		n++;
	}
	ck_assert_int_ge(n, 2); /* the admin user and "default" */
}

static void check_clickhouse(const cJSON *entries, const cJSON *ph, const struct ph_version *row)
{
	const char *server = NULL, *users = NULL;
	const struct ph_ch_cluster *cl;
	const char *const *m;
	const cJSON *e;
	char boot[512], *want;

	cJSON_ArrayForEach(e, entries) {
		/* keys with dots: no util_json_get paths */
		const cJSON *d = util_json_get(util_json_get(e, "object"), "data");
		const cJSON *sv = cJSON_GetObjectItem(d, "posthog.xml");
		const cJSON *us = cJSON_GetObjectItem(d, "users.xml");

		if (cJSON_IsString(sv))
			server = sv->valuestring;
		if (cJSON_IsString(us))
			users = us->valuestring;
	}
	ck_assert_ptr_nonnull(server);
	ck_assert_ptr_nonnull(users);
	for (cl = row->clickhouse_clusters; cl->name; cl++) {
		want = util_xasprintf("<%s>\n      <shard>", cl->name);
		ck_assert_msg(strstr(server, want) != NULL, "cluster %s missing", cl->name);
		free(want);
	}
	ck_assert_int_eq(ph_kafka_bootstrap(util_json_get_str(ph, "metadata.name", ""),
					    util_json_get_str(ph, "metadata.namespace", NULL),
					    util_json_get(ph, "spec"), boot, sizeof(boot)), 0);
	for (m = row->named_collections; *m; m++) {
		want = util_xasprintf("<%s>\n      <kafka_broker_list>%s</kafka_broker_list>", *m, boot);
		ck_assert_msg(strstr(server, want) != NULL, "%s missing in %s", want, server);
		free(want);
	}
	for (m = row->macros; m[0]; m += 2) {
		want = util_xasprintf("<%s>%s</%s>", m[0], m[1], m[0]);
		ck_assert_msg(strstr(server, want) != NULL, "macro %s missing", want);
		free(want);
	}
	check_users_have_passwords(users);
}

START_TEST(test_examples_match_matrix)
{
	cJSON *ph = load_posthog(examples[_i]), *entries = NULL;
	const struct ph_version *row = ph_version_find(util_json_get_str(ph, "spec.version", NULL));
	const cJSON *e;
	int deployments = 0, jobs = 0, stage_of_job = -1, i = 0;

	ck_assert_msg(row != NULL, "%s: version not in the matrix", examples[_i]);
	ck_assert_int_eq(ph_build(ph, &entries), 0);
	cJSON_ArrayForEach(e, entries) {
		const cJSON *obj = util_json_get(e, "object");

		if (!strcmp(util_json_get_str(obj, "kind", ""), "Deployment") &&
		    !strcmp(util_json_get_str(e, "stage", ""), "plugin-server")) {
			check_plugin_server(obj, ph, row);
			/* the migrate Job comes before any plugin-server */
			ck_assert_int_ge(stage_of_job, 0);
			ck_assert_int_lt(stage_of_job, i);
			deployments++;
		}
		if (!strcmp(util_json_get_str(e, "stage", ""), "migrate")) {
			ck_assert_str_eq(util_json_get_str(obj, "kind", ""), "Job");
			check_migrate(obj, ph, row);
			stage_of_job = i;
			jobs++;
		}
		i++;
	}
	ck_assert_int_eq(deployments, 2 * util_json_get_int(ph, "spec.buckets.count", 1));
	ck_assert_int_eq(jobs, 1);
	if (!util_json_get(ph, "spec.clickhouse.external"))
		check_clickhouse(entries, ph, row);
	cJSON_Delete(entries);
	cJSON_Delete(ph);
}
END_TEST

/* Specs beyond the examples: every plugin-server and the migrate Job get
 * what the spec sets under the names of its row (or, for an unsupported
 * version, of the row it runs with), and nothing it does not set. */
#define WIRING_BASE "\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}," \
	"\"postgres\":{\"urlSecret\":{\"name\":\"app\"}},\"redis\":{\"urlSecret\":{\"name\":\"app\"}}"
static const char *const wiring[] = {
	"\"version\":\"03bc2ff27ab6730aef6b418718014e523e206fd3\"," WIRING_BASE
	",\"secretKey\":{\"name\":\"sk\",\"key\":\"django\"},\"encryptionSaltKeys\":{\"name\":\"salt\"}"
	",\"objectStorage\":{\"endpoint\":\"https://s3.example.com\",\"bucket\":\"ph-data\",\"region\":\"eu-west-1\","
	"\"credentialsSecret\":{\"name\":\"s3\",\"accessKeyIdKey\":\"id\",\"secretAccessKeyKey\":\"secret\"}}",
	"\"version\":\"1.43.0\",\"pluginServer\":{\"topicRouting\":\"KafkaPrefix\"}," WIRING_BASE
	",\"secretKey\":{\"name\":\"sk\"},\"objectStorage\":{\"endpoint\":\"http://minio:9000\",\"bucket\":\"posthog\"}",
	/* what 1.43.0 does not read is valid and given to no pod */
	"\"version\":\"1.43.0\"," WIRING_BASE
	",\"secretKey\":{\"name\":\"sk\"},\"encryptionSaltKeys\":{\"name\":\"salt\"}"
	",\"objectStorage\":{\"endpoint\":\"http://minio:9000\",\"bucket\":\"posthog\",\"region\":\"eu-west-1\"}",
	"\"version\":\"latest\",\"unsupportedVersion\":true," WIRING_BASE
	",\"secretKey\":{\"name\":\"sk\"},\"encryptionSaltKeys\":{\"name\":\"salt\",\"key\":\"k\"}"
	",\"objectStorage\":{\"endpoint\":\"http://minio:9000\",\"bucket\":\"posthog\",\"region\":\"x1\"}",
	"\"version\":\"latest\",\"unsupportedVersion\":true," WIRING_BASE,
};

START_TEST(test_wiring)
{
	char *text = util_xasprintf("{\"apiVersion\":\"posthog.com/v1alpha1\",\"kind\":\"PostHog\","
			     "\"metadata\":{\"name\":\"ph\"},\"spec\":{%s}}", wiring[_i]);
	cJSON *ph = parse_json(text), *entries = NULL;
	const struct ph_version *row = ph_version_or_fallback(util_json_get_str(ph, "spec.version", NULL));
	const cJSON *e;
	int checked = 0;

	free(text);
	ck_assert_int_eq(ph_build(ph, &entries), 0);
	cJSON_ArrayForEach(e, entries) {
		const cJSON *obj = util_json_get(e, "object");
		const char *stage = util_json_get_str(e, "stage", "");

		const char *kind = util_json_get_str(obj, "kind", "");

		if ((!strcmp(stage, "plugin-server") && !strcmp(kind, "Deployment")) ||
		    !strcmp(stage, "migrate")) {
			check_datastores(util_json_get(cJSON_GetArrayItem(util_json_get(obj, "spec.template.spec.containers"), 0),
						"env"), ph, row);
			checked++;
		}
	}
	ck_assert_int_eq(checked, 3); /* one bucket's two Deployments and the Job */
	cJSON_Delete(entries);
	cJSON_Delete(ph);
}
END_TEST

static const struct {
	const char *name, *version, *want;
	int rc;
} job_names[] = {
	{ "posthog", "1.43.0", "posthog-migrate-1.43.0", 0 },
	{ "ph", "03bc2ff27ab6730aef6b418718014e523e206fd3", "ph-migrate-03bc2ff-", 0 },
	{ "ph", "Release_1", "ph-migrate-release-", 0 },
	{ "ph", "release-1.43.0", "ph-migrate-release-1.43.0", 0 },
	{ "ph", "", NULL, -EINVAL },
	{ "a-name-of-thirty-six-characters-xxxx", "0123456789abcdef0123", "a-name-of-thirty-six-characters-xxxx-migrate-0123456-", 0 },
};

START_TEST(test_job_name)
{
	char out[128] = "untouched";
	int rc = ph_migrate_job_name(job_names[_i].name, job_names[_i].version, out, sizeof(out));

	ck_assert_int_eq(rc, job_names[_i].rc);
	if (rc != 0)
		return;
	ck_assert_msg(!strncmp(out, job_names[_i].want, strlen(job_names[_i].want)), "%s", out);
	ck_assert_uint_le(strlen(out), 63);
	/* distinct versions, distinct names */
	if (_i == 1) {
		char other[128];

		ck_assert_int_eq(ph_migrate_job_name("ph", "03bc2ff27ab6730aef6b418718014e523e206fd4",
						     other, sizeof(other)), 0);
		ck_assert_str_ne(out, other);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("posthog_versions");
	TCase *tc = tcase_create("versions");

	tcase_add_loop_test(tc, test_cmp, 0, sizeof(cmps) / sizeof(cmps[0]));
	tcase_add_test(tc, test_find);
	tcase_add_loop_test(tc, test_job_name, 0, sizeof(job_names) / sizeof(job_names[0]));
	tcase_add_loop_test(tc, test_examples_match_matrix, 0,
			    sizeof(examples) / sizeof(examples[0]));
	tcase_add_loop_test(tc, test_wiring, 0, sizeof(wiring) / sizeof(wiring[0]));
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
