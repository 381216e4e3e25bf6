/*
 * phbackup: the controllers of PostHogBackup, PostHogRestore and
 * PostHogBackupSchedule; see phbackup.h and docs/backups.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "pkg/cron/cron.h"
#include "pkg/util/util.h"
#include "controllers/backup/backup.h"
#include "api/posthog/posthog.h"
#include "phbackup.h"

#define PHB_MAX_SCOPES 32
#define PHB_MAX_SHARDS 256
#define PHB_MAX_BACKOFF_MS 60000
/* While Jobs run, a status check also comes this often without a Job event. */
#define PHB_POLL_MS 30000
/* A shard without a Ready replica is looked at again this often (no pod
 * watch wakes the controller). */
#define PHB_WAIT_MS 5000

enum { K_BACKUP, K_SCHEDULE, K_RESTORE, K_N };

static const struct {
	const char *plural, *kind, *controller;
} kinds[K_N] = {
	[K_BACKUP] = {"posthogbackups", PHB_KIND_BACKUP, "posthogbackup"},
	[K_SCHEDULE] = {"posthogbackupschedules", PHB_KIND_SCHEDULE, "posthogbackupschedule"},
	[K_RESTORE] = {"posthogrestores", PHB_KIND_RESTORE, "posthogrestore"},
};

struct scope {
	char *ns;
	struct informer *objs[K_N];
	struct informer *jobs, *posthogs;
};

struct phbackup {
	struct kube_client *client;
	struct log *log;
	struct manager *m;
	struct recorder *rec;
	struct metrics *metrics;
	char *image;
	struct kube_resource res[K_N], job_res, ph_res, secret_res;
	struct controller *ctl[K_N];
	struct scope scopes[PHB_MAX_SCOPES];
	unsigned nscopes;
};

/* One reconcile of a backup or restore. */
struct run {
	struct phbackup *p;
	int kind;
	cJSON *obj;           /* cached copy */
	const char *ns, *name;
	struct log_fields lf;
	cJSON *status;        /* the new status */
	cJSON *conds;
	bool waiting;         /* a shard waits for a Ready replica */
	bool advanced;        /* a restore step completed: run the next one now */
	char now[KUBE_TIME_LEN];
};

#define nn(j) ((cJSON *)util_nn(j))
#define str util_json_str

static cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	nn(cJSON_AddStringToObject(o, k, v));
}

static void set_num(cJSON *o, const char *k, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	nn(cJSON_AddNumberToObject(o, k, v));
}

static int split_key(const char *key, char *ns, size_t nslen, char *name, size_t namelen)
{
	const char *slash = strchr(key, '/');

	if (!slash || (size_t)(slash - key) >= nslen || strlen(slash + 1) >= namelen)
		return -EINVAL;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	memcpy(name, slash + 1, strlen(slash + 1) + 1);
	return 0;
}

static struct scope *scope_for(struct phbackup *p, const char *ns)
{
	for (unsigned i = 0; i < p->nscopes; i++)
		if (!p->scopes[i].ns || !strcmp(p->scopes[i].ns, ns))
			return &p->scopes[i];
	return NULL;
}

/* ---- the store --------------------------------------------------------- */

/* Decodes a Secret's base64 value into out (NUL-terminated). A key holding
 * a NUL or a control character is refused later by s3_new. */
static int b64decode(const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in), pad = 0;
	int len;

	if (n % 4 || (n / 4) * 3 + 1 > outsz)
		return -EINVAL;
	len = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return -EINVAL;
	while (pad < 2 && n > pad && in[n - 1 - pad] == '=')
		pad++;
	out[len - (int)pad] = '\0';
	if (strlen(out) != (size_t)(len - (int)pad))
		return -EINVAL;
	return 0;
}

/* The store's client for spec.store, with the keys from its Secret. */
static int store_open(struct run *r, const cJSON *store, struct s3_client **out,
		      char *err, size_t errlen)
{
	const cJSON *creds = get(store, "credentials");
	const char *sname = str(creds, "secretName");
	const char *kid = str(creds, "accessKeyIdKey"), *ksec = str(creds, "secretAccessKeyKey");
	struct kube_status st = {0};
	cJSON *secret = NULL, *idv, *secv;
	char id[512], sec[512];
	int rc;

	rc = kube_get(r->p->client, &r->p->secret_res, r->ns, sname, &secret, &st);
	if (rc < 0) {
		snprintf(err, errlen, "spec.store.credentials.secretName: Secret %s: %s", sname,
			 st.message[0] ? st.message : kube_strerror(rc));
		return rc;
	}
	idv = get(get(secret, "data"), kid ? kid : "AWS_ACCESS_KEY_ID");
	secv = get(get(secret, "data"), ksec ? ksec : "AWS_SECRET_ACCESS_KEY");
	if (!cJSON_IsString(idv) || !cJSON_IsString(secv)) {
		snprintf(err, errlen, "Secret %s has no key %s or %s "
			 "(spec.store.credentials.accessKeyIdKey, secretAccessKeyKey)", sname,
			 kid ? kid : "AWS_ACCESS_KEY_ID", ksec ? ksec : "AWS_SECRET_ACCESS_KEY");
		cJSON_Delete(secret);
		return -ENOENT;
	}
	rc = b64decode(idv->valuestring, id, sizeof(id));
	if (rc == 0)
		rc = b64decode(secv->valuestring, sec, sizeof(sec));
	cJSON_Delete(secret);
	if (rc < 0) {
		explicit_bzero(sec, sizeof(sec));
		snprintf(err, errlen, "Secret %s: an access key is not base64, holds a NUL or is "
			 "over %zu bytes", sname, sizeof(id) - 1);
		return -EINVAL;
	}
	{
		struct s3_options o = {
			.endpoint = str(store, "endpoint"),
			.bucket = str(store, "bucket"),
			.region = str(store, "region") ? str(store, "region") : "us-east-1",
			.access_key = id,
			.secret_key = sec,
			.tls_verify = !cJSON_IsTrue(get(store, "insecureSkipTLSVerify")),
			.timeout_ms = 30000,
			.log = r->p->log,
		};
		rc = s3_new(&o, out);
	}
	explicit_bzero(sec, sizeof(sec));
	if (rc < 0)
		snprintf(err, errlen, "spec.store: the endpoint, bucket, region or a key is "
			 "refused (%s)", s3_strerror(rc));
	return rc;
}

static void target(struct bk_target *t, struct s3_client *s3, const cJSON *store,
		   const char *shard, struct log *log)
{
	memset(t, 0, sizeof(*t));
	t->s3 = s3;
	t->prefix = str(store, "prefix") ? str(store, "prefix") : "";
	t->shard = shard;
	t->database = "posthog";
	t->log = log;
}

