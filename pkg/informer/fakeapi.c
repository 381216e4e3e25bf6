/*
 * One thread accepts; each connection gets its own thread, tracked in a
 * slot table so that fakeapi_stop() can shut the sockets and join them.
 * One mutex guards the store and the event history; watchers wait on a
 * condition variable for new history entries.
 */
#include "fakeapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pkg/buf/buf.h"
#include "pkg/util/util.h"

#define MAX_CONN 64
#define MAX_HISTORY 100000

struct object {
	struct object *next;
	char *coll; /* "/api/v1|configmaps" */
	char *ns;   /* "" for cluster-scoped */
	char *name;
	cJSON *obj;
};

struct event {
	char *coll, *ns;
	const char *type;
	cJSON *obj;
	long rv;
};

struct conn {
	struct fakeapi *f;
	int fd;
	pthread_t thread;
	bool used, done, watching;
	unsigned drop_gen;
};

struct fakeapi {
	int lfd, port;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping, down;
	long rv, compacted;
	unsigned uid_seq;
	struct object *objects;
	struct event *history;
	size_t nhistory;
	unsigned drop_gen;
	int fail_n, fail_status;
	/* A persistent fault: requests with this method whose path contains
	 * the needle answer match_status (0 = off). */
	char match_method[8], match_needle[128];
	int match_status;
	struct conn conns[MAX_CONN];
	struct log_entry { char method[8]; char *path; } *log;
	size_t nlog, alog;
};

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void respond(int fd, int status, const char *body)
{
	char head[256];
	size_t n = strlen(body);
	int hn = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			  status, n);
	send_all(fd, head, (size_t)hn);
	send_all(fd, body, n);
}

static void respond_json(int fd, int status, const cJSON *doc)
{
	char *s = cJSON_PrintUnformatted(doc);
	respond(fd, status, s);
	free(s);
}

static void respond_status(int fd, int code, const char *reason,
			   const char *msg)
{
	cJSON *st = cJSON_CreateObject();
	cJSON_AddStringToObject(st, "kind", "Status");
	cJSON_AddStringToObject(st, "apiVersion", "v1");
	cJSON_AddStringToObject(st, "status", "Failure");
	cJSON_AddStringToObject(st, "message", msg);
	cJSON_AddStringToObject(st, "reason", reason);
	cJSON_AddNumberToObject(st, "code", code);
	respond_json(fd, code, st);
	cJSON_Delete(st);
}

/* ---- paths ---- */

struct target {
	char coll[256]; /* base|res */
	char ns[128];
	char name[256];
	char sub[32];   /* subresource ("status"), written as the object */
	bool ok;
};

/* Splits /api/v1/..., /apis/g/v/... into collection, namespace, name. */
static struct target parse_path(const char *path)
{
	struct target t = { 0 };
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", path);
	char *seg[10];
	int n = 0;
	for (char *save, *p = strtok_r(copy, "/", &save); p && n < 10;
	     p = strtok_r(NULL, "/", &save))
		seg[n++] = p;
	int i;
	char base[128];
	if (n >= 2 && strcmp(seg[0], "api") == 0) {
		snprintf(base, sizeof(base), "/api/%s", seg[1]);
		i = 2;
	} else if (n >= 3 && strcmp(seg[0], "apis") == 0) {
		snprintf(base, sizeof(base), "/apis/%s/%s", seg[1], seg[2]);
		i = 3;
	} else {
		return t;
	}
	if (n - i >= 3 && strcmp(seg[i], "namespaces") == 0) {
		snprintf(t.ns, sizeof(t.ns), "%s", seg[i + 1]);
		i += 2;
	}
	if (n - i < 1 || n - i > 3)
		return t;
	snprintf(t.coll, sizeof(t.coll), "%s|%s", base, seg[i]);
	if (n - i >= 2)
		snprintf(t.name, sizeof(t.name), "%s", seg[i + 1]);
	if (n - i == 3)
		snprintf(t.sub, sizeof(t.sub), "%s", seg[i + 2]);
	t.ok = true;
	return t;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The decoded value of a query parameter into out ("" when absent). */
static void query_param(const char *query, const char *key, char *out,
			size_t outsz)
{
	out[0] = '\0';
	size_t kl = strlen(key);
	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t o = 0;
			for (size_t i = kl + 1; i < len && o + 1 < outsz; i++) {
				if (p[i] == '%' && i + 2 < len + 1 &&
				    hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
					out[o++] = (char)(hexval(p[i + 1]) * 16 +
							  hexval(p[i + 2]));
					i += 2;
				} else {
					out[o++] = p[i] == '+' ? ' ' : p[i];
				}
			}
			out[o] = '\0';
			return;
		}
		p = amp ? amp + 1 : NULL;
	}
}

