/* phbackup: the pure parts: the agent Job, spec checks, conditions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/backup/backup.h"
#include "api/posthog/posthog.h"
#include "pkg/kube/kube.h"
#include "pkg/util/util.h"
#include "phbackup.h"

#define nn(j) ((cJSON *)util_nn(j))
#define str util_json_str

static cJSON *obj(cJSON *parent, const char *k)
{
	return nn(cJSON_AddObjectToObject(parent, k));
}

static cJSON *arr(cJSON *parent, const char *k)
{
	return nn(cJSON_AddArrayToObject(parent, k));
}

static void put(cJSON *o, const char *k, const char *v)
{
	nn(cJSON_AddStringToObject(o, k, v));
}

static void env(cJSON *list, const char *name, const char *value)
{
	cJSON *e = nn(cJSON_CreateObject());

	put(e, "name", name);
	put(e, "value", value);
	cJSON_AddItemToArray(list, e);
}

static void env_secret(cJSON *list, const char *name, const char *secret,
		       const char *key)
{
	cJSON *e = nn(cJSON_CreateObject());
	cJSON *ref = obj(obj(e, "valueFrom"), "secretKeyRef");

	put(e, "name", name);
	put(ref, "name", secret);
	put(ref, "key", key);
	cJSON_AddItemToArray(list, e);
}

int phb_job_name(const char *owner, unsigned shard, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s-s%u", owner, shard);

	return n < 0 || (size_t)n >= outsz || n > 63 ? -ENOSPC : 0;
}

int phb_step_job_name(const char *owner, enum phb_step step, unsigned shard, char *out,
		      size_t outsz)
{
	int n;

	switch (step) {
	case PHB_STEP_ALL:
	case PHB_STEP_DATA:
		return phb_job_name(owner, shard, out, outsz);
	case PHB_STEP_OFFSETS:
		n = snprintf(out, outsz, "%s-offsets", owner);
		break;
	case PHB_STEP_KAFKA:
	case PHB_STEP_VIEWS:
		n = snprintf(out, outsz, "%s-%s-s%u", owner, phb_step_name(step), shard);
		break;
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= outsz || n > 63 ? -ENOSPC : 0;
}

const char *phb_step_name(enum phb_step step)
{
	static const char *const names[] = {
		[PHB_STEP_ALL] = "all", [PHB_STEP_DATA] = "data", [PHB_STEP_OFFSETS] = "offsets",
		[PHB_STEP_KAFKA] = "kafka", [PHB_STEP_VIEWS] = "views", [PHB_STEP_DONE] = "done",
	};

	return (unsigned)step <= PHB_STEP_DONE ? names[step] : "?";
}

static bool completed(const cJSON *o)
{
	const char *ph = str(o, "phase");

	return ph && !strcmp(ph, "Completed");
}

/* The entry of shard s in status.shards, or NULL. */
static const cJSON *shard_of(const cJSON *status, unsigned s)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(status, "shards")) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "shard");

		if (cJSON_IsNumber(n) && n->valuedouble == s)
			return e;
	}
	return NULL;
}

enum phb_step phb_restore_step(const cJSON *status, unsigned nshards, bool replay)
{
	unsigned s;

	if (!replay)
		return PHB_STEP_ALL;
	for (s = 0; s < nshards; s++)
		if (!completed(shard_of(status, s)))
			return PHB_STEP_DATA;
	if (!completed(cJSON_GetObjectItemCaseSensitive(status, "offsets")))
		return PHB_STEP_OFFSETS;
	for (enum phb_step st = PHB_STEP_KAFKA; st <= PHB_STEP_VIEWS; st++)
		for (s = 0; s < nshards; s++)
			if (!completed(cJSON_GetObjectItemCaseSensitive(shard_of(status, s),
									phb_step_name(st))))
				return st;
	return PHB_STEP_DONE;
}

