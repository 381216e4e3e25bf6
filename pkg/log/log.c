#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct log {
	int fd;
	enum log_level min;
	enum log_format format;
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_text[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

int log_new(int fd, enum log_level min_level, enum log_format format,
	    struct log **out)
{
	struct log *lg;

	if (min_level > LOG_ERROR || format > LOG_FORMAT_TEXT || fd < 0)
		return -EINVAL;
	lg = calloc(1, sizeof(*lg));
	if (!lg)
		abort();
	lg->fd = fd;
	lg->min = min_level;
	lg->format = format;
	*out = lg;
	return 0;
}

void log_free(struct log *lg)
{
	free(lg);
}

int log_parse_level(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} table[] = {
		{"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN},
		{"warning", LOG_WARN}, {"error", LOG_ERROR},
	};

	for (size_t i = 0; s && i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcasecmp(s, table[i].name) == 0) {
			*out = table[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (s && strcasecmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else if (s && strcasecmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else
		return -EINVAL;
	return 0;
}

bool log_enabled(const struct log *lg, enum log_level level)
{
	return lg && level >= lg->min;
}

/*
 * A small bounded writer: appends never overflow, and a record that does
 * not fit is cut and marked, because a truncated line beats no line.
 */
struct line {
	char *p;
	size_t len, cap;
	bool cut;
};

static void line_put(struct line *l, const char *s, size_t n)
{
	if (l->len + n > l->cap) {
		n = l->cap - l->len;
		l->cut = true;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

static void line_json_string(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	line_put(l, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			line_put(l, esc, 2);
		} else if (c == '\n') {
			line_put(l, "\\n", 2);
		} else if (c == '\t') {
			line_put(l, "\\t", 2);
		} else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			line_put(l, esc, 6);
		} else {
			line_put(l, (const char *)&c, 1);
		}
	}
	line_put(l, "\"", 1);
}

/* RFC 3339 with milliseconds, UTC: "2026-11-22T00:00:00.000Z". */
static void format_time(char out[40])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

static void json_field(struct line *l, const char *key, const char *val)
{
	if (!val)
		return;
	line_puts(l, ",\"");
	line_puts(l, key);
	line_puts(l, "\":");
	line_json_string(l, val);
}

static void render_json(struct line *l, const char *ts, enum log_level level,
			const struct log_fields *f, const char *msg)
{
	line_puts(l, "{\"ts\":\"");
	line_puts(l, ts);
	line_puts(l, "\",\"level\":\"");
	line_puts(l, level_names[level]);
	line_puts(l, "\",\"msg\":");
	line_json_string(l, msg);
	if (f) {
		json_field(l, "controller", f->controller);
		json_field(l, "namespace", f->namespace);
		json_field(l, "name", f->name);
	}
	line_puts(l, "}");
}

static void render_text(struct line *l, const char *ts, enum log_level level,
			const struct log_fields *f, const char *msg)
{
	line_puts(l, ts);
	line_puts(l, " ");
	line_puts(l, level_text[level]);
	line_puts(l, " ");
	if (f && f->controller) {
		line_puts(l, f->controller);
		line_puts(l, " ");
	}
	if (f && f->name) {
		if (f->namespace) {
			line_puts(l, f->namespace);
			line_puts(l, "/");
		}
		line_puts(l, f->name);
		line_puts(l, ": ");
	}
	line_puts(l, msg);
}

void log_vwrite(const struct log *lg, enum log_level level,
		const struct log_fields *fields, const char *fmt, va_list ap)
{
	char raw[LOG_MAX_LINE], msg[LOG_MAX_LINE], out[LOG_MAX_LINE + 64];
	char ts[40];
	struct line l = {.p = out, .cap = LOG_MAX_LINE};
	ssize_t w;

	if (!log_enabled(lg, level))
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	log_redact(raw, msg, sizeof(msg));
	format_time(ts);
	if (lg->format == LOG_FORMAT_JSON)
		render_json(&l, ts, level, fields, msg);
	else
		render_text(&l, ts, level, fields, msg);
	if (l.cut) {
		/* Room was reserved past cap for the marker. */
		memcpy(out + l.len, "...", 3);
		l.len += 3;
	}
	out[l.len++] = '\n';
	/* One write per record; a short write to a full pipe is not retried. */
	w = write(lg->fd, out, l.len);
	(void)w;
}

void log_write(const struct log *lg, enum log_level level,
	       const struct log_fields *fields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(lg, level, fields, fmt, ap);
	va_end(ap);
}