/* ---- store ---- */

static cJSON *md_of(cJSON *obj)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!md)
		md = cJSON_AddObjectToObject(obj, "metadata");
	return md;
}

static const char *md_str(const cJSON *obj, const char *k)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_str(cJSON *o, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddStringToObject(o, k, v);
}

static struct object *find(struct fakeapi *f, const char *coll,
			   const char *ns, const char *name)
{
	for (struct object *o = f->objects; o; o = o->next)
		if (!strcmp(o->coll, coll) && !strcmp(o->ns, ns) &&
		    !strcmp(o->name, name))
			return o;
	return NULL;
}

/* Records a change (lock held): bumps the resourceVersion, stamps it on
 * obj and appends a history entry with a copy. */
static long record(struct fakeapi *f, const char *coll, const char *ns,
		   const char *type, cJSON *obj)
{
	long rv = ++f->rv;
	char s[32];
	snprintf(s, sizeof(s), "%ld", rv);
	set_str(md_of(obj), "resourceVersion", s);
	if (f->nhistory == MAX_HISTORY)
		abort();
	if (f->nhistory % 1024 == 0) {
		f->history = realloc(f->history, (f->nhistory + 1024) * sizeof(*f->history));
		if (!f->history)
			abort();
	}
	f->history[f->nhistory++] = (struct event){
		util_xstrdup(coll ? coll : ""), util_xstrdup(ns ? ns : ""), type, cJSON_Duplicate(obj, 1), rv };
	pthread_cond_broadcast(&f->cond);
	return rv;
}

static void stamp_new(struct fakeapi *f, cJSON *obj, const char *ns)
{
	cJSON *md = md_of(obj);
	char uid[64];
	snprintf(uid, sizeof(uid), "00000000-0000-0000-0000-%012u", ++f->uid_seq);
	set_str(md, "uid", uid);
	set_str(md, "creationTimestamp", "2026-01-01T00:00:00Z");
	if (*ns)
		set_str(md, "namespace", ns);
}

static long upsert_locked(struct fakeapi *f, const char *coll, const char *ns,
			  cJSON *obj)
{
	const char *name = md_str(obj, "name");
	if (!name)
		return -EINVAL;
	struct object *o = find(f, coll, ns, name);
	if (!o) {
		o = calloc(1, sizeof(*o));
		o->coll = util_xstrdup(coll ? coll : "");
		o->ns = util_xstrdup(ns ? ns : "");
		o->name = util_xstrdup(name ? name : "");
		o->next = f->objects;
		f->objects = o;
		stamp_new(f, obj, ns);
		o->obj = obj;
		return record(f, coll, ns, "ADDED", obj);
	}
	cJSON *md = md_of(obj);
	set_str(md, "uid", md_str(o->obj, "uid"));
	set_str(md, "creationTimestamp", "2026-01-01T00:00:00Z");
	if (*ns)
		set_str(md, "namespace", ns);
	cJSON_Delete(o->obj);
	o->obj = obj;
	return record(f, coll, ns, "MODIFIED", obj);
}

