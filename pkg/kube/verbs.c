/*
 * The verbs: paths, query strings and bodies for each operation. Objects
 * go out and come back as cJSON documents untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"

#define MAX_PATH 8192

/* A path segment must not change the path's shape. */
static bool valid_segment(const char *s)
{
	return s && s[0] && strcmp(s, ".") && strcmp(s, "..") &&
	       !strpbrk(s, "/?#%");
}

int kube_path(struct buf *b, const struct kube_resource *r, const char *ns,
	      const char *name, const char *subresource)
{
	int err;
	if (!valid_segment(r->version) || !valid_segment(r->resource) ||
	    (r->group[0] && !valid_segment(r->group)))
		return -EINVAL;
	if (r->group[0])
		err = buf_printf(b, "/apis/%s/%s", r->group, r->version);
	else
		err = buf_printf(b, "/api/%s", r->version);
	if (!err && r->namespaced && ns) {
		if (!valid_segment(ns))
			return -EINVAL;
		err = buf_printf(b, "/namespaces/%s", ns);
	}
	if (!err)
		err = buf_printf(b, "/%s", r->resource);
	if (!err && name) {
		if (!valid_segment(name))
			return -EINVAL;
		err = buf_printf(b, "/%s", name);
	}
	if (!err && subresource) {
		if (!valid_segment(subresource))
			return -EINVAL;
		err = buf_printf(b, "/%s", subresource);
	}
	return err ? -EINVAL : 0;
}

/* Single objects in namespaced resources need a namespace. */
static int object_path(struct buf *b, const struct kube_resource *r,
		       const char *ns, const char *name, const char *sub)
{
	if (!r || !name || (r->namespaced && !ns))
		return -EINVAL;
	return kube_path(b, r, ns, name, sub);
}

int kube_get(struct kube_client *c, const struct kube_resource *r,
	     const char *ns, const char *name, cJSON **out,
	     struct kube_status *st)
{
	struct buf p;
	buf_init(&p, MAX_PATH);
	int err = object_path(&p, r, ns, name, NULL);
	if (!err)
		err = kube_call(c, "GET", buf_str(&p), NULL, NULL, out, st);
	buf_free(&p);
	return err;
}

static int list_page_path(struct buf *p, const struct kube_resource *r,
			  const char *ns, const struct kube_list_options *o,
			  const char *cont)
{
	char limit[16];
	snprintf(limit, sizeof(limit), "%u", o->limit ? o->limit : 500);
	int err = kube_path(p, r, ns, NULL, NULL);
	if (!err)
		err = kube_query_add(p, "limit", limit);
	if (!err && o->label_selector)
		err = kube_query_add(p, "labelSelector", o->label_selector);
	if (!err && o->field_selector)
		err = kube_query_add(p, "fieldSelector", o->field_selector);
	/* The continue token pins the snapshot; the server refuses a
	 * resourceVersion next to it. */
	if (!err && cont)
		err = kube_query_add(p, "continue", cont);
	else if (!err && o->resource_version)
		err = kube_query_add(p, "resourceVersion", o->resource_version);
	return err ? -EINVAL : 0;
}

static const char *continue_token(const cJSON *page)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(page, "metadata");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(md, "continue");
	return cJSON_IsString(c) && c->valuestring[0] ? c->valuestring : NULL;
}

/* Moves page's items to the end of acc's. */
static int merge_items(cJSON *acc, cJSON *page)
{
	cJSON *dst = cJSON_GetObjectItemCaseSensitive(acc, "items");
	cJSON *src = cJSON_GetObjectItemCaseSensitive(page, "items");
	if (!cJSON_IsArray(dst) || (src && !cJSON_IsArray(src)))
		return -EBADMSG;
	cJSON *it;
	while (src && (it = src->child)) {
		cJSON_DetachItemViaPointer(src, it);
		cJSON_AddItemToArray(dst, it);
	}
	return 0;
}

/* Gives every item the list's apiVersion and its kind minus "List", where
 * the item has none (kube-apiserver omits them in lists of built-in kinds). */