int phb_scheduled_name(const char *schedule, time_t t, char *out, size_t outsz)
{
	struct tm tm;
	int n;

	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	n = snprintf(out, outsz, "%s-%04d%02d%02d%02d%02d%02d", schedule, tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n < 0 || (size_t)n >= outsz ? -ENOSPC : 0;
}

static const char *cred_key(const cJSON *store, const char *k, const char *def)
{
	const char *v = str(cJSON_GetObjectItemCaseSensitive(store, "credentials"), k);

	return v && v[0] ? v : def;
}

static bool bad_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ' ')
			return true;
	return false;
}

int phb_validate_spec(const cJSON *spec, bool restore, char *err, size_t errlen)
{
	const cJSON *store = cJSON_GetObjectItemCaseSensitive(spec, "store");
	const cJSON *creds = cJSON_GetObjectItemCaseSensitive(store, "credentials");
	const char *ph = str(cJSON_GetObjectItemCaseSensitive(spec, "posthog"), "name");
	const char *ep = str(store, "endpoint"), *bucket = str(store, "bucket");
	const char *prefix = str(store, "prefix"), *ret = str(spec, "retention");
	const char *bn = str(spec, "backupName");
	int64_t secs;

	if (!ph || !ph[0]) {
		snprintf(err, errlen, "spec.posthog.name is required");
		return -EINVAL;
	}
	if (!ep || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) || bad_text(ep)) {
		snprintf(err, errlen, "spec.store.endpoint must be an http:// or https:// URL "
			 "(got \"%.80s\")", ep ? ep : "");
		return -EINVAL;
	}
	if (!bucket || !bucket[0] || bad_text(bucket) || strchr(bucket, '/')) {
		snprintf(err, errlen, "spec.store.bucket must be a bucket name (got \"%.80s\")",
			 bucket ? bucket : "");
		return -EINVAL;
	}
	if (prefix && (bad_text(prefix) || prefix[0] == '/' ||
		       (prefix[0] && prefix[strlen(prefix) - 1] == '/'))) {
		snprintf(err, errlen, "spec.store.prefix must not start or end with '/' "
			 "nor hold spaces or control characters (got \"%.80s\")", prefix);
		return -EINVAL;
	}
	if (!str(creds, "secretName") || !str(creds, "secretName")[0]) {
		snprintf(err, errlen, "spec.store.credentials.secretName is required");
		return -EINVAL;
	}
	if (ret && bk_parse_duration(ret, &secs) < 0) {
		snprintf(err, errlen, "spec.retention: want a duration like 30d, 12h, 90m or "
			 "45s (got \"%.40s\")", ret);
		return -EINVAL;
	}
	if (restore && (!bn || !bn[0] || strlen(bn) > 100 ||
			strspn(bn, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(bn))) {
		snprintf(err, errlen, "spec.backupName must be a backup's name: lowercase "
			 "letters, digits, '.' and '-' (got \"%.80s\")", bn ? bn : "");
		return -EINVAL;
	}
	return 0;
}

static cJSON *labels(const struct phb_job_in *in)
{
	cJSON *l = nn(cJSON_CreateObject());
	char s[16];

	snprintf(s, sizeof(s), "%u", in->shard);
	put(l, PH_LABEL_NAME, "posthog");
	put(l, PH_LABEL_INSTANCE, in->posthog);
	put(l, PH_LABEL_COMPONENT, "backup-agent");
	put(l, PH_LABEL_MANAGED_BY, "posthog-operator");
	put(l, !strcmp(in->op, "backup") ? "posthog.com/backup" : "posthog.com/restore",
	    str(cJSON_GetObjectItemCaseSensitive(in->owner, "metadata"), "name"));
	put(l, "posthog.com/shard", s);
	if (in->step != PHB_STEP_ALL)
		put(l, "posthog.com/restore-step", phb_step_name(in->step));
	return l;
}

