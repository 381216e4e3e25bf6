/*
 * The bucket router (docs/router.md): the Deployment <ph>-router running
 * `posthog-operator route` from the operator's own image, and its
 * PodDisruptionBudget. It reads the bucket map from the <ph>-buckets
 * ConfigMap mounted as a volume (the router re-reads the file when the
 * kubelet swaps it, so a map change needs no roll), Postgres from
 * spec.postgres's Secret and the brokers the plugin-servers use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

#define MAP_DIR "/etc/posthog-buckets"
#define CA_DIR "/etc/posthog-kafka-ca"
/* The operator image's user (Dockerfile: USER 65532:65532). */
#define ROUTER_UID 65532

/*
 * "repository:tag" of the router: spec.router.image's fields where set,
 * the operator's image (c->router_image) for the rest. A digest in the
 * operator's image (repo@sha256:...) is kept only when neither field is
 * set.
 */
static char *router_image(const struct ph_ctx *c)
{
	const char *def = c->router_image ? c->router_image : PH_ROUTER_DEFAULT_IMAGE;
	const char *repo = util_json_get_str(c->spec, "router.image.repository", NULL);
	const char *tag = util_json_get_str(c->spec, "router.image.tag", NULL);
	const char *at = strchr(def, '@'), *slash = strrchr(def, '/');
	const char *colon = strrchr(def, ':');
	size_t repo_len;

	if (!repo && !tag)
		return util_xasprintf("%s", def);
	if (at) {
		repo_len = (size_t)(at - def);
	} else if (colon && (!slash || colon > slash)) {
		repo_len = (size_t)(colon - def);
	} else {
		repo_len = strlen(def);
		colon = NULL;
	}
	if (!tag)
		tag = !at && colon ? colon + 1 : "latest";
	if (repo)
		return util_xasprintf("%s:%s", repo, tag);
	return util_xasprintf("%.*s:%s", (int)repo_len, def, tag);
}

static cJSON *probe(const char *path, int delay, int failures)
{
	cJSON *p = PH_NN(cJSON_CreateObject());
	cJSON *get = ph_add_obj(p, "httpGet");

	ph_add_str(get, "path", path);
	ph_add_str(get, "port", "health");
	ph_add_int(p, "initialDelaySeconds", delay);
	ph_add_int(p, "periodSeconds", 10);
	ph_add_int(p, "timeoutSeconds", 5);
	ph_add_int(p, "failureThreshold", failures);
	return p;
}

static void port(cJSON *ports, const char *name, int number)
{
	cJSON *p = PH_NN(cJSON_CreateObject());

	ph_add_str(p, "name", name);
	ph_add_int(p, "containerPort", number);
	ph_add_str(p, "protocol", "TCP");
	ph_push(ports, p);
}

static void arg(cJSON *args, const char *flag, const char *value)
{
	char *s = util_xasprintf("--%s=%s", flag, value);

	ph_push_str(args, s);
	free(s);
}

/* librdkafka's security properties for spec.kafka.external.tls/sasl,
 * the secrets through $(VAR) references to the container's own
 * variables (the kubelet expands them in args). */
static void kafka_security(const struct ph_ctx *c, cJSON *args, cJSON *env)
{
	bool tls = util_json_get_bool(c->spec, "kafka.external.tls.enabled", false);
	const cJSON *sasl = util_json_get(c->spec, "kafka.external.sasl");
	const char *ca = util_json_get_str(c->spec, "kafka.external.tls.caSecret.key", "ca.crt");
	char *s;

	if (!tls && !sasl)
		return;
	arg(args, "kafka-conf", sasl ? (tls ? "security.protocol=SASL_SSL"
					    : "security.protocol=SASL_PLAINTEXT")
				     : "security.protocol=SSL");
	if (tls && util_json_get(c->spec, "kafka.external.tls.caSecret.name")) {
		s = util_xasprintf("ssl.ca.location=" CA_DIR "/%s", ca);
		arg(args, "kafka-conf", s);
		free(s);
	}
	if (!sasl)
		return;
	s = util_xasprintf("sasl.mechanisms=%s", util_json_get_str(sasl, "mechanism", "PLAIN"));
	arg(args, "kafka-conf", s);
	free(s);
	ph_env_secret(env, "KAFKA_SASL_USER", util_json_get_str(sasl, "secretName", ""),
		      util_json_get_str(sasl, "usernameKey", "username"));
	ph_env_secret(env, "KAFKA_SASL_PASSWORD", util_json_get_str(sasl, "secretName", ""),
		      util_json_get_str(sasl, "passwordKey", "password"));
	arg(args, "kafka-conf", "sasl.username=$(KAFKA_SASL_USER)");
	arg(args, "kafka-conf", "sasl.password=$(KAFKA_SASL_PASSWORD)");
}

static cJSON *resources(const struct ph_ctx *c)
{
	const cJSON *r = util_json_get(c->spec, "router.resources");
	cJSON *out, *req;

	if (cJSON_IsObject(r))
		return ph_resources(r);
	/* docs/performance.md: the router peaks at 33-43 MiB in the bench. */
	out = PH_NN(cJSON_CreateObject());
	req = ph_add_obj(out, "requests");
	ph_add_str(req, "cpu", "100m");
	ph_add_str(req, "memory", "64Mi");
	ph_add_str(ph_add_obj(out, "limits"), "memory", "256Mi");
	return out;
}

