/* informer internals: the cache, shared with the tests. */
#ifndef PHO_INFORMER_PRIVATE_H
#define PHO_INFORMER_PRIVATE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

struct cache_entry {
	struct cache_entry *next;
	char *key; /* "namespace/name", or "name" when cluster-scoped */
	cJSON *obj;
	bool seen; /* marks entries present in a relist */
};

struct owner_link;

struct cache {
	struct cache_entry **buckets;
	size_t nbuckets, count;
	struct owner_link **owners;
	size_t nowners, nlinks;
};

/* The cache key of obj into out. Returns 0, -EINVAL without a name, or
 * -ENAMETOOLONG. */
int informer_key(const cJSON *obj, char *out, size_t outsz);
/* metadata.resourceVersion, borrowed, or NULL. */
const char *informer_rv(const cJSON *obj);

void cache_init(struct cache *c);
void cache_free(struct cache *c);
struct cache_entry *cache_find(const struct cache *c, const char *key);
/* Takes obj; returns the object it replaced (caller frees) or NULL. */
cJSON *cache_put(struct cache *c, const char *key, cJSON *obj);
/* Returns the removed object (caller frees) or NULL. */
cJSON *cache_remove(struct cache *c, const char *key);
/* fn may remove the entry it is given. */
/* Heap bytes held by the entries, their keys, objects and owner links
 * (see informer_stats). */
size_t cache_bytes(const struct cache *c);
void cache_foreach(const struct cache *c,
		   void (*fn)(void *ud, struct cache_entry *e), void *ud);
void cache_foreach_owner(const struct cache *c, const char *uid,
			 void (*fn)(void *ud, struct cache_entry *e), void *ud);

/* Reflector backoff: 800 ms doubling to 30 s. Exposed for tests, which
 * shorten it. */
struct informer;
void informer_set_backoff(struct informer *inf, unsigned base_ms,
			  unsigned max_ms);
/* How many lists and watch connections the informer made. */
unsigned informer_list_count(struct informer *inf);

#endif
