/*
 * router: the routing loop. One thread consumes the source topic, finds
 * each message's team (token -> team from PostHog's Postgres) and bucket
 * (the operator's bucket map), and produces it to the bucket's topic. A
 * second thread reloads the token table on a period. Offsets are stored
 * for commit only once every message up to them is acknowledged
 * (router/track.c); moved teams wait in router/hold.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "router-private.h"

struct rt_refresher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct router *r;
	struct rt_tokens *ready; /* a new table for the loop to take */
	int loaded;		 /* a first table was published */
	int stop;
};

static const char *const reasons[RT_NREASONS] = {
	"", "unknown_token", "no_token", "invalid_json", "too_large",
};
static const char *const lookup_results[4] = {
	"found", "not_found", "error", "rate_limited",
};

int64_t rt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock seconds, for metrics read against other clocks. */
static double rt_unix_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

static char *dup_or(const char *s, const char *def)
{
	char *d = strdup(s && *s ? s : def);

	if (!d)
		abort();
	return d;
}

int router_new(const struct router_options *o, struct metrics *m,
	       struct log *log, struct router **out, char *err, size_t errlen)
{
	struct router *r;

	if (!o->bootstrap || !*o->bootstrap) {
		snprintf(err, errlen, "--kafka-bootstrap-servers: required");
		return -EINVAL;
	}
	if (!o->map_path || !*o->map_path) {
		snprintf(err, errlen, "--bucket-map: required");
		return -EINVAL;
	}
	if (!o->database_url || !*o->database_url) {
		snprintf(err, errlen, "--database-url: required");
		return -EINVAL;
	}
	if (o->fallback_bucket >= RT_MAX_BUCKETS) {
		snprintf(err, errlen, "--fallback-bucket: want 0..%d", RT_MAX_BUCKETS - 1);
		return -EINVAL;
	}
	if (o->producers > RT_MAX_PRODUCERS) {
		snprintf(err, errlen, "--producers: want 1..%d, got %u", RT_MAX_PRODUCERS,
			 o->producers);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->o = *o;
	r->o.bootstrap = r->strs[0] = dup_or(o->bootstrap, "");
	r->o.source_topic = r->strs[1] = dup_or(o->source_topic, "events_plugin_ingestion");
	r->o.group = r->strs[2] = dup_or(o->group, "posthog-router");
	r->o.map_path = r->strs[3] = dup_or(o->map_path, "");
	r->o.database_url = r->strs[4] = dup_or(o->database_url, "");
	if (!r->o.token_refresh_ms)
		r->o.token_refresh_ms = 60000;
	if (!r->o.lookups_per_sec)
		r->o.lookups_per_sec = 10;
	if (!r->o.max_message_bytes)
		r->o.max_message_bytes = 1u << 20;
	if (!r->o.map_check_ms)
		r->o.map_check_ms = 1000;
	if (!r->o.hold_check_ms)
		r->o.hold_check_ms = 1000;
	if (!r->o.hold_max_ms)
		r->o.hold_max_ms = 600000;
	if (!r->o.hold_max_bytes)
		r->o.hold_max_bytes = 16u << 20;
	if (!r->o.producers)
		r->o.producers = 4;
	r->metrics = m;
	r->log = log;
	r->track = rt_track_new();
	r->assigned = calloc(RT_MAX_PARTITIONS, sizeof(bool));
	r->parts = calloc(RT_MAX_PARTITIONS, sizeof(int32_t));
	if (!r->assigned || !r->parts)
		abort();
	*out = r;
	return 0;
}

void router_free(struct router *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nheld; i++)
		kafka_msg_release(&r->held[i].m);
	free(r->held);
	rt_free_transitions(r);
	rt_map_free(r->map);
	rt_track_free(r->track);
	rt_tokens_free(r->tokens);
	rt_tokens_free(r->unknown);
	pg_close(r->lookup_pg);
	free(r->assigned);
	free(r->parts);
	for (i = 0; i < sizeof(r->strs) / sizeof(r->strs[0]); i++)
		free(r->strs[i]);
	free(r);
}

