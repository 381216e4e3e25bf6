/*
 * `upgrade NAME --to VERSION --dry-run`: the plan an upgrade runs, in the
 * project's rolling order (docs/kubectl-plugin.md): ZooKeeper followers,
 * then the leader, so that the ensemble elects a new leader once; Kafka
 * brokers; ClickHouse replicas shard by shard; PostHog's migrations, once
 * the servers run; then the plugin-servers bucket by bucket, so that one
 * bucket's consumers at a time run the new code. The objects, their replica
 * counts and their images come from the operator's own builders (ph_build)
 * run on the current spec and on the spec with spec.version = VERSION, so
 * the plan names exactly what the operator would write. Which ZooKeeper
 * server leads is only known when the upgrade runs (it asks each server);
 * the plan says the leader goes last rather than guessing which pod it is.
 * Pods of a StatefulSet go from the highest ordinal down, as the
 * StatefulSet controller's RollingUpdate does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/posthog/posthog.h"
#include "plugin-private.h"

static const char *const order[] = {"zookeeper", "kafka", "clickhouse", "migrate",
				    "plugin-server", NULL};

/* The first container's image of a built object, or "". */
static const char *image_of(const cJSON *obj)
{
	const cJSON *c = cJSON_GetArrayItem(kp_get(obj, "spec.template.spec.containers"), 0);

	return kp_str(c, "image") ? kp_str(c, "image") : "";
}

/* The entry of entries whose object has obj's kind and name, or the
 * first of the same stage, kind and bucket (a migrate Job is named after
 * its version). */
static const cJSON *counterpart(const cJSON *entries, const cJSON *e)
{
	const cJSON *x, *obj = kp_get(e, "object"), *same_stage = NULL;
	const char *kind = kp_str(obj, "kind"), *name = kp_str(obj, "metadata.name");

	cJSON_ArrayForEach(x, entries) {
		const cJSON *o = kp_get(x, "object");

		if (!kind || !name || !kp_str(o, "kind") || strcmp(kp_str(o, "kind"), kind))
			continue;
		if (kp_str(o, "metadata.name") && !strcmp(kp_str(o, "metadata.name"), name))
			return x;
		if (!same_stage && !strcmp(kp_str(x, "stage"), kp_str(e, "stage")))
			same_stage = x;
	}
	return same_stage;
}

static cJSON *step(int n, const char *component, const cJSON *e, const char *target,
		   const char *action, const char *from, const char *to, const char *note)
{
	cJSON *s = cJSON_CreateObject();
	const cJSON *b = kp_get(e, "bucket");

	cJSON_AddNumberToObject(s, "step", n);
	cJSON_AddStringToObject(s, "component", component);
	if (cJSON_IsNumber(b))
		cJSON_AddNumberToObject(s, "bucket", b->valuedouble);
	cJSON_AddStringToObject(s, "object", kp_str(e, "object.metadata.name"));
	cJSON_AddStringToObject(s, "kind", kp_str(e, "object.kind"));
	cJSON_AddStringToObject(s, "target", target);
	cJSON_AddStringToObject(s, "action", action);
	cJSON_AddStringToObject(s, "imageFrom", from);
	cJSON_AddStringToObject(s, "imageTo", to);
	cJSON_AddBoolToObject(s, "changes", strcmp(from, to) != 0);
	if (note)
		cJSON_AddStringToObject(s, "note", note);
	return s;
}

/* The steps of one built entry; returns the next step number. */
static int entry_steps(cJSON *steps, int n, const char *stage, const cJSON *e,
		       const cJSON *now_entries)
{
	const cJSON *obj = kp_get(e, "object"), *cur = counterpart(now_entries, e);
	const char *kind = kp_str(obj, "kind"), *to = image_of(obj);
	const char *from = cur ? image_of(kp_get(cur, "object")) : "";
	int replicas = (int)kp_num(kp_get(obj, "spec.replicas"));
	char pod[320];

	if (!kind)
		return n;
	if (!strcmp(stage, "migrate") && !strcmp(kind, "Job")) {
		cJSON_AddItemToArray(steps, step(n, "migrations", e, kp_str(obj, "metadata.name"),
						 "run the migrate Job", from, to, NULL));
		return n + 1;
	}
	if (!strcmp(kind, "Deployment") && !strcmp(stage, "plugin-server")) {
		cJSON_AddItemToArray(steps, step(n, "plugin-server", e, kp_str(obj, "metadata.name"),
						 "roll the Deployment", from, to, NULL));
		return n + 1;
	}
	if (strcmp(kind, "StatefulSet"))
		return n;
	for (int i = replicas - 1; i >= 0; i--) {
		snprintf(pod, sizeof(pod), "%s-%d", kp_str(obj, "metadata.name"), i);
		cJSON_AddItemToArray(steps, step(n++, stage, e, pod, "restart the pod", from, to,
			!strcmp(stage, "zookeeper") && replicas > 1
			? "followers first; the leader, found by asking each server when the upgrade runs, goes last"
			: NULL));
	}
	return n;
}

