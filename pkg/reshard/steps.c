/*
 * The steps of a unit: a fresh staging table, the copy and its verify,
 * the attach, and the delete from the source (run-private.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/util/util.h"
#include "reshard.h"
#include "run-private.h"

static bool staging_cleaned(struct run *r, int target, const char *staging)
{
	const cJSON *e;
	char key[32];
	size_t kl;

	kl = (size_t)snprintf(key, sizeof(key), "%d ", target);
	cJSON_ArrayForEach(e, r->cleaned)
		if (!strncmp(e->valuestring, key, kl) && !strcmp(e->valuestring + kl, staging))
			return true;
	return false;
}

static void staging_mark_cleaned(struct run *r, int target, const char *staging)
{
	struct buf k;

	buf_init(&k, 8192);
	if (!buf_printf(&k, "%d %s", target, staging)) {
		if (!r->cleaned)
			r->cleaned = util_nn(cJSON_CreateArray());
		cJSON_AddItemToArray(r->cleaned, util_nn(cJSON_CreateString(buf_str(&k))));
	}
	buf_free(&k);
}

/* Stops a copy that a killed predecessor left running, drops and creates
 * the staging table. */
static int staging_fresh(struct run *r, const cJSON *u, const char *staging)
{
	const struct rs_table *t = rr_table_of(r, u);
	int target = rr_uint_of(u, "target");
	struct buf sql;
	int rc = 0;

	buf_init(&sql, SQL_CAP);
	if (!(r->db_made & (1ull << target))) {
		char db[RS_MAX_NAME + 16];

		snprintf(db, sizeof(db), "%s_reshard", r->o->database);
		rc = buf_append_str(&sql, "CREATE DATABASE IF NOT EXISTS ");
		if (!rc)
			rc = ch_quote_ident(db, &sql);
		if (!rc)
			rc = rr_exec_on(r, target, buf_str(&sql));
		if (!rc)
			r->db_made |= 1ull << target;
	}
	buf_reset(&sql);
	/* Only a predecessor's copy can still be running: this process's
	 * copies return before it goes on (or it stops), so one KILL per
	 * staging table and process is enough. */
	if (!rc && !staging_cleaned(r, target, staging)) {
		struct buf pat;

		buf_init(&pat, 4096);
		rc = buf_printf(&pat, "INSERT INTO %s%%", staging);
		if (!rc)
			rc = buf_append_str(&sql, "KILL QUERY WHERE query LIKE ");
		if (!rc)
			rc = ch_quote(buf_str(&pat), &sql);
		if (!rc)
			rc = buf_append_str(&sql, " SYNC");
		buf_free(&pat);
		if (!rc)
			rc = rr_exec_on(r, target, buf_str(&sql));
		if (!rc)
			staging_mark_cleaned(r, target, staging);
	}
	buf_reset(&sql);
	if (!rc)
		rc = buf_printf(&sql, "DROP TABLE IF EXISTS %s", staging);
	if (!rc)
		rc = rr_exec_on(r, target, buf_str(&sql));
	buf_reset(&sql);
	if (!rc)
		rc = buf_printf(&sql, "CREATE TABLE %s AS ", staging);
	if (!rc)
		rc = rr_table_name(r, t->name, &sql);
	if (!rc)
		rc = buf_printf(&sql, " ENGINE = %s", t->staging_engine);
	if (!rc)
		rc = rr_exec_on(r, target, buf_str(&sql));
	buf_free(&sql);
	return rc;
}

static void throttle(struct run *r, unsigned long long rows)
{
	double want, spent;

	r->copied_rows += rows;
	if (!r->o->max_rows_per_second)
		return;
	want = (double)r->copied_rows / (double)r->o->max_rows_per_second;
	spent = rr_now_s() - ((double)r->started.tv_sec + (double)r->started.tv_nsec / 1e9);
	if (want > spent) {
		struct timespec ts = { .tv_sec = (time_t)(want - spent) };

		ts.tv_nsec = (long)((want - spent - (double)ts.tv_sec) * 1e9);
		rr_unlock(r);
		nanosleep(&ts, NULL);
		rr_lock(r);
	}
}

