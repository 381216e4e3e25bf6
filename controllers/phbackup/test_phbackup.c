/* Unit tests of phbackup's pure parts: the agent Job, spec checks, Job
 * outcomes, schedule names and conditions. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "phbackup.h"

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	ck_assert_msg(j != NULL, "bad JSON: %s", s);
	return j;
}

/* The value at a dotted path ("spec.containers.0.name"; a number indexes
 * an array) as a string, or NULL. */
static const char *at(const cJSON *j, const char *path)
{
	static char num[64];
	const cJSON *cur = j;
	const char *p = path;

	while (cur && *p) {
		char tok[128];
		size_t n = strcspn(p, ".");

		ck_assert_uint_lt(n, sizeof(tok));
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n + (p[n] == '.');
		if (strspn(tok, "0123456789") == n)
			cur = cJSON_GetArrayItem(cur, (int)strtol(tok, NULL, 10));
		else
			cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
	}
	if (!cur)
		return NULL;
	if (cJSON_IsString(cur))
		return cur->valuestring;
	snprintf(num, sizeof(num), "%g", cJSON_GetNumberValue(cur));
	return num;
}

/* The string member k of the object at path, or NULL (keys with dots). */
static const char *str_at(const cJSON *j, const char *path, const char *k)
{
	return util_json_str(util_json_get(j, path), k);
}

#define OWNER "{\"metadata\":{\"name\":\"nightly-1\",\"namespace\":\"ph\",\"uid\":\"u-1\"}}"
#define STORE "{\"endpoint\":\"https://s3.example\",\"bucket\":\"bk\",\"prefix\":\"p\"," \
	      "\"region\":\"eu-west-1\",\"credentials\":{\"secretName\":\"s3\"}}"
#define PHSPEC "{\"clickhouse\":{\"shards\":2,\"replicasPerShard\":2,\"user\":\"admin\"," \
	       "\"passwordSecret\":{\"name\":\"chpw\",\"key\":\"password\"}}}"

/* Each case: a path in the built Job and the value it must hold. */
static const struct {
	const char *path, *want;
} job_cases[] = {
	{"metadata.name", "nightly-1-s1"},
	{"metadata.namespace", "ph"},
	{"metadata.ownerReferences.0.kind", "PostHogBackup"},
	{"metadata.ownerReferences.0.uid", "u-1"},
	{"spec.template.spec.restartPolicy", "Never"},
	{"spec.template.spec.containers.0.args.0", "backup-agent"},
	{"spec.template.spec.containers.0.args.1", "backup"},
	{"spec.template.spec.containers.0.args.3", "nightly-1"},
	{"spec.template.spec.containers.0.args.5", "30d"},
	{"spec.template.spec.containers.0.args.7", "3"},
	{"spec.template.spec.containers.0.image", "img:1"},
	{"spec.template.spec.volumes.0.persistentVolumeClaim.claimName", "data-ph1-clickhouse-1-0"},
	{"spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution.0."
	 "topologyKey", "kubernetes.io/hostname"},
	{"spec.template.spec.securityContext.runAsUser", "101"},
	{"spec.template.spec.containers.0.volumeMounts.0.mountPath", "/var/lib/clickhouse"},
	{"spec.template.spec.containers.0.env.0.value", "1"},               /* SHARD */
	{"spec.template.spec.containers.0.env.1.value", "https://s3.example"},
	{"spec.template.spec.containers.0.env.3.value", "p"},
	{"spec.template.spec.containers.0.env.5.valueFrom.secretKeyRef.name", "s3"},
	{"spec.template.spec.containers.0.env.5.valueFrom.secretKeyRef.key", "AWS_ACCESS_KEY_ID"},
	{"spec.template.spec.containers.0.env.6.valueFrom.secretKeyRef.key", "AWS_SECRET_ACCESS_KEY"},
	{"spec.template.spec.containers.0.env.7.value", "http://ph1-clickhouse-1-0.ph.svc:8123"},
};