static int remove_locked(struct fakeapi *f, const char *coll, const char *ns,
			 const char *name)
{
	for (struct object **pp = &f->objects; *pp; pp = &(*pp)->next) {
		struct object *o = *pp;
		if (strcmp(o->coll, coll) || strcmp(o->ns, ns) ||
		    strcmp(o->name, name))
			continue;
		*pp = o->next;
		record(f, coll, ns, "DELETED", o->obj);
		cJSON_Delete(o->obj);
		free(o->coll);
		free(o->ns);
		free(o->name);
		free(o);
		return 0;
	}
	return -ENOENT;
}

static void coll_of(char *out, size_t n, const char *base, const char *res)
{
	snprintf(out, n, "%s|%s", base, res);
}

long fakeapi_upsert(struct fakeapi *f, const char *base, const char *res,
		    const char *ns, const cJSON *obj)
{
	char coll[256];
	coll_of(coll, sizeof(coll), base, res);
	pthread_mutex_lock(&f->lock);
	cJSON *copy = cJSON_Duplicate(obj, 1);
	long rv = upsert_locked(f, coll, ns ? ns : "", copy);
	if (rv < 0)
		cJSON_Delete(copy);
	pthread_mutex_unlock(&f->lock);
	return rv;
}

int fakeapi_remove(struct fakeapi *f, const char *base, const char *res,
		   const char *ns, const char *name)
{
	char coll[256];
	coll_of(coll, sizeof(coll), base, res);
	pthread_mutex_lock(&f->lock);
	int rc = remove_locked(f, coll, ns ? ns : "", name);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

cJSON *fakeapi_get(struct fakeapi *f, const char *base, const char *res,
		   const char *ns, const char *name)
{
	char coll[256];
	coll_of(coll, sizeof(coll), base, res);
	pthread_mutex_lock(&f->lock);
	struct object *o = find(f, coll, ns ? ns : "", name);
	cJSON *copy = o ? cJSON_Duplicate(o->obj, 1) : NULL;
	pthread_mutex_unlock(&f->lock);
	return copy;
}

/* ---- label selectors: k=v[,k=v] and k (exists) ---- */

static bool matches(const cJSON *obj, const char *sel)
{
	if (!*sel)
		return true;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", sel);
	for (char *save, *term = strtok_r(copy, ",", &save); term;
	     term = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(term, '=');
		if (eq)
			*eq = '\0';
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, term);
		if (!cJSON_IsString(v))
			return false;
		if (eq && strcmp(v->valuestring, eq[1] == '=' ? eq + 2 : eq + 1))
			return false;
	}
	return true;
}

/* ---- handlers ---- */

static bool in_scope(const char *coll, const char *ns, const char *ocoll,
		     const char *ons)
{
	return !strcmp(coll, ocoll) && (!*ns || !strcmp(ns, ons));
}

static void do_list(struct fakeapi *f, int fd, const struct target *t,
		    const char *sel)
{
	cJSON *list = cJSON_CreateObject();
	cJSON_AddStringToObject(list, "kind", "List");
	cJSON_AddStringToObject(list, "apiVersion", "v1");
	cJSON *md = cJSON_AddObjectToObject(list, "metadata");
	cJSON *items = cJSON_AddArrayToObject(list, "items");
	pthread_mutex_lock(&f->lock);
	char rv[32];
	snprintf(rv, sizeof(rv), "%ld", f->rv);
	cJSON_AddStringToObject(md, "resourceVersion", rv);
	for (struct object *o = f->objects; o; o = o->next)
		if (in_scope(t->coll, t->ns, o->coll, o->ns) && matches(o->obj, sel))
			cJSON_AddItemToArray(items, cJSON_Duplicate(o->obj, 1));
	pthread_mutex_unlock(&f->lock);
	respond_json(fd, 200, list);
	cJSON_Delete(list);
}

