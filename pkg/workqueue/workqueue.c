/*
 * One mutex guards the queue. Every key the queue knows about has one item
 * in a hash table; the item records whether the key waits in the ready
 * FIFO (dirty), is held by a worker (processing), waits on the delay heap,
 * and how often it failed. An item is dropped once none of that holds, so
 * memory follows the keys in flight, not every key ever seen.
 *
 * Delayed adds sit on a binary min-heap keyed by (due time, sequence); the
 * sequence makes equal due times leave in the order they arrived. There is
 * no timer thread: workers blocked in wq_get() sleep until the earliest due
 * time and move due items to the FIFO themselves.
 */
#include "workqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/metrics/metrics.h"
#include "workqueue-private.h"
#include "pkg/util/util.h"

struct item {
	struct item *hnext;  /* hash chain */
	struct item *qnext;  /* ready FIFO */
	char *key;
	bool dirty;          /* waits in the FIFO, or must rejoin it on done */
	bool processing;
	size_t heap_idx;     /* position on the delay heap, or NO_HEAP */
	uint64_t due_ns;
	uint64_t seq;
	unsigned failures;
	uint64_t added_ns;   /* when it joined the FIFO, for queue latency */
	uint64_t started_ns; /* when a worker took it */
};

#define NO_HEAP ((size_t)-1)

struct wq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wq_options opts;
	char *name;
	struct item **buckets;
	size_t nbuckets, nitems;
	struct item *head, *tail;
	size_t len;
	struct item **heap;
	size_t heap_len, heap_cap;
	uint64_t seq;
	bool shutting_down;
};

static const double latency_buckets[] = {
	1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000,
};
#define NLAT (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct item *lookup(struct wq *q, const char *key)
{
	struct item *it = q->buckets[util_fnv1a64_str(key) % q->nbuckets];
	while (it && strcmp(it->key, key) != 0)
		it = it->hnext;
	return it;
}

static void rehash(struct wq *q)
{
	size_t n = q->nbuckets * 2;
	struct item **b = util_xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < q->nbuckets; i++) {
		struct item *it = q->buckets[i];
		while (it) {
			struct item *next = it->hnext;
			size_t h = util_fnv1a64_str(it->key) % n;
			it->hnext = b[h];
			b[h] = it;
			it = next;
		}
	}
	free(q->buckets);
	q->buckets = b;
	q->nbuckets = n;
}

static struct item *intern(struct wq *q, const char *key)
{
	struct item *it = lookup(q, key);
	if (it)
		return it;
	if (q->nitems >= q->nbuckets)
		rehash(q);
	it = util_xcalloc(1, sizeof(*it));
	it->key = strdup(key);
	if (!it->key)
		abort();
	it->heap_idx = NO_HEAP;
	size_t h = util_fnv1a64_str(key) % q->nbuckets;
	it->hnext = q->buckets[h];
	q->buckets[h] = it;
	q->nitems++;
	return it;
}

/* Drops the item when nothing refers to it any more. */
static void release(struct wq *q, struct item *it)
{
	if (it->dirty || it->processing || it->failures ||
	    it->heap_idx != NO_HEAP)
		return;
	struct item **pp = &q->buckets[util_fnv1a64_str(it->key) % q->nbuckets];
	while (*pp != it)
		pp = &(*pp)->hnext;
	*pp = it->hnext;
	q->nitems--;
	free(it->key);
	free(it);
}

/* ---- delay heap ---- */

static bool heap_less(const struct item *a, const struct item *b)
{
	if (a->due_ns != b->due_ns)
		return a->due_ns < b->due_ns;
	return a->seq < b->seq;
}

static void heap_set(struct wq *q, size_t i, struct item *it)
{
	q->heap[i] = it;
	it->heap_idx = i;
}

static void sift_up(struct wq *q, size_t i)
{
	struct item *it = q->heap[i];
	while (i > 0 && heap_less(it, q->heap[(i - 1) / 2])) {
		heap_set(q, i, q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(q, i, it);
}

static void sift_down(struct wq *q, size_t i)
{
	struct item *it = q->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->heap_len)
			break;
		if (c + 1 < q->heap_len && heap_less(q->heap[c + 1], q->heap[c]))
			c++;
		if (!heap_less(q->heap[c], it))
			break;
		heap_set(q, i, q->heap[c]);
		i = c;
	}
	heap_set(q, i, it);
}

static void heap_push(struct wq *q, struct item *it)
{
	if (q->heap_len == q->heap_cap) {
		q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 16;
		q->heap = realloc(q->heap, q->heap_cap * sizeof(*q->heap));
		if (!q->heap)
			abort();
	}
	heap_set(q, q->heap_len++, it);
	sift_up(q, it->heap_idx);
}

