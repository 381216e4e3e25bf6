/*
 * Two threads. The election thread tries to acquire, then renews every
 * retry period. The watchdog wakes at the renew deadline: if the last
 * successful renewal is older than renew_deadline, leadership is lost even
 * while a request is still stuck in the client's retries, so reconciling
 * stops on time.
 */
#include "leader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/util/util.h"

static const struct kube_resource leases = {
	.group = "coordination.k8s.io", .version = "v1",
	.resource = "leases", .kind = "Lease", .namespaced = true,
};

struct leader {
	struct kube_client *client;
	struct leader_options opts;
	char *namespace, *name, *identity;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread, watchdog;
	bool running, stop, leading, lost;
	uint64_t last_renew_ms;      /* monotonic time of the last success */
	char *observed;              /* the Lease spec last seen, serialized */
	uint64_t observed_ms;        /* when it last changed */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int leader_new(struct kube_client *c, const struct leader_options *opts,
	       struct leader **out)
{
	struct leader_options o = *opts;
	if (!o.lease_duration_ms)
		o.lease_duration_ms = 15000;
	if (!o.renew_deadline_ms)
		o.renew_deadline_ms = 10000;
	if (!o.retry_period_ms)
		o.retry_period_ms = 2000;
	if (!o.name || !*o.name || !o.namespace || !*o.namespace ||
	    !o.identity || !*o.identity ||
	    o.renew_deadline_ms >= o.lease_duration_ms ||
	    o.renew_deadline_ms * 10 <= o.retry_period_ms * 12) {
		log_error(o.log, "leader election: need a Lease name, namespace and identity, and retry period x 1.2 < renew deadline < lease duration");
		return -EINVAL;
	}
	struct leader *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->client = c;
	l->opts = o;
	l->namespace = util_xstrdup(o.namespace ? o.namespace : "");
	l->name = util_xstrdup(o.name ? o.name : "");
	l->identity = util_xstrdup(o.identity ? o.identity : "");
	l->opts.namespace = l->namespace;
	l->opts.name = l->name;
	l->opts.identity = l->identity;
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = l;
	return 0;
}

void leader_free(struct leader *l)
{
	if (!l)
		return;
	leader_stop(l, true);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l->observed);
	free(l->namespace);
	free(l->name);
	free(l->identity);
	free(l);
}

static void set_status_metric(struct leader *l, bool leading)
{
	const char *lb[] = { "name", l->name, NULL };
	metrics_gauge_set(l->opts.metrics, "leader_election_master_status",
			  "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
			  lb, leading ? 1 : 0);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddStringToObject(o, k, v);
}

static void set_num(cJSON *o, const char *k, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddNumberToObject(o, k, v);
}

static const char *spec_str(const cJSON *spec, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Remembers the record and when it last changed, on the local clock. */
static void observe(struct leader *l, const cJSON *spec)
{
	char *s = spec ? cJSON_PrintUnformatted(spec) : util_xstrdup("");
	if (!l->observed || strcmp(s, l->observed) != 0) {
		free(l->observed);
		l->observed = s;
		l->observed_ms = now_ms();
	} else {
		free(s);
	}
}

static cJSON *new_lease(struct leader *l)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
	cJSON_AddStringToObject(o, "kind", "Lease");
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", l->name);
	cJSON_AddStringToObject(md, "namespace", l->namespace);
	cJSON_AddObjectToObject(o, "spec");
	return o;
}

/* Fills spec for this candidate holding the Lease. */
static void claim(struct leader *l, cJSON *spec, bool was_mine)
{
	char now[48];
	kube_micro_time_now(now);
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
	double transitions = cJSON_IsNumber(tr) ? tr->valuedouble : 0;
	bool had_holder = *spec_str(spec, "holderIdentity");
	set_str(spec, "holderIdentity", l->identity);
	set_num(spec, "leaseDurationSeconds",
		(double)((l->opts.lease_duration_ms + 999) / 1000));
	set_str(spec, "renewTime", now);
	if (!was_mine) {
		set_str(spec, "acquireTime", now);
		set_num(spec, "leaseTransitions",
			had_holder ? transitions + 1 : transitions);
	}
}

