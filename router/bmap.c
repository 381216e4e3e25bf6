/*
 * The bucket map the operator publishes (api/posthog/buckets.c
 * writes it; docs/buckets.md specifies it), read back. The router refuses
 * any map whose assignment function it does not implement, rather than
 * guess: routing a team to the wrong bucket is worse than keeping the last
 * good map.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/posthog/posthog.h"
#include "router-private.h"

_Static_assert(RT_MAX_BUCKETS == PH_MAX_BUCKETS, "the router knows as many buckets as the API allows");

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The assignment function, as named in the map, must be the one
 * ph_bucket_for_team() computes. */
static int check_algorithm(const cJSON *doc, char *err, size_t errlen)
{
	static const char *const want[][2] = {
		{ "teamHash", "splitmix64" },
		{ "splitmix64Gamma", "0x9e3779b97f4a7c15" },
		{ "splitmix64Mul1", "0xbf58476d1ce4e5b9" },
		{ "splitmix64Mul2", "0x94d049bb133111eb" },
		{ "jumpMultiplier", "2862933555777941757" },
	};
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(doc, "parameters");
	const char *alg = str(doc, "algorithm");
	size_t i;

	if (!alg || strcmp(alg, "JumpHash"))
		return fail(err, errlen, "algorithm: want \"JumpHash\", got %s%s%s",
			    alg ? "\"" : "", alg ? alg : "none", alg ? "\"" : "");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *v = str(params, want[i][0]);

		if (!v || strcmp(v, want[i][1]))
			return fail(err, errlen, "parameters.%s: want \"%s\"",
				    want[i][0], want[i][1]);
	}
	return 0;
}

static int cmp_pin(const void *a, const void *b)
{
	const struct rt_map_pin *x = a, *y = b;

	return x->team < y->team ? -1 : x->team > y->team;
}

static int parse_team(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_pins(const cJSON *doc, struct rt_map *m, char *err,
		      size_t errlen)
{
	const cJSON *pins = cJSON_GetObjectItemCaseSensitive(doc, "pins"), *p;
	size_t n = 0;

	if (pins && !cJSON_IsObject(pins))
		return fail(err, errlen, "pins: want an object of team id -> bucket");
	m->pins = calloc((size_t)cJSON_GetArraySize(pins) + 1, sizeof(*m->pins));
	if (!m->pins)
		abort();
	cJSON_ArrayForEach(p, pins) {
		int64_t team;

		if (parse_team(p->string, &team))
			return fail(err, errlen, "pins.%s: the key must be a team id",
				    p->string);
		if (!cJSON_IsNumber(p) || p->valuedouble < 0 ||
		    p->valuedouble >= m->count ||
		    p->valuedouble != (double)(unsigned)p->valuedouble)
			return fail(err, errlen, "pins.%s: want a bucket below %u",
				    p->string, m->count);
		m->pins[n].team = team;
		m->pins[n++].bucket = (unsigned)p->valuedouble;
	}
	m->npins = n;
	qsort(m->pins, n, sizeof(*m->pins), cmp_pin);
	return 0;
}

static int topic_ok(const char *t)
{
	size_t i, n = t ? strlen(t) : 0;

	if (n == 0 || n > KAFKA_MAX_TOPIC)
		return 0;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", t[i]))
			return 0;
	return 1;
}

static int parse_topics(const cJSON *doc, struct rt_map *m, char *err,
			size_t errlen)
{
	const cJSON *topics = cJSON_GetObjectItemCaseSensitive(doc, "topics"), *e;
	unsigned seen = 0, b;

	m->topics = calloc(m->count, sizeof(*m->topics));
	m->groups = calloc(m->count, sizeof(*m->groups));
	if (!m->topics || !m->groups)
		abort();
	if (!cJSON_IsArray(topics))
		return fail(err, errlen, "topics: want an array");
	cJSON_ArrayForEach(e, topics) {
		const cJSON *bj = cJSON_GetObjectItemCaseSensitive(e, "bucket");
		const char *t = str(e, "ingestionTopic"), *g = str(e, "ingestionGroup");

		if (!cJSON_IsNumber(bj) || bj->valuedouble < 0 ||
		    bj->valuedouble >= m->count)
			return fail(err, errlen, "topics[].bucket: want a number below %u",
				    m->count);
		b = (unsigned)bj->valuedouble;
		if (!topic_ok(t))
			return fail(err, errlen, "topics[%u].ingestionTopic: want a Kafka topic name",
				    b);
		if (g && (!*g || strlen(g) > KAFKA_MAX_TOPIC))
			return fail(err, errlen, "topics[%u].ingestionGroup: want a group id",
				    b);
		if (m->topics[b][0])
			return fail(err, errlen, "topics: bucket %u listed twice", b);
		snprintf(m->topics[b], sizeof(m->topics[b]), "%s", t);
		/* Maps from before ingestionGroup name the Env routing's
		 * group (docs/buckets.md). */
		if (g)
			snprintf(m->groups[b], sizeof(m->groups[b]), "%s", g);
		else
			snprintf(m->groups[b], sizeof(m->groups[b]),
				 "events-ingestion-consumer-%u", b);
		seen++;
	}
	if (seen != m->count)
		return fail(err, errlen, "topics: want one entry per bucket 0..%u",
			    m->count - 1);
	return 0;
}

int rt_map_parse(const char *text, size_t len, struct rt_map **out,
		 char *err, size_t errlen)
{
	cJSON *doc = cJSON_ParseWithLength(text, len);
	const cJSON *v, *c;
	struct rt_map *m;
	int rc;

	if (!doc)
		return fail(err, errlen, "not valid JSON");
	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	v = cJSON_GetObjectItemCaseSensitive(doc, "version");
	c = cJSON_GetObjectItemCaseSensitive(doc, "buckets");
	if (!cJSON_IsNumber(v) || v->valuedouble != 1)
		rc = fail(err, errlen, "version: want 1 (the only version this router knows)");
	else if ((rc = check_algorithm(doc, err, errlen)) != 0)
		;
	else if (!cJSON_IsNumber(c) || c->valuedouble < 1 ||
		 c->valuedouble > RT_MAX_BUCKETS ||
		 c->valuedouble != (double)(unsigned)c->valuedouble)
		rc = fail(err, errlen, "buckets: want a count in 1..%d", RT_MAX_BUCKETS);
	else {
		m->count = (unsigned)c->valuedouble;
		rc = parse_pins(doc, m, err, errlen);
		if (!rc)
			rc = parse_topics(doc, m, err, errlen);
	}
	cJSON_Delete(doc);
	if (rc) {
		rt_map_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void rt_map_free(struct rt_map *m)
{
	if (!m)
		return;
	free(m->pins);
	free(m->topics);
	free(m->groups);
	free(m);
}

unsigned rt_map_bucket(const struct rt_map *m, int64_t team)
{
	size_t lo = 0, hi = m->npins;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->pins[mid].team == team)
			return m->pins[mid].bucket;
		if (m->pins[mid].team < team)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ph_jump_hash(ph_team_hash(team), m->count);
}

bool rt_map_same_routing(const struct rt_map *a, const struct rt_map *b)
{
	unsigned i;

	if (a->count != b->count || a->npins != b->npins ||
	    memcmp(a->pins, b->pins, a->npins * sizeof(*a->pins)))
		return false;
	for (i = 0; i < a->count; i++)
		if (strcmp(a->topics[i], b->topics[i]))
			return false;
	return true;
}
