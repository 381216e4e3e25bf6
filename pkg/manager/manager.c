/*
 * manager_run() is a small state machine on the calling thread: HTTP
 * servers, informers and their sync, leadership, workers, then a wait for
 * a stop request or a lost Lease. The stop request is a byte on a pipe so
 * that manager_stop() is async-signal-safe; the wait polls the pipe with a
 * short timeout to notice a lost Lease as well.
 */
#include "manager.h"
#include "manager-private.h"

#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pkg/httpserver/httpserver.h"
#include "pkg/leader/leader.h"
#include "pkg/util/util.h"

#define CACHE_SYNC_TIMEOUT_MS 120000

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A default identity: $POD_NAME or the host name, plus a random suffix so
 * that two processes on one host never share it. */
static char *make_identity(const char *given)
{
	if (given && *given)
		return util_xstrdup(given);
	char host[256] = "posthog-operator";
	const char *pod = getenv("POD_NAME");
	if (pod && *pod)
		snprintf(host, sizeof(host), "%s", pod);
	else
		gethostname(host, sizeof(host) - 1);
	unsigned char rnd[4] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd))
			memset(rnd, 0, sizeof(rnd));
		close(fd);
	}
	size_t n = strlen(host) + 10;
	char *out = malloc(n);
	if (!out)
		abort();
	snprintf(out, n, "%s_%02x%02x%02x%02x", host, rnd[0], rnd[1], rnd[2], rnd[3]);
	return out;
}

static bool resource_seen(struct manager *m, size_t i)
{
	const char *res = informer_resource(m->informers[i])->resource;

	for (size_t j = 0; j < i; j++)
		if (!strcmp(informer_resource(m->informers[j])->resource, res))
			return true;
	return false;
}

static void collect_informers(void *userdata, struct metrics *reg)
{
	struct manager *m = userdata;

	for (size_t i = 0; i < m->ninformers; i++) {
		const char *res = informer_resource(m->informers[i])->resource;
		const char *labels[] = { "resource", res, NULL };
		struct informer_stats sum = {0}, one;

		if (resource_seen(m, i))
			continue;
		for (size_t j = i; j < m->ninformers; j++) {
			if (strcmp(informer_resource(m->informers[j])->resource, res))
				continue;
			informer_stats(m->informers[j], &one);
			sum.objects += one.objects;
			sum.bytes += one.bytes;
		}
		metrics_gauge_set(reg, "informer_cache_objects", "Objects held by the informer caches",
				  labels, sum.objects);
		metrics_gauge_set(reg, "informer_cache_bytes",
				  "Heap bytes held by the informer caches' objects and indexes", labels,
				  (double)sum.bytes);
	}
}

