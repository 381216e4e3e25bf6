/*
 * metrics: a registry of Prometheus counters, gauges and histograms,
 * rendered in the text exposition format (version 0.0.4).
 *
 * Series are addressed by name and a label set given as a NULL-terminated
 * array of alternating names and values: (const char *[]){"code", "200",
 * NULL}. The first use of a name registers its type and help; using a name
 * with another type returns -EINVAL. All functions are thread-safe.
 * Collectors run just before each render, to refresh gauges that are read
 * rather than pushed (process_*, queue depths).
 *
 * Ownership: the registry is the caller of metrics_new()'s, freed with
 * metrics_free() (NULL accepted) after every user stopped. Names, help
 * texts and label names and values are copied on first use, so callers
 * may pass stack strings. A collector's userdata is borrowed: remove the
 * collector before freeing it. metrics_render() appends to the caller's
 * buf.
 */
#ifndef PHO_METRICS_H
#define PHO_METRICS_H

#include <stddef.h>

#include "pkg/buf/buf.h"

struct metrics;

/* Most distinct series kept; past it new series are dropped (and counted
 * in metrics_dropped_series_total), so label values from input cannot
 * grow memory without bound. */
#define METRICS_MAX_SERIES 10000

/* A new, empty registry in *out (caller frees with metrics_free). Returns
 * 0; allocation failure aborts. */
int metrics_new(struct metrics **out) __attribute__((warn_unused_result));
void metrics_free(struct metrics *m);

/* Updates a series, creating it (copying name, help and labels) on first
 * use. Return 0, -EINVAL when name is used with another type, or -ENOSPC
 * past METRICS_MAX_SERIES (then counted as dropped). Callers may ignore
 * the result: a metric that cannot be recorded is no reason to fail. */

int metrics_counter_add(struct metrics *m, const char *name, const char *help,
			const char *const *labels, double v);
int metrics_gauge_set(struct metrics *m, const char *name, const char *help,
		      const char *const *labels, double v);
int metrics_gauge_add(struct metrics *m, const char *name, const char *help,
		      const char *const *labels, double v);
/* Registers a family with no series yet, so that /metrics names it (its
 * # HELP and # TYPE lines) before the first sample: a dashboard or an
 * alert on it then finds the name from the start. Returns 0, or -EINVAL
 * when the name is registered with another type. */
int metrics_counter_declare(struct metrics *m, const char *name, const char *help);
int metrics_gauge_declare(struct metrics *m, const char *name, const char *help);

/* buckets: ascending upper bounds, without +Inf; used on first use only. */
int metrics_histogram_observe(struct metrics *m, const char *name,
			      const char *help, const char *const *labels,
			      const double *buckets, size_t nbuckets, double v);

/* Removes every series, of every family, whose labels include each
 * name/value pair of labels (NULL-terminated, at least one pair): the
 * series of an object that no longer exists, so that a deleted PostHog
 * does not stay "not ready" on a dashboard. Families stay registered.
 * Returns how many series went, or -EINVAL for no pair. */
int metrics_forget(struct metrics *m, const char *const *labels);

/* Removes every series of the family name (a collector that sets a
 * family from a list of objects calls it first, so that a deleted
 * object's series goes). Returns how many went, -ENOENT for no family. */
int metrics_clear(struct metrics *m, const char *name);

/* Reads back one series' value (counters and gauges), for tests and for
 * code that derives status from metrics. Returns 0 or -ENOENT. */
int metrics_get(struct metrics *m, const char *name,
		const char *const *labels, double *out) __attribute__((warn_unused_result));

/* Collectors run, without the registry's lock, before each render; fn and
 * userdata are borrowed until metrics_remove_collector(). Adding returns 0
 * or -ENOSPC when the registry holds its most collectors. */
typedef void (*metrics_collect_fn)(void *userdata, struct metrics *m);
int metrics_add_collector(struct metrics *m, metrics_collect_fn fn,
			  void *userdata) __attribute__((warn_unused_result));

/* Unregisters a collector added with the same fn and userdata (call it
 * before freeing what userdata points to). Returns 0 or -ENOENT. */
int metrics_remove_collector(struct metrics *m, metrics_collect_fn fn,
			     void *userdata);

/* Appends the exposition text to out, families sorted by name. */
int metrics_render(struct metrics *m, struct buf *out) __attribute__((warn_unused_result));

/* Adds the process_* collector: process_resident_memory_bytes,
 * process_cpu_seconds_total, process_open_fds, process_max_fds,
 * process_start_time_seconds, process_virtual_memory_bytes. */
int metrics_add_process_collector(struct metrics *m) __attribute__((warn_unused_result));

#endif
