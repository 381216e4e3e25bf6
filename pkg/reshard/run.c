/*
 * The I/O half of reshard.h: runs the move units against the shards and
 * records every state change in the caller's store before going on, so
 * that a rerun after a kill starts from what is really on the servers.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/util/util.h"
#include "reshard.h"

#define MAX_ROUNDS 5
#define MAX_COPY_TRIES 3
#define SQL_CAP (256 * 1024)

struct run {
	const struct rs_options *o;
	struct ch_client *ch[RS_MAX_SHARDS];
	struct rs_table *tables;
	size_t ntables;
	cJSON *doc;
	cJSON *units; /* borrowed from doc */
	struct timespec started;
	unsigned long long copied_rows; /* this process, for the throttle */
	/* Staging tables (as "<target> <name>") whose leftovers this process
	 * has dealt with already, and targets with the staging database. */
	cJSON *cleaned;
	unsigned long long db_made; /* bit per target shard */
	char *err;
	size_t errlen;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The test hook: SIGKILL at the named point (reshard.h). */
static void crash_point(const char *name)
{
	const char *at = getenv("POSTHOG_RESHARD_CRASH_AT");

	if (at && !strcmp(at, name)) {
		fprintf(stderr, "reshard: POSTHOG_RESHARD_CRASH_AT=%s: killing myself\n", name);
		fflush(stderr);
		raise(SIGKILL);
	}
}

static int save(struct run *r)
{
	return r->o->store.save(r->o->store.userdata, r->doc, r->err, r->errlen);
}

static int exec_on(struct run *r, int shard, const char *sql)
{
	char why[1024];
	int rc = ch_exec(r->ch[shard], sql, why, sizeof(why));

	if (rc) {
		snprintf(r->err, r->errlen, "shard %d: %s", shard, why);
		log_error(r->o->log, "reshard: shard %d: %s", shard, why);
		return rc == -EIO || rc == -EACCES ? -EIO : -EAGAIN;
	}
	return 0;
}

static int query_on(struct run *r, int shard, const char *sql, cJSON **rows)
{
	char why[1024];
	int rc = ch_query(r->ch[shard], sql, rows, why, sizeof(why));

	if (rc) {
		snprintf(r->err, r->errlen, "shard %d: %s", shard, why);
		log_error(r->o->log, "reshard: shard %d: %s", shard, why);
		return rc == -EIO || rc == -EACCES ? -EIO : -EAGAIN;
	}
	return 0;
}

/* A row's field as text (numbers come as strings or numbers). */
static int field_text(const cJSON *row, const char *name, char *out, size_t outlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);

	if (cJSON_IsString(v))
		snprintf(out, outlen, "%s", v->valuestring);
	else if (cJSON_IsNumber(v))
		snprintf(out, outlen, "%.0f", v->valuedouble);
	else
		return -EBADMSG;
	return 0;
}

/* The first row's field as text. */
static int row_field(const cJSON *rows, const char *name, char *out, size_t outlen)
{
	return field_text(cJSON_GetArrayItem(rows, 0), name, out, outlen);
}

static unsigned long long to_ull(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	return *end ? 0 : v;
}

/* A field that FORMAT JSON gives as a number or (UInt64) a string. */
static double num_field(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsNumber(v))
		return v->valuedouble;
	if (cJSON_IsString(v) && v->valuestring[0])
		return (double)to_ull(v->valuestring);
	return -1;
}

static int uint_field(const cJSON *o, const char *name)
{
	double d = num_field(o, name);

	return d < 0 || d > RS_MAX_SHARDS ? -1 : (int)d;
}

/* ---- the progress document ---------------------------------------------- */

static const char *ustr(const cJSON *u, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static int uint_of(const cJSON *u, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, name);

	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static enum rs_state ustate(const cJSON *u)
{
	enum rs_state s = RS_PENDING;

	rs_state_parse(ustr(u, "state"), &s);
	return s;
}

static void set_str(cJSON *o, const char *name, const char *v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, name))
		cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateString(v));
	else
		cJSON_AddStringToObject(o, name, v);
}

static void set_num(cJSON *o, const char *name, double v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, name))
		cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateNumber(v));
	else
		cJSON_AddNumberToObject(o, name, v);
}

static int set_state(struct run *r, cJSON *u, enum rs_state s)
{
	set_str(u, "state", rs_state_name(s));
	log_info(r->o->log, "reshard: %s %s", ustr(u, "id"), rs_state_name(s));
	return save(r);
}

static const struct rs_table *table_of(struct run *r, const cJSON *u)
{
	size_t i;

	for (i = 0; i < r->ntables; i++)
		if (!strcmp(r->tables[i].name, ustr(u, "table")))
			return &r->tables[i];
	return NULL;
}

/* ---- names and statements ------------------------------------------------ */

static int staging_name(struct run *r, const cJSON *u, struct buf *out)
{
	struct buf db;
	char name[RS_MAX_NAME + 32];
	int rc;

	buf_init(&db, 1024);
	snprintf(name, sizeof(name), "%s_from_%d", ustr(u, "table"), uint_of(u, "source"));
	rc = buf_printf(&db, "%s_reshard", r->o->database);
	if (!rc)
		rc = ch_quote_ident(buf_str(&db), out);
	if (!rc)
		rc = buf_append_str(out, ".");
	if (!rc)
		rc = ch_quote_ident(name, out);
	buf_free(&db);
	return rc;
}

