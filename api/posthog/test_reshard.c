/* The reshard plan, its Job and its status (reshard.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "reshard.h"

static const struct {
	const char *name;
	const char *old; /* status.reshard, or NULL */
	int had, want;
	const char *want_plan; /* NULL: no plan */
	int keep;
} plans[] = {
	{"balanced, never resharded", NULL, 2, 2, NULL, 0},
	{"never synced: nothing known to move", NULL, -1, 3, NULL, 0},
	{"2 -> 3 starts a plan", NULL, 2, 3,
	 "{\"from\":2,\"to\":3,\"phase\":\"Pending\",\"attempts\":0,\"startedAt\":\"T\"}", 3},
	{"3 -> 2 keeps the third shard", NULL, 3, 2,
	 "{\"from\":3,\"to\":2,\"phase\":\"Pending\",\"attempts\":0,\"startedAt\":\"T\"}", 3},
	{"a running plan for the same count is kept",
	 "{\"from\":2,\"to\":3,\"phase\":\"Running\",\"attempts\":1,\"job\":\"j\"}", 2, 3,
	 "{\"from\":2,\"to\":3,\"phase\":\"Running\",\"attempts\":1,\"job\":\"j\"}", 3},
	{"a paused plan stays paused",
	 "{\"from\":2,\"to\":3,\"phase\":\"Paused\",\"attempts\":0}", 2, 3,
	 "{\"from\":2,\"to\":3,\"phase\":\"Paused\",\"attempts\":0}", 3},
	{"changed mid-plan: rows may be on every shard of the old plan",
	 "{\"from\":2,\"to\":3,\"phase\":\"Running\",\"attempts\":0}", 2, 2,
	 "{\"from\":3,\"to\":2,\"phase\":\"Pending\",\"attempts\":0,\"startedAt\":\"T\"}", 3},
	{"a done plan stays as the record",
	 "{\"from\":2,\"to\":3,\"phase\":\"Done\"}", 3, 3,
	 "{\"from\":2,\"to\":3,\"phase\":\"Done\"}", 0},
	{"after a done plan, a new change starts from the recorded count",
	 "{\"from\":2,\"to\":3,\"phase\":\"Done\"}", 3, 1,
	 "{\"from\":3,\"to\":1,\"phase\":\"Pending\",\"attempts\":0,\"startedAt\":\"T\"}", 3},
};

START_TEST(test_plan)
{
	cJSON *old = plans[_i].old ? cJSON_Parse(plans[_i].old) : NULL;
	cJSON *p = ph_reshard_plan(old, plans[_i].had, plans[_i].want, "T");

	if (!plans[_i].want_plan) {
		ck_assert_msg(p == NULL, "%s: a plan", plans[_i].name);
	} else {
		cJSON *want = cJSON_Parse(plans[_i].want_plan);

		ck_assert_msg(cJSON_Compare(p, want, 1), "%s: %s", plans[_i].name,
			      p ? cJSON_PrintUnformatted(p) : "NULL");
		cJSON_Delete(want);
	}
	ck_assert_int_eq(ph_reshard_keep_shards(p), plans[_i].keep);
	cJSON_Delete(p);
	cJSON_Delete(old);
}
END_TEST

static const char posthog[] =
	"{\"apiVersion\":\"posthog.com/v1alpha1\",\"kind\":\"PostHog\","
	"\"metadata\":{\"name\":\"ph\",\"namespace\":\"ns\",\"uid\":\"u1\"},"
	"\"spec\":{\"version\":\"03bc2ff27ab6730aef6b418718014e523e206fd3\",\"clickhouse\":{\"shards\":2,"
	"\"passwordSecret\":{\"name\":\"chpw\",\"key\":\"pw\"},%s},"
	"\"postgres\":{\"urlSecret\":{\"name\":\"app\",\"key\":\"db\"}},"
	"\"redis\":{\"urlSecret\":{\"name\":\"app\",\"key\":\"redis\"}},"
	"\"secretKey\":{\"name\":\"app\",\"key\":\"secret-key\"},"
	"\"encryptionSaltKeys\":{\"name\":\"app\",\"key\":\"salt\"}}}";

