/* Router unit tests: token scanner, bucket map, token table, tracker. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/posthog/posthog.h"
#include "router-private.h"

static const struct {
	const char *json;
	int rc;
	const char *tok;
} scans[] = {
	{ "{\"token\":\"phc_abc\",\"distinct_id\":\"u1\"}", 0, "phc_abc" },
	{ " { \"uuid\" : \"x\" , \"token\" : \"t1\" } ", 0, "t1" },
	{ "{\"data\":\"{\\\"token\\\":\\\"inner\\\"}\",\"token\":\"outer\"}", 0, "outer" },
	{ "{\"a\":{\"token\":\"nested\"},\"token\":\"top\"}", 0, "top" },
	{ "{\"a\":{\"token\":\"nested\"}}", -ENOENT, NULL },
	{ "{\"a\":[1,2.5,-3e+2,true,false,null,{},[]],\"token\":\"t\"}", 0, "t" },
	{ "{\"token\":\"esc\\u0041\\n\\\"\"}", 0, "escA\n\"" },
	{ "{\"token\":\"\\ud83d\\ude00\"}", 0, "\xf0\x9f\x98\x80" },
	{ "{\"token\":\"\"}", -ENOENT, NULL },
	{ "{\"token\":42}", -ENOENT, NULL },
	{ "{\"token\":null}", -ENOENT, NULL },
	{ "{}", -ENOENT, NULL },
	{ "{\"tokens\":\"x\"}", -ENOENT, NULL },
	{ "", -EINVAL, NULL },
	{ "[\"token\"]", -EINVAL, NULL },
	{ "\"token\"", -EINVAL, NULL },
	{ "{\"token\":\"x\"", -EINVAL, NULL },
	{ "{\"token\":\"x\"}}", -EINVAL, NULL },
	{ "{\"token\":\"x\"} x", -EINVAL, NULL },
	{ "{\"token\" \"x\"}", -EINVAL, NULL },
	{ "{\"token\":\"x\",}", -EINVAL, NULL },
	{ "{\"a\":[1,]}", -EINVAL, NULL },
	{ "{\"a\":01}", -EINVAL, NULL },
	{ "{\"a\":1.}", -EINVAL, NULL },
	{ "{\"a\":tru}", -EINVAL, NULL },
	{ "{\"a\":\"\\x\"}", -EINVAL, NULL },
	{ "{\"a\":\"\\u12\"}", -EINVAL, NULL },
	{ "{\"a\":\"raw\ncontrol\"}", -EINVAL, NULL },
	{ "{\"a\":[}", -EINVAL, NULL },
	{ "{\"a\":{]}", -EINVAL, NULL },
	{ "not json at all", -EINVAL, NULL },
};

START_TEST(scanner_finds_the_top_level_token)
{
	char tok[64];
	size_t len = 0;
	int rc = rt_json_token(scans[_i].json, strlen(scans[_i].json), tok,
			       sizeof(tok), &len);

	ck_assert_msg(rc == scans[_i].rc, "%s: got %d want %d", scans[_i].json,
		      rc, scans[_i].rc);
	if (!rc) {
		ck_assert_uint_eq(len, strlen(scans[_i].tok));
		ck_assert_str_eq(tok, scans[_i].tok);
	}
}
END_TEST

START_TEST(scanner_limits)
{
	char tok[8], *deep;
	size_t len, i, n = 2000;
	const char *longtok = "{\"token\":\"0123456789\"}";

	ck_assert_int_eq(rt_json_token(longtok, strlen(longtok), tok, sizeof(tok), &len), -E2BIG);
	{
		char t10[10], t11[11];

		ck_assert_int_eq(rt_json_token(longtok, strlen(longtok), t10, sizeof(t10), &len), -E2BIG);
		ck_assert_int_eq(rt_json_token(longtok, strlen(longtok), t11, sizeof(t11), &len), 0);
		ck_assert_str_eq(t11, "0123456789");
	}
	/* nesting past the limit is refused, not a crash */
	deep = malloc(2 * n + 32);
	strcpy(deep, "{\"a\":");
	for (i = 0; i < n; i++)
		strcat(deep, "[");
	for (i = 0; i < n; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	ck_assert_int_eq(rt_json_token(deep, strlen(deep), tok, sizeof(tok), &len), -EINVAL);
	free(deep);
	/* not NUL-terminated: the length bounds the scan */
	ck_assert_int_eq(rt_json_token("{\"token\":\"ab\"}XYZ", 14, tok, sizeof(tok), &len), 0);
	ck_assert_str_eq(tok, "ab");
}
END_TEST

