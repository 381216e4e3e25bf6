/* informer internals: the cache, shared with the tests. */
#ifndef PHO_INFORMER_PRIVATE_H
#define PHO_INFORMER_PRIVATE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* An object in compact form (compact.c). */
struct compact {
	unsigned char *data; /* raw deflate of the unformatted JSON */
	uint32_t len, raw;   /* compressed and JSON lengths */
};

/* Encodes obj into out (out->data malloc'd). Returns 0 or -EFBIG past
 * 4 GiB; allocation failure aborts. */
int compact_encode(const cJSON *obj, struct compact *out) __attribute__((warn_unused_result));
/* A new tree (caller frees) of what c holds. */
cJSON *compact_decode(const struct compact *c);
void compact_free(struct compact *c);

struct cache_entry {
	struct cache_entry *next;
	/* "namespace/name" (or "name" when cluster-scoped), a NUL, then the
	 * object's resourceVersion: one block. */
	char *key;
	const char *rv; /* into key's block */
	struct compact obj;
	bool seen;  /* marks entries present in a relist */
	bool owned; /* has ownerReferences, so owner links to drop */
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
/* Stores a compact copy of obj (borrowed) under key. *replaced (when not
 * NULL) gets the object it replaced (caller frees) or NULL. Returns 0 or
 * -EFBIG. */
int cache_put(struct cache *c, const char *key, const cJSON *obj,
	      cJSON **replaced) __attribute__((warn_unused_result));
/* Removes key; *removed (when not NULL) gets the object (caller frees) or
 * NULL. Returns whether key was cached. */
bool cache_remove(struct cache *c, const char *key, cJSON **removed);
/* A new tree (caller frees) of the entry's object. */
cJSON *cache_entry_obj(const struct cache_entry *e);
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
