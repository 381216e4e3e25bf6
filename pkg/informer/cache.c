/*
 * The informer's store: objects by "namespace/name" and, as a multimap,
 * by the uid of every ownerReference. Chained hash tables that double when
 * their load passes one; the cache of one resource type rarely exceeds a
 * few thousand objects.
 */
#include "informer-private.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"

struct owner_link {
	struct owner_link *next;
	char *uid;
	struct cache_entry *entry;
};

int informer_key(const cJSON *obj, char *out, size_t outsz)
{
	const char *name = util_json_get_str(obj, "metadata.name", NULL);
	const char *ns = util_json_get_str(obj, "metadata.namespace", NULL);
	if (!name || !*name)
		return -EINVAL;
	int n = ns && *ns ? snprintf(out, outsz, "%s/%s", ns, name)
			  : snprintf(out, outsz, "%s", name);
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

const char *informer_rv(const cJSON *obj)
{
	return util_json_get_str(obj, "metadata.resourceVersion", NULL);
}

void cache_init(struct cache *c)
{
	memset(c, 0, sizeof(*c));
	c->nbuckets = 64;
	c->buckets = util_xcalloc(c->nbuckets, sizeof(*c->buckets));
	c->nowners = 64;
	c->owners = util_xcalloc(c->nowners, sizeof(*c->owners));
}

static void owners_unlink(struct cache *c, struct cache_entry *e)
{
	for (size_t i = 0; i < c->nowners; i++) {
		struct owner_link **pp = &c->owners[i];
		while (*pp) {
			struct owner_link *l = *pp;
			if (l->entry == e) {
				*pp = l->next;
				free(l->uid);
				free(l);
				c->nlinks--;
			} else {
				pp = &l->next;
			}
		}
		if (!c->nlinks)
			break;
	}
}

static void owners_rehash(struct cache *c)
{
	size_t n = c->nowners * 2;
	struct owner_link **b = util_xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < c->nowners; i++) {
		struct owner_link *l = c->owners[i];
		while (l) {
			struct owner_link *next = l->next;
			size_t h = util_fnv1a64_str(l->uid) % n;
			l->next = b[h];
			b[h] = l;
			l = next;
		}
	}
	free(c->owners);
	c->owners = b;
	c->nowners = n;
}

static void owners_link(struct cache *c, struct cache_entry *e)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(e->obj, "metadata");
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(md, "ownerReferences");
	const cJSON *ref;
	cJSON_ArrayForEach(ref, refs) {
		const cJSON *uid = cJSON_GetObjectItemCaseSensitive(ref, "uid");
		if (!cJSON_IsString(uid) || !*uid->valuestring)
			continue;
		if (c->nlinks >= c->nowners)
			owners_rehash(c);
		struct owner_link *l = util_xcalloc(1, sizeof(*l));
		l->uid = util_xstrdup(uid->valuestring);
		l->entry = e;
		size_t h = util_fnv1a64_str(l->uid) % c->nowners;
		l->next = c->owners[h];
		c->owners[h] = l;
		c->nlinks++;
	}
}

/* Unlinking scans the owner table only when the entry had owners: most
 * objects in an owner-indexed cache have one or two. */
static bool has_owners(const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	return cJSON_GetArraySize(
		       cJSON_GetObjectItemCaseSensitive(md, "ownerReferences")) > 0;
}

struct cache_entry *cache_find(const struct cache *c, const char *key)
{
	struct cache_entry *e = c->buckets[util_fnv1a64_str(key) % c->nbuckets];
	while (e && strcmp(e->key, key) != 0)
		e = e->next;
	return e;
}

static void rehash(struct cache *c)
{
	size_t n = c->nbuckets * 2;
	struct cache_entry **b = util_xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i];
		while (e) {
			struct cache_entry *next = e->next;
			size_t h = util_fnv1a64_str(e->key) % n;
			e->next = b[h];
			b[h] = e;
			e = next;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

cJSON *cache_put(struct cache *c, const char *key, cJSON *obj)
{
	struct cache_entry *e = cache_find(c, key);
	if (e) {
		cJSON *old = e->obj;
		if (has_owners(old))
			owners_unlink(c, e);
		e->obj = obj;
		owners_link(c, e);
		return old;
	}
	if (c->count >= c->nbuckets)
		rehash(c);
	e = util_xcalloc(1, sizeof(*e));
	e->key = util_xstrdup(key);
	e->obj = obj;
	size_t h = util_fnv1a64_str(key) % c->nbuckets;
	e->next = c->buckets[h];
	c->buckets[h] = e;
	c->count++;
	owners_link(c, e);
	return NULL;
}

cJSON *cache_remove(struct cache *c, const char *key)
{
	struct cache_entry **pp = &c->buckets[util_fnv1a64_str(key) % c->nbuckets];
	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	struct cache_entry *e = *pp;
	if (!e)
		return NULL;
	*pp = e->next;
	if (has_owners(e->obj))
		owners_unlink(c, e);
	cJSON *obj = e->obj;
	free(e->key);
	free(e);
	c->count--;
	return obj;
}

void cache_foreach(const struct cache *c,
		   void (*fn)(void *ud, struct cache_entry *e), void *ud)
{
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i];
		while (e) {
			struct cache_entry *next = e->next;
			fn(ud, e);
			e = next;
		}
	}
}

void cache_foreach_owner(const struct cache *c, const char *uid,
			 void (*fn)(void *ud, struct cache_entry *e), void *ud)
{
	for (struct owner_link *l = c->owners[util_fnv1a64_str(uid) % c->nowners]; l;
	     l = l->next)
		if (strcmp(l->uid, uid) == 0)
			fn(ud, l->entry);
}

/* A heap block's share of memory: what malloc_usable_size reports plus
 * glibc's chunk header. */
static size_t block(const void *p)
{
	return p ? malloc_usable_size((void *)p) + sizeof(size_t) : 0;
}

static size_t tree_bytes(const cJSON *j)
{
	size_t n = 0;

	for (; j; j = j->next) {
		n += block(j);
		if (!(j->type & cJSON_StringIsConst))
			n += block(j->string);
		if (!(j->type & cJSON_IsReference))
			n += block(j->valuestring) + tree_bytes(j->child);
	}
	return n;
}

size_t cache_bytes(const struct cache *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nbuckets; i++)
		for (const struct cache_entry *e = c->buckets[i]; e; e = e->next)
			n += block(e) + block(e->key) + tree_bytes(e->obj);
	for (size_t i = 0; i < c->nowners; i++)
		for (const struct owner_link *l = c->owners[i]; l; l = l->next)
			n += block(l) + block(l->uid);
	return n;
}

void cache_free(struct cache *c)
{
	for (size_t i = 0; i < c->nowners; i++) {
		struct owner_link *l = c->owners[i];
		while (l) {
			struct owner_link *next = l->next;
			free(l->uid);
			free(l);
			l = next;
		}
	}
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i];
		while (e) {
			struct cache_entry *next = e->next;
			cJSON_Delete(e->obj);
			free(e->key);
			free(e);
			e = next;
		}
	}
	free(c->owners);
	free(c->buckets);
	memset(c, 0, sizeof(*c));
}
