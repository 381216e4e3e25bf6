/*
 * Per-bucket topics: a Job running the Kafka image's kafka-topics.sh. It
 * creates missing topics (--if-not-exists) and raises the partition count
 * when the spec asks for more; it never lowers it (Kafka cannot) and never
 * touches a topic that already has enough. The Job's name ends in a hash
 * of its pod template, so a changed spec makes a new Job, and the same
 * spec, rebuilt after an operator restart, names the same Job again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "pkg/buf/buf.h"

#define TOPICS_UID 1000

static const char ensure_script[] =
	"set -eu\n"
	"bin=/opt/kafka/bin/kafka-topics.sh\n"
	"cfg=${TMPDIR:-/tmp}/client.properties\n"
	": > \"$cfg\"\n"
	"if [ -n \"${KAFKA_SECURITY_PROTOCOL:-}\" ]; then\n"
	"  echo \"security.protocol=$KAFKA_SECURITY_PROTOCOL\" >> \"$cfg\"\n"
	"fi\n"
	"if [ -f /etc/kafka-ca/ca.crt ]; then\n"
	"  echo ssl.truststore.type=PEM >> \"$cfg\"\n"
	"  echo ssl.truststore.location=/etc/kafka-ca/ca.crt >> \"$cfg\"\n"
	"fi\n"
	"if [ -n \"${KAFKA_SASL_MECHANISM:-}\" ]; then\n"
	/* The credentials go between double quotes in sasl.jaas.config, in
	 * a properties file: a quote, backslash or line break in them would
	 * end the value and add options or properties of the Secret's
	 * choosing. They are refused, naming neither value. */
	"  nl='\n"
	"'\n"
	"  cr=$(printf '\\r')\n"
	"  case \"$KAFKA_SASL_USERNAME$KAFKA_SASL_PASSWORD\" in\n"
	"    *'\"'*|*'\\'*|*\"$nl\"*|*\"$cr\"*)\n"
	"      echo \"the Kafka SASL username or password holds a double quote, backslash or line break,"
	" which sasl.jaas.config cannot carry: fix the Secret\" >&2\n"
	"      exit 1 ;;\n"
	"  esac\n"
	"  case \"$KAFKA_SASL_MECHANISM\" in\n"
	"    PLAIN) module=org.apache.kafka.common.security.plain.PlainLoginModule ;;\n"
	"    *) module=org.apache.kafka.common.security.scram.ScramLoginModule ;;\n"
	"  esac\n"
	"  echo \"sasl.mechanism=$KAFKA_SASL_MECHANISM\" >> \"$cfg\"\n"
	"  printf 'sasl.jaas.config=%s required username=\"%s\" password=\"%s\";\\n' \\\n"
	"    \"$module\" \"$KAFKA_SASL_USERNAME\" \"$KAFKA_SASL_PASSWORD\" >> \"$cfg\"\n"
	"fi\n"
	"ensure() {\n"
	"  topic=$1\n"
	"  \"$bin\" --bootstrap-server \"$BOOTSTRAP\" --command-config \"$cfg\" --create --if-not-exists \\\n"
	"    --topic \"$topic\" --partitions \"$PARTITIONS\" --replication-factor \"$REPLICATION_FACTOR\" \\\n"
	"    --config \"min.insync.replicas=$MIN_INSYNC_REPLICAS\"\n"
	"  have=$(\"$bin\" --bootstrap-server \"$BOOTSTRAP\" --command-config \"$cfg\" --describe --topic \"$topic\" \\\n"
	"    | sed -n 's/.*PartitionCount:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p' | head -n 1)\n"
	"  if [ -z \"$have\" ]; then echo \"$topic: cannot read its partition count\" >&2; exit 1; fi\n"
	"  if [ \"$have\" -lt \"$PARTITIONS\" ]; then\n"
	"    echo \"$topic: raising partitions from $have to $PARTITIONS\"\n"
	"    \"$bin\" --bootstrap-server \"$BOOTSTRAP\" --command-config \"$cfg\" --alter --topic \"$topic\" --partitions \"$PARTITIONS\"\n"
	"  else\n"
	"    echo \"$topic: $have partitions (want $PARTITIONS; never lowered)\"\n"
	"  fi\n"
	"}\n"
	"for t in $TOPICS; do ensure \"$t\"; done\n";

/* The Kafka client env shared by the Job (and, in spirit, the
 * plugin-server): protocol and SASL credentials from the Secret. */
static void kafka_env(const struct ph_ctx *c, cJSON *env)
{
	bool tls = util_json_get_bool(c->spec, "kafka.external.tls.enabled", false);
	const cJSON *sasl = util_json_get(c->spec, "kafka.external.sasl");

	if (sasl || tls)
		ph_env(env, "KAFKA_SECURITY_PROTOCOL",
		       sasl ? (tls ? "SASL_SSL" : "SASL_PLAINTEXT") : "SSL");
	if (!sasl)
		return;
	ph_env(env, "KAFKA_SASL_MECHANISM", util_json_get_str(sasl, "mechanism", "PLAIN"));
	ph_env_secret(env, "KAFKA_SASL_USERNAME", util_json_get_str(sasl, "secretName", ""),
		      util_json_get_str(sasl, "usernameKey", "username"));
	ph_env_secret(env, "KAFKA_SASL_PASSWORD", util_json_get_str(sasl, "secretName", ""),
		      util_json_get_str(sasl, "passwordKey", "password"));
}

