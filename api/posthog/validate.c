/*
 * ph_validate: the schema walk (spec.c) plus the rules that span fields.
 * The CRD states the cross-field rules in CEL too; they are repeated here
 * because render runs without an API server and some API servers (our
 * local one among them) do not evaluate CEL. Keep the two in step: each
 * rule below names the CEL rule it mirrors in hack/gen-api.
 */
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

static void check_name(const cJSON *posthog, cJSON *problems)
{
	const char *name = util_json_get_str(posthog, "metadata.name", NULL);
	regex_t re;

	if (!name) {
		ph_problem(problems, "metadata.name", "is required");
		return;
	}
	if (strlen(name) > PH_MAX_NAME_LEN) {
		ph_problem(problems, "metadata.name",
			   "must be at most %d characters (got %zu): child "
			   "names add up to 16 characters and StatefulSet "
			   "names must stay under 52",
			   PH_MAX_NAME_LEN, strlen(name));
		return;
	}
	/* Children include Services, whose names are DNS-1035 labels. */
	if (regcomp(&re, "^[a-z]([-a-z0-9]*[a-z0-9])?$",
		    REG_EXTENDED | REG_NOSUB) != 0)
		abort();
	if (regexec(&re, name, 0, NULL, 0) != 0)
		ph_problem(problems, "metadata.name",
			   "must be a DNS-1035 label: lowercase letters, digits "
			   "and '-', starting with a letter (got \"%s\")", name);
	regfree(&re);
}

/* CEL: "external cannot be combined with ..." on each component. */
static void check_external(const cJSON *raw, const char *component,
			   const char *const *managed, cJSON *problems)
{
	const cJSON *comp = cJSON_GetObjectItemCaseSensitive(raw, component);
	size_t i;

	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(comp, "external")))
		return;
	for (i = 0; managed[i]; i++) {
		char *f;

		if (!cJSON_GetObjectItemCaseSensitive(comp, managed[i]))
			continue;
		f = util_xasprintf("spec.%s.%s", component, managed[i]);
		ph_problem(problems, f,
			   "cannot be set together with spec.%s.external "
			   "(it configures the managed %s)", component,
			   component);
		free(f);
	}
}

static void check_zookeeper(const cJSON *spec, cJSON *problems)
{
	int64_t n;

	if (ph_is_external(spec, "zookeeper"))
		return;
	n = util_json_get_int(spec, "zookeeper.replicas", 3);
	if (n % 2 == 0)
		ph_problem(problems, "spec.zookeeper.replicas",
			   "must be odd (got %lld): an ensemble of 2n members "
			   "survives no more failures than one of 2n-1",
			   (long long)n);
}

static void check_kafka(const cJSON *spec, cJSON *problems)
{
	int64_t rf = util_json_get_int(spec, "kafka.topics.replicationFactor", 1);
	int64_t isr = util_json_get_int(spec, "kafka.topics.minInsyncReplicas", 1);
	int64_t brokers = util_json_get_int(spec, "kafka.brokers", 3);

	if (!ph_is_external(spec, "kafka") && rf > brokers)
		ph_problem(problems, "spec.kafka.topics.replicationFactor",
			   "must not exceed spec.kafka.brokers (got %lld with "
			   "%lld brokers)", (long long)rf, (long long)brokers);
	if (isr > rf)
		ph_problem(problems, "spec.kafka.topics.minInsyncReplicas",
			   "must not exceed replicationFactor (got %lld with "
			   "replicationFactor %lld)", (long long)isr,
			   (long long)rf);
}

/* CEL: pins and overrides reference buckets below count. */
static void check_bucket_refs(const cJSON *spec, const char *list,
			      cJSON *problems)
{
	int64_t count = util_json_get_int(spec, "buckets.count", 1);
	const cJSON *arr = util_json_get(util_json_get(spec, "buckets"), list);
	const cJSON *e;
	int i = 0;

	cJSON_ArrayForEach(e, arr) {
		int64_t b = util_json_get_int(e, "bucket", 0);

		if (cJSON_IsObject(e) && b >= count) {
			char *f = util_xasprintf("spec.buckets.%s[%d].bucket", list, i);
			ph_problem(problems, f,
				   "must be below spec.buckets.count (got %lld "
				   "with %lld buckets)", (long long)b,
				   (long long)count);
			free(f);
		}
		i++;
	}
}

