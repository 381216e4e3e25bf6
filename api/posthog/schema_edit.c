/*
 * The edit engine: a bucket's definitions made from the base ones by
 * replacing a few token spans (ph_schema_derive).
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

int ph_ddl_put_qname(struct buf *out, const char *db, const char *name)
{
	int r = put_ident(out, db);

	if (r == 0)
		r = buf_append_str(out, ".");
	if (r == 0)
		r = put_ident(out, name);
	return r;
}

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
		return buf_printf(b, ", %s = ", ph_ddl_conn_keys[c]) ?: ch_quote(value, b);
	}
	ph_ddl_set_err(err, errlen, "the Kafka table has no %s", ph_ddl_conn_keys[c]);
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
	    ph_ddl_put_qname(h, b->database, b->kafka_table) ?: buf_append_str(h, " ");
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
	    ph_ddl_put_qname(h, b->database, b->mv) ?: buf_append_str(h, " ");
	/* An unqualified target is qualified, so that the view does not
	 * depend on the session's default database. */
	if (r == 0 && m->to_end == m->to + 1) {
		h = edit_add(&e, t->v[m->to].off, t->v[m->to].off);
		r = put_ident(h, base_db ? base_db : b->database) ?: buf_append_str(h, ".");
	}
	for (i = 0; r == 0 && i < m->nrefs; i++) {
		h = edit_add(&e, t->v[m->refs[i][0]].off, tok_end(t, m->refs[i][1] - 1));
		r = m->ref_from[i] ? ph_ddl_put_qname(h, b->database, b->kafka_table)
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
	ph_ddl_unquote(&k->t, k->name, name);
	if (db && k->name >= 2 && ph_ddl_punct(&k->t, k->name - 1, '.'))
		ph_ddl_unquote(&k->t, k->name - 2, db);
}

int ph_ddl_parse_pair(const char *kafka, const char *mv, struct kafka_def *k,
		      struct mv_def *m, struct buf *db, char *err, size_t errlen)
{
	struct buf name;
	int r;

	r = ph_ddl_parse_kafka(kafka, k, err, errlen);
	if (r < 0)
		return r;
	buf_init(&name, PH_SCHEMA_MAX_DDL);
	kafka_name(k, &name, db);
	r = ph_ddl_parse_mv(mv, buf_str(&name), m, err, errlen);
	buf_free(&name);
	if (r < 0)
		ph_ddl_kafka_def_free(k);
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
		ph_ddl_set_err(err, errlen, "missing definition or bucket name");
		return -EINVAL;
	}
	buf_init(&db, PH_SCHEMA_MAX_DDL);
	r = ph_ddl_parse_pair(base_kafka, base_mv, &k, &m, &db, err, errlen);
	if (r < 0)
		goto out_db;
	if (has_hidden(&k.t) || has_hidden(&m.t)) {
		ph_ddl_set_err(err, errlen, "the server masks a secret in the base definition "
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
		ph_ddl_set_err(err, errlen, "derived definition too long");
	}
	free(ko);
	free(mo);
out:
	ph_ddl_kafka_def_free(&k);
	ph_ddl_mv_def_free(&m);
out_db:
	buf_free(&db);
	return r;
}