/* ---- backup and restore ------------------------------------------------ */

static cJSON *shard_entry(cJSON *shards, unsigned s)
{
	cJSON *e;

	cJSON_ArrayForEach(e, shards)
		if (cJSON_IsNumber(get(e, "shard")) && (unsigned)get(e, "shard")->valuedouble == s)
			return e;
	e = nn(cJSON_CreateObject());
	cJSON_AddNumberToObject(e, "shard", s);
	cJSON_AddItemToArray(shards, e);
	return e;
}

static void from_manifest(cJSON *e, const cJSON *m)
{
	static const char *const nums[] = {"bytes", "parts", "partsUploaded", "rows"};

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (cJSON_IsNumber(get(m, nums[i])))
			set_num(e, nums[i], get(m, nums[i])->valuedouble);
	if (str(m, "startedAt"))
		set_str(e, "startedAt", str(m, "startedAt"));
	if (str(m, "finishedAt"))
		set_str(e, "completedAt", str(m, "finishedAt"));
	set_num(e, "tables", cJSON_GetArraySize(get(m, "tables")));
}

/* Sums the shards into the status; the latest shard end is completedAt. */
static void aggregate(cJSON *status)
{
	static const char *const nums[] = {"bytes", "parts", "partsUploaded", "rows", "tables"};
	double sum[5] = {0};
	bool have[5] = {0};
	const char *last = NULL;
	const cJSON *e;

	cJSON_ArrayForEach(e, get(status, "shards")) {
		for (size_t i = 0; i < 5; i++)
			if (cJSON_IsNumber(get(e, nums[i]))) {
				sum[i] += get(e, nums[i])->valuedouble;
				have[i] = true;
			}
		if (str(e, "completedAt") && (!last || strcmp(str(e, "completedAt"), last) > 0))
			last = str(e, "completedAt");
	}
	for (size_t i = 0; i < 5; i++)
		if (have[i])
			set_num(status, nums[i], sum[i]);
	if (last)
		set_str(status, "completedAt", last);
}

static void finish(struct run *r, const char *phase, const char *reason, const char *msg)
{
	set_str(r->status, "phase", phase);
	if (!strcmp(phase, "Failed")) {
		set_str(r->status, "error", msg);
		phb_set_condition(r->conds, "Completed", "False", reason, msg, r->now);
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(r->status, "error");
		phb_set_condition(r->conds, "Completed", "True", reason, msg, r->now);
	}
	if (!str(r->status, "completedAt"))
		set_str(r->status, "completedAt", r->now);
}

/* Is the store's refusal final (credentials, bucket)? */
static bool store_refused(int rc)
{
	return rc == -EACCES;
}

/*
 * The first look at the store, before any Job: a backup notes the shards
 * whose manifest is already there (done: a retried or adopted backup); a
 * restore needs every shard's manifest. Returns 0, or a negative errno
 * after setting the status (final when the phase became Failed).
 */
static int precheck(struct run *r, struct s3_client *s3, const cJSON *store,
		    const char *bname, unsigned nshards, cJSON *shards)
{
	char err[1024], sh[16];
	struct bk_target t;
	cJSON *m = NULL;
	int rc;

	for (unsigned s = 0; s < nshards; s++) {
		cJSON *e = shard_entry(shards, s);

		snprintf(sh, sizeof(sh), "%u", s);
		target(&t, s3, store, sh, r->p->log);
		err[0] = '\0';
		rc = bk_read_manifest(&t, bname, &m, err, sizeof(err));
		if (rc == 0) {
			if (r->kind == K_BACKUP) {
				from_manifest(e, m);
				set_str(e, "phase", "Completed");
			} else {
				set_str(e, "phase", "Pending");
			}
			cJSON_Delete(m);
			m = NULL;
			continue;
		}
		if (rc == -ENOENT && r->kind == K_BACKUP) {
			set_str(e, "phase", "Pending");
			continue;
		}
		if (rc == -ENOENT) {
			finish(r, "Failed", "BackupNotFound", err);
			return rc;
		}
		phb_set_condition(r->conds, "StoreAccessible", "False",
				  store_refused(rc) ? "AccessDenied" : "StoreUnreachable", err, r->now);
		if (store_refused(rc)) {
			finish(r, "Failed", "AccessDenied", err);
			return rc;
		}
		set_str(r->status, "phase", "Pending");
		set_str(r->status, "error", err);
		return rc; /* retried with backoff */
	}
	phb_set_condition(r->conds, "StoreAccessible", "True", "Reachable",
			  "the store answered with the credentials", r->now);
	return 0;
}

/* The PostHog's ClickHouse pods, listed once per reconcile and only when a
 * Job is to be created (as controllers/posthog/upgrade.c lists them). */
struct pods {
	cJSON *list;
	int rc;
	bool listed;
};

static int list_pods(struct run *r, const char *posthog, struct pods *pods)
{
	struct kube_resource res = {.version = "v1", .resource = "pods", .kind = "Pod",
				    .namespaced = true};
	struct kube_list_options lo = {0};
	struct kube_status st = {0};
	char sel[400];

	if (pods->listed)
		return pods->rc;
	pods->listed = true;
	snprintf(sel, sizeof(sel), "%s=%s,%s=clickhouse", PH_LABEL_INSTANCE, posthog,
		 PH_LABEL_COMPONENT);
	lo.label_selector = sel;
	pods->rc = kube_list(r->p->client, &res, r->ns, &lo, &pods->list, &st);
	if (pods->rc < 0)
		log_write(r->p->log, LOG_WARN, &r->lf, "listing the ClickHouse pods: %s",
			  st.message[0] ? st.message : kube_strerror(pods->rc));
	return pods->rc;
}

/* Notes the Job's replica in the shard's status entry. */
static void record_replica(const struct phb_job_in *in, unsigned replica, cJSON *e)
{
	struct ph_clickhouse_endpoint ep;

	set_num(e, "replica", replica);
	if (ph_clickhouse_endpoint(in->posthog, NULL, in->ph_spec, in->shard, replica, &ep) == 0)
		set_str(e, "pod", ep.pod);
	cJSON_DeleteItemFromObjectCaseSensitive(e, "message");
}

/* The replica an existing Job works beside: its annotation; a Job an
 * older operator created has none and worked beside replica 0. */
static unsigned job_replica(const cJSON *job)
{
	int rep = phb_job_replica(job);

	return rep < 0 ? 0 : (unsigned)rep;
}

