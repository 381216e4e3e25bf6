/*
 * Discovery: kind -> resource and scope, per group version.
 *
 * Each group version's APIResourceList is fetched once and kept as a small
 * table. A kind that is not in the table triggers one refetch (a CRD may
 * have been established since), then -ENOENT. Fetches happen outside the
 * lock; two threads racing on the same group version both fetch and the
 * later answer replaces the earlier, which is harmless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"

struct disc_entry {
	char kind[64];
	char resource[64];
	bool namespaced;
};

struct disc_gv {
	char gv[128];
	struct disc_entry *entries;
	size_t n;
};

struct kube_discovery {
	pthread_mutex_t lock;
	struct disc_gv *gvs;
	size_t n;
};

struct kube_discovery *kube_discovery_new(void)
{
	struct kube_discovery *d = util_xcalloc(1, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

static struct kube_discovery *disc_get(struct kube_client *c)
{
	return c->disc;
}

static void gv_clear(struct disc_gv *g)
{
	free(g->entries);
	g->entries = NULL;
	g->n = 0;
}

void kube_discovery_free(struct kube_discovery *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		gv_clear(&d->gvs[i]);
	free(d->gvs);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void kube_discovery_invalidate(struct kube_client *c)
{
	struct kube_discovery *d = disc_get(c);
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		gv_clear(&d->gvs[i]);
	free(d->gvs);
	d->gvs = NULL;
	d->n = 0;
	pthread_mutex_unlock(&d->lock);
}

/* Parses an APIResourceList, skipping subresources ("pods/status"). */
static void parse_list(const cJSON *doc, struct disc_gv *g)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "resources");
	size_t cap = cJSON_IsArray(res) ? (size_t)cJSON_GetArraySize(res) : 0;
	g->entries = util_xcalloc(cap, sizeof(*g->entries));
	const cJSON *e;
	const cJSON *items = cJSON_IsArray(res) ? res : NULL;
	cJSON_ArrayForEach(e, items) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "kind");
		const cJSON *nsd = cJSON_GetObjectItemCaseSensitive(e, "namespaced");
		if (!cJSON_IsString(name) || !cJSON_IsString(kind) ||
		    strchr(name->valuestring, '/') ||
		    strlen(name->valuestring) >= sizeof(g->entries->resource) ||
		    strlen(kind->valuestring) >= sizeof(g->entries->kind))
			continue;
		struct disc_entry *d = &g->entries[g->n++];
		snprintf(d->kind, sizeof(d->kind), "%s", kind->valuestring);
		snprintf(d->resource, sizeof(d->resource), "%s", name->valuestring);
		d->namespaced = cJSON_IsTrue(nsd);
	}
}

static int fetch(struct kube_client *c, const char *gv, struct disc_gv *g,
		 struct kube_status *st)
{
	char path[256];
	/* The core group lives under /api, every other under /apis. */
	snprintf(path, sizeof(path), strchr(gv, '/') ? "/apis/%s" : "/api/%s",
		 gv);
	cJSON *doc = NULL;
	int err = kube_call(c, "GET", path, NULL, NULL, &doc, st);
	if (err)
		return err;
	snprintf(g->gv, sizeof(g->gv), "%s", gv);
	parse_list(doc, g);
	cJSON_Delete(doc);
	return 0;
}

/* Looks kind up in the cached gv. Returns 0, -ENOENT (kind unknown) or
 * -ENODATA (gv not cached). */
static int lookup(struct kube_discovery *d, const char *gv, const char *kind,
		  struct disc_entry *out)
{
	int err = -ENODATA;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n && err == -ENODATA; i++) {
		if (strcmp(d->gvs[i].gv, gv))
			continue;
		err = -ENOENT;
		for (size_t j = 0; j < d->gvs[i].n; j++) {
			if (!strcmp(d->gvs[i].entries[j].kind, kind)) {
				*out = d->gvs[i].entries[j];
				err = 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&d->lock);
	return err;
}

static void store(struct kube_discovery *d, struct disc_gv *g)
{
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++) {
		if (!strcmp(d->gvs[i].gv, g->gv)) {
			gv_clear(&d->gvs[i]);
			d->gvs[i] = *g;
			pthread_mutex_unlock(&d->lock);
			return;
		}
	}
	struct disc_gv *n = realloc(d->gvs, (d->n + 1) * sizeof(*n));
	if (!n)
		abort();
	d->gvs = n;
	d->gvs[d->n++] = *g;
	pthread_mutex_unlock(&d->lock);
}

static int split_gv(const char *gv, struct kube_resource *out)
{
	const char *slash = strchr(gv, '/');
	const char *version = slash ? slash + 1 : gv;
	size_t glen = slash ? (size_t)(slash - gv) : 0;
	if (!version[0] || strchr(version, '/') || glen >= sizeof(out->group) ||
	    strlen(version) >= sizeof(out->version) || (slash && !glen) ||
	    strlen(gv) >= sizeof(((struct disc_gv *)0)->gv))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(out->group, gv, glen);
	snprintf(out->version, sizeof(out->version), "%s", version);
	return 0;
}

int kube_resolve(struct kube_client *c, const char *api_version,
		 const char *kind, struct kube_resource *out,
		 struct kube_status *st)
{
	struct kube_resource r;
	if (!c || !api_version || !kind || !out || split_gv(api_version, &r) ||
	    strlen(kind) >= sizeof(r.kind))
		return -EINVAL;
	struct kube_discovery *d = disc_get(c);
	struct disc_entry e;
	int err = lookup(d, api_version, kind, &e);
	if (err) {
		/* Not cached, or cached without this kind: fetch once. */
		struct disc_gv g = { 0 };
		err = fetch(c, api_version, &g, st);
		if (err)
			return err == -ENOENT ? -ENOENT : err;
		store(d, &g);
		err = lookup(d, api_version, kind, &e);
	}
	if (err) {
		kube_status_set(st, 404, "NotFound", "kind not served");
		return -ENOENT;
	}
	snprintf(r.kind, sizeof(r.kind), "%s", e.kind);
	snprintf(r.resource, sizeof(r.resource), "%s", e.resource);
	r.namespaced = e.namespaced;
	*out = r;
	return 0;
}