/*
 * Copies a unit into staging and verifies it. expect, when not NULL, is
 * the count and checksum of the unit's rows on the source read just before
 * (rr_group_sums() for the whole group, one read of each partition): if the
 * staging table matches it, the source is not read again; any mismatch
 * verifies again with both sides read now (rr_checksum_both()) before the
 * copy counts as failed.
 */
int rr_step_copy(struct run *r, cJSON *u, const struct usum *expect)
{
	const char *user = r->o->user ? r->o->user : "default";
	int source = rr_uint_of(u, "source"), target = rr_uint_of(u, "target");
	struct buf staging, sql, where;
	char n[32], sum[32], n2[32], sum2[32];
	int rc, tries;

	buf_init(&staging, 4096);
	buf_init(&sql, SQL_CAP);
	buf_init(&where, SQL_CAP);
	rc = rr_staging_name(r, u, &staging);
	if (!rc)
		rc = rr_unit_where(r, u, &where);
	for (tries = 0; !rc && tries < MAX_COPY_TRIES; tries++) {
		rc = rr_set_state(r, u, RS_COPYING);
		if (!rc)
			rc = staging_fresh(r, u, buf_str(&staging));
		buf_reset(&sql);
		if (!rc)
			rc = buf_printf(&sql, "INSERT INTO %s SELECT * FROM remote(", buf_str(&staging));
		if (!rc)
			rc = ch_quote(r->o->shards[source].addr, &sql);
		if (!rc)
			rc = buf_append_str(&sql, ", ");
		if (!rc)
			rc = ch_quote(r->o->database, &sql);
		if (!rc)
			rc = buf_append_str(&sql, ", ");
		if (!rc)
			rc = ch_quote(rr_ustr(u, "table"), &sql);
		if (!rc)
			rc = buf_append_str(&sql, ", ");
		if (!rc)
			rc = ch_quote(user, &sql);
		if (!rc)
			rc = buf_append_str(&sql, ", ");
		if (!rc)
			rc = ch_quote(r->o->password ? r->o->password : "", &sql);
		if (!rc)
			rc = buf_printf(&sql, ") WHERE %s", buf_str(&where));
		if (!rc && r->o->max_bytes_per_second)
			rc = buf_printf(&sql, " SETTINGS max_network_bandwidth = %llu",
					r->o->max_bytes_per_second);
		if (!rc)
			rc = rr_exec_on(r, target, buf_str(&sql));
		if (!rc)
			rc = rr_set_state(r, u, RS_COPIED);
		buf_reset(&sql);
		if (!rc)
			rc = rr_table_name(r, rr_ustr(u, "table"), &sql);
		if (!rc && expect && !tries) {
			snprintf(n, sizeof(n), "%s", expect->n);
			snprintf(sum, sizeof(sum), "%s", expect->sum);
			rc = rr_checksum(r, u, target, buf_str(&staging), n2, sum2);
			if (!rc && (strcmp(n, n2) || strcmp(sum, sum2)))
				rc = rr_checksum_both(r, u, buf_str(&sql), buf_str(&staging), n, sum, n2, sum2);
		} else if (!rc) {
			rc = rr_checksum_both(r, u, buf_str(&sql), buf_str(&staging), n, sum, n2, sum2);
		}
		if (rc)
			break;
		if (!strcmp(n, n2) && !strcmp(sum, sum2)) {
			rr_set_num(u, "rows", (double)rr_to_ull(n));
			rr_set_str(u, "checksum", sum);
			rc = rr_set_state(r, u, RS_VERIFIED);
			if (!rc)
				throttle(r, rr_to_ull(n));
			goto out;
		}
		log_error(r->o->log, "reshard: %s: source %s rows (sum %s), staging %s rows (sum %s); copying again",
			  rr_ustr(u, "id"), n, sum, n2, sum2);
	}
	if (!rc) {
		snprintf(r->err, r->errlen, "%s: the copy never matched the source after %d tries",
			 rr_ustr(u, "id"), MAX_COPY_TRIES);
		rc = -EPROTO;
	}
out:
	buf_free(&staging);
	buf_free(&sql);
	buf_free(&where);
	return rc;
}

