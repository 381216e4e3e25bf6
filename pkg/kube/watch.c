/*
 * Watches: one long GET whose body is fed to the framer as it arrives.
 *
 * Cancellation from another thread sets an atomic flag. libcurl polls the
 * transfer's progress callback at least about once a second even when no
 * data flows, and the callback aborts the transfer when the flag is set;
 * the retry and rate-limit sleeps check the same flag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"

struct kube_watch {
	struct kube_client *c;
	struct kube_resource r;
	char *ns;
	char *label_selector;
	char *field_selector;
	unsigned timeout_seconds;
	bool bookmarks;
	size_t max_event;
	kube_watch_cb cb;
	void *userdata;
	atomic_bool cancel;
	char rv[KUBE_MAX_RV];
	/* per run */
	struct kube_wdec dec;
	int stop_err;
	bool cb_stopped;  /* the callback asked to stop: not an error */
	struct kube_status st;
};

static int event_type(const char *s, enum kube_event_type *out)
{
	static const struct {
		const char *name;
		enum kube_event_type type;
	} types[] = {
		{ "ADDED", KUBE_EVENT_ADDED },
		{ "MODIFIED", KUBE_EVENT_MODIFIED },
		{ "DELETED", KUBE_EVENT_DELETED },
		{ "BOOKMARK", KUBE_EVENT_BOOKMARK },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strcmp(s, types[i].name)) {
			*out = types[i].type;
			return 0;
		}
	}
	return -EBADMSG;
}

static void record_rv(const cJSON *obj, char *rv)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
	if (cJSON_IsString(v) && strlen(v->valuestring) < KUBE_MAX_RV)
		snprintf(rv, KUBE_MAX_RV, "%s", v->valuestring);
}

int kube_watch_dispatch(cJSON *event, kube_watch_cb cb, void *userdata,
			char *rv, struct kube_status *st)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
	cJSON *obj = cJSON_GetObjectItemCaseSensitive(event, "object");
	int err = -EBADMSG;
	if (!cJSON_IsString(type) || !cJSON_IsObject(obj))
		goto out;
	if (!strcmp(type->valuestring, "ERROR")) {
		/* A Status: 410 Expired/Gone means the resourceVersion we
		 * resumed from is compacted away. */
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "reason");
		bool expired = cJSON_IsString(r) &&
			       (!strcmp(r->valuestring, "Expired") ||
				!strcmp(r->valuestring, "Gone"));
		err = kube_status_from_json(obj, expired ? 410 : 500, st);
		if (!err)
			err = -EIO;
		goto out;
	}
	enum kube_event_type t;
	err = event_type(type->valuestring, &t);
	if (err)
		goto out;
	record_rv(obj, rv);
	cJSON_DetachItemViaPointer(event, obj);
	err = cb(userdata, t, obj);
out:
	cJSON_Delete(event);
	return err;
}

static int user_cb(void *userdata, enum kube_event_type t, cJSON *obj)
{
	struct kube_watch *w = userdata;
	int ret = w->cb(w->userdata, t, obj);
	w->cb_stopped = ret != 0;
	return ret;
}

static int on_event(void *userdata, cJSON *event)
{
	struct kube_watch *w = userdata;
	return kube_watch_dispatch(event, user_cb, w, w->rv, &w->st);
}

static int on_data(void *userdata, const char *data, size_t len)
{
	struct kube_watch *w = userdata;
	int err = kube_wdec_feed(&w->dec, data, len);
	if (err)
		w->stop_err = err;
	return err;
}