static cJSON *container(const struct ph_ctx *c, const struct ph_bucket_names *n)
{
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *cmd, *env, *res, *req;
	char *img = ph_image(c->spec, "kafka");
	char boot[2048], num[32], *topics;

	ph_add_str(ct, "name", "topics");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "kafka"));
	cmd = ph_add_arr(ct, "command");
	ph_push_str(cmd, "/bin/sh");
	ph_push_str(cmd, "-c");
	ph_push_str(cmd, ensure_script);
	env = ph_add_arr(ct, "env");
	if (ph_kafka_bootstrap(c->name, c->ns, c->spec, boot, sizeof(boot)) != 0)
		boot[0] = '\0';
	ph_env(env, "BOOTSTRAP", boot);
	topics = util_xasprintf("%s %s", n->ingestion_topic, n->events_json_topic);
	ph_env(env, "TOPICS", topics);
	free(topics);
	snprintf(num, sizeof(num), "%lld", (long long)util_json_get_int(c->spec, "kafka.topics.partitions", 1));
	ph_env(env, "PARTITIONS", num);
	snprintf(num, sizeof(num), "%lld", (long long)util_json_get_int(c->spec, "kafka.topics.replicationFactor", 1));
	ph_env(env, "REPLICATION_FACTOR", num);
	snprintf(num, sizeof(num), "%lld", (long long)util_json_get_int(c->spec, "kafka.topics.minInsyncReplicas", 1));
	ph_env(env, "MIN_INSYNC_REPLICAS", num);
	kafka_env(c, env);
	res = ph_add_obj(ct, "resources");
	req = ph_add_obj(res, "requests");
	ph_add_str(req, "cpu", "100m");
	ph_add_str(req, "memory", "256Mi");
	ph_add_str(ph_add_obj(res, "limits"), "memory", "512Mi");
	if (util_json_get(c->spec, "kafka.external.tls.caSecret"))
		ph_add_mount(ph_add_arr(ct, "volumeMounts"), "kafka-ca", "/etc/kafka-ca");
	return ct;
}

static void add_ca_volume(const struct ph_ctx *c, cJSON *ps)
{
	const cJSON *ca = util_json_get(c->spec, "kafka.external.tls.caSecret");
	cJSON *v, *sec, *it;

	if (!ca)
		return;
	v = PH_NN(cJSON_CreateObject());
	ph_add_str(v, "name", "kafka-ca");
	sec = ph_add_obj(v, "secret");
	ph_add_str(sec, "secretName", util_json_get_str(ca, "name", ""));
	it = PH_NN(cJSON_CreateObject());
	ph_add_str(it, "key", util_json_get_str(ca, "key", "ca.crt"));
	ph_add_str(it, "path", "ca.crt");
	ph_push(ph_add_arr(sec, "items"), it);
	ph_push(ph_add_arr(ps, "volumes"), v);
}

static cJSON *job(struct ph_ctx *c, unsigned bucket)
{
	struct ph_bucket_names n;
	cJSON *o, *spec, *tpl, *md, *ps, *sel;
	char *text, *name;

	if (ph_bucket_names(c->name, c->spec, bucket, &n) != 0)
		abort(); /* validated: names fit */
	sel = ph_selector(c, "kafka", "topics", (int)bucket);
	tpl = PH_NN(cJSON_CreateObject());
	md = ph_add_obj(tpl, "metadata");
	cJSON_AddItemToObject(md, "labels", ph_labels(c, "kafka", "topics", (int)bucket));
	ps = ph_add_obj(tpl, "spec");
	ph_add_str(ps, "restartPolicy", "OnFailure");
	ph_push(ph_add_arr(ps, "containers"), container(c, &n));
	add_ca_volume(c, ps);
	ph_pod_common(c, ps, util_json_get(c->spec, "kafka.pod"), sel, TOPICS_UID);
	/* The Job runs once; spreading it across nodes means nothing. */
	cJSON_DeleteItemFromObjectCaseSensitive(ps, "affinity");
	if (util_json_get(c->spec, "kafka.pod.affinity") || util_json_get(c->spec, "pod.affinity"))
		ph_add_copy(ps, "affinity", util_json_get(c->spec, "kafka.pod.affinity")
				? util_json_get(c->spec, "kafka.pod.affinity")
				: util_json_get(c->spec, "pod.affinity"));
	text = PH_NN(cJSON_PrintUnformatted(tpl));
	name = util_xasprintf("%s%08llx", n.topics_job_prefix,
		       (unsigned long long)(util_fnv1a64(text, strlen(text)) & 0xffffffffULL));
	free(text);
	o = ph_object(c, "batch/v1", "Job", name, "kafka", "topics", (int)bucket);
	free(name);
	spec = ph_add_obj(o, "spec");
	ph_add_int(spec, "backoffLimit", 10);
	ph_add_int(spec, "activeDeadlineSeconds", 1800);
	ph_add_int(spec, "ttlSecondsAfterFinished", 86400);
	cJSON_AddItemToObject(spec, "template", tpl);
	cJSON_Delete(sel);
	return o;
}

void ph_build_topics(struct ph_ctx *c)
{
	unsigned count = (unsigned)util_json_get_int(c->spec, "buckets.count", 1), b;

	for (b = 0; b < count; b++)
		ph_emit(c, "topics", (int)b, job(c, b));
}
