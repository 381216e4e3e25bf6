/*
 * Buckets: the team -> bucket assignment, the per-bucket names, and the
 * map document capture services read. docs/buckets.md describes the same
 * algorithm for implementers in other languages; change both together,
 * and bump PH_BUCKET_MAP_VERSION when the assignment of any team changes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

#define JUMP_MULTIPLIER 2862933555777941757ULL

uint64_t ph_team_hash(int64_t team_id)
{
	/* SplitMix64 (Steele, Lea, Flood): sequential team ids are close
	 * together, and jump hashing wants keys whose bits are all mixed. */
	uint64_t z = (uint64_t)team_id + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

unsigned ph_jump_hash(uint64_t key, unsigned buckets)
{
	/* Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash
	 * Algorithm" (2014), figure 1, in IEEE doubles as published so that
	 * other languages reproduce it exactly. */
	int64_t b = -1, j = 0;

	while (j < (int64_t)buckets) {
		b = j;
		key = key * JUMP_MULTIPLIER + 1;
		j = (int64_t)((double)(b + 1) *
			      ((double)(1LL << 31) / (double)((key >> 33) + 1)));
	}
	return (unsigned)b;
}

int ph_bucket_for_team(int64_t team_id, unsigned buckets, const cJSON *pins,
		       unsigned *bucket_out)
{
	const cJSON *p;

	if (buckets == 0 || buckets > PH_MAX_BUCKETS)
		return -EINVAL;
	cJSON_ArrayForEach(p, pins) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "teamId");
		int64_t b = util_json_get_int(p, "bucket", -1);

		if (cJSON_IsNumber(t) && (int64_t)t->valuedouble == team_id &&
		    b >= 0 && b < (int64_t)buckets) {
			*bucket_out = (unsigned)b;
			return 0;
		}
	}
	*bucket_out = ph_jump_hash(ph_team_hash(team_id), buckets);
	return 0;
}

