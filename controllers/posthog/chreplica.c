/*
 * chreplica: see chreplica.h. The queries read system.replicas (database,
 * table, zookeeper_path, total_replicas, active_replicas, queue_size,
 * is_readonly) and system.zookeeper (children of a path), both present in
 * ClickHouse 18.16 and later.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/zk/zk.h"
#include "chreplica.h"
#include "api/posthog/posthog.h"

bool phc_replica_is_removed(const char *name, const char *prefix, unsigned keep)
{
	size_t n = strlen(prefix);
	unsigned long v = 0;
	const char *p;

	if (strncmp(name, prefix, n) || !isdigit((unsigned char)name[n]))
		return false;
	for (p = name + n; isdigit((unsigned char)*p) && v < 100000; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	return *p == '\0' && v >= keep;
}

static const char *field(const cJSON *row, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* rows of SELECT name FROM system.zookeeper WHERE path = '<path>'. */
static int zk_children_sql(struct ch_client *c, const char *path, cJSON **rows, char *err,
			   size_t errlen)
{
	struct buf q;
	int r;

	buf_init(&q, 8192);
	r = buf_append_str(&q, "SELECT name FROM system.zookeeper WHERE path = ");
	if (r == 0)
		r = ch_quote(path, &q);
	if (r == 0)
		r = ch_query(c, buf_str(&q), rows, err, errlen);
	else
		snprintf(err, errlen, "ZooKeeper path too long: %.200s", path);
	buf_free(&q);
	return r;
}

static bool has_row(const cJSON *rows, const char *name)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, rows)
		if (field(row, "name") && !strcmp(field(row, "name"), name))
			return true;
	return false;
}

static int drop_sql(struct ch_client *c, const char *db, const char *table, const char *replica,
		    char *err, size_t errlen)
{
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = buf_append_str(&q, "SYSTEM DROP REPLICA ");
	if (r == 0)
		r = ch_quote(replica, &q);
	if (r == 0)
		r = buf_append_str(&q, " FROM TABLE ");
	if (r == 0)
		r = ch_quote_ident(db, &q);
	if (r == 0)
		r = buf_append_str(&q, ".");
	if (r == 0)
		r = ch_quote_ident(table, &q);
	if (r == 0)
		r = ch_exec(c, buf_str(&q), err, errlen);
	buf_free(&q);
	return r;
}

/*
 * SYSTEM DROP REPLICA ... FROM TABLE, when the server's parser has it
 * (*sql, true until a server answers SYNTAX_ERROR, 62 in ClickHouse's
 * ErrorCodes.cpp: 18.16's ASTSystemQuery has no DROP_REPLICA); else the
 * replica's znode tree through ZooKeeper, which is what the statement
 * removes. z is opened on first need.
 */
static int drop_one(struct ch_client *c, struct phc_replica_drop *d, bool *sql, struct zk **z,
		    const char *table, const char *name, const char *rpath, char *err,
		    size_t errlen)
{
	int r = 0;

	if (*sql) {
		r = drop_sql(c, d->database, table, name, err, errlen);
		if (r == 0 || ch_exception_code(err) != CH_SYNTAX_ERROR)
			return r;
		*sql = false; /* a server without the statement: ZooKeeper from now on */
	}
	if (!d->zk_hosts) {
		snprintf(err, errlen, "the server has no SYSTEM DROP REPLICA and no ZooKeeper was "
			 "given to drop removed replicas through");
		return -EINVAL;
	}
	if (!*z)
		r = zk_open(d->zk_hosts, 10000, 10000, z, err, errlen);
	if (r == 0)
		r = zk_delete_tree(*z, rpath, err, errlen);
	return r;
}

/* Drops the removed replicas of one table. */
static int drop_table(struct ch_client *c, struct phc_replica_drop *d, bool *sql, struct zk **z,
		      const cJSON *row, char *err, size_t errlen)
{
	const char *table = field(row, "table"), *path = field(row, "zookeeper_path");
	cJSON *names = NULL, *state = NULL;
	const cJSON *n;
	char rpath[2048];
	int r;

	if (!table || !path)
		return 0;
	snprintf(rpath, sizeof(rpath), "%s/replicas", path);
	r = zk_children_sql(c, rpath, &names, err, errlen);
	cJSON_ArrayForEach(n, names) {
		const char *name = field(n, "name");

		if (r < 0 || !name || !phc_replica_is_removed(name, d->prefix, d->keep))
			continue;
		snprintf(rpath, sizeof(rpath), "%s/replicas/%s", path, name);
		cJSON_Delete(state);
		state = NULL;
		r = zk_children_sql(c, rpath, &state, err, errlen);
		if (r == 0 && has_row(state, "is_active")) {
			d->active++;
			continue;
		}
		if (r == 0)
			r = drop_one(c, d, sql, z, table, name, rpath, err, errlen);
		if (r == 0)
			d->dropped++;
	}
	cJSON_Delete(state);
	cJSON_Delete(names);
	return r;
}

int phc_replica_drop_removed(struct ch_client *c, struct phc_replica_drop *d, char *err,
			    size_t errlen)
{
	cJSON *rows = NULL;
	const cJSON *row;
	struct zk *z = NULL;
	struct buf q;
	bool sql = true;
	int r;

	d->dropped = d->active = 0;
	buf_init(&q, 4096);
	r = buf_append_str(&q, "SELECT table, zookeeper_path FROM system.replicas WHERE database = ");
	if (r == 0)
		r = ch_quote(d->database, &q);
	if (r == 0)
		r = buf_append_str(&q, " AND total_replicas > active_replicas ORDER BY table");
	if (r == 0)
		r = ch_query(c, buf_str(&q), &rows, err, errlen);
	buf_free(&q);
	cJSON_ArrayForEach(row, rows) {
		if (r < 0)
			break;
		r = drop_table(c, d, &sql, &z, row, err, errlen);
	}
	zk_close(z);
	cJSON_Delete(rows);
	return r;
}

int phc_replica_lag(struct ch_client *c, const char *database, unsigned *behind, char *what,
		   size_t whatlen, char *err, size_t errlen)
{
	cJSON *rows = NULL;
	const cJSON *first;
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = buf_append_str(&q, "SELECT table, toString(queue_size) AS queue, toString(is_readonly) AS ro "
				"FROM system.replicas WHERE database = ");
	if (r == 0)
		r = ch_quote(database, &q);
	if (r == 0)
		r = buf_append_str(&q, " AND (queue_size > 0 OR is_readonly) ORDER BY table");
	if (r == 0)
		r = ch_query(c, buf_str(&q), &rows, err, errlen);
	buf_free(&q);
	if (r < 0)
		return r;
	*behind = (unsigned)cJSON_GetArraySize(rows);
	first = cJSON_GetArrayItem(rows, 0);
	if (what && whatlen)
		snprintf(what, whatlen, "%s", !first ? ""
			 : !strcmp(field(first, "ro") ? field(first, "ro") : "0", "1")
				 ? "read-only" : "fetching parts");
	if (what && whatlen && first && field(first, "table")) {
		size_t n = strlen(what);

		snprintf(what + n, whatlen - n, " (%s.%s, queue %s)", database, field(first, "table"),
			 field(first, "queue") ? field(first, "queue") : "?");
	}
	cJSON_Delete(rows);
	return 0;
}
