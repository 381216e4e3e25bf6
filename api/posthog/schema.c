#include "schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkg/clickhouse/quote.h"
#include "pkg/util/util.h"

/*
 * The definitions are taken apart with a small tokenizer rather than with
 * string replacement: a column may well be named like a table, a string
 * literal may hold anything, and the same definition is printed differently
 * by 18.16 (bare names) and by newer servers (`quoted` names). Tokens keep
 * their byte offsets, so the output is the input with a few spans replaced:
 * everything the operator does not own (columns, codecs, settings, the
 * SELECT) is copied byte for byte.
 */

enum tok_type { T_WORD, T_STRING, T_QIDENT, T_PUNCT };

struct tok {
	enum tok_type type;
	size_t off, len;
	int depth; /* bracket depth; an opening bracket and its match share it */
};

struct toks {
	const char *src;
	struct tok *v;
	size_t n, alloc;
};

#define NONE ((size_t)-1)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
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

static int tokenize(const char *src, struct toks *t, char *err, size_t errlen)
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
				set_err(err, errlen, "more than one statement");
				return -EINVAL;
			}
			t->n--;
		}
	}
	return 0;
unterminated:
	set_err(err, errlen, "unterminated quote or comment at offset %zu", i);
	return -EINVAL;
unbalanced:
	set_err(err, errlen, "unbalanced brackets");
	return -EINVAL;
}

static bool kw(const struct toks *t, size_t i, const char *word)
{
	return i < t->n && t->v[i].type == T_WORD &&
	       t->v[i].len == strlen(word) &&
	       strncasecmp(t->src + t->v[i].off, word, t->v[i].len) == 0;
}

static bool punct(const struct toks *t, size_t i, char c)
{
	return i < t->n && t->v[i].type == T_PUNCT && t->src[t->v[i].off] == c;
}

static bool is_ident(const struct toks *t, size_t i)
{
	return i < t->n && (t->v[i].type == T_WORD || t->v[i].type == T_QIDENT);
}

/* The content of a quoted token without its quotes and escapes, or a
 * word as it is. */
static void unquote(const struct toks *t, size_t i, struct buf *out)
{
	const char *s = t->src + t->v[i].off;
	size_t n = t->v[i].len, k;
	char c;

	if (t->v[i].type == T_WORD || t->v[i].type == T_PUNCT) {
		buf_append(out, s, n);
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
		buf_append(out, &c, 1);
	}
}

static bool ident_eq(const struct toks *t, size_t i, const char *name)
{
	struct buf b;
	bool eq;

	if (!is_ident(t, i))
		return false;
	buf_init(&b, PH_SCHEMA_MAX_DDL);
	unquote(t, i, &b);
	eq = strcmp(buf_str(&b), name) == 0;
	buf_free(&b);
	return eq;
}

/* The matching closing bracket of the opening one at i. */
static size_t close_of(const struct toks *t, size_t i)
{
	size_t j;

	for (j = i + 1; j < t->n; j++)
		if (t->v[j].depth == t->v[i].depth && t->v[j].type == T_PUNCT)
			return j;
	return NONE;
}

/* A [db.]name at i: sets *db (NONE when unqualified) and *name, returns
 * the index after it, or NONE. */
static size_t parse_name(const struct toks *t, size_t i, size_t *db, size_t *name)
{
	if (!is_ident(t, i))
		return NONE;
	if (punct(t, i + 1, '.') && is_ident(t, i + 2)) {
		*db = i;
		*name = i + 2;
		return i + 3;
	}
	*db = NONE;
	*name = i;
	return i + 1;
}

/* CREATE [OR REPLACE] [TEMPORARY] <what...> [IF NOT EXISTS] [db.]name
 * [UUID '...'] [ON CLUSTER c]: returns the index after it, or NONE. */
