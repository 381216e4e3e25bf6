/*
 * The stage walk: ZooKeeper, Kafka, ClickHouse, topics, the bucket map,
 * then each bucket's plugin-servers, each behind the gates of what it
 * needs. A closed gate is not an error: the component waits, a condition
 * says for what, and the child informers' events (a StatefulSet becoming
 * ready, a Job completing) bring the PostHog back. Only what no watch
 * reports (ClickHouse) is polled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller-private.h"
#include "migrate.h"
#include "upgrade.h"

enum { ST_ZOOKEEPER, ST_KAFKA, ST_CLICKHOUSE, ST_TOPICS, ST_BUCKETS, ST_MIGRATE, ST_PLUGIN,
       ST_ROUTER };

/* Component name in status.components and in condition types. */
static const struct {
	const char *status_key; /* NULL: no component entry */
	const char *condition;
	const char *waits_for;  /* condition reason while the gate is closed */
} stage_info[PH_STAGE_COUNT] = {
	[ST_ZOOKEEPER] = {"zookeeper", "ZooKeeperReady", NULL},
	[ST_KAFKA] = {"kafka", "KafkaReady", NULL},
	[ST_CLICKHOUSE] = {"clickhouse", "ClickHouseReady", "WaitingForZooKeeper"},
	[ST_TOPICS] = {NULL, "TopicsReady", "WaitingForKafka"},
	[ST_BUCKETS] = {NULL, NULL, NULL},
	[ST_MIGRATE] = {NULL, "Migrated", "WaitingForDependencies"},
	[ST_PLUGIN] = {"pluginServer", "PluginServersReady", "WaitingForSchema"},
	/* Not part of Ready: an install whose capture writes the bucket
	 * topics itself turns the router off. */
	[ST_ROUTER] = {NULL, NULL, NULL},
};

/* How often a synced PostHog's ClickHouse tables are compared with the base
 * again, so that PostHog's own migrations reach the bucket tables. */
#define PHC_SCHEMA_POLL_MS (5 * 60 * 1000)

/* Keeps the first error of a reconcile: later steps still run (one failed
 * child does not hold back the others), and the worker gets the first
 * failure to back off on. */
static int first_error(int acc, int r)
{
	return acc < 0 ? acc : (r < 0 ? r : acc);
}

/* What one stage's workloads add up to. */
struct tally {
	int replicas, ready, updated;
	bool all_ready;
	char version[128];
	char message[512];
	char rollout[256]; /* the first Deployment not rolled out, why */
};

/* The image tag of the first container, for status versions. */
static void image_version(const cJSON *workload, char *out, size_t outsz)
{
	const cJSON *tmpl = util_json_get(workload, "spec.template");
	const cJSON *c = cJSON_GetArrayItem(util_json_get(tmpl, "spec.containers"), 0);
	const char *img = util_json_str(c, "image"), *colon;

	if (!img || out[0])
		return;
	colon = strrchr(img, ':');
	snprintf(out, outsz, "%s", colon && !strchr(colon, '/') ? colon + 1 : "latest");
}

/* Adds one live workload's readiness to t. Returns false if not ready.
 * obj is its desired form (see phc_ready_floor). */
static bool count_workload(struct phc_run *run, int kind, const cJSON *obj, const cJSON *live,
			   struct tally *t)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(live, "metadata");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(live, "status");
	int want = (int)util_json_num(cJSON_GetObjectItemCaseSensitive(live, "spec"), "replicas", 1);
	bool current = util_json_num(status, "observedGeneration", 0) >= util_json_num(meta, "generation", 0);
	int ready, updated;
	bool ok;

	if (kind == PHC_JOB)
		return phc_job_condition(live, "Complete");
	if (kind != PHC_STATEFULSET && kind != PHC_DEPLOYMENT)
		return true;
	ok = phc_workload_ready(kind, live, phc_ready_floor(run->desired, obj, want), &ready, &updated);
	t->replicas += want;
	t->ready += ready;
	t->updated += updated;
	image_version(live, t->version, sizeof(t->version));
	if (ok)
		return true;
	if (!t->message[0])
		snprintf(t->message, sizeof(t->message), "%s %s: %d/%d ready%s%s",
			 util_json_str(live, "kind"), util_json_str(meta, "name"), ready, want,
			 current ? "" : ", rollout not yet observed",
			 current && ready >= want && updated < want ? ", not all on the new template" : "");
	return false;
}

