/*
 * buf: a growable byte buffer with a hard cap.
 *
 * A small value type, caller-allocated: buf_init() cannot fail, and
 * buf_free() releases the storage. Everything sized by input (HTTP bodies,
 * watch lines, YAML documents) goes through a buf so that a hostile or
 * broken peer cannot make the process allocate without bound. The data is
 * always NUL-terminated, so text can be used as a C string.
 */
#ifndef PHO_BUF_H
#define PHO_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;   /* NULL until the first append */
	size_t len;   /* bytes used, excluding the NUL */
	size_t alloc; /* bytes allocated */
	size_t cap;   /* most bytes len may reach */
	int err;      /* the first failure of a buf_put* (see below), or 0 */
};

void buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);

/* Returns 0, or -EMSGSIZE when the result would exceed the cap (then b is
 * unchanged). */
int buf_append(struct buf *b, const void *data, size_t len)
	__attribute__((warn_unused_result));
int buf_append_str(struct buf *b, const char *s) __attribute__((warn_unused_result));
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)))
	__attribute__((warn_unused_result));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)))
	__attribute__((warn_unused_result));

/*
 * Writers for text built in many steps and checked once, like stdio and
 * ferror(): the first failure (-EMSGSIZE, -EINVAL for a bad format) is
 * kept in b->err and every later put is skipped, so that the text never
 * has a gap. buf_error() says whether all of them succeeded; buf_reset()
 * and buf_free() clear it. Use these, or check each buf_append* result.
 */
void buf_put(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* 0, or the first failure of a buf_put* since buf_init or buf_reset. */
int buf_error(const struct buf *b) __attribute__((warn_unused_result));

/*
 * A libcurl CURLOPT_WRITEFUNCTION that appends to the struct buf given as
 * userdata: returns size * nmemb, or 0 when the cap would be passed, which
 * makes libcurl fail the transfer with CURLE_WRITE_ERROR (b unchanged).
 */
size_t buf_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata);

/* Room for len more bytes without another allocation: exactly that much,
 * where growing by appends doubles. For text whose size is known roughly
 * beforehand. Returns 0, or -EMSGSIZE past the cap (b unchanged). */
int buf_reserve(struct buf *b, size_t len) __attribute__((warn_unused_result));

/* Back to the first len bytes (no-op if len >= b->len), clearing a put
 * failure: undoes text appended with buf_put* after a check failed. */
void buf_truncate(struct buf *b, size_t len);

/* Removes the first n bytes (all if n >= len). */
void buf_consume(struct buf *b, size_t n);

/* The contents as a C string; "" when empty. Borrowed. */
const char *buf_str(const struct buf *b);

/* Hands the storage to the caller (who frees it) and empties b. Never NULL. */
char *buf_take(struct buf *b);

#endif
