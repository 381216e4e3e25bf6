/* workqueue internals reachable from the tests. */
#ifndef PHO_WORKQUEUE_PRIVATE_H
#define PHO_WORKQUEUE_PRIVATE_H

#include <stdint.h>

#include "workqueue.h"

/* Delayed add at an absolute CLOCK_MONOTONIC time in nanoseconds, so tests
 * can create equal due times and check the FIFO tie-break. */
int wq_add_at_ns(struct wq *q, const char *key, uint64_t due_ns);
uint64_t wq_now_ns(void);

#endif
