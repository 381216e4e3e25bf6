/* Unit tests of kubectl-posthog's pure parts, table-driven. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "api/posthog/posthog.h"
#include "plugin.h"

/* A minimal valid PostHog (examples/minimal.yaml's), buckets set per test. */
static cJSON *posthog(unsigned buckets, const char *pins)
{
	char text[2048];
	cJSON *ph;

	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"posthog.com/v1alpha1\",\"kind\":\"PostHog\","
		 "\"metadata\":{\"name\":\"ph\",\"namespace\":\"ns\"},"
		 "\"spec\":{\"version\":\"03bc2ff27ab6730aef6b418718014e523e206fd3\","
		 "\"postgres\":{\"urlSecret\":{\"name\":\"app\",\"key\":\"database-url\"}},"
		 "\"redis\":{\"urlSecret\":{\"name\":\"app\",\"key\":\"redis-url\"}},"
		 "\"secretKey\":{\"name\":\"app\",\"key\":\"secret-key\"},"
		 "\"encryptionSaltKeys\":{\"name\":\"app\",\"key\":\"encryption-salt-keys\"},"
		 "\"zookeeper\":{\"replicas\":3},\"kafka\":{\"brokers\":2,\"topics\":{\"partitions\":1}},"
		 "\"clickhouse\":{\"shards\":2,\"replicasPerShard\":2,\"passwordSecret\":{\"name\":\"ch\"}},"
		 "\"buckets\":{\"count\":%u%s%s}}}",
		 buckets, pins ? ",\"pins\":" : "", pins ? pins : "");
	ph = cJSON_Parse(text);
	ck_assert_ptr_nonnull(ph);
	return ph;
}

/* ---- arguments ------------------------------------------------------------ */

static const struct {
	const char *argv[12];
	int rc;
	const char *err;   /* a word the error names */
	enum kp_cmd cmd;
	const char *name, *ns;
	bool json;
	unsigned count;
} args_cases[] = {
	{{"status", "ph"}, 0, NULL, KP_CMD_STATUS, "ph", NULL, false, 0},
	{{"-n", "x", "status", "ph", "-o", "json"}, 0, NULL, KP_CMD_STATUS, "ph", "x", true, 0},
	{{"status", "ph", "--namespace=y", "-ojson"}, 0, NULL, KP_CMD_STATUS, "ph", "y", true, 0},
	{{"buckets", "ph", "--count", "4", "--team=-3"}, 0, NULL, KP_CMD_BUCKETS, "ph", NULL, false, 4},
	{{"upgrade", "ph", "--to", "v", "--dry-run"}, 0, NULL, KP_CMD_UPGRADE, "ph", NULL, false, 0},
	{{"restore", "ph", "--backup", "b1"}, 0, NULL, KP_CMD_RESTORE, "ph", NULL, false, 0},
	{{"report", "ph", "-f", "out.tgz", "--log-lines", "10"}, 0, NULL, KP_CMD_REPORT, "ph", NULL, false, 0},
	{{"--help"}, 0, NULL, KP_CMD_HELP, NULL, NULL, false, 0},
	{{"status", "--help"}, 0, NULL, KP_CMD_HELP, NULL, NULL, false, 0},
	{{"version"}, 0, NULL, KP_CMD_VERSION, NULL, NULL, false, 0},
	{{NULL}, -EINVAL, "no command", 0, NULL, NULL, false, 0},
	{{"status"}, -EINVAL, "NAME", 0, NULL, NULL, false, 0},
	{{"status", "a", "b"}, -EINVAL, "\"b\"", 0, NULL, NULL, false, 0},
	{{"frob", "ph"}, -EINVAL, "frob", 0, NULL, NULL, false, 0},
	{{"status", "ph", "--bogus"}, -EINVAL, "--bogus", 0, NULL, NULL, false, 0},
	{{"status", "ph", "-o", "yaml"}, -EINVAL, "-o", 0, NULL, NULL, false, 0},
	{{"status", "ph", "-n"}, -EINVAL, "-n: needs a value", 0, NULL, NULL, false, 0},
	{{"status", "ph", "-n", ""}, -EINVAL, "-n", 0, NULL, NULL, false, 0},
	{{"status", "ph", "--color", "red"}, -EINVAL, "--color", 0, NULL, NULL, false, 0},
	{{"status", "ph", "--events", "1001"}, -EINVAL, "--events", 0, NULL, NULL, false, 0},
	{{"buckets", "ph", "--count", "0"}, -EINVAL, "--count", 0, NULL, NULL, false, 0},
	{{"buckets", "ph", "--count", "65"}, -EINVAL, "--count", 0, NULL, NULL, false, 0},
	{{"buckets", "ph", "--count", "2x"}, -EINVAL, "--count", 0, NULL, NULL, false, 0},
	{{"buckets", "ph", "--team", "1.5"}, -EINVAL, "--team", 0, NULL, NULL, false, 0},
	{{"buckets", "ph", "--teams", "5-1"}, -EINVAL, "--teams", 0, NULL, NULL, false, 0},
	{{"buckets", "ph", "--teams", "1-99999999"}, -EINVAL, "--teams", 0, NULL, NULL, false, 0},
	{{"status", "ph", "--count", "2"}, -EINVAL, "--count: not a flag of this command", 0, NULL, NULL, false, 0},
	{{"upgrade", "ph", "--dry-run"}, -EINVAL, "--to", 0, NULL, NULL, false, 0},
	{{"upgrade", "ph", "--to", "v"}, -EINVAL, "--dry-run", 0, NULL, NULL, false, 0},
	{{"upgrade", "ph", "--to", "v", "--dry-run=yes"}, -EINVAL, "--dry-run: takes no value", 0, NULL, NULL, false, 0},
	{{"restore", "ph"}, -EINVAL, "--backup", 0, NULL, NULL, false, 0},
	{{"backup", "ph", "--name", "Bad_Name"}, -EINVAL, "--name", 0, NULL, NULL, false, 0},
	{{"backup", "ph", "--s3-endpoint", "ftp://x"}, -EINVAL, "--s3-endpoint", 0, NULL, NULL, false, 0},
	{{"report", "ph", "--log-lines", "0"}, -EINVAL, "--log-lines", 0, NULL, NULL, false, 0},
};

