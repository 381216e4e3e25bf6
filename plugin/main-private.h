/* Internal to the kubectl-posthog binary: what main.c hands the commands
 * that do I/O. */
#ifndef PHO_PLUGIN_MAIN_PRIVATE_H
#define PHO_PLUGIN_MAIN_PRIVATE_H

#include "pkg/kube/kube.h"
#include "pkg/log/log.h"
#include "plugin.h"

struct kp_ctx {
	struct kp_args a;
	struct log *log;
	struct kube_client *c;
	const char *ns;                   /* -n, or the context's namespace */
	bool color;
	struct kube_resource posthog_res;
};

/* Prints "kubectl-posthog: WHAT: message" on stderr; returns 1. */
int kp_fail(const char *what, int err, const struct kube_status *st);
/* Prints doc as JSON (-o json) or with text(); returns the exit status. */
int kp_print(struct kp_ctx *x, const cJSON *doc,
	     int (*text)(const cJSON *, bool, struct buf *));
int kp_resolve(struct kp_ctx *x, const char *api_version, const char *kind,
	       struct kube_resource *out);
/* Lists kind in the namespace (all pages); *out is NULL when the cluster
 * does not serve the kind. Returns 0 or a negative errno (reported). */
int kp_list(struct kp_ctx *x, const char *api_version, const char *kind,
	    const char *selector, const char *field_selector, cJSON **out);
/* `report NAME`. */
int kp_cmd_report(struct kp_ctx *x, const cJSON *ph);

#endif
