/*
 * ZooKeeper: the ensemble ClickHouse coordinates replication through.
 * Official image (zookeeper:3.8): zoo.cfg comes from a ConfigMap mounted
 * over /conf/zoo.cfg, and myid is written from the pod ordinal before the
 * server starts, so the image's entrypoint is not needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "pkg/buf/buf.h"

#define ZK_UID 1000 /* the image's zookeeper user */

static char *zoo_cfg(struct ph_ctx *c)
{
	int64_t n = util_json_get_int(c->spec, "zookeeper.replicas", 3), i;
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_putf(&b,
		   "tickTime=2000\ninitLimit=10\nsyncLimit=5\n"
		   "dataDir=/data\ndataLogDir=/data/log\nclientPort=%d\n"
		   "maxClientCnxns=0\nadmin.enableServer=false\n"
		   "quorumListenOnAllIPs=true\n"
		   "4lw.commands.whitelist=ruok,srvr,mntr,stat\n"
		   "autopurge.snapRetainCount=%lld\nautopurge.purgeInterval=%lld\n",
		   PH_ZOOKEEPER_CLIENT_PORT,
		   (long long)util_json_get_int(c->spec, "zookeeper.autopurge.snapRetainCount", 3),
		   (long long)util_json_get_int(c->spec, "zookeeper.autopurge.purgeInterval", 1));
	/* Peers by their stable pod DNS names under the headless Service. */
	for (i = 0; i < n; i++)
		buf_putf(&b, "server.%lld=%s-zookeeper-%lld.%s-zookeeper-headless:2888:3888\n",
			   (long long)(i + 1), c->name, (long long)i, c->name);
	return ph_take_text(c, &b);
}

static cJSON *service(const struct ph_ctx *c, const char *name, bool headless)
{
	static const int ports[] = { PH_ZOOKEEPER_CLIENT_PORT, 2888, 3888 };
	static const char *const names[] = { "client", "server", "election" };
	cJSON *o = ph_object(c, "v1", "Service", name, "zookeeper", "zookeeper", -1);
	cJSON *spec = ph_add_obj(o, "spec");
	cJSON *arr = ph_add_arr(spec, "ports");
	int i;

	if (headless) {
		ph_add_str(spec, "clusterIP", "None");
		/* Peers must find each other before any is ready. */
		ph_add_bool(spec, "publishNotReadyAddresses", true);
	}
	for (i = 0; i < (headless ? 3 : 1); i++) {
		cJSON *p = PH_NN(cJSON_CreateObject());
		ph_add_str(p, "name", names[i]);
		ph_add_int(p, "port", ports[i]);
		ph_add_int(p, "targetPort", ports[i]);
		ph_push(arr, p);
	}
	cJSON_AddItemToObject(spec, "selector",
			      ph_selector(c, "zookeeper", "zookeeper", -1));
	return o;
}

static cJSON *container(const struct ph_ctx *c)
{
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *cmd, *ports, *mounts, *probe;
	char *img = ph_image(c->spec, "zookeeper");
	static const int pn[] = { PH_ZOOKEEPER_CLIENT_PORT, 2888, 3888 };
	static const char *const pnames[] = { "client", "server", "election" };
	int i;

	ph_add_str(ct, "name", "zookeeper");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "zookeeper"));
	cmd = ph_add_arr(ct, "command");
	ph_push_str(cmd, "/bin/bash");
	ph_push_str(cmd, "-c");
	ph_push_str(cmd, "mkdir -p /data/log && echo $(( ${HOSTNAME##*-} + 1 )) > /data/myid && exec zkServer.sh start-foreground");
	ports = ph_add_arr(ct, "ports");
	for (i = 0; i < 3; i++) {
		cJSON *p = PH_NN(cJSON_CreateObject());
		ph_add_str(p, "name", pnames[i]);
		ph_add_int(p, "containerPort", pn[i]);
		ph_push(ports, p);
	}
	cJSON_AddItemToObject(ct, "resources",
			      ph_resources(util_json_get(c->spec, "zookeeper.resources")));
	mounts = ph_add_arr(ct, "volumeMounts");
	ph_add_mount(mounts, "data", "/data");
	ph_add_str(ph_add_mount(mounts, "config", "/conf/zoo.cfg"), "subPath", "zoo.cfg");
	/* Ready once the server answers as leader, follower or standalone;
	 * the pods start in parallel so quorum can form. */
	probe = ph_add_obj(ct, "readinessProbe");
	cmd = ph_add_arr(ph_add_obj(probe, "exec"), "command");
	ph_push_str(cmd, "zkServer.sh");
	ph_push_str(cmd, "status");
	ph_add_int(probe, "initialDelaySeconds", 10);
	ph_add_int(probe, "periodSeconds", 10);
	ph_add_int(probe, "timeoutSeconds", 5);
	probe = ph_add_obj(ct, "livenessProbe");
	ph_add_str(ph_add_obj(probe, "tcpSocket"), "port", "client");
	ph_add_int(probe, "initialDelaySeconds", 30);
	ph_add_int(probe, "periodSeconds", 10);
	ph_add_int(probe, "failureThreshold", 6);
	return ct;
}

void ph_build_zookeeper(struct ph_ctx *c)
{
	char name[96], hl[96], hash[17];
	char *cfg = zoo_cfg(c);
	cJSON *cm;

	ph_name(c, "zookeeper", name, sizeof(name));
	ph_name(c, "zookeeper-headless", hl, sizeof(hl));
	snprintf(hash, sizeof(hash), "%016llx",
		 (unsigned long long)util_fnv1a64(cfg, strlen(cfg)));
	cm = ph_object(c, "v1", "ConfigMap", name, "zookeeper", "zookeeper", -1);
	ph_add_str(ph_add_obj(cm, "data"), "zoo.cfg", cfg);
	free(cfg);
	ph_emit(c, "zookeeper", -1, cm);
	ph_emit(c, "zookeeper", -1, service(c, hl, true));
	ph_emit(c, "zookeeper", -1, service(c, name, false));
	ph_emit(c, "zookeeper", -1,
		ph_component_statefulset(c, name, "zookeeper", util_json_get_int(c->spec, "zookeeper.replicas", 3),
					 hash, container(c), ZK_UID, 0));
	ph_emit(c, "zookeeper", -1, ph_pdb(c, name, "zookeeper", "zookeeper", -1,
					    ph_selector(c, "zookeeper", "zookeeper", -1)));
}
