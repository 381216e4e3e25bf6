/*
 * The fingerprint of a Kafka table and its view (ph_schema_fingerprint).
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

/* Hashes token i in a normal form: names without their quotes, so that
 * `uuid` and uuid are the same. */
static void hash_tok(uint64_t *h, const struct toks *t, size_t i)
{
	struct buf b;
	char type = t->v[i].type == T_QIDENT ? (char)T_WORD : (char)t->v[i].type;

	buf_init(&b, PH_SCHEMA_MAX_DDL);
	if (t->v[i].type == T_QIDENT)
		ph_ddl_unquote(t, i, &b);
	else
		buf_put(&b, t->src + t->v[i].off, t->v[i].len);
	/* No error to check: a token is a part of a definition, which is at
	 * most PH_SCHEMA_MAX_DDL, b's cap. */
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
	size_t i, cols_close = ph_ddl_close_of(t, k->cols);
	int c;
	bool skip;

	for (i = k->cols; i < t->n; i++) {
		skip = i > cols_close && ph_ddl_punct(t, i, ',');
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
	r = ph_ddl_parse_pair(kafka_ddl, mv_ddl, &k, &m, NULL, err, errlen);
	if (r < 0)
		return r;
	h = util_fnv1a64_add(h, "K", 1);
	hash_kafka(&h, &k);
	h = util_fnv1a64_add(h, "M", 1);
	hash_mv(&h, &m);
	snprintf(out, PH_SCHEMA_FP_LEN + 1, "%016llx", (unsigned long long)h);
	ph_ddl_kafka_def_free(&k);
	ph_ddl_mv_def_free(&m);
	return 0;
}