static size_t parse_header(const struct toks *t, const char *const *what,
			   size_t *db, size_t *name)
{
	size_t i = 0;

	if (!kw(t, i++, "CREATE"))
		return NONE;
	if (kw(t, i, "OR") && kw(t, i + 1, "REPLACE"))
		i += 2;
	if (kw(t, i, "TEMPORARY"))
		i++;
	for (; *what; what++)
		if (!kw(t, i++, *what))
			return NONE;
	if (kw(t, i, "IF") && kw(t, i + 1, "NOT") && kw(t, i + 2, "EXISTS"))
		i += 3;
	i = parse_name(t, i, db, name);
	if (i == NONE)
		return NONE;
	if (kw(t, i, "UUID") && i + 1 < t->n && t->v[i + 1].type == T_STRING)
		i += 2;
	if (kw(t, i, "ON") && kw(t, i + 1, "CLUSTER") && i + 2 < t->n)
		i += 3;
	return i;
}

/* A Kafka table definition taken apart. Ranges are token indexes [a, b). */
enum conn { C_BROKERS, C_TOPIC, C_GROUP, C_MAX };

static const char *const conn_keys[C_MAX] = {
	"kafka_broker_list", "kafka_topic_list", "kafka_group_name",
};

struct kafka_def;
static void kafka_def_free(struct kafka_def *k);

struct kafka_def {
	struct toks t;
	size_t name;            /* own name token */
	size_t cols;            /* '(' of the column list */
	size_t args_close;      /* ')' of Kafka(...), NONE without args */
	bool named;             /* Kafka(collection, ...) */
	size_t val[C_MAX][2];   /* value ranges, NONE when absent */
	size_t pair[C_MAX][2];  /* key = value ranges in named/SETTINGS form */
};

static void kafka_def_free(struct kafka_def *k)
{
	free(k->t.v);
	k->t.v = NULL;
}

/* Records key = value at [a, b) if the key is one of ours. */
static void note_pair(struct kafka_def *k, size_t a, size_t b)
{
	int c;

	for (c = 0; c < C_MAX; c++) {
		if (kw(&k->t, a, conn_keys[c])) {
			k->val[c][0] = a + 2;
			k->val[c][1] = b;
			k->pair[c][0] = a;
			k->pair[c][1] = b;
		}
	}
}

static bool is_pair(const struct toks *t, size_t a, size_t b)
{
	return b >= a + 3 && t->v[a].type == T_WORD && punct(t, a + 1, '=');
}

/* The engine arguments between open and close: positional ones by
 * position, key = value ones by key. */
static void parse_args(struct kafka_def *k, size_t open, size_t close)
{
	const struct toks *t = &k->t;
	size_t a = open + 1, j, pos = 0;

	for (j = a; j <= close; j++) {
		if (j < close && !(punct(t, j, ',') && t->v[j].depth == t->v[open].depth + 1))
			continue;
		if (j == a)
			break;
		if (is_pair(t, a, j)) {
			note_pair(k, a, j);
		} else if (pos == 0 && j == a + 1 && t->v[a].type == T_WORD) {
			k->named = true;
			pos++;
		} else {
			if (pos < C_MAX) {
				k->val[pos][0] = a;
				k->val[pos][1] = j;
			}
			pos++;
		}
		a = j + 1;
	}
}

/* SETTINGS k = v, ... from i: the pairs at depth 0. */
static void parse_settings(struct kafka_def *k, size_t i)
{
	const struct toks *t = &k->t;
	size_t a = i, j;

	while (a < t->n) {
		for (j = a; j < t->n && !(punct(t, j, ',') && t->v[j].depth == 0); j++)
			if (j > a + 2 && t->v[j].type == T_WORD && t->v[j].depth == 0 &&
			    !punct(t, j - 1, '=') && !punct(t, j - 1, '-'))
				break; /* a clause after the settings (COMMENT ...) */
		if (!is_pair(t, a, j))
			return;
		note_pair(k, a, j);
		if (!punct(t, j, ','))
			return;
		a = j + 1;
	}
}

