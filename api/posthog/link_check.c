/*
 * api_link_check: linked with every object of the PostHog API library and
 * nothing but its pure dependencies (see meson.build). That it links at
 * all is the check; running it renders the minimal example's objects in
 * memory and prints their count, so that check_purity.sh can see it work.
 */
#include <stdio.h>
#include <stdlib.h>

#include "posthog.h"

int main(void)
{
	static const char doc[] =
		"{\"apiVersion\":\"posthog.com/v1alpha1\",\"kind\":\"PostHog\","
		"\"metadata\":{\"name\":\"ph\",\"namespace\":\"default\",\"uid\":\"u\"},"
		"\"spec\":{\"version\":\"03bc2ff27ab6730aef6b418718014e523e206fd3\","
		"\"postgres\":{\"urlSecret\":{\"name\":\"app\",\"key\":\"database-url\"}},"
		"\"redis\":{\"urlSecret\":{\"name\":\"app\",\"key\":\"redis-url\"}},"
		"\"secretKey\":{\"name\":\"app\"},\"encryptionSaltKeys\":{\"name\":\"app\"},"
		"\"clickhouse\":{\"passwordSecret\":{\"name\":\"ch\"}}}}";
	cJSON *ph = cJSON_Parse(doc), *entries = NULL;
	int r;

	if (!ph)
		return EXIT_FAILURE;
	r = ph_build(ph, &entries);
	cJSON_Delete(ph);
	if (r < 0) {
		fprintf(stderr, "api_link_check: %s\n", ph_strerror(r));
		return EXIT_FAILURE;
	}
	printf("%d\n", cJSON_GetArraySize(entries));
	cJSON_Delete(entries);
	return EXIT_SUCCESS;
}
