/*
 * The token -> team table: open addressing with linear probing over FNV-1a
 * hashes, keys in one growing arena. Built whole by the refresher and
 * swapped in; the main loop adds single lookups to the table it owns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "router-private.h"
#include "pkg/util/util.h"

struct slot {
	uint64_t hash;
	size_t key; /* offset in the arena; 0 = empty */
	uint32_t len;
	int64_t team;
};

struct rt_tokens {
	struct slot *slots;
	size_t cap, count; /* cap a power of two */
	char *arena;
	size_t used, size;
};

struct rt_tokens *rt_tokens_new(void)
{
	struct rt_tokens *t = util_xcalloc(1, sizeof(*t));

	t->cap = 1024;
	t->slots = util_xcalloc(t->cap, sizeof(*t->slots));
	t->size = 4096;
	t->arena = util_xcalloc(1, t->size);
	t->used = 1; /* offset 0 means empty */
	return t;
}

void rt_tokens_free(struct rt_tokens *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->arena);
	free(t);
}

static struct slot *find(const struct rt_tokens *t, const char *tok,
			 size_t len, uint64_t h)
{
	size_t i = h & (t->cap - 1);

	for (;; i = (i + 1) & (t->cap - 1)) {
		struct slot *s = &t->slots[i];

		if (!s->key || (s->hash == h && s->len == len &&
				!memcmp(t->arena + s->key, tok, len)))
			return s;
	}
}

static void grow(struct rt_tokens *t)
{
	struct slot *old = t->slots;
	size_t oldcap = t->cap, i;

	t->cap *= 2;
	t->slots = util_xcalloc(t->cap, sizeof(*t->slots));
	for (i = 0; i < oldcap; i++)
		if (old[i].key)
			*find(t, t->arena + old[i].key, old[i].len, old[i].hash) = old[i];
	free(old);
}

int rt_tokens_put(struct rt_tokens *t, const char *tok, size_t len,
		  int64_t team)
{
	uint64_t h = util_fnv1a64(tok, len);
	struct slot *s;

	if (len == 0 || len >= RT_MAX_TOKEN)
		return -E2BIG;
	if ((t->count + 1) * 2 > t->cap)
		grow(t);
	s = find(t, tok, len, h);
	if (!s->key) {
		while (t->used + len > t->size) {
			t->size *= 2;
			t->arena = realloc(t->arena, t->size);
			if (!t->arena)
				abort();
		}
		memcpy(t->arena + t->used, tok, len);
		s->key = t->used;
		s->len = (uint32_t)len;
		s->hash = h;
		t->used += len;
		t->count++;
	}
	s->team = team;
	return 0;
}

int rt_tokens_get(const struct rt_tokens *t, const char *tok, size_t len,
		  int64_t *team)
{
	const struct slot *s = find(t, tok, len, util_fnv1a64(tok, len));

	if (!s->key)
		return -ENOENT;
	*team = s->team;
	return 0;
}

size_t rt_tokens_count(const struct rt_tokens *t)
{
	return t->count;
}

static int parse_id(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int add_row(void *ud, int ncols, const char *const *vals)
{
	int64_t team;

	/* Rows PostHog would never write (NULL or overlong token, a
	 * non-integer id) are skipped, not fatal. */
	if (ncols == 2 && vals[0] && parse_id(vals[1], &team) == 0)
		rt_tokens_put(ud, vals[0], strlen(vals[0]), team);
	return 0;
}

/* PostHog's Team model (posthog/models/team/team.py): table posthog_team,
 * api_token varchar(200) unique, id the team id. */
int rt_tokens_load(struct pg *pg, struct rt_tokens **out)
{
	struct rt_tokens *t = rt_tokens_new();
	int rc = pg_query(pg, "SELECT api_token, id FROM posthog_team", NULL, 0,
			  add_row, t);

	if (rc) {
		rt_tokens_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static int one_id(void *ud, int ncols, const char *const *vals)
{
	return ncols == 1 && parse_id(vals[0], ud) == 0 ? 1 : 0;
}

int rt_tokens_lookup(struct pg *pg, const char *tok, int64_t *team)
{
	const char *params[] = { tok };
	int64_t id;
	int rc = pg_query(pg, "SELECT id FROM posthog_team WHERE api_token = $1",
			  params, 1, one_id, &id);

	if (rc == 1) {
		*team = id;
		return 0;
	}
	return rc ? rc : -ENOENT;
}
