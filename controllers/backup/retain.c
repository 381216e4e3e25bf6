/*
 * backup: listing complete backups and retention (bk_list, bk_retain).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup-private.h"

/* Every manifest of the shard, parsed, sorted by finishedAtUnix. */
static int by_finished(const void *a, const void *b)
{
	double x = cJSON_GetNumberValue(cJSON_GetObjectItem(*(cJSON *const *)a, "finishedAtUnix"));
	double y = cJSON_GetNumberValue(cJSON_GetObjectItem(*(cJSON *const *)b, "finishedAtUnix"));

	return x < y ? -1 : x > y;
}

static int load_manifests(const struct bk_target *t, cJSON **out, char *err,
			  size_t errlen)
{
	struct buf prefix, suffix;
	cJSON *keys = NULL, *k, *all, *m;
	int r, n, i;

	buf_init(&prefix, BK_MAX_PATH);
	buf_init(&suffix, 128);
	r = buf_printf(&prefix, "%s%sbackups/", t->prefix, t->prefix[0] ? "/" : "");
	if (r == 0)
		r = buf_printf(&suffix, "/shard-%s.json", t->shard);
	if (r == 0)
		r = s3_list(t->s3, buf_str(&prefix), &keys, err, errlen);
	if (r < 0)
		goto out;
	all = cJSON_CreateArray();
	cJSON_ArrayForEach(k, keys) {
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(k, "key"));
		size_t kl = strlen(key), sl = suffix.len, pl = prefix.len;
		char name[BK_MAX_NAME + 1];

		if (kl <= pl + sl || strcmp(key + kl - sl, buf_str(&suffix)) != 0 ||
		    kl - pl - sl > BK_MAX_NAME)
			continue;
		memcpy(name, key + pl, kl - pl - sl);
		name[kl - pl - sl] = '\0';
		if (!bk_valid_name(name, BK_MAX_NAME))
			continue;
		m = NULL;
		r = bk_read_manifest(t, name, &m, err, errlen);
		if (r < 0) {
			cJSON_Delete(all);
			goto out;
		}
		cJSON_AddItemToArray(all, m);
	}
	/* Sorted by finishedAtUnix into a new array. (An insertion sort that
	 * detached and re-inserted items lost one under cJSON 1.7.15 when a
	 * manifest had to move before the first: LeakSanitizer caught it.) */
	n = cJSON_GetArraySize(all);
	if (n > 1) {
		cJSON **v = calloc((size_t)n, sizeof(*v)), *sorted = cJSON_CreateArray();

		if (!v || !sorted)
			abort();
		for (i = 0; i < n; i++)
			v[i] = cJSON_GetArrayItem(all, i);
		qsort(v, (size_t)n, sizeof(*v), by_finished);
		for (i = 0; i < n; i++) {
			cJSON_DetachItemViaPointer(all, v[i]);
			cJSON_AddItemToArray(sorted, v[i]);
		}
		free(v);
		cJSON_Delete(all);
		all = sorted;
	}
	*out = all;
out:
	cJSON_Delete(keys);
	buf_free(&prefix);
	buf_free(&suffix);
	return r;
}

int bk_list(const struct bk_target *t, cJSON **out, char *err, size_t errlen)
{
	static const char *const fields[] = {
		"name", "startedAt", "finishedAt", "finishedAtUnix", "bytes", "parts", "rows",
	};
	cJSON *all = NULL, *m, *arr, *o;
	size_t i;
	int r = load_manifests(t, &all, err, errlen);

	if (r < 0)
		return r;
	arr = cJSON_CreateArray();
	cJSON_ArrayForEach(m, all) {
		o = cJSON_CreateObject();
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			cJSON *v = cJSON_GetObjectItem(m, fields[i]);

			if (v)
				cJSON_AddItemToObject(o, fields[i], cJSON_Duplicate(v, 1));
		}
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_Delete(all);
	*out = arr;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every object key the kept manifests reference, sorted. */
static char **referenced(const cJSON *kept, size_t *n)
{
	const cJSON *m, *te, *p, *f;
	struct buf key;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	buf_init(&key, BK_MAX_PATH);
	cJSON_ArrayForEach(m, kept)
	cJSON_ArrayForEach(te, cJSON_GetObjectItem(m, "tables"))
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(te, "parts"))
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(p, "files")) {
		buf_reset(&key);
		if (buf_printf(&key, "%s%s",
			       cJSON_GetStringValue(cJSON_GetObjectItem(p, "key")) ?: "",
			       cJSON_GetStringValue(cJSON_GetObjectItem(f, "name")) ?: "") < 0)
			continue;
		if (*n + 1 >= cap) {
			cap = cap ? cap * 2 : 256;
			v = realloc(v, cap * sizeof(char *));
			if (!v)
				abort();
		}
		v[(*n)++] = buf_take(&key);
	}
	buf_free(&key);
	if (*n)
		qsort(v, *n, sizeof(char *), cmp_str);
	return v;
}

static int delete_unreferenced(const struct bk_target *t, const cJSON *kept,
			       struct bk_result *res, char *err, size_t errlen)
{
	struct buf prefix;
	cJSON *objs = NULL, *o;
	char **refs;
	size_t nrefs = 0, i;
	int r;

	refs = referenced(kept, &nrefs);
	buf_init(&prefix, BK_MAX_PATH);
	r = buf_printf(&prefix, "%s%sparts/%s/", t->prefix, t->prefix[0] ? "/" : "", t->shard);
	if (r == 0)
		r = s3_list(t->s3, buf_str(&prefix), &objs, err, errlen);
	cJSON_ArrayForEach(o, objs) {
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(o, "key"));

		if (r < 0)
			break;
		if (nrefs && bsearch(&key, refs, nrefs, sizeof(char *), cmp_str))
			continue;
		r = s3_delete(t->s3, key, err, errlen);
		if (r == 0)
			res->deleted_objects++;
	}
	cJSON_Delete(objs);
	for (i = 0; i < nrefs; i++)
		free(refs[i]);
	free(refs);
	buf_free(&prefix);
	return r;
}

int bk_retain(const struct bk_target *t, int64_t now, int64_t max_age_s,
	      unsigned keep_min, struct bk_result *res, char *err,
	      size_t errlen)
{
	cJSON *all = NULL, *m, *next;
	struct buf key;
	int r, n, i = 0;

	memset(res, 0, sizeof(*res));
	r = load_manifests(t, &all, err, errlen);
	if (r < 0)
		return r;
	n = cJSON_GetArraySize(all);
	buf_init(&key, BK_MAX_PATH);
	/* Manifests first: once a manifest is gone its backup is no longer
	 * offered, and a failure after that leaves only unreferenced parts,
	 * which the next run deletes. */
	for (m = all->child; m && r == 0; m = next, i++) {
		double fin = cJSON_GetNumberValue(cJSON_GetObjectItem(m, "finishedAtUnix"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(m, "name"));

		next = m->next;
		if (n - i <= (int)keep_min || fin >= (double)(now - max_age_s) || !name)
			continue;
		buf_reset(&key);
		r = bk_manifest_key(t, name, &key);
		if (r == 0)
			r = s3_delete(t->s3, buf_str(&key), err, errlen);
		if (r == 0) {
			res->deleted_backups++;
			cJSON_Delete(cJSON_DetachItemViaPointer(all, m));
		}
	}
	if (r == 0)
		r = delete_unreferenced(t, all, res, err, errlen);
	buf_free(&key);
	cJSON_Delete(all);
	return r;
}
