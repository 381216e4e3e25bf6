/*
 * ClickHouse: one StatefulSet per shard whose pods are the shard's
 * replicas. The server reads its topology from config.d: remote_servers,
 * the ZooKeeper nodes, and macros whose {shard} comes from the shard's
 * StatefulSet env and {replica} from the pod's host name (from_env), so one
 * ConfigMap serves every pod and no init step is needed. Every replica pod
 * also gets its own ClusterIP Service, which is how the reconciler reaches
 * a given replica (ph_clickhouse_endpoint).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "pkg/buf/buf.h"

#define CH_UID 101 /* the image's clickhouse user */

static void xml_text(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '&': buf_puts(b, "&amp;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		default: buf_put(b, s, 1);
		}
	}
}

static void replica_xml(const struct ph_ctx *c, struct buf *b, int64_t s, int64_t r)
{
	buf_putf(b, "        <replica><host>%s-clickhouse-%lld-%lld.%s-clickhouse-%lld</host>"
		   "<port>%d</port><user>%s</user>"
		   "<password from_env=\"CLICKHOUSE_ADMIN_PASSWORD\"/></replica>\n",
		   c->name, (long long)s, (long long)r, c->name, (long long)s,
		   PH_CLICKHOUSE_NATIVE_PORT, util_json_get_str(c->spec, "clickhouse.user", "admin"));
}

/* One <remote_servers> cluster over the managed nodes, laid out as the
 * version's migrations expect (enum ph_ch_layout). */
static void cluster_xml(const struct ph_ctx *c, struct buf *b, const char *name,
			enum ph_ch_layout layout)
{
	int64_t shards = util_json_get_int(c->spec, "clickhouse.shards", 1);
	int64_t reps = util_json_get_int(c->spec, "clickhouse.replicasPerShard", 1);
	int64_t s, r;
	const char *shard_open = "      <shard>\n        <internal_replication>true</internal_replication>\n";

	buf_putf(b, "    <%s>\n", name);
	if (layout == PH_CH_SINGLE_SHARD)
		buf_puts(b, shard_open);
	for (s = 0; s < shards; s++) {
		if (layout != PH_CH_SINGLE_SHARD)
			buf_puts(b, shard_open);
		for (r = 0; r < (layout == PH_CH_PRIMARY ? 1 : reps); r++)
			replica_xml(c, b, s, r);
		if (layout != PH_CH_SINGLE_SHARD)
			buf_puts(b, "      </shard>\n");
	}
	if (layout == PH_CH_SINGLE_SHARD)
		buf_puts(b, "      </shard>\n");
	buf_putf(b, "    </%s>\n", name);
}

static void remote_servers(const struct ph_ctx *c, const struct ph_version *row,
			   struct buf *b)
{
	const char *main = util_json_get_str(c->spec, "clickhouse.cluster", "posthog");
	const struct ph_ch_cluster *cl;

	buf_puts(b, "  <remote_servers>\n");
	cluster_xml(c, b, main, PH_CH_ALL);
	for (cl = row->clickhouse_clusters; cl && cl->name; cl++)
		if (strcmp(cl->name, main))
			cluster_xml(c, b, cl->name, cl->layout);
	buf_puts(b, "  </remote_servers>\n");
}

/* The Kafka named collections of the version, pointing at the PostHog's
 * Kafka (managed or external); librdkafka security settings come from the
 * global <kafka> section. */
static void named_collections(const struct ph_ctx *c, const struct ph_version *row,
			      struct buf *b)
{
	const char *const *n = row->named_collections;
	char boot[2048];

	if (!n || !*n)
		return;
	if (ph_kafka_bootstrap(c->name, c->ns, c->spec, boot, sizeof(boot)) != 0)
		boot[0] = '\0';
	buf_puts(b, "  <named_collections>\n");
	for (; *n; n++) {
		buf_putf(b, "    <%s>\n      <kafka_broker_list>", *n);
		xml_text(b, boot);
		buf_putf(b, "</kafka_broker_list>\n    </%s>\n", *n);
	}
	buf_puts(b, "  </named_collections>\n");
}