static void set_cond(struct phc_run *run, const char *type, bool ok,
		     const char *reason, const char *message)
{
	phc_set_condition(run->conds, type, ok ? "True" : "False", reason, message,
			  run->generation, run->now);
}

/* Records a failure: a Degraded condition carrying the server's message. */
static void fail(struct phc_run *run, const char *reason, const char *message)
{
	if (!run->failed)
		set_cond(run, "Degraded", true, reason, message);
	run->failed = true;
}

static int apply_entry(struct phc_run *run, cJSON *entry, struct tally *t)
{
	cJSON *obj = cJSON_GetObjectItemCaseSensitive(entry, "object");
	struct kube_status st = {0};
	cJSON *live = NULL;
	bool wrote;
	int r, kind = phc_kind_of(obj);

	r = phc_ensure(run, obj, &live, &wrote, &st);
	if (r < 0) {
		char msg[1200];

		snprintf(msg, sizeof(msg), "applying %s %s: %s", util_json_str(obj, "kind"),
			 util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"),
			 st.message[0] ? st.message : kube_strerror(r));
		fail(run, "ApplyFailed", msg);
		t->all_ready = false;
		return r;
	}
	if (kind == PHC_JOB && phc_job_condition(live, "Failed")) {
		char msg[512];

		snprintf(msg, sizeof(msg), "Job %s failed; fix the cause and delete the Job to retry",
			 util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"));
		fail(run, "JobFailed", msg);
	}
	if (!count_workload(run, kind, obj, live, t))
		t->all_ready = false;
	if (kind == PHC_DEPLOYMENT && !t->rollout[0])
		phc_rollout_complete(live, t->rollout, sizeof(t->rollout));
	cJSON_Delete(live);
	return 0;
}

static int entry_bucket(const cJSON *entry)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(entry, "bucket");

	return cJSON_IsNumber(b) ? b->valueint : -1;
}

static bool entry_in_stage(const cJSON *entry, int stage)
{
	const char *s = util_json_str(entry, "stage");

	return s && !strcmp(s, ph_stages[stage]);
}

/* Applies every entry of a stage (of one bucket when bucket >= 0), each
 * even when an earlier one failed. Returns 0 or the first failure. */
static int apply_stage(struct phc_run *run, int stage, int bucket, struct tally *t)
{
	cJSON *entry;
	int r = 0;

	t->all_ready = true;
	cJSON_ArrayForEach(entry, run->desired) {
		if (!entry_in_stage(entry, stage) || (bucket >= 0 && entry_bucket(entry) != bucket))
			continue;
		r = first_error(r, apply_entry(run, entry, t));
	}
	return r;
}

