/*
 * recorder_event() formats the note, copies what it needs from the
 * regarding object into a pending record and appends it to a bounded ring;
 * when the ring is full the event is dropped and counted. The writer
 * thread drains the ring: it applies the spam filter (a token bucket, burst
 * 25, one token per 5 minutes, as client-go's), and either
 * creates a new Event or, for a repeat seen within the series window,
 * patches the existing Event's series (count, lastObservedTime) as the
 * events.k8s.io/v1 recorder does.
 */
#include "events.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/util/util.h"

#define NOTE_MAX 1024           /* the API rejects longer notes */
#define SERIES_WINDOW_MS (6u * 60 * 1000)
#define SPAM_BURST 25.0
#define SPAM_REFILL_MS (5.0 * 60 * 1000)
#define MAX_TRACKED 4096        /* aggregation and spam entries kept */
#define FLUSH_MS 2000

static const struct kube_resource events_res = {
	.group = "events.k8s.io", .version = "v1", .resource = "events",
	.kind = "Event", .namespaced = true,
};

struct pending {
	char api_version[128], kind[64], ns[128], name[256], uid[64], rv[64];
	char type[16], reason[128], action[128];
	char note[NOTE_MAX];
};

/* One aggregation key: a series or a spam bucket, or both. */
struct tracked {
	struct tracked *next;
	char *key;             /* series: object+type+reason+action+note; spam: object+type+reason */
	char event_name[300];  /* the Event written for this series */
	char ns[128];
	unsigned count;
	uint64_t last_ms;
	double tokens;         /* spam bucket */
};

