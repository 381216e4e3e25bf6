/*
 * The PostHog controller: reconciles PostHog resources (posthog.com/v1alpha1)
 * into ZooKeeper, Kafka, ClickHouse and per-bucket plugin-servers.
 */
#ifndef PHO_POSTHOG_CONTROLLER_H
#define PHO_POSTHOG_CONTROLLER_H

#include "pkg/kube/kube.h"
#include "pkg/log/log.h"
#include "pkg/manager/manager.h"

struct posthog_controller_options {
	const char *const *namespaces; /* NULL-terminated; NULL = all */
	unsigned workers;              /* reconcile workers; default 2 */
	/* How to reach ClickHouse: "auto" (service DNS when running in the
	 * cluster, the API server's service proxy otherwise), "dns" or
	 * "proxy". */
	const char *clickhouse_access;
	/* curl-style HOST:PORT:CONNECT-HOST:CONNECT-PORT mappings for the
	 * ClickHouse client, NULL-terminated (see ch_options.connect_to);
	 * borrowed, must outlive the controller. With any, "auto" access is
	 * "dns". May be NULL. */
	const char *const *connect_to;
	/* The bucket router's image (the operator's own); NULL = default. */
	const char *router_image;
	uint64_t resync_ms;            /* informer resync; 0 = default */
	/* Interval between two reads of a bucket's consumer-group lag
	 * (autoscaling.metric lag); 0 = 15 s, the HPA's sync period. The
	 * connect_to mappings above apply to these Kafka connections too. */
	uint64_t lag_poll_ms;
	/* Which restarts wait for their system's own health check beyond
	 * Ready: "all" (NULL), "none", or a comma-separated list of
	 * zookeeper, kafka, clickhouse (docs/upgrades.md). */
	const char *health_gates;
	/* Seconds a restarted pod has to pass its gate before the plan
	 * halts; 0 = 600. */
	unsigned restart_timeout_s;
};

struct posthog_controller;

/*
 * Creates the controller, with its informers, on m. The informers belong
 * to m; the returned handle holds the controller's own state and is freed
 * with posthog_controller_free() after manager_run() returned. c, log and m
 * are borrowed and must outlive it. Returns 0 or a negative errno (an
 * invalid option is logged, naming it).
 */
int posthog_controller_register(struct manager *m, struct kube_client *c,
				struct log *log,
				const struct posthog_controller_options *opts,
				struct posthog_controller **out) __attribute__((warn_unused_result));
void posthog_controller_free(struct posthog_controller *pc);

#endif
