/* Table-driven tests of cron_parse and cron_next. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

static time_t at(const char *s)
{
	struct tm tm = {0};
	char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

	ck_assert_msg(end && !*end, "bad time %s", s);
	return timegm(&tm);
}

static const struct {
	const char *spec, *after, *want;
} next_cases[] = {
	{"* * * * *", "2026-12-02T01:00:00Z", "2026-12-02T01:01:00Z"},
	{"* * * * *", "2026-12-02T01:00:30Z", "2026-12-02T01:01:00Z"},
	{"0 3 * * *", "2026-12-02T01:00:00Z", "2026-12-02T03:00:00Z"},
	{"0 3 * * *", "2026-12-02T03:00:00Z", "2026-12-03T03:00:00Z"},
	{"*/15 * * * *", "2026-12-02T01:07:00Z", "2026-12-02T01:15:00Z"},
	{"5/15 * * * *", "2026-12-02T01:21:00Z", "2026-12-02T01:35:00Z"},
	{"0 0 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"},
	{"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
	{"30 2 * * 0", "2026-12-02T00:00:00Z", "2026-12-06T02:30:00Z"}, /* Sunday */
	{"30 2 * * 7", "2026-12-02T00:00:00Z", "2026-12-06T02:30:00Z"},
	{"0 0 1-5 * 1-5", "2026-12-05T12:00:00Z", "2026-12-07T00:00:00Z"}, /* dom or dow */
	{"0 12 13 * 5", "2026-12-02T00:00:00Z", "2026-12-04T12:00:00Z"},   /* Friday 4th */
	{"0 9-17/4 * * *", "2026-12-02T10:00:00Z", "2026-12-02T13:00:00Z"},
	{"15,45 * * * *", "2026-12-02T01:16:00Z", "2026-12-02T01:45:00Z"},
	{"59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
	{"*/20 * * * * *", "2026-12-02T01:00:05Z", "2026-12-02T01:00:20Z"},
	{"0 0 0 * * *", "2026-12-02T01:00:00Z", "2026-12-03T00:00:00Z"},   /* CNPG daily */
	{"@hourly", "2026-12-02T01:00:00Z", "2026-12-02T02:00:00Z"},
	{"@daily", "2026-12-02T01:00:00Z", "2026-12-03T00:00:00Z"},
	{"@weekly", "2026-12-02T01:00:00Z", "2026-12-06T00:00:00Z"},
	{"@monthly", "2026-12-02T01:00:00Z", "2027-01-01T00:00:00Z"},
	{"@yearly", "2026-12-02T01:00:00Z", "2027-01-01T00:00:00Z"},
};

START_TEST(test_next)
{
	struct cron c;
	char err[256] = "";
	time_t got = 0;

	ck_assert_msg(cron_parse(next_cases[_i].spec, &c, err, sizeof(err)) == 0,
		      "%s: %s", next_cases[_i].spec, err);
	ck_assert_int_eq(cron_next(&c, at(next_cases[_i].after), &got), 0);
	ck_assert_msg(got == at(next_cases[_i].want), "%s after %s: got %ld, want %s",
		      next_cases[_i].spec, next_cases[_i].after, (long)got, next_cases[_i].want);
}
END_TEST

static const struct {
	const char *spec, *err;
} bad_cases[] = {
	{"", "empty schedule"},
	{"* * * *", "4 fields"},
	{"* * * * * * *", "more than 6 fields"},
	{"60 * * * *", "minute: 60 is outside 0-59"},
	{"* 24 * * *", "hour: 24 is outside 0-23"},
	{"* * 0 * *", "day-of-month: 0 is outside 1-31"},
	{"* * * 13 *", "month: 13 is outside 1-12"},
	{"* * * * 8", "day-of-week: 8 is outside 0-7"},
	{"5-1 * * * *", "minute: the range 5-1 runs backwards"},
	{"*/0 * * * *", "minute: the step in */0 must be 1-59"},
	{"a * * * *", "minute: \"a\" is not *"},
	{"1,,2 * * * *", "minute: an empty list element"},
	{"* * * JAN *", "month: \"JAN\" is not *"},
	{"@every 5m", "unknown macro @every 5m"},
	{"-1 * * * *", "minute: \"-1\" is not"},
	{"12345 * * * *", "minute: \"12345\" is not"},
};

START_TEST(test_bad)
{
	struct cron c;
	char err[256] = "";

	ck_assert_int_eq(cron_parse(bad_cases[_i].spec, &c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, bad_cases[_i].err), "%s: got \"%s\", want \"%s\"",
		      bad_cases[_i].spec, err, bad_cases[_i].err);
}
END_TEST

START_TEST(test_never)
{
	struct cron c;
	char err[256] = "";
	time_t got;

	ck_assert_int_eq(cron_parse("0 0 31 2 *", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(cron_next(&c, at("2026-12-02T00:00:00Z"), &got), -ERANGE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cron");
	TCase *tc = tcase_create("cron");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_next, 0, sizeof(next_cases) / sizeof(next_cases[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_never);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
