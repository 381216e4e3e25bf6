/*
 * The reshard gate of a reconcile (docs/resharding.md): a change of
 * spec.clickhouse.shards starts a plan (api/posthog/reshard.h) kept in
 * status.reshard; a Job running `posthog-operator reshard` moves the rows;
 * the reconciler follows its progress document in ClickHouse (no watch
 * reports it, so a running plan is polled), shows it in status, the
 * Resharding condition, Events and metrics, retries a failed Job after a
 * backoff, and stops the Job while spec.clickhouse.reshard.paused is true.
 * The shards a plan empties keep their StatefulSets until it is done
 * (ph_build_options.clickhouse_keep_shards); nothing here deletes data.
 * At most one reshard Job of a PostHog runs at a time: a Job of an older
 * plan or attempt is deleted (Foreground, so that its pods go first) and
 * the next one is created only once it is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/reshard/reshard.h"
#include "api/posthog/reshard.h"
#include "controller-private.h"

/* How often a running plan's progress is read. */
#define RESHARD_POLL_MS 5000

void phc_reshard_prepare(struct phc_run *run)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(run->status, "reshard");
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(run->status, "clickhouseSchema");
	const cJSON *had = cJSON_GetObjectItemCaseSensitive(cs, "shards");
	int want = (int)util_json_num(cJSON_GetObjectItemCaseSensitive(run->spec, "clickhouse"), "shards", 1);

	cJSON_Delete(run->reshard);
	run->reshard = NULL;
	if (ph_is_external(run->spec, "clickhouse"))
		return;
	run->reshard = ph_reshard_plan(old, cJSON_IsNumber(had) ? had->valueint : -1, want, run->now);
}

int phc_reshard_keep_shards(const struct phc_run *run)
{
	return ph_reshard_keep_shards(run->reshard);
}

static void cond(struct phc_run *run, bool on, const char *reason, const char *msg)
{
	phc_set_condition(run->conds, "Resharding", on ? "True" : "False", reason, msg,
			  run->generation, run->now);
}

static const char *pstr(const cJSON *plan, const char *key)
{
	const char *s = util_json_str(plan, key);

	return s ? s : "";
}

static int pnum(const cJSON *plan, const char *key)
{
	return (int)util_json_num(plan, key, 0);
}

static void event(struct phc_run *run, const char *type, const char *reason, const char *msg)
{
	recorder_event(run->p->recorder, run->ph, type, reason, "Reshard", "%s", msg);
	log_write(run->p->log, strcmp(type, "Normal") ? LOG_WARN : LOG_INFO, &run->lf, "%s: %s",
		  reason, msg);
}

#define M_ROWS "posthog_reshard_rows_moved"
#define M_ROWS_HELP "Rows the current ClickHouse reshard plan has copied, verified and attached on their new shard."
#define M_UNITS "posthog_reshard_units"
#define M_UNITS_HELP "Move units (table, partition, source, target) of the current reshard plan."
#define M_UNITS_DONE "posthog_reshard_units_done"
#define M_UNITS_DONE_HELP "Move units of the current reshard plan whose rows are on their new shard only."
#define M_PHASE "posthog_reshard_phase"
#define M_PHASE_HELP "1 for the phase of the PostHog's ClickHouse reshard plan."

void phc_reshard_declare_metrics(struct metrics *m)
{
	/* On /metrics before the first reshard, for the dashboard. */
	(void)metrics_gauge_declare(m, M_ROWS, M_ROWS_HELP);
	(void)metrics_gauge_declare(m, M_UNITS, M_UNITS_HELP);
	(void)metrics_gauge_declare(m, M_UNITS_DONE, M_UNITS_DONE_HELP);
	(void)metrics_gauge_declare(m, M_PHASE, M_PHASE_HELP);
}