int manager_new(const struct manager_options *opts, struct manager **out)
{
	if (opts->leader_elect &&
	    (!opts->leader_election_id || !*opts->leader_election_id ||
	     !opts->leader_election_namespace || !*opts->leader_election_namespace)) {
		log_error(opts->log, "leader election needs --leader-election-id and --leader-election-namespace");
		return -EINVAL;
	}
	struct manager *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->opts = *opts;
	m->identity = make_identity(opts->identity);
	m->metrics_addr = util_xstrdup(opts->metrics_addr ? opts->metrics_addr : ":8080");
	m->health_addr = util_xstrdup(opts->health_addr ? opts->health_addr : ":8081");
	m->le_ns = util_xstrdup(opts->leader_election_namespace ? opts->leader_election_namespace : "");
	m->le_id = util_xstrdup(opts->leader_election_id ? opts->leader_election_id : "");
	m->opts.identity = m->identity;
	m->opts.metrics_addr = m->metrics_addr;
	m->opts.health_addr = m->health_addr;
	m->opts.leader_election_namespace = m->le_ns;
	m->opts.leader_election_id = m->le_id;
	if (!m->opts.shutdown_timeout_ms)
		m->opts.shutdown_timeout_ms = 30000;
	m->stop_pipe[0] = m->stop_pipe[1] = -1;
	int rc = 0;
	const char *what = "metrics registry";
	if (!m->opts.metrics) {
		rc = metrics_new(&m->own_metrics);
		m->opts.metrics = m->own_metrics;
	}
	if (rc == 0) {
		what = "informer metrics";
		rc = metrics_add_collector(m->opts.metrics, collect_informers, m);
	}
	if (rc == 0) {
		what = "stop pipe";
		if (pipe2(m->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
			rc = -errno;
	}
	if (rc == 0) {
		struct recorder_options ro = { .controller = "posthog.com/operator",
					       .instance = m->identity, .log = opts->log };
		what = "event recorder";
		rc = recorder_new(opts->client, &ro, &m->recorder);
	}
	if (rc < 0) {
		log_error(opts->log, "manager: cannot create the %s: %s", what, strerror(-rc));
		manager_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* Cancels every informer's watch before joining any: each watch takes up
 * to a second to notice, so one after another would add up. */
static void stop_informers(struct manager *m)
{
	for (size_t i = 0; i < m->ninformers; i++)
		informer_cancel(m->informers[i]);
	for (size_t i = 0; i < m->ninformers; i++)
		informer_stop(m->informers[i]);
}

void manager_free(struct manager *m)
{
	if (!m)
		return;
	stop_informers(m);
	for (size_t i = 0; i < m->ncontrollers; i++)
		controller_free(m->controllers[i]);
	for (size_t i = 0; i < m->ninformers; i++)
		informer_free(m->informers[i]);
	leader_free(m->leader);
	recorder_free(m->recorder);
	if (m->opts.metrics)
		metrics_remove_collector(m->opts.metrics, collect_informers, m);
	metrics_free(m->own_metrics);
	if (m->stop_pipe[0] >= 0)
		close(m->stop_pipe[0]);
	if (m->stop_pipe[1] >= 0)
		close(m->stop_pipe[1]);
	free(m->identity);
	free(m->metrics_addr);
	free(m->health_addr);
	free(m->le_ns);
	free(m->le_id);
	free(m);
}

/* informer_cache_objects and informer_cache_bytes per resource, summed over
 * the informers of that resource (one per watched namespace). An informer
 * asked for twice (two controllers reading the same objects) is made once
 * and shared, with the shorter resync of the two. */
int manager_add_informer(struct manager *m, const struct informer_options *opts,
			 struct informer **out)
{
	for (size_t i = 0; i < m->ninformers; i++) {
		if (!informer_serves(m->informers[i], opts))
			continue;
		int rc = informer_resync_within(m->informers[i], opts->resync_ms);
		if (rc < 0)
			return rc;
		*out = m->informers[i];
		return 0;
	}
	if (m->ninformers >= MANAGER_MAX_INFORMERS)
		return -ENOSPC;
	struct informer_options o = *opts;
	if (!o.log)
		o.log = m->opts.log;
	struct informer *inf;
	int rc = informer_new(m->opts.client, &o, &inf);
	if (rc < 0)
		return rc;
	m->informers[m->ninformers++] = inf;
	*out = inf;
	return 0;
}

struct recorder *manager_recorder(struct manager *m)
{
	return m->recorder;
}

struct metrics *manager_metrics(struct manager *m)
{
	return m->opts.metrics;
}

const char *manager_identity(const struct manager *m)
{
	return m->identity;
}

bool manager_ready(struct manager *m)
{
	for (size_t i = 0; i < m->ninformers; i++)
		if (!informer_has_synced(m->informers[i]))
			return false;
	return true;
}

int manager_metrics_port(struct manager *m)
{
	return m->metrics_srv ? httpserver_port(m->metrics_srv) : 0;
}

int manager_health_port(struct manager *m)
{
	return m->health_srv ? httpserver_port(m->health_srv) : 0;
}

void manager_stop(struct manager *m)
{
	/* write(2) is async-signal-safe; a full pipe already holds a stop
	 * request, so a failed write loses nothing. */
	char b = 1;
	ssize_t n = write(m->stop_pipe[1], &b, 1);
	(void)n;
}

static bool stop_requested(struct manager *m, int timeout_ms)
{
	struct pollfd p = { .fd = m->stop_pipe[0], .events = POLLIN };
	return poll(&p, 1, timeout_ms) > 0;
}

void manager_rest_client_metrics(void *userdata, const char *method,
				 const char *host, int code, double seconds)
{
	static const double buckets[] = { 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2,
					  4, 8, 15, 30, 60 };
	char cs[16];
	snprintf(cs, sizeof(cs), "%d", code);
	const char *lc[] = { "code", code ? cs : "<error>", "host", host,
			     "method", method, NULL };
	metrics_counter_add(userdata, "rest_client_requests_total",
			    "Number of HTTP requests, partitioned by status code, method, and host.",
			    lc, 1);
	const char *ld[] = { "host", host, "verb", method, NULL };
	metrics_histogram_observe(userdata, "rest_client_request_duration_seconds",
				  "Request latency in seconds. Broken down by verb, and host.",
				  ld, buckets, sizeof(buckets) / sizeof(buckets[0]),
				  seconds);
}

/* ---- HTTP endpoints ---- */

static int serve_metrics(void *ud, struct buf *body, const char **ctype)
{
	struct manager *m = ud;
	*ctype = "text/plain; version=0.0.4; charset=utf-8";
	return metrics_render(m->opts.metrics, body) == 0 ? 200 : 500;
}

static int serve_healthz(void *ud, struct buf *body, const char **ctype)
{
	buf_puts(body, "ok");
	return 200;
}

static int serve_readyz(void *ud, struct buf *body, const char **ctype)
{
	struct manager *m = ud;
	if (manager_ready(m)) {
		buf_puts(body, "ok");
		return 200;
	}
	buf_puts(body, "informers not synced");
	return 503;
}

static int start_http(struct manager *m)
{
	if (strcmp(m->metrics_addr, "0") != 0) {
		struct httpserver_options o = { .addr = m->metrics_addr,
						.log = m->opts.log };
		o.routes[0] = (struct httpserver_route){ "/metrics", serve_metrics, m };
		int rc = httpserver_start(&o, &m->metrics_srv);
		if (rc < 0)
			return rc;
	}
	if (strcmp(m->health_addr, "0") != 0) {
		struct httpserver_options o = { .addr = m->health_addr,
						.log = m->opts.log };
		o.routes[0] = (struct httpserver_route){ "/healthz", serve_healthz, m };
		o.routes[1] = (struct httpserver_route){ "/readyz", serve_readyz, m };
		int rc = httpserver_start(&o, &m->health_srv);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- run ---- */

static int wait_for_sync(struct manager *m)
{
	uint64_t deadline = now_ms() + CACHE_SYNC_TIMEOUT_MS;
	while (!manager_ready(m)) {
		if (stop_requested(m, 50))
			return -ECANCELED;
		if (now_ms() > deadline) {
			log_error(m->opts.log, "caches did not sync within %d s; is the API server reachable and are the resources served?",
				  CACHE_SYNC_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

static int start_leader(struct manager *m)
{
	struct leader_options lo = {
		.namespace = m->le_ns, .name = m->le_id, .identity = m->identity,
		.lease_duration_ms = m->opts.lease_duration_ms,
		.renew_deadline_ms = m->opts.renew_deadline_ms,
		.retry_period_ms = m->opts.retry_period_ms,
		.metrics = m->opts.metrics, .log = m->opts.log,
	};
	int rc = leader_new(m->opts.client, &lo, &m->leader);
	if (rc == 0)
		rc = leader_start(m->leader);
	if (rc < 0)
		return rc;
	log_info(m->opts.log, "leader election: %s waiting for Lease %s/%s",
		 m->identity, m->le_ns, m->le_id);
	while (!leader_is_leader(m->leader))
		if (stop_requested(m, 50))
			return -ECANCELED;
	return 0;
}

static void shutdown_controllers(struct manager *m, uint64_t deadline)
{
	for (size_t i = 0; i < m->ncontrollers; i++)
		controller_shutdown(m->controllers[i]);
	for (size_t i = 0; i < m->ncontrollers; i++)
		controller_join(m->controllers[i], deadline);
}

/* Returns the allocator's free pages to the kernel: glibc keeps freed
 * memory inside its arenas (one per thread that allocated, up to eight
 * per core), where it counts in RSS until reused. */
static void trim_heap(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/*
 * The informers start before the HTTP servers: their first LISTs are
 * round trips to the API server, during which the servers' set-up (two
 * libwebsockets contexts, tens of ms on a loaded machine,
 * docs/performance.md "Start-up") runs. /readyz answers only once every
 * cache has synced, whichever comes first.
 */
int manager_run(struct manager *m)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->ninformers; i++)
		rc = informer_start(m->informers[i]);
	if (rc == 0)
		rc = start_http(m);
	if (rc == 0)
		rc = wait_for_sync(m);
	if (rc == 0 && m->opts.leader_elect)
		rc = start_leader(m);
	if (rc == 0) {
		for (size_t i = 0; i < m->ncontrollers; i++)
			controller_start(m->controllers[i]);
		log_info(m->opts.log, "manager: %zu controller(s) running", m->ncontrollers);
		uint64_t next_trim = now_ms() + m->opts.malloc_trim_ms;
		while (!stop_requested(m, 100)) {
			if (m->opts.malloc_trim_ms && now_ms() >= next_trim) {
				trim_heap();
				next_trim = now_ms() + m->opts.malloc_trim_ms;
			}
			if (m->leader && leader_lost(m->leader)) {
				rc = -ENOLCK;
				if (m->opts.on_leader_lost)
					m->opts.on_leader_lost(m->opts.on_leader_lost_userdata);
				break;
			}
		}
	}
	if (rc == -ECANCELED)
		rc = 0;
	uint64_t deadline = now_ms() + m->opts.shutdown_timeout_ms;
	shutdown_controllers(m, deadline);
	if (m->leader)
		leader_stop(m->leader, rc == 0);
	stop_informers(m);
	httpserver_stop(m->metrics_srv);
	httpserver_stop(m->health_srv);
	m->metrics_srv = m->health_srv = NULL;
	if (rc == -ENOLCK)
		log_error(m->opts.log, "manager: leadership lost, stopped reconciling");
	return rc;
}