/*
 * After a kill in attaching: are the staging rows in the target table?
 * Whole rows are compared, with their multiplicity
 * (rs_sql_attach_missing), so that live writes with the staged keys do
 * not pass for the attach.
 */
static int attached_already(struct run *r, cJSON *u, const char *staging, bool *yes)
{
	int target = rr_uint_of(u, "target");
	struct buf sql, cols, table;
	cJSON *rows = NULL;
	char shortfall[32];
	int rc;

	buf_init(&sql, SQL_CAP);
	buf_init(&cols, SQL_CAP);
	buf_init(&table, SQL_CAP);
	rc = buf_append_str(&sql, "SELECT name, default_kind FROM system.columns");
	if (!rc)
		rc = rr_system_where(r, rr_ustr(u, "table"), &sql);
	if (!rc)
		rc = rr_query_on(r, target, buf_str(&sql), &rows);
	if (!rc && (rc = rs_sql_columns(rows, &cols)) != 0) {
		snprintf(r->err, r->errlen, rc == -EMSGSIZE ? "%s: shard %d: the column list of %s is too long" :
								"%s: shard %d lists no stored column of %s",
			 rr_ustr(u, "id"), target, rr_ustr(u, "table"));
		log_error(r->o->log, "reshard: %s", r->err);
		rc = -EIO;
	}
	cJSON_Delete(rows);
	rows = NULL;
	buf_reset(&sql);
	if (!rc)
		rc = rr_table_name(r, rr_ustr(u, "table"), &table);
	if (!rc)
		rc = rs_sql_attach_missing(buf_str(&cols), buf_str(&table),
					   rr_ustr(u, "partitionId"), staging, &sql);
	if (!rc)
		rc = rr_query_on(r, target, buf_str(&sql), &rows);
	if (!rc && rr_row_field(rows, "short", shortfall, sizeof(shortfall))) {
		snprintf(r->err, r->errlen, "%s: shard %d answered the attach check without a count",
			 rr_ustr(u, "id"), target);
		log_error(r->o->log, "reshard: %s", r->err);
		rc = -EIO;
	}
	if (!rc)
		*yes = rr_to_ull(shortfall) == 0;
	cJSON_Delete(rows);
	buf_free(&sql);
	buf_free(&cols);
	buf_free(&table);
	return rc;
}

int rr_step_attach(struct run *r, cJSON *u, bool resumed)
{
	struct buf staging, sql;
	bool done = false;
	int rc;

	buf_init(&staging, 4096);
	buf_init(&sql, SQL_CAP);
	rc = rr_staging_name(r, u, &staging);
	if (!rc && resumed)
		rc = attached_already(r, u, buf_str(&staging), &done);
	if (!rc && !done)
		rc = rr_set_state(r, u, RS_ATTACHING);
	if (!rc && !done)
		rr_crash_point("attaching");
	if (!rc && !done)
		rc = buf_printf(&sql, "ALTER TABLE ");
	if (!rc && !done)
		rc = rr_table_name(r, rr_ustr(u, "table"), &sql);
	if (!rc && !done)
		rc = buf_append_str(&sql, " ATTACH PARTITION ID ");
	if (!rc && !done)
		rc = ch_quote(rr_ustr(u, "partitionId"), &sql);
	if (!rc && !done)
		rc = buf_printf(&sql, " FROM %s", buf_str(&staging));
	if (!rc && !done)
		rc = rr_exec_on(r, rr_uint_of(u, "target"), buf_str(&sql));
	if (!rc)
		rr_crash_point("attached");
	if (!rc)
		rc = rr_set_state(r, u, RS_ATTACHED);
	buf_reset(&sql);
	if (!rc)
		rc = buf_printf(&sql, "DROP TABLE IF EXISTS %s", buf_str(&staging));
	if (!rc)
		rc = rr_exec_on(r, rr_uint_of(u, "target"), buf_str(&sql));
	buf_free(&staging);
	buf_free(&sql);
	return rc;
}

