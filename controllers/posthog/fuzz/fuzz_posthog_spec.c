/*
 * libFuzzer target: a PostHog document (JSON) through the API layer the
 * reconciler runs on every spec a user writes: normalization, validation,
 * and, for a spec that validates, the builders, the bucket map and the
 * per-bucket names. A spec that validates must build, and what it builds
 * must keep the invariants of invariants.h; a violation aborts with the
 * rule it broke, so libFuzzer keeps the input as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../posthog.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *ph = cJSON_ParseWithLength((const char *)data, size);
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
