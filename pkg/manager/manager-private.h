/* manager internals shared by manager.c and controller.c. */
#ifndef PHO_MANAGER_PRIVATE_H
#define PHO_MANAGER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "pkg/workqueue/workqueue.h"
#include "manager.h"

#define MANAGER_MAX_INFORMERS 32
#define MANAGER_MAX_CONTROLLERS 16
#define CONTROLLER_MAX_WATCHES 16
#define CONTROLLER_MAX_WORKERS 64

struct httpserver;
struct leader;

struct watch_ctx {
	struct controller *ctl;
	enum controller_map map;
	char *owner_kind;
};

struct controller {
	struct manager *m;
	char *name;
	reconcile_fn reconcile;
	void *userdata;
	unsigned workers;
	struct wq *queue;
	pthread_t threads[CONTROLLER_MAX_WORKERS];
	unsigned nthreads;
	atomic_int active;
	struct watch_ctx watches[CONTROLLER_MAX_WATCHES];
	size_t nwatches;
};

struct manager {
	struct manager_options opts;
	char *identity, *metrics_addr, *health_addr, *le_ns, *le_id;
	struct metrics *own_metrics;
	struct recorder *recorder;
	struct leader *leader;
	struct httpserver *metrics_srv, *health_srv;
	int stop_pipe[2];
	struct informer *informers[MANAGER_MAX_INFORMERS];
	size_t ninformers;
	struct controller *controllers[MANAGER_MAX_CONTROLLERS];
	size_t ncontrollers;
};

void controller_start(struct controller *ctl);
/* Stops intake; workers finish what they hold. */
void controller_shutdown(struct controller *ctl);
/* Joins the workers until the monotonic deadline (ms); returns false when
 * some are still busy. */
bool controller_join(struct controller *ctl, uint64_t deadline_ms);
/* Joins any workers left (blocking) and frees. */
void controller_free(struct controller *ctl);

/* The key a watched object maps to under map (into out), or -ENOENT when
 * it maps to none (no controller owner of the kind). */
int controller_map_key(const cJSON *obj, enum controller_map map,
		       const char *owner_kind, char *out, size_t outsz);

#endif