void router_stop(struct router *r)
{
	r->stop = 1;
}

bool router_ready(struct router *r)
{
	return r->ready;
}

bool router_alive(struct router *r)
{
	int64_t last = r->loop_ms;

	return last == 0 || rt_now_ms() - last < 30000;
}

/* --- tokens ------------------------------------------------------------ */

static void refreshed(struct router *r, int rc, size_t count)
{
	const char *res[] = { "result", rc ? "error" : "success", NULL };

	metrics_counter_add(r->metrics, "posthog_router_token_refreshes_total",
			    "Full reloads of the token -> team table from Postgres, by result.",
			    res, 1);
	if (!rc)
		metrics_gauge_set(r->metrics, "posthog_router_tokens",
				  "Project tokens in the router's table.", NULL,
				  (double)count);
}

static void *refresher_main(void *arg)
{
	struct rt_refresher *f = arg;
	struct router *r = f->r;
	struct pg *pg = NULL;
	unsigned wait_ms = 0;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		struct timespec ts;
		struct rt_tokens *t = NULL;
		int rc;

		pthread_mutex_unlock(&f->mu);
		rc = pg ? 0 : pg_connect(r->o.database_url, 10, r->log, &pg);
		if (!rc)
			rc = rt_tokens_load(pg, &t);
		if (rc && rc != -ECONNREFUSED)
			log_error(r->log, "router: loading tokens from posthog_team: %s",
				  pg_strerror(rc));
		if (rc == -ECONNRESET) {
			pg_close(pg);
			pg = NULL;
		}
		refreshed(r, rc, t ? rt_tokens_count(t) : 0);
		pthread_mutex_lock(&f->mu);
		if (t) {
			rt_tokens_free(f->ready);
			f->ready = t;
			f->loaded = 1;
		}
		/* Until a first table exists, retry quickly. */
		wait_ms = f->loaded ? r->o.token_refresh_ms : 1000;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!f->stop)
			pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	pthread_mutex_unlock(&f->mu);
	pg_close(pg);
	return NULL;
}

static void refresher_start(struct router *r)
{
	struct rt_refresher *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->r = r;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (pthread_create(&f->thread, NULL, refresher_main, f))
		abort();
	r->refresher = f;
}

static void refresher_stop(struct router *r)
{
	struct rt_refresher *f = r->refresher;

	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	rt_tokens_free(f->ready);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
	r->refresher = NULL;
}

/* Takes a table the refresher published, if any. */
static void take_tokens(struct router *r)
{
	struct rt_refresher *f = r->refresher;
	struct rt_tokens *t;

	pthread_mutex_lock(&f->mu);
	t = f->ready;
	f->ready = NULL;
	pthread_mutex_unlock(&f->mu);
	if (!t)
		return;
	rt_tokens_free(r->tokens);
	r->tokens = t;
	/* The negative cache lives until the next full table. */
	rt_tokens_free(r->unknown);
	r->unknown = rt_tokens_new();
}

/* A token missing from the table: asked of Postgres, at most
 * lookups_per_sec times a second, and remembered either way. */
static int lookup_unknown(struct router *r, const char *tok, size_t len,
			  int64_t *team)
{
	int64_t now = rt_now_ms(), dummy;
	int rc;

	if (rt_tokens_get(r->unknown, tok, len, &dummy) == 0)
		return -ENOENT;
	r->lookup_budget += (double)(now - r->lookup_refill_ms) *
			    r->o.lookups_per_sec / 1000.0;
	if (r->lookup_budget > r->o.lookups_per_sec)
		r->lookup_budget = r->o.lookups_per_sec;
	r->lookup_refill_ms = now;
	if (r->lookup_budget < 1) {
		r->lookups[3]++;
		return -ENOENT;
	}
	r->lookup_budget -= 1;
	rc = r->lookup_pg ? 0 : pg_connect(r->o.database_url, 5, r->log, &r->lookup_pg);
	if (!rc)
		rc = rt_tokens_lookup(r->lookup_pg, tok, team);
	if (rc == 0) {
		r->lookups[0]++;
		rt_tokens_put(r->tokens, tok, len, *team);
		return 0;
	}
	if (rc == -ENOENT) {
		r->lookups[1]++;
		if (rt_tokens_count(r->unknown) >= 100000) {
			rt_tokens_free(r->unknown);
			r->unknown = rt_tokens_new();
		}
		rt_tokens_put(r->unknown, tok, len, -1);
		return -ENOENT;
	}
	r->lookups[2]++;
	if (rc == -ECONNRESET || rc == -ECONNREFUSED) {
		pg_close(r->lookup_pg);
		r->lookup_pg = NULL;
	}
	return -ENOENT;
}

