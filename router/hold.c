/*
 * Holding moved teams (docs/buckets.md, "Changing the bucket count with
 * the router"). When the map changes, a transition remembers the old map.
 * A team whose topic differs between the two waits while its old bucket's
 * ingestion consumer group has not committed, on every partition of the
 * old topic, at least the high watermark read after everything the router
 * produced under the old map was acknowledged. Held messages queue in
 * arrival order and are released in that order, so a team's events keep
 * their order across the two buckets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "router-private.h"

#define MAX_MARKS 4096

static bool moved(const struct router *r, const struct rt_transition *t,
		  int64_t team, unsigned *from)
{
	unsigned a = rt_map_bucket(t->from, team);
	unsigned b = rt_map_bucket(r->map, team);

	*from = a;
	if (t->same_topics)
		return a != b;
	return b >= r->map->count || strcmp(t->from->topics[a], r->map->topics[b]);
}

bool rt_is_held(struct router *r, int64_t team)
{
	size_t i;

	for (i = 0; i < r->ntrans; i++) {
		struct rt_transition *t = r->trans[i];
		unsigned from;

		if (moved(r, t, team, &from) && !t->b[from].released)
			return true;
	}
	return false;
}

void rt_hold(struct router *r, struct kafka_msg *m, int64_t team,
	     uint64_t seq)
{
	if (r->nheld == r->held_cap) {
		r->held_cap = r->held_cap ? r->held_cap * 2 : 1024;
		r->held = realloc(r->held, r->held_cap * sizeof(*r->held));
		if (!r->held)
			abort();
	}
	r->held[r->nheld].m = *m;
	r->held[r->nheld].team = team;
	r->held[r->nheld++].seq = seq;
	r->held_bytes += m->len + m->key_len;
	memset(m, 0, sizeof(*m)); /* taken */
}

static void free_transition(struct rt_transition *t)
{
	unsigned i;

	for (i = 0; i < t->from->count; i++)
		free(t->b[i].marks);
	free(t->b);
	rt_map_free(t->from);
	free(t);
}

void rt_free_transitions(struct router *r)
{
	size_t i;

	for (i = 0; i < r->ntrans; i++)
		free_transition(r->trans[i]);
	r->ntrans = 0;
}

static bool same_topics(const struct rt_map *a, const struct rt_map *b)
{
	unsigned i, n = a->count < b->count ? a->count : b->count;

	for (i = 0; i < n; i++)
		if (strcmp(a->topics[i], b->topics[i]))
			return false;
	return true;
}