/*
 * The shard's Job, created when missing. The replica is chosen once: a Job
 * that exists keeps the one it names, and so does the status entry that
 * recorded it (the cache may not show a Job just created). Otherwise the
 * first Ready replica. Returns 0 (*cached is the cached Job, or NULL when
 * just created), 1 when no replica is Ready (the entry's message says
 * why), or a negative errno.
 */
static int ensure_job(struct run *r, struct scope *sc, struct phb_job_in *in,
		      cJSON *e, struct pods *pods, cJSON **cached)
{
	char name[64], err[512];
	struct kube_status st = {0};
	cJSON *job = NULL;
	int rc;

	phb_step_job_name(r->name, in->step, in->shard, name, sizeof(name));
	set_str(e, "job", name);
	*cached = informer_get(sc->jobs, r->ns, name);
	if (*cached) {
		record_replica(in, job_replica(*cached), e);
		return 0;
	}
	if (cJSON_IsNumber(get(e, "replica")) && get(e, "replica")->valuedouble >= 0 &&
	    get(e, "replica")->valuedouble < PHB_MAX_REPLICAS) {
		in->replica = (unsigned)get(e, "replica")->valuedouble;
	} else {
		rc = list_pods(r, in->posthog, pods);
		if (rc < 0)
			return rc; /* retried with backoff */
		rc = phb_pick_replica(in->posthog, in->ph_spec, in->shard, pods->list, err,
				      sizeof(err));
		if (rc == -EAGAIN) {
			set_str(e, "phase", "Pending");
			set_str(e, "message", err);
			return 1;
		}
		in->replica = rc < 0 ? 0 : (unsigned)rc; /* -EINVAL: phb_build_job says why */
	}
	rc = phb_build_job(in, &job, err, sizeof(err));
	if (rc < 0) {
		finish(r, "Failed", "SpecInvalid", err);
		return rc;
	}
	rc = kube_create(r->p->client, &r->p->job_res, r->ns, job, NULL, &st);
	cJSON_Delete(job);
	job = NULL;
	if (rc == -EEXIST) {
		/* Created by an earlier reconcile the cache has not shown yet:
		 * its replica counts, not this choice. */
		rc = kube_get(r->p->client, &r->p->job_res, r->ns, name, &job, &st);
		if (rc == 0)
			record_replica(in, job_replica(job), e);
		cJSON_Delete(job);
		if (rc < 0)
			log_write(r->p->log, LOG_WARN, &r->lf, "read Job %s: %s", name,
				  st.message[0] ? st.message : kube_strerror(rc));
		return rc;
	}
	if (rc < 0) {
		log_write(r->p->log, LOG_WARN, &r->lf, "create Job %s: %s", name,
			  st.message[0] ? st.message : kube_strerror(rc));
		return rc;
	}
	record_replica(in, in->replica, e);
	recorder_event(r->p->rec, r->obj, "Normal", "JobCreated", "Create",
		       "created Job %s for shard %u beside replica %s", name, in->shard,
		       str(e, "pod") ? str(e, "pod") : "?");
	return 0;
}

/* The object whose phase, job and replica a step's unit records: the
 * shard's entry (PHB_STEP_ALL, PHB_STEP_DATA), its "kafka" or "views"
 * object, or status.offsets. */
static cJSON *unit_entry(cJSON *status, cJSON *shards, enum phb_step step, unsigned u)
{
	cJSON *parent = step == PHB_STEP_OFFSETS ? status : shard_entry(shards, u);
	const char *k = phb_step_name(step);
	cJSON *o;

	if (step == PHB_STEP_ALL || step == PHB_STEP_DATA)
		return parent;
	o = get(parent, k);
	if (!cJSON_IsObject(o)) {
		cJSON_DeleteItemFromObjectCaseSensitive(parent, k);
		o = nn(cJSON_AddObjectToObject(parent, k));
	}
	return o;
}

/* "step 2 of 4 (offsets): " for the steps of a replaying restore. */
static void step_prefix(enum phb_step step, char *out, size_t outsz)
{
	if (step == PHB_STEP_ALL)
		out[0] = '\0';
	else
		snprintf(out, outsz, "step %d of 4 (%s): ", (int)step, phb_step_name(step));
}

static int run_jobs(struct run *r, struct scope *sc, const cJSON *spec, const cJSON *phspec,
		    struct s3_client *s3, unsigned nshards, cJSON *shards, enum phb_step step)
{
	const cJSON *store = get(spec, "store");
	const char *bname = r->kind == K_BACKUP ? r->name : str(spec, "backupName");
	unsigned running = 0, failed = 0, done = 0, waiting = 0;
	unsigned nunits = step == PHB_STEP_OFFSETS ? 1 : nshards;
	char first_err[1024] = "", first_wait[1100] = "", err[1024], sh[16], pre[40];
	struct pods pods = {0};
	int rc = 0;

