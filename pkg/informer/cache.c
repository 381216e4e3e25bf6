/*
 * The informer's store: objects by "namespace/name" and, as a multimap,
 * by the uid of every ownerReference. Chained hash tables that double when
 * their load passes one; the cache of one resource type rarely exceeds a
 * few thousand objects. Objects are held compressed (compact.c): each read
 * decodes a new tree.
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

static void owners_link(struct cache *c, struct cache_entry *e, const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
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
		e->owned = true;
		size_t h = util_fnv1a64_str(l->uid) % c->nowners;
		l->next = c->owners[h];
		c->owners[h] = l;
		c->nlinks++;
	}
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

cJSON *cache_entry_obj(const struct cache_entry *e)
{
	return compact_decode(&e->obj);
}

/* key, a NUL and obj's resourceVersion in one new block. */
static char *key_block(const char *key, const cJSON *obj, const char **rv)
{
	const char *v = informer_rv(obj);
	size_t klen = strlen(key), vlen = v ? strlen(v) : 0;
	char *b = util_xmalloc(klen + vlen + 2);

	memcpy(b, key, klen + 1);
	memcpy(b + klen + 1, v ? v : "", vlen + 1);
	*rv = b + klen + 1;
	return b;
}

int cache_put(struct cache *c, const char *key, const cJSON *obj, cJSON **replaced)
{
	struct cache_entry *e = cache_find(c, key);
	struct compact z;
	int r = compact_encode(obj, &z);

	if (replaced)
		*replaced = NULL;
	if (r < 0)
		return r;
	if (e) {
		if (replaced)
			*replaced = compact_decode(&e->obj);
		if (e->owned)
			owners_unlink(c, e);
		e->owned = false;
		compact_free(&e->obj);
		free(e->key);
	} else {
		if (c->count >= c->nbuckets)
			rehash(c);
		e = util_xcalloc(1, sizeof(*e));
		size_t h = util_fnv1a64_str(key) % c->nbuckets;
		e->next = c->buckets[h];
		c->buckets[h] = e;
		c->count++;
	}
	e->key = key_block(key, obj, &e->rv);
	e->obj = z;
	owners_link(c, e, obj);
	return 0;
}

bool cache_remove(struct cache *c, const char *key, cJSON **removed)
{
	struct cache_entry **pp = &c->buckets[util_fnv1a64_str(key) % c->nbuckets];
	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	struct cache_entry *e = *pp;
	if (removed)
		*removed = NULL;
	if (!e)
		return false;
	*pp = e->next;
	if (e->owned)
		owners_unlink(c, e);
	if (removed)
		*removed = compact_decode(&e->obj);
	compact_free(&e->obj);
	free(e->key);
	free(e);
	c->count--;
	return true;
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

size_t cache_bytes(const struct cache *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nbuckets; i++)
		for (const struct cache_entry *e = c->buckets[i]; e; e = e->next)
			n += block(e) + block(e->key) + block(e->obj.data);
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
			compact_free(&e->obj);
			free(e->key);
			free(e);
			e = next;
		}
	}
	free(c->owners);
	free(c->buckets);
	memset(c, 0, sizeof(*c));
}