void rt_begin_transition(struct router *r, struct rt_map *next)
{
	struct rt_transition *t;

	/* Everything routed under the old map must be in the old topics
	 * before the marks are read: wait for every acknowledgement. This
	 * also keeps a topic's order when the new map gives it a bucket
	 * number, hence a producer, of its own: nothing of it is in flight
	 * on the old producer. */
	while (rt_flush(r, 1000) != 0 && !r->stop)
		log_warn(r->log, "router: waiting for %d messages to be acknowledged before changing the bucket map",
			 rt_outstanding(r));
	if (r->ntrans == RT_MAX_TRANSITIONS) {
		log_warn(r->log, "router: more than %d bucket map changes pending; releasing the oldest",
			 RT_MAX_TRANSITIONS);
		free_transition(r->trans[0]);
		memmove(r->trans, r->trans + 1, --r->ntrans * sizeof(r->trans[0]));
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->from = r->map;
	t->started_ms = rt_now_ms();
	t->same_topics = same_topics(r->map, next);
	t->b = calloc(r->map->count, sizeof(*t->b));
	if (!t->b)
		abort();
	r->trans[r->ntrans++] = t;
	r->map = next;
	r->moves++;
	r->next_hold_check_ms = 0;
	log_info(r->log, "router: bucket map changed (%u -> %u buckets); moved teams wait for their old bucket's consumers",
		 t->from->count, next->count);
}

/* Reads the old topic's high watermarks; a topic that does not exist has
 * nothing to wait for. */
static int take_marks(struct router *r, struct rt_transition *t, unsigned b)
{
	int64_t high[MAX_MARKS];
	size_t n = MAX_MARKS;
	int rc = kafka_producer_watermarks(r->producers[0], t->from->topics[b],
					   high, &n, 5000);

	if (rc == -ENOENT) {
		t->b[b].released = true;
		return 0;
	}
	if (rc) {
		log_warn(r->log, "router: high watermarks of %s: %s",
			 t->from->topics[b], kafka_strerror(rc));
		return rc;
	}
	t->b[b].marks = malloc(n * sizeof(int64_t));
	if (!t->b[b].marks)
		abort();
	memcpy(t->b[b].marks, high, n * sizeof(int64_t));
	t->b[b].nmarks = n;
	t->b[b].marked = true;
	return 0;
}

static void check_bucket(struct router *r, struct rt_transition *t,
			 unsigned b)
{
	int64_t committed[MAX_MARKS];
	size_t n = MAX_MARKS, i;
	int rc;

	if (!t->b[b].marked && take_marks(r, t, b) != 0)
		return;
	if (t->b[b].released)
		return;
	rc = kafka_group_committed(r->o.bootstrap, r->o.kafka_conf,
				   t->from->groups[b], t->from->topics[b],
				   committed, &n, 5000, r->log);
	if (rc) {
		log_warn(r->log, "router: committed offsets of group %s: %s",
			 t->from->groups[b], kafka_strerror(rc));
		return;
	}
	for (i = 0; i < t->b[b].nmarks; i++)
		if (t->b[b].marks[i] > 0 &&
		    (i >= n || committed[i] < t->b[b].marks[i]))
			return;
	t->b[b].released = true;
	log_info(r->log, "router: group %s is past the move point on %s; its moved teams go on",
		 t->from->groups[b], t->from->topics[b]);
}

static bool finished(const struct rt_transition *t)
{
	unsigned b;

	for (b = 0; b < t->from->count; b++)
		if (!t->b[b].released)
			return false;
	return true;
}

void rt_check_holds(struct router *r)
{
	size_t i = 0;
	int64_t now = rt_now_ms();

	while (i < r->ntrans) {
		struct rt_transition *t = r->trans[i];
		unsigned b;

		for (b = 0; b < t->from->count && !r->stop; b++)
			if (!t->b[b].released)
				check_bucket(r, t, b);
		if (!finished(t) && now - t->started_ms >= r->o.hold_max_ms) {
			log_warn(r->log, "router: moved teams held for %u ms; releasing them (order across buckets is no longer guaranteed)",
				 r->o.hold_max_ms);
			r->hold_timeouts++;
			for (b = 0; b < t->from->count; b++)
				t->b[b].released = true;
		}
		if (finished(t)) {
			free_transition(t);
			memmove(r->trans + i, r->trans + i + 1,
				(--r->ntrans - i) * sizeof(r->trans[0]));
			continue;
		}
		i++;
	}
	rt_release_held(r);
}

void rt_release_held(struct router *r)
{
	size_t i, kept = 0;

	for (i = 0; i < r->nheld; i++) {
		struct rt_held *h = &r->held[i];

		if (rt_is_held(r, h->team)) {
			r->held[kept++] = *h;
			continue;
		}
		r->held_bytes -= h->m.len + h->m.key_len;
		rt_send(r, &h->m, rt_map_bucket(r->map, h->team), h->seq);
	}
	r->nheld = kept;
}

void rt_drop_held(struct router *r, int32_t partition)
{
	size_t i, kept = 0;

	for (i = 0; i < r->nheld; i++) {
		struct rt_held *h = &r->held[i];

		if (h->m.partition != partition) {
			r->held[kept++] = *h;
			continue;
		}
		r->held_bytes -= h->m.len + h->m.key_len;
		kafka_msg_release(&h->m);
	}
	r->nheld = kept;
}
