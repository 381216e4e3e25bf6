/*
 * The partition move Job (posthog.h, ph_kafka_move_job). Its script uses
 * the Kafka image's own tools; the option names and the output it reads
 * ("Proposed partition reassignment configuration", "still in progress")
 * are those of apache/kafka's
 * tools/src/main/java/org/apache/kafka/tools/reassign/ReassignPartitionsCommand.java.
 * --verify also clears the throttles once every move has completed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

#define MOVE_UID 1000 /* the Kafka image's appuser */

static const char move_script[] =
	"set -eu\n"
	"bin=/opt/kafka/bin\n"
	"cd /tmp\n"
	"$bin/kafka-topics.sh --bootstrap-server \"$BOOTSTRAP\" --describe > before.txt\n"
	"max=$(sed -n 's/.*ReplicationFactor: *\\([0-9]*\\).*/\\1/p' before.txt | sort -n | tail -n 1)\n"
	"if [ -n \"$max\" ] && [ \"$max\" -gt \"$TARGET\" ]; then\n"
	"  echo \"spec.kafka.brokers $TARGET is below the replication factor $max of an existing topic\" >&2\n"
	"  exit 3\n"
	"fi\n"
	"$bin/kafka-topics.sh --bootstrap-server \"$BOOTSTRAP\" --list > topics.txt\n"
	"printf '{\"version\":1,\"topics\":[' > move.json\n"
	"sep=''\n"
	"while read -r t; do\n"
	"  [ -n \"$t\" ] || continue\n"
	"  printf '%s{\"topic\":\"%s\"}' \"$sep\" \"$t\" >> move.json\n"
	"  sep=,\n"
	"done < topics.txt\n"
	"printf ']}\\n' >> move.json\n"
	"$bin/kafka-reassign-partitions.sh --bootstrap-server \"$BOOTSTRAP\" --generate \\\n"
	"  --topics-to-move-json-file move.json --broker-list \"$KEEP\" > plan.txt\n"
	"sed -n '/^Proposed partition reassignment configuration/{n;p;}' plan.txt > proposed.json\n"
	"if [ -s proposed.json ]; then\n"
	"  $bin/kafka-reassign-partitions.sh --bootstrap-server \"$BOOTSTRAP\" --execute \\\n"
	"    --reassignment-json-file proposed.json --throttle \"$THROTTLE\"\n"
	"  while :; do\n"
	"    $bin/kafka-reassign-partitions.sh --bootstrap-server \"$BOOTSTRAP\" --verify \\\n"
	"      --reassignment-json-file proposed.json > verify.txt\n"
	"    grep -q 'still in progress' verify.txt || break\n"
	"    echo \"$(grep -c 'still in progress' verify.txt) partitions still moving\"\n"
	"    sleep 10\n"
	"  done\n"
	"fi\n"
	"$bin/kafka-topics.sh --bootstrap-server \"$BOOTSTRAP\" --describe > after.txt\n"
	"for id in ${REMOVED:-}; do\n"
	"  if awk -v id=\"$id\" '{ for (i = 1; i < NF; i++) if ($i == \"Replicas:\") {\n"
	"        n = split($(i + 1), r, \",\"); for (j = 1; j <= n; j++) if (r[j] == id) f = 1 } }\n"
	"      END { exit !f }' after.txt; then\n"
	"    echo \"broker $id still holds partition replicas\" >&2\n"
	"    exit 4\n"
	"  fi\n"
	"done\n"
	"echo \"every partition replica is on brokers $KEEP\"\n";

static char *id_list(int from, int to, const char *sep)
{
	char *s = util_xasprintf("%s", "");

	for (int i = from; i < to; i++) {
		char *n = util_xasprintf("%s%s%d", s, i > from ? sep : "", i);

		free(s);
		s = n;
	}
	return s;
}

static cJSON *move_container(const struct ph_ctx *c, int from, int to)
{
	cJSON *ct = PH_NN(cJSON_CreateObject()), *cmd, *env;
	char *img = ph_image(c->spec, "kafka"), *keep = id_list(0, to, ","),
	     *removed = id_list(to, from, " "), *n;
	char boot[1024];

	ph_add_str(ct, "name", "move");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "kafka"));
	cmd = ph_add_arr(ct, "command");
	ph_push_str(cmd, "/bin/sh");
	ph_push_str(cmd, "-c");
	ph_push_str(cmd, move_script);
	env = ph_add_arr(ct, "env");
	if (ph_kafka_bootstrap(c->name, c->ns, c->spec, boot, sizeof(boot)) != 0)
		boot[0] = '\0';
	ph_env(env, "BOOTSTRAP", boot);
	ph_env(env, "KEEP", keep);
	/* The API server drops an empty value: leave the variable out then,
	 * so that the applied Job equals its desired form. */
	if (removed[0])
		ph_env(env, "REMOVED", removed);
	n = util_xasprintf("%d", to);
	ph_env(env, "TARGET", n);
	free(n);
	n = util_xasprintf("%d", PH_KAFKA_MOVE_THROTTLE);
	ph_env(env, "THROTTLE", n);
	free(n);
	free(keep);
	free(removed);
	return ct;
}

int ph_kafka_move_job(const cJSON *posthog, const char *name, int from, int to, cJSON **job)
{
	struct ph_ctx c = {.posthog = posthog};
	cJSON *problems, *o, *spec, *tpl, *ps, *sel;

	if (!name || from < 1 || to < 1 || ph_validate(posthog, &problems) != 0) {
		if (from >= 1 && to >= 1 && name)
			cJSON_Delete(problems);
		return -EINVAL;
	}
	c.name = util_json_get_str(posthog, "metadata.name", NULL);
	c.ns = util_json_get_str(posthog, "metadata.namespace", NULL);
	c.uid = util_json_get_str(posthog, "metadata.uid", NULL);
	if (ph_normalize(posthog, &c.spec) != 0)
		return -EINVAL;
	o = ph_object(&c, "batch/v1", "Job", name, "kafka", "reassign", -1);
	spec = ph_add_obj(o, "spec");
	ph_add_int(spec, "backoffLimit", 2);
	tpl = ph_add_obj(spec, "template");
	cJSON_AddItemToObject(ph_add_obj(tpl, "metadata"), "labels",
			      ph_labels(&c, "kafka", "reassign", -1));
	ps = ph_add_obj(tpl, "spec");
	ph_add_str(ps, "restartPolicy", "Never");
	ph_push(ph_add_arr(ps, "containers"), move_container(&c, from, to));
	sel = ph_selector(&c, "kafka", "reassign", -1);
	ph_pod_common(&c, ps, util_json_get(c.spec, "kafka.pod"), sel, MOVE_UID);
	cJSON_Delete(sel);
	cJSON_Delete(c.spec);
	*job = o;
	return 0;
}
