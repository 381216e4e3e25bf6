/*
 * `posthog-operator run`: flags, logger, API server check, manager, the
 * PostHog and backup controllers, and the signal-driven run loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "controllers/phbackup/phbackup.h"
#include "controllers/posthog/controller.h"
#include "commands.h"
#include "flags.h"

/*
 * At most two malloc arenas, unless the environment sets glibc's own
 * knob (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES).
 * glibc's limit is 8 per core on 64-bit (NARENAS_FROM_NCORES in glibc's
 * malloc/malloc.c), and each of the operator's ~40 threads that allocates
 * can take one; what is free inside them stays resident
 * (docs/performance.md measures the difference). Called before any
 * thread starts.
 */
static void limit_arenas(void)
{
#ifdef __GLIBC__
	const char *t = getenv("GLIBC_TUNABLES");

	if (getenv("MALLOC_ARENA_MAX") || (t && strstr(t, "arena_max")))
		return;
	(void)mallopt(M_ARENA_MAX, 2);
#endif
}

int cmd_run(int argc, char **argv)
{
	struct op_flags f;
	char err[512];
	if (op_flags_parse(argc, argv, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "posthog-operator: %s\n", err);
		return 2;
	}
	if (f.help) {
		op_flags_usage(stdout);
		return 0;
	}
	if (f.version) {
		printf("posthog-operator %s\n", PHO_VERSION);
		return 0;
	}
	limit_arenas();
	op_block_signals();
	struct log *log = NULL;
	struct metrics *metrics = NULL;
	if (op_observe(&f, &log, &metrics) < 0)
		return 1;
	struct kube_client *client = NULL;
	struct manager *m = NULL;
	struct posthog_controller *pc = NULL;
	struct phbackup *bc = NULL;
	int status = 1;
	if (op_connect(&f, log, metrics, &client) < 0)
		goto out;
	struct manager_options mo;
	op_manager_options(&f, client, log, metrics, &mo);
	if (manager_new(&mo, &m) < 0)
		goto out;
	struct posthog_controller_options po = {
		.namespaces = f.nnamespaces ? f.namespaces : NULL,
		.workers = f.workers,
		.clickhouse_access = f.clickhouse_access,
		.connect_to = f.nconnect_to ? f.connect_to : NULL,
		.router_image = f.router_image,
		.health_gates = f.health_gates,
		.restart_timeout_s = f.restart_timeout_ms / 1000,
		.resync_ms = f.sync_period_ms,
		.lag_poll_ms = f.lag_poll_ms,
	};
	int rc = posthog_controller_register(m, client, log, &po, &pc);
	if (rc < 0) {
		log_error(log, "cannot set up the PostHog controller: %s", strerror(-rc));
		goto out;
	}
	struct phbackup_options bo = {
		.namespaces = f.nnamespaces ? f.namespaces : NULL,
		.image = f.router_image, /* the operator's own image */
		.resync_ms = f.sync_period_ms,
	};
	rc = phbackup_register(m, client, log, &bo, &bc);
	if (rc < 0) {
		log_error(log, "cannot set up the backup controllers: %s", strerror(-rc));
		goto out;
	}
	log_info(log, "posthog-operator %s starting as %s", PHO_VERSION, manager_identity(m));
	status = op_serve(m, &f, log);
out:
	/* The controller's handlers live in m's informers: stop those (in
	 * manager_free) before freeing the controller's state. */
	manager_free(m);
	posthog_controller_free(pc);
	phbackup_free(bc);
	kube_client_free(client);
	metrics_free(metrics);
	log_free(log);
	return status;
}
