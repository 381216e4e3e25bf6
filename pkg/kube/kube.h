/*
 * kube: a Kubernetes API client.
 *
 * Objects are cJSON documents from end to end: the client never decodes
 * them into structs, so fields it does not know survive a read-modify-write.
 *
 * Handles:
 *   struct kube_config  the resolved connection settings (server, TLS,
 *                       credentials) from a kubeconfig or the in-cluster
 *                       service account. Immutable once loaded, except for
 *                       the credential cache, which is internally locked.
 *   struct kube_client  one connection pool plus rate limiter, retry policy
 *                       and discovery cache. Safe to use from several
 *                       threads at once.
 *   struct kube_watch   one streaming watch, cancellable from any thread.
 *
 * Every function returns 0 or a negative errno. The mapping of HTTP
 * statuses lives in one place (kube_errno_from_http) and is:
 *   400 -EBADMSG   401 -EACCES   403 -EPERM    404 -ENOENT
 *   405 -EOPNOTSUPP
 *   409 -EEXIST (reason AlreadyExists)   409 KUBE_ECONFLICT (other reasons)
 *   410 KUBE_EGONE 413 -E2BIG    415 -EPROTO    422 -EINVAL
 *   429 -EBUSY (after retries)   500..503 -EIO (after retries)
 *   504 -ETIMEDOUT  connection failures -ECONNREFUSED, -EHOSTUNREACH,
 *   -ECONNRESET, -ETIMEDOUT; a body over the cap -EFBIG;
 *   cancelled -ECANCELED.
 * When the caller passes a struct kube_status, it receives the server's
 * Status (code, reason, message) for the condition or the log.
 */
#ifndef PHO_KUBE_H
#define PHO_KUBE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "pkg/buf/buf.h"
#include "pkg/log/log.h"
#include "pkg/quantity/quantity.h"

/* 409 with a reason other than AlreadyExists: a stale resourceVersion or an
 * apply conflict. Relist or re-read, then retry. */
#define KUBE_ECONFLICT (-ESTALE)
/* 410 Gone: the resourceVersion is too old; the caller must relist. */
#define KUBE_EGONE (-EIDRM)

/* What err means for this module's callers: errno values that stand for an
 * HTTP status are named by the status (-EPERM "forbidden", -EBUSY "too many
 * requests", KUBE_ECONFLICT "conflict ..."), not by libc; other errno values
 * by libc's description. A static string; "unknown error" for a value that
 * is no errno. */
const char *kube_strerror(int err);

/* The Status of a failed request. Strings are truncated to fit. */
struct kube_status {
	int code;          /* HTTP status, 0 when no response was received */
	char reason[64];   /* Status.reason, e.g. "NotFound", "Invalid" */
	char message[1024];/* Status.message, or the transport error */
};

/* Maps an HTTP status code and Status.reason to the errno above. */
int kube_errno_from_http(int code, const char *reason) __attribute__((warn_unused_result));

/* ---- time ------------------------------------------------------------- */

#define KUBE_TIME_LEN 32

/* The current UTC time as a metav1.Time, "2026-11-22T00:00:00Z". */
void kube_time_now(char out[KUBE_TIME_LEN]);
/* Parses a metav1.Time such as "2024-01-02T03:04:05Z" (fractional
 * seconds and offsets accepted) into *out. Returns 0 or -EINVAL. */
int kube_parse_rfc3339(const char *s, time_t *out) __attribute__((warn_unused_result));
/* The current UTC time as a metav1.MicroTime, "2026-11-22T00:00:00.000000Z". */
void kube_micro_time_now(char out[KUBE_TIME_LEN]);

/* ---- objects ------------------------------------------------------------ */

/* Whether a Pod's condition Ready is "True" (core/v1 PodCondition). */
bool kube_pod_ready(const cJSON *pod);
/* The item of a List (its "items") whose metadata.name is name, or NULL. */
const cJSON *kube_list_find(const cJSON *list, const char *name);

/* ---- configuration ---------------------------------------------------- */

struct kube_config;

struct kube_config_options {
	/* Paths separated by ':' merged in order; NULL means $KUBECONFIG,
	 * then ~/.kube/config. */
	const char *kubeconfig;
	/* Context to use; NULL means current-context. */
	const char *context;
	/* Directory of the in-cluster service account; NULL means
	 * /var/run/secrets/kubernetes.io/serviceaccount. In-cluster
	 * configuration is used when no kubeconfig file exists and
	 * KUBERNETES_SERVICE_HOST is set. */
	const char *service_account_dir;
	struct log *log; /* borrowed, may be NULL */
};

/*
 * Loads and resolves the configuration into *out, which the caller owns:
 * kube_config_free() it, or hand it to kube_client_new(), which takes it.
 * opts is read during the call (its log is borrowed). Returns 0, -ENOENT when no
 * kubeconfig or in-cluster configuration exists, or -EINVAL for an invalid
 * one (the reason is logged, naming the file and the field).
 */
