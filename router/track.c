/*
 * Offset tracking for at-least-once delivery: a ring per source partition
 * of (offset, done) in consumption order, indexed by a sequence number
 * that only grows, so an acknowledgement from before a reset can be told
 * apart and ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "router-private.h"

struct ring {
	int64_t *offs;
	uint8_t *done;
	size_t cap; /* power of two, or 0 */
	uint64_t head, tail; /* sequence numbers: [head, tail) pending */
};

struct rt_track {
	struct ring *parts;
	size_t nparts;
	size_t pending;
};

struct rt_track *rt_track_new(void)
{
	struct rt_track *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	return t;
}

void rt_track_free(struct rt_track *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nparts; i++) {
		free(t->parts[i].offs);
		free(t->parts[i].done);
	}
	free(t->parts);
	free(t);
}

static struct ring *ring(struct rt_track *t, int32_t partition)
{
	size_t p = (size_t)partition, n;

	if (partition < 0 || p >= RT_MAX_PARTITIONS)
		abort(); /* Kafka partitions are below this */
	if (p >= t->nparts) {
		n = p + 1 > t->nparts * 2 ? p + 1 : t->nparts * 2;
		t->parts = realloc(t->parts, n * sizeof(*t->parts));
		if (!t->parts)
			abort();
		memset(t->parts + t->nparts, 0, (n - t->nparts) * sizeof(*t->parts));
		t->nparts = n;
	}
	return &t->parts[p];
}

static void grow(struct ring *r)
{
	size_t cap = r->cap ? r->cap * 2 : 1024;
	int64_t *offs = malloc(cap * sizeof(*offs));
	uint8_t *done = malloc(cap);
	uint64_t s;

	if (!offs || !done)
		abort();
	for (s = r->head; s < r->tail; s++) {
		offs[s & (cap - 1)] = r->offs[s & (r->cap - 1)];
		done[s & (cap - 1)] = r->done[s & (r->cap - 1)];
	}
	free(r->offs);
	free(r->done);
	r->offs = offs;
	r->done = done;
	r->cap = cap;
}

uint64_t rt_track_push(struct rt_track *t, int32_t partition, int64_t offset)
{
	struct ring *r = ring(t, partition);
	uint64_t s = r->tail;

	if (r->tail - r->head == r->cap)
		grow(r);
	r->offs[s & (r->cap - 1)] = offset;
	r->done[s & (r->cap - 1)] = 0;
	r->tail++;
	t->pending++;
	return s;
}

void rt_track_done(struct rt_track *t, int32_t partition, uint64_t seq)
{
	struct ring *r = ring(t, partition);

	if (seq >= r->head && seq < r->tail)
		r->done[seq & (r->cap - 1)] = 1;
}

int rt_track_advance(struct rt_track *t, int32_t partition, int64_t *next)
{
	struct ring *r = ring(t, partition);
	uint64_t h = r->head;

	while (r->head < r->tail && r->done[r->head & (r->cap - 1)])
		r->head++;
	if (r->head == h)
		return 0;
	t->pending -= r->head - h;
	*next = r->offs[(r->head - 1) & (r->cap - 1)] + 1;
	return 1;
}

void rt_track_reset(struct rt_track *t, int32_t partition)
{
	struct ring *r = ring(t, partition);

	t->pending -= r->tail - r->head;
	r->head = r->tail;
}

size_t rt_track_pending(const struct rt_track *t)
{
	return t->pending;
}
