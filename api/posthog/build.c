/*
 * ph_build and the lookups the reconciler shares with the builders
 * (ClickHouse endpoints and credentials, the Kafka bootstrap list).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

const char *const ph_stages[PH_STAGE_COUNT] = {
	"zookeeper", "kafka", "clickhouse", "topics", "buckets", "migrate",
	"plugin-server", "router",
};

int ph_build(const cJSON *posthog, cJSON **entries)
{
	return ph_build_with(posthog, NULL, entries);
}

int ph_ctx_open(struct ph_ctx *c, const cJSON *posthog, const struct ph_build_options *opts)
{
	cJSON *problems;

	memset(c, 0, sizeof(*c));
	c->posthog = posthog;
	c->router_image = opts ? opts->router_image : NULL;
	c->keep_shards = opts ? opts->clickhouse_keep_shards : 0;
	if (ph_validate(posthog, &problems) != 0) {
		cJSON_Delete(problems);
		return -EINVAL;
	}
	c->name = util_json_get_str(posthog, "metadata.name", NULL);
	c->ns = util_json_get_str(posthog, "metadata.namespace", NULL);
	c->uid = util_json_get_str(posthog, "metadata.uid", NULL);
	if (ph_normalize(posthog, &c->spec) != 0)
		return -EINVAL;
	return 0;
}

int ph_build_with(const cJSON *posthog, const struct ph_build_options *opts,
		  cJSON **entries)
{
	struct ph_ctx c;

	if (ph_ctx_open(&c, posthog, opts) != 0)
		return -EINVAL;
	c.entries = PH_NN(cJSON_CreateArray());
	/* ZooKeeper only serves ClickHouse's replication. */
	if (!ph_is_external(c.spec, "zookeeper") &&
	    !ph_is_external(c.spec, "clickhouse"))
		ph_build_zookeeper(&c);
	if (!ph_is_external(c.spec, "kafka"))
		ph_build_kafka(&c);
	if (!ph_is_external(c.spec, "clickhouse"))
		ph_build_clickhouse(&c);
	ph_build_topics(&c);
	ph_build_bucket_map(&c);
	ph_build_migrate(&c);
	ph_build_plugin_server(&c);
	ph_build_router(&c);
	cJSON_Delete(c.spec);
	if (c.err) {
		cJSON_Delete(c.entries);
		return c.err;
	}
	*entries = c.entries;
	return 0;
}

int ph_clickhouse_endpoint(const char *name, const char *namespace,
			   const cJSON *spec, unsigned shard, unsigned replica,
			   struct ph_clickhouse_endpoint *out)
{
	const cJSON *ext = util_json_get(spec, "clickhouse.external");
	struct ph_clickhouse_endpoint e;
	int n;

	memset(&e, 0, sizeof(e));
	if (cJSON_IsObject(ext)) {
		if (shard != 0 || replica != 0)
			return -EINVAL;
		n = snprintf(e.host, sizeof(e.host), "%s",
			     util_json_get_str(ext, "host", ""));
		e.port = (unsigned)util_json_get_int(ext, "port", 8123);
		e.secure = util_json_get_bool(ext, "secure", false);
		e.verify = util_json_get_bool(ext, "verify", true);
	} else {
		if (shard >= (unsigned)util_json_get_int(spec, "clickhouse.shards", 1) ||
		    replica >= (unsigned)util_json_get_int(spec,
					"clickhouse.replicasPerShard", 1))
			return -EINVAL;
		n = snprintf(e.service, sizeof(e.service), "%s-clickhouse-%u-%u",
			     name, shard, replica);
		if (n < 0 || (size_t)n >= sizeof(e.service))
			return -EINVAL;
		memcpy(e.pod, e.service, sizeof(e.pod));
		if (namespace)
			n = snprintf(e.host, sizeof(e.host), "%s.%s.svc",
				     e.service, namespace);
		else
			n = snprintf(e.host, sizeof(e.host), "%s", e.service);
		e.port = PH_CLICKHOUSE_HTTP_PORT;
		e.verify = true;
	}
	if (n < 0 || (size_t)n >= sizeof(e.host))
		return -EINVAL;
	*out = e;
	return 0;
}

int ph_clickhouse_credentials(const cJSON *spec, const char **user,
			      const char **secret_name,
			      const char **password_key)
{
	const char *u = util_json_get_str(spec, "clickhouse.user", NULL);
	const char *s = util_json_get_str(spec, "clickhouse.passwordSecret.name", NULL);
	const char *k = util_json_get_str(spec, "clickhouse.passwordSecret.key",
				   "password");

	if (!u || !s)
		return -EINVAL;
	*user = u;
	*secret_name = s;
	*password_key = k;
	return 0;
}

int ph_kafka_bootstrap(const char *name, const char *namespace,
		       const cJSON *spec, char *out, size_t outsz)
{
	const cJSON *brokers = util_json_get(spec, "kafka.external.brokers");
	const cJSON *b;
	size_t used = 0;
	int n;

	if (!cJSON_IsArray(brokers)) {
		if (namespace)
			n = snprintf(out, outsz, "%s-kafka.%s.svc:%d", name,
				     namespace, PH_KAFKA_PORT);
		else
			n = snprintf(out, outsz, "%s-kafka:%d", name,
				     PH_KAFKA_PORT);
		return n < 0 || (size_t)n >= outsz ? -ENOSPC : 0;
	}
	if (outsz)
		out[0] = '\0';
	cJSON_ArrayForEach(b, brokers) {
		if (!cJSON_IsString(b))
			continue;
		n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "",
			     b->valuestring);
		if (n < 0 || (size_t)n >= outsz - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return 0;
}

void ph_kafka_cluster_id(const char *ns, const char *name, char out[23])
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char key[320];
	unsigned char raw[16];
	uint64_t h1, h2;
	int i, bit = 0;

	snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name);
	h1 = util_fnv1a64(key, strlen(key));
	h2 = util_fnv1a64_add(UTIL_FNV1A64_BASIS ^ h1, key, strlen(key));
	for (i = 0; i < 8; i++) {
		raw[i] = (unsigned char)(h1 >> (8 * i));
		raw[8 + i] = (unsigned char)(h2 >> (8 * i));
	}
	/* 128 bits as 22 base64url characters, like Kafka's Uuid. */
	for (i = 0; i < 22; i++, bit += 6) {
		unsigned v = 0;
		int k;

		for (k = 0; k < 6; k++) {
			int pos = bit + k;
			unsigned bitv = pos < 128
				? (raw[pos / 8] >> (7 - pos % 8)) & 1u : 0u;
			v = (v << 1) | bitv;
		}
		out[i] = b64[v];
	}
	out[22] = '\0';
}

cJSON *ph_zookeeper_servers(const struct ph_ctx *c)
{
	cJSON *arr = PH_NN(cJSON_CreateArray());
	const cJSON *ext = util_json_get(c->spec, "zookeeper.external.servers");
	int64_t n = util_json_get_int(c->spec, "zookeeper.replicas", 3), i;

	if (cJSON_IsArray(ext)) {
		cJSON_Delete(arr);
		return PH_NN(cJSON_Duplicate(ext, true));
	}
	for (i = 0; i < n; i++) {
		char *svc = util_xasprintf("%s-zookeeper-headless", c->name);
		char *host = ph_svc_host(c, svc);
		char *s = util_xasprintf("%s-zookeeper-%lld.%s:%d", c->name,
				  (long long)i, host, PH_ZOOKEEPER_CLIENT_PORT);
		ph_push_str(arr, s);
		free(s);
		free(host);
		free(svc);
	}
	return arr;
}