/* Polls the unit's rows on the source until none is left (bounded, 10
 * minutes): an ALTER ... DELETE of a Replicated table returns before the
 * mutation shows in system.mutations, let alone runs. The interval grows
 * from 20 ms to 1 s, so that a short mutation is seen at once and a long
 * one is not polled hundreds of times. */
static int delete_wait(struct run *r, cJSON *u, const char *table)
{
	char n[32] = "";
	double start = rr_now_s();
	long wait_ms = 20;
	int rc;

	for (;;) {
		struct timespec ts;

		rc = rr_checksum(r, u, rr_uint_of(u, "source"), table, n, NULL);
		if (rc || !strcmp(n, "0"))
			return rc;
		if (rr_now_s() - start > 600)
			break;
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000L;
		rr_unlock(r);
		nanosleep(&ts, NULL);
		rr_lock(r);
		/* At most 250 ms between looks: a mutation that ends just
		 * after one is noticed soon, and a look is one count(). */
		wait_ms = wait_ms * 2 > 250 ? 250 : wait_ms * 2;
	}
	snprintf(r->err, r->errlen, "%s: %s rows still on shard %d 10 minutes after the delete (see system.mutations)",
		 rr_ustr(u, "id"), n, rr_uint_of(u, "source"));
	return -EAGAIN;
}

static int unit_done(struct run *r, cJSON *u);

int rr_step_delete(struct run *r, cJSON *u)
{
	int source = rr_uint_of(u, "source");
	double copied = rr_num_field(u, "rows");
	struct buf tbl, del;
	char n[32], sum[32];
	int rc;

	buf_init(&tbl, SQL_CAP);
	buf_init(&del, SQL_CAP);
	rc = rr_table_name(r, rr_ustr(u, "table"), &tbl);
	if (!rc)
		rc = rr_checksum(r, u, source, buf_str(&tbl), n, sum);
	/* Only the rows that were copied may go: anything else under this
	 * unit's condition arrived after the copy. A resumed delete may
	 * have removed some already (a mutation works part by part). */
	if (!rc && strcmp(n, "0") && rr_ustate(u) != RS_DELETING &&
	    (strcmp(sum, rr_ustr(u, "checksum")) || rr_to_ull(n) != (unsigned long long)copied)) {
		snprintf(r->err, r->errlen,
			 "%s: shard %d now holds %s rows (sum %s) under this unit, %.0f were copied (sum %s); rows arrived after the copy: not deleting",
			 rr_ustr(u, "id"), source, n, sum, copied, rr_ustr(u, "checksum"));
		rc = -EPROTO;
	}
	if (!rc && strcmp(n, "0")) {
		bool resumed = rr_ustate(u) == RS_DELETING;

		rc = rr_set_state(r, u, RS_DELETING);
		if (!rc && (!resumed || (rr_to_ull(n) == (unsigned long long)copied &&
					 !strcmp(sum, rr_ustr(u, "checksum"))))) {
			rc = buf_printf(&del, "ALTER TABLE %s DELETE WHERE ", buf_str(&tbl));
			if (!rc)
				rc = rs_sql_delete_where(rr_table_of(r, u), rr_ustr(u, "partition"),
							 rr_uint_of(u, "modulus"), rr_uint_of(u, "target"), &del);
			if (!rc)
				rc = rr_exec_on(r, source, buf_str(&del));
		}
		if (!rc)
			rc = delete_wait(r, u, buf_str(&tbl));
	}
	if (!rc)
		rc = unit_done(r, u);
	buf_free(&tbl);
	buf_free(&del);
	return rc;
}