static int parse_kafka(const char *ddl, struct kafka_def *k, char *err,
		       size_t errlen)
{
	static const char *const what[] = {"TABLE", NULL};
	const struct toks *t = &k->t;
	size_t i, db, close;
	int r, c;

	memset(k, 0, sizeof(*k));
	for (c = 0; c < C_MAX; c++)
		k->val[c][0] = k->pair[c][0] = NONE;
	k->args_close = NONE;
	r = tokenize(ddl, &k->t, err, errlen);
	if (r < 0) {
		kafka_def_free(k);
		return r;
	}
	i = parse_header(t, what, &db, &k->name);
	if (i == NONE || !punct(t, i, '('))
		goto bad;
	k->cols = i;
	close = close_of(t, i);
	i = close + 1;
	if (!kw(t, i, "ENGINE") || !punct(t, i + 1, '=') || !kw(t, i + 2, "Kafka"))
		goto not_kafka;
	i += 3;
	if (punct(t, i, '(')) {
		k->args_close = close_of(t, i);
		parse_args(k, i, k->args_close);
		i = k->args_close + 1;
	}
	if (kw(t, i, "SETTINGS"))
		parse_settings(k, i + 1);
	return 0;
bad:
	set_err(err, errlen, "not a CREATE TABLE statement with a column list");
	kafka_def_free(k);
	return -EINVAL;
not_kafka:
	set_err(err, errlen, "not a Kafka engine table");
	kafka_def_free(k);
	return -EINVAL;
}

/* A materialized view definition taken apart. */
struct mv_def {
	struct toks t;
	size_t to;             /* first token of the target name */
	size_t to_end;
	size_t as;             /* the AS before the SELECT */
	size_t nrefs;
	size_t refs[16][2];    /* references to the source table */
	bool ref_from[16];     /* true: FROM/JOIN reference, else a qualifier */
};

static void add_ref(struct mv_def *m, size_t a, size_t b, bool from)
{
	if (m->nrefs < sizeof(m->refs) / sizeof(m->refs[0])) {
		m->refs[m->nrefs][0] = a;
		m->refs[m->nrefs][1] = b;
		m->ref_from[m->nrefs++] = from;
	}
}

/*
 * The places in the SELECT that name source: after FROM or JOIN
 * ([db.]source), and as a column qualifier (source.col, db.source.col). A
 * column that merely has the source's name is left alone.
 */
static size_t find_refs(struct mv_def *m, const char *source)
{
	const struct toks *t = &m->t;
	size_t j, db, name, next, nfrom = 0;

	for (j = m->as + 1; j < t->n; j++) {
		if (kw(t, j, "FROM") || kw(t, j, "JOIN")) {
			next = parse_name(t, j + 1, &db, &name);
			if (next != NONE && ident_eq(t, name, source)) {
				add_ref(m, j + 1, next, true);
				nfrom++;
				j = next - 1;
			}
			continue;
		}
		if (ident_eq(t, j, source) && punct(t, j + 1, '.') &&
		    !(j > 0 && (kw(t, j - 1, "FROM") || kw(t, j - 1, "JOIN"))))
			add_ref(m, j, j + 1, false);
	}
	return nfrom;
}

static int parse_mv(const char *ddl, const char *source, struct mv_def *m,
		    char *err, size_t errlen)
{
	static const char *const what[] = {"MATERIALIZED", "VIEW", NULL};
	const struct toks *t = &m->t;
	size_t i, db, name;
	int r;

	memset(m, 0, sizeof(*m));
	r = tokenize(ddl, &m->t, err, errlen);
	if (r < 0)
		goto fail;
	i = parse_header(t, what, &db, &name);
	if (i == NONE)
		goto bad;
	if (!kw(t, i, "TO")) {
		set_err(err, errlen, "the view has no TO table");
		r = -EINVAL;
		goto fail;
	}
	m->to = i + 1;
	m->to_end = parse_name(t, m->to, &db, &name);
	if (m->to_end == NONE)
		goto bad;
	for (i = m->to_end; i < t->n; i++)
		if (kw(t, i, "AS") && t->v[i].depth == 0)
			break;
	if (i >= t->n)
		goto bad;
	m->as = i;
	if (find_refs(m, source) == 0) {
		set_err(err, errlen, "the view does not select FROM %s", source);
		r = -EINVAL;
		goto fail;
	}
	return 0;
bad:
	set_err(err, errlen, "not a CREATE MATERIALIZED VIEW ... TO ... AS SELECT statement");
	r = -EINVAL;
fail:
	free(m->t.v);
	m->t.v = NULL;
	return r;
}

