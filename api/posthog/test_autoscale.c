/* The lag autoscaler's decision (autoscale.c), as sequences of reads. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale.h"

struct step {
	int at_s;
	int64_t lag;
	int64_t partitions;
	int current;   /* -1: the previous step's desired */
	int want;
	enum ph_lag_limit limit;
};

#define END {-1, 0, 0, 0, 0, PH_LAG_NONE}

static const struct {
	const char *name;
	struct ph_lag_policy p;
	struct step steps[12];
} cases[] = {
	{"ceil(lag / target)", {1, 10, 1000, 0, 300}, {
		{0, 0, 8, 1, 1, PH_LAG_MIN},
		{1, 1, 8, -1, 1, PH_LAG_NONE},
		{2, 1000, 8, -1, 1, PH_LAG_NONE},
		{3, 1001, 8, -1, 2, PH_LAG_NONE},
		{4, 2999, 8, -1, 3, PH_LAG_NONE},
		END}},
	{"clamped to maxReplicas", {1, 3, 100, 0, 0}, {
		{0, 100000, 50, 1, 3, PH_LAG_MAX}, END}},
	{"clamped to minReplicas", {2, 6, 100, 0, 0}, {
		{0, 0, 50, 4, 2, PH_LAG_MIN}, END}},
	{"never above the partition count, even above min", {1, 100, 10, 0, 0}, {
		{0, 1000, 3, 1, 3, PH_LAG_PARTITIONS},
		{1, 1000, 3, 3, 3, PH_LAG_PARTITIONS}, END}},
	{"partition cap below minReplicas wins", {4, 10, 10, 0, 0}, {
		{0, 0, 2, 1, 2, PH_LAG_PARTITIONS}, END}},
	{"unknown partition count: no cap", {1, 10, 10, 0, 0}, {
		{0, 50, 0, 5, 5, PH_LAG_NONE}, END}},
	{"scale-up rate: +4 or double per decision", {1, 100, 1, 0, 0}, {
		{0, 100, 200, 1, 5, PH_LAG_RATE},
		{15, 100, 200, -1, 10, PH_LAG_RATE},
		{30, 100, 200, -1, 20, PH_LAG_RATE},
		{45, 100, 200, -1, 40, PH_LAG_RATE},
		{60, 100, 200, -1, 80, PH_LAG_RATE},
		{75, 100, 200, -1, 100, PH_LAG_NONE}, END}},
	{"scale-up is immediate with window 0", {1, 8, 100, 0, 300}, {
		{0, 0, 8, 1, 1, PH_LAG_MIN},
		{1, 500, 8, -1, 5, PH_LAG_NONE}, END}},
	{"scale-down waits for the window", {1, 8, 100, 0, 60}, {
		{0, 500, 8, 1, 5, PH_LAG_NONE},
		{10, 0, 8, -1, 5, PH_LAG_STABILIZED},
		{30, 0, 8, -1, 5, PH_LAG_STABILIZED},
		{59, 0, 8, -1, 5, PH_LAG_STABILIZED},
		{60, 0, 8, -1, 1, PH_LAG_MIN}, END}},
	{"scale-down goes to the highest of the window", {1, 8, 100, 0, 60}, {
		{0, 800, 8, 8, 8, PH_LAG_NONE},
		{30, 300, 8, -1, 8, PH_LAG_STABILIZED},
		{61, 100, 8, -1, 3, PH_LAG_STABILIZED},
		{91, 100, 8, -1, 1, PH_LAG_NONE},
		END}},
	{"a spike inside the down window holds the count", {1, 8, 100, 0, 60}, {
		{0, 400, 8, 1, 4, PH_LAG_NONE},
		{50, 0, 8, -1, 4, PH_LAG_STABILIZED},
		{55, 400, 8, -1, 4, PH_LAG_NONE},
		{100, 0, 8, -1, 4, PH_LAG_STABILIZED},
		{116, 0, 8, -1, 1, PH_LAG_MIN}, END}},
	{"scale-up window: the lowest of the window", {1, 8, 100, 30, 0}, {
		{0, 0, 8, 1, 1, PH_LAG_MIN},
		{10, 500, 8, -1, 1, PH_LAG_STABILIZED},
		{31, 500, 8, -1, 5, PH_LAG_NONE},
		{41, 500, 8, -1, 5, PH_LAG_NONE}, END}},
	{"a Deployment scaled by hand is brought back", {2, 8, 100, 0, 0}, {
		{0, 300, 8, 7, 3, PH_LAG_NONE},
		{1, 300, 8, 0, 3, PH_LAG_NONE}, END}},
};

