/*
 * Internal declarations of the posthog API module: the compiled CRD schema,
 * JSON access helpers and the builders' shared pieces. Not for use outside
 * api/posthog (tests include it to reach the pieces directly).
 */
#ifndef PHO_POSTHOG_BUILD_PRIVATE_H
#define PHO_POSTHOG_BUILD_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posthog.h"
#include "pkg/buf/buf.h"
#include "pkg/util/util.h"

/* The CRD's spec schema as JSON (crd_schema.c, generated). */
extern const char ph_crd_spec_schema[];

/* Parses ph_crd_spec_schema; aborts if the generated text is broken (a
 * build defect, not an input error). Caller frees. */
cJSON *ph_schema_parse(void);

/* Walks schema over value, appending {"field","message"} objects to
 * problems for every violation. path names value ("spec"). */
void ph_schema_check(const cJSON *schema, const cJSON *value,
		     const char *path, cJSON *problems);

/* Applies the schema's defaults (and x-ph-default where no sibling
 * "external" is set) to value in place. */
void ph_schema_default(const cJSON *schema, cJSON *value);

/* Appends {"field": field, "message": printf(fmt, ...)} to problems. */
void ph_problem(cJSON *problems, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Aborts on allocation failure: small internal allocations only. */
#define PH_NN(p) util_nn(p)

/* Field access by dotted path ("kafka.topics.partitions"): util_json_get,
 * util_json_get_str, util_json_get_int, util_json_get_bool (pkg/util). */

/* Adds helpers that abort on allocation failure. */
cJSON *ph_add_obj(cJSON *parent, const char *key);
cJSON *ph_add_arr(cJSON *parent, const char *key);
void ph_add_str(cJSON *parent, const char *key, const char *value);
void ph_add_int(cJSON *parent, const char *key, int64_t value);
void ph_add_bool(cJSON *parent, const char *key, bool value);
/* Adds a deep copy of value (if non-NULL) under key. */
void ph_add_copy(cJSON *parent, const char *key, const cJSON *value);
void ph_push(cJSON *array, cJSON *item);
void ph_push_str(cJSON *array, const char *s);

/* Content hashes in names are 64-bit FNV-1a: util_fnv1a64 (pkg/util). */

/*
 * Everything one ph_build call works from. spec is normalized and owned.
 */
struct ph_ctx {
	const cJSON *posthog;
	cJSON *spec;
	const char *name;
	const char *ns;   /* NULL when the PostHog has no namespace */
	const char *uid;  /* NULL when absent: no ownerReferences */
	const char *router_image; /* the operator's image; NULL = default */
	int keep_shards; /* ph_build_options.clickhouse_keep_shards */
	cJSON *entries;
	int err; /* the first failure of a builder (ph_take_text), or 0 */
};

/* Sets c up for posthog: validates it (-EINVAL when invalid), fills
 * name, ns and uid from its metadata and c->spec with its normalized spec
 * (the caller frees c->spec), and takes the options. 0 or -EINVAL. */
int ph_ctx_open(struct ph_ctx *c, const cJSON *posthog, const struct ph_build_options *opts);

/* The text of b, which the caller built with buf_put*: b's storage, or
 * when a put failed (the text would pass b's cap) "" with the failure
 * kept in c->err, which ph_build_with returns. Caller frees. */
char *ph_take_text(struct ph_ctx *c, struct buf *b);

/* ph_child_name(c->name, suffix) into out for the builders: a failure (a
 * name longer than outsz) is kept in c->err and leaves out "". */
void ph_name(struct ph_ctx *c, const char *suffix, char *out, size_t outsz);

/* Appends {"stage", "bucket" (when bucket >= 0), "object": obj} (takes
 * obj). */
void ph_emit(struct ph_ctx *c, const char *stage, int bucket, cJSON *obj);

/*
 * A new object {apiVersion, kind, metadata{name, namespace, labels,
 * ownerReferences}}. component is the app.kubernetes.io/name and
 * app.kubernetes.io/component value (e.g. "kafka", or "plugin-server" with
 * component "ingestion"); bucket < 0 means no posthog.com/bucket label.
 */
cJSON *ph_object(const struct ph_ctx *c, const char *api_version,
		 const char *kind, const char *name, const char *app,
		 const char *component, int bucket);
/* The selector labels of a component's pods (name, instance, component,
 * plus bucket when >= 0). New object. */
cJSON *ph_selector(const struct ph_ctx *c, const char *app,
		   const char *component, int bucket);
/* Full label set (selector + part-of + managed-by). New object. */
cJSON *ph_labels(const struct ph_ctx *c, const char *app,
		 const char *component, int bucket);

/*
 * The pod spec fields shared by every component: scheduling and security
 * from spec.pod overridden by component_pod (may be NULL), default
 * anti-affinity and security context, image pull secrets. Adds them to
 * pod_spec. default_uid is the image's non-root user (0 = leave unset).
 */
void ph_pod_common(const struct ph_ctx *c, cJSON *pod_spec,
		   const cJSON *component_pod, const cJSON *selector,
		   int64_t default_uid);
/* Pod annotations from spec.pod / component pod (new object or NULL). */
cJSON *ph_pod_annotations(const struct ph_ctx *c, const cJSON *component_pod);

/* "repository:tag" of spec.<component>.image (normalized). */
char *ph_image(const cJSON *spec, const char *component);
const char *ph_pull_policy(const cJSON *spec, const char *component);

/* A container resources object from a spec resources value (NULL = {}). */
cJSON *ph_resources(const cJSON *resources);

/* A PodDisruptionBudget with maxUnavailable 1 over selector (takes it). */
cJSON *ph_pdb(const struct ph_ctx *c, const char *name, const char *app,
	      const char *component, int bucket, cJSON *selector);

/* persistentVolumeClaimRetentionPolicy for StatefulSets from
 * deletionPolicy. New object. */
cJSON *ph_pvc_retention(const struct ph_ctx *c);

/* Appends a volumeMount {name, mountPath} to mounts; returns it (borrowed)
 * for fields such as subPath. */
cJSON *ph_add_mount(cJSON *mounts, const char *name, const char *path);

/*
 * The single-component StatefulSet of ZooKeeper and Kafka: `replicas` pods
 * of component (app.kubernetes.io/name and component both), governed by the
 * headless Service <name>-headless, started in parallel, rolled by
 * RollingUpdate, annotated with cfg_hash (so a configuration change rolls
 * them), mounting the ConfigMap <name> as the volume "config", with one
 * "data" claim and the PVC retention policy. container is taken over;
 * grace_seconds > 0 sets terminationGracePeriodSeconds.
 */
cJSON *ph_component_statefulset(const struct ph_ctx *c, const char *name,
				const char *component, int replicas,
				const char *cfg_hash, cJSON *container,
				int64_t uid, int grace_seconds);
/* One volumeClaimTemplate named name from spec.<component>.storage. */
cJSON *ph_claim_template(const struct ph_ctx *c, const char *component,
			 const char *name, const char *app);

/* env helpers: {"name", "value"} and {"name", valueFrom.secretKeyRef}. */
void ph_env(cJSON *env, const char *name, const char *value);
void ph_env_secret(cJSON *env, const char *name, const char *secret,
		   const char *key);
void ph_env_field(cJSON *env, const char *name, const char *field_path);
/* Appends the entries of extra (an EnvVar list) to env, replacing entries
 * of the same name. */
void ph_env_merge(cJSON *env, const cJSON *extra);

/* KAFKA_HOSTS (+ KAFKA_URL where the row reads it) and SASL/TLS
 * variables; CLICKHOUSE_HOST and the rest of PostHog's ClickHouse
 * variables (build_pluginserver.c). */
void ph_kafka_env(const struct ph_ctx *c, cJSON *env);
void ph_clickhouse_env(const struct ph_ctx *c, cJSON *env);

/* DATABASE_URL, REDIS_URL, ... (the version matrix row's names) from
 * spec.postgres / spec.redis Secrets; SECRET_KEY and ENCRYPTION_SALT_KEYS
 * from spec.secretKey / spec.encryptionSaltKeys and the OBJECT_STORAGE_*
 * variables from spec.objectStorage, where set and the row reads them. */
void ph_datastore_env(const struct ph_ctx *c, cJSON *env);
/* What the row gives the plugin-servers only (CDP_REDIS_HOST from
 * spec.redis, CDP_REDIS_PORT); nothing for a row without. */
void ph_plugin_datastore_env(const struct ph_ctx *c, cJSON *env);

/* "<host>.<ns>.svc" or "<host>" without a namespace (heap). */
char *ph_svc_host(const struct ph_ctx *c, const char *service);

/* The builders, one per stage. Each appends to c->entries. */
void ph_build_zookeeper(struct ph_ctx *c);
void ph_build_kafka(struct ph_ctx *c);
void ph_build_clickhouse(struct ph_ctx *c);
void ph_build_topics(struct ph_ctx *c);
void ph_build_bucket_map(struct ph_ctx *c);
void ph_build_migrate(struct ph_ctx *c);
void ph_build_plugin_server(struct ph_ctx *c);
void ph_build_router(struct ph_ctx *c);

/* The Kafka cluster id for KRaft (22 characters base64url of 16 bytes
 * derived from namespace/name; stable across re-creation so retained
 * volumes still match). out has room for 23 bytes. */
void ph_kafka_cluster_id(const char *ns, const char *name, char out[23]);

/* The ClickHouse <zookeeper> server list, as host:port strings (new
 * array). */
cJSON *ph_zookeeper_servers(const struct ph_ctx *c);

/*
 * Test helpers, compiled only into the unit tests (which define
 * PH_TESTING before including this header): they do I/O, the module does
 * not.
 */
#ifdef PH_TESTING
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "pkg/jsonyaml/jsonyaml.h"
#include "pkg/util/util.h"

/* The first PostHog document of path (relative to the repo root, the
 * tests' workdir). Caller frees. */
static inline cJSON *load_posthog(const char *path)
{
	FILE *f = fopen(path, "r");
	static char text[1 << 16];
	char err[256];
	cJSON *docs, *d, *out = NULL;
	size_t n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	ck_assert_int_eq(jy_parse_stream(text, n, &docs, err, sizeof(err)), 0);
	cJSON_ArrayForEach(d, docs) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(d, "kind");
		if (cJSON_IsString(k) && !strcmp(k->valuestring, "PostHog")) {
			out = cJSON_Duplicate(d, 1);
			break;
		}
	}
	cJSON_Delete(docs);
	ck_assert_msg(out != NULL, "no PostHog in %s", path);
	return out;
}

static inline cJSON *parse_json(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	ck_assert_msg(j != NULL, "bad test JSON: %s", text);
	return j;
}

#endif /* PH_TESTING */

#endif
