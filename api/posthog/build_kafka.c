/*
 * Kafka in KRaft mode: every pod is broker and controller, node.id is the
 * pod ordinal and the controller quorum is the pods' DNS names. The
 * official apache/kafka image is started through a small script that
 * completes server.properties with the per-pod values and formats the
 * log directory once (--ignore-formatted makes restarts a no-op).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "pkg/buf/buf.h"

#define KAFKA_UID 1000 /* the image's appuser */

static char *server_properties(struct ph_ctx *c)
{
	int64_t n = util_json_get_int(c->spec, "kafka.brokers", 3), i;
	int64_t rf = util_json_get_int(c->spec, "kafka.topics.replicationFactor", 1);
	int64_t isr = util_json_get_int(c->spec, "kafka.topics.minInsyncReplicas", 1);
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_putf(&b, "process.roles=broker,controller\n"
		   "controller.listener.names=CONTROLLER\n"
		   "listeners=PLAINTEXT://:%d,CONTROLLER://:%d\n"
		   "inter.broker.listener.name=PLAINTEXT\n"
		   "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
		   "controller.quorum.voters=", PH_KAFKA_PORT, PH_KAFKA_CONTROLLER_PORT);
	for (i = 0; i < n; i++)
		buf_putf(&b, "%s%lld@%s-kafka-%lld.%s-kafka-headless:%d",
			   i ? "," : "", (long long)i, c->name, (long long)i,
			   c->name, PH_KAFKA_CONTROLLER_PORT);
	buf_putf(&b, "\nlog.dirs=/var/lib/kafka/data/logs\n"
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

static char *start_script(const struct ph_ctx *c)
{
	return util_xasprintf(
		"#!/bin/sh\n"
		"# Completes server.properties for this pod, formats the log\n"
		"# directory on first start, then runs the broker.\n"
		"set -eu\n"
		"id=${HOSTNAME##*-}\n"
		"cp /config/server.properties /tmp/server.properties\n"
		"echo \"node.id=$id\" >> /tmp/server.properties\n"
		"echo \"advertised.listeners=PLAINTEXT://$HOSTNAME.%s-kafka-headless.$POD_NAMESPACE.svc:%d\" >> /tmp/server.properties\n"
		"/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t \"$CLUSTER_ID\" -c /tmp/server.properties\n"
		"exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties\n",
		c->name, PH_KAFKA_PORT);
}

static cJSON *service(const struct ph_ctx *c, const char *name, bool headless)
{
	cJSON *o = ph_object(c, "v1", "Service", name, "kafka", "kafka", -1);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *arr = ph_add_arr(spec, "ports");
	cJSON *p = PH_NN(cJSON_CreateObject());

	ph_add_str(p, "name", "kafka");
	ph_add_int(p, "port", PH_KAFKA_PORT);
	ph_add_int(p, "targetPort", PH_KAFKA_PORT);
	ph_push(arr, p);
	if (headless) {
		ph_add_str(spec, "clusterIP", "None");
		/* Controllers must reach each other to become ready. */
		ph_add_bool(spec, "publishNotReadyAddresses", true);
		p = PH_NN(cJSON_CreateObject());
		ph_add_str(p, "name", "controller");
		ph_add_int(p, "port", PH_KAFKA_CONTROLLER_PORT);
		ph_add_int(p, "targetPort", PH_KAFKA_CONTROLLER_PORT);
		ph_push(arr, p);
	}
	cJSON_AddItemToObject(spec, "selector", ph_selector(c, "kafka", "kafka", -1));
	return o;
}

static void add_probe(cJSON *ct, const char *key, int delay, int failures)
{
	cJSON *probe = ph_add_obj(ct, key);

	ph_add_str(ph_add_obj(probe, "tcpSocket"), "port", "kafka");
	ph_add_int(probe, "initialDelaySeconds", delay);
	ph_add_int(probe, "periodSeconds", 10);
	ph_add_int(probe, "failureThreshold", failures);
}

static cJSON *container(const struct ph_ctx *c)
{
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *cmd, *ports, *p, *env, *mounts;
	char *img = ph_image(c->spec, "kafka");
	char cid[23];

	ph_add_str(ct, "name", "kafka");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "kafka"));
	cmd = ph_add_arr(ct, "command");
	ph_push_str(cmd, "/bin/sh");
	ph_push_str(cmd, "/config/start.sh");
	ports = ph_add_arr(ct, "ports");
	p = PH_NN(cJSON_CreateObject());
	ph_add_str(p, "name", "kafka");
	ph_add_int(p, "containerPort", PH_KAFKA_PORT);
	ph_push(ports, p);
	p = PH_NN(cJSON_CreateObject());
	ph_add_str(p, "name", "controller");
	ph_add_int(p, "containerPort", PH_KAFKA_CONTROLLER_PORT);
	ph_push(ports, p);
	env = ph_add_arr(ct, "env");
	ph_kafka_cluster_id(c->ns, c->name, cid);
	ph_env(env, "CLUSTER_ID", cid);
	ph_env_field(env, "POD_NAMESPACE", "metadata.namespace");
	cJSON_AddItemToObject(ct, "resources",
			      ph_resources(util_json_get(c->spec, "kafka.resources")));
	mounts = ph_add_arr(ct, "volumeMounts");
	ph_add_mount(mounts, "data", "/var/lib/kafka/data");
	ph_add_mount(mounts, "config", "/config");
	add_probe(ct, "readinessProbe", 15, 3);
	add_probe(ct, "livenessProbe", 60, 6);
	return ct;
}

void ph_build_kafka(struct ph_ctx *c)
{
	char name[96], hl[96], hash[17];
	char *props = server_properties(c), *script = start_script(c);
	char *both = util_xasprintf("%s\n%s", props, script);
	cJSON *cm, *data;

	ph_name(c, "kafka", name, sizeof(name));
	ph_name(c, "kafka-headless", hl, sizeof(hl));
	snprintf(hash, sizeof(hash), "%016llx",
		 (unsigned long long)util_fnv1a64(both, strlen(both)));
	free(both);
	cm = ph_object(c, "v1", "ConfigMap", name, "kafka", "kafka", -1);
	data = ph_add_obj(cm, "data");
	ph_add_str(data, "server.properties", props);
	ph_add_str(data, "start.sh", script);
	free(props);
	free(script);
	ph_emit(c, "kafka", -1, cm);
	ph_emit(c, "kafka", -1, service(c, hl, true));
	ph_emit(c, "kafka", -1, service(c, name, false));
	ph_emit(c, "kafka", -1,
		ph_component_statefulset(c, name, "kafka", util_json_get_int(c->spec, "kafka.brokers", 3),
					 hash, container(c), KAFKA_UID, 120));
	ph_emit(c, "kafka", -1, ph_pdb(c, name, "kafka", "kafka", -1,
					ph_selector(c, "kafka", "kafka", -1)));
}