static void mv_def_free(struct mv_def *m)
{
	free(m->t.v);
}

/* Appends an identifier, bare when it is a plain name. */
static int put_ident(struct buf *out, const char *s)
{
	const char *p;
	bool plain = *s && !(*s >= '0' && *s <= '9');

	for (p = s; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_';
	return plain ? buf_append_str(out, s) : ch_quote_ident(s, out);
}

static int put_qname(struct buf *out, const char *db, const char *name)
{
	int r = put_ident(out, db);

	if (r == 0)
		r = buf_append_str(out, ".");
	if (r == 0)
		r = put_ident(out, name);
	return r;
}

/* A replacement of the source bytes [from, to). */
struct edit {
	size_t from, to;
	size_t seq; /* insertions at one offset keep their order */
	struct buf text;
};

struct edits {
	struct edit v[32];
	size_t n;
};

static struct buf *edit_add(struct edits *e, size_t from, size_t to)
{
	struct edit *x;

	if (e->n == sizeof(e->v) / sizeof(e->v[0]))
		abort(); /* bounded by the code below, not by input */
	x = &e->v[e->n++];
	x->from = from;
	x->to = to;
	x->seq = e->n;
	buf_init(&x->text, PH_SCHEMA_MAX_DDL);
	return &x->text;
}

static void edits_free(struct edits *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		buf_free(&e->v[i].text);
	e->n = 0;
}

static int edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* src[0, end) with the edits applied (they must not overlap). */
static int apply_edits(const char *src, size_t end, struct edits *e, char **out)
{
	struct buf b;
	size_t pos = 0, i;
	int r = 0;

	qsort(e->v, e->n, sizeof(e->v[0]), edit_cmp);
	buf_init(&b, PH_SCHEMA_MAX_DDL);
	for (i = 0; i < e->n && r == 0; i++) {
		r = buf_append(&b, src + pos, e->v[i].from - pos);
		if (r == 0)
			r = buf_append(&b, e->v[i].text.data ? e->v[i].text.data : "",
				       e->v[i].text.len);
		pos = e->v[i].to;
	}
	if (r == 0)
		r = buf_append(&b, src + pos, end - pos);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	*out = buf_take(&b);
	return 0;
}

static size_t tok_end(const struct toks *t, size_t i)
{
	return t->v[i].off + t->v[i].len;
}

static bool has_hidden(const struct toks *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].type == T_STRING && t->v[i].len == 10 &&
		    memcmp(t->src + t->v[i].off, "'[HIDDEN]'", 10) == 0)
			return true;
	return false;
}

/* Sets connection value c to value: replaces it where the definition has
 * it, or adds a key = value argument to a named collection. */
static int set_conn(const struct kafka_def *k, struct edits *e, enum conn c,
		    const char *value, char *err, size_t errlen)
{
	const struct toks *t = &k->t;
	struct buf *b;

	if (k->val[c][0] != NONE) {
		b = edit_add(e, t->v[k->val[c][0]].off, tok_end(t, k->val[c][1] - 1));
		return ch_quote(value, b);
	}
	if (k->named && k->args_close != NONE) {
		b = edit_add(e, t->v[k->args_close].off, t->v[k->args_close].off);
		return buf_printf(b, ", %s = ", conn_keys[c]) ?: ch_quote(value, b);
	}
	set_err(err, errlen, "the Kafka table has no %s", conn_keys[c]);
	return -EINVAL;
}

static int derive_kafka(const struct kafka_def *k, const struct ph_schema_bucket *b,
			char **out, char *err, size_t errlen)
{
	const struct toks *t = &k->t;
	struct edits e = {.n = 0};
	struct buf *h;
	int r;

	h = edit_add(&e, 0, t->v[k->cols].off);
	r = buf_append_str(h, "CREATE TABLE IF NOT EXISTS ") ?:
	    put_qname(h, b->database, b->kafka_table) ?: buf_append_str(h, " ");
	if (r == 0)
		r = set_conn(k, &e, C_TOPIC, b->topic, err, errlen);
	if (r == 0)
		r = set_conn(k, &e, C_GROUP, b->group, err, errlen);
	if (r == 0 && b->brokers)
		r = set_conn(k, &e, C_BROKERS, b->brokers, err, errlen);
	if (r == 0)
		r = apply_edits(t->src, tok_end(t, t->n - 1), &e, out);
	edits_free(&e);
	return r;
}

