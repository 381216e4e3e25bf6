/*
 * informer: a list-watch cache of one resource type.
 *
 * It lists, then watches from the list's resourceVersion, keeping a cache
 * indexed by namespace/name and by controller owner uid. On 410 Gone it
 * relists; on a dropped stream it reconnects with backoff (800 ms doubling
 * to 30 s, as client-go's reflector). Every resync period it replays every
 * cached object to the update handler. A label selector limits the cache
 * to what the operator owns.
 *
 * Handlers run on the informer's own thread, one at a time; they must not
 * block (enqueue a key and return). Objects passed to handlers are
 * borrowed for the duration of the call. Cache reads return new trees,
 * so callers on other threads own what they get.
 *
 * The cache holds what the operator reads, compactly: every object first
 * goes through a transform (by default informer_strip: no managedFields,
 * no kubectl last-applied annotation, as controller-runtime's cache
 * transforms), and is then kept as compressed JSON. Handlers and reads see
 * the transformed object.
 */
#ifndef PHO_INFORMER_H
#define PHO_INFORMER_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "pkg/kube/kube.h"
#include "pkg/log/log.h"

struct informer;

struct informer_handlers {
	void (*on_add)(void *userdata, const cJSON *obj);
	/* Also called for resyncs, with old == new. */
	void (*on_update)(void *userdata, const cJSON *old_obj,
			  const cJSON *new_obj);
	void (*on_delete)(void *userdata, const cJSON *obj);
	void *userdata;
};

/* The annotation `kubectl apply` (client-side) keeps the whole applied
 * object in. */
#define INFORMER_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* Leaves out of obj what no cache needs: metadata.managedFields and the
 * INFORMER_LAST_APPLIED annotation. */
void informer_strip(cJSON *obj);

#define INFORMER_NO_RESYNC UINT64_MAX

struct informer_options {
	struct kube_resource resource;
	/* Changes each object in place before it is cached and handed to
	 * the handlers; NULL means informer_strip. A transform of its own
	 * calls informer_strip itself after saving what it keeps. */
	void (*transform)(void *userdata, cJSON *obj);
	void *transform_userdata;
	const char *namespace;      /* NULL = all namespaces */
	const char *label_selector; /* NULL = everything */
	/* Default 10 h; 0 = default; INFORMER_NO_RESYNC: none, and no
	 * timer thread (an informer whose handlers map to an owner that
	 * another informer already replays). */
	uint64_t resync_ms;
	unsigned page_size;         /* default 500 */
	struct log *log;            /* borrowed */
};

/* The client is borrowed and must outlive the informer. */
int informer_new(struct kube_client *c, const struct informer_options *opts,
		 struct informer **out) __attribute__((warn_unused_result));
/* Stops it first if running. */
void informer_free(struct informer *inf);

/* Whether an informer made with opts would cache what inf caches: the
 * same resource, namespace, label selector, transform and page size. Then
 * inf can serve both (client-go's shared informers), with one watch and
 * one cache. */
bool informer_serves(const struct informer *inf,
		     const struct informer_options *opts);
/* Resync at least every resync_ms (an informer_options value): the
 * shorter period of the two is kept. Returns 0, or -EBUSY when that would
 * shorten the period of an informer already started. */
int informer_resync_within(struct informer *inf, uint64_t resync_ms)
	__attribute__((warn_unused_result));

/* Add handlers before informer_start(). Up to 8 sets. Returns 0 or
 * -ENOSPC. */
int informer_add_handlers(struct informer *inf,
			  const struct informer_handlers *h) __attribute__((warn_unused_result));

/* Starts the list-watch thread. */
int informer_start(struct informer *inf) __attribute__((warn_unused_result));
/* Asks the threads to end and cancels the watch, without waiting: a
 * watch notices within about a second (the transfer's progress callback),
 * so stopping many informers goes faster by cancelling them all first.
 * Idempotent; a no-op on an informer that is not running. */
void informer_cancel(struct informer *inf);
/* Cancels the watch and joins the threads. */
void informer_stop(struct informer *inf);

/* True once the first list has been delivered to the handlers. */
bool informer_has_synced(struct informer *inf);

/* Forces a resync now (replays the cache to on_update). */
void informer_resync(struct informer *inf);

/* A deep copy of one cached object (caller frees), or NULL. ns is NULL for
 * cluster-scoped objects. */
cJSON *informer_get(struct informer *inf, const char *ns, const char *name);

/* A new array (caller frees) of deep copies of the cached objects in ns
 * (NULL = all). */
cJSON *informer_list(struct informer *inf, const char *ns);

/* A new array (caller frees) of deep copies of the cached objects whose
 * ownerReferences name owner_uid. */
cJSON *informer_list_by_owner(struct informer *inf, const char *owner_uid);

/* Number of cached objects. */
unsigned informer_count(struct informer *inf);

/* What the cache holds: its objects, and the heap bytes they take
 * (malloc_usable_size of every block plus glibc's 8-byte chunk header),
 * index entries and keys included, the table arrays not. For benchmarks
 * and the informer_cache_* metrics. */
struct informer_stats {
	unsigned objects;
	size_t bytes;
};
void informer_stats(struct informer *inf, struct informer_stats *out);

const struct kube_resource *informer_resource(const struct informer *inf);

#endif
