/*
 * Framing of the watch stream.
 *
 * The API server writes one JSON object per event, each followed by a
 * newline, but client-go reads the stream with a streaming JSON decoder
 * and so does not depend on the newline. We do the same: a small state
 * machine tracks string and escape state and brace depth, and an object
 * ends where its depth returns to zero. Whitespace between objects is
 * skipped. The state survives between chunks, so any split (one byte at a
 * time included) frames the same way, and every byte is scanned once.
 */
#include "kube-private.h"

void kube_wdec_init(struct kube_wdec *d, size_t max_event,
		    int (*on_object)(void *userdata, cJSON *obj),
		    void *userdata)
{
	buf_init(&d->cur, max_event);
	d->depth = 0;
	d->in_string = false;
	d->escape = false;
	d->on_object = on_object;
	d->userdata = userdata;
}

void kube_wdec_free(struct kube_wdec *d)
{
	buf_free(&d->cur);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Advances the scanner over one byte of an object. Returns true when the
 * object is complete. */
static bool scan_byte(struct kube_wdec *d, char c)
{
	if (d->in_string) {
		if (d->escape)
			d->escape = false;
		else if (c == '\\')
			d->escape = true;
		else if (c == '"')
			d->in_string = false;
		return false;
	}
	if (c == '"')
		d->in_string = true;
	else if (c == '{' || c == '[')
		d->depth++;
	else if (c == '}' || c == ']')
		d->depth--;
	return d->depth == 0;
}

static int emit(struct kube_wdec *d)
{
	cJSON *obj = cJSON_ParseWithLength(d->cur.data, d->cur.len);
	buf_reset(&d->cur);
	if (!obj || !cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		return -EBADMSG;
	}
	return d->on_object(d->userdata, obj);
}

int kube_wdec_feed(struct kube_wdec *d, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (d->cur.len == 0) {
			/* Between objects: only whitespace, then '{'. */
			if (is_space(data[i])) {
				i++;
				continue;
			}
			if (data[i] != '{')
				return -EBADMSG;
		}
		/* Take bytes up to the end of this object or of the chunk. */
		size_t start = i;
		bool done = false;
		while (i < len && !done)
			done = scan_byte(d, data[i++]);
		if (d->depth < 0)
			return -EBADMSG;
		if (buf_append(&d->cur, data + start, i - start) < 0)
			return -EFBIG;
		if (done) {
			int err = emit(d);
			if (err)
				return err;
		}
	}
	return 0;
}

int kube_wdec_finish(struct kube_wdec *d)
{
	return d->cur.len ? -EBADMSG : 0;
}