static int derive_mv(const struct mv_def *m, const struct ph_schema_bucket *b,
		     const char *base_db, char **out)
{
	const struct toks *t = &m->t;
	struct edits e = {.n = 0};
	struct buf *h;
	size_t i;
	int r;

	h = edit_add(&e, 0, t->v[m->to - 1].off);
	r = buf_append_str(h, "CREATE MATERIALIZED VIEW IF NOT EXISTS ") ?:
	    put_qname(h, b->database, b->mv) ?: buf_append_str(h, " ");
	/* An unqualified target is qualified, so that the view does not
	 * depend on the session's default database. */
	if (r == 0 && m->to_end == m->to + 1) {
		h = edit_add(&e, t->v[m->to].off, t->v[m->to].off);
		r = put_ident(h, base_db ? base_db : b->database) ?: buf_append_str(h, ".");
	}
	for (i = 0; r == 0 && i < m->nrefs; i++) {
		h = edit_add(&e, t->v[m->refs[i][0]].off, tok_end(t, m->refs[i][1] - 1));
		r = m->ref_from[i] ? put_qname(h, b->database, b->kafka_table)
				   : put_ident(h, b->kafka_table);
	}
	if (r == 0)
		r = apply_edits(t->src, tok_end(t, t->n - 1), &e, out);
	edits_free(&e);
	return r;
}

static bool bucket_ok(const struct ph_schema_bucket *b)
{
	return b && b->database && *b->database && b->kafka_table &&
	       *b->kafka_table && b->mv && *b->mv && b->topic && *b->topic &&
	       b->group && *b->group && (!b->brokers || *b->brokers);
}

/* The source table name and database of a parsed Kafka definition. */
static void kafka_name(const struct kafka_def *k, struct buf *name, struct buf *db)
{
	unquote(&k->t, k->name, name);
	if (db && k->name >= 2 && punct(&k->t, k->name - 1, '.'))
		unquote(&k->t, k->name - 2, db);
}

static int parse_pair(const char *kafka, const char *mv, struct kafka_def *k,
		      struct mv_def *m, struct buf *db, char *err, size_t errlen)
{
	struct buf name;
	int r;

	r = parse_kafka(kafka, k, err, errlen);
	if (r < 0)
		return r;
	buf_init(&name, PH_SCHEMA_MAX_DDL);
	kafka_name(k, &name, db);
	r = parse_mv(mv, buf_str(&name), m, err, errlen);
	buf_free(&name);
	if (r < 0)
		kafka_def_free(k);
	return r;
}

int ph_schema_derive(const char *base_kafka, const char *base_mv,
		     const struct ph_schema_bucket *b, char **kafka_out,
		     char **mv_out, char *err, size_t errlen)
{
	struct kafka_def k;
	struct mv_def m;
	struct buf db;
	char *ko = NULL, *mo = NULL;
	int r;

	if (!base_kafka || !base_mv || !bucket_ok(b) || !kafka_out || !mv_out) {
		set_err(err, errlen, "missing definition or bucket name");
		return -EINVAL;
	}
	buf_init(&db, PH_SCHEMA_MAX_DDL);
	r = parse_pair(base_kafka, base_mv, &k, &m, &db, err, errlen);
	if (r < 0)
		goto out_db;
	if (has_hidden(&k.t) || has_hidden(&m.t)) {
		set_err(err, errlen, "the server masks a secret in the base definition "
			"as '[HIDDEN]'; the operator's user needs "
			"format_display_secrets_in_show_and_select and the "
			"displaySecretsInShowAndSelect grant");
		r = -EPERM;
		goto out;
	}
	r = derive_kafka(&k, b, &ko, err, errlen);
	if (r == 0)
		r = derive_mv(&m, b, db.len ? buf_str(&db) : NULL, &mo);
	if (r == 0) {
		*kafka_out = ko;
		*mv_out = mo;
		ko = mo = NULL;
	} else if (r == -EMSGSIZE) {
		set_err(err, errlen, "derived definition too long");
	}
	free(ko);
	free(mo);
out:
	kafka_def_free(&k);
	mv_def_free(&m);
out_db:
	buf_free(&db);
	return r;
}