/* client-go's tryAcquireOrRenew. Returns true when this candidate holds a
 * freshly renewed Lease. */
static bool try_acquire_or_renew(struct leader *l)
{
	struct kube_status st = { 0 };
	cJSON *lease = NULL, *out = NULL;
	int rc = kube_get(l->client, &leases, l->namespace, l->name, &lease, &st);
	if (rc == -ENOENT) {
		cJSON *obj = new_lease(l);
		claim(l, cJSON_GetObjectItemCaseSensitive(obj, "spec"), false);
		rc = kube_create(l->client, &leases, l->namespace, obj, &out, &st);
		if (rc == 0)
			observe(l, cJSON_GetObjectItemCaseSensitive(out, "spec"));
		cJSON_Delete(obj);
		cJSON_Delete(out);
		return rc == 0;
	}
	if (rc < 0) {
		log_warn(l->opts.log, "leader election: reading Lease %s/%s: %s",
			 l->namespace, l->name, kube_strerror(rc));
		return false;
	}
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
	if (!spec)
		spec = cJSON_AddObjectToObject(lease, "spec");
	observe(l, spec);
	const char *holder = spec_str(spec, "holderIdentity");
	bool mine = strcmp(holder, l->identity) == 0;
	const cJSON *dur = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
	uint64_t duration_ms = cJSON_IsNumber(dur) ? (uint64_t)(dur->valuedouble * 1000)
						   : l->opts.lease_duration_ms;
	if (*holder && !mine && now_ms() < l->observed_ms + duration_ms) {
		cJSON_Delete(lease);
		return false;
	}
	claim(l, spec, mine);
	rc = kube_update(l->client, &leases, l->namespace, l->name, NULL, lease,
			 &out, &st);
	if (rc == 0)
		observe(l, cJSON_GetObjectItemCaseSensitive(out, "spec"));
	else if (rc != KUBE_ECONFLICT)
		log_warn(l->opts.log, "leader election: updating Lease %s/%s: %s",
			 l->namespace, l->name, kube_strerror(rc));
	cJSON_Delete(lease);
	cJSON_Delete(out);
	return rc == 0;
}

/* Waits ms on the condition variable (lock held); returns false when
 * stopping or lost. */
static bool wait_ms(struct leader *l, uint64_t ms)
{
	uint64_t due = now_ms() + ms;
	struct timespec ts = { .tv_sec = (time_t)(due / 1000),
			       .tv_nsec = (long)(due % 1000) * 1000000 };
	while (!l->stop && !l->lost && now_ms() < due)
		pthread_cond_timedwait(&l->cond, &l->lock, &ts);
	return !l->stop && !l->lost;
}

/* The retry period with up to 20 % jitter (client-go's JitterFactor 1.2),
 * so candidates do not retry in lockstep. */
static uint64_t jittered(struct leader *l)
{
	uint64_t p = l->opts.retry_period_ms;
	return p + (uint64_t)rand() % (p / 5 + 1);
}

