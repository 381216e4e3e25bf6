#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/metrics/metrics.h"
#include "workqueue.h"
#include "workqueue-private.h"

static struct wq *new_queue(struct metrics *m)
{
	struct wq *q;
	struct wq_options o = { .name = "test", .metrics = m };
	ck_assert_int_eq(wq_new(&o, &q), 0);
	return q;
}

static void expect_get(struct wq *q, const char *want)
{
	char *k = NULL;
	ck_assert_int_eq(wq_get(q, &k), 0);
	ck_assert_str_eq(k, want);
	free(k);
}

START_TEST(test_dedup)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	struct wq *q = new_queue(m);
	wq_add(q, "a");
	wq_add(q, "a");
	wq_add(q, "b");
	wq_add(q, "a");
	ck_assert_uint_eq(wq_len(q), 2);
	expect_get(q, "a");
	expect_get(q, "b");
	ck_assert_uint_eq(wq_len(q), 0);
	wq_done(q, "a");
	wq_done(q, "b");
	double adds;
	const char *l[] = { "name", "test", NULL };
	ck_assert_int_eq(metrics_get(m, "workqueue_adds_total", l, &adds), 0);
	ck_assert(adds == 2);
	ck_assert_int_eq(metrics_get(m, "workqueue_queue_duration_seconds", l, &adds), 0);
	ck_assert(adds == 2); /* histogram count */
	wq_free(q);
	metrics_free(m);
}
END_TEST

START_TEST(test_readd_while_processing)
{
	struct wq *q = new_queue(NULL);
	wq_add(q, "a");
	expect_get(q, "a");
	wq_add(q, "a");
	wq_add(q, "a");
	/* held by a worker: not handed to another one */
	ck_assert_uint_eq(wq_len(q), 0);
	wq_done(q, "a");
	ck_assert_uint_eq(wq_len(q), 1);
	expect_get(q, "a");
	wq_done(q, "a");
	ck_assert_uint_eq(wq_len(q), 0);
	wq_free(q);
}
END_TEST

struct stress {
	struct wq *q;
	atomic_int inflight[8];
	atomic_int violations;
	atomic_int processed;
};

static void *worker(void *arg)
{
	struct stress *s = arg;
	char *k;
	while (wq_get(s->q, &k) == 0) {
		int i = k[1] - '0';
		if (atomic_fetch_add(&s->inflight[i], 1) != 0)
			atomic_fetch_add(&s->violations, 1);
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		atomic_fetch_sub(&s->inflight[i], 1);
		atomic_fetch_add(&s->processed, 1);
		wq_done(s->q, k);
		free(k);
	}
	return NULL;
}

START_TEST(test_no_concurrent_processing)
{
	struct stress s = { .q = new_queue(NULL) };
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, &s);
	char key[3] = "k0";
	for (int n = 0; n < 4000; n++) {
		key[1] = (char)('0' + n % 8);
		wq_add(s.q, key);
	}
	wq_shutdown(s.q);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&s.violations), 0);
	ck_assert_int_ge(atomic_load(&s.processed), 8);
	wq_free(s.q);
}
END_TEST

static const struct {
	uint64_t base, max;
	unsigned failures;
	uint64_t want;
} backoffs[] = {
	{ 0, 0, 0, 5 },          /* defaults: 5 ms */
	{ 0, 0, 1, 10 },
	{ 0, 0, 2, 20 },
	{ 0, 0, 10, 5120 },
	{ 0, 0, 18, 1000000 },   /* capped at 1000 s */
	{ 0, 0, 200, 1000000 },  /* no overflow */
	{ 100, 1000, 3, 800 },
	{ 100, 1000, 4, 1000 },
};

START_TEST(test_backoff_growth)
{
	struct wq *q;
	struct wq_options o = { .name = "b", .base_delay_ms = backoffs[_i].base,
				.max_delay_ms = backoffs[_i].max };
	ck_assert_int_eq(wq_new(&o, &q), 0);
	/* Counting failures with wq_add_rate_limited would put the key on the
	 * heap each time; that is fine, it stays there deduplicated. */
	for (unsigned n = 0; n < backoffs[_i].failures; n++)
		wq_add_rate_limited(q, "k");
	ck_assert_uint_eq(wq_num_requeues(q, "k"), backoffs[_i].failures);
	ck_assert_uint_eq(wq_next_backoff_ms(q, "k"), backoffs[_i].want);
	wq_forget(q, "k");
	ck_assert_uint_eq(wq_num_requeues(q, "k"), 0);
	ck_assert_uint_eq(wq_next_backoff_ms(q, "k"), o.base_delay_ms ? o.base_delay_ms : 5);
	wq_shutdown(q);
	wq_free(q);
}
END_TEST