START_TEST(test_args)
{
	char *argv[16] = {"kubectl-posthog"};
	struct kp_args a = {0};
	char err[512] = "";
	int argc = 1, r;

	for (int k = 0; args_cases[_i].argv[k]; k++)
		argv[argc++] = (char *)args_cases[_i].argv[k];
	r = kp_parse_args(argc, argv, &a, err, sizeof(err));
	ck_assert_int_eq(r, args_cases[_i].rc);
	if (r) {
		ck_assert_msg(strstr(err, args_cases[_i].err), "case %d: \"%s\" lacks \"%s\"", _i, err,
			      args_cases[_i].err);
		return;
	}
	ck_assert_int_eq(a.cmd, args_cases[_i].cmd);
	if (args_cases[_i].name)
		ck_assert_str_eq(a.name, args_cases[_i].name);
	if (args_cases[_i].ns)
		ck_assert_str_eq(a.ns, args_cases[_i].ns);
	ck_assert_int_eq(a.json, args_cases[_i].json);
	ck_assert_uint_eq(a.count, args_cases[_i].count);
}
END_TEST

/* ---- buckets ---------------------------------------------------------------- */

static const struct {
	unsigned from, to;
	const char *pins;
	int64_t pinned_team;
} bucket_cases[] = {
	{1, 4, NULL, INT64_MIN},
	{2, 3, NULL, INT64_MIN},
	{4, 2, NULL, INT64_MIN},
	{3, 8, "[{\"teamId\":7,\"bucket\":1},{\"teamId\":-5,\"bucket\":0}]", 7},
	{8, 3, "[{\"teamId\":9,\"bucket\":2}]", 9},
};

