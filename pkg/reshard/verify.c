/*
 * Counts and checksums of a unit's rows on its source and in staging
 * (run-private.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/util/util.h"
#include "reshard.h"
#include "run-private.h"

/* The query for the count and checksum of the unit's rows in from; with
 * with_sum false the count alone (what the delete wait polls: reading the
 * sorting key for a checksum on every poll would read the partition again
 * each time). */
static int checksum_sql(struct run *r, const cJSON *u, const char *from,
			bool with_sum, struct buf *sql)
{
	struct buf where;
	int rc;

	buf_init(&where, SQL_CAP);
	rc = rr_unit_where(r, u, &where);
	if (!rc && with_sum)
		rc = rs_sql_checksum(rr_table_of(r, u), from, buf_str(&where), sql);
	else if (!rc)
		rc = buf_printf(sql, "SELECT count() AS n FROM %s WHERE %s", from, buf_str(&where));
	buf_free(&where);
	return rc;
}

/* One side of a verify: runs sql on a shard and reads n (and sum). It
 * touches nothing of struct run but the shard's client, so that the two
 * sides can run at once on two threads; the caller reports why. */
struct side {
	struct ch_client *ch;
	const char *sql;
	bool with_sum;
	char n[32], sum[32];
	char why[1024];
	int rc;
};

static void *side_run(void *p)
{
	struct side *s = p;
	cJSON *rows = NULL;

	s->rc = ch_query(s->ch, s->sql, &rows, s->why, sizeof(s->why));
	if (s->rc)
		s->rc = s->rc == -EIO || s->rc == -EACCES ? -EIO : -EAGAIN;
	else if (rr_row_field(rows, "n", s->n, sizeof(s->n)) ||
		 (s->with_sum && rr_row_field(rows, "sum", s->sum, sizeof(s->sum)))) {
		snprintf(s->why, sizeof(s->why), "unexpected %s answer", s->with_sum ? "checksum" : "count");
		s->rc = -EIO;
	}
	cJSON_Delete(rows);
	return NULL;
}

static int side_report(struct run *r, int shard, const struct side *s)
{
	if (s->rc) {
		snprintf(r->err, r->errlen, "shard %d: %s", shard, s->why);
		log_error(r->o->log, "reshard: shard %d: %s", shard, s->why);
	}
	return s->rc;
}

/* count and checksum of the unit's rows in from (on shard), as text; with
 * sum NULL the count alone. */
int rr_checksum(struct run *r, const cJSON *u, int shard, const char *from,
		char *n, char *sum)
{
	struct side side = { .ch = r->ch[shard], .with_sum = sum != NULL };
	struct buf sql;
	int rc;

	buf_init(&sql, SQL_CAP);
	rc = checksum_sql(r, u, from, sum != NULL, &sql);
	if (!rc) {
		side.sql = buf_str(&sql);
		rr_unlock(r);
		side_run(&side);
		rr_lock(r);
		rc = side_report(r, shard, &side);
	}
	if (!rc) {
		snprintf(n, 32, "%s", side.n);
		if (sum)
			snprintf(sum, 32, "%s", side.sum);
	}
	buf_free(&sql);
	return rc;
}

/*
 * The verify: count and checksum of the unit's rows in the source table and
 * in the staging table, both queried at once (they are on two servers, each
 * with its own client), the source's on a second thread. Each side is the
 * same query as rr_checksum()'s; only the waiting overlaps. Falls back to one
 * after the other when no thread can be started.
 */
int rr_checksum_both(struct run *r, const cJSON *u, const char *table,
		     const char *staging, char *n, char *sum, char *n2, char *sum2)
{
	int source = rr_uint_of(u, "source"), target = rr_uint_of(u, "target");
	struct side src = { .ch = r->ch[source], .with_sum = true };
	struct side dst = { .ch = r->ch[target], .with_sum = true };
	struct buf sql_src, sql_dst;
	pthread_t th;
	bool threaded = false;
	int rc;

	buf_init(&sql_src, SQL_CAP);
	buf_init(&sql_dst, SQL_CAP);
	rc = checksum_sql(r, u, table, true, &sql_src);
	if (!rc)
		rc = checksum_sql(r, u, staging, true, &sql_dst);
	if (!rc) {
		src.sql = buf_str(&sql_src);
		dst.sql = buf_str(&sql_dst);
		rr_unlock(r);
		threaded = !pthread_create(&th, NULL, side_run, &src);
		if (!threaded)
			side_run(&src);
		side_run(&dst);
		if (threaded)
			pthread_join(th, NULL);
		rr_lock(r);
		rc = side_report(r, source, &src);
		if (!rc)
			rc = side_report(r, target, &dst);
	}
	if (!rc) {
		snprintf(n, 32, "%s", src.n);
		snprintf(sum, 32, "%s", src.sum);
		snprintf(n2, 32, "%s", dst.n);
		snprintf(sum2, 32, "%s", dst.sum);
	}
	buf_free(&sql_src);
	buf_free(&sql_dst);
	return rc;
}