static void check_autoscaling(const cJSON *as, const char *field,
			      cJSON *problems)
{
	int64_t min = util_json_get_int(as, "minReplicas", 1);
	int64_t max = util_json_get_int(as, "maxReplicas", 4);

	if (min > max) {
		char *f = util_xasprintf("%s.minReplicas", field);
		ph_problem(problems, f,
			   "must not exceed maxReplicas (got %lld > %lld)",
			   (long long)min, (long long)max);
		free(f);
	}
}

/* The role's autoscaling, and each bucket override merged over it. */
static void check_roles(const cJSON *spec, cJSON *problems)
{
	static const char *const roles[] = { "ingestion", "async" };
	size_t r;

	for (r = 0; r < 2; r++) {
		char *f = util_xasprintf("spec.pluginServer.%s.autoscaling", roles[r]);
		const cJSON *base = util_json_get(util_json_get(spec, "pluginServer"), roles[r]);
		const cJSON *o;
		int i = 0;

		check_autoscaling(util_json_get(base, "autoscaling"), f, problems);
		free(f);
		cJSON_ArrayForEach(o, util_json_get(spec, "buckets.overrides")) {
			const cJSON *ov = util_json_get(util_json_get(o, roles[r]), "autoscaling");
			const cJSON *kv;
			cJSON *m;

			i++;
			if (!cJSON_IsObject(ov))
				continue;
			m = cJSON_Duplicate(util_json_get(base, "autoscaling"), true);
			if (!m)
				m = PH_NN(cJSON_CreateObject());
			cJSON_ArrayForEach(kv, ov) {
				cJSON_DeleteItemFromObjectCaseSensitive(m, kv->string);
				ph_add_copy(m, kv->string, kv);
			}
			f = util_xasprintf("spec.buckets.overrides[%d].%s.autoscaling",
				    i - 1, roles[r]);
			check_autoscaling(m, f, problems);
			free(f);
			cJSON_Delete(m);
		}
	}
}

/* Profile setting names become XML element names in users.d. */
static void check_profile(const cJSON *spec, cJSON *problems)
{
	const cJSON *e;
	regex_t re;

	if (regcomp(&re, "^[A-Za-z_][A-Za-z0-9_]*$", REG_EXTENDED | REG_NOSUB))
		abort();
	cJSON_ArrayForEach(e, util_json_get(spec, "clickhouse.profile")) {
		if (regexec(&re, e->string, 0, NULL, 0) != 0) {
			char *f = util_xasprintf("spec.clickhouse.profile.%s", e->string);
			ph_problem(problems, f, "is not a ClickHouse setting name "
				   "(letters, digits and _)");
			free(f);
		}
	}
	regfree(&re);
}

/* The managed ClickHouse's image tag against the row's accepted range
 * (PostHog refuses to boot outside it: service_requirements.py). A tag
 * that is not a dotted version cannot be checked and is refused. */
static void check_clickhouse_version(const cJSON *spec, const struct ph_version *row,
				     cJSON *problems)
{
	const char *tag = util_json_get_str(spec, "clickhouse.image.tag", NULL);
	int lo, hi;

	if (ph_is_external(spec, "clickhouse") || !tag || !row->clickhouse_min)
		return;
	if (ph_version_cmp(tag, row->clickhouse_min, &lo) != 0 ||
	    ph_version_cmp(tag, row->clickhouse_below, &hi) != 0) {
		ph_problem(problems, "spec.clickhouse.image.tag",
			   "must be a dotted ClickHouse version for PostHog %s "
			   "(>= %s, < %s; got \"%s\"), or set "
			   "spec.unsupportedVersion", row->version,
			   row->clickhouse_min, row->clickhouse_below, tag);
		return;
	}
	if (lo < 0 || hi >= 0)
		ph_problem(problems, "spec.clickhouse.image.tag",
			   "ClickHouse %s is outside what PostHog %s accepts "
			   "(>= %s, < %s; docs/versions.md), or set "
			   "spec.unsupportedVersion", tag, row->version,
			   row->clickhouse_min, row->clickhouse_below);
}