static cJSON *status_component(struct phc_run *run, const char *key)
{
	cJSON *comps = cJSON_GetObjectItemCaseSensitive(run->status, "components");

	if (!cJSON_IsObject(comps)) {
		cJSON_DeleteItemFromObjectCaseSensitive(run->status, "components");
		comps = cJSON_AddObjectToObject(run->status, "components");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(comps, key);
	return cJSON_AddObjectToObject(comps, key);
}

static void record_component(struct phc_run *run, int stage, const struct tally *t,
			     bool ready)
{
	cJSON *c;
	bool external = stage <= ST_CLICKHOUSE && ph_is_external(run->spec, stage_info[stage].status_key);

	if (!stage_info[stage].status_key)
		return;
	c = status_component(run, stage_info[stage].status_key);
	phc_scale_record(run, ph_stages[stage], c);
	if (external)
		cJSON_AddTrueToObject(c, "external");
	cJSON_AddNumberToObject(c, "replicas", t->replicas);
	cJSON_AddNumberToObject(c, "readyReplicas", t->ready);
	cJSON_AddNumberToObject(c, "updatedReplicas", t->updated);
	if (t->version[0])
		cJSON_AddStringToObject(c, "version", t->version);
	cJSON_AddBoolToObject(c, "ready", ready);
	if (t->message[0])
		cJSON_AddStringToObject(c, "message", t->message);
}

/* A closed gate is not an error: the component waits, and the PostHog
 * comes back after an interval even if no watch event brings it sooner. */
static void wait_gate(struct phc_run *run, const char *cond, const char *reason,
		      const char *msg)
{
	if (cond)
		set_cond(run, cond, false, reason, msg);
	phc_requeue(run, PHC_POLL_MS);
}

/* Runs one infrastructure stage behind its gate. Returns 0 or the first
 * failed apply. */
static int run_stage(struct phc_run *run, int stage, bool gate, const char *gate_msg)
{
	struct tally t = {0};
	const char *cond = stage_info[stage].condition;
	int r;

	if (!gate) {
		wait_gate(run, cond, stage_info[stage].waits_for, gate_msg);
		record_component(run, stage, &t, false);
		return 0;
	}
	/* ZooKeeper's and Kafka's membership steps set their StatefulSets'
	 * replicas first (scale.c). */
	r = phc_scale_prepare(run, ph_stages[stage], &run->scale);
	if (run->scale.fail_reason)
		fail(run, run->scale.fail_reason, run->scale.message);
	r = first_error(r, apply_stage(run, stage, -1, &t));
	if (!run->scale.settled) {
		t.all_ready = false;
		snprintf(t.message, sizeof(t.message), "%.500s", run->scale.message);
	}
	run->stage_ready[stage] = t.all_ready;
	record_component(run, stage, &t, t.all_ready);
	if (cond)
		set_cond(run, cond, t.all_ready, t.all_ready ? "Ready" : "Progressing",
			 t.all_ready ? "" : (t.message[0] ? t.message : "waiting for the workload"));
	return r;
}

/* ---- buckets ------------------------------------------------------------- */

static cJSON *bucket_status(struct phc_run *run, unsigned b)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(run->status, "buckets");
	cJSON *e;

	cJSON_ArrayForEach(e, arr)
		if ((unsigned)util_json_num(e, "bucket", -1) == b)
			return e;
	e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "bucket", b);
	cJSON_AddItemToArray(arr, e);
	return e;
}

static void set_bool(cJSON *obj, const char *key, bool v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddBoolToObject(obj, key, v);
}

static void set_string(cJSON *obj, const char *key, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (v)
		cJSON_AddStringToObject(obj, key, v);
}

/* Starts status.buckets afresh, keeping what earlier runs learnt (the
 * completed topics Job) for the buckets that still exist. */
static void reset_bucket_status(struct phc_run *run)
{
	cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(run->status, "buckets");
	cJSON *arr = cJSON_AddArrayToObject(run->status, "buckets");
	cJSON *e;

	for (unsigned b = 0; b < run->buckets; b++) {
		cJSON *n = cJSON_CreateObject();

		cJSON_AddNumberToObject(n, "bucket", b);
		cJSON_ArrayForEach(e, old) {
			if ((unsigned)util_json_num(e, "bucket", -1) == b && util_json_str(e, "topicsJob")) {
				cJSON_AddStringToObject(n, "topicsJob", util_json_str(e, "topicsJob"));
				cJSON_AddBoolToObject(n, "topicsReady",
						      cJSON_IsTrue(cJSON_GetObjectItem(e, "topicsReady")));
			}
		}
		cJSON_AddItemToArray(arr, n);
	}
	cJSON_Delete(old);
}

/*
 * A bucket's topics Job. Once it has completed, status remembers its name:
 * a Job removed afterwards (by its TTL, or by hand) is not run again
 * unless its content, and so its name, changes.
 */
static int run_topics_job(struct phc_run *run, cJSON *entry, bool *ready)
{
	cJSON *obj = cJSON_GetObjectItemCaseSensitive(entry, "object");
	const char *name = util_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name");
	cJSON *bs = bucket_status(run, (unsigned)entry_bucket(entry));
	const char *done = util_json_str(bs, "topicsJob");
	struct tally t = {.all_ready = true};
	cJSON *live;
	int r;

	*ready = true;
	if (done && name && !strcmp(done, name) && cJSON_IsTrue(cJSON_GetObjectItem(bs, "topicsReady"))) {
		live = informer_get(run->scope->children[PHC_JOB], run->ns, name);
		cJSON_Delete(live);
		if (!live)
			return 0;
	}
	r = apply_entry(run, entry, &t);
	set_string(bs, "topicsJob", name);
	set_bool(bs, "topicsReady", t.all_ready);
	*ready = t.all_ready;
	return r;
}

