/*
 * The migrate Job: PostHog's own migrations (Postgres, ClickHouse, the
 * async-migration checks), run the way PostHog's Helm chart ran them
 * (charts-clickhouse templates/migrate.job.yaml): the app image, the
 * version matrix row's command, PRIMARY_DB=clickhouse, straight to
 * Postgres. The reconciler runs it after ZooKeeper, Kafka and ClickHouse
 * are ready and holds every plugin-server back until it has completed.
 *
 * Its name carries the version (ph_migrate_job_name), so a version runs
 * its migrations once: the completed Job stays (no TTL) and is the record,
 * and a new spec.version gets a new Job before the plugin-servers roll.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

/* The app image runs as root by default; the chart set no user. */
#define MIGRATE_UID 0

int ph_migrate_job_name(const char *name, const char *version, char *out,
			size_t outsz)
{
	char v[64];
	size_t i, n = 0;
	bool changed = false;
	int w;

	if (!name || !version || !version[0])
		return -EINVAL;
	/* Lowercase letters, digits, '-' and '.': a DNS subdomain and a
	 * label value (the Job's pods carry job-name=<name>). */
	for (i = 0; version[i] && n < sizeof(v) - 1; i++) {
		char ch = version[i];

		if (ch >= 'A' && ch <= 'Z') {
			ch = (char)(ch - 'A' + 'a');
			changed = true;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			     ch == '-' || ch == '.')) {
			ch = '-';
			changed = true;
		}
		v[n++] = ch;
	}
	v[n] = '\0';
	if (version[i] || changed || n > 16) {
		/* Too long or altered: a prefix plus a hash of the exact
		 * version keeps names distinct. */
		unsigned long long h = util_fnv1a64(version, strlen(version)) & 0xffffffffULL;

		w = snprintf(out, outsz, "%s-migrate-%.7s-%08llx", name, v, h);
	} else {
		w = snprintf(out, outsz, "%s-migrate-%s", name, v);
	}
	if (w < 0 || (size_t)w >= outsz)
		return -ENOSPC;
	/* A trailing '.' or '-' is no valid name end. */
	while (w > 0 && (out[w - 1] == '.' || out[w - 1] == '-'))
		out[--w] = '\0';
	return 0;
}

static cJSON *container(const struct ph_ctx *c, const struct ph_version *row,
			const char *version)
{
	cJSON *ct = PH_NN(cJSON_CreateObject());
	cJSON *env, *cmd, *res, *req;
	const char *const *a;
	char *img = util_xasprintf("%s:%s", row->app_image, row->app_tag ? row->app_tag : version);

	ph_add_str(ct, "name", "migrate");
	ph_add_str(ct, "image", img);
	free(img);
	ph_add_str(ct, "imagePullPolicy", ph_pull_policy(c->spec, "pluginServer"));
	cmd = ph_add_arr(ct, "command");
	for (a = row->migrate_command; *a; a++)
		ph_push_str(cmd, *a);
	env = ph_add_arr(ct, "env");
	ph_env(env, "PRIMARY_DB", "clickhouse");
	ph_kafka_env(c, env);
	ph_clickhouse_env(c, env);
	ph_datastore_env(c, env);
	ph_env_merge(env, util_json_get(c->spec, "pluginServer.env"));
	res = ph_add_obj(ct, "resources");
	req = ph_add_obj(res, "requests");
	ph_add_str(req, "cpu", "100m");
	ph_add_str(req, "memory", "512Mi");
	ph_add_str(ph_add_obj(res, "limits"), "memory", "2Gi");
	return ct;
}

void ph_build_migrate(struct ph_ctx *c)
{
	const char *version = util_json_get_str(c->spec, "version", "");
	const struct ph_version *row = ph_version_or_fallback(version);
	cJSON *o, *spec, *tpl, *md, *ps, *sel;
	char name[128];

	if (ph_migrate_job_name(c->name, version, name, sizeof(name)) != 0)
		abort(); /* validated: name and version fit */
	sel = ph_selector(c, "posthog", "migrate", -1);
	o = ph_object(c, "batch/v1", "Job", name, "posthog", "migrate", -1);
	ph_add_str(ph_add_obj(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "annotations"),
		   "posthog.com/version", version);
	spec = ph_add_obj(o, "spec");
	/* One retry: a migration that fails twice needs a human, and the
	 * reconciler then reports the log's tail. */
	ph_add_int(spec, "backoffLimit", 1);
	ph_add_int(spec, "activeDeadlineSeconds", 3600);
	tpl = ph_add_obj(spec, "template");
	md = ph_add_obj(tpl, "metadata");
	cJSON_AddItemToObject(md, "labels", ph_labels(c, "posthog", "migrate", -1));
	ps = ph_add_obj(tpl, "spec");
	ph_add_str(ps, "restartPolicy", "Never");
	ph_push(ph_add_arr(ps, "containers"), container(c, row, version));
	ph_pod_common(c, ps, util_json_get(c->spec, "pluginServer.pod"), sel, MIGRATE_UID);
	/* The Job runs once; spreading it across nodes means nothing. */
	cJSON_DeleteItemFromObjectCaseSensitive(ps, "affinity");
	cJSON_Delete(sel);
	ph_emit(c, "migrate", -1, o);
}
