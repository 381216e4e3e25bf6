/*
 * fakeapi: a loopback stand-in for the Kubernetes API server, for the
 * runtime's unit tests. It serves plain HTTP on 127.0.0.1 with one request
 * per connection, and keeps any resource path generically:
 *   /api/v1/[namespaces/NS/]RES[/NAME]  /apis/G/V/[namespaces/NS/]RES[/NAME]
 * with GET (get, list with labelSelector k=v[,k=v], watch=1 from a
 * resourceVersion, bookmarks), POST, PUT (resourceVersion checked), PATCH
 * (JSON merge semantics for every patch type; with a fieldManager, as
 * server-side apply, it creates a missing object) and DELETE, plus
 * /version. A subresource (.../NAME/status) is written as the object.
 *
 * Faults: drop every open watch, compact history (a watch resuming from
 * before it gets a 410 ERROR event), and fail the next N requests with a
 * status. Test-only; not built into the operator.
 */
#ifndef PHO_FAKEAPI_H
#define PHO_FAKEAPI_H

#include <stdbool.h>

#include <cjson/cJSON.h>

struct fakeapi;

int fakeapi_start(struct fakeapi **out);
void fakeapi_stop(struct fakeapi *f);
int fakeapi_port(const struct fakeapi *f);
/* A kubeconfig document pointing at the server (caller frees). */
char *fakeapi_kubeconfig(const struct fakeapi *f);

/* Direct store access, as if another client wrote. base is the collection
 * prefix without namespace, e.g. "/api/v1/configmaps" is given as
 * ("/api/v1", "configmaps"). obj is borrowed. Returns the new
 * resourceVersion (> 0) or a negative errno. */
long fakeapi_upsert(struct fakeapi *f, const char *base, const char *res,
		    const char *ns, const cJSON *obj);
int fakeapi_remove(struct fakeapi *f, const char *base, const char *res,
		   const char *ns, const char *name);
/* A copy (caller frees) or NULL. */
cJSON *fakeapi_get(struct fakeapi *f, const char *base, const char *res,
		   const char *ns, const char *name);

/* Faults. */
void fakeapi_drop_watches(struct fakeapi *f);
void fakeapi_compact(struct fakeapi *f);
void fakeapi_fail_next(struct fakeapi *f, int n, int status);
/* Until called again with status 0, answer status to every request with
 * this method (e.g. "PATCH") whose path contains needle. */
void fakeapi_fail_matching(struct fakeapi *f, const char *method,
			   const char *needle, int status);
/* Refuse (status 503) every request while set. */
void fakeapi_set_down(struct fakeapi *f, bool down);

/* Requests served whose method matches (NULL = any) and whose path
 * contains needle (NULL = any). */
unsigned fakeapi_count(struct fakeapi *f, const char *method,
		       const char *needle);
/* Open watch connections. */
unsigned fakeapi_watchers(struct fakeapi *f);

#endif