int kube_config_load(const struct kube_config_options *opts,
		     struct kube_config **out) __attribute__((warn_unused_result));
/* Builds a configuration from one kubeconfig document held in memory (yaml is
 * only read during the call; log borrowed; *out the caller's, as above). */
int kube_config_from_yaml(const char *yaml, size_t len, const char *context,
			  struct log *log, struct kube_config **out) __attribute__((warn_unused_result));
/* Frees cfg and wipes the secrets in it. NULL accepted. */
void kube_config_free(struct kube_config *cfg);

/* The server URL, e.g. "https://127.0.0.1:6443". Borrowed from cfg. */
const char *kube_config_server(const struct kube_config *cfg);
/* The context's namespace, the in-cluster namespace, or "default".
 * Borrowed from cfg. */
const char *kube_config_namespace(const struct kube_config *cfg);

/* ---- client ------------------------------------------------------------ */

struct kube_client;

/* Called after every HTTP exchange (including each retry), for metrics.
 * code is 0 when no response was received. */
typedef void (*kube_request_cb)(void *userdata, const char *method,
				const char *host, int code, double seconds);

struct kube_client_options {
	double qps;              /* default 20; <0 disables the limiter */
	int burst;               /* default 30 */
	size_t max_body;         /* default 64 MiB */
	unsigned retry_budget_ms;/* total time spent retrying; default 30000 */
	unsigned timeout_ms;     /* per request, except watches; default 30000 */
	const char *user_agent;  /* default "posthog-operator/<version>" */
	kube_request_cb on_request;
	void *on_request_userdata;
	struct log *log;         /* borrowed */
};

/* Takes ownership of cfg, also on failure. */
int kube_client_new(struct kube_config *cfg,
		    const struct kube_client_options *opts,
		    struct kube_client **out) __attribute__((warn_unused_result));
/* Frees the client and the configuration it took. NULL accepted. */
void kube_client_free(struct kube_client *c);

/* The configuration the client took. Borrowed from c. */
const struct kube_config *kube_client_config(const struct kube_client *c);

/* ---- resources and discovery ------------------------------------------ */

/* A resource type. group is "" for the core group. */
struct kube_resource {
	char group[64];
	char version[32];
	char resource[64]; /* plural, e.g. "statefulsets" */
	char kind[64];
	bool namespaced;
};

/*
 * Resolves apiVersion ("apps/v1", "v1") and kind to a resource through the
 * discovery API, caching the answer per group version. A kind not found
 * refreshes the cache once (a CRD may have just been created). Returns 0 or
 * -ENOENT.
 */
int kube_resolve(struct kube_client *c, const char *api_version,
		 const char *kind, struct kube_resource *out,
		 struct kube_status *st) __attribute__((warn_unused_result));

/* Drops the discovery cache. */
void kube_discovery_invalidate(struct kube_client *c);

/* ---- verbs -------------------------------------------------------------- */

/* For cluster-scoped resources ns is ignored; pass NULL. For namespaced
 * resources a NULL ns in list and watch means all namespaces. */

int kube_get(struct kube_client *c, const struct kube_resource *r,
	     const char *ns, const char *name, cJSON **out,
	     struct kube_status *st) __attribute__((warn_unused_result));

struct kube_list_options {
	const char *label_selector;
	const char *field_selector;
	unsigned limit;                 /* page size; 0 = 500 */
	const char *resource_version;   /* NULL = most recent */
};

/*
 * Lists every page (following continue) and returns one List document whose
 * items are all pages' items and whose metadata.resourceVersion is the
 * list's. A continue token that expires mid-list (410) restarts the list
 * once from the beginning. Items get the apiVersion and kind of the list
 * (its kind without "List") where they lack them, as a real API server
 * leaves them out of a list's items of built-in types and client-go's
 * unstructured decoder puts them back: a listed object then looks like a
 * watched or fetched one.
 */
int kube_list(struct kube_client *c, const struct kube_resource *r,
	      const char *ns, const struct kube_list_options *opts,
	      cJSON **out, struct kube_status *st) __attribute__((warn_unused_result));

/* POST. obj is borrowed. */
int kube_create(struct kube_client *c, const struct kube_resource *r,
		const char *ns, const cJSON *obj, cJSON **out,
		struct kube_status *st) __attribute__((warn_unused_result));

/* PUT of the whole object (which must carry metadata.resourceVersion) or of
 * the given subresource ("status", "scale"; NULL for the main resource). */
int kube_update(struct kube_client *c, const struct kube_resource *r,
		const char *ns, const char *name, const char *subresource,
		const cJSON *obj, cJSON **out, struct kube_status *st)
	__attribute__((warn_unused_result));

