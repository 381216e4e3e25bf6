/*
 * When to retry, and how long to wait.
 *
 * The rules follow client-go's rest.Request (request.go, checkWait and
 * isErrRetryableFunc) and widen them only where a retry is safe:
 *   - 429 and 5xx answers carrying Retry-After are retried for every verb:
 *     the server says the request was not processed and when to return.
 *   - 429 without Retry-After is retried for every verb too: the server
 *     (priority and fairness) rejected it before doing anything.
 *   - 500, 502, 503, 504 without Retry-After are retried for GET only; a
 *     write may have been applied before the failure.
 *   - A connection that could not be established (refused, unresolved,
 *     TLS handshake reset) never carried the request: every verb retries.
 *   - A connection lost after the request was sent (reset, EOF, timeout)
 *     is retried for GET only, as client-go does.
 * (Separately, libcurl resends a request once by itself when a reused
 * keep-alive connection turns out dead before any answer arrived: the
 * idle-close race every HTTP client handles; there is no option to turn
 * that off.)
 * The waits grow exponentially with jitter, a Retry-After value replaces
 * the computed wait, and the sum never exceeds the retry budget.
 */
#include <string.h>

#include "kube-private.h"

static bool is_get(const char *method)
{
	return method && (!strcmp(method, "GET") || !strcmp(method, "HEAD"));
}

bool kube_retry_allowed(const struct kube_attempt *a)
{
	if (a->code) {
		bool server_err = a->code == 500 || a->code == 502 ||
				  a->code == 503 || a->code == 504;
		if (a->code == 429)
			return true;
		if (a->code >= 500 && a->retry_after_s >= 0)
			return true;
		return server_err && is_get(a->method);
	}
	switch (a->err) {
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
		return true;
	case -ECONNRESET:
	case -ETIMEDOUT:
		return !a->sent || is_get(a->method);
	default:
		return false;
	}
}

/* xorshift64*: cheap, and only used to spread retries apart. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* "Equal jitter": half the exponential step is fixed so waits still grow,
 * the other half is random so clients restarting together spread out. */
uint64_t kube_backoff_ms(unsigned n, unsigned base_ms, unsigned max_ms,
			 uint64_t *rng)
{
	uint64_t d = base_ms ? base_ms : 1;
	for (unsigned i = 0; i < n && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	uint64_t half = d / 2;
	return half + (half ? next_rand(rng) % (half + 1) : 0);
}

long kube_parse_retry_after(const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
		       v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	if (!len || len > 9)
		return -1;
	long s = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1; /* HTTP-dates are not sent by the API server */
		s = s * 10 + (v[i] - '0');
	}
	return s;
}

int64_t kube_retry_delay(const struct kube_attempt *a, unsigned n,
			 uint64_t elapsed_ms, unsigned budget_ms,
			 unsigned base_ms, unsigned max_ms, uint64_t *rng)
{
	if (!kube_retry_allowed(a))
		return -1;
	uint64_t wait = a->retry_after_s >= 0 ?
				(uint64_t)a->retry_after_s * 1000u :
				kube_backoff_ms(n, base_ms, max_ms, rng);
	if (elapsed_ms + wait > budget_ms)
		return -1;
	return (int64_t)wait;
}
