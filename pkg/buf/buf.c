#include "buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
	b->err = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->cap);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for len more bytes plus the NUL: exactly, or by doubling.
 * Small allocations abort on failure, as everywhere in the project; the
 * cap is what bounds them. */
static int reserve(struct buf *b, size_t len, bool exact)
{
	size_t need, n;

	if (len > b->cap || b->len > b->cap - len)
		return -EMSGSIZE;
	need = b->len + len + 1;
	if (need <= b->alloc)
		return 0;
	n = exact ? need : b->alloc ? b->alloc : 64;
	while (n < need)
		n *= 2;
	if (n > b->cap + 1)
		n = b->cap + 1;
	b->data = realloc(b->data, n);
	if (!b->data)
		abort();
	b->alloc = n;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	int r = reserve(b, len, false);

	if (r < 0)
		return r;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n, r;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return -EINVAL;
	r = reserve(b, (size_t)n, false);
	if (r < 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void buf_put(struct buf *b, const void *data, size_t len)
{
	if (!b->err)
		b->err = buf_append(b, data, len);
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_putf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->err)
		return;
	va_start(ap, fmt);
	b->err = buf_vprintf(b, fmt, ap);
	va_end(ap);
}

int buf_error(const struct buf *b)
{
	return b->err;
}

size_t buf_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t n = size * nmemb; /* libcurl passes size 1 */

	return buf_append(userdata, ptr, n) < 0 ? 0 : n;
}

int buf_reserve(struct buf *b, size_t len)
{
	return reserve(b, len, true);
}

void buf_truncate(struct buf *b, size_t len)
{
	b->err = 0;
	if (len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0; /* not buf_reset(): b->err stays */
		if (b->data)
			b->data[0] = '\0';
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

char *buf_take(struct buf *b)
{
	char *p = b->data;

	if (!p) {
		p = strdup("");
		if (!p)
			abort();
	}
	buf_init(b, b->cap);
	return p;
}
