/*
 * Kafka in KRaft mode with a dedicated controller quorum: the StatefulSet
 * <ph>-kafka-controller runs spec.kafka.controllers voters
 * (process.roles=controller, node ids PH_KAFKA_CONTROLLER_ID_BASE + pod
 * ordinal), and the StatefulSet <ph>-kafka runs the brokers
 * (process.roles=broker, node id = pod ordinal), which find the quorum
 * through controller.quorum.voters. The voter set is fixed (Kafka 3.8's
 * static quorum; KIP-853 made it dynamic only in 3.9), so the brokers scale
 * without touching it. The keys are those of apache/kafka's
 * config/kraft/controller.properties and broker.properties.
 *
 * The official apache/kafka image is started through a small script that
 * completes the properties with the per-pod values and formats the log
 * directory once (--ignore-formatted makes restarts a no-op).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "pkg/buf/buf.h"

#define KAFKA_UID 1000 /* the image's appuser */

static void voters(struct ph_ctx *c, struct buf *b)
{
	int64_t n = util_json_get_int(c->spec, "kafka.controllers", 3), i;

	buf_putf(b, "controller.quorum.voters=");
	for (i = 0; i < n; i++)
		buf_putf(b, "%s%lld@%s-kafka-controller-%lld.%s-kafka-controller-headless:%d",
			   i ? "," : "", (long long)(PH_KAFKA_CONTROLLER_ID_BASE + i), c->name,
			   (long long)i, c->name, PH_KAFKA_CONTROLLER_PORT);
	buf_putf(b, "\n");
}

static char *broker_properties(struct ph_ctx *c)
{
	int64_t rf = util_json_get_int(c->spec, "kafka.topics.replicationFactor", 1);
	int64_t isr = util_json_get_int(c->spec, "kafka.topics.minInsyncReplicas", 1);
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_putf(&b, "process.roles=broker\n"
		   "controller.listener.names=CONTROLLER\n"
		   "listeners=PLAINTEXT://:%d\n"
		   "inter.broker.listener.name=PLAINTEXT\n"
		   "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n",
		   PH_KAFKA_PORT);
	voters(c, &b);
	buf_putf(&b, "log.dirs=/var/lib/kafka/data/logs\n"
		   "num.partitions=%lld\n"
		   "default.replication.factor=%lld\n"
		   "min.insync.replicas=%lld\n"
		   "offsets.topic.replication.factor=%lld\n"
		   "transaction.state.log.replication.factor=%lld\n"
		   "transaction.state.log.min.isr=%lld\n"
		   "log.retention.hours=%lld\n"
		   "log.retention.bytes=%lld\n"
		   "log.segment.bytes=1073741824\n"
		   "log.retention.check.interval.ms=300000\n"
		   /* PostHog produces to many topics besides the bucket ones. */
		   "auto.create.topics.enable=true\n"
		   "group.initial.rebalance.delay.ms=3000\n",
		   (long long)util_json_get_int(c->spec, "kafka.topics.partitions", 1),
		   (long long)rf, (long long)isr, (long long)rf, (long long)rf,
		   (long long)isr,
		   (long long)util_json_get_int(c->spec, "kafka.retention.hours", 24),
		   (long long)util_json_get_int(c->spec, "kafka.retention.bytes", -1));
	return ph_take_text(c, &b);
}

static char *controller_properties(struct ph_ctx *c)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_putf(&b, "process.roles=controller\n"
		   "controller.listener.names=CONTROLLER\n"
		   "listeners=CONTROLLER://:%d\n"
		   "listener.security.protocol.map=CONTROLLER:PLAINTEXT\n",
		   PH_KAFKA_CONTROLLER_PORT);
	voters(c, &b);
	buf_putf(&b, "log.dirs=/var/lib/kafka/data/logs\n");
	return ph_take_text(c, &b);
}

/* node.id from the pod ordinal (plus base for controllers); brokers also
 * advertise their pod DNS name. */
static char *start_script(const struct ph_ctx *c, bool controller)
{
	char *adv = controller ? util_xasprintf("%s", "")
		: util_xasprintf("echo \"advertised.listeners=PLAINTEXT://$HOSTNAME.%s-kafka-headless.$POD_NAMESPACE.svc:%d\" >> /tmp/server.properties\n",
			  c->name, PH_KAFKA_PORT);
	char *s = util_xasprintf(
		"#!/bin/sh\n"
		"# Completes server.properties for this pod, formats the log\n"
		"# directory on first start, then runs the %s.\n"
		"set -eu\n"
		"id=$(( ${HOSTNAME##*-} + %d ))\n"
		"cp /config/server.properties /tmp/server.properties\n"
		"echo \"node.id=$id\" >> /tmp/server.properties\n"
		"%s"
		"/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t \"$CLUSTER_ID\" -c /tmp/server.properties\n"
		"exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties\n",
		controller ? "controller" : "broker", controller ? PH_KAFKA_CONTROLLER_ID_BASE : 0,
		adv);

	free(adv);
	return s;
}

static cJSON *service(const struct ph_ctx *c, const char *name, const char *app,
		      bool headless, const char *port_name, int port)
{
	cJSON *o = ph_object(c, "v1", "Service", name, app, app, -1);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *arr = ph_add_arr(spec, "ports");
	cJSON *p = PH_NN(cJSON_CreateObject());

	ph_add_str(p, "name", port_name);
	ph_add_int(p, "port", port);
	ph_add_int(p, "targetPort", port);
	ph_push(arr, p);
	if (headless) {
		ph_add_str(spec, "clusterIP", "None");
		/* Quorum members and brokers must reach each other before
		 * any is ready. */
		ph_add_bool(spec, "publishNotReadyAddresses", true);
	}
	cJSON_AddItemToObject(spec, "selector", ph_selector(c, app, app, -1));
	return o;
}