struct recorder {
	struct kube_client *client;
	struct recorder_options opts;
	char *controller, *instance;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	/* Queued events, each allocated when recorded and freed once
	 * written: a ring of whole records (2 KB each) would keep every slot
	 * the head ever passed resident, 2 MB for the default 1,000. */
	struct pending **ring;
	unsigned head, len, cap;
	bool stop, busy;
	unsigned long dropped, written;
	struct tracked *series, *spam;
	unsigned nseries, nspam;
	unsigned seq;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void copy_str(char *dst, size_t n, const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

void recorder_event(struct recorder *r, const cJSON *regarding,
		    const char *type, const char *reason, const char *action,
		    const char *fmt, ...)
{
	if (!r || !regarding)
		return;
	struct pending p;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(regarding, "metadata");
	copy_str(p.api_version, sizeof(p.api_version), regarding, "apiVersion");
	copy_str(p.kind, sizeof(p.kind), regarding, "kind");
	copy_str(p.ns, sizeof(p.ns), md, "namespace");
	copy_str(p.name, sizeof(p.name), md, "name");
	copy_str(p.uid, sizeof(p.uid), md, "uid");
	copy_str(p.rv, sizeof(p.rv), md, "resourceVersion");
	snprintf(p.type, sizeof(p.type), "%s", type ? type : "Normal");
	snprintf(p.reason, sizeof(p.reason), "%s", reason ? reason : "");
	snprintf(p.action, sizeof(p.action), "%s", action ? action : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p.note, sizeof(p.note), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&r->lock);
	if (r->stop || r->len == r->cap) {
		r->dropped++;
	} else {
		struct pending *q = util_xmalloc(sizeof(*q));
		*q = p;
		r->ring[(r->head + r->len) % r->cap] = q;
		r->len++;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Finds or creates an entry in list; evicts the least recently used when
 * the list is full. Writer thread only. */
static struct tracked *track(struct tracked **list, unsigned *n,
			     const char *key, bool *created)
{
	struct tracked **pp = list, **oldest = NULL;
	for (; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			*created = false;
			return *pp;
		}
		if (!oldest || (*pp)->last_ms < (*oldest)->last_ms)
			oldest = pp;
	}
	if (*n >= MAX_TRACKED && oldest) {
		struct tracked *t = *oldest;
		*oldest = t->next;
		free(t->key);
		free(t);
		(*n)--;
	}
	struct tracked *t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->key = util_xstrdup(key ? key : "");
	t->next = *list;
	*list = t;
	(*n)++;
	*created = true;
	return t;
}

static bool spam_allows(struct recorder *r, const struct pending *p)
{
	/* One bucket per object, type and reason. client-go keys it by the
	 * object (and type) alone; here a burst of one reason (an upgrade's
	 * RestartingPod, one per pod) must not silence the others on the same
	 * PostHog, such as BucketsAdded, for five minutes a token. */
	char key[900];
	snprintf(key, sizeof(key), "%s/%s/%s/%s/%s/%s", p->kind, p->ns, p->name, p->uid,
		 p->type, p->reason);
	bool created;
	struct tracked *t = track(&r->spam, &r->nspam, key, &created);
	uint64_t now = now_ms();
	if (created)
		t->tokens = SPAM_BURST;
	else
		t->tokens += (double)(now - t->last_ms) / SPAM_REFILL_MS;
	if (t->tokens > SPAM_BURST)
		t->tokens = SPAM_BURST;
	t->last_ms = now;
	if (t->tokens < 1)
		return false;
	t->tokens -= 1;
	return true;
}

static cJSON *build_event(struct recorder *r, const struct pending *p,
			  const char *ns, const char *name)
{
	char now[48];
	kube_micro_time_now(now);
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "apiVersion", "events.k8s.io/v1");
	cJSON_AddStringToObject(e, "kind", "Event");
	cJSON *md = cJSON_AddObjectToObject(e, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON_AddStringToObject(e, "eventTime", now);
	cJSON_AddStringToObject(e, "reportingController", r->controller);
	cJSON_AddStringToObject(e, "reportingInstance", r->instance);
	cJSON_AddStringToObject(e, "action", p->action);
	cJSON_AddStringToObject(e, "reason", p->reason);
	cJSON_AddStringToObject(e, "type", p->type);
	cJSON_AddStringToObject(e, "note", p->note);
	cJSON *reg = cJSON_AddObjectToObject(e, "regarding");
	cJSON_AddStringToObject(reg, "apiVersion", p->api_version);
	cJSON_AddStringToObject(reg, "kind", p->kind);
	if (*p->ns)
		cJSON_AddStringToObject(reg, "namespace", p->ns);
	cJSON_AddStringToObject(reg, "name", p->name);
	if (*p->uid)
		cJSON_AddStringToObject(reg, "uid", p->uid);
	if (*p->rv)
		cJSON_AddStringToObject(reg, "resourceVersion", p->rv);
	return e;
}

static int patch_series(struct recorder *r, struct tracked *t)
{
	char now[48];
	kube_micro_time_now(now);
	cJSON *patch = cJSON_CreateObject();
	cJSON *series = cJSON_AddObjectToObject(patch, "series");
	cJSON_AddNumberToObject(series, "count", t->count);
	cJSON_AddStringToObject(series, "lastObservedTime", now);
	struct kube_status st = { 0 };
	int rc = kube_merge_patch(r->client, &events_res, t->ns, t->event_name,
				  NULL, patch, NULL, &st);
	cJSON_Delete(patch);
	return rc;
}

static void write_one(struct recorder *r, const struct pending *p)
{
	if (!spam_allows(r, p)) {
		log_debug(r->opts.log, "events: dropped %s/%s %s (rate limited)",
			  p->ns, p->name, p->reason);
		return;
	}
	char key[2048];
	snprintf(key, sizeof(key), "%s/%s/%s/%s\x1f%s\x1f%s\x1f%s\x1f%s",
		 p->kind, p->ns, p->name, p->uid, p->type, p->reason,
		 p->action, p->note);
	bool created;
	struct tracked *t = track(&r->series, &r->nseries, key, &created);
	uint64_t now = now_ms();
	if (!created && now - t->last_ms < SERIES_WINDOW_MS) {
		t->count++;
		t->last_ms = now;
		if (patch_series(r, t) == 0)
			return;
		/* The Event is gone (expired, deleted): start a new one. */
	}
	const char *ns = *p->ns ? p->ns : "default";
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(t->event_name, sizeof(t->event_name), "%.200s.%llx%04x", p->name,
		 (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
		 r->seq++ & 0xffff);
	snprintf(t->ns, sizeof(t->ns), "%s", ns);
	t->count = 1;
	t->last_ms = now;
	cJSON *e = build_event(r, p, ns, t->event_name);
	struct kube_status st = { 0 };
	int rc = kube_create(r->client, &events_res, ns, e, NULL, &st);
	cJSON_Delete(e);
	if (rc < 0)
		log_warn(r->opts.log, "events: writing %s for %s/%s: %s", p->reason,
			 ns, p->name, kube_strerror(rc));
}

static void *writer(void *arg)
{
	struct recorder *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->len && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->len)
			break;
		struct pending *p = r->ring[r->head];
		r->ring[r->head] = NULL;
		r->head = (r->head + 1) % r->cap;
		r->len--;
		r->busy = true;
		pthread_mutex_unlock(&r->lock);
		write_one(r, p);
		free(p);
		pthread_mutex_lock(&r->lock);
		r->busy = false;
		r->written++;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int recorder_new(struct kube_client *c, const struct recorder_options *opts,
		 struct recorder **out)
{
	struct recorder *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->client = c;
	r->opts = *opts;
	r->controller = util_xstrdup(opts->controller ? opts->controller : "posthog-operator");
	r->instance = util_xstrdup(opts->instance ? opts->instance : "");
	r->cap = opts->queue_size ? opts->queue_size : 1000;
	r->ring = calloc(r->cap, sizeof(*r->ring));
	if (!r->ring)
		abort();
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pthread_create(&r->thread, NULL, writer, r))
		abort();
	*out = r;
	return 0;
}

static void free_tracked(struct tracked *t)
{
	while (t) {
		struct tracked *n = t->next;
		free(t->key);
		free(t);
		t = n;
	}
}

void recorder_free(struct recorder *r)
{
	if (!r)
		return;
	/* Give queued events a bounded chance to be written, then drop the
	 * rest: shutdown must not hang on an unreachable API server. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += FLUSH_MS / 1000;
	pthread_mutex_lock(&r->lock);
	while ((r->len || r->busy) &&
	       pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0)
		;
	r->dropped += r->len;
	for (; r->len; r->len--, r->head = (r->head + 1) % r->cap) {
		free(r->ring[r->head]);
		r->ring[r->head] = NULL;
	}
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	if (r->dropped)
		log_warn(r->opts.log, "events: %lu event(s) dropped", r->dropped);
	free_tracked(r->series);
	free_tracked(r->spam);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->ring);
	free(r->controller);
	free(r->instance);
	free(r);
}

void recorder_counts(struct recorder *r, unsigned long *written,
		     unsigned long *dropped)
{
	pthread_mutex_lock(&r->lock);
	*written = r->written;
	*dropped = r->dropped;
	pthread_mutex_unlock(&r->lock);
}