/* --- routing ----------------------------------------------------------- */

/* Packs what a delivery report needs into the message's opaque pointer:
 * partition (16 bits), bucket (7 bits), sequence number (40 bits). */
static void *pack(int32_t partition, unsigned bucket, uint64_t seq)
{
	return (void *)(uintptr_t)((uint64_t)partition << 47 |
				   (uint64_t)bucket << 40 |
				   (seq & ((1ULL << 40) - 1)));
}

static void unpack(void *op, int32_t *partition, unsigned *bucket,
		   uint64_t *seq)
{
	uint64_t v = (uint64_t)(uintptr_t)op;

	*partition = (int32_t)(v >> 47);
	*bucket = (unsigned)(v >> 40 & 0x7f);
	*seq = v & ((1ULL << 40) - 1);
}

static enum rt_reason classify(struct router *r, const struct kafka_msg *m,
			       int64_t *team)
{
	char tok[RT_MAX_TOKEN];
	size_t len;
	int rc;

	if (m->len > r->o.max_message_bytes)
		return RT_TOO_LARGE;
	if (!m->value)
		return RT_INVALID_JSON;
	rc = rt_json_token(m->value, m->len, tok, sizeof(tok), &len);
	if (rc == -EINVAL)
		return RT_INVALID_JSON;
	if (rc == -ENOENT)
		return RT_NO_TOKEN;
	if (rc == -E2BIG) /* longer than any api_token */
		return RT_UNKNOWN_TOKEN;
	if (rt_tokens_get(r->tokens, tok, len, team) == 0 ||
	    lookup_unknown(r, tok, len, team) == 0)
		return RT_OK;
	return RT_UNKNOWN_TOKEN;
}

void rt_send(struct router *r, struct kafka_msg *m, unsigned bucket,
	     uint64_t seq)
{
	struct kafka_producer *p = r->producers[bucket % r->nproducers];
	int rc;

	for (;;) {
		rc = kafka_produce(p, r->map->topics[bucket], m->key,
				   m->key_len, m->value, m->len, m,
				   m->timestamp_ms, pack(m->partition, bucket, seq));
		if (rc != -ENOBUFS)
			break;
		if (kafka_producer_poll(p, 10) < 0)
			break;
	}
	if (rc) {
		/* Not produced: the offset is never stored, so a restart
		 * consumes it again. */
		r->produce_errors++;
		r->fatal = rc;
	}
	kafka_msg_release(m);
}

static unsigned fallback_bucket(const struct router *r)
{
	return r->o.fallback_bucket < r->map->count ? r->o.fallback_bucket : 0;
}

static void route(struct router *r, struct kafka_msg *m)
{
	uint64_t seq = rt_track_push(r->track, m->partition, m->offset);
	int64_t team = -1;
	enum rt_reason why = classify(r, m, &team);

	if (why != RT_OK) {
		r->fallback[why]++;
		r->unknown_tokens += why == RT_UNKNOWN_TOKEN;
		rt_send(r, m, fallback_bucket(r), seq);
		return;
	}
	if (r->ntrans && rt_is_held(r, team)) {
		rt_hold(r, m, team, seq);
		return;
	}
	rt_send(r, m, rt_map_bucket(r->map, team), seq);
}