START_TEST(test_sequences)
{
	struct ph_lag_history h;
	int prev = 0;

	memset(&h, 0, sizeof(h));
	for (const struct step *s = cases[_i].steps; s->at_s >= 0; s++) {
		struct ph_lag_input in = {.lag = s->lag, .partitions = s->partitions,
					  .current = s->current < 0 ? prev : s->current,
					  .now_ms = 1000000 + (int64_t)s->at_s * 1000};
		struct ph_lag_decision d;

		ck_assert_int_eq(ph_lag_decide(&cases[_i].p, &h, &in, &d), 0);
		ck_assert_msg(d.desired == s->want && d.limit == s->limit,
			      "%s, at %ds (lag %lld, current %d): got %d (%s), want %d (%s); %s",
			      cases[_i].name, s->at_s, (long long)s->lag, in.current, d.desired,
			      ph_lag_limit_name(d.limit), s->want, ph_lag_limit_name(s->limit),
			      d.reason);
		ck_assert_ptr_nonnull(strstr(d.reason, "recommends"));
		prev = d.desired;
	}
}
END_TEST

static const struct {
	struct ph_lag_policy p;
	struct ph_lag_input in;
} bad[] = {
	{{0, 4, 10, 0, 0}, {0, 1, 1, 0}},   /* min 0 */
	{{3, 2, 10, 0, 0}, {0, 1, 1, 0}},   /* min > max */
	{{1, 4, 0, 0, 0}, {0, 1, 1, 0}},    /* target 0 */
	{{1, 4, 10, -1, 0}, {0, 1, 1, 0}},  /* negative window */
	{{1, 4, 10, 0, 0}, {-1, 1, 1, 0}},  /* negative lag */
	{{1, 4, 10, 0, 0}, {0, -1, 1, 0}},  /* negative partitions */
	{{1, 4, 10, 0, 0}, {0, 1, -1, 0}},  /* negative replicas */
};

START_TEST(test_bad_input)
{
	struct ph_lag_history h = {.n = 0};
	struct ph_lag_decision d = {.desired = 99};

	ck_assert_int_eq(ph_lag_decide(&bad[_i].p, &h, &bad[_i].in, &d), -EINVAL);
	ck_assert_int_eq(d.desired, 99);
	ck_assert_uint_eq(h.n, 0);
}
END_TEST

/* The history stays bounded and forgets what both windows no longer see. */
START_TEST(test_history_bounded)
{
	struct ph_lag_policy p = {1, 8, 100, 0, 3600};
	struct ph_lag_history h = {.n = 0};
	struct ph_lag_decision d;
	int i;

	for (i = 0; i < 1000; i++) {
		struct ph_lag_input in = {.lag = i == 0 ? 800 : 0, .partitions = 8,
					  .current = 8, .now_ms = (int64_t)i * 1000};

		ck_assert_int_eq(ph_lag_decide(&p, &h, &in, &d), 0);
		ck_assert_uint_le(h.n, PH_LAG_HISTORY);
	}
	/* 1000 reads a second apart: the first (8) was pushed out of the full
	 * history, so the window's highest is now 0 -> minReplicas. */
	ck_assert_int_eq(d.desired, 1);
	p.down_window_s = 10;
	{
		struct ph_lag_input in = {.lag = 0, .partitions = 8, .current = 1,
					  .now_ms = 5000000};

		ck_assert_int_eq(ph_lag_decide(&p, &h, &in, &d), 0);
		ck_assert_uint_eq(h.n, 1); /* everything older than 10 s dropped */
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("autoscale");
	TCase *tc = tcase_create("decide");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_sequences, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_loop_test(tc, test_bad_input, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_history_bounded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