static void zookeeper(const struct ph_ctx *c, struct buf *b)
{
	cJSON *servers = ph_zookeeper_servers(c);
	const cJSON *s;
	const char *root = util_json_get_str(c->spec, "zookeeper.external.root", NULL);

	buf_puts(b, "  <zookeeper>\n");
	cJSON_ArrayForEach(s, servers) {
		const char *colon = strrchr(s->valuestring, ':');
		int hl = colon ? (int)(colon - s->valuestring) : (int)strlen(s->valuestring);

		buf_putf(b, "    <node><host>%.*s</host><port>%s</port></node>\n",
			   hl, s->valuestring, colon ? colon + 1 : "2181");
	}
	if (root)
		buf_putf(b, "    <root>%s</root>\n", root);
	buf_puts(b, "  </zookeeper>\n");
	cJSON_Delete(servers);
}

/* librdkafka settings for the Kafka engine tables when the brokers need
 * TLS or SASL; the password comes from the environment. */
static void kafka_client(const struct ph_ctx *c, struct buf *b)
{
	bool tls = util_json_get_bool(c->spec, "kafka.external.tls.enabled", false);
	const cJSON *sasl = util_json_get(c->spec, "kafka.external.sasl");

	if (!tls && !sasl)
		return;
	buf_putf(b, "  <kafka>\n    <security_protocol>%s</security_protocol>\n",
		   sasl ? (tls ? "sasl_ssl" : "sasl_plaintext") : "ssl");
	if (sasl)
		buf_putf(b, "    <sasl_mechanism>%s</sasl_mechanism>\n"
			   "    <sasl_username from_env=\"KAFKA_SASL_USERNAME\"/>\n"
			   "    <sasl_password from_env=\"KAFKA_SASL_PASSWORD\"/>\n",
			   util_json_get_str(sasl, "mechanism", "PLAIN"));
	if (util_json_get(c->spec, "kafka.external.tls.caSecret"))
		buf_puts(b, "    <ssl_ca_location>/etc/kafka-ca/ca.crt</ssl_ca_location>\n");
	buf_puts(b, "  </kafka>\n");
}

/* The server's config.d file; topology false leaves out remote_servers,
 * for the restart hash. */
static char *server_config(struct ph_ctx *c, bool topology)
{
	const struct ph_version *row =
		ph_version_or_fallback(util_json_get_str(c->spec, "version", NULL));
	const char *const *m;
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_putf(&b, "<clickhouse>\n  <listen_host>0.0.0.0</listen_host>\n"
		   "  <macros>\n    <cluster>%s</cluster>\n"
		   "    <shard from_env=\"CLICKHOUSE_SHARD\"/>\n"
		   "    <replica from_env=\"HOSTNAME\"/>\n",
		   util_json_get_str(c->spec, "clickhouse.cluster", "posthog"));
	for (m = row->macros; m && m[0] && m[1]; m += 2)
		buf_putf(&b, "    <%s>%s</%s>\n", m[0], m[1], m[0]);
	buf_puts(&b, "  </macros>\n");
	if (topology)
		remote_servers(c, row, &b);
	named_collections(c, row, &b);
	zookeeper(c, &b);
	kafka_client(c, &b);
	buf_puts(&b, "  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n"
		       "  <format_schema_path>/var/lib/clickhouse/format_schemas/</format_schema_path>\n"
		       "</clickhouse>\n");
	return ph_take_text(c, &b);
}