START_TEST(test_job)
{
	cJSON *owner = parse(OWNER), *store = parse(STORE), *phs = parse(PHSPEC), *job = NULL;
	struct phb_job_in in = {
		.op = "backup", .owner = owner, .owner_kind = PHB_KIND_BACKUP, .name = "nightly-1",
		.posthog = "ph1", .ph_spec = phs, .store = store, .shard = 1, .image = "img:1",
		.retention = "30d", .keep_min = 3,
	};
	char err[256] = "";
	const char *got;

	ck_assert_int_eq(phb_build_job(&in, &job, err, sizeof(err)), 0);
	got = at(job, job_cases[_i].path);
	ck_assert_msg(got && !strcmp(got, job_cases[_i].want), "%s: got %s, want %s",
		      job_cases[_i].path, got ? got : "(none)", job_cases[_i].want);
	cJSON_Delete(job);
	cJSON_Delete(owner);
	cJSON_Delete(store);
	cJSON_Delete(phs);
}
END_TEST

START_TEST(test_job_restore_and_external)
{
	cJSON *owner = parse(OWNER), *store = parse(STORE), *phs = parse(PHSPEC), *job = NULL;
	cJSON *ext = parse("{\"clickhouse\":{\"external\":{\"host\":\"ch.example\"}}}");
	struct phb_job_in in = {
		.op = "restore", .owner = owner, .owner_kind = PHB_KIND_RESTORE, .name = "b1",
		.posthog = "ph1", .ph_spec = phs, .store = store, .shard = 0, .image = "img:1",
		.replay_kafka = true,
	};
	char err[256] = "";

	ck_assert_int_eq(phb_build_job(&in, &job, err, sizeof(err)), 0);
	ck_assert_str_eq(at(job, "spec.template.spec.containers.0.args.1"), "restore");
	ck_assert_str_eq(at(job, "spec.template.spec.containers.0.args.4"), "--replay-kafka");
	ck_assert_ptr_null(at(job, "spec.template.spec.containers.0.args.5"));
	ck_assert_str_eq(at(job, "metadata.ownerReferences.0.kind"), "PostHogRestore");
	cJSON_Delete(job);
	job = NULL;
	in.ph_spec = ext;
	ck_assert_int_eq(phb_build_job(&in, &job, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "spec.clickhouse.external"), "%s", err);
	ck_assert_ptr_null(job);
	cJSON_Delete(ext);
	cJSON_Delete(owner);
	cJSON_Delete(store);
	cJSON_Delete(phs);
}
END_TEST

/* The four steps of a replaying restore: each step's Job, its name,
 * arguments and label. */
static const struct {
	enum phb_step step;
	unsigned shard, nshards;
	const char *name, *args, *label;
} step_jobs[] = {
	{PHB_STEP_ALL, 1, 2, "nightly-1-s1", "backup-agent restore --name b1 --replay-kafka", NULL},
	{PHB_STEP_DATA, 1, 2, "nightly-1-s1", "backup-agent restore --name b1 --stage data", "data"},
	{PHB_STEP_OFFSETS, 0, 2, "nightly-1-offsets",
	 "backup-agent reset-offsets --name b1 --shards 2", "offsets"},
	{PHB_STEP_OFFSETS, 0, 5, "nightly-1-offsets",
	 "backup-agent reset-offsets --name b1 --shards 5", "offsets"},
	{PHB_STEP_KAFKA, 0, 2, "nightly-1-kafka-s0",
	 "backup-agent restore --name b1 --stage kafka", "kafka"},
	{PHB_STEP_VIEWS, 1, 2, "nightly-1-views-s1",
	 "backup-agent restore --name b1 --stage views", "views"},
};