static bool send_event(int fd, const char *type, const cJSON *obj)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddItemToObject(ev, "object", cJSON_Duplicate(obj, 1));
	char *s = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	size_t n = strlen(s);
	s = realloc(s, n + 2);
	s[n] = '\n';
	ssize_t w = send(fd, s, n + 1, MSG_NOSIGNAL);
	free(s);
	return w == (ssize_t)(n + 1);
}

static void send_gone(int fd, long rv)
{
	cJSON *st = cJSON_CreateObject();
	cJSON_AddStringToObject(st, "kind", "Status");
	cJSON_AddStringToObject(st, "apiVersion", "v1");
	cJSON_AddStringToObject(st, "status", "Failure");
	char msg[96];
	snprintf(msg, sizeof(msg), "too old resource version: %ld", rv);
	cJSON_AddStringToObject(st, "message", msg);
	cJSON_AddStringToObject(st, "reason", "Expired");
	cJSON_AddNumberToObject(st, "code", 410);
	send_event(fd, "ERROR", st);
	cJSON_Delete(st);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Streams history after rv until the timeout, a drop fault, the client
 * going away or the server stopping. */
static void do_watch(struct fakeapi *f, struct conn *c, const struct target *t,
		     const char *sel, long rv, long timeout_s, bool bookmarks)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Connection: close\r\n\r\n";
	send_all(c->fd, head, strlen(head));
	pthread_mutex_lock(&f->lock);
	c->watching = true;
	unsigned gen = f->drop_gen;
	if (rv < f->compacted) {
		pthread_mutex_unlock(&f->lock);
		send_gone(c->fd, rv);
		goto out;
	}
	size_t next = 0;
	while (next < f->nhistory && f->history[next].rv <= rv)
		next++;
	uint64_t deadline = mono_ms() + (uint64_t)timeout_s * 1000;
	bool bookmarked = false;
	for (;;) {
		while (next < f->nhistory) {
			struct event *e = &f->history[next++];
			if (!in_scope(t->coll, t->ns, e->coll, e->ns) ||
			    !matches(e->obj, sel))
				continue;
			cJSON *copy = cJSON_Duplicate(e->obj, 1);
			const char *type = e->type;
			pthread_mutex_unlock(&f->lock);
			bool ok = send_event(c->fd, type, copy);
			cJSON_Delete(copy);
			pthread_mutex_lock(&f->lock);
			if (!ok)
				goto unlock;
		}
		if (bookmarks && !bookmarked) {
			cJSON *bm = cJSON_CreateObject();
			cJSON *md = cJSON_AddObjectToObject(bm, "metadata");
			char s[32];
			snprintf(s, sizeof(s), "%ld", f->rv);
			cJSON_AddStringToObject(md, "resourceVersion", s);
			pthread_mutex_unlock(&f->lock);
			send_event(c->fd, "BOOKMARK", bm);
			cJSON_Delete(bm);
			pthread_mutex_lock(&f->lock);
			bookmarked = true;
			continue;
		}
		if (f->stopping || f->drop_gen != gen || mono_ms() >= deadline)
			break;
		/* Wake up every 100 ms to notice a client that went away. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) > 0)
			break; /* EOF or unexpected bytes: the client left */
	}
unlock:
	pthread_mutex_unlock(&f->lock);
out:
	pthread_mutex_lock(&f->lock);
	c->watching = false;
	pthread_mutex_unlock(&f->lock);
}

/* RFC 7386 merge patch. */
static void merge_patch(cJSON *target, const cJSON *patch)
{
	const cJSON *p;
	cJSON_ArrayForEach(p, patch) {
		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
			continue;
		}
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);
		if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
			merge_patch(t, p);
			continue;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
		cJSON_AddItemToObject(target, p->string, cJSON_Duplicate(p, 1));
	}
}

/* apply: a server-side apply PATCH (fieldManager given), which creates a
 * missing object as the API server does. */