static int run_topics(struct phc_run *run)
{
	cJSON *entry;
	bool all = true, ready;
	int r = 0;

	if (!run->stage_ready[ST_KAFKA]) {
		wait_gate(run, "TopicsReady", "WaitingForKafka", "Kafka is not ready yet");
		return 0;
	}
	cJSON_ArrayForEach(entry, run->desired) {
		if (!entry_in_stage(entry, ST_TOPICS))
			continue;
		r = first_error(r, run_topics_job(run, entry, &ready));
		all = all && ready;
	}
	run->stage_ready[ST_TOPICS] = all;
	set_cond(run, "TopicsReady", all, all ? "Ready" : "JobsRunning",
		 all ? "" : "topic Jobs have not completed yet");
	return r;
}

/*
 * ClickHouse could not be read (a missing Secret, a server down): the
 * buckets whose tables an earlier sync created in this database still
 * have them, so their plugin-servers keep being reconciled (a replica
 * change still applies) and their readiness is their Deployments'. The
 * failure shows in SchemaReady and Degraded.
 */
static void keep_known_tables(struct phc_run *run)
{
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(run->status, "clickhouseSchema");
	const char *had_db = util_json_str(cs, "database");
	const char *db = util_json_str(cJSON_GetObjectItemCaseSensitive(run->spec, "clickhouse"), "database");
	double had = util_json_num(cs, "buckets", 0);

	if (had_db && db && strcmp(had_db, db) != 0)
		return;
	for (unsigned b = 0; b < run->buckets && b < had; b++)
		run->bucket_schema_ready[b] = true;
}

/* The per-bucket ClickHouse tables. PostHog's migrations not having run
 * yet (-EAGAIN) is a closed gate; anything else is a failure for the
 * worker to back off on. */
static int run_schema(struct phc_run *run)
{
	char msg[2048] = "";
	int r;

	if (!run->stage_ready[ST_CLICKHOUSE]) {
		/* The password Secret is read now too, not only once ClickHouse
		 * is ready: a new Secret restarts the ClickHouse pods, and the
		 * restart plan's gate cannot pass without a password it can
		 * send. An unusable value, or a read that failed, is a failure
		 * (backoff); a Secret that does not exist (yet) is named in the
		 * wait. Tables that an earlier sync made are still there while
		 * the servers restart. */
		r = phc_ch_check_password(run, msg, sizeof(msg));
		if (r == 0 || r == -ENOENT) {
			char why[2100];

			snprintf(why, sizeof(why), "ClickHouse is not ready yet%s%s", r < 0 ? "; " : "",
				 r < 0 ? msg : "");
			wait_gate(run, "SchemaReady", "WaitingForClickHouse", why);
			keep_known_tables(run);
			for (unsigned b = 0; b < run->buckets; b++)
				set_bool(bucket_status(run, b), "tablesReady", run->bucket_schema_ready[b]);
			return 0;
		}
	} else {
		r = phc_schema_sync(run, msg, sizeof(msg));
	}
	if (r == -EAGAIN) {
		wait_gate(run, "SchemaReady", "WaitingForMigrations", msg);
		r = 0;
	} else if (r < 0) {
		/* -EKEYREJECTED: the password Secret's value is unusable;
		 * -EEXIST: another PostHog owns the database's bucket tables. */
		const char *reason = r == -EKEYREJECTED ? "InvalidSecret"
				     : r == -EEXIST   ? "DatabaseInUse"
						      : "ClickHouseError";

		set_cond(run, "SchemaReady", false, reason, msg);
		fail(run, reason, msg);
		keep_known_tables(run);
	} else {
		set_cond(run, "SchemaReady", true, "Ready", "");
		phc_requeue(run, PHC_SCHEMA_POLL_MS);
		if (run->ch_lag[0]) {
			/* An added replica is not Ready before it has the
			 * shard's parts (chreplica.h). */
			set_cond(run, "ClickHouseReady", false, "ReplicaCatchingUp", run->ch_lag);
			run->stage_ready[ST_CLICKHOUSE] = false;
			phc_requeue(run, 5000);
		}
	}
	for (unsigned b = 0; b < run->buckets; b++)
		set_bool(bucket_status(run, b), "tablesReady", run->bucket_schema_ready[b]);
	return r;
}