int phb_build_job(const struct phb_job_in *in, cJSON **out, char *err,
		  size_t errlen)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(in->owner, "metadata");
	const char *owner = str(meta, "name"), *ns = str(meta, "namespace");
	const char *uid = str(meta, "uid");
	const char *ch_user = NULL, *ch_secret = NULL, *ch_key = NULL;
	struct ph_clickhouse_endpoint ep;
	char jobname[64], pod[128], claim[160], url[400], shard[16], keep[16], rep[16];
	cJSON *job, *md, *ref, *spec, *tpl, *pspec, *ct, *args, *e, *term;
	int r;

	if (!owner || !ns || !uid) {
		snprintf(err, errlen, "the %s lacks metadata.name, namespace or uid", in->owner_kind);
		return -EINVAL;
	}
	if (phb_step_job_name(owner, in->step, in->shard, jobname, sizeof(jobname)) < 0) {
		snprintf(err, errlen, "metadata.name: \"%s\" is too long for a Job name", owner);
		return -EINVAL;
	}
	r = ph_clickhouse_endpoint(in->posthog, ns, in->ph_spec, in->shard, in->replica, &ep);
	if (r < 0 || !ep.pod[0]) {
		snprintf(err, errlen, "PostHog %s has no managed ClickHouse replica %u of shard %u "
			 "(spec.clickhouse.external: backups need the data directory)",
			 in->posthog, in->replica, in->shard);
		return -EINVAL;
	}
	if (ph_clickhouse_credentials(in->ph_spec, &ch_user, &ch_secret, &ch_key) < 0) {
		snprintf(err, errlen, "PostHog %s: spec.clickhouse has no admin credentials",
			 in->posthog);
		return -EINVAL;
	}
	snprintf(pod, sizeof(pod), "%s", ep.pod);
	snprintf(claim, sizeof(claim), "data-%s", ep.pod);
	snprintf(url, sizeof(url), "%s://%s:%u", ep.secure ? "https" : "http", ep.host, ep.port);
	snprintf(shard, sizeof(shard), "%u", in->shard);
	snprintf(rep, sizeof(rep), "%u", in->replica);

	job = nn(cJSON_CreateObject());
	put(job, "apiVersion", "batch/v1");
	put(job, "kind", "Job");
	md = obj(job, "metadata");
	put(md, "name", jobname);
	put(md, "namespace", ns);
	cJSON_AddItemToObject(md, "labels", labels(in));
	/* The choice of replica, read back by later reconciles: a Job keeps
	 * its replica even when another becomes Ready first later. */
	put(obj(md, "annotations"), PHB_ANN_REPLICA, rep);
	ref = nn(cJSON_CreateObject());
	put(ref, "apiVersion", PH_GROUP "/v1alpha1");
	put(ref, "kind", in->owner_kind);
	put(ref, "name", owner);
	put(ref, "uid", uid);
	cJSON_AddBoolToObject(ref, "controller", 1);
	cJSON_AddBoolToObject(ref, "blockOwnerDeletion", 1);
	cJSON_AddItemToArray(arr(md, "ownerReferences"), ref);
	spec = obj(job, "spec");
	/* One retry: a run killed mid-upload leaves no manifest, and the next
	 * run stores only what is missing. */
	cJSON_AddNumberToObject(spec, "backoffLimit", 1);
	tpl = obj(spec, "template");
	cJSON_AddItemToObject(obj(tpl, "metadata"), "labels", labels(in));
	pspec = obj(tpl, "spec");
	put(pspec, "restartPolicy", "Never");
	{
		cJSON *term_ = nn(cJSON_CreateObject());
		cJSON *sel = obj(obj(term_, "labelSelector"), "matchLabels");

		put(sel, "statefulset.kubernetes.io/pod-name", pod);
		put(term_, "topologyKey", "kubernetes.io/hostname");
		cJSON_AddItemToArray(arr(obj(obj(pspec, "affinity"), "podAffinity"),
					 "requiredDuringSchedulingIgnoredDuringExecution"),
				     term_);
	}
	{
		cJSON *sc = obj(pspec, "securityContext");

		cJSON_AddNumberToObject(sc, "runAsUser", PHB_CLICKHOUSE_UID);
		cJSON_AddNumberToObject(sc, "runAsGroup", PHB_CLICKHOUSE_UID);
	}
	{
		cJSON *v = nn(cJSON_CreateObject());

		put(v, "name", "data");
		put(obj(v, "persistentVolumeClaim"), "claimName", claim);
		cJSON_AddItemToArray(arr(pspec, "volumes"), v);
	}
	ct = nn(cJSON_CreateObject());
	cJSON_AddItemToArray(arr(pspec, "containers"), ct);
	put(ct, "name", "agent");
	put(ct, "image", in->image);
	/* The agent prints its JSON result last: on failure it becomes the
	 * container's termination message. */
	put(ct, "terminationMessagePolicy", "FallbackToLogsOnError");
	args = arr(ct, "args");
	cJSON_AddItemToArray(args, nn(cJSON_CreateString("backup-agent")));
	cJSON_AddItemToArray(args, nn(cJSON_CreateString(in->step == PHB_STEP_OFFSETS
							 ? "reset-offsets" : in->op)));
	cJSON_AddItemToArray(args, nn(cJSON_CreateString("--name")));
	cJSON_AddItemToArray(args, nn(cJSON_CreateString(in->name)));
	if (in->step == PHB_STEP_DATA || in->step == PHB_STEP_KAFKA || in->step == PHB_STEP_VIEWS) {
		cJSON_AddItemToArray(args, nn(cJSON_CreateString("--stage")));
		cJSON_AddItemToArray(args, nn(cJSON_CreateString(phb_step_name(in->step))));
	}
	if (in->step == PHB_STEP_OFFSETS) {
		snprintf(keep, sizeof(keep), "%u", in->nshards ? in->nshards : 1);
		cJSON_AddItemToArray(args, nn(cJSON_CreateString("--shards")));
		cJSON_AddItemToArray(args, nn(cJSON_CreateString(keep)));
	}
	if (in->retention) {
		snprintf(keep, sizeof(keep), "%u", in->keep_min ? in->keep_min : 1);
		cJSON_AddItemToArray(args, nn(cJSON_CreateString("--retention")));
		cJSON_AddItemToArray(args, nn(cJSON_CreateString(in->retention)));
		cJSON_AddItemToArray(args, nn(cJSON_CreateString("--keep-min")));
		cJSON_AddItemToArray(args, nn(cJSON_CreateString(keep)));
	}
	if (in->replay_kafka && in->step == PHB_STEP_ALL)
		cJSON_AddItemToArray(args, nn(cJSON_CreateString("--replay-kafka")));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in->store, "insecureSkipTLSVerify")))
		cJSON_AddItemToArray(args, nn(cJSON_CreateString("--s3-insecure")));
	e = arr(ct, "env");
	env(e, "SHARD", shard);
	env(e, "S3_ENDPOINT", str(in->store, "endpoint") ? str(in->store, "endpoint") : "");
	env(e, "S3_BUCKET", str(in->store, "bucket") ? str(in->store, "bucket") : "");
	env(e, "S3_PREFIX", str(in->store, "prefix") ? str(in->store, "prefix") : "");
	env(e, "S3_REGION", str(in->store, "region") ? str(in->store, "region") : "us-east-1");
	env_secret(e, "AWS_ACCESS_KEY_ID",
		   str(cJSON_GetObjectItemCaseSensitive(in->store, "credentials"), "secretName"),
		   cred_key(in->store, "accessKeyIdKey", "AWS_ACCESS_KEY_ID"));
	env_secret(e, "AWS_SECRET_ACCESS_KEY",
		   str(cJSON_GetObjectItemCaseSensitive(in->store, "credentials"), "secretName"),
		   cred_key(in->store, "secretAccessKeyKey", "AWS_SECRET_ACCESS_KEY"));
	env(e, "CLICKHOUSE_URL", url);
	if (ch_user)
		env(e, "CLICKHOUSE_USER", ch_user);
	if (ch_secret && ch_secret[0])
		env_secret(e, "CLICKHOUSE_PASSWORD", ch_secret, ch_key ? ch_key : "password");
	term = nn(cJSON_CreateObject());
	put(term, "name", "data");
	put(term, "mountPath", "/var/lib/clickhouse");
	cJSON_AddItemToArray(arr(ct, "volumeMounts"), term);
	*out = job;
	return 0;
}

