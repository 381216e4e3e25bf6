/*
 * replicate: the plan that copies the PostHog database's tables onto a
 * replica that lacks them. Pure: no I/O (see replicate.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkg/chsql/chsql.h"
#include "replicate.h"

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

static const struct {
	const char *engine;
	int rank;
} ranks[] = {
	{"Distributed", 1},
	{"Merge", 2},
	{"Buffer", 2},
	{"Dictionary", 2},
	{"Kafka", 3},
	{"MaterializedView", 4},
	{"View", 5},
	{"LiveView", 5},
	{"WindowView", 5},
};

int ph_replicate_rank(const char *engine)
{
	for (size_t i = 0; engine && i < sizeof(ranks) / sizeof(ranks[0]); i++)
		if (!strcmp(engine, ranks[i].engine))
			return ranks[i].rank;
	return 0;
}

int ph_replicate_query(const char *database, struct buf *out)
{
	int r;

	if (!database || !*database)
		return -EINVAL;
	r = buf_append_str(out, "SELECT name, engine, create_table_query FROM system.tables "
				"WHERE database = ");
	if (r == 0)
		r = ch_quote(database, out);
	if (r == 0)
		r = buf_append_str(out, " AND is_temporary = 0 ORDER BY name");
	return r;
}

static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > PH_REPLICATE_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* "<base>_<digits>" for one of the owned bases. */
static bool is_owned(const char *name, const char *const *owned, size_t nowned)
{
	for (size_t i = 0; i < nowned; i++) {
		size_t n = strlen(owned[i]);
		const char *p = name + n;

		if (strncmp(name, owned[i], n) || p[0] != '_' || !isdigit((unsigned char)p[1]))
			continue;
		for (p++; isdigit((unsigned char)*p); p++)
			;
		if (!*p)
			return true;
	}
	return false;
}

static bool skipped(const char *name, const char *const *owned, size_t nowned)
{
	/* A view's inner table: ".inner.<view>", or ".inner_id.<uuid>" in an
	 * Atomic database (ClickHouse's StorageMaterializedView). */
	return !strncmp(name, ".inner.", 7) || !strncmp(name, ".inner_id.", 10) ||
	       is_owned(name, owned, nowned);
}

/* ---- reading the head of a definition ------------------------------------ */

/* The end of the quoted run starting at s[i] (its closing quote + 1), or 0
 * when it does not end. Backslash escapes; a doubled quote reads as two
 * runs. */
static size_t quoted_end(const char *s, size_t i)
{
	char q = s[i];

	for (i++; s[i]; i++) {
		if (s[i] == '\\' && s[i + 1])
			i++;
		else if (s[i] == q)
			return i + 1;
	}
	return 0;
}

/* Checks that s is one statement: every quote and comment closed, no ';'
 * outside them. */