/*
 * Strings are skipped eight bytes at a time, then byte by byte. Each of
 * these is put at every offset of a long string (so in every lane of a
 * word, and in the byte loop's tail) between plain bytes, including bytes
 * at or above 0x80 that a signed compare would take for control bytes.
 */
static const struct {
	const char *insert;
	int rc;
} runs[] = {
	{ "\x01", -EINVAL },	/* control bytes end a string: invalid */
	{ "\x1f", -EINVAL },
	{ "\n", -EINVAL },
	{ "\"", -EINVAL },	/* ends "data" early; the rest is not JSON */
	{ "\\\"", 0 },	/* escapes */
	{ "\\\\", 0 },
	{ "\\u00e9", 0 },
	{ "\\ud83d", 0 },	/* a lone surrogate is not checked for pairing */
	{ "\\q", -EINVAL },
	{ "\\u12g4", -EINVAL },
	{ " ", 0 },		/* plain bytes at the edges of the ranges */
	{ "\x7f", 0 },
	{ "\xc3\xa9", 0 },
	{ "\xff", 0 },
	{ "!#[]", 0 },		/* neighbours of '"' and '\\' */
};

START_TEST(scanner_skips_long_strings_exactly)
{
	char json[128], tok[16];
	size_t len, off;
	int rc;

	for (off = 0; off < 34; off++) {
		snprintf(json, sizeof(json),
			 "{\"data\":\"%.*s%s%s\",\"token\":\"tk\"}", (int)off,
			 "\xe2\x82\xac~aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", runs[_i].insert,
			 "bbbbbbbbbbbbbbbbb");
		rc = rt_json_token(json, strlen(json), tok, sizeof(tok), &len);
		ck_assert_msg(rc == runs[_i].rc, "%s: got %d want %d", json, rc,
			      runs[_i].rc);
		if (!rc)
			ck_assert_str_eq(tok, "tk");
	}
	/* a token longer than a word, read through the word loop */
	snprintf(json, sizeof(json), "{\"token\":\"phc_0123456789a\"}");
	ck_assert_int_eq(rt_json_token(json, strlen(json), tok, sizeof(tok), &len), 0);
	ck_assert_str_eq(tok, "phc_0123456789a");
	ck_assert_uint_eq(len, 15);
}
END_TEST

static const struct {
	struct router_options o;
	const char *err; /* NULL: accepted */
} opts[] = {
	{ { .bootstrap = "k:9092", .map_path = "/m", .database_url = "d" }, NULL },
	{ { .map_path = "/m", .database_url = "d" }, "--kafka-bootstrap-servers: required" },
	{ { .bootstrap = "k:9092", .database_url = "d" }, "--bucket-map: required" },
	{ { .bootstrap = "k:9092", .map_path = "/m" }, "--database-url: required" },
	{ { .bootstrap = "k:9092", .map_path = "/m", .database_url = "d",
	    .fallback_bucket = RT_MAX_BUCKETS }, "--fallback-bucket: want 0..63" },
	{ { .bootstrap = "k:9092", .map_path = "/m", .database_url = "d",
	    .producers = RT_MAX_PRODUCERS }, NULL },
	{ { .bootstrap = "k:9092", .map_path = "/m", .database_url = "d",
	    .producers = RT_MAX_PRODUCERS + 1 }, "--producers: want 1..16, got 17" },
};

START_TEST(router_options_name_the_flag)
{
	struct router *r = NULL;
	char err[128] = "";
	int rc = router_new(&opts[_i].o, NULL, NULL, &r, err, sizeof(err));

	if (!opts[_i].err) {
		ck_assert_int_eq(rc, 0);
		router_free(r);
		return;
	}
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(err, opts[_i].err);
}
END_TEST

#define PARAMS "\"algorithm\":\"JumpHash\",\"parameters\":{\"teamHash\":\"splitmix64\"," \
	"\"splitmix64Gamma\":\"0x9e3779b97f4a7c15\",\"splitmix64Mul1\":\"0xbf58476d1ce4e5b9\"," \
	"\"splitmix64Mul2\":\"0x94d049bb133111eb\",\"jumpMultiplier\":\"2862933555777941757\"}"