int phb_pick_replica(const char *posthog, const cJSON *ph_spec, unsigned shard,
		     const cJSON *pods, char *why, size_t whylen)
{
	int64_t reps = util_json_get_int(ph_spec, "clickhouse.replicasPerShard", 1);
	struct ph_clickhouse_endpoint ep;
	size_t len;
	int n;

	if (reps < 1)
		reps = 1;
	if (reps > PHB_MAX_REPLICAS)
		reps = PHB_MAX_REPLICAS;
	n = snprintf(why, whylen, "no ClickHouse replica of shard %u is Ready:", shard);
	len = n < 0 ? 0 : (size_t)n;
	for (unsigned r = 0; r < (unsigned)reps; r++) {
		const cJSON *pod;
		const char *state;

		if (ph_clickhouse_endpoint(posthog, NULL, ph_spec, shard, r, &ep) < 0 || !ep.pod[0])
			return -EINVAL;
		pod = kube_list_find(pods, ep.pod);
		if (!pod)
			state = "has no pod";
		else if (cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "deletionTimestamp"))
			state = "is being deleted";
		else if (!kube_pod_ready(pod))
			state = "is not Ready";
		else
			return (int)r;
		if (len < whylen) {
			n = snprintf(why + len, whylen - len, "%s %s %s", r ? "," : "", ep.pod, state);
			len += n < 0 ? 0 : (size_t)n;
		}
	}
	return -EAGAIN;
}

