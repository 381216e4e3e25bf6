/*
 * ClickHouse string literals and identifiers: text only, no I/O, so that
 * the PostHog API module can write SQL without linking the client.
 */
#include "chsql.h"

static int quote_with(const char *s, char q, struct buf *out)
{
	const unsigned char *p;
	int r;

	r = buf_append(out, &q, 1);
	for (p = (const unsigned char *)s; r == 0 && *p; p++) {
		switch (*p) {
		case '\\':
			r = buf_append_str(out, "\\\\");
			break;
		case '\n':
			r = buf_append_str(out, "\\n");
			break;
		case '\r':
			r = buf_append_str(out, "\\r");
			break;
		case '\t':
			r = buf_append_str(out, "\\t");
			break;
		default:
			if (*p == (unsigned char)q)
				r = buf_printf(out, "\\%c", q);
			else if (*p < 0x20 || *p == 0x7f)
				r = buf_printf(out, "\\x%02X", *p);
			else
				r = buf_append(out, p, 1);
		}
	}
	if (r == 0)
		r = buf_append(out, &q, 1);
	return r;
}

/* On -EMSGSIZE the partial quote is removed again, so that out is
 * unchanged on failure like every buf operation. */
static int quote_checked(const char *s, char q, struct buf *out)
{
	size_t len = out->len;
	int r = quote_with(s ? s : "", q, out);

	if (r < 0) {
		out->len = len;
		if (out->data)
			out->data[len] = '\0';
	}
	return r;
}

int ch_quote(const char *s, struct buf *out)
{
	return quote_checked(s, '\'', out);
}

int ch_quote_ident(const char *s, struct buf *out)
{
	return quote_checked(s, '`', out);
}
