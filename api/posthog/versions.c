/*
 * The version matrix: the PostHog versions the operator knows how to run,
 * and for each what it runs and what it expects. Every value comes from
 * PostHog's own repositories at that version; docs/versions.md names the
 * file (and commit) behind each one. Adding a version means adding a row
 * here and a section there, nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posthog.h"

/* 1.43.0: bin/plugin-server with --no-restart-loop, as the chart's
 * _snippet-plugins-deployment.tpl ran it; the chart's migrate.job.yaml
 * command for the Job. */
static const char *const cmd_143[] = { "./bin/plugin-server", "--no-restart-loop", NULL };
static const char *const migrate_143[] = {
	"/bin/sh", "-c",
	"set -e\npython manage.py notify_helm_install || true\n./bin/migrate\n",
	NULL,
};
static const char *const pg_143[] = { "DATABASE_URL", NULL };
static const char *const redis_143[] = { "REDIS_URL", NULL };
/* Django's SECRET_KEY (posthog/settings/access.py exits outside DEBUG/TEST
 * with the default key); the chart's _posthog.tpl gave it to the migrate
 * Job and every plugin-server (whose bin/plugin-server runs Django's
 * migrate-check). Object storage: the chart's _object_storage.tpl, only
 * when MinIO or externalObjectStorage is configured (off by default). No
 * ENCRYPTION_SALT_KEYS: neither the chart nor the plugin-server of that
 * era reads one. */
static const char *const secret_key_env[] = { "SECRET_KEY", NULL };
static const struct ph_object_storage_env objstore_143 = {
	.enabled = "OBJECT_STORAGE_ENABLED",
	.endpoint = "OBJECT_STORAGE_ENDPOINT",
	.bucket = "OBJECT_STORAGE_BUCKET",
	.access_key_id = "OBJECT_STORAGE_ACCESS_KEY_ID",
	.secret_access_key = "OBJECT_STORAGE_SECRET_ACCESS_KEY",
};

/* Current PostHog: the Node services are their own image (Dockerfile.node,
 * CMD node nodejs/dist/index.js); Django still runs bin/migrate. */
static const char *const cmd_node[] = { "node", "nodejs/dist/index.js", NULL };
static const char *const migrate_node[] = { "./bin/migrate", NULL };
static const char *const pg_node[] = { "DATABASE_URL", "PERSONS_DATABASE_URL", NULL };
static const char *const redis_node[] = { "REDIS_URL", NULL };
/* The CDP Redis client does not fall back to REDIS_URL: config.ts
 * defaults CDP_REDIS_HOST to 127.0.0.1, and the CDP consumers (the
 * cdp-legacy-on-event mode) and the ingestion's hog transformer connect
 * to CDP_REDIS_HOST when it is non-empty, killing the process after ten
 * Redis errors (nodejs/src/utils/db/redis.ts). The value is passed to
 * ioredis as its URL argument with CDP_REDIS_PORT as an option, and
 * ioredis (lib/Redis.ts, parseOptions) lets what the URL names win, so
 * the spec.redis URL works there as it does in REDIS_URL; the port is
 * only what a URL without one gets (Redis's 6379, not config.ts's 6479).
 * docker-compose.hobby.yml sets both on the Node plugins service. */
static const char *const plugin_redis_node[] = { "CDP_REDIS_HOST", NULL };
static const char *const plugin_env_node[] = { "CDP_REDIS_PORT", "6379", NULL };
/* nodejs/src/config/config.ts: ENCRYPTION_SALT_KEYS is empty outside
 * dev/test, and EncryptedFields (nodejs/src/cdp/utils/encryption-utils.ts)
 * then refuses to encrypt or decrypt; Django's default in access.py is a
 * published key. docker-compose.hobby.yml sets it, with SECRET_KEY and the
 * OBJECT_STORAGE_* variables, on Django and the Node services alike.
 * Object storage: posthog/settings/object_storage.py (disabled unless set,
 * OBJECT_STORAGE_REGION defaults to us-east-1). */