static cJSON *job_for(const char *extra, const char *plan)
{
	char text[2048];
	cJSON *ph, *p = cJSON_Parse(plan), *job = NULL;
	struct ph_build_options o = {.router_image = "example/op:1"};

	snprintf(text, sizeof(text), posthog, extra);
	ph = cJSON_Parse(text);
	ck_assert_ptr_nonnull(ph);
	ck_assert_int_eq(ph_reshard_job(ph, &o, p, &job), 0);
	cJSON_Delete(ph);
	cJSON_Delete(p);
	return job;
}

static const cJSON *container(const cJSON *job)
{
	return cJSON_GetArrayItem(util_json_get(job, "spec.template.spec.containers"), 0);
}

/* The arguments as one space-separated string. */
static void args_of(const cJSON *job, char *out, size_t outsz)
{
	const cJSON *a;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(container(job), "args"))
		n += (size_t)snprintf(out + n, outsz - n, "%s%s", n ? " " : "", a->valuestring);
}

START_TEST(test_job_shrink)
{
	cJSON *job = job_for("\"database\":\"posthog\"",
			     "{\"from\":3,\"to\":2,\"phase\":\"Pending\",\"attempts\":1}");
	const cJSON *env, *e;
	char args[4096];
	bool pw = false;

	ck_assert_str_eq(util_json_get_str(job, "metadata.name", ""), "ph-reshard-3-2-1");
	ck_assert_str_eq(util_json_get_str(cJSON_GetArrayItem(util_json_get(job, "metadata.ownerReferences"), 0),
					   "uid", "?"), "u1");
	ck_assert_str_eq(util_json_get_str(container(job), "image", ""), "example/op:1");
	args_of(job, args, sizeof(args));
	ck_assert_str_eq(args,
		"reshard --shards 2"
		" --shard http://ph-clickhouse-0-0.ns.svc:8123,ph-clickhouse-0-0.ns.svc:9000"
		" --shard http://ph-clickhouse-1-0.ns.svc:8123,ph-clickhouse-1-0.ns.svc:9000"
		" --shard http://ph-clickhouse-2-0.ns.svc:8123,ph-clickhouse-2-0.ns.svc:9000"
		" --progress-clickhouse --database posthog --cluster posthog");
	env = cJSON_GetObjectItem(container(job), "env");
	cJSON_ArrayForEach(e, env) {
		if (!strcmp(util_json_get_str(e, "name", ""), "CLICKHOUSE_PASSWORD")) {
			pw = true;
			ck_assert_ptr_null(cJSON_GetObjectItem(e, "value"));
			ck_assert_str_eq(util_json_get_str(e, "valueFrom.secretKeyRef.name", ""), "chpw");
			ck_assert_str_eq(util_json_get_str(e, "valueFrom.secretKeyRef.key", ""), "pw");
		}
	}
	ck_assert(pw);
	ck_assert_int_eq(util_json_get_int(job, "spec.backoffLimit", -1), 2);
	ck_assert_str_eq(util_json_get_str(job, "spec.template.spec.restartPolicy", ""), "Never");
	cJSON_Delete(job);
}
END_TEST

START_TEST(test_job_throttle)
{
	cJSON *job = job_for("\"reshard\":{\"maxRowsPerSecond\":5000,\"maxBytesPerSecond\":1048576}",
			     "{\"from\":2,\"to\":3,\"phase\":\"Pending\",\"attempts\":0}");
	char args[4096];

	args_of(job, args, sizeof(args));
	ck_assert_msg(strstr(args, " --shards 3 ") != NULL, "%s", args);
	ck_assert_msg(strstr(args, "--max-rows-per-second 5000") != NULL, "%s", args);
	ck_assert_msg(strstr(args, "--max-bytes-per-second 1048576") != NULL, "%s", args);
	ck_assert_msg(strstr(args, "ph-clickhouse-2-0") != NULL, "%s", args);
	cJSON_Delete(job);
}
END_TEST