#define TOPICS2 "\"topics\":[{\"bucket\":0,\"ingestionTopic\":\"events_plugin_ingestion_0\"}," \
	"{\"bucket\":1,\"ingestionTopic\":\"events_plugin_ingestion_1\",\"ingestionGroup\":\"g1\"}]"

static const struct {
	const char *doc;
	const char *err; /* substring of the message, NULL when valid */
} maps[] = {
	{ "{\"version\":1," PARAMS ",\"buckets\":2,\"pins\":{\"7\":1}," TOPICS2 "}", NULL },
	{ "{\"version\":2," PARAMS ",\"buckets\":2," TOPICS2 "}", "version" },
	{ "{\"version\":1,\"algorithm\":\"Modulo\",\"buckets\":2," TOPICS2 "}", "algorithm" },
	{ "{\"version\":1,\"algorithm\":\"JumpHash\",\"parameters\":{},\"buckets\":2," TOPICS2 "}", "parameters.teamHash" },
	{ "{\"version\":1," PARAMS ",\"buckets\":0," TOPICS2 "}", "buckets" },
	{ "{\"version\":1," PARAMS ",\"buckets\":65," TOPICS2 "}", "buckets" },
	{ "{\"version\":1," PARAMS ",\"buckets\":1.5," TOPICS2 "}", "buckets" },
	{ "{\"version\":1," PARAMS ",\"buckets\":2,\"pins\":{\"7\":2}," TOPICS2 "}", "pins.7" },
	{ "{\"version\":1," PARAMS ",\"buckets\":2,\"pins\":{\"x\":1}," TOPICS2 "}", "pins.x" },
	{ "{\"version\":1," PARAMS ",\"buckets\":2,\"pins\":[]," TOPICS2 "}", "pins" },
	{ "{\"version\":1," PARAMS ",\"buckets\":3," TOPICS2 "}", "topics" },
	{ "{\"version\":1," PARAMS ",\"buckets\":2,\"topics\":[{\"bucket\":0,\"ingestionTopic\":\"a b\"},"
	  "{\"bucket\":1,\"ingestionTopic\":\"b\"}]}", "topics[0].ingestionTopic" },
	{ "{\"version\":1," PARAMS ",\"buckets\":2,\"topics\":[{\"bucket\":0,\"ingestionTopic\":\"a\"},"
	  "{\"bucket\":0,\"ingestionTopic\":\"b\"}]}", "twice" },
	{ "{\"version\":1,", "JSON" },
};

START_TEST(bucket_maps_parse_or_name_the_field)
{
	struct rt_map *m = NULL;
	char err[256] = "";
	int rc = rt_map_parse(maps[_i].doc, strlen(maps[_i].doc), &m, err, sizeof(err));

	if (!maps[_i].err) {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(m->count, 2);
		ck_assert_str_eq(m->topics[1], "events_plugin_ingestion_1");
		ck_assert_str_eq(m->groups[0], "events-ingestion-consumer-0");
		ck_assert_str_eq(m->groups[1], "g1");
		ck_assert_uint_eq(rt_map_bucket(m, 7), 1); /* the pin */
		rt_map_free(m);
		return;
	}
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(err, maps[_i].err), "error \"%s\" lacks \"%s\"", err,
		      maps[_i].err);
}
END_TEST

/* The router agrees with the operator's assignment (api/posthog)
 * for every team, on the operator's own map document. */
