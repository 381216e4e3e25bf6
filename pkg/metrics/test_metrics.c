#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics-private.h"

static const struct {
	double v;
	const char *want;
} values[] = {
	{ 0, "0" },          { 1, "1" },          { 0.005, "0.005" },
	{ 1e-08, "1e-08" },  { 1000000, "1000000" }, { 2.5, "2.5" },
	{ -3, "-3" },        { 1.0 / 0.0, "+Inf" }, { 0.1, "0.1" },
};

START_TEST(test_format_value)
{
	char out[64];
	metrics_format_value(values[_i].v, out, sizeof(out));
	ck_assert_str_eq(out, values[_i].want);
}
END_TEST

static char *render(struct metrics *m)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(metrics_render(m, &b), 0);
	return buf_take(&b);
}

START_TEST(test_counter_and_gauge)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	const char *l1[] = { "controller", "cm", "result", "success", NULL };
	ck_assert_int_eq(metrics_counter_add(m, "x_total", "Things.", l1, 1), 0);
	ck_assert_int_eq(metrics_counter_add(m, "x_total", "Things.", l1, 2), 0);
	ck_assert_int_eq(metrics_gauge_set(m, "a_gauge", "A gauge.", NULL, 7), 0);
	ck_assert_int_eq(metrics_gauge_add(m, "a_gauge", "A gauge.", NULL, -2), 0);
	/* a name keeps its type */
	ck_assert_int_eq(metrics_gauge_set(m, "x_total", "", l1, 1), -EINVAL);
	ck_assert_int_eq(metrics_counter_add(m, "x_total", "", l1, -1), -EINVAL);
	double v;
	ck_assert_int_eq(metrics_get(m, "x_total", l1, &v), 0);
	ck_assert(v == 3);
	ck_assert_int_eq(metrics_get(m, "nope", NULL, &v), -ENOENT);
	char *text = render(m);
	const char *want =
		"# HELP a_gauge A gauge.\n"
		"# TYPE a_gauge gauge\n"
		"a_gauge 5\n"
		"# HELP metrics_dropped_series_total Series not recorded because the registry was full.\n"
		"# TYPE metrics_dropped_series_total counter\n"
		"metrics_dropped_series_total 0\n"
		"# HELP x_total Things.\n"
		"# TYPE x_total counter\n"
		"x_total{controller=\"cm\",result=\"success\"} 3\n";
	ck_assert_str_eq(text, want);
	free(text);
	metrics_free(m);
}
END_TEST

/* A declared family is named on /metrics before its first sample, keeps
 * its type and help, and takes samples afterwards like any other. */
START_TEST(test_declare)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	ck_assert_int_eq(metrics_gauge_declare(m, "lag", "Lag."), 0);
	ck_assert_int_eq(metrics_counter_declare(m, "done_total", "Done."), 0);
	ck_assert_int_eq(metrics_counter_declare(m, "lag", "Lag."), -EINVAL);
	ck_assert_int_eq(metrics_gauge_declare(m, "lag", "Other help."), 0);
	ck_assert_int_eq(metrics_gauge_declare(NULL, "x", ""), -EINVAL);
	ck_assert_int_eq(metrics_gauge_declare(m, NULL, ""), -EINVAL);
	double v;
	ck_assert_int_eq(metrics_get(m, "lag", NULL, &v), -ENOENT);
	char *text = render(m);
	ck_assert_str_eq(text,
		"# HELP done_total Done.\n"
		"# TYPE done_total counter\n"
		"# HELP lag Lag.\n"
		"# TYPE lag gauge\n"
		"# HELP metrics_dropped_series_total Series not recorded because the registry was full.\n"
		"# TYPE metrics_dropped_series_total counter\n"
		"metrics_dropped_series_total 0\n");
	free(text);
	const char *l[] = { "bucket", "2", NULL };
	ck_assert_int_eq(metrics_gauge_set(m, "lag", "", l, 9), 0);
	text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "# HELP lag Lag.\n# TYPE lag gauge\nlag{bucket=\"2\"} 9\n"));
	free(text);
	metrics_free(m);
}
END_TEST