static int put(char *out, size_t outsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int put(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= outsz ? -EINVAL : 0;
}

int ph_bucket_names(const char *name, const cJSON *spec, unsigned bucket,
		    struct ph_bucket_names *out)
{
	const char *pre = util_json_get_str(spec, "kafka.topics.prefix", "");
	bool legacy = !strcmp(util_json_get_str(spec, "pluginServer.topicRouting",
					  "Env"), "KafkaPrefix");
	struct ph_bucket_names n;
	int rc = 0;

	if (bucket >= (unsigned)util_json_get_int(spec, "buckets.count", 1))
		return -EINVAL;
	memset(&n, 0, sizeof(n));
	n.bucket = bucket;
	if (legacy) {
		rc |= put(n.kafka_prefix, sizeof(n.kafka_prefix), "%sb%u_", pre,
			  bucket);
		rc |= put(n.ingestion_topic, sizeof(n.ingestion_topic),
			  "%sevents_plugin_ingestion", n.kafka_prefix);
		rc |= put(n.events_json_topic, sizeof(n.events_json_topic),
			  "%sclickhouse_events_json", n.kafka_prefix);
		rc |= put(n.ingestion_group, sizeof(n.ingestion_group),
			  "%sclickhouse-ingestion", n.kafka_prefix);
		rc |= put(n.async_group, sizeof(n.async_group),
			  "%sclickhouse-plugin-server-async", n.kafka_prefix);
	} else {
		rc |= put(n.ingestion_topic, sizeof(n.ingestion_topic),
			  "%sevents_plugin_ingestion_%u", pre, bucket);
		rc |= put(n.events_json_topic, sizeof(n.events_json_topic),
			  "%sclickhouse_events_json_%u", pre, bucket);
		rc |= put(n.ingestion_group, sizeof(n.ingestion_group),
			  "%sevents-ingestion-consumer-%u", pre, bucket);
		rc |= put(n.async_group, sizeof(n.async_group),
			  "%sclickhouse-plugin-server-async-onevent-%u", pre,
			  bucket);
	}
	rc |= put(n.clickhouse_group, sizeof(n.clickhouse_group),
		  "%skafka_events_json_%u", pre, bucket);
	rc |= put(n.kafka_table, sizeof(n.kafka_table), "kafka_events_json_%u",
		  bucket);
	rc |= put(n.mv_table, sizeof(n.mv_table), "events_json_mv_%u", bucket);
	rc |= put(n.ingestion_deployment, sizeof(n.ingestion_deployment),
		  "%s-plugins-ingestion-%u", name, bucket);
	rc |= put(n.async_deployment, sizeof(n.async_deployment),
		  "%s-plugins-async-%u", name, bucket);
	rc |= put(n.topics_job_prefix, sizeof(n.topics_job_prefix),
		  "%s-topics-%u-", name, bucket);
	if (rc)
		return -EINVAL;
	*out = n;
	return 0;
}

static cJSON *map_parameters(void)
{
	cJSON *p = PH_NN(cJSON_CreateObject());

	/* 64-bit constants as strings: JSON numbers lose them in most
	 * parsers. */
	ph_add_str(p, "teamHash", "splitmix64");
	ph_add_str(p, "splitmix64Gamma", "0x9e3779b97f4a7c15");
	ph_add_str(p, "splitmix64Mul1", "0xbf58476d1ce4e5b9");
	ph_add_str(p, "splitmix64Mul2", "0x94d049bb133111eb");
	ph_add_str(p, "jumpMultiplier", "2862933555777941757");
	return p;
}

static void map_buckets(const struct ph_ctx *c, cJSON *map)
{
	unsigned count = (unsigned)util_json_get_int(c->spec, "buckets.count", 1);
	cJSON *arr = ph_add_arr(map, "topics");
	unsigned b;

	for (b = 0; b < count; b++) {
		struct ph_bucket_names n;
		cJSON *e = PH_NN(cJSON_CreateObject());

		if (ph_bucket_names(c->name, c->spec, b, &n) != 0)
			abort(); /* validated: names fit */
		ph_add_int(e, "bucket", b);
		ph_add_str(e, "ingestionTopic", n.ingestion_topic);
		ph_add_str(e, "ingestionGroup", n.ingestion_group);
		ph_add_str(e, "eventsJsonTopic", n.events_json_topic);
		ph_push(arr, e);
	}
}

static cJSON *map_document(const struct ph_ctx *c)
{
	cJSON *map = PH_NN(cJSON_CreateObject());
	cJSON *pins;
	const cJSON *p;
	char boot[2048];

	ph_add_int(map, "version", PH_BUCKET_MAP_VERSION);
	ph_add_str(map, "algorithm", util_json_get_str(c->spec, "buckets.algorithm",
						"JumpHash"));
	cJSON_AddItemToObject(map, "parameters", map_parameters());
	ph_add_int(map, "buckets", util_json_get_int(c->spec, "buckets.count", 1));
	pins = ph_add_obj(map, "pins");
	cJSON_ArrayForEach(p, util_json_get(c->spec, "buckets.pins")) {
		char key[32];

		snprintf(key, sizeof(key), "%" PRId64,
			 util_json_get_int(p, "teamId", 0));
		ph_add_int(pins, key, util_json_get_int(p, "bucket", 0));
	}
	if (ph_kafka_bootstrap(c->name, c->ns, c->spec, boot, sizeof(boot)) == 0)
		ph_add_str(map, "bootstrapServers", boot);
	ph_add_str(map, "topicRouting", util_json_get_str(c->spec,
			"pluginServer.topicRouting", "Env"));
	map_buckets(c, map);
	return map;
}

int ph_bucket_map(const cJSON *posthog, cJSON **map_out)
{
	struct ph_ctx c = { .posthog = posthog };

	c.name = util_json_get_str(posthog, "metadata.name", NULL);
	c.ns = util_json_get_str(posthog, "metadata.namespace", NULL);
	if (!c.name || ph_normalize(posthog, &c.spec) != 0)
		return -EINVAL;
	*map_out = map_document(&c);
	cJSON_Delete(c.spec);
	return 0;
}

void ph_build_bucket_map(struct ph_ctx *c)
{
	char name[96];
	cJSON *cm, *map, *data;
	char *text;

	ph_name(c, "buckets", name, sizeof(name));
	cm = ph_object(c, "v1", "ConfigMap", name, "posthog", "buckets", -1);
	map = map_document(c);
	text = PH_NN(cJSON_Print(map));
	data = ph_add_obj(cm, "data");
	ph_add_str(data, PH_BUCKET_MAP_KEY, text);
	free(text);
	cJSON_Delete(map);
	ph_emit(c, "buckets", -1, cm);
}
