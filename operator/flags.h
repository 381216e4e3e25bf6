/*
 * The command line and process plumbing shared by `posthog-operator run`
 * and the runtime's test controller (e2e/runtime/testctl.c): flags with
 * their environment variables, the API server connection check, and the
 * signal thread that turns SIGTERM/SIGINT into manager_stop().
 */
#ifndef PHO_OPERATOR_FLAGS_H
#define PHO_OPERATOR_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "pkg/kube/kube.h"
#include "pkg/log/log.h"
#include "pkg/manager/manager.h"

#define OP_MAX_NAMESPACES 64
#define OP_MAX_CONNECT_TO 16

struct op_flags {
	const char *kubeconfig;
	const char *context;
	const char *namespaces[OP_MAX_NAMESPACES + 1]; /* NULL-terminated */
	unsigned nnamespaces;
	bool leader_elect;
	const char *leader_election_namespace; /* NULL: the kubeconfig's */
	const char *leader_election_id;
	unsigned lease_duration_ms, renew_deadline_ms, retry_period_ms;
	unsigned shutdown_timeout_ms;
	unsigned sync_period_ms; /* informer resync; 0 = default */
	unsigned lag_poll_ms;    /* lag autoscaler read interval; 0 = default */
	const char *metrics_addr;
	const char *health_addr;
	unsigned workers;
	double qps;
	int burst;
	enum log_level log_level;
	enum log_format log_format;
	const char *clickhouse_access;
	/* --connect-to HOST:PORT:CONNECT-HOST:CONNECT-PORT, NULL-terminated */
	const char *connect_to[OP_MAX_CONNECT_TO + 1];
	unsigned nconnect_to;
	const char *router_image; /* NULL: PH_ROUTER_DEFAULT_IMAGE */
	const char *health_gates; /* NULL: all */
	unsigned restart_timeout_ms; /* 0: 10 minutes */
	bool help, version;
	char storage[4096]; /* backs namespaces split from the environment */
};

/*
 * Fills f from the environment, then argv (argv[0] is the subcommand name
 * and is skipped); flags win over the environment. Returns 0, or -EINVAL
 * with a one-line message naming the flag in err.
 */
int op_flags_parse(int argc, char **argv, struct op_flags *f, char *err,
		   size_t errlen);
void op_flags_usage(FILE *out);

/*
 * Creates the process's logger (stderr, at the flags' level and format)
 * and metrics registry (with the process_* collector). On success both are
 * the caller's (log_free, metrics_free); on failure neither is set, the
 * reason went to stderr, and a negative errno is returned.
 */
int op_observe(const struct op_flags *f, struct log **log, struct metrics **metrics)
	__attribute__((warn_unused_result));

/*
 * Loads the kubeconfig, creates the client (with the rest_client_*
 * metrics hook on metrics) and checks through it that the API server
 * answers GET /version within a few seconds; the check's connection and
 * TLS session stay in the client for what follows. Returns 0, or a
 * negative errno after logging a one-line message that says what to fix
 * (*out untouched).
 */
int op_connect(const struct op_flags *f, struct log *log,
	       struct metrics *metrics, struct kube_client **out)
	__attribute__((warn_unused_result));

/* Fills manager options from the flags (strings borrowed from f). */
void op_manager_options(const struct op_flags *f, struct kube_client *c,
			struct log *log, struct metrics *metrics,
			struct manager_options *out);

/*
 * Runs the manager until it returns, with SIGTERM/SIGINT delivered to a
 * dedicated sigwait() thread that calls manager_stop(). A second signal,
 * or a shutdown taking longer than the timeout plus 5 s, exits at once
 * with status 1. Call op_block_signals() before creating any thread.
 * Returns the process exit status.
 */
int op_serve(struct manager *m, const struct op_flags *f, struct log *log);
void op_block_signals(void);

#endif
