/*
 * replicate: reading a replica's tables and creating the missing ones on
 * another, through pkg/clickhouse. The plan itself is replicate.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/clickhouse/clickhouse.h"
#include "replicate_io.h"

int ph_replicate_read(struct ch_client *c, const char *database, cJSON **rows,
		      char *err, size_t errlen)
{
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = ph_replicate_query(database, &q);
	if (r < 0)
		snprintf(err, errlen, "the database name \"%.100s\" cannot be queried", database);
	else
		r = ch_query(c, buf_str(&q), rows, err, errlen);
	buf_free(&q);
	return r;
}

static const char *str_field(const cJSON *row, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int ph_replicate_copy(struct ch_client *dst, const char *database,
		      const cJSON *src_rows, const char *const *owned,
		      size_t nowned, unsigned *created, char *err,
		      size_t errlen)
{
	struct ph_schema_stmts s = {0};
	struct ph_table_def *defs = NULL;
	const char **have = NULL;
	cJSON *dst_rows = NULL;
	const cJSON *row;
	size_t nsrc = 0, nhave = 0;
	int r;

	*created = 0;
	r = ph_replicate_read(dst, database, &dst_rows, err, errlen);
	if (r < 0)
		return r;
	defs = calloc((size_t)cJSON_GetArraySize(src_rows) + 1, sizeof(*defs));
	have = calloc((size_t)cJSON_GetArraySize(dst_rows) + 1, sizeof(*have));
	if (!defs || !have)
		abort();
	cJSON_ArrayForEach(row, src_rows) {
		defs[nsrc].name = str_field(row, "name");
		defs[nsrc].engine = str_field(row, "engine");
		defs[nsrc++].ddl = str_field(row, "create_table_query");
	}
	cJSON_ArrayForEach(row, dst_rows) {
		if (str_field(row, "name"))
			have[nhave++] = str_field(row, "name");
	}
	r = ph_replicate_plan(database, defs, nsrc, have, nhave, owned, nowned, &s, err,
			      errlen);
	for (size_t i = 0; r == 0 && i < s.n; i++) {
		r = ch_exec(dst, s.sql[i], err, errlen);
		if (r == 0 && i > 0)
			(*created)++;
	}
	ph_schema_stmts_free(&s);
	free(defs);
	free(have);
	cJSON_Delete(dst_rows);
	return r;
}