static void count_deployment(struct phc_run *run, const char *name, cJSON *into,
			     const char *key)
{
	cJSON *live = informer_get(run->scope->children[PHC_DEPLOYMENT], run->ns, name);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "replicas",
				util_json_num(cJSON_GetObjectItem(live, "spec"), "replicas", 0));
	cJSON_AddNumberToObject(o, "readyReplicas",
				util_json_num(cJSON_GetObjectItem(live, "status"), "availableReplicas", 0));
	cJSON_DeleteItemFromObjectCaseSensitive(into, key);
	cJSON_AddItemToObject(into, key, o);
	cJSON_Delete(live);
}

/* Whether applying obj would change the pod template of its live
 * Deployment, i.e. start a rollout. A Deployment not created yet starts
 * none: a new bucket's pods do not wait. *live_out gets the live object
 * (caller frees; NULL when there is none). */
static bool template_changes(struct phc_run *run, const cJSON *obj, cJSON **live_out)
{
	*live_out = NULL;
	if (phc_kind_of(obj) != PHC_DEPLOYMENT)
		return false;
	*live_out = informer_get(run->scope->children[PHC_DEPLOYMENT], run->ns,
				 util_json_get_str(obj, "metadata.name", ""));
	return *live_out && !phc_is_subset(util_json_get(obj, "spec.template"),
					   util_json_get(*live_out, "spec.template"));
}

/*
 * The plugin-servers roll out bucket by bucket (docs/upgrades.md): with
 * hold set (an earlier bucket has not rolled out yet), a Deployment whose
 * pod template would change keeps its live form and counts as it is;
 * *held says whether one did. Everything else of the bucket is applied
 * (a new Deployment, a replica count, a Service). Returns 0 or the first
 * failed apply.
 */
static int apply_bucket(struct phc_run *run, unsigned b, bool hold, struct tally *t, bool *held)
{
	cJSON *entry;
	int r = 0;

	t->all_ready = true;
	*held = false;
	cJSON_ArrayForEach(entry, run->desired) {
		cJSON *obj = cJSON_GetObjectItemCaseSensitive(entry, "object"), *live = NULL;
		bool changes;

		if (!entry_in_stage(entry, ST_PLUGIN) || entry_bucket(entry) != (int)b)
			continue;
		changes = template_changes(run, obj, &live);
		if (changes && hold) {
			*held = true;
			if (!count_workload(run, PHC_DEPLOYMENT, obj, live, t))
				t->all_ready = false;
			cJSON_Delete(live);
			continue;
		}
		cJSON_Delete(live);
		if (changes)
			log_write(run->p->log, LOG_INFO, &run->lf,
				  "plugin-servers: rolling out bucket %u (Deployment %s)", b,
				  util_json_get_str(obj, "metadata.name", "?"));
		r = first_error(r, apply_entry(run, entry, t));
	}
	return r;
}

/* What one bucket's turn in the bucket-by-bucket rollout came to. */
struct bucket_roll {
	bool hold;        /* in: an earlier bucket has not rolled out */
	bool rolled_out;  /* out: its Deployments run their desired template,
			   * every pod updated and available */
	bool held;        /* out: a template change of it waits */
	char why[600];    /* out: why it has not rolled out */
};

