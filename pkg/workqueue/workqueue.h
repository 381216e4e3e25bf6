/*
 * workqueue: a rate-limited work queue of string keys, after client-go's.
 *
 * - A key waiting in the queue is stored once however often it is added.
 * - A key is handed to one worker at a time: adding a key that is being
 *   processed marks it dirty, and wq_done() puts it back in the queue.
 * - Failures back off per key exponentially (base * 2^failures, capped);
 *   wq_forget() resets the count after a success.
 * - Delayed adds wait on a min-heap ordered by due time, FIFO on ties.
 * - wq_shutdown() stops intake; wq_get() keeps handing out what is queued
 *   and then returns -ESHUTDOWN, so in-flight work finishes.
 * All functions are thread-safe.
 */
#ifndef PHO_WORKQUEUE_H
#define PHO_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

struct wq;
struct metrics;

struct wq_options {
	const char *name;        /* label "name" of the workqueue_* metrics */
	uint64_t base_delay_ms;  /* default 5 */
	uint64_t max_delay_ms;   /* default 1000000 (1000 s) */
	struct metrics *metrics; /* borrowed, may be NULL */
};

int wq_new(const struct wq_options *opts, struct wq **out)
	__attribute__((warn_unused_result));
/* Call after shutdown and after every worker has returned. */
void wq_free(struct wq *q);

/* Each returns 0, or -ESHUTDOWN once the queue is shutting down. The key is
 * copied. Callers may ignore the result (these three carry no
 * warn_unused_result): a key added while the queue shuts down is meant to
 * be dropped. */
int wq_add(struct wq *q, const char *key);
int wq_add_after(struct wq *q, const char *key, uint64_t delay_ms);
/* Adds after the key's next backoff delay and counts a failure. */
int wq_add_rate_limited(struct wq *q, const char *key);
/* Clears the key's failure count. */
void wq_forget(struct wq *q, const char *key);
/* Failures counted for the key since the last wq_forget(). */
unsigned wq_num_requeues(struct wq *q, const char *key);
/* The delay the next wq_add_rate_limited() would use, without counting. */
uint64_t wq_next_backoff_ms(struct wq *q, const char *key);

/*
 * Blocks until a key is ready, then hands it over (*key_out, caller frees)
 * and marks it processing. Returns 0, or -ESHUTDOWN when the queue is shut
 * down and empty.
 */
int wq_get(struct wq *q, char **key_out) __attribute__((warn_unused_result));
/* Ends processing of key; requeues it if it was added meanwhile. */
void wq_done(struct wq *q, const char *key);

void wq_shutdown(struct wq *q);
/* Keys waiting (not delayed, not processing). */
size_t wq_len(struct wq *q);

#endif
