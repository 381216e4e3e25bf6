/*
 * libFuzzer target: a PostHog document (JSON) through the API layer the
 * reconciler runs on every spec a user writes: normalization, validation,
 * and, for a spec that validates, the builders, the bucket map and the
 * per-bucket names. A spec that validates must build, and what it builds
 * must keep the invariants of invariants.h; a violation aborts with the
 * rule it broke, so libFuzzer keeps the input as a crash.
 *
 * An input without "apiVersion" is a JSON merge patch (RFC 7386) over a
 * small valid PostHog, so that mutations of a few fields, which mostly
 * keep the spec valid, reach the builders more often than mutations of a
 * whole document do.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/posthog/posthog.h"
#include "invariants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_posthog_spec: %s: %s\n", what, detail);
	abort();
}

static void check_buckets(const cJSON *ph, const cJSON *spec)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(ph, "metadata");
	const cJSON *buckets = cJSON_GetObjectItemCaseSensitive(spec, "buckets");
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(buckets, "count");
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
	struct ph_bucket_names names;
	cJSON *map = NULL;
	int n = cJSON_IsNumber(count) ? count->valueint : 1;

	if (ph_bucket_map(ph, &map) < 0)
		broken("bucket map", "a valid spec has no bucket map");
	cJSON_Delete(map);
	for (int b = 0; b < n; b++)
		if (ph_bucket_names(name, spec, (unsigned)b, &names) < 0)
			broken("bucket names", "a bucket below the count has no names");
}

static const char base_posthog[] =
	"{\"apiVersion\":\"posthog.com/v1alpha1\",\"kind\":\"PostHog\","
	"\"metadata\":{\"name\":\"posthog\",\"namespace\":\"default\","
	"\"uid\":\"0b9c7c1e-1111-2222-3333-444455556666\"},"
	"\"spec\":{\"version\":\"latest\",\"zookeeper\":{\"replicas\":1},"
	"\"kafka\":{\"brokers\":1,\"topics\":{\"partitions\":1}},"
	"\"clickhouse\":{\"passwordSecret\":{\"name\":\"posthog-clickhouse\"}}}}";

/* RFC 7386: null removes, objects merge, anything else replaces. */
static void merge_patch(cJSON *target, const cJSON *patch)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, patch) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);

		if (!p->string)
			continue;
		if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
			merge_patch(t, p);
			continue;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
		if (!cJSON_IsNull(p))
			cJSON_AddItemToObject(target, p->string, cJSON_Duplicate(p, 1));
	}
}

/* The PostHog the input stands for (caller frees), or NULL. */
static cJSON *posthog_of(const uint8_t *data, size_t size)
{
	cJSON *in = cJSON_ParseWithLength((const char *)data, size), *ph;

	if (!cJSON_IsObject(in) || cJSON_GetObjectItemCaseSensitive(in, "apiVersion"))
		return in;
	ph = cJSON_Parse(base_posthog);
	merge_patch(ph, in);
	cJSON_Delete(in);
	return ph;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *ph = posthog_of(data, size);
	cJSON *spec = NULL, *problems = NULL, *entries = NULL;
	char msg[1024];
	int r;

	if (!cJSON_IsObject(ph))
		goto out;
	if (ph_normalize(ph, &spec) < 0)
		goto out;
	r = ph_validate(ph, &problems);
	if (r < 0)
		goto out;
	if (ph_build(ph, &entries) < 0)
		broken("build", "a spec that validates does not build");
	if (phi_check(ph, entries, msg, sizeof(msg)) < 0)
		broken("invariant", msg);
	check_buckets(ph, spec);
out:
	cJSON_Delete(entries);
	cJSON_Delete(problems);
	cJSON_Delete(spec);
	cJSON_Delete(ph);
	return 0;
}