static void do_write(struct fakeapi *f, int fd, const char *method,
		     const struct target *t, const char *body, bool apply)
{
	cJSON *obj = body ? cJSON_Parse(body) : NULL;
	if (strcmp(method, "DELETE") != 0 && !cJSON_IsObject(obj)) {
		respond_status(fd, 400, "BadRequest", "body is not a JSON object");
		cJSON_Delete(obj);
		return;
	}
	pthread_mutex_lock(&f->lock);
	const char *name = *t->name ? t->name : md_str(obj, "name");
	struct object *o = name ? find(f, t->coll, t->ns, name) : NULL;
	int code = 200;
	const char *reason = NULL;
	if (!strcmp(method, "POST")) {
		if (!name)
			code = 422, reason = "Invalid";
		else if (o)
			code = 409, reason = "AlreadyExists";
		else
			code = 201;
	} else if (!o && apply && !strcmp(method, "PATCH")) {
		code = 201;
	} else if (!o) {
		code = 404, reason = "NotFound";
	} else if (!strcmp(method, "PUT")) {
		const char *want = md_str(obj, "resourceVersion");
		if (want && strcmp(want, md_str(o->obj, "resourceVersion")))
			code = 409, reason = "Conflict";
	}
	if (reason) {
		pthread_mutex_unlock(&f->lock);
		respond_status(fd, code, reason, reason);
		cJSON_Delete(obj);
		return;
	}
	if (!strcmp(method, "DELETE")) {
		cJSON *copy = cJSON_Duplicate(o->obj, 1);
		remove_locked(f, t->coll, t->ns, name);
		pthread_mutex_unlock(&f->lock);
		respond_json(fd, 200, copy);
		cJSON_Delete(copy);
		cJSON_Delete(obj);
		return;
	}
	if (!strcmp(method, "PATCH") && o) {
		cJSON *merged = cJSON_Duplicate(o->obj, 1);
		merge_patch(merged, obj);
		cJSON_Delete(obj);
		obj = merged;
	}
	upsert_locked(f, t->coll, t->ns, obj);
	cJSON *copy = cJSON_Duplicate(obj, 1);
	pthread_mutex_unlock(&f->lock);
	respond_json(fd, code, copy);
	cJSON_Delete(copy);
}

static void handle(struct fakeapi *f, struct conn *c, const char *method,
		   const char *target, const char *body)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s", target);
	char *q = strchr(path, '?');
	const char *query = "";
	if (q) {
		*q = '\0';
		query = target + (q - path) + 1;
	}
	pthread_mutex_lock(&f->lock);
	if (f->nlog == f->alog) {
		f->alog = f->alog ? f->alog * 2 : 64;
		f->log = realloc(f->log, f->alog * sizeof(*f->log));
	}
	snprintf(f->log[f->nlog].method, sizeof(f->log[0].method), "%s", method);
	f->log[f->nlog++].path = util_xstrdup(target ? target : "");
	int fail = 0;
	if (f->down) {
		fail = 503;
	} else if (f->fail_n > 0) {
		f->fail_n--;
		fail = f->fail_status;
	} else if (f->match_status && !strcmp(method, f->match_method) &&
		   strstr(target, f->match_needle)) {
		fail = f->match_status;
	}
	pthread_mutex_unlock(&f->lock);
	if (fail) {
		respond_status(c->fd, fail, fail == 503 ? "ServiceUnavailable" : "InternalError",
			       "injected fault");
		return;
	}
	if (!strcmp(path, "/version")) {
		respond(c->fd, 200, "{\"major\":\"1\",\"minor\":\"31\",\"gitVersion\":\"v1.31.0-fake\"}");
		return;
	}
	struct target t = parse_path(path);
	if (!t.ok) {
		respond_status(c->fd, 404, "NotFound", "no such path");
		return;
	}
	char sel[512], watch[16], rv[32], timeout[16], bm[16], fm[64];
	query_param(query, "labelSelector", sel, sizeof(sel));
	query_param(query, "watch", watch, sizeof(watch));
	query_param(query, "resourceVersion", rv, sizeof(rv));
	query_param(query, "timeoutSeconds", timeout, sizeof(timeout));
	query_param(query, "allowWatchBookmarks", bm, sizeof(bm));
	query_param(query, "fieldManager", fm, sizeof(fm));
	if (strcmp(method, "GET") != 0) {
		do_write(f, c->fd, method, &t, body, *fm != '\0');
	} else if (*t.name) {
		cJSON *obj = NULL;
		pthread_mutex_lock(&f->lock);
		struct object *o = find(f, t.coll, t.ns, t.name);
		if (o)
			obj = cJSON_Duplicate(o->obj, 1);
		pthread_mutex_unlock(&f->lock);
		if (obj)
			respond_json(c->fd, 200, obj);
		else
			respond_status(c->fd, 404, "NotFound", "not found");
		cJSON_Delete(obj);
	} else if (!strcmp(watch, "1") || !strcmp(watch, "true")) {
		long from = *rv ? strtol(rv, NULL, 10) : f->rv;
		long to = *timeout ? strtol(timeout, NULL, 10) : 300;
		do_watch(f, c, &t, sel, from, to, !strcmp(bm, "true") || !strcmp(bm, "1"));
	} else {
		do_list(f, c->fd, &t, sel);
	}
}