int phb_job_replica(const cJSON *job)
{
	const char *v = str(util_json_get(job, "metadata.annotations"), PHB_ANN_REPLICA);
	long r;

	if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 4)
		return -ENOENT;
	r = strtol(v, NULL, 10);
	return r < PHB_MAX_REPLICAS ? (int)r : -ENOENT;
}

int phb_job_outcome(const cJSON *job, char *msg, size_t msglen)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(job, "status"), "conditions")) {
		const char *t = str(c, "type"), *s = str(c, "status");

		if (!t || !s || strcmp(s, "True"))
			continue;
		if (!strcmp(t, "Complete"))
			return 1;
		if (!strcmp(t, "Failed")) {
			snprintf(msg, msglen, "Job %s failed: %s: %s",
				 str(cJSON_GetObjectItemCaseSensitive(job, "metadata"), "name")
					 ? str(cJSON_GetObjectItemCaseSensitive(job, "metadata"), "name")
					 : "?",
				 str(c, "reason") ? str(c, "reason") : "Failed",
				 str(c, "message") ? str(c, "message") : "");
			return -1;
		}
	}
	return 0;
}

void phb_set_condition(cJSON *conds, const char *type, const char *status,
		       const char *reason, const char *message, const char *now)
{
	cJSON *c, *found = NULL;

	cJSON_ArrayForEach(c, conds) {
		const char *t = str(c, "type");

		if (t && !strcmp(t, type)) {
			found = c;
			break;
		}
	}
	if (!found) {
		found = nn(cJSON_CreateObject());
		put(found, "type", type);
		cJSON_AddItemToArray(conds, found);
	}
	if (!str(found, "status") || strcmp(str(found, "status"), status) ||
	    !str(found, "lastTransitionTime")) {
		cJSON_DeleteItemFromObjectCaseSensitive(found, "lastTransitionTime");
		put(found, "lastTransitionTime", now);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(found, "status");
	cJSON_DeleteItemFromObjectCaseSensitive(found, "reason");
	cJSON_DeleteItemFromObjectCaseSensitive(found, "message");
	put(found, "status", status);
	put(found, "reason", reason);
	put(found, "message", message ? message : "");
}
