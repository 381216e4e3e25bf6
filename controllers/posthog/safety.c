/*
 * Spec changes that would break the running stack, judged against what
 * runs (the informers' caches), not against the previous spec: a spec can
 * be edited many times between two reconciles, and what matters is the
 * ensemble, the brokers' topics and the shards' data that exist now.
 * A refused change touches nothing; the Degraded condition says why and
 * what to do instead.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller-private.h"

static int spec_int(const cJSON *spec, const char *component, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(spec, component), key);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

/* spec.replicas of a live child, 0 when it does not exist. */
static int live_replicas(struct phc_run *run, const char *suffix)
{
	char name[96];
	cJSON *live;
	const cJSON *r;
	int n;

	if (ph_child_name(run->name, suffix, name, sizeof(name)) < 0)
		return 0;
	live = informer_get(run->scope->children[PHC_STATEFULSET], run->ns, name);
	r = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(live, "spec"),
					     "replicas");
	n = live ? (cJSON_IsNumber(r) ? r->valueint : 1) : 0;
	cJSON_Delete(live);
	return n;
}

static int check_zookeeper(struct phc_run *run, char *msg, size_t msglen)
{
	int live = live_replicas(run, "zookeeper");
	int want = spec_int(run->spec, "zookeeper", "replicas");

	if (ph_is_external(run->spec, "zookeeper") || live == 0 || want >= live / 2 + 1)
		return 0;
	phc_zookeeper_shrink_message(live, want, msg, msglen);
	return -EPERM;
}

int phc_zookeeper_floor(int live)
{
	int n = live / 2 + 1;

	return n % 2 ? n : n + 1; /* ensembles are odd */
}

/* The sizes the CRD allows are odd, so from 3 no smaller size keeps a
 * quorum of the running members: the honest advice is to set it back. */
void phc_zookeeper_shrink_message(int live, int want, char *msg, size_t msglen)
{
	int floor = phc_zookeeper_floor(live);

	if (floor >= live)
		snprintf(msg, msglen,
			 "spec.zookeeper.replicas %d is below a quorum (%d) of the running ensemble of %d, "
			 "and no smaller odd size keeps one: set spec.zookeeper.replicas back to %d. "
			 "Going from %d to %d members means recreating ZooKeeper (ClickHouse's replication "
			 "metadata lives there), which this operator does not do",
			 want, live / 2 + 1, live, live, live, want);
	else
		snprintf(msg, msglen,
			 "spec.zookeeper.replicas %d is below a quorum (%d) of the running ensemble of %d: "
			 "set it to %d first (the smallest odd size that keeps a quorum), and once "
			 "ZooKeeperReady is True again, lower it further the same way",
			 want, live / 2 + 1, live, floor);
}

/* The replication factor the running brokers create topics with, from the
 * live ConfigMap's server.properties; 0 when unknown. */
static int live_replication_factor(struct phc_run *run)
{
	static const char key[] = "default.replication.factor=";
	char name[96];
	cJSON *cm;
	const cJSON *props;
	const char *line;
	int rf = 0;

	if (ph_child_name(run->name, "kafka", name, sizeof(name)) < 0)
		return 0;
	cm = informer_get(run->scope->children[PHC_CONFIGMAP], run->ns, name);
	props = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cm, "data"),
						 "server.properties");
	line = cJSON_IsString(props) ? strstr(props->valuestring, key) : NULL;
	if (line && (line == props->valuestring || line[-1] == '\n'))
		rf = (int)strtol(line + sizeof(key) - 1, NULL, 10);
	cJSON_Delete(cm);
	return rf;
}

static int check_kafka(struct phc_run *run, char *msg, size_t msglen)
{
	int want = spec_int(run->spec, "kafka", "brokers");
	int rf;

	if (ph_is_external(run->spec, "kafka") || live_replicas(run, "kafka") <= want)
		return 0;
	rf = live_replication_factor(run);
	if (want >= rf)
		return 0;
	snprintf(msg, msglen,
		 "spec.kafka.brokers %d is below the replication factor %d of the existing topics: "
		 "their partitions would lose replicas; keep at least %d brokers", want, rf, rf);
	return -EPERM;
}

/* The KRaft voter set is fixed (Kafka 3.8's static quorum), and a Kafka
 * whose brokers were also its controllers (an earlier operator version)
 * cannot hand its metadata to a separate quorum in place. */
static int check_kafka_controllers(struct phc_run *run, char *msg, size_t msglen)
{
	int want = spec_int(run->spec, "kafka", "controllers");
	int live = live_replicas(run, "kafka-controller");
	char name[96];
	cJSON *cm;
	const cJSON *props;
	bool combined;

	if (ph_is_external(run->spec, "kafka"))
		return 0;
	if (live > 0 && live != want) {
		snprintf(msg, msglen,
			 "spec.kafka.controllers %d differs from the running KRaft controller quorum of %d: "
			 "the voter set is fixed once created; set it back to %d", want, live, live);
		return -EPERM;
	}
	if (ph_child_name(run->name, "kafka", name, sizeof(name)) < 0)
		return 0;
	cm = informer_get(run->scope->children[PHC_CONFIGMAP], run->ns, name);
	props = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cm, "data"),
						 "server.properties");
	combined = cJSON_IsString(props) && strstr(props->valuestring, "process.roles=broker,controller");
	cJSON_Delete(cm);
	if (!combined)
		return 0;
	snprintf(msg, msglen,
		 "spec.kafka.controllers: this Kafka runs brokers that are also its KRaft controllers "
		 "(made by an earlier operator version); its metadata cannot move to a separate "
		 "controller quorum in place. Nothing was changed; move the data to a new PostHog's Kafka "
		 "(docs/scaling.md)");
	return -EPERM;
}

int phc_check_safe_change(struct phc_run *run, char *msg, size_t msglen)
{
	int r = check_zookeeper(run, msg, msglen);

	if (r == 0)
		r = check_kafka(run, msg, msglen);
	if (r == 0)
		r = check_kafka_controllers(run, msg, msglen);
	/* Fewer ClickHouse shards are not refused: the reshard plan empties
	 * the removed shards before their StatefulSets go (reshard.c). */
	return r;
}