	step_prefix(step, pre, sizeof(pre));
	for (unsigned s = 0; s < nunits; s++) {
		cJSON *e = unit_entry(r->status, shards, step, s), *job = NULL;
		const char *ph = str(e, "phase");
		struct phb_job_in in = {
			.op = r->kind == K_BACKUP ? "backup" : "restore",
			.owner = r->obj, .owner_kind = kinds[r->kind].kind,
			.name = bname, .posthog = str(get(spec, "posthog"), "name"),
			.ph_spec = phspec, .store = store, .shard = s, .image = r->p->image,
			.retention = str(spec, "retention"),
			.keep_min = cJSON_IsNumber(get(spec, "keepMin"))
					    ? (unsigned)get(spec, "keepMin")->valuedouble : 1,
			.replay_kafka = cJSON_IsTrue(get(spec, "replayKafka")),
			.step = step, .nshards = nshards,
		};

		if (ph && !strcmp(ph, "Completed")) {
			done++;
			continue;
		}
		if (ph && !strcmp(ph, "Failed")) {
			failed++;
			if (!first_err[0] && str(e, "error"))
				snprintf(first_err, sizeof(first_err), "%s%s%u: %.900s", pre,
					 step == PHB_STEP_OFFSETS ? "the offsets Job beside shard " : "shard ",
					 s, str(e, "error"));
			continue;
		}
		int jr = ensure_job(r, sc, &in, e, &pods, &job);

		if (jr == 1) {
			/* A closed gate, not an error: checked again soon. */
			if (!waiting)
				snprintf(first_wait, sizeof(first_wait), "shard %u: %.1000s", s,
					 str(e, "message"));
			waiting++;
			continue;
		}
		if (jr < 0) {
			if (!strcmp(str(r->status, "phase"), "Failed")) {
				cJSON_Delete(pods.list);
				return jr;
			}
			if (rc == 0)
				rc = jr; /* retried with backoff */
			running++;
			continue;
		}
		set_str(e, "phase", "Running");
		running++;
		if (!job)
			continue;
		err[0] = '\0';
		int o = phb_job_outcome(job, err, sizeof(err));
		cJSON_Delete(job);
		if (o < 0) {
			set_str(e, "phase", "Failed");
			set_str(e, "error", err);
			running--;
			failed++;
			if (!first_err[0])
				snprintf(first_err, sizeof(first_err), "%s%s%u: %.900s", pre,
					 step == PHB_STEP_OFFSETS ? "the offsets Job beside shard " : "shard ",
					 s, err);
			continue;
		}
		if (o == 0)
			continue;
		if (r->kind == K_RESTORE) {
			set_str(e, "phase", "Completed");
			set_str(e, "completedAt", r->now);
			running--;
			done++;
			continue;
		}
		/* The Job says the agent exited 0; the manifest says the backup
		 * is complete. */
		{
			struct bk_target t;
			cJSON *m = NULL;

			snprintf(sh, sizeof(sh), "%u", s);
			target(&t, s3, store, sh, r->p->log);
			int mr = bk_read_manifest(&t, bname, &m, err, sizeof(err));

			if (mr == 0) {
				from_manifest(e, m);
				set_str(e, "phase", "Completed");
				cJSON_Delete(m);
				running--;
				done++;
			} else if (mr == -ENOENT) {
				char msg[1200];

				snprintf(msg, sizeof(msg), "the Job of shard %u succeeded but the store "
					 "holds no manifest: %s", s, err);
				set_str(e, "phase", "Failed");
				set_str(e, "error", msg);
				running--;
				failed++;
				if (!first_err[0])
					snprintf(first_err, sizeof(first_err), "shard %u: %.900s", s, msg);
			} else {
				phb_set_condition(r->conds, "StoreAccessible", "False",
						  store_refused(mr) ? "AccessDenied" : "StoreUnreachable",
						  err, r->now);
				rc = mr; /* retried */
			}
		}
	}
	cJSON_Delete(pods.list);
	r->waiting = waiting > 0;
	/* A failed shard fails the backup once no Job runs; a shard still
	 * waiting for a Ready replica then gets no Job. */
	if (running == 0 && failed > 0) {
		aggregate(r->status);
		finish(r, "Failed", "JobFailed", first_err);
	} else if (running == 0 && done == nunits &&
		   (step == PHB_STEP_DATA || step == PHB_STEP_OFFSETS || step == PHB_STEP_KAFKA)) {
		r->advanced = true; /* the next step starts in this reconcile */
		if (step == PHB_STEP_OFFSETS)
			phb_set_condition(r->conds, "OffsetsReset", "True", "OffsetsReset",
					  "every consumer group of the backup was set back once to the "
					  "smallest offset its shards' manifests recorded", r->now);
	} else if (running == 0 && done == nunits) {
		char msg[256];

		aggregate(r->status);
		snprintf(msg, sizeof(msg), "%u shard%s %s", nshards, nshards == 1 ? "" : "s",
			 r->kind == K_BACKUP ? "backed up; every manifest is in the store"
			 : step == PHB_STEP_VIEWS ? "restored; the consumer groups were set back "
						      "to the backup's offsets"
						    : "restored");
		finish(r, "Completed", r->kind == K_BACKUP ? "BackupCompleted" : "RestoreCompleted",
		       msg);
	} else if (waiting) {
		char msg[1400];

		snprintf(msg, sizeof(msg), "%s%s; waiting for a Ready replica%s", pre, first_wait,
			 waiting > 1 ? " (and more shards)" : "");
		set_str(r->status, "phase", running ? "Running" : "Pending");
		phb_set_condition(r->conds, "Completed", "False", "WaitingForReplica", msg, r->now);
	} else {
		char msg[80];

		snprintf(msg, sizeof(msg), "%sthe agent Jobs are running", pre);
		set_str(r->status, "phase", "Running");
		phb_set_condition(r->conds, "Completed", "False", "Running", msg, r->now);
	}
	return rc;
}

static int write_status(struct run *r, const cJSON *old)
{
	struct kube_status st = {0};
	cJSON *obj;
	int rc;

	if (old && cJSON_Compare(old, r->status, 1))
		return 0;
	obj = nn(cJSON_Duplicate(r->obj, 1));
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	cJSON_AddItemToObject(obj, "status", nn(cJSON_Duplicate(r->status, 1)));
	rc = kube_update(r->p->client, &r->p->res[r->kind], r->ns, r->name, "status", obj,
			 NULL, &st);
	cJSON_Delete(obj);
	if (rc < 0 && rc != KUBE_ECONFLICT && rc != -ENOENT)
		log_write(r->p->log, LOG_WARN, &r->lf, "status: %s",
			  st.message[0] ? st.message : kube_strerror(rc));
	return rc == -ENOENT ? 0 : rc;
}

static bool final(const char *phase)
{
	return phase && (!strcmp(phase, "Completed") || !strcmp(phase, "Failed"));
}

#define M_BACKUPS "posthog_backups_total"
#define M_BACKUPS_HELP "PostHogBackups that finished, by result."
#define M_RESTORES "posthog_restores_total"
#define M_RESTORES_HELP "PostHogRestores that finished, by result."
#define M_LAST_SUCCESS "posthog_backup_last_success_timestamp_seconds"
#define M_LAST_SUCCESS_HELP "When the newest completed PostHogBackup of the PostHog finished " \
			    "(Unix time)."
#define M_INTERVAL "posthog_backup_schedule_interval_seconds"
#define M_INTERVAL_HELP "Seconds between two slots of the PostHogBackupSchedule."

static void count_result(struct run *r, const char *phase)
{
	const char *ph = str(get(get(r->obj, "spec"), "posthog"), "name");
	const char *labels[] = {"namespace", r->ns, "posthog", ph ? ph : "",
				"result", !strcmp(phase, "Completed") ? "completed" : "failed",
				NULL};

	if (r->kind == K_BACKUP)
		metrics_counter_add(r->p->metrics, M_BACKUPS, M_BACKUPS_HELP, labels, 1);
	else
		metrics_counter_add(r->p->metrics, M_RESTORES, M_RESTORES_HELP, labels, 1);
}

static int reconcile_run(struct phbackup *p, int kind, const char *key,
			 struct reconcile_result *res)
{
	struct run r = {.p = p, .kind = kind};
	char ns[256], name[256], err[1024];
	const cJSON *spec, *old;
	cJSON *ph = NULL, *phspec = NULL, *shards;
	struct s3_client *s3 = NULL;
	struct scope *sc;
	const char *phase;
	unsigned nshards;
	int rc = 0;