START_TEST(test_step_job)
{
	cJSON *owner = parse(OWNER), *store = parse(STORE), *phs = parse(PHSPEC), *job = NULL;
	struct phb_job_in in = {
		.op = "restore", .owner = owner, .owner_kind = PHB_KIND_RESTORE, .name = "b1",
		.posthog = "ph1", .ph_spec = phs, .store = store, .shard = step_jobs[_i].shard,
		.image = "img:1", .replay_kafka = true, .step = step_jobs[_i].step,
		.nshards = step_jobs[_i].nshards,
	};
	char err[256] = "", args[256] = "", name[64];
	const cJSON *a;

	ck_assert_int_eq(phb_build_job(&in, &job, err, sizeof(err)), 0);
	ck_assert_str_eq(at(job, "metadata.name"), step_jobs[_i].name);
	ck_assert_int_eq(phb_step_job_name("nightly-1", step_jobs[_i].step, step_jobs[_i].shard,
					   name, sizeof(name)), 0);
	ck_assert_str_eq(name, step_jobs[_i].name);
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetArrayItem(util_json_get(job, "spec.template.spec.containers"), 0),
				      "args"))
		snprintf(args + strlen(args), sizeof(args) - strlen(args), "%s%s", args[0] ? " " : "",
			 a->valuestring);
	ck_assert_str_eq(args, step_jobs[_i].args);
	if (step_jobs[_i].label)
		ck_assert_str_eq(str_at(job, "metadata.labels", "posthog.com/restore-step"),
				 step_jobs[_i].label);
	else
		ck_assert_ptr_null(str_at(job, "metadata.labels", "posthog.com/restore-step"));
	cJSON_Delete(job);
	cJSON_Delete(owner);
	cJSON_Delete(store);
	cJSON_Delete(phs);
}
END_TEST

/* Which step a restore is at, from its status (two shards). */
#define SH(n, ph) "{\"shard\":" #n ",\"phase\":\"" ph "\"}"
#define SHK(n, kph) "{\"shard\":" #n ",\"phase\":\"Completed\",\"kafka\":{\"phase\":\"" kph "\"}}"
#define SHV(n, vph) "{\"shard\":" #n ",\"phase\":\"Completed\",\"kafka\":{\"phase\":\"Completed\"}," \
	"\"views\":{\"phase\":\"" vph "\"}}"
#define OFFS(ph) ",\"offsets\":{\"phase\":\"" ph "\"}"
static const struct {
	const char *status;
	bool replay;
	enum phb_step want;
} step_cases[] = {
	{"{}", false, PHB_STEP_ALL},
	{"{\"shards\":[" SH(0, "Completed") "," SH(1, "Running") "]}", false, PHB_STEP_ALL},
	{"{}", true, PHB_STEP_DATA},
	{"{\"shards\":[" SH(0, "Pending") "," SH(1, "Pending") "]}", true, PHB_STEP_DATA},
	/* One shard's data still running: no offset is touched yet. */
	{"{\"shards\":[" SH(0, "Completed") "," SH(1, "Running") "]}", true, PHB_STEP_DATA},
	/* A shard missing from the status counts as not done. */
	{"{\"shards\":[" SH(0, "Completed") "]}", true, PHB_STEP_DATA},
	{"{\"shards\":[" SH(1, "Completed") "," SH(0, "Completed") "]}", true, PHB_STEP_OFFSETS},
	{"{\"shards\":[" SH(0, "Completed") "," SH(1, "Completed") "]" OFFS("Running") "}",
	 true, PHB_STEP_OFFSETS},
	{"{\"shards\":[" SH(0, "Completed") "," SH(1, "Completed") "]" OFFS("Failed") "}",
	 true, PHB_STEP_OFFSETS},
	{"{\"shards\":[" SH(0, "Completed") "," SH(1, "Completed") "]" OFFS("Completed") "}",
	 true, PHB_STEP_KAFKA},
	/* No view before every shard's Kafka tables exist. */
	{"{\"shards\":[" SHK(0, "Completed") "," SHK(1, "Running") "]" OFFS("Completed") "}",
	 true, PHB_STEP_KAFKA},
	{"{\"shards\":[" SHK(0, "Completed") "," SHK(1, "Completed") "]" OFFS("Completed") "}",
	 true, PHB_STEP_VIEWS},
	{"{\"shards\":[" SHV(0, "Completed") "," SHV(1, "Running") "]" OFFS("Completed") "}",
	 true, PHB_STEP_VIEWS},
	{"{\"shards\":[" SHV(0, "Completed") "," SHV(1, "Completed") "]" OFFS("Completed") "}",
	 true, PHB_STEP_DONE},
	/* Later steps recorded without the offsets (not something the
	 * controller writes): the offsets come first. */
	{"{\"shards\":[" SHV(0, "Completed") "," SHV(1, "Completed") "]}", true, PHB_STEP_OFFSETS},
};

