#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Published FNV-1a 64 test vectors (the FNV reference's test suite). */
static const struct {
	const char *in;
	uint64_t want;
} fnv_cases[] = {
	{"", 0xcbf29ce484222325ULL},
	{"a", 0xaf63dc4c8601ec8cULL},
	{"foobar", 0x85944171f73967e8ULL},
};

START_TEST(test_fnv)
{
	const char *in = fnv_cases[_i].in;
	size_t half = strlen(in) / 2;

	ck_assert_uint_eq(util_fnv1a64_str(in), fnv_cases[_i].want);
	ck_assert_uint_eq(util_fnv1a64(in, strlen(in)), fnv_cases[_i].want);
	/* hashing in two parts gives the same hash */
	ck_assert_uint_eq(util_fnv1a64_add(util_fnv1a64(in, half), in + half,
					   strlen(in) - half), fnv_cases[_i].want);
}
END_TEST

static const char doc[] =
	"{\"a\":{\"b\":{\"s\":\"x\",\"n\":7.9,\"t\":true,\"f\":false},\"arr\":[1]},"
	"\"dotted.key\":\"d\",\"top\":\"y\",\"num\":-2,\"huge\":1e37,\"tiny\":-1e300}";

/* path, its string (def "D"), its integer (def -1), its boolean (def
 * false). */
static const struct {
	const char *path;
	const char *str;
	int64_t i;
	bool b;
} path_cases[] = {
	{"a.b.s", "x", -1, false},
	{"a.b.n", "D", 7, false},
	{"a.b.t", "D", -1, true},
	{"a.b.f", "D", -1, false},
	{"top", "y", -1, false},
	{"num", "D", -2, false},
	{"a.missing.s", "D", -1, false},
	{"a.arr.x", "D", -1, false},   /* through an array: absent */
	{"top.x", "D", -1, false},     /* through a string: absent */
	{"dotted.key", "D", -1, false}, /* a path, not a key */
	{"huge", "D", -1, false},      /* beyond int64_t: def, not a conversion */
	{"tiny", "D", -1, false},
};

START_TEST(test_paths)
{
	cJSON *o = cJSON_Parse(doc);

	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(util_json_get_str(o, path_cases[_i].path, "D"), path_cases[_i].str);
	ck_assert_int_eq(util_json_get_int(o, path_cases[_i].path, -1), path_cases[_i].i);
	ck_assert_int_eq(util_json_get_bool(o, path_cases[_i].path, false), path_cases[_i].b);
	cJSON_Delete(o);
}
END_TEST

START_TEST(test_keys)
{
	cJSON *o = cJSON_Parse(doc);

	ck_assert_str_eq(util_json_str(o, "dotted.key"), "d");
	ck_assert_str_eq(util_json_str(o, "top"), "y");
	ck_assert_ptr_null(util_json_str(o, "num"));
	ck_assert_ptr_null(util_json_str(o, "nope"));
	ck_assert_ptr_null(util_json_str(NULL, "top"));
	ck_assert_double_eq(util_json_num(o, "num", 5), -2);
	ck_assert_double_eq(util_json_num(o, "top", 5), 5);
	ck_assert_ptr_null(util_json_get(o, "a.b.s.deeper"));
	ck_assert_ptr_eq(util_json_get(o, ""), o);
	cJSON_Delete(o);
}
END_TEST

START_TEST(test_alloc)
{
	char *s = util_xstrdup("abc"), *n = util_xstrndup("abcdef", 2);
	char *f = util_xasprintf("%s-%d", "x", 42);
	int *z = util_xcalloc(4, sizeof(int));

	ck_assert_str_eq(s, "abc");
	ck_assert_str_eq(n, "ab");
	ck_assert_str_eq(f, "x-42");
	ck_assert_ptr_null(util_xstrdup(NULL));
	for (int k = 0; k < 4; k++)
		ck_assert_int_eq(z[k], 0);
	z = util_xrealloc(z, 64 * sizeof(int));
	z[63] = 1;
	free(s);
	free(n);
	free(f);
	free(z);
	free(util_xmalloc(0));
	free(util_xcalloc(0, 0));
}
END_TEST

/* Doubles that util_fits_int64 lets through to an int64_t conversion. */
static const struct {
	double d;
	bool fits;
} fit_cases[] = {
	{0, true}, {-2.5, true}, {9.2e18, true}, {-9.2e18, true},
	{9.3e18, false}, {-1e19, false}, {1e37, false}, {INFINITY, false},
	{-INFINITY, false}, {NAN, false},
};

START_TEST(test_fits_int64)
{
	ck_assert_int_eq(util_fits_int64(fit_cases[_i].d), fit_cases[_i].fits);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_fnv, 0, sizeof(fnv_cases) / sizeof(*fnv_cases));
	tcase_add_loop_test(tc, test_paths, 0, sizeof(path_cases) / sizeof(*path_cases));
	tcase_add_loop_test(tc, test_fits_int64, 0, sizeof(fit_cases) / sizeof(*fit_cases));
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_alloc);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