static void record_metrics(struct phc_run *run, const cJSON *plan)
{
	static const char *const phases[] = {"Pending", "Running", "Paused", "Failed", "Done"};
	const char *l[] = {"namespace", run->ns, "name", run->name, NULL};

	metrics_gauge_set(run->p->metrics, M_ROWS, M_ROWS_HELP, l, util_json_num(plan, "rowsMoved", 0));
	metrics_gauge_set(run->p->metrics, M_UNITS, M_UNITS_HELP, l, util_json_num(plan, "unitsTotal", 0));
	metrics_gauge_set(run->p->metrics, M_UNITS_DONE, M_UNITS_DONE_HELP, l,
			  util_json_num(plan, "unitsDone", 0));
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		const char *pl[] = {"namespace", run->ns, "name", run->name, "phase", phases[i], NULL};

		metrics_gauge_set(run->p->metrics, M_PHASE, M_PHASE_HELP, pl,
				  !strcmp(pstr(plan, "phase"), phases[i]));
	}
}

/* Deletes the Job (Foreground: the Job object goes after its pods).
 * Returns 0 or a negative errno (logged, in msg). */
static int delete_job(struct phc_run *run, const cJSON *job, char *msg, size_t msglen)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(job, "metadata");
	struct kube_delete_options del = {.propagation_policy = "Foreground",
					  .precondition_uid = util_json_str(md, "uid"),
					  .grace_period_seconds = -1};
	struct kube_status st = {0};
	int r;

	if (util_json_str(md, "deletionTimestamp"))
		return 0;
	r = kube_delete(run->p->client, &run->p->child_res[PHC_JOB], run->ns, util_json_str(md, "name"),
			&del, &st);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		snprintf(msg, msglen, "deleting reshard Job %s: %s", util_json_str(md, "name"),
			 st.message[0] ? st.message : kube_strerror(r));
	return r;
}

/*
 * Deletes every reshard Job of the PostHog other than keep (NULL: all)
 * that has not finished. *others tells whether any such Job (finished
 * or not, being deleted included) still exists, so that the caller
 * waits before it starts another.
 */
static int stop_other_jobs(struct phc_run *run, const char *keep, bool *others, char *msg,
			   size_t msglen)
{
	cJSON *owned = informer_list_by_owner(run->scope->children[PHC_JOB], run->uid);
	const cJSON *j;
	int r = 0;

	*others = false;
	cJSON_ArrayForEach(j, owned) {
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
		const char *comp = util_json_str(cJSON_GetObjectItemCaseSensitive(md, "labels"),
						 PH_LABEL_COMPONENT);
		const char *name = util_json_str(md, "name");
		bool finished = phc_job_condition(j, "Complete") || phc_job_condition(j, "Failed");

		if (!comp || strcmp(comp, "reshard") || !name || (keep && !strcmp(name, keep)))
			continue;
		if (finished && !util_json_str(md, "deletionTimestamp"))
			continue;
		*others = true;
		if (!finished && !r)
			r = delete_job(run, j, msg, msglen);
	}
	cJSON_Delete(owned);
	return r;
}

struct progress_read {
	const char *database;
	cJSON *doc;
	char err[1024];
};

static int read_fn(struct ch_client *ch, void *userdata)
{
	struct progress_read *pr = userdata;

	return rs_progress_read(ch, pr->database, &pr->doc, NULL, pr->err, sizeof(pr->err));
}

/* The progress document from the first shard (NULL when none yet).
 * Returns 0, or a negative errno with msg saying why. */
static int read_progress(struct phc_run *run, cJSON **doc, char *msg, size_t msglen)
{
	struct progress_read pr = {
		.database = util_json_str(cJSON_GetObjectItemCaseSensitive(run->spec, "clickhouse"), "database"),
	};
	int r;

	if (!pr.database)
		pr.database = "posthog";
	r = phc_clickhouse_with(run, 0, 0, read_fn, &pr, msg, msglen);
	if (r < 0 && pr.err[0])
		snprintf(msg, msglen, "%s", pr.err);
	*doc = pr.doc;
	return r;
}

/* A failed (or completed but unfinished) Job: the plan waits for the
 * backoff, the condition and a Warning Event name the failure. */
