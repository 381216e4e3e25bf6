/*
 * Kubernetes resource quantities: text in, text out, no I/O. A module of
 * its own (quantity_dep) so that pure code (the PostHog API) canonicalizes
 * quantities without linking pkg/kube's API client; pkg/kube/kube.h
 * includes this header. The caller owns out.
 */
#ifndef PHO_QUANTITY_H
#define PHO_QUANTITY_H

#include <stddef.h>

/*
 * Writes quantity in (e.g. "1.5", "1024Mi", "1000m") to out in the canonical
 * form a real API server stores for a Quantity field ("1500m", "1Gi", "1"),
 * by upstream's rules (k8s.io/apimachinery/pkg/api/resource). Returns 0,
 * -EINVAL for a string that is no quantity, -ERANGE for one beyond about
 * 1e29, or -EMSGSIZE when out is too small (64 bytes always suffice).
 */
int kube_quantity_canonical(const char *in, char *out, size_t outlen)
	__attribute__((warn_unused_result));

#endif