static const char *const encryption_node[] = { "ENCRYPTION_SALT_KEYS", NULL };
static const struct ph_object_storage_env objstore_node = {
	.enabled = "OBJECT_STORAGE_ENABLED",
	.endpoint = "OBJECT_STORAGE_ENDPOINT",
	.bucket = "OBJECT_STORAGE_BUCKET",
	.region = "OBJECT_STORAGE_REGION",
	.access_key_id = "OBJECT_STORAGE_ACCESS_KEY_ID",
	.secret_access_key = "OBJECT_STORAGE_SECRET_ACCESS_KEY",
};

/* docker/clickhouse/config.d/default.xml of current PostHog: the clusters
 * its settings name (CLICKHOUSE_SINGLE_SHARD_CLUSTER, _MIGRATIONS_, ...),
 * the Kafka named collections of kafka_engine.py, and the macros that
 * posthog/clickhouse/cluster.py reads. */
static const struct ph_ch_cluster clusters_node[] = {
	{ "posthog_single_shard", PH_CH_SINGLE_SHARD },
	{ "posthog_migrations", PH_CH_ALL },
	{ "posthog_writable", PH_CH_ALL },
	{ "posthog_primary_replica", PH_CH_PRIMARY },
	{ NULL, PH_CH_ALL },
};
static const char *const collections_node[] = { "msk_cluster", "warpstream_ingestion", NULL };
static const char *const macros_node[] = {
	"hostClusterType", "online", "hostClusterRole", "data", NULL,
};
static const struct ph_ch_cluster clusters_none[] = { { NULL, PH_CH_ALL } };
static const char *const none[] = { NULL };

#define NODE_TAG "03bc2ff27ab6730aef6b418718014e523e206fd3"

static const struct ph_version matrix[] = {
	{
		.version = "1.43.0",
		.app_image = "posthog/posthog",
		.app_tag = "release-1.43.0",
		.plugin_image = "posthog/posthog",
		.plugin_tag = "release-1.43.0",
		.plugin_command = cmd_143,
		.ingestion_mode = "ingestion",
		.async_mode = "async",
		.routing = PH_ROUTING_KAFKA_PREFIX,
		.env_ingestion_topic = "KAFKA_CONSUMPTION_TOPIC",
		.env_ingestion_group = NULL,
		.env_events_json_topic = "CLICKHOUSE_JSON_EVENTS_KAFKA_TOPIC",
		.env_async_topic = NULL,
		.env_async_group = NULL,
		.kafka_url = true,
		.postgres_env = pg_143,
		.redis_env = redis_143,
		.secret_key_env = secret_key_env,
		.secret_key_required = true,
		.encryption_env = none,
		.object_storage = &objstore_143,
		.clickhouse_min = "21.6.0",
		.clickhouse_below = "22.9.0",
		.clickhouse_tag = "22.3.13.80",
		.kafka_known_good = "2.8.1",
		.clickhouse_clusters = clusters_none,
		.named_collections = none,
		.macros = none,
		.migrate_command = migrate_143,
	},
	{
		.version = NODE_TAG,
		.app_image = "posthog/posthog",
		.app_tag = NODE_TAG,
		.plugin_image = "posthog/posthog-node",
		.plugin_tag = NODE_TAG,
		.plugin_command = cmd_node,
		.ingestion_mode = "ingestion-v2",
		.async_mode = "cdp-legacy-on-event",
		.routing = PH_ROUTING_ENV,
		.env_ingestion_topic = "INGESTION_CONSUMER_CONSUME_TOPIC",
		.env_ingestion_group = "INGESTION_CONSUMER_GROUP_ID",
		.env_events_json_topic = "CLICKHOUSE_JSON_EVENTS_KAFKA_TOPIC",
		.env_async_topic = "CDP_LEGACY_EVENT_CONSUMER_TOPIC",
		.env_async_group = "CDP_LEGACY_EVENT_CONSUMER_GROUP_ID",
		.postgres_env = pg_node,
		.redis_env = redis_node,
		.plugin_redis_env = plugin_redis_node,
		.plugin_env = plugin_env_node,
		.secret_key_env = secret_key_env,
		.secret_key_required = true,
		.encryption_env = encryption_node,
		.encryption_required = true,
		.object_storage = &objstore_node,
		.clickhouse_min = "24.8",
		.clickhouse_below = "25.13",
		.clickhouse_tag = "24.8.7.41",
		.kafka_known_good = "2.8.2",
		.clickhouse_clusters = clusters_node,
		.named_collections = collections_node,
		.macros = macros_node,
		.migrate_command = migrate_node,
	},
};