static void on_delivery(void *ud, void *opaque, int err, const char *topic,
			int32_t partition, int64_t offset, int64_t latency_us)
{
	struct router *r = ud;
	int32_t src;
	unsigned bucket;
	uint64_t seq;
	static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
					 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

	if (err) {
		/* librdkafka retries until acknowledged; an error here is
		 * permanent (message too large for the broker, no access).
		 * Stop without storing the offset: the next start retries. */
		log_error(r->log, "router: produce to %s failed: %s", topic,
			  kafka_strerror(err));
		r->produce_errors++;
		r->fatal = err;
		return;
	}
	unpack(opaque, &src, &bucket, &seq);
	rt_track_done(r->track, src, seq);
	r->routed[bucket]++;
	r->last_delivery = rt_unix_time();
	/* One delivery in 64 feeds the latency histogram: the registry
	 * takes a lock per observation. */
	if ((r->delivered++ & 63) == 0 && latency_us >= 0)
		metrics_histogram_observe(r->metrics, "posthog_router_produce_latency_seconds",
			"Time from produce to the broker's acknowledgement (one delivery in 64 sampled).",
			NULL, bounds, sizeof(bounds) / sizeof(bounds[0]),
			(double)latency_us / 1e6);
}

/* Stores the committable offset of every assigned partition. */
static void store_offsets(struct router *r)
{
	int32_t p;
	int64_t next;

	size_t i;

	for (i = 0; i < r->nparts; i++) {
		p = r->parts[i];
		/* A store that fails (a partition revoked meanwhile) is not
		 * lost: the events stay uncommitted and are consumed again,
		 * which the bucket topics' consumers tolerate (at least once). */
		if (rt_track_advance(r->track, p, &next) &&
		    kafka_consumer_store(r->consumer, p, next) < 0)
			continue;
	}
}

static void set_assigned(struct router *r, int32_t p, bool on)
{
	size_t i;

	if (p < 0 || p >= RT_MAX_PARTITIONS || r->assigned[p] == on)
		return;
	r->assigned[p] = on;
	if (on) {
		r->parts[r->nparts++] = p;
		return;
	}
	for (i = 0; i < r->nparts; i++)
		if (r->parts[i] == p) {
			r->parts[i] = r->parts[--r->nparts];
			break;
		}
}

static void on_rebalance(void *ud, bool assigned, const int32_t *parts,
			 size_t n)
{
	struct router *r = ud;
	size_t i;

	if (assigned) {
		for (i = 0; i < n; i++) {
			rt_track_reset(r->track, parts[i]);
			set_assigned(r, parts[i], true);
		}
		log_info(r->log, "router: assigned %zu partitions of %s", n,
			 r->o.source_topic);
		return;
	}
	/* Finish what we owe for these partitions before they go: held
	 * messages are dropped (the next owner consumes them again), the
	 * rest is acknowledged and stored. */
	for (i = 0; i < n; i++)
		rt_drop_held(r, parts[i]);
	if (rt_flush(r, 30000) != 0)
		log_warn(r->log, "router: %d messages unacknowledged at revoke; the next owner routes them again",
			 rt_outstanding(r));
	store_offsets(r);
	for (i = 0; i < n; i++) {
		rt_track_reset(r->track, parts[i]);
		set_assigned(r, parts[i], false);
	}
	log_info(r->log, "router: revoked %zu partitions of %s", n,
		 r->o.source_topic);
}

/* --- the bucket map ------------------------------------------------------ */