START_TEST(test_rate_limited_requeue)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	struct wq *q = new_queue(m);
	wq_add(q, "a");
	for (int i = 0; i < 3; i++) {
		expect_get(q, "a");
		wq_add_rate_limited(q, "a");
		wq_done(q, "a");
	}
	expect_get(q, "a"); /* arrives after 5+10+20 ms of backoff */
	wq_forget(q, "a");
	wq_done(q, "a");
	ck_assert_uint_eq(wq_num_requeues(q, "a"), 0);
	const char *l[] = { "name", "test", NULL };
	double retries;
	ck_assert_int_eq(metrics_get(m, "workqueue_retries_total", l, &retries), 0);
	ck_assert(retries == 3);
	wq_free(q);
	metrics_free(m);
}
END_TEST

START_TEST(test_delayed_order)
{
	struct wq *q = new_queue(NULL);
	wq_add_after(q, "late", 300);
	wq_add_after(q, "soon", 20);
	wq_add(q, "now");
	ck_assert_uint_eq(wq_len(q), 1);
	expect_get(q, "now");
	expect_get(q, "soon");
	expect_get(q, "late");
	wq_free(q);
}
END_TEST

START_TEST(test_delayed_fifo_ties_and_dedup)
{
	struct wq *q = new_queue(NULL);
	uint64_t due = wq_now_ns() + 20 * 1000000u;
	const char *keys[] = { "c", "a", "d", "b" };
	for (int i = 0; i < 4; i++)
		wq_add_at_ns(q, keys[i], due);
	/* a key already waiting keeps the earlier due time */
	wq_add_after(q, "x", 3600 * 1000);
	wq_add_after(q, "x", 1);
	expect_get(q, "x");
	for (int i = 0; i < 4; i++)
		expect_get(q, keys[i]);
	wq_free(q);
}
END_TEST

static void *blocked_get(void *arg)
{
	char *k = NULL;
	intptr_t rc = wq_get(arg, &k);
	free(k);
	return (void *)rc;
}

START_TEST(test_shutdown)
{
	struct wq *q = new_queue(NULL);
	wq_add(q, "a");
	wq_add(q, "b");
	expect_get(q, "a"); /* in flight across the shutdown */
	wq_add_after(q, "delayed", 3600 * 1000);
	wq_shutdown(q);
	ck_assert_int_eq(wq_add(q, "c"), -ESHUTDOWN);
	ck_assert_int_eq(wq_add_after(q, "c", 1), -ESHUTDOWN);
	ck_assert_int_eq(wq_add_rate_limited(q, "c"), -ESHUTDOWN);
	expect_get(q, "b"); /* queued work still drains */
	char *k = NULL;
	ck_assert_int_eq(wq_get(q, &k), -ESHUTDOWN);
	wq_done(q, "a");
	wq_done(q, "b");
	wq_free(q);

	/* a worker blocked in wq_get() wakes up */
	q = new_queue(NULL);
	pthread_t th;
	pthread_create(&th, NULL, blocked_get, q);
	wq_shutdown(q);
	void *rc;
	pthread_join(th, &rc);
	ck_assert_int_eq((int)(intptr_t)rc, -ESHUTDOWN);
	wq_free(q);
}
END_TEST

START_TEST(test_unfinished_metrics)
{
	struct metrics *m;
	ck_assert_int_eq(metrics_new(&m), 0);
	struct wq *q = new_queue(m);
	wq_add(q, "a");
	wq_add(q, "b");
	expect_get(q, "a");
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(metrics_render(m, &b), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "\nworkqueue_depth{name=\"test\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "workqueue_longest_running_processor_seconds{name=\"test\"} "));
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "workqueue_unfinished_work_seconds{name=\"test\"} "));
	buf_free(&b);
	wq_done(q, "a");
	wq_free(q);
	/* the collector is gone with the queue */
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(metrics_render(m, &b), 0);
	buf_free(&b);
	metrics_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("workqueue");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dedup);
	tcase_add_test(tc, test_readd_while_processing);
	tcase_add_test(tc, test_no_concurrent_processing);
	tcase_add_loop_test(tc, test_backoff_growth, 0,
			    sizeof(backoffs) / sizeof(backoffs[0]));
	tcase_add_test(tc, test_rate_limited_requeue);
	tcase_add_test(tc, test_delayed_order);
	tcase_add_test(tc, test_delayed_fifo_ties_and_dedup);
	tcase_add_test(tc, test_shutdown);
	tcase_add_test(tc, test_unfinished_metrics);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
