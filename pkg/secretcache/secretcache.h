/*
 * secretcache: the data of the Secrets the operator reads, kept in memory.
 *
 * A controller that needs a credential on every reconcile (the ClickHouse
 * password before each connection, Kafka SASL and TLS material, the
 * backup store's keys) asks here instead of the API server. A Secret is
 * read with one GET and kept for a bounded time (ttl); a caller that sees
 * the credential refused (an authentication failure) forgets it, so the
 * next use reads it again. Only `get` is needed: no list, no watch, so the
 * operator's RBAC need not cover every Secret in the cluster.
 *
 * Values are cleared (OPENSSL_cleanse) before their memory is freed.
 * Thread-safe; the GET happens without the lock held.
 */
#ifndef PHO_SECRETCACHE_H
#define PHO_SECRETCACHE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "pkg/kube/kube.h"

struct secretcache;

/* Most Secrets kept; past it the least recently read is dropped. */
#define SECRETCACHE_MAX 1024
/* The default time a Secret is kept: a rotated credential that is not
 * refused (both old and new accepted for a while) is picked up within it. */
#define SECRETCACHE_DEFAULT_TTL_MS (5u * 60 * 1000)

/* client is borrowed and must outlive the cache; ttl_ms 0 means the
 * default. Allocation failure aborts. */
void secretcache_new(struct kube_client *client, uint64_t ttl_ms, struct secretcache **out);
void secretcache_free(struct secretcache *sc);

/*
 * The Secret ns/name as {"metadata": {"namespace", "name"}, "data": {...}}
 * in *out (caller frees; free with secretcache_obj_free to clear it): from
 * memory when read within ttl, else with a GET. Returns 0 or what kube_get
 * returns (st filled as kube_get fills it); a failed read is not kept.
 */
int secretcache_get(struct secretcache *sc, const char *ns, const char *name, cJSON **out,
		    struct kube_status *st) __attribute__((warn_unused_result));

/* Drops ns/name, so that the next get reads it again (after the credential
 * in it was refused). */
void secretcache_forget(struct secretcache *sc, const char *ns, const char *name);

/* Clears every string in obj, then frees it. Accepts NULL. */
void secretcache_obj_free(cJSON *obj);

/* GETs made so far (for tests and benchmarks). */
unsigned secretcache_reads(struct secretcache *sc);

#endif