static cJSON *spec_with_version(const cJSON *ph, const char *to)
{
	cJSON *copy = cJSON_Duplicate(ph, 1), *spec = cJSON_GetObjectItemCaseSensitive(copy, "spec");

	if (cJSON_IsObject(spec)) {
		cJSON_DeleteItemFromObjectCaseSensitive(spec, "version");
		cJSON_AddStringToObject(spec, "version", to);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "status");
	return copy;
}

static int build_problem(const cJSON *ph, char *err, size_t errlen)
{
	cJSON *problems = NULL;
	const cJSON *p;

	if (ph_validate(ph, &problems) == 0) {
		snprintf(err, errlen, "the operator's builders refused the PostHog");
		return -EINVAL;
	}
	p = cJSON_GetArrayItem(problems, 0);
	snprintf(err, errlen, "%s: %s", kp_str(p, "field") ? kp_str(p, "field") : "spec",
		 kp_str(p, "message") ? kp_str(p, "message") : "invalid");
	cJSON_Delete(problems);
	return -EINVAL;
}

int kp_upgrade_plan(const cJSON *ph, const char *to, cJSON **out, char *err, size_t errlen)
{
	const char *from = kp_str(ph, "spec.version");
	cJSON *target = NULL, *now_entries = NULL, *new_entries = NULL, *plan, *steps;
	char list[1024];
	const cJSON *e;
	int n = 1, r;

	if (!ph_version_find(to)) {
		if (ph_version_list(list, sizeof(list)))
			snprintf(list, sizeof(list), "see docs/versions.md");
		snprintf(err, errlen, "--to: %s is not in the version matrix (supported: %s)", to, list);
		return -EINVAL;
	}
	if (ph_build(ph, &now_entries))
		return build_problem(ph, err, errlen);
	target = spec_with_version(ph, to);
	if ((r = ph_build(target, &new_entries))) {
		r = build_problem(target, err, errlen);
		cJSON_Delete(target);
		cJSON_Delete(now_entries);
		return r;
	}
	plan = cJSON_CreateObject();
	cJSON_AddStringToObject(plan, "name", kp_str(ph, "metadata.name"));
	cJSON_AddStringToObject(plan, "from", from ? from : "");
	cJSON_AddStringToObject(plan, "to", to);
	cJSON_AddBoolToObject(plan, "noop", from && !strcmp(from, to));
	cJSON_AddStringToObject(plan, "source", "kubectl-posthog (the documented order, objects from the operator's builders)");
	steps = cJSON_AddArrayToObject(plan, "steps");
	for (int s = 0; order[s]; s++) {
		cJSON_ArrayForEach(e, new_entries) {
			if (kp_str(e, "stage") && !strcmp(kp_str(e, "stage"), order[s]))
				n = entry_steps(steps, n, order[s], e, now_entries);
		}
	}
	cJSON_Delete(target);
	cJSON_Delete(now_entries);
	cJSON_Delete(new_entries);
	*out = plan;
	return 0;
}

int kp_upgrade_text(const cJSON *plan, bool color, struct buf *out)
{
	const cJSON *s;
	int r = buf_printf(out, "Upgrade plan for %s: %s -> %s (dry run, nothing changed)\n",
			   kp_str(plan, "name"), kp_str(plan, "from"), kp_str(plan, "to"));

	if (cJSON_IsTrue(kp_get(plan, "noop")))
		r = r ? r : buf_append_str(out, "  spec.version is already the target: nothing to do\n");
	cJSON_ArrayForEach(s, kp_get(plan, "steps")) {
		bool ch = cJSON_IsTrue(kp_get(s, "changes"));

		r = r ? r : buf_printf(out, "  %3d. %-14s %-40s %s: ", (int)kp_num(kp_get(s, "step")),
				       kp_str(s, "component"), kp_str(s, "target"), kp_str(s, "action"));
		if (ch)
			r = r ? r : buf_printf(out, "%s -> ", kp_str(s, "imageFrom"));
		r = r ? r : kp_paint(out, color, ch ? KP_YELLOW : KP_DIM, kp_str(s, "imageTo"));
		r = r ? r : buf_append_str(out, ch ? "\n" : " (unchanged)\n");
		if (kp_str(s, "note"))
			r = r ? r : buf_printf(out, "       %s\n", kp_str(s, "note"));
	}
	return r;
}