/* Hashes token i in a normal form: names without their quotes, so that
 * `uuid` and uuid are the same. */
static void hash_tok(uint64_t *h, const struct toks *t, size_t i)
{
	struct buf b;
	char type = t->v[i].type == T_QIDENT ? (char)T_WORD : (char)t->v[i].type;

	buf_init(&b, PH_SCHEMA_MAX_DDL);
	if (t->v[i].type == T_QIDENT)
		unquote(t, i, &b);
	else
		buf_append(&b, t->src + t->v[i].off, t->v[i].len);
	*h = util_fnv1a64_add(*h, &type, 1);
	*h = util_fnv1a64_add(*h, b.data ? b.data : "", b.len);
	*h = util_fnv1a64_add(*h, "", 1);
	buf_free(&b);
}

static bool in_range(const size_t r[2], size_t i)
{
	return r[0] != NONE && i >= r[0] && i < r[1];
}

/* From the column list on, without the connection values and the pairs
 * that hold them (a bucket may carry pairs its base has not), nor the
 * commas between arguments. */
static void hash_kafka(uint64_t *h, const struct kafka_def *k)
{
	const struct toks *t = &k->t;
	size_t i, cols_close = close_of(t, k->cols);
	int c;
	bool skip;

	for (i = k->cols; i < t->n; i++) {
		skip = i > cols_close && punct(t, i, ',');
		for (c = 0; c < C_MAX && !skip; c++)
			skip = in_range(k->pair[c], i) || in_range(k->val[c], i);
		if (!skip)
			hash_tok(h, t, i);
	}
}

/* The target and the SELECT, with the source references as "?". */
static void hash_mv(uint64_t *h, const struct mv_def *m)
{
	const struct toks *t = &m->t;
	size_t i, r;
	bool ref;

	/* The target's name only: qualified or not, it is the same table. */
	hash_tok(h, t, m->to_end - 1);
	for (i = m->as; i < t->n; i++) {
		for (r = 0, ref = false; r < m->nrefs && !ref; r++)
			ref = in_range(m->refs[r], i);
		if (!ref)
			hash_tok(h, t, i);
		else if (i == m->refs[r - 1][0])
			*h = util_fnv1a64_add(*h, "?", 2);
	}
}

int ph_schema_fingerprint(const char *kafka_ddl, const char *mv_ddl,
			  char out[PH_SCHEMA_FP_LEN + 1], char *err,
			  size_t errlen)
{
	struct kafka_def k;
	struct mv_def m;
	uint64_t h = UTIL_FNV1A64_BASIS;
	int r;

	if (!kafka_ddl || !mv_ddl || !out)
		return -EINVAL;
	r = parse_pair(kafka_ddl, mv_ddl, &k, &m, NULL, err, errlen);
	if (r < 0)
		return r;
	h = util_fnv1a64_add(h, "K", 1);
	hash_kafka(&h, &k);
	h = util_fnv1a64_add(h, "M", 1);
	hash_mv(&h, &m);
	snprintf(out, PH_SCHEMA_FP_LEN + 1, "%016llx", (unsigned long long)h);
	kafka_def_free(&k);
	mv_def_free(&m);
	return 0;
}

/* The topic, group and broker list of a Kafka definition, as one string
 * ("" for a part it does not state). */
static int conn_of(const char *ddl, struct buf *out)
{
	struct kafka_def k;
	size_t i;
	int c, r;

	r = parse_kafka(ddl, &k, NULL, 0);
	if (r < 0)
		return r;
	for (c = 0; c < C_MAX; c++) {
		for (i = k.val[c][0]; i != NONE && i < k.val[c][1]; i++)
			unquote(&k.t, i, out);
		buf_append(out, "\n", 1);
	}
	kafka_def_free(&k);
	return 0;
}