/* Marks a unit done: its rows are on the target only. */
static void unit_mark_done(struct run *r, cJSON *u)
{
	double copied = rr_num_field(u, "rows"), before = rr_num_field(u, "moved");

	/* The order units finish in, for the docs' "removed shards first"
	 * and its test. */
	rr_set_num(r->doc, "seq", (rr_num_field(r->doc, "seq") > 0 ? rr_num_field(r->doc, "seq") : 0) + 1);
	rr_set_num(u, "doneSeq", rr_num_field(r->doc, "seq"));
	rr_set_num(u, "moved", (before > 0 ? before : 0) + (copied > 0 ? copied : 0));
	rr_set_str(u, "state", rs_state_name(RS_DONE));
	log_info(r->o->log, "reshard: %s %s", rr_ustr(u, "id"), rs_state_name(RS_DONE));
}

static int unit_done(struct run *r, cJSON *u)
{
	unit_mark_done(r, u);
	return rr_save(r);
}

/*
 * Starts the deletion of the rows of every attached unit of one (table,
 * source) with one mutation: ClickHouse 18.16 rewrites every part a
 * mutation touches, so one per unit would rewrite the table once per unit.
 * Each unit is checked first, as step_delete does. The units are left in
 * state deleting; rr_group_delete_finish() waits for them. A unit with no
 * rows left is done at once (its slot in units becomes NULL).
 */
int rr_group_delete_start(struct run *r, cJSON **units, size_t n)
{
	struct buf tbl, del;
	struct usum *sums = util_xcalloc(n, sizeof(*sums));
	cJSON **check = util_xcalloc(n, sizeof(*check));
	size_t i, ndel = 0;
	int rc, source = rr_uint_of(units[0], "source");

	buf_init(&tbl, SQL_CAP);
	buf_init(&del, SQL_CAP);
	for (i = 0; i < n; i++)
		if (rr_ustate(units[i]) >= RS_ATTACHED && rr_ustate(units[i]) != RS_DONE)
			check[i] = units[i];
	rc = rr_table_name(r, rr_ustr(units[0], "table"), &tbl);
	if (!rc)
		rc = rr_group_sums(r, check, n, source, buf_str(&tbl), true, sums);
	if (!rc)
		rc = buf_printf(&del, "ALTER TABLE %s DELETE WHERE ", buf_str(&tbl));
	/* Every unit is checked before any is marked deleting, so that a
	 * failed check leaves no unit recorded as deleting without its
	 * mutation. */
	for (i = 0; !rc && i < n; i++) {
		cJSON *u = check[i];
		double copied = u ? rr_num_field(u, "rows") : 0;

		if (!u || !strcmp(sums[i].n, "0"))
			continue;
		if (rr_ustate(u) != RS_DELETING &&
		    (strcmp(sums[i].sum, rr_ustr(u, "checksum")) || rr_to_ull(sums[i].n) != (unsigned long long)copied)) {
			snprintf(r->err, r->errlen,
				 "%s: shard %d now holds %s rows (sum %s) under this unit, %.0f were copied (sum %s); rows arrived after the copy: not deleting",
				 rr_ustr(u, "id"), source, sums[i].n, sums[i].sum, copied, rr_ustr(u, "checksum"));
			rc = -EPROTO;
		}
	}
	for (i = 0; !rc && i < n; i++) {
		cJSON *u = check[i];

		if (!u)
			continue;
		if (!strcmp(sums[i].n, "0")) {
			unit_mark_done(r, u);
			units[i] = NULL;
			continue;
		}
		rc = buf_append_str(&del, ndel ? " OR (" : "(");
		if (!rc)
			rc = rs_sql_delete_where(rr_table_of(r, u), rr_ustr(u, "partition"),
						 rr_uint_of(u, "modulus"), rr_uint_of(u, "target"), &del);
		if (!rc)
			rc = buf_append_str(&del, ")");
		if (!rc) {
			rr_set_str(u, "state", rs_state_name(RS_DELETING));
			ndel++;
		}
	}
	/* One save for the units found done and those now deleting: each
	 * change is safe to lose (a rerun checks the source again). */
	if (!rc)
		rc = rr_save(r);
	if (!rc && ndel) {
		log_info(r->o->log, "reshard: shard %d: deleting the rows of %zu units of %s", source, ndel,
			 rr_ustr(units[0], "table"));
		rc = rr_exec_on(r, source, buf_str(&del));
	}
	free(sums);
	free(check);
	buf_free(&tbl);
	buf_free(&del);
	return rc;
}

