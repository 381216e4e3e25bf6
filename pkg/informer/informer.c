/*
 * The reflector loop runs on one thread: list, replace the cache, watch
 * from the list's resourceVersion, resume after a clean end of stream,
 * back off after a failure, relist after 410 Gone.
 *
 * Two locks: cache_lock (a rwlock) guards the store for readers on other
 * threads; dispatch_lock serializes handler calls, so that a resync (which
 * runs on its own timer thread, unless INFORMER_NO_RESYNC, or on
 * informer_resync()'s caller) never
 * interleaves with watch events. dispatch_lock is always taken first.
 */
#include "informer.h"
#include "informer-private.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HANDLERS 8
#define DEFAULT_RESYNC_MS (10ull * 3600 * 1000)
#define DEFAULT_PAGE_SIZE 500

struct informer {
	struct kube_client *client;
	struct informer_options opts;
	char *namespace;
	char *label_selector;
	struct log *log;
	struct informer_handlers handlers[MAX_HANDLERS];
	size_t nhandlers;

	pthread_rwlock_t cache_lock;
	struct cache cache;
	pthread_mutex_t dispatch_lock;

	/* guards everything below */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool running;
	atomic_bool stop;
	atomic_bool synced;
	struct kube_watch *watch;
	pthread_t thread, resync_thread;
	unsigned backoff_base_ms, backoff_max_ms;
	unsigned lists;
	unsigned events; /* delivered by the current watch */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *dup_or_null(const char *s)
{
	if (!s)
		return NULL;
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

int informer_new(struct kube_client *c, const struct informer_options *opts,
		 struct informer **out)
{
	struct informer *inf = calloc(1, sizeof(*inf));
	if (!inf)
		abort();
	inf->client = c;
	inf->opts = *opts;
	inf->namespace = dup_or_null(opts->namespace);
	inf->label_selector = dup_or_null(opts->label_selector);
	inf->opts.namespace = inf->namespace;
	inf->opts.label_selector = inf->label_selector;
	if (!inf->opts.resync_ms)
		inf->opts.resync_ms = DEFAULT_RESYNC_MS;
	if (!inf->opts.page_size)
		inf->opts.page_size = DEFAULT_PAGE_SIZE;
	inf->log = opts->log;
	inf->backoff_base_ms = 800;
	inf->backoff_max_ms = 30000;
	cache_init(&inf->cache);
	pthread_rwlock_init(&inf->cache_lock, NULL);
	pthread_mutex_init(&inf->dispatch_lock, NULL);
	pthread_mutex_init(&inf->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = inf;
	return 0;
}

void informer_free(struct informer *inf)
{
	if (!inf)
		return;
	informer_stop(inf);
	cache_free(&inf->cache);
	pthread_rwlock_destroy(&inf->cache_lock);
	pthread_mutex_destroy(&inf->dispatch_lock);
	pthread_mutex_destroy(&inf->lock);
	pthread_cond_destroy(&inf->cond);
	free(inf->namespace);
	free(inf->label_selector);
	free(inf);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool informer_serves(const struct informer *inf,
		     const struct informer_options *opts)
{
	const struct kube_resource *a = &inf->opts.resource, *b = &opts->resource;

	return !strcmp(a->group, b->group) && !strcmp(a->version, b->version) &&
	       !strcmp(a->resource, b->resource) &&
	       same_str(inf->opts.namespace, opts->namespace) &&
	       same_str(inf->opts.label_selector, opts->label_selector) &&
	       inf->opts.transform == opts->transform &&
	       inf->opts.transform_userdata == opts->transform_userdata &&
	       inf->opts.page_size == (opts->page_size ? opts->page_size : DEFAULT_PAGE_SIZE);
}

int informer_resync_within(struct informer *inf, uint64_t resync_ms)
{
	uint64_t ms = resync_ms ? resync_ms : DEFAULT_RESYNC_MS;
	int r = 0;

	pthread_mutex_lock(&inf->lock);
	if (ms < inf->opts.resync_ms) {
		if (inf->running)
			r = -EBUSY;
		else
			inf->opts.resync_ms = ms;
	}
	pthread_mutex_unlock(&inf->lock);
	return r;
}

int informer_add_handlers(struct informer *inf,
			  const struct informer_handlers *h)
{
	if (inf->nhandlers >= MAX_HANDLERS)
		return -ENOSPC;
	inf->handlers[inf->nhandlers++] = *h;
	return 0;
}

void informer_set_backoff(struct informer *inf, unsigned base_ms,
			  unsigned max_ms)
{
	inf->backoff_base_ms = base_ms;
	inf->backoff_max_ms = max_ms;
}

unsigned informer_list_count(struct informer *inf)
{
	pthread_mutex_lock(&inf->lock);
	unsigned n = inf->lists;
	pthread_mutex_unlock(&inf->lock);
	return n;
}

/* ---- dispatch ---- */

static void emit_add(struct informer *inf, const cJSON *obj)
{
	for (size_t i = 0; i < inf->nhandlers; i++)
		if (inf->handlers[i].on_add)
			inf->handlers[i].on_add(inf->handlers[i].userdata, obj);
}

static void emit_update(struct informer *inf, const cJSON *old_obj,
			const cJSON *new_obj)
{
	for (size_t i = 0; i < inf->nhandlers; i++)
		if (inf->handlers[i].on_update)
			inf->handlers[i].on_update(inf->handlers[i].userdata,
						   old_obj, new_obj);
}

static void emit_delete(struct informer *inf, const cJSON *obj)
{
	for (size_t i = 0; i < inf->nhandlers; i++)
		if (inf->handlers[i].on_delete)
			inf->handlers[i].on_delete(inf->handlers[i].userdata, obj);
}

/* What is left out of every object before it is cached and handed to the
 * handlers: the options' transform, or informer_strip. */
static void transform(struct informer *inf, cJSON *obj)
{
	if (inf->opts.transform)
		inf->opts.transform(inf->opts.transform_userdata, obj);
	else
		informer_strip(obj);
}

void informer_strip(cJSON *obj)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");

	cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
	cJSON_DeleteItemFromObjectCaseSensitive(ann, INFORMER_LAST_APPLIED);
	if (cJSON_IsObject(ann) && !ann->child)
		cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
}

/* Applies one object to the cache and tells the handlers. Takes obj. The
 * caller holds dispatch_lock. */
static void apply(struct informer *inf, enum kube_event_type type, cJSON *obj)
{
	char key[512];
	cJSON *old = NULL;
	int r;

	if (informer_key(obj, key, sizeof(key)) < 0) {
		log_warn(inf->log, "informer %s: event without a usable name ignored",
			 inf->opts.resource.resource);
		cJSON_Delete(obj);
		return;
	}
	transform(inf, obj);
	if (type == KUBE_EVENT_DELETED) {
		pthread_rwlock_wrlock(&inf->cache_lock);
		cache_remove(&inf->cache, key, NULL);
		pthread_rwlock_unlock(&inf->cache_lock);
		/* The final state the server sent is the better view of the
		 * deleted object than the cached one. */
		emit_delete(inf, obj);
		cJSON_Delete(obj);
		return;
	}
	pthread_rwlock_wrlock(&inf->cache_lock);
	r = cache_put(&inf->cache, key, obj, inf->nhandlers ? &old : NULL);
	pthread_rwlock_unlock(&inf->cache_lock);
	if (r < 0) {
		log_warn(inf->log, "informer %s: %s not cached: %s", inf->opts.resource.resource,
			 key, strerror(-r));
		cJSON_Delete(obj);
		return;
	}
	if (old)
		emit_update(inf, old, obj);
	else
		emit_add(inf, obj);
	cJSON_Delete(old);
	cJSON_Delete(obj);
}

struct replace_ctx {
	struct informer *inf;
	cJSON *gone; /* array of deleted objects, to report after the sweep */
};

static void sweep_unseen(void *ud, struct cache_entry *e)
{
	struct replace_ctx *rc = ud;
	if (e->seen) {
		e->seen = false;
		return;
	}
	cJSON *obj = NULL;

	cache_remove(&rc->inf->cache, e->key, &obj);
	cJSON_AddItemToArray(rc->gone, obj);
}

/*
 * Replaces the cache with a fresh list, as client-go's DeltaFIFO.Replace:
 * new objects are added, changed ones (another resourceVersion) updated,
 * and cached objects missing from the list deleted, because their delete
 * events were lost while the watch was down.
 */
static void replace(struct informer *inf, cJSON *items)
{
	pthread_mutex_lock(&inf->dispatch_lock);
	cJSON *item;
	char key[512];
	while ((item = cJSON_DetachItemFromArray(items, 0))) {
		if (informer_key(item, key, sizeof(key)) < 0) {
			cJSON_Delete(item);
			continue;
		}
		pthread_rwlock_rdlock(&inf->cache_lock);
		struct cache_entry *e = cache_find(&inf->cache, key);
		const char *orv = e ? e->rv : NULL;
		const char *nrv = informer_rv(item);
		bool same = e && orv && nrv && strcmp(orv, nrv) == 0;
		if (e)
			e->seen = true;
		pthread_rwlock_unlock(&inf->cache_lock);
		if (same) {
			cJSON_Delete(item);
			continue;
		}
		apply(inf, KUBE_EVENT_MODIFIED, item);
		pthread_rwlock_wrlock(&inf->cache_lock);
		e = cache_find(&inf->cache, key);
		if (e) /* not when it could not be cached */
			e->seen = true;
		pthread_rwlock_unlock(&inf->cache_lock);
	}
	struct replace_ctx rc = { inf, cJSON_CreateArray() };
	pthread_rwlock_wrlock(&inf->cache_lock);
	cache_foreach(&inf->cache, sweep_unseen, &rc);
	pthread_rwlock_unlock(&inf->cache_lock);
	cJSON_ArrayForEach(item, rc.gone)
		emit_delete(inf, item);
	cJSON_Delete(rc.gone);
	atomic_store(&inf->synced, true);
	pthread_mutex_unlock(&inf->dispatch_lock);
}

static void resync_one(void *ud, struct cache_entry *e)
{
	struct informer *inf = ud;
	cJSON *obj = cache_entry_obj(e);

	emit_update(inf, obj, obj);
	cJSON_Delete(obj);
}

void informer_resync(struct informer *inf)
{
	pthread_mutex_lock(&inf->dispatch_lock);
	/* Handlers only read the objects, so a read lock suffices; the cache
	 * cannot change meanwhile because every writer holds dispatch_lock. */
	pthread_rwlock_rdlock(&inf->cache_lock);
	cache_foreach(&inf->cache, resync_one, inf);
	pthread_rwlock_unlock(&inf->cache_lock);
	pthread_mutex_unlock(&inf->dispatch_lock);
}

/* ---- the reflector ---- */

/* Sleeps ms unless stopped; returns false when stopping. */
static bool sleep_ms(struct informer *inf, uint64_t ms)
{
	uint64_t due = now_ms() + ms;
	struct timespec ts = { .tv_sec = (time_t)(due / 1000),
			       .tv_nsec = (long)(due % 1000) * 1000000 };
	pthread_mutex_lock(&inf->lock);
	while (!atomic_load(&inf->stop) && now_ms() < due)
		pthread_cond_timedwait(&inf->cond, &inf->lock, &ts);
	pthread_mutex_unlock(&inf->lock);
	return !atomic_load(&inf->stop);
}

static int on_event(void *ud, enum kube_event_type type, cJSON *obj)
{
	struct informer *inf = ud;
	if (type == KUBE_EVENT_BOOKMARK) {
		/* Only its resourceVersion matters, and the watch keeps it. */
		cJSON_Delete(obj);
		return 0;
	}
	pthread_mutex_lock(&inf->dispatch_lock);
	apply(inf, type, obj);
	inf->events++;
	pthread_mutex_unlock(&inf->dispatch_lock);
	return 0;
}

/* Lists and replaces the cache. On success *rv receives the list's
 * resourceVersion (caller frees). */
static int list_and_replace(struct informer *inf, char **rv)
{
	struct kube_list_options lo = {
		.label_selector = inf->label_selector,
		.limit = inf->opts.page_size,
	};
	struct kube_status st = { 0 };
	cJSON *list = NULL;
	pthread_mutex_lock(&inf->lock);
	inf->lists++;
	pthread_mutex_unlock(&inf->lock);
	int rc = kube_list(inf->client, &inf->opts.resource, inf->namespace,
			   &lo, &list, &st);
	if (rc < 0) {
		log_warn(inf->log, "informer %s: list failed: %s%s%s",
			 inf->opts.resource.resource, kube_strerror(rc),
			 st.message[0] ? ": " : "", st.message);
		return rc;
	}
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(list, "metadata");
	const cJSON *lrv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
	*rv = dup_or_null(cJSON_IsString(lrv) ? lrv->valuestring : "");
	cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
	if (items)
		replace(inf, items);
	else
		atomic_store(&inf->synced, true);
	cJSON_Delete(list);
	return 0;
}

static int open_watch(struct informer *inf, const char *rv)
{
	/* Watches end at a random point in 5..10 minutes, as client-go's, so
	 * that a fleet of informers does not reconnect in step. */
	unsigned timeout = 300 + (unsigned)(now_ms() % 300);
	struct kube_watch_options wo = {
		.label_selector = inf->label_selector,
		.resource_version = rv,
		.timeout_seconds = timeout,
		.bookmarks = true,
	};
	struct kube_watch *w = NULL;
	int rc = kube_watch_new(inf->client, &inf->opts.resource, inf->namespace,
				&wo, on_event, inf, &w);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&inf->lock);
	inf->watch = w;
	bool stopping = atomic_load(&inf->stop);
	pthread_mutex_unlock(&inf->lock);
	if (stopping)
		kube_watch_cancel(w);
	return 0;
}

static void close_watch(struct informer *inf)
{
	pthread_mutex_lock(&inf->lock);
	struct kube_watch *w = inf->watch;
	inf->watch = NULL;
	pthread_mutex_unlock(&inf->lock);
	kube_watch_free(w);
}

/* Watches until a relist is needed (returns 0) or the informer stops
 * (returns -ECANCELED). */
static int watch_loop(struct informer *inf, const char *rv, unsigned *backoff)
{
	int rc = open_watch(inf, rv);
	if (rc < 0)
		return sleep_ms(inf, *backoff) ? 0 : -ECANCELED;
	inf->events = 0;
	for (;;) {
		unsigned before = inf->events;
		rc = kube_watch_run(inf->watch);
		if (atomic_load(&inf->stop) || rc == -ECANCELED)
			break;
		/* A watch that delivered events was healthy: a later drop
		 * starts the backoff afresh rather than compounding. */
		if (inf->events != before)
			*backoff = inf->backoff_base_ms;
		if (rc == 0) {
			/* A clean end (server timeout): resume at once. */
			*backoff = inf->backoff_base_ms;
			continue;
		}
		if (rc == KUBE_EGONE) {
			log_info(inf->log, "informer %s: resourceVersion too old, relisting",
				 inf->opts.resource.resource);
			close_watch(inf);
			/* A list whose version is already too old for a watch
			 * would otherwise relist in a tight loop. */
			if (inf->events == 0 && !sleep_ms(inf, *backoff))
				return -ECANCELED;
			return 0;
		}
		/* kube_watch_run logged the failure, with the server's answer. */
		log_debug(inf->log, "informer %s: watch failed: %s; retrying in %u ms",
			  inf->opts.resource.resource, kube_strerror(rc), *backoff);
		if (!sleep_ms(inf, *backoff))
			break;
		*backoff = *backoff * 2 > inf->backoff_max_ms ? inf->backoff_max_ms
							      : *backoff * 2;
	}
	close_watch(inf);
	return -ECANCELED;
}

static void *reflector(void *arg)
{
	struct informer *inf = arg;
	unsigned backoff = inf->backoff_base_ms;

	/* Named for top -H, gdb and the tests. */
	(void)pthread_setname_np(pthread_self(), "informer");
	while (!atomic_load(&inf->stop)) {
		char *rv = NULL;
		if (list_and_replace(inf, &rv) < 0) {
			if (!sleep_ms(inf, backoff))
				break;
			backoff = backoff * 2 > inf->backoff_max_ms
					  ? inf->backoff_max_ms : backoff * 2;
			continue;
		}
		int rc = watch_loop(inf, rv, &backoff);
		free(rv);
		if (rc == -ECANCELED)
			break;
	}
	return NULL;
}

static void *resync_loop(void *arg)
{
	struct informer *inf = arg;
	/* controller-runtime spreads resyncs by +-10 %; a fixed phase per
	 * informer does the same for a fleet of them. */
	uint64_t period = inf->opts.resync_ms;
	uint64_t jitter = period / 10 ? (now_ms() % (period / 10)) : 0;

	(void)pthread_setname_np(pthread_self(), "informer-resync");
	while (sleep_ms(inf, period - period / 20 + jitter))
		if (atomic_load(&inf->synced))
			informer_resync(inf);
	return NULL;
}

int informer_start(struct informer *inf)
{
	pthread_mutex_lock(&inf->lock);
	if (inf->running) {
		pthread_mutex_unlock(&inf->lock);
		return -EALREADY;
	}
	inf->running = true;
	atomic_store(&inf->stop, false);
	pthread_mutex_unlock(&inf->lock);
	if (pthread_create(&inf->thread, NULL, reflector, inf) != 0 ||
	    (inf->opts.resync_ms != INFORMER_NO_RESYNC &&
	     pthread_create(&inf->resync_thread, NULL, resync_loop, inf) != 0))
		abort();
	return 0;
}

void informer_cancel(struct informer *inf)
{
	pthread_mutex_lock(&inf->lock);
	if (inf->running) {
		atomic_store(&inf->stop, true);
		if (inf->watch)
			kube_watch_cancel(inf->watch);
		pthread_cond_broadcast(&inf->cond);
	}
	pthread_mutex_unlock(&inf->lock);
}

void informer_stop(struct informer *inf)
{
	pthread_mutex_lock(&inf->lock);
	if (!inf->running) {
		pthread_mutex_unlock(&inf->lock);
		return;
	}
	pthread_mutex_unlock(&inf->lock);
	informer_cancel(inf);
	pthread_join(inf->thread, NULL);
	if (inf->opts.resync_ms != INFORMER_NO_RESYNC)
		pthread_join(inf->resync_thread, NULL);
	pthread_mutex_lock(&inf->lock);
	inf->running = false;
	pthread_mutex_unlock(&inf->lock);
}

bool informer_has_synced(struct informer *inf)
{
	return atomic_load(&inf->synced);
}

/* ---- reads ---- */

cJSON *informer_get(struct informer *inf, const char *ns, const char *name)
{
	char key[512];
	int n = ns && *ns ? snprintf(key, sizeof(key), "%s/%s", ns, name)
			  : snprintf(key, sizeof(key), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	pthread_rwlock_rdlock(&inf->cache_lock);
	struct cache_entry *e = cache_find(&inf->cache, key);
	cJSON *copy = e ? cache_entry_obj(e) : NULL;
	pthread_rwlock_unlock(&inf->cache_lock);
	return copy;
}

struct list_ctx {
	const char *ns;
	size_t nslen;
	cJSON *out;
};

static void collect(void *ud, struct cache_entry *e)
{
	struct list_ctx *lc = ud;
	if (lc->ns && (strncmp(e->key, lc->ns, lc->nslen) != 0 ||
		       e->key[lc->nslen] != '/'))
		return;
	cJSON_AddItemToArray(lc->out, cache_entry_obj(e));
}

cJSON *informer_list(struct informer *inf, const char *ns)
{
	struct list_ctx lc = { ns, ns ? strlen(ns) : 0, cJSON_CreateArray() };
	pthread_rwlock_rdlock(&inf->cache_lock);
	cache_foreach(&inf->cache, collect, &lc);
	pthread_rwlock_unlock(&inf->cache_lock);
	return lc.out;
}

cJSON *informer_list_by_owner(struct informer *inf, const char *owner_uid)
{
	struct list_ctx lc = { NULL, 0, cJSON_CreateArray() };
	pthread_rwlock_rdlock(&inf->cache_lock);
	cache_foreach_owner(&inf->cache, owner_uid, collect, &lc);
	pthread_rwlock_unlock(&inf->cache_lock);
	return lc.out;
}

unsigned informer_count(struct informer *inf)
{
	pthread_rwlock_rdlock(&inf->cache_lock);
	unsigned n = (unsigned)inf->cache.count;
	pthread_rwlock_unlock(&inf->cache_lock);
	return n;
}

void informer_stats(struct informer *inf, struct informer_stats *out)
{
	pthread_rwlock_rdlock(&inf->cache_lock);
	out->objects = (unsigned)inf->cache.count;
	out->bytes = cache_bytes(&inf->cache);
	pthread_rwlock_unlock(&inf->cache_lock);
}

const struct kube_resource *informer_resource(const struct informer *inf)
{
	return &inf->opts.resource;
}