static int one_statement(const char *s, const char **why)
{
	for (size_t i = 0; s[i];) {
		if (s[i] == '\'' || s[i] == '"' || s[i] == '`') {
			size_t e = quoted_end(s, i);

			if (!e) {
				*why = "an unterminated quote";
				return -EINVAL;
			}
			i = e;
		} else if (s[i] == '-' && s[i + 1] == '-') {
			while (s[i] && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && s[i + 1] == '*') {
			const char *e = strstr(s + i + 2, "*/");

			if (!e) {
				*why = "an unterminated comment";
				return -EINVAL;
			}
			i = (size_t)(e - s) + 2;
		} else if (s[i] == ';') {
			*why = "more than one statement";
			return -EINVAL;
		} else {
			i++;
		}
	}
	return 0;
}

static size_t skip_space(const char *s, size_t i)
{
	while (isspace((unsigned char)s[i]))
		i++;
	return i;
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* The keyword word at s[i] (case-insensitive, whole word): the index after
 * it and the spaces that follow, or 0. */
static size_t keyword(const char *s, size_t i, const char *word)
{
	size_t n = strlen(word);

	if (strncasecmp(s + i, word, n) || word_char(s[i + n]))
		return 0;
	return skip_space(s, i + n);
}

/* An identifier at s[i], bare or quoted, unquoted into out. Returns the
 * index after it, or 0. */
static size_t ident(const char *s, size_t i, struct buf *out)
{
	size_t e;

	if (s[i] == '`' || s[i] == '"') {
		e = quoted_end(s, i);
		if (!e)
			return 0;
		for (size_t k = i + 1; k < e - 1; k++) {
			if (s[k] == '\\')
				k++;
			if (buf_append(out, s + k, 1) < 0)
				return 0;
		}
		return e;
	}
	for (e = i; word_char(s[e]); e++)
		;
	if (e == i || buf_append(out, s + i, e - i) < 0)
		return 0;
	return e;
}

/* Rewrites the head of one definition. */
static int rewrite(const char *database, const struct ph_table_def *t,
		   char **sql, char *err, size_t errlen)
{
	const char *s = t->ddl, *kind = NULL, *why = NULL;
	struct buf db, name, out;
	size_t i, j;
	int r = 0;

	if (!name_ok(t->name)) {
		set_err(err, errlen, "a table name of the healthy replica is empty, too long or "
			"holds control characters");
		return -EINVAL;
	}
	if (!s || !*s) {
		set_err(err, errlen, "table %s.%s: no create_table_query", database, t->name);
		return -EINVAL;
	}
	if (strlen(s) > PH_SCHEMA_MAX_DDL) {
		set_err(err, errlen, "table %s.%s: its definition is longer than %d bytes",
			database, t->name, PH_SCHEMA_MAX_DDL);
		return -EINVAL;
	}
	if (strstr(s, "[HIDDEN]")) {
		set_err(err, errlen, "table %s.%s: the server masks a secret in its definition "
			"([HIDDEN]), so it cannot be copied", database, t->name);
		return -EPERM;
	}
	if (one_statement(s, &why) < 0) {
		set_err(err, errlen, "table %s.%s: its definition has %s", database, t->name, why);
		return -EINVAL;
	}
	buf_init(&db, PH_REPLICATE_MAX_NAME + 1);
	buf_init(&name, PH_REPLICATE_MAX_NAME + 1);
	i = skip_space(s, 0);
	j = keyword(s, i, "CREATE");
	if (!j)
		j = keyword(s, i, "ATTACH");
	i = j;
	if (i && (j = keyword(s, i, "TABLE"))) {
		kind = "TABLE";
	} else if (i && (j = keyword(s, i, "VIEW"))) {
		kind = "VIEW";
	} else if (i && (j = keyword(s, i, "MATERIALIZED"))) {
		j = keyword(s, j, "VIEW");
		kind = "MATERIALIZED VIEW";
	} else {
		j = 0;
	}
	i = j;
	if (i && keyword(s, i, "IF")) {
		j = keyword(s, keyword(s, i, "IF"), "NOT");
		i = j ? keyword(s, j, "EXISTS") : 0;
	}
	if (i)
		i = ident(s, i, &db);
	if (i && s[i] == '.')
		i = ident(s, i + 1, &name);
	else
		i = 0;
	if (!i || strcmp(buf_str(&db), database) || strcmp(buf_str(&name), t->name)) {
		set_err(err, errlen, "table %s.%s: its definition is not a CREATE TABLE, VIEW or "
			"MATERIALIZED VIEW of %s.%s", database, t->name, database, t->name);
		r = -EINVAL;
		goto out;
	}
	j = keyword(s, skip_space(s, i), "ON");
	if (j && (j = keyword(s, j, "CLUSTER"))) {
		struct buf cl;

		buf_init(&cl, PH_REPLICATE_MAX_NAME + 1);
		if (s[j] == '\'')
			j = quoted_end(s, j);
		else
			j = ident(s, j, &cl);
		buf_free(&cl);
		if (!j) {
			set_err(err, errlen, "table %s.%s: its ON CLUSTER cannot be read",
				database, t->name);
			r = -EINVAL;
			goto out;
		}
		i = j;
	}
	buf_init(&out, PH_SCHEMA_MAX_DDL + 1024);
	r = buf_printf(&out, "CREATE %s IF NOT EXISTS ", kind);
	if (r == 0)
		r = ch_quote_ident(database, &out);
	if (r == 0)
		r = buf_append_str(&out, ".");
	if (r == 0)
		r = ch_quote_ident(t->name, &out);
	if (r == 0 && s[i] && !isspace((unsigned char)s[i]))
		r = buf_append_str(&out, " ");
	if (r == 0)
		r = buf_append_str(&out, s + i);
	if (r == 0)
		*sql = strdup(buf_str(&out));
	buf_free(&out);
	if (r == 0 && !*sql)
		abort();
	if (r < 0)
		set_err(err, errlen, "table %s.%s: its definition is too long", database, t->name);
out:
	buf_free(&db);
	buf_free(&name);
	return r;
}

/* ---- the plan ------------------------------------------------------------ */

struct pick {
	int rank;
	const struct ph_table_def *t;
};

static int pick_cmp(const void *a, const void *b)
{
	const struct pick *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->t->name, y->t->name);
}

static bool has(const char *const *have, size_t nhave, const char *name)
{
	for (size_t i = 0; i < nhave; i++)
		if (have[i] && !strcmp(have[i], name))
			return true;
	return false;
}

static void add(struct ph_schema_stmts *s, char *sql)
{
	char **v = realloc(s->sql, sizeof(*v) * (s->n + 1));

	if (!v)
		abort();
	s->sql = v;
	s->sql[s->n++] = sql;
}

int ph_replicate_plan(const char *database, const struct ph_table_def *src,
		      size_t nsrc, const char *const *have, size_t nhave,
		      const char *const *owned, size_t nowned,
		      struct ph_schema_stmts *out, char *err, size_t errlen)
{
	struct ph_schema_stmts plan = {0};
	struct pick *picks;
	size_t npicks = 0;
	int r = 0;

	if (!name_ok(database)) {
		set_err(err, errlen, "the database name is empty, too long or holds control "
			"characters");
		return -EINVAL;
	}
	picks = calloc(nsrc ? nsrc : 1, sizeof(*picks));
	if (!picks)
		abort();
	for (size_t i = 0; i < nsrc; i++) {
		if (!src[i].name) {
			set_err(err, errlen, "a table of the healthy replica has no name");
			r = -EINVAL;
			goto out;
		}
		if (skipped(src[i].name, owned, nowned) || has(have, nhave, src[i].name))
			continue;
		picks[npicks].rank = ph_replicate_rank(src[i].engine);
		picks[npicks++].t = &src[i];
	}
	if (npicks == 0)
		goto out;
	qsort(picks, npicks, sizeof(*picks), pick_cmp);
	{
		struct buf h;
		char *sql;

		buf_init(&h, 2 * PH_REPLICATE_MAX_NAME + 64);
		r = buf_append_str(&h, "CREATE DATABASE IF NOT EXISTS ");
		if (r == 0)
			r = ch_quote_ident(database, &h);
		sql = r == 0 ? strdup(buf_str(&h)) : NULL;
		buf_free(&h);
		if (r < 0)
			goto out;
		if (!sql)
			abort();
		add(&plan, sql);
	}
	for (size_t i = 0; i < npicks; i++) {
		char *sql = NULL;

		r = rewrite(database, picks[i].t, &sql, err, errlen);
		if (r < 0)
			goto out;
		add(&plan, sql);
	}
	for (size_t i = 0; i < plan.n; i++)
		add(out, plan.sql[i]);
	free(plan.sql);
	plan.sql = NULL;
	plan.n = 0;
out:
	ph_schema_stmts_free(&plan);
	free(picks);
	return r;
}
