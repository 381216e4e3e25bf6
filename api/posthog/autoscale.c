/*
 * The lag autoscaler's decision. Stabilization follows the HPA's
 * stabilizeRecommendationWithBehaviors (kubernetes
 * pkg/controller/podautoscaler/horizontal.go): the newest raw
 * recommendation is compared with those inside each window, so a scale-up
 * needs every recommendation of the up window to be higher than the
 * current count, and a scale-down needs every one of the down window to be
 * lower. The scale-up rate is the HPA's default policy (4 pods or 100 %,
 * whichever is more, per 15 s; kubernetes pkg/apis/autoscaling/v2/
 * defaults.go) applied per decision.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "autoscale.h"

static int raw_recommendation(int64_t lag, int64_t target)
{
	int64_t r = lag / target + (lag % target != 0);

	return r > INT32_MAX ? INT32_MAX : (int)r;
}

/* Drops recommendations older than both windows, then appends raw. */
static void remember(struct ph_lag_history *h, int64_t now_ms, int64_t keep_ms,
		     int raw)
{
	size_t i, kept = 0;

	for (i = 0; i < h->n; i++) {
		if (now_ms - h->at_ms[i] > keep_ms)
			continue;
		h->at_ms[kept] = h->at_ms[i];
		h->replicas[kept] = h->replicas[i];
		kept++;
	}
	h->n = kept;
	if (h->n == PH_LAG_HISTORY) {
		memmove(h->at_ms, h->at_ms + 1, (PH_LAG_HISTORY - 1) * sizeof(h->at_ms[0]));
		memmove(h->replicas, h->replicas + 1,
			(PH_LAG_HISTORY - 1) * sizeof(h->replicas[0]));
		h->n--;
	}
	h->at_ms[h->n] = now_ms;
	h->replicas[h->n] = raw;
	h->n++;
}

static int stabilize(const struct ph_lag_policy *p, const struct ph_lag_history *h,
		     const struct ph_lag_input *in, int raw)
{
	int up = raw, down = raw, r = in->current;
	size_t i;

	for (i = 0; i < h->n; i++) {
		int64_t age = in->now_ms - h->at_ms[i];

		if (age < (int64_t)p->up_window_s * 1000 && h->replicas[i] < up)
			up = h->replicas[i];
		if (age < (int64_t)p->down_window_s * 1000 && h->replicas[i] > down)
			down = h->replicas[i];
	}
	if (r < up)
		r = up;
	if (r > down)
		r = down;
	return r;
}

static bool policy_ok(const struct ph_lag_policy *p)
{
	return p->min_replicas >= 1 && p->max_replicas >= p->min_replicas &&
	       p->target >= 1 && p->up_window_s >= 0 && p->down_window_s >= 0;
}

int ph_lag_decide(const struct ph_lag_policy *p, struct ph_lag_history *h,
		  const struct ph_lag_input *in, struct ph_lag_decision *out)
{
	struct ph_lag_decision d = {.limit = PH_LAG_NONE};
	int64_t keep_ms;
	int r, rate;

	if (!policy_ok(p) || in->lag < 0 || in->partitions < 0 || in->current < 0)
		return -EINVAL;
	d.raw = raw_recommendation(in->lag, p->target);
	r = stabilize(p, h, in, d.raw);
	if (r != d.raw)
		d.limit = PH_LAG_STABILIZED;
	rate = in->current > 4 ? (in->current > INT32_MAX / 2 ? INT32_MAX : in->current * 2)
			       : in->current + 4;
	if (r > rate) {
		r = rate;
		d.limit = PH_LAG_RATE;
	}
	if (r < p->min_replicas) {
		r = p->min_replicas;
		d.limit = PH_LAG_MIN;
	}
	if (r > p->max_replicas) {
		r = p->max_replicas;
		d.limit = PH_LAG_MAX;
	}
	if (in->partitions > 0 && r > in->partitions) {
		r = (int)in->partitions;
		d.limit = PH_LAG_PARTITIONS;
	}
	d.desired = r;
	snprintf(d.reason, sizeof(d.reason),
		 "lag %lld over a target of %lld per replica recommends %d; %s gives %d",
		 (long long)in->lag, (long long)p->target, d.raw,
		 d.limit == PH_LAG_NONE ? "nothing limits it, which" :
		 d.limit == PH_LAG_STABILIZED ? "the stabilization window" :
		 d.limit == PH_LAG_RATE ? "the scale-up rate limit" :
		 d.limit == PH_LAG_MIN ? "minReplicas" :
		 d.limit == PH_LAG_MAX ? "maxReplicas" : "the topic's partition count",
		 r);
	keep_ms = (int64_t)(p->up_window_s > p->down_window_s ? p->up_window_s
							       : p->down_window_s) * 1000;
	remember(h, in->now_ms, keep_ms, d.raw);
	*out = d;
	return 0;
}

const char *ph_lag_limit_name(enum ph_lag_limit l)
{
	static const char *const names[] = {"none", "stabilized", "rate", "min", "max",
					    "partitions"};

	return (unsigned)l < sizeof(names) / sizeof(names[0]) ? names[l] : "unknown";
}