struct map_file {
	struct stat st;
	int have;
};

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(RT_MAP_MAX_BYTES + 1);
	if (!buf)
		abort();
	n = fread(buf, 1, RT_MAP_MAX_BYTES + 1, f);
	if (ferror(f) || n > RT_MAP_MAX_BYTES) {
		int rc = ferror(f) ? -EIO : -EFBIG;

		fclose(f);
		free(buf);
		return rc;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static void map_metrics(struct router *r, bool valid)
{
	metrics_gauge_set(r->metrics, "posthog_router_bucket_map_valid",
			  "1 when the last bucket map read parsed; 0 when the router keeps an older one.",
			  NULL, valid ? 1 : 0);
	if (r->map)
		metrics_gauge_set(r->metrics, "posthog_router_buckets",
				  "Buckets in the bucket map in use.", NULL,
				  r->map->count);
}

/*
 * Re-reads the map when the file changed (Kubernetes swaps a ConfigMap
 * volume's files through a symlink, so stat() sees a new inode). A map
 * that does not parse is logged once and the last good one stays.
 */
static void check_map(struct router *r, struct map_file *mf)
{
	struct stat st;
	struct rt_map *next;
	char *text, err[512];
	size_t len;
	int rc;

	if (stat(r->o.map_path, &st) != 0) {
		if (mf->have || !r->map)
			log_error(r->log, "router: bucket map %s: %s", r->o.map_path,
				  strerror(errno));
		mf->have = 0;
		return;
	}
	if (mf->have && st.st_ino == mf->st.st_ino && st.st_size == mf->st.st_size &&
	    st.st_mtim.tv_sec == mf->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == mf->st.st_mtim.tv_nsec)
		return;
	mf->st = st;
	mf->have = 1;
	rc = read_file(r->o.map_path, &text, &len);
	if (rc) {
		snprintf(err, sizeof(err), "%s", strerror(-rc));
	} else {
		rc = rt_map_parse(text, len, &next, err, sizeof(err));
		free(text);
	}
	if (rc) {
		r->map_reloads_bad++;
		log_error(r->log, "router: bucket map %s: %s; %s", r->o.map_path, err,
			  r->map ? "keeping the last good map" : "not routing until it is fixed");
		map_metrics(r, false);
		return;
	}
	r->map_reloads_ok++;
	if (!r->map) {
		r->map = next;
		log_info(r->log, "router: bucket map loaded: %u buckets", next->count);
	} else if (rt_map_same_routing(r->map, next)) {
		rt_map_free(r->map);
		r->map = next;
	} else {
		rt_begin_transition(r, next);
	}
	map_metrics(r, true);
}

/* --- metrics ------------------------------------------------------------- */

static void flush_metrics(struct router *r)
{
	struct metrics *m = r->metrics;
	char b[16];
	unsigned i;
	int32_t p;

	for (i = 0; i < RT_MAX_BUCKETS; i++) {
		if (!r->routed[i])
			continue;
		snprintf(b, sizeof(b), "%u", i);
		metrics_counter_add(m, "posthog_router_messages_routed_total",
			"Messages produced to a bucket's topic and acknowledged, by bucket.",
			(const char *[]){ "bucket", b, NULL }, (double)r->routed[i]);
		r->routed[i] = 0;
	}
	for (i = 1; i < RT_NREASONS; i++) {
		metrics_counter_add(m, "posthog_router_fallback_messages_total",
			"Messages sent unchanged to the fallback bucket, by reason.",
			(const char *[]){ "reason", reasons[i], NULL }, (double)r->fallback[i]);
		r->fallback[i] = 0;
	}
	metrics_counter_add(m, "posthog_router_unknown_tokens_total",
		"Messages whose token is in no team (a subset of the fallback messages).",
		NULL, (double)r->unknown_tokens);
	r->unknown_tokens = 0;
	for (i = 0; i < 4; i++) {
		metrics_counter_add(m, "posthog_router_token_lookups_total",
			"Single-token lookups in Postgres for tokens missing from the table, by result.",
			(const char *[]){ "result", lookup_results[i], NULL }, (double)r->lookups[i]);
		r->lookups[i] = 0;
	}
	metrics_counter_add(m, "posthog_router_bucket_map_reloads_total",
		"Bucket map file reads after a change, by result.",
		(const char *[]){ "result", "success", NULL }, (double)r->map_reloads_ok);
	metrics_counter_add(m, "posthog_router_bucket_map_reloads_total",
		"Bucket map file reads after a change, by result.",
		(const char *[]){ "result", "error", NULL }, (double)r->map_reloads_bad);
	if (r->consumer) {
		uint64_t w = kafka_consumer_wakeups(r->consumer);

		metrics_counter_add(m, "posthog_router_fetch_wakeups_total",
			"Times the router woke its Kafka consumer's fetcher, parked by librdkafka after its prefetch queue filled.",
			NULL, (double)(w - r->wakeups_seen));
		r->wakeups_seen = w;
	}
	metrics_counter_add(m, "posthog_router_produce_errors_total",
		"Messages librdkafka could not produce (the router then exits to retry).",
		NULL, (double)r->produce_errors);
	metrics_counter_add(m, "posthog_router_bucket_moves_total",
		"Bucket map changes that moved teams between topics.", NULL, (double)r->moves);
	metrics_counter_add(m, "posthog_router_hold_timeouts_total",
		"Moves whose held teams were released by --hold-max rather than by the old bucket's consumers.",
		NULL, (double)r->hold_timeouts);
	r->map_reloads_ok = r->map_reloads_bad = r->produce_errors = 0;
	r->moves = r->hold_timeouts = 0;
	metrics_gauge_set(m, "posthog_router_held_messages",
		"Messages of moved teams waiting for their old bucket's consumers.",
		NULL, (double)r->nheld);
	if (r->last_delivery > 0)
		metrics_gauge_set(m, "posthog_router_last_delivery_timestamp_seconds",
			"Unix time of the last delivery the broker acknowledged (to the millisecond): with the consumer lag, shows a router that stopped.",
			NULL, r->last_delivery);
	metrics_gauge_set(m, "posthog_router_pending_messages",
		"Messages consumed whose offsets are not yet committable.",
		NULL, (double)rt_track_pending(r->track));
	for (i = 0; i < r->nparts; i++) {
		int64_t lag;

		p = r->parts[i];
		if (kafka_consumer_lag(r->consumer, p, &lag))
			continue;
		snprintf(b, sizeof(b), "%d", (int)p);
		metrics_gauge_set(m, "posthog_router_consumer_lag_messages",
			"Messages in the source topic not yet consumed by this router, by partition.",
			(const char *[]){ "topic", r->o.source_topic, "partition", b, NULL },
			(double)lag);
	}
}

/* --- the loop ------------------------------------------------------------ */

/* Waits (interruptibly) for a valid map and a first token table. */
static int wait_for_inputs(struct router *r, struct map_file *mf)
{
	int64_t next_log = 0;

	while (!r->stop) {
		check_map(r, mf);
		take_tokens(r);
		if (r->map && r->tokens)
			return 0;
		if (rt_now_ms() >= next_log) {
			log_info(r->log, "router: waiting for %s%s%s",
				 r->map ? "" : "a valid bucket map",
				 !r->map && !r->tokens ? " and " : "",
				 r->tokens ? "" : "the token table from Postgres");
			next_log = rt_now_ms() + 10000;
		}
		r->loop_ms = rt_now_ms();
		nanosleep(&(struct timespec){ 0, 200 * 1000000 }, NULL);
	}
	return -ECANCELED;
}

int rt_flush(struct router *r, int timeout_ms)
{
	int64_t end = rt_now_ms() + timeout_ms;
	unsigned i;

	for (i = 0; i < r->nproducers; i++) {
		int64_t left = end - rt_now_ms();

		if (kafka_producer_flush(r->producers[i], left > 0 ? (int)left : 0))
			return -ETIMEDOUT;
	}
	return 0;
}

int rt_outstanding(struct router *r)
{
	int n = 0;
	unsigned i;

	for (i = 0; i < r->nproducers; i++)
		n += kafka_producer_outstanding(r->producers[i]);
	return n;
}

static void close_producers(struct router *r)
{
	while (r->nproducers)
		kafka_producer_close(r->producers[--r->nproducers], 1000);
}

/*
 * librdkafka (2.0.2, Debian 12's) puts one partition in a ProduceRequest
 * and, for an idempotent producer, allows at most five requests in flight
 * on a connection, so one producer's rate is five batches a round trip.
 * Several producers, each with its own connections, multiply that; they
 * share the queue bound, so memory does not grow. There are no more of
 * them than buckets at the start (a later map with more buckets spreads
 * its buckets over the same ones). docs/router.md gives the sources and
 * the figures.
 */
static int start_clients(struct router *r)
{
	unsigned want = r->o.producers < r->map->count ? r->o.producers : r->map->count;
	unsigned kb = RT_QUEUE_KBYTES / want; /* a map has 1..64 buckets */
	struct kafka_producer_options po = {
		.bootstrap = r->o.bootstrap, .conf = r->o.kafka_conf,
		.on_delivery = on_delivery, .userdata = r, .log = r->log,
		.queue_kbytes = kb < RT_MIN_QUEUE_KBYTES ? RT_MIN_QUEUE_KBYTES : kb,
	};
	struct kafka_consumer_options co = {
		.bootstrap = r->o.bootstrap, .group = r->o.group,
		.topic = r->o.source_topic, .conf = r->o.kafka_conf,
		.on_rebalance = on_rebalance, .userdata = r, .log = r->log,
	};
	int rc = 0;

	while (!rc && r->nproducers < want) {
		rc = kafka_producer_new(&po, &r->producers[r->nproducers]);
		r->nproducers += !rc;
	}
	if (!rc)
		rc = kafka_consumer_new(&co, &r->consumer);
	return rc;
}

/* Pauses consumption while held messages exceed their budget. */
static void apply_backpressure(struct router *r)
{
	bool over = r->held_bytes > r->o.hold_max_bytes;

	if (over && !r->paused) {
		log_warn(r->log, "router: %zu bytes held for moved teams; pausing consumption",
			 r->held_bytes);
		if (kafka_consumer_pause(r->consumer, true) == 0)
			r->paused = true;
	} else if (r->paused && r->held_bytes <= r->o.hold_max_bytes / 2) {
		if (kafka_consumer_pause(r->consumer, false) == 0)
			r->paused = false;
	}
}

static void loop(struct router *r, struct map_file *mf)
{
	int64_t next_map = 0, next_metrics = 0;

	while (!r->stop && !r->fatal) {
		int64_t now = rt_now_ms();
		int n, rc = 0;
		unsigned i;

		r->loop_ms = now;
		if (now >= next_map) {
			check_map(r, mf);
			take_tokens(r);
			next_map = now + r->o.map_check_ms;
		}
		if (r->ntrans && now >= r->next_hold_check_ms) {
			rt_check_holds(r);
			r->next_hold_check_ms = now + r->o.hold_check_ms;
			apply_backpressure(r);
		}
		/* A batch per turn: the first poll may wait, the rest only
		 * take what is already fetched. */
		for (n = 0; n < 10000 && !r->fatal; n++) {
			struct kafka_msg m = { 0 };

			rc = kafka_consumer_poll(r->consumer, n ? 0 : 100, &m);
			if (rc)
				break;
			route(r, &m);
		}
		if (rc && rc != -EAGAIN)
			r->fatal = rc;
		for (i = 0; i < r->nproducers; i++)
			if (kafka_producer_poll(r->producers[i], 0) < 0)
				r->fatal = -EIO;
		store_offsets(r);
		if (r->nheld)
			apply_backpressure(r);
		if (now >= next_metrics) {
			flush_metrics(r);
			next_metrics = now + 1000;
		}
	}
}

int router_run(struct router *r)
{
	struct map_file mf = { 0 };
	int rc;

	refresher_start(r);
	rc = wait_for_inputs(r, &mf);
	if (!rc)
		rc = start_clients(r);
	if (!rc) {
		r->ready = 1;
		log_info(r->log, "router: routing %s (group %s) to %u buckets",
			 r->o.source_topic, r->o.group, r->map->count);
		loop(r, &mf);
		r->ready = 0;
		rc = r->fatal;
	}
	if (rc == -ECANCELED)
		rc = 0;
	/* Finish what is in flight, store it, and let the consumer's close
	 * commit it. Held messages are not produced: they are consumed again
	 * after a restart. */
	if (r->nproducers && rt_flush(r, 30000) != 0)
		log_warn(r->log, "router: %d messages unacknowledged at exit; they are routed again on restart",
			 rt_outstanding(r));
	if (r->consumer && !r->fatal)
		store_offsets(r);
	if (r->metrics && r->consumer)
		flush_metrics(r);
	kafka_consumer_close(r->consumer);
	r->consumer = NULL;
	close_producers(r);
	refresher_stop(r);
	return rc;
}