static void job_failed(struct phc_run *run, cJSON *plan, const cJSON *live, const char *why)
{
	const cJSON *c, *reason = NULL;
	char msg[2048];

	cJSON_ArrayForEach(c, util_json_get(live, "status.conditions"))
		if (!strcmp(util_json_str(c, "type") ? util_json_str(c, "type") : "", "Failed"))
			reason = c;
	snprintf(msg, sizeof(msg), "reshard Job %s %s%s%s; %s; rows stay where the progress says, "
		 "nothing is deleted; a new Job resumes in %u s",
		 pstr(plan, "job"), why, reason ? ": " : "",
		 reason ? pstr(reason, "message") : "",
		 util_json_str(plan, "message") ? util_json_str(plan, "message") : "no message from the reshard",
		 ph_reshard_backoff_s(pnum(plan, "attempts") + 1));
	ph_reshard_set(plan, "phase", "Failed");
	ph_reshard_set(plan, "failedAt", run->now);
	ph_reshard_set(plan, "message", msg);
	cond(run, true, "ReshardFailed", msg);
	event(run, "Warning", "ReshardFailed", msg);
	if (!run->failed)
		phc_set_condition(run->conds, "Degraded", "True", "ReshardFailed", msg, run->generation,
				  run->now);
	run->failed = true;
	phc_requeue(run, (uint64_t)ph_reshard_backoff_s(pnum(plan, "attempts") + 1) * 1000u);
}

/* Failed: after the backoff the next attempt (a new Job name) starts. */
static bool backoff_over(struct phc_run *run, cJSON *plan)
{
	time_t failed_at = 0, now = 0;
	unsigned wait = ph_reshard_backoff_s(pnum(plan, "attempts") + 1);

	if (kube_parse_rfc3339(pstr(plan, "failedAt"), &failed_at) < 0 ||
	    kube_parse_rfc3339(run->now, &now) < 0 || now >= failed_at + (time_t)wait) {
		ph_reshard_set_num(plan, "attempts", pnum(plan, "attempts") + 1);
		ph_reshard_set(plan, "phase", "Pending");
		ph_reshard_set(plan, "failedAt", NULL);
		return true;
	}
	cond(run, true, "ReshardFailed", pstr(plan, "message"));
	phc_requeue(run, (uint64_t)(failed_at + (time_t)wait - now) * 1000u);
	return false;
}

static void done(struct phc_run *run, cJSON *plan)
{
	cJSON *cs = cJSON_GetObjectItemCaseSensitive(run->status, "clickhouseSchema");
	char msg[512];

	ph_reshard_set(plan, "phase", "Done");
	ph_reshard_set(plan, "completedAt", run->now);
	ph_reshard_set(plan, "message", NULL);
	snprintf(msg, sizeof(msg), "shards %d -> %d done by Job %s: %d units, %d rows moved",
		 pnum(plan, "from"), pnum(plan, "to"), pstr(plan, "job"), pnum(plan, "unitsTotal"),
		 pnum(plan, "rowsMoved"));
	/* The rows are where the new count puts them: that count is now
	 * the one the next change starts from. */
	if (cJSON_IsObject(cs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(cs, "shards");
		cJSON_AddNumberToObject(cs, "shards", pnum(plan, "to"));
	}
	cond(run, false, "Done", msg);
	event(run, "Normal", "ReshardDone", msg);
}

/* Creates the plan's Job unless it exists; *live receives it. */
static int start_job(struct phc_run *run, cJSON *plan, cJSON *job, cJSON **live)
{
	struct kube_status st = {0};
	char msg[1200];
	bool wrote = false;
	int r;

	if (*live)
		return 0;
	r = phc_ensure(run, job, live, &wrote, &st);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "creating reshard Job %s: %s", pstr(plan, "job"),
			 st.message[0] ? st.message : kube_strerror(r));
		cond(run, true, "ApplyFailed", msg);
		if (!run->failed)
			phc_set_condition(run->conds, "Degraded", "True", "ApplyFailed", msg,
					  run->generation, run->now);
		run->failed = true;
		return r;
	}
	snprintf(msg, sizeof(msg), "shards %d -> %d: Job %s started", pnum(plan, "from"),
		 pnum(plan, "to"), pstr(plan, "job"));
	event(run, "Normal", "ReshardStarted", msg);
	return 0;
}