START_TEST(test_histogram)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	const double b[] = { 0.1, 1 };
	const char *l[] = { "name", "q", NULL };
	metrics_histogram_observe(m, "h_seconds", "H.", l, b, 2, 0.05);
	metrics_histogram_observe(m, "h_seconds", "H.", l, b, 2, 0.1);
	metrics_histogram_observe(m, "h_seconds", "H.", l, b, 2, 0.5);
	metrics_histogram_observe(m, "h_seconds", "H.", l, b, 2, 5);
	char *text = render(m);
	const char *want =
		"# HELP h_seconds H.\n"
		"# TYPE h_seconds histogram\n"
		"h_seconds_bucket{name=\"q\",le=\"0.1\"} 2\n"
		"h_seconds_bucket{name=\"q\",le=\"1\"} 3\n"
		"h_seconds_bucket{name=\"q\",le=\"+Inf\"} 4\n"
		"h_seconds_sum{name=\"q\"} 5.65\n"
		"h_seconds_count{name=\"q\"} 4\n";
	ck_assert_ptr_nonnull(strstr(text, want));
	free(text);
	metrics_free(m);
}
END_TEST

START_TEST(test_escaping_and_order)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	const char *lb[] = { "k", "b\"q\\\n", NULL };
	const char *la[] = { "k", "a", NULL };
	metrics_gauge_set(m, "g", "line1\nline2 \\", lb, 1);
	metrics_gauge_set(m, "g", "", la, 2);
	char *text = render(m);
	const char *want =
		"# HELP g line1\\nline2 \\\\\n"
		"# TYPE g gauge\n"
		"g{k=\"a\"} 2\n"
		"g{k=\"b\\\"q\\\\\\n\"} 1\n";
	ck_assert_ptr_nonnull(strstr(text, want));
	free(text);
	metrics_free(m);
}
END_TEST

START_TEST(test_series_cap)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	char val[32];
	for (int i = 0; i < METRICS_MAX_SERIES + 5; i++) {
		snprintf(val, sizeof(val), "%d", i);
		const char *l[] = { "i", val, NULL };
		metrics_counter_add(m, "c_total", "", l, 1);
	}
	char *text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "\nmetrics_dropped_series_total 5\n"));
	free(text);
	metrics_free(m);
}
END_TEST

static void collect(void *ud, struct metrics *m)
{
	(*(int *)ud)++;
	metrics_gauge_set(m, "collected", "", NULL, *(int *)ud);
}