/* Reads one request: head up to 64 KiB, body by Content-Length. */
static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct buf in;
	buf_init(&in, 8 << 20);
	char chunk[8192];
	char *end = NULL;
	while (!(end = strstr(buf_str(&in), "\r\n\r\n"))) {
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n <= 0 || buf_append(&in, chunk, (size_t)n) < 0)
			goto out;
	}
	size_t head_len = (size_t)(end - in.data) + 4;
	size_t clen = 0;
	const char *cl = strcasestr(in.data, "\r\nContent-Length:");
	if (cl && cl < end)
		clen = strtoul(cl + 17, NULL, 10);
	while (in.len < head_len + clen) {
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n <= 0 || buf_append(&in, chunk, (size_t)n) < 0)
			goto out;
	}
	char method[8] = "", target[1024] = "";
	const char *sp1 = strchr(in.data, ' ');
	const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp2 || (size_t)(sp1 - in.data) >= sizeof(method) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(target))
		goto out;
	memcpy(method, in.data, (size_t)(sp1 - in.data));
	memcpy(target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	handle(c->f, c, method, target, clen ? in.data + head_len : NULL);
out:
	buf_free(&in);
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->f->lock);
	c->done = true;
	pthread_mutex_unlock(&c->f->lock);
	return NULL;
}

/* Joins finished connection threads (lock held) and returns a free slot. */
static struct conn *reap(struct fakeapi *f)
{
	struct conn *free_slot = NULL;
	for (int i = 0; i < MAX_CONN; i++) {
		struct conn *c = &f->conns[i];
		if (c->used && c->done) {
			pthread_join(c->thread, NULL);
			close(c->fd);
			c->used = false;
		}
		if (!c->used && !free_slot)
			free_slot = c;
	}
	return free_slot;
}