static int run_bucket(struct phc_run *run, unsigned b, struct tally *sum, struct bucket_roll *roll)
{
	cJSON *bs = bucket_status(run, b);
	struct ph_bucket_names names;
	struct tally t = {0};
	char msg[600];
	bool topics = cJSON_IsTrue(cJSON_GetObjectItem(bs, "topicsReady"));
	int r;

	/* Per-bucket state lives in status.buckets[b], not in a condition
	 * per bucket: the CRD allows 64 conditions and 64 buckets. */
	if (!run->stage_ready[ST_MIGRATE]) {
		snprintf(msg, sizeof(msg), "waiting for PostHog's migrate Job (condition Migrated)");
		wait_gate(run, NULL, "WaitingForMigrations", msg);
		set_bool(bs, "ready", false);
		set_string(bs, "message", msg);
		snprintf(roll->why, sizeof(roll->why), "%s", msg);
		return 0;
	}
	if (!run->bucket_schema_ready[b] || !topics) {
		snprintf(msg, sizeof(msg), "waiting for the bucket's %s",
			 topics ? "ClickHouse tables" : "Kafka topics");
		wait_gate(run, NULL, topics ? "WaitingForSchema" : "WaitingForTopics", msg);
		set_bool(bs, "ready", false);
		set_string(bs, "message", msg);
		snprintf(roll->why, sizeof(roll->why), "%s", msg);
		return 0;
	}
	r = apply_bucket(run, b, roll->hold, &t, &roll->held);
	roll->rolled_out = !roll->held && !t.rollout[0];
	snprintf(roll->why, sizeof(roll->why), "%s",
		 roll->held ? "its new pod template waits" : t.rollout);
	/* A bucket whose new template waits is not ready: PluginServersReady
	 * (and Ready) stay False until the last bucket has rolled out. */
	if (roll->held) {
		t.all_ready = false;
		phc_requeue(run, PHC_POLL_MS);
	}
	run->bucket_ready[b] = t.all_ready;
	sum->replicas += t.replicas;
	sum->ready += t.ready;
	sum->updated += t.updated;
	if (!sum->version[0])
		memcpy(sum->version, t.version, sizeof(t.version));
	if (ph_bucket_names(run->name, run->spec, b, &names) == 0) {
		count_deployment(run, names.ingestion_deployment, bs, "ingestion");
		count_deployment(run, names.async_deployment, bs, "async");
	}
	/* After the apply: a Deployment the operator scales on lag exists
	 * now (or with the next reconcile, which its creation triggers). */
	r = first_error(r, phc_lag_autoscale(run, b, bs));
	set_bool(bs, "ready", t.all_ready);
	set_bool(bs, "rolledOut", roll->rolled_out);
	set_string(bs, "message", t.all_ready ? NULL : t.message);
	return r;
}

/* The Bucket<N>Ready conditions that earlier versions wrote, one per
 * bucket, are dropped: with 55 or more buckets they overflowed the CRD's
 * 64 conditions, and status.buckets[] holds the same. */
static void drop_stale_bucket_conditions(struct phc_run *run)
{
	for (int i = cJSON_GetArraySize(run->conds) - 1; i >= 0; i--) {
		const char *type = util_json_str(cJSON_GetArrayItem(run->conds, i), "type");
		char *end;

		if (!type || strncmp(type, "Bucket", 6) != 0)
			continue;
		strtoul(type + 6, &end, 10);
		if (end != type + 6 && !strcmp(end, "Ready"))
			cJSON_DeleteItemFromArray(run->conds, i);
	}
}

/* status.upgrade.pluginServers: which bucket rolls out now and how many
 * wait for it; removed when none waits. */
static void report_rollout(struct phc_run *run, unsigned rolling, const char *why, unsigned held)
{
	cJSON *u = cJSON_GetObjectItemCaseSensitive(run->status, "upgrade");
	char msg[900];

	if (!held) {
		cJSON_DeleteItemFromObjectCaseSensitive(u, "pluginServers");
		return;
	}
	snprintf(msg, sizeof(msg), "bucket %u rolls out first (%s); %u later bucket%s wait%s", rolling,
		 why, held, held == 1 ? "" : "s", held == 1 ? "s" : "");
	if (!cJSON_IsObject(u)) {
		cJSON_DeleteItemFromObjectCaseSensitive(run->status, "upgrade");
		u = cJSON_AddObjectToObject(run->status, "upgrade");
	}
	set_string(u, "pluginServers", msg);
}

