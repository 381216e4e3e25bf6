/*
 * A small table searched linearly: an operator reads a handful of Secrets
 * per namespace, and a linear scan of a few hundred entries costs less
 * than the GET it saves by orders of magnitude.
 */
#include "secretcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "pkg/util/util.h"

struct entry {
	char *ns, *name;
	cJSON *obj;
	uint64_t read_ms;
};

struct secretcache {
	struct kube_client *client;
	struct kube_resource res;
	uint64_t ttl_ms;
	pthread_mutex_t lock;
	struct entry *entries;
	size_t n, cap;
	unsigned reads;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void secretcache_new(struct kube_client *client, uint64_t ttl_ms, struct secretcache **out)
{
	struct secretcache *sc = util_xcalloc(1, sizeof(*sc));

	sc->client = client;
	sc->ttl_ms = ttl_ms ? ttl_ms : SECRETCACHE_DEFAULT_TTL_MS;
	sc->res = (struct kube_resource){.group = "", .version = "v1", .resource = "secrets",
					 .kind = "Secret", .namespaced = true};
	pthread_mutex_init(&sc->lock, NULL);
	*out = sc;
}

static void cleanse_tree(cJSON *j)
{
	for (; j; j = j->next) {
		if (j->valuestring)
			OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
		cleanse_tree(j->child);
	}
}

void secretcache_obj_free(cJSON *obj)
{
	if (!obj)
		return;
	cleanse_tree(obj->child);
	cJSON_Delete(obj);
}

static void entry_clear(struct entry *e)
{
	free(e->ns);
	free(e->name);
	secretcache_obj_free(e->obj);
	memset(e, 0, sizeof(*e));
}

void secretcache_free(struct secretcache *sc)
{
	if (!sc)
		return;
	for (size_t i = 0; i < sc->n; i++)
		entry_clear(&sc->entries[i]);
	free(sc->entries);
	pthread_mutex_destroy(&sc->lock);
	free(sc);
}

/* The entry of ns/name, or NULL. Caller holds the lock. */
static struct entry *find(struct secretcache *sc, const char *ns, const char *name)
{
	for (size_t i = 0; i < sc->n; i++)
		if (!strcmp(sc->entries[i].ns, ns) && !strcmp(sc->entries[i].name, name))
			return &sc->entries[i];
	return NULL;
}

/* What is kept of a Secret: its name and data, nothing else. Takes the
 * strings it needs from obj (which the caller still frees). */
static cJSON *kept(const char *ns, const char *name, const cJSON *obj)
{
	cJSON *k = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(k, "metadata");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");

	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddItemToObject(k, "data", cJSON_IsObject(data) ? cJSON_Duplicate(data, 1)
							      : cJSON_CreateObject());
	return k;
}

/* Stores a copy of k as ns/name, replacing an older read or, when full,
 * the entry read longest ago. Caller holds the lock. */
static void store(struct secretcache *sc, const char *ns, const char *name, const cJSON *k)
{
	struct entry *e = find(sc, ns, name);

	if (!e && sc->n == sc->cap && sc->cap < SECRETCACHE_MAX) {
		sc->cap = sc->cap ? sc->cap * 2 : 8;
		sc->entries = realloc(sc->entries, sc->cap * sizeof(*sc->entries));
		if (!sc->entries)
			abort();
	}
	if (!e && sc->n < sc->cap) {
		e = &sc->entries[sc->n++];
		memset(e, 0, sizeof(*e));
	}
	if (!e) {
		e = &sc->entries[0];
		for (size_t i = 1; i < sc->n; i++)
			if (sc->entries[i].read_ms < e->read_ms)
				e = &sc->entries[i];
	}
	if (e->ns)
		entry_clear(e);
	e->ns = util_xstrdup(ns);
	e->name = util_xstrdup(name);
	e->obj = cJSON_Duplicate(k, 1);
	e->read_ms = now_ms();
}

int secretcache_get(struct secretcache *sc, const char *ns, const char *name, cJSON **out,
		    struct kube_status *st)
{
	struct entry *e;
	cJSON *obj = NULL, *k;
	int r;

	pthread_mutex_lock(&sc->lock);
	e = find(sc, ns, name);
	if (e && now_ms() - e->read_ms < sc->ttl_ms) {
		*out = cJSON_Duplicate(e->obj, 1);
		pthread_mutex_unlock(&sc->lock);
		return 0;
	}
	sc->reads++;
	pthread_mutex_unlock(&sc->lock);
	r = kube_get(sc->client, &sc->res, ns, name, &obj, st);
	if (r < 0)
		return r;
	k = kept(ns, name, obj);
	secretcache_obj_free(obj);
	pthread_mutex_lock(&sc->lock);
	store(sc, ns, name, k);
	pthread_mutex_unlock(&sc->lock);
	*out = k;
	return 0;
}

void secretcache_forget(struct secretcache *sc, const char *ns, const char *name)
{
	struct entry *e;

	pthread_mutex_lock(&sc->lock);
	e = find(sc, ns, name);
	if (e) {
		entry_clear(e);
		/* The last entry fills the hole: the table stays dense. */
		*e = sc->entries[--sc->n];
		memset(&sc->entries[sc->n], 0, sizeof(*e));
	}
	pthread_mutex_unlock(&sc->lock);
}

unsigned secretcache_reads(struct secretcache *sc)
{
	unsigned n;

	pthread_mutex_lock(&sc->lock);
	n = sc->reads;
	pthread_mutex_unlock(&sc->lock);
	return n;
}
