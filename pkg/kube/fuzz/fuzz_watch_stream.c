/*
 * libFuzzer target: watch stream framing and event dispatch.
 *
 * The first byte picks the chunk size (1..64) and the second the event
 * cap, so the same stream is also framed across many boundaries; the rest
 * is the stream. Every event object must be handed to the callback, and
 * nothing may leak or overflow whatever the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "pkg/kube/kube-private.h"

struct ctx {
	char rv[KUBE_MAX_RV];
	struct kube_status st;
	unsigned events;
};

static int on_event(void *ud, enum kube_event_type t, cJSON *obj)
{
	struct ctx *c = ud;
	c->events++;
	cJSON_Delete(obj);
	return 0;
}

static int on_object(void *ud, cJSON *event)
{
	struct ctx *c = ud;
	return kube_watch_dispatch(event, on_event, c, c->rv, &c->st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t step = 1 + data[0] % 64;
	size_t cap = 64 + (size_t)data[1] * 64;
	data += 2;
	size -= 2;
	struct ctx c = { 0 };
	struct kube_wdec d;
	kube_wdec_init(&d, cap, on_object, &c);
	int err = 0;
	for (size_t off = 0; off < size && !err; off += step) {
		size_t n = size - off < step ? size - off : step;
		err = kube_wdec_feed(&d, (const char *)data + off, n);
	}
	if (!err)
		kube_wdec_finish(&d);
	kube_wdec_free(&d);
	return 0;
}