START_TEST(test_collectors)
{
	struct metrics *m;
	int calls = 0;
	ck_assert_int_eq(metrics_new(&m), 0);
	ck_assert_int_eq(metrics_add_collector(m, collect, &calls), 0);
	ck_assert_int_eq(metrics_add_process_collector(m), 0);
	char *text = render(m);
	ck_assert_int_eq(calls, 1);
	ck_assert_ptr_nonnull(strstr(text, "\ncollected 1\n"));
	static const char *names[] = {
		"process_resident_memory_bytes ", "process_cpu_seconds_total ",
		"process_open_fds ", "process_max_fds ",
		"process_start_time_seconds ", "process_virtual_memory_bytes ",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(strstr(text, names[i]), "missing %s", names[i]);
	double start;
	ck_assert_int_eq(metrics_get(m, "process_start_time_seconds", NULL, &start), 0);
	ck_assert(start > 1.5e9);
	free(text);
	metrics_free(m);
}
END_TEST

/* metrics_forget: which series go. The registry holds the same five
 * series each time. */
static const struct {
	const char *forget[7];
	int gone;
	const char *kept; /* series left in ph_ready, as rendered, "|"-joined */
} forgets[] = {
	{ { "namespace", "a", "name", "x", NULL }, 3, "namespace=\"a\",name=\"xy\"|namespace=\"b\",name=\"x\"" },
	{ { "name", "x", NULL }, 4, "namespace=\"a\",name=\"xy\"" },
	{ { "namespace", "b", NULL }, 1, "namespace=\"a\",name=\"x\"|namespace=\"a\",name=\"xy\"" },
	{ { "name", "y", NULL }, 0, "namespace=\"a\",name=\"x\"|namespace=\"a\",name=\"xy\"|namespace=\"b\",name=\"x\"" },
	/* a value that holds another pair's text matches nothing */
	{ { "name", "q\",name=\"x", NULL }, 0, "namespace=\"a\",name=\"x\"|namespace=\"a\",name=\"xy\"|namespace=\"b\",name=\"x\"" },
	{ { NULL }, -EINVAL, "namespace=\"a\",name=\"x\"|namespace=\"a\",name=\"xy\"|namespace=\"b\",name=\"x\"" },
};

START_TEST(test_forget)
{
	static const double b[] = { 1 };
	struct metrics *m;
	double v;
	char *text, want[512], *tok, *save;

	ck_assert_int_eq(metrics_new(&m), 0);
	metrics_gauge_set(m, "ph_ready", "", (const char *[]){ "namespace", "a", "name", "x", NULL }, 1);
	metrics_gauge_set(m, "ph_ready", "", (const char *[]){ "namespace", "a", "name", "xy", NULL }, 1);
	metrics_gauge_set(m, "ph_ready", "", (const char *[]){ "namespace", "b", "name", "x", NULL }, 1);
	metrics_counter_add(m, "ph_total", "", (const char *[]){ "name", "x", "namespace", "a", "r", "ok", NULL }, 2);
	metrics_histogram_observe(m, "ph_seconds", "", (const char *[]){ "namespace", "a", "name", "x", NULL },
				  b, 1, 0.5);
	ck_assert_int_eq(metrics_forget(m, forgets[_i].forget), forgets[_i].gone);
	/* the a/x series go in cases 0 and 1 (and the counter with them) */
	ck_assert_int_eq(metrics_get(m, "ph_ready", (const char *[]){ "namespace", "a", "name", "x", NULL }, &v),
			 _i < 2 ? -ENOENT : 0);
	ck_assert_int_eq(metrics_get(m, "ph_total", (const char *[]){ "name", "x", "namespace", "a", "r", "ok", NULL },
				     &v), _i < 2 ? -ENOENT : 0);
	text = render(m);
	snprintf(want, sizeof(want), "%s", forgets[_i].kept);
	for (tok = strtok_r(want, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		char line[256];

		snprintf(line, sizeof(line), "ph_ready{%s} 1\n", tok);
		ck_assert_msg(strstr(text, line), "case %d: %s missing in\n%s", _i, line, text);
	}
	if (_i == 0) {
		ck_assert_int_eq(metrics_clear(m, "ph_ready"), 2);
		ck_assert_int_eq(metrics_clear(m, "ph_ready"), 0);
		ck_assert_int_eq(metrics_clear(m, "nope"), -ENOENT);
		ck_assert_int_eq(metrics_get(m, "ph_ready", (const char *[]){ "namespace", "b", "name", "x", NULL },
					     &v), -ENOENT);
	}
	/* the families stay, and a forgotten series can come back */
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ph_ready gauge"));
	ck_assert_int_eq(metrics_gauge_set(m, "ph_ready", "", (const char *[]){ "namespace", "a", "name", "x", NULL }, 0), 0);
	ck_assert_int_eq(metrics_get(m, "ph_ready", (const char *[]){ "namespace", "a", "name", "x", NULL }, &v), 0);
	ck_assert(v == 0);
	free(text);
	metrics_free(m);
}
END_TEST

/* metrics_render appends in place: into a buffer that already holds text,
 * whole or not at all (a cap too small leaves the text as it was and the
 * buffer usable), and the next page gets room sized by the last. */
START_TEST(test_render_in_place)
{
	struct metrics *m;
	struct buf b;
	char name[32];
	size_t page;

	ck_assert_int_eq(metrics_new(&m), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		ck_assert_int_eq(metrics_gauge_set(m, "ph_ready", "Ready.",
						   (const char *[]){ "name", name, NULL }, 1), 0);
	}
	buf_init(&b, 1 << 20);
	buf_puts(&b, "head\n");
	ck_assert_int_eq(metrics_render(m, &b), 0);
	ck_assert(!strncmp(b.data, "head\n# HELP ", 11));
	ck_assert_ptr_nonnull(strstr(b.data, "ph_ready{name=\"x199\"} 1\n"));
	page = b.len - 5;
	buf_free(&b);
	/* room for the page and a sixteenth, not the next power of two */
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(metrics_render(m, &b), 0);
	ck_assert_uint_eq(b.len, page);
	ck_assert_uint_eq(b.alloc, page + page / 16 + 1);
	buf_free(&b);
	/* too small: nothing appended, no error left behind */
	buf_init(&b, page / 2);
	buf_puts(&b, "head\n");
	ck_assert_int_eq(metrics_render(m, &b), -EMSGSIZE);
	ck_assert_str_eq(buf_str(&b), "head\n");
	ck_assert_int_eq(buf_error(&b), 0);
	buf_free(&b);
	metrics_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_render_in_place);
	tcase_add_loop_test(tc, test_format_value, 0,
			    sizeof(values) / sizeof(values[0]));
	tcase_add_test(tc, test_counter_and_gauge);
	tcase_add_test(tc, test_declare);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_escaping_and_order);
	tcase_add_test(tc, test_series_cap);
	tcase_add_test(tc, test_collectors);
	tcase_add_loop_test(tc, test_forget, 0, sizeof(forgets) / sizeof(forgets[0]));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
