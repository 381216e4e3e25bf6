/*
 * A validating JSON scanner that finds one top-level string member, the
 * project token of a capture message, without building a tree or
 * allocating. The router runs it on every message, so it is one pass:
 * strings (most of a capture message is the doubly-encoded "data" string)
 * are skipped with memchr-like loops, and containers are tracked on a bit
 * stack instead of by recursion.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "router-private.h"

struct scan {
	const unsigned char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
				 *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return -EINVAL;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Appends code point cp as UTF-8 to out. */
static void put_utf8(char *out, size_t outsz, size_t *n, unsigned cp,
		     bool *overflow)
{
	unsigned char b[4];
	size_t k, len;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		len = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		len = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		len = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		len = 4;
	}
	for (k = 0; k < len; k++) {
		if (*n + 1 >= outsz) {
			*overflow = true;
			return;
		}
		out[(*n)++] = (char)b[k];
	}
}

/* Nonzero when a byte of v is a quote, a backslash or below 0x20: the bytes
 * that end a run of plain string bytes. Each test is the exact "has a zero
 * (or smaller) byte" word trick, so it never misses one; which byte it was
 * is left to the byte loop. */
static uint64_t word_stops(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');

	return (((q - ones) & ~q) | ((b - ones) & ~b) |
		((v - ones * 0x20) & ~v)) & (ones * 0x80);
}

/* The first quote, backslash or control byte at or after p (or end). */
static const unsigned char *plain_run(const unsigned char *p,
				      const unsigned char *end)
{
	uint64_t v;

	while (end - p >= 8) {
		memcpy(&v, p, sizeof(v));
		if (word_stops(v))
			break;
		p += 8;
	}
	while (p < end && *p != '"' && *p != '\\' && *p >= 0x20)
		p++;
	return p;
}

/*
 * Scans a string whose opening quote is at s->p. With out, decodes it
 * into out (NUL-terminated; *overflow set when it does not fit); without,
 * only validates it, which is what most of a capture message needs.
 */