static char *users_config(struct ph_ctx *c)
{
	const cJSON *e;
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_puts(&b, "<clickhouse>\n  <profiles>\n    <default>\n"
		       "      <allow_nondeterministic_mutations>1</allow_nondeterministic_mutations>\n");
	cJSON_ArrayForEach(e, util_json_get(c->spec, "clickhouse.profile")) {
		if (!cJSON_IsString(e))
			continue;
		buf_putf(&b, "      <%s>", e->string);
		xml_text(&b, e->valuestring);
		buf_putf(&b, "</%s>\n", e->string);
	}
	buf_putf(&b, "    </default>\n  </profiles>\n  <users>\n    <%s>\n"
		   "      <password from_env=\"CLICKHOUSE_ADMIN_PASSWORD\"/>\n"
		   "      <networks><ip>::/0</ip></networks>\n"
		   "      <profile>default</profile>\n      <quota>default</quota>\n"
		   "      <access_management>1</access_management>\n"
		   "    </%s>\n",
		   util_json_get_str(c->spec, "clickhouse.user", "admin"),
		   util_json_get_str(c->spec, "clickhouse.user", "admin"));
	/* The image's users.xml has a "default" user with an empty password
	 * open to every network; CLICKHOUSE_SKIP_USER_SETUP keeps its
	 * entrypoint from writing into our read-only users.d, so this file
	 * locks "default" itself: the admin password, and loopback only.
	 * "replace" matters: a plain merge keeps the image's empty <password>
	 * and drops our from_env attribute (hack/test.d/26-clickhouse-users). */
	if (strcmp(util_json_get_str(c->spec, "clickhouse.user", "admin"), "default"))
		buf_puts(&b, "    <default>\n"
			       "      <password replace=\"replace\" from_env=\"CLICKHOUSE_ADMIN_PASSWORD\"/>\n"
			       "      <networks replace=\"replace\"><ip>::1</ip><ip>127.0.0.1</ip></networks>\n"
			       "    </default>\n");
	buf_puts(&b, "  </users>\n</clickhouse>\n");
	return ph_take_text(c, &b);
}

static void add_port(cJSON *arr, const char *key, const char *name, int port)
{
	cJSON *p = PH_NN(cJSON_CreateObject());

	ph_add_str(p, "name", name);
	ph_add_int(p, key, port);
	if (!strcmp(key, "port"))
		ph_add_int(p, "targetPort", port);
	ph_push(arr, p);
}

static cJSON *service(const struct ph_ctx *c, const char *name, int shard,
		      const char *pod)
{
	cJSON *o = ph_object(c, "v1", "Service", name, "clickhouse", "clickhouse", -1);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *ports = ph_add_arr(spec, "ports");
	cJSON *sel = ph_selector(c, "clickhouse", "clickhouse", -1);

	add_port(ports, "port", "http", PH_CLICKHOUSE_HTTP_PORT);
	add_port(ports, "port", "native", PH_CLICKHOUSE_NATIVE_PORT);
	if (shard >= 0 && !pod) {
		char s[16];

		snprintf(s, sizeof(s), "%d", shard);
		ph_add_str(spec, "clusterIP", "None");
		ph_add_bool(spec, "publishNotReadyAddresses", true);
		add_port(ports, "port", "interserver", 9009);
		ph_add_str(sel, "posthog.com/clickhouse-shard", s);
	}
	if (pod)
		ph_add_str(sel, "statefulset.kubernetes.io/pod-name", pod);
	cJSON_AddItemToObject(spec, "selector", sel);
	return o;
}

static cJSON *http_probe(int delay, int failures)
{
	cJSON *probe = PH_NN(cJSON_CreateObject());
	cJSON *get = ph_add_obj(probe, "httpGet");

	ph_add_str(get, "path", "/ping");
	ph_add_str(get, "port", "http");
	ph_add_int(probe, "initialDelaySeconds", delay);
	ph_add_int(probe, "periodSeconds", 10);
	ph_add_int(probe, "failureThreshold", failures);
	return probe;
}