static cJSON *container(const struct ph_ctx *c)
{
	const char *pre = util_json_get_str(c->spec, "kafka.topics.prefix", "");
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *args, *env, *ports, *mounts;
	char boot[2048], *s, *img = router_image(c);

	ph_add_str(ct, "name", "router");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "router"));
	args = ph_add_arr(ct, "args");
	ph_push_str(args, "route");
	if (ph_kafka_bootstrap(c->name, c->ns, c->spec, boot, sizeof(boot)) != 0)
		abort(); /* validated: the broker list fits */
	arg(args, "kafka-bootstrap-servers", boot);
	s = util_xasprintf("%sevents_plugin_ingestion", pre);
	arg(args, "source-topic", util_json_get_str(c->spec, "router.sourceTopic", s));
	free(s);
	s = util_xasprintf("%sposthog-router", pre);
	arg(args, "group", util_json_get_str(c->spec, "router.group", s));
	free(s);
	arg(args, "bucket-map", MAP_DIR "/" PH_BUCKET_MAP_KEY);
	arg(args, "metrics-bind-address", ":8080");
	arg(args, "health-probe-bind-address", ":8081");
	env = ph_add_arr(ct, "env");
	/* The variable keeps the password out of the command line. */
	ph_env_secret(env, "DATABASE_URL", util_json_get_str(c->spec, "postgres.urlSecret.name", ""),
		      util_json_get_str(c->spec, "postgres.urlSecret.key", "url"));
	kafka_security(c, args, env);
	ph_env_merge(env, util_json_get(c->spec, "router.env"));
	ports = ph_add_arr(ct, "ports");
	port(ports, "metrics", 8080);
	port(ports, "health", 8081);
	cJSON_AddItemToObject(ct, "resources", resources(c));
	/* /readyz waits for the map, the token table and the Kafka clients;
	 * /healthz fails once the routing loop stalls for 30 s. */
	cJSON_AddItemToObject(ct, "readinessProbe", probe("/readyz", 5, 3));
	cJSON_AddItemToObject(ct, "livenessProbe", probe("/healthz", 30, 6));
	mounts = ph_add_arr(ct, "volumeMounts");
	cJSON_AddTrueToObject(ph_add_mount(mounts, "bucket-map", MAP_DIR), "readOnly");
	if (util_json_get_bool(c->spec, "kafka.external.tls.enabled", false) &&
	    util_json_get(c->spec, "kafka.external.tls.caSecret.name"))
		cJSON_AddTrueToObject(ph_add_mount(mounts, "kafka-ca", CA_DIR), "readOnly");
	return ct;
}

static void volumes(const struct ph_ctx *c, cJSON *ps, const char *map_cm)
{
	cJSON *vols = ph_add_arr(ps, "volumes");
	cJSON *v = PH_NN(cJSON_CreateObject());
	const char *ca = util_json_get_str(c->spec, "kafka.external.tls.caSecret.name", NULL);

	ph_add_str(v, "name", "bucket-map");
	ph_add_str(ph_add_obj(v, "configMap"), "name", map_cm);
	ph_push(vols, v);
	if (!ca || !util_json_get_bool(c->spec, "kafka.external.tls.enabled", false))
		return;
	v = PH_NN(cJSON_CreateObject());
	ph_add_str(v, "name", "kafka-ca");
	ph_add_str(ph_add_obj(v, "secret"), "secretName", ca);
	ph_push(vols, v);
}

void ph_build_router(struct ph_ctx *c)
{
	const cJSON *cpod = util_json_get(c->spec, "router.pod");
	cJSON *o, *spec, *sel, *tpl, *md, *ann, *ps;
	char name[96], map_cm[96];

	if (!util_json_get_bool(c->spec, "router.enabled", true))
		return;
	if (ph_child_name(c->name, "router", name, sizeof(name)) != 0 ||
	    ph_child_name(c->name, "buckets", map_cm, sizeof(map_cm)) != 0)
		abort(); /* validated: names fit */
	sel = ph_selector(c, "router", "router", -1);
	o = ph_object(c, "apps/v1", "Deployment", name, "router", "router", -1);
	spec = ph_add_obj(o, "spec");
	ph_add_int(spec, "replicas", util_json_get_int(c->spec, "router.replicas", 2));
	ph_add_copy(ph_add_obj(spec, "selector"), "matchLabels", sel);
	tpl = ph_add_obj(spec, "template");
	md = ph_add_obj(tpl, "metadata");
	cJSON_AddItemToObject(md, "labels", ph_labels(c, "router", "router", -1));
	ann = ph_pod_annotations(c, cpod);
	if (!ann)
		ann = PH_NN(cJSON_CreateObject());
	ph_add_str(ann, "prometheus.io/scrape", "true");
	ph_add_str(ann, "prometheus.io/port", "8080");
	ph_add_str(ann, "prometheus.io/path", "/metrics");
	cJSON_AddItemToObject(md, "annotations", ann);
	ps = ph_add_obj(tpl, "spec");
	/* SIGTERM finishes the messages in flight and commits them. */
	ph_add_int(ps, "terminationGracePeriodSeconds", 30);
	ph_push(ph_add_arr(ps, "containers"), container(c));
	volumes(c, ps, map_cm);
	ph_pod_common(c, ps, cpod, sel, ROUTER_UID);
	ph_emit(c, "router", -1, o);
	ph_emit(c, "router", -1, ph_pdb(c, name, "router", "router", -1, sel));
}