/* A Job exists for the plan: follow it. Returns 0, or the negative errno
 * of a progress read that failed while the Job runs (the worker retries
 * with backoff; the condition says why meanwhile). */
static int follow(struct phc_run *run, cJSON *plan, const cJSON *live)
{
	cJSON *doc = NULL;
	char msg[1024] = "", text[1400];
	int r, rc = 0;

	ph_reshard_set(plan, "message", NULL);
	r = read_progress(run, &doc, msg, sizeof(msg));
	if (r < 0)
		snprintf(text, sizeof(text), "the progress could not be read from shard 0: %s", msg);
	else
		ph_reshard_progress(plan, doc);
	if (phc_job_condition(live, "Complete") && ph_reshard_progress_done(plan, doc)) {
		done(run, plan);
	} else if (phc_job_condition(live, "Complete") && r == 0) {
		job_failed(run, plan, live, "completed but its progress is not done");
	} else if (phc_job_condition(live, "Failed")) {
		job_failed(run, plan, live, "failed");
	} else {
		ph_reshard_set(plan, "phase", "Running");
		if (r < 0)
			ph_reshard_set(plan, "message", text);
		snprintf(text, sizeof(text), "shards %d -> %d: Job %s: %d of %d units done, %d rows moved%s%s",
			 pnum(plan, "from"), pnum(plan, "to"), pstr(plan, "job"), pnum(plan, "unitsDone"),
			 pnum(plan, "unitsTotal"), pnum(plan, "rowsMoved"),
			 util_json_str(plan, "message") ? "; " : "", pstr(plan, "message"));
		cond(run, true, "Running", text);
		if (r < 0) {
			log_write(run->p->log, LOG_ERROR, &run->lf,
				  "reshard: reading the progress from shard 0: %s", msg);
			rc = r;
		} else {
			phc_requeue(run, RESHARD_POLL_MS);
		}
	}
	cJSON_Delete(doc);
	return rc;
}

static bool paused(const struct phc_run *run)
{
	return util_json_get_bool(run->spec, "clickhouse.reshard.paused", false);
}

static int pause(struct phc_run *run, cJSON *plan)
{
	char msg[1024] = "", name[256] = "";
	bool others = false;
	cJSON *live = NULL;
	int r;

	/* The current attempt's Job, from the cache rather than the status
	 * (a status write may have lost a race with the spec change). */
	if (ph_reshard_job_name(run->name, plan, name, sizeof(name)) == 0)
		live = informer_get(run->scope->children[PHC_JOB], run->ns, name);
	r = stop_other_jobs(run, NULL, &others, msg, sizeof(msg));
	if (strcmp(pstr(plan, "phase"), "Paused")) {
		snprintf(msg, sizeof(msg), "shards %d -> %d paused by spec.clickhouse.reshard.paused; "
			 "%s%s stopped, %d rows moved so far", pnum(plan, "from"), pnum(plan, "to"),
			 live ? "Job " : "no Job", live ? name : "", pnum(plan, "rowsMoved"));
		event(run, "Normal", "ReshardPaused", msg);
		/* The stopped Job's name is not reused: the next one has a
		 * new attempt number. */
		if (live)
			ph_reshard_set_num(plan, "attempts", pnum(plan, "attempts") + 1);
		ph_reshard_set(plan, "job", NULL);
	}
	cJSON_Delete(live);
	ph_reshard_set(plan, "phase", "Paused");
	snprintf(msg, sizeof(msg), "shards %d -> %d paused by spec.clickhouse.reshard.paused; set it to false "
		 "to resume from the recorded progress", pnum(plan, "from"), pnum(plan, "to"));
	cond(run, true, "Paused", msg);
	return r;
}