/* What the row requires besides PostgreSQL and Redis must be set. A field
 * the row reads nothing for (spec.encryptionSaltKeys or
 * spec.objectStorage.region on 1.43.0) is not refused: it is left out of
 * that version's pods (docs/versions.md), so that one spec is valid for
 * every row and an upgrade from one row to the next changes only
 * spec.version. */
static void check_row_settings(const cJSON *spec, const struct ph_version *row,
			       cJSON *problems)
{
	if (row->secret_key_required && !util_json_get(spec, "secretKey"))
		ph_problem(problems, "spec.secretKey",
			   "is required by PostHog %s: its Django exits with the "
			   "default SECRET_KEY (docs/versions.md); name a Secret "
			   "key holding a long random string", row->version);
	if (row->encryption_required && !util_json_get(spec, "encryptionSaltKeys"))
		ph_problem(problems, "spec.encryptionSaltKeys",
			   "is required by PostHog %s: its Node services have no "
			   "ENCRYPTION_SALT_KEYS outside development "
			   "(docs/versions.md); name a Secret key holding keys of "
			   "32 characters", row->version);
	if (row->object_storage_required && !util_json_get(spec, "objectStorage"))
		ph_problem(problems, "spec.objectStorage",
			   "is required by PostHog %s (docs/versions.md)", row->version);
}

/* spec.version must be a row of the version matrix, with what the row
 * fixes left alone, unless spec.unsupportedVersion says the user knows
 * better. */
static void check_version(const cJSON *spec, cJSON *problems)
{
	const char *version = util_json_get_str(spec, "version", NULL);
	const struct ph_version *row = ph_version_find(version);
	const char *routing = util_json_get_str(spec, "pluginServer.topicRouting", "");
	char list[512];

	if (util_json_get_bool(spec, "unsupportedVersion", false) || !version)
		return;
	if (!row) {
		if (ph_version_list(list, sizeof(list)) != 0)
			abort(); /* the matrix is a constant that fits */
		ph_problem(problems, "spec.version",
			   "\"%s\" is not a supported PostHog version "
			   "(supported: %s; see docs/versions.md); set "
			   "spec.unsupportedVersion: true to run it anyway",
			   version, list);
		return;
	}
	if (strcmp(routing, row->routing == PH_ROUTING_KAFKA_PREFIX ? "KafkaPrefix" : "Env"))
		ph_problem(problems, "spec.pluginServer.topicRouting",
			   "PostHog %s routes topics with %s only (got %s); "
			   "set spec.unsupportedVersion to override", version,
			   row->routing == PH_ROUTING_KAFKA_PREFIX ? "KafkaPrefix" : "Env",
			   routing);
	check_clickhouse_version(spec, row, problems);
	check_row_settings(spec, row, problems);
}

int ph_validate(const cJSON *posthog, cJSON **problems)
{
	static const char *const zk[] = { "replicas", "storage", "resources", NULL };
	static const char *const kafka[] = { "brokers", "controllers", "storage", "resources", NULL };
	static const char *const ch[] = { "shards", "replicasPerShard", "storage",
					  "resources", NULL };
	const cJSON *raw = cJSON_GetObjectItemCaseSensitive(posthog, "spec");
	cJSON *out = PH_NN(cJSON_CreateArray());
	cJSON *schema, *spec;

	check_name(posthog, out);
	if (!cJSON_IsObject(raw)) {
		ph_problem(out, "spec", "is required and must be an object");
		goto done;
	}
	schema = ph_schema_parse();
	ph_schema_check(schema, raw, "spec", out);
	cJSON_Delete(schema);
	check_external(raw, "zookeeper", zk, out);
	check_external(raw, "kafka", kafka, out);
	check_external(raw, "clickhouse", ch, out);
	if (ph_normalize(posthog, &spec) != 0)
		goto done;
	check_zookeeper(spec, out);
	check_kafka(spec, out);
	check_bucket_refs(spec, "pins", out);
	check_bucket_refs(spec, "overrides", out);
	check_roles(spec, out);
	check_profile(spec, out);
	check_version(spec, out);
	cJSON_Delete(spec);
done:
	if (cJSON_GetArraySize(out) == 0) {
		cJSON_Delete(out);
		*problems = NULL;
		return 0;
	}
	*problems = out;
	return -EINVAL;
}