START_TEST(test_restore_step)
{
	cJSON *st = parse(step_cases[_i].status);

	ck_assert_int_eq(phb_restore_step(st, 2, step_cases[_i].replay), step_cases[_i].want);
	cJSON_Delete(st);
}
END_TEST

START_TEST(test_step_names)
{
	char name[64];

	ck_assert_str_eq(phb_step_name(PHB_STEP_DATA), "data");
	ck_assert_str_eq(phb_step_name(PHB_STEP_OFFSETS), "offsets");
	ck_assert_str_eq(phb_step_name(PHB_STEP_KAFKA), "kafka");
	ck_assert_str_eq(phb_step_name(PHB_STEP_VIEWS), "views");
	ck_assert_str_eq(phb_step_name(PHB_STEP_DONE), "done");
	/* 63 characters at most, as for every Job. */
	ck_assert_int_eq(phb_step_job_name("a23456789012345678901234567890123456789012345678901234",
					   PHB_STEP_VIEWS, 1, name, sizeof(name)), 0);
	ck_assert_int_eq(phb_step_job_name("a234567890123456789012345678901234567890123456789012345",
					   PHB_STEP_VIEWS, 1, name, sizeof(name)), -ENOSPC);
	ck_assert_int_eq(phb_step_job_name("x", PHB_STEP_DONE, 0, name, sizeof(name)), -EINVAL);
}
END_TEST

/* The Job beside another replica than 0: its claim, affinity, Service and
 * the annotation that records the choice. */
START_TEST(test_job_replica)
{
	cJSON *owner = parse(OWNER), *store = parse(STORE), *phs = parse(PHSPEC), *job = NULL;
	struct phb_job_in in = {
		.op = "backup", .owner = owner, .owner_kind = PHB_KIND_BACKUP, .name = "nightly-1",
		.posthog = "ph1", .ph_spec = phs, .store = store, .shard = 1, .replica = 1,
		.image = "img:1",
	};
	const cJSON *ann, *sel;
	char err[256] = "";

	ck_assert_int_eq(phb_build_job(&in, &job, err, sizeof(err)), 0);
	ck_assert_str_eq(at(job, "metadata.name"), "nightly-1-s1");
	ck_assert_str_eq(at(job, "spec.template.spec.volumes.0.persistentVolumeClaim.claimName"),
			 "data-ph1-clickhouse-1-1");
	ck_assert_str_eq(at(job, "spec.template.spec.containers.0.env.7.value"),
			 "http://ph1-clickhouse-1-1.ph.svc:8123");
	sel = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetArrayItem(util_json_get(job, "spec.template.spec.affinity.podAffinity."
						       "requiredDuringSchedulingIgnoredDuringExecution"), 0),
			"labelSelector"), "matchLabels");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				 sel, "statefulset.kubernetes.io/pod-name")), "ph1-clickhouse-1-1");
	ann = util_json_get(job, "metadata.annotations");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ann, PHB_ANN_REPLICA)),
			 "1");
	ck_assert_int_eq(phb_job_replica(job), 1);
	cJSON_Delete(job);
	job = NULL;
	/* A replica outside replicasPerShard is refused, naming it. */
	in.replica = 2;
	ck_assert_int_eq(phb_build_job(&in, &job, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "replica 2 of shard 1"), "%s", err);
	cJSON_Delete(owner);
	cJSON_Delete(store);
	cJSON_Delete(phs);
}
END_TEST