static struct item *heap_pop(struct wq *q)
{
	struct item *top = q->heap[0];
	top->heap_idx = NO_HEAP;
	if (--q->heap_len > 0) {
		heap_set(q, 0, q->heap[q->heap_len]);
		sift_down(q, 0);
	}
	return top;
}

/* ---- metrics ---- */

static void gauge_depth(struct wq *q)
{
	const char *l[] = { "name", q->name, NULL };
	metrics_gauge_set(q->opts.metrics, "workqueue_depth",
			  "Current depth of workqueue", l, (double)q->len);
}

static void count(struct wq *q, const char *name, const char *help)
{
	const char *l[] = { "name", q->name, NULL };
	metrics_counter_add(q->opts.metrics, name, help, l, 1);
}

static void observe(struct wq *q, const char *name, const char *help,
		    double seconds)
{
	const char *l[] = { "name", q->name, NULL };
	metrics_histogram_observe(q->opts.metrics, name, help, l,
				  latency_buckets, NLAT, seconds);
}

/* Reads the in-progress figures at scrape time, as client-go's
 * updateUnfinishedWorkLoop does every 500 ms. */
static void collect(void *userdata, struct metrics *m)
{
	struct wq *q = userdata;
	uint64_t now = now_ns();
	double total = 0, longest = 0;
	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < q->nbuckets; i++) {
		for (struct item *it = q->buckets[i]; it; it = it->hnext) {
			if (!it->processing)
				continue;
			double d = (double)(now - it->started_ns) / 1e9;
			total += d;
			if (d > longest)
				longest = d;
		}
	}
	const char *l[] = { "name", q->name, NULL };
	metrics_gauge_set(m, "workqueue_unfinished_work_seconds",
			  "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
			  l, total);
	metrics_gauge_set(m, "workqueue_longest_running_processor_seconds",
			  "How many seconds has the longest running processor for workqueue been running.",
			  l, longest);
	metrics_gauge_set(m, "workqueue_depth", "Current depth of workqueue",
			  l, (double)q->len);
	pthread_mutex_unlock(&q->lock);
}

/* ---- queue ---- */

int wq_new(const struct wq_options *opts, struct wq **out)
{
	struct wq *q = util_xcalloc(1, sizeof(*q));
	q->opts = *opts;
	if (!q->opts.base_delay_ms)
		q->opts.base_delay_ms = 5;
	if (!q->opts.max_delay_ms)
		q->opts.max_delay_ms = 1000000;
	q->name = strdup(opts->name ? opts->name : "");
	if (!q->name)
		abort();
	q->nbuckets = 64;
	q->buckets = util_xcalloc(q->nbuckets, sizeof(*q->buckets));
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (q->opts.metrics) {
		const char *l[] = { "name", q->name, NULL };
		metrics_counter_add(q->opts.metrics, "workqueue_adds_total",
				    "Total number of adds handled by workqueue", l, 0);
		metrics_counter_add(q->opts.metrics, "workqueue_retries_total",
				    "Total number of retries handled by workqueue", l, 0);
		gauge_depth(q);
		int r = metrics_add_collector(q->opts.metrics, collect, q);
		if (r < 0) {
			q->opts.metrics = NULL; /* nothing to remove in wq_free */
			wq_free(q);
			return r;
		}
	}
	*out = q;
	return 0;
}