static cJSON *container(const struct ph_ctx *c, int shard)
{
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *ports, *env, *mounts;
	char *img = ph_image(c->spec, "clickhouse");
	const cJSON *sasl = util_json_get(c->spec, "kafka.external.sasl");
	char s[16];

	ph_add_str(ct, "name", "clickhouse");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "clickhouse"));
	ports = ph_add_arr(ct, "ports");
	add_port(ports, "containerPort", "http", PH_CLICKHOUSE_HTTP_PORT);
	add_port(ports, "containerPort", "native", PH_CLICKHOUSE_NATIVE_PORT);
	add_port(ports, "containerPort", "interserver", 9009);
	env = ph_add_arr(ct, "env");
	snprintf(s, sizeof(s), "%d", shard);
	ph_env(env, "CLICKHOUSE_SHARD", s);
	/* Our users.d (a read-only ConfigMap) owns the users, the image's
	 * "default" included (users_config); the entrypoint must not try to
	 * write its own file there. */
	ph_env(env, "CLICKHOUSE_SKIP_USER_SETUP", "1");
	ph_env_secret(env, "CLICKHOUSE_ADMIN_PASSWORD",
		      util_json_get_str(c->spec, "clickhouse.passwordSecret.name", ""),
		      util_json_get_str(c->spec, "clickhouse.passwordSecret.key", "password"));
	if (sasl) {
		ph_env_secret(env, "KAFKA_SASL_USERNAME", util_json_get_str(sasl, "secretName", ""),
			      util_json_get_str(sasl, "usernameKey", "username"));
		ph_env_secret(env, "KAFKA_SASL_PASSWORD", util_json_get_str(sasl, "secretName", ""),
			      util_json_get_str(sasl, "passwordKey", "password"));
	}
	cJSON_AddItemToObject(ct, "resources",
			      ph_resources(util_json_get(c->spec, "clickhouse.resources")));
	mounts = ph_add_arr(ct, "volumeMounts");
	ph_add_mount(mounts, "data", "/var/lib/clickhouse");
	ph_add_mount(mounts, "config", "/etc/clickhouse-server/config.d");
	ph_add_mount(mounts, "users", "/etc/clickhouse-server/users.d");
	if (util_json_get(c->spec, "kafka.external.tls.caSecret"))
		ph_add_mount(mounts, "kafka-ca", "/etc/kafka-ca");
	cJSON_AddItemToObject(ct, "readinessProbe", http_probe(10, 3));
	cJSON_AddItemToObject(ct, "livenessProbe", http_probe(60, 6));
	return ct;
}

static void add_cm_volume(cJSON *vols, const char *name, const char *cm)
{
	cJSON *v = PH_NN(cJSON_CreateObject());

	ph_add_str(v, "name", name);
	ph_add_str(ph_add_obj(v, "configMap"), "name", cm);
	ph_push(vols, v);
}

static void add_ca_volume(const struct ph_ctx *c, cJSON *vols)
{
	const cJSON *ca = util_json_get(c->spec, "kafka.external.tls.caSecret");
	cJSON *v, *items, *it;

	if (!ca)
		return;
	v = PH_NN(cJSON_CreateObject());
	ph_add_str(v, "name", "kafka-ca");
	it = ph_add_obj(v, "secret");
	ph_add_str(it, "secretName", util_json_get_str(ca, "name", ""));
	items = ph_add_arr(it, "items");
	it = PH_NN(cJSON_CreateObject());
	ph_add_str(it, "key", util_json_get_str(ca, "key", "ca.crt"));
	ph_add_str(it, "path", "ca.crt");
	ph_push(items, it);
	ph_push(vols, v);
}

static cJSON *statefulset(const struct ph_ctx *c, int shard, const char *hash)
{
	char *name = util_xasprintf("%s-clickhouse-%d", c->name, shard);
	cJSON *o = ph_object(c, "apps/v1", "StatefulSet", name, "clickhouse", "clickhouse", -1);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *sel = ph_selector(c, "clickhouse", "clickhouse", -1);
	cJSON *tpl, *md, *ann, *ps, *vols, *labels;
	const cJSON *cpod = util_json_get(c->spec, "clickhouse.pod");
	char s[16], *cm;

	snprintf(s, sizeof(s), "%d", shard);
	ph_add_str(sel, "posthog.com/clickhouse-shard", s);
	ph_add_int(spec, "replicas", util_json_get_int(c->spec, "clickhouse.replicasPerShard", 1));
	ph_add_str(spec, "serviceName", name);
	ph_add_str(spec, "podManagementPolicy", "Parallel");
	/* Restarted by the operator, one replica at a time (upgrade.h). */
	ph_add_str(ph_add_obj(spec, "updateStrategy"), "type", "OnDelete");
	ph_add_copy(ph_add_obj(spec, "selector"), "matchLabels", sel);
	tpl = ph_add_obj(spec, "template");
	md = ph_add_obj(tpl, "metadata");
	labels = ph_labels(c, "clickhouse", "clickhouse", -1);
	ph_add_str(labels, "posthog.com/clickhouse-shard", s);
	cJSON_AddItemToObject(md, "labels", labels);
	ann = ph_pod_annotations(c, cpod);
	if (!ann)
		ann = PH_NN(cJSON_CreateObject());
	/* The config that a server reads only at start (config_maps). */
	ph_add_str(ann, "posthog.com/config-hash", hash);
	cJSON_AddItemToObject(md, "annotations", ann);
	ps = ph_add_obj(tpl, "spec");
	ph_add_int(ps, "terminationGracePeriodSeconds", 60);
	ph_push(ph_add_arr(ps, "containers"), container(c, shard));
	vols = ph_add_arr(ps, "volumes");
	cm = util_xasprintf("%s-clickhouse", c->name);
	add_cm_volume(vols, "config", cm);
	free(cm);
	cm = util_xasprintf("%s-clickhouse-users", c->name);
	add_cm_volume(vols, "users", cm);
	free(cm);
	add_ca_volume(c, vols);
	/* Anti-affinity across all ClickHouse pods, not only this shard's. */
	cJSON_DeleteItemFromObjectCaseSensitive(sel, "posthog.com/clickhouse-shard");
	ph_pod_common(c, ps, cpod, sel, CH_UID);
	ph_push(ph_add_arr(spec, "volumeClaimTemplates"),
		ph_claim_template(c, "clickhouse", "data", "clickhouse"));
	cJSON_AddItemToObject(spec, "persistentVolumeClaimRetentionPolicy", ph_pvc_retention(c));
	cJSON_Delete(sel);
	free(name);
	return o;
}