static int table_name(struct run *r, const char *table, struct buf *out)
{
	int rc = ch_quote_ident(r->o->database, out);

	if (!rc)
		rc = buf_append_str(out, ".");
	if (!rc)
		rc = ch_quote_ident(table, out);
	return rc;
}

static int unit_where(struct run *r, const cJSON *u, struct buf *out)
{
	const struct rs_table *t = table_of(r, u);

	if (!t) {
		snprintf(r->err, r->errlen, "%s: table %s is no longer sharded", ustr(u, "id"), ustr(u, "table"));
		return -EPROTO;
	}
	return rs_sql_where(t, ustr(u, "partition"), ustr(u, "partitionId"), uint_of(u, "modulus"),
			    uint_of(u, "target"), out);
}

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
	rc = unit_where(r, u, &where);
	if (!rc && with_sum)
		rc = rs_sql_checksum(table_of(r, u), from, buf_str(&where), sql);
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
	else if (row_field(rows, "n", s->n, sizeof(s->n)) ||
		 (s->with_sum && row_field(rows, "sum", s->sum, sizeof(s->sum)))) {
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
static int checksum(struct run *r, const cJSON *u, int shard, const char *from,
		    char *n, char *sum)
{
	struct side side = { .ch = r->ch[shard], .with_sum = sum != NULL };
	struct buf sql;
	int rc;

	buf_init(&sql, SQL_CAP);
	rc = checksum_sql(r, u, from, sum != NULL, &sql);
	if (!rc) {
		side.sql = buf_str(&sql);
		side_run(&side);
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
 * same query as checksum()'s; only the waiting overlaps. Falls back to one
 * after the other when no thread can be started.
 */
static int checksum_both(struct run *r, const cJSON *u, const char *table,
			 const char *staging, char *n, char *sum, char *n2, char *sum2)
{
	int source = uint_of(u, "source"), target = uint_of(u, "target");
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
		threaded = !pthread_create(&th, NULL, side_run, &src);
		if (!threaded)
			side_run(&src);
		side_run(&dst);
		if (threaded)
			pthread_join(th, NULL);
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

/* A unit's rows on its source, from group_sums(). */
struct usum {
	char n[32];
	char sum[32];
};

/* The answer row of pid and target among rows; NULL when none. */
static const cJSON *sums_row(const cJSON *rows, const char *pid, int target)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, rows) {
		if (!strcmp(ustr(row, "pid"), pid) && uint_field(row, "target") == target)
			return row;
	}
	return NULL;
}

/*
 * Count (and with with_sum the checksum) of each unit's rows in tbl on
 * source, as checksum() gives them, in one read of the group's partitions:
 *   SELECT _partition_id AS pid, toUInt32((<key>) % <modulus>) AS target,
 *          count() AS n, toString(sum(<row hash>)) AS sum
 *   FROM tbl WHERE _partition_id IN (...) GROUP BY pid, target
 * (one query per modulus among the units; a plan's units share one). Each
 * row's hash is computed once; a countIf/sumIf per unit computed it once
 * per unit. A unit with no answer row has no rows: 0 and 0. The units
 * share their table (a group). NULL entries of units are skipped.
 */
static int group_sums(struct run *r, cJSON **units, size_t n, int source,
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
		t = table_of(r, units[i]);
		if (!t) {
			snprintf(r->err, r->errlen, "%s: table %s is no longer sharded",
				 ustr(units[i], "id"), ustr(units[i], "table"));
			rc = -EPROTO;
			break;
		}
		modulus = uint_of(units[i], "modulus");
		buf_reset(&sql);
		rc = buf_printf(&sql, "SELECT _partition_id AS pid, toUInt32((%s) %% %d) AS target, count() AS n",
				t->key, modulus);
		if (!rc && with_sum)
			rc = buf_printf(&sql, ", toString(sum(cityHash64(toString(tuple(%s))))) AS sum",
					t->sorting_key);
		if (!rc)
			rc = buf_printf(&sql, " FROM %s WHERE _partition_id IN (", tbl);
		for (k = i; !rc && k < n; k++) {
			if (!units[k] || done[k] || uint_of(units[k], "modulus") != modulus)
				continue;
			rc = buf_append_str(&sql, cols++ ? ", " : "");
			if (!rc)
				rc = ch_quote(ustr(units[k], "partitionId"), &sql);
		}
		if (!rc)
			rc = buf_append_str(&sql, ") GROUP BY pid, target");
		if (!rc)
			rc = query_on(r, source, buf_str(&sql), &rows);
		for (k = i; !rc && k < n; k++) {
			const cJSON *row;

			if (!units[k] || done[k] || uint_of(units[k], "modulus") != modulus)
				continue;
			done[k] = true;
			row = sums_row(rows, ustr(units[k], "partitionId"), uint_of(units[k], "target"));
			snprintf(out[k].n, sizeof(out[k].n), "0");
			snprintf(out[k].sum, sizeof(out[k].sum), "0");
			if (row)
				rc = field_text(row, "n", out[k].n, sizeof(out[k].n));
			if (row && !rc && with_sum)
				rc = field_text(row, "sum", out[k].sum, sizeof(out[k].sum));
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

/* ---- the steps ------------------------------------------------------------ */

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
	const struct rs_table *t = table_of(r, u);
	int target = uint_of(u, "target");
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
			rc = exec_on(r, target, buf_str(&sql));
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
			rc = exec_on(r, target, buf_str(&sql));
		if (!rc)
			staging_mark_cleaned(r, target, staging);
	}
	buf_reset(&sql);
	if (!rc)
		rc = buf_printf(&sql, "DROP TABLE IF EXISTS %s", staging);
	if (!rc)
		rc = exec_on(r, target, buf_str(&sql));
	buf_reset(&sql);
	if (!rc)
		rc = buf_printf(&sql, "CREATE TABLE %s AS ", staging);
	if (!rc)
		rc = table_name(r, t->name, &sql);
	if (!rc)
		rc = buf_printf(&sql, " ENGINE = %s", t->staging_engine);
	if (!rc)
		rc = exec_on(r, target, buf_str(&sql));
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
	spent = now_s() - ((double)r->started.tv_sec + (double)r->started.tv_nsec / 1e9);
	if (want > spent) {
		struct timespec ts = { .tv_sec = (time_t)(want - spent) };

		ts.tv_nsec = (long)((want - spent - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

/*
 * Copies a unit into staging and verifies it. expect, when not NULL, is
 * the count and checksum of the unit's rows on the source read just before
 * (group_sums() for the whole group, one read of each partition): if the
 * staging table matches it, the source is not read again; any mismatch
 * verifies again with both sides read now (checksum_both()) before the
 * copy counts as failed.
 */
static int step_copy(struct run *r, cJSON *u, const struct usum *expect)
{
	const char *user = r->o->user ? r->o->user : "default";
	int source = uint_of(u, "source"), target = uint_of(u, "target");
	struct buf staging, sql, where;
	char n[32], sum[32], n2[32], sum2[32];
	int rc, tries;

	buf_init(&staging, 4096);
	buf_init(&sql, SQL_CAP);
	buf_init(&where, SQL_CAP);
	rc = staging_name(r, u, &staging);
	if (!rc)
		rc = unit_where(r, u, &where);
	for (tries = 0; !rc && tries < MAX_COPY_TRIES; tries++) {
		rc = set_state(r, u, RS_COPYING);
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
			rc = ch_quote(ustr(u, "table"), &sql);
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
			rc = exec_on(r, target, buf_str(&sql));
		if (!rc)
			rc = set_state(r, u, RS_COPIED);
		buf_reset(&sql);
		if (!rc)
			rc = table_name(r, ustr(u, "table"), &sql);
		if (!rc && expect && !tries) {
			snprintf(n, sizeof(n), "%s", expect->n);
			snprintf(sum, sizeof(sum), "%s", expect->sum);
			rc = checksum(r, u, target, buf_str(&staging), n2, sum2);
			if (!rc && (strcmp(n, n2) || strcmp(sum, sum2)))
				rc = checksum_both(r, u, buf_str(&sql), buf_str(&staging), n, sum, n2, sum2);
		} else if (!rc) {
			rc = checksum_both(r, u, buf_str(&sql), buf_str(&staging), n, sum, n2, sum2);
		}
		if (rc)
			break;
		if (!strcmp(n, n2) && !strcmp(sum, sum2)) {
			set_num(u, "rows", (double)to_ull(n));
			set_str(u, "checksum", sum);
			rc = set_state(r, u, RS_VERIFIED);
			if (!rc)
				throttle(r, to_ull(n));
			goto out;
		}
		log_error(r->o->log, "reshard: %s: source %s rows (sum %s), staging %s rows (sum %s); copying again",
			  ustr(u, "id"), n, sum, n2, sum2);
	}
	if (!rc) {
		snprintf(r->err, r->errlen, "%s: the copy never matched the source after %d tries",
			 ustr(u, "id"), MAX_COPY_TRIES);
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
	int target = uint_of(u, "target");
	struct buf sql, cols, table;
	cJSON *rows = NULL;
	char shortfall[32];
	int rc;

	buf_init(&sql, SQL_CAP);
	buf_init(&cols, SQL_CAP);
	buf_init(&table, SQL_CAP);
	rc = buf_append_str(&sql, "SELECT name, default_kind FROM system.columns WHERE database = ");
	if (!rc)
		rc = ch_quote(r->o->database, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " AND table = ");
	if (!rc)
		rc = ch_quote(ustr(u, "table"), &sql);
	if (!rc)
		rc = query_on(r, target, buf_str(&sql), &rows);
	if (!rc && rs_sql_columns(rows, &cols)) {
		snprintf(r->err, r->errlen, "%s: shard %d lists no stored column of %s",
			 ustr(u, "id"), target, ustr(u, "table"));
		log_error(r->o->log, "reshard: %s", r->err);
		rc = -EIO;
	}
	cJSON_Delete(rows);
	rows = NULL;
	buf_reset(&sql);
	if (!rc)
		rc = table_name(r, ustr(u, "table"), &table);
	if (!rc)
		rc = rs_sql_attach_missing(buf_str(&cols), buf_str(&table),
					   ustr(u, "partitionId"), staging, &sql);
	if (!rc)
		rc = query_on(r, target, buf_str(&sql), &rows);
	if (!rc && row_field(rows, "short", shortfall, sizeof(shortfall))) {
		snprintf(r->err, r->errlen, "%s: shard %d answered the attach check without a count",
			 ustr(u, "id"), target);
		log_error(r->o->log, "reshard: %s", r->err);
		rc = -EIO;
	}
	if (!rc)
		*yes = to_ull(shortfall) == 0;
	cJSON_Delete(rows);
	buf_free(&sql);
	buf_free(&cols);
	buf_free(&table);
	return rc;
}

static int step_attach(struct run *r, cJSON *u, bool resumed)
{
	struct buf staging, sql;
	bool done = false;
	int rc;

	buf_init(&staging, 4096);
	buf_init(&sql, SQL_CAP);
	rc = staging_name(r, u, &staging);
	if (!rc && resumed)
		rc = attached_already(r, u, buf_str(&staging), &done);
	if (!rc && !done)
		rc = set_state(r, u, RS_ATTACHING);
	if (!rc && !done)
		crash_point("attaching");
	if (!rc && !done)
		rc = buf_printf(&sql, "ALTER TABLE ");
	if (!rc && !done)
		rc = table_name(r, ustr(u, "table"), &sql);
	if (!rc && !done)
		rc = buf_append_str(&sql, " ATTACH PARTITION ID ");
	if (!rc && !done)
		rc = ch_quote(ustr(u, "partitionId"), &sql);
	if (!rc && !done)
		rc = buf_printf(&sql, " FROM %s", buf_str(&staging));
	if (!rc && !done)
		rc = exec_on(r, uint_of(u, "target"), buf_str(&sql));
	if (!rc)
		crash_point("attached");
	if (!rc)
		rc = set_state(r, u, RS_ATTACHED);
	buf_reset(&sql);
	if (!rc)
		rc = buf_printf(&sql, "DROP TABLE IF EXISTS %s", buf_str(&staging));
	if (!rc)
		rc = exec_on(r, uint_of(u, "target"), buf_str(&sql));
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
	double start = now_s();
	long wait_ms = 20;
	int rc;

	for (;;) {
		struct timespec ts;

		rc = checksum(r, u, uint_of(u, "source"), table, n, NULL);
		if (rc || !strcmp(n, "0"))
			return rc;
		if (now_s() - start > 600)
			break;
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		/* At most 250 ms between looks: a mutation that ends just
		 * after one is noticed soon, and a look is one count(). */
		wait_ms = wait_ms * 2 > 250 ? 250 : wait_ms * 2;
	}
	snprintf(r->err, r->errlen, "%s: %s rows still on shard %d 10 minutes after the delete (see system.mutations)",
		 ustr(u, "id"), n, uint_of(u, "source"));
	return -EAGAIN;
}

static int unit_done(struct run *r, cJSON *u);

static int step_delete(struct run *r, cJSON *u)
{
	int source = uint_of(u, "source");
	double copied = num_field(u, "rows");
	struct buf tbl, del;
	char n[32], sum[32];
	int rc;

	buf_init(&tbl, SQL_CAP);
	buf_init(&del, SQL_CAP);
	rc = table_name(r, ustr(u, "table"), &tbl);
	if (!rc)
		rc = checksum(r, u, source, buf_str(&tbl), n, sum);
	/* Only the rows that were copied may go: anything else under this
	 * unit's condition arrived after the copy. A resumed delete may
	 * have removed some already (a mutation works part by part). */
	if (!rc && strcmp(n, "0") && ustate(u) != RS_DELETING &&
	    (strcmp(sum, ustr(u, "checksum")) || to_ull(n) != (unsigned long long)copied)) {
		snprintf(r->err, r->errlen,
			 "%s: shard %d now holds %s rows (sum %s) under this unit, %.0f were copied (sum %s); rows arrived after the copy: not deleting",
			 ustr(u, "id"), source, n, sum, copied, ustr(u, "checksum"));
		rc = -EPROTO;
	}
	if (!rc && strcmp(n, "0")) {
		bool resumed = ustate(u) == RS_DELETING;

		rc = set_state(r, u, RS_DELETING);
		if (!rc && (!resumed || (to_ull(n) == (unsigned long long)copied &&
					 !strcmp(sum, ustr(u, "checksum"))))) {
			rc = buf_printf(&del, "ALTER TABLE %s DELETE WHERE ", buf_str(&tbl));
			if (!rc)
				rc = rs_sql_delete_where(table_of(r, u), ustr(u, "partition"),
							 uint_of(u, "modulus"), uint_of(u, "target"), &del);
			if (!rc)
				rc = exec_on(r, source, buf_str(&del));
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
	double copied = num_field(u, "rows"), before = num_field(u, "moved");

	/* The order units finish in, for the docs' "removed shards first"
	 * and its test. */
	set_num(r->doc, "seq", (num_field(r->doc, "seq") > 0 ? num_field(r->doc, "seq") : 0) + 1);
	set_num(u, "doneSeq", num_field(r->doc, "seq"));
	set_num(u, "moved", (before > 0 ? before : 0) + (copied > 0 ? copied : 0));
	set_str(u, "state", rs_state_name(RS_DONE));
	log_info(r->o->log, "reshard: %s %s", ustr(u, "id"), rs_state_name(RS_DONE));
}

static int unit_done(struct run *r, cJSON *u)
{
	unit_mark_done(r, u);
	return save(r);
}

/*
 * Starts the deletion of the rows of every attached unit of one (table,
 * source) with one mutation: ClickHouse 18.16 rewrites every part a
 * mutation touches, so one per unit would rewrite the table once per unit.
 * Each unit is checked first, as step_delete does. The units are left in
 * state deleting; group_delete_finish() waits for them. A unit with no
 * rows left is done at once (its slot in units becomes NULL).
 */
static int group_delete_start(struct run *r, cJSON **units, size_t n)
{
	struct buf tbl, del;
	struct usum *sums = util_xcalloc(n, sizeof(*sums));
	cJSON **check = util_xcalloc(n, sizeof(*check));
	size_t i, ndel = 0;
	int rc, source = uint_of(units[0], "source");

	buf_init(&tbl, SQL_CAP);
	buf_init(&del, SQL_CAP);
	for (i = 0; i < n; i++)
		if (ustate(units[i]) >= RS_ATTACHED && ustate(units[i]) != RS_DONE)
			check[i] = units[i];
	rc = table_name(r, ustr(units[0], "table"), &tbl);
	if (!rc)
		rc = group_sums(r, check, n, source, buf_str(&tbl), true, sums);
	if (!rc)
		rc = buf_printf(&del, "ALTER TABLE %s DELETE WHERE ", buf_str(&tbl));
	/* Every unit is checked before any is marked deleting, so that a
	 * failed check leaves no unit recorded as deleting without its
	 * mutation. */
	for (i = 0; !rc && i < n; i++) {
		cJSON *u = check[i];
		double copied = u ? num_field(u, "rows") : 0;

		if (!u || !strcmp(sums[i].n, "0"))
			continue;
		if (ustate(u) != RS_DELETING &&
		    (strcmp(sums[i].sum, ustr(u, "checksum")) || to_ull(sums[i].n) != (unsigned long long)copied)) {
			snprintf(r->err, r->errlen,
				 "%s: shard %d now holds %s rows (sum %s) under this unit, %.0f were copied (sum %s); rows arrived after the copy: not deleting",
				 ustr(u, "id"), source, sums[i].n, sums[i].sum, copied, ustr(u, "checksum"));
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
			rc = rs_sql_delete_where(table_of(r, u), ustr(u, "partition"),
						 uint_of(u, "modulus"), uint_of(u, "target"), &del);
		if (!rc)
			rc = buf_append_str(&del, ")");
		if (!rc) {
			set_str(u, "state", rs_state_name(RS_DELETING));
			ndel++;
		}
	}
	/* One save for the units found done and those now deleting: each
	 * change is safe to lose (a rerun checks the source again). */
	if (!rc)
		rc = save(r);
	if (!rc && ndel) {
		log_info(r->o->log, "reshard: shard %d: deleting the rows of %zu units of %s", source, ndel,
			 ustr(units[0], "table"));
		rc = exec_on(r, source, buf_str(&del));
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
	rc = buf_append_str(&sql, "SELECT count() AS n FROM system.mutations WHERE database = ");
	if (!rc)
		rc = ch_quote(r->o->database, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " AND table = ");
	if (!rc)
		rc = ch_quote(table, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " AND NOT is_done AND parts_to_do > 0");
	if (!rc)
		rc = query_on(r, shard, buf_str(&sql), &rows);
	if (!rc)
		*yes = num_field(cJSON_GetArrayItem(rows, 0), "n") != 0;
	cJSON_Delete(rows);
	buf_free(&sql);
	return rc;
}

/*
 * Waits until the rows of the units group_delete_start() left deleting
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
static int group_delete_finish(struct run *r, cJSON **units, size_t n)
{
	struct buf tbl;
	struct usum *sums;
	cJSON **wait;
	double start = now_s(), counted = start;
	long wait_ms = 20;
	size_t i, left = 0, first = n;
	const char *table;
	int rc, source;

	wait = util_xcalloc(n ? n : 1, sizeof(*wait));
	for (i = 0; i < n; i++) {
		if (units[i] && ustate(units[i]) == RS_DELETING) {
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
	source = uint_of(wait[first], "source");
	table = ustr(wait[first], "table");
	rc = table_name(r, table, &tbl);
	while (!rc) {
		size_t done = 0;
		struct timespec ts = { .tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L };
		bool busy = false;

		nanosleep(&ts, NULL);
		wait_ms = wait_ms * 2 > 250 ? 250 : wait_ms * 2;
		if (now_s() - counted < 5.0)
			rc = mutation_running(r, source, table, &busy);
		if (!rc && !busy) {
			counted = now_s();
			rc = group_sums(r, wait, n, source, buf_str(&tbl), false, sums);
		}
		for (i = 0; !rc && !busy && i < n; i++) {
			if (wait[i] && !strcmp(sums[i].n, "0")) {
				unit_mark_done(r, wait[i]);
				wait[i] = NULL;
				done++;
			}
		}
		if (!rc && done)
			rc = save(r);
		left -= done;
		if (rc || !left)
			break;
		if (now_s() - start > 600) {
			for (i = 0; i < n && !wait[i]; i++)
				;
			snprintf(r->err, r->errlen,
				 "%s: %s rows still on shard %d 10 minutes after the delete (see system.mutations)",
				 ustr(wait[i], "id"), sums[i].n, uint_of(wait[i], "source"));
			rc = -EAGAIN;
			break;
		}
	}
	free(sums);
	free(wait);
	buf_free(&tbl);
	return rc;
}

/* Runs one unit from its recorded state to done. */
static int unit_run(struct run *r, cJSON *u)
{
	enum rs_state s = ustate(u);
	int rc = 0;

	if (s <= RS_COPIED) {
		rc = step_copy(r, u, NULL);
		if (rc)
			return rc;
		crash_point("verified");
		s = RS_VERIFIED;
	}
	if (s <= RS_ATTACHING) {
		rc = step_attach(r, u, s == RS_ATTACHING);
		if (rc)
			return rc;
	}
	return step_delete(r, u);
}

/* The unit with this id, or NULL. */
static cJSON *unit_find(struct run *r, const char *id)
{
	cJSON *u;

	cJSON_ArrayForEach(u, r->units)
		if (!strcmp(ustr(u, "id"), id))
			return u;
	return NULL;
}

/*
 * Units that a previous run (perhaps under another shard count) left: a
 * unit whose copy may be attached already is carried to the end under its
 * own modulus, since its rows may be on both shards; any other unfinished
 * unit is dropped with its staging table (the scan finds its rows again
 * where they are).
 */
static int settle(struct run *r)
{
	cJSON *u, *next;
	int rc = 0;

	for (u = r->units ? r->units->child : NULL; !rc && u; u = next) {
		enum rs_state s = ustate(u);

		next = u->next;
		if (s == RS_DONE || !table_of(r, u))
			continue;
		if (s >= RS_ATTACHING) {
			rc = unit_run(r, u);
			continue;
		}
		if (uint_of(u, "modulus") != r->o->modulus) {
			struct buf staging, sql;

			buf_init(&staging, 4096);
			buf_init(&sql, SQL_CAP);
			rc = staging_name(r, u, &staging);
			if (!rc)
				rc = buf_printf(&sql, "DROP TABLE IF EXISTS %s", buf_str(&staging));
			if (!rc)
				rc = exec_on(r, uint_of(u, "target"), buf_str(&sql));
			buf_free(&staging);
			buf_free(&sql);
			if (!rc) {
				cJSON_Delete(cJSON_DetachItemViaPointer(r->units, u));
				rc = save(r);
			}
		}
	}
	return rc;
}

/* Adds or renews the unit for rows of (table, partition) on source that
 * belong to target. */
static int unit_put(struct run *r, const char *table, const char *partition,
		    const char *pid, int source, int target, double rows)
{
	struct buf id;
	cJSON *u;
	int rc;

	buf_init(&id, 4096);
	rc = rs_unit_id(table, pid, source, target, &id);
	if (rc) {
		buf_free(&id);
		return rc;
	}
	u = unit_find(r, buf_str(&id));
	if (!u) {
		u = util_nn(cJSON_CreateObject());
		cJSON_AddStringToObject(u, "id", buf_str(&id));
		cJSON_AddStringToObject(u, "table", table);
		cJSON_AddStringToObject(u, "partition", partition);
		cJSON_AddStringToObject(u, "partitionId", pid);
		cJSON_AddNumberToObject(u, "source", source);
		cJSON_AddNumberToObject(u, "target", target);
		cJSON_AddItemToArray(r->units, u);
	}
	if (ustate(u) == RS_DONE || uint_of(u, "modulus") != r->o->modulus) {
		set_num(u, "modulus", r->o->modulus);
		set_str(u, "state", "pending");
	}
	set_num(u, "found", rows);
	buf_free(&id);
	return 0;
}

/* Rows of table on shard that belong elsewhere, by partition and target:
 * adds their units. *found counts them. */
/* The partition (its literal, as system.parts writes it) whose id is pid,
 * among rows of system.parts; NULL when none is. */
static const char *partition_of(const cJSON *parts, const char *pid)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, parts) {
		const char *id = ustr(p, "partition_id");

		if (!strcmp(id, pid))
			return *ustr(p, "partition") ? ustr(p, "partition") : NULL;
	}
	return NULL;
}

/*
 * Finds the rows of table t on shard that belong elsewhere, in one read of
 * the table (counts by partition and target), and records a unit for each
 * (partition, target) with rows. A partition that appears between the
 * parts query and the count is counted in found but left to the next
 * round, which then sees it in system.parts.
 */
static int scan_table(struct run *r, const struct rs_table *t, int shard,
		      double *found)
{
	struct buf sql, name;
	cJSON *parts = NULL, *rows = NULL, *row;
	int rc;

	buf_init(&sql, SQL_CAP);
	buf_init(&name, 4096);
	rc = table_name(r, t->name, &name);
	if (!rc)
		rc = buf_append_str(&sql, "SELECT partition, partition_id FROM system.parts WHERE active AND database = ");
	if (!rc)
		rc = ch_quote(r->o->database, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " AND table = ");
	if (!rc)
		rc = ch_quote(t->name, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " GROUP BY partition, partition_id ORDER BY partition_id");
	if (!rc)
		rc = query_on(r, shard, buf_str(&sql), &parts);
	buf_reset(&sql);
	if (!rc && cJSON_GetArraySize(parts) > 0)
		rc = buf_printf(&sql, "SELECT _partition_id AS pid, toUInt32((%s) %% %d) AS target, count() AS n FROM %s "
				"GROUP BY pid, target ORDER BY pid, target",
				t->key, r->o->modulus, buf_str(&name));
	if (!rc && cJSON_GetArraySize(parts) > 0)
		rc = query_on(r, shard, buf_str(&sql), &rows);
	cJSON_ArrayForEach(row, rows) {
		const char *pid = ustr(row, "pid");
		const char *partition = partition_of(parts, pid);
		int target = uint_field(row, "target");
		double n = num_field(row, "n");

		if (rc)
			break;
		if (!*pid || target < 0 || target >= r->o->modulus || n < 0) {
			snprintf(r->err, r->errlen, "shard %d: unexpected scan answer", shard);
			log_error(r->o->log, "reshard: %s", r->err);
			rc = -EIO;
		} else if (target != shard && n > 0) {
			/* Counted either way, so that another round looks. */
			if (partition)
				rc = unit_put(r, t->name, partition, pid, shard, target, n);
			*found += n;
		}
	}
	cJSON_Delete(rows);
	cJSON_Delete(parts);
	buf_free(&sql);
	buf_free(&name);
	return rc;
}

/* Sorts the units: rows of removed shards first, then by id. */
static int unit_cmp(const void *a, const void *b, void *m)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	int modulus = *(const int *)m;
	bool xr = uint_of(x, "source") >= modulus, yr = uint_of(y, "source") >= modulus;

	int c;

	if (xr != yr)
		return xr ? -1 : 1;
	c = strcmp(ustr(x, "table"), ustr(y, "table"));
	if (c)
		return c;
	if (uint_of(x, "source") != uint_of(y, "source"))
		return uint_of(x, "source") < uint_of(y, "source") ? -1 : 1;
	return strcmp(ustr(x, "id"), ustr(y, "id"));
}

/* The count and checksum on the source of each unit of a group that is to
 * be copied, for step_copy(); *out has n entries (caller frees). */
static int group_expect(struct run *r, cJSON **units, size_t n, struct usum **out)
{
	cJSON **copy = util_xcalloc(n, sizeof(*copy));
	struct buf tbl;
	size_t i, m = 0;
	int rc = 0;

	*out = util_xcalloc(n, sizeof(**out));
	for (i = 0; i < n; i++) {
		if (ustate(units[i]) <= RS_COPIED) {
			copy[i] = units[i];
			m++;
		}
	}
	buf_init(&tbl, SQL_CAP);
	if (m) {
		log_info(r->o->log, "reshard: shard %d: reading the counts and checksums of %zu units of %s",
			 uint_of(units[0], "source"), m, ustr(units[0], "table"));
		rc = table_name(r, ustr(units[0], "table"), &tbl);
	}
	if (m && !rc)
		rc = group_sums(r, copy, n, uint_of(units[0], "source"), buf_str(&tbl), true, *out);
	buf_free(&tbl);
	free(copy);
	return rc;
}

static int round_run(struct run *r, double *found)
{
	cJSON **todo = NULL, *u;
	struct usum *expect = NULL;
	size_t n = 0, i, prev = 0; /* [prev, i): the group whose delete runs */
	int rc = 0;
	int s;

	*found = 0;
	for (s = 0; !rc && s < (int)r->o->nshards; s++) {
		size_t t;

		for (t = 0; !rc && t < r->ntables; t++)
			rc = scan_table(r, &r->tables[t], s, found);
	}
	if (!rc)
		rc = save(r);
	cJSON_ArrayForEach(u, r->units) {
		if (ustate(u) == RS_DONE)
			continue;
		todo = util_xrealloc(todo, (n + 1) * sizeof(*todo));
		todo[n++] = u;
	}
	if (n)
		qsort_r(todo, n, sizeof(*todo), unit_cmp, (void *)&r->o->modulus);
	/* Copy and attach every unit of a (table, source), then delete
	 * their rows from the source with one mutation. The mutation runs on
	 * the source's server while the next group copies; it is waited for
	 * after that copy. A row the next group attaches to this source
	 * belongs to it, so the running mutation's condition (rows of this
	 * group's partitions that belong elsewhere) never matches one. */
	for (i = 0; !rc && i < n;) {
		size_t j = i, k;

		while (j < n && j - i < 500 && uint_of(todo[j], "source") == uint_of(todo[i], "source") &&
		       !strcmp(ustr(todo[j], "table"), ustr(todo[i], "table")))
			j++;
		rc = group_expect(r, todo + i, j - i, &expect);
		for (k = i; !rc && k < j; k++) {
			enum rs_state st = ustate(todo[k]);

			if (st <= RS_COPIED) {
				rc = step_copy(r, todo[k], expect + (k - i));
				if (!rc)
					crash_point("verified");
				st = RS_VERIFIED;
			}
			if (!rc && st <= RS_ATTACHING)
				rc = step_attach(r, todo[k], st == RS_ATTACHING);
		}
		free(expect);
		expect = NULL;
		if (!rc)
			rc = group_delete_finish(r, todo + prev, i - prev);
		prev = i;
		if (!rc)
			rc = group_delete_start(r, todo + i, j - i);
		i = j;
	}
	if (!rc)
		rc = group_delete_finish(r, todo + prev, n - prev);
	free(expect);
	free(todo);
	return rc;
}

static int check_options(const struct rs_options *o, char *err, size_t errlen)
{
	size_t i;

	if (o->nshards < 1 || o->nshards > RS_MAX_SHARDS) {
		snprintf(err, errlen, "--shard: name 1 to %d shards", RS_MAX_SHARDS);
		return -EINVAL;
	}
	if (o->modulus < 1 || (size_t)o->modulus > o->nshards) {
		snprintf(err, errlen, "--shards: %d is not between 1 and the %zu shards named",
			 o->modulus, o->nshards);
		return -EINVAL;
	}
	if (!o->database || !*o->database || !o->cluster || !*o->cluster ||
	    !o->store.load || !o->store.save) {
		snprintf(err, errlen, "a database, a cluster and a progress store are needed");
		return -EINVAL;
	}
	for (i = 0; i < o->nshards; i++) {
		if (!o->shards[i].url || !o->shards[i].addr || !*o->shards[i].addr) {
			snprintf(err, errlen, "--shard %zu: URL and native address needed", i);
			return -EINVAL;
		}
	}
	return 0;
}

/* Every shard's remote_servers must list modulus shards for the cluster
 * already, so that new rows follow the new topology and no row joins a
 * unit after its copy. */
static int cluster_check(struct run *r)
{
	struct buf sql;
	size_t i;
	int rc;

	buf_init(&sql, 4096);
	rc = buf_append_str(&sql, "SELECT count(DISTINCT shard_num) AS n FROM system.clusters WHERE cluster = ");
	if (!rc)
		rc = ch_quote(r->o->cluster, &sql);
	for (i = 0; !rc && i < r->o->nshards; i++) {
		cJSON *rows = NULL;
		double n;

		rc = query_on(r, (int)i, buf_str(&sql), &rows);
		n = rc ? 0 : num_field(cJSON_GetArrayItem(rows, 0), "n");
		cJSON_Delete(rows);
		if (!rc && (int)n != r->o->modulus) {
			snprintf(r->err, r->errlen,
				 "shard %zu: remote_servers lists %.0f shards for cluster %s, not %d yet; waiting",
				 i, n, r->o->cluster, r->o->modulus);
			rc = -EAGAIN;
		}
	}
	buf_free(&sql);
	return rc;
}

static int tables_read(struct run *r)
{
	struct buf sql;
	cJSON *rows = NULL;
	int rc;

	buf_init(&sql, 4096);
	rc = buf_append_str(&sql, "SELECT name, engine, engine_full, sorting_key, partition_key FROM system.tables WHERE database = ");
	if (!rc)
		rc = ch_quote(r->o->database, &sql);
	if (!rc)
		rc = query_on(r, 0, buf_str(&sql), &rows);
	if (!rc)
		rc = rs_tables_find(rows, r->o->database, r->o->cluster, &r->tables,
				    &r->ntables, r->err, r->errlen);
	cJSON_Delete(rows);
	buf_free(&sql);
	return rc;
}

static int doc_open(struct run *r)
{
	int rc = r->o->store.load(r->o->store.userdata, &r->doc, r->err, r->errlen);

	if (rc)
		return rc;
	if (!r->doc)
		r->doc = cJSON_CreateObject();
	if (!cJSON_IsObject(r->doc)) {
		snprintf(r->err, r->errlen, "the progress document is not a JSON object");
		return -EINVAL;
	}
	r->units = cJSON_GetObjectItemCaseSensitive(r->doc, "units");
	if (!cJSON_IsArray(r->units)) {
		cJSON_DeleteItemFromObjectCaseSensitive(r->doc, "units");
		r->units = util_nn(cJSON_AddArrayToObject(r->doc, "units"));
	}
	set_num(r->doc, "modulus", r->o->modulus);
	set_str(r->doc, "phase", "Running");
	set_str(r->doc, "message", "");
	return save(r);
}

static void doc_close(struct run *r, int rc)
{
	double moved = 0;
	cJSON *u;
	char why[1024];

	if (!r->doc)
		return;
	cJSON_ArrayForEach(u, r->units) {
		double m = num_field(u, "moved");

		moved += m > 0 ? m : 0;
	}
	set_num(r->doc, "moved", moved);
	set_str(r->doc, "phase", rc ? "Failed" : "Done");
	set_str(r->doc, "message", rc ? r->err : "");
	if (r->o->store.save(r->o->store.userdata, r->doc, why, sizeof(why)))
		log_error(r->o->log, "reshard: saving the final progress: %s", why);
}

int rs_run(const struct rs_options *o, char *err, size_t errlen)
{
	struct run r = { .o = o, .err = err, .errlen = errlen };
	double found = 1;
	size_t i;
	int rc, round;

	rc = check_options(o, err, errlen);
	if (rc)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &r.started);
	for (i = 0; !rc && i < o->nshards; i++) {
		struct ch_options co = {
			.url = o->shards[i].url, .user = o->user, .password = o->password,
			.timeout_ms = o->timeout_ms ? o->timeout_ms : 3600u * 1000u,
			.log = o->log,
		};

		rc = ch_new(&co, &r.ch[i]);
		if (rc)
			snprintf(err, errlen, "shard %zu: bad ClickHouse options (%s)", i, ch_strerror(rc));
	}
	if (!rc)
		rc = doc_open(&r);
	if (!rc && !o->skip_cluster_check)
		rc = cluster_check(&r);
	if (!rc)
		rc = tables_read(&r);
	if (!rc)
		rc = settle(&r);
	for (round = 0; !rc && found > 0 && round < MAX_ROUNDS; round++) {
		rc = round_run(&r, &found);
		if (!rc)
			log_info(o->log, "reshard: round %d moved %.0f rows", round + 1, found);
	}
	if (!rc && found > 0) {
		snprintf(err, errlen, "rows keep arriving on the wrong shards after %d rounds", MAX_ROUNDS);
		rc = -EPROTO;
	}
	doc_close(&r, rc);
	cJSON_Delete(r.doc);
	cJSON_Delete(r.cleaned);
	rs_tables_free(r.tables, r.ntables);
	for (i = 0; i < o->nshards; i++)
		ch_free(r.ch[i]);
	return rc;
}