static void keep_desired(struct phc_run *run, const cJSON *job)
{
	cJSON *e = util_nn(cJSON_CreateObject());

	cJSON_AddStringToObject(e, "stage", "reshard");
	cJSON_AddItemToObject(e, "object", util_nn(cJSON_Duplicate(job, 1)));
	cJSON_AddItemToArray(run->desired, e);
}

/* The steps of an active plan after pausing and backoff: wait for the
 * shards and for older Jobs to go, create the Job, follow it. */
static int drive(struct phc_run *run, cJSON *plan, bool clickhouse_ready, bool schema_ready)
{
	struct ph_build_options bo = {.router_image = run->p->router_image};
	cJSON *job = NULL, *live;
	char name[256], msg[1024] = "";
	bool others = false;
	int r;

	if (ph_reshard_job_name(run->name, plan, name, sizeof(name)) < 0 ||
	    ph_reshard_job(run->ph, &bo, plan, &job) < 0) {
		cond(run, true, "BuildFailed", "the reshard Job could not be built");
		return -EINVAL;
	}
	keep_desired(run, job);
	r = stop_other_jobs(run, name, &others, msg, sizeof(msg));
	live = informer_get(run->scope->children[PHC_JOB], run->ns, name);
	/* A Job of this name on its way out (a pause whose attempt count a
	 * stale status did not see) is waited for, not followed. */
	if (live && util_json_str(cJSON_GetObjectItemCaseSensitive(live, "metadata"), "deletionTimestamp")) {
		cJSON_Delete(live);
		live = NULL;
		others = true;
	}
	if (!live && (others || r < 0)) {
		ph_reshard_set(plan, "phase", "Pending");
		cond(run, true, "WaitingForJob", r < 0 ? msg : "waiting for an earlier reshard Job to go");
		phc_requeue(run, RESHARD_POLL_MS);
	} else if (!live && (!clickhouse_ready || !schema_ready)) {
		ph_reshard_set(plan, "phase", "Pending");
		snprintf(msg, sizeof(msg), "shards %d -> %d waits for every shard and its tables "
			 "(ClickHouseReady, SchemaReady)", pnum(plan, "from"), pnum(plan, "to"));
		cond(run, true, "WaitingForShards", msg);
		phc_requeue(run, RESHARD_POLL_MS);
	} else {
		ph_reshard_set(plan, "job", name);
		r = start_job(run, plan, job, &live);
		if (r == 0 && live)
			r = follow(run, plan, live);
	}
	cJSON_Delete(live);
	cJSON_Delete(job);
	return r;
}

int phc_reshard_step(struct phc_run *run, bool clickhouse_ready, bool schema_ready)
{
	cJSON *plan = run->reshard;
	int r = 0;

	/* Earlier versions said that added shards stayed unbalanced. */
	for (int i = cJSON_GetArraySize(run->conds) - 1; i >= 0; i--)
		if (!strcmp(pstr(cJSON_GetArrayItem(run->conds, i), "type"), "ShardsUnbalanced"))
			cJSON_DeleteItemFromArray(run->conds, i);
	if (!plan)
		return 0;
	if (!ph_reshard_active(plan)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "shards %d -> %d done", pnum(plan, "from"), pnum(plan, "to"));
		cond(run, false, "Done", msg);
		if (util_json_str(plan, "job")) {
			char name[256];
			struct ph_build_options bo = {.router_image = run->p->router_image};
			cJSON *job = NULL;

			/* The completed Job stays as the record. */
			if (ph_reshard_job_name(run->name, plan, name, sizeof(name)) == 0 &&
			    !strcmp(name, pstr(plan, "job")) && ph_reshard_job(run->ph, &bo, plan, &job) == 0)
				keep_desired(run, job);
			cJSON_Delete(job);
		}
	} else if (paused(run)) {
		r = pause(run, plan);
	} else if (strcmp(pstr(plan, "phase"), "Failed") || backoff_over(run, plan)) {
		r = drive(run, plan, clickhouse_ready, schema_ready);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(run->status, "reshard");
	cJSON_AddItemToObject(run->status, "reshard", util_nn(cJSON_Duplicate(plan, 1)));
	record_metrics(run, plan);
	return r;
}
