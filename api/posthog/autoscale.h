/*
 * autoscale: the pure decision behind `autoscaling.metric: lag` (no I/O, no
 * clock: the caller passes the time). docs/autoscaling.md explains the
 * algorithm and where each rule comes from; in short it is the HPA's
 * (kubernetes pkg/controller/podautoscaler/horizontal.go) with the lag as
 * the metric:
 *
 *   raw     = ceil(lag / targetLagPerReplica)
 *   up      = min(raw, recommendations of the last scaleUp window)
 *   down    = max(raw, recommendations of the last scaleDown window)
 *   desired = current, raised to up, lowered to down
 *   desired = min(desired, max(current * 2, current + 4))  (scale-up rate)
 *   desired = clamp(desired, min, max), then min(desired, partitions)
 */
#ifndef PHO_POSTHOG_AUTOSCALE_H
#define PHO_POSTHOG_AUTOSCALE_H

#include <stddef.h>
#include <stdint.h>

/* Recommendations kept per Deployment. At one read per 15 s a 300 s
 * window holds 20; when full the oldest is replaced, which only shortens
 * the window for reads more frequent than that. */
#define PH_LAG_HISTORY 64

struct ph_lag_policy {
	int min_replicas;      /* >= 1 */
	int max_replicas;      /* >= min_replicas */
	int64_t target;        /* lag per replica, >= 1 */
	int up_window_s;       /* scale-up stabilization, seconds */
	int down_window_s;     /* scale-down stabilization, seconds */
};

/* The raw recommendations of earlier decisions, oldest first.
 * Caller-allocated; zero it before the first decision. */
struct ph_lag_history {
	int64_t at_ms[PH_LAG_HISTORY];
	int replicas[PH_LAG_HISTORY];
	size_t n;
};

struct ph_lag_input {
	int64_t lag;           /* messages, >= 0 */
	int64_t partitions;    /* the topic's; 0 when unknown (no cap) */
	int current;           /* the Deployment's spec.replicas, >= 0 */
	int64_t now_ms;        /* monotonic time of the read */
};

enum ph_lag_limit {
	PH_LAG_NONE,          /* desired is the recommendation */
	PH_LAG_STABILIZED,    /* a window held the count */
	PH_LAG_RATE,          /* the scale-up rate limit */
	PH_LAG_MIN,           /* raised to minReplicas */
	PH_LAG_MAX,           /* lowered to maxReplicas */
	PH_LAG_PARTITIONS,    /* lowered to the partition count */
};

struct ph_lag_decision {
	int raw;               /* ceil(lag / target), capped at INT32_MAX */
	int desired;           /* what the Deployment should run */
	enum ph_lag_limit limit; /* the last rule that changed the count */
	char reason[256];      /* for humans: status, Event */
};

/*
 * Decides the replica count for in under p, using and then updating h
 * (the new raw recommendation is added, recommendations older than both
 * windows are dropped). Returns 0, or -EINVAL for a policy or input out
 * of range (h and out untouched).
 */
int ph_lag_decide(const struct ph_lag_policy *p, struct ph_lag_history *h,
		  const struct ph_lag_input *in, struct ph_lag_decision *out)
	__attribute__((warn_unused_result));

/* "none", "stabilized", "rate", "min", "max", "partitions". */
const char *ph_lag_limit_name(enum ph_lag_limit l);

#endif