START_TEST(test_job_refused)
{
	char text[2048];
	cJSON *ph, *job = NULL, *p = cJSON_Parse("{\"from\":1,\"to\":2,\"phase\":\"Pending\"}");

	snprintf(text, sizeof(text), posthog, "\"database\":\"posthog\"");
	ph = cJSON_Parse(text);
	ck_assert_int_eq(ph_reshard_job(ph, NULL, NULL, &job), -EINVAL);
	ck_assert_ptr_null(job);
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(ph, "spec"), "version");
	cJSON_AddNumberToObject(cJSON_GetObjectItem(ph, "spec"), "version", 3);
	ck_assert_int_eq(ph_reshard_job(ph, NULL, p, &job), -EINVAL);
	ck_assert_ptr_null(job);
	cJSON_Delete(ph);
	cJSON_Delete(p);
}
END_TEST

START_TEST(test_progress)
{
	cJSON *plan = cJSON_Parse("{\"from\":2,\"to\":3,\"phase\":\"Running\"}");
	cJSON *doc = cJSON_Parse(
		"{\"modulus\":3,\"phase\":\"Running\",\"message\":\"\",\"units\":["
		"{\"id\":\"e/1/0->2\",\"table\":\"e\",\"partitionId\":\"1\",\"source\":0,\"target\":2,"
		"\"modulus\":3,\"state\":\"done\",\"rows\":100},"
		"{\"id\":\"e/1/1->2\",\"table\":\"e\",\"partitionId\":\"1\",\"source\":1,\"target\":2,"
		"\"modulus\":3,\"state\":\"attached\",\"rows\":50},"
		"{\"id\":\"e/2/1->2\",\"table\":\"e\",\"partitionId\":\"2\",\"source\":1,\"target\":2,"
		"\"modulus\":3,\"state\":\"verified\",\"rows\":7},"
		"{\"id\":\"e/2/1->0\",\"table\":\"e\",\"partitionId\":\"2\",\"source\":1,\"target\":0,"
		"\"modulus\":2,\"state\":\"done\",\"rows\":9}]}");

	ck_assert(!ph_reshard_progress_done(plan, doc));
	ph_reshard_progress(plan, doc);
	ck_assert_int_eq(util_json_get_int(plan, "unitsTotal", -1), 3);
	ck_assert_int_eq(util_json_get_int(plan, "unitsDone", -1), 1);
	ck_assert_int_eq(util_json_get_int(plan, "rowsMoved", -1), 150);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(plan, "units")), 3);
	ck_assert_str_eq(util_json_get_str(cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "units"), 1), "state", ""),
			 "attached");
	ck_assert_str_eq(util_json_get_str(cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "units"), 1), "partition", ""),
			 "1");
	ck_assert_str_eq(util_json_get_str(plan, "progressPhase", ""), "Running");
	ck_assert_ptr_null(cJSON_GetObjectItem(plan, "message"));
	cJSON_ReplaceItemInObject(doc, "phase", cJSON_CreateString("Done"));
	ck_assert(ph_reshard_progress_done(plan, doc));
	cJSON_ReplaceItemInObject(doc, "modulus", cJSON_CreateNumber(2));
	ck_assert(!ph_reshard_progress_done(plan, doc));
	ph_reshard_progress(plan, NULL);
	ck_assert_ptr_null(cJSON_GetObjectItem(plan, "units"));
	ck_assert_ptr_null(cJSON_GetObjectItem(plan, "rowsMoved"));
	cJSON_Delete(plan);
	cJSON_Delete(doc);
}
END_TEST

static const struct {
	int attempts;
	unsigned s;
} backoffs[] = {{0, 30}, {1, 30}, {2, 60}, {3, 120}, {5, 480}, {6, 600}, {40, 600}};

START_TEST(test_backoff)
{
	ck_assert_uint_eq(ph_reshard_backoff_s(backoffs[_i].attempts), backoffs[_i].s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reshard");
	TCase *t = tcase_create("reshard");
	SRunner *r;
	int failed;

	tcase_add_loop_test(t, test_plan, 0, (int)(sizeof(plans) / sizeof(plans[0])));
	tcase_add_test(t, test_job_shrink);
	tcase_add_test(t, test_job_throttle);
	tcase_add_test(t, test_job_refused);
	tcase_add_test(t, test_progress);
	tcase_add_loop_test(t, test_backoff, 0, (int)(sizeof(backoffs) / sizeof(backoffs[0])));
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
