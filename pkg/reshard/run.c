/*
 * The I/O half of reshard.h: runs the move units against the shards and
 * records every state change in the caller's store before going on, so
 * that a rerun after a kill starts from what is really on the servers.
 * This file settles what a previous run left, scans for rows on a wrong
 * shard, and runs the rounds; a unit's steps are in steps.c, the
 * checksums in verify.c, the shared helpers in run_util.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/util/util.h"
#include "reshard.h"
#include "run-private.h"

#define MAX_ROUNDS 5

/* Copies, verifies and attaches one unit, from the state it is in. */
static int unit_move(struct run *r, cJSON *u, const struct usum *expect)
{
	enum rs_state st = rr_ustate(u);
	int rc = 0;

	if (st <= RS_COPIED) {
		rc = rr_step_copy(r, u, expect);
		if (!rc)
			rr_crash_point("verified");
		st = RS_VERIFIED;
	}
	if (!rc && st <= RS_ATTACHING)
		rc = rr_step_attach(r, u, st == RS_ATTACHING);
	return rc;
}

/* Runs one unit from its recorded state to done. */
static int unit_run(struct run *r, cJSON *u)
{
	int rc = unit_move(r, u, NULL);

	return rc ? rc : rr_step_delete(r, u);
}

/* The unit with this id, or NULL. */
static cJSON *unit_find(struct run *r, const char *id)
{
	cJSON *u;

	cJSON_ArrayForEach(u, r->units)
		if (!strcmp(rr_ustr(u, "id"), id))
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
		enum rs_state s = rr_ustate(u);

		next = u->next;
		if (s == RS_DONE || !rr_table_of(r, u))
			continue;
		if (s >= RS_ATTACHING) {
			rc = unit_run(r, u);
			continue;
		}
		if (rr_uint_of(u, "modulus") != r->o->modulus) {
			struct buf staging, sql;

			buf_init(&staging, 4096);
			buf_init(&sql, SQL_CAP);
			rc = rr_staging_name(r, u, &staging);
			if (!rc)
				rc = buf_printf(&sql, "DROP TABLE IF EXISTS %s", buf_str(&staging));
			if (!rc)
				rc = rr_exec_on(r, rr_uint_of(u, "target"), buf_str(&sql));
			buf_free(&staging);
			buf_free(&sql);
			if (!rc) {
				cJSON_Delete(cJSON_DetachItemViaPointer(r->units, u));
				rc = rr_save(r);
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
	if (rr_ustate(u) == RS_DONE || rr_uint_of(u, "modulus") != r->o->modulus) {
		rr_set_num(u, "modulus", r->o->modulus);
		rr_set_str(u, "state", "pending");
	}
	rr_set_num(u, "found", rows);
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
		const char *id = rr_ustr(p, "partition_id");

		if (!strcmp(id, pid))
			return *rr_ustr(p, "partition") ? rr_ustr(p, "partition") : NULL;
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
	rc = rr_table_name(r, t->name, &name);
	if (!rc)
		rc = buf_append_str(&sql, "SELECT partition, partition_id FROM system.parts");
	if (!rc)
		rc = rr_system_where(r, t->name, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " AND active GROUP BY partition, partition_id ORDER BY partition_id");
	if (!rc)
		rc = rr_query_on(r, shard, buf_str(&sql), &parts);
	buf_reset(&sql);
	if (!rc && cJSON_GetArraySize(parts) > 0)
		rc = buf_printf(&sql, "SELECT _partition_id AS pid, toUInt32((%s) %% %d) AS target, count() AS n FROM %s "
				"GROUP BY pid, target ORDER BY pid, target",
				t->key, r->o->modulus, buf_str(&name));
	if (!rc && cJSON_GetArraySize(parts) > 0)
		rc = rr_query_on(r, shard, buf_str(&sql), &rows);
	cJSON_ArrayForEach(row, rows) {
		const char *pid = rr_ustr(row, "pid");
		const char *partition = partition_of(parts, pid);
		int target = rr_uint_field(row, "target");
		double n = rr_num_field(row, "n");

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
	bool xr = rr_uint_of(x, "source") >= modulus, yr = rr_uint_of(y, "source") >= modulus;

	int c;

	if (xr != yr)
		return xr ? -1 : 1;
	c = strcmp(rr_ustr(x, "table"), rr_ustr(y, "table"));
	if (c)
		return c;
	if (rr_uint_of(x, "source") != rr_uint_of(y, "source"))
		return rr_uint_of(x, "source") < rr_uint_of(y, "source") ? -1 : 1;
	return strcmp(rr_ustr(x, "id"), rr_ustr(y, "id"));
}

/* The count and checksum on the source of each unit of a group that is to
 * be copied, for rr_step_copy(); *out has n entries (caller frees). */
static int group_expect(struct run *r, cJSON **units, size_t n, struct usum **out)
{
	cJSON **copy = util_xcalloc(n, sizeof(*copy));
	struct buf tbl;
	size_t i, m = 0;
	int rc = 0;

	*out = util_xcalloc(n, sizeof(**out));
	for (i = 0; i < n; i++) {
		if (rr_ustate(units[i]) <= RS_COPIED) {
			copy[i] = units[i];
			m++;
		}
	}
	buf_init(&tbl, SQL_CAP);
	if (m) {
		log_info(r->o->log, "reshard: shard %d: reading the counts and checksums of %zu units of %s",
			 rr_uint_of(units[0], "source"), m, rr_ustr(units[0], "table"));
		rc = rr_table_name(r, rr_ustr(units[0], "table"), &tbl);
	}
	if (m && !rc)
		rc = rr_group_sums(r, copy, n, rr_uint_of(units[0], "source"), buf_str(&tbl), true, *out);
	buf_free(&tbl);
	free(copy);
	return rc;
}

/* A (table, source) group of a round: todo[first, first + n). */
struct group {
	size_t first, n;
	size_t left; /* units the lanes have still to attach */
	struct usum *expect;
	bool reading; /* a lane is reading expect (group_expect()) */
};

/* The units of a round from one source to one target, moved in order on a
 * thread of their own. */
struct lane {
	struct run *r;
	int source, target;
	pthread_cond_t *moved; /* broadcast when a unit is attached, a group's
				* sums are read or a lane failed */
	size_t *busy;          /* units being moved, by every lane */
	size_t slots;          /* at most this many at once */
	cJSON **todo;          /* the round's units, in order */
	struct lane *all;      /* every lane of the round, this one included */
	size_t nall;
	size_t n, cap, next;   /* next: the unit to move next */
	bool moving;           /* in unit_move() */
	bool live;             /* started, and not done: a lane whose thread
				* could not start keeps no slot until it runs */
	struct lane_unit {
		cJSON *u;
		struct group *g;
		size_t pos; /* in the round's order (todo) */
	} *units;
	pthread_t th;
	bool started;
};

/* The first failure of a lane or of the deletes; the rest stop. Under the lock. */
static void lanes_fail(struct run *r, int rc)
{
	if (!r->lane_rc) {
		r->lane_rc = rc;
		snprintf(r->lane_err, r->errlen, "%s", r->err);
	}
}

/* Whether lane l may take a free slot now. The slots are kept for the
 * lanes whose next unit comes first in the round's order: l goes only if a
 * slot is left after one for each such lane that is live and not moving a
 * unit now (waiting for a slot, or for its group's sums). The first of the
 * waiting lanes always goes once a slot is free, so none waits for ever.
 * So the groups are attached, and their deletes start, in that order
 * (removed shards first) rather than all at the end. Under the lock. */
static bool lane_turn(const struct lane *l)
{
	size_t i, ahead = 0, pos = l->units[l->next].pos;

	for (i = 0; i < l->nall; i++) {
		const struct lane *m = &l->all[i];

		if (m != l && m->live && !m->moving && m->next < m->n && m->units[m->next].pos < pos)
			ahead++;
	}
	return *l->busy + ahead < l->slots;
}

/* The source counts and checksums of the group of lane l's next unit,
 * read by the first lane to need them while the others copy; the rest
 * wait for them. Under the lock. */
static int lane_expect(struct lane *l, struct group *g)
{
	struct run *r = l->r;
	int rc;

	while (g->reading && !r->lane_rc)
		pthread_cond_wait(l->moved, r->gil);
	if (g->expect || r->lane_rc)
		return r->lane_rc;
	g->reading = true;
	rc = group_expect(r, l->todo + g->first, g->n, &g->expect);
	g->reading = false;
	if (rc) {
		free(g->expect);
		g->expect = NULL;
	}
	pthread_cond_broadcast(l->moved);
	return rc;
}

static void *lane_run(void *p)
{
	struct lane *l = p;
	struct run *r = l->r;
	int rc;

	pthread_mutex_lock(r->gil);
	l->live = true;
	for (; l->next < l->n && !r->lane_rc; l->next++) {
		struct lane_unit *lu = &l->units[l->next];

		rc = lane_expect(l, lu->g);
		if (rc) {
			lanes_fail(r, rc);
			break;
		}
		while (!lane_turn(l) && !r->lane_rc)
			pthread_cond_wait(l->moved, r->gil);
		if (r->lane_rc)
			break;
		(*l->busy)++;
		l->moving = true;
		rc = unit_move(r, lu->u, lu->g->expect + (lu->pos - lu->g->first));
		l->moving = false;
		(*l->busy)--;
		if (rc)
			lanes_fail(r, rc);
		else
			lu->g->left--;
		pthread_cond_broadcast(l->moved);
	}
	l->live = false;
	pthread_cond_broadcast(l->moved);
	pthread_mutex_unlock(r->gil);
	return NULL;
}

/*
 * The moves of a round with lanes: the units of each (source, target)
 * pair, of every table, move in the round's order on a lane of their own
 * (removed shards' units first, then by table and source), as many units
 * at once as there are shards, the slots kept for the lanes whose next
 * unit comes first (lane_turn()). Each group's source sums are read by the
 * first lane to need them (lane_expect()). A lane's units share only their
 * source's rows, which a copy reads and never changes, with the other lanes, and
 * each (table, source) has its own staging table on the target. This
 * thread deletes: as each (table, source) group in turn has all its units
 * attached, it starts the group's delete (its checks, then the mutation);
 * once every group's has started, it waits for each in the same order.
 * The deletes keep the order and the checks of one unit at a time, and
 * the lanes copy on meanwhile. A row a lane attaches to a group's source
 * belongs there, so neither a running delete's condition nor the group's
 * sums before its delete ever match it.
 */
static int round_lanes(struct run *r, cJSON **todo, struct group *g, size_t ng)
{
	struct lane *lanes = NULL, *l;
	size_t nl = 0, i, k, busy = 0, started = 0;
	pthread_mutex_t gil;
	pthread_cond_t moved;
	int rc = 0;

	for (k = 0; k < ng; k++) {
		for (i = g[k].first; i < g[k].first + g[k].n; i++) {
			int src = rr_uint_of(todo[i], "source"), dst = rr_uint_of(todo[i], "target");

			if (rr_ustate(todo[i]) >= RS_ATTACHED)
				continue;
			for (l = lanes; l && l < lanes + nl; l++)
				if (l->source == src && l->target == dst)
					break;
			if (!lanes || l == lanes + nl) {
				lanes = util_xrealloc(lanes, (nl + 1) * sizeof(*lanes));
				l = &lanes[nl++];
				*l = (struct lane){ .r = r, .source = src, .target = dst,
						    .moved = &moved, .busy = &busy, .todo = todo,
						    .slots = r->o->nshards > 2 ? r->o->nshards : 2 };
			}
			if (l->n == l->cap) {
				l->cap = l->cap ? 2 * l->cap : 16;
				l->units = util_xrealloc(l->units, l->cap * sizeof(*l->units));
			}
			l->units[l->n++] = (struct lane_unit){ .u = todo[i], .g = &g[k], .pos = i };
			g[k].left++;
		}
	}
	for (i = 0; i < nl; i++) {
		lanes[i].all = lanes;
		lanes[i].nall = nl;
	}
	pthread_mutex_init(&gil, NULL);
	pthread_cond_init(&moved, NULL);
	r->gil = &gil;
	r->lane_rc = 0;
	r->lane_err = util_xcalloc(1, r->errlen ? r->errlen : 1);
	pthread_mutex_lock(&gil);
	for (i = 0; i < nl; i++)
		lanes[i].live = lanes[i].started = !pthread_create(&lanes[i].th, NULL, lane_run, &lanes[i]);
	/* A lane whose thread could not start runs here, after the others started. */
	for (i = 0; i < nl; i++) {
		if (!lanes[i].started) {
			pthread_mutex_unlock(&gil);
			lane_run(&lanes[i]);
			pthread_mutex_lock(&gil);
		}
	}
	for (k = 0; k < ng && !r->lane_rc; k++) {
		while (g[k].left && !r->lane_rc)
			pthread_cond_wait(&moved, &gil);
		if (r->lane_rc)
			break;
		rc = rr_group_delete_start(r, todo + g[k].first, g[k].n);
		if (rc)
			lanes_fail(r, rc);
		else
			started = k + 1;
	}
	for (k = 0; k < started && !r->lane_rc; k++) {
		rc = rr_group_delete_finish(r, todo + g[k].first, g[k].n);
		if (rc)
			lanes_fail(r, rc);
	}
	pthread_mutex_unlock(&gil);
	for (i = 0; i < nl; i++) {
		if (lanes[i].started)
			pthread_join(lanes[i].th, NULL);
		free(lanes[i].units);
	}
	free(lanes);
	r->gil = NULL;
	pthread_cond_destroy(&moved);
	pthread_mutex_destroy(&gil);
	rc = r->lane_rc;
	if (rc && r->errlen)
		snprintf(r->err, r->errlen, "%s", r->lane_err);
	free(r->lane_err);
	r->lane_err = NULL;
	return rc;
}

/* The moves of a round one unit at a time (--one-at-a-time): a group's
 * units, then the previous group's delete is waited for and this one's
 * started, so that it runs on the source's server while the next group
 * copies. */
static int round_serial(struct run *r, cJSON **todo, struct group *g, size_t ng)
{
	size_t k, i;
	int rc = 0;

	for (k = 0; !rc && k < ng; k++) {
		rc = group_expect(r, todo + g[k].first, g[k].n, &g[k].expect);
		for (i = 0; !rc && i < g[k].n; i++)
			rc = unit_move(r, todo[g[k].first + i], g[k].expect + i);
		if (!rc && k)
			rc = rr_group_delete_finish(r, todo + g[k - 1].first, g[k - 1].n);
		if (!rc)
			rc = rr_group_delete_start(r, todo + g[k].first, g[k].n);
	}
	if (!rc && ng)
		rc = rr_group_delete_finish(r, todo + g[ng - 1].first, g[ng - 1].n);
	return rc;
}

static int round_run(struct run *r, double *found)
{
	cJSON **todo = NULL, *u;
	struct group *g = NULL;
	size_t n = 0, ng = 0, i, k;
	int rc = 0;
	int s;

	*found = 0;
	for (s = 0; !rc && s < (int)r->o->nshards; s++) {
		size_t t;

		for (t = 0; !rc && t < r->ntables; t++)
			rc = scan_table(r, &r->tables[t], s, found);
	}
	if (!rc)
		rc = rr_save(r);
	cJSON_ArrayForEach(u, r->units) {
		if (rr_ustate(u) == RS_DONE)
			continue;
		todo = util_xrealloc(todo, (n + 1) * sizeof(*todo));
		todo[n++] = u;
	}
	if (n)
		qsort_r(todo, n, sizeof(*todo), unit_cmp, (void *)&r->o->modulus);
	/* Groups: the units of a (table, source), at most 500, whose rows
	 * leave the source with one delete mutation. */
	for (i = 0; i < n;) {
		size_t j = i;

		while (j < n && j - i < 500 && rr_uint_of(todo[j], "source") == rr_uint_of(todo[i], "source") &&
		       !strcmp(rr_ustr(todo[j], "table"), rr_ustr(todo[i], "table")))
			j++;
		g = util_xrealloc(g, (ng + 1) * sizeof(*g));
		g[ng++] = (struct group){ .first = i, .n = j - i };
		i = j;
	}
	if (!rc && ng && r->o->one_lane) {
		rc = round_serial(r, todo, g, ng);
	} else if (!rc && ng) {
		rc = round_lanes(r, todo, g, ng);
	}
	for (k = 0; k < ng; k++)
		free(g[k].expect);
	free(g);
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

		rc = rr_query_on(r, (int)i, buf_str(&sql), &rows);
		n = rc ? 0 : rr_num_field(cJSON_GetArrayItem(rows, 0), "n");
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
		rc = rr_query_on(r, 0, buf_str(&sql), &rows);
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
	rr_set_num(r->doc, "modulus", r->o->modulus);
	rr_set_str(r->doc, "phase", "Running");
	rr_set_str(r->doc, "message", "");
	return rr_save(r);
}

static void doc_close(struct run *r, int rc)
{
	double moved = 0;
	cJSON *u;
	char why[1024];

	if (!r->doc)
		return;
	cJSON_ArrayForEach(u, r->units) {
		double m = rr_num_field(u, "moved");

		moved += m > 0 ? m : 0;
	}
	rr_set_num(r->doc, "moved", moved);
	/* Paused as the subcommand's exit code 3 says: a shard unreachable or
	 * not on the new topology yet; a rerun goes on from here. */
	rr_set_str(r->doc, "phase", !rc ? "Done" : rc == -EAGAIN ? "Paused" : "Failed");
	rr_set_str(r->doc, "message", rc ? r->err : "");
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
