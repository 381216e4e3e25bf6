/*
 * log: leveled, structured logging.
 *
 * A logger is created once by the binary and handed to every module that
 * logs; it is immutable after creation and safe to share between threads.
 * Each record is written with a single write(2) so concurrent lines never
 * interleave. A NULL logger is accepted everywhere and discards records,
 * which keeps library code and tests free of special cases.
 *
 * Records are JSON lines by default:
 *   {"ts":"2026-11-22T00:00:00.000Z","level":"info","msg":"...",
 *    "controller":"posthog","namespace":"ns","name":"ph"}
 * or, on request, text:
 *   2026-11-22T00:00:00.000Z INFO  posthog ns/ph: ...
 *
 * Secrets are never printed: every message passes through log_redact(),
 * which masks bearer and basic credentials, values of password/token/secret
 * keys, PEM private keys and the data of Secret objects.
 */
#ifndef PHO_LOG_H
#define PHO_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct log;

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

enum log_format {
	LOG_FORMAT_JSON = 0,
	LOG_FORMAT_TEXT,
};

/* Context attached to a record. Every field may be NULL; borrowed. */
struct log_fields {
	const char *controller;
	const char *namespace;
	const char *name;
};

/* Longest record written; longer messages are truncated with "...". */
#define LOG_MAX_LINE 8192

/*
 * Creates a logger writing to fd (not closed by log_free). Returns 0, or
 * -EINVAL for a bad level or format.
 */
int log_new(int fd, enum log_level min_level, enum log_format format,
	    struct log **out) __attribute__((warn_unused_result));
void log_free(struct log *lg);

/* "debug", "info", "warn"/"warning", "error". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out) __attribute__((warn_unused_result));
/* "json" or "text". Returns 0 or -EINVAL. */
int log_parse_format(const char *s, enum log_format *out)
	__attribute__((warn_unused_result));

bool log_enabled(const struct log *lg, enum log_level level);

void log_write(const struct log *lg, enum log_level level,
	       const struct log_fields *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_vwrite(const struct log *lg, enum log_level level,
		const struct log_fields *fields, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/*
 * Copies in to out (NUL-terminated, truncated to outsz) with secrets masked
 * as "[REDACTED]". Exposed for callers that put untrusted text somewhere
 * other than the log, such as a status condition. Returns the length
 * written, excluding the NUL.
 */
size_t log_redact(const char *in, char *out, size_t outsz);

#define log_debug(lg, ...) log_write((lg), LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(lg, ...) log_write((lg), LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(lg, ...) log_write((lg), LOG_WARN, NULL, __VA_ARGS__)
#define log_error(lg, ...) log_write((lg), LOG_ERROR, NULL, __VA_ARGS__)

#endif