static const struct {
	const char *job;
	int want;
} job_replica_cases[] = {
	{"{\"metadata\":{\"annotations\":{\"" PHB_ANN_REPLICA "\":\"0\"}}}", 0},
	{"{\"metadata\":{\"annotations\":{\"" PHB_ANN_REPLICA "\":\"3\"}}}", 3},
	{"{\"metadata\":{\"name\":\"made-by-an-older-operator\"}}", -ENOENT},
	{"{\"metadata\":{\"annotations\":{\"" PHB_ANN_REPLICA "\":\"\"}}}", -ENOENT},
	{"{\"metadata\":{\"annotations\":{\"" PHB_ANN_REPLICA "\":\"-1\"}}}", -ENOENT},
	{"{\"metadata\":{\"annotations\":{\"" PHB_ANN_REPLICA "\":\"1x\"}}}", -ENOENT},
	{"{\"metadata\":{\"annotations\":{\"" PHB_ANN_REPLICA "\":\"64\"}}}", -ENOENT},
	{"{\"metadata\":{\"annotations\":{\"" PHB_ANN_REPLICA "\":1}}}", -ENOENT},
};

START_TEST(test_job_replica_annotation)
{
	cJSON *job = parse(job_replica_cases[_i].job);

	ck_assert_int_eq(phb_job_replica(job), job_replica_cases[_i].want);
	cJSON_Delete(job);
}
END_TEST

/* Pods as the API server lists them: name, Ready, being deleted. */
#define POD(name, ready) "{\"metadata\":{\"name\":\"" name "\"},\"status\":{\"conditions\":[" \
	"{\"type\":\"PodScheduled\",\"status\":\"True\"},{\"type\":\"Ready\",\"status\":\"" \
	ready "\"}]}}"
#define GONE(name) "{\"metadata\":{\"name\":\"" name "\",\"deletionTimestamp\":" \
	"\"2026-01-01T00:00:00Z\"},\"status\":{\"conditions\":[{\"type\":\"Ready\"," \
	"\"status\":\"True\"}]}}"
#define NOCOND(name) "{\"metadata\":{\"name\":\"" name "\"},\"status\":{\"phase\":\"Pending\"}}"
#define SPEC3 "{\"clickhouse\":{\"shards\":2,\"replicasPerShard\":3}}"

static const struct {
	const char *spec, *pods;
	unsigned shard;
	int want;
	const char *why; /* with -EAGAIN: part of the message */
} pick_cases[] = {
	/* Replica 0 Ready: it, as before. */
	{SPEC3, "[" POD("ph-clickhouse-1-0", "True") "," POD("ph-clickhouse-1-1", "True") "]", 1, 0,
	 NULL},
	/* Replica 0 not Ready: the next Ready one. */
	{SPEC3, "[" POD("ph-clickhouse-1-0", "False") "," POD("ph-clickhouse-1-1", "True") "]", 1, 1,
	 NULL},
	/* Replica 0 missing, 1 without conditions (pending), 2 Ready. */
	{SPEC3, "[" NOCOND("ph-clickhouse-1-1") "," POD("ph-clickhouse-1-2", "True") "]", 1, 2, NULL},
	/* A pod being deleted can still say Ready: not chosen. */
	{SPEC3, "[" GONE("ph-clickhouse-0-0") "," POD("ph-clickhouse-0-1", "True") "]", 0, 1, NULL},
	/* Another shard's Ready pod does not count. */
	{SPEC3, "[" POD("ph-clickhouse-0-0", "True") "," POD("ph-clickhouse-1-0", "False") "]", 1,
	 -EAGAIN, "no ClickHouse replica of shard 1 is Ready: ph-clickhouse-1-0 is not Ready, "
	 "ph-clickhouse-1-1 has no pod, ph-clickhouse-1-2 has no pod"},
	/* A replica beyond replicasPerShard (a StatefulSet not yet scaled
	 * down) is not chosen. */
	{"{\"clickhouse\":{\"shards\":1}}", "[" POD("ph-clickhouse-0-0", "False") ","
	 POD("ph-clickhouse-0-1", "True") "]", 0, -EAGAIN,
	 "shard 0 is Ready: ph-clickhouse-0-0 is not Ready"},
	{SPEC3, "[" GONE("ph-clickhouse-0-0") "]", 0, -EAGAIN, "ph-clickhouse-0-0 is being deleted"},
	/* No pods at all. */
	{SPEC3, "[]", 0, -EAGAIN, "ph-clickhouse-0-0 has no pod"},
	/* A shard outside the topology. */
	{SPEC3, "[]", 2, -EINVAL, NULL},
	/* An external ClickHouse has no replicas to pick. */
	{"{\"clickhouse\":{\"external\":{\"host\":\"ch\"}}}", "[]", 0, -EINVAL, NULL},
};

