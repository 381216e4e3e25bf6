/*
 * A controller: a work queue, event handlers that feed it, and worker
 * threads that drain it into the reconcile function, recording the
 * controller_runtime_* metrics as controller-runtime does.
 */
#include "manager-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/util/util.h"

static const double reconcile_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45,
	0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0,
	4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
};

#define H_TOTAL "Total number of reconciliations per controller"
#define H_ERRORS "Total number of reconciliation errors per controller"
#define H_TIME "Length of time per reconciliation per controller"
#define H_MAX "Maximum number of concurrent reconciles per controller"
#define H_ACTIVE "Number of currently used workers per controller"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_result(struct controller *ctl, const char *result)
{
	const char *l[] = { "controller", ctl->name, "result", result, NULL };
	metrics_counter_add(ctl->m->opts.metrics,
			    "controller_runtime_reconcile_total", H_TOTAL, l, 1);
}

int manager_add_controller(struct manager *m,
			   const struct controller_options *opts,
			   struct controller **out)
{
	if (m->ncontrollers >= MANAGER_MAX_CONTROLLERS)
		return -ENOSPC;
	if (!opts->name || !*opts->name || !opts->reconcile)
		return -EINVAL;
	struct controller *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		abort();
	ctl->m = m;
	ctl->name = util_xstrdup(opts->name ? opts->name : "");
	ctl->reconcile = opts->reconcile;
	ctl->userdata = opts->userdata;
	ctl->workers = opts->workers ? opts->workers : 1;
	if (ctl->workers > CONTROLLER_MAX_WORKERS)
		ctl->workers = CONTROLLER_MAX_WORKERS;
	struct wq_options wo = { .name = ctl->name, .metrics = m->opts.metrics,
				 .max_delay_ms = opts->max_backoff_ms };
	int rc = wq_new(&wo, &ctl->queue);
	if (rc < 0) {
		free(ctl->name);
		free(ctl);
		return rc;
	}
	struct metrics *mx = m->opts.metrics;
	const char *lc[] = { "controller", ctl->name, NULL };
	/* Every series exists from the start, at zero, as controller-runtime
	 * initialises them, so rate() works from the first scrape. */
	static const char *results[] = { "success", "error", "requeue", "requeue_after" };
	for (size_t i = 0; i < 4; i++) {
		const char *l[] = { "controller", ctl->name, "result", results[i], NULL };
		metrics_counter_add(mx, "controller_runtime_reconcile_total", H_TOTAL, l, 0);
	}
	metrics_counter_add(mx, "controller_runtime_reconcile_errors_total", H_ERRORS, lc, 0);
	metrics_gauge_set(mx, "controller_runtime_max_concurrent_reconciles", H_MAX,
			  lc, ctl->workers);
	metrics_gauge_set(mx, "controller_runtime_active_workers", H_ACTIVE, lc, 0);
	m->controllers[m->ncontrollers++] = ctl;
	*out = ctl;
	return 0;
}

void controller_enqueue(struct controller *ctl, const char *key)
{
	wq_add(ctl->queue, key);
}

void controller_enqueue_after(struct controller *ctl, const char *key,
			      uint64_t delay_ms)
{
	wq_add_after(ctl->queue, key, delay_ms);
}

/* ---- event mapping ---- */

int controller_map_key(const cJSON *obj, enum controller_map map,
		       const char *owner_kind, char *out, size_t outsz)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = util_json_str(md, "namespace");
	const char *name = util_json_str(md, "name");
	if (map == CONTROLLER_MAP_OWNER) {
		/* The controller reference of the wanted kind; owners live in
		 * the object's namespace. */
		name = NULL;
		const cJSON *ref;
		cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(md, "ownerReferences")) {
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(ref, "controller");
			const char *kind = util_json_str(ref, "kind");
			if (cJSON_IsTrue(c) && kind &&
			    (!owner_kind || strcmp(kind, owner_kind) == 0)) {
				name = util_json_str(ref, "name");
				break;
			}
		}
	}
	if (!name || !*name)
		return -ENOENT;
	int n = ns && *ns ? snprintf(out, outsz, "%s/%s", ns, name)
			  : snprintf(out, outsz, "%s", name);
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

static void enqueue_obj(struct watch_ctx *w, const cJSON *obj)
{
	char key[512];
	if (controller_map_key(obj, w->map, w->owner_kind, key, sizeof(key)) == 0)
		wq_add(w->ctl->queue, key);
}

static void on_add(void *ud, const cJSON *obj)
{
	enqueue_obj(ud, obj);
}

static void on_update(void *ud, const cJSON *old_obj, const cJSON *new_obj)
{
	struct watch_ctx *w = ud;
	/* An owner change moves the object: both owners hear about it. */
	if (w->map == CONTROLLER_MAP_OWNER && old_obj != new_obj)
		enqueue_obj(w, old_obj);
	enqueue_obj(w, new_obj);
}

static void on_delete(void *ud, const cJSON *obj)
{
	enqueue_obj(ud, obj);
}

