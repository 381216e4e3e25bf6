/*
 * The progress document and its units, the queries against the shards,
 * and the names and conditions of a unit (run-private.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/util/util.h"
#include "reshard.h"
#include "run-private.h"

double rr_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The test hook: SIGKILL at the named point (reshard.h). */
void rr_crash_point(const char *name)
{
	const char *at = getenv("POSTHOG_RESHARD_CRASH_AT");

	if (at && !strcmp(at, name)) {
		fprintf(stderr, "reshard: POSTHOG_RESHARD_CRASH_AT=%s: killing myself\n", name);
		fflush(stderr);
		raise(SIGKILL);
	}
}

/* Around every wait on ClickHouse or the clock while lanes run (run-private.h). */
void rr_unlock(struct run *r)
{
	if (r->gil)
		pthread_mutex_unlock(r->gil);
}

void rr_lock(struct run *r)
{
	if (r->gil)
		pthread_mutex_lock(r->gil);
}

int rr_save(struct run *r)
{
	return r->o->store.save(r->o->store.userdata, r->doc, r->err, r->errlen);
}

int rr_exec_on(struct run *r, int shard, const char *sql)
{
	char why[1024];
	int rc;

	rr_unlock(r);
	rc = ch_exec(r->ch[shard], sql, why, sizeof(why));
	rr_lock(r);

	if (rc) {
		snprintf(r->err, r->errlen, "shard %d: %s", shard, why);
		log_error(r->o->log, "reshard: shard %d: %s", shard, why);
		return rc == -EIO || rc == -EACCES ? -EIO : -EAGAIN;
	}
	return 0;
}

int rr_query_on(struct run *r, int shard, const char *sql, cJSON **rows)
{
	char why[1024];
	int rc;

	rr_unlock(r);
	rc = ch_query(r->ch[shard], sql, rows, why, sizeof(why));
	rr_lock(r);

	if (rc) {
		snprintf(r->err, r->errlen, "shard %d: %s", shard, why);
		log_error(r->o->log, "reshard: shard %d: %s", shard, why);
		return rc == -EIO || rc == -EACCES ? -EIO : -EAGAIN;
	}
	return 0;
}

/* A row's field as text (numbers come as strings or numbers). */
int rr_field_text(const cJSON *row, const char *name, char *out, size_t outlen)
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
int rr_row_field(const cJSON *rows, const char *name, char *out, size_t outlen)
{
	return rr_field_text(cJSON_GetArrayItem(rows, 0), name, out, outlen);
}

unsigned long long rr_to_ull(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	return *end ? 0 : v;
}

/* A field that FORMAT JSON gives as a number or (UInt64) a string. */
double rr_num_field(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsNumber(v))
		return v->valuedouble;
	if (cJSON_IsString(v) && v->valuestring[0])
		return (double)rr_to_ull(v->valuestring);
	return -1;
}

int rr_uint_field(const cJSON *o, const char *name)
{
	double d = rr_num_field(o, name);

	return d < 0 || d > RS_MAX_SHARDS ? -1 : (int)d;
}

/* ---- the progress document ---------------------------------------------- */

const char *rr_ustr(const cJSON *u, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

int rr_uint_of(const cJSON *u, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, name);

	return cJSON_IsNumber(v) ? v->valueint : -1;
}

enum rs_state rr_ustate(const cJSON *u)
{
	enum rs_state s = RS_PENDING;

	rs_state_parse(rr_ustr(u, "state"), &s);
	return s;
}

void rr_set_str(cJSON *o, const char *name, const char *v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, name))
		cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateString(v));
	else
		cJSON_AddStringToObject(o, name, v);
}

void rr_set_num(cJSON *o, const char *name, double v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, name))
		cJSON_ReplaceItemInObjectCaseSensitive(o, name, cJSON_CreateNumber(v));
	else
		cJSON_AddNumberToObject(o, name, v);
}

int rr_set_state(struct run *r, cJSON *u, enum rs_state s)
{
	rr_set_str(u, "state", rs_state_name(s));
	log_info(r->o->log, "reshard: %s %s", rr_ustr(u, "id"), rs_state_name(s));
	return rr_save(r);
}

const struct rs_table *rr_table_of(struct run *r, const cJSON *u)
{
	size_t i;

	for (i = 0; i < r->ntables; i++)
		if (!strcmp(r->tables[i].name, rr_ustr(u, "table")))
			return &r->tables[i];
	return NULL;
}

/* ---- names and statements ------------------------------------------------ */

int rr_staging_name(struct run *r, const cJSON *u, struct buf *out)
{
	struct buf db;
	char name[RS_MAX_NAME + 32];
	int rc;

	buf_init(&db, 1024);
	snprintf(name, sizeof(name), "%s_from_%d", rr_ustr(u, "table"), rr_uint_of(u, "source"));
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

int rr_table_name(struct run *r, const char *table, struct buf *out)
{
	int rc = ch_quote_ident(r->o->database, out);

	if (!rc)
		rc = buf_append_str(out, ".");
	if (!rc)
		rc = ch_quote_ident(table, out);
	return rc;
}

int rr_system_where(struct run *r, const char *table, struct buf *out)
{
	int rc = buf_append_str(out, " WHERE database = ");

	if (!rc)
		rc = ch_quote(r->o->database, out);
	if (!rc)
		rc = buf_append_str(out, " AND table = ");
	if (!rc)
		rc = ch_quote(table, out);
	return rc;
}

int rr_unit_where(struct run *r, const cJSON *u, struct buf *out)
{
	const struct rs_table *t = rr_table_of(r, u);

	if (!t) {
		snprintf(r->err, r->errlen, "%s: table %s is no longer sharded", rr_ustr(u, "id"), rr_ustr(u, "table"));
		return -EPROTO;
	}
	return rs_sql_where(t, rr_ustr(u, "partition"), rr_ustr(u, "partitionId"), rr_uint_of(u, "modulus"),
			    rr_uint_of(u, "target"), out);
}