static void *elect(void *arg)
{
	struct leader *l = arg;
	pthread_mutex_lock(&l->lock);
	/* acquire */
	while (!l->stop) {
		pthread_mutex_unlock(&l->lock);
		bool ok = try_acquire_or_renew(l);
		pthread_mutex_lock(&l->lock);
		if (ok && !l->stop) {
			l->leading = true;
			l->last_renew_ms = now_ms();
			pthread_cond_broadcast(&l->cond);
			break;
		}
		if (!wait_ms(l, jittered(l)))
			break;
	}
	if (!l->leading) {
		pthread_mutex_unlock(&l->lock);
		return NULL;
	}
	log_info(l->opts.log, "leader election: %s acquired Lease %s/%s",
		 l->identity, l->namespace, l->name);
	set_status_metric(l, true);
	pthread_mutex_unlock(&l->lock);
	if (l->opts.on_started)
		l->opts.on_started(l->opts.userdata);
	pthread_mutex_lock(&l->lock);
	/* renew */
	while (wait_ms(l, l->opts.retry_period_ms)) {
		pthread_mutex_unlock(&l->lock);
		bool ok = try_acquire_or_renew(l);
		pthread_mutex_lock(&l->lock);
		if (ok && !l->lost)
			l->last_renew_ms = now_ms();
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void *watchdog(void *arg)
{
	struct leader *l = arg;
	pthread_mutex_lock(&l->lock);
	while (!l->stop && !l->lost) {
		if (!l->leading) {
			pthread_cond_wait(&l->cond, &l->lock);
			continue;
		}
		uint64_t deadline = l->last_renew_ms + l->opts.renew_deadline_ms;
		if (now_ms() < deadline) {
			struct timespec ts = { .tv_sec = (time_t)(deadline / 1000),
					       .tv_nsec = (long)(deadline % 1000) * 1000000 };
			pthread_cond_timedwait(&l->cond, &l->lock, &ts);
			continue;
		}
		l->lost = true;
		l->leading = false;
		pthread_cond_broadcast(&l->cond);
		log_error(l->opts.log, "leader election: lost Lease %s/%s (no renewal within %u ms)",
			  l->namespace, l->name, l->opts.renew_deadline_ms);
		set_status_metric(l, false);
		pthread_mutex_unlock(&l->lock);
		if (l->opts.on_stopped)
			l->opts.on_stopped(l->opts.userdata);
		return NULL;
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

int leader_start(struct leader *l)
{
	pthread_mutex_lock(&l->lock);
	if (l->running) {
		pthread_mutex_unlock(&l->lock);
		return -EALREADY;
	}
	l->running = true;
	pthread_mutex_unlock(&l->lock);
	set_status_metric(l, false);
	if (pthread_create(&l->thread, NULL, elect, l) ||
	    pthread_create(&l->watchdog, NULL, watchdog, l))
		abort();
	return 0;
}

/* client-go's release: keep the record but clear the holder and shorten
 * the duration, so that the next candidate need not wait. */
static void release(struct leader *l)
{
	struct kube_status st = { 0 };
	cJSON *lease = NULL;
	int rc = kube_get(l->client, &leases, l->namespace, l->name, &lease, &st);
	if (rc == 0) {
		cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
		if (spec && strcmp(spec_str(spec, "holderIdentity"), l->identity) == 0) {
			char now[48];
			kube_micro_time_now(now);
			set_str(spec, "holderIdentity", "");
			set_num(spec, "leaseDurationSeconds", 1);
			set_str(spec, "renewTime", now);
			set_str(spec, "acquireTime", now);
			rc = kube_update(l->client, &leases, l->namespace, l->name,
					 NULL, lease, NULL, &st);
		}
	}
	cJSON_Delete(lease);
	if (rc < 0)
		log_warn(l->opts.log, "leader election: releasing Lease %s/%s: %s",
			 l->namespace, l->name, kube_strerror(rc));
	else
		log_info(l->opts.log, "leader election: released Lease %s/%s",
			 l->namespace, l->name);
}

void leader_stop(struct leader *l, bool do_release)
{
	pthread_mutex_lock(&l->lock);
	if (!l->running) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	pthread_join(l->watchdog, NULL);
	pthread_mutex_lock(&l->lock);
	bool was_leading = l->leading;
	l->leading = false;
	l->running = false;
	pthread_mutex_unlock(&l->lock);
	if (was_leading) {
		if (do_release)
			release(l);
		set_status_metric(l, false);
	}
}

bool leader_is_leader(struct leader *l)
{
	pthread_mutex_lock(&l->lock);
	bool b = l->leading;
	pthread_mutex_unlock(&l->lock);
	return b;
}

bool leader_lost(struct leader *l)
{
	pthread_mutex_lock(&l->lock);
	bool b = l->lost;
	pthread_mutex_unlock(&l->lock);
	return b;
}
