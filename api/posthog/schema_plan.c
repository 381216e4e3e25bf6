/*
 * The planner: what to run to bring a bucket in line with the base
 * (ph_schema_plan, ph_schema_drop, ph_schema_tables_query).
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

/* The topic, group and broker list of a Kafka definition, as one string
 * ("" for a part it does not state). */
static int conn_of(const char *ddl, struct buf *out)
{
	struct kafka_def k;
	size_t i;
	int c, r;

	r = ph_ddl_parse_kafka(ddl, &k, NULL, 0);
	if (r < 0)
		return r;
	for (c = 0; c < C_MAX; c++) {
		for (i = k.val[c][0]; i != NONE && i < k.val[c][1]; i++)
			ph_ddl_unquote(&k.t, i, out);
		buf_put(out, "\n", 1);
	}
	ph_ddl_kafka_def_free(&k);
	return buf_error(out);
}

static void stmts_add(struct ph_schema_stmts *s, char *sql)
{
	s->sql = realloc(s->sql, (s->n + 1) * sizeof(*s->sql));
	if (!s->sql)
		abort();
	s->sql[s->n++] = sql;
}

/* Adds DROP TABLE IF EXISTS db.name. Returns 0 or -EMSGSIZE (s unchanged). */
static int stmts_add_drop(struct ph_schema_stmts *s, const char *db,
			  const char *name)
{
	struct buf b;
	int r;

	buf_init(&b, PH_SCHEMA_MAX_DDL);
	buf_puts(&b, "DROP TABLE IF EXISTS ");
	r = buf_error(&b) ?: ph_ddl_put_qname(&b, db, name);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	stmts_add(s, buf_take(&b));
	return 0;
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
	return stmts_add_drop(out, b->database, b->mv) ?:
	       stmts_add_drop(out, b->database, b->kafka_table);
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
		if (cur_kafka || cur_mv)
			r = stmts_add_drop(out, b->database, b->mv) ?:
			    stmts_add_drop(out, b->database, b->kafka_table);
		if (r == 0) {
			stmts_add(out, kafka);
			stmts_add(out, mv);
			kafka = mv = NULL;
		}
	}
	free(kafka);
	free(mv);
	return r;
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