START_TEST(router_and_operator_assign_alike)
{
	const char *ph = "{\"apiVersion\":\"posthog.com/v1alpha1\",\"kind\":\"PostHog\","
		"\"metadata\":{\"name\":\"ph\",\"namespace\":\"ns\"},"
		"\"spec\":{\"buckets\":{\"count\":5,\"pins\":[{\"teamId\":3,\"bucket\":4}]}}}";
	cJSON *doc = cJSON_Parse(ph), *map = NULL, *pins;
	struct rt_map *m = NULL;
	char err[256], *text;
	int64_t t;

	ck_assert_int_eq(ph_bucket_map(doc, &map), 0);
	text = cJSON_PrintUnformatted(map);
	ck_assert_int_eq(rt_map_parse(text, strlen(text), &m, err, sizeof(err)), 0);
	pins = cJSON_Parse("[{\"teamId\":3,\"bucket\":4}]");
	for (t = -5; t < 5000; t++) {
		unsigned want;

		ck_assert_int_eq(ph_bucket_for_team(t, 5, pins, &want), 0);
		ck_assert_uint_eq(rt_map_bucket(m, t), want);
	}
	ck_assert_str_eq(m->topics[4], "events_plugin_ingestion_4");
	rt_map_free(m);
	free(text);
	cJSON_Delete(pins);
	cJSON_Delete(map);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(token_table)
{
	struct rt_tokens *t = rt_tokens_new();
	char tok[32], big[RT_MAX_TOKEN + 1];
	int64_t team;
	int i;

	for (i = 0; i < 20000; i++) {
		snprintf(tok, sizeof(tok), "phc_%d", i);
		ck_assert_int_eq(rt_tokens_put(t, tok, strlen(tok), i), 0);
	}
	ck_assert_int_eq(rt_tokens_put(t, "phc_7", 5, 700), 0); /* replace */
	ck_assert_uint_eq(rt_tokens_count(t), 20000);
	for (i = 0; i < 20000; i++) {
		snprintf(tok, sizeof(tok), "phc_%d", i);
		ck_assert_int_eq(rt_tokens_get(t, tok, strlen(tok), &team), 0);
		ck_assert_int_eq(team, i == 7 ? 700 : i);
	}
	ck_assert_int_eq(rt_tokens_get(t, "phc_20000", 9, &team), -ENOENT);
	ck_assert_int_eq(rt_tokens_get(t, "phc_1", 4, &team), -ENOENT); /* a prefix of a key */
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(rt_tokens_put(t, big, sizeof(big), 1), -E2BIG);
	ck_assert_int_eq(rt_tokens_put(t, "", 0, 1), -E2BIG);
	rt_tokens_free(t);
}
END_TEST

START_TEST(tracker_commits_only_unbroken_runs)
{
	struct rt_track *t = rt_track_new();
	uint64_t s[5000];
	int64_t next = -1;
	int i;

	for (i = 0; i < 5000; i++)
		s[i] = rt_track_push(t, 3, 100 + 2 * i); /* gaps in offsets */
	ck_assert_uint_eq(rt_track_pending(t), 5000);
	ck_assert_int_eq(rt_track_advance(t, 3, &next), 0);
	rt_track_done(t, 3, s[1]);
	ck_assert_int_eq(rt_track_advance(t, 3, &next), 0); /* s[0] still out */
	rt_track_done(t, 3, s[0]);
	ck_assert_int_eq(rt_track_advance(t, 3, &next), 1);
	ck_assert_int_eq(next, 103);
	for (i = 4999; i >= 2; i--)
		rt_track_done(t, 3, s[i]);
	ck_assert_int_eq(rt_track_advance(t, 3, &next), 1);
	ck_assert_int_eq(next, 100 + 2 * 4999 + 1);
	ck_assert_uint_eq(rt_track_pending(t), 0);
	/* a reset forgets; an old acknowledgement is then ignored */
	s[0] = rt_track_push(t, 3, 20000);
	rt_track_reset(t, 3);
	rt_track_done(t, 3, s[0]);
	ck_assert_int_eq(rt_track_advance(t, 3, &next), 0);
	s[1] = rt_track_push(t, 3, 20001);
	rt_track_done(t, 3, s[1]);
	ck_assert_int_eq(rt_track_advance(t, 3, &next), 1);
	ck_assert_int_eq(next, 20002);
	/* partitions are independent */
	s[2] = rt_track_push(t, 0, 5);
	s[3] = rt_track_push(t, 9, 6);
	rt_track_done(t, 9, s[3]);
	ck_assert_int_eq(rt_track_advance(t, 0, &next), 0);
	ck_assert_int_eq(rt_track_advance(t, 9, &next), 1);
	ck_assert_int_eq(next, 7);
	rt_track_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("router");
	TCase *t = tcase_create("router");
	SRunner *r;
	int failed;

	tcase_add_loop_test(t, scanner_finds_the_top_level_token, 0,
			    sizeof(scans) / sizeof(scans[0]));
	tcase_add_test(t, scanner_limits);
	tcase_add_loop_test(t, router_options_name_the_flag, 0,
			    sizeof(opts) / sizeof(opts[0]));
	tcase_add_loop_test(t, scanner_skips_long_strings_exactly, 0,
			    sizeof(runs) / sizeof(runs[0]));
	tcase_add_loop_test(t, bucket_maps_parse_or_name_the_field, 0,
			    sizeof(maps) / sizeof(maps[0]));
	tcase_add_test(t, router_and_operator_assign_alike);
	tcase_add_test(t, token_table);
	tcase_add_test(t, tracker_commits_only_unbroken_runs);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