	if (split_key(key, ns, sizeof(ns), name, sizeof(name)) < 0 || !(sc = scope_for(p, ns)))
		return 0;
	r.obj = informer_get(sc->objs[kind], ns, name);
	if (!r.obj)
		return 0;
	r.ns = str(get(r.obj, "metadata"), "namespace");
	r.name = str(get(r.obj, "metadata"), "name");
	r.lf = (struct log_fields){kinds[kind].controller, r.ns, r.name};
	kube_time_now(r.now);
	old = get(r.obj, "status");
	phase = str(old, "phase");
	if (final(phase))
		goto out; /* Completed and Failed are final */
	r.status = cJSON_IsObject(old) ? nn(cJSON_Duplicate(old, 1)) : nn(cJSON_CreateObject());
	r.conds = get(r.status, "conditions");
	if (!cJSON_IsArray(r.conds)) {
		cJSON_DeleteItemFromObjectCaseSensitive(r.status, "conditions");
		r.conds = nn(cJSON_AddArrayToObject(r.status, "conditions"));
	}
	if (!str(r.status, "phase"))
		set_str(r.status, "phase", "Pending");
	spec = get(r.obj, "spec");
	if (phb_validate_spec(spec, kind == K_RESTORE, err, sizeof(err)) < 0) {
		finish(&r, "Failed", "SpecInvalid", err);
		goto write;
	}
	ph = informer_get(sc->posthogs, ns, str(get(spec, "posthog"), "name"));
	if (!ph) {
		snprintf(err, sizeof(err), "spec.posthog.name: PostHog %s not found in %s",
			 str(get(spec, "posthog"), "name"), ns);
		phb_set_condition(r.conds, "Completed", "False", "PostHogNotFound", err, r.now);
		res->requeue_after_ms = PHB_POLL_MS;
		goto write;
	}
	if (ph_normalize(ph, &phspec) < 0 || !phspec) {
		finish(&r, "Failed", "PostHogInvalid",
		       "the PostHog's spec is invalid (see its SpecValid condition)");
		goto write;
	}
	if (ph_is_external(phspec, "clickhouse")) {
		finish(&r, "Failed", "ExternalClickHouse",
		       "the PostHog's ClickHouse is external (spec.clickhouse.external): the "
		       "agent needs the replicas' data directories, so only a managed "
		       "ClickHouse can be backed up or restored");
		goto write;
	}
	{
		const cJSON *n = get(get(phspec, "clickhouse"), "shards");

		nshards = !cJSON_IsNumber(n) || !(n->valuedouble >= 1) ? 1 :
			  n->valuedouble > PHB_MAX_SHARDS ? PHB_MAX_SHARDS : (unsigned)n->valuedouble;
	}
	rc = store_open(&r, get(spec, "store"), &s3, err, sizeof(err));
	if (rc < 0) {
		phb_set_condition(r.conds, "StoreAccessible", "False", "CredentialsUnavailable",
				  err, r.now);
		set_str(r.status, "error", err);
		goto write; /* retried with backoff: the Secret may come */
	}
	shards = get(r.status, "shards");
	if (!cJSON_IsArray(shards)) {
		shards = nn(cJSON_AddArrayToObject(r.status, "shards"));
		rc = precheck(&r, s3, get(spec, "store"),
			      kind == K_BACKUP ? r.name : str(spec, "backupName"), nshards, shards);
		if (rc < 0) {
			if (final(str(r.status, "phase")))
				rc = 0; /* final: nothing to retry */
			else
				cJSON_DeleteItemFromObjectCaseSensitive(r.status, "shards");
			goto write;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(r.status, "error");
		set_str(r.status, "startedAt", r.now);
	}
	/* A replaying restore's steps follow each other within one reconcile
	 * as soon as one completes (at most four). */
	for (int i = 0; i < 4; i++) {
		enum phb_step step = kind == K_RESTORE
			? phb_restore_step(r.status, nshards, cJSON_IsTrue(get(spec, "replayKafka")))
			: PHB_STEP_ALL;

		if (step == PHB_STEP_DONE)
			step = PHB_STEP_VIEWS; /* completed but not yet recorded so */
		if (step != PHB_STEP_ALL)
			set_str(r.status, "step", phb_step_name(step));
		r.advanced = false;
		rc = run_jobs(&r, sc, spec, phspec, s3, nshards, shards, step);
		if (rc < 0 || !r.advanced || final(str(r.status, "phase")))
			break;
	}
	if (str(r.status, "step") && !strcmp(str(r.status, "phase"), "Completed"))
		set_str(r.status, "step", phb_step_name(PHB_STEP_DONE));
	if (final(str(r.status, "phase")))
		rc = 0;
	else if (rc >= 0)
		res->requeue_after_ms = r.waiting ? PHB_WAIT_MS : PHB_POLL_MS;
write:
	{
		int wr = write_status(&r, old);
		const char *now_phase = str(r.status, "phase");

		if (wr == 0 && final(now_phase) && !final(phase)) {
			count_result(&r, now_phase);
			if (!strcmp(now_phase, "Completed"))
				recorder_event(p->rec, r.obj, "Normal", "Completed", "Reconcile",
					       "%s completed: %.0f bytes, %.0f parts, %.0f rows",
					       kinds[kind].kind,
					       cJSON_GetNumberValue(get(r.status, "bytes")),
					       cJSON_GetNumberValue(get(r.status, "parts")),
					       cJSON_GetNumberValue(get(r.status, "rows")));
			else
				recorder_event(p->rec, r.obj, "Warning", "Failed", "Reconcile", "%s",
					       str(r.status, "error") ? str(r.status, "error") : "failed");
			log_write(p->log, now_phase[0] == 'C' ? LOG_INFO : LOG_WARN, &r.lf, "%s: %s",
				  now_phase, str(r.status, "error") ? str(r.status, "error") : "done");
		}
		if (wr == KUBE_ECONFLICT) {
			res->requeue = true;
			wr = 0;
		}
		if (rc == 0)
			rc = wr;
	}
out:
	s3_free(s3);
	cJSON_Delete(ph);
	cJSON_Delete(phspec);
	cJSON_Delete(r.status);
	cJSON_Delete(r.obj);
	return rc;
}

static int reconcile_backup(void *u, const char *key, struct reconcile_result *res)
{
	return reconcile_run(u, K_BACKUP, key, res);
}

static int reconcile_restore(void *u, const char *key, struct reconcile_result *res)
{
	return reconcile_run(u, K_RESTORE, key, res);
}

/* ---- schedules ------------------------------------------------------------ */

static bool owned_by(const cJSON *o, const char *uid)
{
	const cJSON *ref;

	cJSON_ArrayForEach(ref, get(get(o, "metadata"), "ownerReferences"))
		if (str(ref, "uid") && !strcmp(str(ref, "uid"), uid))
			return true;
	return false;
}

static int by_creation(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	const char *tx = str(get(x, "metadata"), "creationTimestamp");
	const char *ty = str(get(y, "metadata"), "creationTimestamp");
	int c = strcmp(tx ? tx : "", ty ? ty : "");

	return c ? c : strcmp(str(get(x, "metadata"), "name"), str(get(y, "metadata"), "name"));
}

/* The backup the schedule creates for slot t. */
static cJSON *scheduled_backup(const cJSON *sched, const char *name)
{
	const cJSON *meta = get(sched, "metadata"), *spec = get(sched, "spec");
	cJSON *b = nn(cJSON_CreateObject()), *md, *ref, *bs;
	static const char *const copy[] = {"posthog", "store", "retention", "keepMin"};

	nn(cJSON_AddStringToObject(b, "apiVersion", PH_GROUP "/v1alpha1"));
	nn(cJSON_AddStringToObject(b, "kind", PHB_KIND_BACKUP));
	md = nn(cJSON_AddObjectToObject(b, "metadata"));
	nn(cJSON_AddStringToObject(md, "name", name));
	nn(cJSON_AddStringToObject(md, "namespace", str(meta, "namespace")));
	nn(cJSON_AddStringToObject(nn(cJSON_AddObjectToObject(md, "labels")), PHB_LABEL_SCHEDULE,
				   str(meta, "name")));
	ref = nn(cJSON_CreateObject());
	nn(cJSON_AddStringToObject(ref, "apiVersion", PH_GROUP "/v1alpha1"));
	nn(cJSON_AddStringToObject(ref, "kind", PHB_KIND_SCHEDULE));
	nn(cJSON_AddStringToObject(ref, "name", str(meta, "name")));
	nn(cJSON_AddStringToObject(ref, "uid", str(meta, "uid")));
	cJSON_AddBoolToObject(ref, "controller", 1);
	cJSON_AddItemToArray(nn(cJSON_AddArrayToObject(md, "ownerReferences")), ref);
	bs = nn(cJSON_AddObjectToObject(b, "spec"));
	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		if (get(spec, copy[i]))
			cJSON_AddItemToObject(bs, copy[i], nn(cJSON_Duplicate(get(spec, copy[i]), 1)));
	return b;
}

static void time_str(time_t t, char out[KUBE_TIME_LEN])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, KUBE_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Deletes the schedule's oldest finished PostHogBackup objects beyond
 * backupHistoryLimit (the objects only: the store keeps its backups until
 * retention removes them). Fills lastSuccessfulBackup/lastSuccessTime.
 */
static int prune_and_summarize(struct phbackup *p, struct scope *sc, const cJSON *sched,
			       cJSON *status, const struct log_fields *lf)
{
	const char *uid = str(get(sched, "metadata"), "uid");
	const cJSON *lim = get(get(sched, "spec"), "backupHistoryLimit");
	unsigned limit = !cJSON_IsNumber(lim) || !(lim->valuedouble >= 1) ? 30 :
			 lim->valuedouble > 1e6 ? 1000000 : (unsigned)lim->valuedouble;
	cJSON *all = informer_list(sc->objs[K_BACKUP], str(get(sched, "metadata"), "namespace"));
	const cJSON *o, **mine;
	size_t n = 0, nfinished = 0;
	int rc = 0;

	mine = util_xcalloc((size_t)cJSON_GetArraySize(all) + 1, sizeof(*mine));
	cJSON_ArrayForEach(o, all)
		if (owned_by(o, uid))
			mine[n++] = o;
	qsort(mine, n, sizeof(*mine), by_creation);
	for (size_t i = 0; i < n; i++) {
		const cJSON *st = get(mine[i], "status");

		if (final(str(st, "phase")))
			nfinished++;
		if (str(st, "phase") && !strcmp(str(st, "phase"), "Completed")) {
			set_str(status, "lastSuccessfulBackup", str(get(mine[i], "metadata"), "name"));
			if (str(st, "completedAt"))
				set_str(status, "lastSuccessTime", str(st, "completedAt"));
		}
	}
	for (size_t i = 0; i < n && nfinished > limit; i++) {
		struct kube_status kst = {0};
		const char *bn = str(get(mine[i], "metadata"), "name");

		if (!final(str(get(mine[i], "status"), "phase")))
			continue;
		rc = kube_delete(p->client, &p->res[K_BACKUP], str(get(sched, "metadata"), "namespace"),
				 bn, NULL, &kst);
		if (rc < 0 && rc != -ENOENT) {
			log_write(p->log, LOG_WARN, lf, "delete PostHogBackup %s: %s", bn,
				  kst.message[0] ? kst.message : kube_strerror(rc));
			break;
		}
		rc = 0;
		nfinished--;
	}
	free(mine);
	cJSON_Delete(all);
	return rc;
}

static int reconcile_schedule(void *u, const char *key, struct reconcile_result *res)
{
	struct phbackup *p = u;
	char ns[256], name[256], err[512], bname[128], ts[KUBE_TIME_LEN];
	struct log_fields lf;
	struct scope *sc;
	struct cron cr;
	const cJSON *spec, *old;
	cJSON *obj, *status, *conds;
	char now_s[KUBE_TIME_LEN];
	time_t now = time(NULL), last = 0, next = 0, slot = 0;
	int rc = 0;

	if (split_key(key, ns, sizeof(ns), name, sizeof(name)) < 0 || !(sc = scope_for(p, ns)))
		return 0;
	obj = informer_get(sc->objs[K_SCHEDULE], ns, name);
	if (!obj)
		return 0;
	lf = (struct log_fields){"posthogbackupschedule", ns, name};
	kube_time_now(now_s);
	spec = get(obj, "spec");
	old = get(obj, "status");
	status = cJSON_IsObject(old) ? nn(cJSON_Duplicate(old, 1)) : nn(cJSON_CreateObject());
	conds = get(status, "conditions");
	if (!cJSON_IsArray(conds)) {
		cJSON_DeleteItemFromObjectCaseSensitive(status, "conditions");
		conds = nn(cJSON_AddArrayToObject(status, "conditions"));
	}
	if (cron_parse(str(spec, "schedule"), &cr, err, sizeof(err)) < 0) {
		char msg[700];

		snprintf(msg, sizeof(msg), "spec.schedule: %s", err);
		phb_set_condition(conds, "Valid", "False", "InvalidSchedule", msg, now_s);
		goto write;
	}
	if (phb_validate_spec(spec, false, err, sizeof(err)) < 0) {
		phb_set_condition(conds, "Valid", "False", "SpecInvalid", err, now_s);
		goto write;
	}
	phb_set_condition(conds, "Valid", "True", "Valid", "the schedule and the store are valid",
			  now_s);
	if (kube_parse_rfc3339(str(status, "lastScheduleTime") ? str(status, "lastScheduleTime")
			       : str(get(obj, "metadata"), "creationTimestamp"), &last) < 0)
		last = now; /* an unreadable time: the next slot from now */
	if (cJSON_IsTrue(get(spec, "suspend"))) {
		cJSON_DeleteItemFromObjectCaseSensitive(status, "nextScheduleTime");
		goto summarize;
	}
	if (!str(status, "lastScheduleTime") && cJSON_IsTrue(get(spec, "immediate")))
		slot = now;
	/* The latest slot due, missed ones are not made up for (a schedule
	 * that was down for a day takes one backup, not 24). */
	while (cron_next(&cr, last, &next) == 0 && next <= now) {
		slot = next;
		last = next;
	}
	if (slot) {
		struct kube_status st = {0};
		cJSON *b;

		if (phb_scheduled_name(name, slot, bname, sizeof(bname)) < 0) {
			phb_set_condition(conds, "Valid", "False", "NameTooLong",
					  "metadata.name is too long for the backups' names", now_s);
			goto write;
		}
		b = scheduled_backup(obj, bname);
		rc = kube_create(p->client, &p->res[K_BACKUP], ns, b, NULL, &st);
		cJSON_Delete(b);
		if (rc < 0 && rc != -EEXIST) {
			log_write(p->log, LOG_WARN, &lf, "create PostHogBackup %s: %s", bname,
				  st.message[0] ? st.message : kube_strerror(rc));
			goto write; /* retried with backoff */
		}
		if (rc == 0) {
			recorder_event(p->rec, obj, "Normal", "BackupCreated", "Schedule",
				       "created PostHogBackup %s", bname);
			log_write(p->log, LOG_INFO, &lf, "created PostHogBackup %s", bname);
		}
		rc = 0;
		time_str(slot, ts);
		set_str(status, "lastScheduleTime", ts);
		set_str(status, "lastBackupName", bname);
	}
	if (cron_next(&cr, slot > last ? slot : last, &next) == 0 ||
	    cron_next(&cr, now, &next) == 0) {
		if (next <= now)
			cron_next(&cr, now, &next);
		time_str(next, ts);
		set_str(status, "nextScheduleTime", ts);
		res->requeue_after_ms = (uint64_t)(next - now) * 1000 + 100;
	}
summarize:
	rc = prune_and_summarize(p, sc, obj, status, &lf);
	{
		const char *lb = str(status, "lastBackupName");
		cJSON *b = lb ? informer_get(sc->objs[K_BACKUP], ns, lb) : NULL;
		const char *bp = str(get(b, "status"), "phase");

		if (bp && final(bp))
			phb_set_condition(conds, "LastBackupSucceeded",
					  !strcmp(bp, "Completed") ? "True" : "False",
					  !strcmp(bp, "Completed") ? "Completed" : "Failed",
					  str(get(b, "status"), "error") ? str(get(b, "status"), "error")
									 : lb,
					  now_s);
		cJSON_Delete(b);
	}
write:
	if (!old || !cJSON_Compare(old, status, 1)) {
		struct kube_status st = {0};
		cJSON *o = nn(cJSON_Duplicate(obj, 1));
		int wr;

		cJSON_DeleteItemFromObjectCaseSensitive(o, "status");
		cJSON_AddItemToObject(o, "status", nn(cJSON_Duplicate(status, 1)));
		wr = kube_update(p->client, &p->res[K_SCHEDULE], ns, name, "status", o, NULL, &st);
		cJSON_Delete(o);
		if (wr == KUBE_ECONFLICT) {
			res->requeue = true;
			wr = 0;
		} else if (wr < 0 && wr != -ENOENT) {
			log_write(p->log, LOG_WARN, &lf, "status: %s",
				  st.message[0] ? st.message : kube_strerror(wr));
		}
		if (rc == 0 && wr != -ENOENT)
			rc = wr;
	}
	cJSON_Delete(status);
	cJSON_Delete(obj);
	return rc;
}

/* ---- metrics --------------------------------------------------------------- */

/* posthog_backup_last_success_timestamp_seconds, from the cached
 * PostHogBackups (so it survives an operator restart). */
static void collect(void *userdata, struct metrics *m)
{
	struct phbackup *p = userdata;

	/* Set again from the cache each time: a deleted schedule's or
	 * PostHog's series goes with it. */
	(void)metrics_clear(m, M_LAST_SUCCESS);
	(void)metrics_clear(m, M_INTERVAL);
	for (unsigned i = 0; i < p->nscopes; i++) {
		cJSON *all = informer_list(p->scopes[i].objs[K_BACKUP], NULL), *best;
		const cJSON *o;

		best = nn(cJSON_CreateObject());
		cJSON_ArrayForEach(o, all) {
			const cJSON *st = get(o, "status");
			const char *ns = str(get(o, "metadata"), "namespace");
			const char *ph = str(get(get(o, "spec"), "posthog"), "name");
			char k[600];
			time_t t;

			if (!ns || !ph || !str(st, "phase") || strcmp(str(st, "phase"), "Completed") ||
			    !str(st, "completedAt") || kube_parse_rfc3339(str(st, "completedAt"), &t) < 0)
				continue;
			snprintf(k, sizeof(k), "%s/%s", ns, ph);
			if (!get(best, k))
				nn(cJSON_AddNumberToObject(best, k, (double)t));
			else if (get(best, k)->valuedouble < (double)t)
				cJSON_SetNumberValue(get(best, k), (double)t);
		}
		cJSON_ArrayForEach(o, best) {
			char ns[300];
			const char *slash = strchr(o->string, '/');
			size_t nl = (size_t)(slash - o->string);

			if (nl >= sizeof(ns))
				continue;
			memcpy(ns, o->string, nl);
			ns[nl] = '\0';
			metrics_gauge_set(m, M_LAST_SUCCESS, M_LAST_SUCCESS_HELP,
					  (const char *[]){"namespace", ns, "posthog", slash + 1, NULL},
					  o->valuedouble);
		}
		cJSON_Delete(best);
		cJSON_Delete(all);
		/* The interval between a schedule's slots, for the alert on a
		 * last success older than twice the schedule. */
		all = informer_list(p->scopes[i].objs[K_SCHEDULE], NULL);
		cJSON_ArrayForEach(o, all) {
			const cJSON *spec = get(o, "spec");
			const char *ns = str(get(o, "metadata"), "namespace");
			const char *ph = str(get(spec, "posthog"), "name");
			char err[256];
			struct cron cr;
			time_t a, b;

			if (!ns || !ph || cJSON_IsTrue(get(spec, "suspend")) ||
			    cron_parse(str(spec, "schedule"), &cr, err, sizeof(err)) < 0 ||
			    cron_next(&cr, time(NULL), &a) < 0 || cron_next(&cr, a, &b) < 0)
				continue;
			metrics_gauge_set(m, M_INTERVAL, M_INTERVAL_HELP,
					  (const char *[]){"namespace", ns, "posthog", ph, "schedule",
							   str(get(o, "metadata"), "name"), NULL},
					  (double)(b - a));
		}
		cJSON_Delete(all);
	}
}

/* ---- setup ----------------------------------------------------------------- */

static void set_resource(struct kube_resource *r, const char *group, const char *version,
			 const char *resource, const char *kind)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->group, sizeof(r->group), "%s", group);
	snprintf(r->version, sizeof(r->version), "%s", version);
	snprintf(r->resource, sizeof(r->resource), "%s", resource);
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	r->namespaced = true;
}