void wq_free(struct wq *q)
{
	if (!q)
		return;
	if (q->opts.metrics)
		metrics_remove_collector(q->opts.metrics, collect, q);
	for (size_t i = 0; i < q->nbuckets; i++) {
		struct item *it = q->buckets[i];
		while (it) {
			struct item *next = it->hnext;
			free(it->key);
			free(it);
			it = next;
		}
	}
	free(q->buckets);
	free(q->heap);
	free(q->name);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static void enqueue_locked(struct wq *q, struct item *it)
{
	it->added_ns = now_ns();
	it->qnext = NULL;
	if (q->tail)
		q->tail->qnext = it;
	else
		q->head = it;
	q->tail = it;
	q->len++;
	gauge_depth(q);
	pthread_cond_signal(&q->cond);
}

/* The add of client-go's Type.Add, with the lock held. */
static void add_locked(struct wq *q, struct item *it)
{
	if (it->dirty)
		return;
	it->dirty = true;
	count(q, "workqueue_adds_total",
	      "Total number of adds handled by workqueue");
	if (!it->processing)
		enqueue_locked(q, it);
}

int wq_add(struct wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	int rc = -ESHUTDOWN;
	if (!q->shutting_down) {
		add_locked(q, intern(q, key));
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* A key already waiting on the heap keeps the earlier of its two due
 * times, as client-go's waitingForQueue does. */
static void add_at_locked(struct wq *q, const char *key, uint64_t due)
{
	struct item *it = intern(q, key);
	if (it->heap_idx != NO_HEAP) {
		if (due < it->due_ns) {
			it->due_ns = due;
			sift_up(q, it->heap_idx);
			pthread_cond_broadcast(&q->cond);
		}
		return;
	}
	it->due_ns = due;
	it->seq = q->seq++;
	heap_push(q, it);
	/* The new item may now be the earliest; sleeping workers recompute
	 * their deadline. */
	pthread_cond_broadcast(&q->cond);
}

static void add_after_locked(struct wq *q, const char *key, uint64_t delay_ms)
{
	if (delay_ms == 0)
		add_locked(q, intern(q, key));
	else
		add_at_locked(q, key, now_ns() + delay_ms * 1000000u);
}

int wq_add_at_ns(struct wq *q, const char *key, uint64_t due_ns)
{
	pthread_mutex_lock(&q->lock);
	int rc = -ESHUTDOWN;
	if (!q->shutting_down) {
		add_at_locked(q, key, due_ns);
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

uint64_t wq_now_ns(void)
{
	return now_ns();
}

int wq_add_after(struct wq *q, const char *key, uint64_t delay_ms)
{
	pthread_mutex_lock(&q->lock);
	int rc = -ESHUTDOWN;
	if (!q->shutting_down) {
		add_after_locked(q, key, delay_ms);
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static uint64_t backoff_ms(const struct wq *q, unsigned failures)
{
	uint64_t d = q->opts.base_delay_ms;
	for (unsigned i = 0; i < failures; i++) {
		if (d >= q->opts.max_delay_ms)
			break;
		d *= 2;
	}
	return d < q->opts.max_delay_ms ? d : q->opts.max_delay_ms;
}

int wq_add_rate_limited(struct wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	int rc = -ESHUTDOWN;
	if (!q->shutting_down) {
		struct item *it = intern(q, key);
		uint64_t d = backoff_ms(q, it->failures);
		it->failures++;
		count(q, "workqueue_retries_total",
		      "Total number of retries handled by workqueue");
		add_after_locked(q, key, d);
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void wq_forget(struct wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	struct item *it = lookup(q, key);
	if (it) {
		it->failures = 0;
		release(q, it);
	}
	pthread_mutex_unlock(&q->lock);
}

unsigned wq_num_requeues(struct wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	struct item *it = lookup(q, key);
	unsigned n = it ? it->failures : 0;
	pthread_mutex_unlock(&q->lock);
	return n;
}

uint64_t wq_next_backoff_ms(struct wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	struct item *it = lookup(q, key);
	uint64_t d = backoff_ms(q, it ? it->failures : 0);
	pthread_mutex_unlock(&q->lock);
	return d;
}

/* Moves due items from the heap to the FIFO; returns the earliest due
 * time still waiting, or 0 when the heap is empty. */
static uint64_t promote_due(struct wq *q)
{
	uint64_t now = now_ns();
	while (q->heap_len && q->heap[0]->due_ns <= now) {
		struct item *it = heap_pop(q);
		add_locked(q, it);
		release(q, it);
	}
	return q->heap_len ? q->heap[0]->due_ns : 0;
}

static void wait_until(struct wq *q, uint64_t due_ns)
{
	if (!due_ns) {
		pthread_cond_wait(&q->cond, &q->lock);
		return;
	}
	struct timespec ts = {
		.tv_sec = (time_t)(due_ns / 1000000000u),
		.tv_nsec = (long)(due_ns % 1000000000u),
	};
	pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

int wq_get(struct wq *q, char **key_out)
{
	pthread_mutex_lock(&q->lock);
	for (;;) {
		uint64_t next = q->shutting_down ? 0 : promote_due(q);
		if (q->head || q->shutting_down)
			break;
		wait_until(q, next);
	}
	struct item *it = q->head;
	if (!it) {
		pthread_mutex_unlock(&q->lock);
		return -ESHUTDOWN;
	}
	q->head = it->qnext;
	if (!q->head)
		q->tail = NULL;
	q->len--;
	gauge_depth(q);
	it->dirty = false;
	it->processing = true;
	it->started_ns = now_ns();
	observe(q, "workqueue_queue_duration_seconds",
		"How long in seconds an item stays in workqueue before being requested",
		(double)(it->started_ns - it->added_ns) / 1e9);
	*key_out = strdup(it->key);
	if (!*key_out)
		abort();
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void wq_done(struct wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	struct item *it = lookup(q, key);
	if (it && it->processing) {
		it->processing = false;
		observe(q, "workqueue_work_duration_seconds",
			"How long in seconds processing an item from workqueue takes.",
			(double)(now_ns() - it->started_ns) / 1e9);
		/* Re-added while a worker held it: it rejoins now. */
		if (it->dirty)
			enqueue_locked(q, it);
		release(q, it);
	}
	pthread_mutex_unlock(&q->lock);
}

void wq_shutdown(struct wq *q)
{
	pthread_mutex_lock(&q->lock);
	q->shutting_down = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

size_t wq_len(struct wq *q)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->len;
	pthread_mutex_unlock(&q->lock);
	return n;
}
