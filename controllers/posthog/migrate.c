/*
 * The migrate gate of a reconcile: PostHog's migrate Job (build_migrate.c)
 * runs once ZooKeeper, Kafka and ClickHouse are ready, and no plugin-server
 * is applied until it has completed. The condition "Migrated" says where
 * it stands. A failed Job is reported with the tail of its pod's log and
 * stops the rollout: the plugin-servers keep their previous version, and
 * since the failure is recorded as Degraded nothing is pruned either.
 * Deleting the failed Job (after fixing the cause), or changing
 * spec.version, lets the next reconcile run it again. An existing Job is
 * never updated: a Job's template is immutable, and the Job is the record
 * of the version's migrations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/buf/buf.h"
#include "controller-private.h"
#include "migrate.h"

/* How much of the log the condition carries. */
#define MIGRATE_LOG_LINES 20
#define MIGRATE_LOG_BYTES 2048

static void cond(struct phc_run *run, bool ok, const char *reason, const char *msg)
{
	phc_set_condition(run->conds, "Migrated", ok ? "True" : "False", reason, msg,
			  run->generation, run->now);
}

static void degrade(struct phc_run *run, const char *reason, const char *msg)
{
	if (!run->failed)
		phc_set_condition(run->conds, "Degraded", "True", reason, msg,
				  run->generation, run->now);
	run->failed = true;
}

/* The name of the newest pod of Job job ("" when there is none). */
static int job_pod(struct phc_run *run, const char *job, char *out, size_t outsz)
{
	struct buf body;
	char path[512];
	cJSON *list, *item, *newest = NULL;
	const char *best = "";
	int code = 0, r;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=job-name%%3D%s",
		 run->ns, job);
	buf_init(&body, 1 << 20);
	r = kube_raw(run->p->client, "GET", path, NULL, NULL, 0, &body, &code);
	if (r < 0 || code != 200) {
		buf_free(&body);
		return r < 0 ? r : kube_errno_from_http(code, NULL);
	}
	list = cJSON_Parse(buf_str(&body));
	buf_free(&body);
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(list, "items")) {
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
		const char *ts = util_json_str(md, "creationTimestamp");

		/* RFC 3339 UTC timestamps order as strings. */
		if (ts && (!newest || strcmp(ts, best) > 0)) {
			newest = item;
			best = ts;
		}
	}
	snprintf(out, outsz, "%s",
		 newest ? util_json_str(cJSON_GetObjectItemCaseSensitive(newest, "metadata"), "name") : "");
	cJSON_Delete(list);
	return 0;
}

/* The last lines of the Job's pod log into out, or why there are none. */
static void log_tail(struct phc_run *run, const char *job, char *out, size_t outsz)
{
	struct buf body;
	char pod[256], path[640];
	int code = 0, r;

	r = job_pod(run, job, pod, sizeof(pod));
	if (r < 0) {
		snprintf(out, outsz, "(its pods could not be listed: %s)", kube_strerror(r));
		return;
	}
	if (!pod[0]) {
		snprintf(out, outsz, "(no pod of the Job is left to read a log from)");
		return;
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/log?tailLines=%d&limitBytes=%d",
		 run->ns, pod, MIGRATE_LOG_LINES, MIGRATE_LOG_BYTES);
	buf_init(&body, MIGRATE_LOG_BYTES + 1024);
	r = kube_raw(run->p->client, "GET", path, NULL, NULL, 0, &body, &code);
	if (r < 0 || code != 200)
		snprintf(out, outsz, "(the log of pod %s could not be read: %s)", pod,
			 r < 0 ? kube_strerror(r) : kube_strerror(kube_errno_from_http(code, NULL)));
	else
		snprintf(out, outsz, "last lines of pod %s:\n%s", pod, buf_str(&body));
	buf_free(&body);
}

static void report_failed(struct phc_run *run, const cJSON *live, const char *job)
{
	const cJSON *c, *why = NULL;
	char tail[MIGRATE_LOG_BYTES + 512], msg[MIGRATE_LOG_BYTES + 1024];

	cJSON_ArrayForEach(c, util_json_get(live, "status.conditions"))
		if (!strcmp(util_json_str(c, "type") ? util_json_str(c, "type") : "", "Failed"))
			why = c;
	log_tail(run, job, tail, sizeof(tail));
	snprintf(msg, sizeof(msg),
		 "migrate Job %s failed (%s); the plugin-servers stay as they are. Fix the cause, "
		 "then delete the Job to run it again. %s",
		 job, why && util_json_str(why, "message") ? util_json_str(why, "message") : "no reason given",
		 tail);
	cond(run, false, "MigrationFailed", msg);
	degrade(run, "MigrationFailed", msg);
	log_write(run->p->log, LOG_WARN, &run->lf, "%s", msg);
}

int phc_run_migrate(struct phc_run *run, bool deps_ready, bool *done)
{
	cJSON *entry, *obj = NULL, *live = NULL;
	struct kube_status st = {0};
	const char *job;
	char msg[1200];
	bool wrote;
	int r;

	*done = false;
	cJSON_ArrayForEach(entry, run->desired)
		if (!strcmp(util_json_str(entry, "stage") ? util_json_str(entry, "stage") : "", "migrate"))
			obj = cJSON_GetObjectItemCaseSensitive(entry, "object");
	if (!obj) {
		*done = true;
		return 0;
	}
	job = util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name");
	live = informer_get(run->scope->children[PHC_JOB], run->ns, job);
	/* A new version migrates only once ZooKeeper, Kafka and ClickHouse
	 * are ready (every restart of the plan done, docs/upgrades.md). A
	 * restart of theirs later (a config change, a pod the restart plan
	 * holds) does not undo the version's completed migrations, so the
	 * plugin-servers do not wait for it. */
	if (!deps_ready && !phc_job_condition(live, "Complete")) {
		cJSON_Delete(live);
		cond(run, false, "WaitingForDependencies",
		     "the migrate Job waits for ZooKeeper, Kafka and ClickHouse");
		phc_requeue(run, PHC_POLL_MS);
		return 0;
	}
	/* The version's Job, once it exists, is left as it is: its template
	 * cannot change (a Job's is immutable), and its outcome is the record
	 * for this version. A later change of its environment (brokers,
	 * Secrets) reaches the next version's Job, or this one once it is
	 * deleted. */
	r = live ? 0 : phc_ensure(run, obj, &live, &wrote, &st);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "applying Job %s: %s", job,
			 st.message[0] ? st.message : kube_strerror(r));
		cond(run, false, "ApplyFailed", msg);
		degrade(run, "ApplyFailed", msg);
		return r;
	}
	if (phc_job_condition(live, "Complete")) {
		snprintf(msg, sizeof(msg), "PostHog %s migrated by Job %s",
			 util_json_str(run->spec, "version") ? util_json_str(run->spec, "version") : "", job);
		cond(run, true, "Migrated", msg);
		*done = true;
	} else if (phc_job_condition(live, "Failed")) {
		report_failed(run, live, job);
		phc_requeue(run, PHC_POLL_MS);
	} else {
		snprintf(msg, sizeof(msg), "migrate Job %s is running; plugin-servers wait for it", job);
		cond(run, false, "MigrationRunning", msg);
	}
	cJSON_Delete(live);
	return 0;
}