#define MATRIX_ROWS (sizeof(matrix) / sizeof(matrix[0]))

/* What an unsupported version (spec.unsupportedVersion) runs: the images
 * tagged spec.version (NULL tags), the 1.43 plugin-server command, Env
 * routing with the current variable names, bin/migrate. */
static const char *const migrate_plain[] = { "./bin/migrate", NULL };
static const struct ph_version fallback = {
	.version = "",
	.app_image = "posthog/posthog",
	.plugin_image = "posthog/posthog",
	.plugin_command = cmd_143,
	.ingestion_mode = "ingestion-v2",
	.async_mode = "cdp-legacy-on-event",
	.routing = PH_ROUTING_ENV,
	.env_ingestion_topic = "INGESTION_CONSUMER_CONSUME_TOPIC",
	.env_ingestion_group = "INGESTION_CONSUMER_GROUP_ID",
	.env_events_json_topic = "CLICKHOUSE_JSON_EVENTS_KAFKA_TOPIC",
	.env_async_topic = "CDP_LEGACY_EVENT_CONSUMER_TOPIC",
	.env_async_group = "CDP_LEGACY_EVENT_CONSUMER_GROUP_ID",
	.postgres_env = pg_143,
	.redis_env = redis_143,
	.plugin_redis_env = plugin_redis_node,
	.plugin_env = plugin_env_node,
	.secret_key_env = secret_key_env,
	.encryption_env = encryption_node,
	.object_storage = &objstore_node,
	.clickhouse_tag = "24.8",
	.clickhouse_clusters = clusters_node,
	.named_collections = collections_node,
	.macros = macros_node,
	.migrate_command = migrate_plain,
};

const struct ph_version *ph_version_or_fallback(const char *version)
{
	const struct ph_version *v = ph_version_find(version);

	return v ? v : &fallback;
}

const struct ph_version *ph_version_find(const char *version)
{
	size_t i;

	if (!version)
		return NULL;
	for (i = 0; i < MATRIX_ROWS; i++)
		if (!strcmp(matrix[i].version, version))
			return &matrix[i];
	return NULL;
}

const struct ph_version *ph_version_at(size_t i)
{
	return i < MATRIX_ROWS ? &matrix[i] : NULL;
}

int ph_version_list(char *out, size_t outsz)
{
	size_t i, used = 0;
	int n;

	if (outsz == 0)
		return -ENOSPC;
	out[0] = '\0';
	for (i = 0; i < MATRIX_ROWS; i++) {
		n = snprintf(out + used, outsz - used, "%s%s", i ? ", " : "",
			     matrix[i].version);
		if (n < 0 || (size_t)n >= outsz - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return 0;
}

/* The next dotted component of *s into *out; advances past a dot.
 * Returns 1 when a component was read, 0 at the end, -EINVAL on junk. */
static int next_part(const char **s, unsigned long *out)
{
	unsigned long v = 0;
	const char *p = *s;

	if (*p == '\0')
		return 0;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		if (v > 100000000UL)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		p++;
	}
	if (*p == '.') {
		p++;
		if (*p == '\0')
			return -EINVAL;
	} else if (*p != '\0') {
		return -EINVAL;
	}
	*s = p;
	*out = v;
	return 1;
}

int ph_version_cmp(const char *a, const char *b, int *cmp)
{
	int ra, rb;

	if (!a || !b || !*a || !*b)
		return -EINVAL;
	for (;;) {
		unsigned long va = 0, vb = 0;

		ra = next_part(&a, &va);
		rb = next_part(&b, &vb);
		if (ra < 0 || rb < 0)
			return -EINVAL;
		if (ra == 0 && rb == 0)
			break;
		if (va != vb) {
			*cmp = va < vb ? -1 : 1;
			return 0;
		}
	}
	*cmp = 0;
	return 0;
}

static cJSON *str_list(const char *const *l)
{
	cJSON *a = cJSON_CreateArray();

	if (!a)
		abort();
	for (; l && *l; l++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(*l)))
			abort();
	return a;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (!(v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k)))
		abort();
}

