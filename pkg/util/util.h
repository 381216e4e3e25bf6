/*
 * util: the small helpers every module needs, written once: allocation
 * that aborts on out-of-memory, FNV-1a hashing, and cJSON field getters.
 * No I/O, no state; safe from any thread.
 *
 * Allocation: small internal allocations abort on out-of-memory (STYLE.md:
 * a pod restart is the right recovery). Anything sized by input has its
 * own cap in its module and must not use these to grow without bound.
 * Every util_x* result is the caller's to free().
 *
 * cJSON getters never allocate: what they return is borrowed from obj and
 * lives as long as obj does. A missing or mistyped field reads as NULL or
 * the given default.
 */
#ifndef PHO_UTIL_H
#define PHO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* ---- allocation that aborts ------------------------------------------ */

/* malloc(n) (n == 0 allocates one byte); never NULL. Caller frees. */
void *util_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
/* calloc(n, size), zeroed; n or size 0 allocate one byte; never NULL. */
void *util_xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
/* realloc(p, n); never NULL. On return p is no longer valid. */
void *util_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
/* A copy of s, or NULL when s is NULL. Caller frees. */
char *util_xstrdup(const char *s) __attribute__((malloc));
/* A copy of the first n bytes of s plus a NUL; never NULL. Caller frees. */
char *util_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
/* printf into a fresh string; never NULL. Caller frees. */
char *util_xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), malloc, returns_nonnull));
/* p itself, or abort() when p is NULL: for the result of an allocating
 * call (cJSON_Create*, cJSON_Print*) where failure can only be memory. */
void *util_nn(void *p) __attribute__((returns_nonnull));

/* ---- FNV-1a, 64 bits -------------------------------------------------- */

/* FNV-1a offset basis. Stable across builds and platforms: fine for hash
 * tables and content hashes in names, not for anything adversarial. */
#define UTIL_FNV1A64_BASIS 0xcbf29ce484222325ULL

/* Continues hash h over len bytes of data. */
uint64_t util_fnv1a64_add(uint64_t h, const void *data, size_t len)
	__attribute__((warn_unused_result));
/* The hash of len bytes of data: util_fnv1a64_add(UTIL_FNV1A64_BASIS, ...). */
uint64_t util_fnv1a64(const void *data, size_t len) __attribute__((warn_unused_result));
/* The hash of the NUL-terminated s. */
uint64_t util_fnv1a64_str(const char *s) __attribute__((warn_unused_result));

/* ---- cJSON getters (borrowed results) --------------------------------- */

/* Member key of obj (one key, which may contain dots) as a string; NULL
 * when obj is not an object, key is absent or not a string. */
const char *util_json_str(const cJSON *obj, const char *key);
/* Member key of obj as a number, or dflt. */
double util_json_num(const cJSON *obj, const char *key, double dflt);

/* The value at a dotted path ("spec.kafka.topics"; keys under 128 bytes),
 * NULL when absent or an intermediate is not an object. */
const cJSON *util_json_get(const cJSON *obj, const char *path);
/* The string at path, or def when absent or not a string. */
const char *util_json_get_str(const cJSON *obj, const char *path, const char *def);
/* Whether d may be converted to int64_t: within its range (to about 2^63;
 * outside it, or for NaN, the conversion is undefined, C11 6.3.1.4). */
bool util_fits_int64(double d);
/* The number at path truncated to an integer, or def (also for a number
 * beyond int64_t, which no conversion can hold). */
int64_t util_json_get_int(const cJSON *obj, const char *path, int64_t def);
/* The boolean at path, or def. */
bool util_json_get_bool(const cJSON *obj, const char *path, bool def);

#endif
