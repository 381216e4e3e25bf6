/*
 * ZooKeeper: the ensemble ClickHouse coordinates replication through.
 * Official image (zookeeper:3.8). Membership is dynamic (ZooKeeper 3.5+
 * reconfig, docs/scaling.md): the ConfigMap holds the static zoo.cfg, the
 * members of a fresh ensemble (zoo.cfg.dynamic) and start.sh, which writes
 * myid from the pod ordinal and picks the dynamic file (see start_script),
 * so the image's entrypoint is not needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "pkg/buf/buf.h"

#define ZK_UID 1000 /* the image's zookeeper user */
/* The CRD's spec.zookeeper.replicas maximum: the peers a joiner asks. */
#define PH_ZOOKEEPER_MAX_SERVERS 7

/* The static configuration. ZooKeeper's manual (zookeeperReconfig.md):
 * reconfigEnabled=true allows reconfig; standaloneEnabled=false keeps one
 * server on the distributed stack so that it can grow and an ensemble can
 * shrink to one; the members and client port live in the dynamic file.
 * skipACL=yes lets the operator's unauthenticated session write
 * /zookeeper/config: the ensemble carries no ACLs anyway (ClickHouse sets
 * none), so it adds no power a client of this ensemble lacks today. */
static char *zoo_cfg(struct ph_ctx *c)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_putf(&b,
		   "tickTime=2000\ninitLimit=10\nsyncLimit=5\n"
		   "dataDir=/data\ndataLogDir=/data/log\n"
		   "maxClientCnxns=0\nadmin.enableServer=false\n"
		   "quorumListenOnAllIPs=true\n"
		   "reconfigEnabled=true\nstandaloneEnabled=false\nskipACL=yes\n"
		   "4lw.commands.whitelist=ruok,srvr,mntr,stat,conf\n"
		   "autopurge.snapRetainCount=%lld\nautopurge.purgeInterval=%lld\n",
		   (long long)util_json_get_int(c->spec, "zookeeper.autopurge.snapRetainCount", 3),
		   (long long)util_json_get_int(c->spec, "zookeeper.autopurge.purgeInterval", 1));
	return ph_take_text(c, &b);
}

int ph_zookeeper_server(const char *name, int id, bool observer, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "server.%d=%s-zookeeper-%d.%s-zookeeper-headless:2888:3888:%s;%d",
			 id, name, id - 1, name, observer ? "observer" : "participant",
			 PH_ZOOKEEPER_CLIENT_PORT);

	return n < 0 || (size_t)n >= outsz ? -ENOSPC : 0;
}

/* The members of a fresh ensemble: servers 1..replicas. */
static char *zoo_cfg_dynamic(struct ph_ctx *c)
{
	int64_t n = util_json_get_int(c->spec, "zookeeper.replicas", 3);
	char line[256];
	struct buf b;

	buf_init(&b, 1 << 16);
	for (int i = 1; i <= n; i++)
		if (ph_zookeeper_server(c->name, i, false, line, sizeof(line)) == 0)
			buf_putf(&b, "%s\n", line);
	return ph_take_text(c, &b);
}

/*
 * start.sh: the static file is the ConfigMap's on every start; the dynamic
 * one is ZooKeeper's own once this server is a member (ZooKeeper rewrites
 * it, and the static file's dynamicConfigFile line, on every reconfig).
 * A server that is not a member yet (a new pod, or one whose join was not
 * committed) asks the running servers for the committed members ("conf")
 * and lists itself as an observer: the manual's way for a joiner, which
 * cannot form a quorum of its own. Only when no server answers is this a
 * fresh ensemble, started with the ConfigMap's members.
 */
