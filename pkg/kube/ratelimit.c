/*
 * A token bucket (qps refill, burst capacity) shared by all threads of a
 * client. A caller reserves a token under the lock and then sleeps
 * outside it, so waiting threads do not serialize on the mutex; the bucket
 * may go negative, which queues later callers behind earlier ones.
 */
#include "kube-private.h"

void kube_ratelimit_init(struct kube_ratelimit *rl, double qps, int burst)
{
	pthread_mutex_init(&rl->lock, NULL);
	rl->qps = qps;
	rl->burst = burst > 0 ? burst : 1;
	rl->tokens = rl->burst;
	rl->last_ms = 0;
}

void kube_ratelimit_destroy(struct kube_ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

uint64_t kube_ratelimit_reserve(struct kube_ratelimit *rl, uint64_t now_ms)
{
	if (rl->qps <= 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	if (rl->last_ms == 0)
		rl->last_ms = now_ms;
	if (now_ms > rl->last_ms) {
		rl->tokens += (double)(now_ms - rl->last_ms) * rl->qps / 1000.0;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->last_ms = now_ms;
	}
	rl->tokens -= 1.0;
	double deficit = rl->tokens < 0 ? -rl->tokens : 0;
	pthread_mutex_unlock(&rl->lock);
	/* Round up: waking a millisecond early would find the bucket short. */
	double ms = deficit * 1000.0 / rl->qps;
	uint64_t wait = (uint64_t)ms;
	return (double)wait < ms ? wait + 1 : wait;
}

int kube_ratelimit_wait(struct kube_ratelimit *rl, const atomic_bool *cancel)
{
	uint64_t wait = kube_ratelimit_reserve(rl, kube_now_ms());
	return wait ? kube_sleep_ms(wait, cancel) : 0;
}