static cJSON *clusters_json(const struct ph_ch_cluster *l)
{
	static const char *const layouts[] = { "All", "SingleShard", "PrimaryReplica" };
	cJSON *a = cJSON_CreateArray();

	if (!a)
		abort();
	for (; l && l->name; l++) {
		cJSON *o = cJSON_CreateObject();

		if (!o)
			abort();
		add_str(o, "name", l->name);
		add_str(o, "layout", layouts[l->layout]);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

/* The object storage variables as {"enabled": NAME|null, ...}, or null
 * when the version reads none. */
static cJSON *objstore_json(const struct ph_object_storage_env *e)
{
	cJSON *o;

	o = e ? cJSON_CreateObject() : cJSON_CreateNull();
	if (!o)
		abort();
	if (!e)
		return o;
	add_str(o, "enabled", e->enabled);
	add_str(o, "endpoint", e->endpoint);
	add_str(o, "bucket", e->bucket);
	add_str(o, "region", e->region);
	add_str(o, "accessKeyId", e->access_key_id);
	add_str(o, "secretAccessKey", e->secret_access_key);
	return o;
}

static cJSON *row_json(const struct ph_version *v)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		abort();
	add_str(o, "version", v->version);
	add_str(o, "appImage", v->app_image);
	add_str(o, "appTag", v->app_tag);
	add_str(o, "pluginServerImage", v->plugin_image);
	add_str(o, "pluginServerTag", v->plugin_tag);
	cJSON_AddItemToObject(o, "pluginServerCommand", str_list(v->plugin_command));
	add_str(o, "ingestionMode", v->ingestion_mode);
	add_str(o, "asyncMode", v->async_mode);
	add_str(o, "topicRouting", v->routing == PH_ROUTING_KAFKA_PREFIX ? "KafkaPrefix" : "Env");
	add_str(o, "ingestionTopicEnv", v->env_ingestion_topic);
	add_str(o, "ingestionGroupEnv", v->env_ingestion_group);
	add_str(o, "eventsJsonTopicEnv", v->env_events_json_topic);
	add_str(o, "asyncTopicEnv", v->env_async_topic);
	add_str(o, "asyncGroupEnv", v->env_async_group);
	if (!cJSON_AddBoolToObject(o, "kafkaUrl", v->kafka_url))
		abort();
	cJSON_AddItemToObject(o, "postgresEnv", str_list(v->postgres_env));
	cJSON_AddItemToObject(o, "redisEnv", str_list(v->redis_env));
	cJSON_AddItemToObject(o, "pluginServerRedisEnv", str_list(v->plugin_redis_env));
	cJSON_AddItemToObject(o, "pluginServerEnv", str_list(v->plugin_env));
	cJSON_AddItemToObject(o, "secretKeyEnv", str_list(v->secret_key_env));
	if (!cJSON_AddBoolToObject(o, "secretKeyRequired", v->secret_key_required))
		abort();
	cJSON_AddItemToObject(o, "encryptionSaltKeysEnv", str_list(v->encryption_env));
	if (!cJSON_AddBoolToObject(o, "encryptionSaltKeysRequired", v->encryption_required))
		abort();
	cJSON_AddItemToObject(o, "objectStorageEnv", objstore_json(v->object_storage));
	if (!cJSON_AddBoolToObject(o, "objectStorageRequired", v->object_storage_required))
		abort();
	add_str(o, "clickhouseMin", v->clickhouse_min);
	add_str(o, "clickhouseBelow", v->clickhouse_below);
	add_str(o, "clickhouseTag", v->clickhouse_tag);
	add_str(o, "kafkaKnownGood", v->kafka_known_good);
	cJSON_AddItemToObject(o, "migrateCommand", str_list(v->migrate_command));
	cJSON_AddItemToObject(o, "clickhouseClusters", clusters_json(v->clickhouse_clusters));
	cJSON_AddItemToObject(o, "namedCollections", str_list(v->named_collections));
	cJSON_AddItemToObject(o, "macros", str_list(v->macros));
	return o;
}

cJSON *ph_version_matrix_json(void)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	if (!a)
		abort();
	for (i = 0; i < MATRIX_ROWS; i++)
		cJSON_AddItemToArray(a, row_json(&matrix[i]));
	return a;
}