static void *acceptor(void *arg)
{
	struct fakeapi *f = arg;
	for (;;) {
		int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_mutex_lock(&f->lock);
		if (f->stopping) {
			pthread_mutex_unlock(&f->lock);
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		if (fd < 0) {
			pthread_mutex_unlock(&f->lock);
			continue;
		}
		struct conn *c = reap(f);
		if (!c) {
			pthread_mutex_unlock(&f->lock);
			close(fd);
			continue;
		}
		*c = (struct conn){ .f = f, .fd = fd, .used = true };
		pthread_create(&c->thread, NULL, conn_main, c);
		pthread_mutex_unlock(&f->lock);
	}
}

int fakeapi_start(struct fakeapi **out)
{
	struct fakeapi *f = calloc(1, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->rv = 1000;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(f->lfd, 64) ||
	    getsockname(f->lfd, (struct sockaddr *)&sa, &sl)) {
		close(f->lfd);
		free(f);
		return -errno;
	}
	f->port = ntohs(sa.sin_port);
	pthread_create(&f->acceptor, NULL, acceptor, f);
	*out = f;
	return 0;
}

void fakeapi_stop(struct fakeapi *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_cond_broadcast(&f->cond);
	for (int i = 0; i < MAX_CONN; i++)
		if (f->conns[i].used)
			shutdown(f->conns[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&f->lock);
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->acceptor, NULL);
	close(f->lfd);
	for (int i = 0; i < MAX_CONN; i++) {
		if (!f->conns[i].used)
			continue;
		pthread_join(f->conns[i].thread, NULL);
		close(f->conns[i].fd);
	}
	while (f->objects) {
		struct object *o = f->objects;
		f->objects = o->next;
		cJSON_Delete(o->obj);
		free(o->coll);
		free(o->ns);
		free(o->name);
		free(o);
	}
	for (size_t i = 0; i < f->nhistory; i++) {
		free(f->history[i].coll);
		free(f->history[i].ns);
		cJSON_Delete(f->history[i].obj);
	}
	for (size_t i = 0; i < f->nlog; i++)
		free(f->log[i].path);
	free(f->log);
	free(f->history);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
}

int fakeapi_port(const struct fakeapi *f)
{
	return f->port;
}

char *fakeapi_kubeconfig(const struct fakeapi *f)
{
	struct buf b;
	buf_init(&b, 4096);
	buf_putf(&b,
		   "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
		   "clusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:%d\n"
		   "users:\n- name: fake\n  user:\n    token: fake-token\n"
		   "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
		   "    namespace: default\n",
		   f->port);
	if (buf_error(&b)) /* a fixed text of ~300 bytes in 4 KiB */
		abort();
	return buf_take(&b);
}

void fakeapi_drop_watches(struct fakeapi *f)
{
	pthread_mutex_lock(&f->lock);
	f->drop_gen++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void fakeapi_compact(struct fakeapi *f)
{
	pthread_mutex_lock(&f->lock);
	f->compacted = f->rv;
	pthread_mutex_unlock(&f->lock);
}

void fakeapi_fail_next(struct fakeapi *f, int n, int status)
{
	pthread_mutex_lock(&f->lock);
	f->fail_n = n;
	f->fail_status = status;
	pthread_mutex_unlock(&f->lock);
}

void fakeapi_fail_matching(struct fakeapi *f, const char *method,
			   const char *needle, int status)
{
	pthread_mutex_lock(&f->lock);
	snprintf(f->match_method, sizeof(f->match_method), "%s", method ? method : "");
	snprintf(f->match_needle, sizeof(f->match_needle), "%s", needle ? needle : "");
	f->match_status = status;
	pthread_mutex_unlock(&f->lock);
}

void fakeapi_set_down(struct fakeapi *f, bool down)
{
	pthread_mutex_lock(&f->lock);
	f->down = down;
	pthread_mutex_unlock(&f->lock);
}

unsigned fakeapi_count(struct fakeapi *f, const char *method,
		       const char *needle)
{
	unsigned n = 0;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nlog; i++)
		if ((!method || !strcmp(method, f->log[i].method)) &&
		    (!needle || strstr(f->log[i].path, needle)))
			n++;
	pthread_mutex_unlock(&f->lock);
	return n;
}

unsigned fakeapi_watchers(struct fakeapi *f)
{
	unsigned n = 0;
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < MAX_CONN; i++)
		if (f->conns[i].used && f->conns[i].watching)
			n++;
	pthread_mutex_unlock(&f->lock);
	return n;
}