int kube_watch_new(struct kube_client *c, const struct kube_resource *r,
		   const char *ns, const struct kube_watch_options *opts,
		   kube_watch_cb cb, void *userdata, struct kube_watch **out)
{
	static const struct kube_watch_options none;
	if (!opts)
		opts = &none;
	if (!c || !r || !cb || (opts->resource_version &&
				strlen(opts->resource_version) >= KUBE_MAX_RV))
		return -EINVAL;
	struct kube_watch *w = util_xcalloc(1, sizeof(*w));
	w->c = c;
	w->r = *r;
	w->ns = r->namespaced ? util_xstrdup(ns) : NULL;
	w->label_selector = util_xstrdup(opts->label_selector);
	w->field_selector = util_xstrdup(opts->field_selector);
	w->timeout_seconds = opts->timeout_seconds ? opts->timeout_seconds : 300;
	w->bookmarks = opts->bookmarks;
	w->max_event = opts->max_event ? opts->max_event : 16u << 20;
	w->cb = cb;
	w->userdata = userdata;
	atomic_init(&w->cancel, false);
	if (opts->resource_version)
		snprintf(w->rv, sizeof(w->rv), "%s", opts->resource_version);
	*out = w;
	return 0;
}

static int watch_path(const struct kube_watch *w, struct buf *p)
{
	char n[16];
	int err = kube_path(p, &w->r, w->ns, NULL, NULL);
	snprintf(n, sizeof(n), "%u", w->timeout_seconds);
	if (!err)
		err = kube_query_add(p, "watch", "1");
	if (!err && w->rv[0])
		err = kube_query_add(p, "resourceVersion", w->rv);
	if (!err)
		err = kube_query_add(p, "timeoutSeconds", n);
	if (!err && w->bookmarks)
		err = kube_query_add(p, "allowWatchBookmarks", "true");
	if (!err && w->label_selector)
		err = kube_query_add(p, "labelSelector", w->label_selector);
	if (!err && w->field_selector)
		err = kube_query_add(p, "fieldSelector", w->field_selector);
	return err;
}

int kube_watch_run(struct kube_watch *w)
{
	struct buf path, errbody;
	buf_init(&path, 8192);
	buf_init(&errbody, KUBE_MAX_ERROR_BODY);
	int err = watch_path(w, &path);
	if (err)
		goto out;
	kube_wdec_init(&w->dec, w->max_event, on_event, w);
	w->stop_err = 0;
	w->cb_stopped = false;
	memset(&w->st, 0, sizeof(w->st));
	struct kube_request rq = {
		.method = "GET",
		.path = buf_str(&path),
		.out = &errbody,
		.stream = on_data,
		.stream_userdata = w,
		/* The server ends the watch after timeoutSeconds; the client
		 * limit only catches a connection that went silent. */
		.timeout_ms = (w->timeout_seconds + 30u) * 1000u,
		.cancel = &w->cancel,
	};
	int code = 0;
	err = kube_exchange(w->c, &rq, &code, &w->st);
	if (w->stop_err)
		err = w->stop_err;
	else if (!err && (code < 200 || code > 299))
		err = kube_status_from_response(code, errbody.data, errbody.len,
						&w->st);
	else if (!err)
		err = kube_wdec_finish(&w->dec);
	kube_wdec_free(&w->dec);
	if (err == KUBE_EGONE)
		log_info(w->c->log, "watch %s: resourceVersion expired, relist",
			 buf_str(&path));
	else if (err && err != -ECANCELED && !w->cb_stopped)
		log_warn(w->c->log, "watch %s: %s (%d %s: %s)", buf_str(&path),
			 kube_strerror(err), w->st.code, w->st.reason,
			 w->st.message);
out:
	buf_free(&path);
	buf_free(&errbody);
	return err;
}

void kube_watch_cancel(struct kube_watch *w)
{
	if (w)
		atomic_store(&w->cancel, true);
}

const char *kube_watch_resource_version(const struct kube_watch *w)
{
	return w->rv;
}

int kube_watch_set_resource_version(struct kube_watch *w, const char *rv)
{
	if (rv && strlen(rv) >= KUBE_MAX_RV)
		return -EINVAL;
	snprintf(w->rv, sizeof(w->rv), "%s", rv ? rv : "");
	return 0;
}

void kube_watch_free(struct kube_watch *w)
{
	if (!w)
		return;
	free(w->ns);
	free(w->label_selector);
	free(w->field_selector);
	free(w);
}