START_TEST(test_pick_replica)
{
	cJSON *spec = parse(pick_cases[_i].spec), *items = parse(pick_cases[_i].pods);
	cJSON *list = cJSON_CreateObject();
	char why[512] = "";
	int r;

	cJSON_AddItemToObject(list, "items", items);
	r = phb_pick_replica("ph", spec, pick_cases[_i].shard, list, why, sizeof(why));
	ck_assert_int_eq(r, pick_cases[_i].want);
	if (pick_cases[_i].why)
		ck_assert_msg(strstr(why, pick_cases[_i].why), "got \"%s\", want \"%s\"", why,
			      pick_cases[_i].why);
	cJSON_Delete(list);
	cJSON_Delete(spec);
}
END_TEST

static const struct {
	const char *spec;
	bool restore;
	const char *err; /* NULL: valid */
} spec_cases[] = {
	{"{\"posthog\":{\"name\":\"a\"},\"store\":" STORE "}", false, NULL},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":" STORE ",\"retention\":\"7d\"}", false, NULL},
	{"{\"store\":" STORE "}", false, "spec.posthog.name is required"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":{\"endpoint\":\"ftp://x\",\"bucket\":\"b\","
	 "\"credentials\":{\"secretName\":\"s\"}}}", false, "spec.store.endpoint"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":{\"endpoint\":\"http://x\\r\\nX: y\",\"bucket\":\"b\","
	 "\"credentials\":{\"secretName\":\"s\"}}}", false, "spec.store.endpoint"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":{\"endpoint\":\"http://x\","
	 "\"credentials\":{\"secretName\":\"s\"}}}", false, "spec.store.bucket"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":{\"endpoint\":\"http://x\",\"bucket\":\"b\","
	 "\"prefix\":\"/p\",\"credentials\":{\"secretName\":\"s\"}}}", false, "spec.store.prefix"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":{\"endpoint\":\"http://x\",\"bucket\":\"b\"}}",
	 false, "spec.store.credentials.secretName"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":" STORE ",\"retention\":\"7 days\"}", false,
	 "spec.retention"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":" STORE "}", true, "spec.backupName"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":" STORE ",\"backupName\":\"../x\"}", true,
	 "spec.backupName"},
	{"{\"posthog\":{\"name\":\"a\"},\"store\":" STORE ",\"backupName\":\"nightly-1\"}", true, NULL},
};

START_TEST(test_validate)
{
	cJSON *spec = parse(spec_cases[_i].spec);
	char err[512] = "";
	int r = phb_validate_spec(spec, spec_cases[_i].restore, err, sizeof(err));

	if (!spec_cases[_i].err) {
		ck_assert_msg(r == 0, "%s: %s", spec_cases[_i].spec, err);
	} else {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_msg(strstr(err, spec_cases[_i].err), "got \"%s\", want \"%s\"", err,
			      spec_cases[_i].err);
	}
	cJSON_Delete(spec);
}
END_TEST