/*
 * hash covers what a server reads only at start: remote_servers is left
 * out, since ClickHouse applies a changed cluster list from config.d
 * without a restart (its main config reloader calls
 * Context::setClustersConfig; ClickHouse/ClickHouse, programs/server/
 * Server.cpp, dbms/programs/server/Server.cpp in 18.x). So a new shard or
 * replica count restarts no running server (docs/resharding.md).
 */
static void config_maps(struct ph_ctx *c, char hash[17])
{
	char *server = server_config(c, true), *users = users_config(c);
	char *fixed = server_config(c, false);
	char *both = util_xasprintf("%s\n%s", fixed, users);
	char *name = util_xasprintf("%s-clickhouse", c->name);
	cJSON *cm;

	snprintf(hash, 17, "%016llx",
		 (unsigned long long)util_fnv1a64(both, strlen(both)));
	cm = ph_object(c, "v1", "ConfigMap", name, "clickhouse", "clickhouse", -1);
	ph_add_str(ph_add_obj(cm, "data"), "posthog.xml", server);
	ph_emit(c, "clickhouse", -1, cm);
	free(name);
	name = util_xasprintf("%s-clickhouse-users", c->name);
	cm = ph_object(c, "v1", "ConfigMap", name, "clickhouse", "clickhouse", -1);
	ph_add_str(ph_add_obj(cm, "data"), "users.xml", users);
	ph_emit(c, "clickhouse", -1, cm);
	free(name);
	free(both);
	free(fixed);
	free(server);
	free(users);
}

void ph_build_clickhouse(struct ph_ctx *c)
{
	int shards = (int)util_json_get_int(c->spec, "clickhouse.shards", 1);
	int reps = (int)util_json_get_int(c->spec, "clickhouse.replicasPerShard", 1);
	char hash[17], *name;
	int s, r;

	config_maps(c, hash);
	/* Shards being emptied by a reshard plan keep running (and keep
	 * their data) until it is done; remote_servers lists the new count
	 * already, so no new row reaches them. */
	if (c->keep_shards > shards)
		shards = c->keep_shards;
	name = util_xasprintf("%s-clickhouse", c->name);
	ph_emit(c, "clickhouse", -1, service(c, name, -1, NULL));
	free(name);
	for (s = 0; s < shards; s++) {
		cJSON *sel = ph_selector(c, "clickhouse", "clickhouse", -1);
		char sh[16];

		name = util_xasprintf("%s-clickhouse-%d", c->name, s);
		ph_emit(c, "clickhouse", -1, service(c, name, s, NULL));
		for (r = 0; r < reps; r++) {
			char *pod = util_xasprintf("%s-clickhouse-%d-%d", c->name, s, r);
			ph_emit(c, "clickhouse", -1, service(c, pod, s, pod));
			free(pod);
		}
		ph_emit(c, "clickhouse", -1, statefulset(c, s, hash));
		snprintf(sh, sizeof(sh), "%d", s);
		ph_add_str(sel, "posthog.com/clickhouse-shard", sh);
		ph_emit(c, "clickhouse", -1, ph_pdb(c, name, "clickhouse", "clickhouse", -1, sel));
		free(name);
	}
}