static int run_plugin_servers(struct phc_run *run)
{
	struct tally sum = {0};
	unsigned ready = 0, rolling = 0, held = 0;
	char why[600] = "";
	bool earlier = true; /* every earlier bucket has rolled out */
	int r = 0;

	/* One bucket's Deployments at a time: a bucket's new pod template is
	 * applied only once every earlier bucket has rolled out. */
	for (unsigned b = 0; b < run->buckets; b++) {
		struct bucket_roll roll = {.hold = !earlier};

		r = first_error(r, run_bucket(run, b, &sum, &roll));
		ready += run->bucket_ready[b];
		if (earlier && !roll.rolled_out) {
			rolling = b;
			snprintf(why, sizeof(why), "%s", roll.why);
		}
		if (roll.held) {
			char msg[900];

			/* An earlier bucket has not rolled out: "rolling" is set. */
			snprintf(msg, sizeof(msg), "its rollout waits for bucket %u: %s", rolling, why);
			set_string(bucket_status(run, b), "message", msg);
			held++;
		}
		earlier = earlier && roll.rolled_out;
	}
	report_rollout(run, rolling, why, held);
	phc_upgrade_record_waiting(run, held);
	drop_stale_bucket_conditions(run);
	run->stage_ready[ST_PLUGIN] = ready == run->buckets;
	record_component(run, ST_PLUGIN, &sum, run->stage_ready[ST_PLUGIN]);
	snprintf(sum.message, sizeof(sum.message), "%u of %u buckets ready", ready, run->buckets);
	set_cond(run, "PluginServersReady", run->stage_ready[ST_PLUGIN],
		 run->stage_ready[ST_PLUGIN] ? "Ready" : "Progressing", sum.message);
	return r;
}

/* A stateful component whose restarts the plan has not finished is not
 * ready, whatever its StatefulSet's counts say (phc_upgrade_holds): its
 * condition and status say so, and Ready waits. The stages that only
 * need its servers up (topics, schema, reshard) keep going: their gates
 * are the counts (stage_ready), so the plugin-servers and their lag
 * autoscaling are not held for the length of an upgrade. */
static void hold_for_upgrade(struct phc_run *run, unsigned holds)
{
	static const struct {
		int stage, component;
	} map[] = {
		{ST_ZOOKEEPER, PHC_UP_ZOOKEEPER},
		{ST_KAFKA, PHC_UP_KAFKA},
		{ST_CLICKHOUSE, PHC_UP_CLICKHOUSE},
	};
	const char *msg = util_json_get_str(run->status, "upgrade.message", "");
	char why[700];

	snprintf(why, sizeof(why), "upgrade in progress: %s", msg[0] ? msg : "restarting pods");
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++) {
		int s = map[i].stage;
		cJSON *c;

		if (!(holds & (1u << map[i].component)) || !run->stage_ready[s])
			continue;
		set_cond(run, stage_info[s].condition, false, "Upgrading", why);
		c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run->status, "components"),
						     stage_info[s].status_key);
		if (!c)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(c, "ready");
		cJSON_AddFalseToObject(c, "ready");
		cJSON_DeleteItemFromObjectCaseSensitive(c, "message");
		cJSON_AddStringToObject(c, "message", why);
	}
}