/* The answer row of pid and target among rows; NULL when none. */
static const cJSON *sums_row(const cJSON *rows, const char *pid, int target)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, rows) {
		if (!strcmp(rr_ustr(row, "pid"), pid) && rr_uint_field(row, "target") == target)
			return row;
	}
	return NULL;
}

/*
 * Count (and with with_sum the checksum) of each unit's rows in tbl on
 * source, as rr_checksum() gives them, in one read of the group's partitions:
 *   SELECT _partition_id AS pid, toUInt32((<key>) % <modulus>) AS target,
 *          count() AS n, toString(sum(<row hash>)) AS sum
 *   FROM tbl WHERE _partition_id IN (...) GROUP BY pid, target
 * (one query per modulus among the units; a plan's units share one). Each
 * row's hash is computed once; a countIf/sumIf per unit computed it once
 * per unit. A unit with no answer row has no rows: 0 and 0. The units
 * share their table (a group). NULL entries of units are skipped.
 */
int rr_group_sums(struct run *r, cJSON **units, size_t n, int source,
		  const char *tbl, bool with_sum, struct usum *out)
{
	struct buf sql;
	bool *done = calloc(n ? n : 1, sizeof(*done));
	size_t i, k;
	int rc = 0;

	if (!done)
		abort();
	buf_init(&sql, SQL_CAP);
	for (i = 0; !rc && i < n; i++) {
		const struct rs_table *t;
		cJSON *rows = NULL;
		int modulus, cols = 0;

		if (!units[i] || done[i])
			continue;
		t = rr_table_of(r, units[i]);
		if (!t) {
			snprintf(r->err, r->errlen, "%s: table %s is no longer sharded",
				 rr_ustr(units[i], "id"), rr_ustr(units[i], "table"));
			rc = -EPROTO;
			break;
		}
		modulus = rr_uint_of(units[i], "modulus");
		buf_reset(&sql);
		rc = buf_printf(&sql, "SELECT _partition_id AS pid, toUInt32((%s) %% %d) AS target, count() AS n",
				t->key, modulus);
		if (!rc && with_sum)
			rc = buf_printf(&sql, ", toString(sum(" RS_ROW_HASH ")) AS sum",
					t->sorting_key);
		if (!rc)
			rc = buf_printf(&sql, " FROM %s WHERE _partition_id IN (", tbl);
		for (k = i; !rc && k < n; k++) {
			if (!units[k] || done[k] || rr_uint_of(units[k], "modulus") != modulus)
				continue;
			rc = buf_append_str(&sql, cols++ ? ", " : "");
			if (!rc)
				rc = ch_quote(rr_ustr(units[k], "partitionId"), &sql);
		}
		if (!rc)
			rc = buf_append_str(&sql, ") GROUP BY pid, target");
		if (!rc)
			rc = rr_query_on(r, source, buf_str(&sql), &rows);
		for (k = i; !rc && k < n; k++) {
			const cJSON *row;

			if (!units[k] || done[k] || rr_uint_of(units[k], "modulus") != modulus)
				continue;
			done[k] = true;
			row = sums_row(rows, rr_ustr(units[k], "partitionId"), rr_uint_of(units[k], "target"));
			snprintf(out[k].n, sizeof(out[k].n), "0");
			snprintf(out[k].sum, sizeof(out[k].sum), "0");
			if (row)
				rc = rr_field_text(row, "n", out[k].n, sizeof(out[k].n));
			if (row && !rc && with_sum)
				rc = rr_field_text(row, "sum", out[k].sum, sizeof(out[k].sum));
			if (rc) {
				snprintf(r->err, r->errlen, "shard %d: unexpected checksum answer", source);
				log_error(r->o->log, "reshard: %s", r->err);
				rc = -EIO;
			}
		}
		cJSON_Delete(rows);
	}
	buf_free(&sql);
	free(done);
	return rc;
}