struct kube_apply_options {
	const char *field_manager; /* required */
	bool force;
	const char *subresource;   /* NULL or "status" */
};

/* Server-side apply: PATCH application/apply-patch+yaml (the body is JSON,
 * which is YAML). */
int kube_apply(struct kube_client *c, const struct kube_resource *r,
	       const char *ns, const char *name, const cJSON *obj,
	       const struct kube_apply_options *opts, cJSON **out,
	       struct kube_status *st) __attribute__((warn_unused_result));

/* JSON merge patch (application/merge-patch+json). */
int kube_merge_patch(struct kube_client *c, const struct kube_resource *r,
		     const char *ns, const char *name, const char *subresource,
		     const cJSON *patch, cJSON **out, struct kube_status *st)
	__attribute__((warn_unused_result));

struct kube_delete_options {
	const char *propagation_policy; /* "Background", "Foreground", "Orphan" */
	const char *precondition_uid;
	const char *precondition_resource_version;
	int grace_period_seconds;       /* <0 = server default */
};

int kube_delete(struct kube_client *c, const struct kube_resource *r,
		const char *ns, const char *name,
		const struct kube_delete_options *opts,
		struct kube_status *st) __attribute__((warn_unused_result));

/*
 * A raw request to any path (e.g. a service proxy), with the client's
 * authentication, rate limiting and retries. headers is a NULL-terminated
 * array of "Name: value" lines or NULL. The response body is appended to
 * out (capped by out->cap) whatever the status; *http_code receives the
 * status. Returns 0 when a response arrived, a negative errno otherwise.
 */
int kube_raw(struct kube_client *c, const char *method, const char *path,
	     const char *const *headers, const void *body, size_t body_len,
	     struct buf *out, int *http_code) __attribute__((warn_unused_result));

/*
 * A GET of path on c's connections, with tighter bounds than the client's:
 * each attempt at most timeout_ms, retries at most retry_budget_ms in all
 * (0 = the client's), and nothing logged: the caller reports a failure
 * with what it knows. For a start-up check on the client that carries the
 * traffic afterwards, so that its connection and TLS session are reused
 * (docs/kube-client.md, "Connections"). Results as kube_raw().
 */
int kube_get_bounded(struct kube_client *c, const char *path,
		     unsigned timeout_ms, unsigned retry_budget_ms,
		     struct buf *out, int *http_code) __attribute__((warn_unused_result));

/* ---- watch ------------------------------------------------------------ */

enum kube_event_type {
	KUBE_EVENT_ADDED,
	KUBE_EVENT_MODIFIED,
	KUBE_EVENT_DELETED,
	KUBE_EVENT_BOOKMARK,
};

/*
 * Receives one event. obj is handed over: the callee frees it (or keeps
 * it). A non-zero return stops the watch, and kube_watch_run() returns it.
 */
typedef int (*kube_watch_cb)(void *userdata, enum kube_event_type type,
			     cJSON *obj);

struct kube_watch_options {
	const char *label_selector;
	const char *field_selector;
	const char *resource_version; /* resume point; NULL = now */
	unsigned timeout_seconds;     /* server-side timeout; 0 = 300 */
	bool bookmarks;               /* allowWatchBookmarks */
	size_t max_event;             /* cap on one event's size; 0 = 16 MiB */
};

struct kube_watch;

int kube_watch_new(struct kube_client *c, const struct kube_resource *r,
		   const char *ns, const struct kube_watch_options *opts,
		   kube_watch_cb cb, void *userdata, struct kube_watch **out)
	__attribute__((warn_unused_result));

/*
 * Streams events to the callback until the server ends the stream. Returns
 * 0 when the stream ended normally (timeout, server close: resume from
 * kube_watch_resource_version()), KUBE_EGONE when the server answered 410
 * (relist), -ECANCELED after kube_watch_cancel(), the callback's non-zero
 * return, or another negative errno. May be called again to resume; once
 * cancelled, a watch stays cancelled.
 */
int kube_watch_run(struct kube_watch *w) __attribute__((warn_unused_result));

/* Thread-safe; makes a running kube_watch_run() return -ECANCELED soon. */
void kube_watch_cancel(struct kube_watch *w);

/* The last resourceVersion seen (events and bookmarks). Borrowed; valid
 * until the next kube_watch_run(). */
const char *kube_watch_resource_version(const struct kube_watch *w);

/* Sets the resume point of the next kube_watch_run(), e.g. the
 * resourceVersion of a relist after KUBE_EGONE. Copies rv; NULL = now.
 * Returns 0 or -EINVAL for an overlong value. Not while running. */
int kube_watch_set_resource_version(struct kube_watch *w, const char *rv)
	__attribute__((warn_unused_result));

void kube_watch_free(struct kube_watch *w);

#endif
