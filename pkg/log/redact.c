/*
 * Secret masking for log records and status messages.
 *
 * The rules are deliberately simple and err towards masking: a value that
 * follows a sensitive key and a ':' or '=' is masked up to the next
 * delimiter; the token after "Bearer " or "Basic " is masked; a PEM private
 * key block is masked whole; and in text that carries a Secret object, the
 * "data" and "stringData" maps are masked whole.
 */
#include "log.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define MASK "[REDACTED]"

struct out {
	char *p;
	size_t len, cap; /* cap excludes the NUL */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* Keys whose values are secrets, matched case-insensitively. */
static const char *const secret_keys[] = {
	"password", "passwd", "token", "secret", "client-key-data",
	"client-key", "x-clickhouse-key", "apikey", "api_key", "api-key",
	"sasl_password", "access_key", "secret_key",
};

static bool is_value_end(char c)
{
	return c == '\0' || c == '"' || c == '\'' || c == ',' || c == '&' ||
	       c == '}' || c == ';' || isspace((unsigned char)c);
}

/*
 * If a sensitive key starts at s (at a word boundary) and is followed by an
 * optional quote, optional spaces and ':' or '=', returns the offset of the
 * value; else 0.
 */
static size_t match_key(const char *start, const char *s)
{
	if (s > start && (isalnum((unsigned char)s[-1]) || s[-1] == '_' ||
			  s[-1] == '-'))
		return 0;
	for (size_t i = 0; i < sizeof(secret_keys) / sizeof(*secret_keys); i++) {
		size_t n = strlen(secret_keys[i]);
		const char *p = s + n;

		if (strncasecmp(s, secret_keys[i], n) != 0)
			continue;
		if (*p == '"' || *p == '\'')
			p++;
		while (*p == ' ')
			p++;
		if (*p != ':' && *p != '=')
			continue;
		p++;
		while (*p == ' ')
			p++;
		if (*p == '"' || *p == '\'')
			p++;
		return (size_t)(p - s);
	}
	return 0;
}

/* "Bearer xyz" / "Basic xyz": returns the offset of xyz, or 0. */
static size_t match_scheme(const char *s)
{
	if (strncasecmp(s, "bearer ", 7) == 0)
		return 7;
	if (strncasecmp(s, "basic ", 6) == 0)
		return 6;
	return 0;
}

/* Length of a PEM private key block starting at s, or 0. */
static size_t match_pem(const char *s)
{
	const char *hdr_end, *end;

	if (strncmp(s, "-----BEGIN", 10) != 0)
		return 0;
	hdr_end = strstr(s + 10, "-----");
	if (!hdr_end || (size_t)(hdr_end - s) > 64)
		return 0;
	if (!memmem(s, (size_t)(hdr_end - s), "PRIVATE KEY", 11))
		return 0;
	end = strstr(hdr_end + 5, "-----END");
	if (!end)
		return strlen(s);
	end = strstr(end + 8, "-----");
	return end ? (size_t)(end + 5 - s) : strlen(s);
}

/* For `"data":{...}` in a Secret: length up to the matching brace, or 0. */
static size_t match_secret_data(const char *s, bool is_secret)
{
	size_t n, depth = 0;

	if (!is_secret)
		return 0;
	if (strncmp(s, "\"data\":{", 8) == 0)
		n = 8;
	else if (strncmp(s, "\"stringData\":{", 14) == 0)
		n = 14;
	else
		return 0;
	for (const char *p = s + n - 1; *p; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0)
			return (size_t)(p + 1 - s);
	}
	return strlen(s);
}

size_t log_redact(const char *in, char *outbuf, size_t outsz)
{
	struct out o = {.p = outbuf, .cap = outsz ? outsz - 1 : 0};
	bool is_secret = strstr(in, "\"kind\":\"Secret\"") != NULL;
	const char *s = in;

	if (!outsz)
		return 0;
	while (*s) {
		size_t n;

		if ((n = match_pem(s)) || (n = match_secret_data(s, is_secret))) {
			put(&o, MASK, strlen(MASK));
			s += n;
			continue;
		}
		if ((n = match_key(in, s)) || (n = match_scheme(s))) {
			const char *v = s + n;

			put(&o, s, n);
			if (!is_value_end(*v))
				put(&o, MASK, strlen(MASK));
			while (!is_value_end(*v))
				v++;
			s = v;
			continue;
		}
		put(&o, s, 1);
		s++;
	}
	o.p[o.len] = '\0';
	return o.len;
}