static char *start_script(const struct ph_ctx *c)
{
	return util_xasprintf(
		"#!/bin/bash\n"
		"set -eu\n"
		"ord=${HOSTNAME##*-}\n"
		"id=$((ord + 1))\n"
		"mkdir -p /data/log\n"
		"echo \"$id\" > /data/myid\n"
		"dyn=$(sed -n 's/^dynamicConfigFile=//p' /data/zoo.cfg 2>/dev/null | tail -n 1)\n"
		"if [ -z \"$dyn\" ] || [ ! -f \"$dyn\" ] || ! grep -q \"^server\\.$id=\" \"$dyn\"; then\n"
		"  members=\"\"\n"
		"  for ((i = 0; i < %d; i++)); do\n"
		"    [ \"$i\" = \"$ord\" ] && continue\n"
		"    members=$(timeout 3 bash -c \"exec 3<>/dev/tcp/%s-zookeeper-$i.%s-zookeeper-headless/%d; "
		"printf conf >&3; cat <&3\" 2>/dev/null | grep '^server\\.' || true)\n"
		"    [ -n \"$members\" ] && break\n"
		"  done\n"
		"  dyn=/data/zoo.cfg.dynamic\n"
		"  if [ -n \"$members\" ]; then\n"
		"    printf '%%s\\n' \"$members\" > \"$dyn\"\n"
		"    grep -q \"^server\\.$id=\" \"$dyn\" ||\n"
		"      echo \"server.$id=$HOSTNAME.%s-zookeeper-headless:2888:3888:observer;%d\" >> \"$dyn\"\n"
		"  else\n"
		"    cp /config/zoo.cfg.dynamic \"$dyn\"\n"
		"  fi\n"
		"fi\n"
		"cp /config/zoo.cfg /data/zoo.cfg\n"
		"echo \"dynamicConfigFile=$dyn\" >> /data/zoo.cfg\n"
		"exec zkServer.sh start-foreground /data/zoo.cfg\n",
		PH_ZOOKEEPER_MAX_SERVERS, c->name, c->name,
		PH_ZOOKEEPER_CLIENT_PORT, c->name, PH_ZOOKEEPER_CLIENT_PORT);
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
	ph_push_str(cmd, "/config/start.sh");
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
	ph_add_mount(mounts, "config", "/config");
	/* Ready once the server serves (srvr names its mode: leader,
	 * follower, a joiner as a non-voting follower); the pods start in
	 * parallel so quorum can form. */
	probe = ph_add_obj(ct, "readinessProbe");
	cmd = ph_add_arr(ph_add_obj(probe, "exec"), "command");
	ph_push_str(cmd, "/bin/bash");
	ph_push_str(cmd, "-c");
	ph_push_str(cmd, "exec 3<>/dev/tcp/127.0.0.1/2181 && printf srvr >&3 && grep -q '^Mode: ' <&3");
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
	char *cfg = zoo_cfg(c), *dyn = zoo_cfg_dynamic(c), *script = start_script(c);
	char *all = util_xasprintf("%s\n%s", cfg, script);
	cJSON *cm, *data;

	ph_name(c, "zookeeper", name, sizeof(name));
	ph_name(c, "zookeeper-headless", hl, sizeof(hl));
	/* The members of a fresh ensemble are not part of the hash: a
	 * membership change goes through reconfig, not a rolling restart. */
	snprintf(hash, sizeof(hash), "%016llx",
		 (unsigned long long)util_fnv1a64(all, strlen(all)));
	free(all);
	cm = ph_object(c, "v1", "ConfigMap", name, "zookeeper", "zookeeper", -1);
	data = ph_add_obj(cm, "data");
	ph_add_str(data, "zoo.cfg", cfg);
	ph_add_str(data, "zoo.cfg.dynamic", dyn);
	ph_add_str(data, "start.sh", script);
	free(cfg);
	free(dyn);
	free(script);
	ph_emit(c, "zookeeper", -1, cm);
	ph_emit(c, "zookeeper", -1, service(c, hl, true));
	ph_emit(c, "zookeeper", -1, service(c, name, false));
	ph_emit(c, "zookeeper", -1,
		ph_component_statefulset(c, name, "zookeeper", util_json_get_int(c->spec, "zookeeper.replicas", 3),
					 hash, container(c), ZK_UID, 0));
	ph_emit(c, "zookeeper", -1, ph_pdb(c, name, "zookeeper", "zookeeper", -1,
					    ph_selector(c, "zookeeper", "zookeeper", -1)));
}