static void stmts_add(struct ph_schema_stmts *s, char *sql)
{
	s->sql = realloc(s->sql, (s->n + 1) * sizeof(*s->sql));
	if (!s->sql)
		abort();
	s->sql[s->n++] = sql;
}

static void stmts_add_drop(struct ph_schema_stmts *s, const char *db,
			   const char *name)
{
	struct buf b;

	buf_init(&b, PH_SCHEMA_MAX_DDL);
	buf_append_str(&b, "DROP TABLE IF EXISTS ");
	put_qname(&b, db, name);
	stmts_add(s, buf_take(&b));
}

void ph_schema_stmts_free(struct ph_schema_stmts *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		free(s->sql[i]);
	free(s->sql);
	s->sql = NULL;
	s->n = 0;
}

int ph_schema_drop(const struct ph_schema_bucket *b, struct ph_schema_stmts *out)
{
	if (!b || !b->database || !b->mv || !b->kafka_table || !out)
		return -EINVAL;
	stmts_add_drop(out, b->database, b->mv);
	stmts_add_drop(out, b->database, b->kafka_table);
	return 0;
}

/* Whether the bucket's Kafka table is the wanted one: same fingerprint
 * as the base, same topic, group and brokers as derived. */
static bool kafka_current(const char *want_kafka, const char *want_mv,
			  const char *cur_kafka, const char *cur_mv)
{
	char fw[PH_SCHEMA_FP_LEN + 1], fc[PH_SCHEMA_FP_LEN + 1];
	struct buf cw, cc;
	bool same;

	if (ph_schema_fingerprint(want_kafka, want_mv, fw, NULL, 0) < 0 ||
	    ph_schema_fingerprint(cur_kafka, cur_mv, fc, NULL, 0) < 0)
		return false;
	buf_init(&cw, PH_SCHEMA_MAX_DDL);
	buf_init(&cc, PH_SCHEMA_MAX_DDL);
	same = strcmp(fw, fc) == 0 && conn_of(want_kafka, &cw) == 0 &&
	       conn_of(cur_kafka, &cc) == 0 && strcmp(buf_str(&cw), buf_str(&cc)) == 0;
	buf_free(&cw);
	buf_free(&cc);
	return same;
}

int ph_schema_plan(const char *base_kafka, const char *base_mv,
		   const char *cur_kafka, const char *cur_mv,
		   const struct ph_schema_bucket *b,
		   struct ph_schema_stmts *out, char *err, size_t errlen)
{
	char *kafka = NULL, *mv = NULL;
	int r;

	if (!out)
		return -EINVAL;
	r = ph_schema_derive(base_kafka, base_mv, b, &kafka, &mv, err, errlen);
	if (r < 0)
		return r;
	/* A missing view is checked against the wanted one, so that only
	 * the Kafka table decides whether it must be replaced. */
	if (cur_kafka && kafka_current(kafka, mv, cur_kafka, cur_mv ? cur_mv : mv)) {
		if (!cur_mv) {
			stmts_add(out, mv);
			mv = NULL;
		}
	} else {
		if (cur_kafka || cur_mv) {
			stmts_add_drop(out, b->database, b->mv);
			stmts_add_drop(out, b->database, b->kafka_table);
		}
		stmts_add(out, kafka);
		stmts_add(out, mv);
		kafka = mv = NULL;
	}
	free(kafka);
	free(mv);
	return 0;
}

int ph_schema_tables_query(const char *database, const char *const *names,
			   size_t n, struct buf *out)
{
	size_t i, len = out ? out->len : 0;
	int r;

	if (!database || !names || n == 0 || !out)
		return -EINVAL;
	r = buf_append_str(out, "SELECT name, create_table_query FROM system.tables "
			   "WHERE database = ") ?: ch_quote(database, out) ?:
	    buf_append_str(out, " AND name IN (");
	for (i = 0; r == 0 && i < n; i++)
		r = (i ? buf_append_str(out, ", ") : 0) ?: ch_quote(names[i], out);
	if (r == 0)
		r = buf_append_str(out, ") ORDER BY name");
	if (r < 0) {
		out->len = len;
		if (out->data)
			out->data[len] = '\0';
	}
	return r;
}