static const struct {
	const char *job;
	int want;
	const char *msg;
} outcome_cases[] = {
	{"{\"metadata\":{\"name\":\"j\"}}", 0, ""},
	{"{\"metadata\":{\"name\":\"j\"},\"status\":{\"conditions\":[{\"type\":\"Complete\","
	 "\"status\":\"True\"}]}}", 1, ""},
	{"{\"metadata\":{\"name\":\"j\"},\"status\":{\"conditions\":[{\"type\":\"Complete\","
	 "\"status\":\"False\"}]}}", 0, ""},
	{"{\"metadata\":{\"name\":\"j\"},\"status\":{\"conditions\":[{\"type\":\"Failed\","
	 "\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\",\"message\":\"Job has reached the "
	 "specified backoff limit\"}]}}", -1, "Job j failed: BackoffLimitExceeded: Job has reached"},
};

START_TEST(test_outcome)
{
	cJSON *job = parse(outcome_cases[_i].job);
	char msg[512] = "";

	ck_assert_int_eq(phb_job_outcome(job, msg, sizeof(msg)), outcome_cases[_i].want);
	ck_assert_msg(strstr(msg, outcome_cases[_i].msg), "%s", msg);
	cJSON_Delete(job);
}
END_TEST

START_TEST(test_names)
{
	char out[128];

	ck_assert_int_eq(phb_scheduled_name("nightly", 1796094000, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "nightly-20261201030000");
	ck_assert_int_eq(phb_job_name("b", 12, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "b-s12");
	ck_assert_int_eq(phb_job_name("a-name-that-is-far-too-long-for-a-job-name-because-it-has-"
				      "sixty-characters", 0, out, sizeof(out)), -ENOSPC);
}
END_TEST

START_TEST(test_condition)
{
	cJSON *conds = cJSON_CreateArray();

	phb_set_condition(conds, "Completed", "False", "Running", "m1", "2026-01-01T00:00:00Z");
	phb_set_condition(conds, "Completed", "False", "Running", "m2", "2026-01-01T00:01:00Z");
	ck_assert_int_eq(cJSON_GetArraySize(conds), 1);
	ck_assert_str_eq(at(conds, "0.lastTransitionTime"), "2026-01-01T00:00:00Z");
	ck_assert_str_eq(at(conds, "0.message"), "m2");
	phb_set_condition(conds, "Completed", "True", "BackupCompleted", "ok", "2026-01-01T00:02:00Z");
	ck_assert_str_eq(at(conds, "0.lastTransitionTime"), "2026-01-01T00:02:00Z");
	ck_assert_str_eq(at(conds, "0.status"), "True");
	cJSON_Delete(conds);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("phbackup");
	TCase *tc = tcase_create("phbackup");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_job, 0, sizeof(job_cases) / sizeof(job_cases[0]));
	tcase_add_test(tc, test_job_restore_and_external);
	tcase_add_test(tc, test_job_replica);
	tcase_add_loop_test(tc, test_step_job, 0, sizeof(step_jobs) / sizeof(step_jobs[0]));
	tcase_add_loop_test(tc, test_restore_step, 0, sizeof(step_cases) / sizeof(step_cases[0]));
	tcase_add_test(tc, test_step_names);
	tcase_add_loop_test(tc, test_job_replica_annotation, 0,
			    sizeof(job_replica_cases) / sizeof(job_replica_cases[0]));
	tcase_add_loop_test(tc, test_pick_replica, 0, sizeof(pick_cases) / sizeof(pick_cases[0]));
	tcase_add_loop_test(tc, test_validate, 0, sizeof(spec_cases) / sizeof(spec_cases[0]));
	tcase_add_loop_test(tc, test_outcome, 0, sizeof(outcome_cases) / sizeof(outcome_cases[0]));
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_condition);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
