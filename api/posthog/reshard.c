/*
 * The reshard plan, its Job and its status (reshard.h). The Job runs the
 * operator's own image: `posthog-operator reshard` (pkg/reshard) with the
 * progress document in ClickHouse, where the reconciler reads it, so the
 * Job needs no Kubernetes credentials; the ClickHouse password comes from
 * the Secret through the environment, never the command line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"
#include "reshard.h"

/* The operator image's user (Dockerfile: USER 65532:65532). */
#define RESHARD_UID 65532

static int num(const cJSON *o, const char *key, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valueint : def;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void ph_reshard_set(cJSON *plan, const char *key, const char *value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(plan, key);
	if (value)
		PH_NN(cJSON_AddStringToObject(plan, key, value));
}

void ph_reshard_set_num(cJSON *plan, const char *key, double value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(plan, key);
	PH_NN(cJSON_AddNumberToObject(plan, key, value));
}

bool ph_reshard_active(const cJSON *plan)
{
	const char *phase = str(plan, "phase");

	return cJSON_IsObject(plan) && phase && strcmp(phase, "Done") != 0;
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

cJSON *ph_reshard_plan(const cJSON *old, int had, int want, const char *now)
{
	bool active = ph_reshard_active(old);
	int holding = active ? max_int(num(old, "from", 0), num(old, "to", 0)) : had;
	cJSON *p;

	if (active && num(old, "to", 0) == want)
		return PH_NN(cJSON_Duplicate(old, 1));
	if (!active && (had < 1 || want == had))
		return cJSON_IsObject(old) ? PH_NN(cJSON_Duplicate(old, 1)) : NULL;
	if (holding < 1 || want < 1)
		return NULL;
	p = PH_NN(cJSON_CreateObject());
	ph_add_int(p, "from", holding);
	ph_add_int(p, "to", want);
	ph_add_str(p, "phase", "Pending");
	ph_add_int(p, "attempts", 0);
	ph_add_str(p, "startedAt", now ? now : "");
	return p;
}

int ph_reshard_keep_shards(const cJSON *plan)
{
	if (!ph_reshard_active(plan))
		return 0;
	return max_int(num(plan, "from", 0), num(plan, "to", 0));
}

int ph_reshard_job_name(const char *name, const cJSON *plan, char *out, size_t outsz)
{
	int n;

	if (!name || !cJSON_IsObject(plan))
		return -EINVAL;
	n = snprintf(out, outsz, "%s-reshard-%d-%d-%d", name, num(plan, "from", 0),
		     num(plan, "to", 0), num(plan, "attempts", 0));
	return n < 0 || (size_t)n >= outsz ? -ENOSPC : 0;
}

static void arg(cJSON *args, const char *flag, const char *value)
{
	ph_push_str(args, flag);
	if (value)
		ph_push_str(args, value);
}

static void shard_args(const struct ph_ctx *c, cJSON *args, int shards)
{
	for (int s = 0; s < shards; s++) {
		char svc[96], *host, *v;

		snprintf(svc, sizeof(svc), "%s-clickhouse-%d-0", c->name, s);
		host = ph_svc_host(c, svc);
		v = util_xasprintf("http://%s:%d,%s:%d", host, PH_CLICKHOUSE_HTTP_PORT, host,
				   PH_CLICKHOUSE_NATIVE_PORT);
		arg(args, "--shard", v);
		free(v);
		free(host);
	}
}

static cJSON *container(const struct ph_ctx *c, const struct ph_build_options *opts,
			const cJSON *plan)
{
	cJSON *ct = PH_NN(cJSON_CreateObject()), *args, *env, *res;
	long long rows = (long long)util_json_get_int(c->spec, "clickhouse.reshard.maxRowsPerSecond", 0);
	long long bytes = (long long)util_json_get_int(c->spec, "clickhouse.reshard.maxBytesPerSecond", 0);
	char n[32];

	ph_add_str(ct, "name", "reshard");
	ph_add_str(ct, "image", opts && opts->router_image ? opts->router_image
							  : PH_ROUTER_DEFAULT_IMAGE);
	/* The command prints its JSON result last: on failure it becomes
	 * the termination message the reconciler shows. */
	ph_add_str(ct, "terminationMessagePolicy", "FallbackToLogsOnError");
	args = ph_add_arr(ct, "args");
	ph_push_str(args, "reshard");
	snprintf(n, sizeof(n), "%d", num(plan, "to", 1));
	arg(args, "--shards", n);
	shard_args(c, args, max_int(num(plan, "from", 1), num(plan, "to", 1)));
	arg(args, "--progress-clickhouse", NULL);
	arg(args, "--database", util_json_get_str(c->spec, "clickhouse.database", "posthog"));
	arg(args, "--cluster", util_json_get_str(c->spec, "clickhouse.cluster", "posthog"));
	if (rows > 0) {
		snprintf(n, sizeof(n), "%lld", rows);
		arg(args, "--max-rows-per-second", n);
	}
	if (bytes > 0) {
		snprintf(n, sizeof(n), "%lld", bytes);
		arg(args, "--max-bytes-per-second", n);
	}
	env = ph_add_arr(ct, "env");
	ph_env(env, "CLICKHOUSE_USER", util_json_get_str(c->spec, "clickhouse.user", "admin"));
	ph_env_secret(env, "CLICKHOUSE_PASSWORD",
		      util_json_get_str(c->spec, "clickhouse.passwordSecret.name", ""),
		      util_json_get_str(c->spec, "clickhouse.passwordSecret.key", "password"));
	res = ph_add_obj(ct, "resources");
	ph_add_str(ph_add_obj(res, "requests"), "cpu", "50m");
	ph_add_str(cJSON_GetObjectItemCaseSensitive(res, "requests"), "memory", "64Mi");
	ph_add_str(ph_add_obj(res, "limits"), "memory", "512Mi");
	return ct;
}

int ph_reshard_job(const cJSON *posthog, const struct ph_build_options *opts,
		   const cJSON *plan, cJSON **job)
{
	struct ph_ctx c;
	cJSON *o, *spec, *tpl, *ps, *sel;
	char name[256];

	if (!cJSON_IsObject(plan) || ph_ctx_open(&c, posthog, NULL) != 0)
		return -EINVAL;
	if (ph_is_external(c.spec, "clickhouse") ||
	    ph_reshard_job_name(c.name, plan, name, sizeof(name)) != 0) {
		cJSON_Delete(c.spec);
		return -EINVAL;
	}
	sel = ph_selector(&c, "clickhouse", "reshard", -1);
	o = ph_object(&c, "batch/v1", "Job", name, "clickhouse", "reshard", -1);
	spec = ph_add_obj(o, "spec");
	/* A pod that dies is retried twice by the Job itself (a kill is
	 * safe: the next pod resumes from the progress); after that the
	 * reconciler reports the failure and starts a new Job after a
	 * backoff. */
	ph_add_int(spec, "backoffLimit", 2);
	tpl = ph_add_obj(spec, "template");
	cJSON_AddItemToObject(ph_add_obj(tpl, "metadata"), "labels",
			      ph_labels(&c, "clickhouse", "reshard", -1));
	ps = ph_add_obj(tpl, "spec");
	ph_add_str(ps, "restartPolicy", "Never");
	ph_push(ph_add_arr(ps, "containers"), container(&c, opts, plan));
	ph_pod_common(&c, ps, NULL, sel, RESHARD_UID);
	cJSON_DeleteItemFromObjectCaseSensitive(ps, "affinity");
	cJSON_Delete(sel);
	cJSON_Delete(c.spec);
	*job = o;
	return 0;
}

static int rank(const char *state)
{
	static const char *const order[] = {"pending", "copying", "copied", "verified",
					    "attaching", "attached", "deleting", "done"};

	for (size_t i = 0; state && i < sizeof(order) / sizeof(order[0]); i++)
		if (!strcmp(order[i], state))
			return (int)i;
	return -1;
}

static void clear_progress(cJSON *plan)
{
	static const char *const keys[] = {"progressPhase", "unitsTotal", "unitsDone",
					   "rowsMoved", "units"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(plan, keys[i]);
}

static cJSON *unit_status(const cJSON *u)
{
	cJSON *o = PH_NN(cJSON_CreateObject());

	ph_add_str(o, "id", str(u, "id") ? str(u, "id") : "");
	ph_add_str(o, "table", str(u, "table") ? str(u, "table") : "");
	ph_add_str(o, "partition", str(u, "partitionId") ? str(u, "partitionId") : "");
	ph_add_int(o, "source", num(u, "source", 0));
	ph_add_int(o, "target", num(u, "target", 0));
	ph_add_str(o, "state", str(u, "state") ? str(u, "state") : "pending");
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(u, "rows")))
		ph_add_int(o, "rows", (int64_t)cJSON_GetObjectItemCaseSensitive(u, "rows")->valuedouble);
	return o;
}

void ph_reshard_progress(cJSON *plan, const cJSON *progress)
{
	const cJSON *u;
	cJSON *units;
	int to = num(plan, "to", 0), total = 0, done = 0;
	double moved = 0;

	clear_progress(plan);
	if (!cJSON_IsObject(progress))
		return;
	units = ph_add_arr(plan, "units");
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(progress, "units")) {
		int r = rank(str(u, "state"));
		const cJSON *rows = cJSON_GetObjectItemCaseSensitive(u, "rows");

		if (num(u, "modulus", -1) != to)
			continue;
		total++;
		done += r == 7;
		if (r >= 5 && cJSON_IsNumber(rows))
			moved += rows->valuedouble;
		if (total <= PH_RESHARD_MAX_UNITS)
			ph_push(units, unit_status(u));
	}
	ph_add_str(plan, "progressPhase", str(progress, "phase") ? str(progress, "phase") : "");
	ph_add_int(plan, "unitsTotal", total);
	ph_add_int(plan, "unitsDone", done);
	ph_add_int(plan, "rowsMoved", (int64_t)moved);
	if (str(progress, "message") && str(progress, "message")[0])
		ph_reshard_set(plan, "message", str(progress, "message"));
}

bool ph_reshard_progress_done(const cJSON *plan, const cJSON *progress)
{
	const char *phase = str(progress, "phase");

	return phase && !strcmp(phase, "Done") && num(progress, "modulus", -1) == num(plan, "to", -2);
}

unsigned ph_reshard_backoff_s(int attempts)
{
	unsigned s = 30;

	for (int i = 1; i < attempts && s < 600; i++)
		s *= 2;
	return s > 600 ? 600 : s;
}