START_TEST(test_buckets_preview)
{
	cJSON *ph = posthog(bucket_cases[_i].from, bucket_cases[_i].pins), *doc = NULL, *spec = NULL;
	struct kp_buckets_options o = {.count = bucket_cases[_i].to, .teams_first = -10,
				       .teams_last = 2000, .max_listed = 100000,
				       .has_team = true, .team = 1234};
	const cJSON *m, *pins;
	char err[256];
	unsigned moved = 0, listed = 0, per_sum = 0, want;
	const cJSON *v;

	ck_assert_int_eq(kp_buckets_doc(ph, &o, &doc, err, sizeof(err)), 0);
	ck_assert_int_eq(ph_normalize(ph, &spec), 0);
	pins = cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "buckets"), "pins");
	for (int64_t t = o.teams_first; t <= o.teams_last; t++) {
		unsigned a, b;

		ck_assert_int_eq(ph_bucket_for_team(t, bucket_cases[_i].from, pins, &a), 0);
		ck_assert_int_eq(ph_bucket_for_team(t, bucket_cases[_i].to, pins, &b), 0);
		moved += a != b;
	}
	ck_assert_uint_eq((unsigned)cJSON_GetNumberValue(kp_get(doc, "preview.moved")), moved);
	ck_assert(cJSON_GetNumberValue(kp_get(doc, "preview.share")) == (double)moved / 2011.0);
	cJSON_ArrayForEach(m, kp_get(doc, "preview.movedTeams")) {
		int64_t t = (int64_t)cJSON_GetNumberValue(kp_get(m, "team"));
		unsigned a, b;

		ck_assert_int_eq(ph_bucket_for_team(t, bucket_cases[_i].from, pins, &a), 0);
		ck_assert_int_eq(ph_bucket_for_team(t, bucket_cases[_i].to, pins, &b), 0);
		ck_assert_uint_eq((unsigned)cJSON_GetNumberValue(kp_get(m, "from")), a);
		ck_assert_uint_eq((unsigned)cJSON_GetNumberValue(kp_get(m, "to")), b);
		ck_assert(t != bucket_cases[_i].pinned_team);
		listed++;
	}
	ck_assert_uint_eq(listed, moved);
	cJSON_ArrayForEach(v, kp_get(doc, "teamsPerBucket"))
		per_sum += (unsigned)v->valuedouble;
	ck_assert_uint_eq(per_sum, 2011);
	ck_assert_int_eq(ph_bucket_for_team(1234, bucket_cases[_i].from, pins, &want), 0);
	ck_assert_uint_eq((unsigned)cJSON_GetNumberValue(kp_get(doc, "team.bucket")), want);
	cJSON_Delete(doc);
	cJSON_Delete(spec);
	cJSON_Delete(ph);
}
END_TEST

START_TEST(test_buckets_listing_cap)
{
	cJSON *ph = posthog(1, NULL), *doc = NULL;
	struct kp_buckets_options o = {.count = 2, .teams_first = 1, .teams_last = 1000, .max_listed = 3};
	char err[256];

	ck_assert_int_eq(kp_buckets_doc(ph, &o, &doc, err, sizeof(err)), 0);
	ck_assert_int_eq(cJSON_GetArraySize(kp_get(doc, "preview.movedTeams")), 3);
	ck_assert(cJSON_IsTrue(kp_get(doc, "preview.truncated")));
	ck_assert(cJSON_GetNumberValue(kp_get(doc, "preview.moved")) > 3);
	cJSON_Delete(doc);
	cJSON_Delete(ph);
}
END_TEST

/* ---- status --------------------------------------------------------------- */

static const struct {
	const char *status;
	const char *events;
	unsigned nevents;
	const char *want_upgrade; /* JSON, "null" when absent */
	const char *want_lag;     /* JSON of buckets[0].lag */
	int want_events;
	const char *first_reason;
} status_cases[] = {
	{"{\"phase\":\"Ready\",\"buckets\":[{\"bucket\":0,\"ready\":true}]}", NULL, 10, "null", "null", 0, NULL},
	{"{\"upgrade\":{\"phase\":\"Running\",\"step\":3},\"buckets\":[{\"bucket\":0,\"consumerLag\":12}]}",
	 NULL, 10, "{\"phase\":\"Running\",\"step\":3}", "12", 0, NULL},
	{"{\"buckets\":[{\"bucket\":0,\"lag\":{\"messages\":5}}]}",
	 "{\"items\":[{\"reason\":\"B\",\"lastTimestamp\":\"2026-01-02T00:00:00Z\"},"
	 "{\"reason\":\"A\",\"lastTimestamp\":\"2026-01-01T00:00:00Z\"},"
	 "{\"reason\":\"C\",\"eventTime\":\"2026-01-03T00:00:00.000000Z\"}]}",
	 2, "null", "{\"messages\":5}", 2, "B"},
	{"{\"buckets\":[{\"bucket\":0}]}",
	 "{\"items\":[{\"reason\":\"A\",\"lastTimestamp\":\"2026-01-01T00:00:00Z\"}]}", 0, "null", "null", 0, NULL},
};