static int scan_string(struct scan *s, char *out, size_t outsz, size_t *n,
		       bool *overflow)
{
	s->p++;
	for (;;) {
		const unsigned char *q = plain_run(s->p, s->end);

		if (out) {
			size_t len = (size_t)(q - s->p);

			if (*n + len >= outsz) {
				*overflow = true;
				out = NULL;
			} else {
				memcpy(out + *n, s->p, len);
				*n += len;
			}
		}
		s->p = q;
		if (q >= s->end || *q < 0x20)
			return -EINVAL;
		if (*q == '"') {
			s->p++;
			if (out)
				out[*n] = '\0';
			return 0;
		}
		/* a backslash escape */
		if (q + 1 >= s->end)
			return -EINVAL;
		switch (q[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't': {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";

			if (out)
				put_utf8(out, outsz, n,
					 (unsigned char)to[strchr(from, q[1]) - from],
					 overflow);
			s->p = q + 2;
			break;
		}
		case 'u': {
			unsigned cp, lo;

			if (s->end - q < 6 || hex4(q + 2, &cp))
				return -EINVAL;
			s->p = q + 6;
			if (!out)
				break; /* a low surrogate is checked as its own escape */
			if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 6 &&
			    s->p[0] == '\\' && s->p[1] == 'u' &&
			    hex4(s->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s->p += 6;
			}
			put_utf8(out, outsz, n, cp, overflow);
			break;
		}
		default:
			return -EINVAL;
		}
		if (*overflow)
			out = NULL;
	}
}

static int scan_number(struct scan *s)
{
	const unsigned char *p = s->p, *e = s->end;

	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (p < e && *p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	else
		return -EINVAL;
	if (p < e && *p == '.') {
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return -EINVAL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return -EINVAL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	s->p = p;
	return 0;
}

static int scan_word(struct scan *s, const char *w, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
		return -EINVAL;
	s->p += n;
	return 0;
}

/* Containers nest at most this deep; deeper documents count as invalid. */
#define MAX_DEPTH 512

struct ctx {
	uint64_t is_obj[MAX_DEPTH / 64]; /* bit per level: object or array */
	int depth;
	bool want_token;  /* the next value is the top-level "token" */
	bool found;
	char *tok;
	size_t toksz, toklen;
	bool overflow;
};

static bool in_obj(const struct ctx *c)
{
	return c->is_obj[(c->depth - 1) / 64] >> ((c->depth - 1) % 64) & 1;
}

static int push(struct ctx *c, bool obj)
{
	uint64_t bit;

	if (c->depth >= MAX_DEPTH)
		return -EINVAL;
	bit = 1ULL << (c->depth % 64);
	if (obj)
		c->is_obj[c->depth / 64] |= bit;
	else
		c->is_obj[c->depth / 64] &= ~bit;
	c->depth++;
	return 0;
}

/* One value at s->p; containers only open (push). */
static int scan_value(struct scan *s, struct ctx *c, bool *opened)
{
	*opened = false;
	if (s->p >= s->end)
		return -EINVAL;
	switch (*s->p) {
	case '{':
	case '[':
		*opened = true;
		s->p++;
		return push(c, s->p[-1] == '{');
	case '"':
		if (c->want_token) {
			size_t n = 0;
			int rc = scan_string(s, c->tok, c->toksz, &n, &c->overflow);

			c->found = rc == 0;
			c->toklen = n;
			return rc;
		}
		return scan_string(s, NULL, 0, NULL, &c->overflow);
	case 't':
		return scan_word(s, "true", 4);
	case 'f':
		return scan_word(s, "false", 5);
	case 'n':
		return scan_word(s, "null", 4);
	default:
		return scan_number(s);
	}
}

/* After a value inside a container: a comma or the closing bracket(s). */
static int after_value(struct scan *s, struct ctx *c, bool *need_key)
{
	for (;;) {
		skip_ws(s);
		if (c->depth == 0)
			return 0;
		if (s->p >= s->end)
			return -EINVAL;
		if (*s->p == ',') {
			s->p++;
			*need_key = in_obj(c);
			return 0;
		}
		if (*s->p != (in_obj(c) ? '}' : ']'))
			return -EINVAL;
		s->p++;
		c->depth--;
	}
}

static int scan_key(struct scan *s, struct ctx *c)
{
	const unsigned char *k;
	int rc;

	skip_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return -EINVAL;
	k = s->p;
	rc = scan_string(s, NULL, 0, NULL, &c->overflow);
	if (rc)
		return rc;
	c->want_token = c->depth == 1 && s->p - k == 7 && !memcmp(k, "\"token\"", 7);
	skip_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return -EINVAL;
	s->p++;
	return 0;
}

int rt_json_token(const void *json, size_t len, char *tok, size_t toksz,
		  size_t *toklen)
{
	struct scan s = { json, (const unsigned char *)json + len };
	struct ctx c = { .tok = tok, .toksz = toksz };
	bool need_key = false;
	int rc;

	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return -EINVAL; /* capture always sends an object */
	for (;;) {
		bool opened;

		if (need_key && (rc = scan_key(&s, &c)) != 0)
			return rc;
		need_key = false;
		skip_ws(&s);
		rc = scan_value(&s, &c, &opened);
		if (rc)
			return rc;
		c.want_token = false;
		if (opened) {
			skip_ws(&s);
			if (s.p >= s.end || *s.p != (in_obj(&c) ? '}' : ']')) {
				need_key = in_obj(&c);
				continue;
			}
			s.p++; /* an empty container */
			c.depth--;
		}
		rc = after_value(&s, &c, &need_key);
		if (rc)
			return rc;
		if (c.depth == 0)
			break;
	}
	skip_ws(&s);
	if (s.p != s.end)
		return -EINVAL;
	if (c.found && c.overflow)
		return -E2BIG;
	if (!c.found || c.toklen == 0)
		return -ENOENT;
	*toklen = c.toklen;
	return 0;
}
