/* Bucket assignment: jump hash properties, pins, names and the map. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define PH_TESTING
#include "build-private.h"

#define TEAMS 100000

/* Going from n to n+1 buckets moves about 1/(n+1) of the teams, and only
 * into the new bucket. The loops count failures and assert once: a Check
 * assertion per iteration costs a write(2) in no-fork mode, which made
 * this test take minutes under valgrind. */
static const struct { unsigned from, to; double lo, hi; } moves[] = {
	{ 4, 5, 0.17, 0.23 },
	{ 1, 2, 0.47, 0.53 },
	{ 9, 10, 0.08, 0.12 },
	{ 63, 64, 0.010, 0.022 },
};

START_TEST(test_moved_fraction)
{
	unsigned moved = 0, errors = 0, elsewhere = 0, a, b;
	int64_t t;

	for (t = 1; t <= TEAMS; t++) {
		errors += ph_bucket_for_team(t, moves[_i].from, NULL, &a) != 0;
		errors += ph_bucket_for_team(t, moves[_i].to, NULL, &b) != 0;
		if (a != b) {
			moved++;
			elsewhere += b != moves[_i].to - 1;
		}
	}
	ck_assert_uint_eq(errors, 0);
	ck_assert_uint_eq(elsewhere, 0);
	fprintf(stderr, "buckets %u -> %u: %.4f of %d teams moved\n",
		moves[_i].from, moves[_i].to, (double)moved / TEAMS, TEAMS);
	ck_assert_double_ge((double)moved / TEAMS, moves[_i].lo);
	ck_assert_double_le((double)moved / TEAMS, moves[_i].hi);
}
END_TEST

START_TEST(test_balance)
{
	unsigned counts[8] = { 0 }, errors = 0, b, i;
	int64_t t;

	for (t = 1; t <= TEAMS; t++) {
		if (ph_bucket_for_team(t, 8, NULL, &b) != 0 || b >= 8) {
			errors++;
			continue;
		}
		counts[b]++;
	}
	ck_assert_uint_eq(errors, 0);
	for (i = 0; i < 8; i++)
		ck_assert_msg(counts[i] > TEAMS / 8 * 0.95 && counts[i] < TEAMS / 8 * 1.05,
			      "bucket %u has %u teams", i, counts[i]);
}
END_TEST

/* Known values, so other implementations can check themselves
 * (docs/buckets.md lists the same). */
static const struct { int64_t team; unsigned buckets, want; } known[] = {
	{ 1, 4, 3 }, { 2, 4, 0 }, { 3, 4, 1 }, { 42, 4, 0 }, { 1000, 16, 12 },
};

START_TEST(test_known_values)
{
	unsigned b;

	ck_assert_int_eq(ph_bucket_for_team(known[_i].team, known[_i].buckets, NULL, &b), 0);
	fprintf(stderr, "team %lld of %u buckets -> %u (hash %016llx)\n",
		(long long)known[_i].team, known[_i].buckets, b,
		(unsigned long long)ph_team_hash(known[_i].team));
	ck_assert_uint_eq(b, known[_i].want);
}
END_TEST

START_TEST(test_pins_win)
{
	cJSON *pins = parse_json("[{\"teamId\":7,\"bucket\":3},{\"teamId\":8,\"bucket\":0},"
				 "{\"teamId\":9,\"bucket\":9}]");
	unsigned b, want;
	int64_t t;

	ck_assert_int_eq(ph_bucket_for_team(7, 4, pins, &b), 0);
	ck_assert_uint_eq(b, 3);
	ck_assert_int_eq(ph_bucket_for_team(8, 4, pins, &b), 0);
	ck_assert_uint_eq(b, 0);
	/* A pin outside the count is ignored: the hash decides. */
	ck_assert_int_eq(ph_bucket_for_team(9, 4, pins, &b), 0);
	ck_assert_uint_eq(b, ph_jump_hash(ph_team_hash(9), 4));
	/* Pins never move another team. */
	for (t = 10; t < 1000; t++) {
		ck_assert_int_eq(ph_bucket_for_team(t, 4, pins, &b), 0);
		ck_assert_int_eq(ph_bucket_for_team(t, 4, NULL, &want), 0);
		ck_assert_uint_eq(b, want);
	}
	ck_assert_int_eq(ph_bucket_for_team(1, 0, pins, &b), -EINVAL);
	ck_assert_int_eq(ph_bucket_for_team(1, PH_MAX_BUCKETS + 1, pins, &b), -EINVAL);
	cJSON_Delete(pins);
}
END_TEST

static const struct {
	const char *example;
	unsigned bucket;
	const char *ingestion, *events_json, *prefix, *kafka_table, *deployment;
} names[] = {
	{ "examples/minimal.yaml", 0, "events_plugin_ingestion_0", "clickhouse_events_json_0",
	  "", "kafka_events_json_0", "posthog-plugins-ingestion-0" },
	{ "examples/production.yaml", 3, "events_plugin_ingestion_3", "clickhouse_events_json_3",
	  "", "kafka_events_json_3", "posthog-plugins-ingestion-3" },
	{ "examples/legacy-topics.yaml", 2, "b2_events_plugin_ingestion",
	  "b2_clickhouse_events_json", "b2_", "kafka_events_json_2",
	  "legacy-plugins-ingestion-2" },
};

START_TEST(test_names)
{
	cJSON *ph = load_posthog(names[_i].example), *spec;
	struct ph_bucket_names n;

	ck_assert_int_eq(ph_normalize(ph, &spec), 0);
	ck_assert_int_eq(ph_bucket_names(util_json_get_str(ph, "metadata.name", ""), spec,
					 names[_i].bucket, &n), 0);
	ck_assert_str_eq(n.ingestion_topic, names[_i].ingestion);
	ck_assert_str_eq(n.events_json_topic, names[_i].events_json);
	ck_assert_str_eq(n.kafka_prefix, names[_i].prefix);
	ck_assert_str_eq(n.kafka_table, names[_i].kafka_table);
	ck_assert_str_eq(n.ingestion_deployment, names[_i].deployment);
	ck_assert_int_eq(ph_bucket_names("x", spec, 99, &n), -EINVAL);
	cJSON_Delete(spec);
	cJSON_Delete(ph);
}
END_TEST

START_TEST(test_map)
{
	cJSON *ph = load_posthog("examples/production.yaml"), *map;

	ck_assert_int_eq(ph_bucket_map(ph, &map), 0);
	ck_assert_int_eq(util_json_get_int(map, "version", 0), PH_BUCKET_MAP_VERSION);
	ck_assert_str_eq(util_json_get_str(map, "algorithm", ""), "JumpHash");
	ck_assert_int_eq(util_json_get_int(map, "buckets", 0), 4);
	ck_assert_int_eq(util_json_get_int(map, "pins.2", -1), 3);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(map, "topics")), 4);
	ck_assert_str_eq(util_json_get_str(map, "bootstrapServers", ""),
			 "posthog-kafka.posthog.svc:9092");
	cJSON_Delete(map);
	cJSON_Delete(ph);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("posthog_buckets");
	TCase *tc = tcase_create("buckets");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_moved_fraction, 0, sizeof(moves) / sizeof(moves[0]));
	tcase_add_test(tc, test_balance);
	tcase_add_loop_test(tc, test_known_values, 0, sizeof(known) / sizeof(known[0]));
	tcase_add_test(tc, test_pins_win);
	tcase_add_loop_test(tc, test_names, 0, sizeof(names) / sizeof(names[0]));
	tcase_add_test(tc, test_map);
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
