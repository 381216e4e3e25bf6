/*
 * The tokenizer of ClickHouse DDL and the token predicates the parsers use.
 * See schema.h for the contract and schema-private.h for the shared types.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkg/chsql/chsql.h"
#include "pkg/util/util.h"
#include "schema-private.h"

/*
 * The definitions are taken apart with a small tokenizer rather than with
 * string replacement: a column may well be named like a table, a string
 * literal may hold anything, and the same definition is printed differently
 * by 18.16 (bare names) and by newer servers (`quoted` names). Tokens keep
 * their byte offsets, so the output is the input with a few spans replaced:
 * everything the operator does not own (columns, codecs, settings, the
 * SELECT) is copied byte for byte.
 */

void ph_ddl_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void push(struct toks *t, enum tok_type type, size_t off, size_t len,
		 int depth)
{
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? t->alloc * 2 : 256;
		t->v = realloc(t->v, t->alloc * sizeof(*t->v));
		if (!t->v)
			abort();
	}
	t->v[t->n++] = (struct tok){type, off, len, depth};
}

static bool word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

/* The end of a quoted token starting at s[i] (its closing quote + 1), or
 * NONE. Backslash escapes and doubled quotes both continue it. */
static size_t quoted_end(const char *s, size_t len, size_t i)
{
	char q = s[i];

	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == q && i + 1 < len && s[i + 1] == q)
			i++;
		else if (s[i] == q)
			return i + 1;
	}
	return NONE;
}

/* Skips a comment at s[i], returning the index after it, i when there is
 * none, or NONE when it does not end. */
static size_t skip_comment(const char *s, size_t len, size_t i)
{
	const char *e;

	if (i + 1 < len && s[i] == '-' && s[i + 1] == '-') {
		e = memchr(s + i, '\n', len - i);
		return e ? (size_t)(e - s) + 1 : len;
	}
	if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
		e = memmem(s + i + 2, len - i - 2, "*/", 2);
		return e ? (size_t)(e - s) + 2 : NONE;
	}
	return i;
}

int ph_ddl_tokenize(const char *src, struct toks *t, char *err, size_t errlen)
{
	size_t len = strlen(src), i = 0, e;
	int depth = 0;

	t->src = src;
	if (len > PH_SCHEMA_MAX_DDL)
		return -EMSGSIZE;
	while (i < len) {
		unsigned char c = (unsigned char)src[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			i++;
			continue;
		}
		e = skip_comment(src, len, i);
		if (e == NONE)
			goto unterminated;
		if (e != i) {
			i = e;
			continue;
		}
		if (c == '\'' || c == '`' || c == '"') {
			e = quoted_end(src, len, i);
			if (e == NONE)
				goto unterminated;
			push(t, c == '\'' ? T_STRING : T_QIDENT, i, e - i, depth);
			i = e;
		} else if (word_char(c)) {
			for (e = i; e < len && word_char((unsigned char)src[e]); e++)
				;
			push(t, T_WORD, i, e - i, depth);
			i = e;
		} else {
			if (c == ')' || c == ']' || c == '}')
				depth--;
			if (depth < 0)
				goto unbalanced;
			push(t, T_PUNCT, i, 1, depth);
			if (c == '(' || c == '[' || c == '{')
				depth++;
			i++;
		}
	}
	if (depth != 0)
		goto unbalanced;
	/* One statement; a final ';' is dropped. */
	for (e = 0; e < t->n; e++) {
		if (t->v[e].type == T_PUNCT && src[t->v[e].off] == ';') {
			if (e + 1 != t->n) {
				ph_ddl_set_err(err, errlen, "more than one statement");
				return -EINVAL;
			}
			t->n--;
		}
	}
	return 0;
unterminated:
	ph_ddl_set_err(err, errlen, "unterminated quote or comment at offset %zu", i);
	return -EINVAL;
unbalanced:
	ph_ddl_set_err(err, errlen, "unbalanced brackets");
	return -EINVAL;
}

bool ph_ddl_kw(const struct toks *t, size_t i, const char *word)
{
	return i < t->n && t->v[i].type == T_WORD &&
	       t->v[i].len == strlen(word) &&
	       strncasecmp(t->src + t->v[i].off, word, t->v[i].len) == 0;
}

bool ph_ddl_punct(const struct toks *t, size_t i, char c)
{
	return i < t->n && t->v[i].type == T_PUNCT && t->src[t->v[i].off] == c;
}

bool ph_ddl_is_ident(const struct toks *t, size_t i)
{
	return i < t->n && (t->v[i].type == T_WORD || t->v[i].type == T_QIDENT);
}

void ph_ddl_unquote(const struct toks *t, size_t i, struct buf *out)
{
	const char *s = t->src + t->v[i].off;
	size_t n = t->v[i].len, k;
	char c;

	if (t->v[i].type == T_WORD || t->v[i].type == T_PUNCT) {
		buf_put(out, s, n);
		return;
	}
	for (k = 1; k + 1 < n; k++) {
		c = s[k];
		if (c == '\\' && k + 2 < n) {
			c = s[++k];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
		} else if (c == s[0] && k + 2 < n && s[k + 1] == s[0]) {
			k++;
		}
		buf_put(out, &c, 1);
	}
}

bool ph_ddl_ident_eq(const struct toks *t, size_t i, const char *name)
{
	struct buf b;
	bool eq;

	if (!ph_ddl_is_ident(t, i))
		return false;
	buf_init(&b, PH_SCHEMA_MAX_DDL);
	ph_ddl_unquote(t, i, &b);
	eq = strcmp(buf_str(&b), name) == 0;
	buf_free(&b);
	return eq;
}

size_t ph_ddl_close_of(const struct toks *t, size_t i)
{
	size_t j;

	for (j = i + 1; j < t->n; j++)
		if (t->v[j].depth == t->v[i].depth && t->v[j].type == T_PUNCT)
			return j;
	return NONE;
}