static void stamp_items(cJSON *list)
{
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(list, "apiVersion");
	const cJSON *lk = cJSON_GetObjectItemCaseSensitive(list, "kind");
	cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items"), *it;
	char kind[128];
	size_t n;

	if (!cJSON_IsString(av) || !cJSON_IsString(lk) || !cJSON_IsArray(items))
		return;
	n = strlen(lk->valuestring);
	if (n <= 4 || n - 4 >= sizeof(kind) || strcmp(lk->valuestring + n - 4, "List"))
		return;
	memcpy(kind, lk->valuestring, n - 4);
	kind[n - 4] = '\0';
	cJSON_ArrayForEach(it, items) {
		if (!cJSON_IsObject(it))
			continue;
		if (!cJSON_GetObjectItemCaseSensitive(it, "apiVersion"))
			cJSON_AddStringToObject(it, "apiVersion", av->valuestring);
		if (!cJSON_GetObjectItemCaseSensitive(it, "kind"))
			cJSON_AddStringToObject(it, "kind", kind);
	}
}

static int list_pages(struct kube_client *c, const struct kube_resource *r,
		      const char *ns, const struct kube_list_options *o,
		      cJSON **out, struct kube_status *st)
{
	cJSON *acc = NULL;
	char *cont = NULL;
	int err;
	do {
		struct buf p;
		buf_init(&p, MAX_PATH);
		cJSON *page = NULL;
		err = list_page_path(&p, r, ns, o, cont);
		if (!err)
			err = kube_call(c, "GET", buf_str(&p), NULL, NULL, &page, st);
		buf_free(&p);
		free(cont);
		cont = NULL;
		if (err)
			break;
		const char *next = continue_token(page);
		cont = next ? util_xstrdup(next) : NULL;
		if (!acc) {
			acc = page;
			if (!cJSON_GetObjectItemCaseSensitive(acc, "items"))
				cJSON_AddArrayToObject(acc, "items");
			continue;
		}
		err = merge_items(acc, page);
		cJSON_Delete(page);
	} while (!err && cont);
	free(cont);
	if (err) {
		cJSON_Delete(acc);
		return err;
	}
	/* One List: no continuation left to follow. */
	cJSON *md = cJSON_GetObjectItemCaseSensitive(acc, "metadata");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "continue");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "remainingItemCount");
	stamp_items(acc);
	*out = acc;
	return 0;
}

int kube_list(struct kube_client *c, const struct kube_resource *r,
	      const char *ns, const struct kube_list_options *opts,
	      cJSON **out, struct kube_status *st)
{
	static const struct kube_list_options none;
	if (!c || !r || !out)
		return -EINVAL;
	if (!opts)
		opts = &none;
	int err = list_pages(c, r, ns, opts, out, st);
	/* A continue token expires with etcd compaction (410 mid-list): the
	 * only way on is a fresh list. */
	if (err == KUBE_EGONE) {
		log_info(c->log, "kube: list %s: continue token expired, "
				 "restarting", r->resource);
		err = list_pages(c, r, ns, opts, out, st);
	}
	return err;
}

int kube_create(struct kube_client *c, const struct kube_resource *r,
		const char *ns, const cJSON *obj, cJSON **out,
		struct kube_status *st)
{
	if (!r || !cJSON_IsObject(obj) || (r->namespaced && !ns))
		return -EINVAL;
	struct buf p;
	buf_init(&p, MAX_PATH);
	int err = kube_path(&p, r, ns, NULL, NULL);
	if (!err)
		err = kube_call(c, "POST", buf_str(&p), "application/json", obj,
				out, st);
	buf_free(&p);
	return err;
}

int kube_update(struct kube_client *c, const struct kube_resource *r,
		const char *ns, const char *name, const char *subresource,
		const cJSON *obj, cJSON **out, struct kube_status *st)
{
	if (!cJSON_IsObject(obj))
		return -EINVAL;
	struct buf p;
	buf_init(&p, MAX_PATH);
	int err = object_path(&p, r, ns, name, subresource);
	if (!err)
		err = kube_call(c, "PUT", buf_str(&p), "application/json", obj,
				out, st);
	buf_free(&p);
	return err;
}