static void add_probe(cJSON *ct, const char *key, const char *port, int delay, int failures)
{
	cJSON *probe = ph_add_obj(ct, key);

	ph_add_str(ph_add_obj(probe, "tcpSocket"), "port", port);
	ph_add_int(probe, "initialDelaySeconds", delay);
	ph_add_int(probe, "periodSeconds", 10);
	ph_add_int(probe, "failureThreshold", failures);
}

static cJSON *container(const struct ph_ctx *c, bool controller)
{
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *cmd, *ports, *p, *env, *mounts;
	const char *port = controller ? "controller" : "kafka";
	char *img = ph_image(c->spec, "kafka");
	char cid[23];

	ph_add_str(ct, "name", controller ? "controller" : "kafka");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "kafka"));
	cmd = ph_add_arr(ct, "command");
	ph_push_str(cmd, "/bin/sh");
	ph_push_str(cmd, "/config/start.sh");
	ports = ph_add_arr(ct, "ports");
	p = PH_NN(cJSON_CreateObject());
	ph_add_str(p, "name", port);
	ph_add_int(p, "containerPort", controller ? PH_KAFKA_CONTROLLER_PORT : PH_KAFKA_PORT);
	ph_push(ports, p);
	env = ph_add_arr(ct, "env");
	ph_kafka_cluster_id(c->ns, c->name, cid);
	ph_env(env, "CLUSTER_ID", cid);
	ph_env_field(env, "POD_NAMESPACE", "metadata.namespace");
	/* spec.kafka.resources sizes the brokers; controllers hold only the
	 * metadata log and take the cluster's defaults. */
	cJSON_AddItemToObject(ct, "resources",
			      ph_resources(controller ? NULL : util_json_get(c->spec, "kafka.resources")));
	mounts = ph_add_arr(ct, "volumeMounts");
	ph_add_mount(mounts, "data", "/var/lib/kafka/data");
	ph_add_mount(mounts, "config", "/config");
	add_probe(ct, "readinessProbe", port, 15, 3);
	add_probe(ct, "livenessProbe", port, 60, 6);
	return ct;
}

static void hash_of(const char *a, const char *b, char out[17])
{
	char *both = util_xasprintf("%s\n%s", a, b);

	snprintf(out, 17, "%016llx", (unsigned long long)util_fnv1a64(both, strlen(both)));
	free(both);
}

static void build_controllers(struct ph_ctx *c)
{
	char name[96], hl[96], hash[17];
	char *props = controller_properties(c), *script = start_script(c, true);
	cJSON *cm, *data, *sts;

	ph_name(c, "kafka-controller", name, sizeof(name));
	ph_name(c, "kafka-controller-headless", hl, sizeof(hl));
	hash_of(props, script, hash);
	cm = ph_object(c, "v1", "ConfigMap", name, "kafka-controller", "kafka-controller", -1);
	data = ph_add_obj(cm, "data");
	ph_add_str(data, "server.properties", props);
	ph_add_str(data, "start.sh", script);
	free(props);
	free(script);
	ph_emit(c, "kafka", -1, cm);
	ph_emit(c, "kafka", -1, service(c, hl, "kafka-controller", true, "controller",
					PH_KAFKA_CONTROLLER_PORT));
	sts = ph_component_statefulset(c, name, "kafka-controller",
				       (int)util_json_get_int(c->spec, "kafka.controllers", 3), hash,
				       container(c, true), KAFKA_UID, 60);
	/* The metadata log is small; it lives on the Kafka storage class. */
	cJSON_ReplaceItemInArray(cJSON_GetObjectItem(cJSON_GetObjectItem(sts, "spec"),
						     "volumeClaimTemplates"),
				 0, ph_claim_template(c, "kafka", "data", "kafka-controller"));
	ph_emit(c, "kafka", -1, sts);
	ph_emit(c, "kafka", -1, ph_pdb(c, name, "kafka-controller", "kafka-controller", -1,
					ph_selector(c, "kafka-controller", "kafka-controller", -1)));
}

void ph_build_kafka(struct ph_ctx *c)
{
	char name[96], hl[96], hash[17];
	char *props = broker_properties(c), *script = start_script(c, false);
	cJSON *cm, *data;

	build_controllers(c);
	ph_name(c, "kafka", name, sizeof(name));
	ph_name(c, "kafka-headless", hl, sizeof(hl));
	hash_of(props, script, hash);
	cm = ph_object(c, "v1", "ConfigMap", name, "kafka", "kafka", -1);
	data = ph_add_obj(cm, "data");
	ph_add_str(data, "server.properties", props);
	ph_add_str(data, "start.sh", script);
	free(props);
	free(script);
	ph_emit(c, "kafka", -1, cm);
	ph_emit(c, "kafka", -1, service(c, hl, "kafka", true, "kafka", PH_KAFKA_PORT));
	ph_emit(c, "kafka", -1, service(c, name, "kafka", false, "kafka", PH_KAFKA_PORT));
	ph_emit(c, "kafka", -1,
		ph_component_statefulset(c, name, "kafka", util_json_get_int(c->spec, "kafka.brokers", 3),
					 hash, container(c, false), KAFKA_UID, 120));
	ph_emit(c, "kafka", -1, ph_pdb(c, name, "kafka", "kafka", -1,
					ph_selector(c, "kafka", "kafka", -1)));
}