START_TEST(test_status_doc)
{
	cJSON *ph = posthog(1, NULL), *events = NULL, *doc, *want;
	struct buf text;

	cJSON_AddItemToObject(ph, "status", cJSON_Parse(status_cases[_i].status));
	if (status_cases[_i].events)
		events = cJSON_Parse(status_cases[_i].events);
	doc = kp_status_doc(ph, events, NULL, status_cases[_i].nevents);
	{
		cJSON *bl = cJSON_Parse("{\"items\":[{\"metadata\":{\"name\":\"b\"},"
					"\"spec\":{\"posthog\":{\"name\":\"ph\"}}},"
					"{\"metadata\":{\"name\":\"o\"},\"spec\":{\"posthog\":{\"name\":\"x\"}}}]}");
		cJSON *with = kp_status_doc(ph, events, bl, status_cases[_i].nevents);

		ck_assert_int_eq(cJSON_GetArraySize(kp_get(with, "backups")), 1);
		ck_assert_str_eq(kp_str(cJSON_GetArrayItem(kp_get(with, "backups"), 0), "name"), "b");
		cJSON_Delete(with);
		cJSON_Delete(bl);
	}
	want = cJSON_Parse(status_cases[_i].want_upgrade);
	ck_assert(cJSON_Compare(kp_get(doc, "upgrade"), want, 1));
	cJSON_Delete(want);
	want = cJSON_Parse(status_cases[_i].want_lag);
	ck_assert(cJSON_Compare(cJSON_GetObjectItem(cJSON_GetArrayItem(kp_get(doc, "buckets"), 0), "lag"),
				want, 1));
	cJSON_Delete(want);
	ck_assert(cJSON_IsNull(kp_get(doc, "reshard")));
	ck_assert(cJSON_IsNull(kp_get(doc, "backups")));
	ck_assert_int_eq(cJSON_GetArraySize(kp_get(doc, "events")), status_cases[_i].want_events);
	if (status_cases[_i].first_reason)
		ck_assert_str_eq(kp_str(cJSON_GetArrayItem(kp_get(doc, "events"), 0), "reason"),
				 status_cases[_i].first_reason);
	buf_init(&text, 1 << 20);
	ck_assert_int_eq(kp_status_text(doc, false, &text), 0);
	ck_assert_ptr_null(strchr(buf_str(&text), '\033'));
	ck_assert_ptr_nonnull(strstr(buf_str(&text), "Reshard\n  none"));
	buf_reset(&text);
	ck_assert_int_eq(kp_status_text(doc, true, &text), 0);
	ck_assert_ptr_nonnull(strchr(buf_str(&text), '\033'));
	buf_free(&text);
	cJSON_Delete(doc);
	cJSON_Delete(events);
	cJSON_Delete(ph);
}
END_TEST

/* ---- upgrade ------------------------------------------------------------- */

static int rank(const char *component)
{
	static const char *const order[] = {"zookeeper", "kafka", "clickhouse", "migrations",
					    "plugin-server", NULL};

	for (int i = 0; order[i]; i++)
		if (!strcmp(order[i], component))
			return i;
	return -1;
}