int kube_apply(struct kube_client *c, const struct kube_resource *r,
	       const char *ns, const char *name, const cJSON *obj,
	       const struct kube_apply_options *opts, cJSON **out,
	       struct kube_status *st)
{
	if (!opts || !opts->field_manager || !opts->field_manager[0] ||
	    !cJSON_IsObject(obj))
		return -EINVAL;
	struct buf p;
	buf_init(&p, MAX_PATH);
	int err = object_path(&p, r, ns, name, opts->subresource);
	if (!err)
		err = kube_query_add(&p, "fieldManager", opts->field_manager);
	if (!err && opts->force)
		err = kube_query_add(&p, "force", "true");
	/* JSON is YAML, so the apply body needs no YAML emitter. */
	if (!err)
		err = kube_call(c, "PATCH", buf_str(&p),
				"application/apply-patch+yaml", obj, out, st);
	buf_free(&p);
	return err;
}

int kube_merge_patch(struct kube_client *c, const struct kube_resource *r,
		     const char *ns, const char *name, const char *subresource,
		     const cJSON *patch, cJSON **out, struct kube_status *st)
{
	if (!cJSON_IsObject(patch))
		return -EINVAL;
	struct buf p;
	buf_init(&p, MAX_PATH);
	int err = object_path(&p, r, ns, name, subresource);
	if (!err)
		err = kube_call(c, "PATCH", buf_str(&p),
				"application/merge-patch+json", patch, out, st);
	buf_free(&p);
	return err;
}

static cJSON *delete_options(const struct kube_delete_options *o)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "kind", "DeleteOptions");
	cJSON_AddStringToObject(d, "apiVersion", "v1");
	if (!o)
		return d;
	if (o->propagation_policy)
		cJSON_AddStringToObject(d, "propagationPolicy",
					o->propagation_policy);
	if (o->grace_period_seconds >= 0)
		cJSON_AddNumberToObject(d, "gracePeriodSeconds",
					o->grace_period_seconds);
	if (o->precondition_uid || o->precondition_resource_version) {
		cJSON *pre = cJSON_AddObjectToObject(d, "preconditions");
		if (o->precondition_uid)
			cJSON_AddStringToObject(pre, "uid", o->precondition_uid);
		if (o->precondition_resource_version)
			cJSON_AddStringToObject(pre, "resourceVersion",
						o->precondition_resource_version);
	}
	return d;
}

int kube_delete(struct kube_client *c, const struct kube_resource *r,
		const char *ns, const char *name,
		const struct kube_delete_options *opts,
		struct kube_status *st)
{
	struct buf p;
	buf_init(&p, MAX_PATH);
	int err = object_path(&p, r, ns, name, NULL);
	if (!err) {
		cJSON *body = delete_options(opts);
		err = kube_call(c, "DELETE", buf_str(&p), "application/json",
				body, NULL, st);
		cJSON_Delete(body);
	}
	buf_free(&p);
	return err;
}

int kube_raw(struct kube_client *c, const char *method, const char *path,
	     const char *const *headers, const void *body, size_t body_len,
	     struct buf *out, int *http_code)
{
	if (!c || !method || !path || path[0] != '/' || !out || !http_code)
		return -EINVAL;
	struct kube_request rq = {
		.method = method,
		.path = path,
		.headers = headers,
		.body = body,
		.body_len = body_len,
		.out = out,
	};
	return kube_exchange(c, &rq, http_code, NULL);
}

int kube_get_bounded(struct kube_client *c, const char *path,
		     unsigned timeout_ms, unsigned retry_budget_ms,
		     struct buf *out, int *http_code)
{
	if (!c || !path || path[0] != '/' || !out || !http_code)
		return -EINVAL;
	struct kube_request rq = {
		.method = "GET",
		.path = path,
		.out = out,
		.timeout_ms = timeout_ms,
		.retry_budget_ms = retry_budget_ms,
		.quiet = true,
	};
	return kube_exchange(c, &rq, http_code, NULL);
}