int phc_reconcile_children(struct phc_run *run)
{
	struct ph_build_options bo = {.router_image = run->p->router_image};
	struct tally t = {0};
	unsigned holds = 0;
	char msg[128];
	int r, ur;

	phc_reshard_prepare(run);
	bo.clickhouse_keep_shards = phc_reshard_keep_shards(run);
	if ((r = ph_build_with(run->ph, &bo, &run->desired)) < 0) {
		snprintf(msg, sizeof(msg), "building the children: %s", ph_strerror(r));
		log_write(run->p->log, LOG_ERROR, &run->lf, "%s", msg);
		fail(run, "BuildFailed", msg);
		return r;
	}
	run->bucket_schema_ready = calloc(run->buckets ? run->buckets : 1, sizeof(bool));
	run->bucket_ready = calloc(run->buckets ? run->buckets : 1, sizeof(bool));
	if (!run->bucket_schema_ready || !run->bucket_ready)
		abort();
	reset_bucket_status(run);
	r = run_stage(run, ST_ZOOKEEPER, true, NULL);
	r = first_error(r, run_stage(run, ST_KAFKA, true, NULL));
	r = first_error(r, run_stage(run, ST_CLICKHOUSE, run->stage_ready[ST_ZOOKEEPER],
				     "ZooKeeper is not ready yet"));
	/* Every stateful pod restart, one at a time behind its health gate
	 * (upgrade.h); the stages above are not ready until it is done, so
	 * migrations and plugin-servers follow. Pods that could not be read
	 * hold the migrations back too. */
	ur = phc_upgrade_step(run, &holds);
	r = first_error(r, ur);
	hold_for_upgrade(run, holds);
	r = first_error(r, run_topics(run));
	r = first_error(r, apply_stage(run, ST_BUCKETS, -1, &t));
	run->stage_ready[ST_BUCKETS] = true;
	r = first_error(r, phc_run_migrate(run, ur == 0 && !holds && run->stage_ready[ST_ZOOKEEPER] &&
					   run->stage_ready[ST_KAFKA] &&
					   run->stage_ready[ST_CLICKHOUSE],
					   &run->stage_ready[ST_MIGRATE]));
	r = first_error(r, run_schema(run));
	{
		const cJSON *sr = phc_condition(run->conds, "SchemaReady");

		r = first_error(r, phc_reshard_step(run, run->stage_ready[ST_CLICKHOUSE],
						    sr && !strcmp(util_json_str(sr, "status") ? util_json_str(sr, "status") : "", "True")));
	}
	r = first_error(r, run_plugin_servers(run));
	/* The router needs posthog_team and the bucket topics: after the
	 * migrate Job (which waited for the topics). */
	if (run->stage_ready[ST_MIGRATE])
		r = first_error(r, apply_stage(run, ST_ROUTER, -1, &t));
	return r;
}

static int prune(struct phc_run *run)
{
	char msg[1200];
	struct kube_status st = {0};
	int r = phc_prune(run, &st);

	if (r >= 0)
		return 0;
	snprintf(msg, sizeof(msg), "removing children that are no longer desired: %s",
		 st.message[0] ? st.message : kube_strerror(r));
	fail(run, "PruneFailed", msg);
	return r;
}

static void report_invalid(struct phc_run *run, const cJSON *problems)
{
	struct buf msg;
	const cJSON *p;

	buf_init(&msg, 8192);
	cJSON_ArrayForEach(p, problems)
		if (buf_printf(&msg, "%s%s: %s", msg.len ? "; " : "", util_json_str(p, "field"),
			       util_json_str(p, "message")) < 0)
			break;
	set_cond(run, "Ready", false, "InvalidSpec", buf_str(&msg));
	fail(run, "InvalidSpec", buf_str(&msg));
	log_write(run->p->log, LOG_WARN, &run->lf, "invalid spec, nothing changed: %s", buf_str(&msg));
	buf_free(&msg);
}

/*
 * An invalid or unsafe spec is not retried: the user's next edit brings
 * the PostHog back. Every other failure is returned after the status
 * (with its Degraded condition) is written, so the worker retries with
 * backoff. Children are pruned only after a reconcile without failure.
 */
int phc_reconcile_posthog(struct phc_run *run)
{
	cJSON *problems = NULL;
	char msg[1024];
	int r = 0;

	run->buckets = (unsigned)util_json_num(cJSON_GetObjectItemCaseSensitive(run->spec, "buckets"),
				     "count", 1);
	if (ph_validate(run->ph, &problems) < 0) {
		report_invalid(run, problems);
		cJSON_Delete(problems);
	} else if (phc_check_safe_change(run, msg, sizeof(msg)) < 0) {
		set_cond(run, "Ready", false, "UnsafeChange", msg);
		fail(run, "UnsafeChange", msg);
		log_write(run->p->log, LOG_WARN, &run->lf, "refused: %s", msg);
	} else {
		r = phc_reconcile_children(run);
		if (r == 0 && !run->failed)
			r = prune(run);
	}
	return first_error(r, phc_finish_status(run));
}
