#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonyaml.h"

/* YAML in, the JSON it must read as. */
static const struct {
	const char *yaml;
	const char *json;
} parse_cases[] = {
	{"a: 1", "{\"a\":1}"},
	{"a: \"1\"", "{\"a\":\"1\"}"},
	{"a: '1'", "{\"a\":\"1\"}"},
	{"a: true\nb: yes\nc: off\nd: False", "{\"a\":true,\"b\":true,\"c\":false,\"d\":false}"},
	{"a: ~\nb: null\nc:", "{\"a\":null,\"b\":null,\"c\":null}"},
	{"a: 0x1f\nb: 0o17\nc: -12\nd: 1.5\ne: 1e3", "{\"a\":31,\"b\":15,\"c\":-12,\"d\":1.5,\"e\":1000}"},
	{"a: 1.2.3\nb: v1\nc: .inf", "{\"a\":\"1.2.3\",\"b\":\"v1\",\"c\":\".inf\"}"},
	{"a: !!str 123", "{\"a\":\"123\"}"},
	{"l:\n- x\n- y: 1\n  z: [1, 2]", "{\"l\":[\"x\",{\"y\":1,\"z\":[1,2]}]}"},
	{"s: |\n  line1\n  line2\n", "{\"s\":\"line1\\nline2\\n\"}"},
	{"a: 1\na: 2", "{\"a\":2}"},
	{"{}", "{}"},
};

START_TEST(test_parse)
{
	cJSON *doc = NULL, *want = cJSON_Parse(parse_cases[_i].json);
	char err[256];

	ck_assert_ptr_nonnull(want);
	ck_assert_int_eq(jy_parse(parse_cases[_i].yaml, strlen(parse_cases[_i].yaml),
				  &doc, err, sizeof(err)), 0);
	ck_assert_msg(cJSON_Compare(doc, want, 1), "case %d: %s", _i,
		      parse_cases[_i].yaml);
	cJSON_Delete(doc);
	cJSON_Delete(want);
}
END_TEST

/* Invalid input: the error names the line. */
static const struct {
	const char *yaml;
	const char *err_contains;
} bad_cases[] = {
	{"a: [1, 2", "line "},
	{"a: &x 1\nb: *x", "aliases"},
	{"a:\n  - b\n c: 1", "line "},
	{"? [a]\n: 1", "scalars"},
};

START_TEST(test_parse_errors)
{
	cJSON *doc = (cJSON *)0x1;
	char err[256];

	ck_assert_int_eq(jy_parse(bad_cases[_i].yaml, strlen(bad_cases[_i].yaml),
				  &doc, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_eq(doc, (cJSON *)0x1);
	ck_assert_msg(strstr(err, bad_cases[_i].err_contains), "case %d: %s", _i, err);
}
END_TEST

START_TEST(test_depth_cap)
{
	char text[4 * (JY_MAX_DEPTH + 10)];
	size_t n = 0;
	cJSON *doc;
	char err[128];

	for (int i = 0; i < JY_MAX_DEPTH + 5; i++)
		text[n++] = '[';
	text[n] = '\0';
	ck_assert_int_eq(jy_parse(text, n, &doc, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "deep"));
}
END_TEST

START_TEST(test_stream)
{
	const char *y = "---\na: 1\n---\n---\nb: 2\n...\n";
	cJSON *docs;
	char err[128];

	ck_assert_int_eq(jy_parse_stream(y, strlen(y), &docs, err, sizeof(err)), 0);
	ck_assert_int_eq(cJSON_GetArraySize(docs), 2);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(docs, 1), "b")->valueint, 2);
	cJSON_Delete(docs);
	ck_assert_int_eq(jy_parse(y, strlen(y), &docs, err, sizeof(err)), -EINVAL);
}
END_TEST

/* JSON documents that must survive emit then parse unchanged. */
static const char *const roundtrip_cases[] = {
	"{\"a\":\"true\",\"b\":\"1\",\"c\":\"null\",\"d\":\"\",\"e\":\"0x10\",\"f\":\"yes\"}",
	"{\"s\":\"a: b\",\"t\":\"#x\",\"u\":\"- x\",\"v\":\" lead\",\"w\":\"trail \",\"x\":\"{}\"}",
	"{\"multi\":\"l1\\nl2\\n\",\"nonl\":\"l1\\nl2\",\"two\":\"a\\n\\n\",\"lead\":\" a\\nb\"}",
	"{\"ctl\":\"a\\u0001b\",\"tab\":\"a\\tb\",\"quote\":\"say \\\"hi\\\"\"}",
	"{\"n\":[1,2.5,-3,1e300],\"e\":[],\"o\":{},\"z\":null,\"b\":[true,false]}",
	"{\"l\":[{\"a\":1,\"b\":[{\"c\":{\"d\":[\"x\",[\"y\",\"z\"]]}}]},[],[[1]]]}",
	"{\"weird key: x\":1,\"123\":2,\"true\":3}",
	"[1,\"two\",{\"three\":3}]",
	"\"just a string\"",
	"{\"script\":\"#!/bin/sh\\nset -e\\necho \\\"$X\\\"\\n\"}",
};

START_TEST(test_roundtrip)
{
	cJSON *in = cJSON_Parse(roundtrip_cases[_i]), *back = NULL;
	struct buf out;
	char err[256];

	buf_init(&out, 1 << 20);
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(jy_emit(in, 1, &out), 0);
	ck_assert_msg(jy_parse(out.data, out.len, &back, err, sizeof(err)) == 0,
		      "case %d: %s\n%s", _i, err, out.data);
	ck_assert_msg(cJSON_Compare(in, back, 1), "case %d:\n%s", _i, out.data);
	cJSON_Delete(in);
	cJSON_Delete(back);
	buf_free(&out);
}
END_TEST

START_TEST(test_emit_cap)
{
	cJSON *in = cJSON_Parse("{\"a\":\"0123456789012345678901234567890123456789\"}");
	struct buf out;

	buf_init(&out, 16);
	ck_assert_int_eq(jy_emit(in, 0, &out), -EMSGSIZE);
	ck_assert_uint_eq(out.len, 0);
	cJSON_Delete(in);
	buf_free(&out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("jsonyaml");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse, 0, sizeof(parse_cases) / sizeof(*parse_cases));
	tcase_add_loop_test(tc, test_parse_errors, 0, sizeof(bad_cases) / sizeof(*bad_cases));
	tcase_add_test(tc, test_depth_cap);
	tcase_add_test(tc, test_stream);
	tcase_add_loop_test(tc, test_roundtrip, 0,
			    sizeof(roundtrip_cases) / sizeof(*roundtrip_cases));
	tcase_add_test(tc, test_emit_cap);
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
