/*
 * pkg/reshard's I/O half, shared by its files (not part of reshard.h):
 *   run_util.c  the progress document, queries, names and conditions;
 *   verify.c    counts and checksums of a unit's rows on both sides;
 *   steps.c     the steps of a unit: copy, attach, delete;
 *   run.c       settling, scanning, rounds, and rs_run().
 */
#ifndef POSTHOG_RESHARD_RUN_PRIVATE_H
#define POSTHOG_RESHARD_RUN_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "pkg/buf/buf.h"
#include "reshard.h"

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
	/* Lanes (run.c): the units of each (source, target) pair move on a
	 * thread of their own, several pairs at once. While they run, gil is
	 * held by whichever thread is not waiting on ClickHouse (rr_unlock()
	 * and rr_lock() around every query and sleep), so everything above,
	 * the progress document included, is touched by one thread at a
	 * time. NULL when one thread runs. lane_rc and lane_err keep the first lane's
	 * failure; the other lanes stop at their next unit. */
	pthread_mutex_t *gil;
	int lane_rc;
	char *lane_err;
};

/* A unit's rows on its source, from rr_group_sums(). */
struct usum {
	char n[32];
	char sum[32];
};

/* run_util.c: the progress document, queries, names */
double rr_now_s(void);
void rr_unlock(struct run *r);
void rr_lock(struct run *r);
void rr_crash_point(const char *name);
int rr_save(struct run *r);
int rr_exec_on(struct run *r, int shard, const char *sql);
int rr_query_on(struct run *r, int shard, const char *sql, cJSON **rows);
int rr_field_text(const cJSON *row, const char *name, char *out, size_t outlen);
int rr_row_field(const cJSON *rows, const char *name, char *out, size_t outlen);
unsigned long long rr_to_ull(const char *s);
double rr_num_field(const cJSON *o, const char *name);
int rr_uint_field(const cJSON *o, const char *name);
const char *rr_ustr(const cJSON *u, const char *name);
int rr_uint_of(const cJSON *u, const char *name);
enum rs_state rr_ustate(const cJSON *u);
void rr_set_str(cJSON *o, const char *name, const char *v);
void rr_set_num(cJSON *o, const char *name, double v);
int rr_set_state(struct run *r, cJSON *u, enum rs_state s);
const struct rs_table *rr_table_of(struct run *r, const cJSON *u);
int rr_staging_name(struct run *r, const cJSON *u, struct buf *out);
int rr_table_name(struct run *r, const char *table, struct buf *out);
/* Appends " WHERE database = '<database>' AND table = '<table>'": the rows
 * of one table in a system table (system.parts, .columns, .mutations). */
int rr_system_where(struct run *r, const char *table, struct buf *out);
int rr_unit_where(struct run *r, const cJSON *u, struct buf *out);

/* verify.c: counts and checksums */
int rr_checksum(struct run *r, const cJSON *u, int shard, const char *from,
		char *n, char *sum);
int rr_checksum_both(struct run *r, const cJSON *u, const char *table,
		     const char *staging, char *n, char *sum, char *n2, char *sum2);
int rr_group_sums(struct run *r, cJSON **units, size_t n, int source,
		  const char *tbl, bool with_sum, struct usum *out);

/* steps.c: the steps of a unit */
int rr_step_copy(struct run *r, cJSON *u, const struct usum *expect);
int rr_step_attach(struct run *r, cJSON *u, bool resumed);
int rr_step_delete(struct run *r, cJSON *u);
int rr_group_delete_start(struct run *r, cJSON **units, size_t n);
int rr_group_delete_finish(struct run *r, cJSON **units, size_t n);

#endif
