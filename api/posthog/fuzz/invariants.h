/*
 * Invariants of ph_build's output that hold for every spec ph_validate
 * accepts, checked by the spec fuzzer (fuzz_posthog_spec.c) and by the
 * unit test test_invariants.c. Test support; not part of the operator.
 */
#ifndef PHO_POSTHOG_INVARIANTS_H
#define PHO_POSTHOG_INVARIANTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Checks the entries ph_build made for posthog (both borrowed):
 *   - names: every metadata.name is a DNS-1123 subdomain and a valid label
 *     value (63 characters; a Job's pods carry its name as a label);
 *     Services' and StatefulSets' are DNS-1123 labels (host names),
 *     Services' also DNS-1035 (starting with a letter), StatefulSets'
 *     at most 52 characters (the pods' controller-revision-hash label is
 *     the name, '-' and a 10-character hash); container and volume names
 *     DNS-1123 labels, unique within the pod; port names at most 15;
 *   - labels: every label value valid (63 characters, alphanumeric ends);
 *   - selectors: a workload's selector is non-empty and matches its own
 *     pod template and no other workload's; each Service and PDB selector
 *     matches some workload's pods; an HPA targets a built workload; a
 *     StatefulSet's serviceName is a built Service;
 *   - no two objects share kind and name; every object is in posthog's
 *     namespace.
 * Returns 0, or -EINVAL with the first violation described in msg.
 */
int phi_check(const cJSON *posthog, const cJSON *entries, char *msg, size_t msglen);

#endif