/* Whether a mutation of table (unquoted) is still running on shard:
 * system.mutations with is_done = 0 (ClickHouse 18.16,
 * dbms/src/Storages/System/StorageSystemMutations.cpp). */
static int mutation_running(struct run *r, int shard, const char *table, bool *yes)
{
	struct buf sql;
	cJSON *rows = NULL;
	int rc;

	buf_init(&sql, 4096);
	rc = buf_append_str(&sql, "SELECT count() AS n FROM system.mutations");
	if (!rc)
		rc = rr_system_where(r, table, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " AND NOT is_done AND parts_to_do > 0");
	if (!rc)
		rc = rr_query_on(r, shard, buf_str(&sql), &rows);
	if (!rc)
		*yes = rr_num_field(cJSON_GetArrayItem(rows, 0), "n") != 0;
	cJSON_Delete(rows);
	buf_free(&sql);
	return rc;
}

/*
 * Waits until the rows of the units rr_group_delete_start() left deleting
 * are gone from their source, and marks them done: one count per unit at
 * each count, all in one query (group_sums), at the intervals and within
 * the bound of delete_wait(). The count reads the group's partitions and
 * competes with the mutation for the server, so while system.mutations
 * says a mutation of the table is running, a look is that metadata query
 * alone, with a count at least every 5 seconds. The count decides:
 * a Replicated table's mutation may not show in system.mutations yet, a
 * plain table's not at all in some versions, and another mutation of the
 * table may be the running one.
 */
int rr_group_delete_finish(struct run *r, cJSON **units, size_t n)
{
	struct buf tbl;
	struct usum *sums;
	cJSON **wait;
	double start = rr_now_s(), counted = start;
	long wait_ms = 20;
	size_t i, left = 0, first = n;
	const char *table;
	int rc, source;

	wait = util_xcalloc(n ? n : 1, sizeof(*wait));
	for (i = 0; i < n; i++) {
		if (units[i] && rr_ustate(units[i]) == RS_DELETING) {
			wait[i] = units[i];
			left++;
			first = first < n ? first : i;
		}
	}
	if (!left) {
		free(wait);
		return 0;
	}
	sums = util_xcalloc(n, sizeof(*sums));
	buf_init(&tbl, SQL_CAP);
	source = rr_uint_of(wait[first], "source");
	table = rr_ustr(wait[first], "table");
	rc = rr_table_name(r, table, &tbl);
	while (!rc) {
		size_t done = 0;
		struct timespec ts = { .tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L };
		bool busy = false;

		rr_unlock(r);
		nanosleep(&ts, NULL);
		rr_lock(r);
		wait_ms = wait_ms * 2 > 250 ? 250 : wait_ms * 2;
		if (rr_now_s() - counted < 5.0)
			rc = mutation_running(r, source, table, &busy);
		if (!rc && !busy) {
			counted = rr_now_s();
			rc = rr_group_sums(r, wait, n, source, buf_str(&tbl), false, sums);
		}
		for (i = 0; !rc && !busy && i < n; i++) {
			if (wait[i] && !strcmp(sums[i].n, "0")) {
				unit_mark_done(r, wait[i]);
				wait[i] = NULL;
				done++;
			}
		}
		if (!rc && done)
			rc = rr_save(r);
		left -= done;
		if (rc || !left)
			break;
		if (rr_now_s() - start > 600) {
			for (i = 0; i < n && !wait[i]; i++)
				;
			snprintf(r->err, r->errlen,
				 "%s: %s rows still on shard %d 10 minutes after the delete (see system.mutations)",
				 rr_ustr(wait[i], "id"), sums[i].n, rr_uint_of(wait[i], "source"));
			rc = -EAGAIN;
			break;
		}
	}
	free(sums);
	free(wait);
	buf_free(&tbl);
	return rc;
}
