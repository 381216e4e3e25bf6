/*
 * manager: runs controllers, after controller-runtime's Manager.
 *
 * It owns the shared informers, the controllers' work queues and worker
 * threads, leader election, the event recorder, and the HTTP server with
 * /healthz, /readyz (ready once every informer has synced) and /metrics.
 *
 * manager_run():
 *   1. starts the HTTP server and the informers, and waits for their sync;
 *   2. with leader election, blocks until this replica holds the Lease;
 *   3. starts each controller's workers;
 *   4. returns after manager_stop(), once in-flight reconciles finished
 *      (bounded by shutdown_timeout_ms) and the Lease was released; or
 *      returns -ENOLCK at once when the Lease is lost (the process should
 *      exit, as client-go's do).
 *
 * Ownership: the manager borrows the client, log and metrics of its
 * options (they must outlive manager_free()) and copies every string of
 * them. It owns the informers and controllers added to it, and the event
 * recorder; handles returned by manager_add_informer(),
 * manager_add_controller() and manager_recorder()/manager_metrics() are
 * borrowed from it and die with manager_free(). Free in this order:
 * manager_free() (stops the informers and workers), then whatever the
 * controllers' userdata points to, then the client, metrics and log.
 */
#ifndef PHO_MANAGER_H
#define PHO_MANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "pkg/events/events.h"
#include "pkg/informer/informer.h"
#include "pkg/kube/kube.h"
#include "pkg/log/log.h"
#include "pkg/metrics/metrics.h"

struct manager;
struct controller;

struct manager_options {
	struct kube_client *client; /* borrowed */
	struct log *log;            /* borrowed */
	struct metrics *metrics;    /* borrowed */
	const char *metrics_addr;   /* "host:port" or ":port"; "0" disables; default ":8080" */
	const char *health_addr;    /* default ":8081"; "0" disables */
	bool leader_elect;
	const char *leader_election_namespace;
	const char *leader_election_id;      /* Lease name */
	const char *identity;                /* default: $POD_NAME or hostname + random suffix */
	unsigned lease_duration_ms;          /* 15000 */
	unsigned renew_deadline_ms;          /* 10000 */
	unsigned retry_period_ms;            /* 2000 */
	unsigned shutdown_timeout_ms;        /* 30000 */
	/* With glibc: every so often, hand the allocator's free pages back
	 * to the kernel (malloc_trim), so that memory freed after a burst of
	 * reconciles stops counting in the process's RSS. 0: never. */
	unsigned malloc_trim_ms;
	/* Called at once when the Lease is lost, before in-flight reconciles
	 * are waited for; a process should exit from it (as controller-runtime
	 * does), since a reconcile still running would write while another
	 * replica leads. NULL: manager_run shuts down as for a stop. */
	void (*on_leader_lost)(void *userdata);
	void *on_leader_lost_userdata;
};

/* Returns 0, or -EINVAL (leader election without an id or namespace) or
 * another negative errno after logging what failed; nothing leaks. */
int manager_new(const struct manager_options *opts, struct manager **out)
	__attribute__((warn_unused_result));
/* Stops and frees everything the manager owns. NULL accepted. Not while
 * manager_run() runs. */
void manager_free(struct manager *m);

/* Creates an informer owned by the manager (started by manager_run), or
 * hands out the one already made that serves opts (informer_serves), with
 * the shorter resync of the two. */
int manager_add_informer(struct manager *m,
			 const struct informer_options *opts,
			 struct informer **out) __attribute__((warn_unused_result));

struct recorder *manager_recorder(struct manager *m);
struct metrics *manager_metrics(struct manager *m);
const char *manager_identity(const struct manager *m);

/* What a reconcile asks for next. Zero value: done, no requeue. */
struct reconcile_result {
	bool requeue;             /* requeue with the key's backoff */
	uint64_t requeue_after_ms;/* requeue after this delay, no backoff */
};

/*
 * Reconciles one key ("namespace/name"). Returns 0 on success (the key's
 * backoff is reset, then res is honoured) or a negative errno (the key is
 * requeued with backoff and counted in controller_runtime_reconcile_errors_total).
 */
typedef int (*reconcile_fn)(void *userdata, const char *key,
			    struct reconcile_result *res);

struct controller_options {
	const char *name;        /* label "controller" of the metrics */
	reconcile_fn reconcile;
	void *userdata;
	unsigned workers;        /* default 1 */
	/* Longest wait before a failed key is retried (the backoff doubles
	 * from 5 ms up to it); 0 = the work queue's default, 1000 s. */
	uint64_t max_backoff_ms;
};

int manager_add_controller(struct manager *m,
			   const struct controller_options *opts,
			   struct controller **out) __attribute__((warn_unused_result));

/* How an informer's events map to the controller's keys. */
enum controller_map {
	CONTROLLER_MAP_SELF,  /* the object's own namespace/name */
	CONTROLLER_MAP_OWNER, /* the controller ownerReference of owner_kind */
};

/* Enqueues keys for the informer's events. owner_kind is used with
 * CONTROLLER_MAP_OWNER (e.g. "PostHog"), NULL otherwise. */
int controller_watch(struct controller *ctl, struct informer *inf,
		     enum controller_map map, const char *owner_kind) __attribute__((warn_unused_result));

void controller_enqueue(struct controller *ctl, const char *key);
void controller_enqueue_after(struct controller *ctl, const char *key,
			      uint64_t delay_ms);

/* A kube_request_cb (userdata: struct metrics *) that records
 * rest_client_requests_total{code,method,host} and
 * rest_client_request_duration_seconds{verb,host}; pass it as
 * kube_client_options.on_request when creating the client. */
void manager_rest_client_metrics(void *userdata, const char *method,
				 const char *host, int code, double seconds);

/* True once every informer synced (what /readyz reports). */
bool manager_ready(struct manager *m);
/* The ports the HTTP servers listen on (after manager_run started them),
 * or 0; useful with ":0" addresses. */
int manager_metrics_port(struct manager *m);
int manager_health_port(struct manager *m);

/* Blocks; see above. Returns 0 after manager_stop(), -ENOLCK when the
 * Lease was lost, or a negative errno for a start-up failure. */
int manager_run(struct manager *m) __attribute__((warn_unused_result));
/* Thread-safe; async-signal-safe (it only writes to a pipe). */
void manager_stop(struct manager *m);

#endif