int controller_watch(struct controller *ctl, struct informer *inf,
		     enum controller_map map, const char *owner_kind)
{
	if (ctl->nwatches >= CONTROLLER_MAX_WATCHES)
		return -ENOSPC;
	struct watch_ctx *w = &ctl->watches[ctl->nwatches];
	w->ctl = ctl;
	w->map = map;
	w->owner_kind = owner_kind ? util_xstrdup(owner_kind) : NULL;
	struct informer_handlers h = { on_add, on_update, on_delete, w };
	int rc = informer_add_handlers(inf, &h);
	if (rc < 0) {
		free(w->owner_kind);
		return rc;
	}
	ctl->nwatches++;
	return 0;
}

/* ---- workers ---- */

static void process(struct controller *ctl, const char *key)
{
	struct metrics *mx = ctl->m->opts.metrics;
	const char *lc[] = { "controller", ctl->name, NULL };
	metrics_gauge_set(mx, "controller_runtime_active_workers", H_ACTIVE, lc,
			  atomic_fetch_add(&ctl->active, 1) + 1);
	struct reconcile_result res = { 0 };
	double start = now_s();
	int rc = ctl->reconcile(ctl->userdata, key, &res);
	metrics_histogram_observe(mx, "controller_runtime_reconcile_time_seconds",
				  H_TIME, lc, reconcile_buckets,
				  sizeof(reconcile_buckets) / sizeof(reconcile_buckets[0]),
				  now_s() - start);
	if (rc < 0) {
		wq_add_rate_limited(ctl->queue, key);
		metrics_counter_add(mx, "controller_runtime_reconcile_errors_total",
				    H_ERRORS, lc, 1);
		count_result(ctl, "error");
		/* The failure itself was logged where it was found; this line
		 * only says when the key comes back. kube_strerror names errno
		 * values that stand for HTTP statuses (-EPERM for 403, -EBUSY
		 * for 429) by what they mean. */
		log_write(ctl->m->opts.log, LOG_INFO,
			  &(struct log_fields){ .controller = ctl->name },
			  "reconcile %s failed (%s); retry in %llu ms", key,
			  kube_strerror(rc),
			  (unsigned long long)wq_next_backoff_ms(ctl->queue, key) / 2);
	} else if (res.requeue_after_ms) {
		wq_forget(ctl->queue, key);
		wq_add_after(ctl->queue, key, res.requeue_after_ms);
		count_result(ctl, "requeue_after");
	} else if (res.requeue) {
		wq_add_rate_limited(ctl->queue, key);
		count_result(ctl, "requeue");
	} else {
		wq_forget(ctl->queue, key);
		count_result(ctl, "success");
	}
	metrics_gauge_set(mx, "controller_runtime_active_workers", H_ACTIVE, lc,
			  atomic_fetch_sub(&ctl->active, 1) - 1);
}

static void *worker(void *arg)
{
	struct controller *ctl = arg;
	char *key;
	while (wq_get(ctl->queue, &key) == 0) {
		process(ctl, key);
		wq_done(ctl->queue, key);
		free(key);
	}
	return NULL;
}

void controller_start(struct controller *ctl)
{
	for (unsigned i = 0; i < ctl->workers; i++)
		if (pthread_create(&ctl->threads[ctl->nthreads++], NULL, worker, ctl))
			abort();
}

void controller_shutdown(struct controller *ctl)
{
	wq_shutdown(ctl->queue);
}

bool controller_join(struct controller *ctl, uint64_t deadline_ms)
{
	while (ctl->nthreads) {
		struct timespec ts = { .tv_sec = (time_t)(deadline_ms / 1000),
				       .tv_nsec = (long)(deadline_ms % 1000) * 1000000 };
		/* pthread_timedjoin_np takes CLOCK_REALTIME; convert. */
		struct timespec mono, real;
		clock_gettime(CLOCK_MONOTONIC, &mono);
		clock_gettime(CLOCK_REALTIME, &real);
		int64_t left = (int64_t)(ts.tv_sec - mono.tv_sec) * 1000 +
			       (ts.tv_nsec - mono.tv_nsec) / 1000000;
		if (left < 0)
			left = 0;
		int64_t due_ns = (int64_t)real.tv_sec * 1000000000 + real.tv_nsec +
				 left * 1000000;
		struct timespec abs = { .tv_sec = (time_t)(due_ns / 1000000000),
					.tv_nsec = (long)(due_ns % 1000000000) };
		if (pthread_timedjoin_np(ctl->threads[ctl->nthreads - 1], NULL, &abs) != 0) {
			log_write(ctl->m->opts.log, LOG_WARN,
				  &(struct log_fields){ .controller = ctl->name },
				  "%u worker(s) still reconciling at the shutdown deadline",
				  ctl->nthreads);
			return false;
		}
		ctl->nthreads--;
	}
	return true;
}

void controller_free(struct controller *ctl)
{
	if (!ctl)
		return;
	wq_shutdown(ctl->queue);
	while (ctl->nthreads)
		pthread_join(ctl->threads[--ctl->nthreads], NULL);
	wq_free(ctl->queue);
	for (size_t i = 0; i < ctl->nwatches; i++)
		free(ctl->watches[i].owner_kind);
	free(ctl->name);
	free(ctl);
}