static int add_scope(struct phbackup *p, const char *ns, uint64_t resync_ms)
{
	struct scope *s;
	struct informer_options io = {.namespace = ns, .resync_ms = resync_ms, .log = p->log};
	int r = 0;

	if (p->nscopes == PHB_MAX_SCOPES)
		return -E2BIG;
	s = &p->scopes[p->nscopes++];
	if (ns) {
		s->ns = util_xstrdup(ns);
	}
	for (int k = 0; r >= 0 && k < K_N; k++) {
		io.resource = p->res[k];
		r = manager_add_informer(p->m, &io, &s->objs[k]);
		if (r >= 0)
			r = controller_watch(p->ctl[k], s->objs[k], CONTROLLER_MAP_SELF, NULL);
	}
	/* A schedule hears of its backups' progress (lastSuccessfulBackup). */
	if (r >= 0)
		r = controller_watch(p->ctl[K_SCHEDULE], s->objs[K_BACKUP], CONTROLLER_MAP_OWNER,
				     PHB_KIND_SCHEDULE);
	/* The Jobs map to their owners, which the informers above replay;
	 * the PostHogs are only read. Neither needs a resync of its own. */
	io.resync_ms = INFORMER_NO_RESYNC;
	if (r >= 0) {
		io.resource = p->job_res;
		io.label_selector = "app.kubernetes.io/component=backup-agent,"
				    "app.kubernetes.io/managed-by=posthog-operator";
		r = manager_add_informer(p->m, &io, &s->jobs);
	}
	if (r >= 0)
		r = controller_watch(p->ctl[K_BACKUP], s->jobs, CONTROLLER_MAP_OWNER, PHB_KIND_BACKUP);
	if (r >= 0)
		r = controller_watch(p->ctl[K_RESTORE], s->jobs, CONTROLLER_MAP_OWNER, PHB_KIND_RESTORE);
	if (r >= 0) {
		io.resource = p->ph_res;
		io.label_selector = NULL;
		r = manager_add_informer(p->m, &io, &s->posthogs);
	}
	return r;
}