START_TEST(test_upgrade_plan)
{
	cJSON *ph = posthog(3, NULL), *plan = NULL;
	const struct ph_version *target = NULL;
	const cJSON *s;
	char err[2048];
	int last = 0, n = 0, zk = 0, ch = 0, ps = 0, prev_bucket = -1;

	for (size_t i = 0; ph_version_at(i); i++)
		if (strcmp(ph_version_at(i)->version, kp_str(ph, "spec.version")))
			target = ph_version_at(i);
	ck_assert_ptr_nonnull(target);
	ck_assert_msg(kp_upgrade_plan(ph, target->version, &plan, err, sizeof(err)) == 0, "%s", err);
	cJSON_ArrayForEach(s, kp_get(plan, "steps")) {
		int r = rank(kp_str(s, "component"));

		ck_assert_int_ge(r, last);
		last = r;
		ck_assert_int_eq((int)cJSON_GetNumberValue(kp_get(s, "step")), ++n);
		zk += r == 0;
		ch += r == 2;
		if (r == 4) {
			ck_assert_int_ge((int)cJSON_GetNumberValue(kp_get(s, "bucket")), prev_bucket);
			prev_bucket = (int)cJSON_GetNumberValue(kp_get(s, "bucket"));
			ck_assert(cJSON_IsTrue(kp_get(s, "changes")));
			ps++;
		}
	}
	ck_assert_int_eq(zk, 3);           /* one step per ZooKeeper server */
	ck_assert_int_eq(ch, 4);           /* 2 shards x 2 replicas */
	ck_assert_int_eq(ps, 6);           /* ingestion + async, 3 buckets */
	ck_assert_str_eq(kp_str(cJSON_GetArrayItem(kp_get(plan, "steps"), 0), "target"),
			 "ph-zookeeper-2"); /* highest ordinal first */
	cJSON_Delete(plan);
	ck_assert_int_eq(kp_upgrade_plan(ph, "no-such", &plan, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--to: no-such is not in the version matrix"));
	cJSON_Delete(ph);
}
END_TEST

/* ---- backups ------------------------------------------------------------ */

START_TEST(test_backups_store)
{
	cJSON *list = cJSON_Parse(
		"{\"items\":["
		"{\"metadata\":{\"name\":\"old\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
		" \"spec\":{\"posthog\":{\"name\":\"ph\"},\"store\":{\"bucket\":\"old\"}}},"
		"{\"metadata\":{\"name\":\"other\",\"creationTimestamp\":\"2026-03-01T00:00:00Z\"},"
		" \"spec\":{\"posthog\":{\"name\":\"else\"},\"store\":{\"bucket\":\"x\"}}},"
		"{\"metadata\":{\"name\":\"new\",\"creationTimestamp\":\"2026-02-01T00:00:00Z\"},"
		" \"spec\":{\"posthog\":{\"name\":\"ph\"},\"store\":{\"bucket\":\"new\"}},"
		" \"status\":{\"phase\":\"Completed\",\"bytes\":10}}]}");
	struct kp_args a = {.name = "ph"};
	cJSON *doc = kp_backups_doc(list, "ph"), *store = NULL, *ph = posthog(1, NULL), *obj;
	char err[512];

	ck_assert_int_eq(cJSON_GetArraySize(kp_get(doc, "backups")), 2);
	ck_assert_str_eq(kp_str(cJSON_GetArrayItem(kp_get(doc, "backups"), 0), "name"), "new");
	ck_assert_str_eq(kp_str(cJSON_GetArrayItem(kp_get(doc, "backups"), 1), "phase"), "Pending");
	ck_assert_int_eq(kp_store(&a, NULL, list, &store, err, sizeof(err)), 0);
	ck_assert_str_eq(kp_str(store, "bucket"), "new");
	obj = kp_restore_object(ph, NULL, "new", store, true, 0);
	ck_assert_str_eq(kp_str(obj, "kind"), "PostHogRestore");
	ck_assert_str_eq(kp_str(obj, "spec.backupName"), "new");
	ck_assert_str_eq(kp_str(obj, "spec.posthog.name"), "ph");
	ck_assert_str_eq(kp_str(obj, "metadata.name"), "restore-new-19700101000000");
	cJSON_Delete(obj);
	cJSON_Delete(store);
	a.name = "nobody";
	ck_assert_int_eq(kp_store(&a, NULL, list, &store, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "--s3-endpoint"));
	a.s3_endpoint = "https://s3";
	ck_assert_int_eq(kp_store(&a, NULL, list, &store, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--s3-bucket"));
	a.s3_bucket = "b";
	a.s3_secret = "creds";
	ck_assert_int_eq(kp_store(&a, NULL, list, &store, err, sizeof(err)), 0);
	obj = kp_backup_object(ph, NULL, store, 86400);
	ck_assert_str_eq(kp_str(obj, "metadata.name"), "ph-19700102000000");
	ck_assert_str_eq(kp_str(obj, "spec.store.credentials.secretName"), "creds");
	cJSON_Delete(obj);
	cJSON_Delete(store);
	cJSON_Delete(doc);
	cJSON_Delete(list);
	cJSON_Delete(ph);
}
END_TEST

/* ---- redaction ----------------------------------------------------------- */

static const struct {
	const char *secret;
	const char *in, *out;
	long n;
} redact_cases[] = {
	/* data: "hunter22" is aHVudGVyMjI= */
	{"{\"data\":{\"p\":\"aHVudGVyMjI=\"}}", "pw=hunter22 b64=aHVudGVyMjI=", "pw=<redacted> b64=<redacted>", 2},
	{"{\"stringData\":{\"url\":\"postgres://u:pa\\\"ss@h/db\"}}",
	 "{\"u\":\"postgres://u:pa\\\"ss@h/db\"} raw postgres://u:pa\"ss@h/db",
	 "{\"u\":\"<redacted>\"} raw <redacted>", 2},
	{"{\"data\":{\"a\":\"YWI=\"}}", "ab is short", "ab is short", 0},
	{"{\"stringData\":{\"a\":\"secret\",\"b\":\"secret-longer\"}}", "secret-longer secret",
	 "<redacted> <redacted>", 2},
	{"{\"data\":{}}", "nothing here", "nothing here", 0},
};

START_TEST(test_redact)
{
	struct kp_redactor *r = kp_redactor_new();
	cJSON *secret = cJSON_Parse(redact_cases[_i].secret);
	struct buf b;

	ck_assert_int_eq(kp_redactor_learn(r, secret, NULL), 0);
	buf_init(&b, 4096);
	ck_assert_int_eq(buf_append_str(&b, redact_cases[_i].in), 0);
	ck_assert_int_eq(kp_redact(r, &b), redact_cases[_i].n);
	ck_assert_str_eq(buf_str(&b), redact_cases[_i].out);
	kp_redact_secret(secret);
	{
		char *s = cJSON_PrintUnformatted(secret);

		ck_assert_ptr_null(strstr(s, "aHVudGVyMjI="));
		ck_assert_ptr_null(strstr(s, "secret\""));
		free(s);
	}
	buf_free(&b);
	cJSON_Delete(secret);
	kp_redactor_free(r);
}
END_TEST

/* ---- tar ------------------------------------------------------------------ */

static size_t gunzip(const unsigned char *in, size_t len, unsigned char *out, size_t cap)
{
	z_stream z = {0};
	size_t n;

	ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	n = cap - z.avail_out;
	inflateEnd(&z);
	return n;
}

static const struct {
	const char *name;
	size_t len;
	int rc;
} tar_cases[] = {
	{"a.json", 0, 0},
	{"dir/b.log", 511, 0},
	{"dir/c.log", 513, 0},
	{"012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678",
	 1, 0},
	{"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
	 1, -ENAMETOOLONG},
	{"big", KP_TAR_MAX_FILE + 1, -EFBIG},
	{"over-total", 70000, -EMSGSIZE},
};

START_TEST(test_tar)
{
	struct kp_tar *t;
	unsigned char *gz, *raw = malloc(1 << 20);
	char *data = calloc(1, tar_cases[_i].len + 1);
	size_t gzlen, n;
	unsigned sum = 0;
	char field[16];

	memset(data, 'x', tar_cases[_i].len);
	ck_assert_int_eq(kp_tar_new(65536, &t), 0);
	ck_assert_int_eq(kp_tar_add(t, tar_cases[_i].name, data, tar_cases[_i].len, 1000),
			 tar_cases[_i].rc);
	ck_assert_int_eq(kp_tar_finish(t, &gz, &gzlen), 0);
	n = gunzip(gz, gzlen, raw, 1 << 20);
	if (tar_cases[_i].rc) {
		ck_assert_uint_eq(n, 1024); /* an empty archive */
		goto out;
	}
	ck_assert_uint_eq(n, 512 + (tar_cases[_i].len + 511) / 512 * 512 + 1024);
	ck_assert_str_eq((char *)raw, tar_cases[_i].name);
	snprintf(field, sizeof(field), "%011zo", tar_cases[_i].len);
	ck_assert_int_eq(memcmp(raw + 124, field, 11), 0);
	ck_assert_int_eq(memcmp(raw + 257, "ustar", 6), 0);
	for (int i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : raw[i];
	snprintf(field, sizeof(field), "%06o", sum);
	ck_assert_int_eq(memcmp(raw + 148, field, 6), 0);
	ck_assert_int_eq(memcmp(raw + 512, data, tar_cases[_i].len), 0);
out:
	free(gz);
	free(raw);
	free(data);
	kp_tar_free(t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("kubectl-posthog");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_args, 0, sizeof(args_cases) / sizeof(args_cases[0]));
	tcase_add_loop_test(tc, test_buckets_preview, 0, sizeof(bucket_cases) / sizeof(bucket_cases[0]));
	tcase_add_test(tc, test_buckets_listing_cap);
	tcase_add_loop_test(tc, test_status_doc, 0, sizeof(status_cases) / sizeof(status_cases[0]));
	tcase_add_test(tc, test_upgrade_plan);
	tcase_add_test(tc, test_backups_store);
	tcase_add_loop_test(tc, test_redact, 0, sizeof(redact_cases) / sizeof(redact_cases[0]));
	tcase_add_loop_test(tc, test_tar, 0, sizeof(tar_cases) / sizeof(tar_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
