/*
 * leader: leader election on a coordination.k8s.io/v1 Lease, after
 * client-go's leaderelection package.
 *
 * A candidate takes the Lease when it is free (no holder, or holder ""),
 * or when the record has not changed for lease_duration as observed on the
 * local clock (other nodes' clocks are never trusted). The leader renews
 * every retry_period; when no renewal succeeded for renew_deadline it
 * loses leadership at once: on_stopped runs, and the candidate does not
 * try again (the process is expected to exit, as client-go's do).
 * leader_stop(release=true) hands the Lease back by clearing
 * holderIdentity and setting leaseDurationSeconds to 1, so another replica
 * takes over without waiting for expiry (client-go's ReleaseOnCancel).
 */
#ifndef PHO_LEADER_H
#define PHO_LEADER_H

#include <stdbool.h>

#include "pkg/kube/kube.h"
#include "pkg/log/log.h"
#include "pkg/metrics/metrics.h"

struct leader;

struct leader_options {
	const char *namespace;      /* of the Lease; copied */
	const char *name;           /* the Lease; copied */
	const char *identity;       /* holderIdentity; copied */
	unsigned lease_duration_ms; /* default 15000 */
	unsigned renew_deadline_ms; /* default 10000 */
	unsigned retry_period_ms;   /* default 2000 */
	/* Called on the election thread. on_started once leadership is
	 * acquired; on_stopped once it is lost (never after a clean stop). */
	void (*on_started)(void *userdata);
	void (*on_stopped)(void *userdata);
	void *userdata;
	struct metrics *metrics;    /* borrowed, may be NULL */
	struct log *log;            /* borrowed */
};

/* The client is borrowed. Returns 0 or -EINVAL (renew_deadline must exceed
 * 1.2 x retry_period and be below lease_duration, as client-go checks). */
int leader_new(struct kube_client *c, const struct leader_options *opts,
	       struct leader **out) __attribute__((warn_unused_result));
/* Stops (releasing the Lease if held) first. Accepts NULL. */
void leader_free(struct leader *l);

/* Starts the election thread. */
int leader_start(struct leader *l) __attribute__((warn_unused_result));
/* Stops the election thread; with release and leadership held, hands the
 * Lease back. Idempotent. */
void leader_stop(struct leader *l, bool release);

bool leader_is_leader(struct leader *l);
/* True once leadership was held and then lost. */
bool leader_lost(struct leader *l);

#endif