void phbackup_free(struct phbackup *p)
{
	if (!p)
		return;
	if (p->metrics)
		metrics_remove_collector(p->metrics, collect, p);
	for (unsigned i = 0; i < p->nscopes; i++)
		free(p->scopes[i].ns);
	free(p->image);
	free(p);
}

int phbackup_register(struct manager *m, struct kube_client *c, struct log *log,
		      const struct phbackup_options *opts, struct phbackup **out)
{
	static const reconcile_fn fns[K_N] = {
		[K_BACKUP] = reconcile_backup,
		[K_SCHEDULE] = reconcile_schedule,
		[K_RESTORE] = reconcile_restore,
	};
	struct phbackup *p = util_xcalloc(1, sizeof(*p));
	int r = 0;

	p->client = c;
	p->log = log;
	p->m = m;
	p->rec = manager_recorder(m);
	p->image = util_xstrdup(opts && opts->image ? opts->image : "ghcr.io/posthog-operator/posthog-operator:" PHO_VERSION);
	for (int k = 0; k < K_N; k++)
		set_resource(&p->res[k], PH_GROUP, "v1alpha1", kinds[k].plural, kinds[k].kind);
	set_resource(&p->job_res, "batch", "v1", "jobs", "Job");
	set_resource(&p->ph_res, PH_GROUP, "v1alpha1", PH_PLURAL, PH_KIND);
	set_resource(&p->secret_res, "", "v1", "secrets", "Secret");
	for (int k = 0; r >= 0 && k < K_N; k++) {
		struct controller_options co = {
			.name = kinds[k].controller, .reconcile = fns[k], .userdata = p,
			.workers = 1, .max_backoff_ms = PHB_MAX_BACKOFF_MS,
		};
		r = manager_add_controller(m, &co, &p->ctl[k]);
	}
	if (r >= 0 && (!opts || !opts->namespaces || !opts->namespaces[0]))
		r = add_scope(p, NULL, opts ? opts->resync_ms : 0);
	else
		for (const char *const *ns = opts->namespaces; r >= 0 && *ns; ns++)
			r = add_scope(p, *ns, opts->resync_ms);
	if (r >= 0) {
		p->metrics = manager_metrics(m);
		/* Named on /metrics before the first backup, for the dashboard
		 * and the alerts. */
		(void)metrics_counter_declare(p->metrics, M_BACKUPS, M_BACKUPS_HELP);
		(void)metrics_counter_declare(p->metrics, M_RESTORES, M_RESTORES_HELP);
		(void)metrics_gauge_declare(p->metrics, M_LAST_SUCCESS, M_LAST_SUCCESS_HELP);
		(void)metrics_gauge_declare(p->metrics, M_INTERVAL, M_INTERVAL_HELP);
		r = metrics_add_collector(p->metrics, collect, p);
		if (r < 0)
			log_error(log, "backup metrics: cannot add the collector: %s", strerror(-r));
	}
	if (r < 0) {
		phbackup_free(p);
		return r;
	}
	*out = p;
	return 0;
}
