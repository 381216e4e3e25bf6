/*
 * The DDL parsers: a Kafka engine table and a materialized view definition
 * taken apart into token ranges.
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

const char *const ph_ddl_conn_keys[C_MAX] = {
	"kafka_broker_list", "kafka_topic_list", "kafka_group_name",
};

/* A [db.]name at i: sets *db (NONE when unqualified) and *name, returns
 * the index after it, or NONE. */
static size_t parse_name(const struct toks *t, size_t i, size_t *db, size_t *name)
{
	if (!ph_ddl_is_ident(t, i))
		return NONE;
	if (ph_ddl_punct(t, i + 1, '.') && ph_ddl_is_ident(t, i + 2)) {
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

	if (!ph_ddl_kw(t, i++, "CREATE"))
		return NONE;
	if (ph_ddl_kw(t, i, "OR") && ph_ddl_kw(t, i + 1, "REPLACE"))
		i += 2;
	if (ph_ddl_kw(t, i, "TEMPORARY"))
		i++;
	for (; *what; what++)
		if (!ph_ddl_kw(t, i++, *what))
			return NONE;
	if (ph_ddl_kw(t, i, "IF") && ph_ddl_kw(t, i + 1, "NOT") && ph_ddl_kw(t, i + 2, "EXISTS"))
		i += 3;
	i = parse_name(t, i, db, name);
	if (i == NONE)
		return NONE;
	if (ph_ddl_kw(t, i, "UUID") && i + 1 < t->n && t->v[i + 1].type == T_STRING)
		i += 2;
	if (ph_ddl_kw(t, i, "ON") && ph_ddl_kw(t, i + 1, "CLUSTER") && i + 2 < t->n)
		i += 3;
	return i;
}

void ph_ddl_kafka_def_free(struct kafka_def *k)
{
	free(k->t.v);
	k->t.v = NULL;
}

/* Records key = value at [a, b) if the key is one of ours. */
static void note_pair(struct kafka_def *k, size_t a, size_t b)
{
	int c;

	for (c = 0; c < C_MAX; c++) {
		if (ph_ddl_kw(&k->t, a, ph_ddl_conn_keys[c])) {
			k->val[c][0] = a + 2;
			k->val[c][1] = b;
			k->pair[c][0] = a;
			k->pair[c][1] = b;
		}
	}
}

static bool is_pair(const struct toks *t, size_t a, size_t b)
{
	return b >= a + 3 && t->v[a].type == T_WORD && ph_ddl_punct(t, a + 1, '=');
}

/* The engine arguments between open and close: positional ones by
 * position, key = value ones by key. */
static void parse_args(struct kafka_def *k, size_t open, size_t close)
{
	const struct toks *t = &k->t;
	size_t a = open + 1, j, pos = 0;

	for (j = a; j <= close; j++) {
		if (j < close && !(ph_ddl_punct(t, j, ',') && t->v[j].depth == t->v[open].depth + 1))
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
		for (j = a; j < t->n && !(ph_ddl_punct(t, j, ',') && t->v[j].depth == 0); j++)
			if (j > a + 2 && t->v[j].type == T_WORD && t->v[j].depth == 0 &&
			    !ph_ddl_punct(t, j - 1, '=') && !ph_ddl_punct(t, j - 1, '-'))
				break; /* a clause after the settings (COMMENT ...) */
		if (!is_pair(t, a, j))
			return;
		note_pair(k, a, j);
		if (!ph_ddl_punct(t, j, ','))
			return;
		a = j + 1;
	}
}

int ph_ddl_parse_kafka(const char *ddl, struct kafka_def *k, char *err,
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
	r = ph_ddl_tokenize(ddl, &k->t, err, errlen);
	if (r < 0) {
		ph_ddl_kafka_def_free(k);
		return r;
	}
	i = parse_header(t, what, &db, &k->name);
	if (i == NONE || !ph_ddl_punct(t, i, '('))
		goto bad;
	k->cols = i;
	close = ph_ddl_close_of(t, i);
	i = close + 1;
	if (!ph_ddl_kw(t, i, "ENGINE") || !ph_ddl_punct(t, i + 1, '=') || !ph_ddl_kw(t, i + 2, "Kafka"))
		goto not_kafka;
	i += 3;
	if (ph_ddl_punct(t, i, '(')) {
		k->args_close = ph_ddl_close_of(t, i);
		parse_args(k, i, k->args_close);
		i = k->args_close + 1;
	}
	if (ph_ddl_kw(t, i, "SETTINGS"))
		parse_settings(k, i + 1);
	return 0;
bad:
	ph_ddl_set_err(err, errlen, "not a CREATE TABLE statement with a column list");
	ph_ddl_kafka_def_free(k);
	return -EINVAL;
not_kafka:
	ph_ddl_set_err(err, errlen, "not a Kafka engine table");
	ph_ddl_kafka_def_free(k);
	return -EINVAL;
}

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
		if (ph_ddl_kw(t, j, "FROM") || ph_ddl_kw(t, j, "JOIN")) {
			next = parse_name(t, j + 1, &db, &name);
			if (next != NONE && ph_ddl_ident_eq(t, name, source)) {
				add_ref(m, j + 1, next, true);
				nfrom++;
				j = next - 1;
			}
			continue;
		}
		if (ph_ddl_ident_eq(t, j, source) && ph_ddl_punct(t, j + 1, '.') &&
		    !(j > 0 && (ph_ddl_kw(t, j - 1, "FROM") || ph_ddl_kw(t, j - 1, "JOIN"))))
			add_ref(m, j, j + 1, false);
	}
	return nfrom;
}

int ph_ddl_parse_mv(const char *ddl, const char *source, struct mv_def *m,
		    char *err, size_t errlen)
{
	static const char *const what[] = {"MATERIALIZED", "VIEW", NULL};
	const struct toks *t = &m->t;
	size_t i, db, name;
	int r;

	memset(m, 0, sizeof(*m));
	r = ph_ddl_tokenize(ddl, &m->t, err, errlen);
	if (r < 0)
		goto fail;
	i = parse_header(t, what, &db, &name);
	if (i == NONE)
		goto bad;
	if (!ph_ddl_kw(t, i, "TO")) {
		ph_ddl_set_err(err, errlen, "the view has no TO table");
		r = -EINVAL;
		goto fail;
	}
	m->to = i + 1;
	m->to_end = parse_name(t, m->to, &db, &name);
	if (m->to_end == NONE)
		goto bad;
	for (i = m->to_end; i < t->n; i++)
		if (ph_ddl_kw(t, i, "AS") && t->v[i].depth == 0)
			break;
	if (i >= t->n)
		goto bad;
	m->as = i;
	if (find_refs(m, source) == 0) {
		ph_ddl_set_err(err, errlen, "the view does not select FROM %s", source);
		r = -EINVAL;
		goto fail;
	}
	return 0;
bad:
	ph_ddl_set_err(err, errlen, "not a CREATE MATERIALIZED VIEW ... TO ... AS SELECT statement");
	r = -EINVAL;
fail:
	free(m->t.v);
	m->t.v = NULL;
	return r;
}

void ph_ddl_mv_def_free(struct mv_def *m)
{
	free(m->t.v);
}
