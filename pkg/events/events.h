/*
 * events: an events.k8s.io/v1 recorder.
 *
 * recorder_event() never blocks the caller: it puts the event on a bounded
 * queue (dropping, and counting, when full) and a background thread writes
 * it. Repeats of the same (regarding object, type, reason, action, note)
 * within the aggregation window update one Event's series (count and
 * lastObservedTime) instead of creating new Events. Writes are
 * rate-limited per regarding object (burst 25, then 1 per 5 minutes, as
 * client-go's spam filter), so a hot loop cannot flood the API server.
 */
#ifndef PHO_EVENTS_H
#define PHO_EVENTS_H

#include <stdarg.h>

#include <cjson/cJSON.h>

#include "pkg/kube/kube.h"
#include "pkg/log/log.h"

struct recorder;

struct recorder_options {
	const char *controller; /* reportingController, e.g. "posthog.com/operator" */
	const char *instance;   /* reportingInstance, e.g. the pod name */
	unsigned queue_size;    /* default 1000 */
	struct log *log;        /* borrowed */
};

/* The client is borrowed. Starts the writer thread. */
int recorder_new(struct kube_client *c, const struct recorder_options *opts,
		 struct recorder **out) __attribute__((warn_unused_result));
/* Flushes what is queued (bounded wait), then stops. */
void recorder_free(struct recorder *r);

/* type is "Normal" or "Warning". regarding is borrowed: its apiVersion,
 * kind, namespace, name, uid and resourceVersion are copied. */
void recorder_event(struct recorder *r, const cJSON *regarding,
		    const char *type, const char *reason, const char *action,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Events handed to the writer (written or filtered) and events dropped
 * because the queue was full or the recorder stopping. */
void recorder_counts(struct recorder *r, unsigned long *written,
		     unsigned long *dropped);

#endif
